//! `expc check`: parse and check files, print every diagnostic.

use std::io::Write;
use std::process::ExitCode;

use expc_diagnostics::render::{RenderOptions, render_all};
use expc_diagnostics::{Diagnostic, Severity, SourceMap, json};

use crate::cli::{CheckArgs, OutputFormat};
use crate::sources;

/// Diagnostics rendered as text at most; past that they only bury the first ones.
const MAX_SHOWN: usize = 100;

pub fn run(args: CheckArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let mut sources = SourceMap::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for path in &args.files {
        let (id, mut decode_diagnostics) = sources::load(&mut sources, path)?;
        diagnostics.append(&mut decode_diagnostics);
        let text = &sources.get(id).expect("just added").text;
        let parsed = expc_syntax::parse(id, text);
        diagnostics.extend(parsed.diagnostics);
    }
    expc_diagnostics::sort(&mut diagnostics);
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    match args.format {
        OutputFormat::Json => {
            let report = json::report(&diagnostics, &sources);
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report).map_err(|e| miette::miette!("{e}"))?;
            let _ = writeln!(out);
        }
        OutputFormat::Text => {
            if !diagnostics.is_empty() {
                let mut err = std::io::stderr().lock();
                let shown = &diagnostics[..diagnostics.len().min(MAX_SHOWN)];
                let _ = write!(err, "{}", render_all(shown, &sources, render));
                if diagnostics.len() > MAX_SHOWN {
                    let _ = writeln!(
                        err,
                        "… and {} more (`--format json` lists them all)",
                        diagnostics.len() - MAX_SHOWN
                    );
                }
                let mut parts = Vec::new();
                if errors > 0 {
                    parts.push(super::count(errors, "error"));
                }
                if warnings > 0 {
                    parts.push(super::count(warnings, "warning"));
                }
                let _ = writeln!(
                    err,
                    "{} in {}",
                    parts.join(", "),
                    super::count(args.files.len(), "file")
                );
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
