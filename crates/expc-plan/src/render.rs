//! The plan as text: what a reviewer reads before anything is submitted.

use std::fmt::Write as _;

use expc_check::value::{Value, format_duration, format_float, format_memory};

use crate::lower::backend_name;
use crate::plan::{Command, Job, Plan, Relation};

/// Instances listed one by one when a job has at most this many; beyond, the first few.
const LIST_ALL: u64 = 16;
const LIST_SOME: u64 = 4;

/// Quotes a word when it would read ambiguously in a command line.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%{}…".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

pub fn resources(job: &Job) -> String {
    let r = &job.resources;
    let mut parts = vec![format!("cpus {}", trim_float(r.cpus))];
    parts.push(format!(
        "mem {}",
        r.mem_bytes.map_or("—".to_owned(), format_memory)
    ));
    parts.push(format!(
        "time {}",
        r.time_ms.map_or("—".to_owned(), format_duration)
    ));
    if r.gpus > 0 {
        parts.push(format!("gpus {}", r.gpus));
    }
    if let Some(n) = r.nodes {
        parts.push(format!("nodes {n}"));
    }
    if let Some(t) = r.tasks {
        parts.push(format!("tasks {t} (srun)"));
    }
    parts.join(" · ")
}

fn trim_float(f: f64) -> String {
    if f == f.trunc() {
        format!("{}", f as i64)
    } else {
        format_float(f)
    }
}

pub fn command(job: &Job) -> String {
    match &job.command {
        Command::Run { argv } => argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
        Command::Shell { script } => {
            let lines: Vec<&str> = script.trim().lines().map(str::trim_end).collect();
            format!(
                "bash script, {} line{}: {}",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                lines.first().unwrap_or(&"").trim()
            )
        }
        Command::Spark { app, args, .. } => {
            let mut s = format!("spark-submit {}", quote(app));
            for a in args {
                s.push(' ');
                s.push_str(&quote(a));
            }
            s
        }
        Command::None => "—".to_owned(),
    }
}

