//! Plans, graphs and plan diffs, through the real binary.
//!
//! Every example's plan (text and JSON) and graph (DOT and Mermaid) is snapshotted; every
//! DOT graph must be accepted by Graphviz's `dot`; each folder of `diff/` holds an old and
//! a new version of a spec (and optionally `args`, extra arguments), whose diff is
//! snapshotted.

use std::path::{Path, PathBuf};
use std::process::Command;

use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    let each_example = || examples().into_iter().map(|e| (name_of(&e), e));
    suite.each("plan", each_example(), plan_of_an_example);
    suite.each("graph", each_example(), graphs_of_an_example);
    suite.each_needing(
        Engine::Graphviz,
        "dot_reads_graph",
        each_example(),
        dot_reads_the_graphs_of_an_example,
    );
    suite.each(
        "plan_json_is_unchanged_by_formatting_the_spec",
        each_example(),
        plan_json_is_unchanged_by_formatting_the_spec,
    );
    suite.test("diff_fixtures_are_found", || {
        let dirs = diff_dirs();
        assert!(dirs.len() >= 8, "only {} diff fixtures", dirs.len());
    });
    suite.each(
        "diff",
        diff_dirs().into_iter().map(|d| {
            let name = d.file_name().unwrap().to_string_lossy().into_owned();
            (name, d)
        }),
        diff_of_a_fixture_pair,
    );
    let mut specs = examples();
    specs.push("tests/diff/base.exp".to_owned());
    suite.each(
        "a_spec_against_itself_has_no_changes",
        specs.into_iter().map(|s| (s.clone(), s)),
        a_spec_against_itself_has_no_changes,
    );
    suite.test("params_files_and_overrides", params_files_and_overrides);
    suite.test(
        "record_params_merge_files_and_overrides_field_by_field",
        record_params_merge_files_and_overrides_field_by_field,
    );
    suite.test(
        "a_profile_moves_placements_and_changes_no_id",
        a_profile_moves_placements_and_changes_no_id,
    );
    suite.test(
        "an_unknown_profile_or_resource_is_named_with_the_closest",
        an_unknown_profile_or_resource_is_named_with_the_closest,
    );
    suite.test(
        "after_edges_are_shown_and_in_no_id",
        after_edges_are_shown_and_in_no_id,
    );
    suite.test(
        "the_instance_dag_connects_sweeps_and_gathers",
        the_instance_dag_connects_sweeps_and_gathers,
    );
    suite.test(
        "file_set_plan_lists_the_files_and_diff_shows_them_come_and_go",
        file_set_plan_lists_the_files_and_diff_shows_them_come_and_go,
    );
    suite.test(
        "loops_over_lists_nest_and_read_record_fields",
        loops_over_lists_nest_and_read_record_fields,
    );
    suite.test(
        "a_loop_over_a_produced_list_is_planned_as_known_after_its_producer",
        a_loop_over_a_produced_list_is_planned_as_known_after_its_producer,
    );
    suite.test(
        "a_plan_time_if_keeps_the_taken_branch_and_says_which",
        a_plan_time_if_keeps_the_taken_branch_and_says_which,
    );
    suite.test(
        "file_set_ids_do_not_change_when_files_are_added",
        file_set_ids_do_not_change_when_files_are_added,
    );
}

/// The example of file sets, copied twice: `old` as it is, `new` with a file added and one
/// removed.
fn file_set_copies(name: &str) -> (PathBuf, PathBuf) {
    let old = expc_tests::copy_of("plan", &format!("{name}-old"), "examples/filesets");
    let new = expc_tests::copy_of("plan", &format!("{name}-new"), "examples/filesets");
    std::fs::write(new.join("data/s0_1.fq"), "@r\nACGT\n+\nIIII\n").unwrap();
    std::fs::remove_file(new.join("data/s2_2.fq")).unwrap();
    (old, new)
}

