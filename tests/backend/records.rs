//! What a run records of itself tells the truth: where each instance really ran, whether
//! the spec was committed, every value it was given, every file it read — its program
//! included — and the metrics of the task that evaluated a model, with the model.

use std::path::{Path, PathBuf};
use std::process::Command;

use expc_tests::Suite;
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "a_local_run_records_where_its_instances_ran_and_where_they_were_placed",
        a_local_run_records_where_its_instances_ran_and_where_they_were_placed,
    );
    suite.test(
        "an_untracked_spec_is_recorded_as_a_dirty_checkout",
        an_untracked_spec_is_recorded_as_a_dirty_checkout,
    );
    suite.test("list_values_are_recorded", list_values_are_recorded);
    suite.test(
        "the_program_a_command_names_is_recorded_as_read",
        the_program_a_command_names_is_recorded_as_read,
    );
    suite.test(
        "a_model_shows_the_metrics_of_the_task_that_evaluated_it",
        a_model_shows_the_metrics_of_the_task_that_evaluated_it,
    );
}

/// A project in a temporary folder with `tests/records/records.exp` and its program.
struct Project {
    dir: PathBuf,
    spec: PathBuf,
    state: PathBuf,
}

impl Project {
    fn new(test: &str) -> Project {
        let dir = expc_tests::temp_path("records", test);
        std::fs::create_dir_all(&dir).unwrap();
        let root = expc_tests::root();
        for f in ["records.exp", "model.py"] {
            std::fs::copy(root.join("tests/records").join(f), dir.join(f)).unwrap();
        }
        Project {
            spec: dir.join("records.exp"),
            state: dir.join(".expc"),
            dir,
        }
    }

    /// `expc run --local`, which must succeed; its standard error.
    fn run_here(&self) -> String {
        let out = Command::new(expc_tests::expc())
            .args(["run", "--local"])
            .arg(&self.spec)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        err
    }

