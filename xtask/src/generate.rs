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
