//! The Slurm engine: task instances placed on a Slurm resource are
//! submitted with `sbatch` when their inputs are ready, and followed with one `squeue`
//! call per poll for every submitted job and array task.
//!
//! The jobs run the scripts of `expc build --target slurm`, written under
//! `.expc/slurm/run-…/build/` when the run starts. An instance of job KEY works in
//! `run/KEY/INDEX/` beside them, and reads the outputs of the instances it depends on at
//! `run/UPSTREAM/INDEX/OUTPUT`: the scheduler links every finished output there, whether
//! it ran on Slurm, ran here or came from the cache, so Slurm jobs and local tasks mix in
//! one pipeline. The instances that become ready together are submitted as one job array
//! (a sweep after its upstream finishes: one `sbatch --array=…`), at most the site's
//! `max_array_size` per array, with the resource's `array_throttle`.
//!
//! Nothing is submitted before its inputs are there: a dependent is submitted only after
//! the scheduler has seen its upstream COMPLETED and stored its outputs, so a failure's
//! dependents never reach the queue. Final states (COMPLETED, FAILED, CANCELLED, TIMEOUT,
//! OUT_OF_MEMORY, NODE_FAIL) become results with Slurm's reason; Ctrl-C cancels every
//! submitted job (`scancel`).

pub mod queue;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use expc_build::slurm::{self, SlurmOptions, SlurmScript};
use expc_check::ir::{self, Backend};
use expc_check::value::Value;
use expc_plan::plan::Plan;
use queue::{
    SlurmJobStatus, SlurmOutcome, explain, outcome, parse_sacct, parse_squeue, squeue_args,
};

use super::{
    BoxFuture, Cancelled, Ended, Engine, Kept, Launch, Started, Status, Submitted, find_program,
    label, plural, run_folder, write,
};
use crate::RunError;
use crate::hook::HookSummary;
use crate::resolve::{Site, job_dir};
use crate::store::Store;

/// Whether `plan` has instances to submit to Slurm (without `--local`).
pub fn applies(plan: &Plan) -> bool {
    plan.jobs.iter().any(|j| j.backend == Backend::Slurm)
}

/// One `sbatch` call: the DAG nodes of its array tasks.
#[derive(Debug)]
struct Submission {
    label: String,
    /// The plan's job, and the instance index of its script's first array task.
    job: usize,
    offset: u64,
    /// Array task index → DAG node, for the tasks that have not ended.
    open: BTreeMap<u64, usize>,
}

/// Instances submitted to Slurm from here.
#[derive(Debug)]
pub struct SlurmEngine<'p> {
    plan: &'p Plan,
    pub build_dir: PathBuf,
    pub run_dir: PathBuf,
    pub prov_dir: PathBuf,
    spec_dir: String,
    scripts: Vec<SlurmScript>,
    /// Job → its scripts (one per array chunk), by position in `scripts`.
    by_job: HashMap<usize, Vec<usize>>,
    /// Instances waiting for the next `sbatch`: script → (array index, node).
    pending: BTreeMap<usize, Vec<(u64, usize)>>,
    /// Submitted and not ended, by Slurm job id.
    submitted: BTreeMap<String, Submission>,
    /// Every job id submitted by this run.
    pub all_ids: Vec<String>,
    /// `array_throttle` of the resource of each job that sets it, by plan job.
    throttles: HashMap<usize, i64>,
    failures: u32,
}

