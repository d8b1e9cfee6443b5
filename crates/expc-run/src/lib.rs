//! `expc run`: the local interpreter.
//!
//! Runs the task instances of a plan's DAG as processes, as many at once as `-j` and the
//! machine's CPUs and memory allow, each in a work directory of its own, spawned from its
//! argv (no shell unless the task is a `shell` task). Every instance has a cache key — the
//! hash of everything that can change its result (see [`resolve`]) — and an instance whose
//! key has a complete entry in the store does not run: its outputs are linked from the
//! store instead. See [`store`] for the layout of `.expc/` and why a killed run can always
//! be resumed.

pub mod events;
mod exec;
pub mod hash;
pub mod k8s;
pub mod remote;
pub mod resolve;
pub mod slurm;
pub mod store;
pub mod why;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use expc_check::ir::{self, Backend};
use expc_plan::dag::Dag;
use expc_plan::plan::Plan;
use petgraph::graph::NodeIndex;

pub use events::{Event, Generated, InstanceRecord, Sink};
use resolve::{Outputs, Resolver};
use store::{CacheEntry, MadeBy, Store, StoredOutput, StoredOutputs};

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
    /// The id under which provenance records the run, if it does: the cache entries the
    /// run makes name it (with their instance's record number), so that a later run that
    /// reuses one records a reference to that record instead of a copy.
    pub run_id: Option<String>,
    /// A digest of what the program and plan are made from (the spec and its imports, the
    /// params, the pipeline), when the caller knows it: with it, an instance whose inputs
    /// are those of its last success has that success's key, found without resolving it.
    pub fingerprint: Option<String>,
}

/// How one instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ran,
    Cached,
    Failed,
    /// Not run because an instance it reads failed.
    Skipped,
    /// Not run because the run was stopped.
    NotRun,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub task: String,
    pub exit_code: Option<i32>,
    pub message: String,
    pub stderr_tail: Vec<String>,
    pub log_dir: PathBuf,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub ran: usize,
    pub cached: usize,
    pub failed: Vec<Failure>,
    pub skipped: usize,
    pub not_run: usize,
    pub interrupted: bool,
    pub elapsed: Duration,
    /// Outputs of the instances of jobs that nothing reads: what the run made.
    pub final_outputs: Vec<(String, PathBuf)>,
    /// Where the Slurm jobs of the run were written and ran (scripts, logs, work
    /// directories, hook records), when the run submitted to Slurm.
    pub slurm_dir: Option<PathBuf>,
    /// Where the Kubernetes Jobs the run applied were written, when it applied any.
    pub k8s_dir: Option<PathBuf>,
}

impl Summary {
    pub fn success(&self) -> bool {
        self.failed.is_empty() && !self.interrupted && self.skipped == 0 && self.not_run == 0
    }
}

/// A fatal problem before anything ran.
#[derive(Debug)]
pub struct RunError(pub String);

/// The name of an instance in messages: `t`, or `t[3]` inside a sweep.
pub fn instance_name(plan: &Plan, job: usize, index: u64) -> String {
    let j = &plan.jobs[job];
    if j.loops.is_empty() {
        j.key.clone()
    } else {
        format!("{}[{index}]", j.key)
    }
}

/// The pipeline calls of a program, by binding.
pub fn calls(program: &ir::Program, pipeline: &str) -> HashMap<String, ir::Call> {
    fn walk(body: &[ir::Stmt], out: &mut HashMap<String, ir::Call>) {
        for s in body {
            match s {
                ir::Stmt::Call(c) => {
                    out.insert(c.binding.clone(), c.clone());
                }
                ir::Stmt::For { body, .. } => walk(body, out),
            }
        }
    }
    let mut out = HashMap::new();
    if let Some(p) = program.pipelines.iter().find(|p| p.id == pipeline) {
        walk(&p.body, &mut out);
    }
    out
}