pub fn loops(job: &Job) -> String {
    job.loops
        .iter()
        .map(|l| {
            let vars = match &l.index {
                Some(i) => format!("({i}, {})", l.var),
                None => l.var.clone(),
            };
            if l.strategy == expc_check::ir::Strategy::Produced {
                return crate::expansion::loop_text(&vars, l);
            }
            if l.strategy == expc_check::ir::Strategy::List {
                let n = l.points;
                return format!(
                    "for {vars} in {} (list of {n} element{})",
                    l.sweep,
                    if n == 1 { "" } else { "s" }
                );
            }
            let seed = l.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
            format!(
                "for {vars} in {} ({:?} of {}{seed})",
                l.sweep,
                l.strategy,
                l.axes.join(" × ")
            )
            .replace("(Product", "(product")
            .replace("(Zip", "(zip")
            .replace("(Rows", "(rows")
            .replace("(Random", "(random")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn coords(plan: &Plan, job: &Job, i: u64) -> String {
    plan.coords(job, i)
        .into_iter()
        .map(|(k, v)| format!("{k}={}", short(&v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn short(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The whole plan as text.
/// What job `j` waits for: `t (element-wise: aftercorr), all of u, v (order only)`.
fn after_text(plan: &Plan, j: usize) -> String {
    let deps: Vec<String> = plan.jobs[j]
        .after
        .iter()
        .map(|d| {
            let who = match d.relation {
                Relation::Each if plan.element_wise(j, d) => {
                    format!("{} (element-wise: aftercorr)", d.job)
                }
                Relation::Each => d.job.clone(),
                Relation::All => format!("all of {}", d.job),
            };
            if d.order_only {
                format!("{who} (order only)")
            } else {
                who
            }
        })
        .collect();
    deps.join(", ")
}

pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let name = plan.experiment.as_deref().unwrap_or("(unnamed)");
    let _ = writeln!(
        out,
        "Plan of experiment `{name}` ({}), pipeline `{}`",
        plan.root, plan.pipeline
    );
    let _ = writeln!(
        out,
        "{} job{}, {} task instance{}",
        plan.jobs.len(),
        if plan.jobs.len() == 1 { "" } else { "s" },
        plan.total_instances(),
        if plan.total_instances() == 1 { "" } else { "s" }
    );
    if let Some(profile) = &plan.profile {
        let moves: Vec<String> = profile
            .moves
            .iter()
            .map(|(from, to)| format!("{from} → {to}"))
            .collect();
        let moves = if moves.is_empty() {
            "moves nothing".to_owned()
        } else {
            moves.join(", ")
        };
        match &profile.name {
            Some(name) => {
                let _ = writeln!(out, "Profile `{name}`: {moves}");
            }
            None => {
                let _ = writeln!(out, "Placements moved with --on: {moves}");
            }
        }
    }
    if !plan.params.is_empty() {
        let _ = writeln!(out, "\nParams");
        for p in &plan.params {
            let v = p.value.as_ref().map_or("—".to_owned(), |v| v.to_string());
            let note = if p.source == "override" {
                "  (overridden)"
            } else {
                ""
            };
            let _ = writeln!(out, "  {} = {v}{note}", p.id);
        }
    }
    if !plan.checked_data.is_empty() {
        let _ = writeln!(out, "\nChecked before a run starts");
        for c in &plan.checked_data {
            let _ = writeln!(out, "  {} ({}): {}", c.data, c.path, c.checks);
        }
    }
    out.push_str(&crate::decision::text(&plan.decisions));
    for (j, job) in plan.jobs.iter().enumerate() {
        let _ = writeln!(out);
        let times = if job.loops.is_empty() {
            String::new()
        } else if let Some(k) = &job.known_after {
            format!(" × ?  (one per file of {}, known after {})", k.list, k.call)
        } else {
            format!(" × {}", job.instances)
        };
        let _ = writeln!(
            out,
            "{} = {}{times}  on {} ({})  [{}]",
            job.key,
            job.task,
            job.on,
            backend_name(job.backend),
            job.id
        );
        if let Some(doc) = &job.doc {
            let _ = writeln!(out, "  {}", summary(doc));
        }
        if !job.loops.is_empty() {
            let _ = writeln!(out, "  loops      {}", loops(job));
        }
        if !job.when.is_empty() {
            let _ = writeln!(out, "  when       {}", job.when.join(", "));
        }
        let mut first = true;
        for (k, v) in &job.inputs {
            let _ = writeln!(out, "  {:<10} {k} = {v}", if first { "inputs" } else { "" });
            first = false;
        }
        let mut first = true;
        for o in &job.outputs {
            let _ = writeln!(
                out,
                "  {:<10} {}: {} = \"{}\"{}",
                if first { "outputs" } else { "" },
                o.name,
                o.ty,
                o.path,
                o.checked
                    .as_ref()
                    .map(|c| format!("  (checked: {c})"))
                    .unwrap_or_default()
            );
            first = false;
        }
        if let Some(from) = &job.moved_from {
            let _ = writeln!(out, "  moved      from {from} (the spec's placement)");
        }
        let placement = placement(job);
        if !placement.is_empty() {
            let _ = writeln!(out, "  placement  {placement}");
        }
        let _ = writeln!(out, "  command    {}", command(job));
        let _ = writeln!(out, "  resources  {}", resources(job));
        let env = env(job);
        if !env.is_empty() {
            let _ = writeln!(out, "  env        {env}");
        }
        if job.retry.attempts > 0 {
            let _ = writeln!(
                out,
                "  retry      {} (backoff {})",
                job.retry.attempts,
                format_duration(job.retry.backoff_ms)
            );
        }
        if !job.cache {
            let _ = writeln!(
                out,
                "  cache      false: always runs, never served from the cache"
            );
        }
        if !job.after.is_empty() {
            let _ = writeln!(out, "  after      {}", after_text(plan, j));
        }
        if !job.loops.is_empty() {
            let shown = if job.instances <= LIST_ALL {
                job.instances
            } else {
                LIST_SOME
            };
            for i in 0..shown {
                let _ = writeln!(
                    out,
                    "  {:<10} [{i}] {}  [{}]",
                    if i == 0 { "instances" } else { "" },
                    coords(plan, job, i),
                    plan.instance_id(job, i)
                );
            }
            if shown < job.instances {
                let _ = writeln!(out, "             … {} more", job.instances - shown);
            }
        }
    }
    let _ = writeln!(out, "\nTotals");
    let _ = writeln!(
        out,
        "  {:<11} {:>5} {:>10} {:>7} {:>10} {:>10} {:>9}",
        "backend", "jobs", "instances", "arrays", "cpu-hours", "gpu-hours", "max mem"
    );
    for t in &plan.totals {
        let _ = writeln!(
            out,
            "  {:<11} {:>5} {:>10} {:>7} {:>10.1} {:>10.1} {:>9}",
            t.backend,
            t.jobs,
            t.instances,
            t.arrays,
            t.cpu_hours,
            t.gpu_hours,
            t.max_mem_bytes.map_or("—".to_owned(), format_memory)
        );
    }
    let untimed: u64 = plan.totals.iter().map(|t| t.instances_without_time).sum();
    if untimed > 0 {
        let _ = writeln!(
            out,
            "  ({untimed} instance{} without a `time` {} not in the hours)",
            if untimed == 1 { "" } else { "s" },
            if untimed == 1 { "is" } else { "are" }
        );
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for w in &plan.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

pub fn env(job: &Job) -> String {
    let mut parts = Vec::new();
    if let Some(i) = &job.env.image {
        parts.push(format!("image {i}"));
    }
    if !job.env.modules.is_empty() {
        parts.push(format!("modules {}", job.env.modules.join(" ")));
    }
    if let Some(c) = &job.env.conda {
        parts.push(format!("conda {c}"));
    }
    for (k, v) in &job.env.vars {
        parts.push(format!("{k}={v}"));
    }
    parts.join(" · ")
}

/// The resource's settings that decide where and how the job is submitted.
pub fn placement(job: &Job) -> String {
    job.placement
        .iter()
        .filter(|(k, v)| {
            let hidden = matches!(
                k.as_str(),
                "site" | "limits" | "modules" | "image" | "conda" | "cpus" | "mem"
            );
            let structured = matches!(v, Value::Record(..) | Value::List(_));
            let no_gpus = k.as_str() == "gpus" && **v == Value::Int(0);
            !(hidden || structured || no_gpus)
        })
        .map(|(k, v)| format!("{k}={}", short(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first sentence of a doc comment, on one line.
pub fn summary(doc: &str) -> String {
    let paragraph: Vec<&str> = doc
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text,
    }
}
