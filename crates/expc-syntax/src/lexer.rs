//! The lexer: source text to tokens, comments and lexical diagnostics.
//!
//! The bulk of the work is a logos DFA ([`Raw`]); strings, block comments and templates are
//! scanned by hand around it, because their ends depend on escapes and, for templates, on
//! the expressions interpolated inside them. The lexer never fails: every problem becomes a
//! diagnostic and lexing goes on.

use expc_diagnostics::{Code, Diagnostic, FileId, Span};
use logos::Logos;

use crate::quantity;
use crate::token::{Kind, TextQuote, Tok, Token};

/// What kind of comment a [`Comment`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    /// `// …`
    Line,
    /// `/// …`, documenting what follows.
    Doc,
    /// `/* … */`
    Block,
}

/// A comment, kept beside the token stream for the formatter and for doc comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comment {
    pub kind: CommentKind,
    pub span: Span,
}

/// The output of [`lex`].
#[derive(Debug, Default)]
pub struct Lexed<'s> {
    pub tokens: Vec<(Token<'s>, Span)>,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
enum Raw {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"[0-9][0-9_]*")]
    Int,
    #[regex(r"[0-9][0-9_]*(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)")]
    Float,
    #[regex(r"([0-9][0-9_]*(\.[0-9]+)?[A-Za-z]+)+")]
    Quantity,
    #[token("\"")]
    Quote,
    #[token("`")]
    Backtick,
    #[regex(r"//[^\n]*", allow_greedy = true)]
    LineComment,
    #[regex(r"///[^\n]*", priority = 10, allow_greedy = true)]
    DocComment,
    #[token("/*")]
    BlockComment,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semicolon,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    #[token("..=")]
    DotDotEq,
    #[token("->")]
    Arrow,
    #[token("?")]
    Question,
    #[token("@")]
    At,
    #[token("=")]
    Eq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    LtEq,
    #[token(">")]
    Gt,
    #[token(">=")]
    GtEq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("!")]
    Bang,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
}

/// Lexes one file.
pub fn lex<'s>(file: FileId, src: &'s str) -> Lexed<'s> {
    let (tokens, comments, diagnostics, _) = lex_into(file, src, Vec::new());
    Lexed {
        tokens,
        comments,
        diagnostics,
    }
}

/// What [`lex_compact`] returns: [`Lexed`] with compact tokens.
#[derive(Debug, Default)]
pub(crate) struct LexedCompact {
    pub tokens: Vec<Tok>,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
    /// The value of each valid quantity literal, by the offset where it starts, in order:
    /// the lexer values them to check them, and the first parse takes the values from here.
    pub quantities: Vec<(u32, quantity::Quantity)>,
}

/// Lexes one file into compact tokens, as the parser takes them.
pub(crate) fn lex_compact(file: FileId, src: &str) -> LexedCompact {
    let (tokens, comments, diagnostics, quantities) = lex_into(file, src, Vec::new());
    LexedCompact {
        tokens,
        comments,
        diagnostics,
        quantities,
    }
}

/// What [`lex_into`] returns.
type LexOutput<T> = (
    T,
    Vec<Comment>,
    Vec<Diagnostic>,
    Vec<(u32, quantity::Quantity)>,
);

fn lex_into<'s, T: Tokens<'s>>(file: FileId, src: &'s str, mut tokens: T) -> LexOutput<T> {
    // Rarely more than one token per three bytes; capacity that is never used costs
    // nothing (pages are only touched when written), but growing copies every token.
    tokens.reserve(src.len() / 3 + 16);
    let mut lexer = Lexer {
        file,
        src,
        // A UTF-8 byte-order mark, which some Windows editors write first, is not text:
        // skipped, with every span still an offset into the file as it is.
        pos: if src.starts_with('\u{FEFF}') { 3 } else { 0 },
        tokens,
        comments: Vec::new(),
        diagnostics: Vec::new(),
        after_shell: false,
        quantities: Vec::new(),
    };
    lexer.run(false);
    (
        lexer.tokens,
        lexer.comments,
        lexer.diagnostics,
        lexer.quantities,
    )
}