impl<'p> SlurmEngine<'p> {
    /// Writes the Slurm artifacts of `plan` for this run under `state_dir/slurm/`. Fails
    /// when `sbatch` cannot be found, or the plan cannot be built for Slurm.
    pub fn prepare(
        program: &ir::Program,
        plan: &'p Plan,
        state_dir: &Path,
        spec_dir: &Path,
    ) -> Result<Self, RunError> {
        let on_slurm: Vec<String> = plan
            .jobs
            .iter()
            .filter(|j| j.backend == Backend::Slurm)
            .map(|j| format!("`{}` (on `{}`)", j.key, j.on))
            .collect();
        if find_program("sbatch").is_none() {
            return Err(RunError(format!(
                "{} placed on Slurm, but `sbatch` is not on PATH here. Run `expc run` where Slurm's commands are (a login node), write the jobs with `expc build --target slurm -o DIR`, or run everything here with `expc run --local`",
                plural(&on_slurm, "is", "are")
            )));
        }
        let spec = spec_dir.to_str().ok_or_else(|| {
            RunError(format!(
                "the folder `{}` is not valid UTF-8; Slurm jobs need it as a script argument",
                spec_dir.display()
            ))
        })?;
        let artifacts = slurm::build(
            program,
            plan,
            &SlurmOptions {
                spec_dir: spec.to_owned(),
                templates: BTreeMap::new(),
                local: false,
            },
        )
        .map_err(|e| {
            RunError(format!(
                "cannot write the Slurm jobs: {}; {}",
                e.message, e.help
            ))
        })?;
        let scripts = slurm::scripts(program, plan).map_err(|e| RunError(e.message))?;
        let base = state_dir.join("slurm").join(run_folder());
        let build_dir = base.join("build");
        let run_dir = base.join("run");
        let prov_dir = run_dir.join("provenance");
        for a in &artifacts {
            write(&build_dir.join(&a.path), a.contents.as_bytes())?;
        }
        for d in [run_dir.join("logs"), prov_dir.clone()] {
            std::fs::create_dir_all(&d)
                .map_err(|e| RunError(format!("cannot create `{}`: {e}", d.display())))?;
        }
        // Slurm expands `%` in log paths; the build refuses such names, so does the run.
        let text = run_dir.to_string_lossy();
        if text.contains('%') || text.contains('\n') {
            return Err(RunError(format!(
                "the state directory `{}` contains `%` or a newline, which Slurm expands in log paths; use `--state-dir` elsewhere",
                state_dir.display()
            )));
        }
        let mut by_job: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, s) in scripts.iter().enumerate() {
            by_job.entry(s.job).or_default().push(i);
        }
        let throttles = plan
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(j, job)| {
                let t = job
                    .placement
                    .get("array_throttle")
                    .and_then(Value::as_int)?;
                Some((j, t))
            })
            .collect();
        Ok(SlurmEngine {
            plan,
            build_dir,
            run_dir,
            prov_dir,
            spec_dir: spec.to_owned(),
            scripts,
            by_job,
            pending: BTreeMap::new(),
            submitted: BTreeMap::new(),
            all_ids: Vec::new(),
            throttles,
            failures: 0,
        })
    }

    /// Where instance `index` of the job `key` works, and leaves its outputs.
    fn work_dir(&self, key: &str, index: u64) -> PathBuf {
        self.run_dir.join(job_dir(key)).join(index.to_string())
    }

    /// Queues instance `index` of job `j` (DAG node `node`) for the next `sbatch`.
    fn queue(&mut self, j: usize, index: u64, node: usize) -> Result<(), String> {
        let scripts = self
            .by_job
            .get(&j)
            .ok_or("the job has no Slurm script (it is not placed on Slurm)")?;
        let found = scripts.iter().find_map(|&s| match self.scripts[s].chunk {
            None => (index == 0).then_some((s, 0)),
            Some(c) => (c.offset..c.offset + c.count)
                .contains(&index)
                .then(|| (s, index - c.offset)),
        });
        let (script, array_index) =
            found.ok_or_else(|| format!("no Slurm script holds instance {index}"))?;
        self.pending
            .entry(script)
            .or_default()
            .push((array_index, node));
        Ok(())
    }

    /// Submits every queued instance: one `sbatch --array=…` per script.
    async fn submit_pending(&mut self) -> Submitted {
        let mut done = Submitted::default();
        if self.pending.is_empty() {
            return done;
        }
        for (s, mut tasks) in std::mem::take(&mut self.pending) {
            tasks.sort_unstable();
            let script = &self.scripts[s];
            let key = &self.scripts[s].label;
            let dir = job_dir(key.split('[').next().unwrap_or(key));
            let offset = script.chunk.map_or(0, |c| c.offset);
            let instances: Vec<u64> = tasks.iter().map(|(i, _)| i + offset).collect();
            let mut array = super::compress(&tasks.iter().map(|(i, _)| *i).collect::<Vec<_>>());
            if let Some(t) = self.throttles.get(&script.job) {
                array.push_str(&format!("%{t}"));
            }
            let log = self.run_dir.join("logs").join(format!("{dir}-%A_%a.out"));
            let mut c = tokio::process::Command::new("sbatch");
            c.arg("--parsable")
                .arg(format!("--array={array}"))
                .arg(format!("--output={}", log.display()))
                .arg(self.build_dir.join("jobs").join(&script.file))
                .arg(&self.spec_dir)
                .arg(&self.run_dir)
                .arg(&self.prov_dir)
                .current_dir(&self.run_dir)
                .env_remove("EXPC_PROV_DIR")
                .env_remove("EXPC_SPEC_DIR")
                .kill_on_drop(true);
            let out = c.output().await;
            let label = label(key.split('[').next().unwrap_or(key), &instances);
            match sbatch_id(&out, &label) {
                Ok(id) => {
                    done.notes
                        .push(format!("submitted {label} to Slurm as job {id}"));
                    let line = format!("{label}\t{id}\t{}\n", script.file);
                    append(&self.run_dir.join("jobs.tsv"), &line);
                    self.all_ids.push(id.clone());
                    let job = script.job;
                    self.submitted.insert(
                        id,
                        Submission {
                            label,
                            job,
                            offset,
                            open: tasks.into_iter().collect(),
                        },
                    );
                }
                Err(why) => done
                    .refused
                    .extend(tasks.into_iter().map(|(_, n)| (n, why.clone()))),
            }
        }
        done
    }

    /// One look at the queue: `squeue` for every open job at once, and `sacct` for those
    /// that have left it. Returns the array tasks that ended since the last look.
    async fn look(&mut self) -> Result<Vec<Ended>, RunError> {
        if self.submitted.is_empty() {
            return Ok(Vec::new());
        }
        let open: Vec<String> = self.submitted.keys().cloned().collect();
        let out = tokio::process::Command::new("squeue")
            .args(squeue_args(&open))
            .kill_on_drop(true)
            .output()
            .await;
        let mut statuses = match out {
            Ok(o) if o.status.success() => parse_squeue(&String::from_utf8_lossy(&o.stdout)),
            Ok(o) => {
                // squeue fails when none of the ids is known any more.
                let from_sacct = sacct(&open).await;
                if from_sacct.is_empty() {
                    self.failures += 1;
                    if self.failures >= 30 {
                        return Err(RunError(format!(
                            "squeue keeps failing: {}; the jobs ({}) are still submitted",
                            String::from_utf8_lossy(&o.stderr).trim(),
                            open.join(" ")
                        )));
                    }
                    return Ok(Vec::new());
                }
                from_sacct
            }
            Err(e) => {
                return Err(RunError(format!(
                    "cannot run squeue: {e}; the jobs ({}) are still submitted",
                    open.join(" ")
                )));
            }
        };
        self.failures = 0;
        // Jobs squeue no longer lists (they ended longer ago than MinJobAge): accounting.
        let listed: std::collections::HashSet<&str> =
            statuses.iter().map(SlurmJobStatus::job_id).collect();
        let gone: Vec<String> = open
            .iter()
            .filter(|id| !listed.contains(id.as_str()))
            .cloned()
            .collect();
        if !gone.is_empty() {
            statuses.extend(sacct(&gone).await);
        }
        let mut ended = Vec::new();
        for s in statuses.into_iter().filter(SlurmJobStatus::is_final) {
            let Some(sub) = self.submitted.get_mut(s.job_id()) else {
                continue;
            };
            let task = s.array_task().unwrap_or(0);
            if let Some(node) = sub.open.remove(&task) {
                let (j, index) = (sub.job, sub.offset + task);
                let completed = outcome(&s.state) == Some(SlurmOutcome::Completed);
                let message = (!completed).then(|| format!("Slurm {}", explain(&s)));
                ended.push(self.ended(node, j, index, &s.id, message));
            }
        }
        self.submitted.retain(|_, s| !s.open.is_empty());
        Ok(ended)
    }

    /// An array task that ended (with a message when it did not complete), with what its
    /// provenance hook recorded.
    fn ended(&self, node: usize, j: usize, index: u64, id: &str, failed: Option<String>) -> Ended {
        let key = &self.plan.jobs[j].key;
        let hook = HookSummary::read(&self.prov_dir, &job_dir(key), index);
        let attempts = hook.as_ref().map_or(1, |h| h.attempts.max(1));
        let (job, task) = id.split_once('_').unwrap_or((id, "0"));
        let log = self.log_path(key, job, task);
        let status = match failed {
            None => Status::Succeeded {
                work: self.work_dir(key, index),
                attempts,
            },
            Some(message) => Status::Failed {
                exit_code: hook.as_ref().and_then(|h| h.exit_status),
                message,
                stderr_tail: crate::exec::tail(&log),
                attempts,
            },
        };
        Ended {
            node,
            status,
            engine: "Slurm job",
            job_id: Some(id.to_owned()),
            log: Some(log),
            host: hook.as_ref().map(|h| h.host.clone()),
            started: hook.as_ref().and_then(|h| h.started),
            ended: hook.as_ref().and_then(|h| h.ended),
        }
    }

    /// Cancels every job this run submitted that has not ended; returns their nodes.
    async fn cancel_all(&mut self) -> Cancelled {
        let ids: Vec<String> = self.submitted.keys().cloned().collect();
        if !ids.is_empty() {
            let _ = tokio::process::Command::new("scancel")
                .args(&ids)
                .status()
                .await;
        }
        let nodes = self
            .submitted
            .values()
            .flat_map(|s| s.open.values().copied())
            .chain(self.pending.values().flatten().map(|(_, n)| *n))
            .collect();
        let labels: Vec<String> = self
            .submitted
            .iter()
            .map(|(id, s)| format!("{id} ({})", s.label))
            .collect();
        self.submitted.clear();
        self.pending.clear();
        Cancelled {
            note: (!labels.is_empty())
                .then(|| format!("cancelling Slurm jobs {}", labels.join(", "))),
            nodes,
        }
    }

    fn log_path(&self, key: &str, job: &str, task: &str) -> PathBuf {
        self.run_dir
            .join("logs")
            .join(format!("{}-{job}_{task}.out", job_dir(key)))
    }
}

