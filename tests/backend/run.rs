//! `expc run --local` end to end, through the real binary, on the workloads in `run/`:
//! parallelism, chains and gathers, failures, retries, the cache (what re-runs and what
//! does not), resume after SIGKILL, and hostile values reaching argv intact.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "the_standard_output_is_an_output_of_the_last_attempt_and_its_secrets_redacted",
        the_standard_output_is_an_output_of_the_last_attempt_and_its_secrets_redacted,
    );
    suite.test(
        "a_config_file_holds_the_record_and_keys_the_instance_by_its_content",
        a_config_file_holds_the_record_and_keys_the_instance_by_its_content,
    );
    suite.test(
        "fan_out_runs_in_parallel_and_the_gather_sees_every_branch",
        fan_out_runs_in_parallel_and_the_gather_sees_every_branch,
    );
    suite.test(
        "the_cache_decides_what_runs_again",
        the_cache_decides_what_runs_again,
    );
    suite.test(
        "an_unchanged_rerun_reads_the_noted_entries_not_the_index",
        an_unchanged_rerun_reads_the_noted_entries_not_the_index,
    );
    suite.test(
        "a_failing_branch_does_not_stop_the_others",
        a_failing_branch_does_not_stop_the_others,
    );
    suite.test(
        "a_retry_that_succeeds_on_the_second_attempt",
        a_retry_that_succeeds_on_the_second_attempt,
    );
    suite.test(
        "a_missing_output_is_a_failure",
        a_missing_output_is_a_failure,
    );
    suite.test(
        "a_command_line_longer_than_the_system_accepts_says_so",
        a_command_line_longer_than_the_system_accepts_says_so,
    );
    suite.test(
        "hostile_values_reach_argv_byte_for_byte",
        hostile_values_reach_argv_byte_for_byte,
    );
    suite.test(
        "sigkill_at_random_moments_then_resume",
        sigkill_at_random_moments_then_resume,
    );
    suite.test(
        "ctrl_c_stops_the_tasks_and_the_run_resumes",
        ctrl_c_stops_the_tasks_and_the_run_resumes,
    );
    suite.test(
        "after_runs_a_call_once_the_other_finished",
        after_runs_a_call_once_the_other_finished,
    );
    suite.test(
        "the_outputs_listed_at_the_end_are_those_nothing_reads",
        the_outputs_listed_at_the_end_are_those_nothing_reads,
    );
    suite.test(
        "a_profile_that_brings_modules_runs_again_and_one_that_does_not_reuses",
        a_profile_that_brings_modules_runs_again_and_one_that_does_not_reuses,
    );
    suite.test(
        "cache_false_runs_every_time_and_its_dependants_on_new_content_only",
        cache_false_runs_every_time_and_its_dependants_on_new_content_only,
    );
    suite.test(
        "a_file_added_to_a_file_set_runs_only_its_instance",
        a_file_added_to_a_file_set_runs_only_its_instance,
    );
    suite.test(
        "nested_metrics_are_dotted_names_and_a_bad_one_stops_its_dependants",
        nested_metrics_are_dotted_names_and_a_bad_one_stops_its_dependants,
    );
    suite.test(
        "a_shell_script_receives_the_params_and_data_it_names",
        a_shell_script_receives_the_params_and_data_it_names,
    );
    suite.test(
        "only_a_command_that_reads_a_resource_has_it_in_its_key",
        only_a_command_that_reads_a_resource_has_it_in_its_key,
    );
    suite.test(
        "a_paired_end_sample_sheet_runs_a_row_per_instance_and_reruns_what_changed",
        a_paired_end_sample_sheet_runs_a_row_per_instance_and_reruns_what_changed,
    );
    suite.test(
        "a_detached_run_is_shown_by_status_and_followed_by_attach",
        a_detached_run_is_shown_by_status_and_followed_by_attach,
    );
}

