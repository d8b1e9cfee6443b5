//! The model registry, on real runs: `register` adds a version per content digest with
//! the scores of the instance that made it and of those that evaluated it; stages change
//! with who, when and why; a name or version the registry does not hold is a clear error.

use std::path::PathBuf;
use std::process::{Command, Output};

use expc_tests::Suite;
use serde_json::Value;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "registered_models_are_versioned_by_digest_with_their_scores",
        registered_models_are_versioned_by_digest_with_their_scores,
    );
    suite.test(
        "stage_changes_are_kept_with_who_when_and_why",
        stage_changes_are_kept_with_who_when_and_why,
    );
    suite.test(
        "a_runs_prov_json_holds_its_versions_and_their_stage_changes_and_validates",
        a_runs_prov_json_holds_its_versions_and_their_stage_changes_and_validates,
    );
    suite.test(
        "a_spec_chooses_models_from_the_registry_pinned_by_digest",
        a_spec_chooses_models_from_the_registry_pinned_by_digest,
    );
    suite.test(
        "unknown_names_versions_and_stages_are_clear_errors",
        unknown_names_versions_and_stages_are_clear_errors,
    );
}

/// A project in a temporary folder with `tests/registry/`'s spec and programs.
struct Project {
    dir: PathBuf,
    state: PathBuf,
}

impl Project {
    fn new(test: &str) -> Project {
        let dir = expc_tests::temp_path("registry", test);
        std::fs::create_dir_all(&dir).unwrap();
        let root = expc_tests::root();
        for f in [
            "registry.exp",
            "pick.exp",
            "train.py",
            "score.py",
            "points.json",
        ] {
            std::fs::copy(root.join("tests/registry").join(f), dir.join(f)).unwrap();
        }
        Project {
            state: dir.join(".expc"),
            dir,
        }
    }

