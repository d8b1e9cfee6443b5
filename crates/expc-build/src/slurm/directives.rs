//! `#SBATCH` lines from a job's typed resources and placement, with every unit converted
//! here and only here, and the site's limits checked before anything is written.

use std::collections::BTreeMap;

use expc_check::value::{Value, format_duration, format_memory};
use expc_plan::plan::Job;

use super::BuildError;

/// Memory in MiB for `--mem`, rounded up: Slurm reads a bare number as MiB, so the unit
/// is written out.
pub fn mem_mib(bytes: u64) -> u64 {
    bytes.div_ceil(1024 * 1024).max(1)
}

/// A wall time as `D-HH:MM:SS` for `--time`, rounded up to the second.
pub fn slurm_time(ms: u64) -> String {
    let secs = ms.div_ceil(1000).max(1);
    let (d, rest) = (secs / 86_400, secs % 86_400);
    format!(
        "{d}-{:02}:{:02}:{:02}",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// CPUs for `--cpus-per-task`: a fraction of a CPU is a whole one on Slurm.
pub fn cpus_per_task(cpus: f64) -> u64 {
    if cpus.is_finite() && cpus > 0.0 {
        (cpus.ceil() as u64).max(1)
    } else {
        1
    }
}

/// Whether `value` can stand in an `#SBATCH` line: sbatch splits those lines at
/// whitespace and reads quotes, so neither may appear.
pub fn directive_safe(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'))
}

fn placement_str<'j>(job: &'j Job, field: &str) -> Option<&'j str> {
    job.placement.get(field).and_then(Value::as_str)
}

