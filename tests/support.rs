//! Shared helpers of expc's test suites: the harness (one named test per case), the rule
//! for tests that need an engine, where fixtures live, scratch folders, and how to run the
//! real binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/engine.rs"]
pub mod engine;
#[path = "support/harness.rs"]
pub mod harness;
#[path = "support/postgres.rs"]
pub mod postgres;
#[path = "support/remote.rs"]
pub mod remote;

pub use engine::Engine;
pub use harness::Suite;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Every file under `dir` (relative to the root) with the given extension, sorted.
pub fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    files_in(&root().join(dir), ext)
}

/// The examples' specs (`examples/NAME/NAME.exp`), relative to the root, sorted; with
/// `declaring`, only those whose text holds it (`"= Slurm {"`: a resource of that kind).
pub fn example_specs(declaring: Option<&str>) -> Vec<String> {
    files("examples", "exp")
        .into_iter()
        .filter(|p| {
            p.parent()
                .and_then(Path::parent)
                .is_some_and(|d| d.ends_with("examples"))
        })
        .filter(|p| declaring.is_none_or(|d| std::fs::read_to_string(p).unwrap().contains(d)))
        // A spec that chooses models from the registry is planned and built only where a
        // run has registered them: the registry example's run test does that.
        .filter(|p| !std::fs::read_to_string(p).unwrap().contains("= registry"))
        .map(|p| relative(&p))
        .collect()
}

/// Every file under `dir`, by its path relative to `dir` (with `/`), and its bytes.
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The folder of this test binary's run, `expc-tests-PID` in the temporary folder: the
/// working directory of the tests, and where their scratch folders are.
pub fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| std::env::temp_dir().join(format!("expc-tests-{}", std::process::id())))
}

/// A path for one test's scratch folder, `SUITE-NAME-N` under [`scratch_root`], with
/// nothing there: unique in the run, so tests running at once never share one.
pub fn temp_path(suite: &str, name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = scratch_root().join(format!("{suite}-{name}-{n}"));
    remove_tree(&dir);
    dir
}

/// A copy of the folder `from` at `to`, without the state a run of it left there
/// (`.expc/`): what a test runs an example or a fixture in.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != ".expc" {
                copy_dir(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A copy of the repository folder `from` (without run state) made once per test binary
/// at the same place in a mirror of the checkout under [`scratch_root`], for the tests
/// that run its specs without changing its files: what they run reads this copy, never
/// the checkout. A spec that reads a sibling folder (`../run/step.py`) needs that folder
/// copied too.
pub fn shared_copy(from: &str) -> PathBuf {
    static COPIED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut copied = COPIED.lock().unwrap_or_else(|e| e.into_inner());
    let to = scratch_root().join("checkout").join(from);
    if !copied.iter().any(|c| c == from) {
        copy_dir(&root().join(from), &to);
        copied.push(from.to_owned());
    }
    to
}

/// A fresh scratch folder holding a copy of the repository folder `from` (without run
/// state): a project for a test to run expc in.
pub fn copy_of(suite: &str, name: &str, from: &str) -> PathBuf {
    let dir = temp_path(suite, name);
    copy_dir(&root().join(from), &dir);
    dir
}

/// Every file under an absolute `dir` with the given extension, sorted; folders whose
/// name starts with `.` (a run's `.expc/`) are not entered.
pub fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !e.file_name().to_string_lossy().starts_with('.') {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The files directly in `dir` (relative to the root) with the given extension, sorted,
/// each with the snapshot suffix insta's `glob!` gives it: its name, or none when it is
/// the only one.
pub fn glob_cases(dir: &str, ext: &str) -> Vec<(PathBuf, Option<String>)> {
    let files: Vec<PathBuf> = files(dir, ext)
        .into_iter()
        .filter(|p| p.parent() == Some(&root().join(dir)))
        .collect();
    let alone = files.len() == 1;
    files
        .into_iter()
        .map(|p| {
            let suffix = (!alone).then(|| p.file_name().unwrap().to_string_lossy().into_owned());
            (p, suffix)
        })
        .collect()
}

/// The file name without its extension: the name of a fixture's test case.
pub fn stem(path: impl AsRef<Path>) -> String {
    path.as_ref()
        .file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// Every `.exp` file of the examples and the standard library.
pub fn corpus() -> Vec<PathBuf> {
    let mut all = files("examples", "exp");
    all.extend(files("stdlib", "exp"));
    all
}

/// The path of the `expc` binary, built once if needed.
pub fn expc() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Tests run from target/<profile>/deps/; the binary is in target/<profile>/.
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
        let bin = profile_dir.join(format!("expc{}", std::env::consts::EXE_SUFFIX));
        // Always (re)build: a binary left from an older checkout would test old code.
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "--quiet", "-p", "expc-cli", "--bin", "expc"])
            .current_dir(root());
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo build");
        assert!(status.success(), "building expc failed");
        bin
    })
}

