//! `expc run` for a pipeline placed on Slurm: the artifacts of `expc build --target
//! slurm` are written under the state directory, submitted with their own `submit.sh`
//! (each job `afterok` the jobs it reads, so Slurm cancels the dependents of a failure),
//! and followed with one `squeue` call per poll for every job and array task. Final states
//! (COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL) become results with
//! Slurm's reason; Ctrl-C cancels every submitted job (`scancel`).
//!
//! Only whole pipelines placed on Slurm are submitted: a pipeline that mixes Slurm with
//! other placements is refused with what to do instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use expc_build::slurm::queue::{
    SlurmJobStatus, SlurmOutcome, explain, outcome, parse_sacct, parse_squeue, squeue_args,
};
use expc_build::slurm::{self, SlurmOptions};
use expc_check::ir::{self, Backend};
use expc_plan::plan::Plan;

use crate::RunError;

/// Whether `expc run` (without `--local`) submits `plan` to Slurm.
pub fn applies(plan: &Plan) -> bool {
    plan.jobs.iter().any(|j| j.backend == Backend::Slurm)
}

#[derive(Debug, Clone)]
pub struct SlurmRunOptions {
    /// The `.expc` directory; the run's files go to `slurm/run-SECONDS/` under it.
    pub state_dir: PathBuf,
    /// The folder of the spec, against which the jobs resolve data paths.
    pub spec_dir: PathBuf,
    /// Time between two `squeue` calls.
    pub poll: Duration,
}

/// How one submitted script (a job, or one array of a sweep) ended.
#[derive(Debug, Clone)]
pub struct SlurmJobResult {
    /// `KEY`, or `KEY[FIRST-LAST]` for an array.
    pub label: String,
    pub slurm_id: String,
    pub instances: u64,
    pub completed: u64,
    /// One line per task that did not complete, with Slurm's reason.
    pub problems: Vec<String>,
}

#[derive(Debug)]
pub struct SlurmRunSummary {
    pub build_dir: PathBuf,
    pub run_dir: PathBuf,
    /// Where the jobs' provenance hooks wrote their records.
    pub prov_dir: PathBuf,
    pub results: Vec<SlurmJobResult>,
    pub interrupted: bool,
    pub elapsed: Duration,
}

impl SlurmRunSummary {
    pub fn success(&self) -> bool {
        !self.interrupted && self.results.iter().all(|r| r.completed == r.instances)
    }
}

