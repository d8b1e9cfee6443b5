//! Running one task instance: a process spawned from its argv in a work directory of its
//! own and a process group of its own, with stdout and stderr kept in files, a wall-time
//! limit, and retries with backoff.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};

use crate::engine::{Ended, Status};
use nix::unistd::Pid;

/// The process groups of the running tasks, to stop them all on Ctrl-C or `--fail-fast`.
pub type Groups = Arc<Mutex<HashSet<i32>>>;

#[derive(Debug)]
pub struct Spec {
    pub name: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub secrets: Vec<String>,
    pub outputs: Vec<(String, String, bool)>,
    /// Files to write in the work directory before each attempt (`${json(…)}`): name
    /// and text.
    pub configs: Vec<(String, String)>,
    /// The output file (relative to the work directory) that takes the standard output,
    /// instead of the log.
    pub stdout_to: Option<String>,
    pub first_work: PathBuf,
    pub attempts: u32,
    pub backoff: Duration,
    pub time_limit: Option<Duration>,
    pub log_dir: PathBuf,
    pub groups: Groups,
    pub node: usize,
    /// An emptied work directory of an instance that finished, renamed into place
    /// instead of making a new one (a rename allocates no inode; see [`Spares`]).
    pub spare: Option<PathBuf>,
}

/// Emptied work directories kept for the next instances: on a file system that
/// allocates inodes slowly (ext4 after many deletions), a `mkdir` per instance is a
/// large part of a chain's time.
#[derive(Debug, Default)]
pub struct Spares {
    dirs: Vec<PathBuf>,
    next: u64,
}

impl Spares {
    /// Keeps `work` for a later instance when it is empty (its outputs were stored),
    /// renaming it to a spare name under `tmp`, with the empty log files beside it; else
    /// removes them.
    pub fn recycle(&mut self, work: &Path, tmp: &Path) {
        let empty = std::fs::read_dir(work).is_ok_and(|mut d| d.next().is_none());
        if empty && self.dirs.len() < 64 {
            let spare = tmp.join(format!("spare-{}-{}", std::process::id(), self.next));
            self.next += 1;
            if std::fs::rename(work, &spare).is_ok() {
                for ext in LOGS {
                    let log = beside(work, ext);
                    let kept = std::fs::metadata(&log).is_ok_and(|m| m.len() == 0)
                        && std::fs::rename(&log, beside(&spare, ext)).is_ok();
                    if !kept {
                        std::fs::remove_file(&log).ok();
                    }
                }
                self.dirs.push(spare);
                return;
            }
        }
        remove(work);
    }

    pub fn take(&mut self) -> Option<PathBuf> {
        self.dirs.pop()
    }
}

/// The log files an instance writes beside its work directory while it runs.
const LOGS: [&str; 2] = [".stdout", ".stderr"];

