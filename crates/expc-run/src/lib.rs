//! `expc run`: the interpreter of a plan.
//!
//! Runs the task instances of a plan's DAG where each is placed — a process here, a
//! Spark application submitted from here, an array task on Slurm, an index of a
//! Kubernetes Indexed Job — through one [`engine::Engine`] interface, with one cache and
//! one provenance record for all. Every instance has a cache key — the hash of
//! everything that can change its result ([`key`]) — and an instance whose key has a
//! complete entry in the store does not run: its outputs are linked from the store
//! instead. See [`store`] for the layout of `.expc/` and why a killed run can always be
//! resumed.
//!
//! The pieces: what is checked first ([`preflight`]), where and how each instance's
//! command is made concrete ([`resolve`], over the one evaluator of `expc_plan::command`),
//! the engines ([`engine`]), the loop that drives them ([`scheduler`]), and what the run
//! reports ([`events`]) — the only types a listener such as provenance needs.

pub mod engine;
pub mod events;
mod exec;
pub mod hash;
pub mod hook;
pub mod ingest;
mod key;
pub mod lock;
mod machine;
mod preflight;
pub mod produced;
mod remote;
pub mod resolve;
mod scheduler;
pub mod stamp;
pub mod store;
mod tables;
pub mod why;

use std::path::PathBuf;
use std::time::Duration;

use expc_check::ir::{self, Backend};
use expc_plan::dag::Dag;
use expc_plan::plan::Plan;

use engine::Engine;
pub use events::{
    Event, Failure, Generated, InstanceRecord, Kept, MadeBy, Outcome, RemoteInput, Sink, Summary,
    Used,
};
pub use preflight::preflight;
use resolve::Resolver;
use scheduler::{Engines, Scheduler};
use store::Store;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most task instances running at once.
    pub jobs: usize,
    /// Run every task here, whatever its placement.
    pub local: bool,
    /// Stop starting tasks after the first failure (and stop the running ones).
    pub fail_fast: bool,
    /// The `.expc` directory.
    pub state_dir: PathBuf,
    /// The folder of the spec, against which data paths are resolved.
    pub spec_dir: PathBuf,
    /// `--master` for Spark tasks run here.
    pub spark_master: String,
    /// How long a task gets after SIGTERM before SIGKILL.
    pub grace: Duration,
    /// Time between two looks at the Slurm queue.
    pub poll: Duration,
    /// How long a cluster job may wait in the queue before the run warns, with the
    /// scheduler's reason (`--warn-pending`).
    pub warn_pending: Duration,
    /// The id under which provenance records the run, if it does: the cache entries the
    /// run makes name it (with their instance's record number), so that a later run that
    /// reuses one records a reference to that record instead of a copy.
    pub run_id: Option<String>,
    /// A digest of what the program and plan are made from (the spec and its imports, the
    /// params, the pipeline), when the caller knows it: with it, an instance whose inputs
    /// are those of its last success has that success's key, found without resolving it.
    pub fingerprint: Option<String>,
    /// When another process holds the state folder's lock: wait for it (else refuse).
    pub wait: bool,
    /// The run was detached (`expc run --detach`): only SIGINT (`expc cancel`) stops it
    /// and cancels what it submitted. SIGTERM and SIGHUP keep their usual effect on the
    /// head alone, which leaves its cluster jobs running for `expc attach` to adopt.
    pub detached: bool,
    /// How remote inputs may be reached (`--refresh`, `--locked`, `--offline`).
    pub remote: expc_remote::Mode,
}

/// A fatal problem before anything ran.
#[derive(Debug)]
pub struct RunError(pub String);

/// The name of an instance in messages: `t`, or `t[3]` inside a sweep.
pub fn instance_name(plan: &Plan, job: usize, index: u64) -> String {
    plan.instance_name(job, index)
}

