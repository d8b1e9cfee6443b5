//! `expc run` and `expc why`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use expc_diagnostics::render::RenderOptions;
use expc_run::{Event, RunOptions, Sink};
use miette::miette;

use crate::cli::{RemoteArgs, RunArgs, WhyArgs};

pub(super) fn spec_dir(file: &Path) -> miette::Result<PathBuf> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(dir)
        .map_err(|e| miette!("cannot resolve the folder of `{}`: {e}", file.display()))
}

/// What `expc runs` needs to be told, run from here, to find the store of this run: nothing
/// when it is `.expc` here, else the spec as the user wrote it (or the `--state-dir`).
fn store_flag(args: &RunArgs, state_dir: &Path) -> String {
    let here = std::env::current_dir().ok().map(|d| d.join(".expc"));
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if here.is_some_and(|h| same(&h, state_dir)) {
        return String::new();
    }
    match &args.state_dir {
        Some(dir) => format!(" --state-dir {}", shell_word(&dir.display().to_string())),
        None => format!(" --spec {}", shell_word(&args.file.display().to_string())),
    }
}

/// A word a POSIX shell reads back as itself: quoted when it holds anything but plain
/// path characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn remote_mode(args: &RemoteArgs) -> expc_remote::Mode {
    expc_remote::Mode {
        refresh: args.refresh,
        locked: args.locked,
        offline: args.offline,
    }
}

pub fn run(args: RunArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    if args.detach {
        return super::detach::start(args, render);
    }
    let Some(head) = args.head.clone() else {
        return run_here(args, render);
    };
    // A detached run's head: in a session of its own, so that the terminal it was
    // started from closing, or its session ending, does not reach it. However it ends,
    // it says so with an exit code (the run's, else 1), for `expc attach` to stop at.
    let _ = nix::unistd::setsid();
    let ran = run_here(args, render);
    if !head.join("exit").exists() {
        if let Err(e) = &ran {
            super::detach::write_summary(&head, format!("{e:?}\n").as_bytes());
        }
        super::detach::write_exit(&head, 1);
    }
    ran
}

