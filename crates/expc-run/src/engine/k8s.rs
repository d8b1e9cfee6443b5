//! The Kubernetes engine: task instances placed on a Kubernetes
//! resource are submitted with `kubectl apply` when their inputs are ready, and followed
//! with one `kubectl get jobs` per namespace and poll.
//!
//! The instances of a job that become ready together go in one Indexed Job (completion
//! index `I` runs the `I`-th instance of the batch) made by
//! [`expc_build::k8s::LiveJob::batch`] from the manifests of `expc build --target k8s`:
//! the same wrapper, argv ConfigMap, resources, volumes and provenance hook, with every
//! index retried on its own (`backoffLimitPerIndex`), so one failing instance does not
//! end the others. The manifests applied are kept under `.expc/k8s/run-…/`.
//!
//! Data crosses between this machine and the pods through the run volume (`expc-run`),
//! which the resource's `local_run_dir` says where to find here: the run has its own
//! folder `run-…` in it; instance `INDEX` of job `KEY` works in `run-…/KEY/INDEX/`, its
//! hook records go to `run-…/provenance/`, and the scheduler copies (or hard-links) every
//! finished output a pod may read to `run-…/KEY/INDEX/OUTPUT` — a link into `.expc/`
//! would not resolve inside a pod. Nothing is submitted before its inputs are there, so
//! a failure's dependents never reach the cluster; Ctrl-C (SIGTERM, SIGHUP) deletes the
//! run's Jobs.
//!
//! Every Job is written to the state folder's journal ([`super::journal`]) before it is
//! applied: a run killed without a word leaves its Jobs running, and the next `expc run`
//! adopts each index it needs (same cache key) that is still running, or that completed
//! while no one watched, instead of applying it again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use expc_build::k8s::{self, K8sOptions, LABEL_RUN, LiveJobs};
use expc_check::ir::{self, Backend};
use expc_check::value::Value;
use expc_plan::plan::Plan;

use super::journal;
use super::{
    BoxFuture, Cancelled, Ended, Engine, Kept, Launch, Started, Status, Submitted, find_program,
    plural, run_folder, write,
};
use crate::RunError;
use crate::hook::HookSummary;
use crate::resolve::{Site, job_dir};
use crate::store::Store;

const ENGINE: &str = "Kubernetes Job";

/// Whether `plan` has instances to submit to Kubernetes (without `--local`).
pub fn applies(plan: &Plan) -> bool {
    plan.jobs.iter().any(|j| j.backend == Backend::Kubernetes)
}

/// One applied Job (by this run, or by an earlier one whose indices this run adopted):
/// the DAG nodes of its completion indices.
#[derive(Debug)]
struct Submission {
    namespace: String,
    label: String,
    /// Completion index → the instance, for those that have not ended.
    open: BTreeMap<u64, Open>,
    /// Polls in a row that did not find the Job.
    missing: u32,
    /// Applied by an earlier run (so it has that run's label, not this one's).
    adopted: bool,
}

/// A completion index this run follows.
#[derive(Debug)]
struct Open {
    node: usize,
    /// Its instance works in `run_dir/JOB_DIR/INDEX` (as seen here): this run's folder of
    /// the run volume, or an earlier run's.
    run_dir: PathBuf,
    job_dir: String,
    index: u64,
}

/// A completion index an earlier run applied, that this run may adopt.
#[derive(Debug)]
struct Adoptable {
    entry: journal::Entry,
    namespace: String,
    completed: bool,
}

/// The file of a run's folder under `.expc/k8s/` that lists its folders in the run volumes
/// (as this machine sees them), one path per line.
pub const VOLUME_FOLDERS: &str = "volume-folders.txt";

