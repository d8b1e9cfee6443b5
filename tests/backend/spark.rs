//! `expc build --target spark`, through the real binary, and its scripts run on a real
//! `spark-submit --master local[2]`.
//!
//! Every generated file of every example with Spark placements and of every fixture in
//! `spark/` is snapshotted (`snapshots/spark/`), except `plan.json`, which must equal
//! `expc plan --format json`. Two builds must be byte-identical, every script must pass
//! `bash -n`, and every fixture of `spark/refused/` must fail the build with what, where
//! and what to do (the message is snapshotted too), writing nothing.
//!
//! Two tests run Spark for real (each costs 15–20 s): the rainfall example's `clean` job,
//! and the corpus of hostile values as a tiny application's arguments. They need the
//! `spark-submit` of PyPI's pyspark (`scripts/install-spark.sh`) and Java; without them
//! they are ignored with the reason, unless `CI=true`, where they fail. Scripts run with a
//! copy of the spec's folder, never the checkout's.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use expc_run::hook::{HookEvent, HookRecord, read_hook_records};
use expc_tests::read_tree as read_all;
use expc_tests::{Engine, Suite};

pub fn trials(suite: &mut Suite) {
    suite.test("the_specs_are_found", || {
        let specs = specs();
        assert!(
            specs.len() >= 5,
            "expected rainfall and the fixtures, found {specs:?}"
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
    suite.test("every_refused_fixture_is_expected", || {
        let fixtures = expc_tests::files("tests/spark/refused", "exp");
        let names: Vec<String> = fixtures.iter().map(expc_tests::stem).collect();
        let expected: Vec<&str> = refusals().iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected, "{fixtures:?}");
    });
    suite.each(
        "build_time_checks_fail_the_build",
        refusals().into_iter().map(|r| (r.0.to_owned(), r)),
        build_time_check_fails_the_build,
    );
    suite.test(
        "hook_retries_and_records_with_a_stand_in_spark_submit",
        hook_retries_and_records_with_a_stand_in_spark_submit,
    );
    suite.needs(
        Engine::Spark,
        "rainfall_clean_runs_on_real_spark",
        rainfall_clean_runs_on_real_spark,
    );
    suite.needs(
        Engine::Spark,
        "hostile_values_reach_spark_application_args_byte_exact",
        hostile_values_reach_spark_application_args_byte_exact,
    );
}

/// The buildable specs with Spark placements: examples, then fixtures.
fn specs() -> Vec<String> {
    let mut out = expc_tests::example_specs(Some("= Spark {"));
    out.extend(
        expc_tests::files("tests/spark", "exp")
            .iter()
            .filter(|p| !p.parent().unwrap().ends_with("refused"))
            .map(|p| expc_tests::relative(p)),
    );
    out
}

fn temp(name: &str) -> PathBuf {
    expc_tests::temp_path("spark", name)
}

fn stem(spec: &str) -> String {
    Path::new(spec)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Builds `spec` into `out`, with `spec_dir` as the spec folder the scripts use.
fn build_with(spec: &str, out: &Path, spec_dir: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "build",
        "--target",
        "spark",
        "--spec-dir",
        spec_dir,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(spec);
    expc_tests::run(&args)
}

/// Builds `spec` with a fixed spec folder, so snapshots do not depend on the checkout.
fn build(spec: &str, out: &Path) -> Output {
    build_with(spec, out, &format!("/srv/experiments/{}", stem(spec)), &[])
}

fn every_generated_file_is_golden_and_identical_across_builds(spec: String) {
    let name = stem(&spec);
    let (a, b) = (temp(&format!("{name}-a")), temp(&format!("{name}-b")));
    for dir in [&a, &b] {
        let out = build(&spec, dir);
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
        files_a
            .keys()
            .any(|k| k.starts_with("jobs/") && k.ends_with(".sh")),
        "{spec}: no job script"
    );
    let plan = expc_tests::run(&["plan", "--format", "json", &spec]);
    assert!(plan.status.success());
    assert_eq!(
        files_a["plan.json"], plan.stdout,
        "{spec}: plan.json is not the plan's JSON"
    );
    for (path, bytes) in &files_a {
        if path == "plan.json" || path == ".expc-build" {
            continue;
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        let snap = format!("{name}__{}", path.replace('/', "__"));
        insta::with_settings!({ snapshot_path => "../snapshots/spark", prepend_module_to_snapshot => false, description => format!("expc build --target spark {spec}: {path}") }, {
            insta::assert_snapshot!(snap, text);
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in files_a.keys().filter(|k| k.ends_with(".sh")) {
            let mode = std::fs::metadata(a.join(path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "{spec}: {path} is not executable");
        }
    }
    expc_tests::remove_tree(&a);
    expc_tests::remove_tree(&b);
}

/// Every generated script is valid bash (`bash -n`).
fn generated_scripts_parse_as_bash(spec: String) {
    let dir = temp(&format!("bash-n-{}", stem(&spec)));
    assert!(build(&spec, &dir).status.success());
    for path in read_all(&dir).keys().filter(|p| p.ends_with(".sh")) {
        let out = Command::new("bash")
            .arg("-n")
            .arg(dir.join(path))
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{spec}: {path} is not valid bash:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
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

/// The fixtures of `spark/refused/` and what the refusal of each must say.
fn refusals() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        (
            "executor_mem_over_max",
            &[
                "`big` asks for executors of 9011MiB (8GiB of memory and 819MiB of overhead), over `cluster`'s max_executor_mem of 8GiB",
                "set `executor_mem_overhead`",
            ],
        ),
        (
            "fractional_cores",
            &["the task `t` sets executor_cores = 1.5", "whole"],
        ),
        (
            "memory_not_mib",
            &["`cluster` sets driver_mem = 1000KiB", "MiB"],
        ),
        (
            "no_spark_job",
            &["no job of the pipeline `main` is placed on a Spark resource"],
        ),
        ("typed_conf_key", &["spark.executor.memory", "executor_mem"]),
    ]
}

/// Each fixture of `spark/refused/` fails the build (exit 1) with what, where and what to
/// do, writes nothing, and its message is golden.
fn build_time_check_fails_the_build((name, messages): (&'static str, &'static [&'static str])) {
    let spec = format!("tests/spark/refused/{name}.exp");
    let dir = temp(&format!("refused-{name}"));
    let out = build(&spec, &dir);
    let stderr = flat(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    for m in messages {
        assert!(stderr.contains(m), "{name}: {m:?} not in:\n{stderr}");
    }
    assert!(stderr.contains("help:"), "{name}: no help in:\n{stderr}");
    assert!(stderr.contains("nothing was written"), "{name}: {stderr}");
    assert!(!dir.exists(), "{name}: something was written");
    insta::with_settings!({ snapshot_path => "../snapshots/spark", prepend_module_to_snapshot => false, description => format!("expc build --target spark {spec}: the error") }, {
        // From the message on: the line wrapping of the spec's path is not golden.
        let message = stderr.split_once(".exp`: ").map_or(stderr.as_str(), |(_, m)| m);
        insta::assert_snapshot!(format!("refused__{name}"), message);
    });
}

/// The hook, with a stand-in `spark-submit` (a bash script under `SPARK_HOME/bin/`) that
/// fails its first attempt after writing part of the table: the retry starts without the
/// partial output, both attempts are recorded with the application id and event log read
/// from the log, the failure shows the log's end, and the table's digest is the one
/// docs/spark.md defines. No Spark needed.
fn hook_retries_and_records_with_a_stand_in_spark_submit() {
    let dir = temp("stand-in");
    let home = dir.join("spark-home");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let fake = home.join("bin/spark-submit");
    std::fs::write(
        &fake,
        r#"#!/bin/bash
state="$STAND_IN_STATE"
n=$(( $(cat "$state" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"$state"
printf '%s\n' "$@" >"$state.args.$n"
printf '%s' "$APP_TOKEN" >"$state.token"
out=${*: -1}
if [ -e "$out" ]; then echo "attempt $n found an earlier output" >&2; exit 9; fi
echo "26/12/02 02:00:35 INFO RollingEventLogFilesWriter: Logging events to file:/ev/eventlog_v2_local-17961768345$n/events_1_local-17961768345$n.zstd" >&2
mkdir -p "$out/year=2024"
printf 'a,b\n1,2\n' >"$out/year=2024/part-00000-0d4c1f0e-1111-2222-3333-444455556666-c000.csv"
: >"$out/_SUCCESS"
: >"$out/.part-00000-0d4c1f0e-1111-2222-3333-444455556666-c000.csv.crc"
if [ "$n" -eq 1 ]; then echo "boom: attempt $n fails" >&2; exit 3; fi
"#,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let build_dir = dir.join("build");
    let out = build("tests/spark/retry.exp", &build_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (run, prov) = (dir.join("run"), dir.join("prov"));
    let state = dir.join("state");
    let spec_dir = expc_tests::shared_copy("tests/spark");
    let out = Command::new("bash")
        .arg(build_dir.join("jobs/w.sh"))
        .arg(&spec_dir)
        .arg(&run)
        .arg(&prov)
        .env("SPARK_HOME", &home)
        .env("EXPC_SPARK_MASTER", "local[2]")
        .env("STAND_IN_STATE", &state)
        .env("RETRY_TOKEN", "s3cret 'value'")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("state.token")).unwrap(),
        "s3cret 'value'",
        "the secret did not reach spark-submit's environment"
    );
    for (path, bytes) in read_all(&prov).into_iter().chain(read_all(&build_dir)) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("s3cret"),
            "the secret is in {path}"
        );
    }
    assert!(
        stderr.contains("spark-submit exited with status 3 (attempt 1 of 2)"),
        "{stderr}"
    );
    assert!(stderr.contains("boom: attempt 1 fails"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), "2");
    let args = std::fs::read_to_string(dir.join("state.args.2")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(&args[..2], ["--master", "local[2]"]);
    assert!(
        args.contains(&"--name") && args.contains(&"spark_retry.w"),
        "{args:?}"
    );
    assert_eq!(
        args[args.len() - 3..],
        [
            spec_dir.join("argv_app.py").to_str().unwrap(),
            "3",
            run.join("w/0/table").to_str().unwrap()
        ]
    );
    let i = args
        .iter()
        .position(|a| *a == "spark.eventLog.enabled=true")
        .unwrap();
    assert_eq!(
        args[i + 2],
        format!("spark.eventLog.dir={}", prov.join("w/events").display())
    );

    let records = read_hook_records(&prov).unwrap();
    let events: Vec<(HookEvent, u32, Option<i32>)> = records
        .iter()
        .map(|r| (r.event, r.attempt, r.exit_status))
        .collect();
    assert_eq!(
        events,
        [
            (HookEvent::Start, 1, None),
            (HookEvent::End, 1, Some(3)),
            (HookEvent::Start, 2, None),
            (HookEvent::End, 2, Some(0))
        ]
    );
    for (attempt, end) in [(1, &records[1]), (2, &records[3])] {
        assert_eq!(
            end.spark_app_id.as_deref(),
            Some(format!("local-17961768345{attempt}").as_str())
        );
        assert_eq!(
            end.spark_event_log.as_deref(),
            Some(format!("file:/ev/eventlog_v2_local-17961768345{attempt}").as_str())
        );
    }
    let table = run.join("w/0/table");
    let o = &records[3].outputs[0];
    assert_eq!((o.kind.as_str(), o.path.as_str()), ("dir", "w/0/table"));
    // The digest by its definition, spelled out: one data file, its folder kept, its
    // unique id dropped, `_SUCCESS` and the `.crc` left out.
    let line = format!("{}  year=2024/part-00000-c000.csv\n", sha256(b"a,b\n1,2\n"));
    assert_eq!(o.sha256.as_deref(), Some(sha256(line.as_bytes()).as_str()));
    assert_eq!(o.sha256.as_deref(), Some(table_digest(&table).as_str()));

    // Without the secret, or without a spark-submit to run, the script says so before
    // recording anything.
    for (home, token, message) in [
        (
            &home,
            None,
            "reads a secret from the environment variable RETRY_TOKEN, which is not set",
        ),
        (&dir.join("nowhere"), Some("t"), "not found: set SPARK_HOME"),
    ] {
        let mut c = Command::new("bash");
        c.arg(build_dir.join("jobs/w.sh"))
            .arg(&spec_dir)
            .arg(dir.join("run2"))
            .arg(dir.join("prov2"))
            .env("SPARK_HOME", home)
            .env_remove("RETRY_TOKEN");
        if let Some(t) = token {
            c.env("RETRY_TOKEN", t);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{stderr}");
        assert!(!dir.join("prov2").exists());
    }
    expc_tests::remove_tree(&dir);
}

// --- Real Spark ---------------------------------------------------------------------------

/// A command that runs a generated script the way a site would, on `local[2]`: the
/// master overridden by `EXPC_SPARK_MASTER`, and no locale set, so the script must make
/// the JVM's argument encoding UTF-8 itself.
fn spark_command(spark_submit: &Path, program: &str) -> Command {
    let home = spark_submit.parent().and_then(Path::parent).unwrap();
    let mut c = Command::new(program);
    c.env("SPARK_HOME", home)
        .env("EXPC_SPARK_MASTER", "local[2]")
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env(
            "SPARK_SUBMIT_OPTS",
            "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dspark.ui.enabled=false",
        )
        .env_remove("LANG")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .stdin(Stdio::null());
    c
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The digest docs/spark.md defines for a table Spark wrote, computed here independently
/// of the hook: SHA-256 of "SHA256  PATH" lines of the data files in C-locale path order,
/// `_`/`.` files left out, the unique id of part file names removed.
fn table_digest(dir: &Path) -> String {
    let mut files: Vec<(Vec<u8>, PathBuf)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.push((rel.into_bytes(), p));
            }
        }
    }
    files.sort();
    let mut lines = String::new();
    for (rel, path) in files {
        let rel = String::from_utf8(rel).unwrap();
        let (head, file) = rel
            .rsplit_once('/')
            .map_or(("", rel.as_str()), |(h, f)| (h, f));
        // part-00000-UUID-c000.csv → part-00000-c000.csv
        let parts: Vec<&str> = file.splitn(7, '-').collect();
        let file = if parts.len() == 7
            && parts[0] == "part"
            && [8, 4, 4, 4]
                .iter()
                .zip(&parts[2..6])
                .all(|(n, p)| p.len() == *n)
            && parts[6].len() >= 12
        {
            format!("part-{}{}", parts[1], &parts[6][12..])
        } else {
            file.to_owned()
        };
        let rel = if head.is_empty() {
            file
        } else {
            format!("{head}/{file}")
        };
        lines.push_str(&format!(
            "{}  {rel}\n",
            sha256(&std::fs::read(path).unwrap())
        ));
    }
    sha256(lines.as_bytes())
}

/// The rows `clean.py` must write for the example's readings, computed here from the CSV:
/// per station, valid readings in time order; a row needs three earlier readings (for the
/// pressure tendency) and a later one (for the label). Returns (rows, extreme rows).
fn expected_features(csv: &str, threshold: f64) -> (usize, usize) {
    let mut by_station: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Ok(mm), Ok(_), Ok(_)) = (
            f[2].parse::<f64>(),
            f[3].parse::<f64>(),
            f[4].parse::<f64>(),
        ) else {
            continue;
        };
        if mm < 0.0 {
            continue;
        }
        by_station
            .entry(f[0].to_owned())
            .or_default()
            .entry(f[1].to_owned())
            .or_insert(mm);
    }
    let (mut rows, mut extreme) = (0, 0);
    for readings in by_station.values() {
        let mm: Vec<f64> = readings.values().copied().collect();
        for i in 3..mm.len().saturating_sub(1) {
            rows += 1;
            if mm[i + 1] >= threshold {
                extreme += 1;
            }
        }
    }
    (rows, extreme)
}

/// The rainfall example's `clean` job, run for real: its script writes the features
/// table it declares, and its hook records the application id, the event log and the
/// table's digest.
fn rainfall_clean_runs_on_real_spark() {
    let spark_submit = expc_tests::engine::spark_submit();
    let dir = temp("rainfall");
    let build_dir = dir.join("build");
    let spec_dir = expc_tests::shared_copy("examples/rainfall");
    let out = build_with(
        spec_dir.join("rainfall.exp").to_str().unwrap(),
        &build_dir,
        spec_dir.to_str().unwrap(),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (run, prov) = (dir.join("run"), dir.join("prov"));
    let out = spark_command(spark_submit, "bash")
        .arg(build_dir.join("jobs/c.sh"))
        .arg(&spec_dir)
        .arg(&run)
        .arg(&prov)
        .current_dir(&dir)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(run.join("logs/c-0.1.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "jobs/c.sh failed:\n{}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The declared output: a CSV table with a header, as a directory of part files.
    let table = run.join("c/0/features");
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&table)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("part-")
        })
        .collect();
    parts.sort();
    assert!(!parts.is_empty(), "no part file in {}", table.display());
    assert!(
        table.join("_SUCCESS").exists(),
        "Spark did not commit the table"
    );
    let mut rows = Vec::new();
    for p in &parts {
        let text = std::fs::read_to_string(p).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "station,time,hour,mm,mm_lag1,mm_lag2,mm_sum3h,pressure_tendency,humidity_pct,extreme"
            ),
            "{}",
            p.display()
        );
        rows.extend(lines.map(str::to_owned));
    }
    let csv = std::fs::read_to_string(spec_dir.join("data/stations.csv")).unwrap();
    let (want_rows, want_extreme) = expected_features(&csv, 10.0);
    assert!(want_rows > 0 && want_extreme > 0);
    assert_eq!(rows.len(), want_rows, "rows of the features table");
    let extreme = rows.iter().filter(|r| r.ends_with(",1")).count();
    assert_eq!(extreme, want_extreme, "rows labelled extreme");
    assert!(rows.iter().all(|r| r.split(',').count() == 10));

    // The hook's records.
    let records: Vec<HookRecord> =
        read_hook_records(&prov).unwrap_or_else(|e| panic!("the hook records do not parse: {e}"));
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].event, HookEvent::Start);
    let end = &records[1];
    assert_eq!(end.event, HookEvent::End);
    assert_eq!((end.job.as_str(), end.instance, end.attempt), ("c", 0, 1));
    assert_eq!(end.experiment, "rainfall");
    assert_eq!(end.exit_status, Some(0));
    let app = end.spark_app_id.as_deref().expect("an application id");
    assert!(
        app.starts_with("local-") && app[6..].bytes().all(|b| b.is_ascii_digit()),
        "{app}"
    );
    let event_log = end.spark_event_log.as_deref().expect("an event log");
    assert!(event_log.contains(app), "{event_log}");
    let event_log_path = Path::new(event_log.trim_start_matches("file:"));
    assert!(
        event_log_path.starts_with(prov.join("c/events")) && event_log_path.exists(),
        "{event_log}"
    );
    assert_eq!(end.outputs.len(), 1);
    let o = &end.outputs[0];
    assert_eq!(
        (o.name.as_str(), o.path.as_str(), o.kind.as_str()),
        ("features", "c/0/features", "dir")
    );
    assert_eq!(o.sha256.as_deref(), Some(table_digest(&table).as_str()));

    // Ingested into the store, the Spark instance carries its application id as its job id.
    let state = dir.join("state");
    let ingest = expc_tests::run(&[
        "prov",
        "ingest",
        "--state-dir",
        state.to_str().unwrap(),
        "--spec",
        spec_dir.join("rainfall.exp").to_str().unwrap(),
        prov.to_str().unwrap(),
    ]);
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );
    let rows = expc_tests::run(&[
        "query",
        "--state-dir",
        state.to_str().unwrap(),
        "--format",
        "json",
        "SELECT backend, job_id, status FROM tasks WHERE call = 'c'",
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).unwrap();
    assert_eq!(rows[0]["backend"], "spark", "{rows}");
    assert_eq!(rows[0]["job_id"], app, "{rows}");
    assert_eq!(rows[0]["status"], "ran", "{rows}");
    expc_tests::remove_tree(&dir);
}

/// Hostile values reach a Spark application's arguments byte for byte, through the
/// generated `submit.sh`, with nothing run by a shell: one submit carries the whole corpus.
fn hostile_values_reach_spark_application_args_byte_exact() {
    let spark_submit = expc_tests::engine::spark_submit();
    let corpus =
        expc_tests::hostile_values(&["--conf=spark.master=yarn", "--class", "100% %s %%", "a=b,c"]);
    let value = "$(touch pwned) it's `id`; a | b\n--flag ünï %";
    let dir = temp("injection");
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
    let build_dir = dir.join("build");
    let spec_dir = expc_tests::shared_copy("tests/spark");
    let out = build_with(
        spec_dir.join("injection.exp").to_str().unwrap(),
        &build_dir,
        spec_dir.to_str().unwrap(),
        &["--params", params.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = dir.join("run");
    let out = spark_command(spark_submit, build_dir.join("submit.sh").to_str().unwrap())
        .arg(&run)
        .current_dir(&dir)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(run.join("logs/e-0.1.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "submit.sh failed:\n{}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(run.join("e/0/argv.json")).unwrap();
    let argv: Vec<String> = serde_json::from_str(&text).unwrap();
    let mut want: Vec<String> = corpus.iter().map(|s| s.to_string()).collect();
    want.push(format!("prefix-{value}"));
    want.push(format!("--flag={value}"));
    assert_eq!(argv, want, "the words did not arrive intact");
    let pwned = Command::new("find")
        .arg(&dir)
        .args(["-name", "pwned"])
        .output()
        .unwrap();
    assert!(
        pwned.status.success() && pwned.stdout.is_empty(),
        "a value was run by a shell: {}",
        String::from_utf8_lossy(&pwned.stdout)
    );
    let records = read_hook_records(&run.join("provenance"))
        .unwrap_or_else(|e| panic!("the hook records do not parse: {e}"));
    let end = records
        .iter()
        .find(|r| r.event == HookEvent::End)
        .expect("an end record");
    assert_eq!(end.exit_status, Some(0));
    assert!(
        end.spark_app_id
            .as_deref()
            .is_some_and(|a| a.starts_with("local-"))
    );
    assert_eq!(end.outputs[0].kind, "file");
    assert_eq!(
        end.outputs[0].sha256.as_deref(),
        Some(sha256(text.as_bytes()).as_str())
    );
    expc_tests::remove_tree(&dir);
}
