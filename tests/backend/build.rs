//! `expc build --target slurm`, through the real binary.
//!
//! Every generated file of every example with Slurm placements and of every fixture in
//! `build/` is snapshotted (`snapshots/build/`), except `plan.json`, which must equal
//! `expc plan --format json` (itself snapshotted by the plan tests). Two builds must be
//! byte-identical, and every build-time check must fail the build with what, where and
//! what to do, writing nothing.

use std::path::{Path, PathBuf};

use expc_tests::Suite;
use expc_tests::read_tree as read_all;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "a_config_file_from_a_job_script_holds_hostile_values_byte_for_byte",
        a_config_file_from_a_job_script_holds_hostile_values_byte_for_byte,
    );
    suite.test("the_specs_are_found", || {
        let specs = specs();
        assert!(
            specs.len() >= 9,
            "expected the Slurm examples and the fixtures, found {specs:?}"
        );
    });
    let each_spec = || specs().into_iter().map(|s| (s.clone(), s));
    suite.each(
        "every_generated_file_is_golden_and_identical_across_builds",
        each_spec(),
        every_generated_file_is_golden_and_identical_across_builds,
    );
    suite.each(
        "generated_scripts_parse_as_bash",
        each_spec(),
        generated_scripts_parse_as_bash,
    );
    suite.each(
        "build_time_checks_fail_the_build",
        refusals().into_iter().map(|r| (r.0.to_owned(), r)),
        |(name, spec, expected)| assert_fails(&spec, name, expected),
    );
    suite.test(
        "templates_can_be_replaced_per_site",
        templates_can_be_replaced_per_site,
    );
    suite.test(
        "a_rebuild_removes_stale_scripts",
        a_rebuild_removes_stale_scripts,
    );
    suite.test(
        "scripts_run_with_bash_alone_and_their_records_parse",
        scripts_run_with_bash_alone_and_their_records_parse,
    );
    suite.each(
        "target_all_builds_every_part_as_its_target_alone_does",
        all_specs().into_iter().map(|s| (s.clone(), s)),
        target_all_builds_every_part_as_its_target_alone_does,
    );
    suite.test(
        "target_all_runs_a_local_pipeline_with_bash_alone",
        target_all_runs_a_local_pipeline_with_bash_alone,
    );
    suite.test(
        "hostile_file_names_in_a_file_set_reach_commands_intact",
        hostile_file_names_in_a_file_set_reach_commands_intact,
    );
    suite.test(
        "target_all_stops_at_the_first_failing_wave",
        target_all_stops_at_the_first_failing_wave,
    );
    suite.test(
        "a_profile_builds_a_spec_placed_here_for_slurm",
        a_profile_builds_a_spec_placed_here_for_slurm,
    );
    suite.test(
        "moved_to_kubernetes_an_after_edge_makes_the_job_wait",
        moved_to_kubernetes_an_after_edge_makes_the_job_wait,
    );
}

/// `tests/run/order.exp` with a Kubernetes namespace, moved there with `--on`: `b`, which
/// runs `after [a]`, is applied only once `a`'s Job has completed.
fn moved_to_kubernetes_an_after_edge_makes_the_job_wait() {
    let dir = temp("after-k8s");
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read_to_string(expc_tests::root().join("tests/run/order.exp")).unwrap();
    let src = src
        .replace(
            "import std.resources.{Local, Slurm}",
            "import std.resources.{Kubernetes, Local, Slurm}",
        )
        .replace(
            "resource cluster = Slurm {",
            "resource cloud = Kubernetes {\n  namespace = \"lab\"\n  image = \"python:3.12\"\n}\n\nresource cluster = Slurm {",
        );
    let spec = dir.join("order.exp");
    std::fs::write(&spec, src).unwrap();
    let out = dir.join("out");
    let built = build_for("k8s", spec.to_str().unwrap(), &out, &["--on", "here=cloud"]);
    assert!(built.status.success(), "{}", flat(&built.stderr));
    let submit = std::fs::read_to_string(out.join("submit.sh")).unwrap();
    let line = |prefix: &str| {
        submit
            .lines()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in\n{submit}"))
    };
    assert!(line("wait_job a ") < line("apply b "), "{submit}");
    assert!(line("apply a ") < line("wait_job a "), "{submit}");
    expc_tests::remove_tree(&dir);
}

