//! Tokens, as the lexer hands them to the parser.

use std::fmt;

use expc_diagnostics::{FileId, Span};

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

/// What a [`Token`] is, without its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Ident,
    Int,
    Float,
    Quantity,
    Str,
    TplStart,
    TplText(TextQuote),
    TplSep,
    TplInterpStart,
    TplInterpEnd,
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

/// A token as the lexer stores it for the parser: its kind and its place, 12 bytes instead
/// of the 40 of a `(Token, Span)`. Its text is always `src[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
}

impl Kind {
    #[inline(always)]
    pub(crate) fn of(token: &Token<'_>) -> Kind {
        match token {
            Token::Ident(_) => Kind::Ident,
            Token::Int(_) => Kind::Int,
            Token::Float(_) => Kind::Float,
            Token::Quantity(_) => Kind::Quantity,
            Token::Str(_) => Kind::Str,
            Token::TplStart => Kind::TplStart,
            Token::TplText(q, _) => Kind::TplText(*q),
            Token::TplSep => Kind::TplSep,
            Token::TplInterpStart => Kind::TplInterpStart,
            Token::TplInterpEnd => Kind::TplInterpEnd,
            Token::TplEnd => Kind::TplEnd,
            Token::LParen => Kind::LParen,
            Token::RParen => Kind::RParen,
            Token::LBracket => Kind::LBracket,
            Token::RBracket => Kind::RBracket,
            Token::LBrace => Kind::LBrace,
            Token::RBrace => Kind::RBrace,
            Token::Comma => Kind::Comma,
            Token::Colon => Kind::Colon,
            Token::Semicolon => Kind::Semicolon,
            Token::Dot => Kind::Dot,
            Token::DotDot => Kind::DotDot,
            Token::DotDotEq => Kind::DotDotEq,
            Token::Arrow => Kind::Arrow,
            Token::Question => Kind::Question,
            Token::At => Kind::At,
            Token::Eq => Kind::Eq,
            Token::EqEq => Kind::EqEq,
            Token::NotEq => Kind::NotEq,
            Token::Lt => Kind::Lt,
            Token::LtEq => Kind::LtEq,
            Token::Gt => Kind::Gt,
            Token::GtEq => Kind::GtEq,
            Token::Plus => Kind::Plus,
            Token::Minus => Kind::Minus,
            Token::Star => Kind::Star,
            Token::Slash => Kind::Slash,
            Token::Percent => Kind::Percent,
            Token::Bang => Kind::Bang,
            Token::AndAnd => Kind::AndAnd,
            Token::OrOr => Kind::OrOr,
        }
    }

    /// The token of this kind with the given text (ignored by kinds without text).
    #[inline]
    pub(crate) fn with_text(self, text: &str) -> Token<'_> {
        match self {
            Kind::Ident => Token::Ident(text),
            Kind::Int => Token::Int(text),
            Kind::Float => Token::Float(text),
            Kind::Quantity => Token::Quantity(text),
            Kind::Str => Token::Str(text),
            Kind::TplStart => Token::TplStart,
            Kind::TplText(q) => Token::TplText(q, text),
            Kind::TplSep => Token::TplSep,
            Kind::TplInterpStart => Token::TplInterpStart,
            Kind::TplInterpEnd => Token::TplInterpEnd,
            Kind::TplEnd => Token::TplEnd,
            Kind::LParen => Token::LParen,
            Kind::RParen => Token::RParen,
            Kind::LBracket => Token::LBracket,
            Kind::RBracket => Token::RBracket,
            Kind::LBrace => Token::LBrace,
            Kind::RBrace => Token::RBrace,
            Kind::Comma => Token::Comma,
            Kind::Colon => Token::Colon,
            Kind::Semicolon => Token::Semicolon,
            Kind::Dot => Token::Dot,
            Kind::DotDot => Token::DotDot,
            Kind::DotDotEq => Token::DotDotEq,
            Kind::Arrow => Token::Arrow,
            Kind::Question => Token::Question,
            Kind::At => Token::At,
            Kind::Eq => Token::Eq,
            Kind::EqEq => Token::EqEq,
            Kind::NotEq => Token::NotEq,
            Kind::Lt => Token::Lt,
            Kind::LtEq => Token::LtEq,
            Kind::Gt => Token::Gt,
            Kind::GtEq => Token::GtEq,
            Kind::Plus => Token::Plus,
            Kind::Minus => Token::Minus,
            Kind::Star => Token::Star,
            Kind::Slash => Token::Slash,
            Kind::Percent => Token::Percent,
            Kind::Bang => Token::Bang,
            Kind::AndAnd => Token::AndAnd,
            Kind::OrOr => Token::OrOr,
        }
    }
}

impl Tok {
    /// The token, with its text taken from `src`.
    #[inline]
    pub(crate) fn token<'s>(&self, src: &'s str) -> Token<'s> {
        let text = match self.kind {
            Kind::Ident
            | Kind::Int
            | Kind::Float
            | Kind::Quantity
            | Kind::Str
            | Kind::TplText(_) => src
                .get(self.start as usize..self.end as usize)
                .unwrap_or(""),
            _ => "",
        };
        self.kind.with_text(text)
    }

    pub(crate) fn span(&self, file: FileId) -> Span {
        Span {
            file,
            start: self.start,
            end: self.end,
        }
    }
}