/// Checks what can be checked before anything starts: placements without `--local`,
/// pinned digests of data.
pub fn preflight(
    program: &ir::Program,
    plan: &Plan,
    opts: &RunOptions,
    resolver: &mut Resolver<'_>,
    stats: &mut hash::StatCache,
) -> Result<(), RunError> {
    if !opts.local {
        k8s::check(plan)?;
        for j in plan.jobs.iter().filter(|j| j.backend == Backend::Spark) {
            if let Some(task) = resolver.task(j) {
                resolve::SparkSubmit::check_resource(j, task).map_err(RunError)?;
            }
            let submit = resolve::SparkSubmit::for_resource(j, &opts.spec_dir);
            let found = if submit.program.contains('/') {
                std::path::Path::new(&submit.program).is_file()
            } else {
                slurm::find_program(&submit.program).is_some()
            };
            if !found {
                return Err(RunError(format!(
                    "`{}` is placed on Spark (`{}`), but `{}` cannot be found. Install Spark (or `pip install pyspark`), set `spark_home` on the resource, or run everything here with `expc run --local`",
                    j.key, j.on, submit.program
                )));
            }
        }
    }
    // Declared data that some call or task reads must exist, and match its pinned digest.
    let mut used = std::collections::BTreeSet::new();
    for call in calls(program, &plan.pipeline).values() {
        for e in call.args.values() {
            artifacts_in(e, &mut used);
        }
    }
    for t in &program.tasks {
        used.extend(t.uses.iter().cloned());
    }
    let mut missing = Vec::new();
    for id in resolver.artifact_ids() {
        if !used.contains(&id) {
            continue;
        }
        let path = resolver.artifact_path(&id);
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

fn artifacts_in(e: &ir::IrExpr, out: &mut std::collections::BTreeSet<String>) {
    match e {
        ir::IrExpr::Artifact { id } => {
            out.insert(id.clone());
        }
        ir::IrExpr::List { items } | ir::IrExpr::Concat { parts: items } => {
            items.iter().for_each(|i| artifacts_in(i, out));
        }
        ir::IrExpr::Template { parts } => parts.iter().for_each(|p| {
            if let ir::IrPart::Interp { expr } = p {
                artifacts_in(expr, out);
            }
        }),
        ir::IrExpr::Value {
            value: expc_check::value::Value::Artifact(id),
        } => {
            out.insert(id.clone());
        }
        _ => {}
    }
}

struct Launch {
    node: usize,
    resolved: resolve::Resolved,
    log_dir: PathBuf,
    cpus: u64,
    mem: u64,
    started: Instant,
    started_at: SystemTime,
    /// The instance's fingerprint, noted with its key once it succeeds.
    fingerprint: Option<String>,
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
    let store = Store::open(&opts.state_dir)
        .map_err(|e| RunError(format!("cannot use `{}`: {e}", opts.state_dir.display())))?;
    store.clean_tmp();
    let mut remote =
        remote::Remote::prepare(program, plan, opts.local, &opts.state_dir, &opts.spec_dir)?;
    let calls = calls(program, &plan.pipeline);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError(format!("cannot start the scheduler: {e}")))?;
    let summary = runtime.block_on(schedule(
        plan,
        dag,
        opts,
        sink,
        &store,
        &resolver,
        &calls,
        &mut remote,
    ));
    // Outputs are hashed without the stat cache; stores from before kept their paths.
    stats.forget_under(&opts.state_dir.join("tmp"));
    stats.save(&stat_path).ok();
    free_later((store, stats));
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn schedule(
    plan: &Plan,
    dag: &Dag,
    opts: &RunOptions,
    sink: &mut dyn Sink,
    store: &Store,
    resolver: &Resolver<'_>,
    calls: &HashMap<String, ir::Call>,
    remote: &mut remote::Remote,
) -> Summary {
    use petgraph::Direction;
    let started = Instant::now();
    let mut numbered = Numbered { sink, records: 0 };
    let sink = &mut numbered;
    let run_id = opts.run_id.as_deref();
    let run_fingerprint = opts
        .fingerprint
        .as_deref()
        .map(|f| resolver.run_fingerprint(f));
    let graph = &dag.graph;
    let n = graph.node_count();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as u64;
    let cap_cpus = cores.max(opts.jobs as u64);
    let cap_mem = machine_memory().unwrap_or(u64::MAX);
    let mut remaining: Vec<usize> = (0..n)
        .map(|i| {
            graph
                .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                .count()
        })
        .collect();
    let mut outcome: Vec<Option<Outcome>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|i| remaining[*i] == 0).collect();
    let mut outputs = Outputs::default();
    let mut summary = Summary::default();
    let mut running = tokio::task::JoinSet::new();
    let mut launched: HashMap<usize, Launch> = HashMap::new();
    let (mut used_cpus, mut used_mem) = (0u64, 0u64);
    let groups: exec::Groups = Arc::new(Mutex::new(Default::default()));
    let mut last = store.load_last();
    // Bookkeeping of finished instances, done once their dependents have started.
    let mut later: Vec<(String, Bookkeeping)> = Vec::new();
    let mut spares = exec::Spares::default();
    let mut stopping = false;
    // Ctrl-C is taken over now, not when the loop first gets round to waiting for it: an
    // interrupt right after the first submission must still cancel it.
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    // Which jobs go to Slurm or Kubernetes, and how each Spark job is submitted.
    let on_remote: Vec<bool> = (0..plan.jobs.len())
        .map(|j| remote.takes(plan, j))
        .collect();
    let spark: Vec<resolve::SparkSubmit> = plan
        .jobs
        .iter()
        .map(|j| {
            if !opts.local && j.backend == Backend::Spark {
                resolve::SparkSubmit::for_resource(j, &opts.spec_dir)
            } else {
                resolve::SparkSubmit::local(&opts.spark_master)
            }
        })
        .collect();
    let mut submitted: HashMap<usize, Launch> = HashMap::new();
    let mut ticker = tokio::time::interval(opts.poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    summary.slurm_dir = remote
        .slurm
        .as_ref()
        .and_then(|b| b.run_dir.parent().map(PathBuf::from));
    summary.k8s_dir = remote.k8s.as_ref().map(|b| b.dir.clone());
    sink.event(Event::RunStarted {
        instances: n as u64,
    });
    loop {
        // Start what can start.
        // Nothing starts once the run is stopping.
        let mut spawned = false;
        loop {
            if stopping {
                break;
            }
            let Some(pos) = ready.iter().position(|&node| {
                let j = graph[NodeIndex::new(node)].job as usize;
                let (cpus, mem) = demand(plan, j, cap_cpus, cap_mem);
                // Instances on Slurm or Kubernetes take nothing from this machine.
                on_remote[j]
                    || launched.is_empty()
                    || (launched.len() < opts.jobs
                        && used_cpus + cpus <= cap_cpus
                        && used_mem.saturating_add(mem) <= cap_mem)
            }) else {
                break;
            };
            let node = ready.remove(pos).unwrap_or_default();
            let inst = graph[NodeIndex::new(node)];
            let (j, index) = (inst.job as usize, inst.index as u64);
            let job = &plan.jobs[j];
            let name = instance_name(plan, j, index);
            let Some(call) = calls.get(&job.key) else {
                continue;
            };
            let fingerprint = run_fingerprint
                .as_ref()
                .map(|f| resolver.fingerprint(f, j, index, &outputs));
            // Made from what its last success was made from: its key is that success's,
            // and when its outputs are still there and provenance can refer to the record
            // that made them, nothing else about it is needed, and it is not resolved.
            let shortcut = fingerprint
                .as_deref()
                .and_then(|f| last.known(&job.key, index, f))
                .and_then(|(key, entry)| {
                    // The entry noted with the key, or else the index's (then noted).
                    let noted = entry.and_then(|e| store.hit_of_entry(e));
                    let to_note = noted.is_none();
                    let hit = noted.or_else(|| store.lookup(key))?;
                    Some((key.to_owned(), hit, to_note))
                })
                .filter(|(_, hit, _)| hit.made_by.as_ref().is_some_and(|m| sink.can_refer(m)))
                .and_then(|(key, hit, to_note)| {
                    let files = materialise(store, plan, j, index, &hit.outputs).ok()?;
                    if to_note {
                        let outputs = hit.outputs.iter().map(|(n, o)| (n.as_str(), o));
                        if let Some(entry) = store::entry_text(hit.made_by.as_ref(), outputs) {
                            last.attach(&job.key, index, &key, entry);
                        }
                    }
                    Some((key, hit, files))
                });
            let resolved = if shortcut.is_some() {
                None
            } else {
                let work = match remote.work_dir(plan, j, index) {
                    Some(w) if on_remote[j] => w,
                    _ => store.work_path(&job.key, index),
                };
                match resolver.resolve(j, index, call, &work, &outputs, &spark[j]) {
                    Ok(r) => Some((r, work)),
                    Err(e) => {
                        let r = record(plan, j, index, Outcome::Failed, None);
                        refused(&mut summary, &mut outcome, node, sink, &name, r, e);
                        release(graph, node, &mut remaining, &mut ready, &outcome);
                        continue;
                    }
                }
            };
            let cached = shortcut.or_else(|| {
                let (resolved, _) = resolved.as_ref()?;
                let hit = store.lookup(&resolved.key)?;
                match materialise(store, plan, j, index, &hit.outputs) {
                    Ok(files) => Some((resolved.key.clone(), hit, files)),
                    Err(e) => {
                        sink.event(Event::Note { message: format!("{name}: the cached outputs could not be linked ({e}); running it again") });
                        None
                    }
                }
            });
            if let Some((key, hit, files)) = cached {
                let now = SystemTime::now();
                let mut r = record_named(
                    name.clone(),
                    plan,
                    j,
                    index,
                    Outcome::Cached,
                    resolved.as_ref().map(|r| &r.0),
                );
                (r.started, r.ended, r.attempts) = (Some(now), Some(now), 0);
                if resolved.is_some() {
                    let entry = store::entry_text(
                        hit.made_by.as_ref(),
                        hit.outputs.iter().map(|(n, o)| (n.as_str(), o)),
                    );
                    last.set(&job.key, index, &key, fingerprint.as_deref(), entry);
                }
                r.key = Some(key);
                r.generated = generated(plan, j, &files, &hit.outputs);
                r.made_by = hit.made_by;
                sink.instance(r);
                remote.hand_over(plan, j, index, &files);
                outputs.insert((j, index), files.into());
                outcome[node] = Some(Outcome::Cached);
                summary.cached += 1;
                sink.event(Event::TaskCached { task: name });
                release(graph, node, &mut remaining, &mut ready, &outcome);
                continue;
            }
            // Not cached: it was resolved above.
            let Some((resolved, work)) = resolved else {
                continue;
            };
            if on_remote[j] {
                match remote.queue(plan, j, index, node) {
                    Ok(()) => {
                        sink.event(Event::TaskStarted { task: name });
                        submitted.insert(
                            node,
                            Launch {
                                node,
                                resolved,
                                log_dir: remote.log_dir(plan, j),
                                cpus: 0,
                                mem: 0,
                                started: Instant::now(),
                                started_at: SystemTime::now(),
                                fingerprint: fingerprint.clone(),
                            },
                        );
                    }
                    Err(e) => {
                        let r = record(plan, j, index, Outcome::Failed, Some(&resolved));
                        refused(&mut summary, &mut outcome, node, sink, &name, r, e);
                    }
                }
                continue;
            }
            let (cpus, mem) = demand(plan, j, cap_cpus, cap_mem);
            used_cpus += cpus;
            used_mem = used_mem.saturating_add(mem);
            let log_dir = store.log_dir(&job.key, index);
            sink.event(Event::TaskStarted { task: name.clone() });
            let spec = exec::Spec {
                name,
                argv: resolved.argv.clone(),
                env: resolved.env.clone(),
                secrets: resolved.secrets.clone(),
                outputs: resolved.outputs.clone(),
                first_work: work,
                attempts: job.retry.attempts + 1,
                backoff: Duration::from_millis(job.retry.backoff_ms),
                time_limit: job.resources.time_ms.map(Duration::from_millis),
                log_dir: log_dir.clone(),
                groups: groups.clone(),
                node,
                spare: spares.take(),
            };
            running.spawn(exec::execute(spec));
            spawned = true;
            launched.insert(
                node,
                Launch {
                    node,
                    resolved,
                    log_dir,
                    cpus,
                    mem,
                    started: Instant::now(),
                    started_at: SystemTime::now(),
                    fingerprint,
                },
            );
        }
        // What became ready for Slurm goes in one sbatch per script (a job array), what
        // became ready for Kubernetes in one Indexed Job per job.
        if remote.has_pending() {
            let (notes, refused) = remote.submit().await;
            for message in notes {
                sink.event(Event::Note { message });
            }
            for (node, why) in refused {
                let Some(l) = submitted.remove(&node) else {
                    continue;
                };
                let inst = graph[NodeIndex::new(node)];
                let (j, index) = (inst.job as usize, inst.index as u64);
                let mut r = record(plan, j, index, Outcome::Failed, Some(&l.resolved));
                r.message = Some(why.clone());
                sink.instance(r);
                fail(
                    &mut summary,
                    &mut outcome,
                    node,
                    sink,
                    &instance_name(plan, j, index),
                    None,
                    why,
                    Vec::new(),
                    l.log_dir,
                );
            }
        }
        // What was just started makes its work directory and starts its process before
        // the bookkeeping of what finished: a chain waits for nothing but its own steps.
        if spawned && !later.is_empty() {
            tokio::task::yield_now().await;
        }
        for (name, rest) in later.drain(..) {
            let (job, index, key) = (
                rest.entry.job.clone(),
                rest.entry.index,
                rest.entry.key.clone(),
            );
            match rest.finish(store, sink, run_id, Some(&mut spares)) {
                Ok(Some(entry)) => last.attach(&job, index, &key, entry),
                Ok(None) => {}
                Err(e) => sink.event(Event::Note {
                    message: format!("{name}: {e}; it will run again next time"),
                }),
            }
        }
        let remote_busy = remote.busy();
        if running.is_empty() && !remote_busy {
            break;
        }
        tokio::select! {
            _ = ticker.tick(), if remote_busy => {
                let ended = match remote.poll(plan, graph).await {
                    Ok(ended) => ended,
                    Err(e) => {
                        // The queue cannot be followed: what is still out is reported, not
                        // waited for.
                        let (_, nodes) = remote.cancel().await;
                        for node in nodes {
                            let Some(l) = submitted.remove(&node) else { continue };
                            let inst = graph[NodeIndex::new(node)];
                            let (j, index) = (inst.job as usize, inst.index as u64);
                            let mut r = record(plan, j, index, Outcome::Failed, Some(&l.resolved));
                            r.message = Some(e.0.clone());
                            sink.instance(r);
                            fail(&mut summary, &mut outcome, node, sink, &instance_name(plan, j, index), None, e.0.clone(), Vec::new(), l.log_dir);
                        }
                        continue;
                    }
                };
                for e in ended {
                    let Some(l) = submitted.remove(&e.node) else { continue };
                    let inst = graph[NodeIndex::new(e.node)];
                    let (j, index) = (inst.job as usize, inst.index as u64);
                    let key = &plan.jobs[j].key;
                    let name = instance_name(plan, j, index);
                    let mut r = record(plan, j, index, Outcome::Ran, Some(&l.resolved));
                    r.job_id = Some(e.id.clone());
                    r.started = Some(l.started_at);
                    r.ended = Some(SystemTime::now());
                    r.attempts = 1;
                    if let Some(h) = remote.hook_record(plan, j, index) {
                        r.host = Some(h.host);
                        r.started = parse_utc(&h.started).or(r.started);
                        r.ended = h.ended.as_deref().and_then(parse_utc).or(r.ended);
                        r.attempts = h.attempts;
                        r.exit_code = h.exit_status;
                    }
                    let log = e.log.clone();
                    if e.completed {
                        let work = remote.work_dir(plan, j, index).unwrap_or_default();
                        match collect(store, plan, j, index, &l.resolved, &work, r.attempts.max(1), l.started).and_then(|(files, stored, rest)| rest.finish(store, sink, run_id, None).map(|entry| (files, stored, entry))) {
                            Ok((files, stored, entry)) => {
                                r.generated = generated(plan, j, &files, &stored);
                                r.exit_code = Some(0);
                                let attempts = r.attempts;
                                sink.instance(r);
                                remote.hand_over(plan, j, index, &files);
                                last.set(key, index, &l.resolved.key, l.fingerprint.as_deref(), entry);
                                outputs.insert((j, index), files.into());
                                outcome[e.node] = Some(Outcome::Ran);
                                summary.ran += 1;
                                sink.event(Event::TaskFinished { task: name, seconds: l.started.elapsed().as_secs_f64(), attempts });
                            }
                            Err(msg) => {
                                let msg = format!("{} {}: {msg}", e.engine, e.id);
                                r.outcome = Outcome::Failed;
                                r.message = Some(msg.clone());
                                sink.instance(r);
                                fail(&mut summary, &mut outcome, e.node, sink, &name, Some(0), msg, exec::tail(&log), log);
                                if opts.fail_fast { stopping = true; }
                            }
                        }
                    } else {
                        r.outcome = Outcome::Failed;
                        r.message = Some(e.message.clone());
                        let exit_code = r.exit_code;
                        sink.instance(r);
                        fail(&mut summary, &mut outcome, e.node, sink, &name, exit_code, e.message.clone(), exec::tail(&log), log);
                        if opts.fail_fast { stopping = true; }
                    }
                    release(graph, e.node, &mut remaining, &mut ready, &outcome);
                }
                if stopping {
                    exec::terminate(&groups, opts.grace).await;
                    cancel_remote(remote, &mut submitted, plan, graph, sink, &mut outcome, &mut summary, "stopped: an instance failed (--fail-fast)").await;
                }
            }
            done = running.join_next(), if !running.is_empty() => {
                let Some(Ok(result)) = done else { continue };
                let Some(l) = launched.remove(&result.node) else { continue };
                used_cpus -= l.cpus;
                used_mem = used_mem.saturating_sub(l.mem);
                let inst = graph[NodeIndex::new(l.node)];
                let (j, index) = (inst.job as usize, inst.index as u64);
                let name = instance_name(plan, j, index);
                let mut r = record(plan, j, index, Outcome::Ran, Some(&l.resolved));
                r.started = Some(l.started_at);
                r.ended = Some(SystemTime::now());
                match result.status {
                    exec::Status::Succeeded { work, attempts } => {
                        r.attempts = attempts;
                        r.exit_code = Some(0);
                        match collect(store, plan, j, index, &l.resolved, &work, attempts, l.started) {
                            Ok((files, stored, mut rest)) => {
                                r.generated = generated(plan, j, &files, &stored);
                                // Recorded (with its cache entry) once what waited for it
                                // has started.
                                rest.record = Some(r);
                                later.push((name.clone(), rest));
                                remote.hand_over(plan, j, index, &files);
                                last.set(&plan.jobs[j].key, index, &l.resolved.key, l.fingerprint.as_deref(), None);
                                outputs.insert((j, index), files.into());
                                outcome[l.node] = Some(Outcome::Ran);
                                summary.ran += 1;
                                sink.event(Event::TaskFinished { task: name, seconds: l.started.elapsed().as_secs_f64(), attempts });
                            }
                            Err(e) => {
                                r.outcome = Outcome::Failed;
                                r.message = Some(e.clone());
                                sink.instance(r);
                                fail(&mut summary, &mut outcome, l.node, sink, &name, Some(0), e, Vec::new(), l.log_dir.clone());
                                if opts.fail_fast {
                                    stopping = true;
                                    exec::terminate(&groups, opts.grace).await;
                                    cancel_remote(remote, &mut submitted, plan, graph, sink, &mut outcome, &mut summary, "stopped: an instance failed (--fail-fast)").await;
                                }
                            }
                        }
                    }
                    exec::Status::Failed { exit_code, message, stderr_tail } => {
                        r.outcome = Outcome::Failed;
                        // A failure is reported once every attempt has failed.
                        r.attempts = plan.jobs[j].retry.attempts + 1;
                        r.exit_code = exit_code;
                        r.message = Some(message.clone());
                        sink.instance(r);
                        fail(&mut summary, &mut outcome, l.node, sink, &name, exit_code, message, stderr_tail, l.log_dir.clone());
                        if opts.fail_fast {
                            stopping = true;
                            exec::terminate(&groups, opts.grace).await;
                            cancel_remote(remote, &mut submitted, plan, graph, sink, &mut outcome, &mut summary, "stopped: an instance failed (--fail-fast)").await;
                        }
                    }
                    exec::Status::Killed => {
                        r.outcome = Outcome::NotRun;
                        r.message = Some("stopped: the run was interrupted".into());
                        sink.instance(r);
                        outcome[l.node] = Some(Outcome::NotRun);
                        summary.not_run += 1;
                    }
                }
                release(graph, l.node, &mut remaining, &mut ready, &outcome);
            }
            Some(()) = async {
                match interrupt.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            }, if !stopping => {
                stopping = true;
                summary.interrupted = true;
                sink.event(Event::Note { message: "interrupted: stopping the running tasks (SIGTERM, then SIGKILL); `expc run` again resumes".into() });
                cancel_remote(remote, &mut submitted, plan, graph, sink, &mut outcome, &mut summary, "stopped: the run was interrupted; its job was cancelled").await;
                exec::terminate(&groups, opts.grace).await;
            }
        }
    }
    // What never ran.
    for (node, o) in outcome.iter_mut().enumerate() {
        if o.is_none() {
            let inst = graph[NodeIndex::new(node)];
            let end = if stopping {
                Outcome::NotRun
            } else {
                Outcome::Skipped
            };
            let mut r = record(
                plan,
                inst.job as usize,
                inst.index as u64,
                end.clone(),
                None,
            );
            r.message = Some(if stopping {
                "not started: the run was stopped".into()
            } else {
                "not started: an instance it reads failed".into()
            });
            sink.instance(r);
            *o = Some(end);
            if stopping {
                summary.not_run += 1;
            } else {
                summary.skipped += 1;
                let inst = graph[NodeIndex::new(node)];
                sink.event(Event::TaskSkipped {
                    task: instance_name(plan, inst.job as usize, inst.index as u64),
                });
            }
        }
    }
    // What the run made: outputs of instances no other instance reads.
    for node in 0..n {
        if graph
            .neighbors_directed(NodeIndex::new(node), Direction::Outgoing)
            .next()
            .is_none()
        {
            let inst = graph[NodeIndex::new(node)];
            if let Some(files) = outputs.get(&(inst.job as usize, inst.index as u64)) {
                for (name, (path, _)) in files.iter() {
                    summary.final_outputs.push((
                        format!(
                            "{}.{name}",
                            instance_name(plan, inst.job as usize, inst.index as u64)
                        ),
                        path.clone(),
                    ));
                }
            }
        }
    }
    store.save_last(&mut last).ok();
    free_later((last, outputs));
    (summary.slurm_dir, summary.k8s_dir) = remote.tidy();
    summary.elapsed = started.elapsed();
    sink.event(Event::RunFinished {
        ran: summary.ran,
        cached: summary.cached,
        failed: summary.failed.len(),
        skipped: summary.skipped + summary.not_run,
        seconds: summary.elapsed.as_secs_f64(),
    });
    summary
}

/// Frees a large structure on a thread of its own: the tens of thousands of small
/// allocations of a big run's maps take milliseconds to free, which its end need not wait
/// for (the process may well exit first, which frees them at once).
fn free_later<T: Send + 'static>(value: T) {
    // When no thread can be made, `value` is freed here, with the closure.
    let _ = std::thread::Builder::new().spawn(move || drop(value));
}

/// The start of an instance's record; the scheduler fills in what it learns.
fn record(
    plan: &Plan,
    j: usize,
    index: u64,
    outcome: Outcome,
    resolved: Option<&resolve::Resolved>,
) -> InstanceRecord {
    record_named(
        instance_name(plan, j, index),
        plan,
        j,
        index,
        outcome,
        resolved,
    )
}

/// [`record`], for an instance whose name is at hand.
fn record_named(
    name: String,
    plan: &Plan,
    j: usize,
    index: u64,
    outcome: Outcome,
    resolved: Option<&resolve::Resolved>,
) -> InstanceRecord {
    let job = &plan.jobs[j];
    InstanceRecord {
        name,
        call: job.key.clone(),
        task: job.task.clone(),
        index,
        outcome,
        key: resolved.map(|r| r.key.clone()),
        argv: resolved.map(|r| r.argv.clone()).unwrap_or_default(),
        started: None,
        ended: None,
        attempts: 0,
        exit_code: None,
        message: None,
        used: resolved.map(|r| r.used.clone()).unwrap_or_default(),
        values: resolved.map(|r| r.values.clone()).unwrap_or_default(),
        generated: Vec::new(),
        host: None,
        job_id: None,
        made_by: None,
    }
}

/// The outputs of an instance, as provenance records them.
fn generated(
    plan: &Plan,
    j: usize,
    files: &BTreeMap<String, (PathBuf, String)>,
    stored: &[(String, StoredOutput)],
) -> Vec<Generated> {
    plan.jobs[j]
        .outputs
        .iter()
        .filter_map(|o| {
            let (path, digest) = files.get(&o.name)?;
            let s = store::stored_output(stored, &o.name)?;
            Some(Generated {
                name: o.name.clone(),
                path: path.clone(),
                digest: digest.clone(),
                size: s.size,
                is_dir: s.dir,
                ty: o.ty.clone(),
            })
        })
        .collect()
}

/// The CPUs and memory an instance takes from the machine's capacity.
fn demand(plan: &Plan, j: usize, cap_cpus: u64, cap_mem: u64) -> (u64, u64) {
    let r = &plan.jobs[j].resources;
    let cpus = (r.cpus.ceil() as u64).clamp(1, cap_cpus);
    let mem = r.mem_bytes.unwrap_or(0).min(cap_mem);
    (cpus, mem)
}

/// An instance that failed before anything ran (it could not be resolved, or its engine
/// refused it): its record, with the reason, and the failure.
fn refused(
    summary: &mut Summary,
    outcome: &mut [Option<Outcome>],
    node: usize,
    sink: &mut dyn Sink,
    name: &str,
    mut record: InstanceRecord,
    message: String,
) {
    record.message = Some(message.clone());
    sink.instance(record);
    let no_log = PathBuf::new();
    fail(
        summary,
        outcome,
        node,
        sink,
        name,
        None,
        message,
        Vec::new(),
        no_log,
    );
}

#[allow(clippy::too_many_arguments)]
fn fail(
    summary: &mut Summary,
    outcome: &mut [Option<Outcome>],
    node: usize,
    sink: &mut dyn Sink,
    name: &str,
    exit_code: Option<i32>,
    message: String,
    stderr_tail: Vec<String>,
    log_dir: PathBuf,
) {
    outcome[node] = Some(Outcome::Failed);
    sink.event(Event::TaskFailed {
        task: name.to_owned(),
        exit_code,
        message: message.clone(),
    });
    summary.failed.push(Failure {
        task: name.to_owned(),
        exit_code,
        message,
        stderr_tail,
        log_dir,
    });
}

/// After `node` ended: its dependents whose inputs are all there become ready; those of a
/// failed or skipped node are left, and end as skipped.
fn release(
    graph: &petgraph::graph::DiGraph<expc_plan::dag::Instance, expc_plan::plan::Relation, u32>,
    node: usize,
    remaining: &mut [usize],
    ready: &mut VecDeque<usize>,
    outcome: &[Option<Outcome>],
) {
    use petgraph::Direction;
    if !matches!(outcome[node], Some(Outcome::Ran | Outcome::Cached)) {
        return;
    }
    let mut next: Vec<usize> = graph
        .neighbors_directed(NodeIndex::new(node), Direction::Outgoing)
        .map(|n| n.index())
        .collect();
    // Edges come back newest first; start dependents in plan order.
    next.sort_unstable();
    next.dedup();
    for i in next {
        remaining[i] = remaining[i].saturating_sub(1);
        if remaining[i] == 0 {
            ready.push_back(i);
        }
    }
}

/// Links the stored outputs of an instance into `.expc/out/` and returns their paths.
fn materialise(
    store: &Store,
    plan: &Plan,
    j: usize,
    index: u64,
    stored: &[(String, StoredOutput)],
) -> std::io::Result<BTreeMap<String, (PathBuf, String)>> {
    let job = &plan.jobs[j];
    let dir = store.out_dir(&job.key, index, !job.loops.is_empty());
    let mut files = BTreeMap::new();
    for o in &job.outputs {
        let Some(s) = store::stored_output(stored, &o.name) else {
            return Err(std::io::Error::other(format!(
                "no stored output `{}`",
                o.name
            )));
        };
        let path = store.materialise(&dir, &o.path, s)?;
        files.insert(o.name.clone(), (path, s.digest.clone()));
    }
    Ok(files)
}

/// After a successful attempt: checks, hashes and stores the outputs, records the entry.
#[allow(clippy::too_many_arguments)]
fn collect(
    store: &Store,
    plan: &Plan,
    j: usize,
    index: u64,
    resolved: &resolve::Resolved,
    work: &std::path::Path,
    attempts: u32,
    started: Instant,
) -> Result<Files, String> {
    let mut stored = BTreeMap::new();
    for (name, rel, metrics) in &resolved.outputs {
        let path = work.join(rel);
        if !path.exists() {
            return Err(format!(
                "exited with status 0 but did not write its output `{name}` (expected at `{rel}` in its work directory)"
            ));
        }
        if *metrics {
            exec::check_metrics(&path)
                .map_err(|e| format!("its output `{name}` is not a metrics file: {e}"))?;
        }
        let (digest, dir, size) = hash::StatCache::digest_once(&path)
            .map_err(|e| format!("cannot read its output `{name}`: {e}"))?;
        let inode = store
            .store(&path, &digest, dir)
            .map_err(|e| format!("cannot store its output `{name}`: {e}"))?;
        stored.insert(
            name.clone(),
            StoredOutput {
                digest,
                dir,
                size,
                inode: (!dir).then_some(inode),
            },
        );
    }
    let job = &plan.jobs[j];
    let entry = CacheEntry {
        key: resolved.key.clone(),
        job: job.key.clone(),
        index,
        outputs: stored.clone(),
        exit_code: 0,
        attempts,
        duration_ms: started.elapsed().as_millis() as u64,
        key_doc: resolved.key_doc(),
        made_by: None,
    };
    let stored: StoredOutputs = stored.into_iter().collect();
    let files = materialise(store, plan, j, index, &stored)
        .map_err(|e| format!("cannot link its outputs: {e}"))?;
    let rest = Bookkeeping {
        entry,
        work: work.to_path_buf(),
        record: None,
    };
    Ok((files, stored, rest))
}

/// What is left to do for an instance whose outputs are stored and linked: its cache
/// entry (written after its objects, so a run killed before only runs it again), its
/// work directory, and its provenance record. A local run does this after starting the
/// instances that were waiting for it, off the critical path of a chain.
struct Bookkeeping {
    entry: CacheEntry,
    work: PathBuf,
    record: Option<InstanceRecord>,
}

impl Bookkeeping {
    /// Writes the cache entry, passes the record on, and removes the work directory — or
    /// keeps it, emptied, in `spares` for a later instance. The instance's record is the
    /// next one passed on (here, or by the caller when it keeps the record).
    /// Returns the entry as `last-keys` notes it ([`store::entry_text`]), once recorded.
    fn finish(
        mut self,
        store: &Store,
        sink: &mut Numbered,
        run_id: Option<&str>,
        spares: Option<&mut exec::Spares>,
    ) -> Result<Option<String>, String> {
        self.entry.made_by = run_id.map(|run| MadeBy {
            run: run.to_owned(),
            task: sink.records,
        });
        let written = store
            .record(&self.entry)
            .map_err(|e| format!("cannot record its outputs: {e}"));

        match spares {
            Some(spares) if self.work.parent() == Some(&store.tmp_dir()) => {
                spares.recycle(&self.work, &store.tmp_dir());
            }
            _ => exec::remove(&self.work),
        }
        if let Some(r) = self.record.take() {
            sink.instance(r);
        }
        written?;
        let e = &self.entry;
        let outputs = e.outputs.iter().map(|(n, o)| (n.as_str(), o));
        Ok(store::entry_text(e.made_by.as_ref(), outputs))
    }
}

/// A run's sink, counting the records passed on. Records are numbered from 0 in the order
/// given, as provenance numbers a run's instances, so a cache entry can name the record of
/// the instance that made it.
struct Numbered<'a> {
    sink: &'a mut dyn Sink,
    records: u64,
}