/// Instances applied to Kubernetes from here.
#[derive(Debug)]
pub struct K8sEngine<'p> {
    plan: &'p Plan,
    /// The spec's folder, where the pods see it (the same path as here).
    spec_dir: String,
    /// `.expc/k8s/run-…/`: the manifests applied.
    dir: PathBuf,
    /// `run-…`: the run's folder in the run volume.
    folder: String,
    /// This machine's view of the run's folder, by plan job.
    run_dirs: HashMap<usize, PathBuf>,
    /// The pipeline binding of each job, for messages.
    keys: HashMap<usize, String>,
    live: LiveJobs,
    /// Instances waiting for the next apply: job → (instance index, node).
    pending: BTreeMap<usize, Vec<(u64, usize)>>,
    /// Applied and not ended, by Job name.
    submitted: BTreeMap<String, Submission>,
    /// Every Job this run applied.
    all: Vec<String>,
    /// Whether the wrapper is applied and the Secrets are there; why not, once known.
    ready: Option<Result<(), String>>,
    failures: u32,
    journal: journal::Journal,
    /// What earlier runs left out that this run may adopt, by cache key.
    adoptable: HashMap<String, Adoptable>,
    /// The cache key of each queued instance, by DAG node.
    keys_of: HashMap<usize, String>,
    /// Lines to say at the next submission (what was adopted).
    notes: Vec<String>,
    /// Work directory → Job and index, of indices completed whose outputs are not stored.
    finished: HashMap<PathBuf, (String, u64)>,
}

impl<'p> K8sEngine<'p> {
    /// Prepares the Kubernetes side of a run: checks that `kubectl` is here and that
    /// every Kubernetes resource says where its run volume is mounted here, and makes the
    /// Jobs' templates. Nothing is sent to the cluster before an instance is ready.
    pub fn prepare(
        program: &ir::Program,
        plan: &'p Plan,
        state_dir: &Path,
        spec_dir: &Path,
    ) -> Result<Self, RunError> {
        let locals = check(plan)?;
        let spec = spec_dir.to_str().ok_or_else(|| {
            RunError(format!(
                "the folder `{}` is not valid UTF-8; the pods need its path",
                spec_dir.display()
            ))
        })?;
        let folder = run_folder();
        let run_dirs: HashMap<usize, PathBuf> = locals
            .iter()
            .map(|(j, local)| (*j, local.join(&folder)))
            .collect();
        let live = k8s::live(
            program,
            plan,
            &K8sOptions {
                spec_dir: spec.to_owned(),
                live: Some(folder.clone()),
            },
        )
        .map_err(|e| {
            RunError(format!(
                "cannot make the Kubernetes Jobs: {}; {}",
                e.message, e.help
            ))
        })?;
        let dir = state_dir.join("k8s").join(&folder);
        write(&dir.join("expc-wrapper.yaml"), live.wrapper.as_bytes())?;
        let distinct: BTreeSet<&PathBuf> = run_dirs.values().collect();
        for d in &distinct {
            for sub in ["provenance", "logs"] {
                let p = d.join(sub);
                std::fs::create_dir_all(&p)
                    .map_err(|e| RunError(format!("cannot create `{}`: {e}", p.display())))?;
            }
        }
        // Where the run's folders in the run volumes are, for `expc gc` to remove them with
        // this folder.
        let listed: String = distinct
            .iter()
            .map(|d| format!("{}\n", d.canonicalize().unwrap_or((*d).clone()).display()))
            .collect();
        write(&dir.join(VOLUME_FOLDERS), listed.as_bytes())?;
        let keys = locals
            .keys()
            .map(|&j| (j, plan.jobs[j].key.clone()))
            .collect();
        let journal = journal::Journal::at(&state_dir.join("k8s"));
        let adoptable = survey(&journal);
        Ok(K8sEngine {
            plan,
            spec_dir: spec.to_owned(),
            dir,
            folder,
            run_dirs,
            keys,
            live,
            pending: BTreeMap::new(),
            submitted: BTreeMap::new(),
            all: Vec::new(),
            ready: None,
            failures: 0,
            journal,
            adoptable,
            keys_of: HashMap::new(),
            notes: Vec::new(),
            finished: HashMap::new(),
        })
    }