/// Runs `expc` with arguments from the repository root, without colour.
pub fn run(args: &[&str]) -> Output {
    Command::new(expc())
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run expc")
}

/// A fresh scratch folder holding copies of `files` from the repository folder `from` —
/// a project for a test to run expc in.
pub fn fresh_copy(name: &str, from: &str, files: &[&str]) -> PathBuf {
    let dir = temp_path("project", name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::copy(root().join(from).join(f), dir.join(f)).unwrap();
    }
    dir
}

/// Removes a directory tree that may hold read-only files (expc's object store).
pub fn remove_tree(dir: &Path) {
    let _ = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(dir);
}

/// The path relative to the root, with forward slashes, for stable snapshot names.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Values that break generated commands in other tools: quotes, command substitution,
/// backticks, `;`, `|`, `&&`, newlines, tabs, leading dashes, variables, `%` (Slurm's log
/// patterns), globs, backslashes, non-ASCII, the empty string, redirections and comments.
/// Each must reach a task's argv byte for byte, whatever the engine; the suites add the
/// values particular to their engine.
pub const HOSTILE: [&str; 22] = [
    "plain",
    "two words",
    "\"double quoted\"",
    "'single quoted'",
    "it's",
    "$(touch pwned)",
    "`touch pwned`",
    "a; touch pwned",
    "a | cat",
    "a && b || c",
    "line one\nline two",
    "tab\there",
    "--help",
    "-rf",
    "$HOME ${HOME} $$",
    "100% %j %A %a %x %%",
    "* ? [a-z]",
    "back\\slash",
    "ünïcödé ✓ 日本",
    "",
    "> redirect < in",
    "#comment",
];

/// [`HOSTILE`] and then `extra`.
pub fn hostile_values(extra: &[&'static str]) -> Vec<&'static str> {
    HOSTILE.iter().chain(extra).copied().collect()
}

/// `expc query --state-dir STATE --format json SQL`: the rows; fails the test when the
/// query fails.
pub fn query(state: &Path, sql: &str) -> Vec<serde_json::Value> {
    let out = run(&[
        "query",
        "--state-dir",
        state.to_str().expect("a UTF-8 state folder"),
        "--format",
        "json",
        sql,
    ]);
    assert!(
        out.status.success(),
        "expc query failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("expc query printed JSON")
}

/// Starts `command()` `times` times and kills each (SIGKILL) after a random delay of `lo`
/// to `lo + span` milliseconds, as a lost head would die. Returns the seed and the delays,
/// for the message of a failure (a rerun with them reproduces the moments).
pub fn kill_at_random_moments(
    times: usize,
    lo: u64,
    span: u64,
    mut command: impl FnMut() -> std::process::Command,
) -> String {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut rng = seed | 1;
    let mut delays = Vec::new();
    for _ in 0..times {
        // xorshift
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let ms = lo + rng % span.max(1);
        delays.push(ms);
        let mut child = command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    format!("seed {seed}, delays {delays:?} ms")
}

/// How many times each instance (job, index) started, from the provenance hooks' `start`
/// records under each of `dirs` that exists.
pub fn hook_starts(
    dirs: impl IntoIterator<Item = PathBuf>,
) -> std::collections::BTreeMap<(String, u64), usize> {
    let mut starts = std::collections::BTreeMap::new();
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        for r in expc_run::hook::read_hook_records(&dir).unwrap() {
            if r.event == expc_run::hook::HookEvent::Start {
                *starts.entry((r.job.clone(), r.instance)).or_default() += 1;
            }
        }
    }
    starts
}
