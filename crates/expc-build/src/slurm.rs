//! Slurm artifacts of a plan: an sbatch script per job (per array chunk for a sweep), a
//! `submit.sh` that submits them in dependency order, and `plan.json`.
//!
//! The scripts come from handlebars templates kept in `templates/` (embedded in the
//! binary; a site may replace any of them, see [`SlurmOptions::templates`]). Everything
//! the templates receive is already converted and quoted here: resources become
//! `#SBATCH` lines once ([`directives`]), argv words and values are single-quoted shell
//! words ([`crate::quote`]), so a template cannot introduce a unit or quoting bug.

pub mod argv;
pub mod directives;

use std::collections::BTreeMap;

use expc_check::ir::{self, Backend};
use expc_check::value::Value;
use expc_plan::plan::{Job, Plan};
use handlebars::Handlebars;
use serde_json::{Value as Json, json};

use crate::cases::check_value;
use crate::quote::{quote, quote_word};
use argv::{ScriptCommands, job_dir};

/// The built-in templates, by the file name that replaces them from `--templates DIR`.
pub const TEMPLATES: [(&str, &str); 3] = [
    ("sbatch.hbs", include_str!("../templates/sbatch.hbs")),
    ("hook.sh.hbs", include_str!("../templates/hook.sh.hbs")),
    ("submit.sh.hbs", include_str!("../templates/submit.sh.hbs")),
];

/// The longest job name written (`--job-name`); Slurm accepts more, but squeue and
/// accounting truncate, and a long name is a spec mistake.
pub const MAX_JOB_NAME: usize = 128;

/// The largest script written: Slurm's default `max_script_size` (4 MiB).
pub const MAX_SCRIPT_BYTES: usize = 4 * 1024 * 1024;

/// Slurm's default `MaxArraySize`, used when the site sets none.
pub const DEFAULT_MAX_ARRAY_SIZE: u64 = 1001;

#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// The folder the spec's relative data paths are resolved against on the cluster;
    /// `submit.sh` uses it unless `EXPC_SPEC_DIR` is set.
    pub spec_dir: String,
    /// Templates replacing the built-in ones, by file name (`sbatch.hbs`, `hook.sh.hbs`,
    /// `submit.sh.hbs`).
    pub templates: BTreeMap<String, String>,
    /// Write the scripts of the jobs placed on this machine instead (for `--target all`):
    /// the same scripts, without `#SBATCH` lines, run with bash once per instance with
    /// the instance as a fourth argument.
    pub local: bool,
}

pub use crate::artifact::{Artifact, BuildError};

/// One job array submitted for a part of a sweep: instances `offset .. offset + count`,
/// as array indices `0 .. count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlurmArrayChunk {
    pub chunk: usize,
    pub offset: u64,
    pub count: u64,
}

/// A job's instances split into arrays of at most `max_array_size` indices.
pub fn array_chunks(instances: u64, max_array_size: u64) -> Vec<SlurmArrayChunk> {
    let max = max_array_size.max(1);
    (0..instances.div_ceil(max))
        .map(|k| SlurmArrayChunk {
            chunk: k as usize,
            offset: k * max,
            count: (instances - k * max).min(max),
        })
        .collect()
}

/// The largest array a job may submit: its resource's `max_array_size`, else Slurm's
/// default.
pub fn max_array_size(limits: &BTreeMap<String, Value>) -> Result<u64, BuildError> {
    match limits.get("max_array_size").and_then(Value::as_int) {
        None => Ok(DEFAULT_MAX_ARRAY_SIZE),
        Some(n) if n >= 1 => Ok(n as u64),
        Some(n) => Err(BuildError::new(
            format!("the site's max_array_size is {n}"),
            "set `max_array_size` to Slurm's `MaxArraySize` (1001 unless the site changed it)"
                .into(),
        )),
    }
}

/// One sbatch script to write and submit.
#[derive(Clone, Debug)]
pub struct SlurmScript {
    /// The job's position in the plan.
    pub job: usize,
    pub chunk: Option<SlurmArrayChunk>,
    /// File name under `jobs/`.
    pub file: String,
    /// `KEY`, or `KEY[FIRST-LAST]` for an array chunk.
    pub label: String,
}

