//! Every example runs end to end with `expc run --local` on the small data it ships or
//! generates, and a second run is entirely cached.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.test("hello_runs", || end_to_end("hello", &[]));
    suite.test("stabilizer_runs", || end_to_end("stabilizer", &[]));
    suite.test("detection_runs", || end_to_end("detection", &[]));
    suite.test("samplesheet_runs", || end_to_end("samplesheet", &[]));
    suite.test("splitmerge_runs", || end_to_end("splitmerge", &[]));
    suite.test("training_runs_with_a_nested_params_file", || {
        end_to_end("training", &["--params", "params/tuned.yaml"])
    });
    suite.test(
        "registry_runs_and_select_chooses_from_what_it_registered",
        registry_runs_and_select_chooses_from_what_it_registered,
    );
    // 100 simulations instead of 1,200: the same pipeline, at a size for a test.
    suite.test("simstudy_runs_with_one_replica_per_point", || {
        end_to_end("simstudy", &["-p", "replicas=1"])
    });
    suite.test(
        "rainfall_runs_with_spark_submit_or_says_it_is_missing",
        rainfall_runs_with_spark_submit_or_says_it_is_missing,
    );
    suite.test(
        "kubernetes_placements_without_a_local_run_dir_are_refused_with_what_to_do",
        kubernetes_placements_without_a_local_run_dir_are_refused_with_what_to_do,
    );
}

/// A copy of the example `name` (without any state a run left in the checkout).
fn scratch(name: &str) -> PathBuf {
    expc_tests::copy_of("example", name, &format!("examples/{name}"))
}

fn run(dir: &Path, spec: &str, args: &[&str]) -> Output {
    let mut c = Command::new(expc_tests::expc());
    c.args(["run", "--local", "--json", spec])
        .args(args)
        // The key the rainfall bulletin is signed with (a secret read from the environment).
        .env("RAIN_ALERT_KEY", "examples-test-key")
        .current_dir(dir);
    // PySpark's spark-submit first on PATH, wherever pip put it.
    if Engine::Spark.available().is_ok() {
        let bin = expc_tests::engine::spark_submit()
            .parent()
            .unwrap()
            .to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(bin).chain(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    c.output().unwrap()
}

fn count(out: &Output, event: &str) -> usize {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("\"event\":\"{event}\"")))
        .count()
}

fn end_to_end(name: &str, args: &[&str]) {
    let dir = scratch(name);
    let spec = format!("{name}.exp");
    let first = run(&dir, &spec, args);
    assert!(
        first.status.success(),
        "{name}: {}\n{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(count(&first, "task_finished") > 0);
    let second = run(&dir, &spec, args);
    assert!(second.status.success());
    assert_eq!(
        count(&second, "task_started"),
        0,
        "{name}: the second run ran tasks"
    );
    assert_eq!(
        count(&second, "task_cached"),
        count(&first, "task_finished")
    );
    expc_tests::remove_tree(&dir);
}

/// The rainfall example runs end to end here too: its Spark task through a real
/// `spark-submit` (`local[N]`; PySpark from scripts/install-spark.sh), its sweep and the
/// local tasks after it, and a second run is entirely cached. Without Spark, the run says
/// what is missing and the tasks that need the Spark output are skipped, not failed.
fn rainfall_runs_with_spark_submit_or_says_it_is_missing() {
    if Engine::Spark.present() {
        end_to_end("rainfall", &[]);
        return;
    }
    eprintln!("note: rainfall ran without Spark (scripts/install-spark.sh installs it)");
    let dir = scratch("rainfall");
    let out = run(&dir, "rainfall.exp", &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cannot start `spark-submit`"), "{text}");
    // The tasks that do not depend on Spark are not blocked by it: there are none
    // here, so everything after `c` is skipped, not failed.
    assert!(text.contains("\"event\":\"task_skipped\""), "{text}");
    expc_tests::remove_tree(&dir);
}

/// `expc run` submits to Kubernetes only where the resource says where its run volume is
/// mounted here: the detection example's `cloud` does not, so the run is refused before
/// anything runs or is written, with what to do instead.
fn kubernetes_placements_without_a_local_run_dir_are_refused_with_what_to_do() {
    // In a copy: a run of the example in the checkout (as the README suggests) leaves
    // state there, and this test must see only what this run writes.
    let dir = scratch("detection");
    let out = Command::new(expc_tests::expc())
        .args(["run", "detection.exp"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // (The message is wrapped to the terminal's width.)
    let err = err.replace('│', " ");
    let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        err.contains("`c` is placed on `cloud`, which does not say"),
        "{err}"
    );
    assert!(err.contains("Set `local_run_dir` of `cloud`"), "{err}");
    assert!(err.contains("expc build --target k8s"), "{err}");
    assert!(err.contains("--local"), "{err}");
    assert!(!dir.join(".expc").exists(), "the run wrote state");
    expc_tests::remove_tree(&dir);
}

/// `registry.exp` registers three versions of `slope`; `select.exp` then chooses the best
/// and the top three from them, and registers their average.
fn registry_runs_and_select_chooses_from_what_it_registered() {
    let dir = scratch("registry");
    let refused = run(&dir, "select.exp", &[]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("E0240") && err.contains("no model `slope`"),
        "{err}"
    );
    let first = run(&dir, "registry.exp", &[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let select = run(&dir, "select.exp", &[]);
    assert!(
        select.status.success(),
        "{}",
        String::from_utf8_lossy(&select.stderr)
    );
    let again = run(&dir, "select.exp", &[]);
    assert!(again.status.success());
    assert_eq!(count(&again, "task_started"), 0, "the second run ran tasks");
    let names = expc_tests::query(
        &dir.join(".expc"),
        "SELECT name, COUNT(*) AS n FROM model_versions GROUP BY name ORDER BY name",
    );
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        (names[0]["name"].as_str(), names[0]["n"].as_i64()),
        (Some("slope"), Some(3))
    );
    assert_eq!(names[1]["name"], "slope-ensemble");
    expc_tests::remove_tree(&dir);
}
