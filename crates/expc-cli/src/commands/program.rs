//! What `plan`, `graph` and `diff` share: checking a spec with its param values and
//! lowering it to a plan, with every diagnostic rendered on the way.

use std::io::Write;
use std::path::Path;

use expc_check::Overrides;
use expc_diagnostics::render::{RenderOptions, render_all};
use expc_diagnostics::{Diagnostic, Severity, SourceMap};
use expc_plan::Plan;
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cli::{PlacementArgs, ProgramArgs};
use crate::sources;

/// Param values from `--params` files, then `-p` assignments.
pub fn overrides(
    files: &[std::path::PathBuf],
    assignments: &[String],
) -> miette::Result<Overrides> {
    let mut o = Overrides::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot read the params file `{}`", f.display()))?;
        o.push_yaml_file(&text, &f.display().to_string())
            .map_err(|e| {
                miette!(
                    help = "a params file maps param names to values, as in `epochs: 50`",
                    "`{}`: {e}",
                    f.display()
                )
            })?;
    }
    for a in assignments {
        o.push_assignment(a).map_err(|e| {
            miette!(
                help = "write `-p NAME=VALUE`, for example `-p epochs=50`",
                "{e}"
            )
        })?;
    }
    Ok(o)
}

/// Param values of `args`, with its profile and `--on` moves.
pub fn overrides_of(args: &ProgramArgs) -> miette::Result<Overrides> {
    let mut o = overrides(&args.params_files, &args.params)?;
    placement(&mut o, &args.placement)?;
    Ok(o)
}

/// Adds `--profile` and `--on` to `o`.
pub fn placement(o: &mut Overrides, args: &PlacementArgs) -> miette::Result<()> {
    if let Some(p) = &args.profile {
        o.set_profile(p.clone());
    }
    for m in &args.on {
        o.push_move(m).map_err(|e| {
            miette!(
                help = "write `--on FROM=TO` with two resources, for example `--on laptop=cluster`",
                "{e}"
            )
        })?;
    }
    Ok(())
}

/// Checks and lowers `path`; prints diagnostics to standard error. `None` when there was
/// an error (already shown).
pub fn plan(
    path: &Path,
    overrides: &Overrides,
    args: &ProgramArgs,
    render: RenderOptions,
) -> miette::Result<Option<Plan>> {
    Ok(program_and_plan(path, overrides, args, render)?.map(|(_, plan)| plan))
}

/// As [`plan`], with the typed IR too.
pub fn program_and_plan(
    path: &Path,
    overrides: &Overrides,
    args: &ProgramArgs,
    render: RenderOptions,
) -> miette::Result<Option<(expc_check::ir::Program, Plan)>> {
    let mut sources = SourceMap::new();
    let (file, mut diagnostics) = sources::load(&mut sources, path)?;
    let mut checked = expc_check::check(
        path,
        file,
        &mut sources,
        &super::registry_loader::RegistryLoader::beside(path),
        overrides,
    );
    diagnostics.append(&mut checked.diagnostics);
    let mut result = None;
    if let Some(program) = checked.program.take() {
        let lowered = expc_plan::lower(&program, &args.pipeline, file);
        diagnostics.extend(lowered.diagnostics);
        result = lowered.plan.map(|plan| (program, plan));
    }
    std::mem::forget(checked);
    // An error reported by any stage (reading the file included: invalid UTF-8 is read
    // lossily so that the rest can still be checked) means nothing is planned, and the
    // command exits non-zero.
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        result = None;
    }
    report(&diagnostics, &sources, render);
    std::mem::forget(sources);
    Ok(result)
}

fn report(diagnostics: &[Diagnostic], sources: &SourceMap, render: RenderOptions) {
    if diagnostics.is_empty() {
        return;
    }
    let mut err = std::io::stderr().lock();
    let shown = &diagnostics[..diagnostics.len().min(100)];
    let _ = write!(err, "{}", render_all(shown, sources, render));
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        let _ = writeln!(
            err,
            "{}; nothing was planned",
            super::count(errors, "error")
        );
    }
}
