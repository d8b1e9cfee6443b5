//! Runs in the background: `expc run --detach`, `expc attach`, and what `expc status` and
//! `expc cancel` know of them.
//!
//! A detached run is an ordinary `expc run` started as a process of its own (the run's
//! *head*), in a session of its own, with its output in a folder of the state folder,
//! `heads/RUN/`:
//!
//! - `head.json`: its process id, when it started, and the arguments and folder to run it
//!   again with (`expc attach` does, when the head ended before the run);
//! - `events.jsonl`: every event of the run, one JSON object per line, as `--json` prints
//!   them, which `expc attach` replays and then follows;
//! - `head.log`: what the run printed;
//! - `summary.txt` and `exit`: the summary a foreground run prints at its end, and the
//!   run's exit code, written last.
//!
//! The head holds the state folder's lock like any run, so nothing else runs there at the
//! same time, and its cluster jobs are in the journal of submissions, so a head that is
//! killed leaves nothing a new run of the spec cannot adopt.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use expc_diagnostics::render::RenderOptions;
use expc_run::{Event, Sink};
use miette::{IntoDiagnostic as _, miette};
use serde::{Deserialize, Serialize};

use crate::cli::{QueueArgs, RunArgs};

/// The folder of the state folder that holds the heads of detached runs.
const HEADS: &str = "heads";

/// What `head.json` says of a detached run's head.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HeadFile {
    pid: u32,
    /// Seconds since the Unix epoch.
    started: u64,
    /// The arguments of `expc` that run the spec again (without `--detach`).
    argv: Vec<String>,
    /// The folder they are relative to.
    cwd: PathBuf,
}

/// A detached run's head, as its folder describes it.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub id: String,
    pub dir: PathBuf,
    file: HeadFile,
}

/// How far a detached run has got, from its events.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub instances: u64,
    pub ran: u64,
    pub cached: u64,
    pub failed: u64,
    pub skipped: u64,
    pub running: Vec<String>,
}

impl Head {
    fn read(dir: &Path) -> Option<Head> {
        let text = std::fs::read_to_string(dir.join("head.json")).ok()?;
        let file = serde_json::from_str(&text).ok()?;
        Some(Head {
            id: dir.file_name()?.to_string_lossy().into_owned(),
            dir: dir.to_path_buf(),
            file,
        })
    }

    /// The heads of a state folder, oldest first (run ids sort by time).
    pub fn all(state: &Path) -> Vec<Head> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(state.join(HEADS))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.iter().filter_map(|d| Head::read(d)).collect()
    }

    /// The head of `run`, or the latest head when no run is named.
    pub fn find(state: &Path, run: Option<&str>) -> miette::Result<Head> {
        let heads = Head::all(state);
        let found = match run {
            Some(id) => heads.into_iter().find(|h| h.id == id),
            None => heads.into_iter().last(),
        };
        found.ok_or_else(|| match run {
            Some(id) => miette!(
                help = "`expc status` lists the background runs of a state folder; `expc runs` every recorded run",
                "no background run `{id}` in `{}`",
                state.display()
            ),
            None => miette!(
                help = "start one with `expc run --detach SPEC`; name the spec or `--state-dir` if it is not beside you",
                "no background run in `{}`",
                state.display()
            ),
        })
    }

    pub fn pid(&self) -> u32 {
        self.file.pid
    }

    pub fn started(&self) -> u64 {
        self.file.started
    }

    /// The run's exit code, once it has finished.
    pub fn exit_code(&self) -> Option<u8> {
        std::fs::read_to_string(self.dir.join("exit"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the head's process is still there: its process id names a live process
    /// started for this run (so a reused process id is not mistaken for it).
    pub fn alive(&self) -> bool {
        let pid = self.file.pid;
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // `PID (COMM) STATE …`: a zombie has ended (its parent has not reaped it yet).
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some('Z' | 'X')) {
            return false;
        }
        // `--run-id ID` or `--head …/ID` is in the head's command line; ids do not repeat.
        // A process between fork and exec shows an empty one.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let needle = self.id.as_bytes();
        cmdline.is_empty() || cmdline.windows(needle.len()).any(|w| w == needle)
    }

    /// The events written so far.
    fn events(&self) -> Vec<Event> {
        let Ok(file) = std::fs::File::open(self.dir.join("events.jsonl")) else {
            return Vec::new();
        };
        std::io::BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    pub fn progress(&self) -> Progress {
        let mut p = Progress::default();
        let mut running = std::collections::BTreeSet::new();
        for e in self.events() {
            match e {
                Event::RunStarted { instances } => p.instances = instances,
                Event::TaskStarted { task } => {
                    running.insert(task);
                }
                Event::TaskCached { .. } => p.cached += 1,
                Event::TaskFinished { task, .. } => {
                    running.remove(&task);
                    p.ran += 1;
                }
                Event::TaskFailed { task, .. } => {
                    running.remove(&task);
                    p.failed += 1;
                }
                Event::TaskSkipped { task } => {
                    running.remove(&task);
                    p.skipped += 1;
                }
                _ => {}
            }
        }
        p.running = running.into_iter().collect();
        p
    }

    /// Asks the head to stop as Ctrl-C would (it cancels what it submitted and records
    /// the run as interrupted), and waits for it to end.
    pub fn stop(&self, grace: Duration) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.file.pid as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).is_err() {
            return !self.alive();
        }
        let start = Instant::now();
        while self.alive() && start.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(100));
        }
        !self.alive()
    }
}

