//! What the job scripts of every backend share: the `case` arms that hold each instance's
//! argv and variables as quoted words, and the plan's JSON written beside the scripts.

use std::fmt::Write as _;
use std::ops::Range;

use expc_plan::plan::Plan;

use crate::quote::{Segment, has_nul, quote_word};
use crate::slurm::argv::ScriptCommands;
use crate::slurm::directives::is_env_name;
use crate::{Artifact, BuildError};

/// The `case "$idx" in` arms of a script for instances `indices` of job `j`.
#[derive(Debug, Default)]
pub struct CaseArms {
    /// One arm per instance, without a final newline: `  N)`, `instance_id=…`,
    /// `argv=(…)`, `vars=(…)`, `;;`.
    pub text: String,
    /// Environment variables the instances read secrets from, in first-use order.
    pub secret_vars: Vec<String>,
}

/// Writes the arms, refusing a value no argument can hold (a NUL byte), a secret read
/// from something that is not a variable name, and a script over `max_bytes` (`too_big`
/// says so, given the size reached), stopping early rather than writing it out in full.
pub fn case_arms(
    builder: &ScriptCommands<'_>,
    plan: &Plan,
    j: usize,
    indices: Range<u64>,
    max_bytes: usize,
    too_big: impl Fn(usize) -> BuildError,
) -> Result<CaseArms, BuildError> {
    let job = &plan.jobs[j];
    let count = indices.end.saturating_sub(indices.start);
    let mut arms = CaseArms {
        text: String::with_capacity(count.min(1 << 14) as usize * 160),
        secret_vars: Vec::new(),
    };
    for index in indices {
        let cmd = builder.command(j, index).map_err(|e| {
            BuildError::new(
                format!("`{}` cannot be built: {e}", job.key),
                "check the task's command with `expc plan`".into(),
            )
        })?;
        for w in cmd.argv.iter().chain(&cmd.vars) {
            check_word(|| format!("an argument of `{}`", job.key), w)?;
        }
        for v in &cmd.secret_vars {
            if !is_env_name(v) {
                return Err(BuildError::new(
                    format!(
                        "`{}` reads a secret from {v:?}, which is not an environment variable name",
                        job.key
                    ),
                    "declare the secret with `env(\"NAME\")`".into(),
                ));
            }
            if !arms.secret_vars.contains(v) {
                arms.secret_vars.push(v.clone());
            }
        }
        // Written here rather than by a template: a sweep has up to `max_array_size` arms
        // per script, and 100,000 handlebars iterations cost more than the rest of a build.
        let _ = write!(
            arms.text,
            "  {index})\n    instance_id={}\n    argv=({})\n    vars=({})\n    ;;\n",
            plan.instance_id(job, index),
            words(&cmd.argv),
            words(&cmd.vars)
        );
        if !cmd.configs.is_empty() {
            let at = arms.text.len() - "    ;;\n".len();
            arms.text
                .insert_str(at, &config_lines(&job.key, &cmd.configs)?);
        }
        if arms.text.len() > max_bytes {
            return Err(too_big(arms.text.len()));
        }
    }
    if arms.text.ends_with('\n') {
        arms.text.pop();
    }
    Ok(arms)
}

/// The lines of a `case` arm that write the files of `${json(…)}` and `${yaml(…)}` into
/// the work directory (`$work`, set before the `case`), each text one quoted word.
fn config_lines(job: &str, configs: &[(String, String)]) -> Result<String, BuildError> {
    let mut out = String::from("    mkdir -p \"$work\" || exit 1\n");
    for (name, text) in configs {
        check_value(
            || format!("the configuration file `{name}` of `{job}`"),
            text,
        )?;
        let _ = writeln!(
            out,
            "    printf '%s' {} >\"$work\"/{} || exit 1",
            crate::quote::quote(text),
            crate::quote::quote(name)
        );
    }
    Ok(out)
}

/// Words as bash words, separated by spaces.
pub fn words(ws: &[Vec<Segment>]) -> String {
    ws.iter()
        .map(|w| quote_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that the text of a word may be passed to a program at all.
pub fn check_word(what: impl FnOnce() -> String, w: &[Segment]) -> Result<(), BuildError> {
    match w
        .iter()
        .find(|seg| matches!(seg, Segment::Text(t) if has_nul(t)))
    {
        Some(Segment::Text(t)) => check_value(what, t),
        _ => Ok(()),
    }
}

/// Checks that a value may be passed to a program at all.
pub fn check_value(what: impl FnOnce() -> String, s: &str) -> Result<(), BuildError> {
    if has_nul(s) {
        return Err(BuildError::new(
            format!("{} contains a NUL byte, which no argument can hold", what()),
            "remove the `\\0` from the value".into(),
        ));
    }
    Ok(())
}

/// How a submit script names what it submits: `` `EXPERIMENT` (pipeline `P`) ``.
pub fn title(plan: &Plan) -> String {
    match &plan.experiment {
        Some(e) => format!("`{e}` (pipeline `{}`)", plan.pipeline),
        None => format!("pipeline `{}`", plan.pipeline),
    }
}

/// The jobs a backend's submit script leaves to others, one line each:
/// `KEY (on `RESOURCE`, BACKEND)`.
pub fn other_jobs(plan: &Plan, backend: expc_check::ir::Backend) -> Vec<String> {
    plan.jobs
        .iter()
        .filter(|j| j.backend != backend)
        .map(|j| {
            format!(
                "{} (on `{}`, {})",
                j.key,
                j.on,
                expc_plan::lower::backend_name(j.backend)
            )
        })
        .collect()
}

/// `plan.json`: the plan as `expc plan --format json` prints it.
pub fn plan_json(plan: &Plan) -> Result<Artifact, BuildError> {
    let mut text = serde_json::to_string_pretty(&plan.json()).map_err(|e| {
        BuildError::new(
            format!("the plan could not be written as JSON: {e}"),
            "report this as a bug".into(),
        )
    })?;
    text.push('\n');
    Ok(Artifact {
        path: "plan.json".into(),
        contents: text,
        executable: false,
    })
}
