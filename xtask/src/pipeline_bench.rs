//! Benchmarks of checking, planning and running, against GNU make and ninja where they
//! are installed: the workloads of the issues, generated here, measured as wall times of
//! the real binaries (median of several runs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::generate::{self, Start};

/// A workload directory under the temporary directory, emptied first.
pub(crate) fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("expc-bench-{name}-{}", std::process::id()));
    clean(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn clean(dir: &Path) {
    let _ = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir)
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(dir);
}

/// Where the resets put what the runs before them wrote: moved aside, and deleted by
/// [`clear_aside`] once every measure is done.
///
/// On ext4 without a journal (the machines this project's CI runs on), an inode freed in
/// the last few minutes is passed over when a new one is allocated, at the cost of a
/// lookup each: deleting the thousands of files of a run makes every file and directory
/// the runs after it create cost up to a millisecond more (`perf` shows it in the
/// kernel's `recently_deleted`). That is the harness's cost, not the tool's, and it grows
/// with how many files the runs before kept. A rename frees no inode.
fn aside_dir() -> PathBuf {
    std::env::temp_dir().join(format!("expc-bench-aside-{}", std::process::id()))
}

/// Moves `path` aside (see [`aside_dir`]), when it is there.
pub(crate) fn put_aside(path: &Path) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if path.symlink_metadata().is_ok() {
        let dir = aside_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::fs::rename(path, dir.join(n.to_string())).unwrap();
    }
}

/// Deletes what the resets put aside.
pub(crate) fn clear_aside() {
    clean(&aside_dir());
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wall time of a command in `dir`; it must succeed.
pub(crate) fn time(dir: &Path, program: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Seconds, to the millisecond under a second (no-op reruns), else to the hundredth.
fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.3} s", d.as_secs_f64())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// How many no-op reruns each tool is timed for.
const NOOP_REPS: usize = 11;

/// How many fresh runs each tool is timed for, unless `--rounds N` says otherwise.
const FRESH_REPS: usize = 3;

/// A tool timed on a workload, in a directory of its own that `write` fills.
struct Contender<'a> {
    dir: PathBuf,
    write: Box<dyn Fn(&Path) + 'a>,
    run: Box<dyn Fn(&Path) -> Duration + 'a>,
}

/// Every timed run of each contender, fresh and no-op, in the order they were taken.
struct Rounds {
    fresh: Vec<Vec<Duration>>,
    noop: Vec<Vec<Duration>>,
}

/// Times each contender's fresh runs `reps` times, each in its directory as its `write`
/// makes it (the one before moved aside), then its no-op reruns ([`NOOP_REPS`] at least).
///
/// The tools take turns — expc, make, expc, ninja, expc, make, … — rather than each
/// running all its reps in a row, so that what the machine is doing meanwhile (a small
/// machine's load drifts by tens of percent within a minute) falls on all of them alike,
/// and a ratio is taken within each round. Each timed run starts once what the one before
/// wrote has reached the disk (`sync`): otherwise a no-op rerun measures the write-back of
/// the thousands of files of the fresh run before it.
fn rounds(reps: usize, contenders: &[Contender]) -> Rounds {
    // A no-op rerun takes tens of milliseconds, where a small machine's noise is a large
    // part: it is timed more often than a fresh run.
    let noop_reps = NOOP_REPS.max(reps);
    let sync = || {
        let _ = Command::new("sync").status();
    };
    let mut fresh = vec![Vec::new(); contenders.len()];
    for _ in 0..reps {
        for (c, times) in contenders.iter().zip(&mut fresh) {
            put_aside(&c.dir);
            std::fs::create_dir_all(&c.dir).unwrap();
            (c.write)(&c.dir);
            sync();
            times.push((c.run)(&c.dir));
        }
    }
    let mut noop = vec![Vec::new(); contenders.len()];
    for _ in 0..noop_reps {
        for (c, times) in contenders.iter().zip(&mut noop) {
            sync();
            times.push((c.run)(&c.dir));
        }
    }
    for c in contenders {
        put_aside(&c.dir);
    }
    Rounds { fresh, noop }
}

/// The tools the running workloads are timed with: expc, and make and ninja where
/// installed, with `-j jobs`.
struct Tools<'a> {
    expc: &'a Path,
    jobs: &'a str,
    ninja: bool,
    make: bool,
}

