//! What a run reports as it goes — plain lines, JSON lines (`--json`) or a progress bar
//! (the CLI's), and provenance — all from the same events, and what it reports of each
//! instance and of itself at the end.
//!
//! These are the run's contract with those who listen: each type owns what it carries,
//! so a listener (the provenance recorder, the CLI) imports these and nothing else of
//! the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Serialized as one JSON object per line (`expc run --json`, and the event log of a
/// detached run, which `expc attach` reads back).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        instances: u64,
    },
    TaskStarted {
        task: String,
    },
    TaskCached {
        task: String,
    },
    TaskFinished {
        task: String,
        seconds: f64,
        attempts: u32,
    },
    TaskFailed {
        task: String,
        exit_code: Option<i32>,
        message: String,
    },
    TaskSkipped {
        task: String,
    },
    Note {
        message: String,
    },
    RunFinished {
        ran: usize,
        cached: usize,
        failed: usize,
        skipped: usize,
        seconds: f64,
    },
}

pub trait Sink {
    fn event(&mut self, event: Event);

    /// Called once for every instance when its outcome is known; provenance records it.
    /// Records are numbered from 0 in the order given: a record's number is its task id
    /// in the run's provenance. The record is handed over: a rerun reports thousands, which
    /// the recorder keeps without a copy.
    fn instance(&mut self, _record: InstanceRecord) {}

    /// Whether a cached instance whose outputs were made by `made_by` can be recorded as
    /// a reference to that record, without its argv, inputs and reads: then the scheduler
    /// need not work them out again for an instance whose key it already knows.
    fn can_refer(&mut self, _made_by: &MadeBy) -> bool {
        false
    }

    /// Called once, before the run starts, with every remote input the run reads (in the
    /// order of their ids), each already in the store; provenance records them.
    fn remote_inputs(&mut self, _inputs: &[RemoteInput]) {}
}

/// A remote input (`https://…`, `s3://…`) a run reads: where it came from and what it was.
/// Carries no credential: S3 credentials never leave the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteInput {
    /// The declared data item's id.
    pub data: String,
    pub url: String,
    /// Where the store keeps it: the path the instances that read it were given.
    pub path: PathBuf,
    /// `sha256:` and 64 hex digits.
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether this run fetched it (else the store held it).
    pub fetched: bool,
}

/// Collects events, for tests.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl Sink for Collect {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }
}

/// Everything provenance needs about one instance, reported once when it ends (ran, was
/// cached, failed, or was skipped). Holds no secret: the argv names secrets, never their
/// values, and the environment is not in it.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    /// The instance's name in messages: `t`, or `t[3]`.
    pub name: String,
    /// The pipeline binding (the plan's job key).
    pub call: String,
    /// The task's id.
    pub task: String,
    pub index: u64,
    pub outcome: Outcome,
    /// The cache key, when the instance got as far as being resolved.
    pub key: Option<String>,
    pub argv: Vec<String>,
    pub started: Option<std::time::SystemTime>,
    pub ended: Option<std::time::SystemTime>,
    pub attempts: u32,
    pub exit_code: Option<i32>,
    /// Why it failed or was not run.
    pub message: Option<String>,
    /// Files it read, by input name.
    pub used: Vec<Used>,
    /// Scalar inputs (a sweep point's values, params passed in), rendered as text.
    pub values: Vec<(String, String)>,
    /// Files it made (or that the cache gave it), by output name.
    pub generated: Vec<Generated>,
    /// Where it ran, when not on the machine recording the run (a cluster node).
    pub host: Option<String>,
    /// The engine's id of the job that ran it (`SLURM_JOB_ID`, an array task's id).
    pub job_id: Option<String>,
    /// The engine that ran it, or would have (a cached or skipped instance's): `local`,
    /// `spark`, `slurm` or `kubernetes` — under `expc run --local`, `local` whatever the
    /// spec places it on. Empty when not known: the spec's placement is recorded then.
    pub engine: &'static str,
    /// For a cached instance: the record of the instance that made its outputs, when the
    /// cache entry names one.
    pub made_by: Option<MadeBy>,
    /// What it used of what it asked, where the engine measures it (Slurm's accounting).
    pub usage: Option<Usage>,
}

