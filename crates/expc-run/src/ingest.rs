//! What generated jobs ran on a cluster, read from their provenance hooks' records: the
//! instance records `expc run` would have reported for them, for `expc prov ingest`.
//!
//! The hook records name each instance by its job key, job id and index; the plan of the
//! same spec and params gives everything else — the task, the declared outputs' types,
//! and, through the command evaluator, which data and which outputs of which instances
//! each instance read. A record whose job id differs from the plan's was written by
//! another version of the spec (or other params), and is refused rather than mixing two
//! plans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use expc_check::ir;
use expc_plan::command::{Evaluator, Piece, Place};
use expc_plan::plan::Plan;

use crate::events::{Failure, Generated, InstanceRecord, Outcome, Summary, Used};
use crate::hook::{HookEvent, HookRecord, parse_utc};

/// The instances of a plan as the hooks recorded them.
#[derive(Debug)]
pub struct Ingestion {
    /// One record per instance of the plan, producers before their readers.
    pub records: Vec<InstanceRecord>,
    pub summary: Summary,
    /// The first and last times any record gives.
    pub started: SystemTime,
    pub ended: SystemTime,
    /// The hosts the records name.
    pub hosts: BTreeSet<String>,
    /// A digest of the records, so the same records are recognised when ingested again.
    pub records_digest: String,
}

/// The outputs of the instances that finished, by instance: path and digest by name.
type Made = HashMap<(usize, u64), BTreeMap<String, (PathBuf, String)>>;

/// One instance's records: its attempts' starts and ends.
#[derive(Default)]
struct Attempts<'a> {
    starts: Vec<&'a HookRecord>,
    ends: Vec<&'a HookRecord>,
}

/// Reads `records` against `plan`. `run_dir` is the directory output paths in the records
/// are relative to; `spec_dir` is where declared data is (their digests are taken now: the
/// hooks record outputs only).
pub fn instances(
    program: &ir::Program,
    plan: &Plan,
    records: &[HookRecord],
    run_dir: &Path,
    spec_dir: &Path,
) -> Result<Ingestion, String> {
    if records.is_empty() {
        return Err("the directory holds no hook records (`*.jsonl`)".into());
    }
    let by_instance = by_instance(plan, records)?;
    let times: Vec<SystemTime> = records.iter().filter_map(|r| parse_utc(&r.time)).collect();
    let (Some(&started), Some(&ended)) = (times.iter().min(), times.iter().max()) else {
        return Err("no record has a readable time".into());
    };
    let evaluator = Evaluator::new(program, plan);
    let mut data_digests: HashMap<String, (PathBuf, String)> = HashMap::new();
    for a in evaluator.index().artifacts() {
        let path = spec_dir.join(program.artifact_path(a));
        if let Ok(bytes) = std::fs::read(&path) {
            data_digests.insert(
                a.id.clone(),
                (path, blake3::hash(&bytes).to_hex().to_string()),
            );
        }
    }
    // Instances in the order they started (never-started ones last, in plan order), so a
    // producer is always recorded before its readers.
    let mut order: Vec<(Option<SystemTime>, usize, u64)> = Vec::new();
    for (j, job) in plan.jobs.iter().enumerate() {
        for i in 0..job.instances {
            let first = by_instance
                .get(&(j, i))
                .and_then(|a| a.starts.iter().filter_map(|r| parse_utc(&r.time)).min());
            order.push((first, j, i));
        }
    }
    order.sort_by_key(|(t, j, i)| (t.is_none(), *t, *j, *i));
    // Outputs of finished instances, for the inputs of their readers.
    let mut made: Made = HashMap::new();
    let mut summary = Summary::default();
    let mut out = Vec::with_capacity(order.len());
    for (_, j, index) in order {
        let mut r = unrecorded(plan, j, index);
        if let Some(a) = by_instance.get(&(j, index)) {
            recorded(plan, j, index, a, run_dir, &mut r, &mut made);
        }
        // What it read: declared data, and the outputs of the instances it depends on.
        if r.started.is_some() {
            r.used = used(&evaluator, j, index, &data_digests, &made);
        }
        match r.outcome {
            Outcome::Ran => summary.ran += 1,
            Outcome::Failed => summary.failed.push(Failure {
                task: r.name.clone(),
                exit_code: r.exit_code,
                message: r.message.clone().unwrap_or_default(),
                stderr_tail: Vec::new(),
                log_dir: PathBuf::new(),
            }),
            _ => summary.not_run += 1,
        }
        out.push(r);
    }
    // The same records ingested twice are one run, not two.
    let mut h = blake3::Hasher::new();
    for r in records {
        h.update(serde_json::to_string(r).unwrap_or_default().as_bytes());
        h.update(b"\n");
    }
    Ok(Ingestion {
        records: out,
        summary,
        started,
        ended,
        hosts: records.iter().map(|r| r.host.clone()).collect(),
        records_digest: h.finalize().to_hex().to_string(),
    })
}

