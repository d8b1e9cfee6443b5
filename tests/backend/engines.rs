//! `expc run` without `--local`: each call runs on the engine it is placed on. Here, Spark
//! tasks through the real `spark-submit` (PySpark, `local[2]`) with their resource's
//! options; the Slurm side is in tests/slurm.rs, on the real cluster.
//!
//! Without spark-submit the test is ignored, with the reason; under `CI=true` it fails.

use std::path::Path;
use std::process::{Command, Output};

use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.needs(
        Engine::Spark,
        "spark_tasks_run_through_spark_submit_with_their_resources_options",
        spark_tasks_run_through_spark_submit_with_their_resources_options,
    );
}

/// `expc run` in `project` with spark-submit's folder first on PATH and Spark kept small
/// and quiet.
fn run(spark_submit: &Path, project: &Path, state: &Path, args: &[&str]) -> Output {
    let bin = spark_submit.parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    Command::new(expc_tests::expc())
        .args(["run", "--state-dir", state.to_str().unwrap()])
        .args(args)
        .current_dir(project)
        .env("PATH", path)
        .env("SPARK_HOME", bin.parent().unwrap())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env(
            "SPARK_SUBMIT_OPTS",
            "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dspark.ui.enabled=false",
        )
        .env_remove("EXPC_SPARK_MASTER")
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .output()
        .unwrap()
}

/// A Spark task placed on `Spark { master = "local[2]" … }` runs through spark-submit with
/// the resource's master and options, its hostile arguments reach the application byte
/// for byte (even without a UTF-8 locale), its output is stored and recorded, and a second
/// run submits nothing.
fn spark_tasks_run_through_spark_submit_with_their_resources_options() {
    let spark_submit = expc_tests::engine::spark_submit();
    let corpus = expc_tests::hostile_values(&["--conf=spark.master=yarn"]);
    let value = "$(touch pwned) it's ünï";
    let dir = expc_tests::temp_path("engines", "spark");
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("values.yaml");
    std::fs::write(
        &params,
        format!(
            "values: {}\nvalue: {}\n",
            serde_json::to_string(&corpus).unwrap(),
            serde_json::to_string(value).unwrap()
        ),
    )
    .unwrap();
    let state = dir.join("state");
    // A copy of the fixtures' folder, so that nothing the run does lands in the checkout.
    let project = dir.join("spark");
    expc_tests::copy_dir(&expc_tests::root().join("tests/spark"), &project);
    let spec = "injection.exp";
    let out = run(
        spark_submit,
        &project,
        &state,
        &["--json", "--params", params.to_str().unwrap(), spec],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read(state.join("out/e/argv.json")).unwrap();
    let got: Vec<String> = serde_json::from_slice(&written).unwrap();
    let mut want: Vec<String> = corpus.iter().map(|s| s.to_string()).collect();
    want.push(format!("prefix-{value}"));
    want.push(format!("--flag={value}"));
    assert_eq!(got, want, "the application's arguments differ");
    assert!(
        !expc_tests::root().join("pwned").exists()
            && !dir.join("pwned").exists()
            && !project.join("pwned").exists(),
        "a value was run by a shell"
    );
    // The argv that ran: the resource's master and options, then the application.
    let rows = expc_tests::run(&[
        "query",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "json",
        "SELECT backend, argv FROM tasks",
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows[0]["backend"], "spark", "{rows}");
    let argv: Vec<String> = serde_json::from_str(rows[0]["argv"].as_str().unwrap()).unwrap();
    assert_eq!(
        &argv[1..7],
        [
            "--master",
            "local[2]",
            "--deploy-mode",
            "client",
            "--driver-memory",
            "512m"
        ],
        "{argv:?}"
    );
    // Cached like any task: nothing is submitted again.
    let again = run(
        spark_submit,
        &project,
        &state,
        &["--json", "--params", params.to_str().unwrap(), spec],
    );
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{said}");
    assert!(said.contains("\"event\":\"task_cached\""), "{said}");
    assert!(!said.contains("\"event\":\"task_started\""), "{said}");
    expc_tests::remove_tree(&dir);
}