impl Progress {
    /// `12 of 104 done (10 ran, 2 cached), 3 running`.
    pub fn line(&self) -> String {
        let done = self.ran + self.cached + self.failed + self.skipped;
        let mut parts = vec![
            format!("{} ran", self.ran),
            format!("{} cached", self.cached),
        ];
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.skipped > 0 {
            parts.push(format!("{} not run", self.skipped));
        }
        let mut line = format!("{done} of {} done ({})", self.instances, parts.join(", "));
        if !self.running.is_empty() {
            let shown: Vec<&str> = self.running.iter().take(5).map(String::as_str).collect();
            let more = self.running.len().saturating_sub(shown.len());
            line.push_str(&format!(
                ", {} running: {}{}",
                self.running.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        line
    }
}

/// `expc run --detach`: checks the spec here (so that its errors are shown where it was
/// typed), starts the run's head in the background and returns once it has started.
pub fn start(args: RunArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    if super::program::program_and_plan(&args.file, &overrides, &args.program, render)?.is_none() {
        return Ok(ExitCode::from(1));
    }
    let state = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => super::state_folder(None, Some(&args.file)),
    };
    let spec = std::fs::read(&args.file).unwrap_or_default();
    let now = SystemTime::now();
    let id = expc_prov::record::new_run_id(now, &blake3::hash(&spec).to_hex());
    let dir = state.join(HEADS).join(&id);
    std::fs::create_dir_all(&dir).map_err(|e| miette!("cannot make `{}`: {e}", dir.display()))?;
    let dir = dir.canonicalize().into_diagnostic()?;
    // The arguments as given, without `--detach`: what runs the spec again.
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let cwd = std::env::current_dir().into_diagnostic()?;
    let (mut child, file) = spawn_head(&dir, &id, argv, cwd.clone(), now)?;
    // Back once the head has said something (it started, or waits for the state
    // folder's lock), or has ended: then what it printed says why.
    let events = dir.join("events.jsonl");
    loop {
        if let Some(status) = child.try_wait().into_diagnostic()? {
            let printed = std::fs::read_to_string(dir.join("head.log")).unwrap_or_default();
            let _ = std::io::stderr().write_all(printed.as_bytes());
            if status.success() {
                return Ok(ExitCode::SUCCESS);
            }
            return Ok(ExitCode::from(1));
        }
        if std::fs::metadata(&events).is_ok_and(|m| m.len() > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // What the other commands need to be told to find the state folder from here.
    let here = cwd.join(".expc").canonicalize().ok();
    let spec_flag = match (&args.state_dir, args.file.to_str()) {
        _ if here.is_some() && state.canonicalize().ok() == here => String::new(),
        (Some(dir), _) => format!(" --state-dir {}", dir.display()),
        (None, Some(spec)) => format!(" --spec {spec}"),
        (None, None) => String::new(),
    };
    if args.json {
        let line = serde_json::json!({
            "event": "detached", "run": id, "pid": file.pid, "head": dir,
        });
        println!("{line}");
    } else {
        eprintln!(
            "run {id} started in the background (pid {}); its log: {}",
            file.pid,
            dir.join("head.log").display()
        );
        eprintln!(
            "  `expc attach {id}{spec_flag}` follows it, `expc status {id}{spec_flag}` shows it, `expc cancel {id}{spec_flag}` stops it"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts a head for run `id` in `dir` with `argv` (from `cwd`), its output appended to
/// the folder's `head.log`, and writes `head.json`.
fn spawn_head(
    dir: &Path,
    id: &str,
    argv: Vec<String>,
    cwd: PathBuf,
    now: SystemTime,
) -> miette::Result<(std::process::Child, HeadFile)> {
    let log_path = dir.join("head.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| miette!("cannot write `{}`: {e}", log_path.display()))?;
    let exe = std::env::current_exe().into_diagnostic()?;
    let child = Command::new(exe)
        .args(&argv)
        .arg("--head")
        .arg(dir)
        .args(["--run-id", id])
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone().into_diagnostic()?)
        .stderr(log)
        .spawn()
        .map_err(|e| miette!("cannot start the run in the background: {e}"))?;
    let file = HeadFile {
        pid: child.id(),
        started: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        argv,
        cwd,
    };
    write_atomically(
        &dir.join("head.json"),
        serde_json::to_string_pretty(&file)
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(|e| miette!("cannot write `{}`: {e}", dir.join("head.json").display()))?;
    Ok((child, file))
}

/// The head's sink: what the run shows, and every event in `events.jsonl`.
pub fn logged(shown: Box<dyn Sink>, head: &Path) -> miette::Result<Box<dyn Sink>> {
    let path = head.join("events.jsonl");
    let file = std::fs::File::create(&path)
        .map_err(|e| miette!("cannot write `{}`: {e}", path.display()))?;
    Ok(Box::new(Tee {
        shown,
        log: super::run::JsonSink::new(file),
    }))
}

struct Tee {
    shown: Box<dyn Sink>,
    log: super::run::JsonSink<std::fs::File>,
}

impl Sink for Tee {
    fn event(&mut self, event: Event) {
        self.log.event(event.clone());
        self.shown.event(event);
    }

    fn instance(&mut self, record: expc_run::events::InstanceRecord) {
        self.shown.instance(record);
    }

    fn can_refer(&mut self, made_by: &expc_run::events::MadeBy) -> bool {
        self.shown.can_refer(made_by)
    }
}

/// Keeps the summary a detached run printed, for `expc attach`.
pub fn write_summary(head: &Path, text: &[u8]) {
    let _ = write_atomically(&head.join("summary.txt"), text);
}

/// The run's exit code: written last, it says the run is over.
pub fn write_exit(head: &Path, code: u8) {
    let _ = write_atomically(&head.join("exit"), format!("{code}\n").as_bytes());
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

/// The state folder and the run named by `expc status|attach|cancel [RUN|SPEC]`.
pub(super) fn target(args: &QueueArgs) -> (PathBuf, Option<String>) {
    let (spec, run) = match &args.target {
        Some(t) if is_run_id(t) && !Path::new(t).exists() => (args.spec.clone(), Some(t.clone())),
        Some(t) => (Some(PathBuf::from(t)), None),
        None => (args.spec.clone(), None),
    };
    (
        super::state_folder(args.state_dir.as_deref(), spec.as_deref()),
        run,
    )
}

/// `20261207T231647Z-f1d66f`.
fn is_run_id(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 23
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && b[17..].iter().all(u8::is_ascii_hexdigit)
}

/// `expc attach [RUN]`: replays what the run did so far, follows it to its end and prints
/// its summary. A head that ended before its run is replaced, once, by a new head with
/// the same arguments, which adopts what the first one left.
pub fn attach(args: QueueArgs, _render: RenderOptions) -> miette::Result<ExitCode> {
    let (state, run) = target(&args);
    let head = Head::find(&state, run.as_deref())?;
    if let Some(code) = follow(&head, args.json)? {
        return Ok(ExitCode::from(code));
    }
    take_over(&head)?;
    let head = Head::read(&head.dir).unwrap_or(head);
    if let Some(code) = follow(&head, args.json)? {
        return Ok(ExitCode::from(code));
    }
    Err(miette!(
        help = "its log says why",
        "the head of run {} ended again before the run did: {}",
        head.id,
        head.dir.join("head.log").display()
    ))
}

/// Shows the head's events as they come, then its summary: its exit code, or `None` when
/// the head ended before the run did.
fn follow(head: &Head, json: bool) -> miette::Result<Option<u8>> {
    let mut sink = super::run::shown_sink(json);
    let events = head.dir.join("events.jsonl");
    // A head just started has not made its event log yet.
    let file = loop {
        match std::fs::File::open(&events) {
            Ok(file) => break file,
            Err(_) if head.exit_code().is_some() || !head.alive() => {
                return Ok(head.exit_code().inspect(|_| print_summary(head, json)));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    loop {
        // Looked at before reading: every event is written before the exit code.
        let finished = head.exit_code();
        let gone = finished.is_none() && !head.alive();
        // Every whole line written so far; a line being written is read once whole.
        while let Ok(n) = reader.read_line(&mut line) {
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            if let Ok(event) = serde_json::from_str::<Event>(&line) {
                sink.event(event);
            }
            line.clear();
        }
        if let Some(code) = finished {
            drop(sink);
            print_summary(head, json);
            return Ok(Some(code));
        }
        // Ended without an exit code, unless it wrote one since it was looked for.
        if gone && head.exit_code().is_none() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the run printed at its end; the end of its log when it ended in an error.
fn print_summary(head: &Head, json: bool) {
    if json {
        return;
    }
    let text = std::fs::read(head.dir.join("summary.txt")).unwrap_or_else(|_| {
        let log = std::fs::read_to_string(head.dir.join("head.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("{tail}\n").into_bytes()
    });
    let _ = std::io::stderr().write_all(&text);
}

/// Starts a new head for a run whose head ended before it did, with the same arguments,
/// in the same folder: what is queued or running on a cluster is adopted.
fn take_over(head: &Head) -> miette::Result<()> {
    eprintln!(
        "the head of run {} (pid {}) ended before the run did (its log: {}); starting it again with the same arguments: what is queued or running on a cluster is adopted, what finished is collected, nothing runs twice",
        head.id,
        head.pid(),
        head.dir.join("head.log").display()
    );
    for stale in ["events.jsonl", "summary.txt", "exit"] {
        let _ = std::fs::remove_file(head.dir.join(stale));
    }
    let now = SystemTime::now();
    let spec_hash = head.file.argv.join("\0");
    let id = expc_prov::record::new_run_id(now, &spec_hash);
    spawn_head(
        &head.dir,
        &id,
        head.file.argv.clone(),
        head.file.cwd.clone(),
        now,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_told_from_paths() {
        assert!(is_run_id("20261207T231647Z-f1d66f"));
        assert!(!is_run_id("spec.exp"));
        assert!(!is_run_id("20261207T231647Z-f1d66"));
        assert!(!is_run_id("20261207X231647Z-f1d66f"));
    }

    #[test]
    fn progress_reads_as_a_sentence() {
        let p = Progress {
            instances: 10,
            ran: 3,
            cached: 2,
            failed: 1,
            skipped: 0,
            running: vec!["a".into(), "b[2]".into()],
        };
        assert_eq!(
            p.line(),
            "6 of 10 done (3 ran, 2 cached, 1 failed), 2 running: a, b[2]"
        );
    }
}
