//! Diagnostics as JSON records, for editors and CI (`expc check --format json`).

use serde::Serialize;

use crate::{Code, Diagnostic, LineCol, Severity, SourceMap};

/// The version of the JSON shape below; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub file: String,
    pub code: Code,
    pub name: &'static str,
    pub severity: Severity,
    pub message: String,
    pub range: JsonRange,
    pub labels: Vec<JsonLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub message: String,
    pub range: JsonRange,
}

/// A byte range and the same range as 1-based line/column positions (end exclusive).
#[derive(Debug, Serialize)]
pub struct JsonRange {
    pub byte_start: u32,
    pub byte_end: u32,
    pub start: LineCol,
    pub end: LineCol,
}

/// The whole output of `expc check --format json`.
#[derive(Debug, Serialize)]
pub struct JsonReport {
    pub schema_version: u32,
    pub diagnostics: Vec<JsonDiagnostic>,
}

fn range(span: crate::Span, sources: &SourceMap) -> (String, JsonRange) {
    let file = sources.get(span.file);
    let lc = |o| file.map_or(LineCol { line: 1, column: 1 }, |f| f.line_col(o));
    (
        file.map_or_else(String::new, |f| f.name.clone()),
        JsonRange {
            byte_start: span.start,
            byte_end: span.end,
            start: lc(span.start),
            end: lc(span.end),
        },
    )
}

pub fn to_json(diagnostic: &Diagnostic, sources: &SourceMap) -> JsonDiagnostic {
    let (file, primary) = range(diagnostic.span(), sources);
    JsonDiagnostic {
        file,
        code: diagnostic.code,
        name: diagnostic.code.name,
        severity: diagnostic.severity,
        message: diagnostic.message.clone(),
        range: primary,
        labels: diagnostic
            .labels
            .iter()
            .map(|l| {
                let (file, range) = range(l.span, sources);
                JsonLabel {
                    file,
                    message: l.message.clone(),
                    range,
                }
            })
            .collect(),
        help: diagnostic.help.clone(),
        notes: diagnostic.notes.clone(),
    }
}

pub fn report(diagnostics: &[Diagnostic], sources: &SourceMap) -> JsonReport {
    JsonReport {
        schema_version: SCHEMA_VERSION,
        diagnostics: diagnostics.iter().map(|d| to_json(d, sources)).collect(),
    }
}