/// Where the lexer puts tokens: `(Token, Span)` pairs for [`lex`], compact tokens for
/// the parser.
trait Tokens<'s> {
    fn reserve(&mut self, n: usize);
    fn push(&mut self, token: Token<'s>, span: Span);
    fn len(&self) -> usize;
}

impl<'s> Tokens<'s> for Vec<(Token<'s>, Span)> {
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }

    #[inline]
    fn push(&mut self, token: Token<'s>, span: Span) {
        Vec::push(self, (token, span));
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl<'s> Tokens<'s> for Vec<Tok> {
    fn reserve(&mut self, n: usize) {
        Vec::reserve(self, n);
    }

    #[inline(always)]
    fn push(&mut self, token: Token<'s>, span: Span) {
        Vec::push(
            self,
            Tok {
                kind: Kind::of(&token),
                start: span.start,
                end: span.end,
            },
        );
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

struct Lexer<'s, T> {
    file: FileId,
    src: &'s str,
    pos: usize,
    tokens: T,
    comments: Vec<Comment>,
    diagnostics: Vec<Diagnostic>,
    /// The previous token was the word `shell`, so a template that follows is a script.
    after_shell: bool,
    /// See [`LexedCompact::quantities`].
    quantities: Vec<(u32, quantity::Quantity)>,
}

/// Why [`Lexer::run`] returned.
#[derive(PartialEq, Eq)]
enum Stop {
    EndOfInput,
    /// The `}` closing an interpolation (already consumed).
    InterpClose,
    /// A backtick inside an interpolation: the template ends there (not consumed).
    Backtick,
}

impl<'s, T: Tokens<'s>> Lexer<'s, T> {
    #[inline(always)]
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// Called for every token, and inlined into each arm of the lexer's `match`, where the
    /// token's kind is known: the call and the conversion of the token to its compact kind
    /// cost more than pushing it.
    #[inline(always)]
    fn push(&mut self, token: Token<'s>, start: usize, end: usize) {
        self.after_shell = matches!(token, Token::Ident("shell"));
        let span = self.span(start, end);
        self.tokens.push(token, span);
    }

    fn error(&mut self, code: Code, message: impl Into<String>, start: usize, end: usize) {
        let span = self.span(start, end);
        self.diagnostics
            .push(Diagnostic::error(code, message, span));
    }

    /// Lexes from `self.pos`. Inside an interpolation (`in_interp`), stops at the `}` that
    /// closes it, or at a backtick.
    fn run(&mut self, in_interp: bool) -> Stop {
        let mut depth = 0usize;
        'restart: loop {
            let base = self.pos;
            let mut raw = Raw::lexer(&self.src[base..]);
            while let Some(result) = raw.next() {
                let r = raw.span();
                let (start, end) = (base + r.start, base + r.end);
                let slice = &self.src[start..end];
                let token = match result {
                    Err(()) => {
                        self.invalid_characters(start, end);
                        continue;
                    }
                    Ok(t) => t,
                };
                let token = match token {
                    Raw::Ident => Token::Ident(slice),
                    Raw::Int => {
                        self.check_int(slice, start, end);
                        Token::Int(slice)
                    }
                    Raw::Float => {
                        self.check_float(slice, start, end);
                        Token::Float(slice)
                    }
                    Raw::Quantity => {
                        match quantity::parse(slice) {
                            // Keyed by the offset the parser sees; one too large for
                            // a span is left to the parser to value.
                            Ok(value) => {
                                if let Ok(key) = u32::try_from(start) {
                                    self.quantities.push((key, value));
                                }
                            }
                            Err(e) => {
                                let mut d = Diagnostic::error(
                                    e.code,
                                    e.message,
                                    self.span(start + e.range.start, start + e.range.end),
                                );
                                if let Some(help) = e.help {
                                    d = d.with_help(help);
                                }
                                self.diagnostics.push(d);
                            }
                        }
                        Token::Quantity(slice)
                    }
                    Raw::Quote => {
                        let len = self.string(start);
                        raw.bump(len - 1);
                        self.push(
                            Token::Str(&self.src[start..start + len]),
                            start,
                            start + len,
                        );
                        continue;
                    }
                    Raw::Backtick => {
                        if in_interp {
                            self.pos = start;
                            return Stop::Backtick;
                        }
                        self.pos = start;
                        self.template();
                        continue 'restart;
                    }
                    Raw::LineComment | Raw::DocComment => {
                        let kind = if slice.starts_with("///") && !slice.starts_with("////") {
                            CommentKind::Doc
                        } else {
                            CommentKind::Line
                        };
                        let end = start + slice.trim_end_matches('\r').len();
                        self.comments.push(Comment {
                            kind,
                            span: self.span(start, end),
                        });
                        continue;
                    }
                    Raw::BlockComment => {
                        let len = match self.src[start + 2..].find("*/") {
                            Some(i) => i + 4,
                            None => {
                                self.error(
                                    Code::UNTERMINATED_COMMENT,
                                    "unterminated block comment",
                                    start,
                                    start + 2,
                                );
                                self.src.len() - start
                            }
                        };
                        raw.bump(len - 2);
                        self.comments.push(Comment {
                            kind: CommentKind::Block,
                            span: self.span(start, start + len),
                        });
                        continue;
                    }
                    Raw::LBrace => {
                        depth += 1;
                        Token::LBrace
                    }
                    Raw::RBrace => {
                        if in_interp && depth == 0 {
                            self.push(Token::TplInterpEnd, start, end);
                            self.pos = end;
                            return Stop::InterpClose;
                        }
                        depth = depth.saturating_sub(1);
                        Token::RBrace
                    }
                    Raw::LParen => Token::LParen,
                    Raw::RParen => Token::RParen,
                    Raw::LBracket => Token::LBracket,
                    Raw::RBracket => Token::RBracket,
                    Raw::Comma => Token::Comma,
                    Raw::Colon => Token::Colon,
                    Raw::Semicolon => Token::Semicolon,
                    Raw::Dot => Token::Dot,
                    Raw::DotDot => Token::DotDot,
                    Raw::DotDotEq => Token::DotDotEq,
                    Raw::Arrow => Token::Arrow,
                    Raw::Question => Token::Question,
                    Raw::At => Token::At,
                    Raw::Eq => Token::Eq,
                    Raw::EqEq => Token::EqEq,
                    Raw::NotEq => Token::NotEq,
                    Raw::Lt => Token::Lt,
                    Raw::LtEq => Token::LtEq,
                    Raw::Gt => Token::Gt,
                    Raw::GtEq => Token::GtEq,
                    Raw::Plus => Token::Plus,
                    Raw::Minus => Token::Minus,
                    Raw::Star => Token::Star,
                    Raw::Slash => Token::Slash,
                    Raw::Percent => Token::Percent,
                    Raw::Bang => Token::Bang,
                    Raw::AndAnd => Token::AndAnd,
                    Raw::OrOr => Token::OrOr,
                };
                self.push(token, start, end);
            }
            self.pos = self.src.len();
            return Stop::EndOfInput;
        }
    }

    fn invalid_characters(&mut self, start: usize, end: usize) {
        for (i, c) in self.src[start..end].char_indices() {
            if c == '\u{1A}' {
                continue; // an invalid UTF-8 byte, reported when the file was decoded
            }
            let at = start + i;
            let shown = if c.is_control() || c.is_whitespace() {
                format!("{c:?}")
            } else {
                format!("`{c}`")
            };
            let mut d = Diagnostic::error(
                Code::INVALID_CHARACTER,
                format!("unexpected character {shown}"),
                self.span(at, at + c.len_utf8()),
            );
            d = d.with_help(match c {
                '\'' => "strings are written with double quotes: \"…\"".to_owned(),
                '#' => "comments start with `//`".to_owned(),
                '$' => "interpolation `${…}` is only possible inside a `run` template".to_owned(),
                c if !c.is_ascii() => {
                    "names are ASCII letters, digits and `_`; put other text in a string".to_owned()
                }
                _ => "remove it, or put it inside a string".to_owned(),
            });
            self.diagnostics.push(d);
        }
    }

    fn check_int(&mut self, slice: &str, start: usize, end: usize) {
        if parse_int(slice).is_none() {
            self.error(
                Code::NUMBER_OUT_OF_RANGE,
                format!("integer `{slice}` does not fit in 64 bits"),
                start,
                end,
            );
        }
    }

    fn check_float(&mut self, slice: &str, start: usize, end: usize) {
        if !surely_finite(slice) && !parse_float(slice).is_finite() {
            self.error(
                Code::NUMBER_OUT_OF_RANGE,
                format!("number `{slice}` is too large"),
                start,
                end,
            );
        }
    }

    /// Scans a string literal starting at the quote at `start`; returns its length in bytes
    /// (up to the end of input when unterminated) and reports bad escapes.
    fn string(&mut self, start: usize) -> usize {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => return i + 1 - start,
                b'\\' => {
                    let esc_len = self.escape(i, b"\"\\ntr0$", true);
                    i += esc_len;
                }
                _ => i += 1,
            }
        }
        self.error(
            Code::UNTERMINATED_STRING,
            "unterminated string",
            start,
            start + 1,
        );
        if let Some(d) = self.diagnostics.last_mut() {
            d.labels[0].message = "this string is never closed".to_owned();
            d.help = Some("add a closing `\"`".to_owned());
        }
        bytes.len() - start
    }

    /// Checks the escape whose backslash is at `at`; returns how many bytes it spans.
    fn escape(&mut self, at: usize, simple: &[u8], unicode: bool) -> usize {
        let rest = &self.src[at + 1..];
        let Some(c) = rest.chars().next() else {
            return 1;
        };
        if c.is_ascii() && simple.contains(&(c as u8)) {
            return 2;
        }
        if unicode && c == 'u' {
            if let Some(body) = rest.strip_prefix("u{") {
                if let Some(close) = body.find('}') {
                    let hex = &body[..close];
                    let valid = !hex.is_empty()
                        && hex.len() <= 6
                        && u32::from_str_radix(hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .is_some();
                    if valid {
                        return 3 + close + 1;
                    }
                    self.error(
                        Code::INVALID_ESCAPE,
                        format!("`\\u{{{hex}}}` is not a Unicode character"),
                        at,
                        at + 4 + close,
                    );
                    return 3 + close + 1;
                }
            }
        }
        let len = 1 + c.len_utf8();
        let shown: String = if c == '\n' { "\\n".into() } else { c.into() };
        let mut d = Diagnostic::error(
            Code::INVALID_ESCAPE,
            format!("unknown escape sequence `\\{shown}`"),
            self.span(at, at + len),
        );
        d = d.with_help(
            "write a backslash as `\\\\`; known escapes are \\\" \\\\ \\n \\t \\r \\0 \\$ \\u{…}",
        );
        self.diagnostics.push(d);
        len
    }

    /// Scans a template whose opening backtick is at `self.pos`, emitting its tokens, and
    /// leaves `self.pos` after the closing backtick.
    fn template(&mut self) {
        let open = self.pos;
        let shell = self.after_shell;
        self.push(Token::TplStart, open, open + 1);
        self.pos = open + 1;
        let closed = if shell {
            self.shell_body()
        } else {
            self.argv_body(open)
        };
        if !closed {
            let mut d = Diagnostic::error(
                Code::UNTERMINATED_TEMPLATE,
                "unterminated template",
                self.span(open, open + 1),
            )
            .with_primary_message("this template is never closed")
            .with_help("add a closing backtick; write a literal backtick as \\`");
            d.labels.push(expc_diagnostics::Label {
                span: self.span(self.src.len(), self.src.len()),
                message: "the file ends here".into(),
            });
            self.diagnostics.push(d);
            let end = self.src.len();
            self.push(Token::TplEnd, end, end);
        }
    }

    /// The body of a `shell` template: raw text up to the closing backtick.
    fn shell_body(&mut self) -> bool {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'`' => {
                    if i > start {
                        self.push(
                            Token::TplText(TextQuote::Shell, &self.src[start..i]),
                            start,
                            i,
                        );
                    }
                    self.push(Token::TplEnd, i, i + 1);
                    self.pos = i + 1;
                    return true;
                }
                _ => i += 1,
            }
        }
        let end = bytes.len();
        if end > start {
            self.push(
                Token::TplText(TextQuote::Shell, &self.src[start..end]),
                start,
                end,
            );
        }
        self.pos = end;
        false
    }

    /// The body of an argv template: words, quotes and interpolations. Returns whether the
    /// closing backtick was found.
    fn argv_body(&mut self, open: usize) -> bool {
        let bytes = self.src.as_bytes();
        let mut quote: Option<(TextQuote, usize)> = None;
        let mut text_start = self.pos;
        let mut in_word = false;
        let mut i = self.pos;
        let flush = |lx: &mut Self, from: usize, to: usize, q: TextQuote| {
            if to > from {
                lx.push(Token::TplText(q, &lx.src[from..to]), from, to);
            }
        };
        while i < bytes.len() {
            let b = bytes[i];
            let q = quote.map_or(TextQuote::Bare, |(q, _)| q);
            match b {
                b'`' => {
                    if let Some((_, qstart)) = quote {
                        flush(self, text_start, i, q);
                        let mut d = Diagnostic::error(
                            Code::INVALID_TEMPLATE,
                            "unclosed quote in template",
                            self.span(qstart, qstart + 1),
                        )
                        .with_primary_message("this quote is never closed")
                        .with_help("close the quote before the end of the template");
                        d.labels.push(expc_diagnostics::Label {
                            span: self.span(i, i + 1),
                            message: "the template ends here".into(),
                        });
                        self.diagnostics.push(d);
                    } else {
                        flush(self, text_start, i, q);
                    }
                    self.push(Token::TplEnd, i, i + 1);
                    self.pos = i + 1;
                    return true;
                }
                b'\\' => {
                    i += 1 + self.src[i + 1..].chars().next().map_or(0, char::len_utf8);
                    in_word = true;
                }
                b'$' if self.src[i..].starts_with("$${") && q != TextQuote::Single => {
                    i += 3;
                    in_word = true;
                }
                b'$' if self.src[i..].starts_with("${") && q != TextQuote::Single => {
                    flush(self, text_start, i, q);
                    self.interpolation(i);
                    i = self.pos;
                    text_start = i;
                    in_word = true;
                }
                b' ' | b'\t' | b'\n' | b'\r' if quote.is_none() => {
                    flush(self, text_start, i, q);
                    let ws_start = i;
                    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                        i += 1;
                    }
                    if in_word && i < bytes.len() && bytes[i] != b'`' {
                        self.push(Token::TplSep, ws_start, i);
                    }
                    in_word = false;
                    text_start = i;
                }
                b'"' | b'\'' if quote.is_none() => {
                    flush(self, text_start, i, q);
                    let kind = if b == b'"' {
                        TextQuote::Double
                    } else {
                        TextQuote::Single
                    };
                    quote = Some((kind, i));
                    i += 1;
                    text_start = i;
                    in_word = true;
                    // An empty quoted word still is an argument.
                    if i < bytes.len() && bytes[i] == b {
                        self.push(Token::TplText(kind, ""), i, i);
                    }
                }
                b'"' if matches!(quote, Some((TextQuote::Double, _))) => {
                    flush(self, text_start, i, q);
                    quote = None;
                    i += 1;
                    text_start = i;
                }
                b'\'' if matches!(quote, Some((TextQuote::Single, _))) => {
                    flush(self, text_start, i, q);
                    quote = None;
                    i += 1;
                    text_start = i;
                }
                _ => {
                    i += 1;
                    in_word = true;
                }
            }
        }
        let _ = open;
        flush(
            self,
            text_start,
            bytes.len(),
            quote.map_or(TextQuote::Bare, |(q, _)| q),
        );
        self.pos = bytes.len();
        false
    }

    /// Lexes `${ … }` starting at the `$` at `at`; leaves `self.pos` after it.
    fn interpolation(&mut self, at: usize) {
        self.push(Token::TplInterpStart, at, at + 2);
        self.pos = at + 2;
        // The common `${name}`: the two tokens the lexer would read, without starting one.
        if let Some(len) = name_then_close(&self.src.as_bytes()[at + 2..]) {
            let (start, end) = (at + 2, at + 2 + len);
            self.push(Token::Ident(&self.src[start..end]), start, end);
            self.push(Token::TplInterpEnd, end, end + 1);
            self.pos = end + 1;
            return;
        }
        let first_token = self.tokens.len();
        let stop = self.run(true);
        let empty = self.tokens.len() == first_token + usize::from(stop == Stop::InterpClose);
        match stop {
            Stop::InterpClose if empty => {
                self.error(
                    Code::INVALID_TEMPLATE,
                    "empty interpolation `${}`",
                    at,
                    self.pos,
                );
                if let Some(d) = self.diagnostics.last_mut() {
                    d.help = Some("put a value inside, or write `$${` for a literal `${`".into());
                }
            }
            Stop::InterpClose => {}
            Stop::Backtick | Stop::EndOfInput => {
                let mut d = Diagnostic::error(
                    Code::INVALID_TEMPLATE,
                    "unclosed interpolation",
                    self.span(at, at + 2),
                )
                .with_primary_message("this `${` is never closed")
                .with_help("close it with `}`; write `$${` for a literal `${`");
                if stop == Stop::EndOfInput {
                    d.labels[0].message = "this `${` is never closed".into();
                }
                self.diagnostics.push(d);
                let end = self.pos;
                self.push(Token::TplInterpEnd, end, end);
            }
        }
    }
}

