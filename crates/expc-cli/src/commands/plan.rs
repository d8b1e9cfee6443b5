//! `expc plan`: every job a pipeline will run, before anything runs.

use std::io::Write;
use std::process::ExitCode;

use expc_diagnostics::render::RenderOptions;

use crate::cli::{OutputFormat, PlanArgs};

pub fn run(args: PlanArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    let Some(plan) = super::program::plan(&args.file, &overrides, &args.program, render)? else {
        return Ok(ExitCode::from(1));
    };
    // The instance DAG is what runs and is submitted; building it checks every edge.
    let dag = expc_plan::dag::build(&plan);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        OutputFormat::Text => {
            let _ = out.write_all(expc_plan::render::text(&plan).as_bytes());
            let _ = writeln!(
                out,
                "\nDAG: {} task instances, {} dependencies between them",
                dag.graph.node_count(),
                dag.graph.edge_count()
            );
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &plan.json())
                .map_err(super::stdout_json_error)?;
            let _ = writeln!(out);
        }
    }
    let _ = out.flush();
    std::mem::forget(dag);
    std::mem::forget(plan);
    Ok(ExitCode::SUCCESS)
}
