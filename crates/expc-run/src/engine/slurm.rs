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
//! OUT_OF_MEMORY, NODE_FAIL) become results with Slurm's reason; Ctrl-C (and SIGTERM,
//! SIGHUP) cancels every submitted job (`scancel`).
//!
//! Every submission is written to the state folder's journal ([`super::journal`]) before the run
//! relies on it. A run whose head was killed (`kill -9`, a lost ssh session) leaves its
//! jobs queued or running; the next `expc run` of the same state folder adopts each one
//! whose instance it needs (same cache key) that is still queued or running, or that
//! completed while no one watched, and submits only the rest: no instance runs twice.

pub mod limits;
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

use super::journal;
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

/// One `sbatch` call (of this run, or of an earlier one whose tasks this run adopted): the
/// DAG nodes of its array tasks.
#[derive(Debug)]
struct Submission {
    label: String,
    /// The run folder its tasks work in (this run's, or the earlier run's).
    run_dir: PathBuf,
    /// Array task index → the task, for the tasks that have not ended.
    open: BTreeMap<u64, Open>,
    /// Whether it was submitted by an earlier run: then only its adopted tasks are this
    /// run's to cancel.
    adopted: bool,
}

/// An array task this run follows.
#[derive(Debug)]
struct Open {
    node: usize,
    /// Its submission's token in the journal.
    token: String,
    /// Where it works in its run folder: `JOB_DIR/INDEX`.
    job_dir: String,
    index: u64,
    /// What submits it again when its node is lost: its script, its index in that
    /// script's array, its cache key.
    again: Waiting,
    script: usize,
}

/// An array task an earlier run submitted, that this run may adopt.
#[derive(Debug)]
struct Adoptable {
    entry: journal::Entry,
    job_id: String,
    state: String,
}

/// An instance waiting for the next `sbatch`.
#[derive(Debug, Clone)]
struct Waiting {
    task: u64,
    node: usize,
    key: String,
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
    /// Instances waiting for the next `sbatch`, by script.
    pending: BTreeMap<usize, Vec<Waiting>>,
    /// Submitted and not ended, by Slurm job id.
    submitted: BTreeMap<String, Submission>,
    /// Every job id submitted by this run.
    pub all_ids: Vec<String>,
    /// `array_throttle` of the resource of each job that sets it, by plan job.
    throttles: HashMap<usize, i64>,
    failures: u32,
    /// The journal of the state folder's submissions, and this run's folder name (the
    /// prefix of its submissions' tokens) and count of submissions.
    journal: journal::Journal,
    folder: String,
    batches: u64,
    /// What earlier runs left out that this run may adopt, by cache key.
    adoptable: HashMap<String, Adoptable>,
    /// Lines to say at the next submission (what was adopted, why a job waits).
    notes: Vec<String>,
    /// Jobs seen pending: the scheduler's last reason, since when, whether the run warned.
    waiting: HashMap<String, Pending>,
    warn_pending: Duration,
    /// Work directory → journal token and array task, of the tasks that completed and
    /// whose outputs the run has not stored yet.
    finished: HashMap<PathBuf, (String, u64)>,
    /// Whether `sbatch` refused a submission (its script is kept, for the message).
    refused: bool,
    /// Whether `sacct` failed: the cluster keeps no accounting, so usage is not measured.
    no_accounting: bool,
    /// Whether accounting gave no resident set after waiting for it: not waited for again.
    rss_unsampled: bool,
    /// How many times each instance (by DAG node) was submitted again after its node was
    /// lost.
    lost: HashMap<usize, u32>,
}

/// A job the queue holds back.
#[derive(Debug)]
struct Pending {
    reason: String,
    since: std::time::Instant,
    warned: bool,
}

