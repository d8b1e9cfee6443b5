//! Loading the records that generated jobs' provenance hooks wrote on a cluster into the
//! store, as a run with the same records a local run has (`expc prov ingest`).
//!
//! The hook records name each instance by its job key, job id and index; the plan of the
//! same spec and params gives everything else — the task, its placement, the declared
//! outputs' types, and which outputs of which instances each instance read. A record
//! whose job id differs from the plan's was written by another version of the spec (or
//! other params), and ingesting refuses it rather than mixing two plans.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use expc_build::hook::{HookEvent, HookRecord};
use expc_check::ir::{self, IrExpr};
use expc_plan::plan::Plan;
use expc_run::resolve::Used;
use expc_run::{Event, Generated, InstanceRecord, Outcome, Sink, Summary};
use serde_json::json;

use crate::meta::RunMeta;

/// What was ingested.
#[derive(Debug)]
pub struct Ingested {
    pub run_id: String,
    pub ran: usize,
    pub failed: usize,
    pub not_run: usize,
}

struct Quiet;

impl Sink for Quiet {
    fn event(&mut self, _: Event) {}
}

/// One instance's records: its attempts' starts and ends.
#[derive(Default)]
struct Attempts<'a> {
    starts: Vec<&'a HookRecord>,
    ends: Vec<&'a HookRecord>,
}

fn time_of(s: &str) -> Option<SystemTime> {
    let ms = crate::time::parse_ms(s)?;
    Some(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).ok()?))
}

