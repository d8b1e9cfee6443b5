//! `expc fmt`: format files in the canonical style.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use expc_diagnostics::SourceMap;
use expc_diagnostics::render::{RenderOptions, render_all};
use miette::{IntoDiagnostic, WrapErr};

use crate::cli::FmtArgs;
use crate::sources;

pub fn run(args: FmtArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let mut failed = false;
    let mut sources = SourceMap::new();
    for path in &args.files {
        let (id, decode_diagnostics) = sources::load(&mut sources, path)?;
        let text = sources.get(id).expect("just added").text.clone();
        let mut diagnostics = decode_diagnostics;
        let formatted = if diagnostics.is_empty() {
            match expc_fmt::format_source(id, &text) {
                Ok(f) => Some(f),
                Err(errors) => {
                    diagnostics = errors.0;
                    None
                }
            }
        } else {
            None
        };
        let Some(formatted) = formatted else {
            let errors: Vec<_> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
            eprint!("{}", render_all(&errors, &sources, render));
            eprintln!(
                "error: `{}` was not formatted because it has syntax errors",
                path.display()
            );
            failed = true;
            continue;
        };
        if path.as_os_str() == "-" {
            super::write_stdout(formatted.as_bytes())?;
            if args.check && formatted != text {
                failed = true;
            }
            continue;
        }
        if formatted == text {
            continue;
        }
        if args.check {
            failed = true;
            print_diff(path, &text, &formatted);
        } else {
            write_atomically(path, &formatted)?;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_diff(path: &Path, old: &str, new: &str) {
    let name = path.display().to_string();
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&name, &format!("{name} (formatted)"))
    );
}

/// Writes through a temporary file and a rename, so a crash never leaves a half-written spec.
fn write_atomically(path: &Path, text: &str) -> miette::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.expc-fmt.tmp"));
    std::fs::write(&tmp, text)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write `{}`", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot replace `{}`", path.display()))
}
