//! Provenance end to end, through the real binary: runs recorded in the store and answered
//! by `expc runs`, `expc query`, `expc models`; exports checked by the real validators
//! (the `prov` package and `rocrate-validator`, installed by
//! `scripts/install-prov-validators.sh`); a sentinel secret found nowhere; a run killed
//! with SIGKILL leaving an intact store with the run marked interrupted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use expc_tests::{Engine, Suite};
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "runs_are_recorded_and_answer_queries",
        runs_are_recorded_and_answer_queries,
    );
    suite.test(
        "a_rerun_refers_to_the_records_it_reuses",
        a_rerun_refers_to_the_records_it_reuses,
    );
    suite.needs(
        Engine::ProvValidators,
        "a_reruns_exports_pass_the_real_validators",
        a_reruns_exports_pass_the_real_validators,
    );
    suite.needs(
        Engine::ProvValidators,
        "exports_pass_the_real_validators_and_broken_ones_do_not",
        exports_pass_the_real_validators_and_broken_ones_do_not,
    );
    suite.needs(
        Engine::ProvValidators,
        "a_file_sets_files_are_entities_of_exports_that_validate",
        a_file_sets_files_are_entities_of_exports_that_validate,
    );
    suite.test(
        "a_sample_sheets_files_are_entities_of_exports_that_validate",
        a_sample_sheets_files_are_entities_of_exports_that_validate,
    );
    suite.test(
        "a_secret_reaches_no_file_the_run_or_the_exports_wrote",
        a_secret_reaches_no_file_the_run_or_the_exports_wrote,
    );
    suite.test(
        "a_run_killed_with_sigkill_leaves_an_intact_store_and_is_marked_interrupted",
        a_run_killed_with_sigkill_leaves_an_intact_store_and_is_marked_interrupted,
    );
    suite.test(
        "the_suggested_runs_show_works_from_where_the_run_was_started",
        the_suggested_runs_show_works_from_where_the_run_was_started,
    );
    suite.test(
        "a_run_refuses_up_front_naming_every_unset_secret_and_its_tasks",
        a_run_refuses_up_front_naming_every_unset_secret_and_its_tasks,
    );
    suite.test(
        "cluster_hook_records_are_ingested_as_a_run",
        cluster_hook_records_are_ingested_as_a_run,
    );
}

const SENTINEL: &str = "Sentinel-Secret/42+é&x=1";

struct Project {
    dir: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        expc_tests::remove_tree(&self.dir);
    }
}

fn project(name: &str) -> Project {
    let files = ["train.exp", "train.py", "rows.csv"];
    Project {
        dir: expc_tests::fresh_copy(&format!("prov-{name}"), "tests/prov", &files),
    }
}