/// What an instance used of what it asked, as the engine's accounting measured it: Slurm's
/// `sacct` (elapsed time, CPU time of all its processes, the largest resident set of any of
/// its steps) beside its allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub elapsed_ms: u64,
    /// User and system CPU time of every process of the instance.
    pub cpu_ms: u64,
    /// The largest resident set size, in bytes, when the engine sampled it.
    pub max_rss: Option<u64>,
    /// The CPUs allocated to it.
    pub cpus: u32,
    /// The memory asked, in bytes, when it asked some.
    pub mem: Option<u64>,
    /// Its time limit, in seconds, when it has one.
    pub time_limit_s: Option<u64>,
}

impl Usage {
    /// The share of the allocated CPU time it used, in percent.
    pub fn cpu_percent(&self) -> Option<f64> {
        let asked = self.elapsed_ms as f64 * f64::from(self.cpus);
        (asked > 0.0).then(|| 100.0 * self.cpu_ms as f64 / asked)
    }

    /// The share of the memory asked it used at most, in percent.
    pub fn mem_percent(&self) -> Option<f64> {
        match (self.max_rss, self.mem) {
            (Some(used), Some(asked)) if asked > 0 => Some(100.0 * used as f64 / asked as f64),
            _ => None,
        }
    }

    /// `memory: asked 1 GiB, used 92.5 MiB, 9 %; CPU: 2 CPUs for 4.0 s, used 0.3 s, 4 %;
    /// time: 4.0 s of 10m`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.mem, self.max_rss) {
            (Some(asked), Some(used)) => parts.push(format!(
                "memory: asked {}, used {}, {:.0} %",
                bytes_text(asked),
                bytes_text(used),
                self.mem_percent().unwrap_or(0.0)
            )),
            (None, Some(used)) => parts.push(format!("memory: used {}", bytes_text(used))),
            _ => {}
        }
        let cpus = if self.cpus == 1 {
            "1 CPU".to_owned()
        } else {
            format!("{} CPUs", self.cpus)
        };
        parts.push(format!(
            "CPU: {cpus} for {}, used {}{}",
            seconds_text(self.elapsed_ms),
            seconds_text(self.cpu_ms),
            self.cpu_percent()
                .map(|p| format!(", {p:.0} %"))
                .unwrap_or_default()
        ));
        if let Some(limit) = self.time_limit_s {
            parts.push(format!(
                "time: {} of {}",
                seconds_text(self.elapsed_ms),
                seconds_text(limit * 1000)
            ));
        }
        parts.join("; ")
    }
}

/// `92.5 MiB`.
pub fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `4.0 s`, `3m 20s`, `2h 5m`.
fn seconds_text(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

/// A file an instance reads: by the input it is passed as, or — a program — by the name
/// of the data item its command names (`python3 ${train_py}`).
#[derive(Debug, Clone)]
pub struct Used {
    pub input: String,
    pub path: PathBuf,
    pub digest: String,
    /// Named in the command rather than passed to an input.
    pub program: bool,
}

/// The provenance record of the instance that made a cache entry: its run and its task id
/// in that run. A later run that reuses the entry records its instance as a reference to
/// that record instead of copying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MadeBy {
    pub run: String,
    pub task: u64,
}

/// How one instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ran,
    Cached,
    Failed,
    /// Not run because an instance it reads failed.
    Skipped,
    /// Not run because the run was stopped.
    NotRun,
}

/// One instance that failed, for the summary.
#[derive(Debug, Clone)]
pub struct Failure {
    pub task: String,
    pub exit_code: Option<i32>,
    pub message: String,
    pub stderr_tail: Vec<String>,
    /// Where its logs are (a folder, or an engine's log file).
    pub log_dir: PathBuf,
}

