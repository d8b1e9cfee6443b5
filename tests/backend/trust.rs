//! What expc guarantees about its state folder, through the real binary (see
//! `docs/guarantees.md`): the store never serves bytes other than those it stored (damaged
//! objects, a task changing what it reads, data edited in place), one run per state folder
//! at a time, a read-only `.expc` readable, and no file outside expc's folders changed.
//! The workloads are in `trust/`.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use expc_tests::Suite;
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "damaged_objects_are_found_and_their_instances_run_again",
        damaged_objects_are_found_and_their_instances_run_again,
    );
    suite.test(
        "a_task_that_changes_its_input_fails_and_its_producer_runs_again",
        a_task_that_changes_its_input_fails_and_its_producer_runs_again,
    );
    suite.test(
        "data_edited_in_place_with_its_mtime_put_back_is_found",
        data_edited_in_place_with_its_mtime_put_back_is_found,
    );
    suite.test(
        "verify_finds_and_evicts_damaged_objects",
        verify_finds_and_evicts_damaged_objects,
    );
    suite.test(
        "gc_removes_what_no_kept_run_needs_and_nothing_else",
        gc_removes_what_no_kept_run_needs_and_nothing_else,
    );
    suite.test(
        "a_second_run_in_one_folder_refuses_or_waits",
        a_second_run_in_one_folder_refuses_or_waits,
    );
    suite.test(
        "a_run_whose_provenance_is_not_recorded_exits_non_zero",
        a_run_whose_provenance_is_not_recorded_exits_non_zero,
    );
    suite.test(
        "a_read_only_state_folder_can_be_read",
        a_read_only_state_folder_can_be_read,
    );
    suite.test(
        "links_in_outputs_leave_the_files_outside_as_they_were",
        links_in_outputs_leave_the_files_outside_as_they_were,
    );
    suite.test(
        "a_file_output_that_is_a_symbolic_link_is_refused",
        a_file_output_that_is_a_symbolic_link_is_refused,
    );
    suite.test(
        "tables_are_checked_against_their_schema_and_outputs_against_their_kind",
        tables_are_checked_against_their_schema_and_outputs_against_their_kind,
    );
}