impl Project {
    fn expc(&self, args: &[&str]) -> Output {
        Command::new(expc_tests::expc())
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("EXPC_PROV_TEST_TOKEN", SENTINEL)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.expc(args);
        assert!(
            out.status.success(),
            "expc {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    fn query(&self, sql: &str) -> Vec<Value> {
        match self.json(&["query", "--format", "json", sql]) {
            Value::Array(rows) => rows,
            other => panic!("not rows: {other}"),
        }
    }

    /// Runs the spec with `--json`; returns the id of the run, from its last event.
    fn run(&self, params: &[&str]) -> String {
        let mut args = vec!["run", "--local", "--json", "train.exp"];
        for p in params {
            args.push("-p");
            args.push(p);
        }
        let out = self.ok(&args);
        let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(last["event"], "run_recorded", "{out}");
        let id = last["run"].as_str().unwrap().to_owned();
        let newest = self.query("SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1")[0]
            ["id"]
            .clone();
        assert_eq!(newest, id.as_str());
        id
    }
}

/// The loss `train.py` reports for a rate (it reads 4 rows).
fn loss(rate: f64) -> f64 {
    (rate - 0.001).abs() * 1000.0 + 1.0 / 4.0
}

fn runs_are_recorded_and_answer_queries() {
    let p = project("queries");
    let lrs = [0.0005, 0.002, 0.0001];
    let ids: Vec<String> = lrs.iter().map(|lr| p.run(&[&format!("lr={lr}")])).collect();

    let runs = p.json(&["runs", "--format", "json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["instances"], 5, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
    }

    // All runs where lr < 1e-3, ordered by their best validation loss.
    let rows = p.query(
        "SELECT r.id, p.num AS lr,
           (SELECT MIN(m.value) FROM task_metrics m WHERE m.run_id = r.id AND m.name = 'val_loss') AS val_loss
         FROM runs r JOIN params p ON p.run_id = r.id AND p.name = 'lr'
         WHERE p.num < 1e-3 ORDER BY val_loss",
    );
    let mut expected: Vec<(String, f64, f64)> = lrs
        .iter()
        .zip(&ids)
        .filter(|(lr, _)| **lr < 1e-3)
        .map(|(lr, id)| {
            let best = [0.5, 1.0, 2.0]
                .iter()
                .map(|f| loss(lr * f))
                .fold(f64::INFINITY, f64::min);
            (id.clone(), *lr, best)
        })
        .collect();
    expected.sort_by(|a, b| a.2.total_cmp(&b.2));
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for (row, (id, lr, best)) in rows.iter().zip(&expected) {
        assert_eq!(row["id"].as_str(), Some(id.as_str()));
        assert!((row["lr"].as_f64().unwrap() - lr).abs() < 1e-12, "{row}");
        assert!(
            (row["val_loss"].as_f64().unwrap() - best).abs() < 1e-9,
            "{row}"
        );
    }

    // Which runs used the input with digest X: change the input, run again, and only the
    // first three runs used the old digest.
    let digest = p.query("SELECT DISTINCT digest FROM artifacts WHERE name = 'rows'");
    assert_eq!(digest.len(), 1, "{digest:?}");
    let digest = digest[0]["digest"].as_str().unwrap().to_owned();
    std::fs::write(p.dir.join("rows.csv"), "a,b\n1,2\n").unwrap();
    let fourth = p.run(&["lr=0.0005"]);
    let used = p.query(&format!(
        "SELECT a.run_id FROM artifacts a
         WHERE a.digest GLOB '{}*'
           AND EXISTS (SELECT 1 FROM usages u WHERE u.run_id = a.run_id AND u.artifact_id = a.id)
         ORDER BY a.run_id",
        &digest[..12]
    ));
    let mut want = ids.clone();
    want.sort();
    let got: Vec<&str> = used.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(got, want);
    assert!(!got.contains(&fourth.as_str()));

    // Every instance is there with its argv, times, and what it read and made.
    let show = p.json(&["runs", "show", &ids[0], "--format", "json"]);
    let tasks = show["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 5);
    for t in tasks {
        assert_eq!(t["status"], "ran", "{t}");
        assert!(t["started_at"].as_str().unwrap() <= t["ended_at"].as_str().unwrap());
        assert_eq!(t["argv"][0], "python3", "{t}");
        assert_eq!(t["cache_key"].as_str().map(str::len), Some(64), "{t}");
    }
    let train: Vec<&Value> = tasks.iter().filter(|t| t["call"] == "t").collect();
    assert_eq!(train.len(), 3);
    assert!(train.iter().any(|t| t["values"]["factor"] == "2.0"));
    assert_eq!(show["metrics"].as_array().unwrap().len(), 6);
    // The text form names every instance.
    let text = p.ok(&["runs", "show", &ids[0][..ids[0].len() - 2]]);
    for name in ["t[0]", "t[1]", "t[2]", "b", "report", "val_loss"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }

    // Side by side: lr differs, pause does not; the losses differ.
    let cmp = p.json(&["runs", "compare", &ids[0], &ids[1], "--format", "json"]);
    let params = cmp["sections"]["params"].as_array().unwrap();
    let lr = params.iter().find(|r| r["name"] == "lr").unwrap();
    assert_eq!(lr["diff"], "≠");
    let pause = params.iter().find(|r| r["name"] == "pause").unwrap();
    assert_eq!(pause["diff"], "");
    let metrics = cmp["sections"]["metrics"].as_array().unwrap();
    let m = metrics
        .iter()
        .find(|r| r["metric"] == "t[0].val_loss")
        .unwrap();
    let delta = m["b"].as_f64().unwrap() - m["a"].as_f64().unwrap();
    assert!((m["delta"].as_f64().unwrap() - delta).abs() < 1e-12);
    assert!((m["a"].as_f64().unwrap() - loss(0.0005 * 0.5)).abs() < 1e-9);
    let outputs = cmp["sections"]["outputs"].as_array().unwrap();
    assert!(
        outputs
            .iter()
            .any(|r| r["output"] == "t[0].model" && r["diff"] == "≠")
    );

    // Model versions are digests, with the metrics of the instance that made them.
    let models = p.json(&["models", "--format", "json"]);
    let models = models.as_array().unwrap();
    assert_eq!(
        models.len(),
        4 * 4,
        "3 trainings and a pick in each of 4 runs"
    );
    assert!(
        models
            .iter()
            .filter(|m| m["output"] == "model")
            .all(|m| m["metrics"].as_str().unwrap().contains("val_loss="))
    );

    // The store is read-only to queries.
    let out = p.expc(&["query", "DELETE FROM runs"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only reads"));
    assert_eq!(p.query("SELECT COUNT(*) AS n FROM runs")[0]["n"], 4);
    // A bad query says where the tables are documented.
    let out = p.expc(&["query", "SELECT nope FROM runz"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("docs/provenance.md"));
}

/// What `expc runs show` says each instance read, made and measured, by instance name:
/// (values, argv, outputs made, inputs read, metrics), paths and digests standing for
/// artifacts (their ids differ from run to run).
fn by_instance(show: &Value) -> std::collections::BTreeMap<String, Value> {
    let artifacts: std::collections::HashMap<i64, (String, String)> = show["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap(),
                (
                    a["path"].as_str().unwrap().to_owned(),
                    a["digest"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for t in show["tasks"].as_array().unwrap() {
        let id = t["id"].as_i64().unwrap();
        let mut made: Vec<&(String, String)> = show["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["produced_by"].as_i64() == Some(id))
            .map(|a| &artifacts[&a["id"].as_i64().unwrap()])
            .collect();
        made.sort();
        let mut read: Vec<(&(String, String), &Value)> = show["usages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["task"].as_i64() == Some(id))
            .map(|u| (&artifacts[&u["artifact"].as_i64().unwrap()], &u["input"]))
            .collect();
        read.sort_by(|a, b| a.0.cmp(b.0));
        let metrics: Vec<&Value> = show["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["task"].as_i64() == Some(id))
            .collect();
        out.insert(
            t["instance"].as_str().unwrap().to_owned(),
            serde_json::json!({
                "values": t["values"],
                "argv": t["argv"],
                "cache_key": t["cache_key"],
                "made": made,
                "read": read,
                "metrics": metrics.iter().map(|m| (&m["name"], &m["value"])).collect::<Vec<_>>(),
            }),
        );
    }
    out
}

/// The exports of a run that refers to the records it reuses pass the real validators.
fn a_reruns_exports_pass_the_real_validators() {
    let p = project("reuse-exports");
    p.run(&[]);
    let second = p.run(&[]);
    let license = "https://spdx.org/licenses/CC-BY-4.0";
    p.ok(&[
        "prov",
        "export",
        &second,
        "--format",
        "prov-json",
        "-o",
        "prov2",
        "--license",
        license,
    ]);
    assert_valid(
        "rerun: PROV-JSON",
        &validate_prov(&p.dir.join("prov2/prov.json")),
    );
    p.ok(&[
        "prov",
        "export",
        &second,
        "--format",
        "ro-crate",
        "-o",
        "crate2",
        "--license",
        license,
    ]);
    assert_valid("rerun: RO-Crate", &validate_crate(&p.dir.join("crate2")));
}

/// A rerun records each cached instance as a reference to the record of the instance
/// that made its outputs: it copies none of their values, outputs, reads or metrics, yet
/// reads back (and exports) whole. An instance that runs again and reads outputs of
/// cached ones gives those outputs rows of the rerun.
fn a_rerun_refers_to_the_records_it_reuses() {
    let p = project("reuse");
    let first = p.run(&[]);
    let second = p.run(&[]);
    let count = |sql: &str, run: &str| -> i64 {
        p.query(&sql.replace("RUN", run))[0]["n"].as_i64().unwrap()
    };
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM tasks WHERE run_id = 'RUN' AND status = 'cached' AND source_run IS NOT NULL",
            &second
        ),
        5
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM tasks WHERE run_id = 'RUN' AND source_run = 'RUN'",
            &second
        ),
        0,
        "every source is the first run"
    );
    for table in ["task_values", "artifacts", "usages", "metrics"] {
        assert_eq!(
            count(
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE run_id = 'RUN'"),
                &second
            ),
            0,
            "{table} rows were copied"
        );
    }
    // Read back, the rerun is the first run's instances, cached.
    let a = p.json(&["runs", "show", &first, "--format", "json"]);
    let b = p.json(&["runs", "show", &second, "--format", "json"]);
    assert_eq!(by_instance(&a), by_instance(&b));
    assert!(
        b["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "cached")
    );
    // The views give the same as the first run's own rows.
    for (view, table) in [("task_metrics", "metrics"), ("task_inputs", "task_values")] {
        assert_eq!(
            count(
                &format!("SELECT COUNT(*) AS n FROM {view} WHERE run_id = 'RUN'"),
                &second
            ),
            count(
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE run_id = 'RUN'"),
                &first
            ),
            "{view}"
        );
    }
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM task_outputs WHERE run_id = 'RUN'",
            &second
        ),
        count(
            "SELECT COUNT(*) AS n FROM artifacts WHERE run_id = 'RUN' AND produced_by IS NOT NULL",
            &first
        ),
    );
    // Side by side, nothing differs.
    let cmp = p.json(&["runs", "compare", &first, &second, "--format", "json"]);
    for section in ["metrics", "outputs"] {
        let rows = cmp["sections"][section].as_array().unwrap();
        assert!(!rows.is_empty(), "{section}");
        assert!(rows.iter().all(|r| r["diff"] != "≠"), "{section}: {rows:?}");
    }
    // A model version is listed once, with the run that made it.
    let models = p.json(&["models", "--format", "json"]);
    assert_eq!(models.as_array().unwrap().len(), 4, "{models}");
    assert!(
        models
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["run"] == first.as_str())
    );

    // The pick changes (a variable of its own): it runs again, reading the outputs of the
    // three cached trainings, which get rows in the third run, made by its cached
    // instances; the report reads an unchanged pick, and is cached.
    let spec = p.dir.join("train.exp");
    let text = std::fs::read_to_string(&spec).unwrap();
    let changed = text.replacen(
        "  run `python3 ${train_py} pick",
        "  env {\n    vars {\n      NOTE = \"again\"\n    }\n  }\n  run `python3 ${train_py} pick",
        1,
    );
    assert_ne!(text, changed);
    std::fs::write(&spec, changed).unwrap();
    let third = p.run(&[]);
    let c = p.json(&["runs", "show", &third, "--format", "json"]);
    let statuses: std::collections::BTreeMap<&str, &str> = c["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["instance"].as_str().unwrap(),
                t["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses["b"], "ran", "{statuses:?}");
    assert_eq!(statuses["t[0]"], "cached", "{statuses:?}");
    assert_eq!(statuses["report"], "cached", "{statuses:?}");
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM usages u JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id JOIN tasks t ON t.run_id = a.run_id AND t.id = a.produced_by WHERE u.run_id = 'RUN' AND t.status = 'cached' AND t.call = 't'",
            &third
        ),
        6,
        "the pick read three models and three metrics files of cached trainings"
    );
    let (x, y) = (by_instance(&a), by_instance(&c));
    for name in ["t[0]", "t[1]", "t[2]", "report"] {
        assert_eq!(x[name], y[name], "{name}");
    }
    assert_eq!(
        x["b"]["read"], y["b"]["read"],
        "the pick read the same files"
    );
}

/// Runs expc in `dir` and asserts it succeeded.
fn ok_in(dir: &Path, args: &[&str]) {
    let out = Command::new(expc_tests::expc())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "expc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn validate_prov(file: &Path) -> Output {
    Command::new("python3")
        .arg(expc_tests::root().join("scripts/validate-prov.py"))
        .arg(file)
        .output()
        .unwrap()
}

fn validate_crate(dir: &Path) -> Output {
    Command::new("bash")
        .arg(expc_tests::root().join("scripts/validate-rocrate.sh"))
        .arg(dir)
        .output()
        .unwrap()
}

fn assert_valid(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} rejected:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run over a file set records every file as an input: each is an entity of the
/// PROV-JSON and a file of the RO-Crate, and both pass the validators.
fn a_file_sets_files_are_entities_of_exports_that_validate() {
    let ids: Vec<String> = ["s1_1.fq", "s1_2.fq", "s2_1.fq", "s2_2.fq"]
        .iter()
        .map(|f| format!("reads[data/{f}]"))
        .collect();
    inputs_are_entities_of_exports_that_validate("filesets", &ids);
}

/// A run over a sample sheet records the sheet and every file its rows name as inputs.
fn a_sample_sheets_files_are_entities_of_exports_that_validate() {
    let mut ids = vec!["samples/units.tsv".to_owned()];
    for s in ["wt_rep1", "wt_rep2", "ko_rep1"] {
        for r in ["R1", "R2"] {
            ids.push(format!("units[samples/reads/{s}_{r}.fq]"));
        }
    }
    inputs_are_entities_of_exports_that_validate("samplesheet", &ids);
}

/// Runs the example `name`, exports its provenance both ways, validates both, and finds
/// every one of `ids` in the PROV-JSON.
fn inputs_are_entities_of_exports_that_validate(name: &str, ids: &[String]) {
    let dir = expc_tests::copy_of("provenance", name, &format!("examples/{name}"));
    ok_in(&dir, &["run", "--local", &format!("{name}.exp")]);
    let license = "https://spdx.org/licenses/CC-BY-4.0";
    ok_in(
        &dir,
        &[
            "prov",
            "export",
            "latest",
            "--format",
            "prov-json",
            "-o",
            "prov",
            "--license",
            license,
        ],
    );
    let prov = dir.join("prov/prov.json");
    assert_valid(&format!("{name}: PROV-JSON"), &validate_prov(&prov));
    let text = std::fs::read_to_string(&prov).unwrap();
    for id in ids {
        assert!(text.contains(id.as_str()), "{name}: {id} is no input");
    }
    ok_in(
        &dir,
        &[
            "prov",
            "export",
            "latest",
            "--format",
            "ro-crate",
            "-o",
            "crate",
            "--license",
            license,
        ],
    );
    assert_valid(
        &format!("{name}: RO-Crate"),
        &validate_crate(&dir.join("crate")),
    );
    expc_tests::remove_tree(&dir);
}

fn exports_pass_the_real_validators_and_broken_ones_do_not() {
    // The test experiment, and the `hello` example.
    let p = project("exports");
    p.run(&[]);
    let hello = p.dir.join("hello");
    expc_tests::copy_dir(&expc_tests::root().join("examples/hello"), &hello);
    expc_tests::remove_tree(&hello.join(".expc"));
    ok_in(&hello, &["run", "--local", "hello.exp"]);

    for (dir, name) in [(p.dir.clone(), "train"), (hello.clone(), "hello")] {
        let export = |format: &str, to: &str| {
            let license = "https://spdx.org/licenses/CC-BY-4.0";
            let args = ["prov", "export", "latest", "--format", format, "-o", to];
            ok_in(&dir, &[&args[..], &["--license", license]].concat());
            dir.join(to)
        };
        let prov = export("prov-json", "prov").join("prov.json");
        assert_valid(&format!("{name}: PROV-JSON"), &validate_prov(&prov));
        let krate = export("ro-crate", "crate");
        assert_valid(&format!("{name}: RO-Crate"), &validate_crate(&krate));

        // Broken on purpose: an activity that ends before it starts.
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&prov).unwrap()).unwrap();
        let task = doc["activity"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .find(|a| a.get("prov:startTime").is_some() && a["prov:label"] != "run")
            .unwrap();
        task["prov:endTime"] = Value::String("2000-01-01T00:00:00.000Z".into());
        let broken = dir.join("broken.prov.json");
        std::fs::write(&broken, serde_json::to_vec(&doc).unwrap()).unwrap();
        assert!(
            !validate_prov(&broken).status.success(),
            "{name}: end before start passed"
        );

        // Broken on purpose: the run's action without its instrument.
        let meta = krate.join("ro-crate-metadata.json");
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        for e in doc["@graph"].as_array_mut().unwrap() {
            if e["@type"] == "CreateAction" {
                e.as_object_mut().unwrap().remove("instrument");
            }
        }
        std::fs::write(&meta, serde_json::to_vec(&doc).unwrap()).unwrap();
        let out = validate_crate(&krate);
        assert!(
            !out.status.success(),
            "{name}: a crate without instrument passed"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("instrument"));
    }
}

fn a_secret_reaches_no_file_the_run_or_the_exports_wrote() {
    let p = project("secret");
    let out = p.expc(&["run", "--local", "train.exp"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.ok(&[
        "prov",
        "export",
        "latest",
        "--format",
        "prov-json",
        "-o",
        "x-prov",
    ]);
    p.ok(&[
        "prov", "export", "latest", "--format", "ro-crate", "-o", "x-crate",
    ]);
    p.ok(&["runs", "show", "latest"]);
    // The task did get the secret: its report says it signed.
    let report = std::fs::read_to_string(p.dir.join(".expc/out/report/report.json")).unwrap();
    assert!(report.contains("\"signed\": true"), "{report}");

    let needles: Vec<(String, Vec<u8>)> = encodings(SENTINEL);
    let mut files = Vec::new();
    walk(&p.dir, &mut files);
    assert!(
        files.len() > 20,
        "too few files to be convincing: {files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("provenance.db")));
    assert!(files.iter().any(|f| f.ends_with("ro-crate-metadata.json")));
    let mut found = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for (how, needle) in &needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("{} ({how})", f.display()));
            }
        }
    }
    // What expc printed must not hold it either.
    for (how, needle) in &needles {
        for stream in [&out.stdout, &out.stderr] {
            if stream.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("expc's output ({how})"));
            }
        }
    }
    assert!(found.is_empty(), "the secret was found in: {found:#?}");
}

/// The secret as it could leak: raw, base64 (at each of the three alignments it can take
/// inside longer text), URL-encoded.
fn encodings(secret: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("raw".to_owned(), secret.as_bytes().to_vec())];
    for prefix in 0..3 {
        let mut bytes = vec![b'x'; prefix];
        bytes.extend_from_slice(secret.as_bytes());
        let encoded = base64(&bytes);
        // Skip the characters that depend on the prefix, and the padding at the end.
        let skip = (prefix * 4).div_ceil(3) + 1;
        let core = &encoded[skip..encoded.len() - 4];
        out.push((format!("base64/{prefix}"), core.as_bytes().to_vec()));
        out.push((
            format!("base64url/{prefix}"),
            core.replace('+', "-").replace('/', "_").into_bytes(),
        ));
    }
    let url: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    out.push(("url".into(), url.into_bytes()));
    out
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(&path, out);
        } else if ft.is_file() {
            out.push(path);
        }
    }
}