/// The scripts of the Slurm jobs of `plan`, in submission (dependency) order.
pub fn scripts(program: &ir::Program, plan: &Plan) -> Result<Vec<SlurmScript>, BuildError> {
    scripts_for(program, plan, Backend::Slurm)
}

/// The scripts of the jobs of `plan` placed on `backend` (Slurm, or Local for the local
/// part of `--target all`), in dependency order.
pub fn scripts_for(
    program: &ir::Program,
    plan: &Plan,
    backend: Backend,
) -> Result<Vec<SlurmScript>, BuildError> {
    let index = expc_plan::ProgramIndex::new(program, &plan.pipeline);
    // Local scripts are run with bash, not submitted: they are named as shell scripts.
    let ext = if backend == Backend::Local {
        "sh"
    } else {
        "sbatch"
    };
    let mut out = Vec::new();
    for (j, job) in plan.jobs.iter().enumerate() {
        if job.backend != backend {
            continue;
        }
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
        if job.loops.is_empty() {
            out.push(SlurmScript {
                job: j,
                chunk: None,
                file: format!("{dir}.{ext}"),
                label: job.key.clone(),
            });
            continue;
        }
        if job.instances == 0 {
            return Err(BuildError::new(
                format!("`{}` has no instances: its sweep is empty", job.key),
                "give every axis of the sweep at least one value".into(),
            ));
        }
        let chunks = array_chunks(job.instances, max_array_size(&index.limits(&job.on))?);
        let several = chunks.len() > 1;
        for c in chunks {
            out.push(SlurmScript {
                job: j,
                chunk: Some(c),
                file: if several {
                    format!("{dir}.{}.{ext}", c.chunk)
                } else {
                    format!("{dir}.{ext}")
                },
                label: format!("{}[{}-{}]", job.key, c.offset, c.offset + c.count - 1),
            });
        }
    }
    Ok(out)
}

fn registry(opts: &SlurmOptions) -> Result<Handlebars<'static>, BuildError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    for (name, builtin) in TEMPLATES {
        let text = opts.templates.get(name).map_or(builtin, String::as_str);
        let registered = name.trim_end_matches(".hbs").trim_end_matches(".sh");
        hb.register_template_string(registered, text)
            .map_err(|e| {
                BuildError::new(
                    format!("the template `{name}` does not parse: {e}"),
                    "fix the template, or remove it from the templates directory to use the built-in one".into(),
                )
            })?;
    }
    Ok(hb)
}

fn render(hb: &Handlebars<'_>, name: &str, data: &Json) -> Result<String, BuildError> {
    hb.render(name, data).map_err(|e| {
        BuildError::new(
            format!("the template `{name}` failed: {e}"),
            "a template may use only the fields the built-in one uses (see docs/slurm.md)".into(),
        )
    })
}

fn script_too_big(label: &str, bytes: usize) -> BuildError {
    BuildError::new(
        format!(
            "the script of {label} would be over {bytes} bytes, more than Slurm's default limit of {MAX_SCRIPT_BYTES}"
        ),
        "lower `max_array_size` of the site so each array holds fewer instances, or pass long lists through a data file".into(),
    )
}

