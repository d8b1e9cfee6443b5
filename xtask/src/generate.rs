//! Generated workloads: valid specs of any size, shaped like real ones.

use std::fmt::Write;

/// A spec with `tasks` tasks, each with a signature, resources, environment, an argv
/// template and a retry, and a pipeline that calls every task, with a sweep.
pub fn spec(tasks: usize) -> String {
    let mut s = String::with_capacity(tasks * 420);
    s.push_str(
        "/// A generated experiment for benchmarks.\nexperiment bench {\n  version = \"1.0.0\"\n}\n\n\
         import std.formats.{Csv, Parquet, Python}\nimport std.resources.{Local, Slurm}\n\n\
         param epochs: Int = 20 where 1 <= epochs <= 1000\n\n\
         sweep grid = product {\n  lr = [1e-3, 1e-4]\n  seed = 0..4\n}\n\n\
         resource laptop = Local { cpus = 4, mem = 16GiB }\n\n\
         data raw: File<Csv> = \"data/raw.csv\"\n\ndata step_py: File<Python> = \"scripts/step.py\"\n",
    );
    for i in 0..tasks {
        let _ = write!(
            s,
            "\n/// Step {i} of the study.\n\
             task step{i}(input: File<Csv>, lr: Float = 0.001) -> (out: File<Csv> = \"out{i}.csv\") {{\n  \
             resources {{ cpus = 2, mem = 4GiB, time = 1h30m }}\n  \
             env {{ modules = [\"python/3.11\"] }}\n  \
             run `python3 ${{step_py}} --in ${{input}} --lr ${{lr}} --epochs ${{epochs}} --out ${{out}}`\n  \
             retry 2 {{ backoff = 30s }}\n}}\n"
        );
    }
    s.push_str("\npipeline main {\n  let s0 = step0(input = raw) on laptop\n");
    for i in 1..tasks {
        let _ = writeln!(
            s,
            "  let s{i} = step{i}(input = s{}.out, lr = 0.01) on laptop",
            i - 1
        );
    }
    s.push_str("  for p in grid {\n    let t = step0(input = raw, lr = p.lr) on laptop\n  }\n}\n");
    s
}

/// A spec of `n` items and no tasks: half params, half data items, none used (their names
/// start with `_`, so none is reported), for what checking costs per item.
pub fn items(n: usize) -> String {
    let mut s = String::with_capacity(n * 40);
    s.push_str("experiment items {}\n\nimport std.formats.{Csv}\n\n");
    for i in 0..n / 2 {
        let _ = writeln!(s, "param _p{i}: Int = {i}");
        let _ = writeln!(s, "data _d{i}: File<Csv> = \"data/d{i}.csv\"");
    }
    s
}

/// How the tasks of a running workload start their program, so that expc and the tool it
/// is compared with do the same work per task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The program is executed directly, as make does with a command that has nothing
    /// for a shell to do.
    Argv,
    /// Through exactly one `/bin/sh -c`, as ninja runs every command.
    Shell,
}

/// A fan-out written as `calls` separate `let` calls of a trivial task and a gather of
/// all their outputs in one list: the shape of a pipeline written without a sweep.
/// `cargo xtask gen-calls N` prints it; planning it must be linear in `calls`.
pub fn calls(calls: usize, start: Start) -> String {
    let mut s = String::with_capacity(calls * 60);
    s.push_str(&fan_header("fan", start));
    s.push_str("pipeline main {\n");
    for i in 0..calls {
        let _ = writeln!(s, "  let o{i} = one(i = {i}) on here");
    }
    s.push_str("  let g = gather(parts = [");
    for i in 0..calls {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "o{i}.out");
    }
    s.push_str("]) on here\n}\n");
    s
}

/// The same fan-out as one sweep of `points` instances and a gather.
pub fn sweep(points: usize, start: Start) -> String {
    let mut s = fan_header("fan", start);
    let _ = write!(
        s,
        "sweep all = product {{\n  i = 0..{points}\n}}\n\n\
         pipeline main {{\n  for p in all {{\n    let o = one(i = p.i) on here\n  }}\n  \
         let g = gather(parts = o.out) on here\n}}\n"
    );
    s
}

/// The experiment, the resource and the two tasks of a fan-out: `one` touches its
/// output, `gather` counts its inputs (through a shell in both forms, as make and ninja
/// run it).
fn fan_header(name: &str, start: Start) -> String {
    let touch = match start {
        Start::Argv => "touch ${out}",
        Start::Shell => "sh -c 'touch \"$0\"' ${out}",
    };
    format!(
        "experiment {name} {{\n  version = \"1\"\n}}\n\n\
         import std.formats.{{Text}}\nimport std.resources.{{Local}}\n\n\
         resource here = Local {{}}\n\n\
         task one(i: Int) -> (out: File<Text> = \"out.txt\") {{\n  run `{touch}`\n}}\n\n\
         task gather(parts: List<File<Text>>) -> (out: File<Text> = \"all.txt\") {{\n  \
         run `sh -c 'ls \"$@\" | wc -l > \"$0\"' ${{out}} ${{parts}}`\n}}\n\n"
    )
}