/// The records of each instance, checked against the plan.
fn by_instance<'a>(
    plan: &Plan,
    records: &'a [HookRecord],
) -> Result<BTreeMap<(usize, u64), Attempts<'a>>, String> {
    let mut by_instance: BTreeMap<(usize, u64), Attempts> = BTreeMap::new();
    for r in records {
        let Some(j) = plan.position(&r.job) else {
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
    Ok(by_instance)
}

/// The record of an instance no hook recorded.
fn unrecorded(plan: &Plan, j: usize, index: u64) -> InstanceRecord {
    let job = &plan.jobs[j];
    InstanceRecord {
        name: plan.instance_name(j, index),
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
        // The engine the job was built for and ran on.
        engine: expc_plan::lower::backend_name(job.backend),
        made_by: None,
        usage: None,
    }
}

/// Fills in what the hook recorded of an instance's attempts.
fn recorded(
    plan: &Plan,
    j: usize,
    index: u64,
    a: &Attempts<'_>,
    run_dir: &Path,
    r: &mut InstanceRecord,
    made: &mut Made,
) {
    let job = &plan.jobs[j];
    let last = a.ends.last().copied().or(a.starts.last().copied());
    r.attempts = a.starts.len() as u32;
    r.started = a.starts.iter().filter_map(|s| parse_utc(&s.time)).min();
    r.ended = a.ends.iter().filter_map(|s| parse_utc(&s.time)).max();
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
    let Some(e) = a.ends.last() else {
        r.outcome = Outcome::Failed;
        r.message = Some("it started but never ended: killed, or its node failed".into());
        return;
    };
    r.exit_code = e.exit_status;
    let missing: Vec<&str> = e
        .outputs
        .iter()
        .filter(|o| o.kind == "missing" || o.sha256.is_none())
        .map(|o| o.name.as_str())
        .collect();
    if e.exit_status != Some(0) || !missing.is_empty() {
        r.outcome = Outcome::Failed;
        r.message = Some(match e.exit_status {
            Some(0) => format!("exited 0 without writing {}", missing.join(", ")),
            Some(c) if c > 128 => format!("killed by signal {}", c - 128),
            Some(c) => format!("exited with status {c}"),
            None => "ended without an exit status".into(),
        });
        return;
    }
    r.outcome = Outcome::Ran;
    r.message = None;
    let mut files = BTreeMap::new();
    for o in &e.outputs {
        let path = run_dir.join(&o.path);
        let digest = format!("sha256:{}", o.sha256.clone().unwrap_or_default());
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        r.generated.push(Generated {
            name: o.name.clone(),
            path: path.clone(),
            digest: digest.clone(),
            size,
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
}

/// The declared data and upstream outputs instance `index` of job `j` read, by input.
fn used(
    evaluator: &Evaluator<'_>,
    j: usize,
    index: u64,
    data: &HashMap<String, (PathBuf, String)>,
    made: &Made,
) -> Vec<Used> {
    let Ok(cmd) = evaluator.command(j, index) else {
        return Vec::new();
    };
    let mut used = Vec::new();
    // Declared data first, then the outputs of other instances, each in input order.
    for upstream in [false, true] {
        for (input, value) in &cmd.inputs {
            let places = value.words().into_iter().flat_map(|w| {
                w.0.iter().filter_map(|p| match p {
                    Piece::Place(p) | Piece::Path(p) => Some(p),
                    Piece::Text(_) => None,
                })
            });
            for place in places {
                let file = match place {
                    Place::Data { id, .. } if !upstream => data.get(id),
                    Place::Upstream {
                        job, index, output, ..
                    } if upstream => made.get(&(*job, *index)).and_then(|m| m.get(output)),
                    _ => None,
                };
                if let Some((path, digest)) = file {
                    used.push(Used {
                        input: (*input).to_owned(),
                        path: path.clone(),
                        digest: digest.clone(),
                        program: false,
                    });
                }
            }
        }
    }
    // The files the command names itself (its program), as a run here records them.
    for place in cmd.named_data() {
        if let Place::Data { id, .. } = place {
            if let Some((path, digest)) = data.get(id) {
                used.push(Used {
                    input: id.clone(),
                    path: path.clone(),
                    digest: digest.clone(),
                    program: true,
                });
            }
        }
    }
    used
}
