//! Diagnostics as the protocol carries them, from the checker's diagnostics.
//!
//! The message is the checker's message, followed by its help line, so that the editor
//! shows what `expc check` prints; secondary labels become related information.

use expc_diagnostics::{Diagnostic, Severity};
use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, NumberOrString};

use crate::analysis::Analysis;
use crate::position;

/// The diagnostics of the analysis whose primary span is in its root file.
pub fn of_root(analysis: &Analysis) -> Vec<lsp_types::Diagnostic> {
    let Some(file) = analysis.root_file() else {
        return Vec::new();
    };
    analysis
        .diagnostics
        .iter()
        .filter(|d| d.span().file == analysis.root)
        .map(|d| to_lsp(d, analysis, file))
        .collect()
}

/// The message the editor shows: the message and the help line.
pub fn message(d: &Diagnostic) -> String {
    match &d.help {
        Some(help) => format!("{}\nhelp: {help}", d.message),
        None => d.message.clone(),
    }
}

fn to_lsp(
    d: &Diagnostic,
    analysis: &Analysis,
    file: &expc_diagnostics::SourceFile,
) -> lsp_types::Diagnostic {
    let span = d.span();
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .skip(1)
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: analysis.location(l.span)?,
                message: if l.message.is_empty() {
                    "here".to_owned()
                } else {
                    l.message.clone()
                },
            })
        })
        .collect();
    lsp_types::Diagnostic {
        range: position::range(file, span.start, span.end),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Note => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(d.code.id.to_owned())),
        code_description: None,
        source: Some("expc".to_owned()),
        message: message(d),
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// The replacement a "did you mean" help proposes for the diagnostic's span, if it is a
/// plain replacement of the name there.
pub fn suggestion(help: &str, written: &str) -> Option<String> {
    let rest = help.strip_prefix("did you mean ")?;
    let (open, close) = match rest.chars().next()? {
        '`' => ('`', '`'),
        '"' => ('"', '"'),
        _ => return None,
    };
    let inner = rest.strip_prefix(open)?;
    let end = inner.find(close)?;
    let word = &inner[..end];
    if !inner[end + 1..].starts_with('?') || word.is_empty() {
        return None;
    }
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    if open == '"' {
        // A string literal: keep the quotes.
        (written.starts_with('"') && written.ends_with('"') && written.len() >= 2)
            .then(|| format!("\"{word}\""))
    } else if is_name(written) && is_name(word) {
        Some(word.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::suggestion;

    #[test]
    fn suggestions_replace_names_only() {
        assert_eq!(
            suggestion("did you mean `epochs`?", "epoch").as_deref(),
            Some("epochs")
        );
        assert_eq!(
            suggestion(
                "did you mean `Slurm`? import it: `import std.resources.{Slurm}`",
                "Slurn"
            ),
            Some("Slurm".to_owned())
        );
        assert_eq!(
            suggestion("did you mean \"gpu\"?", "\"gpx\"").as_deref(),
            Some("\"gpu\"")
        );
        assert_eq!(suggestion("did you mean `m`?", "2 h"), None);
        assert_eq!(suggestion("use it in a task", "x"), None);
    }
}
