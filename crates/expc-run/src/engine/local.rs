//! The local engine: each instance is a process of this machine, spawned from its argv in
//! a work directory of its own under `.expc/tmp/` ([`crate::exec`]). With `expc run
//! --local` every instance runs here, a `spark` task's application with `spark-submit
//! --master local[N]`; the Spark engine ([`super::spark`]) is this engine with each
//! application submitted to its job's Spark resource.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use expc_plan::plan::Plan;

use super::{BoxFuture, Cancelled, Engine, Launch, Started};
use crate::exec;
use crate::resolve::{Site, SparkSubmit, local_site};
use crate::store::Store;

/// Processes of this machine: their process groups, to stop them, and the emptied work
/// directories kept for the next ones.
#[derive(Debug)]
pub struct Processes {
    groups: exec::Groups,
    spares: exec::Spares,
}

impl Default for Processes {
    fn default() -> Self {
        Processes {
            groups: Arc::new(Mutex::new(Default::default())),
            spares: exec::Spares::default(),
        }
    }
}

impl Processes {
    /// Spawns instance `launch` of `plan` as a process: its future ends when every
    /// attempt has.
    pub fn start(&mut self, plan: &Plan, launch: Launch<'_>) -> Started {
        let job = &plan.jobs[launch.job];
        let r = launch.resolved;
        let spec = exec::Spec {
            name: launch.name.to_owned(),
            argv: r.argv.clone(),
            env: r.env.clone(),
            secrets: r.secrets.clone(),
            outputs: r.outputs.clone(),
            configs: r.configs.clone(),
            stdout_to: r.stdout_to.clone(),
            first_work: launch.work,
            attempts: job.retry.attempts + 1,
            backoff: Duration::from_millis(job.retry.backoff_ms),
            time_limit: job.resources.time_ms.map(Duration::from_millis),
            log_dir: launch.log_dir,
            groups: self.groups.clone(),
            node: launch.node,
            spare: self.spares.take(),
        };
        Started::Process(Box::pin(exec::execute(spec)))
    }

    /// SIGTERM to every process group, SIGKILL to those left after `grace`.
    pub fn cancel(&mut self, grace: Duration) -> BoxFuture<'_, Cancelled> {
        let groups = self.groups.clone();
        Box::pin(async move {
            exec::terminate(&groups, grace).await;
            Cancelled::default()
        })
    }

    /// Keeps an emptied work directory for a later instance, or removes it.
    pub fn release(&mut self, work: &Path, store: &Store) {
        let tmp = store.tmp_dir();
        if work.parent() == Some(tmp.as_path()) {
            self.spares.recycle(work, &tmp);
        } else {
            exec::remove(work);
        }
    }
}

/// Instances run as processes here.
#[derive(Debug)]
pub struct LocalEngine<'p> {
    name: &'static str,
    plan: &'p Plan,
    spec_dir: PathBuf,
    /// How a `spark` task's application is submitted from here.
    spark: SparkSubmits,
    processes: Processes,
}

/// Where the applications of `spark` tasks run.
#[derive(Debug)]
enum SparkSubmits {
    /// All on one master (`local[N]`: this machine).
    All(SparkSubmit),
    /// Each job's on its own, by position in the plan ([`super::spark`]).
    ByJob(BTreeMap<usize, SparkSubmit>),
}

impl<'p> LocalEngine<'p> {
    /// Every instance here, a `spark` task's application on `spark_master`.
    pub fn new(plan: &'p Plan, spec_dir: &Path, spark_master: &str) -> Self {
        LocalEngine {
            name: "local",
            plan,
            spec_dir: spec_dir.to_path_buf(),
            spark: SparkSubmits::All(SparkSubmit::local(spark_master)),
            processes: Processes::default(),
        }
    }

    /// Applications submitted from here, each job's as `submits` says.
    pub fn submitting(
        name: &'static str,
        plan: &'p Plan,
        spec_dir: &Path,
        submits: BTreeMap<usize, SparkSubmit>,
    ) -> Self {
        LocalEngine {
            name,
            plan,
            spec_dir: spec_dir.to_path_buf(),
            spark: SparkSubmits::ByJob(submits),
            processes: Processes::default(),
        }
    }
}

impl Engine for LocalEngine<'_> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn runs_here(&self) -> bool {
        true
    }

    fn site(&self, j: usize, index: u64, store: &Store) -> Site {
        let work = store.work_path(&self.plan.jobs[j].key, index);
        let spark = match &self.spark {
            SparkSubmits::All(s) => Some(s.clone()),
            SparkSubmits::ByJob(by_job) => by_job.get(&j).cloned(),
        };
        local_site(&self.spec_dir, work, spark)
    }

    fn log_dir(&self, j: usize, index: u64, store: &Store) -> PathBuf {
        store.log_dir(&self.plan.jobs[j].key, index)
    }

    fn start(&mut self, launch: Launch<'_>) -> Result<Started, String> {
        Ok(self.processes.start(self.plan, launch))
    }

    fn cancel(&mut self, grace: Duration) -> BoxFuture<'_, Cancelled> {
        self.processes.cancel(grace)
    }

    fn release(&mut self, work: &Path, store: &Store) {
        self.processes.release(work, store);
    }
}
