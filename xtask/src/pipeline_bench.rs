//! Benchmarks of checking, planning and running, against GNU make and ninja where they
//! are installed: the workloads of the issues, generated here, measured as wall times of
//! the real binaries (median of several runs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// A tool timed on a workload, in a directory of its own.
struct Contender<'a> {
    dir: PathBuf,
    run: Box<dyn Fn(&Path) -> Duration + 'a>,
}

/// Times each contender's fresh runs `reps` times, each in its directory as `write` makes
/// it (the one before moved aside), then its [`NOOP_REPS`] no-op reruns; returns the
/// medians, fresh and no-op, in the contenders' order.
///
/// The tools take turns — expc, ninja, make, expc, … — rather than each running all its
/// reps in a row, so that what the machine is doing meanwhile (a small machine's load
/// drifts by tens of percent within a minute) falls on all of them alike. Each timed run
/// starts once what the one before wrote has reached the disk (`sync`): otherwise a no-op
/// rerun measures the write-back of the thousands of files of the fresh run before it.
fn fresh_and_noop(reps: usize, write: &dyn Fn(&Path), contenders: &[Contender]) -> Vec<Times> {
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
            write(&c.dir);
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
    fresh
        .into_iter()
        .map(median)
        .zip(noop.into_iter().map(median))
        .collect()
}

/// The tools the running workloads are timed with: expc, and ninja and make where
/// installed, with `-j jobs`.
struct Tools<'a> {
    expc: &'a Path,
    jobs: &'a str,
    ninja: bool,
    make: bool,
}

/// A tool's median fresh run and median no-op rerun.
type Times = (Duration, Duration);

/// Times the tools on the workload `write` makes in a directory, each in a copy of its
/// own, expc with `expc_args`: expc's times, ninja's and make's.
fn contest(
    tools: &Tools,
    name: &str,
    write: &dyn Fn(&Path),
    expc_args: &[&str],
) -> (Times, Option<Times>, Option<Times>) {
    let Tools {
        expc,
        jobs,
        ninja,
        make,
    } = *tools;
    let dir = |tool: &str| workdir(&format!("{name}-{tool}"));
    let mut contenders = vec![Contender {
        dir: dir("expc"),
        run: Box::new(|d| time(d, expc, expc_args)),
    }];
    if ninja {
        contenders.push(Contender {
            dir: dir("ninja"),
            run: Box::new(|d| time(d, Path::new("ninja"), &["-j", jobs])),
        });
    }
    if make {
        contenders.push(Contender {
            dir: dir("make"),
            run: Box::new(|d| time(d, Path::new("make"), &["-s", "-j", jobs])),
        });
    }
    let times = fresh_and_noop(3, write, &contenders);
    for c in &contenders {
        put_aside(&c.dir);
    }
    let mut rest = times[1..].iter().copied();
    (
        times[0],
        ninja.then(|| rest.next()).flatten(),
        make.then(|| rest.next()).flatten(),
    )
}

/// 10,000 independent trivial tasks and a gather: the spec, a build.ninja and a Makefile.
pub(crate) fn fan_out(dir: &Path, n: usize) {
    std::fs::write(
        dir.join("fan.exp"),
        format!(
            r#"experiment fan {{
  version = "1"
}}

import std.formats.{{Text}}
import std.resources.{{Local}}

resource here = Local {{}}

sweep all = product {{
  i = 0..{n}
}}

task one(i: Int) -> (out: File<Text> = "out.txt") {{
  run `touch ${{out}}`
}}

task gather(parts: List<File<Text>>) -> (out: File<Text> = "all.txt") {{
  run `sh -c "ls \"$@\" | wc -l > \"$0\"" ${{out}} ${{parts}}`
}}

pipeline main {{
  for p in all {{
    let o = one(i = p.i) on here
  }}
  let g = gather(parts = o.out) on here
}}
"#
        ),
    )
    .unwrap();
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

