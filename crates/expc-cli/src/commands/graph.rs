//! `expc graph`: the jobs and their dependencies, to draw.

use std::io::Write;
use std::process::ExitCode;

use expc_diagnostics::render::RenderOptions;
use expc_plan::graph::Format;

use crate::cli::{GraphArgs, GraphFormat};

pub fn run(args: GraphArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    let Some(plan) = super::program::plan(&args.file, &overrides, &args.program, render)? else {
        return Ok(ExitCode::from(1));
    };
    let format = match args.format {
        GraphFormat::Dot => Format::Dot,
        GraphFormat::Mermaid => Format::Mermaid,
    };
    let _ = std::io::stdout()
        .lock()
        .write_all(expc_plan::graph::render(&plan, format, args.expand).as_bytes());
    Ok(ExitCode::SUCCESS)
}