/// `work` with `ext` added to its name: `tmp/t-0-42.stdout`.
fn beside(work: &Path, ext: &str) -> PathBuf {
    let mut p = work.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

/// Removes a work directory and the log files beside it.
pub fn remove(work: &Path) {
    std::fs::remove_dir_all(work).ok();
    for ext in LOGS {
        std::fs::remove_file(beside(work, ext)).ok();
    }
}

/// Lines of stderr kept for the summary of a failure.
const TAIL: usize = 10;

/// Runs every attempt of an instance, until one succeeds or none is left.
pub async fn execute(spec: Spec) -> Ended {
    let node = spec.node;
    let mut last = Status::Failed {
        exit_code: None,
        message: "did not run".into(),
        stderr_tail: Vec::new(),
        attempts: 1,
    };
    // A spare directory is renamed into place; else one is made.
    let reused = spec
        .spare
        .as_ref()
        .is_some_and(|s| std::fs::rename(s, &spec.first_work).is_ok());
    if let (true, Some(s)) = (reused, &spec.spare) {
        // Its empty log files too: opening them truncates, and makes no inode.
        for ext in LOGS {
            std::fs::rename(beside(s, ext), beside(&spec.first_work, ext)).ok();
        }
    }
    if !reused {
        if let Some(s) = &spec.spare {
            remove(s);
        }
        if let Err(e) = std::fs::create_dir_all(&spec.first_work) {
            return Ended::here(
                node,
                Status::Failed {
                    exit_code: None,
                    message: format!("cannot create its work directory: {e}"),
                    stderr_tail: Vec::new(),
                    attempts: 1,
                },
            );
        }
    }
    for attempt in 1..=spec.attempts {
        // Every attempt runs in the same (emptied) directory: the argv names paths in it.
        let work = spec.first_work.clone();
        if attempt > 1 {
            if let Err(e) = std::fs::create_dir_all(&work) {
                return Ended::here(
                    node,
                    Status::Failed {
                        exit_code: None,
                        message: format!("cannot create its work directory: {e}"),
                        stderr_tail: Vec::new(),
                        attempts: attempt,
                    },
                );
            }
        }
        // An output under a folder (`out/table.csv`) gets its folder made for it.
        for (_, rel, _) in &spec.outputs {
            if let Some(parent) = Path::new(rel)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(work.join(parent)).ok();
            }
        }
        if let Some(status) = write_configs(&spec.configs, &work, attempt) {
            return Ended::here(node, status);
        }
        last = attempt_once(&spec, &work).await;
        match &last {
            Status::Succeeded { .. } => {
                return Ended::here(
                    node,
                    Status::Succeeded {
                        work,
                        attempts: attempt,
                    },
                );
            }
            Status::Killed => return Ended::here(node, Status::Killed),
            Status::Failed { .. } => {
                // The outputs of a failed attempt are thrown away.
                remove(&work);
                if attempt < spec.attempts {
                    tokio::time::sleep(spec.backoff).await;
                }
            }
        }
    }
    if let Status::Failed {
        message, attempts, ..
    } = &mut last
    {
        *attempts = spec.attempts;
        if spec.attempts > 1 {
            *message = format!("{message} (after {} attempts)", spec.attempts);
        }
    }
    Ended::here(node, last)
}

/// Writes the files of `${json(…)}` and `${yaml(…)}` into `work`; the failure, if one
/// cannot be written.
fn write_configs(configs: &[(String, String)], work: &Path, attempt: u32) -> Option<Status> {
    for (name, text) in configs {
        if let Err(e) = std::fs::write(work.join(name), text) {
            return Some(Status::Failed {
                exit_code: None,
                message: format!("cannot write its configuration file `{name}`: {e}"),
                stderr_tail: Vec::new(),
                attempts: attempt,
            });
        }
    }
    None
}

