//! Loops over what a task produces, run end to end with `expc run --local` through the real
//! binary: the splitter's files are listed when it has run, one instance per file runs,
//! the gather sees them all, a rerun with the same files runs nothing, a new file runs only
//! its instance (and the gathers), and a splitter that writes no file fails by its name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.test(
        "a_loop_over_a_produced_list_runs_once_per_file_and_gathers",
        a_loop_over_a_produced_list_runs_once_per_file_and_gathers,
    );
    suite.test(
        "a_new_file_runs_only_its_instance_and_the_gathers",
        a_new_file_runs_only_its_instance_and_the_gathers,
    );
    suite.test(
        "why_expands_the_loop_from_the_files_stored_last",
        why_expands_the_loop_from_the_files_stored_last,
    );
    suite.test(
        "a_failing_instance_fails_only_its_own_branch_and_a_rerun_runs_only_it",
        a_failing_instance_fails_only_its_own_branch_and_a_rerun_runs_only_it,
    );
    suite.test(
        "a_producer_that_writes_no_file_fails_with_its_name",
        a_producer_that_writes_no_file_fails_with_its_name,
    );
    suite.needs(
        Engine::Slurm,
        "on_slurm_the_loop_is_one_array_sized_when_the_producer_has_run",
        on_slurm_the_loop_is_one_array_sized_when_the_producer_has_run,
    );
    suite.test(
        "build_refuses_a_loop_over_a_produced_list_and_says_why",
        build_refuses_a_loop_over_a_produced_list_and_says_why,
    );
}

/// A splitter that writes `n` one-line files, a per-file count, and a merge that takes the
/// counts (a gather) and the files (the list whole).
const SPEC: &str = r#"import std.formats.{Csv, Text}
import std.resources.{Local}

param n: Int = 3

resource laptop = Local { cpus = 2, mem = 1GiB }

task split(n: Int) -> (parts: List<File<Csv>> = glob("parts/*.csv")) {
  run `sh -c "mkdir -p \"$0\" && i=1 && while [ $i -le $1 ]; do echo $i > \"$0/part-$i.csv\"; i=$((i+1)); done" ${parts} ${n}`
}

task count(part: File<Csv>) -> (out: File<Text> = "n.txt") {
  run `sh -c "cat \"$0\" > \"$1\"" ${part} ${out}`
}

task merge(counts: List<File<Text>>, parts: List<File<Csv>>) -> (out: File<Text> = "all.txt") {
  run `sh -c "cat \"$@\" > \"$0\"" ${out} ${counts} ${parts}`
}