/// Builds, submits and follows `plan` on Slurm; `progress` receives one line per event.
pub fn run(
    program: &ir::Program,
    plan: &Plan,
    opts: &SlurmRunOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<SlurmRunSummary, RunError> {
    let started = Instant::now();
    let others: Vec<String> = plan
        .jobs
        .iter()
        .filter(|j| j.backend != Backend::Slurm)
        .map(|j| format!("`{}` on {}", j.key, j.on))
        .collect();
    if !others.is_empty() {
        return Err(RunError(format!(
            "`expc run` submits a pipeline to Slurm only when every call is placed on Slurm; these are not: {}. Run everything here with `expc run --local`, or write the Slurm jobs with `expc build --target slurm` and submit them with their submit.sh",
            others.join(", ")
        )));
    }
    let spec_dir = opts.spec_dir.to_str().ok_or_else(|| {
        RunError(format!(
            "the folder `{}` is not valid UTF-8",
            opts.spec_dir.display()
        ))
    })?;
    let artifacts = slurm::build(
        program,
        plan,
        &SlurmOptions {
            spec_dir: spec_dir.to_owned(),
            templates: BTreeMap::new(),
        },
    )
    .map_err(|e| RunError(format!("{}; {}", e.message, e.help)))?;
    let scripts = slurm::scripts(program, plan).map_err(|e| RunError(e.message))?;

    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = opts.state_dir.join("slurm").join(format!("run-{secs}"));
    let build_dir = base.join("build");
    let run_dir = base.join("run");
    write_artifacts(&build_dir, &artifacts)?;

    let out = std::process::Command::new("bash")
        .arg(build_dir.join("submit.sh"))
        .arg(&run_dir)
        .env_remove("EXPC_PROV_DIR")
        .env_remove("EXPC_SPEC_DIR")
        .output()
        .map_err(|e| RunError(format!("cannot run bash to submit the jobs: {e}")))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        progress(line);
    }
    if !out.status.success() {
        return Err(RunError(format!(
            "submitting to Slurm failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let submitted = read_jobs_tsv(&run_dir.join("jobs.tsv"))?;
    if submitted.len() != scripts.len() {
        return Err(RunError(format!(
            "submit.sh reported {} jobs for {} scripts; see {}",
            submitted.len(),
            scripts.len(),
            run_dir.join("jobs.tsv").display()
        )));
    }
    let mut entries: Vec<Entry> = submitted
        .into_iter()
        .zip(&scripts)
        .map(|((label, id), s)| Entry {
            label,
            id,
            count: s.chunk.map_or(1, |c| c.count),
            finals: BTreeMap::new(),
            reported: false,
        })
        .collect();

    let interrupted = follow(&mut entries, opts.poll, progress)?;
    let results = entries
        .iter()
        .map(|e| SlurmJobResult {
            label: e.label.clone(),
            slurm_id: e.id.clone(),
            instances: e.count,
            completed: e
                .finals
                .values()
                .filter(|s| outcome(&s.state) == Some(SlurmOutcome::Completed))
                .count() as u64,
            problems: e
                .finals
                .values()
                .filter(|s| outcome(&s.state) != Some(SlurmOutcome::Completed))
                .map(explain)
                .collect(),
        })
        .collect();
    Ok(SlurmRunSummary {
        build_dir,
        prov_dir: run_dir.join("provenance"),
        run_dir,
        results,
        interrupted,
        elapsed: started.elapsed(),
    })
}

/// One submitted script and the final states seen so far, by task.
struct Entry {
    label: String,
    id: String,
    count: u64,
    finals: BTreeMap<String, SlurmJobStatus>,
    reported: bool,
}

fn write_artifacts(dir: &Path, artifacts: &[slurm::Artifact]) -> Result<(), RunError> {
    for a in artifacts {
        let path = dir.join(&a.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| RunError(format!("cannot create `{}`: {e}", parent.display())))?;
        }
        std::fs::write(&path, &a.contents)
            .map_err(|e| RunError(format!("cannot write `{}`: {e}", path.display())))?;
    }
    Ok(())
}

fn read_jobs_tsv(path: &Path) -> Result<Vec<(String, String)>, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError(format!("cannot read `{}`: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect())
}

/// Polls until every task has ended; on Ctrl-C cancels every job and returns `true`.
fn follow(
    entries: &mut [Entry],
    poll: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<bool, RunError> {
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let mut failures = 0;
        loop {
            tokio::select! {
                _ = &mut ctrl_c => {
                    progress(&format!("interrupted: cancelling Slurm jobs {}", ids.join(" ")));
                    let _ = tokio::process::Command::new("scancel").args(&ids).status().await;
                    return Ok(true);
                }
                _ = tokio::time::sleep(poll) => {}
            }
            // Only the jobs still open: finished ones may have left squeue (MinJobAge).
            let open: Vec<String> = entries
                .iter()
                .filter(|e| !e.reported)
                .map(|e| e.id.clone())
                .collect();
            let out = tokio::process::Command::new("squeue")
                .args(squeue_args(&open))
                .output()
                .await;
            let statuses = match out {
                Ok(o) if o.status.success() => parse_squeue(&String::from_utf8_lossy(&o.stdout)),
                Ok(o) => {
                    // Every open job has left squeue: ask accounting, once for all.
                    let from_sacct = sacct(&open).await;
                    if !from_sacct.is_empty() {
                        from_sacct
                    } else {
                        failures += 1;
                        if failures >= 30 {
                            return Err(RunError(format!(
                                "squeue keeps failing: {}; the jobs ({}) are still submitted",
                                String::from_utf8_lossy(&o.stderr).trim(),
                                ids.join(" ")
                            )));
                        }
                        continue;
                    }
                }
                Err(e) => {
                    return Err(RunError(format!(
                        "cannot run squeue: {e}; the jobs ({}) are still submitted",
                        ids.join(" ")
                    )));
                }
            };
            failures = 0;
            for s in statuses.into_iter().filter(SlurmJobStatus::is_final) {
                if let Some(e) = entries.iter_mut().find(|e| e.id == s.job_id()) {
                    e.finals.insert(s.id.clone(), s);
                }
            }
            for e in entries.iter_mut() {
                if !e.reported && e.finals.len() as u64 >= e.count {
                    e.reported = true;
                    let bad: Vec<&SlurmJobStatus> = e
                        .finals
                        .values()
                        .filter(|s| outcome(&s.state) != Some(SlurmOutcome::Completed))
                        .collect();
                    if bad.is_empty() {
                        progress(&format!("completed: {} (job {})", e.label, e.id));
                    } else {
                        progress(&format!(
                            "not completed: {} — {} of {} tasks; {}",
                            e.label,
                            bad.len(),
                            e.count,
                            explain(bad[0])
                        ));
                    }
                }
            }
            if entries.iter().all(|e| e.reported) {
                return Ok(false);
            }
        }
    })
}

/// Final states from accounting (`sacct`, or `sacct -c` where only job completion logging
/// is set up), for jobs that have left squeue; empty when neither answers.
async fn sacct(ids: &[String]) -> Vec<SlurmJobStatus> {
    for completion in [false, true] {
        let mut c = tokio::process::Command::new("sacct");
        if completion {
            c.arg("-c");
        }
        c.args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &ids.join(",")]);
        if let Ok(o) = c.output().await {
            let found = parse_sacct(&String::from_utf8_lossy(&o.stdout));
            if o.status.success() && !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}
