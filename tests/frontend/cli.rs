//! The real `expc` binary, driven as a user would.

use expc_tests::{Suite, run};

pub fn trials(suite: &mut Suite) {
    suite.test(
        "check_accepts_every_example_silently",
        check_accepts_every_example_silently,
    );
    suite.test(
        "check_reports_every_error_and_exits_1",
        check_reports_every_error_and_exits_1,
    );
    suite.test("color_is_forced_by_flag", color_is_forced_by_flag);
    suite.test(
        "check_json_has_positions_and_schema_version",
        check_json_has_positions_and_schema_version,
    );
    suite.test(
        "check_of_a_missing_file_says_so",
        check_of_a_missing_file_says_so,
    );
    suite.test(
        "fmt_check_shows_a_diff_and_fmt_rewrites",
        fmt_check_shows_a_diff_and_fmt_rewrites,
    );
    suite.test(
        "fmt_refuses_files_with_syntax_errors_and_leaves_them_alone",
        fmt_refuses_files_with_syntax_errors_and_leaves_them_alone,
    );
    suite.test(
        "explain_prints_the_explanation_with_an_example",
        explain_prints_the_explanation_with_an_example,
    );
    suite.test("help_and_completions", help_and_completions);
    suite.needs(
        expc_tests::engine::Engine::Spark,
        "init_spark_template_runs_on_local_spark",
        init_spark_template_runs_on_local_spark,
    );
    suite.test(
        "init_makes_a_project_that_checks_and_runs",
        init_makes_a_project_that_checks_and_runs,
    );
    suite.test(
        "check_reports_a_cycle_of_calls",
        check_reports_a_cycle_of_calls,
    );
    suite.test(
        "a_byte_order_mark_is_accepted",
        a_byte_order_mark_is_accepted,
    );
    suite.test(
        "every_planning_command_exits_non_zero_on_invalid_utf8",
        every_planning_command_exits_non_zero_on_invalid_utf8,
    );
    suite.test(
        "a_string_param_from_p_is_taken_byte_for_byte",
        a_string_param_from_p_is_taken_byte_for_byte,
    );
    suite.test(
        "every_command_exits_quietly_on_a_closed_stdout",
        every_command_exits_quietly_on_a_closed_stdout,
    );
}

