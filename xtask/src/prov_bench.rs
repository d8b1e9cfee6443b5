//! Provenance benchmarks: what recording a run costs, and how fast a big store answers.
//!
//! Recording is measured in-process: the time it takes to record 10,000 instances — run
//! start, every instance's record with a file read and a file made, the final commit — is
//! an upper bound on what it adds to a run of 10,000 tasks (the records are inserted on a
//! writer thread beside the scheduler). The store is then grown to 100 runs of 10,000 instances each, and the
//! commands users type are timed through the release binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use expc_prov::meta::{ParamValue, RunMeta};
use expc_run::Used;
use expc_run::{Event, Generated, InstanceRecord, Outcome, Sink, Summary};
use serde_json::json;

use crate::pipeline_bench::{clean, fan_out, time, workdir};

struct Quiet;

impl Sink for Quiet {
    fn event(&mut self, _: Event) {}
}

pub(crate) const TASKS: usize = 10_000;
pub(crate) const RUNS: usize = 100;

fn meta(dir: &Path, run: usize) -> RunMeta {
    RunMeta {
        experiment: Some("bench".into()),
        spec_path: dir.join("bench.exp"),
        spec_hash: format!("{run:064x}"),
        pipeline: "main".into(),
        params: vec![ParamValue {
            name: "lr".into(),
            ty: "Float".into(),
            value: json!(10f64.powf(-(run as f64) / 20.0)),
            num: Some(10f64.powf(-(run as f64) / 20.0)),
        }],
        git: None,
        environment: json!({}),
        user: Some("bench".into()),
        host: Some("bench".into()),
        placements: BTreeMap::from([("t".to_owned(), ("local".into(), "here".into()))]),
        declared: BTreeMap::new(),
        registry: Default::default(),
    }
}