    /// Queues instance `index` of job `j` (DAG node `node`) for the next apply.
    fn queue(&mut self, j: usize, index: u64, node: usize) -> Result<(), String> {
        if !self.live.jobs.contains_key(&j) {
            return Err("the job has no Kubernetes Job (it is not placed on Kubernetes)".into());
        }
        self.pending.entry(j).or_default().push((index, node));
        Ok(())
    }

    /// Applies the wrapper once, after checking that the Secrets the Jobs read exist.
    async fn get_ready(&mut self) -> Result<(), String> {
        if let Some(r) = &self.ready {
            return r.clone();
        }
        let mut result = Ok(());
        for (ns, keys) in &self.live.secret_keys {
            let out = kubectl(&["get", "secret", "-n", ns, &self.live.secret, "-o", "json"]).await;
            let have: BTreeSet<String> = match &out {
                Ok(text) => serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| {
                        v.get("data")
                            .and_then(|d| d.as_object())
                            .map(|d| d.keys().cloned().collect())
                    })
                    .unwrap_or_default(),
                Err(_) => BTreeSet::new(),
            };
            let missing: Vec<&String> = keys.iter().filter(|k| !have.contains(*k)).collect();
            if !missing.is_empty() {
                let args: Vec<String> = missing
                    .iter()
                    .map(|k| format!("--from-literal={k}=…"))
                    .collect();
                result = Err(format!(
                    "the Secret `{}` of namespace `{ns}` {}; its pods would never start. Create it: kubectl create secret generic -n {ns} {} {}",
                    self.live.secret,
                    if out.is_err() {
                        "cannot be read".to_owned()
                    } else {
                        format!(
                            "lacks {}",
                            missing
                                .iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    self.live.secret,
                    args.join(" ")
                ));
                break;
            }
        }
        if result.is_ok() {
            let file = self.dir.join("expc-wrapper.yaml");
            result = kubectl(&["apply", "-f", &file.to_string_lossy()])
                .await
                .map(drop)
                .map_err(|e| {
                    format!(
                        "kubectl could not apply the wrapper ({}): {e}",
                        file.display()
                    )
                });
        }
        self.ready = Some(result.clone());
        result
    }

    /// Applies every queued instance: one Indexed Job per job. Returns a line per Job,
    /// and the nodes whose Job was refused, with why.
    async fn submit_pending(&mut self) -> Submitted {
        let mut done = Submitted {
            notes: std::mem::take(&mut self.notes),
            ..Submitted::default()
        };
        if self.pending.is_empty() {
            return done;
        }
        let pending = std::mem::take(&mut self.pending);
        if let Err(why) = self.get_ready().await {
            done.refused.extend(
                pending
                    .into_values()
                    .flatten()
                    .map(|(_, n)| (n, why.clone())),
            );
            return done;
        }
        for (j, mut tasks) in pending {
            tasks.sort_unstable();
            let Some(live) = self.live.jobs.get(&j) else {
                continue;
            };
            let indices: Vec<u64> = tasks.iter().map(|(i, _)| *i).collect();
            let (name, yaml) = match live.batch(&indices) {
                Ok(b) => b,
                Err(e) => {
                    let why = format!("{}; {}", e.message, e.help);
                    done.refused
                        .extend(tasks.into_iter().map(|(_, n)| (n, why.clone())));
                    continue;
                }
            };
            let file = self.dir.join("jobs").join(format!("{name}.yaml"));
            let run_dir = self.run_dirs.get(&j).cloned().unwrap_or_default();
            let dir = job_dir(&self.plan.jobs[j].key);
            let entries: Vec<journal::Entry> = tasks
                .iter()
                .enumerate()
                .map(|(pos, (index, node))| journal::Entry {
                    token: name.clone(),
                    key: self.keys_of.remove(node).unwrap_or_default(),
                    task: pos as u64,
                    run_dir: run_dir.clone(),
                    job_dir: dir.clone(),
                    index: *index,
                })
                .collect();
            let noted = self
                .journal
                .intend(&entries)
                .and_then(|()| self.journal.submitted(&name, &live.namespace))
                .map_err(|e| {
                    format!(
                        "cannot write the journal of submissions `{}`: {e}; check that the state folder can be written",
                        self.journal.path().display()
                    )
                });
            let applied = match noted.and_then(|()| write(&file, yaml.as_bytes()).map_err(|e| e.0))
            {
                Ok(()) => kubectl(&["apply", "-f", &file.to_string_lossy()]).await,
                Err(e) => Err(e),
            };
            let label = format!(
                "{name} ({} instance{})",
                indices.len(),
                if indices.len() == 1 { "" } else { "s" }
            );
            match applied {
                Ok(_) => {
                    done.notes.push(format!(
                        "submitted {} to Kubernetes as Job {name} in namespace {}",
                        super::label(&self.job_key(j), &indices),
                        live.namespace
                    ));
                    self.all.push(name.clone());
                    let open = tasks
                        .into_iter()
                        .enumerate()
                        .map(|(p, (index, node))| {
                            let open = Open {
                                node,
                                run_dir: run_dir.clone(),
                                job_dir: dir.clone(),
                                index,
                            };
                            (p as u64, open)
                        })
                        .collect();
                    self.submitted.insert(
                        name,
                        Submission {
                            namespace: live.namespace.clone(),
                            label,
                            open,
                            missing: 0,
                            adopted: false,
                        },
                    );
                }
                Err(e) => {
                    let why = format!("kubectl refused the Job {label}: {e}");
                    done.refused
                        .extend(tasks.into_iter().map(|(_, n)| (n, why.clone())));
                }
            }
        }
        done
    }

    /// Adopts the completion index an earlier run applied for the instance whose cache key
    /// is `key`, when it still runs or completed; whether it did.
    fn adopt(&mut self, key: &str, node: usize, name: &str) -> bool {
        let Some(a) = self.adoptable.remove(key) else {
            return false;
        };
        let job = a.entry.token.clone();
        let sub = self
            .submitted
            .entry(job.clone())
            .or_insert_with(|| Submission {
                namespace: a.namespace.clone(),
                label: format!("{job} (of an earlier run)"),
                open: BTreeMap::new(),
                missing: 0,
                adopted: true,
            });
        sub.open.insert(
            a.entry.task,
            Open {
                node,
                run_dir: a.entry.run_dir.clone(),
                job_dir: a.entry.job_dir.clone(),
                index: a.entry.index,
            },
        );
        let state = if a.completed { "completed" } else { "running" };
        self.notes.push(format!(
            "{name}: adopted Kubernetes Job {job}, index {} ({state}), applied by an earlier run",
            a.entry.task
        ));
        true
    }

    fn job_key(&self, j: usize) -> String {
        self.keys.get(&j).cloned().unwrap_or_default()
    }

    /// One look at the run's Jobs: `kubectl get jobs -l expc.dev/run=…` per namespace.
    /// Returns the instances that ended since the last look.
    async fn look(&mut self) -> Result<Vec<Ended>, RunError> {
        let namespaces: BTreeSet<String> = self
            .submitted
            .values()
            .map(|s| s.namespace.clone())
            .collect();
        // Jobs adopted from earlier runs carry those runs' labels: then every Job of expc.
        let selector = if self.submitted.values().any(|s| s.adopted) {
            LABEL_RUN.to_owned()
        } else {
            format!("{LABEL_RUN}={}", k8s::names::label_value(&self.folder))
        };
        let mut statuses: HashMap<String, JobStatus> = HashMap::new();
        for ns in &namespaces {
            match kubectl(&["get", "jobs", "-n", ns, "-l", &selector, "-o", "json"]).await {
                Ok(text) => match parse_jobs(&text) {
                    Some(found) => statuses.extend(found),
                    None => {
                        return self.failed_look(&format!(
                            "kubectl printed what is not a list of Jobs: {}",
                            first_line(&text)
                        ));
                    }
                },
                Err(e) => return self.failed_look(&e),
            }
        }
        self.failures = 0;
        let mut ended = Vec::new();
        let mut logs = Vec::new();
        for (name, sub) in &mut self.submitted {
            let Some(status) = statuses.get(name) else {
                sub.missing += 1;
                if sub.missing >= 30 {
                    for (pos, open) in std::mem::take(&mut sub.open) {
                        ended.push(Out {
                            open,
                            id: format!("{name}[{pos}]"),
                            failed: Some(format!("the Kubernetes Job {name} is gone from namespace {} before it ended (deleted?)", sub.namespace)),
                            log: PathBuf::new(),
                        });
                    }
                }
                continue;
            };
            sub.missing = 0;
            for pos in &status.completed {
                if let Some(open) = sub.open.remove(pos) {
                    let work = open
                        .run_dir
                        .join(&open.job_dir)
                        .join(open.index.to_string());
                    self.finished.insert(work, (name.clone(), *pos));
                    ended.push(Out {
                        open,
                        id: format!("{name}[{pos}]"),
                        failed: None,
                        log: PathBuf::new(),
                    });
                }
            }
            let mut failed: Vec<(u64, String)> = status
                .failed
                .iter()
                .map(|p| (*p, "its pod failed".to_owned()))
                .collect();
            if let Some(why) = &status.failure {
                failed.extend(sub.open.keys().map(|p| (*p, why.clone())));
            }
            for (pos, why) in failed {
                if let Some(open) = sub.open.remove(&pos) {
                    logs.push((
                        ended.len(),
                        open.run_dir.join("logs"),
                        sub.namespace.clone(),
                        name.clone(),
                        pos,
                    ));
                    ended.push(Out {
                        open,
                        id: format!("{name}[{pos}]"),
                        failed: Some(format!("Kubernetes Job {name}, index {pos}: {why}")),
                        log: PathBuf::new(),
                    });
                }
            }
        }
        self.submitted.retain(|_, s| !s.open.is_empty());
        // The logs of what failed, kept beside the run's other files.
        for (at, dir, ns, name, pos) in logs {
            // In the failed job's own run folder (resources may mount different volumes).
            let path = dir.join(format!("{name}-{pos}.log"));
            let selector =
                format!("job-name={name},batch.kubernetes.io/job-completion-index={pos}");
            let text = kubectl(&[
                "logs", "-n", &ns, "-l", &selector, "--tail", "200", "--prefix",
            ])
            .await
            .unwrap_or_else(|e| format!("(kubectl logs failed: {e})\n"));
            let _ = write(&path, text.as_bytes());
            // The failure's tail is read from there.
            ended[at].log = path;
        }
        Ok(ended.into_iter().map(|o| self.ended(o)).collect())
    }

    /// An instance that ended, with what the wrapper's provenance hook recorded of it.
    fn ended(&self, out: Out) -> Ended {
        let o = &out.open;
        let hook = HookSummary::read(&o.run_dir.join("provenance"), &o.job_dir, o.index);
        let attempts = hook.as_ref().map_or(1, |h| h.attempts.max(1));
        let status = match out.failed {
            None => Status::Succeeded {
                work: o.run_dir.join(&o.job_dir).join(o.index.to_string()),
                attempts,
            },
            Some(message) => Status::Failed {
                exit_code: hook.as_ref().and_then(|h| h.exit_status),
                message,
                stderr_tail: crate::exec::tail(&out.log),
                attempts,
            },
        };
        Ended {
            node: out.open.node,
            status,
            engine: ENGINE,
            job_id: Some(out.id),
            log: (!out.log.as_os_str().is_empty()).then_some(out.log),
            host: hook.as_ref().map(|h| h.host.clone()),
            started: hook.as_ref().and_then(|h| h.started),
            ended: hook.as_ref().and_then(|h| h.ended),
            usage: None,
        }
    }

    /// A look at the cluster that failed: tolerated thirty times in a row.
    fn failed_look(&mut self, why: &str) -> Result<Vec<Ended>, RunError> {
        self.failures += 1;
        if self.failures >= 30 {
            return Err(RunError(format!(
                "kubectl keeps failing: {why}; the Jobs ({}) are still on the cluster",
                self.submitted.keys().cloned().collect::<Vec<_>>().join(" ")
            )));
        }
        Ok(Vec::new())
    }

    /// Deletes every Job of this run that has not ended (with its pods); returns their
    /// labels and nodes.
    async fn cancel_all(&mut self) -> Cancelled {
        let mut by_ns: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, s) in &self.submitted {
            by_ns.entry(&s.namespace).or_default().push(name);
        }
        for (ns, names) in by_ns {
            let mut args = vec![
                "delete",
                "jobs",
                "-n",
                ns,
                "--wait=false",
                "--ignore-not-found",
            ];
            args.extend(names);
            let _ = kubectl(&args).await;
        }
        let nodes = self
            .submitted
            .values()
            .flat_map(|s| s.open.values().map(|o| o.node))
            .chain(self.pending.values().flatten().map(|(_, n)| *n))
            .collect();
        let labels: Vec<String> = self.submitted.values().map(|s| s.label.clone()).collect();
        self.submitted.clear();
        self.pending.clear();
        Cancelled {
            note: (!labels.is_empty())
                .then(|| format!("cancelling Kubernetes Jobs {}", labels.join(", "))),
            nodes,
        }
    }
}

