//! The canonical formatter of `.exp` files.
//!
//! It prints the syntax tree back with one layout: two-space indentation, one entry,
//! section or statement per line, single spaces around operators. Comments are not in the
//! tree; they are woven back in by position, so every comment survives (a comment inside an
//! expression that stays on one line moves to the next line boundary). Blank lines between
//! entries are kept (at most one). A block or list written on one line stays on one line if
//! it holds no comment; otherwise it is laid out one element per line.
//!
//! Formatting is idempotent, and only formats files without syntax errors: it never guesses
//! at broken text. It does no IO.

mod printer;

use expc_diagnostics::FileId;

/// Why a file could not be formatted.
#[derive(Debug)]
pub struct SyntaxErrors(pub Vec<expc_diagnostics::Diagnostic>);

/// Formats a source text; on syntax errors, returns them.
pub fn format_source(file: FileId, src: &str) -> Result<String, SyntaxErrors> {
    let parsed = expc_syntax::parse(file, src);
    if parsed.has_errors() {
        return Err(SyntaxErrors(parsed.diagnostics));
    }
    Ok(format_parsed(&parsed, src))
}

/// Formats an already parsed, error-free file.
pub fn format_parsed(parsed: &expc_syntax::Parsed, src: &str) -> String {
    printer::Printer::new(src, &parsed.comments).file(&parsed.file)
}
