//! Shared helpers of expc's test suites: where fixtures live, how to run the real binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

/// A path under the temporary folder for one test of one run, `expc-SUITE-test-PID-NAME`,
/// with nothing there.
pub fn temp_path(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("expc-{suite}-test-{}-{name}", std::process::id()));
    remove_tree(&dir);
    dir
}

/// Every file under an absolute `dir` with the given extension, sorted.
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
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
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

/// A fresh folder `expc-NAME-PID` in the temp dir holding copies of `files` from the
/// repository folder `from` — a project for a test to run expc in.
pub fn fresh_copy(name: &str, from: &str, files: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("expc-{name}-{}", std::process::id()));
    remove_tree(&dir);
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

/// The `spark-submit` Spark tests run: the one in the installed `pyspark` package's
/// `bin/` (`scripts/install-spark.sh` installs it), else the first on `PATH`; `None` when
/// there is neither. Its grandparent folder is a usable `SPARK_HOME`.
pub fn spark_submit() -> Option<PathBuf> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let from_pyspark = Command::new(python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
                .join("bin")
                .join("spark-submit")
        })
        .filter(|p| p.is_file());
    from_pyspark.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join("spark-submit"))
            .find(|p| p.is_file())
    })
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

/// Whether `CI=true`: under CI an engine a test needs must be there.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether a Slurm cluster answers `sinfo`; panics under CI when none does, else notes
/// that `test` did not run.
pub fn slurm_cluster(test: &str) -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            !under_ci(),
            "{test}: no Slurm cluster answers `sinfo`, and CI=true: start one with `scripts/dev-slurm.sh up`"
        );
        eprintln!("note: {test} did not run: no Slurm cluster answers `sinfo`");
    }
    up
}

/// Whether the `kubectl` stand-in can run (Python with `yaml` and `kubernetes_validate`);
/// panics under CI when it cannot, else notes that `test` did not run.
pub fn kubectl_standin(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import yaml, kubernetes_validate"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !under_ci(),
            "{test}: python3 with yaml and kubernetes_validate is missing, and CI=true: run scripts/install-k8s-validators.sh"
        );
        eprintln!("note: {test} did not run: python3 with yaml and kubernetes_validate is missing");
    }
    ok
}
