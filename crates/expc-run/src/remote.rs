//! The engines the scheduler submits instances to — Slurm ([`slurm`]) and Kubernetes
//! ([`k8s`]) — behind one interface: queue what is ready, submit it in batches, look at
//! what ended, cancel, and hand finished outputs over to where the engine's jobs read
//! them. Spark runs from this machine (`spark-submit`), like a local task.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use expc_check::ir::{self, Backend};
use expc_plan::dag::Instance;
use expc_plan::plan::{Plan, Relation};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::slurm::HookSummary;
use crate::{RunError, k8s, slurm};

/// One instance that ended on an engine.
#[derive(Debug, Clone)]
pub struct Ended {
    pub node: usize,
    /// The engine's name for it: Slurm's `JOB_TASK`, or `JOB[INDEX]` on Kubernetes.
    pub id: String,
    pub completed: bool,
    pub message: String,
    /// Its log (stdout and stderr), copied here for Kubernetes; read for a failure.
    pub log: PathBuf,
    /// `Slurm job` or `Kubernetes Job`, for messages.
    pub engine: &'static str,
}

#[derive(Debug, Default)]
pub struct Remote {
    pub slurm: Option<slurm::SlurmBackend>,
    pub k8s: Option<k8s::K8sBackend>,
}

impl Remote {
    /// The engines `plan` submits to (none with `local`), checked and prepared.
    pub fn prepare(
        program: &ir::Program,
        plan: &Plan,
        local: bool,
        state_dir: &Path,
        spec_dir: &Path,
    ) -> Result<Self, RunError> {
        if local {
            return Ok(Remote::default());
        }
        let slurm = slurm::applies(plan)
            .then(|| slurm::SlurmBackend::prepare(program, plan, state_dir, spec_dir))
            .transpose()?;
        let k8s = k8s::applies(plan)
            .then(|| k8s::K8sBackend::prepare(program, plan, state_dir, spec_dir))
            .transpose()?;
        Ok(Remote { slurm, k8s })
    }

    /// Whether the instances of job `j` go to an engine rather than run here.
    pub fn takes(&self, plan: &Plan, j: usize) -> bool {
        match plan.jobs[j].backend {
            Backend::Slurm => self.slurm.is_some(),
            Backend::Kubernetes => self.k8s.as_ref().is_some_and(|b| b.has_job(j)),
            _ => false,
        }
    }

    /// Where instance `index` of job `j` works on its engine, as seen here.
    pub fn work_dir(&self, plan: &Plan, j: usize, index: u64) -> Option<PathBuf> {
        let key = &plan.jobs[j].key;
        match plan.jobs[j].backend {
            Backend::Slurm => Some(self.slurm.as_ref()?.work_dir(key, index)),
            Backend::Kubernetes => self.k8s.as_ref()?.work_dir(j, key, index),
            _ => None,
        }
    }

    /// Where the logs of job `j`'s instances are kept.
    pub fn log_dir(&self, plan: &Plan, j: usize) -> PathBuf {
        match plan.jobs[j].backend {
            Backend::Slurm => self.slurm.as_ref().map(|b| b.run_dir.join("logs")),
            Backend::Kubernetes => self
                .k8s
                .as_ref()
                .and_then(|b| b.run_dir(j))
                .map(|d| d.join("logs")),
            _ => None,
        }
        .unwrap_or_default()
    }

    pub fn queue(&mut self, plan: &Plan, j: usize, index: u64, node: usize) -> Result<(), String> {
        match (plan.jobs[j].backend, self.slurm.as_mut(), self.k8s.as_mut()) {
            (Backend::Slurm, Some(b), _) => b.queue(j, index, node),
            (Backend::Kubernetes, _, Some(b)) => b.queue(j, index, node),
            _ => Err("the job is not placed on an engine this run submits to".into()),
        }
    }

    pub fn has_pending(&self) -> bool {
        self.slurm.as_ref().is_some_and(|b| b.has_pending())
            || self.k8s.as_ref().is_some_and(|b| b.has_pending())
    }

    pub fn busy(&self) -> bool {
        self.slurm.as_ref().is_some_and(|b| b.busy()) || self.k8s.as_ref().is_some_and(|b| b.busy())
    }