/// A running workload in its two equal-work forms: expc's spec with programs executed
/// directly beside a Makefile that does the same, and expc's spec with one `/bin/sh` per
/// task beside a build.ninja (ninja runs every command with `/bin/sh -c`).
struct Workload<'a> {
    name: &'a str,
    /// Writes expc's spec for a form into a directory, as `spec_file`.
    spec: &'a dyn Fn(&Path, Start),
    spec_file: &'a str,
    /// Writes the Makefile (programs executed directly) into a directory.
    makefile: &'a dyn Fn(&Path),
    /// Writes the build.ninja into a directory.
    ninja: &'a dyn Fn(&Path),
}

/// What one pair of one workload measured: per round, expc's time and the other tool's.
struct Pair {
    expc_fresh: Vec<Duration>,
    other_fresh: Vec<Duration>,
    expc_noop: Vec<Duration>,
    other_noop: Vec<Duration>,
}

/// Times a workload's pairs, all four contenders taking turns: (expc vs make, expc vs
/// ninja), each `None` where the tool is not installed.
fn contest(tools: &Tools, w: &Workload, reps: usize) -> (Option<Pair>, Option<Pair>) {
    let expc = tools.expc;
    let run_args = ["run", "--local", "-j", tools.jobs, w.spec_file];
    let run_expc = move |d: &Path| time(d, expc, &run_args);
    let mut contenders = Vec::new();
    for (start, installed) in [(Start::Argv, tools.make), (Start::Shell, tools.ninja)] {
        if !installed {
            continue;
        }
        let form = match start {
            Start::Argv => "argv",
            Start::Shell => "sh",
        };
        contenders.push(Contender {
            dir: workdir(&format!("{}-expc-{form}", w.name)),
            write: Box::new(move |d| (w.spec)(d, start)),
            run: Box::new(run_expc),
        });
        contenders.push(match start {
            Start::Argv => Contender {
                dir: workdir(&format!("{}-make", w.name)),
                write: Box::new(w.makefile),
                run: Box::new(|d| time(d, Path::new("make"), &["-s", "-j", tools.jobs])),
            },
            Start::Shell => Contender {
                dir: workdir(&format!("{}-ninja", w.name)),
                write: Box::new(w.ninja),
                run: Box::new(|d| time(d, Path::new("ninja"), &["-j", tools.jobs])),
            },
        });
    }
    let mut r = rounds(reps, &contenders);
    // The contenders are in pairs, make's (when installed) first.
    let mut take = || Pair {
        expc_fresh: r.fresh.remove(0),
        other_fresh: r.fresh.remove(0),
        expc_noop: r.noop.remove(0),
        other_noop: r.noop.remove(0),
    };
    let make = tools.make.then(&mut take);
    let ninja = tools.ninja.then(&mut take);
    (make, ninja)
}

/// The Makefile and build.ninja of a fan-out of `n` tasks that each touch their output,
/// and a gather that counts them (through a shell in every tool).
fn fan_out_rules(dir: &Path, n: usize) {
    let mut ninja = String::from(
        "rule touch\n  command = touch $out\nrule gather\n  command = sh -c 'ls \"$$@\" | wc -l > \"$$0\"' $out $in\n",
    );
    let mut make = String::from("all: all.txt\n");
    let mut parts = String::new();
    for i in 0..n {
        let _ = writeln!(ninja, "build out/{i}.txt: touch");
        let _ = writeln!(make, "out/{i}.txt:\n\t@touch $@");
        let _ = write!(parts, " out/{i}.txt");
    }
    let _ = writeln!(ninja, "build all.txt: gather{parts}");
    let _ = writeln!(
        make,
        "all.txt:{parts}\n\t@sh -c 'ls \"$$@\" | wc -l > \"$$0\"' $@ $^"
    );
    std::fs::write(dir.join("build.ninja"), ninja).unwrap();
    std::fs::write(dir.join("Makefile"), make).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
}

/// 10,000 independent trivial tasks and a gather, as a sweep: the spec (programs run
/// directly), a build.ninja and a Makefile.
pub(crate) fn fan_out(dir: &Path, n: usize) {
    std::fs::write(dir.join("fan.exp"), generate::sweep(n, Start::Argv)).unwrap();
    fan_out_rules(dir, n);
}

