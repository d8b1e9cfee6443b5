//! The parser: tokens to a syntax tree, with recovery.
//!
//! Built with chumsky. Each construct that can be repeated (items, entries, task sections,
//! statements) recovers from an error by skipping to where the next one can start, so one
//! run reports every syntax error. Closing brackets are matched beforehand by
//! [`crate::delimiters`], which reports unclosed and mismatched ones precisely; the parser
//! therefore treats a missing closing brace as the end of its block.

mod error;
mod expr;
mod items;

pub use items::{ITEM_KEYWORDS, SECTION_KEYWORDS};

use chumsky::error::{Rich, RichPattern, RichReason};
use chumsky::input::{IterInput, ValueInput};
use chumsky::prelude::*;
use expc_diagnostics::{Code, Diagnostic, FileId, Span};

use crate::ast::SourceFile;
use crate::token::{Tok, Token};

pub(crate) type Extra<E> = extra::Err<E>;

use error::{Detailed, Fast, SynErr};

/// Marks the custom error for a missing closing delimiter, which the delimiter pass has
/// already reported when it happens.
pub(crate) const MISSING_CLOSE: &str = "\u{0}missing-close";

/// Marks the custom error for an expression tree deeper than the parser builds.
pub(crate) const TOO_DEEP: &str = "\u{0}too-deep";

/// Parses tokens into a file. Never fails: errors become diagnostics and `Error` nodes.
pub(crate) fn parse_tokens<'s>(
    file: FileId,
    src: &'s str,
    tokens: &'s [Tok],
    suppress_missing_close: bool,
) -> (SourceFile, Vec<Diagnostic>) {
    let len = src.len();
    let eoi = Span::new(file, len, len);
    let all = Tokens { tokens, src, file };
    let input = || IterInput::new(Cursor { all: &all, at: 0 }, eoi);
    // A fast parse without error details; a valid file (the common case) stops here.
    let (output, errors) = items::file_parser::<_, Fast>()
        .parse(input())
        .into_output_errors();
    if errors.is_empty() {
        return (output.unwrap_or_else(|| empty_file(file, len)), Vec::new());
    }
    let (output, errors) = items::file_parser::<_, Detailed<'_, 's>>()
        .parse(input())
        .into_output_errors();
    let mut diagnostics = Vec::new();
    for error in errors {
        if let RichReason::Custom(msg) = error.reason() {
            if msg.starts_with(MISSING_CLOSE) && suppress_missing_close {
                continue;
            }
        }
        diagnostics.push(to_diagnostic(&error));
    }
    (output.unwrap_or_else(|| empty_file(file, len)), diagnostics)
}

fn empty_file(file: FileId, len: usize) -> SourceFile {
    SourceFile {
        items: Vec::new(),
        span: Span::new(file, 0, len),
    }
}

/// What repetitions collect into: a `Vec` with room for exactly the elements when there
/// are few. Collecting into a `Vec` directly reserves four elements at the first push,
/// which for the tree's large nodes (an `Entry` is 280 bytes) more than doubled the
/// memory the tree takes, and so the time spent allocating and faulting it in.
pub(crate) struct Exact<T>(Vec<T>);

impl<T> Exact<T> {
    pub(crate) fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> FromIterator<T> for Exact<T> {
    fn from_iter<It: IntoIterator<Item = T>>(iter: It) -> Self {
        let mut iter = iter.into_iter();
        let Some(a) = iter.next() else {
            return Exact(Vec::new());
        };
        let Some(b) = iter.next() else {
            return Exact(vec![a]);
        };
        let Some(c) = iter.next() else {
            return Exact(vec![a, b]);
        };
        let Some(d) = iter.next() else {
            return Exact(vec![a, b, c]);
        };
        let mut v = Vec::with_capacity(8);
        v.extend([a, b, c, d]);
        v.extend(iter);
        // Shrinking is done in place by the allocator.
        v.shrink_to_fit();
        Exact(v)
    }
}

/// The tokens of a file, with what is needed to rebuild each [`Token`].
struct Tokens<'a, 's> {
    tokens: &'a [Tok],
    src: &'s str,
    file: FileId,
}

/// The parser's input: a position in [`Tokens`], small because the parser saves and
/// restores it at every alternative.
#[derive(Clone, Copy)]
struct Cursor<'c, 'a, 's> {
    all: &'c Tokens<'a, 's>,
    at: usize,
}

impl<'s> Iterator for Cursor<'_, '_, 's> {
    type Item = (Token<'s>, Span);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let t = self.all.tokens.get(self.at)?;
        self.at += 1;
        Some((t.token(self.all.src), t.span(self.all.file)))
    }
}