fn a_run_killed_with_sigkill_leaves_an_intact_store_and_is_marked_interrupted() {
    let p = project("killed");
    let mut child = Command::new(expc_tests::expc())
        .args(["run", "--local", "-j", "1", "train.exp", "-p", "pause=1.5"])
        .current_dir(&p.dir)
        .env("EXPC_PROV_TEST_TOKEN", SENTINEL)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first training has been recorded, then kill expc mid-run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the run never recorded a task");
        if p.dir.join(".expc/provenance.db").exists() {
            let out = p.expc(&[
                "query",
                "--format",
                "json",
                "SELECT COUNT(*) AS n FROM tasks",
            ]);
            let n = serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|v| v[0]["n"].as_i64())
                .unwrap_or(0);
            if n >= 1 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let check = p.query("PRAGMA integrity_check");
    assert_eq!(check[0]["integrity_check"], "ok", "{check:?}");
    let runs = p.json(&["runs", "--format", "json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    let recorded = p.query("SELECT COUNT(*) AS n FROM tasks")[0]["n"]
        .as_i64()
        .unwrap();
    assert!((1..5).contains(&recorded), "{recorded} tasks recorded");

    // Resuming records a second, complete run; the finished trainings come from the cache.
    p.ok(&["run", "--local", "-j", "1", "train.exp", "-p", "pause=1.5"]);
    let latest = p.json(&["runs", "show", "latest", "--format", "json"]);
    assert_eq!(latest["run"]["status"], "succeeded");
    assert!(
        latest["run"]["cached"].as_i64().unwrap() >= 1,
        "{}",
        latest["run"]
    );
}

/// Hook records as a Slurm job's provenance hook writes them (docs/slurm.md), for the
/// sweep of `tests/slurm/sweep.exp` with 4 points: the marks as one array, the third
/// retried once, then the gather.
fn write_hook_records(dir: &Path, plan: &Value, complete: bool) {
    let id = |key: &str| -> String {
        plan["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == key)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let run = dir.join("run");
    let line = |job: &str, i: u64, attempt: u32, event: &str, t: &str, extra: &str| -> String {
        let (jid, array) = if job == "m" {
            (
                "901".to_owned(),
                format!(r#""slurm_array_job_id":"900","slurm_array_task_id":"{i}""#),
            )
        } else {
            (
                "910".to_owned(),
                r#""slurm_array_job_id":null,"slurm_array_task_id":null"#.to_owned(),
            )
        };
        format!(
            r#"{{"schema":1,"event":"{event}","experiment":"slurm_sweep","job":"{job}","job_id":"{}","instance":{i},"instance_id":"x{i}","attempt":{attempt},"slurm_job_id":"{jid}",{array},"host":"node{i}","time":"2026-12-01T10:00:{t}Z"{extra}}}"#,
            id(job)
        )
    };
    let output = |job: &str, i: u64, file: &str, content: &str| -> String {
        let rel = format!("{job}/{i}/{file}");
        let path = run.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let sum = Command::new("sha256sum").arg(&path).output().unwrap();
        let hex = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        format!(
            r#","exit_status":0,"outputs":[{{"name":"out","path":"{rel}","kind":"file","sha256":"{hex}"}}]"#
        )
    };
    for i in 0..4u64 {
        let file = run.join(format!("provenance/m/{i}.jsonl"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let mut lines = vec![line("m", i, 1, "start", &format!("0{i}.000"), "")];
        if i == 2 {
            lines.push(line(
                "m",
                i,
                1,
                "end",
                "02.500",
                r#","exit_status":1,"outputs":[]"#,
            ));
            lines.push(line("m", i, 2, "start", "03.000", ""));
        }
        if i != 3 || complete {
            let out = output("m", i, "mark.txt", &"x".repeat(i as usize));
            lines.push(line(
                "m",
                i,
                if i == 2 { 2 } else { 1 },
                "end",
                "05.000",
                &out,
            ));
        }
        std::fs::write(file, lines.join("\n") + "\n").unwrap();
    }
    if complete {
        let file = run.join("provenance/g/0.jsonl");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let out = output("g", 0, "all.txt", "all");
        let lines = [
            line("g", 0, 1, "start", "06.000", ""),
            line("g", 0, 1, "end", "07.000", &out),
        ];
        std::fs::write(file, lines.join("\n") + "\n").unwrap();
    }
}

fn cluster_hook_records_are_ingested_as_a_run() {
    let p = project("ingest");
    std::fs::create_dir_all(p.dir.join("slurm")).unwrap();
    std::fs::create_dir_all(p.dir.join("run")).unwrap();
    std::fs::copy(
        expc_tests::root().join("tests/run/step.py"),
        p.dir.join("run/step.py"),
    )
    .unwrap();
    std::fs::copy(
        expc_tests::root().join("tests/slurm/sweep.exp"),
        p.dir.join("slurm/sweep.exp"),
    )
    .unwrap();
    let plan = p.json(&[
        "plan",
        "--format",
        "json",
        "slurm/sweep.exp",
        "-p",
        "points=4",
    ]);
    let spec = ["--spec", "slurm/sweep.exp", "-p", "points=4"];

    // A complete run, with one retried instance.
    let full = p.dir.join("full");
    write_hook_records(&full, &plan, true);
    let prov_dir = full.join("run/provenance");
    let mut args = vec!["prov", "ingest", prov_dir.to_str().unwrap()];
    args.extend(spec);
    let id = p.ok(&args).trim().to_owned();
    let show = p.json(&["runs", "show", &id, "--format", "json"]);
    assert_eq!(show["run"]["status"], "succeeded", "{}", show["run"]);
    assert_eq!(show["run"]["started_at"], "2026-12-01T10:00:00.000Z");
    assert_eq!(show["run"]["ended_at"], "2026-12-01T10:00:07.000Z");
    let tasks = show["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 5);
    let mark2 = tasks.iter().find(|t| t["instance"] == "m[2]").unwrap();
    assert_eq!(mark2["attempts"], 2);
    assert_eq!(mark2["job_id"], "900_2");
    assert_eq!(mark2["host"], "node2");
    assert_eq!(mark2["backend"], "slurm");
    assert!(
        mark2["values"]
            .as_object()
            .unwrap()
            .values()
            .any(|v| v == "2"),
        "{mark2}"
    );
    let gather = tasks.iter().find(|t| t["call"] == "g").unwrap();
    let gather_id = gather["id"].as_i64().unwrap();
    let used: Vec<&Value> = show["usages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["task"].as_i64() == Some(gather_id))
        .collect();
    let marks = used.iter().filter(|u| u["input"] == "parts").count();
    assert_eq!(marks, 4, "the gather read the four marks: {used:?}");
    // And its program, which its command names.
    assert!(
        used.iter().any(|u| u["input"] == "step_py"),
        "the gather's program is not recorded: {used:?}"
    );
    // Which instance made a file, by its digest.
    let made = p.query(
        "SELECT t.instance FROM artifacts a JOIN tasks t ON t.run_id = a.run_id AND t.id = a.produced_by
         WHERE a.digest LIKE 'sha256:%' AND a.path LIKE '%m/3/mark.txt'",
    );
    assert_eq!(made[0]["instance"], "m[3]");
    // Ingesting the same records again is refused.
    let out = p.expc(&args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already ingested"));
    // Records of another plan (other params) are refused.
    let mut other = vec!["prov", "ingest", prov_dir.to_str().unwrap()];
    other.extend(["--spec", "slurm/sweep.exp", "-p", "points=5"]);
    let out = p.expc(&other);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another plan"));

    // A run cut short: the last mark never ended, the gather never started.
    let cut = p.dir.join("cut");
    write_hook_records(&cut, &plan, false);
    let prov_dir = cut.join("run/provenance");
    let mut args = vec!["prov", "ingest", prov_dir.to_str().unwrap()];
    args.extend(spec);
    let id = p.ok(&args).trim().to_owned();
    let show = p.json(&["runs", "show", &id, "--format", "json"]);
    assert_eq!(show["run"]["status"], "failed");
    let tasks = show["tasks"].as_array().unwrap();
    let mark3 = tasks.iter().find(|t| t["instance"] == "m[3]").unwrap();
    assert_eq!(mark3["status"], "failed");
    assert!(mark3["message"].as_str().unwrap().contains("never ended"));
    let gather = tasks.iter().find(|t| t["call"] == "g").unwrap();
    assert_eq!(gather["status"], "not_run");
}

/// `expc run exp/train.exp` from the folder above the spec's: the store is `exp/.expc`.
/// The command the run suggests works from there as printed; `expc runs` finds the store
/// from a folder below the spec's, takes `--spec` or `--state-dir` (`--state`), and when
/// it finds nothing says where it looked and what to pass.
fn the_suggested_runs_show_works_from_where_the_run_was_started() {
    let root = expc_tests::temp_path("prov", "elsewhere");
    let p = Project {
        dir: root.join("exp"),
    };
    expc_tests::copy_dir(&expc_tests::root().join("tests/prov"), &p.dir);
    let expc = |cwd: &Path, args: &[&str]| {
        Command::new(expc_tests::expc())
            .args(args)
            .current_dir(cwd)
            .env("NO_COLOR", "1")
            .env("EXPC_PROV_TEST_TOKEN", SENTINEL)
            .output()
            .unwrap()
    };
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let out = expc(&root, &["run", "--local", "exp/train.exp"]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let hint = err
        .lines()
        .find_map(|l| l.strip_prefix("provenance: run "))
        .unwrap_or_else(|| panic!("no provenance line: {err}"));
    let id = hint.split(' ').next().unwrap().to_owned();
    let command = hint
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no command: {hint}"));
    assert_eq!(command, format!("expc runs show {id} --spec exp/train.exp"));
    let words: Vec<&str> = command.split(' ').skip(1).collect();
    let shown = expc(&root, &words);
    assert!(shown.status.success(), "{command}: {}", text(&shown));
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains(&format!("run         {id}")),
        "{}",
        text(&shown)
    );
    for args in [
        vec!["runs", "--state-dir", "exp/.expc", "show", &id],
        vec!["runs", "show", &id, "--state", "exp/.expc"],
        vec!["runs", "--spec", "exp", "show", &id],
    ] {
        let o = expc(&root, &args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    // From a folder below the spec's: the nearest `.expc` above.
    let below = p.dir.join("below");
    std::fs::create_dir_all(&below).unwrap();
    let o = expc(&below, &["runs", "show", &id]);
    assert!(o.status.success(), "from below: {}", text(&o));
    // A run started in the spec's folder suggests the plain command.
    let out = expc(&p.dir, &["run", "--local", "train.exp"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = err
        .lines()
        .find(|l| l.starts_with("provenance: run "))
        .unwrap_or_else(|| panic!("no provenance line: {err}"));
    let id2 = line["provenance: run ".len()..].split(' ').next().unwrap();
    assert_eq!(
        line,
        format!("provenance: run {id2} (`expc runs show {id2}`)")
    );
    // Nothing found: where it looked, and what to pass.
    let o = expc(&root, &["runs", "show", &id]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // As one string: the report is wrapped to the terminal's width, paths too.
    let err: String = String::from_utf8_lossy(&o.stderr)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    for part in [
        "noprovenancestorefound",
        ".expc/provenance.db",
        root.to_str().unwrap(),
        "--spec",
        "--state-dir",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    expc_tests::remove_tree(&root);
}

/// A secret whose environment variable is not set: `expc run` refuses before any task
/// starts (nothing written, not even the state folder), naming every such secret, its
/// variable and the tasks that need it — not at the last task, minutes in.
fn a_run_refuses_up_front_naming_every_unset_secret_and_its_tasks() {
    let p = project("unset-secret");
    // A second secret, needed by the three training instances and the report.
    let spec = std::fs::read_to_string(p.dir.join("train.exp")).unwrap();
    let spec = spec
        .replace(
            "resource local = Local {}",
            "secret other: String = env(\"EXPC_PROV_TEST_OTHER\")\n\nresource local = Local {}",
        )
        .replace(
            "      TOKEN = token\n",
            "      TOKEN = token\n      OTHER = other\n",
        )
        .replace(
            "  metrics: Metrics = \"metrics.json\",\n) {\n",
            "  metrics: Metrics = \"metrics.json\",\n) {\n  env {\n    vars {\n      OTHER = other\n    }\n  }\n",
        );
    std::fs::write(p.dir.join("train.exp"), &spec).unwrap();
    let check = p.expc(&["check", "train.exp"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let run = |unset: &[&str]| {
        let mut c = Command::new(expc_tests::expc());
        c.args(["run", "--local", "train.exp"])
            .current_dir(&p.dir)
            .env("NO_COLOR", "1")
            .env("EXPC_PROV_TEST_TOKEN", SENTINEL)
            .env("EXPC_PROV_TEST_OTHER", "other-value");
        for v in unset {
            c.env_remove(v);
        }
        c.output().unwrap()
    };
    // Without blanks: the report is wrapped to the terminal's width, at hyphens too.
    let squeeze = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    let flat = |o: &Output| squeeze(&String::from_utf8_lossy(&o.stderr));
    let out = run(&["EXPC_PROV_TEST_TOKEN", "EXPC_PROV_TEST_OTHER"]);
    let err = flat(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for part in [
        "2 secrets that tasks need are not set",
        "the secret `other` is read from the environment variable `EXPC_PROV_TEST_OTHER`, which is not set (or not UTF-8); the tasks `report` and `train` need it",
        "the secret `token` is read from the environment variable `EXPC_PROV_TEST_TOKEN`, which is not set (or not UTF-8); the task `report` needs it",
        "EXPC_PROV_TEST_OTHER=… EXPC_PROV_TEST_TOKEN=… expc run",
        "nothing was run",
    ] {
        assert!(err.contains(&squeeze(part)), "{part}\nin: {err}");
    }
    assert!(
        !p.dir.join(".expc").exists(),
        "the refused run wrote its state folder"
    );
    let out = run(&["EXPC_PROV_TEST_TOKEN"]);
    let err = flat(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&squeeze(
            "a secret that tasks need is not set: - the secret `token`"
        )),
        "{err}"
    );
    assert!(!err.contains("`other`"), "{err}");
    assert!(!p.dir.join(".expc").exists());
    // With both set it runs.
    let out = run(&[]);
    assert!(out.status.success(), "{}", flat(&out));
}