/// The length of the name that `rest` starts with when a `}` follows it directly: what
/// [`Raw::Ident`] matches there.
fn name_then_close(rest: &[u8]) -> Option<usize> {
    let first = *rest.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))?;
    (rest[len] == b'}').then_some(len)
}

/// Parses an integer literal (with `_` separators) into an `i64`.
pub fn parse_int(slice: &str) -> Option<i64> {
    if !slice.contains('_') {
        return slice.parse().ok();
    }
    let digits: String = slice.chars().filter(|&c| c != '_').collect();
    digits.parse().ok()
}

/// Whether a float literal is finite without valuing it: one without an exponent and with
/// fewer digits than the 309 of `f64::MAX` is (most literals, such as `0.001`).
fn surely_finite(slice: &str) -> bool {
    slice.len() < 300 && !slice.bytes().any(|b| b | 0x20 == b'e')
}

/// Parses a float literal (with `_` separators).
pub fn parse_float(slice: &str) -> f64 {
    if !slice.contains('_') {
        return slice.parse().unwrap_or(f64::NAN);
    }
    let digits: String = slice.chars().filter(|&c| c != '_').collect();
    digits.parse().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An interpolation of a name, read without a new lexer, gives the tokens that lexing
    /// its content does, and other interpolations are unchanged.
    #[test]
    fn interpolated_names_lex_as_names() {
        let contents = [
            "x", "_", "a1_B", "shell", "true", "in", "x ", " x", "x.y", "1", "1GiB", "é",
            "x\u{e9}", "f(x)", "{ a }", "x\\",
        ];
        for content in contents {
            let src = format!("`a${{{content}}}b`");
            let inside = lex(FileId(0), &src).tokens;
            let alone = lex(FileId(0), content).tokens;
            let expected: Vec<_> = alone
                .iter()
                .map(|(t, s)| {
                    (
                        *t,
                        Span::new(FileId(0), s.start as usize + 4, s.end as usize + 4),
                    )
                })
                .collect();
            assert_eq!(inside[2].0, Token::TplInterpStart, "{content:?}");
            let got = &inside[3..inside.len().min(3 + expected.len())];
            assert_eq!(got, &expected[..], "{content:?}");
            if !content.contains('}') {
                assert_eq!(
                    inside[3 + expected.len()].0,
                    Token::TplInterpEnd,
                    "{content:?}"
                );
            }
        }
    }

    /// The shortcut of the float check never calls finite what valuing calls infinite.
    #[test]
    fn surely_finite_agrees_with_valuing() {
        let long = format!("{}.5", "9".repeat(400));
        let edge = format!("{}.0", "9".repeat(299));
        let cases = [
            "0.001", "1.5", "1_000.25", "1e-3", "1E400", "2.5e308", "1.7e308", &long, &edge,
        ];
        for case in cases {
            if surely_finite(case) {
                assert!(parse_float(case).is_finite(), "{case}");
            }
        }
        assert!(surely_finite("0.001") && surely_finite("1_000.25"));
        assert!(!surely_finite("1E400") && !surely_finite(&long));
        let src = format!("a = {long}\nb = 0.001");
        let lexed = lex(FileId(0), &src);
        assert_eq!(lexed.diagnostics.len(), 1);
        assert_eq!(lexed.diagnostics[0].code, Code::NUMBER_OUT_OF_RANGE);
    }

    fn kinds(src: &str) -> Vec<String> {
        lex(FileId(0), src)
            .tokens
            .iter()
            .map(|(t, _)| format!("{t:?}"))
            .collect()
    }

    #[test]
    fn numbers_quantities_and_ranges() {
        assert_eq!(
            kinds("1 1.5 1e-3 32GiB 2h30m 0..5"),
            [
                "Int(\"1\")",
                "Float(\"1.5\")",
                "Float(\"1e-3\")",
                "Quantity(\"32GiB\")",
                "Quantity(\"2h30m\")",
                "Int(\"0\")",
                "DotDot",
                "Int(\"5\")"
            ]
        );
    }

    #[test]
    fn comments_are_kept_aside() {
        let lexed = lex(FileId(0), "/// doc\n// line\n/* block */ x //// not doc");
        let kinds: Vec<_> = lexed.comments.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                CommentKind::Doc,
                CommentKind::Line,
                CommentKind::Block,
                CommentKind::Line
            ]
        );
        assert_eq!(lexed.tokens.len(), 1);
    }

    #[test]
    fn template_words() {
        assert_eq!(
            kinds("`a \"b c\" x${y}z`"),
            [
                "TplStart",
                "TplText(Bare, \"a\")",
                "TplSep",
                "TplText(Double, \"b c\")",
                "TplSep",
                "TplText(Bare, \"x\")",
                "TplInterpStart",
                "Ident(\"y\")",
                "TplInterpEnd",
                "TplText(Bare, \"z\")",
                "TplEnd"
            ]
        );
    }

    #[test]
    fn shell_templates_are_raw() {
        assert_eq!(
            kinds("shell `echo \"${x}\"`"),
            [
                "Ident(\"shell\")",
                "TplStart",
                "TplText(Shell, \"echo \\\"${x}\\\"\")",
                "TplEnd"
            ]
        );
    }

    #[test]
    fn errors_do_not_stop_lexing() {
        let lexed = lex(FileId(0), "a é \"unterminated");
        assert_eq!(lexed.diagnostics.len(), 2);
        assert_eq!(lexed.diagnostics[0].code, Code::INVALID_CHARACTER);
        assert_eq!(lexed.diagnostics[1].code, Code::UNTERMINATED_STRING);
    }
}
