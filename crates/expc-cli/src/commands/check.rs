//! `expc check`: parse and check files, print every diagnostic.

use std::io::Write;
use std::process::ExitCode;

use expc_diagnostics::render::{RenderOptions, render_all};
use expc_diagnostics::{Diagnostic, Severity, SourceMap, json};

use expc_check::{FsLoader, Overrides};

use crate::cli::{CheckArgs, Emit, OutputFormat};
use crate::sources;

/// Diagnostics rendered as text at most; past that they only bury the first ones.
const MAX_SHOWN: usize = 100;

pub fn run(args: CheckArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let mut overrides = Overrides::new();
    for p in &args.params {
        overrides.push_assignment(p).map_err(|e| {
            miette::miette!(
                help = "write `-p NAME=VALUE`, for example `-p epochs=50`",
                "{e}"
            )
        })?;
    }
    super::program::placement(&mut overrides, &args.placement)?;
    if args.emit.is_some() && args.files.len() != 1 {
        return Err(miette::miette!(
            help = "run `expc check --emit ir FILE` once per file",
            "`--emit` takes exactly one file, found {}",
            args.files.len()
        ));
    }
    let mut sources = SourceMap::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut programs = Vec::new();
    for path in &args.files {
        let (id, mut decode_diagnostics) = sources::load(&mut sources, path)?;
        diagnostics.append(&mut decode_diagnostics);
        let mut checked = expc_check::check(path, id, &mut sources, &FsLoader, &overrides);
        diagnostics.append(&mut checked.diagnostics);
        if let Some(program) = &checked.program {
            // Calls that read each other's outputs: found here without planning.
            diagnostics.extend(expc_plan::cycles(program));
        }
        programs.push(checked.program.take());
        // The syntax trees are not needed any more, and freeing a large one node by node
        // takes longer than checking it: the process exits soon and returns the memory.
        std::mem::forget(checked);
    }
    expc_diagnostics::sort(&mut diagnostics);
    diagnostics.dedup_by(|a, b| a.code == b.code && a.span() == b.span() && a.message == b.message);
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    if let (Some(Emit::Ir), Some(Some(program))) = (args.emit, programs.first()) {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, program).map_err(super::stdout_json_error)?;
        let _ = writeln!(out);
    }
    match args.format {
        OutputFormat::Json => {
            let report = json::report(&diagnostics, &sources);
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report).map_err(super::stdout_json_error)?;
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
    std::mem::forget(programs);
    std::mem::forget(sources);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