async fn attempt_once(spec: &Spec, work: &Path) -> Status {
    // The logs are written beside the work directory, and moved to the log directory
    // (made then) when there is something in them or the attempt failed: most tasks
    // print nothing, and two directories and two files less per instance count on a
    // slow file system.
    // An output declared `= stdout` takes the standard output instead of the log.
    let stdout_output = spec.stdout_to.as_ref().map(|f| work.join(f));
    let mut stdout_path = stdout_output
        .clone()
        .unwrap_or_else(|| beside(work, LOGS[0]));
    let mut stderr_path = beside(work, LOGS[1]);
    let (Ok(out), Ok(err)) = (
        std::fs::File::create(&stdout_path),
        std::fs::File::create(&stderr_path),
    ) else {
        return Status::Failed {
            exit_code: None,
            message: "cannot create its log files".into(),
            stderr_tail: Vec::new(),
            attempts: 1,
        };
    };
    let mut cmd = match program_path(&spec.argv[0], &spec.env) {
        Some(path) => {
            let mut cmd = tokio::process::Command::new(path);
            cmd.arg0(&spec.argv[0]);
            cmd
        }
        None => tokio::process::Command::new(&spec.argv[0]),
    };
    cmd.args(&spec.argv[1..])
        .current_dir(work)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("EXPC_TASK", &spec.name)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "cannot start `{}`: no such program (is it installed and on PATH?)",
                    spec.argv[0]
                )
            } else if e.raw_os_error() == Some(7) {
                // E2BIG: the argv and environment together exceed what exec accepts (and
                // one word or variable may be at most 128 KiB on Linux).
                let argv: usize = spec.argv.iter().map(|a| a.len() + 1).sum();
                let env: usize = spec.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
                let longest = spec
                    .argv
                    .iter()
                    .map(String::len)
                    .chain(spec.env.iter().map(|(k, v)| k.len() + v.len() + 1))
                    .max()
                    .unwrap_or(0);
                format!(
                    "cannot start `{}`: its command line ({argv} bytes) and variables ({env} bytes; the longest word or variable is {longest} bytes) are more than the system accepts. Pass a long list through a file instead — for example, have an upstream task write the list to a file output and read that",
                    spec.argv[0]
                )
            } else {
                format!("cannot start `{}`: {e}", spec.argv[0])
            };
            return Status::Failed {
                exit_code: None,
                message,
                stderr_tail: Vec::new(),
                attempts: 1,
            };
        }
    };
    let pgid = child.id().map(|p| p as i32);
    if let Some(g) = pgid {
        lock(&spec.groups).insert(g);
    }
    let waited = match spec.time_limit {
        Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
            Ok(r) => Some(r),
            Err(_) => {
                if let Some(g) = pgid {
                    stop_group(g, Duration::from_secs(5)).await;
                }
                let _ = child.wait().await;
                None
            }
        },
        None => Some(child.wait().await),
    };
    if let Some(g) = pgid {
        lock(&spec.groups).remove(&g);
    }
    redact(&stdout_path, &spec.secrets);
    redact(&stderr_path, &spec.secrets);
    // Empty logs of a success stay beside the work directory, to be reused or removed
    // with it; the logs of an earlier run of the instance are removed, so that what is
    // in `logs/` is always the latest attempt's.
    let succeeded = matches!(&waited, Some(Ok(s)) if s.success());
    let empty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() == 0);
    let stdout_logged = stdout_output.is_none() && !empty(&stdout_path);
    if succeeded && !stdout_logged && empty(&stderr_path) {
        for name in ["stdout", "stderr"] {
            std::fs::remove_file(spec.log_dir.join(name)).ok();
        }
    } else if std::fs::create_dir_all(&spec.log_dir).is_ok() {
        for (path, name) in [(&mut stdout_path, "stdout"), (&mut stderr_path, "stderr")] {
            let to = spec.log_dir.join(name);
            if stdout_output.as_ref() == Some(&*path) {
                // The output stays where it is; a failure's is copied for the log.
                if !succeeded {
                    std::fs::copy(&*path, &to).ok();
                }
                continue;
            }
            if std::fs::rename(&*path, &to).is_ok() {
                *path = to;
            }
        }
    }
    // The stderr tail is read only for a failure.
    let tail = || tail(&stderr_path);
    match waited {
        None => Status::Failed {
            exit_code: None,
            message: format!(
                "ran longer than its `time` of {} and was stopped",
                expc_check::value::format_duration(
                    spec.time_limit.map_or(0, |d| d.as_millis() as u64)
                )
            ),
            stderr_tail: tail(),
            attempts: 1,
        },
        Some(Err(e)) => Status::Failed {
            exit_code: None,
            message: format!("could not be waited for: {e}"),
            stderr_tail: tail(),
            attempts: 1,
        },
        Some(Ok(status)) if status.success() => Status::Succeeded {
            work: work.to_path_buf(),
            attempts: 1,
        },
        Some(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = status.signal() {
                if sig == Signal::SIGTERM as i32 || sig == Signal::SIGKILL as i32 {
                    // Stopped by us (or by someone else); either way, not a result.
                    return Status::Killed;
                }
                return Status::Failed {
                    exit_code: None,
                    message: format!("was killed by signal {sig}"),
                    stderr_tail: tail(),
                    attempts: 1,
                };
            }
            Status::Failed {
                exit_code: status.code(),
                message: format!("exited with status {}", status.code().unwrap_or(-1)),
                stderr_tail: tail(),
                attempts: 1,
            }
        }
    }
}

