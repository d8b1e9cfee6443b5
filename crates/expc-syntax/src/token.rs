//! Tokens, as the lexer hands them to the parser.

use std::fmt;

/// How the text of a template piece was quoted, which decides how it is unescaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextQuote {
    /// Outside quotes: `\``, `\\` and `$${` are escapes.
    Bare,
    /// Inside `"…"`: also `\"`.
    Double,
    /// Inside `'…'`: only `\`` is an escape.
    Single,
    /// The whole body of a `shell` template: only `\`` and `\\` are escapes.
    Shell,
}

/// A token. Literal tokens keep their raw source text; the parser converts them, so that the
/// formatter can print numbers and strings exactly as they were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token<'s> {
    /// Any word; keywords are contextual and recognised by the parser.
    Ident(&'s str),
    Int(&'s str),
    Float(&'s str),
    /// A number with a unit, such as `32GiB` or `2h30m`.
    Quantity(&'s str),
    /// A string literal with its quotes.
    Str(&'s str),

    /// The opening backtick of a template.
    TplStart,
    /// A literal piece of a template word, raw (escapes not yet applied).
    TplText(TextQuote, &'s str),
    /// Whitespace between two words of an argv template.
    TplSep,
    /// `${` inside a template.
    TplInterpStart,
    /// The `}` closing an interpolation.
    TplInterpEnd,
    /// The closing backtick of a template.
    TplEnd,

    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Colon,
    Semicolon,
    Dot,
    DotDot,
    DotDotEq,
    Arrow,
    Question,
    At,
    Eq,
    EqEq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    AndAnd,
    OrOr,
}

impl Token<'_> {
    /// A short description for "found …" in error messages.
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("`{s}`"),
            Token::Int(s) | Token::Float(s) => format!("number `{s}`"),
            Token::Quantity(s) => format!("quantity `{s}`"),
            Token::Str(_) => "a string".to_owned(),
            Token::TplStart => "a template".to_owned(),
            Token::TplEnd => "the end of the template".to_owned(),
            Token::TplText(..) | Token::TplSep => "template text".to_owned(),
            Token::TplInterpStart => "`${`".to_owned(),
            Token::TplInterpEnd => "`}`".to_owned(),
            other => format!("`{other}`"),
        }
    }
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Ident(s)
            | Token::Int(s)
            | Token::Float(s)
            | Token::Quantity(s)
            | Token::Str(s)
            | Token::TplText(_, s) => s,
            Token::TplStart | Token::TplEnd => "`",
            Token::TplSep => " ",
            Token::TplInterpStart => "${",
            Token::TplInterpEnd => "}",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::Semicolon => ";",
            Token::Dot => ".",
            Token::DotDot => "..",
            Token::DotDotEq => "..=",
            Token::Arrow => "->",
            Token::Question => "?",
            Token::At => "@",
            Token::Eq => "=",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::LtEq => "<=",
            Token::Gt => ">",
            Token::GtEq => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Bang => "!",
            Token::AndAnd => "&&",
            Token::OrOr => "||",
        };
        f.write_str(s)
    }
}
