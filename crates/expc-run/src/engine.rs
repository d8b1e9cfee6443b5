//! The places an instance can run, behind one interface: a process on this machine
//! ([`local`]), an application submitted with `spark-submit` from this machine
//! ([`spark`]), an array task of a Slurm job ([`slurm`]), a completion index of a
//! Kubernetes Indexed Job ([`k8s`]).
//!
//! The scheduler ([`crate::scheduler`]) knows only [`Engine`]: it asks an engine where an
//! instance runs ([`Engine::site`], which the command is resolved for), starts it
//! ([`Engine::start`]), and learns that it [`Ended`] — from the future a process engine
//! returns, or from [`Engine::poll`] of an engine that queues work elsewhere. A new engine
//! is one more file here.

pub mod journal;
pub mod k8s;
pub mod local;
pub mod slurm;
pub mod spark;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::RunError;
pub use crate::events::Kept;
use crate::resolve::{Resolved, Site};
use crate::store::Store;

/// A future an engine returns; the scheduler runs on one thread.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// One instance to start, resolved for the engine's [`Site`].
#[derive(Debug)]
pub struct Launch<'a> {
    /// Its node in the instance DAG.
    pub node: usize,
    /// Its job's position in the plan, and its index among the job's instances.
    pub job: usize,
    pub index: u64,
    /// `t` or `t[3]`, for messages.
    pub name: &'a str,
    pub resolved: &'a Resolved,
    /// Its work directory (the site's).
    pub work: PathBuf,
    /// Where its logs go.
    pub log_dir: PathBuf,
}

/// What starting an instance gave.
pub enum Started {
    /// A process of this machine: the future ends when it does.
    Process(Pin<Box<dyn Future<Output = Ended> + Send + 'static>>),
    /// Queued for the engine's next [`Engine::submit`]; it ends in a [`Engine::poll`].
    Queued,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Started::Process(_) => "Process",
            Started::Queued => "Queued",
        })
    }
}

/// How an instance ended.
#[derive(Debug)]
pub enum Status {
    /// Its command succeeded; its outputs are in `work`.
    Succeeded { work: PathBuf, attempts: u32 },
    /// Every attempt failed (or the engine refused or lost it).
    Failed {
        exit_code: Option<i32>,
        message: String,
        /// The end of its standard error, for the summary.
        stderr_tail: Vec<String>,
        attempts: u32,
    },
    /// Stopped by the run (Ctrl-C, `--fail-fast`).
    Killed,
}

/// One instance that ended.
#[derive(Debug)]
pub struct Ended {
    pub node: usize,
    pub status: Status,
    /// The engine's name for what ran it (`Slurm job`), when it has ids.
    pub engine: &'static str,
    /// The engine's id of it: Slurm's `JOB_TASK`, `JOB[INDEX]` on Kubernetes.
    pub job_id: Option<String>,
    /// Its log, where the engine keeps one of its own (else it is in the launch's
    /// log folder).
    pub log: Option<PathBuf>,
    /// Where it ran and when, as the engine's provenance hook recorded it.
    pub host: Option<String>,
    pub started: Option<SystemTime>,
    pub ended: Option<SystemTime>,
    /// What it used of what it asked, where the engine's accounting measures it.
    pub usage: Option<crate::events::Usage>,
}

impl Ended {
    /// An instance of this machine that ended with `status`.
    pub fn here(node: usize, status: Status) -> Self {
        Ended {
            node,
            status,
            engine: "",
            job_id: None,
            log: None,
            host: None,
            started: None,
            ended: None,
            usage: None,
        }
    }
}

/// What a submission gave: a line per batch sent, and the nodes refused, with why.
#[derive(Debug, Default)]
pub struct Submitted {
    pub notes: Vec<String>,
    pub refused: Vec<(usize, String)>,
}

/// What cancelling gave: a line naming what was cancelled, and the nodes given up on
/// (they end as not run; processes end through their futures instead).
#[derive(Debug, Default)]
pub struct Cancelled {
    pub note: Option<String>,
    pub nodes: Vec<usize>,
}

/// A place instances run.
pub trait Engine {
    /// Its name: `local`, `spark`, `slurm`, `kubernetes`.
    fn name(&self) -> &'static str;

    /// Whether its instances take CPUs and memory of this machine, which the scheduler
    /// shares among them by `-j`, the cores and the memory.
    fn runs_here(&self) -> bool;

    /// Where instance `index` of job `j` runs, as its command names places.
    fn site(&self, j: usize, index: u64, store: &Store) -> Site;

    /// Where the logs of instance `index` of job `j` are kept.
    fn log_dir(&self, j: usize, index: u64, store: &Store) -> PathBuf;

    /// Starts an instance, or queues it for the next [`Engine::submit`].
    fn start(&mut self, launch: Launch<'_>) -> Result<Started, String>;

    /// Sends what was queued.
    fn submit(&mut self) -> BoxFuture<'_, Submitted> {
        Box::pin(std::future::ready(Submitted::default()))
    }

    /// Whether instances are queued or out, to look at with [`Engine::poll`].
    fn busy(&self) -> bool {
        false
    }

    /// One look at what is out: the instances that ended since the last look. An error
    /// when the engine cannot be followed any more.
    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<Ended>, RunError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Stops everything the engine has started or queued: processes get SIGTERM, then
    /// SIGKILL after `grace`.
    fn cancel(&mut self, grace: Duration) -> BoxFuture<'_, Cancelled>;

    /// Makes the outputs of a finished instance of job `key` (wherever it ran, or from
    /// the cache) readable where this engine's instances read them: `(file, path here)`.
    fn hand_over(&self, _key: &str, _index: u64, _outputs: &[(String, PathBuf)]) {}

    /// Whether [`Engine::hand_over`] makes hard links to the files (which moves their
    /// objects' ctime, so the run takes their stamps again).
    fn hands_over_links(&self) -> bool {
        false
    }

    /// The work directory of an instance that succeeded, once its outputs are stored.
    fn release(&mut self, work: &Path, _store: &Store) {
        crate::exec::remove(work);
    }

    /// At the end of the run: removes what it made for nothing, and says what it keeps.
    fn finish(&self) -> Option<Kept> {
        None
    }
}

/// `run-SECONDS-PID`: the folder of one run's jobs on an engine.
pub(crate) fn run_folder() -> String {
    let secs = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("run-{secs}-{}", std::process::id())
}

/// `KEY[0-3,7]`: a job's instances in messages.
pub(crate) fn label(key: &str, instances: &[u64]) -> String {
    format!("{key}[{}]", compress(instances))
}

/// `0-3,7,9-10` for `[0, 1, 2, 3, 7, 9, 10]` (sorted).
pub(crate) fn compress(indices: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

pub(crate) fn plural(items: &[String], one: &str, many: &str) -> String {
    format!(
        "{} {}",
        items.join(", "),
        if items.len() == 1 { one } else { many }
    )
}

/// The full path of `name` on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Writes a file of the run's own, making its folder.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunError(format!("cannot create `{}`: {e}", parent.display())))?;
    }
    std::fs::write(path, bytes)
        .map_err(|e| RunError(format!("cannot write `{}`: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_are_compressed_into_ranges() {
        assert_eq!(compress(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(compress(&[5]), "5");
        assert_eq!(compress(&[]), "");
    }
}