/// An instance that ended, before its hook records are read.
struct Out {
    open: Open,
    id: String,
    /// Why it did not complete.
    failed: Option<String>,
    log: PathBuf,
}

impl Engine for K8sEngine<'_> {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn runs_here(&self) -> bool {
        false
    }

    fn site(&self, j: usize, index: u64, _store: &Store) -> Site {
        let run_dir = self
            .live
            .jobs
            .get(&j)
            .map(|l| l.run_dir.clone())
            .unwrap_or_default();
        let work = format!("{run_dir}/{}/{index}", job_dir(&self.plan.jobs[j].key));
        Site {
            spec_dir: self.spec_dir.clone(),
            work: PathBuf::from(work),
            run_dir: Some(run_dir),
            spark: None,
        }
    }

    fn log_dir(&self, j: usize, _index: u64, _store: &Store) -> PathBuf {
        self.run_dirs
            .get(&j)
            .map(|d| d.join("logs"))
            .unwrap_or_default()
    }

    fn start(&mut self, launch: Launch<'_>) -> Result<Started, String> {
        let key = &launch.resolved.key;
        if !self.adopt(key, launch.node, launch.name) {
            self.queue(launch.job, launch.index, launch.node)?;
            self.keys_of.insert(launch.node, key.clone());
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

    /// Puts the outputs of an instance that finished (here, elsewhere or from the cache)
    /// where the pods read them: `run-…/KEY/INDEX/PATH` in every run volume of the run.
    /// A hard link when the store is on the same file system, else a copy: a symbolic
    /// link into `.expc/` would not resolve inside a pod.
    fn hands_over_links(&self) -> bool {
        !self.run_dirs.is_empty()
    }

    fn hand_over(&self, key: &str, index: u64, outputs: &[(String, PathBuf)]) {
        let dirs: BTreeSet<&PathBuf> = self.run_dirs.values().collect();
        for run in dirs {
            let dir = run.join(job_dir(key)).join(index.to_string());
            for (rel, target) in outputs {
                let dest = dir.join(rel);
                if dest == *target {
                    continue;
                }
                if let Some(parent) = dest.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::remove_file(&dest);
                if std::fs::hard_link(target, &dest).is_err() {
                    let _ = std::fs::copy(target, &dest);
                }
            }
        }
    }

    /// Once the outputs of a completed index are stored, the journal notes that it is done
    /// (a later run will not adopt it) before its work directory is removed.
    fn release(&mut self, work: &Path, _store: &Store) {
        if let Some((name, pos)) = self.finished.remove(work) {
            let _ = self.journal.done(&name, pos);
        }
        crate::exec::remove(work);
    }

    /// Removes what the run made here and in the run volume when nothing was applied
    /// (every instance was cached, or none became ready); else keeps it.
    fn finish(&self) -> Option<Kept> {
        if self.all.is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
            for d in self.run_dirs.values() {
                let _ = std::fs::remove_dir_all(d);
            }
            return None;
        }
        Some(Kept {
            what: "Kubernetes Jobs applied",
            dir: self.dir.clone(),
        })
    }
}