    /// The standard output of `expc ARGS… --state-dir STATE`, which must succeed.
    fn read(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new(expc_tests::expc())
            .args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn query(&self, sql: &str) -> Vec<Value> {
        expc_tests::query(&self.state, sql)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        expc_tests::remove_tree(&self.dir);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Calls placed on Slurm and run with `--local` are recorded as run here, with the
/// resource the spec placed them on, and the run keeps the placements the spec declared.
/// The note that the task's modules are not loaded here is printed.
fn a_local_run_records_where_its_instances_ran_and_where_they_were_placed() {
    let p = Project::new("placement");
    let err = p.run_here();
    assert!(
        err.contains("`t` runs on this machine without the modules python/3.11"),
        "{err}"
    );
    let rows = p.query("SELECT DISTINCT backend, resource FROM tasks");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["backend"], "local");
    assert_eq!(rows[0]["resource"], "cluster");
    let env: Value = serde_json::from_str(
        p.query("SELECT environment FROM runs")[0]["environment"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(env["ran_here"], true);
    assert_eq!(env["declared_placements"]["t"]["backend"], "slurm");
    assert_eq!(env["declared_placements"]["e"]["resource"], "cluster");
}

/// A spec git does not track, in a repository whose HEAD is clean otherwise, makes the run
/// dirty, and the run names it.
fn an_untracked_spec_is_recorded_as_a_dirty_checkout() {
    let p = Project::new("git");
    git(&p.dir, &["init", "-q"]);
    std::fs::write(p.dir.join("README"), "x\n").unwrap();
    std::fs::write(p.dir.join(".gitignore"), ".expc/\n").unwrap();
    git(&p.dir, &["add", "README", ".gitignore"]);
    git(&p.dir, &["commit", "-q", "-m", "first"]);
    p.run_here();
    let run = &p.query("SELECT git_commit, git_dirty, git_diff_hash, environment FROM runs")[0];
    assert!(
        run["git_commit"].as_str().is_some_and(|c| c.len() == 40),
        "{run}"
    );
    assert_eq!(run["git_dirty"], 1, "{run}");
    assert!(run["git_diff_hash"].is_string(), "{run}");
    let env: Value = serde_json::from_str(run["environment"].as_str().unwrap()).unwrap();
    let untracked: Vec<&str> = env["git_changes"]["untracked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(untracked.contains(&"records.exp"), "{untracked:?}");
    assert!(untracked.contains(&"model.py"), "{untracked:?}");
}

/// A list value given to an instance (a sweep over lists) is recorded, so that the two
/// instances that differ only in it are told apart.
fn list_values_are_recorded() {
    let p = Project::new("lists");
    p.run_here();
    let rows = p.query(
        "SELECT t.instance, v.value FROM task_values v JOIN tasks t ON t.run_id = v.run_id AND t.id = v.task_id WHERE v.name = 'sizes' ORDER BY t.instance",
    );
    let values: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["instance"].as_str().unwrap(),
                r["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(values, [("t[0]", "[16,16]"), ("t[1]", "[24,24]")]);
}

/// The program a command names (`python3 ${model_py}`) is recorded as read, with its path
/// and digest, as a program.
fn the_program_a_command_names_is_recorded_as_read() {
    let p = Project::new("program");
    p.run_here();
    let rows = p.query(
        "SELECT instance, input, path, digest, used_as FROM task_reads WHERE used_as = 'program' ORDER BY instance",
    );
    assert_eq!(rows.len(), 4, "{rows:?}");
    let digest = blake3::hash(&std::fs::read(p.dir.join("model.py")).unwrap())
        .to_hex()
        .to_string();
    for r in &rows {
        assert_eq!(r["input"], "model_py");
        assert!(r["path"].as_str().unwrap().ends_with("/model.py"), "{r}");
        assert_eq!(r["digest"], digest.as_str());
    }
    // The model the evaluation reads is an input, not a program.
    let inputs =
        p.query("SELECT COUNT(*) AS n FROM task_reads WHERE used_as = 'input' AND input = 'model'");
    assert_eq!(inputs[0]["n"], 2);

    // The role is in what `runs show` prints and in both exports.
    let expc = |args: &[&str]| p.read(args);
    let show: Value =
        serde_json::from_slice(&expc(&["runs", "show", "latest", "--format", "json"])).unwrap();
    let programs = show["usages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["used_as"] == "program")
        .count();
    assert_eq!(programs, 4, "{show}");
    let out = p.dir.join("exported");
    for format in ["prov-json", "ro-crate"] {
        let dir = out.join(format);
        expc(&[
            "prov",
            "export",
            "latest",
            "--format",
            format,
            "-o",
            dir.to_str().unwrap(),
        ]);
    }
    let prov = std::fs::read_to_string(out.join("prov-json/prov.json")).unwrap();
    assert_eq!(
        prov.matches("\"expc:usedAs\": \"program\"").count()
            + prov.matches("\"expc:usedAs\":\"program\"").count(),
        4,
        "{prov}"
    );
    let crate_doc: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("ro-crate/ro-crate-metadata.json")).unwrap(),
    )
    .unwrap();
    // Source code that is not the workflow (the spec) itself.
    let code: Vec<&Value> = crate_doc["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["@type"].as_array().is_some_and(|t| {
                t.contains(&Value::from("SoftwareSourceCode"))
                    && !t.contains(&Value::from("ComputationalWorkflow"))
            })
        })
        .collect();
    assert_eq!(code.len(), 1, "{code:?}");
    assert!(
        code[0]["@id"].as_str().unwrap().ends_with("model.py"),
        "{code:?}"
    );
}

/// `expc models` shows, with each model version, the metrics of the task that produced it
/// and of the task that evaluated it.
fn a_model_shows_the_metrics_of_the_task_that_evaluated_it() {
    let p = Project::new("models");
    p.run_here();
    let models: Vec<Value> =
        serde_json::from_slice(&p.read(&["models", "--format", "json"])).unwrap();
    assert_eq!(models.len(), 2, "{models:?}");
    for m in &models {
        let metrics = m["metrics"].as_str().unwrap();
        let i = &m["instance"].as_str().unwrap()[1..];
        assert!(metrics.contains("train_loss="), "{m}");
        assert!(metrics.contains(&format!("e{i}.val_mse=")), "{m}");
    }
}
