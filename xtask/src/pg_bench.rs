//! Shared-store benchmarks: what recording a run into a team's PostgreSQL store costs
//! next to the embedded store, and how fast the reading commands answer from a store of
//! 100 runs × 10,000 instances.
//!
//! A run reaches the shared store by being recorded in the embedded store, then sent
//! (`Shared::push`, as `expc run` does at its end), so "recording into PostgreSQL" is the
//! two together, timed in-process as a project member would do it (through row-level
//! security). The server is a throwaway cluster on a loopback port, started here with
//! Debian's `postgresql` programs (as the `postgres` user when run as root) and stopped
//! at the end; `EXPC_BENCH_STORE=postgres://owner@host/db` (password in PGPASSWORD)
//! measures an existing, empty database instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use expc_prov::shared::{Settings, Shared};

use crate::pipeline_bench::{clean, time, workdir};
use crate::prov_bench::{RUNS, TASKS, record};

const MEMBER: &str = "bench_member";
const MEMBER_PASSWORD: &str = "bench-member-pw";
const OWNER_PASSWORD: &str = "bench-owner-pw";

/// A throwaway cluster, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn must(c: &mut Command) {
    let out = c.output().expect("start a PostgreSQL program");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file())
            .max()?;
        let dir = workdir("pg-cluster");
        clean(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), OWNER_PASSWORD).unwrap();
        let _ = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .output();
        must(
            as_postgres(&bin.join("initdb"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-U", "bench_owner", "--auth-host=scram-sha-256"])
                .arg(format!("--pwfile={}", dir.join("pw").display()))
                .args(["-E", "UTF8", "--no-sync"]),
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        // The server's defaults but for durability of each commit, which a loopback
        // benchmark would otherwise measure as the disk's fsync.
        must(
            as_postgres(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(dir.join("data"))
                .args([
                    "-o",
                    &format!(
                        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c synchronous_commit=off",
                        dir.display()
                    ),
                    "-l",
                ])
                .arg(dir.join("log"))
                .args(["-w", "start"]),
        );
        Some(Cluster { bin, dir, port })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output();
        clean(&self.dir);
    }
}

/// SQL as the store's owner, through `psql`.
fn psql(owner_url: &str, sql: &str) {
    must(Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", owner_url, "-c", sql]));
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

pub fn run(expc: &Path) {
    let (_cluster, owner_url, member_url) = match std::env::var("EXPC_BENCH_STORE") {
        Ok(url) => {
            let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            let member = format!("{scheme}://{MEMBER}:{MEMBER_PASSWORD}@{host}");
            (None, url, member)
        }
        Err(_) => {
            let Some(c) = Cluster::start() else {
                println!();
                println!(
                    "Shared store: skipped (no PostgreSQL under /usr/lib/postgresql; `scripts/install-test-deps.sh` installs it)"
                );
                return;
            };
            let port = c.port;
            (
                Some(c),
                format!("postgres://bench_owner:{OWNER_PASSWORD}@127.0.0.1:{port}/postgres"),
                format!("postgres://{MEMBER}:{MEMBER_PASSWORD}@127.0.0.1:{port}/postgres"),
            )
        }
    };
    psql(
        &owner_url,
        &format!(
            "DROP SCHEMA IF EXISTS expc CASCADE; DROP ROLE IF EXISTS {MEMBER}; CREATE ROLE {MEMBER} LOGIN PASSWORD '{MEMBER_PASSWORD}'"
        ),
    );
    let owner = Settings {
        url: owner_url.clone(),
        project: None,
    };
    let mut admin = Shared::init(&owner).expect("create the shared store");
    admin
        .grant("bench", MEMBER, "write")
        .expect("grant the member");
    let member = Settings {
        url: member_url.clone(),
        project: Some("bench".into()),
    };

    let dir = workdir("pg");
    clean(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let metrics = dir.join("metrics.json");
    std::fs::write(&metrics, r#"{"val_loss": 0.25, "accuracy": 0.9}"#).unwrap();
    std::fs::write(dir.join("input.csv"), "a,b\n1,2\n").unwrap();

    // Recording into the embedded store alone, then the same followed by the push.
    let state = dir.join(".expc");
    let push = || {
        let local = expc_prov::Store::open_read_only(&state).unwrap();
        let started = Instant::now();
        let mut shared = Shared::connect(&member).expect("connect as a member");
        let pushed = shared.push(&local).expect("push");
        assert_eq!(pushed.sent.len(), 1);
        started.elapsed()
    };
    let mut local = Vec::new();
    let mut shared = Vec::new();
    for r in 0..5 {
        let recorded = record(&dir, r, &metrics);
        local.push(recorded);
        shared.push(recorded + push());
    }
    let (local, shared) = (median(local), median(shared));
    for r in 5..RUNS {
        record(&dir, r, &metrics);
        push();
    }

    println!();
    println!(
        "Shared store (PostgreSQL on loopback, as a project member through row-level security; {RUNS} runs × {TASKS} instances; median of 5):"
    );
    println!();
    println!("| measure | median | target |");
    println!("|---|---|---|");
    println!(
        "| recording a run of 10,000 instances: embedded store alone | {} | |",
        ms(local)
    );
    println!(
        "| recording a run of 10,000 instances into PostgreSQL (embedded, then sent in one transaction) | {} = {:.2} × | ≤ 1.5 × |",
        ms(shared),
        shared.as_secs_f64() / local.as_secs_f64()
    );
    let ids: Vec<String> = {
        let out = Command::new(expc)
            .args(["query", "--format", "csv", "--store", &member_url])
            .arg("SELECT id FROM runs ORDER BY id")
            .current_dir(&dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .map(|l| l.trim().to_owned())
            .collect()
    };
    assert_eq!(ids.len(), RUNS, "the shared store should hold {RUNS} runs");
    let (a, b) = (ids[10].as_str(), ids[90].as_str());
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "`expc runs compare A B --store URL` (every instance's metrics and outputs)",
            vec!["runs", "compare", a, b, "--store", &member_url],
            "< 500 ms",
        ),
        (
            "`expc runs --store URL` (list)",
            vec!["runs", "--store", &member_url],
            "",
        ),
        (
            "`expc query --store URL`: runs by their lowest val_loss",
            vec![
                "query",
                "SELECT run_id, MIN(value) AS val_loss FROM metrics WHERE name = 'val_loss' GROUP BY run_id ORDER BY 2 LIMIT 5",
                "--store",
                &member_url,
            ],
            "",
        ),
    ];
    for (name, args, target) in cases {
        let t = median((0..5).map(|_| time(&dir, expc, &args)).collect());
        println!("| {name} | {} | {target} |", ms(t));
    }
    drop(admin);
    clean(&dir);
}