/// A folder an engine keeps after the run, and what it holds.
#[derive(Debug, Clone)]
pub struct Kept {
    /// What the folder holds, for the summary line: `Slurm jobs (scripts, logs, …)`.
    pub what: &'static str,
    pub dir: PathBuf,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    pub ran: usize,
    pub cached: usize,
    pub failed: Vec<Failure>,
    pub skipped: usize,
    pub not_run: usize,
    pub interrupted: bool,
    pub elapsed: Duration,
    /// Outputs of the instances of jobs that nothing reads: what the run made.
    pub final_outputs: Vec<(String, PathBuf)>,
    /// The folders the engines keep: where the Slurm jobs of the run were written and
    /// ran (scripts, logs, work directories, hook records), the Kubernetes Jobs applied.
    pub kept: Vec<Kept>,
    /// What the instances that ran used of what they asked, where the engine measured it.
    pub usage: Vec<(String, Usage)>,
}

impl Summary {
    pub fn success(&self) -> bool {
        self.failed.is_empty() && !self.interrupted && self.skipped == 0 && self.not_run == 0
    }
}

/// One output of an instance.
#[derive(Debug, Clone)]
pub struct Generated {
    pub name: String,
    /// Where the output is materialised.
    pub path: std::path::PathBuf,
    pub digest: String,
    pub size: u64,
    pub is_dir: bool,
    /// The output's declared type (`Model<Onnx>`, `Metrics`, …).
    pub ty: String,
}

impl<T: Sink + ?Sized> Sink for Box<T> {
    fn event(&mut self, event: Event) {
        (**self).event(event);
    }

    fn instance(&mut self, record: InstanceRecord) {
        (**self).instance(record);
    }
}

/// Where a run keeps the logs (`stdout`, `stderr`) of the latest attempt of instance
/// `index` of the call `call` that ran on this machine, in the state folder `state_dir`:
/// the one place the run writes them and its readers (the report) look for them.
pub fn log_dir(state_dir: &Path, call: &str, index: u64) -> PathBuf {
    state_dir
        .join("logs")
        .join(crate::store::safe(call).as_ref())
        .join(index.to_string())
}

/// The numbers of a metrics file: a JSON object whose values are finite numbers or, as
/// dvclive and others write them, objects of such values, read as dotted names
/// (`{"train": {"loss": 0.1}}` is `train.loss`), in name order. The message says which
/// value is not a number.
pub fn metrics_of(bytes: &[u8]) -> Result<Vec<(String, f64)>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    let mut out = Vec::new();
    // Depth-first with an explicit stack: a hostile file nests as deep as it likes.
    let mut stack: Vec<(String, serde_json::Value)> = map.into_iter().rev().collect();
    while let Some((name, v)) = stack.pop() {
        match v {
            serde_json::Value::Object(inner) => {
                for (k, v) in inner.into_iter().rev() {
                    stack.push((format!("{name}.{k}"), v));
                }
            }
            v => match v.as_f64() {
                Some(f) if f.is_finite() => out.push((name, f)),
                _ => return Err(format!("the value of `{name}` is not a finite number")),
            },
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod metrics_tests {
    use super::metrics_of;

    #[test]
    fn nested_metrics_are_dotted_names() {
        let m = metrics_of(br#"{"step": 3, "train": {"loss": 0.5, "eval": {"acc": 1}}}"#).unwrap();
        let names: Vec<&str> = m.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["step", "train.eval.acc", "train.loss"]);
        assert_eq!(m[2].1, 0.5);
        let bad = metrics_of(br#"{"train": {"loss": "low"}}"#).unwrap_err();
        assert!(bad.contains("`train.loss`"), "{bad}");
        assert!(metrics_of(b"[1]").is_err());
    }
}
