//! `spark-submit` options from a job's typed Spark settings: the resource's fields with
//! the task's `spark … { … }` settings on top, every unit converted here and only here,
//! and the resource's `max_executor_mem` checked before anything is written.
//!
//! The flags are the ones `expc run` passes for the same settings (`--executor-memory`,
//! `--num-executors`, `--py-files`, …); settings without a flag of their own become
//! `--conf key=value`.

use std::collections::BTreeMap;

use expc_check::value::{Value, format_memory};
use expc_plan::plan::Job;

use crate::BuildError;
use crate::quote::{Segment, has_nul};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Spark's executor memory when none is asked for (`spark.executor.memory`).
pub const DEFAULT_EXECUTOR_MEM: u64 = GIB;

/// The least memory overhead Spark adds to an executor when none is set (384 MiB); it
/// adds a tenth of the executor's memory when that is more.
pub const MIN_MEMORY_OVERHEAD: u64 = 384 * MIB;

/// Spark properties that a typed field sets: a `conf` entry may not set them too.
const TYPED_PROPERTIES: [(&str, &str); 16] = [
    ("spark.master", "master"),
    ("spark.submit.deployMode", "deploy_mode"),
    (
        "spark.app.name",
        "the job's name (expc names each application)",
    ),
    ("spark.executor.instances", "executors"),
    ("spark.executor.cores", "executor_cores"),
    ("spark.executor.memory", "executor_mem"),
    ("spark.executor.memoryOverhead", "executor_mem_overhead"),
    ("spark.driver.memory", "driver_mem"),
    ("spark.driver.cores", "driver_cores"),
    ("spark.dynamicAllocation.enabled", "dynamic_allocation"),
    ("spark.dynamicAllocation.maxExecutors", "max_executors"),
    ("spark.submit.pyFiles", "py_files"),
    ("spark.jars", "jars"),
    ("spark.jars.packages", "packages"),
    ("spark.eventLog.enabled", "event_log_dir"),
    ("spark.eventLog.dir", "event_log_dir"),
];

/// Memory as Spark reads it: `Ng` when a whole number of GiB, else `Nm`. Spark keeps
/// executor and driver memory in MiB, so anything finer is refused rather than rounded.
pub fn spark_memory(bytes: u64) -> Option<String> {
    if bytes == 0 || bytes % MIB != 0 {
        None
    } else if bytes % GIB == 0 {
        Some(format!("{}g", bytes / GIB))
    } else {
        Some(format!("{}m", bytes / MIB))
    }
}

/// The overhead Spark adds to an executor of `mem` bytes when `executor_mem_overhead` is
/// unset: a tenth of its memory (in whole MiB), at least 384 MiB.
pub fn default_overhead(mem: u64) -> u64 {
    ((mem / MIB) / 10 * MIB).max(MIN_MEMORY_OVERHEAD)
}

/// One option line: a flag and its value as a word (text and script variables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparkOption {
    pub flag: &'static str,
    pub value: Option<Vec<Segment>>,
}

impl SparkOption {
    fn new(flag: &'static str, value: impl Into<String>) -> Self {
        Self {
            flag,
            value: Some(vec![Segment::Text(value.into())]),
        }
    }

    fn conf(key: &str, value: impl Into<Vec<Segment>>) -> Self {
        let mut word = vec![Segment::Text(format!("{key}="))];
        word.extend(value.into());
        Self {
            flag: "--conf",
            value: Some(word),
        }
    }
}

/// What the job script needs to know about the settings besides its option lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparkSettings {
    /// `--master`, unless `EXPC_SPARK_MASTER` replaces it when the script runs.
    pub master: String,
    /// `client` or `cluster`.
    pub deploy_mode: String,
    /// The options after `--master`, in a fixed order.
    pub options: Vec<SparkOption>,
    /// The resource's `event_log_dir`, as a word; `None` lets the hook keep the event
    /// log under the provenance directory (client mode).
    pub event_log_dir: Option<Vec<Segment>>,
    /// The resource's `spark_home`, as a word.
    pub spark_home: Option<Vec<Segment>>,
}

/// A job's Spark settings: the task's, else the resource's.
struct Effective<'a> {
    job: &'a Job,
    task: &'a BTreeMap<String, Value>,
}