fn run_here(args: RunArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    let Some((program, plan)) =
        super::program::program_and_plan(&args.file, &overrides, &args.program, render)?
    else {
        return Ok(ExitCode::from(1));
    };
    let dag = expc_plan::dag::build(&plan);
    let dir = spec_dir(&args.file)?;
    let shared = expc_prov::shared::Settings::find(
        args.shared.store.as_deref(),
        args.shared.project.as_deref(),
        &dir,
    )
    .map_err(|e| miette!(help = "nothing was run", "{e}"))?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let opts = RunOptions {
        jobs: args.jobs.unwrap_or(cores).max(1),
        local: args.local,
        fail_fast: args.fail_fast,
        state_dir: args.state_dir.clone().unwrap_or_else(|| dir.join(".expc")),
        spec_dir: dir,
        spark_master: format!("local[{cores}]"),
        grace: Duration::from_secs(10),
        poll: Duration::from_secs(1),
        warn_pending: args.warn_pending.0,
        run_id: None,
        fingerprint: None,
        wait: args.wait,
        detached: args.head.is_some(),
        remote: remote_mode(&args.remote),
    };
    let (program, plan, dag, shown_before) =
        match super::expand::produced_lists(program, plan, dag, &args, &opts)? {
            Some(expanded) => expanded,
            None => return Ok(ExitCode::from(1)),
        };
    let mut shown = super::expand::hide_repeats(shown_sink(args.json), shown_before);
    if let Some(head) = &args.head {
        shown = super::detach::logged(shown, head)?;
    }
    let mut meta = expc_prov::RunMeta::collect(&program, &plan, &args.file, &opts.spec_dir);
    if args.local {
        meta.ran_here();
    }
    // What the program and plan are made from: the sources, the params, the pipeline.
    let mut fingerprint = format!("{}\0{}", meta.spec_hash, meta.pipeline);
    for p in &meta.params {
        fingerprint.push_str(&format!("\0{}:{}={}", p.name, p.ty, p.value));
    }
    // And the placements a profile moves: a resource moved to may bring the software
    // environment (image, modules) that is part of a key.
    if let Some(profile) = &plan.profile {
        for (from, to) in &profile.moves {
            fingerprint.push_str(&format!("\0moved:{from}={to}"));
        }
    }
    let mut sink = expc_prov::Recording::new(shown, &opts.state_dir, meta);
    if let Some(id) = &args.run_id {
        sink = sink.with_id(id.clone());
    }
    let opts = RunOptions {
        run_id: Some(sink.id().to_owned()),
        fingerprint: Some(fingerprint),
        ..opts
    };
    let summary = expc_run::run(&program, &plan, &dag, &opts, &mut sink)
        .map_err(|e| miette!(help = "nothing was run", "{}", e.0))?;
    sink.finish(&summary);
    let run_id = sink.run_id().map(str::to_owned);
    let record_failure = sink.failure().map(str::to_owned);
    drop(sink);
    // The run is recorded here; the shared store gets it (and whatever an earlier run
    // could not send) now, or from a later `expc prov push`.
    let sent = match (&shared, &run_id, &record_failure) {
        (Some(settings), Some(_), None) => Some(send(settings, &opts.state_dir)),
        _ => None,
    };
    if args.json {
        if let Some(sent) = &sent {
            let line = match sent {
                Ok((shown, pushed)) => serde_json::json!({
                    "event": "shared_store", "store": shown, "sent": pushed.sent,
                }),
                Err(e) => serde_json::json!({ "event": "shared_store", "error": e.0 }),
            };
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        // The last line: where the run is recorded (or why it is not).
        let line = serde_json::json!({
            "event": "run_recorded",
            "run": run_id,
            "error": record_failure,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
    if !args.json {
        // Written at once, and kept by a detached run's head for `expc attach` to print.
        let mut err = Vec::new();
        for f in &summary.failed {
            let code = f
                .exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default();
            let _ = writeln!(err, "\nfailed: {}{code}: {}", f.task, f.message);
            for line in &f.stderr_tail {
                let _ = writeln!(err, "  | {line}");
            }
            if !f.log_dir.as_os_str().is_empty() {
                let _ = writeln!(err, "  logs: {}", f.log_dir.display());
            }
        }
        let _ = writeln!(
            err,
            "\n{} ran, {} cached, {} failed, {} not run, in {:.1}s",
            summary.ran,
            summary.cached,
            summary.failed.len(),
            summary.skipped + summary.not_run,
            summary.elapsed.as_secs_f64()
        );
        if !summary.final_outputs.is_empty() {
            let _ = writeln!(err, "outputs:");
            for (name, path) in summary.final_outputs.iter().take(20) {
                let _ = writeln!(err, "  {name}: {}", path.display());
            }
            if summary.final_outputs.len() > 20 {
                let _ = writeln!(
                    err,
                    "  … and {} more under {}",
                    summary.final_outputs.len() - 20,
                    opts.state_dir.join("out").display()
                );
            }
        }
        for line in super::efficiency::summary(&summary.usage) {
            let _ = writeln!(err, "{line}");
        }
        let _ = writeln!(err, "logs: {}", opts.state_dir.join("logs").display());
        for kept in &summary.kept {
            let _ = writeln!(err, "{}: {}", kept.what, kept.dir.display());
        }
        match (&run_id, &record_failure) {
            (_, Some(why)) => {
                let _ = writeln!(
                    err,
                    "provenance: not recorded in `{}`: {why}. The tasks' outputs are cached, but this run is missing from `expc runs`; check that the store can be written",
                    opts.state_dir.join(expc_prov::store::FILE).display()
                );
            }
            (Some(id), None) => {
                let _ = writeln!(
                    err,
                    "provenance: run {id} (`expc runs show {id}{}`)",
                    store_flag(&args, &opts.state_dir)
                );
            }
            _ => {}
        }
        match &sent {
            Some(Ok((shown, pushed))) => {
                let _ = writeln!(
                    err,
                    "shared store: sent {} run{} to {shown}",
                    pushed.sent.len(),
                    if pushed.sent.len() == 1 { "" } else { "s" }
                );
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    err,
                    "shared store: not sent: {e}. The run is recorded here; `expc prov push` sends it later"
                );
            }
            None => {}
        }
        if summary.interrupted {
            let _ = writeln!(err, "interrupted: run `expc run` again to resume");
        }
        let _ = std::io::stderr().lock().write_all(&err);
        if let Some(head) = &args.head {
            super::detach::write_summary(head, &err);
        }
    }
    std::mem::forget(dag);
    std::mem::forget(plan);
    std::mem::forget(program);
    // A run whose record is missing or incomplete did not do all it was asked.
    let code = u8::from(!(summary.success() && record_failure.is_none()));
    if let Some(head) = &args.head {
        super::detach::write_exit(head, code);
    }
    Ok(ExitCode::from(code))
}

/// Sends the runs of the state folder that the shared store lacks.
pub(super) fn send(
    settings: &expc_prov::shared::Settings,
    state_dir: &std::path::Path,
) -> expc_prov::store::Result<(String, expc_prov::shared::Pushed)> {
    let local = expc_prov::Store::open_read_only(state_dir)?;
    let mut shared = expc_prov::shared::Shared::connect(settings)?;
    let pushed = shared.push(&local)?;
    Ok((shared.shown.clone(), pushed))
}

pub fn why(args: WhyArgs, render: RenderOptions) -> miette::Result<ExitCode> {
    let overrides = super::program::overrides_of(&args.program)?;
    let Some((program, plan)) =
        super::program::program_and_plan(&args.file, &overrides, &args.program, render)?
    else {
        return Ok(ExitCode::from(1));
    };
    // Loops over produced lists, as the files their producers stored last make them.
    let state_dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => spec_dir(&args.file)?.join(".expc"),
    };
    let (program, plan, unknown) = super::expand::as_last_stored(program, plan, &state_dir);
    let key = match &args.task {
        None => None,
        Some(t) => {
            let found = plan.jobs.iter().find(|j| &j.key == t).or_else(|| {
                plan.jobs
                    .iter()
                    .find(|j| j.task == *t || j.task.ends_with(&format!("::{t}")))
            });
            match found {
                Some(j) => Some(j.key.clone()),
                None => {
                    let keys: Vec<&str> = plan.jobs.iter().map(|j| j.key.as_str()).collect();
                    return Err(miette!(
                        help = format!("the calls are {}", keys.join(", ")),
                        "no call `{t}` in the pipeline"
                    ));
                }
            }
        }
    };
    let dag = expc_plan::dag::build(&plan);
    let dir = spec_dir(&args.file)?;
    let opts = RunOptions {
        jobs: 1,
        local: true,
        fail_fast: false,
        state_dir: args.state_dir.clone().unwrap_or_else(|| dir.join(".expc")),
        spec_dir: dir,
        spark_master: "local[1]".into(),
        grace: Duration::from_secs(1),
        poll: Duration::from_secs(1),
        warn_pending: Duration::MAX,
        run_id: None,
        fingerprint: None,
        wait: false,
        detached: false,
        remote: expc_remote::Mode {
            offline: true,
            ..Default::default()
        },
    };
    let whys = expc_run::why::explain(&program, &plan, &dag, &opts, key.as_deref())
        .map_err(|e| miette!("{}", e.0))?;
    let mut out = std::io::stdout().lock();
    for w in &whys {
        if w.uncacheable {
            let _ = writeln!(
                out,
                "{}: will run — not cached (cache = false): it runs on every `expc run`",
                w.task
            );
        } else if w.cached {
            let _ = writeln!(
                out,
                "{}: cached — nothing it depends on changed since its last successful run",
                w.task
            );
        } else if !w.after.is_empty() {
            let _ = writeln!(
                out,
                "{}: will run — it reads {}, which will run first",
                w.task,
                expc_plan::diff::and_list(&w.after)
            );
        } else if w.never_ran {
            let _ = writeln!(out, "{}: will run — it has never succeeded", w.task);
        } else if let Some(why) = &w.unusable {
            let _ = writeln!(out, "{}: will run — {why}", w.task);
        } else if w.changes.is_empty() {
            let _ = writeln!(
                out,
                "{}: will run — its outputs are no longer in the store",
                w.task
            );
        } else {
            let _ = writeln!(out, "{}: will run — since its last successful run:", w.task);
            for c in &w.changes {
                let _ = writeln!(out, "  - {c}");
            }
        }
    }
    super::expand::say_unknown(&mut out, &plan, &unknown, key.as_deref());
    Ok(ExitCode::SUCCESS)
}

/// Lines written in batches where a batch costs nothing to wait for: the `cached` lines of
/// a rerun go out together (at least every 100 ms), every other event at once, so a
/// reader never waits behind a long task for what already happened.
struct Batched<W: Write> {
    out: std::io::BufWriter<W>,
    flushed: std::time::Instant,
}

impl<W: Write> Batched<W> {
    fn new(out: W) -> Self {
        Batched {
            out: std::io::BufWriter::with_capacity(64 * 1024, out),
            flushed: std::time::Instant::now(),
        }
    }

    /// After the lines of one event: writes them out unless they may wait.
    fn done(&mut self, may_wait: bool) {
        if !may_wait || self.due() {
            let _ = self.out.flush();
            self.flushed = std::time::Instant::now();
        }
    }

    /// Whether lines that may wait are due.
    fn due(&self) -> bool {
        self.flushed.elapsed() >= Duration::from_millis(100)
    }
}

impl<W: Write> Drop for Batched<W> {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// How a run's events are shown: JSON lines (`--json`), a progress bar on a terminal,
/// plain lines otherwise.
pub(super) fn shown_sink(json: bool) -> Box<dyn Sink> {
    if json {
        Box::new(JsonSink::new(std::io::stdout()))
    } else if std::io::stderr().is_terminal() {
        Box::new(BarSink::new())
    } else {
        Box::new(PlainSink::new())
    }
}

/// One JSON object per event and line.
pub(super) struct JsonSink<W: Write>(Batched<W>);

impl<W: Write> JsonSink<W> {
    pub(super) fn new(out: W) -> Self {
        JsonSink(Batched::new(out))
    }
}

impl<W: Write> Sink for JsonSink<W> {
    fn event(&mut self, event: Event) {
        let may_wait = matches!(event, Event::TaskCached { .. });
        let _ = serde_json::to_writer(&mut self.0.out, &event);
        let _ = writeln!(self.0.out);
        self.0.done(may_wait);
    }
}

/// Plain lines, for a log. Consecutive cached instances of one sweep are one line
/// (`cached  train[0-99]`): a rerun of a sweep of 10,000 writes a line, not 10,000.
struct PlainSink {
    out: Batched<std::io::Stderr>,
    cached: Option<CachedRun>,
}

/// Cached instances not written yet: `task`, or `task[first-last]`.
struct CachedRun {
    task: String,
    indices: Option<(u64, u64)>,
}

impl CachedRun {
    fn of(name: String) -> CachedRun {
        match split_instance(&name) {
            Some((task, i)) => CachedRun {
                task: task.to_owned(),
                indices: Some((i, i)),
            },
            None => CachedRun {
                task: name,
                indices: None,
            },
        }
    }

    /// Takes in the next cached instance when it continues the run.
    fn extend(&mut self, name: &str) -> bool {
        match (split_instance(name), &mut self.indices) {
            (Some((task, i)), Some((_, last))) if task == self.task && i == *last + 1 => {
                *last = i;
                true
            }
            _ => false,
        }
    }

    fn write(&self, out: &mut impl Write) {
        let _ = match self.indices {
            None => writeln!(out, "cached  {}", self.task),
            Some((a, b)) if a == b => writeln!(out, "cached  {}[{a}]", self.task),
            Some((a, b)) => writeln!(out, "cached  {}[{a}-{b}]", self.task),
        };
    }
}

/// `train[3]` → (`train`, 3).
fn split_instance(name: &str) -> Option<(&str, u64)> {
    let (task, rest) = name.strip_suffix(']')?.rsplit_once('[')?;
    Some((task, rest.parse().ok()?))
}

impl PlainSink {
    fn new() -> Self {
        PlainSink {
            out: Batched::new(std::io::stderr()),
            cached: None,
        }
    }

    /// Writes the cached instances not written yet.
    fn write_cached(&mut self) {
        if let Some(run) = self.cached.take() {
            run.write(&mut self.out.out);
        }
    }
}

impl Drop for PlainSink {
    fn drop(&mut self) {
        self.write_cached();
    }
}

impl Sink for PlainSink {
    fn event(&mut self, event: Event) {
        if let Event::TaskCached { task } = event {
            if !self.cached.as_mut().is_some_and(|run| run.extend(&task)) {
                self.write_cached();
                self.cached = Some(CachedRun::of(task));
            }
            // A run of cached instances is written when it ends, or when lines are due.
            if self.out.due() {
                self.write_cached();
                self.out.done(false);
            }
            return;
        }
        self.write_cached();
        let line = match event {
            Event::TaskFinished {
                task,
                seconds,
                attempts,
            } => {
                let retry = if attempts > 1 {
                    format!(", attempt {attempts}")
                } else {
                    String::new()
                };
                format!("done    {task} ({seconds:.1}s{retry})")
            }
            Event::TaskFailed { task, message, .. } => format!("FAILED  {task}: {message}"),
            Event::TaskSkipped { task } => format!("skipped {task}: an input failed"),
            Event::Note { message } => format!("note: {message}"),
            _ => {
                self.out.done(false);
                return;
            }
        };
        let _ = writeln!(self.out.out, "{line}");
        self.out.done(false);
    }
}

/// A progress bar on a terminal.
struct BarSink {
    bar: indicatif::ProgressBar,
    done: u64,
    cached: u64,
    failed: u64,
    running: u64,
}

impl BarSink {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self {
            bar,
            done: 0,
            cached: 0,
            failed: 0,
            running: 0,
        }
    }

    fn update(&self) {
        self.bar.set_message(format!(
            "done {} · running {} · cached {} · failed {}",
            self.done, self.running, self.cached, self.failed
        ));
    }
}

impl Sink for BarSink {
    fn event(&mut self, event: Event) {
        match event {
            Event::RunStarted { instances } => self.bar.set_length(instances),
            Event::TaskStarted { .. } => self.running += 1,
            Event::TaskFinished { .. } => {
                self.running = self.running.saturating_sub(1);
                self.done += 1;
                self.bar.inc(1);
            }
            Event::TaskCached { .. } => {
                self.cached += 1;
                self.bar.inc(1);
            }
            Event::TaskFailed { task, message, .. } => {
                self.running = self.running.saturating_sub(1);
                self.failed += 1;
                self.bar.inc(1);
                self.bar.println(format!("FAILED  {task}: {message}"));
            }
            Event::TaskSkipped { .. } => self.bar.inc(1),
            Event::Note { message } => self.bar.println(format!("note: {message}")),
            Event::RunFinished { .. } => self.bar.finish_and_clear(),
        }
        self.update();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Consecutive cached instances of a sweep make one line; anything else ends it.
    #[test]
    fn cached_instances_of_a_sweep_are_one_line() {
        let names = [
            "o[0]", "o[1]", "o[2]", "o[4]", "g", "t[x]", "o[5]", "p[7]", "p[8]",
        ];
        let mut lines = Vec::new();
        let mut run: Option<CachedRun> = None;
        for name in names {
            if !run.as_mut().is_some_and(|r| r.extend(name)) {
                if let Some(r) = run.take() {
                    r.write(&mut lines);
                }
                run = Some(CachedRun::of(name.to_owned()));
            }
        }
        if let Some(r) = run {
            r.write(&mut lines);
        }
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            "cached  o[0-2]\ncached  o[4]\ncached  g\ncached  t[x]\ncached  o[5]\ncached  p[7-8]\n"
        );
    }
}
