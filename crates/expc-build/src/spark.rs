//! Spark artifacts of a plan: a `spark-submit` script per Spark-placed job under `jobs/`
//! (a sweep's instances in one script, chosen by an index argument), a `submit.sh` that
//! runs them in dependency order, and `plan.json`.
//!
//! Scripts take `SPEC_DIR RUN_DIR PROV_DIR [INDEX]` as the Slurm ones do; instance INDEX
//! of job KEY works in `RUN_DIR/KEY/INDEX/` and reads upstream outputs from
//! `RUN_DIR/UPSTREAM/INDEX/OUTPUT`: the application's words are evaluated by
//! `expc_plan::command` and written by [`ScriptCommands`], as for Slurm.
//! Settings become `spark-submit` options once ([`options`]); every word from a spec is
//! single-quoted ([`crate::quote`]). The handlebars templates are `templates/spark-*.hbs`.

pub mod options;

use expc_check::ir::{self, Backend};
use expc_plan::plan::Plan;
use handlebars::Handlebars;
use serde_json::{Value as Json, json};

use crate::cases::check_word;
use crate::quote::{Segment, has_nul, quote, quote_word};
use crate::slurm::argv::{ScriptCommands, job_dir};
use crate::{Artifact, BuildError};
use options::{SparkOption, spark_settings};

/// The built-in templates.
pub const TEMPLATES: [(&str, &str); 3] = [
    ("spark-job", include_str!("../templates/spark-job.sh.hbs")),
    ("spark-hook", include_str!("../templates/spark-hook.sh.hbs")),
    (
        "spark-submit",
        include_str!("../templates/spark-submit.sh.hbs"),
    ),
];

/// The largest job script written: a sweep's instances are `case` arms of one script,
/// and a script of more than 4 MiB is a sweep that should not be one Spark job each.
pub const MAX_SCRIPT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Debug, Default)]
pub struct SparkOptions {
    /// The folder the spec's relative data paths are resolved against where the scripts
    /// run; `submit.sh` uses it unless `EXPC_SPEC_DIR` is set.
    pub spec_dir: String,
}

fn registry() -> Result<Handlebars<'static>, BuildError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    for (name, text) in TEMPLATES {
        hb.register_template_string(name, text).map_err(|e| {
            BuildError::new(
                format!("the template `{name}` does not parse: {e}"),
                "report this as a bug".into(),
            )
        })?;
    }
    Ok(hb)
}

fn render(hb: &Handlebars<'_>, name: &str, data: &Json) -> Result<String, BuildError> {
    hb.render(name, data).map_err(|e| {
        BuildError::new(
            format!("the template `{name}` failed: {e}"),
            "report this as a bug".into(),
        )
    })
}

fn option_line(o: &SparkOption) -> String {
    match &o.value {
        Some(v) => format!("{} {}", o.flag, quote_word(v)),
        None => o.flag.to_owned(),
    }
}

