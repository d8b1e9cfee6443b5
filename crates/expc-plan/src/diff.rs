//! The semantic difference of two plans: which jobs are added, removed and changed, which
//! fields of a changed job differ, and which jobs will re-run because of it.
//!
//! Jobs are matched by their pipeline binding; instances by their sweep coordinates. A
//! job *re-runs* when its id changes: its own command, inputs or environment changed, or
//! a job it reads from did. A change of resources or placement alone changes no result,
//! so it re-runs nothing downstream.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::lower::backend_name;
use crate::plan::{Job, Plan};
use crate::render;

pub const SCHEMA_VERSION: u32 = 1;

/// Instance coordinates are compared one by one up to this many instances per job.
const MAX_COMPARED: u64 = 200_000;

#[derive(Debug, Serialize)]
pub struct PlanDiff {
    pub schema_version: u32,
    pub old: String,
    pub new: String,
    /// The profiles (and `--on` moves) the two plans are under, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<FieldChange>,
    pub params: Vec<FieldChange>,
    pub added: Vec<JobRef>,
    pub removed: Vec<JobRef>,
    pub changed: Vec<JobChange>,
    /// Jobs unchanged themselves that re-run because a job they read from changed.
    pub reruns: Vec<Rerun>,
    pub unchanged: usize,
}

#[derive(Debug, Serialize)]
pub struct JobRef {
    pub key: String,
    pub task: String,
    pub on: String,
    pub instances: u64,
}

#[derive(Debug, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Serialize)]
pub struct JobChange {
    pub key: String,
    pub task: String,
    pub fields: Vec<FieldChange>,
    pub instances: Option<InstanceChange>,
    /// Its results change, so it runs again (not so for resources or placement alone).
    pub reruns: bool,
}

#[derive(Debug, Serialize)]
pub struct InstanceChange {
    pub old: u64,
    pub new: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Rerun {
    pub key: String,
    pub task: String,
    /// The jobs it reads from whose results change.
    pub because: Vec<String>,
}

impl PlanDiff {
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.reruns.is_empty()
    }
}

fn job_ref(j: &Job) -> JobRef {
    JobRef {
        key: j.key.clone(),
        task: j.task.clone(),
        on: format!("{} ({})", j.on, backend_name(j.backend)),
        instances: j.instances,
    }
}

fn push(out: &mut Vec<FieldChange>, field: &str, old: String, new: String) {
    if old != new {
        out.push(FieldChange {
            field: field.to_owned(),
            old,
            new,
        });
    }
}

fn show<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn fields(old: &Job, new: &Job) -> Vec<FieldChange> {
    let mut out = Vec::new();
    push(&mut out, "task", old.task.clone(), new.task.clone());
    let (oc, nc) = (render::command(old), render::command(new));
    if oc != nc {
        let (o, n) = word_diff(&oc, &nc);
        push(&mut out, "command", o, n);
    }
    let names: BTreeSet<&String> = old.inputs.keys().chain(new.inputs.keys()).collect();
    for n in names {
        let o = old.inputs.get(n).cloned().unwrap_or_else(|| "—".into());
        let v = new.inputs.get(n).cloned().unwrap_or_else(|| "—".into());
        push(&mut out, &format!("inputs.{n}"), o, v);
    }
    let outs = |j: &Job| {
        j.outputs
            .iter()
            .map(|o| format!("{}: {} = \"{}\"", o.name, o.ty, o.path))
            .collect::<Vec<_>>()
            .join(", ")
    };
    push(&mut out, "outputs", outs(old), outs(new));
    let r = |j: &Job| {
        [
            ("cpus", format!("{}", j.resources.cpus)),
            (
                "mem",
                j.resources
                    .mem_bytes
                    .map_or("—".into(), expc_check::value::format_memory),
            ),
            (
                "time",
                j.resources
                    .time_ms
                    .map_or("—".into(), expc_check::value::format_duration),
            ),
            ("gpus", j.resources.gpus.to_string()),
            (
                "nodes",
                j.resources.nodes.map_or("—".into(), |n| n.to_string()),
            ),
            (
                "tasks",
                j.resources.tasks.map_or("—".into(), |t| t.to_string()),
            ),
        ]
    };
    for ((k, o), (_, n)) in r(old).into_iter().zip(r(new)) {
        push(&mut out, &format!("resources.{k}"), o, n);
    }
    push(
        &mut out,
        "placement",
        format!("{} ({})", old.on, backend_name(old.backend)),
        format!("{} ({})", new.on, backend_name(new.backend)),
    );
    if old.backend == new.backend {
        let keys: BTreeSet<&String> = old.placement.keys().chain(new.placement.keys()).collect();
        for k in keys {
            let o = old.placement.get(k).map_or("—".into(), |v| v.to_string());
            let n = new.placement.get(k).map_or("—".into(), |v| v.to_string());
            push(&mut out, &format!("placement.{k}"), o, n);
        }
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.join(" ")
        }
    };
    push(
        &mut out,
        "env.image",
        opt(&old.env.image),
        opt(&new.env.image),
    );
    push(
        &mut out,
        "env.modules",
        list(&old.env.modules),
        list(&new.env.modules),
    );
    push(
        &mut out,
        "env.conda",
        opt(&old.env.conda),
        opt(&new.env.conda),
    );
    push(
        &mut out,
        "env.vars",
        show(&old.env.vars),
        show(&new.env.vars),
    );
    push(
        &mut out,
        "retry",
        format!(
            "{} (backoff {}ms)",
            old.retry.attempts, old.retry.backoff_ms
        ),
        format!(
            "{} (backoff {}ms)",
            new.retry.attempts, new.retry.backoff_ms
        ),
    );
    push(&mut out, "loops", render::loops(old), render::loops(new));
    push(
        &mut out,
        "cache",
        old.cache.to_string(),
        new.cache.to_string(),
    );
    let order = |j: &Job| {
        let names: Vec<&str> = j
            .after
            .iter()
            .filter(|d| d.order_only)
            .map(|d| d.job.as_str())
            .collect();
        if names.is_empty() {
            "—".to_owned()
        } else {
            names.join(", ")
        }
    };
    push(&mut out, "after", order(old), order(new));
    out
}