/// What each step of the chain runs when programs are executed directly: it copies its
/// predecessor's lines and appends its own number.
const CHAIN_STEP_AWK: &str = "{ print > out }\nEND { print i > out }\n";

/// A chain of `n` tasks, each appending its number to its predecessor's file: expc's
/// spec in the form `start`.
fn chain_spec(dir: &Path, n: usize, start: Start) {
    let (data, first, next) = match start {
        Start::Argv => (
            "data step_awk: File<Text> = \"step.awk\"\n\n",
            "touch ${out}",
            "awk -v i=${i} -v out=${out} -f ${step_awk} ${prev}",
        ),
        Start::Shell => (
            "",
            "sh -c 'touch \"$0\"' ${out}",
            "sh -c 'cat \"$1\" > \"$0\"; echo \"$2\" >> \"$0\"' ${out} ${prev} ${i}",
        ),
    };
    let mut spec = format!(
        "experiment chain {{\n  version = \"1\"\n}}\n\nimport std.formats.{{Text}}\nimport std.resources.{{Local}}\n\nresource here = Local {{}}\n\n{data}\
         task first() -> (out: File<Text> = \"out.txt\") {{\n  run `{first}`\n}}\n\n\
         task next(prev: File<Text>, i: Int) -> (out: File<Text> = \"out.txt\") {{\n  run `{next}`\n}}\n\n\
         pipeline main {{\n  let c0 = first() on here\n"
    );
    for i in 1..n {
        let _ = writeln!(
            spec,
            "  let c{i} = next(prev = c{}.out, i = {i}) on here",
            i - 1
        );
    }
    spec.push_str("}\n");
    std::fs::write(dir.join("chain.exp"), spec).unwrap();
    std::fs::write(dir.join("step.awk"), CHAIN_STEP_AWK).unwrap();
}

/// The chain's Makefile: each step executes awk directly, as expc's argv form does.
fn chain_makefile(dir: &Path, n: usize) {
    let mut make = format!("all: c{}.txt\nc0.txt:\n\t@touch $@\n", n - 1);
    for i in 1..n {
        let _ = writeln!(
            make,
            "c{i}.txt: c{}.txt\n\t@awk -v i={i} -v out=$@ -f step.awk $<",
            i - 1
        );
    }
    std::fs::write(dir.join("Makefile"), make).unwrap();
    std::fs::write(dir.join("step.awk"), CHAIN_STEP_AWK).unwrap();
}

/// The chain's build.ninja: each step one `/bin/sh -c` running `cat`, as expc's shell
/// form does.
fn chain_ninja(dir: &Path, n: usize) {
    let mut ninja = String::from(
        "rule touch\n  command = touch $out\nrule next\n  command = cat $in > $out; echo $i >> $out\nbuild c0.txt: touch\n",
    );
    for i in 1..n {
        let _ = writeln!(ninja, "build c{i}.txt: next c{}.txt\n  i = {i}", i - 1);
    }
    std::fs::write(dir.join("build.ninja"), ninja).unwrap();
}

/// A sweep of `n` points in one spec, for planning.
fn sweep(dir: &Path, side: usize) {
    std::fs::write(
        dir.join("sweep.exp"),
        format!(
            r#"experiment sweep {{
  version = "1"
}}

import std.formats.{{Json, Python}}
import std.resources.{{Slurm}}

resource hpc = Slurm {{
  partition = "short"
}}

sweep grid = product {{
  a = 0..{side}
  b = 0..{side}
}}

data sim_py: File<Python> = "sim.py"

task sim(a: Int, b: Int) -> (out: File<Json> = "out.json", metrics: Metrics = "m.json") {{
  resources {{
    time = 10m
    mem = 1GiB
  }}
  run `python3 ${{sim_py}} --a ${{a}} --b ${{b}} --out ${{out}} --metrics ${{metrics}}`
}}

task collect(ms: List<Metrics>) -> (table: File<Json> = "all.json") {{
  run `python3 ${{sim_py}} --collect ${{ms}} --out ${{table}}`
}}

pipeline main {{
  for p in grid {{
    let s = sim(a = p.a, b = p.b) on hpc
  }}
  let c = collect(ms = s.metrics) on hpc
}}
"#
        ),
    )
    .unwrap();
}

