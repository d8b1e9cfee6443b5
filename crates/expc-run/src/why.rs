//! `expc why`: whether each instance of a task will run or is cached, and, field by field,
//! what changed since its last successful run.

use std::collections::{BTreeMap, HashMap};

use expc_check::ir;
use expc_plan::dag::Dag;
use expc_plan::plan::Plan;

use crate::resolve::{Outputs, Resolver};
use crate::store::{Store, Unusable};
use crate::{RunError, RunOptions, instance_name};

#[derive(Debug)]
pub struct Why {
    pub task: String,
    pub cached: bool,
    /// Its task says `cache = false`: it runs every time, whatever changed.
    pub uncacheable: bool,
    /// What differs from the last successful run (empty when cached, or when it never ran).
    pub changes: Vec<String>,
    pub never_ran: bool,
    /// Upstream instances that will run first, so this one will run after them.
    pub after: Vec<String>,
    /// Why its cached outputs cannot be used, when its key has an entry: an output
    /// changed after it was stored, or gone from the store.
    pub unusable: Option<String>,
}

/// Explains every instance of the job `key` (all jobs when `None`).
pub fn explain(
    program: &ir::Program,
    plan: &Plan,
    dag: &Dag,
    opts: &RunOptions,
    key: Option<&str>,
) -> Result<Vec<Why>, RunError> {
    let store = Store::open(&opts.state_dir).map_err(|e| RunError(e.to_string()))?;
    let mut stats = crate::hash::StatCache::load(&opts.state_dir.join("stat-cache.json"));
    let mut resolver = Resolver::new(program, plan, opts.spec_dir.clone());
    let mut local = opts.clone();
    local.local = true;
    crate::preflight(program, plan, &local, &mut resolver, &mut stats)?;
    let mut outputs = Outputs::default();
    let mut will_run: HashMap<(usize, u64), bool> = HashMap::new();
    let mut out = Vec::new();
    let scratch = opts.state_dir.join("tmp").join("why");
    let last = store.load_last();
    for node in dag.graph.node_indices() {
        let inst = dag.graph[node];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let job = &plan.jobs[j];
        let mut after = Vec::new();
        for p in dag
            .graph
            .neighbors_directed(node, petgraph::Direction::Incoming)
        {
            let pi = dag.graph[p];
            // Run after, without reading it (`after`): whether it runs changes no key.
            let producer = &plan.jobs[pi.job as usize].key;
            if job.after.iter().any(|d| &d.job == producer && d.order_only) {
                continue;
            }
            if will_run.get(&(pi.job as usize, pi.index as u64)) == Some(&true) {
                after.push(instance_name(plan, pi.job as usize, pi.index as u64));
            }
        }
        // As a run here would resolve it: keys do not depend on where it runs.
        let site = crate::resolve::local_site(
            &opts.spec_dir,
            scratch.clone(),
            Some(crate::resolve::SparkSubmit::local(&opts.spark_master)),
        );
        let resolved = resolver.resolve(j, index, &site, &outputs);
        let (cached, changes, never_ran, unusable) = match &resolved {
            Ok(r) if after.is_empty() => match store.lookup(&r.key) {
                Some(hit) => match usable(&store, plan, j, index, &hit.outputs) {
                    Ok(()) => {
                        let files: BTreeMap<String, (std::path::PathBuf, String)> = hit
                            .outputs
                            .iter()
                            .map(|(n, o)| {
                                (
                                    n.clone(),
                                    (store.object(&o.digest, o.dir), o.digest.clone()),
                                )
                            })
                            .collect();
                        outputs.insert((j, index), files.into());
                        (true, Vec::new(), false, None)
                    }
                    Err(why) => (false, Vec::new(), false, Some(why)),
                },
                None => match store.last_key_doc(&last, &job.key, index) {
                    Some(serde_json::Value::Null) => (
                        false,
                        vec!["its last successful run left no record of what it used".to_owned()],
                        false,
                        None,
                    ),
                    Some(previous) => {
                        let files = file_names(r, opts);
                        (false, compare(&previous, &r.key_doc(), &files), false, None)
                    }
                    None => (false, Vec::new(), true, None),
                },
            },
            Ok(_) => (false, Vec::new(), false, None),
            Err(e) => (false, vec![e.clone()], false, None),
        };
        // A `cache = false` instance runs all the same; its dependants are explained as
        // if it makes what it made last time, as they run only when its outputs change.
        will_run.insert((j, index), !cached);
        let cached = cached && job.cache;
        after.sort();
        if key.is_none_or(|k| k == job.key) {
            out.push(Why {
                task: instance_name(plan, j, index),
                cached,
                uncacheable: !job.cache,
                changes,
                never_ran,
                after,
                unusable,
            });
        }
    }
    Ok(out)
}