/// `tests/run/order.exp` places everything on a `Local` resource: there is nothing to
/// build for Slurm until its profile `hpc` (or `--on`) moves it to the cluster. Then every
/// call is an sbatch script, with the same instance ids as the plan without the profile,
/// and `b`, which runs `after [a]`, waits for `a` with `afterok`.
fn a_profile_builds_a_spec_placed_here_for_slurm() {
    let spec = "tests/run/order.exp";
    let out = temp("profile");
    let plain = build(spec, &out, &[]);
    assert_eq!(plain.status.code(), Some(1));
    let err = flat(&plain.stderr);
    assert!(
        err.contains("no job of the pipeline `main` is placed on a Slurm resource"),
        "{err}"
    );
    assert!(err.contains("--profile NAME"), "{err}");

    for moved in [&["--profile", "hpc"][..], &["--on", "here=cluster"][..]] {
        let built = build(spec, &out, moved);
        assert!(built.status.success(), "{moved:?}: {}", flat(&built.stderr));
        let files = expc_tests::read_tree(&out);
        for key in ["a", "b", "s", "c"] {
            let script = format!("jobs/{key}.sbatch");
            assert!(
                files.contains_key(&script),
                "{moved:?}: no {script} in {:?}",
                files.keys()
            );
        }
        let submit = String::from_utf8_lossy(&files["submit.sh"]).into_owned();
        let line = |key: &str| {
            submit
                .lines()
                .find(|l| l.starts_with("submit j") && l.contains(&format!(" {key}.sbatch ")))
                .unwrap_or_else(|| panic!("no submission of {key}:\n{submit}"))
                .to_owned()
        };
        // An order without data is a dependency all the same; `a` waits for nothing.
        assert!(line("b").contains("--dependency=afterok:${j1}"), "{submit}");
        assert!(!line("a").contains("--dependency"), "{submit}");
        assert!(line("c").contains("--dependency=afterok:"), "{submit}");
        // The plan it ships says what moved, and its ids are those of the spec as placed.
        let shipped: serde_json::Value = serde_json::from_slice(&files["plan.json"]).unwrap();
        let here = expc_tests::run(&["plan", "--format", "json", spec]);
        let here: serde_json::Value = serde_json::from_slice(&here.stdout).unwrap();
        for (a, b) in shipped["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(here["jobs"].as_array().unwrap())
        {
            assert_eq!(
                a["id"], b["id"],
                "{moved:?}: the id of {} changed",
                a["key"]
            );
            assert_eq!(a["instance_list"], b["instance_list"], "{moved:?}");
            assert_eq!(a["on"], "cluster");
            assert_eq!(a["moved_from"], "here");
            assert_eq!(b["on"], "here");
        }
    }
    expc_tests::remove_tree(&out);
}

/// The specs with Slurm placements: examples, then fixtures.
fn specs() -> Vec<String> {
    let mut out = expc_tests::example_specs(Some("= Slurm {"));
    out.extend(
        expc_tests::files("tests/build", "exp")
            .iter()
            .map(|p| expc_tests::relative(p)),
    );
    out
}

fn temp(name: &str) -> PathBuf {
    expc_tests::temp_path("build", name)
}

/// Builds `spec` into `out` with a fixed spec folder, so snapshots do not depend on where
/// the checkout is.
fn build(spec: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    build_for("slurm", spec, out, extra)
}

/// [`build`] for any target.
fn build_for(target: &str, spec: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let name = Path::new(spec)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let spec_dir = format!("/srv/experiments/{name}");
    let mut args = vec![
        "build",
        "--target",
        target,
        "--spec-dir",
        &spec_dir,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(spec);
    expc_tests::run(&args)
}

fn every_generated_file_is_golden_and_identical_across_builds(spec: String) {
    let name = Path::new(&spec)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (a, b) = (temp(&format!("{name}-a")), temp(&format!("{name}-b")));
    for dir in [&a, &b] {
        let out = build(&spec, dir, &[]);
        assert!(
            out.status.success(),
            "{spec}: build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (files_a, files_b) = (read_all(&a), read_all(&b));
    assert_eq!(files_a, files_b, "{spec}: two builds differ");
    assert!(files_a.contains_key("submit.sh"), "{spec}: no submit.sh");
    assert!(
        files_a.keys().any(|k| k.starts_with("jobs/")),
        "{spec}: no job script"
    );

    let plan = expc_tests::run(&["plan", "--format", "json", &spec]);
    assert!(plan.status.success());
    assert_eq!(
        files_a["plan.json"], plan.stdout,
        "{spec}: plan.json is not the plan's JSON"
    );

    // The manifest lists every file of the build with the digest of what was written,
    // so the next build can remove them, and only them, unless they were edited.
    let manifest = String::from_utf8(files_a[".expc-build"].clone()).unwrap();
    let listed: Vec<&str> = manifest
        .lines()
        .map(|l| {
            let (digest, path) = l.split_once("  ").expect("`DIGEST  PATH`");
            assert_eq!(
                digest,
                blake3_hex(&files_a[path]),
                "{spec}: the manifest's digest of {path}"
            );
            path
        })
        .collect();
    let written: Vec<&str> = files_a
        .keys()
        .map(String::as_str)
        .filter(|k| *k != ".expc-build")
        .collect();
    assert_eq!(
        listed, written,
        "{spec}: the manifest is not the build's files"
    );
    for (path, bytes) in &files_a {
        if path == "plan.json" || path == ".expc-build" {
            continue;
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        let snap = format!("{name}__{}", path.replace('/', "__"));
        insta::with_settings!({ snapshot_path => "../snapshots/build", prepend_module_to_snapshot => false, description => format!("expc build --target slurm {spec}: {path}") }, {
            insta::assert_snapshot!(snap, text);
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a.join("submit.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{spec}: submit.sh is not executable");
    }
    expc_tests::remove_tree(&a);
    expc_tests::remove_tree(&b);
}

/// Every generated script is valid bash (`bash -n`).
fn generated_scripts_parse_as_bash(spec: String) {
    let dir = temp(&format!("bash-n-{}", expc_tests::stem(&spec)));
    assert!(build(&spec, &dir, &[]).status.success());
    for (path, _) in read_all(&dir) {
        if path.ends_with(".sh") || path.ends_with(".sbatch") {
            let out = std::process::Command::new("bash")
                .arg("-n")
                .arg(dir.join(&path))
                .output()
                .expect("bash");
            assert!(
                out.status.success(),
                "{spec}: {path} is not valid bash:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    expc_tests::remove_tree(&dir);
}

/// Standard error with miette's line wrapping undone: words joined by single spaces.
fn flat(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// A build that fails says what, where and what to do, exits 1 and writes nothing.
fn assert_fails(spec_text: &str, name: &str, expected: &[&str]) {
    let dir = temp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join(format!("{name}.exp"));
    std::fs::write(&spec, spec_text).unwrap();
    let out_dir = dir.join("out");
    let out = build(spec.to_str().unwrap(), &out_dir, &[]);
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    for e in expected {
        assert!(stderr.contains(e), "{name}: {e:?} not in:\n{stderr}");
    }
    assert!(stderr.contains("help:"), "{name}: no help in:\n{stderr}");
    assert!(!out_dir.exists(), "{name}: something was written");
    expc_tests::remove_tree(&dir);
}

const HEADER: &str = "experiment e {\n  version = \"1\"\n}\n\nimport std.formats.{Text}\nimport std.resources.{Slurm, Local}\nimport std.sites.{Site}\n\n";

/// The specs a build-time check must refuse: name, spec, what the error must say.
fn refusals() -> Vec<(&'static str, String, &'static [&'static str])> {
    let long = "x".repeat(140);
    vec![
        (
            "no_slurm",
            format!(
                "{HEADER}resource here = Local {{\n  cpus = 1\n}}\n\ntask t() -> (o: File<Text> = \"o\") {{\n  run `touch ${{o}}`\n}}\n\npipeline main {{\n  t() on here\n}}\n"
            ),
            &[
                "no job of the pipeline `main` is placed on a Slurm resource",
                "nothing was written",
            ],
        ),
        (
            "partition_with_space",
            format!(
                "{HEADER}resource c = Slurm {{\n  partition = \"gpu debug\"\n}}\n\ntask t() -> (o: File<Text> = \"o\") {{\n  run `touch ${{o}}`\n}}\n\npipeline main {{\n  t() on c\n}}\n"
            ),
            &["partition \"gpu debug\" of `c`", "#SBATCH"],
        ),
        (
            "throttle_zero",
            format!(
                "{HEADER}resource c = Slurm {{\n  array_throttle = 0\n}}\n\nsweep s = product {{\n  i = 0..3\n}}\n\ntask t(i: Int) -> (o: File<Text> = \"o\") {{\n  run `touch ${{o}} ${{i}}`\n}}\n\npipeline main {{\n  for p in s {{\n    t(i = p.i) on c\n  }}\n}}\n"
            ),
            &["`c` sets array_throttle = 0", "at least 1"],
        ),
        (
            "extra_with_space",
            format!(
                "{HEADER}resource c = Slurm {{\n  sbatch_extra = [\"--mail-type=END --wrap=x\"]\n}}\n\ntask t() -> (o: File<Text> = \"o\") {{\n  run `touch ${{o}}`\n}}\n\npipeline main {{\n  t() on c\n}}\n"
            ),
            &["extra sbatch option", "`c`"],
        ),
        (
            "long_name",
            format!(
                "{HEADER}resource c = Slurm {{\n  partition = \"p\"\n}}\n\ntask t() -> (o: File<Text> = \"o\") {{\n  run `touch ${{o}}`\n}}\n\npipeline main {{\n  let {long} = t() on c\n}}\n"
            ),
            &["job name", "longer than 128 bytes"],
        ),
        // A sweep whose scripts would be bigger than Slurm accepts.
        (
            "script_too_big",
            format!(
                "{HEADER}param pad: String = \"{}\"\n\nresource c = Slurm {{\n  partition = \"p\"\n}}\n\nsweep s = product {{\n  i = 0..1000\n}}\n\ntask t(i: Int) -> (o: File<Text> = \"o\") {{\n  run `touch ${{o}} ${{i}} ${{pad}}`\n}}\n\npipeline main {{\n  for p in s {{\n    t(i = p.i) on c\n  }}\n}}\n",
                "y".repeat(5000)
            ),
            &["bytes, more than Slurm's default limit", "max_array_size"],
        ),
    ]
}

fn templates_can_be_replaced_per_site() {
    let dir = temp("templates");
    let templates = dir.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("submit.sh.hbs"),
        "#!/bin/bash\n# site submit for {{title}}\n{{#each submissions}}echo {{label}}\n{{/each}}",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = build(
        "tests/build/conda.exp",
        &out_dir,
        &["--templates", templates.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let submit = std::fs::read_to_string(out_dir.join("submit.sh")).unwrap();
    assert_eq!(
        submit,
        "#!/bin/bash\n# site submit for `conda` (pipeline `main`)\necho x\necho y\necho z\n"
    );
    // The scripts not overridden are the built-in ones.
    let script = std::fs::read_to_string(out_dir.join("jobs/x.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --export=NONE"), "{script}");

    // A misspelled template name is an error, not silently ignored.
    std::fs::write(templates.join("sbatch.hsb.hbs"), "x").unwrap();
    let out = build(
        "tests/build/conda.exp",
        &dir.join("out2"),
        &["--templates", templates.to_str().unwrap()],
    );
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a template expc knows"), "{stderr}");
    std::fs::remove_file(templates.join("sbatch.hsb.hbs")).unwrap();

    // A template that does not parse names itself.
    std::fs::write(templates.join("sbatch.hbs"), "{{#each directives}}").unwrap();
    let out = build(
        "tests/build/conda.exp",
        &dir.join("out3"),
        &["--templates", templates.to_str().unwrap()],
    );
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the template `sbatch.hbs` does not parse"),
        "{stderr}"
    );
    assert!(!dir.join("out3").exists());
    expc_tests::remove_tree(&dir);
}

/// A rebuild removes the files of the previous build that no longer exist (an array chunk
/// of a sweep that shrank), and leaves files expc did not write — a script written by
/// hand among the generated ones included.
fn a_rebuild_removes_stale_scripts() {
    // The build's folder inside a scratch folder of its own, which holds `outside` too.
    let scratch = temp("stale");
    let dir = scratch.join("build");
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    std::fs::write(dir.join("jobs/o.7.sbatch"), "old").unwrap();
    std::fs::write(dir.join("jobs/old.sh"), "written by an earlier build").unwrap();
    std::fs::write(dir.join("notes.txt"), "the user's").unwrap();
    std::fs::write(dir.join(".expc-build"), "jobs/old.sh\n../outside\n").unwrap();
    std::fs::write(dir.with_file_name("outside"), "not ours").unwrap();
    assert!(
        build("tests/build/arrays_over_limit.exp", &dir, &[])
            .status
            .success()
    );
    let files: Vec<String> = read_all(&dir).into_keys().collect();
    assert_eq!(
        files,
        [
            ".expc-build",
            "jobs/a.sbatch",
            "jobs/o.0.sbatch",
            "jobs/o.1.sbatch",
            "jobs/o.2.sbatch",
            "jobs/o.7.sbatch",
            "notes.txt",
            "plan.json",
            "submit.sh"
        ]
    );
    assert!(
        dir.with_file_name("outside").exists(),
        "a manifest path outside the output directory was followed"
    );
    expc_tests::remove_tree(&scratch);
}

/// Runs a generated script with bash alone, as Slurm would start it (without Slurm).
fn run_script(
    script: &Path,
    spec_dir: &str,
    run: &Path,
    task: Option<u64>,
) -> std::process::Output {
    let mut c = std::process::Command::new("bash");
    c.arg(script)
        .arg(spec_dir)
        .arg(run)
        .arg(run.join("provenance"))
        .env_remove("SLURM_JOB_ID")
        .env_remove("SLURM_ARRAY_JOB_ID")
        .env_remove("SLURM_ARRAY_TASK_ID");
    if let Some(t) = task {
        c.env("SLURM_JOB_ID", (1000 + t).to_string())
            .env("SLURM_ARRAY_JOB_ID", "999")
            .env("SLURM_ARRAY_TASK_ID", t.to_string());
    }
    c.output().expect("bash")
}

/// The scripts work with bash and coreutils alone: each instance gets its argv byte for
/// byte, and the hook's records parse with `read_hook_records`.
fn scripts_run_with_bash_alone_and_their_records_parse() {
    let dir = temp("bash-run");
    std::fs::create_dir_all(&dir).unwrap();
    let values = [
        "it's $(id) `id`",
        "line\none",
        "-rf",
        "ünï ✓",
        "",
        "100% %j",
    ];
    let params = dir.join("values.yaml");
    std::fs::write(
        &params,
        format!("values: {}\n", serde_json::to_string(&values).unwrap()),
    )
    .unwrap();
    let out = dir.join("out");
    // The scripts run with a copy of the spec's folder (and of the one its tasks read),
    // not with the checkout's.
    expc_tests::shared_copy("tests/run");
    let spec_dir = expc_tests::shared_copy("tests/slurm");
    let spec_dir = spec_dir.to_str().unwrap();
    let built = build(
        "tests/slurm/injection.exp",
        &out,
        &["--params", params.to_str().unwrap()],
    );
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = dir.join("run");
    for i in 0..values.len() as u64 {
        let o = run_script(&out.join("jobs/echo.sbatch"), spec_dir, &run, Some(i));
        assert!(
            o.status.success(),
            "instance {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for (i, v) in values.iter().enumerate() {
        let text = std::fs::read_to_string(run.join(format!("echo/{i}/argv.json"))).unwrap();
        let argv: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            argv,
            [v.to_string(), format!("prefix-{v}"), format!("--flag={v}")]
        );
    }
    let records = expc_run::hook::read_hook_records(&run.join("provenance")).unwrap();
    assert_eq!(records.len(), 2 * values.len());
    for r in &records {
        assert_eq!(r.experiment, "slurm_injection");
        assert_eq!(r.job, "echo");
        assert_eq!(r.slurm_array_task_id, Some(r.instance.to_string()));
        assert_eq!(r.slurm_job_id, Some((1000 + r.instance).to_string()));
        assert_eq!(r.attempt, 1);
        if r.event == expc_run::hook::HookEvent::End {
            assert_eq!(r.exit_status, Some(0));
            assert_eq!(r.outputs.len(), 1);
            assert_eq!(r.outputs[0].path, format!("echo/{}/argv.json", r.instance));
            assert_eq!(r.outputs[0].sha256.as_ref().map(String::len), Some(64));
        }
    }

    // A failing command is retried as the task says, every attempt recorded.
    let out = dir.join("retry");
    assert!(build("tests/build/retry.exp", &out, &[]).status.success());
    let run = dir.join("retry-run");
    let o = run_script(&out.join("jobs/f.sbatch"), spec_dir, &run, None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let records = expc_run::hook::read_hook_records(&run.join("provenance")).unwrap();
    let attempts: Vec<(u32, Option<i32>)> = records
        .iter()
        .filter(|r| r.event == expc_run::hook::HookEvent::End)
        .map(|r| (r.attempt, r.exit_status))
        .collect();
    assert_eq!(attempts, [(1, Some(1)), (2, Some(1)), (3, Some(1))]);
    assert!(records.iter().all(|r| r.slurm_job_id.is_none()));
    expc_tests::remove_tree(&dir);
}

/// Every example, and the fixture that mixes this machine with Slurm.
fn all_specs() -> Vec<String> {
    let mut out = expc_tests::example_specs(None);
    out.push("tests/slurm/mixed.exp".into());
    out.push("tests/all/failing.exp".into());
    out.push("tests/build/file_set.exp".into());
    out
}

/// `--target all` writes each engine's part exactly as that target alone builds it, under
/// its own folder; the local part and the top-level submit.sh are golden; two builds are
/// byte-identical, and every script parses as bash.
fn target_all_builds_every_part_as_its_target_alone_does(spec: String) {
    let name = Path::new(&spec)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (a, b) = (
        temp(&format!("all-{name}-a")),
        temp(&format!("all-{name}-b")),
    );
    for dir in [&a, &b] {
        let out = build_for("all", &spec, dir, &[]);
        assert!(
            out.status.success(),
            "{spec}: build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let files = read_all(&a);
    assert_eq!(files, read_all(&b), "{spec}: two builds differ");
    let text = std::fs::read_to_string(expc_tests::root().join(&spec)).unwrap();
    let mut parts = 0;
    for (part, target, kind) in [
        ("slurm", "slurm", "= Slurm {"),
        ("spark", "spark", "= Spark {"),
        ("k8s", "k8s", "= Kubernetes {"),
    ] {
        let has = files.keys().any(|k| k.starts_with(&format!("{part}/")));
        // A resource of the kind is declared when a call is placed on it (in these specs).
        assert_eq!(has, text.contains(kind), "{spec}: part {part}");
        if !has {
            continue;
        }
        parts += 1;
        let alone = temp(&format!("all-{name}-{part}"));
        let out = build_for(target, &spec, &alone, &[]);
        assert!(out.status.success(), "{spec}: --target {target} failed");
        for (path, bytes) in read_all(&alone) {
            if path == "plan.json" || path == ".expc-build" {
                continue;
            }
            assert_eq!(
                files.get(&format!("{part}/{path}")),
                Some(&bytes),
                "{spec}: {part}/{path} differs from --target {target}'s {path}"
            );
        }
        expc_tests::remove_tree(&alone);
    }
    let plan = expc_tests::run(&["plan", "--format", "json", &spec]);
    assert_eq!(files["plan.json"], plan.stdout, "{spec}: plan.json");
    for (path, bytes) in &files {
        if path.ends_with(".sh") || path.ends_with(".sbatch") {
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(a.join(path))
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{spec}: {path} is not valid bash: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
        if path == "submit.sh" || path.starts_with("local/") {
            let snap = format!("all__{name}__{}", path.replace('/', "__"));
            let text = String::from_utf8(bytes.clone()).unwrap();
            insta::with_settings!({ snapshot_path => "../snapshots/build", prepend_module_to_snapshot => false, description => format!("expc build --target all {spec}: {path}") }, {
                insta::assert_snapshot!(snap, text);
            });
        }
    }
    assert!(
        parts > 0 || files.keys().any(|k| k.starts_with("local/")),
        "{spec}: nothing built"
    );
    expc_tests::remove_tree(&a);
    expc_tests::remove_tree(&b);
}

/// `${json(cfg)}` and `${yaml(cfg)}` in a job script: the script writes the files from
/// quoted words, and the command reads exactly the bytes `expc run --local` gives it, for
/// every hostile value.
fn a_config_file_from_a_job_script_holds_hostile_values_byte_for_byte() {
    let dir = temp("config-files");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("config.exp");
    std::fs::write(
        &spec,
        "import std.formats.{Json, Text}\nimport std.resources.{Local}\n\nresource here = Local {}\n\nrecord Cfg {\n  texts: List<String> = []\n  n: Int = 1\n}\n\nparam cfg: Cfg = Cfg {}\n\ntask t() -> (j: File<Json> = \"cfg.json\", y: File<Text> = \"cfg.yaml\") {\n  run `python3 -c \"import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2]); shutil.copy(sys.argv[3], sys.argv[4])\" ${json(cfg)} ${j} ${yaml(cfg)} ${y}`\n}\n\npipeline main {\n  t() on here\n}\n",
    )
    .unwrap();
    let values = expc_tests::hostile_values(&[]);
    let params = dir.join("cfg.yaml");
    std::fs::write(
        &params,
        format!(
            "cfg:\n  texts: {}\n",
            serde_json::to_string(&values).unwrap()
        ),
    )
    .unwrap();
    let (spec, params) = (spec.to_str().unwrap(), params.to_str().unwrap());
    let built = dir.join("built");
    let out = expc_tests::run(&[
        "build",
        "--target",
        "all",
        "--params",
        params,
        "-o",
        built.to_str().unwrap(),
        spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::process::Command::new("bash")
        .arg(built.join("submit.sh"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let state = dir.join("state");
    let here = expc_tests::run(&[
        "run",
        "--local",
        "--params",
        params,
        "--state-dir",
        state.to_str().unwrap(),
        spec,
    ]);
    assert!(
        here.status.success(),
        "{}",
        String::from_utf8_lossy(&here.stderr)
    );
    for file in ["cfg.json", "cfg.yaml"] {
        let from_script = std::fs::read(built.join("run/t/0").join(file)).unwrap();
        let from_run = std::fs::read(state.join("out/t").join(file)).unwrap();
        assert_eq!(
            from_script, from_run,
            "{file} differs from expc run --local"
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("out/t/cfg.json")).unwrap()).unwrap();
    assert_eq!(json["texts"], serde_json::json!(values));
    assert_eq!(json["n"], 1);
    expc_tests::remove_tree(&dir);
}

/// The local part runs with bash alone: `hello` built with `--target all` and run by its
/// submit.sh makes the same bytes as `expc run --local`, and its hook records load into
/// the provenance store as a run.
fn target_all_runs_a_local_pipeline_with_bash_alone() {
    let dir = temp("all-hello-run");
    let project = expc_tests::copy_of("build", "all-hello", "examples/hello");
    let spec = project.join("hello.exp");
    let spec = spec.to_str().unwrap();
    let out = expc_tests::run(&[
        "build",
        "--target",
        "all",
        "-o",
        dir.to_str().unwrap(),
        spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::process::Command::new("bash")
        .arg(dir.join("submit.sh"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let state = dir.join("state");
    let here = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        state.to_str().unwrap(),
        spec,
    ]);
    assert!(here.status.success());
    for file in ["summary.csv", "report.txt"] {
        let built = std::fs::read(dir.join("run/summarise/0").join(file)).unwrap();
        let local = std::fs::read(state.join("out/summarise").join(file)).unwrap();
        assert!(!built.is_empty());
        assert_eq!(built, local, "{file} differs from expc run --local");
    }
    let ingest = expc_tests::run(&[
        "prov",
        "ingest",
        "--state-dir",
        dir.join("ingested").to_str().unwrap(),
        "--spec",
        spec,
        dir.join("run/provenance").to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&ingest.stderr);
    assert!(ingest.status.success(), "{said}");
    assert!(said.contains("6 ran, 0 failed"), "{said}");
    expc_tests::remove_tree(&dir);
    expc_tests::remove_tree(&project);
}

/// File names are values a shell must never read: a glob that matches names with quotes,
/// `$(…)`, backticks, newlines and spaces passes each to its instance's argv intact, in a
/// script built by `--target all` and run with bash, as under `expc run --local`.
fn hostile_file_names_in_a_file_set_reach_commands_intact() {
    let project = temp("hostile-names");
    std::fs::create_dir_all(project.join("in")).unwrap();
    let names = [
        "$(touch PWNED).txt",
        "q\"uote's.txt",
        "new\nline.txt",
        "back\\slash `tick`.txt",
        "{a}: [x] #.txt",
        "${HOME} ~.txt",
        "-dash.txt",
    ];
    for (i, n) in names.iter().enumerate() {
        std::fs::write(project.join("in").join(n), format!("file {i}\n")).unwrap();
    }
    std::fs::write(
        project.join("names.exp"),
        r#"import std.formats.{Text}
import std.resources.{Local}

resource here = Local { cpus = 1 }

data files: List<File<Text>> = glob("in/*.txt")

task copy(f: File<Text>) -> (out: File<Text> = "copy.txt") {
  run `cp -- ${f} ${out}`
}

task join(parts: List<File<Text>>) -> (all: File<Text> = "all.txt") {
  shell `cat -- $parts > "$all"`
}

pipeline main {
  for f in files {
    let c = copy(f = f) on here
  }
  join(parts = c.out) on here
}
"#,
    )
    .unwrap();
    let spec = project.join("names.exp");
    let spec = spec.to_str().unwrap();
    // The files in byte order of their paths, as the set lists them.
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort();
    let expected: String = sorted
        .iter()
        .map(|n| {
            let i = names.iter().position(|m| m == n).unwrap();
            format!("file {i}\n")
        })
        .collect();

    let out = temp("hostile-names-build");
    let built = expc_tests::run(&[
        "build",
        "--target",
        "all",
        "-o",
        out.to_str().unwrap(),
        spec,
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = std::process::Command::new("bash")
        .arg(out.join("submit.sh"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let all = std::fs::read_to_string(out.join("run/join/0/all.txt")).unwrap();
    assert_eq!(all, expected);

    let state = project.join("state");
    let here = expc_tests::run(&[
        "run",
        "--local",
        "--state-dir",
        state.to_str().unwrap(),
        spec,
    ]);
    assert!(
        here.status.success(),
        "{}",
        String::from_utf8_lossy(&here.stderr)
    );
    let all = std::fs::read_to_string(state.join("out/join/all.txt")).unwrap();
    assert_eq!(all, expected);
    for dir in [&project, &out, &std::env::current_dir().unwrap()] {
        assert!(
            !dir.join("PWNED").exists(),
            "a file name was run by a shell"
        );
    }
    expc_tests::remove_tree(&out);
    expc_tests::remove_tree(&project);
}

/// A failing job stops the run at its wave: what reads it never starts, what ran beside it
/// finishes, and submit.sh exits 1 saying so.
fn target_all_stops_at_the_first_failing_wave() {
    let dir = temp("all-failing-run");
    let spec = "tests/all/failing.exp";
    let out = expc_tests::run(&[
        "build",
        "--target",
        "all",
        "-o",
        dir.to_str().unwrap(),
        spec,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::process::Command::new("bash")
        .arg(dir.join("submit.sh"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad failed here"), "{stderr}");
    assert!(
        stderr.contains("a job of wave 1 failed; the jobs after it were not started"),
        "{stderr}"
    );
    assert!(
        dir.join("run/fine/0/out.txt").exists(),
        "the job beside it did not finish"
    );
    assert!(
        !dir.join("run/after").exists(),
        "a job after the failure started"
    );
    expc_tests::remove_tree(&dir);
}

/// The BLAKE3 digest of `bytes`, in hex.
fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