/// Records one run of `TASKS` instances; returns the time it took.
pub(crate) fn record(dir: &Path, run: usize, metrics: &Path) -> Duration {
    let started = Instant::now();
    let mut rec = expc_prov::Recording::new(Quiet, &dir.join(".expc"), meta(dir, run));
    rec.event(Event::RunStarted {
        instances: TASKS as u64,
    });
    let input = dir.join("input.csv");
    for i in 0..TASKS {
        let now = SystemTime::now();
        let model = i % 100 == 0;
        let r = InstanceRecord {
            name: format!("t[{i}]"),
            call: "t".into(),
            task: "train".into(),
            index: i as u64,
            outcome: Outcome::Ran,
            key: Some(format!("{:064x}", run * TASKS + i)),
            argv: vec![
                "python3".into(),
                "train.py".into(),
                "--seed".into(),
                i.to_string(),
            ],
            started: Some(now),
            ended: Some(now),
            attempts: 1,
            exit_code: Some(0),
            message: None,
            used: vec![Used {
                input: "rows".into(),
                path: input.clone(),
                digest: "ab".repeat(32),
                program: false,
            }],
            values: vec![("seed".into(), i.to_string())],
            generated: vec![
                Generated {
                    name: "out".into(),
                    path: dir.join(format!(".expc/out/t/{i}/out.bin")),
                    digest: format!("{:064x}", (run * TASKS + i) as u128 * 7919),
                    size: 1000,
                    is_dir: false,
                    ty: if model { "Model<Onnx>" } else { "File<Bin>" }.into(),
                },
                Generated {
                    name: "metrics".into(),
                    path: metrics.to_path_buf(),
                    digest: "cd".repeat(32),
                    size: 40,
                    is_dir: false,
                    ty: "Metrics".into(),
                },
            ],
            host: None,
            job_id: None,
            engine: "",
            made_by: None,
            usage: None,
        };
        rec.instance(r);
    }
    let summary = Summary {
        ran: TASKS,
        ..Summary::default()
    };
    rec.finish(&summary);
    assert!(rec.failure().is_none(), "{:?}", rec.failure());
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn run(expc: &Path, fan_out_wall: Option<Duration>) {
    let dir: PathBuf = workdir("prov");
    clean(&dir.join(".expc"));
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("metrics.json");
    std::fs::write(&metrics, r#"{"val_loss": 0.25, "accuracy": 0.9}"#).unwrap();
    std::fs::write(dir.join("input.csv"), "a,b\n1,2\n").unwrap();

    // The wall time of the run the recording is compared with: the fresh 10,000-task
    // fan-out of the running benchmark (measured here when run alone).
    let wall = fan_out_wall.unwrap_or_else(|| {
        let fan = workdir("prov-fan");
        fan_out(&fan, TASKS);
        let t = time(&fan, expc, &["run", "--local", "-j", "2", "fan.exp"]);
        clean(&fan);
        t
    });

    let first: Vec<Duration> = (0..3).map(|r| record(&dir, r, &metrics)).collect();
    let one = median(first);
    for r in 3..RUNS {
        record(&dir, r, &metrics);
    }
    let db = dir.join(".expc/provenance.db");
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());

    println!();
    println!(
        "Provenance (release build; the store grown to {RUNS} runs × {TASKS} instances, {:.0} MiB; median of 5):",
        size as f64 / (1 << 20) as f64
    );
    println!();
    println!("| measure | median | target |");
    println!("|---|---|---|");
    println!(
        "| recording a run of 10,000 instances (in-process, median of 3) | {:.0} ms = {:.1}% of the 10,000-task run ({:.1} s) | < 10% |",
        one.as_secs_f64() * 1e3,
        one.as_secs_f64() / wall.as_secs_f64() * 100.0,
        wall.as_secs_f64()
    );
    let ids: Vec<String> = {
        let out = std::process::Command::new(expc)
            .args([
                "query",
                "--format",
                "csv",
                "SELECT id FROM runs ORDER BY id",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| l.trim().to_owned())
            .collect()
    };
    assert_eq!(ids.len(), RUNS, "the store should hold {RUNS} runs");
    let (a, b) = (ids[10].as_str(), ids[90].as_str());
    let lr = "SELECT r.id, p.num AS lr, \
              (SELECT MIN(m.value) FROM metrics m WHERE m.run_id = r.id AND m.name = 'val_loss') AS val_loss \
              FROM runs r JOIN params p ON p.run_id = r.id AND p.name = 'lr' \
              WHERE p.num < 1e-3 ORDER BY val_loss";
    let digest = format!(
        "SELECT r.id, a.path FROM artifacts a JOIN runs r ON r.id = a.run_id \
         WHERE a.digest GLOB '{}*' \
         AND EXISTS (SELECT 1 FROM usages u WHERE u.run_id = a.run_id AND u.artifact_id = a.id)",
        "ab".repeat(6)
    );
    let output = format!(
        "SELECT run_id, produced_by FROM artifacts WHERE digest = '{:064x}'",
        (55 * TASKS + 1234) as u128 * 7919
    );
    let cases: [(&str, Vec<&str>, &str); 6] = [
        (
            "`expc runs compare A B` (every instance's metrics and outputs)",
            vec!["runs", "compare", a, b],
            "< 200 ms",
        ),
        ("`expc runs` (list)", vec!["runs"], "< 200 ms"),
        (
            "`expc runs show RUN` (prints all 10,000 instances)",
            vec!["runs", "show", a],
            "",
        ),
        (
            "query: runs where lr < 1e-3 by val_loss",
            vec!["query", lr],
            "< 200 ms",
        ),
        (
            "query: runs that used the input with digest X",
            vec!["query", &digest],
            "< 200 ms",
        ),
        (
            "query: which instance made the file with digest X",
            vec!["query", &output],
            "< 200 ms",
        ),
    ];
    for (name, args, target) in cases {
        let t = median((0..5).map(|_| time(&dir, expc, &args)).collect());
        println!("| {name} | {:.0} ms | {target} |", t.as_secs_f64() * 1e3);
    }
    clean(&dir);
}