/// Peak resident memory of a command, in bytes, from GNU time when it is there.
fn peak_memory(dir: &Path, program: &Path, args: &[&str]) -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .last()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}
/// The median of the per-round ratios `expc[i] / other[i]`.
fn median_ratio(expc: &[Duration], other: &[Duration]) -> f64 {
    let mut r: Vec<f64> = expc
        .iter()
        .zip(other)
        .map(|(e, o)| e.as_secs_f64() / o.as_secs_f64().max(1e-6))
        .collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

/// The number after `flag` on the command line, if any.
fn number_arg(flag: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1)?.parse().ok()
}

/// Runs the planning and running benchmarks and prints their Markdown tables; returns
/// the wall time of a fresh 10,000-task fan-out run (the sweep form, programs executed
/// directly), against which recording provenance is measured.
pub fn run(expc: &Path, spec_10k: &Path) -> Duration {
    let jobs = "2";
    let reps = number_arg("--rounds").unwrap_or(FRESH_REPS).max(1);
    let tools = Tools {
        expc,
        jobs,
        ninja: have("ninja"),
        make: have("make"),
    };
    if std::env::args().any(|a| a == "--chain-only") {
        running_header(&tools, reps);
        let before = load();
        run_chain(&tools, reps);
        println!("\nload average: {before} before, {} after", load());
        return Duration::ZERO;
    }
    plan_rows(expc, spec_10k);
    running_header(&tools, reps);
    let load_before = load();
    let fan_fresh = run_fan_outs(&tools, reps);
    run_chain(&tools, reps);
    if !tools.ninja || !tools.make {
        println!("\n(ninja or make is not installed: its columns are empty.)");
    }
    println!(
        "\n(load average before the running workloads: {load_before}; after: {})",
        load()
    );
    fan_fresh
}

/// The planning table.
fn plan_rows(expc: &Path, spec_10k: &Path) {
    println!();
    println!("Planning (wall time of `expc plan`, release build, median of 5):");
    println!();
    println!("| workload | median | peak memory | target |");
    println!("|---|---|---|---|");
    let mib = |m: Option<u64>| {
        m.map_or("—".to_owned(), |m| {
            format!("{:.0} MiB", m as f64 / (1 << 20) as f64)
        })
    };
    let dir = workdir("plan");
    sweep(&dir, 1000);
    let million = median(
        (0..5)
            .map(|_| time(&dir, expc, &["plan", "sweep.exp"]))
            .collect(),
    );
    let mem = peak_memory(&dir, expc, &["plan", "sweep.exp"]);
    println!(
        "| a sweep of 1,000,000 instances and a gather | {} | {} | < 3 s, < 1.5 GiB |",
        secs(million),
        mib(mem)
    );
    // The same gather over separate calls (`cargo xtask gen-calls 100000`): planning is
    // linear in calls and dependencies.
    std::fs::write(dir.join("calls.exp"), generate::calls(100_000, Start::Argv)).unwrap();
    let calls = median(
        (0..5)
            .map(|_| time(&dir, expc, &["plan", "calls.exp"]))
            .collect(),
    );
    let check = median(
        (0..5)
            .map(|_| time(&dir, expc, &["check", "calls.exp"]))
            .collect(),
    );
    let mem = peak_memory(&dir, expc, &["plan", "calls.exp"]);
    println!(
        "| 100,000 `let` calls and a gather of them: `expc plan` | {} | {} | |\n| the same, planning alone (plan − check) | {} | | < 1 s |",
        secs(calls),
        mib(mem),
        secs(calls.saturating_sub(check)),
    );
    let spec_dir = spec_10k.parent().unwrap();
    let name = spec_10k.file_name().unwrap().to_str().unwrap();
    let plan = median(
        (0..5)
            .map(|_| time(spec_dir, expc, &["plan", name]))
            .collect(),
    );
    let check = median(
        (0..5)
            .map(|_| time(spec_dir, expc, &["check", name]))
            .collect(),
    );
    println!(
        "| 10,000 tasks: `expc plan` | {} | | |\n| 10,000 tasks: `expc check` (parse, resolve, types) | {} | | < 150 ms |\n| 10,000 tasks: planning alone (plan − check) | {} | | < 200 ms |",
        secs(plan),
        secs(check),
        secs(plan.saturating_sub(check))
    );
    clean(&dir);
}