/// A shipped table with a wrong header or cell stops the run before anything runs; a
/// produced one with a wrong cell fails its instance with the row, column and type; a
/// directory where a `File` output is declared fails its instance; a good table passes.
fn tables_are_checked_against_their_schema_and_outputs_against_their_kind() {
    let p = project("tables");
    let good =
        "station,time,mm,quality\na,2024-05-01T10:00:00Z,1.5,3\nb,2024-05-01T11:00:00Z,0.0,\n";
    std::fs::write(p.dir.join("readings.csv"), good).unwrap();
    ok(&p.run("tables.exp", &[]));
    assert!(p.out("c/out.tsv").is_file());

    // A header out of order: refused before anything runs.
    std::fs::write(
        p.dir.join("readings.csv"),
        "station,mm,time,quality\na,1.5,2024-05-01,3\n",
    )
    .unwrap();
    let out = p.run("tables.exp", &[]);
    let err = one_line(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the data `readings`"), "{err}");
    assert!(
        err.contains("has the header `station`, `mm`, `time`, `quality`"),
        "{err}"
    );
    assert!(tasks(&out, "task_started").is_empty(), "{}", text(&out));

    // A cell of the wrong type in a shipped table names its row and column.
    std::fs::write(p.dir.join("readings.csv"), good.replace("0.0,", "dry,")).unwrap();
    let err = one_line(&p.run("tables.exp", &[]).stderr);
    assert!(
        err.contains("row 2, column 3 (`mm`): expected Float, found \"dry\""),
        "{err}"
    );

    // A produced table with a wrong cell fails its instance, and what reads it is not run.
    std::fs::write(p.dir.join("readings.csv"), good).unwrap();
    let out = p.run("tables.exp", &["-p", "bad=wet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        // (In JSON events: the quotes around the cell are escaped.)
        all.contains("its output `out` (`out.tsv`, `Table<Tsv, Reading>`) row 2, column 3 (`mm`): expected Float, found \\\"wet\\\""),
        "{all}"
    );
    assert!(tasks(&out, "task_failed").contains("c"), "{all}");
    assert!(!tasks(&out, "task_started").contains("folder"), "{all}");

    // A directory where a file is declared.
    let out = p.run("tables.exp", &["-p", "as_dir=true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(
            "its output `note` (`note.txt`, `File<Text>`) is a directory, but its type is a file"
        ),
        "{all}"
    );
}

/// A copy of `tests/trust/` in a fresh temporary folder, removed when dropped.
struct Project {
    dir: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        expc_tests::remove_tree(&self.dir);
    }
}

fn project(name: &str) -> Project {
    let dir = expc_tests::temp_path("trust", name);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in expc_tests::read_tree(&expc_tests::root().join("tests/trust")) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(dir.join("seed.txt"), "seed\n").unwrap();
    Project { dir }
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(expc_tests::expc());
        c.args(args).current_dir(&self.dir).env("NO_COLOR", "1");
        c
    }

    fn expc(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `expc run --local --json SPEC ARGS…`.
    fn run(&self, spec: &str, args: &[&str]) -> Output {
        let mut all = vec!["run", "--local", "--json", spec];
        all.extend_from_slice(args);
        self.expc(&all)
    }

    fn spawn_run(&self, spec: &str, args: &[&str]) -> Child {
        let mut all = vec!["run", "--local", "--json", spec];
        all.extend_from_slice(args);
        self.command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn state(&self) -> PathBuf {
        self.dir.join(".expc")
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.state().join("out").join(rel)
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An error as one line: the lines miette wraps at 80 columns joined, its frame left out.
fn one_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| l.trim().trim_start_matches(['│', '×']).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn ok(out: &Output) {
    assert!(out.status.success(), "expc failed:\n{}", text(out));
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The tasks of an event kind.
fn tasks(out: &Output, kind: &str) -> BTreeSet<String> {
    events(out)
        .iter()
        .filter(|e| e["event"] == kind)
        .filter_map(|e| e["task"].as_str().map(str::to_owned))
        .collect()
}

/// The notes of a run, one string each.
fn notes(out: &Output) -> Vec<String> {
    events(out)
        .iter()
        .filter(|e| e["event"] == "note")
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Opens a file of the store for writing, whatever its mode (objects are read-only; the
/// tests run as root in CI, where that stops nothing, and as a user elsewhere).
fn writable(path: &Path) -> std::fs::File {
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o200)).unwrap();
    std::fs::OpenOptions::new().write(true).open(path).unwrap()
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Sets a file's modification time back, as `touch -d` or `rsync -t` would.
fn set_mtime(path: &Path, time: SystemTime) {
    writable(path)
        .set_times(std::fs::FileTimes::new().set_modified(time))
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// The store cannot serve wrong bytes.
// ---------------------------------------------------------------------------------------

/// An object truncated, one whose bytes were changed in place keeping its size and mtime,
/// and one appended to: the next run runs exactly the instances whose outputs they were,
/// says why, and the instances downstream read good bytes. `expc why` names them first.
fn damaged_objects_are_found_and_their_instances_run_again() {
    let p = project("damage");
    ok(&p.run("chain.exp", &[]));
    let first = p.out("f/first.txt");
    let good_first = std::fs::read(&first).unwrap();
    // `f`: one byte flipped in place, size kept, mtime put back.
    let before = mtime(&first);
    {
        use std::os::unix::fs::FileExt;
        writable(&first).write_all_at(b"S", 0).unwrap();
    }
    set_mtime(&first, before);
    assert_eq!(
        std::fs::metadata(&first).unwrap().len(),
        good_first.len() as u64
    );
    // `b[1]`: truncated; `b[2]`: appended to.
    writable(&p.out("b/1/branch.txt")).set_len(2).unwrap();
    {
        use std::io::Write;
        let mut f = writable(&p.out("b/2/branch.txt"));
        use std::io::Seek;
        f.seek(std::io::SeekFrom::End(0)).unwrap();
        f.write_all(b"more\n").unwrap();
    }

    let why = p.expc(&["why", "chain.exp"]);
    ok(&why);
    let why = String::from_utf8_lossy(&why.stdout).into_owned();
    assert!(
        why.contains("f: will run — its cached output `out` was changed after it was stored ("),
        "{why}"
    );
    // What reads `f` will run after it, which `expc why` says first.
    assert!(why.contains("b[1]: will run — it reads f"), "{why}");

    let again = p.run("chain.exp", &[]);
    ok(&again);
    assert_eq!(tasks(&again, "task_started"), set(&["f", "b[1]", "b[2]"]));
    assert_eq!(tasks(&again, "task_cached"), set(&["b[0]", "g"]));
    let notes = notes(&again);
    for name in ["f", "b[1]", "b[2]"] {
        assert!(
            notes.iter().any(|n| n.starts_with(&format!(
                "{name}: its cached output `out` was changed after it was stored ("
            )) && n.ends_with("; running it again")),
            "{notes:?}"
        );
    }
    // Good bytes everywhere: the flipped first line never reached a branch.
    assert_eq!(std::fs::read(&first).unwrap(), good_first);
    for i in 0..3 {
        assert_eq!(
            std::fs::read_to_string(p.out(&format!("b/{i}/branch.txt"))).unwrap(),
            format!("seed\nbranch {i}\n")
        );
    }
    // And now nothing is left to do.
    let third = p.run("chain.exp", &[]);
    ok(&third);
    assert!(tasks(&third, "task_started").is_empty(), "{}", text(&third));
}

/// A task that appends to its input (an upstream output, handed over as a link to the
/// store's object) fails saying so; the damaged object is evicted, so the task that made
/// it runs again next time, from good bytes.
fn a_task_that_changes_its_input_fails_and_its_producer_runs_again() {
    let p = project("tamper");
    let out = p.run("tamper.exp", &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let failed: Vec<Value> = events(&out)
        .into_iter()
        .filter(|e| e["event"] == "task_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", text(&out));
    assert_eq!(failed[0]["task"], "t");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("changed its input `src` at ")
            && message.contains("first.txt")
            && message
                .contains(", which it must only read: the store object it damaged was evicted"),
        "{message}"
    );
    assert!(!p.out("t/copy.txt").exists());
    // `expc why` names the damage: what made the object runs again.
    let why = p.expc(&["why", "tamper.exp", "f"]);
    ok(&why);
    let why = String::from_utf8_lossy(&why.stdout).into_owned();
    assert!(
        why.contains("f: will run — its cached output `out` is no longer in the store"),
        "{why}"
    );

    let again = p.run("tamper.exp", &[]);
    assert!(
        tasks(&again, "task_started").contains("f"),
        "{}",
        text(&again)
    );
    assert!(
        notes(&again)
            .iter()
            .any(|n| n.starts_with("f: its cached output `out` is no longer in the store")),
        "{}",
        text(&again)
    );
}

/// Declared data edited in place keeping its size, inode and mtime (`rsync --inplace -t`,
/// a restore) is hashed again, because its ctime moved: what reads it runs again, and
/// `expc why` says the data changed.
fn data_edited_in_place_with_its_mtime_put_back_is_found() {
    let p = project("inplace");
    // Older than the racily-clean window, so that only the ctime can tell.
    std::thread::sleep(Duration::from_millis(2100));
    ok(&p.run("chain.exp", &[]));
    let seed = p.dir.join("seed.txt");
    let (before, ino) = (mtime(&seed), std::fs::metadata(&seed).unwrap().ino());
    {
        use std::os::unix::fs::FileExt;
        writable(&seed).write_all_at(b"SEED", 0).unwrap();
    }
    set_mtime(&seed, before);
    let meta = std::fs::metadata(&seed).unwrap();
    assert_eq!((meta.len(), meta.ino(), mtime(&seed)), (5, ino, before));

    let why = p.expc(&["why", "chain.exp", "f"]);
    ok(&why);
    let why = String::from_utf8_lossy(&why.stdout).into_owned();
    assert!(
        why.contains("f: will run — since its last successful run:"),
        "{why}"
    );
    assert!(
        why.contains("inputs: `src`, the file `seed.txt`, was `<content "),
        "{why}"
    );

    let again = p.run("chain.exp", &[]);
    ok(&again);
    assert_eq!(
        tasks(&again, "task_started"),
        set(&["f", "b[0]", "b[1]", "b[2]", "g"])
    );
    assert_eq!(
        std::fs::read_to_string(p.out("b/0/branch.txt")).unwrap(),
        "SEED\nbranch 0\n"
    );
}

/// `expc verify` hashes every object again: it names a damaged one with the instance that
/// made it and exits 1; `--dry-run` evicts nothing, without it the object is evicted and
/// the next run makes it again.
fn verify_finds_and_evicts_damaged_objects() {
    let p = project("verify");
    ok(&p.run("chain.exp", &[]));
    let clean = p.expc(&["verify", "chain.exp"]);
    ok(&clean);
    assert!(text(&clean).contains("no damage"), "{}", text(&clean));

    writable(&p.out("b/1/branch.txt")).set_len(1).unwrap();
    let objects = |p: &Project| expc_tests::read_tree(&p.state().join("objects")).len();
    let stored = objects(&p);
    let dry = p.expc(&["verify", "--dry-run", "chain.exp"]);
    assert_eq!(dry.status.code(), Some(1), "{}", text(&dry));
    let report = text(&dry);
    assert!(report.contains("damaged"), "{report}");
    assert!(report.contains("output `out` of `b` [1]"), "{report}");
    assert!(report.contains("nothing was evicted"), "{report}");
    assert_eq!(objects(&p), stored);

    let real = p.expc(&["verify", "--state-dir", ".expc"]);
    assert_eq!(real.status.code(), Some(1), "{}", text(&real));
    assert!(text(&real).contains("evicted"), "{}", text(&real));
    assert_eq!(objects(&p), stored - 1);
    let after = p.expc(&["verify", "chain.exp"]);
    ok(&after);

    let again = p.run("chain.exp", &[]);
    ok(&again);
    assert_eq!(tasks(&again, "task_started"), set(&["b[1]"]));
    assert_eq!(
        std::fs::read_to_string(p.out("b/1/branch.txt")).unwrap(),
        "seed\nbranch 1\n"
    );
}

/// Two runs on different data, then `expc gc --keep-last 1`: the older run's provenance,
/// cache entries and objects go (dry run first: nothing moves), the newer run's stay (a
/// rerun is all cached, `verify` finds nothing dangling), a cluster run folder no journal
/// names goes, and the older data runs again. Without a retention, nothing a recorded run
/// used is removed.
fn gc_removes_what_no_kept_run_needs_and_nothing_else() {
    let p = project("gc");
    ok(&p.run("chain.exp", &[]));
    std::fs::write(p.dir.join("seed.txt"), "seed two\n").unwrap();
    ok(&p.run("chain.exp", &[]));
    let stale = p.state().join("slurm/run-1-1/run");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("jobs.tsv"), "x\n").unwrap();
    let objects = |p: &Project| expc_tests::read_tree(&p.state().join("objects")).len();
    let runs = |p: &Project| {
        let out = p.expc(&["runs", "--format", "json", "--state-dir", ".expc"]);
        ok(&out);
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .len()
    };
    let stored = objects(&p);
    assert_eq!(runs(&p), 2);

    let dry = p.expc(&["gc", "chain.exp", "--keep-last", "1", "--dry-run"]);
    ok(&dry);
    let report = text(&dry);
    assert!(
        report.contains("provenance: 1 runs kept, 1 to remove"),
        "{report}"
    );
    assert!(report.contains("objects: 5 kept, 5 to remove"), "{report}");
    assert!(report.contains("run folders: 1 to remove"), "{report}");
    assert!(report.contains("nothing was removed"), "{report}");
    assert_eq!((objects(&p), runs(&p)), (stored, 2));
    assert!(stale.is_dir());

    let real = p.expc(&["gc", "chain.exp", "--keep-last", "1"]);
    ok(&real);
    let report = text(&real);
    assert!(
        report.contains("provenance: 1 runs kept, 1 removed"),
        "{report}"
    );
    assert!(
        report.contains("cache: 5 entries kept, 5 dropped"),
        "{report}"
    );
    assert_eq!((objects(&p), runs(&p)), (stored - 5, 1));
    assert!(!stale.exists());
    ok(&p.expc(&["verify", "chain.exp"]));

    // What the kept run made is still served; what only the removed one used runs again.
    let again = p.run("chain.exp", &[]);
    ok(&again);
    assert!(tasks(&again, "task_started").is_empty(), "{}", text(&again));
    std::fs::write(p.dir.join("seed.txt"), "seed\n").unwrap();
    let old = p.run("chain.exp", &[]);
    ok(&old);
    assert_eq!(tasks(&old, "task_started").len(), 5, "{}", text(&old));
    assert_eq!(
        std::fs::read_to_string(p.out("b/1/branch.txt")).unwrap(),
        "seed\nbranch 1\n"
    );

    // No retention: every recorded run keeps what it used.
    let all = p.expc(&["gc", "chain.exp"]);
    ok(&all);
    let report = text(&all);
    assert!(report.contains("objects: 10 kept, 0 removed"), "{report}");
    assert!(
        report.contains("provenance: 3 runs kept, 0 removed"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------
// One run per state folder at a time.
// ---------------------------------------------------------------------------------------

/// Waits until the state folder's lock names `pid`.
fn wait_for_lock(p: &Project, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = std::fs::read_to_string(p.state().join("lock")).unwrap_or_default();
        if held.lines().next() == Some(pid.to_string().as_str()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A second `expc run` in a folder another is using refuses at once, naming the first
/// (pid, start, command), and breaks nothing of it; with `--wait` it waits and then runs.
fn a_second_run_in_one_folder_refuses_or_waits() {
    let p = project("lock");
    let first = p.spawn_run("chain.exp", &["-p", "pause=3"]);
    wait_for_lock(&p, first.id());
    let started = Instant::now();
    let second = p.run("chain.exp", &[]);
    assert!(started.elapsed() < Duration::from_secs(2), "it waited");
    assert!(!second.status.success());
    let err = one_line(&second.stderr);
    assert!(
        err.contains(&format!("another `expc run` (pid {}, started ", first.id())),
        "{err}"
    );
    assert!(err.contains("pause=3`) is using `"), "{err}");
    assert!(
        err.contains("wait for it to finish, or run with `--wait`"),
        "{err}"
    );
    let first = first.wait_with_output().unwrap();
    ok(&first);
    assert_eq!(tasks(&first, "task_finished").len(), 5, "{}", text(&first));

    // Waiting: the second runs once the first is done, and finds it all cached.
    let first = p.spawn_run("chain.exp", &["-p", "pause=2"]);
    wait_for_lock(&p, first.id());
    let second = p.run("chain.exp", &["-p", "pause=2", "--wait"]);
    ok(&second);
    assert!(
        notes(&second)
            .iter()
            .any(|n| n.starts_with("waiting for another `expc run`")),
        "{}",
        text(&second)
    );
    ok(&first.wait_with_output().unwrap());
    assert!(
        tasks(&second, "task_started").is_empty(),
        "{}",
        text(&second)
    );
    assert_eq!(tasks(&second, "task_cached").len(), 5);
}

/// A run whose provenance cannot be recorded says so and exits non-zero; its tasks still
/// ran and are cached.
fn a_run_whose_provenance_is_not_recorded_exits_non_zero() {
    let p = project("unrecorded");
    std::fs::create_dir_all(p.state().join("provenance.db")).unwrap();
    let out = p.expc(&["run", "--local", "chain.exp"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("provenance: not recorded in `"), "{err}");
    assert!(err.contains("5 ran, 0 cached, 0 failed"), "{err}");
    let json = p.run("chain.exp", &[]);
    assert_eq!(json.status.code(), Some(1));
    let last = events(&json).pop().unwrap();
    assert_eq!(last["event"], "run_recorded");
    assert!(last["error"].is_string(), "{last}");
}

// ---------------------------------------------------------------------------------------
// A read-only `.expc` works for reading.
// ---------------------------------------------------------------------------------------

/// Runs `expc` so that it cannot write the project: as `nobody` when the tests run as root
/// (root ignores permission bits), else with the project made read-only by `chmod`.
struct ReadOnly<'a> {
    p: &'a Project,
    as_nobody: bool,
}

impl<'a> ReadOnly<'a> {
    fn new(p: &'a Project) -> Self {
        let as_nobody = nix_is_root();
        if !as_nobody {
            let status = Command::new("chmod")
                .args(["-R", "a-w"])
                .arg(&p.dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        ReadOnly { p, as_nobody }
    }

    fn expc(&self, args: &[&str]) -> Output {
        let mut c = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(expc_tests::expc());
            c
        } else {
            Command::new(expc_tests::expc())
        };
        c.args(args)
            .current_dir(&self.p.dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }
}

impl Drop for ReadOnly<'_> {
    fn drop(&mut self) {
        if !self.as_nobody {
            let _ = Command::new("chmod")
                .args(["-R", "u+w"])
                .arg(&self.p.dir)
                .status();
        }
    }
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Every file under a folder with its bytes and mode.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                out.push((e.path(), bytes, meta.mode()));
            }
        }
    }
    out.sort();
    out
}

/// The reading commands work on a state folder they cannot write — one left by a run
/// that was killed (its write-ahead log and shared-memory file still there, the run
/// still `running`), and one closed cleanly (no `-shm`, so SQLite needs `immutable`) —
/// and change nothing in it.
fn a_read_only_state_folder_can_be_read() {
    let p = project("readonly");
    ok(&p.run("chain.exp", &[]));
    ok(&p.run("chain.exp", &["-p", "pause=0.1"]));
    let reports = expc_tests::temp_path("trust", "readonly-out");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::set_permissions(&reports, std::fs::Permissions::from_mode(0o777)).unwrap();
    let read_all = |ro: &ReadOnly<'_>| {
        let checks: Vec<(Vec<String>, &str)> = vec![
            (vec!["runs".into()], "succeeded"),
            (vec!["runs".into(), "show".into(), "latest".into()], "run "),
            (
                vec!["query".into(), "SELECT COUNT(*) AS n FROM runs".into()],
                "n",
            ),
            (vec!["models".into()], ""),
            (
                vec![
                    "report".into(),
                    "-o".into(),
                    reports.join("r.html").to_string_lossy().into_owned(),
                ],
                "",
            ),
            (
                vec![
                    "prov".into(),
                    "export".into(),
                    "latest".into(),
                    "--format".into(),
                    "prov-json".into(),
                    "-o".into(),
                    reports.join("prov").to_string_lossy().into_owned(),
                ],
                "",
            ),
        ];
        for (args, expect) in checks {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = ro.expc(&args);
            assert!(out.status.success(), "expc {args:?}: {}", text(&out));
            assert!(text(&out).contains(expect), "expc {args:?}: {}", text(&out));
        }
        let ids = ro.expc(&[
            "query",
            "--format",
            "json",
            "SELECT id FROM runs ORDER BY id",
        ]);
        let ids: Value = serde_json::from_slice(&ids.stdout).unwrap();
        let (a, b) = (
            ids[0]["id"].as_str().unwrap(),
            ids[1]["id"].as_str().unwrap(),
        );
        let compare = ro.expc(&["runs", "compare", a, b]);
        assert!(compare.status.success(), "{}", text(&compare));
    };
    // Closed cleanly: no `-wal`, no `-shm`.
    assert!(!p.state().join("provenance.db-shm").exists());
    let before = snapshot(&p.state());
    {
        let ro = ReadOnly::new(&p);
        read_all(&ro);
    }
    assert_eq!(snapshot(&p.state()), before, "a reading command wrote");

    // Killed mid-run: the log and its index are left, the run is `running`.
    let mut killed = p.spawn_run("chain.exp", &["-p", "pause=30"]);
    wait_for_lock(&p, killed.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.state().join("provenance.db-shm").exists() {
        assert!(Instant::now() < deadline, "the run never opened its store");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    // The task's process group goes with it: a killed expc leaves its tasks running.
    let tasks = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", killed.id()))
        .unwrap_or_default();
    killed.kill().unwrap();
    killed.wait().unwrap();
    for pid in tasks.split_whitespace() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
    }
    let before = snapshot(&p.state());
    {
        let ro = ReadOnly::new(&p);
        read_all(&ro);
        let runs = ro.expc(&["runs", "--format", "json"]);
        let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
        assert_eq!(runs.as_array().unwrap().len(), 3, "{runs}");
        assert!(
            runs.as_array()
                .unwrap()
                .iter()
                .any(|r| r["status"] == "interrupted"),
            "{runs}"
        );
    }
    assert_eq!(snapshot(&p.state()), before, "a reading command wrote");
    expc_tests::remove_tree(&reports);
}

// ---------------------------------------------------------------------------------------
// Writes stay where they belong.
// ---------------------------------------------------------------------------------------

/// A shared folder outside the project: `data.csv` and `lib/module.py`, writable.
fn shared_folder(name: &str) -> PathBuf {
    let shared = expc_tests::temp_path("trust", name);
    std::fs::create_dir_all(shared.join("lib")).unwrap();
    std::fs::write(shared.join("data.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(shared.join("lib/module.py"), "x = 1\n").unwrap();
    for f in ["data.csv", "lib/module.py"] {
        std::fs::set_permissions(shared.join(f), std::fs::Permissions::from_mode(0o664)).unwrap();
    }
    shared
}

/// A `Dir` output holding a symbolic link to a shared folder and a hard link to a shared
/// file, and a `File` output that is a hard link to it: each stored, the link as a link
/// and the hard-linked file as a copy, and nothing of the shared folder changed.
fn links_in_outputs_leave_the_files_outside_as_they_were() {
    let p = project("outside");
    let shared = shared_folder("outside-shared");
    let before = snapshot(&shared);
    let arg = format!("shared={}", shared.display());
    let out = p.run("outside.exp", &["-p", &arg]);
    ok(&out);
    assert_eq!(
        snapshot(&shared),
        before,
        "expc changed files outside its folders"
    );
    // The link is stored as the link.
    let linked = p.out("v/env/linked");
    assert!(
        std::fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_link(&linked).unwrap(), shared);
    // The hard-linked files are copies, not the shared file.
    let data_ino = std::fs::metadata(shared.join("data.csv")).unwrap().ino();
    for stored in [p.out("v/env/data.csv"), p.out("h/out.csv")] {
        let meta = std::fs::metadata(&stored).unwrap();
        assert_ne!(
            meta.ino(),
            data_ino,
            "{} is the shared file",
            stored.display()
        );
        assert_eq!(std::fs::read(&stored).unwrap(), b"a,b\n1,2\n");
    }
    // Rerun: cached, and still nothing changed outside.
    let again = p.run("outside.exp", &["-p", &arg]);
    ok(&again);
    assert_eq!(tasks(&again, "task_cached"), set(&["v", "h"]));
    assert_eq!(snapshot(&shared), before);
    expc_tests::remove_tree(&shared);
}

/// A `File` output that is a symbolic link is refused with what to do, and the file it
/// points to is left as it was.
fn a_file_output_that_is_a_symbolic_link_is_refused() {
    let p = project("symlink");
    let shared = shared_folder("symlink-shared");
    let before = snapshot(&shared);
    let arg = format!("shared={}", shared.display());
    let out = p.run("symlink.exp", &["-p", &arg]);
    assert!(!out.status.success(), "{}", text(&out));
    let failed = events(&out)
        .into_iter()
        .find(|e| e["event"] == "task_failed")
        .unwrap();
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("its output `out` (`out.csv`) is a symbolic link to `")
            && message.contains("data.csv")
            && message.contains("cp -L"),
        "{message}"
    );
    assert_eq!(
        snapshot(&shared),
        before,
        "expc changed files outside its folders"
    );
    expc_tests::remove_tree(&shared);
}