    /// `expc run --local registry.exp ARGS…`, which must succeed.
    fn run(&self, args: &[&str]) {
        let out = Command::new(expc_tests::expc())
            .args(["run", "--local", "registry.exp"])
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `expc ARGS…` in the project's folder: its status, standard output and error.
    fn here(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(expc_tests::expc())
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// `expc ARGS… --state-dir STATE`.
    fn expc(&self, args: &[&str]) -> Output {
        Command::new(expc_tests::expc())
            .args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .env("NO_COLOR", "1")
            .env("USER", "ada")
            .output()
            .unwrap()
    }

    /// The JSON `expc ARGS… --format json` prints, which must succeed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.expc(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The standard error of `expc ARGS…`, which must fail.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.expc(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        expc_tests::remove_tree(&self.dir);
    }
}

/// `(name, version, digest, metrics)` of every registered version.
fn versions(p: &Project) -> Vec<(String, i64, String, String)> {
    let rows = p.json(&["models"]);
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["version"].as_i64().unwrap(),
                r["digest"].as_str().unwrap().to_owned(),
                r["metrics"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn registered_models_are_versioned_by_digest_with_their_scores() {
    let p = Project::new("versions");
    p.run(&[]);
    let first = versions(&p);
    assert_eq!(first.len(), 2, "{first:?}");
    // Numbered from 1 in sweep order: t[0] (lr = 0.1, w = 1.0) then t[1] (w = 0.1).
    assert_eq!((first[0].0.as_str(), first[0].1), ("nowcaster", 1));
    assert_eq!(first[1].1, 2);
    assert_eq!(first[0].3, "train_mse=0.5 e[0].val_mse=0.5", "{first:?}");
    assert_eq!(first[1].3, "train_mse=0.9091 e[1].val_mse=0.4", "{first:?}");
    // The same models again are the same versions, their scores not counted twice.
    p.run(&[]);
    assert_eq!(versions(&p), first);
    // New weights are new versions, numbered on.
    p.run(&["-p", "scale=3"]);
    let all = versions(&p);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(&all[..2], &first[..]);
    assert_eq!((all[2].1, all[3].1), (3, 4));
    assert_eq!(all[2].3, "train_mse=0.7692 e[0].val_mse=0.2", "{all:?}");
    // The lineage of a version: the run and instance that made it, its inputs and reads.
    let shown = p.json(&["models", "show", "nowcaster@3"]);
    let field = |name: &str| {
        shown["version"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["field"] == name)
            .map(|r| r["value"].clone())
            .unwrap()
    };
    assert_eq!(field("instance"), "t[0]");
    assert_eq!(field("stage"), "none");
    assert!(field("digest").as_str().unwrap().starts_with(&all[2].2));
    let inputs = shown["instance inputs"].to_string();
    assert!(
        inputs.contains("\"lr\"") && inputs.contains("0.1"),
        "{inputs}"
    );
    let params = shown["run params"].to_string();
    assert!(
        params.contains("\"scale\"") && params.contains('3'),
        "{params}"
    );
    let read = shown["read"].to_string();
    assert!(read.contains("train_py"), "{read}");
    // `NAME` alone is its latest version.
    let latest = p.json(&["models", "show", "nowcaster"]);
    assert!(latest["version"].to_string().contains("\"t[1]\""));
}

fn stage_changes_are_kept_with_who_when_and_why() {
    let p = Project::new("stages");
    p.run(&[]);
    let out = p.expc(&[
        "models",
        "promote",
        "nowcaster@2",
        "production",
        "--reason",
        "lowest val_mse",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nowcaster@2: none -> production\n"
    );
    let out = p.expc(&["models", "archive", "nowcaster@2", "--reason", "drifted"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = p.json(&["models"]);
    assert_eq!(rows[1]["stage"], "archived", "{rows}");
    assert_eq!(rows[0]["stage"], "none", "{rows}");
    let history = &p.json(&["models", "show", "nowcaster@2"])["stage history"];
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["stage"], "production");
    assert_eq!(history[0]["reason"], "lowest val_mse");
    assert_eq!(history[0]["user"], "ada");
    assert_eq!(history[1]["stage"], "archived");
    assert_eq!(history[1]["reason"], "drifted");
    assert!(history[0]["at"].as_str().unwrap().ends_with('Z'));
    // The history is a table of the store, for queries and exports.
    let rows = expc_tests::query(&p.state, "SELECT stage FROM model_stages ORDER BY seq");
    assert_eq!(rows.len(), 2, "{rows:?}");
}

fn unknown_names_versions_and_stages_are_clear_errors() {
    let p = Project::new("errors");
    let err = p.fails(&["models", "show", "nowcaster"]);
    assert!(err.contains("no provenance store"), "{err}");
    p.run(&[]);
    let err = p.fails(&["models", "show", "nowcastr"]);
    assert!(
        err.contains("no model `nowcastr` in the registry: the registry holds `nowcaster`"),
        "{err}"
    );
    let err = p.fails(&["models", "promote", "nowcaster@7", "production"]);
    assert!(
        err.contains("`nowcaster` has no version 7: its versions are 1, 2"),
        "{err}"
    );
    let err = p.fails(&["models", "promote", "nowcaster@1", "prod"]);
    assert!(err.contains("`prod` is not a stage"), "{err}");
    let err = p.fails(&["models", "promote", "nowcaster", "production"]);
    assert!(err.contains("`nowcaster@VERSION`"), "{err}");
    let err = p.fails(&["models", "show", "nowcaster@x"]);
    assert!(err.contains("a version is a number"), "{err}");
    // Nothing was changed by the refused commands.
    let rows = expc_tests::query(&p.state, "SELECT COUNT(*) AS n FROM model_stages");
    assert_eq!(rows[0]["n"], 0, "{rows:?}");
}

fn a_runs_prov_json_holds_its_versions_and_their_stage_changes_and_validates() {
    let p = Project::new("prov");
    p.run(&[]);
    let out = p.expc(&[
        "models",
        "promote",
        "nowcaster@1",
        "staging",
        "--reason",
        "try it",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = p.dir.join("exported");
    let dir_text = dir.to_string_lossy().into_owned();
    let args = [
        "prov",
        "export",
        "latest",
        "--format",
        "prov-json",
        "-o",
        &dir_text,
    ];
    let out = p.expc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.join("prov.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let version = &doc["entity"]["expc:registry/nowcaster/1"];
    assert_eq!(version["expc:version"], 1, "{version}");
    assert!(doc["entity"]["expc:registry/nowcaster/2"].is_object());
    let change = &doc["activity"]["expc:registry/nowcaster/1/stage-1"];
    assert_eq!(change["expc:stage"], "staging", "{change}");
    assert_eq!(change["expc:reason"], "try it", "{change}");
    assert!(
        doc["agent"]["expc:user/ada"].is_object(),
        "{}",
        doc["agent"]
    );
    let out = Command::new("python3")
        .arg(expc_tests::root().join("scripts/validate-prov.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn a_spec_chooses_models_from_the_registry_pinned_by_digest() {
    let p = Project::new("pick");
    // Nothing registered yet: the error says so, and nothing is planned.
    let (ok, _, err) = p.here(&["plan", "pick.exp"]);
    assert!(!ok);
    assert!(
        err.contains("E0240") && err.contains("holds none yet"),
        "{err}"
    );
    p.run(&[]);
    let (ok, _, err) = p.here(&["plan", "pick.exp"]);
    assert!(!ok);
    assert!(
        err.contains("no version of `nowcaster` is in the stage `production`: its versions are 1 (none), 2 (none)"),
        "{err}"
    );
    let out = p.expc(&["models", "promote", "nowcaster@1", "production"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digests: Vec<String> = expc_tests::query(
        &p.state,
        "SELECT digest FROM model_versions ORDER BY version",
    )
    .iter()
    .map(|r| r["digest"].as_str().unwrap().to_owned())
    .collect();
    let (ok, plan, err) = p.here(&["plan", "pick.exp"]);
    assert!(ok, "{err}");
    // The plan shows each choice: the call, the version, the metric that chose it, the digest.
    assert!(
        plan.contains(&format!(
            "champion (registry(\"nowcaster\", stage = \"production\"): nowcaster@1 (production), blake3:{}…)",
            &digests[0][..12]
        )),
        "{plan}"
    );
    assert!(
        plan.contains("best (registry.best(\"nowcaster\", by = \"val_mse\", order = \"asc\"): nowcaster@2 (val_mse = 0.4)"),
        "{plan}"
    );
    assert!(
        plan.contains(": nowcaster@2 (val_mse = 0.4), nowcaster@1 (val_mse = 0.5))"),
        "{plan}"
    );
    // The run reads the chosen versions' bytes by digest, even after a later run made
    // other models at the paths the registered ones were first written to.
    p.run(&["-p", "scale=3"]);
    let (ok, _, err) = p.here(&["run", "--local", "pick.exp"]);
    assert!(ok, "{err}");
    let ensemble = std::fs::read_to_string(p.dir.join(".expc/out/e/ensemble.json")).unwrap();
    let files: Vec<String> = serde_json::from_str(&ensemble).unwrap();
    let digests: Vec<String> = expc_tests::query(
        &p.state,
        "SELECT digest FROM model_versions ORDER BY version",
    )
    .iter()
    .map(|r| r["digest"].as_str().unwrap().to_owned())
    .collect();
    // Now the best three: version 3 (val_mse 0.2), 2 (0.4) and 4 (0.47).
    assert_eq!(files.len(), 3, "{files:?}");
    for (file, version) in files.iter().zip([3, 2, 4]) {
        assert!(file.ends_with(&digests[version - 1]), "{files:?}");
    }
    // The champion's evaluation in `pick.exp` is the one `registry.exp` made, served from
    // the cache: one score, not two.
    let shown = p.json(&["models", "show", "nowcaster@1"]);
    let evaluated: Vec<&Value> = shown["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "evaluated")
        .collect();
    assert_eq!(evaluated.len(), 1, "{shown}");
}
