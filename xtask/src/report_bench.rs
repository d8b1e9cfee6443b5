//! How fast the report of a 1,000-task run opens: `tests/report/big.exp` (a 100 x 10
//! sweep with metrics, then a gather) is run, its report written, and the report opened
//! in headless Chromium by `tests/report/chromium.py` several times. The page measures
//! itself: from navigation start to every chart drawn (`data-ready`, set in the
//! animation frame after the last chart). `tests/report.rs` checks the same report's size
//! and marks; this only times it.

use std::path::Path;
use std::process::Command;

use crate::pipeline_bench::{clean, workdir};

const RUNS: usize = 5;

pub(crate) fn run(expc: &Path) {
    println!();
    println!(
        "`expc report` of a run of 1,001 tasks (tests/report/big.exp), opened in headless Chromium:"
    );
    println!();
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        println!("(skipped: chromium is not installed; scripts/install-test-deps.sh installs it)");
        return;
    };
    let dir = workdir("report");
    std::fs::copy(
        crate::root().join("tests/report/big.exp"),
        dir.join("big.exp"),
    )
    .unwrap();
    let ok = |args: &[&str]| {
        let out = Command::new(expc)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "expc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["run", "--local", "big.exp"]);
    let t = std::time::Instant::now();
    ok(&["report", "-o", "big.html"]);
    let write = t.elapsed();
    let size = std::fs::metadata(dir.join("big.html")).unwrap().len();

    let mut ready = Vec::new();
    let mut wall = Vec::new();
    let mut parts = String::new();
    for _ in 0..RUNS {
        let out = Command::new("python3")
            .arg(crate::root().join("tests/report/chromium.py"))
            .arg(dir.join("big.html"))
            .args(["--chromium", chromium])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium.py: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(facts["errors"], serde_json::json!([]), "{facts}");
        ready.push(facts["ready_ms"].as_f64().unwrap());
        wall.push(facts["wall_ms"].as_f64().unwrap());
        parts = facts["timings"].to_string();
    }
    ready.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    println!("| measure | median of {RUNS} | target |");
    println!("|---|---|---|");
    println!(
        "| `expc report` wall time (read the store, the logs, write) | {:.1} ms | |",
        write.as_secs_f64() * 1000.0
    );
    println!("| file size | {:.2} MB | < 5 MB |", size as f64 / 1e6);
    println!(
        "| open: navigation start to every chart drawn (the page's own clock) | {:.0} ms | < 2 s |",
        ready[RUNS / 2]
    );
    println!(
        "| open, as the driver saw it (navigate sent to ready seen) | {:.0} ms | |",
        wall[RUNS / 2]
    );
    println!();
    println!("Drawing time by part in the last run (ms): {parts}");
    clean(&dir);
}