impl Engine for SlurmEngine<'_> {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn runs_here(&self) -> bool {
        false
    }

    fn site(&self, j: usize, index: u64, _store: &Store) -> Site {
        Site {
            spec_dir: self.spec_dir.clone(),
            work: self.work_dir(&self.plan.jobs[j].key, index),
            run_dir: Some(self.run_dir.to_string_lossy().into_owned()),
            spark: None,
        }
    }

    fn log_dir(&self, _j: usize, _index: u64, _store: &Store) -> PathBuf {
        self.run_dir.join("logs")
    }

    fn start(&mut self, launch: Launch<'_>) -> Result<Started, String> {
        self.queue(launch.job, launch.index, launch.node)?;
        Ok(Started::Queued)
    }

    fn submit(&mut self) -> BoxFuture<'_, Submitted> {
        Box::pin(self.submit_pending())
    }

    fn busy(&self) -> bool {
        !self.submitted.is_empty() || !self.pending.is_empty()
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<Ended>, RunError>> {
        Box::pin(self.look())
    }

    fn cancel(&mut self, _grace: Duration) -> BoxFuture<'_, Cancelled> {
        Box::pin(self.cancel_all())
    }

    /// Links the outputs of an instance that finished (here, on Slurm or from the cache)
    /// to where Slurm jobs read them: `run/KEY/INDEX/PATH`.
    fn hand_over(&self, key: &str, index: u64, outputs: &[(String, PathBuf)]) {
        let dir = self.work_dir(key, index);
        for (rel, target) in outputs {
            let link = dir.join(rel);
            if let Some(parent) = link.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::remove_file(&link);
            let target = std::fs::canonicalize(target).unwrap_or_else(|_| target.clone());
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink(&target, &link);
        }
    }

    /// Removes the run's Slurm folder when nothing was submitted (every instance was
    /// cached, or none became ready); else keeps it.
    fn finish(&self) -> Option<Kept> {
        let base = self.run_dir.parent()?;
        if self.all_ids.is_empty() {
            let _ = std::fs::remove_dir_all(base);
            return None;
        }
        Some(Kept {
            what: "Slurm jobs (scripts, logs, work directories, hook records)",
            dir: base.to_path_buf(),
        })
    }
}

/// The job id `sbatch --parsable` printed, or why there is none.
fn sbatch_id(out: &std::io::Result<std::process::Output>, label: &str) -> Result<String, String> {
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let id = text.trim().split(';').next().unwrap_or("").to_owned();
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                Ok(id)
            } else {
                Err(format!(
                    "sbatch returned no job id for {label}; it printed `{}`",
                    text.trim()
                ))
            }
        }
        Ok(o) => Err(format!(
            "sbatch refused {label}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run sbatch: {e}")),
    }
}

fn append(path: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Final states from accounting (`sacct`, or `sacct -c` where only job completion logging
/// is set up), for jobs that have left squeue; empty when neither answers.
async fn sacct(ids: &[String]) -> Vec<SlurmJobStatus> {
    for completion in [false, true] {
        let mut c = tokio::process::Command::new("sacct");
        if completion {
            c.arg("-c");
        }
        c.args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &ids.join(",")])
            .kill_on_drop(true);
        if let Ok(o) = c.output().await {
            let found = parse_sacct(&String::from_utf8_lossy(&o.stdout));
            if o.status.success() && !found.is_empty() {
                return found;
            }
        }
    }
    Vec::new()
}