/// Checks, before anything is written, that every Kubernetes-placed job can be submitted
/// from here: its resource says where its run volume is mounted here (`local_run_dir`, a
/// folder), and `kubectl` is on PATH. Returns each job's `local_run_dir`.
pub fn check(plan: &Plan) -> Result<BTreeMap<usize, PathBuf>, RunError> {
    let mut locals = BTreeMap::new();
    for (j, job) in plan.jobs.iter().enumerate() {
        if job.backend != Backend::Kubernetes {
            continue;
        }
        let Some(local) = job.placement.get("local_run_dir").and_then(Value::as_str) else {
            return Err(RunError(format!(
                "`{}` is placed on `{}`, which does not say where its run volume (`expc-run`) is mounted here, and `expc run` hands data to the pods through it. Set `local_run_dir` of `{}` (docs/kubernetes.md), or write the Jobs with `expc build --target k8s -o DIR`, or run everything here with `expc run --local`",
                job.key, job.on, job.on
            )));
        };
        let local = PathBuf::from(local);
        if !local.is_absolute() || !local.is_dir() {
            return Err(RunError(format!(
                "the `local_run_dir` of `{}` is `{}`, which is not a folder here; mount the run volume's storage there, or correct the path",
                job.on,
                local.display()
            )));
        }
        locals.insert(j, local);
    }
    if !locals.is_empty() && find_program("kubectl").is_none() {
        let names: Vec<String> = locals
            .keys()
            .map(|&j| format!("`{}` (on `{}`)", plan.jobs[j].key, plan.jobs[j].on))
            .collect();
        return Err(RunError(format!(
            "{} placed on Kubernetes, but `kubectl` is not on PATH here. Install kubectl with a context for the cluster, or write the Jobs with `expc build --target k8s -o DIR`, or run everything here with `expc run --local`",
            plural(&names, "is", "are")
        )));
    }
    Ok(locals)
}