/// Builds the Spark artifacts of `plan`: `plan.json`, `submit.sh` and `jobs/*.sh`, sorted
/// by path. Fails, changing nothing, when a job cannot be submitted as planned.
pub fn build(
    program: &ir::Program,
    plan: &Plan,
    opts: &SparkOptions,
) -> Result<Vec<Artifact>, BuildError> {
    let spark_jobs: Vec<usize> = (0..plan.jobs.len())
        .filter(|&j| plan.jobs[j].backend == Backend::Spark)
        .collect();
    if spark_jobs.is_empty() {
        return Err(BuildError::new(
            format!(
                "no job of the pipeline `{}` is placed on a Spark resource: there is nothing to build",
                plan.pipeline
            ),
            "place calls of `spark` tasks on a resource of kind `Spark` (`let c = clean(…) on cluster`)".into(),
        ));
    }
    if has_nul(&opts.spec_dir) {
        return Err(BuildError::new(
            "the spec directory contains a NUL byte".into(),
            "pass another `--spec-dir`".into(),
        ));
    }
    let hb = registry()?;
    let builder = ScriptCommands::for_spark(program, plan);
    let experiment = plan.experiment.clone().unwrap_or_default();
    let name_prefix = if experiment.is_empty() {
        "expc"
    } else {
        experiment.as_str()
    };
    let mut artifacts = Vec::new();
    let mut runs = Vec::new();

    for &j in &spark_jobs {
        let job = &plan.jobs[j];
        let dir = job_dir(&job.key);
        if !dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(BuildError::new(
                format!(
                    "the job `{}` has a name that cannot be a file name",
                    job.key
                ),
                "name the call with letters, digits and `_` (`let name = task(…)`)".into(),
            ));
        }
        if !job.loops.is_empty() && job.instances == 0 {
            return Err(BuildError::new(
                format!("`{}` has no instances: its sweep is empty", job.key),
                "give every axis of the sweep at least one value".into(),
            ));
        }
        let task = builder.index().task(&job.task);
        let Some(ir::Command::Spark { settings, .. }) = task.map(|t| &t.command) else {
            return Err(BuildError::new(
                format!(
                    "`{}` is placed on the Spark resource `{}`, and its task `{}` runs no Spark application",
                    job.key, job.on, job.task
                ),
                "give the task a `spark APP args [...]` command, or place the call on another resource".into(),
            ));
        };
        let env = &job.env;
        if env.image.is_some() || !env.modules.is_empty() || env.conda.is_some() {
            return Err(BuildError::new(
                format!(
                    "the task `{}` of `{}` sets a container image, modules or a conda environment, which expc does not set up for spark-submit",
                    job.task, job.key
                ),
                "set up Python for the executors on the cluster (for example `conf` spark.pyspark.python), and keep only `vars` in the task's `env`".into(),
            ));
        }
        let s = spark_settings(job, settings)?;
        let file = format!("{dir}.sh");
        let sweep = !job.loops.is_empty();
        let count = if sweep { job.instances } else { 1 };

        let crate::cases::CaseArms {
            text: cases,
            secret_vars,
        } = crate::cases::case_arms(&builder, plan, j, 0..count, MAX_SCRIPT_BYTES, |_| {
            script_too_big(&job.key)
        })?;
        for o in &s.options {
            if let Some(v) = &o.value {
                check_word(|| format!("the option {} of `{}`", o.flag, job.key), v)?;
            }
        }
        let outputs = builder.outputs(j);
        for (name, f) in &outputs {
            check_word(
                || format!("the output `{name}` of `{}`", job.key),
                &[Segment::Text(f.clone())],
            )?;
        }
        let instances_line = if sweep {
            format!(
                "Instances 0-{} of a sweep: the fourth argument chooses one.",
                count - 1
            )
        } else {
            "One instance.".to_owned()
        };
        let data = json!({
            "title": format!("{name_prefix}: job `{}` (task `{}`) on `{}`.", job.key, job.task, job.on),
            "instances_line": instances_line,
            "root": plan.root,
            "script": format!("jobs/{file}"),
            "dir": dir,
            "job": job.key,
            "job_word": quote(&job.key),
            "job_id": job.id,
            "experiment": quote(&experiment),
            "range": if sweep { format!("instances 0-{}", count - 1) } else { "instance 0".to_owned() },
            "cases": cases,
            "secret_vars": secret_vars.iter().map(|v| json!({"name": v, "test": format!("${{{v}+set}}")})).collect::<Vec<_>>(),
            "out_names": outputs.iter().map(|(n, _)| quote(n)).collect::<Vec<_>>().join(" "),
            "out_files": outputs.iter().map(|(_, f)| quote(f)).collect::<Vec<_>>().join(" "),
            "spark_home": s.spark_home.as_ref().map_or(Json::Bool(false), |w| Json::String(quote_word(w))),
            "master": quote(&s.master),
            "deploy_mode": quote(&s.deploy_mode),
            "app_name": quote(&format!("{name_prefix}.{dir}")),
            "sweep": sweep,
            "options": s.options.iter().map(option_line).collect::<Vec<_>>(),
            "event_log_dir": s.event_log_dir.as_ref().map_or(Json::Bool(false), |w| Json::String(quote_word(w))),
            "attempts": job.retry.attempts + 1,
            "backoff": job.retry.backoff_ms.div_ceil(1000),
        });
        let text = render(&hb, "spark-job", &data)?;
        if text.len() > MAX_SCRIPT_BYTES {
            return Err(script_too_big(&job.key));
        }
        artifacts.push(Artifact {
            path: format!("jobs/{file}"),
            contents: text,
            executable: true,
        });
        runs.push(json!({
            "comment": format!("{}: {} instance{} on `{}`", job.key, count, if count == 1 { "" } else { "s" }, job.on),
            "label": quote(&job.key),
            "script": quote(&file),
            "count": count,
        }));
    }

    let other_jobs = crate::cases::other_jobs(plan, Backend::Spark);
    let title = crate::cases::title(plan);
    let submit = render(
        &hb,
        "spark-submit",
        &json!({
            "title": title,
            "root": plan.root,
            "other_jobs": other_jobs,
            "spec_dir": quote(&opts.spec_dir),
            "runs": runs,
            "count": runs.len(),
        }),
    )?;
    artifacts.push(Artifact {
        path: "submit.sh".into(),
        contents: submit,
        executable: true,
    });
    artifacts.push(crate::cases::plan_json(plan)?);
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(artifacts)
}

fn script_too_big(key: &str) -> BuildError {
    BuildError::new(
        format!("the script of `{key}` would be over {MAX_SCRIPT_BYTES} bytes"),
        "a sweep this large should not be one Spark application per point: pass the points to one application as a data file".into(),
    )
}