/// Builds the Slurm artifacts of `plan`: `plan.json`, `submit.sh` and `jobs/*.sbatch`,
/// sorted by path. Fails, changing nothing, when a job cannot be submitted as planned.
pub fn build(
    program: &ir::Program,
    plan: &Plan,
    opts: &SlurmOptions,
) -> Result<Vec<Artifact>, BuildError> {
    let backend = if opts.local {
        Backend::Local
    } else {
        Backend::Slurm
    };
    let scripts = scripts_for(program, plan, backend)?;
    if scripts.is_empty() && opts.local {
        return Ok(Vec::new());
    }
    if scripts.is_empty() {
        return Err(BuildError::new(
            format!(
                "no job of the pipeline `{}` is placed on a Slurm resource: there is nothing to build",
                plan.pipeline
            ),
            "place calls on a resource of kind `Slurm` (`let t = task(…) on cluster`), or move them there with `--profile NAME` or `--on FROM=TO`".into(),
        ));
    }
    let hb = registry(opts)?;
    let builder = ScriptCommands::new(program, plan);
    let experiment = plan.experiment.clone().unwrap_or_default();
    let name_prefix = if experiment.is_empty() {
        "expc".to_owned()
    } else {
        experiment.clone()
    };
    let mut artifacts = Vec::new();
    let mut per_job: BTreeMap<usize, Vec<Submitted>> = BTreeMap::new();
    let mut resource_lines: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut submissions = Vec::new();

    for (n, s) in scripts.iter().enumerate() {
        let job = &plan.jobs[s.job];
        let dir = job_dir(&job.key);
        let job_name = job_name(&name_prefix, &dir, s)?;
        let (mut lines, offset, count) =
            sbatch_lines(opts, &builder, job, s, &job_name, &mut resource_lines)?;
        let crate::cases::CaseArms {
            text: cases,
            secret_vars,
        } = crate::cases::case_arms(
            &builder,
            plan,
            s.job,
            offset..offset + count,
            MAX_SCRIPT_BYTES,
            |bytes| script_too_big(&s.label, bytes),
        )?;
        export_secrets(&mut lines, &secret_vars);

        let outputs = builder.outputs(s.job);
        for (name, file) in &outputs {
            check_value(|| format!("the output `{name}` of `{}`", job.key), file)?;
        }
        let env = &job.env;
        let (modules, conda) = software(job)?;
        let (range, instances_line) = instances_text(s, job.instances, offset, count);
        let data = json!({
            "title": format!("{}: job `{}` (task `{}`) on `{}`.", if experiment.is_empty() { "expc" } else { &experiment }, job.key, job.task, job.on),
            "instances_line": instances_line,
            "root": plan.root,
            "script": format!("jobs/{}", s.file),
            "directives": lines,
            "offset": offset,
            "dir": dir,
            "job": job.key,
            "job_word": quote(&job.key),
            "job_id": job.id,
            "experiment": quote(&experiment),
            "range": range,
            "cases": cases,
            "out_names": outputs.iter().map(|(n, _)| quote(n)).collect::<Vec<_>>().join(" "),
            "out_files": outputs.iter().map(|(_, f)| quote(f)).collect::<Vec<_>>().join(" "),
            "modules": modules,
            "conda": conda,
            "image": env.image.as_ref().map_or(Json::Bool(false), |i| Json::String(quote(&apptainer_image(i)))),
            "apptainer_args": apptainer_args(job),
            // An MPI-style task: its command is started by `srun`, once per task.
            "srun": job.resources.is_mpi() && !opts.local,
            "attempts": job.retry.attempts + 1,
            "backoff": job.retry.backoff_ms.div_ceil(1000),
            "local": opts.local,
        });
        let text = render(&hb, "sbatch", &data)?;
        if text.len() > MAX_SCRIPT_BYTES {
            return Err(script_too_big(&s.label, text.len()));
        }
        artifacts.push(Artifact {
            path: format!("jobs/{}", s.file),
            contents: text,
            executable: false,
        });
        per_job.entry(s.job).or_default().push(Submitted {
            var: format!("j{}", n + 1),
            chunk: s.chunk,
        });
        submissions.push(submission(plan, s, n, &per_job));
    }

    let other_jobs = crate::cases::other_jobs(plan, Backend::Slurm);
    let title = crate::cases::title(plan);
    check_value(|| "the spec directory".to_owned(), &opts.spec_dir)?;
    let submit = render(
        &hb,
        "submit",
        &json!({
            "title": title,
            "root": plan.root,
            "other_jobs": other_jobs,
            "spec_dir": quote(&opts.spec_dir),
            "submissions": submissions,
            "count": submissions.len(),
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

/// The Slurm job name of the script `s` of job folder `dir`: `PREFIX.DIR`, and the chunk
/// number for a chunk of a split array; checked to fit and be one word.
fn job_name(name_prefix: &str, dir: &str, s: &SlurmScript) -> Result<String, BuildError> {
    let job_name = match s.chunk {
        Some(c) if s.file.ends_with(&format!(".{}.sbatch", c.chunk)) => {
            format!("{name_prefix}.{dir}.{}", c.chunk)
        }
        _ => format!("{name_prefix}.{dir}"),
    };
    if job_name.len() > MAX_JOB_NAME || !directives::directive_safe(&job_name) {
        return Err(BuildError::new(
            format!(
                "the Slurm job name `{job_name}` is longer than {MAX_JOB_NAME} bytes or not one word"
            ),
            "shorten the experiment's name or the call's binding".into(),
        ));
    }
    Ok(job_name)
}

/// The `#SBATCH` lines of the script `s` of `job` — its job name, its array, and the job's
/// resource directives, made once per job and kept in `resource_lines` — and the
/// instances it runs (offset and count). A local job has no `#SBATCH` lines: its
/// resources are this machine's.
fn sbatch_lines(
    opts: &SlurmOptions,
    builder: &ScriptCommands<'_>,
    job: &Job,
    s: &SlurmScript,
    job_name: &str,
    resource_lines: &mut BTreeMap<usize, Vec<String>>,
) -> Result<(Vec<String>, u64, u64), BuildError> {
    let limits = builder.index().limits(&job.on);
    let mut lines = Vec::new();
    if !opts.local {
        if let std::collections::btree_map::Entry::Vacant(e) = resource_lines.entry(s.job) {
            e.insert(directives::resource_directives(job, &limits)?);
        }
        lines.push(format!("--job-name={job_name}"));
        lines.extend(resource_lines[&s.job].iter().cloned());
    }
    let (offset, count) = match s.chunk {
        Some(c) => {
            let throttle = array_throttle(job)?;
            // Insert after the name, so the array is seen first by a reviewer.
            if !opts.local {
                lines.insert(1, format!("--array=0-{}{throttle}", c.count - 1));
            }
            (c.offset, c.count)
        }
        None => (0, 1),
    };
    Ok((lines, offset, count))
}

/// The `%N` suffix of `--array` from the resource's `array_throttle` (empty when unset),
/// checked to be at least 1.
fn array_throttle(job: &Job) -> Result<String, BuildError> {
    match job.placement.get("array_throttle").and_then(Value::as_int) {
        None => Ok(String::new()),
        Some(t) if t >= 1 => Ok(format!("%{t}")),
        Some(t) => Err(BuildError::new(
            format!("`{}` sets array_throttle = {t}", job.on),
            "`array_throttle` must be at least 1 (the most array tasks running at once)".into(),
        )),
    }
}

/// Adds the secret variables to an `--export=` directive of `lines`, if there is one:
/// secrets come from the submitting shell, never from the script's text.
fn export_secrets(lines: &mut [String], secret_vars: &[String]) {
    if secret_vars.is_empty() {
        return;
    }
    if let Some(export) = lines.iter_mut().find(|l| l.starts_with("--export=")) {
        let mut names: Vec<String> = match export.trim_start_matches("--export=") {
            "NONE" => Vec::new(),
            list => list.split(',').map(str::to_owned).collect(),
        };
        for v in secret_vars {
            if !names.contains(v) {
                names.push(v.clone());
            }
        }
        *export = format!("--export={}", names.join(","));
    }
}

/// The job's modules and conda environment as the template takes them: quoted words, and
/// `false` for no conda environment (a relative one is under the spec folder); checked.
fn software(job: &Job) -> Result<(Vec<String>, Json), BuildError> {
    let env = &job.env;
    let mut modules = Vec::new();
    for m in &env.modules {
        check_value(|| format!("the module {m:?}"), m)?;
        modules.push(quote(m));
    }
    let conda = match &env.conda {
        None => Json::Bool(false),
        Some(c) => {
            check_value(|| format!("the conda environment {c:?}"), c)?;
            if c.starts_with('/') {
                Json::String(quote(c))
            } else {
                Json::String(quote_word(&[
                    crate::quote::Segment::Var("spec_dir".into()),
                    crate::quote::Segment::Text(format!("/{c}")),
                ]))
            }
        }
    };
    Ok((modules, conda))
}

/// The resource's `apptainer_args`, each quoted and preceded by a space.
fn apptainer_args(job: &Job) -> String {
    job.placement
        .get("apptainer_args")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|a| format!(" {}", quote(a)))
        .collect()
}

/// The instances the script `s` runs (`count` from `offset`, of the job's `instances`),
/// as its log says them and as its header's line.
fn instances_text(s: &SlurmScript, instances: u64, offset: u64, count: u64) -> (String, String) {
    let range = if count == 1 && s.chunk.is_none() {
        "instance 0".to_owned()
    } else {
        format!("instances {}-{}", offset, offset + count - 1)
    };
    let instances_line = match s.chunk {
        None => "One instance.".to_owned(),
        Some(c) => format!(
            "Job array: instances {}-{} of {} (array index + {}).",
            c.offset,
            c.offset + c.count - 1,
            instances,
            c.offset
        ),
    };
    (range, instances_line)
}

/// A script `submit.sh` has submitted: the variable holding its Slurm id, and the
/// instances its array holds.
struct Submitted {
    var: String,
    chunk: Option<SlurmArrayChunk>,
}

/// The submission of the `n`th script `s` in `submit.sh`: after every chunk of every
/// Slurm job it reads (`per_job`: what was submitted of each job), element by element where
/// [`Plan::element_wise`] (and the arrays are split alike), with its log file.
fn submission(
    plan: &Plan,
    s: &SlurmScript,
    n: usize,
    per_job: &BTreeMap<usize, Vec<Submitted>>,
) -> Json {
    let job = &plan.jobs[s.job];
    let (mut after, mut corr) = (Vec::new(), Vec::new());
    for d in &job.after {
        let Some(subs) = plan.position(&d.job).and_then(|p| per_job.get(&p)) else {
            continue;
        };
        let twin = subs
            .iter()
            .find(|u| u.chunk.is_some() && u.chunk == s.chunk);
        match twin {
            Some(u) if plan.element_wise(s.job, d) => corr.push(format!("${{{}}}", u.var)),
            _ => after.extend(subs.iter().map(|u| format!("${{{}}}", u.var))),
        }
    }
    let log = match s.chunk {
        Some(_) => format!("{}-%A_%a.out", s.file.trim_end_matches(".sbatch")),
        None => format!("{}-%j.out", s.file.trim_end_matches(".sbatch")),
    };
    let mut options = vec![format!("\"--output=$run_dir/logs/{log}\"")];
    let mut kinds = Vec::new();
    if !after.is_empty() {
        kinds.push(format!("afterok:{}", after.join(":")));
    }
    if !corr.is_empty() {
        kinds.push(format!("aftercorr:{}", corr.join(":")));
    }
    if !kinds.is_empty() {
        options.push(format!("\"--dependency={}\"", kinds.join(",")));
        options.push("--kill-on-invalid-dep=yes".into());
    }
    json!({
        "comment": format!("{}: {}", s.label, s.file),
        "var": format!("j{}", n + 1),
        "label": quote(&s.label),
        "script": quote(&s.file),
        "options": options.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_split_at_the_limit_with_offsets() {
        let c = array_chunks(2500, 1001);
        assert_eq!(c.len(), 3);
        assert_eq!(
            (
                c[0].offset,
                c[0].count,
                c[1].offset,
                c[1].count,
                c[2].offset,
                c[2].count
            ),
            (0, 1001, 1001, 1001, 2002, 498)
        );
        assert_eq!(array_chunks(1001, 1001).len(), 1);
        assert_eq!(array_chunks(1002, 1001)[1].count, 1);
        assert!(array_chunks(0, 1001).is_empty());
        assert_eq!(array_chunks(3, 0).len(), 3);
    }
}

/// An image as `apptainer exec` takes it: a local image (`.sif`, a path, an Apptainer
/// URI such as `docker://…`, `oras://…`, `library://…`) as it is, and a registry reference
/// (`registry.example.org/lab/base:1.0`) as `docker://` + it, which Apptainer would
/// otherwise read as a file name.
pub fn apptainer_image(image: &str) -> String {
    let local = image.starts_with('/')
        || image.starts_with("./")
        || image.starts_with("../")
        || image.ends_with(".sif")
        || image.ends_with(".img")
        || image.contains("://");
    if local {
        image.to_owned()
    } else {
        format!("docker://{image}")
    }
}

#[cfg(test)]
mod apptainer_tests {
    use super::apptainer_image;

    #[test]
    fn registry_references_get_the_docker_scheme_and_files_stay_as_they_are() {
        assert_eq!(
            apptainer_image("registry.example.org/vision/detect:0.4.2"),
            "docker://registry.example.org/vision/detect:0.4.2"
        );
        assert_eq!(apptainer_image("python:3.11"), "docker://python:3.11");
        for same in [
            "/shared/images/analysis.sif",
            "images/analysis.sif",
            "./env.img",
            "docker://registry.example.org/lab/base:1.0",
            "oras://ghcr.io/x/y:1",
        ] {
            assert_eq!(apptainer_image(same), same);
        }
    }
}