/// Ingests hook records into the store of `state_dir` as one run. `run_dir` is the
/// directory output paths in the records are relative to; `spec_dir` is where declared
/// data is (their digests are taken now: the hooks record outputs only).
pub fn ingest(
    state_dir: &Path,
    program: &ir::Program,
    plan: &Plan,
    mut meta: RunMeta,
    records: &[HookRecord],
    run_dir: &Path,
    spec_dir: &Path,
) -> Result<Ingested, String> {
    if records.is_empty() {
        return Err("the directory holds no hook records (`*.jsonl`)".into());
    }
    let positions: HashMap<&str, usize> = plan
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.key.as_str(), i))
        .collect();
    let mut by_instance: BTreeMap<(usize, u64), Attempts> = BTreeMap::new();
    for r in records {
        let Some(&j) = positions.get(r.job.as_str()) else {
            return Err(format!(
                "a record names the job `{}`, which is not in the plan of this spec: ingest with the spec and params the artifacts were built from",
                r.job
            ));
        };
        if plan.jobs[j].id != r.job_id {
            return Err(format!(
                "the records of job `{}` come from another plan (job id {} in the records, {} in this plan): ingest with the spec and params the artifacts were built from",
                r.job, r.job_id, plan.jobs[j].id
            ));
        }
        if r.instance >= plan.jobs[j].instances {
            return Err(format!(
                "a record names instance {} of job `{}`, which has {} instances in this plan",
                r.instance, r.job, plan.jobs[j].instances
            ));
        }
        let a = by_instance.entry((j, r.instance)).or_default();
        match r.event {
            HookEvent::Start => a.starts.push(r),
            HookEvent::End => a.ends.push(r),
        }
    }
    let times: Vec<SystemTime> = records.iter().filter_map(|r| time_of(&r.time)).collect();
    let (Some(start), Some(end)) = (times.iter().min().copied(), times.iter().max().copied())
    else {
        return Err("no record has a readable time".into());
    };

    // What each call reads: (input, producer binding, producer output).
    let calls = expc_run::calls(program, &plan.pipeline);
    let mut reads: HashMap<&str, Vec<(String, String, String)>> = HashMap::new();
    let mut data: HashMap<&str, Vec<(String, String)>> = HashMap::new();
    for job in &plan.jobs {
        if let Some(call) = calls.get(&job.key) {
            for (input, e) in &call.args {
                let mut outs = Vec::new();
                let mut arts = Vec::new();
                walk(e, &mut outs, &mut arts);
                reads
                    .entry(job.key.as_str())
                    .or_default()
                    .extend(outs.into_iter().map(|(b, o)| (input.clone(), b, o)));
                data.entry(job.key.as_str())
                    .or_default()
                    .extend(arts.into_iter().map(|a| (input.clone(), a)));
            }
        }
    }
    let mut data_digests: HashMap<String, (PathBuf, String)> = HashMap::new();
    for a in program.data.iter().chain(&program.models) {
        let path = spec_dir.join(program.artifact_path(a));
        if let Ok(bytes) = std::fs::read(&path) {
            data_digests.insert(
                a.id.clone(),
                (path, blake3::hash(&bytes).to_hex().to_string()),
            );
        }
    }

    // The same records ingested twice are one run, not two.
    let mut h = blake3::Hasher::new();
    for r in records {
        h.update(serde_json::to_string(r).unwrap_or_default().as_bytes());
        h.update(b"\n");
    }
    let records_digest = h.finalize().to_hex().to_string();
    if let Ok(store) = crate::Store::open(state_dir) {
        let before: Option<String> = store
            .conn
            .query_row(
                "SELECT id FROM runs WHERE json_extract(environment, '$.records_digest') = ?1",
                [&records_digest],
                |r| r.get(0),
            )
            .ok();
        if let Some(id) = before {
            return Err(format!(
                "these records were already ingested as run {id} (`expc runs show {id}`)"
            ));
        }
    }
    let hosts: std::collections::BTreeSet<&str> = records.iter().map(|r| r.host.as_str()).collect();
    meta.environment = json!({
        "source": "provenance hooks of generated jobs",
        "records": run_dir.display().to_string(),
        "records_digest": records_digest,
        "hosts": hosts,
        "modules_declared": plan.jobs.iter().flat_map(|j| j.env.modules.iter()).collect::<std::collections::BTreeSet<_>>(),
        "containers": plan.jobs.iter().filter_map(|j| j.env.image.as_ref()).collect::<std::collections::BTreeSet<_>>(),
        "conda": plan.jobs.iter().filter_map(|j| j.env.conda.as_ref()).collect::<std::collections::BTreeSet<_>>(),
    });
    let mut rec = crate::Recording::new(Quiet, state_dir, meta).with_times(start, end);
    let total: u64 = plan.jobs.iter().map(|j| j.instances).sum();
    rec.event(Event::RunStarted { instances: total });
    // Outputs of finished instances, for the inputs of their readers.
    let mut made: HashMap<(usize, u64), BTreeMap<String, (PathBuf, String)>> = HashMap::new();
    let mut summary = Summary::default();
    // Instances in the order they started (never-started ones last, in plan order), so a
    // producer is always recorded before its readers.
    let mut order: Vec<(Option<SystemTime>, usize, u64)> = Vec::new();
    for (j, job) in plan.jobs.iter().enumerate() {
        for i in 0..job.instances {
            let first = by_instance
                .get(&(j, i))
                .and_then(|a| a.starts.iter().filter_map(|r| time_of(&r.time)).min());
            order.push((first, j, i));
        }
    }
    order.sort_by_key(|(t, j, i)| (t.is_none(), *t, *j, *i));
    for (_, j, index) in order {
        let job = &plan.jobs[j];
        let mut r = InstanceRecord {
            name: expc_run::instance_name(plan, j, index),
            call: job.key.clone(),
            task: job.task.clone(),
            index,
            outcome: Outcome::NotRun,
            key: None,
            argv: match &job.command {
                expc_plan::plan::Command::Run { argv } => argv.clone(),
                _ => Vec::new(),
            },
            started: None,
            ended: None,
            attempts: 0,
            exit_code: None,
            message: Some("no record: it never started (cancelled, or not submitted)".into()),
            used: Vec::new(),
            values: plan
                .coords(job, index)
                .into_iter()
                .map(|(k, v)| (k, expc_plan::lower::text(&v).join(" ")))
                .collect(),
            generated: Vec::new(),
            host: None,
            job_id: None,
            made_by: None,
        };
        if let Some(a) = by_instance.get(&(j, index)) {
            let last = a.ends.last().copied().or(a.starts.last().copied());
            r.attempts = a.starts.len() as u32;
            r.started = a.starts.iter().filter_map(|s| time_of(&s.time)).min();
            r.ended = a.ends.iter().filter_map(|s| time_of(&s.time)).max();
            if let Some(l) = last {
                r.host = Some(l.host.clone());
                // The engine's own id: the Slurm job (or array task), else the Spark
                // application the last attempt ran (on its end record).
                r.job_id = match (&l.slurm_array_job_id, &l.slurm_array_task_id) {
                    (Some(a), Some(t)) => Some(format!("{a}_{t}")),
                    _ => l.slurm_job_id.clone(),
                }
                .or_else(|| a.ends.last().and_then(|e| e.spark_app_id.clone()));
            }
            match a.ends.last() {
                None => {
                    r.outcome = Outcome::Failed;
                    r.message =
                        Some("it started but never ended: killed, or its node failed".into());
                }
                Some(e) => {
                    r.exit_code = e.exit_status;
                    let missing: Vec<&str> = e
                        .outputs
                        .iter()
                        .filter(|o| o.kind == "missing" || o.sha256.is_none())
                        .map(|o| o.name.as_str())
                        .collect();
                    if e.exit_status == Some(0) && missing.is_empty() {
                        r.outcome = Outcome::Ran;
                        r.message = None;
                        let mut files = BTreeMap::new();
                        for o in &e.outputs {
                            let path = run_dir.join(&o.path);
                            let digest = format!("sha256:{}", o.sha256.clone().unwrap_or_default());
                            let meta_fs = std::fs::metadata(&path).ok();
                            r.generated.push(Generated {
                                name: o.name.clone(),
                                path: path.clone(),
                                digest: digest.clone(),
                                size: meta_fs.as_ref().map_or(0, |m| m.len()),
                                is_dir: o.kind == "dir",
                                ty: job
                                    .outputs
                                    .iter()
                                    .find(|d| d.name == o.name)
                                    .map_or_else(String::new, |d| d.ty.clone()),
                            });
                            files.insert(o.name.clone(), (path, digest));
                        }
                        made.insert((j, index), files);
                    } else {
                        r.outcome = Outcome::Failed;
                        r.message = Some(match e.exit_status {
                            Some(0) => format!("exited 0 without writing {}", missing.join(", ")),
                            Some(c) if c > 128 => format!("killed by signal {}", c - 128),
                            Some(c) => format!("exited with status {c}"),
                            None => "ended without an exit status".into(),
                        });
                    }
                }
            }
        }
        // What it read: declared data, and the outputs of the instances it depends on.
        if r.started.is_some() {
            for (input, id) in data.get(job.key.as_str()).into_iter().flatten() {
                if let Some((path, digest)) = data_digests.get(id) {
                    r.used.push(Used {
                        input: input.clone(),
                        path: path.clone(),
                        digest: digest.clone(),
                    });
                }
            }
            for (input, binding, output) in reads.get(job.key.as_str()).into_iter().flatten() {
                let Some(p) = plan.position(binding) else {
                    continue;
                };
                let relation = job
                    .after
                    .iter()
                    .find(|d| &d.job == binding)
                    .map_or(expc_plan::plan::Relation::Each, |d| d.relation);
                for k in expc_plan::dag::producers(plan, j, index, p, relation) {
                    if let Some((path, digest)) = made.get(&(p, k)).and_then(|m| m.get(output)) {
                        r.used.push(Used {
                            input: input.clone(),
                            path: path.clone(),
                            digest: digest.clone(),
                        });
                    }
                }
            }
        }
        match r.outcome {
            Outcome::Ran => summary.ran += 1,
            Outcome::Failed => summary.failed.push(expc_run::Failure {
                task: r.name.clone(),
                exit_code: r.exit_code,
                message: r.message.clone().unwrap_or_default(),
                stderr_tail: Vec::new(),
                log_dir: PathBuf::new(),
            }),
            _ => summary.not_run += 1,
        }
        rec.instance(r);
    }
    rec.finish(&summary);
    if let Some(why) = rec.failure() {
        return Err(format!("the store could not be written: {why}"));
    }
    Ok(Ingested {
        run_id: rec.run_id().unwrap_or_default().to_owned(),
        ran: summary.ran,
        failed: summary.failed.len(),
        not_run: summary.not_run,
    })
}

/// The call outputs (binding, output) and declared artifacts an argument reads.
fn walk(e: &IrExpr, outs: &mut Vec<(String, String)>, arts: &mut Vec<String>) {
    match e {
        IrExpr::CallOutput {
            binding, output, ..
        } => outs.push((binding.clone(), output.clone())),
        IrExpr::Artifact { id } => arts.push(id.clone()),
        IrExpr::Value {
            value: expc_check::value::Value::Artifact(id),
        } => arts.push(id.clone()),
        IrExpr::List { items } | IrExpr::Concat { parts: items } => {
            items.iter().for_each(|i| walk(i, outs, arts));
        }
        IrExpr::Template { parts } => {
            for p in parts {
                if let ir::IrPart::Interp { expr } = p {
                    walk(expr, outs, arts);
                }
            }
        }
        _ => {}
    }
}