impl<'a> Effective<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.task
            .get(name)
            .or_else(|| self.job.placement.get(name))
            .filter(|v| **v != Value::None)
    }

    /// Where a value comes from, for messages.
    fn origin(&self, name: &str) -> String {
        if self.task.contains_key(name) {
            format!("the task `{}`", self.job.task)
        } else {
            format!("`{}`", self.job.on)
        }
    }

    /// A list setting: the resource's, then the task's.
    fn both(&self, name: &str) -> Vec<&'a Value> {
        let mut out: Vec<&Value> = Vec::new();
        for source in [self.job.placement.get(name), self.task.get(name)] {
            if let Some(Value::List(items)) = source {
                out.extend(items.iter());
            }
        }
        out
    }
}

fn refused(message: String, help: &str) -> BuildError {
    BuildError::new(message, help.to_owned())
}

/// A path of the spec as a word of the script: absolute paths and URLs (`hdfs://…`,
/// `local:/…`) as written, relative ones under the spec directory.
pub fn path_word(path: &str) -> Vec<Segment> {
    if path.starts_with('/') || path.contains("://") || path.starts_with("local:") {
        vec![Segment::Text(path.to_owned())]
    } else {
        vec![
            Segment::Var("spec_dir".into()),
            Segment::Text(format!("/{path}")),
        ]
    }
}

/// A whole number of cores from a `Cpu` value.
fn cores(e: &Effective<'_>, name: &str) -> Result<Option<String>, BuildError> {
    let Some(v) = e.get(name) else {
        return Ok(None);
    };
    match v.as_f64() {
        Some(c) if c >= 1.0 && c.fract() == 0.0 && c <= u32::MAX as f64 => {
            Ok(Some(format!("{}", c as u64)))
        }
        _ => Err(refused(
            format!(
                "{} sets {name} = {v}: Spark gives whole cores",
                e.origin(name)
            ),
            "set a whole number of cores, at least 1",
        )),
    }
}

/// A memory setting as Spark reads it.
fn memory(e: &Effective<'_>, name: &str) -> Result<Option<(u64, String)>, BuildError> {
    let Some(v) = e.get(name) else {
        return Ok(None);
    };
    let Value::Memory(bytes) = v else {
        return Ok(None);
    };
    match spark_memory(*bytes) {
        Some(s) => Ok(Some((*bytes, s))),
        None => Err(refused(
            format!(
                "{} sets {name} = {}, which is not a whole number of MiB: Spark reads memory in MiB",
                e.origin(name),
                format_memory(*bytes)
            ),
            "write the memory in MiB or GiB (for example `1536MiB` or `2GiB`)",
        )),
    }
}

fn count(e: &Effective<'_>, name: &str) -> Result<Option<i64>, BuildError> {
    match e.get(name).and_then(Value::as_int) {
        Some(n) if n < 1 => Err(refused(
            format!("{} sets {name} = {n}", e.origin(name)),
            "set it to at least 1, or leave it out",
        )),
        n => Ok(n),
    }
}

/// A comma-separated list of paths (`--py-files`, `--jars`) as one word.
fn path_list(e: &Effective<'_>, name: &str) -> Result<Option<Vec<Segment>>, BuildError> {
    let items = e.both(name);
    if items.is_empty() {
        return Ok(None);
    }
    let mut word = Vec::new();
    let mut seen = Vec::new();
    for item in items {
        let Some(p) = item.as_str() else { continue };
        if p.is_empty() || p.contains(',') || has_nul(p) {
            return Err(refused(
                format!("{name} of `{}` holds the path {p:?}", e.job.key),
                "Spark separates these paths with commas: rename the file so that its path has no comma",
            ));
        }
        if seen.contains(&p) {
            continue;
        }
        seen.push(p);
        if !word.is_empty() {
            word.push(Segment::Text(",".into()));
        }
        word.extend(path_word(p));
    }
    Ok(Some(word))
}

