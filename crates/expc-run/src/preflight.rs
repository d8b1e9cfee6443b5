//! What is checked before anything of a run is written or started: that the engines the
//! plan is placed on can be reached from here, and that the declared data the tasks read
//! is there and matches its pinned digest (whose digests become part of the keys).

use std::collections::{BTreeMap, BTreeSet};

use expc_check::ir;
use expc_plan::plan::Plan;

use crate::engine::{k8s, spark};
use crate::resolve::Resolver;
use crate::{RunError, RunOptions, hash};

/// Checks the placements (without `--local`) and the data the tasks read, whose digests
/// it notes in `resolver`.
pub fn preflight(
    program: &ir::Program,
    plan: &Plan,
    opts: &RunOptions,
    resolver: &mut Resolver<'_>,
    stats: &mut hash::StatCache,
) -> Result<(), RunError> {
    if !opts.local {
        k8s::check(plan)?;
        spark::check(plan, |j| resolver.task(j), &opts.spec_dir)?;
    }
    crate::remote::fetch(program, plan, opts, resolver)?;
    data(program, plan, resolver, stats)?;
    tables(program, resolver, &opts.state_dir)
}

/// Shipped tables with a schema (CSV, TSV) that tasks read: their header and cells, once
/// per content (a digest checked before is noted in `.expc/tables-checked`).
fn tables(
    program: &ir::Program,
    resolver: &Resolver<'_>,
    state_dir: &std::path::Path,
) -> Result<(), RunError> {
    let memo_path = state_dir.join("tables-checked");
    let memo = std::fs::read_to_string(&memo_path).unwrap_or_default();
    let mut checked = Vec::new();
    for artifact in program.data.iter().chain(&program.models) {
        let expc_check::shape::Shape::Table(table) = program.shape(&artifact.ty) else {
            continue;
        };
        let Some((path, digest)) = resolver.data_digests.get(&artifact.id) else {
            continue;
        };
        let key = blake3::hash(format!("{digest}\0{table:?}").as_bytes())
            .to_hex()
            .to_string();
        if memo.lines().any(|l| l == key) {
            continue;
        }
        crate::tables::check(path, &expc_check::shape::Shape::Table(table)).map_err(|e| {
            RunError(format!(
                "the data `{}` (`{}`) {e}. Fix the file, or the schema of its type `{}`",
                artifact.id,
                path.display(),
                artifact.ty
            ))
        })?;
        checked.push(key);
    }
    // Noted only where a state folder exists already: nothing else is written before the
    // run's checks pass and it holds the lock; a line written twice is harmless.
    if !checked.is_empty() && state_dir.is_dir() {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&memo_path)
        {
            let _ = f.write_all((checked.join("\n") + "\n").as_bytes());
        }
    }
    Ok(())
}

/// Declared data that some call or task reads must exist, and match its pinned digest.
fn data(
    program: &ir::Program,
    plan: &Plan,
    resolver: &mut Resolver<'_>,
    stats: &mut hash::StatCache,
) -> Result<(), RunError> {
    let mut used = program.artifacts_passed(&plan.pipeline);
    for t in &program.tasks {
        used.extend(t.uses.iter().cloned());
    }
    // A file set is read file by file: each file is used when its set is (the models
    // `registry.top(…)` chose are a set too).
    let used_sets: BTreeSet<String> = program
        .data
        .iter()
        .chain(&program.models)
        .filter(|a| a.glob.is_some() && used.contains(&a.id))
        .map(|a| a.id.clone())
        .collect();
    for a in program.data.iter().chain(&program.models) {
        if a.member_of.as_ref().is_some_and(|s| used_sets.contains(s)) {
            used.insert(a.id.clone());
        }
    }
    for set in &used_sets {
        used.remove(set);
    }
    let mut missing = Vec::new();
    for id in resolver.artifact_ids() {
        if !used.contains(&id) {
            continue;
        }
        let path = resolver.artifact_path(&id);
        // Taken before it is hashed: the run checks, before an instance that reads it
        // starts, that it still has it.
        if let Ok(stamp) = crate::stamp::Stamp::of_path(&path, true) {
            resolver.data_stamps.insert(id.clone(), stamp);
        }
        match stats.digest(&path) {
            Ok((d, _, _)) => {
                if let Some(pinned) = resolver.pinned_digest(&id) {
                    let ok = match pinned.split_once(':') {
                        Some(("blake3", hex)) => hex == d,
                        Some(("sha256", hex)) => hash::sha256(&path).is_ok_and(|h| h == hex),
                        _ => true,
                    };
                    if !ok {
                        return Err(RunError(format!(
                            "`{}` does not match the digest pinned for `{id}` ({pinned}): the data changed since it was pinned. Check the file, or update the digest in the spec",
                            path.display()
                        )));
                    }
                }
                resolver.data_digests.insert(id, (path, d));
            }
            Err(e) => missing.push(format!("`{id}` ({}: {e})", path.display())),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(RunError(format!(
            "data that tasks read cannot be read: {}. Paths are relative to the folder of the file that declares them",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Every secret a task of the plan reads must be readable here before anything starts,
/// rather than failing the first task that needs it, perhaps hours into the run. Names
/// every missing one, where it is read from and the tasks that need it.
pub fn secrets(
    program: &ir::Program,
    plan: &Plan,
    resolver: &Resolver<'_>,
) -> Result<(), RunError> {
    // secret id -> (its variable, the tasks that need it)
    let mut missing: BTreeMap<&str, (&str, BTreeSet<&str>)> = BTreeMap::new();
    for job in &plan.jobs {
        let Some(task) = resolver.task(job) else {
            continue;
        };
        for s in &program.secrets {
            let Some(var) = s.env.as_deref() else {
                continue;
            };
            if !task.uses.contains(&s.id) || std::env::var(var).is_ok() {
                continue;
            }
            missing
                .entry(&s.id)
                .or_insert_with(|| (var, BTreeSet::new()))
                .1
                .insert(&task.name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let quoted = |names: &BTreeSet<&str>| {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        expc_plan::diff::and_list(&names)
    };
    let mut text = if missing.len() == 1 {
        "a secret that tasks need is not set:".to_owned()
    } else {
        format!("{} secrets that tasks need are not set:", missing.len())
    };
    for (id, (var, tasks)) in &missing {
        text.push_str(&format!(
            "\n  - the secret `{id}` is read from the environment variable `{var}`, which is not set (or not UTF-8); {} {} {} it",
            if tasks.len() == 1 { "the task" } else { "the tasks" },
            quoted(tasks),
            if tasks.len() == 1 { "needs" } else { "need" },
        ));
    }
    let example: Vec<String> = missing
        .values()
        .map(|(var, _)| format!("{var}=…"))
        .collect();
    text.push_str(&format!(
        "\nSet {} in the environment of `expc run` (for example `{} expc run …`)",
        if missing.len() == 1 { "it" } else { "each" },
        example.join(" ")
    ));
    Err(RunError(text))
}