/// A chain of `n` tasks, each appending its number to its predecessor's file.
fn chain(dir: &Path, n: usize) {
    let mut spec = String::from(
        "experiment chain {\n  version = \"1\"\n}\n\nimport std.formats.{Text}\nimport std.resources.{Local}\n\nresource here = Local {}\n\ntask first() -> (out: File<Text> = \"out.txt\") {\n  run `touch ${out}`\n}\n\ntask next(prev: File<Text>, i: Int) -> (out: File<Text> = \"out.txt\") {\n  shell `cat \"$prev\" > \"$out\"; echo \"$i\" >> \"$out\"`\n}\n\npipeline main {\n  let c0 = first() on here\n",
    );
    // Each step runs in the shell and with the flags of expc's `shell` tasks, so that the
    // comparison is of the tools, not of bash and dash (bash starts about 1 ms slower).
    let mut make = format!(
        "SHELL := /bin/bash\n.SHELLFLAGS := -e -u -o pipefail -c\nall: c{}.txt\nc0.txt:\n\t@touch $@\n",
        n - 1
    );
    let mut ninja = String::from(
        "rule touch\n  command = touch $out\nrule next\n  command = cat $in > $out; echo $i >> $out\nbuild c0.txt: touch\n",
    );
    for i in 1..n {
        let _ = writeln!(
            spec,
            "  let c{i} = next(prev = c{}.out, i = {i}) on here",
            i - 1
        );
        let _ = writeln!(
            make,
            "c{i}.txt: c{}.txt\n\t@cat $< > $@; echo {i} >> $@",
            i - 1
        );
        let _ = writeln!(ninja, "build c{i}.txt: next c{}.txt\n  i = {i}", i - 1);
    }
    spec.push_str("}\n");
    std::fs::write(dir.join("chain.exp"), spec).unwrap();
    std::fs::write(dir.join("Makefile"), make).unwrap();
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

/// Prints the Markdown tables of the planning and running benchmarks.
/// Runs the planning and running benchmarks; returns the wall time of the fresh 10,000-task
/// fan-out run, against which recording provenance is measured.
pub fn run(expc: &Path, spec_10k: &Path) -> Duration {
    let jobs = "2";
    if std::env::args().any(|a| a == "--chain-only") {
        println!();
        println!("| workload | expc | ninja | make | expc / ninja | expc / make | target |");
        println!("|---|---|---|---|---|---|---|");
        let before = load();
        run_chain(&Tools {
            expc,
            jobs,
            ninja: have("ninja"),
            make: have("make"),
        });
        println!("\nload average: {before} before, {} after", load());
        return Duration::ZERO;
    }
    println!();
    println!("Planning (wall time of `expc plan`, release build, median of 5):");
    println!();
    println!("| workload | median | peak memory | target |");
    println!("|---|---|---|---|");
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
        mem.map_or("—".to_owned(), |m| format!(
            "{:.0} MiB",
            m as f64 / (1 << 20) as f64
        ))
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
        "| 10,000 tasks: `expc plan` | {} | | |\n| 10,000 tasks: `expc check` (parse, resolve, types) | {} | | < 300 ms |\n| 10,000 tasks: planning alone (plan − check) | {} | | < 200 ms |",
        secs(plan),
        secs(check),
        secs(plan.saturating_sub(check))
    );
    clean(&dir);

    println!();
    println!(
        "Running (wall time, `-j {jobs}`, release build, median of 3 fresh runs and of {NOOP_REPS} no-op reruns; the state moved aside before each fresh run):"
    );
    println!();
    println!("| workload | expc | ninja | make | expc / ninja | expc / make | target |");
    println!("|---|---|---|---|---|---|---|");
    let (ninja, make) = (have("ninja"), have("make"));
    let tools = Tools {
        expc,
        jobs,
        ninja,
        make,
    };
    let load_before = load();
    let run_args = ["run", "--local", "-j", jobs, "fan.exp"];
    let ((e_fresh, e_noop), n, m) = contest(&tools, "fan", &|d| fan_out(d, 10_000), &run_args);
    let fan_fresh = e_fresh;
    row(
        "10,000 independent tasks + a gather",
        e_fresh,
        n.map(|x| x.0),
        m.map(|x| x.0),
        "≤ 1.25 × ninja",
    );
    row(
        "the same, no-op rerun",
        e_noop,
        n.map(|x| x.1),
        m.map(|x| x.1),
        "≤ 2 × ninja",
    );

    run_chain(&tools);
    if !ninja || !make {
        println!("\n(ninja or make is not installed: its columns are empty.)");
    }
    println!(
        "\n(load average before the running workloads: {load_before}; after: {})",
        load()
    );
    fan_fresh
}

/// The 1-minute load average (`/proc/loadavg`), to say what else the machine was doing.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn row(name: &str, expc: Duration, ninja: Option<Duration>, make: Option<Duration>, target: &str) {
    let ratio = |other: Option<Duration>| {
        other.map_or("—".to_owned(), |o| {
            format!("{:.2}", expc.as_secs_f64() / o.as_secs_f64().max(1e-6))
        })
    };
    println!(
        "| {name} | {} | {} | {} | {} | {} | {target} |",
        secs(expc),
        ninja.map_or("—".to_owned(), secs),
        make.map_or("—".to_owned(), secs),
        ratio(ninja),
        ratio(make)
    );
}

/// The chain of 1,000: fresh runs and no-op reruns of expc, ninja and make.
fn run_chain(tools: &Tools) {
    let run_args = ["run", "--local", "-j", tools.jobs, "chain.exp"];
    let ((e_fresh, e_noop), n, m) = contest(tools, "chain", &|d| chain(d, 1000), &run_args);
    row(
        "a chain of 1,000 tasks",
        e_fresh,
        n.map(|x| x.0),
        m.map(|x| x.0),
        "≤ 1.25 × make",
    );
    row(
        "the same, no-op rerun",
        e_noop,
        n.map(|x| x.1),
        m.map(|x| x.1),
        "",
    );
}