/// Turns a chumsky error into an expc diagnostic with a stable code.
fn to_diagnostic(error: &Rich<'_, Token<'_>, Span>) -> Diagnostic {
    let span = *error.span();
    if let RichReason::Custom(msg) = error.reason() {
        if let Some(msg) = msg.strip_prefix(TOO_DEEP) {
            return Diagnostic::error(Code::NESTING_TOO_DEEP, msg.to_owned(), span)
                .with_help("split the expression with a `param`, or use a list");
        }
        let msg = msg.trim_start_matches(MISSING_CLOSE);
        return Diagnostic::error(Code::UNEXPECTED_TOKEN, msg.to_owned(), span);
    }
    let found = error.found().map(|t| t.describe());
    let mut expected: Vec<String> = error
        .expected()
        .filter_map(|p| match p {
            RichPattern::Token(t) => Some(format!("`{}`", &**t)),
            RichPattern::Label(l) => Some(l.to_string()),
            RichPattern::EndOfInput => Some("end of input".to_owned()),
            RichPattern::Identifier(i) => Some(format!("`{i}`")),
            _ => None,
        })
        .collect();
    // Operators that could continue an expression say little about the mistake: fold them.
    let before = expected.len();
    expected.retain(|e| !is_operator(e));
    if expected.len() < before {
        expected.push("an operator".to_owned());
    }
    expected.sort();
    expected.dedup();
    // Keywords of the place where the error is, for "did you mean".
    let mut keywords: Vec<&str> = expected
        .iter()
        .filter_map(|e| e.strip_prefix('`').and_then(|e| e.strip_suffix('`')))
        .filter(|e| e.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    for e in &expected {
        match e.as_str() {
            "an item" => keywords.extend_from_slice(ITEM_KEYWORDS),
            "a task section" => keywords.extend_from_slice(SECTION_KEYWORDS),
            "a statement" => keywords.extend_from_slice(&["let", "for"]),
            _ => {}
        }
    }
    let found_word = match error.found() {
        Some(Token::Ident(w)) => Some(*w),
        _ => None,
    };
    let suggestion = found_word.and_then(|w| crate::suggest::closest(w, keywords.iter().copied()));
    let expected_text = list(&expected);
    let found_text = found.unwrap_or_else(|| "end of input".to_owned());
    let (code, message) =
        if suggestion.is_some() || is_item_position(&expected) && found_word.is_some() {
            (
                Code::UNKNOWN_KEYWORD,
                format!("expected {expected_text}, found {found_text}"),
            )
        } else {
            (
                Code::UNEXPECTED_TOKEN,
                format!("expected {expected_text}, found {found_text}"),
            )
        };
    let mut d = Diagnostic::error(code, message, span)
        .with_primary_message(format!("unexpected {found_text}"));
    if let Some(s) = suggestion {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    d
}

fn is_operator(pattern: &str) -> bool {
    matches!(
        pattern,
        "`(`"
            | "`[`"
            | "`.`"
            | "`..`"
            | "`..=`"
            | "`==`"
            | "`!=`"
            | "`<`"
            | "`<=`"
            | "`>`"
            | "`>=`"
            | "`in`"
            | "`+`"
            | "`-`"
            | "`*`"
            | "`/`"
            | "`%`"
            | "`&&`"
            | "`||`"
            | "an operator"
    )
}

fn is_item_position(expected: &[String]) -> bool {
    expected.iter().any(|e| e == "an item")
}

fn list(items: &[String]) -> String {
    match items {
        [] => "something else".to_owned(),
        [one] => one.clone(),
        [init @ .., last] if items.len() <= 8 => format!("{} or {last}", init.join(", ")),
        _ => format!("{}, …", items[..6].join(", ")),
    }
}

/// `kw("task")`: the contextual keyword `task`, yielding its span.
pub(crate) fn keyword<'t, 's: 't, I, E>(
    word: &'static str,
    label: &'static str,
) -> impl Parser<'t, I, Span, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Ident(s) if s == word => () }
        .map_with(|(), e| e.span())
        .labelled(label)
}

macro_rules! kw {
    ($word:literal) => {
        $crate::parser::keyword($word, concat!("`", $word, "`"))
    };
}
pub(crate) use kw;

/// Words that can never be names.
pub const RESERVED: &[&str] = &["true", "false", "none", "let", "for", "in", "on", "where"];

/// A name: any word but the reserved ones.
pub(crate) fn ident<'t, 's: 't, I, E>() -> impl Parser<'t, I, crate::ast::Ident, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Ident(s) if !RESERVED.contains(&s) => s }
        .map_with(|s: &str, e| crate::ast::Ident {
            name: crate::ast::SmolStr::new(s),
            span: e.span(),
        })
        .labelled("a name")
}

/// A closing delimiter that, when missing, ends the construct anyway (the delimiter pass
/// reports it).
pub(crate) fn close<'t, 's: 't, I, E>(token: Token<'s>) -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    just(token)
        .ignored()
        .or(empty().validate(move |(), e, emitter| {
            emitter.emit(E::custom(e.span(), || {
                format!("{MISSING_CLOSE}expected `{token}`")
            }))
        }))
}