/// What the journal says earlier runs left on the cluster, as `kubectl` sees it now: each
/// completion index still running, or completed with its work directory in place, by cache
/// key. The journal is rewritten with only those. When the cluster cannot be asked,
/// nothing is adopted and the journal is kept as it is.
fn survey(journal: &journal::Journal) -> HashMap<String, Adoptable> {
    let contents = journal.read();
    if contents.entries.is_empty() {
        return HashMap::new();
    }
    let namespaces: BTreeSet<&String> = contents.ids.values().collect();
    let mut jobs: HashMap<(String, String), JobStatus> = HashMap::new();
    for ns in namespaces {
        let out = std::process::Command::new("kubectl")
            .args(["get", "jobs", "-n", ns, "-l", LABEL_RUN, "-o", "json"])
            .output();
        let Some(found) = out
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| parse_jobs(&String::from_utf8_lossy(&o.stdout)))
        else {
            return HashMap::new();
        };
        jobs.extend(found.into_iter().map(|(name, s)| ((ns.clone(), name), s)));
    }
    let mut adoptable = HashMap::new();
    let mut keep = Vec::new();
    for e in &contents.entries {
        let Some(ns) = contents.ids.get(&e.token) else {
            continue;
        };
        let Some(status) = jobs.get(&(ns.clone(), e.token.clone())) else {
            continue;
        };
        let completed = status.completed.contains(&e.task);
        let usable = if completed {
            e.work().is_dir()
        } else {
            !status.failed.contains(&e.task) && status.failure.is_none()
        };
        if usable && !e.key.is_empty() {
            keep.push(e);
            adoptable.insert(
                e.key.clone(),
                Adoptable {
                    entry: e.clone(),
                    namespace: ns.clone(),
                    completed,
                },
            );
        }
    }
    let _ = journal.compact(&keep, &contents.ids);
    adoptable
}