/// The `spark-submit` settings of `job`, whose task's `spark` settings are `task`.
pub fn spark_settings(
    job: &Job,
    task: &BTreeMap<String, Value>,
) -> Result<SparkSettings, BuildError> {
    let e = Effective { job, task };
    let master = match job.placement.get("master").and_then(Value::as_str) {
        Some(m) if !m.is_empty() && !has_nul(m) => m.to_owned(),
        _ => {
            return Err(refused(
                format!("`{}` has no master URL", job.on),
                "set `master` of the resource, for example \"spark://host:7077\", \"yarn\" or \"local[2]\"",
            ));
        }
    };
    let deploy_mode = match job.placement.get("deploy_mode") {
        Some(Value::Enum(m)) => m.clone(),
        _ => "client".to_owned(),
    };
    let mut options = vec![SparkOption::new("--deploy-mode", deploy_mode.clone())];
    if let Some(Value::Str(class)) = e.get("main_class") {
        options.push(SparkOption::new("--class", class.clone()));
    }
    let dynamic = matches!(e.get("dynamic_allocation"), Some(Value::Bool(true)));
    let executors = count(&e, "executors")?;
    if let (false, Some(n)) = (dynamic, executors) {
        options.push(SparkOption::new("--num-executors", n.to_string()));
    }
    if let Some(c) = cores(&e, "executor_cores")? {
        options.push(SparkOption::new("--executor-cores", c));
    }
    let executor_mem = memory(&e, "executor_mem")?;
    if let Some((_, m)) = &executor_mem {
        options.push(SparkOption::new("--executor-memory", m.clone()));
    }
    let overhead = memory(&e, "executor_mem_overhead")?;
    if let Some((_, o)) = &overhead {
        options.push(SparkOption::conf(
            "spark.executor.memoryOverhead",
            vec![Segment::Text(o.clone())],
        ));
    }
    check_executor_memory(job, executor_mem.as_ref(), overhead.as_ref())?;
    if let Some((_, m)) = memory(&e, "driver_mem")? {
        options.push(SparkOption::new("--driver-memory", m));
    }
    if let Some(c) = cores(&e, "driver_cores")? {
        options.push(SparkOption::new("--driver-cores", c));
    }
    if dynamic {
        options.push(SparkOption::conf(
            "spark.dynamicAllocation.enabled",
            vec![Segment::Text("true".into())],
        ));
        if let Some(n) = count(&e, "max_executors")? {
            options.push(SparkOption::conf(
                "spark.dynamicAllocation.maxExecutors",
                vec![Segment::Text(n.to_string())],
            ));
        }
    }
    if deploy_mode == "cluster" {
        // A standalone master returns at once in cluster mode unless told to wait; YARN
        // and Kubernetes wait by default. The hook needs the application's end.
        options.push(SparkOption::conf(
            "spark.standalone.submit.waitAppCompletion",
            vec![Segment::Text("true".into())],
        ));
    }
    if let Some(w) = path_list(&e, "py_files")? {
        options.push(SparkOption {
            flag: "--py-files",
            value: Some(w),
        });
    }
    if let Some(w) = path_list(&e, "jars")? {
        options.push(SparkOption {
            flag: "--jars",
            value: Some(w),
        });
    }
    if let Some(packages) = packages(&e)? {
        options.push(SparkOption::new("--packages", packages));
    }
    let event_log_dir = match e.get("event_log_dir").and_then(Value::as_str) {
        Some(d) if !d.is_empty() && !has_nul(d) => {
            let word = path_word(d);
            options.push(SparkOption::conf(
                "spark.eventLog.enabled",
                vec![Segment::Text("true".into())],
            ));
            options.push(SparkOption::conf("spark.eventLog.dir", word.clone()));
            Some(word)
        }
        _ => None,
    };
    let conf = conf_entries(&e)?;
    for (k, v) in conf {
        options.push(SparkOption::conf(&k, vec![Segment::Text(v)]));
    }
    let spark_home = e
        .get("spark_home")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && !has_nul(s))
        .map(path_word);
    Ok(SparkSettings {
        master,
        deploy_mode,
        options,
        event_log_dir,
        spark_home,
    })
}

/// Fails when an executor's memory and overhead (Spark's defaults where unset) exceed the
/// resource's `max_executor_mem`.
fn check_executor_memory(
    job: &Job,
    executor_mem: Option<&(u64, String)>,
    overhead: Option<&(u64, String)>,
) -> Result<(), BuildError> {
    let Some(Value::Memory(max)) = job.placement.get("max_executor_mem") else {
        return Ok(());
    };
    let mem = executor_mem.map_or(DEFAULT_EXECUTOR_MEM, |(b, _)| *b);
    let (extra, help) = match overhead {
        Some((b, _)) => (
            *b,
            "lower `executor_mem` or `executor_mem_overhead` so that both fit in `max_executor_mem`".to_owned(),
        ),
        None => (
            default_overhead(mem),
            "Spark adds a tenth of the memory (at least 384MiB) as overhead when `executor_mem_overhead` is unset: lower `executor_mem`, or set `executor_mem_overhead` so that both fit".to_owned(),
        ),
    };
    let total = mem.saturating_add(extra);
    if total > *max {
        return Err(BuildError::new(
            format!(
                "`{}` asks for executors of {} ({}{} of memory and {} of overhead), over `{}`'s max_executor_mem of {}",
                job.key,
                format_memory(total),
                format_memory(mem),
                if executor_mem.is_none() {
                    " by Spark's default"
                } else {
                    ""
                },
                format_memory(extra),
                job.on,
                format_memory(*max)
            ),
            help,
        ));
    }
    Ok(())
}