/// Whether the cached outputs of instance `index` of job `j` can be used as a run would
/// use them (checked as it would, changing nothing); why not, when they cannot.
fn usable(
    store: &Store,
    plan: &Plan,
    j: usize,
    index: u64,
    stored: &[(String, crate::store::StoredOutput)],
) -> Result<(), String> {
    let job = &plan.jobs[j];
    let out_dir = store.out_dir(&job.key, index, !job.loops.is_empty());
    for o in &job.outputs {
        let Some(s) = crate::store::stored_output(stored, &o.name) else {
            return Err(format!("its cache entry has no output `{}`", o.name));
        };
        match store.check(&out_dir, &o.path, s) {
            Ok(()) => {}
            Err(Unusable::Missing) => {
                return Err(format!(
                    "its cached output `{}` is no longer in the store",
                    o.name
                ));
            }
            Err(Unusable::Damaged(how)) => {
                return Err(format!(
                    "its cached output `{}` was changed after it was stored ({how})",
                    o.name
                ));
            }
            Err(Unusable::Io(e)) => {
                return Err(format!(
                    "its cached output `{}` cannot be read ({e})",
                    o.name
                ));
            }
        }
    }
    Ok(())
}

/// What each file an instance reads is called, by its content digest (as the key has it,
/// `{file:DIGEST}`): its path relative to the spec's folder, or the input an upstream
/// output is passed as.
fn file_names(r: &crate::resolve::Resolved, opts: &RunOptions) -> HashMap<String, String> {
    r.used
        .iter()
        .filter(|u| !u.digest.is_empty())
        .map(|u| {
            let name = if let Ok(rel) = u.path.strip_prefix(&opts.spec_dir) {
                format!("the file `{}`", rel.display())
            } else if u.path.starts_with(&opts.state_dir) {
                format!("the upstream output passed as `{}`", u.input)
            } else {
                format!("the file `{}`", u.path.display())
            };
            (u.digest.clone(), name)
        })
        .collect()
}

/// The files a key value stands for, named: ", the file `a.csv`," — or nothing.
fn naming(v: Option<&serde_json::Value>, files: &HashMap<String, String>) -> String {
    let text = match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => return String::new(),
    };
    let mut names: Vec<&str> = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{file:") {
        let after = &rest[start + 6..];
        let end = after.find('}').unwrap_or(after.len());
        if let Some(n) = files.get(&after[..end]) {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        rest = &after[end.min(after.len())..];
    }
    if names.is_empty() {
        String::new()
    } else {
        format!(", {},", names.join(" and "))
    }
}

/// The fields of two key documents that differ, as sentences; a file whose content
/// changed is named (`files`: by digest, from the new document's side).
fn compare(
    old: &serde_json::Value,
    new: &serde_json::Value,
    files: &HashMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let fields = [
        ("task", "the task's definition (command, signature)"),
        ("argv", "the command line"),
        ("inputs", "inputs"),
        ("params", "params"),
        ("env", "the environment"),
        ("outputs", "the declared outputs"),
    ];
    for (field, what) in fields {
        let (a, b) = (&old[field], &new[field]);
        if a == b {
            continue;
        }
        if let (Some(x), Some(y)) = (a.as_array(), b.as_array()) {
            if x.len() == y.len() {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    if p != q {
                        out.push(format!(
                            "{what}: word {}{} was {} and is now {}",
                            i + 1,
                            naming(Some(q), files),
                            show(Some(p)),
                            show(Some(q))
                        ));
                    }
                }
                continue;
            }
        }
        match (a.as_object(), b.as_object()) {
            (Some(x), Some(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    if x.get(k) != y.get(k) {
                        out.push(format!(
                            "{what}: `{k}`{} was {} and is now {}",
                            naming(y.get(k), files),
                            show(x.get(k)),
                            show(y.get(k))
                        ));
                    }
                }
            }
            _ => out.push(format!(
                "{what}: was {} and is now {}",
                show(Some(a)),
                show(Some(b))
            )),
        }
    }
    out
}

fn show(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "not set".into(),
        Some(serde_json::Value::String(s)) => describe(s),
        Some(serde_json::Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            describe(items[0].as_str().unwrap_or_default())
        }
        Some(v) => describe(&v.to_string()),
    }
}

/// Content digests in a key read as "a file with content abc123…".
fn describe(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{file:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let end = after.find('}').unwrap_or(after.len());
        let digest = &after[..end];
        out.push_str(&format!("<content {}>", &digest[..digest.len().min(12)]));
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    format!("`{out}`")
}
