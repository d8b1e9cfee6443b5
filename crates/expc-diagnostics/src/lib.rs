//! Spans, source files and diagnostics for expc.
//!
//! Every phase of the compiler reports problems as [`Diagnostic`] values: plain data with a
//! stable [`Code`], a message, labelled byte spans and help. They stay data until the very
//! end, where [`render`] turns them into text for a terminal (with ariadne) or
//! [`json`] into machine-readable records for editors and CI. This crate does no IO.
//!
//! Every code is documented in `explain/CODE.md`; [`codes::explain`] returns that text and
//! `expc explain CODE` prints it.

pub mod codes;
mod diagnostic;
pub mod json;
pub mod render;
mod source;
mod span;

pub use codes::Code;
pub use diagnostic::{Diagnostic, Label, Severity, sort};
pub use source::{LineCol, SourceFile, SourceMap, decode_lossless};
pub use span::{FileId, Span};