fn running_header(tools: &Tools, reps: usize) {
    println!();
    println!(
        "Running (wall time, `-j {}`, release build; per workload, expc with programs executed directly against make, and expc with one `/bin/sh` per task against ninja, the four taking turns; {reps} rounds of fresh runs, the state moved aside before each, and {} of no-op reruns; times are medians, ratios the medians of the per-round ratios):",
        tools.jobs,
        NOOP_REPS.max(reps)
    );
    println!();
    println!(
        "| workload | expc (argv) | make | expc / make | expc (one sh) | ninja | expc / ninja | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
}

/// A row of the running table: fresh or no-op times of both pairs.
fn row(
    name: &str,
    make: Option<(&[Duration], &[Duration])>,
    ninja: Option<(&[Duration], &[Duration])>,
    target: &str,
) {
    let cells = |pair: Option<(&[Duration], &[Duration])>| {
        pair.map_or_else(
            || "— | — | —".to_owned(),
            |(e, o)| {
                format!(
                    "{} | {} | **{:.2}**",
                    secs(median(e.to_vec())),
                    secs(median(o.to_vec())),
                    median_ratio(e, o)
                )
            },
        )
    };
    println!("| {name} | {} | {} | {target} |", cells(make), cells(ninja));
}

/// Both rows, fresh and no-op, of a workload.
fn rows(name: &str, make: &Option<Pair>, ninja: &Option<Pair>, noop_target: &str) {
    fn fresh(p: &Pair) -> (&[Duration], &[Duration]) {
        (&p.expc_fresh, &p.other_fresh)
    }
    fn noop(p: &Pair) -> (&[Duration], &[Duration]) {
        (&p.expc_noop, &p.other_noop)
    }
    row(
        &format!("{name}, fresh"),
        make.as_ref().map(fresh),
        ninja.as_ref().map(fresh),
        "≤ 1.10 × each",
    );
    row(
        &format!("{name}, no-op rerun"),
        make.as_ref().map(noop),
        ninja.as_ref().map(noop),
        noop_target,
    );
}

/// The fan-out of 10,000 tasks and a gather, as separate `let` calls and as a sweep;
/// returns the median fresh time of expc's sweep with programs executed directly.
fn run_fan_outs(tools: &Tools, reps: usize) -> Duration {
    let n = 10_000;
    let lets = Workload {
        name: "fan-let",
        spec: &|d, start| {
            std::fs::write(d.join("fan.exp"), generate::calls(n, start)).unwrap();
            std::fs::create_dir_all(d.join("out")).unwrap();
        },
        spec_file: "fan.exp",
        makefile: &|d| fan_out_rules(d, n),
        ninja: &|d| fan_out_rules(d, n),
    };
    let (make, ninja) = contest(tools, &lets, reps);
    rows(
        "fan-out: 10,000 `let` calls + a gather",
        &make,
        &ninja,
        "≤ 1.5 × ninja",
    );
    let sweep = Workload {
        name: "fan-sweep",
        spec: &|d, start| {
            std::fs::write(d.join("fan.exp"), generate::sweep(n, start)).unwrap();
        },
        spec_file: "fan.exp",
        makefile: &|d| fan_out_rules(d, n),
        ninja: &|d| fan_out_rules(d, n),
    };
    let (make, ninja) = contest(tools, &sweep, reps);
    rows("sweep of 10,000 + a gather", &make, &ninja, "≤ 1.5 × ninja");
    make.map_or(Duration::ZERO, |p| median(p.expc_fresh))
}

/// The chain of 1,000: fresh runs and no-op reruns.
fn run_chain(tools: &Tools, reps: usize) {
    let n = 1000;
    let chain = Workload {
        name: "chain",
        spec: &|d, start| chain_spec(d, n, start),
        spec_file: "chain.exp",
        makefile: &|d| chain_makefile(d, n),
        ninja: &|d| chain_ninja(d, n),
    };
    let (make, ninja) = contest(tools, &chain, reps);
    rows("chain of 1,000", &make, &ninja, "");
}

/// The 1-minute load average (`/proc/loadavg`), to say what else the machine was doing.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