impl<'p> SlurmEngine<'p> {
    /// Writes the Slurm artifacts of `plan` for this run under `state_dir/slurm/`. Fails
    /// when `sbatch` cannot be found, or the plan cannot be built for Slurm.
    pub fn prepare(
        program: &ir::Program,
        plan: &'p Plan,
        state_dir: &Path,
        spec_dir: &Path,
        warn_pending: Duration,
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
        refuse_what_never_fits(plan)?;
        let folder = run_folder();
        let slurm_dir = state_dir.join("slurm");
        let base = slurm_dir.join(&folder);
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
        let journal = journal::Journal::at(&slurm_dir);
        let adoptable = survey(&journal);
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
            journal,
            folder,
            batches: 0,
            adoptable,
            notes: Vec::new(),
            waiting: HashMap::new(),
            warn_pending,
            finished: HashMap::new(),
            refused: false,
            no_accounting: false,
            rss_unsampled: false,
            lost: HashMap::new(),
        })
    }

    /// Where instance `index` of the job `key` works, and leaves its outputs.
    fn work_dir(&self, key: &str, index: u64) -> PathBuf {
        self.run_dir.join(job_dir(key)).join(index.to_string())
    }

    /// Adopts the array task an earlier run submitted for the instance whose cache key is
    /// `key`, when there is one still queued or running, or completed; whether it did.
    fn adopt(&mut self, key: &str, node: usize, name: &str, slot: (usize, u64)) -> bool {
        let Some(a) = self.adoptable.remove(key) else {
            return false;
        };
        let sub = self
            .submitted
            .entry(a.job_id.clone())
            .or_insert_with(|| Submission {
                label: format!("job {} of an earlier run", a.job_id),
                run_dir: a.entry.run_dir.clone(),
                open: BTreeMap::new(),
                adopted: true,
            });
        sub.open.insert(
            a.entry.task,
            Open {
                node,
                token: a.entry.token.clone(),
                job_dir: a.entry.job_dir.clone(),
                index: a.entry.index,
                again: Waiting {
                    task: slot.1,
                    node,
                    key: key.to_owned(),
                },
                script: slot.0,
            },
        );
        let state = a.state.to_lowercase();
        self.notes.push(format!(
            "{name}: adopted Slurm job {}_{} ({state}), submitted by an earlier run",
            a.job_id, a.entry.task
        ));
        true
    }

    /// Queues instance `index` of job `j` (DAG node `node`) for the next `sbatch`.
    /// The script that holds instance `index` of job `j`, and its index in that array.
    fn slot(&self, j: usize, index: u64) -> Result<(usize, u64), String> {
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
        found.ok_or_else(|| format!("no Slurm script holds instance {index}"))
    }

    fn queue(&mut self, j: usize, index: u64, node: usize, key: &str) -> Result<(), String> {
        let (script, array_index) = self.slot(j, index)?;
        self.pending.entry(script).or_default().push(Waiting {
            task: array_index,
            node,
            key: key.to_owned(),
        });
        Ok(())
    }

    /// Submits every queued instance: one `sbatch --array=…` per script, each written to
    /// the journal before `sbatch` runs and its id as soon as it answers.
    async fn submit_pending(&mut self) -> Submitted {
        let mut done = Submitted {
            notes: std::mem::take(&mut self.notes),
            ..Submitted::default()
        };
        if self.pending.is_empty() {
            return done;
        }
        for (s, mut tasks) in std::mem::take(&mut self.pending) {
            tasks.sort_unstable_by_key(|w| w.task);
            let script = &self.scripts[s];
            let key = &self.scripts[s].label;
            let job_key = key.split('[').next().unwrap_or(key);
            let dir = job_dir(job_key);
            let offset = script.chunk.map_or(0, |c| c.offset);
            let instances: Vec<u64> = tasks.iter().map(|w| w.task + offset).collect();
            let label = label(job_key, &instances);
            let token = format!("{}.{}", self.folder, self.batches);
            self.batches += 1;
            let entries: Vec<journal::Entry> = tasks
                .iter()
                .map(|w| journal::Entry {
                    token: token.clone(),
                    key: w.key.clone(),
                    task: w.task,
                    run_dir: self.run_dir.clone(),
                    job_dir: dir.clone(),
                    index: w.task + offset,
                })
                .collect();
            if let Err(e) = self.journal.intend(&entries) {
                let why = format!(
                    "cannot write the journal of submissions `{}`: {e}; nothing was submitted for {label}. Check that the state folder can be written",
                    self.journal.path().display()
                );
                done.refused
                    .extend(tasks.into_iter().map(|w| (w.node, why.clone())));
                continue;
            }
            let mut array = super::compress(&tasks.iter().map(|w| w.task).collect::<Vec<_>>());
            if let Some(t) = self.throttles.get(&script.job) {
                array.push_str(&format!("%{t}"));
            }
            let log = self.run_dir.join("logs").join(format!("{dir}-%A_%a.out"));
            let mut c = tokio::process::Command::new("sbatch");
            // A task lost with its node ends as NODE_FAIL, for the run to submit again as
            // its `retry` allows, rather than being requeued by Slurm whatever it says.
            c.arg("--parsable")
                .arg("--no-requeue")
                .arg(format!("--array={array}"))
                .arg(format!("--output={}", log.display()))
                .arg(format!("--comment={}", journal::comment(&token)))
                .arg(self.build_dir.join("jobs").join(&script.file))
                .arg(&self.spec_dir)
                .arg(&self.run_dir)
                .arg(&self.prov_dir)
                .current_dir(&self.run_dir)
                .env_remove("EXPC_PROV_DIR")
                .env_remove("EXPC_SPEC_DIR")
                .kill_on_drop(true);
            let out = c.output().await;
            let script_path = self.build_dir.join("jobs").join(&script.file);
            match sbatch_id(&out, &label, &script_path) {
                Ok(id) => {
                    // Had this failed, the next run would still find the job by its comment.
                    let _ = self.journal.submitted(&token, &id);
                    done.notes
                        .push(format!("submitted {label} to Slurm as job {id}"));
                    let line = format!("{label}\t{id}\t{}\n", script.file);
                    append(&self.run_dir.join("jobs.tsv"), &line);
                    self.all_ids.push(id.clone());
                    let open = tasks
                        .into_iter()
                        .map(|w| {
                            let open = Open {
                                node: w.node,
                                token: token.clone(),
                                job_dir: dir.clone(),
                                index: w.task + offset,
                                again: w.clone(),
                                script: s,
                            };
                            (w.task, open)
                        })
                        .collect();
                    self.submitted.insert(
                        id,
                        Submission {
                            label,
                            run_dir: self.run_dir.clone(),
                            open,
                            adopted: false,
                        },
                    );
                }
                Err(why) => {
                    // The message names the script: the folder stays for it to be read.
                    self.refused = true;
                    done.refused
                        .extend(tasks.into_iter().map(|w| (w.node, why.clone())));
                }
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
        self.note_waiting(&statuses);
        let mut ended = Vec::new();
        for s in statuses.into_iter().filter(SlurmJobStatus::is_final) {
            let task = s.array_task().unwrap_or(0);
            let Some((open, run_dir)) = self
                .submitted
                .get_mut(s.job_id())
                .and_then(|sub| Some((sub.open.remove(&task)?, sub.run_dir.clone())))
            else {
                continue;
            };
            let name = self
                .plan
                .instance_name(self.scripts[open.script].job, open.index);
            if lost(&s.state) && self.submit_again(&open, &name, &explain(&s)) {
                continue;
            }
            let completed = outcome(&s.state) == Some(SlurmOutcome::Completed);
            let message = (!completed).then(|| format!("Slurm {}", explain(&s)));
            let e = ended_task(&open, &run_dir, &s.id, message);
            if let Status::Succeeded { work, .. } = &e.status {
                self.finished.insert(work.clone(), (open.token, task));
            }
            ended.push(e);
        }
        self.submitted.retain(|_, s| !s.open.is_empty());
        self.measure(&mut ended).await;
        Ok(ended)
    }

    /// Submits again an instance whose node was lost, while its `retry` allows: a lost node
    /// is one attempt. Says so; false when no attempt is left.
    fn submit_again(&mut self, open: &Open, name: &str, why: &str) -> bool {
        let job = self.scripts[open.script].job;
        let allowed = self.plan.jobs[job].retry.attempts;
        let lost = self.lost.entry(open.node).or_insert(0);
        if *lost >= allowed {
            return false;
        }
        *lost += 1;
        self.notes.push(format!(
            "{name}: Slurm {why}; submitting it again (attempt {} of {})",
            *lost + 1,
            allowed + 1
        ));
        self.pending
            .entry(open.script)
            .or_default()
            .push(open.again.clone());
        true
    }

    /// What each ended task used of what it asked, from Slurm's accounting: one `sacct`
    /// for all of them. A cluster without accounting storage (`sacct` fails) is asked once.
    async fn measure(&mut self, ended: &mut [Ended]) {
        if ended.is_empty() || self.no_accounting {
            return;
        }
        let ids: Vec<String> = ended.iter().filter_map(|e| e.job_id.clone()).collect();
        // The accounting database learns of a task's end a moment after the queue does:
        // asked again, for a few seconds, until every task has its resident set — unless
        // an earlier wait found that this cluster does not sample it.
        let mut usage = std::collections::HashMap::new();
        let waits: &[u64] = if self.rss_unsampled {
            &[0]
        } else {
            &[0, 250, 500, 1000, 2000]
        };
        for (n, &wait) in waits.iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let mut c = tokio::process::Command::new("sacct");
            c.args(["-n", "-P", "-o", queue::USAGE_FIELDS, "-j", &ids.join(",")])
                .kill_on_drop(true);
            usage = match c.output().await {
                Ok(o) if o.status.success() => {
                    queue::parse_usage(&String::from_utf8_lossy(&o.stdout))
                }
                _ => {
                    self.no_accounting = true;
                    return;
                }
            };
            let measured = |id: &String| usage.get(id).is_some_and(|u| u.max_rss.is_some());
            if ids.iter().all(measured) {
                break;
            }
            self.rss_unsampled = n + 1 == waits.len();
        }
        for e in ended.iter_mut() {
            e.usage = e.job_id.as_ref().and_then(|id| usage.get(id).cloned());
        }
    }

    /// Says why a submitted job waits in the queue, when the reason first shows or changes,
    /// and warns once about a job pending longer than `--warn-pending`.
    fn note_waiting(&mut self, statuses: &[SlurmJobStatus]) {
        let mut pending: BTreeMap<&str, &str> = BTreeMap::new();
        for s in statuses.iter().filter(|s| s.state == "PENDING") {
            pending.insert(s.job_id(), &s.reason);
        }
        self.waiting
            .retain(|id, _| pending.contains_key(id.as_str()));
        for (id, reason) in pending {
            let Some(sub) = self.submitted.get(id) else {
                continue;
            };
            let label = &sub.label;
            let quiet = matches!(reason, "None" | "" | "JobArrayTaskLimit");
            let w = self
                .waiting
                .entry(id.to_owned())
                .or_insert_with(|| Pending {
                    reason: String::new(),
                    since: std::time::Instant::now(),
                    warned: false,
                });
            if w.reason != reason {
                w.reason = reason.to_owned();
                if !quiet {
                    self.notes.push(format!(
                        "{label} (Slurm job {id}) is pending: {}",
                        queue::pending_reason(reason)
                    ));
                }
            }
            if !w.warned && w.since.elapsed() >= self.warn_pending {
                w.warned = true;
                self.notes.push(format!(
                    "{label} (Slurm job {id}) has waited in the queue for {}: {}; `squeue -j {id} -o %r` shows why, `scontrol show job {id}` what it asks",
                    expc_check::value::format_duration(w.since.elapsed().as_millis() as u64),
                    queue::pending_reason(reason)
                ));
            }
        }
    }

    /// Cancels every job this run submitted that has not ended; returns their nodes.
    async fn cancel_all(&mut self) -> Cancelled {
        // An adopted submission's other tasks are not this run's: only its own are cancelled.
        let ids: Vec<String> = self
            .submitted
            .iter()
            .flat_map(|(id, s)| {
                if s.adopted {
                    s.open.keys().map(|t| format!("{id}_{t}")).collect()
                } else {
                    vec![id.clone()]
                }
            })
            .collect();
        if !ids.is_empty() {
            let _ = tokio::process::Command::new("scancel")
                .args(&ids)
                .status()
                .await;
        }
        let nodes = self
            .submitted
            .values()
            .flat_map(|s| s.open.values().map(|o| o.node))
            .chain(self.pending.values().flatten().map(|w| w.node))
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
        let slot = self.slot(launch.job, launch.index)?;
        if !self.adopt(&launch.resolved.key, launch.node, launch.name, slot) {
            let key = &launch.resolved.key;
            self.queue(launch.job, launch.index, launch.node, key)?;
        }
        Ok(Started::Queued)
    }

    fn submit(&mut self) -> BoxFuture<'_, Submitted> {
        Box::pin(self.submit_pending())
    }

    fn busy(&self) -> bool {
        !self.submitted.is_empty() || !self.pending.is_empty() || !self.notes.is_empty()
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

    /// Once the outputs of a completed task are stored, the journal notes that it is done
    /// (a later run will not adopt it) before its work directory is removed.
    fn release(&mut self, work: &Path, _store: &Store) {
        if let Some((token, task)) = self.finished.remove(work) {
            let _ = self.journal.done(&token, task);
        }
        crate::exec::remove(work);
    }

    /// Removes the run's Slurm folder when nothing was submitted (every instance was
    /// cached, or none became ready); else keeps it.
    fn finish(&self) -> Option<Kept> {
        let base = self.run_dir.parent()?;
        if self.all_ids.is_empty() && !self.refused {
            // Nothing of this run's is in the journal: it only names submitted jobs.
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
fn sbatch_id(
    out: &std::io::Result<std::process::Output>,
    label: &str,
    script: &Path,
) -> Result<String, String> {
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
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr);
            let said = said.trim();
            let what = if said.contains("Unable to contact slurm controller") {
                "the Slurm controller does not answer; nothing was submitted, so `expc run` again when it is back submits it once"
            } else {
                "see the script's `#SBATCH` lines and the resource it is placed on"
            };
            Err(format!(
                "sbatch refused {label}: {said} (script: {}); {what}",
                script.display()
            ))
        }
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

/// Whether a final state says the task was lost with its node (or preempted, or its node
/// never booted), rather than ended by what it ran: such a task may be submitted again.
fn lost(state: &str) -> bool {
    matches!(
        state.split_whitespace().next(),
        Some("NODE_FAIL" | "BOOT_FAIL" | "PREEMPTED")
    )
}

/// An array task that ended (with a message when it did not complete), with what its
/// provenance hook recorded: it worked in `run_dir/JOB_DIR/INDEX`.
fn ended_task(open: &Open, run_dir: &Path, id: &str, failed: Option<String>) -> Ended {
    let prov_dir = run_dir.join("provenance");
    let hook = HookSummary::read(&prov_dir, &open.job_dir, open.index);
    let attempts = hook.as_ref().map_or(1, |h| h.attempts.max(1));
    let (job, task) = id.split_once('_').unwrap_or((id, "0"));
    let log = run_dir
        .join("logs")
        .join(format!("{}-{job}_{task}.out", open.job_dir));
    let status = match failed {
        None => Status::Succeeded {
            work: run_dir.join(&open.job_dir).join(open.index.to_string()),
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
        node: open.node,
        status,
        engine: "Slurm job",
        job_id: Some(id.to_owned()),
        log: Some(log),
        host: hook.as_ref().map(|h| h.host.clone()),
        started: hook.as_ref().and_then(|h| h.started),
        ended: hook.as_ref().and_then(|h| h.ended),
        usage: None,
    }
}

/// What the journal says earlier runs left out, as Slurm sees it now: each array task still
/// queued or running, or completed with its work directory in place, by cache key. The
/// journal is rewritten with only those. When Slurm cannot be asked, nothing is adopted and
/// the journal is kept as it is.
fn survey(journal: &journal::Journal) -> HashMap<String, Adoptable> {
    let mut contents = journal.read();
    if contents.entries.is_empty() {
        return HashMap::new();
    }
    let unresolved = contents.unresolved();
    if !unresolved.is_empty() {
        // Submissions whose head died before writing the id: found by their comment.
        let out = std::process::Command::new("squeue")
            .args(["--me", "-h", "-t", "all", "-o", "%i|%k"])
            .output();
        if let Some(o) = out.ok().filter(|o| o.status.success()) {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let Some((id, comment)) = line.trim().split_once('|') else {
                    continue;
                };
                let Some(token) = comment.strip_prefix("expc:") else {
                    continue;
                };
                if unresolved.iter().any(|t| t == token) {
                    let job = id.split('_').next().unwrap_or(id).to_owned();
                    contents.ids.insert(token.to_owned(), job);
                }
            }
        }
    }
    let ids = contents.job_ids();
    let Some(states) = slurm_states(&ids) else {
        return HashMap::new();
    };
    let mut adoptable = HashMap::new();
    let mut keep = Vec::new();
    for e in &contents.entries {
        let Some(id) = contents.ids.get(&e.token) else {
            continue;
        };
        let Some(state) = states.get(&(id.clone(), e.task)).map(|s| &s.state) else {
            continue;
        };
        let usable = match outcome(state) {
            None => true,
            Some(SlurmOutcome::Completed) => e.work().is_dir(),
            Some(_) => false,
        };
        if usable {
            keep.push(e);
            adoptable.insert(
                e.key.clone(),
                Adoptable {
                    entry: e.clone(),
                    job_id: id.clone(),
                    state: state.clone(),
                },
            );
        }
    }
    let _ = journal.compact(&keep, &contents.ids);
    adoptable
}

/// The state of every array task of `ids`, from `squeue` (and accounting for the jobs it no
/// longer lists); `None` when Slurm does not answer.
fn slurm_states(ids: &[String]) -> Option<HashMap<(String, u64), SlurmJobStatus>> {
    let mut states = HashMap::new();
    if ids.is_empty() {
        return Some(states);
    }
    let out = std::process::Command::new("squeue")
        .args(squeue_args(ids))
        .output()
        .ok()?;
    let mut listed = std::collections::HashSet::new();
    if out.status.success() {
        for s in parse_squeue(&String::from_utf8_lossy(&out.stdout)) {
            listed.insert(s.job_id().to_owned());
            for t in journal::tasks_of(&s.id) {
                states.insert((s.job_id().to_owned(), t), s.clone());
            }
        }
    } else if std::process::Command::new("sinfo")
        .arg("-h")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        // The controller does not answer: nothing can be said.
        return None;
    }
    let gone: Vec<String> = ids
        .iter()
        .filter(|i| !listed.contains(*i))
        .cloned()
        .collect();
    if !gone.is_empty() {
        for completion in [false, true] {
            let mut c = std::process::Command::new("sacct");
            if completion {
                c.arg("-c");
            }
            c.args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &gone.join(",")]);
            let Ok(o) = c.output() else { continue };
            let found = parse_sacct(&String::from_utf8_lossy(&o.stdout));
            if o.status.success() && !found.is_empty() {
                for s in found {
                    for t in journal::tasks_of(&s.id) {
                        states.insert((s.job_id().to_owned(), t), s.clone());
                    }
                }
                break;
            }
        }
    }
    Some(states)
}