/// Runs the plan. Blocks until every instance has finished, failed or been skipped, or
/// the run is interrupted.
pub fn run(
    program: &ir::Program,
    plan: &Plan,
    dag: &Dag,
    opts: &RunOptions,
    sink: &mut dyn Sink,
) -> Result<Summary, RunError> {
    // Nothing is written before the checks pass.
    let stat_path = opts.state_dir.join("stat-cache.json");
    let mut stats = hash::StatCache::load(&stat_path);
    let mut resolver = Resolver::new(program, plan, opts.spec_dir.clone());
    preflight(program, plan, opts, &mut resolver, &mut stats)?;
    // `expc why` does not need the secrets' values: only a run checks them.
    preflight::secrets(program, plan, &resolver)?;
    let remote = remote::recorded(&resolver);
    if !remote.is_empty() {
        sink.remote_inputs(&remote);
    }
    // One run per state folder: taken before anything in it is written (and held until
    // the run's end, the store and the lock dropped last).
    let lock = take_lock(opts, sink)?;
    let store = Store::open(&opts.state_dir)
        .map_err(|e| RunError(format!("cannot use `{}`: {e}", opts.state_dir.display())))?;
    store.clean_tmp();
    let engines = engines(program, plan, opts)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError(format!("cannot start the scheduler: {e}")))?;
    let scheduler = Scheduler::new(plan, dag, opts, &store, &resolver, engines, sink);
    let summary = runtime.block_on(scheduler.run());
    // The stamps of objects this run found good or moved, for the next run to trust.
    store.save_stamps().ok();
    // Outputs are hashed without the stat cache; stores from before kept their paths.
    stats.forget_under(&opts.state_dir.join("tmp"));
    stats.save(&stat_path).ok();
    free_later((store, stats));
    drop(lock);
    Ok(summary)
}

/// The state folder's lock, waited for with `--wait` (saying for whom), else refused.
fn take_lock(opts: &RunOptions, sink: &mut dyn Sink) -> Result<lock::StateLock, RunError> {
    let taken = if opts.wait {
        lock::StateLock::acquire_waiting(&opts.state_dir, |holder| {
            sink.event(Event::Note {
                message: format!(
                    "waiting for {} to finish with `{}`",
                    lock::describe(holder),
                    opts.state_dir.display()
                ),
            });
        })
    } else {
        lock::StateLock::try_acquire(&opts.state_dir)
    };
    taken.map_err(|e| RunError(e.to_string()))
}

/// The engines the plan's jobs run on: all here with `--local`, else each job's
/// placement's, each engine prepared (and checked) once.
fn engines<'p>(
    program: &'p ir::Program,
    plan: &'p Plan,
    opts: &RunOptions,
) -> Result<Engines<'p>, RunError> {
    let local = engine::local::LocalEngine::new(plan, &opts.spec_dir, &opts.spark_master);
    let mut engines: Vec<Box<dyn Engine + 'p>> = vec![Box::new(local)];
    let mut route = vec![0; plan.jobs.len()];
    if opts.local {
        return Ok(Engines { engines, route });
    }
    for backend in [Backend::Spark, Backend::Slurm, Backend::Kubernetes] {
        let jobs: Vec<usize> = (0..plan.jobs.len())
            .filter(|&j| plan.jobs[j].backend == backend)
            .collect();
        if jobs.is_empty() {
            continue;
        }
        let spec_dir = &opts.spec_dir;
        let state_dir = &opts.state_dir;
        let e: Box<dyn Engine + 'p> = match backend {
            Backend::Spark => Box::new(engine::spark::engine(plan, spec_dir)),
            Backend::Slurm => Box::new(engine::slurm::SlurmEngine::prepare(
                program,
                plan,
                state_dir,
                spec_dir,
                opts.warn_pending,
            )?),
            _ => Box::new(engine::k8s::K8sEngine::prepare(
                program, plan, state_dir, spec_dir,
            )?),
        };
        for j in jobs {
            route[j] = engines.len();
        }
        engines.push(e);
    }
    Ok(Engines { engines, route })
}

/// Frees a large structure on a thread of its own: the tens of thousands of small
/// allocations of a big run's maps take milliseconds to free, which its end need not wait
/// for (the process may well exit first, which frees them at once).
pub(crate) fn free_later<T: Send + 'static>(value: T) {
    // When no thread can be made, `value` is freed here, with the closure.
    let _ = std::thread::Builder::new().spawn(move || drop(value));
}