/// The state of one Job, from `kubectl get jobs -o json`.
#[derive(Debug, Default, PartialEq)]
struct JobStatus {
    completed: Vec<u64>,
    failed: Vec<u64>,
    /// Set when the Job as a whole failed: its reason and message.
    failure: Option<String>,
}

/// The Jobs of a `kubectl get jobs -o json` list, by name; `None` when it is not one.
fn parse_jobs(text: &str) -> Option<HashMap<String, JobStatus>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let items = v.get("items")?.as_array()?;
    let mut out = HashMap::new();
    for item in items {
        let Some(name) = item.pointer("/metadata/name").and_then(|n| n.as_str()) else {
            continue;
        };
        let status = item.get("status");
        let field = |f: &str| {
            status
                .and_then(|s| s.get(f))
                .and_then(|v| v.as_str())
                .map(parse_indexes)
                .unwrap_or_default()
        };
        let failure = status
            .and_then(|s| s.get("conditions"))
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .find(|c| {
                c.get("type").and_then(|t| t.as_str()) == Some("Failed")
                    && c.get("status").and_then(|t| t.as_str()) == Some("True")
            })
            .map(|c| {
                let reason = c.get("reason").and_then(|t| t.as_str()).unwrap_or("Failed");
                match c.get("message").and_then(|t| t.as_str()) {
                    Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                    _ => reason.to_owned(),
                }
            });
        out.insert(
            name.to_owned(),
            JobStatus {
                completed: field("completedIndexes"),
                failed: field("failedIndexes"),
                failure,
            },
        );
    }
    Some(out)
}