/// Fails when a Slurm-placed job asks more of one node than its partition can ever give
/// (read from `scontrol` and `sinfo` now), naming each such job, what it asks and the
/// limit, before anything is submitted. When the cluster cannot be asked, nothing is
/// refused here (`sbatch` will say).
fn refuse_what_never_fits(plan: &Plan) -> Result<(), RunError> {
    let ask = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (Some(scontrol), Some(sinfo)) = (
        ask(&["scontrol", "show", "partition", "-o"]),
        ask(&["sinfo", "-h", "-N", "-o", "%P|%c|%m|%G"]),
    ) else {
        return Ok(());
    };
    let partitions = limits::parse(&scontrol, &sinfo);
    let default = partitions.values().find(|p| p.default);
    let mut problems = Vec::new();
    for job in plan.jobs.iter().filter(|j| j.backend == Backend::Slurm) {
        if job.instances == 0 {
            continue;
        }
        let named = job.placement.get("partition").and_then(Value::as_str);
        let partition = match named {
            Some(name) => match partitions.get(name) {
                Some(p) => p,
                None => {
                    let mut known: Vec<&str> = partitions.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    problems.push(format!(
                        "`{}` is placed on `{}`, whose partition `{name}` this cluster does not have (it has {})",
                        job.key,
                        job.on,
                        known.join(", ")
                    ));
                    continue;
                }
            },
            None => match default {
                Some(p) => p,
                None => continue,
            },
        };
        let r = &job.resources;
        let wants = limits::Ask {
            cpus: slurm::directives::cpus_per_task(r.cpus),
            mem_mib: r.mem_bytes.map(slurm::directives::mem_mib),
            time_ms: r.time_ms,
            gpus: r.gpus.max(0) as u64,
        };
        for why in limits::never_fits(&wants, partition) {
            problems.push(format!("`{}` {why}", job.key));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(RunError(format!(
        "{} could never start on this cluster, so nothing was submitted:\n  {}\nLower the task's `resources`, or place it on a resource whose partition has larger nodes (`sinfo -N -l` lists them)",
        if problems.len() == 1 { "a job" } else { "jobs" },
        problems.join("\n  ")
    )))
}

/// An array task a run submitted whose outputs no run has stored yet, as Slurm sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outstanding {
    /// `JOB[INDEX]` (the job's folder name and the instance's index).
    pub instance: String,
    /// `JOB_TASK`.
    pub slurm_id: String,
    /// Slurm's state (`PENDING`, `RUNNING`, `COMPLETED`, …), or `UNKNOWN` when Slurm no
    /// longer knows the job.
    pub state: String,
    /// Slurm's reason, for a pending task.
    pub reason: String,
}

/// What the journal of `state_dir` says is out on Slurm: every task submitted whose outputs
/// no run has stored, with its state now (`expc status`). An error when Slurm does not
/// answer.
pub fn outstanding(state_dir: &Path) -> Result<Vec<Outstanding>, RunError> {
    let journal = journal::Journal::at(&state_dir.join("slurm"));
    let contents = journal.read();
    let ids = contents.job_ids();
    let states = slurm_states(&ids).ok_or_else(|| {
        RunError("Slurm does not answer (`squeue` and `sinfo` failed); try again when the controller is back".into())
    })?;
    let mut out: Vec<Outstanding> = contents
        .entries
        .iter()
        .map(|e| {
            let id = contents.ids.get(&e.token);
            let status = id.and_then(|id| states.get(&(id.clone(), e.task)));
            Outstanding {
                instance: format!("{}[{}]", e.job_dir, e.index),
                slurm_id: id.map_or_else(|| "?".to_owned(), |id| format!("{id}_{}", e.task)),
                state: status.map_or_else(|| "UNKNOWN".to_owned(), |s| s.state.clone()),
                reason: status
                    .filter(|s| s.state == "PENDING")
                    .map(|s| s.reason.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.instance
            .cmp(&b.instance)
            .then(a.slurm_id.cmp(&b.slurm_id))
    });
    out.dedup();
    Ok(out)
}

/// Cancels every task of `state_dir`'s journal that is still queued or running
/// (`expc cancel`); returns their Slurm ids.
pub fn cancel_outstanding(state_dir: &Path) -> Result<Vec<String>, RunError> {
    let live: Vec<String> = outstanding(state_dir)?
        .into_iter()
        .filter(|o| outcome(&o.state).is_none() && o.state != "UNKNOWN")
        .map(|o| o.slurm_id)
        .collect();
    if live.is_empty() {
        return Ok(live);
    }
    let out = std::process::Command::new("scancel")
        .args(&live)
        .output()
        .map_err(|e| RunError(format!("cannot run scancel: {e}")))?;
    if !out.status.success() {
        return Err(RunError(format!(
            "scancel refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(live)
}