fn coords_set(plan: &Plan, job: &Job) -> BTreeMap<String, u64> {
    (0..job.instances)
        .map(|i| {
            let c: Vec<String> = plan
                .coords(job, i)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (c.join(" "), i)
        })
        .collect()
}

fn instances(old_plan: &Plan, old: &Job, new_plan: &Plan, new: &Job) -> Option<InstanceChange> {
    if old.loops.is_empty() && new.loops.is_empty() {
        return None;
    }
    if old.instances > MAX_COMPARED || new.instances > MAX_COMPARED {
        return (old.instances != new.instances).then(|| InstanceChange {
            old: old.instances,
            new: new.instances,
            added: Vec::new(),
            removed: Vec::new(),
        });
    }
    let a = coords_set(old_plan, old);
    let b = coords_set(new_plan, new);
    let added: Vec<String> = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    let removed: Vec<String> = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    Some(InstanceChange {
        old: old.instances,
        new: new.instances,
        added,
        removed,
    })
}

pub fn diff(old: &Plan, new: &Plan, old_name: &str, new_name: &str) -> PlanDiff {
    let mut params = Vec::new();
    let ids: BTreeSet<&String> = old
        .params
        .iter()
        .map(|p| &p.id)
        .chain(new.params.iter().map(|p| &p.id))
        .collect();
    for id in ids {
        let get = |plan: &Plan| {
            plan.params
                .iter()
                .find(|p| &p.id == id)
                .map_or("—".to_owned(), |p| {
                    p.value
                        .as_ref()
                        .map_or("unset".to_owned(), |v| v.to_string())
                })
        };
        push(&mut params, id, get(old), get(new));
    }
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = 0;
    // Jobs whose results change, in the new plan: changed ones and added ones.
    let mut changing: BTreeSet<String> = BTreeSet::new();
    for job in &new.jobs {
        match old.job(&job.key) {
            None => {
                added.push(job_ref(job));
                changing.insert(job.key.clone());
            }
            Some(o) => {
                let f = fields(o, job);
                let inst = instances(old, o, new, job);
                let own_change = f.iter().any(|c| {
                    !c.field.starts_with("resources.") && !c.field.starts_with("placement")
                }) || inst.is_some();
                if f.is_empty() && inst.is_none() {
                    continue;
                }
                if own_change {
                    changing.insert(job.key.clone());
                }
                changed.push(JobChange {
                    key: job.key.clone(),
                    task: job.task.clone(),
                    fields: f,
                    instances: inst,
                    reruns: o.id != job.id,
                });
            }
        }
    }
    for job in &old.jobs {
        if new.job(&job.key).is_none() {
            removed.push(job_ref(job));
        }
    }
    // Downstream: in dependency order (the plan's order), a job re-runs when one it reads
    // from changes.
    let changed_at: BTreeMap<String, usize> = changed
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.clone(), i))
        .collect();
    let mut reruns = Vec::new();
    for job in &new.jobs {
        if old.job(&job.key).is_none() {
            continue;
        }
        let because: Vec<String> = job
            .after
            .iter()
            .filter(|d| !d.order_only && changing.contains(&d.job))
            .map(|d| d.job.clone())
            .collect();
        if because.is_empty() {
            continue;
        }
        changing.insert(job.key.clone());
        if let Some(&c) = changed_at.get(job.key.as_str()) {
            changed[c].reruns = true;
            continue;
        }
        reruns.push(Rerun {
            key: job.key.clone(),
            task: job.task.clone(),
            because,
        });
    }
    let rerun_keys: BTreeSet<&str> = reruns.iter().map(|r| r.key.as_str()).collect();
    for job in &new.jobs {
        if old.job(&job.key).is_some()
            && !changed_at.contains_key(job.key.as_str())
            && !rerun_keys.contains(job.key.as_str())
        {
            unchanged += 1;
        }
    }
    let profile_of = |p: &Plan| match &p.profile {
        None => "—".to_owned(),
        Some(a) => {
            let moves: Vec<String> = a.moves.iter().map(|(f, t)| format!("{f} → {t}")).collect();
            let moves = if moves.is_empty() {
                "moves nothing".to_owned()
            } else {
                moves.join(", ")
            };
            match &a.name {
                Some(n) => format!("{n} ({moves})"),
                None => format!("--on ({moves})"),
            }
        }
    };
    let (op, np) = (profile_of(old), profile_of(new));
    PlanDiff {
        schema_version: SCHEMA_VERSION,
        old: old_name.to_owned(),
        new: new_name.to_owned(),
        profile: (op != np).then(|| FieldChange {
            field: "profile".to_owned(),
            old: op,
            new: np,
        }),
        params,
        added,
        removed,
        changed,
        reruns,
        unchanged,
    }
}