/// The `--packages` value: the resource's and the task's Maven coordinates, each checked,
/// without repeats; `None` when there are none.
fn packages(e: &Effective<'_>) -> Result<Option<String>, BuildError> {
    let packages: Vec<&str> = e
        .both("packages")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    if packages.is_empty() {
        return Ok(None);
    }
    for p in &packages {
        if p.is_empty() || p.contains(',') || p.chars().any(char::is_whitespace) || has_nul(p) {
            return Err(refused(
                format!("`{}` asks for the package {p:?}", e.job.key),
                "write Maven coordinates as `group:artifact:version`, one per element",
            ));
        }
    }
    let mut unique: Vec<&str> = Vec::new();
    for p in packages {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    Ok(Some(unique.join(",")))
}

/// The `conf` entries: the resource's, then the task's; a later entry for a key replaces
/// an earlier one in place. Each is checked, and a property expc sets from a typed field
/// is refused.
fn conf_entries(e: &Effective<'_>) -> Result<Vec<(String, String)>, BuildError> {
    let job = e.job;
    let mut conf: Vec<(String, String)> = Vec::new();
    for entry in e.both("conf") {
        let (Some(Value::Str(key)), Some(Value::Str(value))) =
            (entry.field("key"), entry.field("value"))
        else {
            continue;
        };
        if key.is_empty()
            || key.contains('=')
            || key.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(refused(
                format!("`{}` has a conf entry with the key {key:?}", job.key),
                "a Spark property name has no `=`, space or control character (for example \"spark.sql.shuffle.partitions\")",
            ));
        }
        if has_nul(value) {
            return Err(refused(
                format!("the conf entry {key} of `{}` contains a NUL byte", job.key),
                "remove the `\\0` from the value",
            ));
        }
        if let Some((_, field)) = TYPED_PROPERTIES.iter().find(|(k, _)| k == key) {
            return Err(refused(
                format!(
                    "`{}` sets the Spark property {key} in `conf`, which expc sets from {field}",
                    job.key
                ),
                "remove the conf entry and set the typed field instead (see docs/spark.md)",
            ));
        }
        match conf.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.clone(),
            None => conf.push((key.clone(), value.clone())),
        }
    }
    Ok(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_written_exactly_in_g_or_m() {
        assert_eq!(spark_memory(GIB).as_deref(), Some("1g"));
        assert_eq!(spark_memory(8 * GIB).as_deref(), Some("8g"));
        assert_eq!(spark_memory(1536 * MIB).as_deref(), Some("1536m"));
        assert_eq!(spark_memory(384 * MIB).as_deref(), Some("384m"));
        assert_eq!(spark_memory(MIB + 1), None);
        assert_eq!(spark_memory(512 * 1024), None);
        assert_eq!(spark_memory(0), None);
    }

    #[test]
    fn default_overhead_is_a_tenth_at_least_384m() {
        assert_eq!(default_overhead(GIB), 384 * MIB);
        assert_eq!(default_overhead(8 * GIB), 819 * MIB);
        assert_eq!(default_overhead(40 * GIB), 4096 * MIB);
    }

    #[test]
    fn relative_paths_are_under_the_spec_dir() {
        assert_eq!(
            path_word("lib/a.py"),
            vec![
                Segment::Var("spec_dir".into()),
                Segment::Text("/lib/a.py".into())
            ]
        );
        assert_eq!(
            path_word("hdfs://nn/x.jar"),
            vec![Segment::Text("hdfs://nn/x.jar".into())]
        );
        assert_eq!(
            path_word("/opt/x.zip"),
            vec![Segment::Text("/opt/x.zip".into())]
        );
    }
}
