//! Applying escapes to string literals and template text.
//!
//! The lexer has already reported invalid escapes; here they are kept as written.

use smol_str::SmolStr;

use crate::ast::smol;

use crate::token::TextQuote;

/// The value of a string literal given its raw text with quotes.
pub fn string(raw: &str) -> SmolStr {
    let inner = raw.strip_prefix('"').unwrap_or(raw);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    if !inner.contains('\\') {
        return smol(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('$') => out.push('$'),
            Some('u') if chars.peek() == Some(&'{') => {
                chars.next();
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u{");
                        out.push_str(&hex);
                        out.push('}');
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out.into()
}

/// The value of a piece of template text.
pub fn template_text(quote: TextQuote, raw: &str) -> SmolStr {
    if !raw.contains('\\') && !raw.contains("$${") {
        return smol(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if quote != TextQuote::Single && quote != TextQuote::Shell && rest.starts_with("$${") {
            out.push_str("${");
            rest = &rest[3..];
            continue;
        }
        if c == '\\' {
            let next = rest[1..].chars().next();
            let escaped = match (quote, next) {
                (_, Some('`')) => Some('`'),
                (TextQuote::Bare | TextQuote::Double | TextQuote::Shell, Some('\\')) => Some('\\'),
                (TextQuote::Double, Some('"')) => Some('"'),
                _ => None,
            };
            if let Some(e) = escaped {
                out.push(e);
                rest = &rest[2..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        assert_eq!(string(r#""a\"b\\c\n\u{e9}""#), "a\"b\\c\né");
        assert_eq!(string(r#""C:\data""#), "C:\\data");
    }

    #[test]
    fn template_pieces() {
        assert_eq!(template_text(TextQuote::Bare, r"a\`b$${x}\d"), "a`b${x}\\d");
        assert_eq!(
            template_text(TextQuote::Double, r#"say \"hi\""#),
            "say \"hi\""
        );
        assert_eq!(template_text(TextQuote::Single, r"\\ $${"), "\\\\ $${");
    }
}
