//! `expc diff`: what changes between the plans of two versions of a spec.

use std::io::Write;
use std::process::ExitCode;

use expc_diagnostics::render::RenderOptions;

use crate::cli::{DiffArgs, OutputFormat};

pub fn run(args: DiffArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let p = &args.program;
    let mut old_files = p.params_files.clone();
    old_files.extend(args.old_params_files.iter().cloned());
    let mut new_files = p.params_files.clone();
    new_files.extend(args.new_params_files.iter().cloned());
    let mut old_params = p.params.clone();
    old_params.extend(args.old_params.iter().cloned());
    let mut new_params = p.params.clone();
    new_params.extend(args.new_params.iter().cloned());
    let old_overrides = super::program::overrides(&old_files, &old_params)?;
    let mut new_overrides = super::program::overrides(&new_files, &new_params)?;
    super::program::placement(&mut new_overrides, &p.placement)?;
    let old = super::program::plan(&args.old, &old_overrides, p, render)?;
    let new = super::program::plan(&args.new, &new_overrides, p, render)?;
    let (Some(old), Some(new)) = (old, new) else {
        return Ok(ExitCode::from(1));
    };
    let diff = expc_plan::diff::diff(
        &old,
        &new,
        &args.old.display().to_string(),
        &args.new.display().to_string(),
    );
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Text => {
            let _ = out.write_all(expc_plan::diff::text(&diff).as_bytes());
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &diff).map_err(super::stdout_json_error)?;
            let _ = writeln!(out);
        }
    }
    Ok(ExitCode::SUCCESS)
}