/// `expc init DIR` makes a project that checks, is formatted and runs at once, with its
/// `.gitignore`, README and editor settings; a second `init` there is refused, and with
/// `--force` keeps the files it finds. The Slurm variant checks and runs with `--local`.
fn init_makes_a_project_that_checks_and_runs() {
    let root = expc_tests::temp_path("cli", "init");
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join("My Study");
    let out = run(&["init", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("made the experiment `my_study`"),
        "{}",
        stdout(&out)
    );
    for file in [
        "my_study.exp",
        "scripts/simulate.py",
        "scripts/summarise.py",
        "README.md",
        ".gitignore",
        ".vscode/extensions.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not made");
    }
    assert!(
        std::fs::read_to_string(dir.join(".gitignore"))
            .unwrap()
            .contains(".expc/")
    );
    let spec = dir.join("my_study.exp");
    let spec = spec.to_str().unwrap();
    let out = run(&["check", spec]);
    assert_eq!((out.status.code(), stderr(&out)), (Some(0), String::new()));
    assert_eq!(run(&["fmt", "--check", spec]).status.code(), Some(0));
    let out = run(&["run", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = std::fs::read_to_string(dir.join(".expc/out/summarise/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 7, "{summary}");

    // Not again, and with --force nothing it finds is overwritten.
    std::fs::write(dir.join("README.md"), "mine").unwrap();
    let out = run(&["init", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    let out = run(&["init", "--force", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("kept as they were"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("README.md")).unwrap(),
        "mine"
    );

    let slurm = root.join("cluster");
    let out = run(&["init", "--template", "slurm", slurm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spec = slurm.join("cluster.exp");
    let spec = spec.to_str().unwrap();
    assert_eq!(run(&["check", spec]).status.code(), Some(0));
    assert!(
        std::fs::read_to_string(spec)
            .unwrap()
            .contains("resource cluster = Slurm")
    );
    let out = run(&["run", "--local", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The Spark variant checks, is formatted, and builds its spark-submit scripts; it runs
    // on a real Spark in `init_spark_template_runs_on_local_spark`.
    let spark = root.join("on spark");
    let out = run(&["init", "--template", "spark", spark.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("then `expc run --local "),
        "{}",
        stdout(&out)
    );
    let spec = spark.join("on_spark.exp");
    let spec = spec.to_str().unwrap();
    let out = run(&["check", spec]);
    assert_eq!((out.status.code(), stderr(&out)), (Some(0), String::new()));
    assert_eq!(run(&["fmt", "--check", spec]).status.code(), Some(0));
    let text = std::fs::read_to_string(spec).unwrap();
    assert!(text.contains("resource cluster = Spark"), "{text}");
    assert!(text.contains("spark simulate_py args"), "{text}");
    assert!(spark.join("jobs/simulate.py").is_file());
    assert!(!spark.join("scripts/simulate.py").exists());
    let build = root.join("spark-build");
    let out = run(&[
        "build",
        "--target",
        "spark",
        "-o",
        build.to_str().unwrap(),
        spec,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `expc init --template spark` runs as its README says, `expc run --local`, on a real
/// `spark-submit --master local[N]`: six Spark applications and the summary.
fn init_spark_template_runs_on_local_spark() {
    let dir = expc_tests::temp_path("cli", "init-spark").join("sim");
    let out = run(&["init", "--template", "spark", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spark_submit = expc_tests::engine::spark_submit();
    let home = spark_submit
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap();
    let out = std::process::Command::new(expc_tests::expc())
        .args(["run", "--local"])
        .arg(dir.join("sim.exp"))
        .env("SPARK_HOME", home)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env(
            "SPARK_SUBMIT_OPTS",
            "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dspark.ui.enabled=false",
        )
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = std::fs::read_to_string(dir.join(".expc/out/summarise/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 7, "{summary}");
    assert!(summary.starts_with("point,mean,error\n"), "{summary}");
}

/// `expc check` finds calls that read each other's outputs, which only planning found.
fn check_reports_a_cycle_of_calls() {
    let out = run(&["check", "tests/check/dependency_cycle.exp"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("[E0601]"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("read each other's outputs"),
        "{}",
        stderr(&out)
    );
}

/// A spec an editor saved with a UTF-8 byte-order mark first checks and plans as the
/// same spec without it.
fn a_byte_order_mark_is_accepted() {
    let dir = expc_tests::temp_path("cli", "bom");
    expc_tests::copy_dir(&expc_tests::root().join("examples/hello"), &dir);
    let spec = dir.join("hello.exp");
    let text = std::fs::read_to_string(&spec).unwrap();
    let plain = run(&["plan", spec.to_str().unwrap()]);
    std::fs::write(&spec, format!("\u{FEFF}{text}")).unwrap();
    let spec = spec.to_str().unwrap();
    let out = run(&["check", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = run(&["plan", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), stdout(&plain));
}

/// A spec that is not valid UTF-8 is reported (E0002) by every command that plans it,
/// and each of them exits non-zero instead of planning the lossy text.
fn every_planning_command_exits_non_zero_on_invalid_utf8() {
    let dir = expc_tests::temp_path("cli", "utf8");
    expc_tests::copy_dir(&expc_tests::root().join("examples/hello"), &dir);
    let spec = dir.join("hello.exp");
    let mut bytes = b"// \xff\xfe not UTF-8\n".to_vec();
    bytes.extend(std::fs::read(&spec).unwrap());
    std::fs::write(&spec, bytes).unwrap();
    let spec = spec.to_str().unwrap();
    for args in [
        vec!["check", spec],
        vec!["plan", spec],
        vec!["graph", spec],
        vec!["diff", spec, spec],
    ] {
        let out = run(&args);
        assert_ne!(out.status.code(), Some(0), "{args:?} exited 0");
        assert!(stderr(&out).contains("E0002"), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?} printed a plan");
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn check_accepts_every_example_silently() {
    let mut args = vec!["check".to_owned()];
    args.extend(
        expc_tests::corpus()
            .iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
}

fn check_reports_every_error_and_exits_1() {
    let out = run(&["check", "tests/fixtures/errors/several_errors.exp"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("[E0010] Error: expected `:`, found `Int`"),
        "{err}"
    );
    assert!(err.contains("[E0007] Error: unknown unit `Gb`"), "{err}");
    assert!(
        err.contains("help: did you mean `GB` or `GiB`?")
            || err.contains("Help: did you mean `GB` or `GiB`?"),
        "{err}"
    );
    // The type checker runs on what parsed, and finds the missing imports too.
    assert!(
        err.contains("[E0102] Error: unknown resource kind `Local`"),
        "{err}"
    );
    assert!(err.contains("[E0102] Error: unknown type `Csv`"), "{err}");
    assert!(err.ends_with("5 errors in 1 file\n"), "{err}");
    assert!(!err.contains('\u{1b}'), "NO_COLOR output has escape codes");
}

fn color_is_forced_by_flag() {
    let out = run(&[
        "check",
        "--color",
        "always",
        "tests/fixtures/errors/missing_colon.exp",
    ]);
    assert!(stderr(&out).contains('\u{1b}'));
    let out = run(&[
        "check",
        "--color",
        "never",
        "tests/fixtures/errors/missing_colon.exp",
    ]);
    assert!(!stderr(&out).contains('\u{1b}'));
}

fn check_json_has_positions_and_schema_version() {
    let out = run(&[
        "check",
        "--format",
        "json",
        "tests/fixtures/errors/misspelled_task.exp",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["schema_version"], 1);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0013");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "tests/fixtures/errors/misspelled_task.exp");
    assert_eq!(d["range"]["start"]["line"], 2);
    assert_eq!(d["range"]["start"]["column"], 1);
    assert_eq!(d["range"]["byte_start"], 21);
    assert_eq!(d["range"]["byte_end"], 25);
    assert_eq!(d["help"], "did you mean `task`?");
}

fn check_of_a_missing_file_says_so() {
    let out = run(&["check", "no/such/file.exp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read `no/such/file.exp`"),
        "{}",
        stderr(&out)
    );
}

fn fmt_check_shows_a_diff_and_fmt_rewrites() {
    let dir = expc_tests::temp_path("cli", "fmt");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.exp");
    std::fs::write(&file, "param x:Int=1 // keep me\n").unwrap();
    let path = file.to_string_lossy().into_owned();

    let out = run(&["fmt", "--check", &path]);
    assert_eq!(out.status.code(), Some(1));
    let diff = stdout(&out);
    assert!(diff.contains("-param x:Int=1 // keep me"), "{diff}");
    assert!(diff.contains("+param x: Int = 1  // keep me"), "{diff}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "param x:Int=1 // keep me\n"
    );

    let out = run(&["fmt", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "param x: Int = 1  // keep me\n"
    );
    let out = run(&["fmt", "--check", &path]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}

fn fmt_refuses_files_with_syntax_errors_and_leaves_them_alone() {
    let out = run(&["fmt", "--check", "tests/fixtures/errors/missing_colon.exp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("was not formatted because it has syntax errors"));
}

fn explain_prints_the_explanation_with_an_example() {
    let out = run(&["explain", "E0007"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("# E0007: unknown unit"), "{text}");
    assert!(text.contains("```exp"));
    let by_name = run(&["explain", "unknown-unit"]);
    assert_eq!(stdout(&by_name), text);

    let list = stdout(&run(&["explain", "--list"]));
    assert!(list.lines().count() >= 16);

    let out = run(&["explain", "E0x07"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown diagnostic code `E0x07`"));
}

fn help_and_completions() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for cmd in ["check", "fmt", "explain", "completions"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = run(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("_expc"));
}

/// `expc … | head -1`: the reader closes the pipe; expc ends with exit 0 and says nothing
/// (no "Broken pipe", no panic). The pipe's read end is closed before expc starts, so
/// its first write fails, every time.
fn every_command_exits_quietly_on_a_closed_stdout() {
    let dir = expc_tests::shared_copy("examples/rainfall");
    let spec = dir.join("rainfall.exp");
    let spec = spec.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["completions", "bash"],
        &["--help"],
        &["run", "--help"],
        &["explain", "--list"],
        &["explain", "E0010"],
        &["plan", spec],
        &["plan", "--format", "json", spec],
        &["graph", spec],
        &["check", "--format", "json", spec],
        &["diff", spec, spec],
        &["diff", "--format", "json", spec, spec],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(expc_tests::expc())
            .args(*args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run expc");
        assert_eq!(
            (out.status.code(), stderr(&out).as_str()),
            (Some(0), ""),
            "expc {args:?} with its stdout closed"
        );
    }
}

/// `-p` gives a `String` param exactly the text after `=`, quotes and spaces included, as
/// `expc run --help` and the README say. (A params file's value is YAML, `tag: "x"` is
/// x: run::hostile_values_reach_argv_byte_for_byte.)
fn a_string_param_from_p_is_taken_byte_for_byte() {
    let dir = expc_tests::shared_copy("tests/run");
    let spec = dir.join("pipeline.exp");
    let tag_of = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["check", "--emit", "ir"];
        all.extend_from_slice(args);
        all.push(spec.to_str().unwrap());
        let out = run(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let ir: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let params = ir["params"].as_array().unwrap();
        params.iter().find(|p| p["id"] == "tag").unwrap()["value"].clone()
    };
    for value in [
        "\"x\"",
        "'x'",
        "x",
        " spaced ",
        "\"a \\\"b\\\" c\"",
        "it's",
        "",
    ] {
        let assignment = format!("tag={value}");
        assert_eq!(tag_of(&["-p", &assignment]), value, "-p {assignment}");
    }
    // The rule is where a user looks for it.
    let help = stdout(&run(&["run", "--help"]));
    assert!(help.contains("byte for byte"), "{help}");
}
