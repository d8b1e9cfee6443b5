//! `expc run` of a pipeline placed on Slurm: submits, follows, and reports each job with
//! Slurm's reason when it did not complete.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use expc_run::RunOptions;
use expc_run::slurm::{self, SlurmRunOptions};
use miette::miette;

pub fn run(
    program: &expc_check::ir::Program,
    plan: &expc_plan::Plan,
    spec: &std::path::Path,
    opts: &RunOptions,
) -> miette::Result<ExitCode> {
    let slurm_opts = SlurmRunOptions {
        state_dir: opts.state_dir.clone(),
        spec_dir: opts.spec_dir.clone(),
        poll: Duration::from_secs(1),
    };
    let mut progress = |line: &str| {
        eprintln!("{line}");
    };
    let summary = slurm::run(program, plan, &slurm_opts, &mut progress)
        .map_err(|e| miette!(help = "nothing was left running", "{}", e.0))?;
    let mut err = std::io::stderr().lock();
    let jobs = summary.results.len();
    let done = summary
        .results
        .iter()
        .filter(|r| r.completed == r.instances)
        .count();
    for r in summary.results.iter().filter(|r| r.completed < r.instances) {
        let _ = writeln!(
            err,
            "\nnot completed: {} (Slurm job {}): {} of {} tasks completed",
            r.label, r.slurm_id, r.completed, r.instances
        );
        for p in r.problems.iter().take(5) {
            let _ = writeln!(err, "  {p}");
        }
        if r.problems.len() > 5 {
            let _ = writeln!(err, "  … and {} more", r.problems.len() - 5);
        }
    }
    let _ = writeln!(
        err,
        "\n{done} of {jobs} Slurm jobs completed, in {:.1}s",
        summary.elapsed.as_secs_f64()
    );
    let _ = writeln!(err, "outputs and logs: {}", summary.run_dir.display());
    let _ = writeln!(
        err,
        "provenance hook records: {}",
        summary.prov_dir.display()
    );
    if summary.interrupted {
        let _ = writeln!(err, "interrupted: the submitted jobs were cancelled");
    }
    // The jobs' hook records become a run in the provenance store, as a local run is.
    let recorded = expc_build::read_hook_records(&summary.prov_dir)
        .map_err(|e| e.to_string())
        .and_then(|records| {
            let meta = expc_prov::RunMeta::collect(program, plan, spec, &opts.spec_dir);
            expc_prov::ingest::ingest(
                &opts.state_dir,
                program,
                plan,
                meta,
                &records,
                &summary.run_dir,
                &opts.spec_dir,
            )
        });
    match recorded {
        Ok(done) => {
            let _ = writeln!(
                err,
                "provenance: run {} (`expc runs show {}`)",
                done.run_id, done.run_id
            );
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "provenance: not recorded: {e}; `expc prov ingest {}` loads it later",
                summary.prov_dir.display()
            );
        }
    }
    Ok(if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