impl Sink for Numbered<'_> {
    fn event(&mut self, event: Event) {
        self.sink.event(event);
    }

    fn instance(&mut self, record: InstanceRecord) {
        self.sink.instance(record);
        self.records += 1;
    }

    fn can_refer(&mut self, made_by: &MadeBy) -> bool {
        self.sink.can_refer(made_by)
    }
}

/// An instance's outputs: where they are and their digests, how they are stored, and
/// what is left to do.
type Files = (
    BTreeMap<String, (PathBuf, String)>,
    StoredOutputs,
    Bookkeeping,
);

/// Total memory of this machine, from `/proc/meminfo`.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Cancels the Slurm and Kubernetes jobs of the run that have not ended: each becomes not
/// run.
#[allow(clippy::too_many_arguments)]
async fn cancel_remote(
    remote: &mut remote::Remote,
    submitted: &mut HashMap<usize, Launch>,
    plan: &Plan,
    graph: &petgraph::graph::DiGraph<expc_plan::dag::Instance, expc_plan::plan::Relation, u32>,
    sink: &mut dyn Sink,
    outcome: &mut [Option<Outcome>],
    summary: &mut Summary,
    why: &str,
) {
    let (note, nodes) = remote.cancel().await;
    if let Some(message) = note {
        sink.event(Event::Note { message });
    }
    for node in nodes {
        let Some(l) = submitted.remove(&node) else {
            continue;
        };
        let inst = graph[NodeIndex::new(node)];
        let mut r = record(
            plan,
            inst.job as usize,
            inst.index as u64,
            Outcome::NotRun,
            Some(&l.resolved),
        );
        r.message = Some(why.to_owned());
        sink.instance(r);
        outcome[node] = Some(Outcome::NotRun);
        summary.not_run += 1;
    }
}

/// `2026-12-02T03:04:05.678Z` (as the provenance hook writes it) as a time.
fn parse_utc(text: &str) -> Option<SystemTime> {
    let t = text.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut h = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos = format!("{digits:0<9}").parse::<u32>().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_times_parse() {
        let t = parse_utc("2026-12-02T03:04:05.678Z").unwrap();
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_796_180_645);
        assert_eq!(d.subsec_millis(), 678);
        assert_eq!(
            parse_utc("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(parse_utc("2026-13-02T03:04:05Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }
}