    /// Submits what is queued on every engine. Returns a line per submission, and the
    /// nodes whose submission failed, with why.
    pub async fn submit(&mut self) -> (Vec<String>, Vec<(usize, String)>) {
        let (mut notes, mut failed) = (Vec::new(), Vec::new());
        if let Some(b) = self.slurm.as_mut().filter(|b| b.has_pending()) {
            let (n, f) = b.submit().await;
            notes.extend(n);
            failed.extend(f);
        }
        if let Some(b) = self.k8s.as_mut().filter(|b| b.has_pending()) {
            let (n, f) = b.submit().await;
            notes.extend(n);
            failed.extend(f);
        }
        (notes, failed)
    }

    /// One look at every engine with instances out: what ended since the last look.
    pub async fn poll(
        &mut self,
        plan: &Plan,
        graph: &DiGraph<Instance, Relation, u32>,
    ) -> Result<Vec<Ended>, RunError> {
        let mut ended = Vec::new();
        if let Some(b) = self.slurm.as_mut().filter(|b| b.busy()) {
            for e in b.poll().await? {
                let key = &plan.jobs[graph[NodeIndex::new(e.node)].job as usize].key;
                let (job, task) = e.slurm_id.split_once('_').unwrap_or((&e.slurm_id, "0"));
                ended.push(Ended {
                    node: e.node,
                    log: b.log_path(key, job, task),
                    id: e.slurm_id,
                    completed: e.completed,
                    message: e.message,
                    engine: "Slurm job",
                });
            }
        }
        if let Some(b) = self.k8s.as_mut().filter(|b| b.busy()) {
            ended.extend(b.poll().await?);
        }
        Ok(ended)
    }

    /// Cancels what every engine has of this run and has not ended: a line naming what
    /// was cancelled (if anything), and the nodes.
    pub async fn cancel(&mut self) -> (Option<String>, Vec<usize>) {
        let mut parts = Vec::new();
        let mut nodes = Vec::new();
        if let Some(b) = self.slurm.as_mut() {
            let (labels, n) = b.cancel().await;
            if !labels.is_empty() {
                parts.push(format!("Slurm jobs {}", labels.join(", ")));
            }
            nodes.extend(n);
        }
        if let Some(b) = self.k8s.as_mut() {
            let (labels, n) = b.cancel().await;
            if !labels.is_empty() {
                parts.push(format!("Kubernetes Jobs {}", labels.join(", ")));
            }
            nodes.extend(n);
        }
        let note = (!parts.is_empty()).then(|| format!("cancelling {}", parts.join(" and ")));
        (note, nodes)
    }

    /// Makes the outputs of a finished instance of job `j` readable by the engines' jobs,
    /// at `RUN/KEY/INDEX/PATH`, whatever ran it.
    pub fn hand_over(
        &self,
        plan: &Plan,
        j: usize,
        index: u64,
        files: &BTreeMap<String, (PathBuf, String)>,
    ) {
        if self.slurm.is_none() && self.k8s.is_none() {
            return;
        }
        let job = &plan.jobs[j];
        let outputs: Vec<(String, PathBuf)> = job
            .outputs
            .iter()
            .filter_map(|o| Some((o.path.clone(), files.get(&o.name)?.0.clone())))
            .collect();
        if let Some(b) = &self.slurm {
            b.link_outputs(&job.key, index, &outputs);
        }
        if let Some(b) = &self.k8s {
            b.hand_over(&job.key, index, &outputs);
        }
    }

    /// What the provenance hook of the engine recorded of instance `index` of job `j`.
    pub fn hook_record(&self, plan: &Plan, j: usize, index: u64) -> Option<HookSummary> {
        let key = &plan.jobs[j].key;
        match plan.jobs[j].backend {
            Backend::Slurm => self.slurm.as_ref()?.hook_record(key, index),
            Backend::Kubernetes => self.k8s.as_ref()?.hook_record(j, key, index),
            _ => None,
        }
    }

    /// Removes what engines that were given nothing made; returns the folders kept:
    /// Slurm's and Kubernetes'.
    pub fn tidy(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        let slurm = self
            .slurm
            .as_ref()
            .filter(|b| b.tidy())
            .and_then(|b| b.run_dir.parent().map(PathBuf::from));
        let k8s = self
            .k8s
            .as_ref()
            .filter(|b| b.tidy())
            .map(|b| b.dir.clone());
        (slurm, k8s)
    }
}