/// `expc run --detach` returns while its tasks run, with the run's id; `expc status`
/// shows the run's progress; `expc attach` replays and follows its events to the end,
/// prints the summary and exits as the run does; the run is recorded under that id. A
/// spec with errors is refused in the foreground and starts nothing.
fn a_detached_run_is_shown_by_status_and_followed_by_attach() {
    let dir = expc_tests::temp_path("run", "detached");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("spec.exp"),
        r#"import std.formats.{Text}
import std.resources.{Local}

resource here = Local {}

sweep grid = product {
  i = 0..3
}

task nap(i: Int) -> (out: File<Text> = "nap.txt") {
  shell `
    sleep 1
    printf 'nap %s\n' "$i" > "$out"
  `
}

pipeline main {
  for p in grid {
    let n = nap(i = p.i) on here
  }
}
"#,
    )
    .unwrap();
    let expc = |args: &[&str]| {
        Command::new(expc_tests::expc())
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let started = expc(&["run", "--detach", "-j", "1", "spec.exp"]);
    let text = String::from_utf8_lossy(&started.stderr).into_owned();
    assert!(started.status.success(), "{text}");
    let id = text.split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        text.contains(&format!("`expc attach {id}` follows it")),
        "{text}"
    );
    // Three tasks of a second each, one at a time: not done when `--detach` returns.
    let status = expc(&["status"]);
    let shown = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        shown.contains(&format!("run {id}: in the background")),
        "{shown}"
    );
    assert!(shown.contains(" of 3 done"), "{shown}");
    let attached = expc(&["attach", &id]);
    let followed = String::from_utf8_lossy(&attached.stderr).into_owned();
    assert!(attached.status.success(), "{followed}");
    for i in 0..3 {
        assert!(followed.contains(&format!("done    n[{i}]")), "{followed}");
    }
    assert!(followed.contains("3 ran, 0 cached, 0 failed"), "{followed}");
    assert!(
        followed.contains(&format!("provenance: run {id}")),
        "{followed}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".expc/out/n/2/nap.txt")).unwrap(),
        "nap 2\n"
    );
    // Over: status says nothing is left; the run is recorded under its id.
    let status = expc(&["status"]);
    let shown = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(!shown.contains("in the background"), "{shown}");
    let rows = expc_tests::query(&dir.join(".expc"), "SELECT id, status FROM runs");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["status"], "succeeded");
    // A spec with an error: said here, nothing started.
    std::fs::write(dir.join("bad.exp"), "pipeline main { let x = nope() }\n").unwrap();
    let refused = expc(&["run", "--detach", "bad.exp"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nope"));
    assert_eq!(
        std::fs::read_dir(dir.join(".expc/heads")).unwrap().count(),
        1
    );
    // `expc gc` removes the folder of a background run that is over once its run is no
    // longer kept.
    let gc = expc(&["gc", "--keep-last", "0"]);
    let said = String::from_utf8_lossy(&gc.stdout).into_owned();
    assert!(gc.status.success(), "{said}");
    assert!(said.contains("background run folders: 1 removed"), "{said}");
    assert!(!dir.join(".expc/heads").join(&id).exists());
    expc_tests::remove_tree(&dir);
}

/// A task that writes nested metrics, as dvclive does: the run accepts them, provenance
/// records them by dotted names; one that writes a non-number in a nested object fails
/// when it ends, and what reads its metrics does not run.
fn nested_metrics_are_dotted_names_and_a_bad_one_stops_its_dependants() {
    let dir = expc_tests::temp_path("run", "nested-metrics");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("spec.exp"),
        r#"import std.formats.{Json, Text}
import std.resources.{Local}

resource laptop = Local { cpus = 1, mem = 1GiB }

data written: File<Json> = "written.json"

task train(src: File<Json>) -> (m: Metrics = "metrics.json") {
  run `cp ${src} ${m}`
}

task report(m: Metrics) -> (out: File<Text> = "out.txt") {
  run `cp ${m} ${out}`
}

pipeline main {
  let t = train(src = written)
  report(m = t.m)
}
"#,
    )
    .unwrap();
    let metrics = |loss: &str| {
        let text = format!(r#"{{"step": 3, "train": {{"loss": {loss}, "eval": {{"acc": 0.9}}}}}}"#);
        std::fs::write(dir.join("written.json"), text).unwrap();
    };
    let run = || {
        Command::new(expc_tests::expc())
            .args(["run", "--local", "--json", "spec.exp"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    metrics("0.25");
    let first = run();
    ok(&first);
    assert_eq!(tasks(&first, "task_finished"), set(&["t", "report"]));
    let rows = expc_tests::query(
        &dir.join(".expc"),
        "SELECT name, value FROM metrics ORDER BY name",
    );
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["step", "train.eval.acc", "train.loss"], "{rows:?}");
    assert_eq!(rows[2]["value"], 0.25);

    metrics("\"low\"");
    let second = run();
    assert!(!second.status.success());
    assert!(tasks(&second, "task_started").contains("t"));
    assert!(!tasks(&second, "task_started").contains("report"));
    // The event that says why names the nested value.
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("the value of `train.loss` is not a finite number"),
        "{stdout}"
    );
    expc_tests::remove_tree(&dir);
}

/// A `shell` script that names a param (hostile text), a list param and a data item gets
/// them as variables of their names, intact; a changed param re-runs it, a changed data
/// file too.
fn a_shell_script_receives_the_params_and_data_it_names() {
    let dir = expc_tests::temp_path("run", "shell-exports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("words.txt"), "alpha\n").unwrap();
    std::fs::write(
        dir.join("spec.exp"),
        r#"import std.formats.{Text}
import std.resources.{Local}

param label: String = "it's; $(touch pwned)"
param tags: List<String> = ["a b", "c"]
data words: File<Text> = "words.txt"

resource laptop = Local { cpus = 1, mem = 1GiB }

task note(n: Int) -> (out: File<Text> = "note.txt") {
  shell `
    count=0
    for t in $tags; do count=$((count + 1)); done
    printf '%s|%s|%s|%s
' "$label" "$n" "$count" "$(cat "$words")" > "$out"
  `
}

pipeline main {
  note(n = 1)
}
"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(expc_tests::expc())
            .args(["run", "--local", "--json", "spec.exp"])
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        ok(&out);
        out
    };
    let note = || std::fs::read_to_string(dir.join(".expc/out/note/note.txt")).unwrap();
    let first = run(&[]);
    assert_eq!(tasks(&first, "task_finished"), set(&["note"]));
    // `$tags` is one line per element: the loop splits at whitespace, so three words.
    assert_eq!(note(), "it's; $(touch pwned)|1|3|alpha\n");
    assert!(!dir.join("pwned").exists());
    assert!(tasks(&run(&[]), "task_started").is_empty());
    let second = run(&["-p", "label=other"]);
    assert_eq!(tasks(&second, "task_started"), set(&["note"]));
    assert_eq!(note(), "other|1|3|alpha\n");
    std::fs::write(dir.join("words.txt"), "beta\n").unwrap();
    let third = run(&["-p", "label=other"]);
    assert_eq!(tasks(&third, "task_started"), set(&["note"]));
    assert_eq!(note(), "other|1|3|beta\n");
    expc_tests::remove_tree(&dir);
}

/// Two tasks given the same CPUs (from a param), one reading them in its command
/// (`${resources.cpus}`, and its memory in bytes): the reader receives the values; when
/// the CPUs change, only the reader runs again, the other is served from the cache.
fn only_a_command_that_reads_a_resource_has_it_in_its_key() {
    let dir = expc_tests::temp_path("run", "resources-read");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("spec.exp"),
        r#"import std.formats.{Text}
import std.resources.{Local}

param threads: Int = 1

resource laptop = Local { cpus = 4, mem = 1GiB }

task reader(x: Int) -> (out: File<Text> = "out.txt") {
  resources {
    cpus = threads
    mem = 64MiB
  }
  run `sh -c "echo $0 $1 > $2" ${resources.cpus} ${resources.mem} ${out}`
}

task other(x: Int) -> (out: File<Text> = "out.txt") {
  resources {
    cpus = threads
  }
  run `sh -c "echo same > $0" ${out}`
}

pipeline main {
  reader(x = 1)
  other(x = 1)
}
"#,
    )
    .unwrap();
    let run = |threads: &str| {
        let out = Command::new(expc_tests::expc())
            .args(["run", "--local", "--json", "spec.exp", "-p"])
            .arg(format!("threads={threads}"))
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        ok(&out);
        out
    };
    let first = run("1");
    assert_eq!(tasks(&first, "task_finished"), set(&["reader", "other"]));
    let written = std::fs::read_to_string(dir.join(".expc/out/reader/out.txt")).unwrap();
    assert_eq!(written, "1 67108864\n");
    let second = run("2");
    assert_eq!(tasks(&second, "task_started"), set(&["reader"]));
    assert_eq!(tasks(&second, "task_cached"), set(&["other"]));
    let written = std::fs::read_to_string(dir.join(".expc/out/reader/out.txt")).unwrap();
    assert_eq!(written, "2 67108864\n");
    // Back to one CPU: the first result is the cached one.
    let third = run("1");
    assert!(tasks(&third, "task_started").is_empty());
    expc_tests::remove_tree(&dir);
}

/// The sample-sheet example (three samples, two read files each, in a TSV relative to the
/// sheet): one instance per row, the report and its filter; after one sample's reads
/// change, only its instance and what gathers them run; a row added runs only the new sample; a cell that does
/// not fit the schema stops the run before anything starts, naming its row and column.
fn a_paired_end_sample_sheet_runs_a_row_per_instance_and_reruns_what_changed() {
    let dir = expc_tests::copy_of("run", "sample-sheet", "examples/samplesheet");
    let run = || {
        Command::new(expc_tests::expc())
            .args(["run", "--local", "--json", "samplesheet.exp"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let first = run();
    ok(&first);
    assert_eq!(
        tasks(&first, "task_finished"),
        set(&["p[0]", "p[1]", "p[2]", "r", "low"])
    );
    let table = std::fs::read_to_string(dir.join(".expc/out/r/pairs.csv")).unwrap();
    assert!(table.contains("wt_rep2,wildtype,4,96,"), "{table}");

    // One sample's reads change (both files, still paired).
    let reads = dir.join("samples/reads");
    std::fs::write(reads.join("wt_rep2_R1.fq"), "@a\nACGT\n+\nIIII\n").unwrap();
    std::fs::write(reads.join("wt_rep2_R2.fq"), "@a\nTTGG\n+\nIIII\n").unwrap();
    let second = run();
    ok(&second);
    assert_eq!(tasks(&second, "task_started"), set(&["p[1]", "r", "low"]));
    assert_eq!(tasks(&second, "task_cached"), set(&["p[0]", "p[2]"]));
    let table = std::fs::read_to_string(dir.join(".expc/out/r/pairs.csv")).unwrap();
    assert!(table.contains("wt_rep2,wildtype,1,8,"), "{table}");

    // A row added: only the new sample runs, with the report.
    std::fs::write(reads.join("ko_rep2_R1.fq"), "@b\nGGGG\n+\nIIII\n").unwrap();
    std::fs::write(reads.join("ko_rep2_R2.fq"), "@b\nCCCC\n+\nIIII\n").unwrap();
    let sheet = dir.join("samples/units.tsv");
    let mut text = std::fs::read_to_string(&sheet).unwrap();
    text.push_str("ko_rep2\tknockout\t2\treads/ko_rep2_R1.fq\treads/ko_rep2_R2.fq\n");
    std::fs::write(&sheet, &text).unwrap();
    let third = run();
    ok(&third);
    assert_eq!(tasks(&third, "task_started"), set(&["p[3]", "r", "low"]));
    let table = std::fs::read_to_string(dir.join(".expc/out/r/pairs.csv")).unwrap();
    assert!(table.contains("ko_rep2,knockout,1,8,1.000"), "{table}");

    // A cell that is not of its column's type: nothing runs.
    std::fs::write(&sheet, text.replace("wildtype\t2\t", "wildtype\ttwo\t")).unwrap();
    let fourth = run();
    assert!(!fourth.status.success());
    assert!(tasks(&fourth, "task_started").is_empty());
    let stderr = String::from_utf8_lossy(&fourth.stderr);
    assert!(
        stderr.contains("E0210") && stderr.contains("row 2, column 3 (`replicate`)"),
        "{stderr}"
    );
    expc_tests::remove_tree(&dir);
}

/// The file-set example, run, then run again after a file is added (sorted first, so
/// every other file's position moves) and another's content changes: only the new file's
/// and the changed file's instances run, with the gather; the rest are cached.
fn a_file_added_to_a_file_set_runs_only_its_instance() {
    let dir = expc_tests::copy_of("run", "file-set", "examples/filesets");
    let run = || {
        let out = Command::new(expc_tests::expc())
            .args(["run", "--local", "--json", "filesets.exp"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        ok(&out);
        out
    };
    let first = run();
    assert_eq!(tasks(&first, "task_finished").len(), 5);
    let table = std::fs::read_to_string(dir.join(".expc/out/report/counts.csv")).unwrap();
    assert_eq!(table.lines().count(), 5, "{table}");

    std::fs::write(dir.join("data/s0_1.fq"), "@r\nGGCC\n+\nIIII\n").unwrap();
    let second = run();
    assert_eq!(tasks(&second, "task_started"), set(&["c[0]", "report"]));
    assert_eq!(tasks(&second, "task_cached").len(), 4);
    let table = std::fs::read_to_string(dir.join(".expc/out/report/counts.csv")).unwrap();
    assert!(table.contains("s0_1.fq,1,4,1.000"), "{table}");

    // Nothing changed: nothing runs.
    let third = run();
    assert!(tasks(&third, "task_started").is_empty());

    // A file's content is in the key of the instance that reads it.
    std::fs::write(dir.join("data/s2_1.fq"), "@r\nAAAA\n+\nIIII\n").unwrap();
    let fourth = run();
    assert_eq!(tasks(&fourth, "task_started"), set(&["c[3]", "report"]));
    expc_tests::remove_tree(&dir);
}

/// `${json(train)}` and `${yaml(train.optim)}`: files in the work directory with the
/// values, passed by path; a field changed by `-p` runs the task again, an unrelated param
/// does not.
fn a_config_file_holds_the_record_and_keys_the_instance_by_its_content() {
    let p = project("config-files");
    std::fs::write(
        p.dir.join("config.exp"),
        r#"import std.formats.{Json, Text}
import std.resources.{Local}

resource here = Local {}

record Optim {
  name: String = "sgd"
  momentum: Float?
}

record TrainCfg {
  lr: Float
  layers: List<Int> = [8]
  mem: Memory = 1GiB
  optim: Optim = Optim {}
}

param train: TrainCfg = TrainCfg { lr = 0.1, layers = [64, 64] }
param other: Int = 1

task t() -> (whole: File<Json> = "train.json", part: File<Text> = "optim.yaml") {
  run `python3 -c "import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2]); shutil.copy(sys.argv[3].split('=', 1)[1], sys.argv[4])"
    ${json(train)} ${whole} --optim=${yaml(train.optim)} ${part}`
}

task u() -> (out: File<Text> = "other.txt") {
  run `python3 -c "import sys; open(sys.argv[1], 'w').write(sys.argv[2])" ${out} ${other}`
}

pipeline main {
  t() on here
  u() on here
}
"#,
    )
    .unwrap();
    let first = p.run("config.exp", &[], &[]);
    ok(&first);
    let json: serde_json::Value = serde_json::from_str(&p.out("t/train.json")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "lr": 0.1,
            "layers": [64, 64],
            "mem": 1u64 << 30,
            "optim": {"name": "sgd"}
        })
    );
    assert_eq!(p.out("t/optim.yaml"), "name: sgd\n");
    // The same values: nothing runs again.
    let again = p.run("config.exp", &[], &[]);
    ok(&again);
    assert!(tasks(&again, "task_started").is_empty());
    // An unrelated param re-runs only its task.
    let other = p.run("config.exp", &["-p", "other=2"], &[]);
    ok(&other);
    assert_eq!(tasks(&other, "task_started"), set(&["u"]));
    // A field of the record changes the file's content, so `t` runs again with it.
    let moved = p.run(
        "config.exp",
        &["-p", "other=2", "-p", "train.optim.momentum=0.9"],
        &[],
    );
    ok(&moved);
    assert_eq!(tasks(&moved, "task_started"), set(&["t"]));
    assert_eq!(p.out("t/optim.yaml"), "momentum: 0.9\nname: sgd\n");
}

/// `-> (log: File<Text> = stdout)`: the standard output of the attempt that succeeded is
/// the output, stored and read downstream like any file, with secrets redacted as in logs.
fn the_standard_output_is_an_output_of_the_last_attempt_and_its_secrets_redacted() {
    let p = project("stdout-output");
    std::fs::write(
        p.dir.join("stdout.exp"),
        r#"import std.formats.{Text}
import std.resources.{Local}

resource here = Local {}

secret token: String = env("EXPC_TEST_TOKEN")

/// Fails on its first attempt (after printing), succeeds on the second.
task hello() -> (log: File<Text> = stdout) {
  env {
    vars {
      TOKEN = token
    }
  }
  shell `if [ ! -e "$EXPC_TEST_LOG.tried" ]; then touch "$EXPC_TEST_LOG.tried"; echo first; exit 1; fi; echo "second $TOKEN"`
  retry 1
}

task count(log: File<Text>) -> (n: File<Text> = stdout) {
  run `cat ${log}`
}

pipeline main {
  let h = hello() on here
  count(log = h.log) on here
}
"#,
    )
    .unwrap();
    let out = p.run("stdout.exp", &[], &[("EXPC_TEST_TOKEN", "s3cr3t-value")]);
    ok(&out);
    assert_eq!(p.out("h/log.stdout"), "second [redacted]\n");
    assert_eq!(p.out("count/n.stdout"), "second [redacted]\n");
    // Stored and cached like any output.
    let again = p.run("stdout.exp", &[], &[("EXPC_TEST_TOKEN", "s3cr3t-value")]);
    ok(&again);
    assert!(tasks(&again, "task_started").is_empty());
}

struct Project {
    dir: PathBuf,
    log: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        // Stored objects are read-only; make them removable.
        expc_tests::remove_tree(&self.dir);
    }
}

fn project(name: &str) -> Project {
    let dir = expc_tests::temp_path("run", name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "step.py",
        "pipeline.exp",
        "injection.exp",
        "failing_output.exp",
        "order.exp",
    ] {
        std::fs::copy(expc_tests::root().join("tests/run").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("input.txt"), "hello\nworld\n").unwrap();
    std::fs::write(dir.join("other.txt"), "side\n").unwrap();
    let log = dir.join("tasks.log");
    Project { dir, log }
}

impl Project {
    fn command(&self, spec: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(expc_tests::expc());
        c.arg("run")
            .arg("--local")
            .arg("--json")
            .arg(spec)
            .args(args);
        c.current_dir(&self.dir)
            .env("EXPC_TEST_LOG", &self.log)
            .env("NO_COLOR", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, spec: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(spec, args, env).output().unwrap()
    }

    fn log(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').map(str::to_owned).collect())
            .collect()
    }

    fn out(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(".expc/out").join(rel)).unwrap()
    }
}

fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The tasks of an event kind.
fn tasks(out: &Output, kind: &str) -> BTreeSet<String> {
    events(out)
        .iter()
        .filter(|e| e["event"] == kind)
        .map(|e| e["task"].as_str().unwrap().to_owned())
        .collect()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "expc run failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn fan_out_runs_in_parallel_and_the_gather_sees_every_branch() {
    let p = project("fanout");
    let out = p.run("pipeline.exp", &["-j", "4"], &[("EXPC_TEST_SLEEP", "0.4")]);
    ok(&out);
    assert_eq!(tasks(&out, "task_finished").len(), 7);
    // The four branches overlapped in time.
    let branches: Vec<(f64, f64)> = p
        .log()
        .iter()
        .filter(|l| l[0] == "branch")
        .map(|l| (l[3].parse().unwrap(), l[4].parse().unwrap()))
        .collect();
    assert_eq!(branches.len(), 4);
    let latest_start = branches.iter().map(|b| b.0).fold(f64::MIN, f64::max);
    let earliest_end = branches.iter().map(|b| b.1).fold(f64::MAX, f64::min);
    assert!(
        latest_start < earliest_end,
        "branches ran one after another: {branches:?}"
    );
    // The chain and the gather, in sweep order.
    assert_eq!(
        p.out("g/all.txt"),
        "branch 0: hello\nbranch 1: hello\nbranch 2: hello\nbranch 3: hello\n"
    );
    assert_eq!(p.out("s/side.txt"), "side\n");
}

fn the_cache_decides_what_runs_again() {
    let p = project("cache");
    ok(&p.run("pipeline.exp", &[], &[]));
    let runs = p.log().len();

    // Nothing changed: no process at all.
    let again = p.run("pipeline.exp", &[], &[]);
    ok(&again);
    assert!(tasks(&again, "task_started").is_empty());
    assert_eq!(tasks(&again, "task_cached").len(), 7);
    assert_eq!(p.log().len(), runs, "a cached task spawned a process");

    // `touch` changes the mtime, not the content: nothing runs.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    for f in ["input.txt", "other.txt", "step.py"] {
        std::fs::File::options()
            .write(true)
            .open(p.dir.join(f))
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let touched = p.run("pipeline.exp", &[], &[]);
    ok(&touched);
    assert!(
        tasks(&touched, "task_started").is_empty(),
        "{:?}",
        tasks(&touched, "task_started")
    );

    // More CPUs change no result: nothing runs.
    let cpus = p.run("pipeline.exp", &["-p", "cpus=2"], &[]);
    ok(&cpus);
    assert!(tasks(&cpus, "task_started").is_empty());

    // New content in a file only `s` reads: exactly `s` runs.
    std::fs::write(p.dir.join("other.txt"), "side, edited\n").unwrap();
    let edited = p.run("pipeline.exp", &[], &[]);
    ok(&edited);
    assert_eq!(tasks(&edited, "task_started"), set(&["s"]));
    assert_eq!(p.out("s/side.txt"), "side, edited\n");

    // `expc why` names what changed, field by field, and what follows from it.
    let why = Command::new(expc_tests::expc())
        .args(["why", "pipeline.exp", "f", "-p", "tag=v2"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let why = String::from_utf8_lossy(&why.stdout);
    assert!(why.contains("f: will run"), "{why}");
    assert!(
        why.contains("params: `tag` was `\"v1\"` and is now `\"v2\"`"),
        "{why}"
    );
    assert!(
        why.contains("the command line: word 6 was `v1` and is now `v2`"),
        "{why}"
    );
    let why_all = Command::new(expc_tests::expc())
        .args(["why", "pipeline.exp"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let why_all = String::from_utf8_lossy(&why_all.stdout);
    assert!(why_all.contains("b[0]: cached"), "{why_all}");

    // An argv change re-runs the task; its output is the same content, so nothing
    // downstream runs again.
    let tagged = p.run("pipeline.exp", &["-p", "tag=v2"], &[]);
    ok(&tagged);
    assert_eq!(tasks(&tagged, "task_started"), set(&["f"]));

    // New content at the head of the chain re-runs everything downstream of it.
    std::fs::write(p.dir.join("input.txt"), "bonjour\n").unwrap();
    // `expc why` names the file whose content changed, not only its digests.
    let why = Command::new(expc_tests::expc())
        .args(["why", "pipeline.exp", "f"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let why = String::from_utf8_lossy(&why.stdout);
    for part in [
        "the command line: word 4, the file `input.txt`, was `<content ",
        "inputs: `src`, the file `input.txt`, was `<content ",
    ] {
        assert!(why.contains(part), "{part}\nin: {why}");
    }
    let head = p.run("pipeline.exp", &[], &[]);
    ok(&head);
    assert_eq!(
        tasks(&head, "task_started"),
        set(&["f", "b[0]", "b[1]", "b[2]", "b[3]", "g"])
    );
    assert!(p.out("g/all.txt").starts_with("branch 0: bonjour\n"));

    // A wider sweep runs only the new points and the gather.
    let wider = p.run("pipeline.exp", &["-p", "width=5"], &[]);
    ok(&wider);
    assert_eq!(tasks(&wider, "task_started"), set(&["b[4]", "g"]));
}

/// `last-keys` notes each success's cache entry: a rerun where nothing changed finds every
/// instance cached from it, without reading the cache index; a store from before (lines
/// without entries) is read through the index once and noted then.
fn an_unchanged_rerun_reads_the_noted_entries_not_the_index() {
    let p = project("noted");
    ok(&p.run("pipeline.exp", &[], &[]));
    let runs = p.log().len();
    let state = p.dir.join(".expc");
    let fields = |line: &str| line.split('\t').count();
    let last_keys = std::fs::read_to_string(state.join("last-keys")).unwrap();
    assert!(last_keys.lines().all(|l| fields(l) > 4), "{last_keys}");

    // Without the index, the noted entries are enough.
    let index = state.join("cache/index");
    let kept = std::fs::read(&index).unwrap();
    std::fs::remove_file(&index).unwrap();
    let again = p.run("pipeline.exp", &[], &[]);
    ok(&again);
    assert!(tasks(&again, "task_started").is_empty());
    assert_eq!(tasks(&again, "task_cached").len(), 7);
    assert_eq!(p.log().len(), runs, "a cached task spawned a process");
    assert!(
        !index.exists(),
        "a rerun with nothing to run wrote the index"
    );

    // Lines as a store from before wrote them: found through the index, then noted.
    std::fs::write(&index, kept).unwrap();
    let bare: String = last_keys
        .lines()
        .map(|l| l.split('\t').take(4).collect::<Vec<_>>().join("\t") + "\n")
        .collect();
    std::fs::write(state.join("last-keys"), &bare).unwrap();
    let upgraded = p.run("pipeline.exp", &[], &[]);
    ok(&upgraded);
    assert!(tasks(&upgraded, "task_started").is_empty());
    assert_eq!(tasks(&upgraded, "task_cached").len(), 7);
    let noted = std::fs::read_to_string(state.join("last-keys")).unwrap();
    assert_eq!(noted, last_keys, "the entries were not noted again");

    // A noted output whose link and object are both gone is not trusted: it runs again.
    let g = p.dir.join(".expc/out/g/all.txt");
    let digest = noted
        .lines()
        .find(|l| l.starts_with("g\t"))
        .and_then(|l| l.split('\t').nth(6))
        .unwrap()
        .to_owned();
    let object = state.join("objects").join(&digest[..2]).join(&digest);
    for f in [&g, &object] {
        let mut perms = std::fs::metadata(f).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(f, perms).unwrap();
        std::fs::remove_file(f).unwrap();
    }
    let lost = p.run("pipeline.exp", &[], &[]);
    ok(&lost);
    assert_eq!(tasks(&lost, "task_started"), set(&["g"]));
    assert!(p.out("g/all.txt").starts_with("branch 0: hello\n"));
}

fn a_failing_branch_does_not_stop_the_others() {
    let p = project("failing");
    let out = p.run("pipeline.exp", &[], &[("EXPC_TEST_FAIL", "2")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(tasks(&out, "task_failed"), set(&["b[2]"]));
    assert_eq!(tasks(&out, "task_skipped"), set(&["g"]));
    for ok_task in ["f", "b[0]", "b[1]", "b[3]", "s"] {
        assert!(
            tasks(&out, "task_finished").contains(ok_task),
            "{ok_task} did not finish"
        );
    }
    let failed = events(&out)
        .into_iter()
        .find(|e| e["event"] == "task_failed")
        .unwrap();
    assert_eq!(failed["exit_code"], 3);
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("after 2 attempts"),
        "{failed}"
    );
    // The text summary names the exit code and shows the end of stderr.
    let text = Command::new(expc_tests::expc())
        .args(["run", "--local", "pipeline.exp"])
        .current_dir(&p.dir)
        .env("EXPC_TEST_FAIL", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&text.stderr);
    assert!(err.contains("failed: b[2] (exit 3)"), "{err}");
    assert!(err.contains("| branch 2 cannot go on"), "{err}");
    // The provenance store has the failure with its attempts and exit code, and the run
    // as failed.
    let q = Command::new(expc_tests::expc())
        .args(["query", "--format", "json"])
        .arg("SELECT t.status, t.attempts, t.exit_code, r.status AS run FROM tasks t JOIN runs r ON r.id = t.run_id WHERE t.instance = 'b[2]' ORDER BY r.started_at LIMIT 1")
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([{"status": "failed", "attempts": 2, "exit_code": 3, "run": "failed"}])
    );
    // Fixed, the run finishes, and only what did not finish runs.
    let fixed = p.run("pipeline.exp", &[], &[]);
    ok(&fixed);
    assert_eq!(tasks(&fixed, "task_started"), set(&["b[2]", "g"]));
}

fn a_retry_that_succeeds_on_the_second_attempt() {
    let p = project("retry");
    let flag = p.dir.join("flaky-flag");
    let out = p.run(
        "pipeline.exp",
        &["-p", "width=1"],
        &[("EXPC_TEST_FLAKY", flag.to_str().unwrap())],
    );
    ok(&out);
    // The branch failed once (`retry 1`), then succeeded.
    let finished = events(&out)
        .into_iter()
        .find(|e| e["event"] == "task_finished" && e["task"] == "b[0]")
        .unwrap();
    assert_eq!(finished["attempts"], 2, "{finished}");
    assert!(tasks(&out, "task_failed").is_empty());
    assert_eq!(p.out("g/all.txt"), "branch 0: hello\n");
}

fn a_missing_output_is_a_failure() {
    let p = project("lazy");
    let out = p.run("failing_output.exp", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let failed = events(&out)
        .into_iter()
        .find(|e| e["event"] == "task_failed")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("did not write its output `out`"),
        "{failed}"
    );
}

fn a_command_line_longer_than_the_system_accepts_says_so() {
    let p = project("e2big");
    std::fs::write(
        p.dir.join("big.exp"),
        "import std.formats.{Text}\nimport std.resources.{Local}\n\nresource here = Local {}\n\nparam words: String = \"\"\n\ntask t() -> (out: File<Text> = \"out.txt\") {\n  run `touch ${out} ${words}`\n}\n\npipeline main {\n  t() on here\n}\n",
    )
    .unwrap();
    // One word of 200 KiB: more than Linux lets exec pass (128 KiB a word).
    std::fs::write(
        p.dir.join("big.yaml"),
        format!("words: \"{}\"\n", "w".repeat(200 << 10)),
    )
    .unwrap();
    let out = p.run("big.exp", &["--params", "big.yaml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let failed = events(&out)
        .into_iter()
        .find(|e| e["event"] == "task_failed")
        .unwrap_or_else(|| panic!("no failure: {}", String::from_utf8_lossy(&out.stderr)));
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("more than the system accepts"),
        "{message}"
    );
    assert!(message.contains("through a file"), "{message}");
}

fn hostile_values_reach_argv_byte_for_byte() {
    let p = project("injection");
    let corpus = expc_tests::hostile_values(&[]);
    for value in corpus {
        // Through a params file, which keeps the text exactly.
        let params = p.dir.join("value.yaml");
        std::fs::write(
            &params,
            format!("value: {}\n", serde_json::to_string(value).unwrap()),
        )
        .unwrap();
        let out = p.run(
            "injection.exp",
            &["--params", params.to_str().unwrap()],
            &[],
        );
        ok(&out);
        let argv: Vec<String> = serde_json::from_str(&p.out("echo/argv.json")).unwrap();
        assert_eq!(
            argv,
            vec![
                value.to_owned(),
                format!("prefix-{value}"),
                format!("--flag={value}")
            ],
            "the value {value:?} was changed on its way to argv"
        );
        assert!(!p.dir.join("pwned").exists(), "{value:?} ran a command");
    }
}

/// A small deterministic generator for the kill times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sigkill_at_random_moments_then_resume() {
    let p = project("kill");
    let mut rng = Rng(0x5eed_4b1d);
    let expected: String = (0..12).map(|i| format!("branch {i}: hello\n")).collect();
    for round in 0..20 {
        // Each round starts from an empty state.
        let state = p.dir.join(".expc");
        expc_tests::remove_tree(&state);
        let mut child = p
            .command(
                "pipeline.exp",
                &["-j", "3", "-p", "width=12"],
                &[("EXPC_TEST_SLEEP", "0.05")],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let wait = Duration::from_millis(50 + rng.next() % 700);
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Orphaned tasks may still be finishing; give them a moment.
        std::thread::sleep(Duration::from_millis(150));
        let finished = finished_instances(&state);
        let before = p.log().len();
        let out = p.run("pipeline.exp", &["-j", "3", "-p", "width=12"], &[]);
        ok(&out);
        assert_eq!(
            p.out("g/all.txt"),
            expected,
            "round {round}: wrong output after resume"
        );
        let rerun: Vec<String> = p.log()[before..].iter().map(|l| l[1].clone()).collect();
        for name in &rerun {
            assert!(
                !finished.contains(name),
                "round {round} (killed after {wait:?}): `{name}` had finished but ran again"
            );
        }
        let started = tasks(&out, "task_started");
        for name in &finished {
            assert!(
                !started.contains(name),
                "round {round}: `{name}` had finished but was started again"
            );
        }
    }
}

/// Instances with a cache entry, named as the run names them (`b[3]`).
fn finished_instances(state: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in expc_tests::files_in(&state.join("cache"), "json") {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&file).unwrap())
        else {
            continue;
        };
        let job = v["job"].as_str().unwrap_or_default();
        let index = v["index"].as_u64().unwrap_or(0);
        out.insert(if job == "b" {
            format!("b[{index}]")
        } else {
            job.to_owned()
        });
    }
    out
}

fn ctrl_c_stops_the_tasks_and_the_run_resumes() {
    let p = project("interrupt");
    let child = p
        .command("pipeline.exp", &["-j", "4"], &[("EXPC_TEST_SLEEP", "3")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let started = std::time::Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    // The sleeping tasks were stopped (SIGTERM), not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the run took {:?} to stop",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("interrupted"), "{text}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        p.log().is_empty(),
        "a task went on after the interrupt: {:?}",
        p.log()
    );
    // Resumed, it finishes.
    let resumed = p.run("pipeline.exp", &["-j", "4"], &[]);
    ok(&resumed);
    assert_eq!(tasks(&resumed, "task_finished").len(), 7);
}

/// The log lines (`MODE NAME PID START END`) of the task `name`.
fn spans_of(p: &Project, name: &str) -> Vec<(f64, f64)> {
    p.log()
        .iter()
        .filter(|l| l.len() == 5 && l[1] == name)
        .map(|l| (l[3].parse().unwrap(), l[4].parse().unwrap()))
        .collect()
}

/// `b` reads nothing of `a` and runs `after [a]`: with room for both at once, it starts
/// only once `a` has finished.
fn after_runs_a_call_once_the_other_finished() {
    let p = project("after");
    let out = p.run("order.exp", &["-j", "4"], &[("EXPC_TEST_SLEEP", "0.3")]);
    ok(&out);
    let (a, b) = (spans_of(&p, "a"), spans_of(&p, "b"));
    assert_eq!((a.len(), b.len()), (1, 1), "{:?}", p.log());
    assert!(
        b[0].0 >= a[0].1,
        "b started at {} before a ended at {}",
        b[0].0,
        a[0].1
    );
    // Unrelated calls still overlap: `a` and `s` read nothing of each other.
    let s = spans_of(&p, "s");
    assert!(
        s[0].0 < a[0].1 && a[0].0 < s[0].1,
        "a {a:?} and s {s:?} did not overlap"
    );
    // The order is in no key: a second run serves both from the cache.
    let again = p.run("order.exp", &[], &[]);
    ok(&again);
    assert_eq!(tasks(&again, "task_started"), set(&["s"]));
    // Nor is placement: under the profile (here, with `--local`) the same, and the run's
    // provenance says which profile moved what.
    let moved = p.run("order.exp", &["--profile", "hpc"], &[]);
    ok(&moved);
    assert_eq!(tasks(&moved, "task_started"), set(&["s"]));
    let rows = expc_tests::query(
        &p.dir.join(".expc"),
        "SELECT environment FROM runs ORDER BY started_at DESC LIMIT 1",
    );
    let env: serde_json::Value =
        serde_json::from_str(rows[0]["environment"].as_str().unwrap()).unwrap();
    assert_eq!(env["profile"]["name"], "hpc", "{env}");
    assert_eq!(env["profile"]["moves"]["here"], "cluster", "{env}");
    assert_eq!(
        env["profile"]["moved_calls"]["b"],
        serde_json::json!({ "declared": "here", "moved_to": "cluster" }),
        "{env}"
    );
}

/// The outputs a run lists at its end are its final ones: those no call reads. An order
/// without data (`b` after `a`) does not read `a`; `c` reads `s`. The same on a rerun
/// where everything is cached.
fn the_outputs_listed_at_the_end_are_those_nothing_reads() {
    let p = project("final");
    for run in 0..2 {
        // Without `--json`: the list is the plain summary's.
        let out = Command::new(expc_tests::expc())
            .args(["run", "--local", "order.exp"])
            .current_dir(&p.dir)
            .env("EXPC_TEST_LOG", &p.log)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        ok(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let listed: BTreeSet<&str> = stderr
            .split_once("outputs:\n")
            .map_or("", |(_, rest)| rest)
            .lines()
            .filter_map(|l| l.strip_prefix("  ")?.split_once(':').map(|(name, _)| name))
            .collect();
        assert_eq!(
            listed,
            BTreeSet::from(["a.out", "b.out", "c.out"]),
            "run {run}: {stderr}"
        );
    }
}

/// `stamp` says `cache = false`: it runs on every run, and `c`, which reads it, runs
/// again only when what it made is new.
fn cache_false_runs_every_time_and_its_dependants_on_new_content_only() {
    let p = project("uncached");
    let first = p.run("order.exp", &[], &[]);
    ok(&first);
    assert_eq!(tasks(&first, "task_started"), set(&["a", "b", "s", "c"]));

    let again = p.run("order.exp", &[], &[]);
    ok(&again);
    assert_eq!(tasks(&again, "task_started"), set(&["s"]));
    assert_eq!(tasks(&again, "task_cached"), set(&["a", "b", "c"]));

    let why = Command::new(expc_tests::expc())
        .args(["why", "order.exp"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let why = String::from_utf8_lossy(&why.stdout);
    assert!(
        why.contains("s: will run — not cached (cache = false)"),
        "{why}"
    );
    assert!(why.contains("c: cached"), "{why}");

    // New content for `stamp`: it and what reads it run (and `b`, which reads the file).
    std::fs::write(p.dir.join("input.txt"), "hello again\n").unwrap();
    let edited = p.run("order.exp", &[], &[]);
    ok(&edited);
    assert_eq!(tasks(&edited, "task_started"), set(&["b", "s", "c"]));
    assert_eq!(p.out("c/kept.txt"), "hello again\n");

    // The plan says so.
    let plan = Command::new(expc_tests::expc())
        .args(["plan", "order.exp"])
        .current_dir(&p.dir)
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("cache      false"), "{plan}");
    assert!(plan.contains("after      a (order only)"), "{plan}");
}

/// Placement is in no key, so a profile reuses what ran where the spec places it; but the
/// software environment a resource brings (its `modules`) is, so a profile that moves
/// calls to such a resource runs them again — once — even with no edit of the spec.
fn a_profile_that_brings_modules_runs_again_and_one_that_does_not_reuses() {
    let p = project("profile-modules");
    let src = std::fs::read_to_string(p.dir.join("order.exp")).unwrap();
    let with_modules = src.replace(
        "partition = \"cpu\"",
        "partition = \"cpu\"\n  modules = [\"python/3.11\"]",
    );
    assert_ne!(src, with_modules);
    std::fs::write(p.dir.join("modules.exp"), with_modules).unwrap();
    ok(&p.run("order.exp", &[], &[]));
    let moved = p.run("order.exp", &["--profile", "hpc"], &[]);
    ok(&moved);
    assert_eq!(tasks(&moved, "task_started"), set(&["s"]));

    ok(&p.run("modules.exp", &[], &[]));
    let moved = p.run("modules.exp", &["--profile", "hpc"], &[]);
    ok(&moved);
    assert_eq!(tasks(&moved, "task_started"), set(&["a", "b", "s", "c"]));
    let again = p.run("modules.exp", &["--profile", "hpc"], &[]);
    ok(&again);
    assert_eq!(tasks(&again, "task_started"), set(&["s"]));
}
