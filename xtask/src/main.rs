//! `cargo xtask bench`: reproducible benchmarks of expc, printed as a Markdown table.
//!
//! Every figure comes from a workload this program generates itself, so anyone can rerun
//! it: `cargo xtask bench` (release build; takes under a minute). `--expc PATH` measures
//! another build of `expc` (an earlier commit's, to compare with) instead of this
//! checkout's.

mod generate;
mod lsp_bench;
mod pg_bench;
mod pipeline_bench;
mod prov_bench;
mod report_bench;
mod slurm_bench;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use expc_diagnostics::FileId;

/// The allocator of the `expc` binary, so that the in-process measures (lex, parse)
/// allocate as `expc` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") if args.iter().any(|a| a == "--lsp-only") => lsp_bench::run(&expc_binary()),
        Some("bench") => bench(),
        Some("gen") => {
            let tasks = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
            print!("{}", generate::spec(tasks));
        }
        Some("gen-calls") => {
            let calls = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
            print!("{}", generate::calls(calls, generate::Start::Argv));
        }
        Some("gen-items") => {
            let items = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
            print!("{}", generate::items(items));
        }
        _ => {
            eprintln!(
                "usage: cargo xtask bench | cargo xtask gen [TASKS] | cargo xtask gen-calls [CALLS] | cargo xtask gen-items [ITEMS]"
            );
            std::process::exit(2);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `f` `n` times and returns the median duration.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mb_per_s(bytes: usize, d: Duration) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / d.as_secs_f64())
}

/// The `expc` binary to measure: `--expc PATH` (an earlier build, to compare with), else
/// this checkout's release build, made first.
fn expc_binary() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--expc") {
        let path = PathBuf::from(args.get(i + 1).expect("--expc PATH"));
        assert!(path.is_file(), "--expc {}: no such file", path.display());
        return path;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "expc-cli"])
        .current_dir(root())
        .status()
        .expect("cargo build");
    assert!(status.success());
    // Where cargo put it: CARGO_TARGET_DIR (relative to the root) if set.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root().join("target"), |dir| root().join(dir));
    target.join("release/expc")
}

fn bench() {
    let expc = expc_binary();
    let tasks = 10_000;
    let spec = generate::spec(tasks);
    let parsed = expc_syntax::parse(FileId(0), &spec);
    assert!(
        parsed.diagnostics.is_empty(),
        "generated spec has diagnostics: {:?}",
        &parsed.diagnostics[..parsed.diagnostics.len().min(3)]
    );
    let dir = std::env::temp_dir().join(format!("expc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tasks10k.exp");
    std::fs::write(&file, &spec).unwrap();

    let lex = median(21, || {
        std::hint::black_box(expc_syntax::lexer::lex(FileId(0), &spec));
    });
    let parse = median(21, || {
        std::hint::black_box(expc_syntax::parse(FileId(0), &spec));
    });
    // `expc check` of a file, which must pass.
    let checks_cleanly = |path: &std::path::Path| {
        let out = Command::new(&expc).arg("check").arg(path).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let check = median(11, || checks_cleanly(&file));
    let fmt = median(11, || {
        let out = Command::new(&expc)
            .args(["fmt", "--check"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.code().is_some());
    });
    // Items, not tasks: checking must stay linear in their number.
    let items = 100_000;
    let many_items = dir.join("items100k.exp");
    std::fs::write(&many_items, generate::items(items)).unwrap();
    let check_items = median(5, || checks_cleanly(&many_items));

    println!("expc benchmarks — `cargo xtask bench`");
    println!();
    println!(
        "Workload: a generated spec of {tasks} tasks and a pipeline calling each ({:.1} MB, {} lines).",
        spec.len() as f64 / 1e6,
        spec.lines().count()
    );
    println!();
    println!("| measure | median | throughput | target |");
    println!("|---|---|---|---|");
    println!(
        "| lex (`lexer::lex`) | {} | {} | |",
        ms(lex),
        mb_per_s(spec.len(), lex)
    );
    println!(
        "| lex + parse (incl. bracket pass, doc comments) | {} | {} | ≥ 50 MB/s (≤ 76 ms); parsing alone < 150 ms |",
        ms(parse),
        mb_per_s(spec.len(), parse)
    );
    println!(
        "| `expc check` wall time (process, read, parse, resolve, types, report) | {} | | < 300 ms |",
        ms(check)
    );
    println!("| `expc fmt --check` wall time | {} | | |", ms(fmt));
    println!(
        "| `expc check` of {items} params and data items (no tasks) | {} | | linear: ≈ 10 × the 10,000-item time |",
        ms(check_items)
    );
    let only = |name: &str| std::env::args().any(|a| a == name);
    if only("--provenance-only") {
        prov_bench::run(&expc, None);
    } else if only("--slurm-only") {
        slurm_bench::run(&expc);
    } else if only("--shared-store-only") {
        pg_bench::run(&expc);
    } else if only("--report-only") {
        report_bench::run(&expc);
        pg_bench::run(&expc);
    } else if only("--chain-only") || only("--running-only") {
        pipeline_bench::run(&expc, &file);
    } else if !only("--front-end-only") {
        let fan_out = pipeline_bench::run(&expc, &file);
        prov_bench::run(&expc, Some(fan_out));
        slurm_bench::run(&expc);
        report_bench::run(&expc);
        lsp_bench::run(&expc);
        pg_bench::run(&expc);
    }
    // Deleted only now: see `pipeline_bench::put_aside`.
    pipeline_bench::clear_aside();
    std::fs::remove_dir_all(&dir).ok();
}