/// How many coordinates of added or removed instances are listed in text.
const LISTED: usize = 5;

pub fn text(d: &PlanDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan diff: {} → {}", d.old, d.new);
    if let Some(p) = &d.profile {
        let _ = writeln!(out, "Profile: {} → {}", p.old, p.new);
    }
    if d.is_empty() {
        let _ = writeln!(out, "\nNo changes: the plans are the same.");
        return out;
    }
    if !d.params.is_empty() {
        let _ = writeln!(out, "\nParams");
        for p in &d.params {
            let _ = writeln!(out, "  ~ {}: {} → {}", p.field, p.old, p.new);
        }
    }
    let _ = writeln!(out);
    for j in &d.added {
        let times = if j.instances == 1 {
            String::new()
        } else {
            format!(" × {}", j.instances)
        };
        let _ = writeln!(out, "+ {} = {}{times}  on {}  (new)", j.key, j.task, j.on);
    }
    for j in &d.removed {
        let times = if j.instances == 1 {
            String::new()
        } else {
            format!(" × {}", j.instances)
        };
        let _ = writeln!(
            out,
            "- {} = {}{times}  on {}  (removed)",
            j.key, j.task, j.on
        );
    }
    for c in &d.changed {
        let note = if c.reruns {
            "re-runs"
        } else {
            "does not re-run: results unchanged"
        };
        let _ = writeln!(out, "~ {} = {}  ({note})", c.key, c.task);
        for f in &c.fields {
            let _ = writeln!(out, "    {:<16} {} → {}", f.field, f.old, f.new);
        }
        if let Some(i) = &c.instances {
            let _ = writeln!(
                out,
                "    {:<16} {} → {} (+{} −{})",
                "instances",
                i.old,
                i.new,
                i.added.len(),
                i.removed.len()
            );
            for (sign, list) in [("+", &i.added), ("−", &i.removed)] {
                for c in list.iter().take(LISTED) {
                    let _ = writeln!(out, "      {sign} {c}");
                }
                if list.len() > LISTED {
                    let _ = writeln!(out, "      {sign} … {} more", list.len() - LISTED);
                }
            }
        }
    }
    for r in &d.reruns {
        let _ = writeln!(
            out,
            "↻ {} = {}  (re-runs: reads {}, which {})",
            r.key,
            r.task,
            and_list(&r.because),
            if r.because.len() == 1 {
                "changes"
            } else {
                "change"
            }
        );
    }
    let _ = writeln!(
        out,
        "\n{} added, {} removed, {} changed, {} downstream re-run{}, {} unchanged",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.reruns.len(),
        if d.reruns.len() == 1 { "" } else { "s" },
        d.unchanged
    );
    out
}

/// A list in prose: `a`, `a and b`, `a, b and c` — with the verb after it agreeing with
/// how many there are (`which changes`, `which change`), for every such sentence.
pub fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
    }
}

/// The changed words of two command lines, with two words of context around each change
/// and `…` for what is left out: `… --epochs 20 --out …` → `… --epochs 50 --out …`.
fn word_diff(old: &str, new: &str) -> (String, String) {
    let a: Vec<&str> = old.split(' ').collect();
    let b: Vec<&str> = new.split(' ').collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let context = 2;
    let start = prefix.saturating_sub(context);
    let show = |words: &[&str]| {
        let end = words.len() - suffix;
        let stop = (end + context).min(words.len());
        let mut s = String::new();
        if start > 0 {
            s.push_str("… ");
        }
        s.push_str(&words[start..stop].join(" "));
        if stop < words.len() {
            s.push_str(" …");
        }
        s
    };
    (show(&a), show(&b))
}