/// Where a program named without a slash is found on this process's `PATH`, looked up
/// once per name (as `execvp` would: the first executable file). `None` leaves the search
/// to the spawn — when the task sets its own `PATH`, or nothing is found (so the error is
/// the usual one).
fn program_path(program: &str, env: &[(String, String)]) -> Option<PathBuf> {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::OnceLock;
    static FOUND: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    if program.contains('/') || program.is_empty() || env.iter().any(|(k, _)| k == "PATH") {
        return None;
    }
    let found = FOUND.get_or_init(Default::default);
    let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
    found
        .entry(program.to_owned())
        .or_insert_with(|| {
            let path = std::env::var_os("PATH")?;
            let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
            // A relative entry depends on the work directory: left to the spawn.
            if dirs.iter().any(|d| !d.is_absolute()) {
                return None;
            }
            dirs.into_iter().map(|dir| dir.join(program)).find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
        })
        .clone()
}

fn lock(groups: &Groups) -> std::sync::MutexGuard<'_, HashSet<i32>> {
    groups.lock().unwrap_or_else(|e| e.into_inner())
}

/// SIGTERM to every running task's process group, SIGKILL to those left after `grace`.
pub async fn terminate(groups: &Groups, grace: Duration) {
    let all: Vec<i32> = lock(groups).iter().copied().collect();
    for g in &all {
        let _ = killpg(Pid::from_raw(*g), Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if lock(groups).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for g in lock(groups).iter() {
        let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
    }
}

async fn stop_group(g: i32, grace: Duration) {
    let _ = killpg(Pid::from_raw(g), Signal::SIGTERM);
    tokio::time::sleep(grace.min(Duration::from_millis(200))).await;
    let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
}

/// The last lines of a log.
pub(crate) fn tail(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// Replaces secret values in a captured log.
fn redact(path: &Path, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    let mut changed = false;
    for s in secrets {
        if text.contains(s.as_str()) {
            text = text.replace(s.as_str(), "[redacted]");
            changed = true;
        }
    }
    if changed {
        let _ = crate::store::write_atomic(path, text.as_bytes());
    }
}

/// A metrics file is one JSON object whose values are finite numbers, or objects of them
/// (`crate::events::metrics_of`).
pub fn check_metrics(path: &Path) -> std::result::Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    crate::events::metrics_of(&bytes).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("expc-spares-{}-{name}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_emptied_work_directory_and_its_empty_logs_are_kept_for_the_next_instance() {
        let t = tmp("kept");
        let work = t.join("a-0-1");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(beside(&work, ".stdout"), "").unwrap();
        std::fs::write(beside(&work, ".stderr"), "").unwrap();
        let mut spares = Spares::default();
        spares.recycle(&work, &t);
        assert!(!work.exists());
        let spare = spares.take().expect("a spare");
        assert!(spare.is_dir());
        assert!(beside(&spare, ".stdout").is_file());
        assert!(beside(&spare, ".stderr").is_file());
        assert!(spares.take().is_none());
        std::fs::remove_dir_all(&t).ok();
    }

    #[test]
    fn a_work_directory_with_files_left_in_it_is_removed_with_its_logs() {
        let t = tmp("removed");
        let work = t.join("a-0-1");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(work.join("left.txt"), "x").unwrap();
        std::fs::write(beside(&work, ".stdout"), "").unwrap();
        let mut spares = Spares::default();
        spares.recycle(&work, &t);
        assert!(!work.exists());
        assert!(!beside(&work, ".stdout").exists());
        assert!(spares.take().is_none());
        // A log with something in it is not reused: it is removed.
        let work = t.join("b-0-1");
        std::fs::create_dir(&work).unwrap();
        std::fs::write(beside(&work, ".stderr"), "warning").unwrap();
        spares.recycle(&work, &t);
        let spare = spares.take().expect("a spare");
        assert!(!beside(&spare, ".stderr").exists());
        assert!(!beside(&work, ".stderr").exists());
        std::fs::remove_dir_all(&t).ok();
    }
}
