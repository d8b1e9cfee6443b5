//! The Spark engine: an instance of a job placed on a Spark resource is its application,
//! submitted from this machine with `spark-submit` to the resource's master (or
//! `EXPC_SPARK_MASTER`) with the options `expc build --target spark` writes for the
//! resource. The driver is a process here, so it counts against `-j` like a local task:
//! the engine is the local one ([`LocalEngine`]) with each job's submission.

use std::collections::BTreeMap;
use std::path::Path;

use expc_check::ir::{self, Backend};
use expc_plan::plan::{Job, Plan};

use super::find_program;
use super::local::LocalEngine;
use crate::RunError;
use crate::resolve::SparkSubmit;

/// The Spark engine: the applications of the jobs placed on Spark, each submitted from
/// here to its job's resource.
pub fn engine<'p>(plan: &'p Plan, spec_dir: &Path) -> LocalEngine<'p> {
    let submits = plan
        .jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.backend == Backend::Spark)
        .map(|(i, j)| (i, for_resource(j, spec_dir)))
        .collect();
    LocalEngine::submitting("spark", plan, spec_dir, submits)
}

/// Checks, before anything runs, that every job placed on Spark can be submitted: its
/// resource and settings give valid options, and `spark-submit` is here.
pub fn check<'p>(
    plan: &Plan,
    task: impl Fn(&Job) -> Option<&'p ir::Task>,
    spec_dir: &Path,
) -> Result<(), RunError> {
    for j in plan.jobs.iter().filter(|j| j.backend == Backend::Spark) {
        if let Some(task) = task(j) {
            check_resource(j, task).map_err(RunError)?;
        }
        let submit = for_resource(j, spec_dir);
        let found = if submit.program.contains('/') {
            Path::new(&submit.program).is_file()
        } else {
            find_program(&submit.program).is_some()
        };
        if !found {
            return Err(RunError(format!(
                "`{}` is placed on Spark (`{}`), but `{}` cannot be found. Install Spark (or `pip install pyspark`), set `spark_home` on the resource, or run everything here with `expc run --local`",
                j.key, j.on, submit.program
            )));
        }
    }
    Ok(())
}

/// The submission to the Spark resource a job is placed on: its `master` (or
/// `EXPC_SPARK_MASTER`, which a site sets to point the same spec at another cluster),
/// and the options `expc build --target spark` writes for the resource's fields
/// (deploy mode, executors, memory, `conf`, `py_files`, event log, …), paths resolved
/// against `spec_dir`; `spark_home`'s `spark-submit` when set. The task's own settings
/// come after them in the argv, so they win, as they do in the build.
pub fn for_resource(job: &Job, spec_dir: &Path) -> SparkSubmit {
    use expc_build::quote::Segment;
    let word = |w: &[Segment]| -> String {
        w.iter()
            .map(|seg| match seg {
                Segment::Text(t) => t.clone(),
                Segment::Var(v) if v == "spec_dir" => spec_dir.to_string_lossy().into_owned(),
                Segment::Var(v) => format!("${v}"),
            })
            .collect()
    };
    let env_master = std::env::var("EXPC_SPARK_MASTER")
        .ok()
        .filter(|m| !m.is_empty());
    let settings = expc_build::spark::options::spark_settings(job, &BTreeMap::new());
    let Ok(settings) = settings else {
        // What the resource cannot give is reported by `check_resource` first.
        return SparkSubmit {
            program: "spark-submit".into(),
            master: env_master.unwrap_or_else(|| "local[*]".into()),
            options: Vec::new(),
        };
    };
    let mut options = Vec::new();
    for o in &settings.options {
        options.push(o.flag.to_owned());
        if let Some(v) = &o.value {
            options.push(word(v));
        }
    }
    SparkSubmit {
        program: settings.spark_home.as_ref().map_or_else(
            || "spark-submit".to_owned(),
            |h| format!("{}/bin/spark-submit", word(h)),
        ),
        master: env_master.unwrap_or(settings.master),
        options,
    }
}

/// Whether the job's resource and its task's Spark settings can be submitted (the
/// checks of `expc build --target spark`: memory within `max_executor_mem`, whole
/// cores, known properties, …), as a message saying what to change.
fn check_resource(job: &Job, task: &ir::Task) -> Result<(), String> {
    let empty = BTreeMap::new();
    let settings = match &task.command {
        ir::Command::Spark { settings, .. } => settings,
        _ => &empty,
    };
    expc_build::spark::options::spark_settings(job, settings)
        .map(|_| ())
        .map_err(|e| format!("{}; {}", e.message, e.help))
}