fn file_set_plan_lists_the_files_and_diff_shows_them_come_and_go() {
    let (old, new) = file_set_copies("listing");
    let spec = |d: &Path| d.join("filesets.exp").to_string_lossy().into_owned();
    let text = stdout(&["plan", &spec(&new)]);
    for f in [
        "data/s0_1.fq",
        "data/s1_1.fq",
        "data/s1_2.fq",
        "data/s2_1.fq",
    ] {
        assert!(
            text.contains(&format!("fq=reads[{f}]")),
            "{f} not listed:\n{text}"
        );
    }
    assert!(!text.contains("s2_2.fq"), "{text}");
    assert!(
        text.contains("for fq in reads (list of 4 elements)"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&["plan", "--format", "json", &spec(&new)])).unwrap();
    let count = &json["jobs"][0];
    assert_eq!(count["key"], "c");
    let files: Vec<&str> = count["instance_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["coords"]["fq"]["artifact"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "reads[data/s0_1.fq]",
            "reads[data/s1_1.fq]",
            "reads[data/s1_2.fq]",
            "reads[data/s2_1.fq]"
        ]
    );
    let diff: serde_json::Value = serde_json::from_str(&stdout(&[
        "diff",
        "--format",
        "json",
        &spec(&old),
        &spec(&new),
    ]))
    .unwrap();
    let c = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "c")
        .expect("the loop's job changed");
    assert_eq!(
        c["instances"]["added"],
        serde_json::json!(["fq=reads[data/s0_1.fq]"])
    );
    assert_eq!(
        c["instances"]["removed"],
        serde_json::json!(["fq=reads[data/s2_2.fq]"])
    );
    assert_eq!(c["reruns"], false, "{c}");
    expc_tests::remove_tree(&old);
    expc_tests::remove_tree(&new);
}

/// A loop over a list param around a loop over a file set, a literal loop and a loop over
/// records: instance counts multiply, positions are per loop, record fields are read per
/// instance.
fn loops_over_lists_nest_and_read_record_fields() {
    let json: serde_json::Value = serde_json::from_str(&stdout(&[
        "plan",
        "--format",
        "json",
        "tests/check/ok/file_sets.exp",
    ]))
    .unwrap();
    let job = |key: &str| {
        json["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == key)
            .unwrap_or_else(|| panic!("no job {key}"))
            .clone()
    };
    let a = job("a");
    assert_eq!(a["instances"], 6, "2 lanes × 3 files");
    assert_eq!(
        a["command"]["argv"],
        serde_json::json!([
            "python3",
            "tool.py",
            "{r}",
            "{lane}",
            "{i}",
            "{out}/out.txt"
        ])
    );
    let coords: Vec<String> = a["instance_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let r = i["coords"]["r"]["artifact"].as_str().unwrap();
            format!("{}/{r}", i["coords"]["lane"])
        })
        .collect();
    assert_eq!(coords[0], "1/reads[reads/a_1.fq]");
    assert_eq!(coords[5], "2/reads[reads/b_1.fq]");
    let tag = job("tag");
    assert_eq!(tag["instances"], 2);
    assert_eq!(
        tag["command"]["argv"],
        serde_json::json!([
            "python3",
            "tool.py",
            "{l.key}",
            "{l.value}",
            "{out}/tag.txt"
        ])
    );
    let z = job("z");
    assert_eq!(z["instances"], 6, "2 points × 3 files");
    assert_eq!(
        z["command"]["argv"],
        serde_json::json!(["python3", "tool.py", "{p.q}", "{j}", "{out}/tag.txt"])
    );
    let last = &z["instance_list"][5]["coords"];
    assert_eq!(last["p.q"], "y");
    assert_eq!(last["f"]["artifact"], "reads[reads/b_1.fq]");
    let merge = job("merge");
    assert_eq!(merge["after"][0]["relation"], "all");
    let argv = merge["command"]["argv"].as_array().unwrap();
    for f in ["reads/a_1.fq", "reads/a_2.fq", "reads/b_1.fq"] {
        assert!(argv.iter().any(|w| w == f), "{f} not passed: {argv:?}");
    }
}