pipeline main {
  let s = split(n = n) on laptop
  for part in s.parts {
    let c = count(part = part) on laptop
  }
  merge(counts = c.out, parts = s.parts) on laptop
}
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = expc_tests::temp_path("fanout", name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("split.exp"), SPEC).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(expc_tests::expc())
        .args(["run", "--local", "--json", "split.exp"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The tasks of each event named `event`, in order.
fn tasks(out: &Output, event: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .map(|v| v["task"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn a_loop_over_a_produced_list_runs_once_per_file_and_gathers() {
    let dir = scratch("gathers");
    let out = run(&dir, &[]);
    ok(&out);
    let mut ran = tasks(&out, "task_finished");
    ran.sort();
    assert_eq!(ran, ["c[0]", "c[1]", "c[2]", "merge", "s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""event":"expanded","files":3,"jobs":["c"],"list":"s.parts""#),
        "{stdout}"
    );
    // The counts, in the files' order, then the files themselves.
    let merged = std::fs::read_to_string(dir.join(".expc/out/merge/all.txt")).unwrap();
    assert_eq!(merged, "1\n2\n3\n1\n2\n3\n");
    let again = run(&dir, &[]);
    ok(&again);
    assert_eq!(tasks(&again, "task_finished"), Vec::<String>::new());
    let mut cached = tasks(&again, "task_cached");
    cached.sort();
    cached.dedup();
    assert_eq!(cached, ["c[0]", "c[1]", "c[2]", "merge", "s"]);
    std::fs::remove_dir_all(&dir).ok();
}

fn a_new_file_runs_only_its_instance_and_the_gathers() {
    let dir = scratch("new-file");
    ok(&run(&dir, &[]));
    // The splitter runs again (its param changed) and writes the same three files and a
    // fourth: only the fourth is counted.
    let out = run(&dir, &["-p", "n=4"]);
    ok(&out);
    let mut ran = tasks(&out, "task_finished");
    ran.sort();
    assert_eq!(ran, ["c[3]", "merge", "s"]);
    let merged = std::fs::read_to_string(dir.join(".expc/out/merge/all.txt")).unwrap();
    assert_eq!(merged, "1\n2\n3\n4\n1\n2\n3\n4\n");
    std::fs::remove_dir_all(&dir).ok();
}

fn a_producer_that_writes_no_file_fails_with_its_name() {
    let dir = scratch("no-file");
    let out = run(&dir, &["-p", "n=0"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed: s: exited with status 0 but wrote no file matching `parts/*.csv` for its list output `parts`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not expanded: the loops over s.parts wait for calls that did not finish"),
        "{stderr}"
    );
    // Nothing after the splitter ran, and nothing of it was cached: the next run tries again.
    assert_eq!(tasks(&out, "task_started"), ["s"]);
    assert!(!dir.join(".expc/out/s").exists());
    std::fs::remove_dir_all(&dir).ok();
}

fn build_refuses_a_loop_over_a_produced_list_and_says_why() {
    let dir = scratch("build");
    let out = Command::new(expc_tests::expc())
        .args(["build", "--target", "all", "-o", "out", "split.exp"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("c loops over s.parts"), "{stderr}");
    assert!(!dir.join("out").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// Every call on the real Slurm: the splitter is submitted alone, then the loop as one
/// array of as many tasks as it wrote files, then the gather; a second run submits nothing.
fn on_slurm_the_loop_is_one_array_sized_when_the_producer_has_run() {
    let spec = expc_tests::shared_copy("tests/slurm").join("fanout_on_slurm.exp");
    let state = expc_tests::temp_path("fanout", "slurm");
    let run = || {
        Command::new(expc_tests::expc())
            .args(["run", "--state-dir", state.to_str().unwrap()])
            .arg(&spec)
            .output()
            .unwrap()
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("expanded c: one instance per file of s.parts, 3 files"),
        "{stderr}"
    );
    assert!(
        stderr.contains("submitted c[0-2] to Slurm as job"),
        "{stderr}"
    );
    let merged = std::fs::read_to_string(state.join("out/merge/all.txt")).unwrap();
    assert_eq!(merged, "1\n2\n3\n");
    let again = run();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("0 ran, 5 cached"), "{stderr}");
    assert!(!stderr.contains("submitted"), "{stderr}");
    std::fs::remove_dir_all(&state).ok();
}

/// `expc why` before any run says the instances are not known yet; after one, it answers
/// for each instance, as the files the splitter stored make them.
fn why_expands_the_loop_from_the_files_stored_last() {
    let dir = scratch("why");
    let why = || {
        let out = Command::new(expc_tests::expc())
            .args(["why", "split.exp"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let before = why();
    assert!(
        before.contains("c: will run — one instance per file of s.parts, known when `s` has run (it has not stored them yet)"),
        "{before}"
    );
    ok(&run(&dir, &[]));
    let after = why();
    for task in ["s", "c[0]", "c[1]", "c[2]", "merge"] {
        assert!(
            after.contains(&format!("{task}: cached — nothing it depends on changed")),
            "{after}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// One expanded instance fails (the count of the file holding `2`, while a marker file
/// says so): the others finish and are cached, the gather does not run; once the marker is
/// gone, a rerun runs only that instance and the gather.
fn a_failing_instance_fails_only_its_own_branch_and_a_rerun_runs_only_it() {
    let dir = scratch("one-fails");
    let marker = dir.join("fail-on-2");
    std::fs::write(&marker, "").unwrap();
    let spec = SPEC.replace(
        r#"run `sh -c "cat \"$0\" > \"$1\"" ${part} ${out}`"#,
        &format!(
            r#"run `sh -c "if [ -e '{}' ] && [ $(cat \"$0\") = 2 ]; then exit 3; fi; cat \"$0\" > \"$1\"" ${{part}} ${{out}}`"#,
            marker.display()
        ),
    );
    assert_ne!(spec, SPEC);
    std::fs::write(dir.join("split.exp"), spec).unwrap();
    let out = run(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let mut finished = tasks(&out, "task_finished");
    finished.sort();
    assert_eq!(finished, ["c[0]", "c[2]", "s"]);
    assert_eq!(tasks(&out, "task_failed"), ["c[1]"]);
    assert!(!tasks(&out, "task_started").contains(&"merge".to_owned()));
    std::fs::remove_file(&marker).unwrap();
    let again = run(&dir, &[]);
    ok(&again);
    let mut ran = tasks(&again, "task_finished");
    ran.sort();
    assert_eq!(ran, ["c[1]", "merge"]);
    std::fs::remove_dir_all(&dir).ok();
}