fn limit_list(limits: &BTreeMap<String, Value>, field: &str) -> Vec<String> {
    limits
        .get(field)
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The lines that depend on the job's resources and placement (the same for every
/// chunk of an array), after checking them against `limits`.
pub fn resource_directives(
    job: &Job,
    limits: &BTreeMap<String, Value>,
) -> Result<Vec<String>, BuildError> {
    let mut out = Vec::new();
    let on = &job.on;
    let key = &job.key;
    let over = |what: String, limit: &str, help: &str| {
        BuildError::new(
            format!("`{key}` {what}, more than `{on}` allows ({limit})"),
            help.to_owned(),
        )
    };

    for (field, flag, allowed) in [
        ("partition", "--partition", "partitions"),
        ("account", "--account", "accounts"),
        ("qos", "--qos", "qos"),
        ("reservation", "--reservation", ""),
        ("constraint", "--constraint", ""),
    ] {
        let Some(v) = placement_str(job, field) else {
            continue;
        };
        if !directive_safe(v) {
            return Err(BuildError::new(
                format!("the {field} {v:?} of `{on}` cannot be written in an `#SBATCH` line"),
                format!(
                    "`{field}` must be one word without quotes, backslashes or control characters"
                ),
            ));
        }
        if !allowed.is_empty() {
            let names = limit_list(limits, allowed);
            if !names.is_empty() && !names.iter().any(|n| n == v) {
                return Err(BuildError::new(
                    format!(
                        "`{key}` is placed on `{on}`, whose {field} `{v}` is not one its site allows ({})",
                        names.join(", ")
                    ),
                    format!("set `{field}` of `{on}` to one of the site's `{allowed}`"),
                ));
            }
        }
        out.push(format!("{flag}={v}"));
    }

    // An MPI-style task's own `nodes` wins over its resource's.
    let nodes = job.resources.nodes.unwrap_or_else(|| {
        job.placement
            .get("nodes")
            .and_then(Value::as_int)
            .unwrap_or(1)
    });
    if nodes < 1 {
        return Err(BuildError::new(
            format!("`{on}` asks for {nodes} nodes"),
            "`nodes` must be at least 1".into(),
        ));
    }
    out.push(format!("--nodes={nodes}"));
    if let Some(tasks) = job.resources.tasks {
        if tasks < nodes {
            return Err(BuildError::new(
                format!("`{key}` asks for {tasks} tasks on {nodes} nodes"),
                "ask for at least one task per node: `tasks` of at least `nodes`".into(),
            ));
        }
        out.push(format!("--ntasks={tasks}"));
    }

    let cpus = cpus_per_task(job.resources.cpus);
    if let Some(max) = limits.get("max_cpus_per_node").and_then(Value::as_f64) {
        if cpus as f64 > max {
            return Err(over(
                format!("asks for {cpus} CPUs"),
                &format!("max_cpus_per_node = {max}"),
                "lower `cpus` in the task's `resources`, or place it on a resource whose site allows more",
            ));
        }
    }
    out.push(format!("--cpus-per-task={cpus}"));

    if let Some(bytes) = job.resources.mem_bytes {
        if let Some(Value::Memory(max)) = limits.get("max_mem_per_node") {
            if bytes > *max {
                return Err(over(
                    format!("asks for {} of memory", format_memory(bytes)),
                    &format!("max_mem_per_node = {}", format_memory(*max)),
                    "lower `mem` in the task's `resources`, or place it on a resource whose site allows more",
                ));
            }
        }
        out.push(format!("--mem={}M", mem_mib(bytes)));
    }

    if let Some(ms) = job.resources.time_ms {
        if let Some(Value::Duration(max)) = limits.get("max_time") {
            if ms > *max {
                return Err(over(
                    format!("asks for a wall time of {}", format_duration(ms)),
                    &format!("max_time = {}", format_duration(*max)),
                    "lower `time` in the task's `resources`, or split the work",
                ));
            }
        }
        out.push(format!("--time={}", slurm_time(ms)));
    }

    if let Some(gres) = placement_str(job, "gres") {
        if !directive_safe(gres) {
            return Err(BuildError::new(
                format!("the gres {gres:?} of `{on}` cannot be written in an `#SBATCH` line"),
                "write it in Slurm's syntax, for example \"gpu:a100:2\"".into(),
            ));
        }
        out.push(format!("--gres={gres}"));
    } else if job.resources.gpus > 0 {
        let gpus = job.resources.gpus;
        if let Some(max) = limits.get("max_gpus_per_node").and_then(Value::as_int) {
            if gpus > max {
                return Err(over(
                    format!("asks for {gpus} GPUs"),
                    &format!("max_gpus_per_node = {max}"),
                    "lower `gpus` in the task's `resources`",
                ));
            }
        }
        match placement_str(job, "gpu_type") {
            Some(t) => {
                let types = limit_list(limits, "gpu_types");
                if !directive_safe(t) || (!types.is_empty() && !types.iter().any(|x| x == t)) {
                    return Err(BuildError::new(
                        format!("`{on}` names the GPU type {t:?}, which its site does not offer"),
                        format!("choose one of: {}", types.join(", ")),
                    ));
                }
                out.push(format!("--gpus={t}:{gpus}"));
            }
            None => out.push(format!("--gpus={gpus}")),
        }
    } else if job.resources.gpus < 0 {
        return Err(BuildError::new(
            format!("`{key}` asks for {} GPUs", job.resources.gpus),
            "`gpus` must be 0 or more".into(),
        ));
    }

    let export: Vec<String> = job
        .placement
        .get("export_env")
        .and_then(Value::as_list)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for name in &export {
        if !is_env_name(name) {
            return Err(BuildError::new(
                format!("`{on}` exports {name:?}, which is not an environment variable name"),
                "names are letters, digits and `_`, not starting with a digit".into(),
            ));
        }
    }
    // `NONE` and a list both start the job from the user's login environment; a list adds
    // those variables from the submitting shell, and nothing else.
    out.push(if export.is_empty() {
        "--export=NONE".to_owned()
    } else {
        format!("--export={}", export.join(","))
    });

    for extra in job
        .placement
        .get("sbatch_extra")
        .and_then(Value::as_list)
        .unwrap_or_default()
    {
        let Some(extra) = extra.as_str() else {
            continue;
        };
        if !extra.starts_with('-') || !directive_safe(extra) {
            return Err(BuildError::new(
                format!("the extra sbatch option {extra:?} of `{on}` cannot be written in an `#SBATCH` line"),
                "write one option per element, starting with `-`, without spaces or quotes (for example \"--mail-type=END\")".into(),
            ));
        }
        out.push(extra.to_owned());
    }
    Ok(out)
}

/// Whether `name` is a portable environment variable name.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_converted_once_to_mebibytes() {
        assert_eq!(mem_mib(512 * 1024 * 1024), 512);
        assert_eq!(mem_mib(32 * 1024 * 1024 * 1024), 32768);
        assert_eq!(mem_mib(1), 1);
        assert_eq!(mem_mib(1024 * 1024 + 1), 2);
        assert_eq!(mem_mib(1_000_000_000), 954);
    }

    #[test]
    fn time_is_days_hours_minutes_seconds() {
        assert_eq!(slurm_time(15 * 60 * 1000), "0-00:15:00");
        assert_eq!(slurm_time(2 * 3600 * 1000 + 30 * 60 * 1000), "0-02:30:00");
        assert_eq!(slurm_time(48 * 3600 * 1000), "2-00:00:00");
        assert_eq!(slurm_time(1500), "0-00:00:02");
        assert_eq!(slurm_time(0), "0-00:00:01");
        assert_eq!(slurm_time(7 * 86_400_000 + 1000), "7-00:00:01");
    }

    #[test]
    fn fractional_cpus_round_up() {
        assert_eq!(cpus_per_task(0.5), 1);
        assert_eq!(cpus_per_task(2.0), 2);
        assert_eq!(cpus_per_task(2.5), 3);
        assert_eq!(cpus_per_task(f64::NAN), 1);
    }

    #[test]
    fn directive_values_are_one_word() {
        assert!(directive_safe("gpu"));
        assert!(directive_safe("a100&ib"));
        assert!(!directive_safe("gpu debug"));
        assert!(!directive_safe("gpu\n#SBATCH --x"));
        assert!(!directive_safe("'x'"));
        assert!(!directive_safe(""));
    }
}