/// `1,3-5` → `[1, 3, 4, 5]` (Kubernetes' `completedIndexes`); what is not a number or
/// a range is left out.
fn parse_indexes(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                    if a <= b && b - a < 1_000_000 {
                        out.extend(a..=b);
                    }
                }
            }
            None => out.extend(part.parse::<u64>().ok()),
        }
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Runs `kubectl ARGS`: its standard output, or its standard error when it fails.
async fn kubectl(args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("kubectl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(if err.trim().is_empty() {
            format!(
                "kubectl {} exited with {}",
                args.first().unwrap_or(&""),
                out.status
            )
        } else {
            err.trim().to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_are_read_as_kubernetes_writes_them() {
        assert_eq!(parse_indexes("0-3,7,9-10"), vec![0, 1, 2, 3, 7, 9, 10]);
        assert_eq!(parse_indexes(""), Vec::<u64>::new());
        assert_eq!(parse_indexes("5"), vec![5]);
        assert_eq!(parse_indexes("x,2,4-3"), vec![2]);
    }

    #[test]
    fn job_lists_give_each_jobs_indexes_and_failure() {
        let text = r#"{"apiVersion":"v1","kind":"List","items":[
          {"metadata":{"name":"a"},"status":{"completedIndexes":"0-1","failedIndexes":"2"}},
          {"metadata":{"name":"b"},"status":{"conditions":[
             {"type":"Failed","status":"True","reason":"DeadlineExceeded","message":"Job was active longer than specified deadline"}]}},
          {"metadata":{"name":"c"},"status":{"conditions":[{"type":"Failed","status":"False"}]}}]}"#;
        let jobs = parse_jobs(text).unwrap();
        assert_eq!(jobs["a"].completed, vec![0, 1]);
        assert_eq!(jobs["a"].failed, vec![2]);
        assert_eq!(jobs["a"].failure, None);
        assert_eq!(
            jobs["b"].failure.as_deref(),
            Some("DeadlineExceeded: Job was active longer than specified deadline")
        );
        assert_eq!(jobs["c"], JobStatus::default());
        assert!(parse_jobs("error: the server doesn't have a resource type").is_none());
    }
}
