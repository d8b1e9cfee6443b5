//! The front end of expc: lexer, parser and syntax tree of `.exp` files.
//!
//! ```text
//! bytes ─► decode (invalid UTF-8 reported, offsets kept) ─► lexer (logos) ─► tokens + comments
//!       ─► delimiters (unclosed / mismatched / too deep) ─► parser (chumsky, recovers) ─► AST
//!       ─► doc comments attached
//! ```
//!
//! [`parse`] never fails and never panics: it returns the tree (with `Error` nodes where the
//! text could not be read) together with every diagnostic. This crate does no IO and knows
//! nothing of types or names; that is the checker's work.

pub mod ast;
pub mod delimiters;
mod docs;
pub mod dump;
pub mod lexer;
mod parser;
pub mod quantity;
pub mod suggest;
mod token;
pub mod unescape;

use expc_diagnostics::{Code, Diagnostic, FileId, Span};

pub use lexer::{Comment, CommentKind};
pub use token::{TextQuote, Token};

/// A parsed file: its tree, its comments (for the formatter) and its diagnostics.
#[derive(Debug)]
pub struct Parsed {
    pub file: ast::SourceFile,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Words that start an item, and words that start a task section.
pub use parser::{ITEM_KEYWORDS, SECTION_KEYWORDS};

/// Decodes raw bytes for [`parse`]: invalid UTF-8 bytes become U+001A (one byte each, so
/// offsets match the file) and are reported as `E0002`.
pub fn decode(file: FileId, bytes: &[u8]) -> (String, Vec<Diagnostic>) {
    let (text, bad) = expc_diagnostics::decode_lossless(bytes);
    let mut diagnostics = Vec::new();
    // Report runs of adjacent invalid bytes once.
    let mut i = 0;
    while i < bad.len() {
        let start = bad[i];
        let mut end = start + 1;
        while i + 1 < bad.len() && bad[i + 1] == end {
            i += 1;
            end += 1;
        }
        diagnostics.push(
            Diagnostic::error(
                Code::INVALID_UTF8,
                "invalid UTF-8 in source file",
                Span::new(file, start, end),
            )
            .with_primary_message("these bytes are not UTF-8")
            .with_help("save the file as UTF-8"),
        );
        i += 1;
    }
    (text, diagnostics)
}

/// Parses the text of one file.
pub fn parse(file: FileId, src: &str) -> Parsed {
    let lexed = lexer::lex_compact(file, src);
    let (tokens, delimiter_diagnostics) = delimiters::check_compact(file, src.len(), lexed.tokens);
    let mut diagnostics = lexed.diagnostics;
    let delimiter_errors = !delimiter_diagnostics.is_empty();
    diagnostics.extend(delimiter_diagnostics);
    let (mut ast, parse_diagnostics) =
        parser::parse_tokens(file, src, &tokens, lexed.quantities, delimiter_errors);
    diagnostics.extend(parse_diagnostics);
    diagnostics.extend(docs::attach(&mut ast, &lexed.comments, src));
    drop_docs_in_unread_items(&mut diagnostics, &ast);
    drop_consequences(&mut diagnostics, src.len());
    drop_inserted_bracket_errors(&mut diagnostics);
    expc_diagnostics::sort(&mut diagnostics);
    diagnostics.dedup_by(|a, b| a.code == b.code && a.span() == b.span());
    Parsed {
        file: ast,
        comments: lexed.comments,
        diagnostics,
    }
}

/// Removes errors that only repeat an earlier one: a token running to the end of the file
/// leaves every bracket unclosed, and an unclosed bracket makes the parser stop at the end.
fn drop_consequences(diagnostics: &mut Vec<Diagnostic>, len: usize) {
    let has = |d: &[Diagnostic], codes: &[Code]| d.iter().any(|x| codes.contains(&x.code));
    if has(
        diagnostics,
        &[
            Code::UNTERMINATED_STRING,
            Code::UNTERMINATED_COMMENT,
            Code::UNTERMINATED_TEMPLATE,
        ],
    ) {
        diagnostics.retain(|d| d.code != Code::UNCLOSED_DELIMITER);
    }
    if has(
        diagnostics,
        &[
            Code::UNCLOSED_DELIMITER,
            Code::UNTERMINATED_STRING,
            Code::UNTERMINATED_COMMENT,
            Code::UNTERMINATED_TEMPLATE,
        ],
    ) {
        diagnostics.retain(|d| {
            !(matches!(d.code, Code::UNEXPECTED_TOKEN | Code::UNKNOWN_KEYWORD)
                && d.span().start as usize >= len)
        });
    }
}

/// Whether a diagnostic of [`parse`] marks text the parser could not read, as opposed to
/// a value it read but rejects (an unknown unit, an invalid escape): what depends on
/// such text cannot be known, so the checker and the editor report no consequences of it.
pub fn is_unread(d: &Diagnostic) -> bool {
    matches!(
        d.code,
        Code::INVALID_CHARACTER
            | Code::UNTERMINATED_STRING
            | Code::UNTERMINATED_COMMENT
            | Code::UNTERMINATED_TEMPLATE
            | Code::UNEXPECTED_TOKEN
            | Code::UNCLOSED_DELIMITER
            | Code::MISMATCHED_DELIMITER
            | Code::UNKNOWN_KEYWORD
            | Code::NESTING_TOO_DEEP
    )
}

/// Removes the dangling-doc warnings of doc comments in an item the parser could not
/// read whole (an `Error` item, or one with a syntax error in it): what such a comment
/// documents may be there, unread. A task missing its closing `}` takes in the items
/// after it, and their doc comments do document them.
fn drop_docs_in_unread_items(diagnostics: &mut Vec<Diagnostic>, file: &ast::SourceFile) {
    let errors: Vec<Span> = diagnostics
        .iter()
        .filter(|d| is_unread(d))
        .map(Diagnostic::span)
        .collect();
    if errors.is_empty() {
        return;
    }
    let unread: Vec<Span> = file
        .items
        .iter()
        .filter(|i| !is_read_whole(i, &errors))
        .map(|i| i.span)
        .collect();
    diagnostics.retain(|d| {
        let span = d.span();
        d.code != Code::DANGLING_DOC_COMMENT
            || !unread
                .iter()
                .any(|u| u.start <= span.start && span.end <= u.end)
    });
}

/// Whether the parser read `item` whole: it is not an `Error` item and none of `errors`
/// (the spans of diagnostics for which [`is_unread`] holds) starts in it.
pub fn is_read_whole(item: &ast::Item, errors: &[Span]) -> bool {
    !matches!(item.kind, ast::ItemKind::Error)
        && !errors.iter().any(|e| {
            e.file == item.span.file && item.span.start <= e.start && e.start < item.span.end
        })
}

/// Removes the parse errors at a closing bracket the delimiter pass inserted before a
/// mismatched one (an empty span where the mismatch is reported): the mismatch is the
/// error, and the inserted bracket is not in the text.
fn drop_inserted_bracket_errors(diagnostics: &mut Vec<Diagnostic>) {
    let mismatches: Vec<u32> = diagnostics
        .iter()
        .filter(|d| d.code == Code::MISMATCHED_DELIMITER)
        .map(|d| d.span().start)
        .collect();
    diagnostics.retain(|d| {
        let span = d.span();
        !(d.code == Code::UNEXPECTED_TOKEN && span.is_empty() && mismatches.contains(&span.start))
    });
}

/// Decodes and parses raw bytes.
pub fn parse_bytes(file: FileId, bytes: &[u8]) -> (String, Parsed) {
    let (text, mut decode_diagnostics) = decode(file, bytes);
    let mut parsed = parse(file, &text);
    decode_diagnostics.append(&mut parsed.diagnostics);
    expc_diagnostics::sort(&mut decode_diagnostics);
    parsed.diagnostics = decode_diagnostics;
    (text, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(parsed: &Parsed) -> Vec<&'static str> {
        parsed.diagnostics.iter().map(|d| d.code.id).collect()
    }

    /// The names of the items parsed whole, with whether each kept its doc comment.
    fn items(parsed: &Parsed) -> Vec<(String, bool)> {
        parsed
            .file
            .items
            .iter()
            .filter(|i| !matches!(i.kind, ast::ItemKind::Error))
            .map(|i| (i.kind.name().unwrap().name.to_string(), i.doc.is_some()))
            .collect()
    }

    const VALID: &str = "/// Seed.\nparam seed: Int = 42\n\n/// Count.\nparam count: Int = 3\n";

    #[test]
    fn an_unfinished_last_line_keeps_the_items_before_it() {
        let parsed = parse(FileId(0), &format!("{VALID}this is not valid {{\n"));
        assert_eq!(codes(&parsed), ["E0013", "E0011"]);
        assert_eq!(
            items(&parsed),
            [("seed".to_owned(), true), ("count".to_owned(), true)]
        );
    }

    #[test]
    fn a_bracket_closed_by_the_wrong_one_costs_only_its_item() {
        let src = format!("sweep grid = product {{\n  a = [1, 2\n  b = [3]\n}}\n\n{VALID}");
        let parsed = parse(FileId(0), &src);
        assert_eq!(codes(&parsed), ["E0012"]);
        assert_eq!(
            items(&parsed)[1..],
            [("seed".to_owned(), true), ("count".to_owned(), true)]
        );
    }
}