/// An instance is known by its file, not its position: a file sorted first renames none
/// of the others.
fn file_set_ids_do_not_change_when_files_are_added() {
    let (old, new) = file_set_copies("ids");
    let ids = |d: &Path| -> std::collections::BTreeMap<String, String> {
        let spec = d.join("filesets.exp").to_string_lossy().into_owned();
        let json: serde_json::Value =
            serde_json::from_str(&stdout(&["plan", "--format", "json", &spec])).unwrap();
        json["jobs"][0]["instance_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["coords"]["fq"]["artifact"].as_str().unwrap().to_owned(),
                    i["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (a, b) = (ids(&old), ids(&new));
    let mut shared = 0;
    for (file, id) in &a {
        if let Some(other) = b.get(file) {
            assert_eq!(id, other, "{file} was renamed");
            shared += 1;
        }
    }
    assert_eq!(shared, 3);
    expc_tests::remove_tree(&old);
    expc_tests::remove_tree(&new);
}

fn examples() -> Vec<String> {
    expc_tests::files("examples", "exp")
        .into_iter()
        .filter(|p| {
            p.parent()
                .and_then(Path::parent)
                .is_some_and(|d| d.ends_with("examples"))
        })
        // A spec that chooses models from the registry is planned only where a run has
        // registered them (the registry example's test, in the back end's examples_run).
        .filter(|p| !std::fs::read_to_string(p).is_ok_and(|t| t.contains("= registry")))
        .map(|p| expc_tests::relative(&p))
        .collect()
}

fn stdout(args: &[&str]) -> String {
    let out = expc_tests::run(args);
    assert!(
        out.status.success(),
        "`expc {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn name_of(example: &str) -> String {
    Path::new(example)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn plan_of_an_example(example: String) {
    let name = name_of(&example);
    let text = stdout(&["plan", &example]);
    let json = stdout(&["plan", "--format", "json", &example]);
    assert_eq!(
        json,
        stdout(&["plan", "--format", "json", &example]),
        "{example}: plan JSON differs between runs"
    );
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["schema_version"], expc_plan::plan::SCHEMA_VERSION);
    insta::with_settings!({ snapshot_path => "../snapshots/plan", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(format!("{name}.plan"), text);
        insta::assert_snapshot!(format!("{name}.plan.json"), json);
    });
}

/// The arguments of `expc graph` for each format and expansion, and the snapshot suffix.
const GRAPHS: [(&str, bool); 4] = [
    ("dot", false),
    ("dot", true),
    ("mermaid", false),
    ("mermaid", true),
];

fn graph(example: &str, format: &str, expand: bool) -> String {
    let mut args = vec!["graph", "--format", format];
    if expand {
        args.push("--expand");
    }
    args.push(example);
    stdout(&args)
}

fn graphs_of_an_example(example: String) {
    let name = name_of(&example);
    for (format, expand) in GRAPHS {
        let graph = graph(&example, format, expand);
        let suffix = if expand { ".expanded" } else { "" };
        insta::with_settings!({ snapshot_path => "../snapshots/graph", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("{name}{suffix}.{format}"), graph);
        });
    }
}

/// Graphviz's `dot` reads every DOT graph `expc graph` writes.
fn dot_reads_the_graphs_of_an_example(example: String) {
    let name = name_of(&example);
    for (format, expand) in GRAPHS.into_iter().filter(|(f, _)| *f == "dot") {
        let graph = graph(&example, format, expand);
        let suffix = if expand { ".expanded" } else { "" };
        let dir = expc_tests::temp_path("plan", &format!("graph-{name}{suffix}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}{suffix}.dot"));
        std::fs::write(&file, &graph).unwrap();
        let out = Command::new("dot")
            .arg("-Tsvg")
            .arg(&file)
            .output()
            .unwrap();
        expc_tests::remove_tree(&dir);
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "dot rejected the graph of {example}:\n{}\n{graph}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn plan_json_is_unchanged_by_formatting_the_spec(example: String) {
    let root = expc_tests::root();
    let before = stdout(&["plan", "--format", "json", &example]);
    // A copy of the example's folder, formatted.
    let src = root.join(&example);
    let dir = src.parent().unwrap();
    let copy = expc_tests::temp_path("plan", &format!("fmt-{}", name_of(&example)));
    expc_tests::copy_dir(dir, &copy);
    let spec = copy.join(src.file_name().unwrap());
    // Spread the items' first lines out first, so that formatting has something to
    // undo (outside templates, whose text is kept as written).
    let original = std::fs::read_to_string(&spec).unwrap();
    let messy: String = original
        .lines()
        .map(|l| {
            let item = [
                "param ",
                "data ",
                "resource ",
                "task ",
                "sweep ",
                "model ",
                "site ",
            ]
            .iter()
            .find(|k| l.starts_with(*k));
            match item {
                Some(k) => format!("{}   {}\n", k.trim_end(), &l[k.len()..]),
                None => format!("{l}\n"),
            }
        })
        .collect();
    assert_ne!(messy, original);
    std::fs::write(&spec, messy).unwrap();
    let spec_str = spec.to_string_lossy().into_owned();
    stdout(&["fmt", &spec_str]);
    let after = stdout(&["plan", "--format", "json", &spec_str]);
    expc_tests::remove_tree(&copy);
    if before != after {
        let line = before
            .lines()
            .zip(after.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{example}: formatting the spec changed its plan, from line {line}:\n{}\n{}",
            before.lines().nth(line).unwrap_or(""),
            after.lines().nth(line).unwrap_or("")
        );
    }
}

fn diff_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(expc_tests::root().join("tests/diff"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn diff_of_a_fixture_pair(dir: PathBuf) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let rel = expc_tests::relative(&dir);
    let old = format!("{rel}/old.exp");
    let new = format!("{rel}/new.exp");
    let extra = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
    let mut args = vec!["diff", old.as_str(), new.as_str()];
    args.extend(extra.split_whitespace());
    let text = stdout(&args);
    assert!(
        !text.contains("No changes"),
        "{name}: the diff found nothing"
    );
    args.extend(["--format", "json"]);
    let json = stdout(&args);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["schema_version"], 1);
    insta::with_settings!({ snapshot_path => "../snapshots/diff", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(format!("{name}"), text);
        insta::assert_snapshot!(format!("{name}.json"), json);
    });
}

fn a_spec_against_itself_has_no_changes(spec: String) {
    let text = stdout(&["diff", &spec, &spec]);
    assert!(text.contains("No changes"), "{spec}:\n{text}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&["diff", "--format", "json", &spec, &spec])).unwrap();
    for key in ["added", "removed", "changed", "reruns", "params"] {
        assert_eq!(json[key].as_array().map(Vec::len), Some(0), "{spec}: {key}");
    }
}

fn params_files_and_overrides() {
    let dir = expc_tests::temp_path("plan", "params");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fast.yaml");
    std::fs::write(&file, "epochs: 7\nthreshold_mm: 12.5\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    let spec = "examples/rainfall/rainfall.exp";
    let plan = stdout(&["plan", "--params", &file, spec]);
    assert!(plan.contains("--epochs 7 "), "{plan}");
    assert!(plan.contains("epochs = 7  (overridden)"), "{plan}");
    // `-p` wins over the file.
    let plan = stdout(&["plan", "--params", &file, "-p", "epochs=9", spec]);
    assert!(plan.contains("--epochs 9 "), "{plan}");
    // A value of the wrong type is an error that names the param's type.
    let out = expc_tests::run(&["plan", "-p", "epochs=many", spec]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a valid Int"), "{err}");
    // A broken params file says which file.
    std::fs::write(dir.join("bad.yaml"), "- 1\n- 2\n").unwrap();
    let bad = dir.join("bad.yaml").to_string_lossy().into_owned();
    let out = expc_tests::run(&["plan", "--params", &bad, spec]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
    // An unknown key of a params file is named with its file and line, and the closest
    // param; several files merge in order, the later winning.
    std::fs::write(dir.join("typo.yaml"), "# tuned\nepochs: 8\nepoch: 9\n").unwrap();
    let typo = dir.join("typo.yaml").to_string_lossy().into_owned();
    let out = expc_tests::run(&["plan", "--params", &file, "--params", &typo, spec]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`epoch` in `") && err.contains("typo.yaml`, line 3 sets a param"),
        "{err}"
    );
    assert!(err.contains("did you mean `epochs`?"), "{err}");
    std::fs::write(dir.join("later.yaml"), "epochs: 8\n").unwrap();
    let later = dir.join("later.yaml").to_string_lossy().into_owned();
    let plan = stdout(&["plan", "--params", &file, "--params", &later, spec]);
    assert!(plan.contains("--epochs 8 "), "{plan}");
    std::fs::remove_dir_all(&dir).ok();
}

fn record_params_merge_files_and_overrides_field_by_field() {
    let dir = expc_tests::temp_path("plan", "record-params");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = "examples/training/training.exp";
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    std::fs::write(
        dir.join("base.yaml"),
        "train:\n  lr: 0.2\n  layers: [4, 5]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tuned.yaml"),
        "samples: 50\ntrain:\n  lr: 0.05\n  optim: {name: adam}\n",
    )
    .unwrap();
    // The later file wins field by field: `layers` is kept from the first.
    let plan = stdout(&[
        "plan",
        "--params",
        &path("base.yaml"),
        "--params",
        &path("tuned.yaml"),
        spec,
    ]);
    assert!(
        plan.contains(
            "train = TrainCfg { epochs = 5, layers = [4, 5], lr = 0.05, optim = Optim { momentum = 0.0, name = \"adam\" } }  (overridden)"
        ),
        "{plan}"
    );
    assert!(plan.contains("--samples 50 "), "{plan}");
    assert!(
        plan.contains("--optimizer adam --lr 0.05 --layers 4 5"),
        "{plan}"
    );
    // The record goes whole to `fit` as a file named after its content.
    let config = |plan: &str| {
        let at = plan.find("--config {out}/expc-config-").expect(plan) + 27;
        plan[at..at + 17].to_owned()
    };
    let tuned = config(&plan);
    assert!(tuned.ends_with(".json"), "{tuned}");
    // `-p` comes last, at any depth; another value is another file.
    let plan = stdout(&[
        "plan",
        "--params",
        &path("tuned.yaml"),
        "-p",
        "train.optim.name=rmsprop",
        "-p",
        "train.epochs=9",
        spec,
    ]);
    assert!(
        plan.contains(
            "train = TrainCfg { epochs = 9, layers = [16, 16], lr = 0.05, optim = Optim { momentum = 0.0, name = \"rmsprop\" } }  (overridden)"
        ),
        "{plan}"
    );
    assert_ne!(config(&plan), tuned);
    // A misspelt nested key names the file, its line and the closest field.
    std::fs::write(
        dir.join("typo.yaml"),
        "# tuned\ntrain:\n  lr: 0.05\n  optim:\n    nmae: adam\n",
    )
    .unwrap();
    let out = expc_tests::run(&["plan", "--params", &path("typo.yaml"), spec]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`train.optim.nmae` in `")
            && err.contains("typo.yaml`, line 5 sets the field `nmae`"),
        "{err}"
    );
    assert!(err.contains("did you mean `name`?"), "{err}");
    // A field of the wrong type names its type; a constraint on a field still holds.
    let out = expc_tests::run(&["plan", "-p", "train.epochs=many", spec]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a valid Int"));
    let out = expc_tests::run(&["plan", "-p", "train.lr=2.0", spec]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not satisfy its constraint"));
    std::fs::remove_dir_all(&dir).ok();
}

fn the_instance_dag_connects_sweeps_and_gathers() {
    // Through the library: the rainfall plan's instance graph.
    let root = expc_tests::root();
    let path = root.join("examples/rainfall/rainfall.exp");
    let mut sources = expc_diagnostics::SourceMap::new();
    let loader = expc_check::FsLoader;
    let (file, _) = expc_check::load_root(&path, &loader, &mut sources).unwrap();
    let checked = expc_check::check(
        &path,
        file,
        &mut sources,
        &loader,
        &expc_check::Overrides::new(),
    );
    let program = checked.program.unwrap();
    let plan = expc_plan::lower(&program, "main", file).plan.unwrap();
    let dag = expc_plan::dag::build(&plan);
    // 1 clean, 12 trainings, 1 select, 1 bulletin.
    assert_eq!(dag.graph.node_count(), 15);
    // clean → each training (12), every training → select (12), clean and select → bulletin (2).
    assert_eq!(dag.graph.edge_count(), 26);
    assert!(!petgraph::algo::is_cyclic_directed(&dag.graph));
}

const ORDER: &str = "tests/run/order.exp";

/// Every job's key, placement, id and instance ids, from the plan's JSON.
fn placements_and_ids(args: &[&str]) -> Vec<(String, String, String, String)> {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    all.push(ORDER);
    let json: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["key"].as_str().unwrap().to_owned(),
                j["on"].as_str().unwrap().to_owned(),
                j["id"].as_str().unwrap().to_owned(),
                j["instance_list"].to_string(),
            )
        })
        .collect()
}

/// `--profile hpc` and `--on here=cluster` move every call from `here` to `cluster`; the
/// ids of jobs and instances are those of the spec as placed, and the plan says what moved.
fn a_profile_moves_placements_and_changes_no_id() {
    let placed = placements_and_ids(&[]);
    assert!(
        placed.iter().all(|(_, on, _, _)| on == "here"),
        "{placed:?}"
    );
    for moved in [&["--profile", "hpc"][..], &["--on", "here=cluster"][..]] {
        let now = placements_and_ids(moved);
        assert_eq!(now.len(), placed.len());
        for (a, b) in placed.iter().zip(&now) {
            assert_eq!(b.1, "cluster", "{moved:?}: {b:?}");
            assert_eq!(
                (&a.0, &a.2, &a.3),
                (&b.0, &b.2, &b.3),
                "{moved:?}: an id changed"
            );
        }
    }
    let text = stdout(&["plan", "--profile", "hpc", ORDER]);
    assert!(text.contains("Profile `hpc`: here → cluster"), "{text}");
    assert!(text.contains("moved      from here"), "{text}");
    let json = stdout(&["plan", "--format", "json", "--profile", "hpc", ORDER]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["profile"]["name"], "hpc");
    assert_eq!(json["profile"]["moves"]["here"], "cluster");
    // Without a profile the JSON is as it was: no `profile`, no `moved_from`.
    let plain = stdout(&["plan", "--format", "json", ORDER]);
    assert!(
        !plain.contains("\"profile\"") && !plain.contains("moved_from"),
        "{plain}"
    );
    // `expc check --profile` checks the spec as moved.
    let out = expc_tests::run(&["check", "--profile", "hpc", ORDER]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn an_unknown_profile_or_resource_is_named_with_the_closest() {
    for (args, expected) in [
        (
            &["--profile", "hcp"][..],
            ["E0306", "no profile `hcp`", "did you mean `hpc`?"],
        ),
        (
            &["--on", "here=clustr"][..],
            ["E0102", "no resource `clustr`", "did you mean `cluster`?"],
        ),
    ] {
        for command in ["plan", "build", "graph", "check"] {
            let mut all = vec![command];
            if command == "build" {
                all.extend(["--target", "slurm", "-o", "/nonexistent/never-written"]);
            }
            all.extend_from_slice(args);
            all.push(ORDER);
            let out = expc_tests::run(&all);
            assert_eq!(out.status.code(), Some(1), "{all:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            for e in expected {
                assert!(err.contains(e), "{all:?}: no `{e}` in\n{err}");
            }
        }
    }
    let out = expc_tests::run(&["plan", "--on", "here", ORDER]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FROM=TO"));
}

/// `b = side(…) after [a]`: the plan lists the order, the graph draws it dashed, and the
/// id of `b` is the one it has without `after`.
fn after_edges_are_shown_and_in_no_id() {
    let text = stdout(&["plan", ORDER]);
    assert!(text.contains("after      a (order only)"), "{text}");
    let dot = stdout(&["graph", ORDER]);
    assert!(
        dot.contains("j0 -> j1 [style=dashed, label=\"after\"];"),
        "{dot}"
    );
    let mermaid = stdout(&["graph", "--format", "mermaid", ORDER]);
    assert!(mermaid.contains("j0 -. after .-> j1"), "{mermaid}");
    let dir = expc_tests::temp_path("plan", "after");
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read_to_string(expc_tests::root().join(ORDER)).unwrap();
    let without = dir.join("order.exp");
    std::fs::write(&without, src.replace(" after [a]", "")).unwrap();
    let id_of_b = |spec: &str| {
        let json: serde_json::Value =
            serde_json::from_str(&stdout(&["plan", "--format", "json", spec])).unwrap();
        json["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["key"] == "b")
            .unwrap()["id"]
            .clone()
    };
    assert_eq!(id_of_b(ORDER), id_of_b(without.to_str().unwrap()));
    std::fs::remove_dir_all(&dir).ok();
}

const CONDITIONS: &str = "tests/check/ok/conditions.exp";

/// `if` decided when planned: only the taken branch's calls are jobs, the plan says which
/// branch was taken and what it left out, a one-branch binding passed to an optional input
/// is `none` where it was left out, and the ids of the calls do not depend on the `if`.
fn a_plan_time_if_keeps_the_taken_branch_and_says_which() {
    let text = stdout(&["plan", CONDITIONS]);
    assert!(
        text.contains("Decided when planned\n  if fast && mode != \"slow\": true, so its `then` branch runs; left out: c\n"),
        "{text}"
    );
    assert!(
        text.contains("if epochs > 5: true, so its `then` branch runs\n  if !fast: false, so nothing of it runs; left out: again"),
        "{text}"
    );
    assert!(
        text.contains("  when       fast && mode != \"slow\" is true\n"),
        "{text}"
    );
    assert!(text.contains("report = none"), "{text}");
    assert!(!text.contains("c = check"), "{text}");
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["plan", "--format", "json"];
        all.extend_from_slice(args);
        all.push(CONDITIONS);
        serde_json::from_str(&stdout(&all)).unwrap()
    };
    let slow = json(&["-p", "fast=false"]);
    let keys: Vec<&str> = slow["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["d", "m", "c", "publish", "again", "publish#2"]);
    assert_eq!(slow["decisions"][0]["taken"], "else", "{slow}");
    assert_eq!(slow["decisions"][0]["value"], false, "{slow}");
    assert_eq!(
        slow["jobs"][1]["when"][0],
        "fast && mode != \"slow\" is false"
    );
    // The last `publish` reads `c.report` when `c` runs.
    assert_eq!(slow["jobs"][5]["inputs"]["report"], "c.report", "{slow}");
    // When `c` is left out, the last call is the only `publish`, and is named so.
    assert!(text.contains("publish = publish  on laptop"), "{text}");
    // The call `d` is outside any `if`: its id is the same whichever branch is taken.
    let fast = json(&[]);
    assert_eq!(fast["jobs"][0]["id"], slow["jobs"][0]["id"]);
}

const PRODUCED: &str = "tests/check/ok/produced_lists.exp";

/// A loop over what a call produces: the plan says what decides its instances and runs it
/// after the producer; the JSON has `known_after` and no instances yet; the graph draws it.
fn a_loop_over_a_produced_list_is_planned_as_known_after_its_producer() {
    let text = stdout(&["plan", PRODUCED]);
    assert!(
        text.contains("c = count × ?  (one per file of s.parts, known after s)  on laptop"),
        "{text}"
    );
    assert!(
        text.contains(
            "loops      for (i, part) in s.parts (one per file of s.parts, known after s)"
        ),
        "{text}"
    );
    assert!(text.contains("  after      all of s\n"), "{text}");
    assert!(!text.contains("has no instances"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&["plan", "--format", "json", PRODUCED])).unwrap();
    let c = &json["jobs"][1];
    assert_eq!(c["key"], "c");
    assert_eq!(c["instances"], 0);
    assert_eq!(
        c["known_after"],
        serde_json::json!({ "call": "s", "list": "s.parts" })
    );
    assert_eq!(c["loops"][0]["strategy"], "produced");
    let dot = stdout(&["graph", PRODUCED]);
    assert!(dot.contains("c = count × ? (per file of s.parts)"), "{dot}");
}
