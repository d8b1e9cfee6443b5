//! The scheduler: runs a plan's instance DAG through the engines, as many at once as
//! `-j` and this machine's CPUs and memory allow for those that run here.
//!
//! It knows engines only through [`Engine`]. Per instance that becomes ready it finds the
//! instance cached (by its fingerprint's noted key, or by its resolved key) and links its
//! outputs, or resolves it for its engine's [`crate::resolve::Site`] and starts it there.
//! When an instance ends — a process's future, or an engine's poll — its outputs are
//! checked, stored and linked, handed over to the engines, and its dependents released;
//! its cache entry, provenance record and work directory are seen to once what waited for
//! it has started (off the critical path of a chain).

mod bookkeeping;
mod inputs;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use expc_plan::dag::{Dag, Instance};
use expc_plan::plan::{Plan, Relation};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::RunOptions;
use crate::engine::{Ended, Engine, Launch, Started, Status};
use crate::events::{Event, Failure, InstanceRecord, Outcome, Sink, Summary};
use crate::resolve::{Files, Outputs, Resolved, Resolver};
use crate::store::{self, LastKeys, Store};
use bookkeeping::{Bookkeeping, Numbered, collect, generated, materialise, not_linked_note};
use inputs::InputWatch;

type Graph = DiGraph<Instance, Relation, u32>;

/// An instance started on an engine, until it ends.
struct Launched {
    engine: usize,
    resolved: Resolved,
    log_dir: PathBuf,
    /// What it takes of this machine.
    cpus: u64,
    mem: u64,
    started: Instant,
    started_at: SystemTime,
    /// The instance's fingerprint, noted with its key once it succeeds.
    fingerprint: Option<String>,
    /// The files it reads, as they were when it started.
    watch: InputWatch,
}

/// Which engine runs each job, and the engines.
pub(crate) struct Engines<'p> {
    pub engines: Vec<Box<dyn Engine + 'p>>,
    /// By position in the plan: the engine's position in `engines`.
    pub route: Vec<usize>,
}

pub(crate) struct Scheduler<'a, 'p> {
    plan: &'p Plan,
    graph: &'a Graph,
    opts: &'a RunOptions,
    store: &'a Store,
    resolver: &'a Resolver<'p>,
    engines: Engines<'p>,
    sink: Numbered<'a>,
    run_fingerprint: Option<blake3::Hash>,
    /// This machine's capacity.
    cap_cpus: u64,
    cap_mem: u64,
    used_cpus: u64,
    used_mem: u64,
    /// Instances running here.
    here: usize,
    remaining: Vec<usize>,
    outcome: Vec<Option<Outcome>>,
    ready: VecDeque<usize>,
    outputs: Outputs,
    summary: Summary,
    running: tokio::task::JoinSet<Ended>,
    launched: HashMap<usize, Launched>,
    last: LastKeys,
    /// Bookkeeping of finished instances, done once their dependents have started.
    later: Vec<(String, Bookkeeping)>,
    stopping: bool,
}

impl<'a, 'p> Scheduler<'a, 'p> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: &'p Plan,
        dag: &'a Dag,
        opts: &'a RunOptions,
        store: &'a Store,
        resolver: &'a Resolver<'p>,
        engines: Engines<'p>,
        sink: &'a mut dyn Sink,
    ) -> Self {
        let graph = &dag.graph;
        let n = graph.node_count();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as u64;
        let remaining: Vec<usize> = (0..n)
            .map(|i| {
                graph
                    .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                    .count()
            })
            .collect();
        let ready = (0..n).filter(|i| remaining[*i] == 0).collect();
        Scheduler {
            plan,
            graph,
            opts,
            store,
            resolver,
            engines,
            sink: Numbered::new(sink),
            run_fingerprint: opts
                .fingerprint
                .as_deref()
                .map(|f| resolver.run_fingerprint(f)),
            cap_cpus: cores.max(opts.jobs as u64),
            cap_mem: crate::machine::memory().unwrap_or(u64::MAX),
            used_cpus: 0,
            used_mem: 0,
            here: 0,
            remaining,
            outcome: vec![None; n],
            ready,
            outputs: Outputs::default(),
            summary: Summary::default(),
            running: tokio::task::JoinSet::new(),
            launched: HashMap::new(),
            last: store.load_last(),
            later: Vec::new(),
            stopping: false,
        }
    }

    /// Runs every instance to its end, or until the run is stopped.
    pub async fn run(mut self) -> Summary {
        let started = Instant::now();
        // Ctrl-C is taken over now, not when the loop first gets round to waiting for it:
        // an interrupt right after the first submission must still cancel it.
        // SIGTERM (a reaper, `kill`) and SIGHUP (a closed terminal, a lost ssh session) stop
        // the run as Ctrl-C does: what it submitted is cancelled, not left running unwatched.
        let mut interrupt = Interrupts::new(self.opts.detached);
        let mut ticker = tokio::time::interval(self.opts.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.sink.event(Event::RunStarted {
            instances: self.graph.node_count() as u64,
        });
        self.note_skipped_environments();
        loop {
            let spawned = self.start_ready();
            self.submit().await;
            // What was just started makes its work directory and starts its process
            // before the bookkeeping of what finished: a chain waits for nothing but its
            // own steps.
            if spawned && !self.later.is_empty() {
                tokio::task::yield_now().await;
            }
            self.bookkeep();
            let busy = self.engines.engines.iter().any(|e| e.busy());
            if self.running.is_empty() && !busy {
                break;
            }
            tokio::select! {
                _ = ticker.tick(), if busy => self.poll().await,
                done = self.running.join_next(), if !self.running.is_empty() => {
                    if let Some(Ok(ended)) = done {
                        self.ended(ended);
                        self.stop_if_failing_fast().await;
                    }
                }
                signal = interrupt.recv(), if !self.stopping => {
                    self.summary.interrupted = true;
                    self.sink.event(Event::Note { message: format!("interrupted ({signal}): stopping the running tasks (SIGTERM, then SIGKILL); `expc run` again resumes") });
                    self.stop("stopped: the run was interrupted; its job was cancelled").await;
                }
            }
        }
        self.end(started)
    }

    /// Says, once per job, that a job run here skips the container image, modules or
    /// conda environment its task declares: this machine's programs run it.
    fn note_skipped_environments(&mut self) {
        for (j, job) in self.plan.jobs.iter().enumerate() {
            if job.instances == 0 || !self.engines.engines[self.engines.route[j]].runs_here() {
                continue;
            }
            let env = &job.env;
            let mut skipped = Vec::new();
            if let Some(image) = &env.image {
                skipped.push(format!("the image `{image}`"));
            }
            if !env.modules.is_empty() {
                skipped.push(format!("the modules {}", env.modules.join(", ")));
            }
            if let Some(conda) = &env.conda {
                skipped.push(format!("the conda environment `{conda}`"));
            }
            if !skipped.is_empty() {
                self.sink.event(Event::Note {
                    message: format!(
                        "`{}` runs on this machine without {}: its programs must be here",
                        job.key,
                        skipped.join(" and ")
                    ),
                });
            }
        }
    }

    /// Starts what can start; whether a process was spawned.
    fn start_ready(&mut self) -> bool {
        let mut spawned = false;
        while !self.stopping {
            let Some(pos) = self.ready.iter().position(|&node| self.has_room(node)) else {
                break;
            };
            let node = self.ready.remove(pos).unwrap_or_default();
            spawned |= self.start(node);
        }
        spawned
    }

    /// Whether this machine has room for `node` (an instance that runs elsewhere takes
    /// nothing of it; one instance always starts, whatever it asks).
    fn has_room(&self, node: usize) -> bool {
        let j = self.graph[NodeIndex::new(node)].job as usize;
        if !self.engines.engines[self.engines.route[j]].runs_here() {
            return true;
        }
        let (cpus, mem) = self.demand(j);
        self.here == 0
            || (self.here < self.opts.jobs
                && self.used_cpus + cpus <= self.cap_cpus
                && self.used_mem.saturating_add(mem) <= self.cap_mem)
    }

    /// The CPUs and memory an instance of job `j` takes from this machine's capacity.
    fn demand(&self, j: usize) -> (u64, u64) {
        let r = &self.plan.jobs[j].resources;
        let cpus = (r.cpus.ceil() as u64).clamp(1, self.cap_cpus);
        let mem = r.mem_bytes.unwrap_or(0).min(self.cap_mem);
        (cpus, mem)
    }

    /// Finds `node` cached, or resolves and starts it; whether a process was spawned.
    fn start(&mut self, node: usize) -> bool {
        let inst = self.graph[NodeIndex::new(node)];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let name = self.plan.instance_name(j, index);
        // `cache = false`: never served from the cache, so neither looked up by its
        // fingerprint nor by its key (its entry is still written, for `expc why`).
        let cacheable = self.plan.jobs[j].cache;
        let fingerprint = self
            .run_fingerprint
            .as_ref()
            .map(|f| self.resolver.fingerprint(f, j, index, &self.outputs));
        // Made from what its last success was made from: its key is that success's,
        // and when its outputs are still there and provenance can refer to the record
        // that made them, nothing else about it is needed, and it is not resolved.
        let noted = fingerprint
            .as_deref()
            .filter(|_| cacheable)
            .map(|f| self.noted_hit(j, index, f))
            .unwrap_or(Ok(None));
        // Its outputs cannot be used (said why): it runs, without looking its key up again.
        let unusable = match noted {
            Ok(Some(hit)) => {
                self.cached(node, name, None, None, hit);
                return false;
            }
            Ok(None) => false,
            Err(e) => {
                let message = not_linked_note(&name, &e);
                self.sink.event(Event::Note { message });
                true
            }
        };
        let e = self.engines.route[j];
        let site = self.engines.engines[e].site(j, index, self.store);
        let resolved = match self.resolver.resolve(j, index, &site, &self.outputs) {
            Ok(r) => r,
            Err(why) => {
                let r = self.record(j, index, Outcome::Failed, None);
                self.refused(node, &name, r, why);
                self.release(node);
                return false;
            }
        };
        if !unusable && cacheable {
            if let Some(hit) = self.indexed_hit(j, index, &name, &resolved.key) {
                self.cached(node, name, Some(resolved), fingerprint, hit);
                return false;
            }
        }
        self.launch(node, name, e, site.work, resolved, fingerprint)
    }

    /// The noted entry of an instance whose fingerprint is the one noted with it, when
    /// its outputs are there and provenance can refer to its record; an output that is
    /// not, when one cannot be used.
    fn noted_hit(
        &mut self,
        j: usize,
        index: u64,
        fingerprint: &str,
    ) -> Result<Option<Hit>, bookkeeping::NotLinked> {
        let job = &self.plan.jobs[j];
        let Some((key, entry)) = self.last.known(&job.key, index, fingerprint) else {
            return Ok(None);
        };
        // The entry noted with the key, or else the index's (then noted).
        let noted = entry.and_then(|e| self.store.hit_of_entry(e));
        let mut to_note = noted.is_none();
        let key = key.to_owned();
        let Some(mut hit) = noted.or_else(|| self.store.lookup(&key)) else {
            return Ok(None);
        };
        if !hit.made_by.as_ref().is_some_and(|m| self.sink.can_refer(m)) {
            return Ok(None);
        }
        let (files, moved) = materialise(self.store, self.plan, j, index, &hit.outputs)?;
        if let Some(outputs) = moved {
            hit.outputs = outputs;
            to_note = true;
        }
        if to_note {
            let outputs = hit.outputs.iter().map(|(n, o)| (n.as_str(), o));
            if let Some(entry) = store::entry_text(hit.made_by.as_ref(), outputs) {
                self.last.attach(&job.key, index, &key, entry);
            }
        }
        Ok(Some(Hit { key, hit, files }))
    }

    /// The index's entry for a resolved key, with its outputs linked.
    fn indexed_hit(&mut self, j: usize, index: u64, name: &str, key: &str) -> Option<Hit> {
        let mut hit = self.store.lookup(key)?;
        match materialise(self.store, self.plan, j, index, &hit.outputs) {
            Ok((files, moved)) => {
                if let Some(outputs) = moved {
                    hit.outputs = outputs;
                }
                Some(Hit {
                    key: key.to_owned(),
                    hit,
                    files,
                })
            }
            Err(e) => {
                let message = not_linked_note(name, &e);
                self.sink.event(Event::Note { message });
                None
            }
        }
    }

    /// Records a cached instance and releases its dependents.
    fn cached(
        &mut self,
        node: usize,
        name: String,
        resolved: Option<Resolved>,
        fingerprint: Option<String>,
        found: Hit,
    ) {
        let inst = self.graph[NodeIndex::new(node)];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let Hit { key, hit, files } = found;
        let now = SystemTime::now();
        let mut r = self.record_named(name.clone(), j, index, Outcome::Cached, resolved.as_ref());
        (r.started, r.ended, r.attempts) = (Some(now), Some(now), 0);
        if resolved.is_some() {
            let entry = store::entry_text(
                hit.made_by.as_ref(),
                hit.outputs.iter().map(|(n, o)| (n.as_str(), o)),
            );
            let job = &self.plan.jobs[j].key;
            self.last
                .set(job, index, &key, fingerprint.as_deref(), entry);
        }
        r.key = Some(key);
        r.generated = generated(self.plan, j, &files, &hit.outputs);
        r.made_by = hit.made_by;
        self.sink.instance(r);
        self.hand_over(j, index, &files);
        self.outputs.insert((j, index), files);
        self.outcome[node] = Some(Outcome::Cached);
        self.summary.cached += 1;
        self.sink.event(Event::TaskCached { task: name });
        self.release(node);
    }

    /// Starts a resolved instance on engine `e`; whether a process was spawned.
    fn launch(
        &mut self,
        node: usize,
        name: String,
        e: usize,
        work: PathBuf,
        resolved: Resolved,
        fingerprint: Option<String>,
    ) -> bool {
        let inst = self.graph[NodeIndex::new(node)];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let here = self.engines.engines[e].runs_here();
        let (cpus, mem) = if here { self.demand(j) } else { (0, 0) };
        let watch = match InputWatch::before(&resolved.used, &resolved.watch, self.store) {
            Ok(w) => w,
            Err(why) => {
                let r = self.record(j, index, Outcome::Failed, Some(&resolved));
                self.refused(node, &name, r, why);
                return false;
            }
        };
        let engine = &mut self.engines.engines[e];
        let log_dir = engine.log_dir(j, index, self.store);
        let started = engine.start(Launch {
            node,
            job: j,
            index,
            name: &name,
            resolved: &resolved,
            work,
            log_dir: log_dir.clone(),
        });
        let spawned = match started {
            Ok(Started::Process(future)) => {
                self.running.spawn(future);
                true
            }
            Ok(Started::Queued) => false,
            Err(why) => {
                let r = self.record(j, index, Outcome::Failed, Some(&resolved));
                self.refused(node, &name, r, why);
                return false;
            }
        };
        if here {
            self.here += 1;
            self.used_cpus += cpus;
            self.used_mem = self.used_mem.saturating_add(mem);
        }
        self.sink.event(Event::TaskStarted { task: name });
        self.launched.insert(
            node,
            Launched {
                engine: e,
                resolved,
                log_dir,
                cpus,
                mem,
                started: Instant::now(),
                started_at: SystemTime::now(),
                fingerprint,
                watch,
            },
        );
        spawned
    }

    /// Sends what the engines queued; what they refuse fails.
    async fn submit(&mut self) {
        for e in 0..self.engines.engines.len() {
            let done = self.engines.engines[e].submit().await;
            for message in done.notes {
                self.sink.event(Event::Note { message });
            }
            for (node, why) in done.refused {
                self.lost(node, why);
            }
        }
    }

    /// One look at every engine with instances out.
    async fn poll(&mut self) {
        for e in 0..self.engines.engines.len() {
            if !self.engines.engines[e].busy() {
                continue;
            }
            match self.engines.engines[e].poll().await {
                Ok(ended) => {
                    for x in ended {
                        self.ended(x);
                    }
                }
                Err(err) => {
                    // The engine cannot be followed: what is still out is reported, not
                    // waited for.
                    let cancelled = self.engines.engines[e].cancel(self.opts.grace).await;
                    for node in cancelled.nodes {
                        self.lost(node, err.0.clone());
                    }
                }
            }
        }
        self.stop_if_failing_fast().await;
    }

    /// An instance started on an engine that will not end there: it failed with `why`.
    fn lost(&mut self, node: usize, why: String) {
        let Some(l) = self.launched.remove(&node) else {
            return;
        };
        self.free(&l);
        let inst = self.graph[NodeIndex::new(node)];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let mut r = self.record(j, index, Outcome::Failed, Some(&l.resolved));
        r.message = Some(why.clone());
        self.sink.instance(r);
        let name = self.plan.instance_name(j, index);
        self.fail(node, &name, None, why, Vec::new(), l.log_dir);
    }

    fn free(&mut self, l: &Launched) {
        if self.engines.engines[l.engine].runs_here() {
            self.here = self.here.saturating_sub(1);
            self.used_cpus = self.used_cpus.saturating_sub(l.cpus);
            self.used_mem = self.used_mem.saturating_sub(l.mem);
        }
    }

    /// An instance that ended on its engine.
    fn ended(&mut self, ended: Ended) {
        let node = ended.node;
        let Some(l) = self.launched.remove(&node) else {
            return;
        };
        self.free(&l);
        let inst = self.graph[NodeIndex::new(node)];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let name = self.plan.instance_name(j, index);
        let mut r = self.record(j, index, Outcome::Ran, Some(&l.resolved));
        r.started = ended.started.or(Some(l.started_at));
        r.ended = ended.ended.or_else(|| Some(SystemTime::now()));
        r.host = ended.host.clone();
        r.job_id = ended.job_id.clone();
        let log = ended.log.clone().unwrap_or_else(|| l.log_dir.clone());
        let engine_id = ended.job_id.map(|id| format!("{} {id}", ended.engine));
        let status = self.checked_inputs(&l, ended.status);
        match status {
            Status::Succeeded { work, attempts } => {
                r.attempts = attempts;
                r.exit_code = Some(0);
                self.succeeded(node, name, &l, r, &work, engine_id, log);
            }
            Status::Failed {
                exit_code,
                message,
                stderr_tail,
                attempts,
            } => {
                r.outcome = Outcome::Failed;
                r.attempts = attempts;
                r.exit_code = exit_code;
                r.message = Some(message.clone());
                self.sink.instance(r);
                self.fail(node, &name, exit_code, message, stderr_tail, log);
            }
            Status::Killed => {
                r.outcome = Outcome::NotRun;
                r.message = Some("stopped: the run was interrupted".into());
                self.sink.instance(r);
                self.outcome[node] = Some(Outcome::NotRun);
                self.summary.not_run += 1;
            }
        }
        self.release(node);
    }

    /// How an instance ended, once what it read is checked: one that changed an input
    /// failed, whatever its command's status, and a store object it damaged is evicted
    /// (so that what made it runs again next time).
    fn checked_inputs(&mut self, l: &Launched, status: Status) -> Status {
        let Some(changed) = l.watch.after() else {
            return status;
        };
        let mut message = changed.message;
        match &changed.object {
            Some((digest, dir)) if self.store.evict_if_damaged(digest, *dir) => message.push_str(
                ": the store object it damaged was evicted, so what made it runs again on the next `expc run`; make the task write only its outputs",
            ),
            Some(_) => message.push_str("; make the task write only its outputs"),
            None => message.push_str(
                ": the data file now holds what the task did to it; put it back, and make the task write only its outputs",
            ),
        }
        let attempts = match status {
            Status::Succeeded { work, attempts } => {
                self.engines.engines[l.engine].release(&work, self.store);
                attempts
            }
            Status::Failed { attempts, .. } => attempts,
            Status::Killed => return Status::Killed,
        };
        Status::Failed {
            exit_code: None,
            message,
            stderr_tail: Vec::new(),
            attempts,
        }
    }

    /// An instance whose command succeeded: its outputs are checked, stored, linked and
    /// handed over; the rest is done later.
    #[allow(clippy::too_many_arguments)]
    fn succeeded(
        &mut self,
        node: usize,
        name: String,
        l: &Launched,
        mut r: InstanceRecord,
        work: &std::path::Path,
        engine_id: Option<String>,
        log: PathBuf,
    ) {
        let inst = self.graph[NodeIndex::new(node)];
        let (j, index) = (inst.job as usize, inst.index as u64);
        let attempts = r.attempts;
        let collected = collect(
            self.store,
            self.resolver.program(),
            self.plan,
            j,
            index,
            &l.resolved,
            work,
            attempts.max(1),
            l.started,
        );
        match collected {
            Ok((files, stored, mut rest)) => {
                r.generated = generated(self.plan, j, &files, &stored);
                rest.record = Some(r);
                rest.engine = l.engine;
                let key = &self.plan.jobs[j].key;
                if self.engines.engines[l.engine].runs_here() {
                    // Recorded (with its cache entry) once what waited for it has started.
                    self.later.push((name.clone(), rest));
                    self.last
                        .set(key, index, &l.resolved.key, l.fingerprint.as_deref(), None);
                } else {
                    // Recorded now: its work directory is where the engine's jobs read its
                    // outputs, emptied before they are handed over there, and an instance
                    // of the engine that makes the same key finds it cached.
                    let entry = self.finish(&name, rest);
                    self.last
                        .set(key, index, &l.resolved.key, l.fingerprint.as_deref(), entry);
                }
                self.hand_over(j, index, &files);
                self.outputs.insert((j, index), files);
                self.outcome[node] = Some(Outcome::Ran);
                self.summary.ran += 1;
                self.sink.event(Event::TaskFinished {
                    task: name,
                    seconds: l.started.elapsed().as_secs_f64(),
                    attempts,
                });
            }
            Err(why) => {
                // An engine's job names itself in the message, and its log's tail is shown.
                let (why, tail) = match engine_id {
                    Some(id) => (format!("{id}: {why}"), crate::exec::tail(&log)),
                    None => (why, Vec::new()),
                };
                r.outcome = Outcome::Failed;
                r.message = Some(why.clone());
                self.sink.instance(r);
                self.fail(node, &name, Some(0), why, tail, log);
            }
        }
    }

    /// Makes an instance's outputs readable where every engine's instances read them.
    /// An engine that hard-links them moves their objects' ctime: their stamps are taken
    /// again, as the run's own links' are.
    fn hand_over(&self, j: usize, index: u64, files: &Files) {
        let job = &self.plan.jobs[j];
        let outputs: Vec<(String, PathBuf)> = job
            .outputs
            .iter()
            .filter_map(|o| Some((o.path.clone(), files.get(&o.name)?.0.clone())))
            .collect();
        let mut linked = false;
        for e in &self.engines.engines {
            e.hand_over(&job.key, index, &outputs);
            linked |= e.hands_over_links();
        }
        if linked {
            for (_, (path, digest)) in files.iter() {
                self.store.restamp(path, digest);
            }
        }
    }

    /// Writes the cache entries and records of what finished, and frees their work
    /// directories.
    fn bookkeep(&mut self) {
        for (name, rest) in std::mem::take(&mut self.later) {
            let (job, index, key) = (
                rest.entry.job.clone(),
                rest.entry.index,
                rest.entry.key.clone(),
            );
            if let Some(entry) = self.finish(&name, rest) {
                self.last.attach(&job, index, &key, entry);
            }
        }
    }

    /// Writes an instance's cache entry and record, and frees its work directory; the
    /// entry as `last-keys` notes it.
    fn finish(&mut self, name: &str, rest: Bookkeeping) -> Option<String> {
        let run_id = self.opts.run_id.as_deref();
        let engine = &mut self.engines.engines[rest.engine];
        match rest.finish(self.store, &mut self.sink, run_id, engine.as_mut()) {
            Ok(entry) => entry,
            Err(e) => {
                self.sink.event(Event::Note {
                    message: format!("{name}: {e}; it will run again next time"),
                });
                None
            }
        }
    }

    /// With `--fail-fast`, the first failure stops the run.
    async fn stop_if_failing_fast(&mut self) {
        if self.opts.fail_fast && !self.summary.failed.is_empty() && !self.stopping {
            self.stop("stopped: an instance failed (--fail-fast)").await;
        }
    }

    /// Stops the run: nothing more starts, and every engine cancels what it has.
    async fn stop(&mut self, why: &str) {
        self.stopping = true;
        for e in 0..self.engines.engines.len() {
            let cancelled = self.engines.engines[e].cancel(self.opts.grace).await;
            if let Some(message) = cancelled.note {
                self.sink.event(Event::Note { message });
            }
            for node in cancelled.nodes {
                let Some(l) = self.launched.remove(&node) else {
                    continue;
                };
                self.free(&l);
                let inst = self.graph[NodeIndex::new(node)];
                let mut r = self.record(
                    inst.job as usize,
                    inst.index as u64,
                    Outcome::NotRun,
                    Some(&l.resolved),
                );
                r.message = Some(why.to_owned());
                self.sink.instance(r);
                self.outcome[node] = Some(Outcome::NotRun);
                self.summary.not_run += 1;
            }
        }
    }

    /// An instance that failed before anything ran (it could not be resolved, or its
    /// engine refused it): its record, with the reason, and the failure.
    fn refused(&mut self, node: usize, name: &str, mut record: InstanceRecord, message: String) {
        record.message = Some(message.clone());
        self.sink.instance(record);
        self.fail(node, name, None, message, Vec::new(), PathBuf::new());
    }

    fn fail(
        &mut self,
        node: usize,
        name: &str,
        exit_code: Option<i32>,
        message: String,
        stderr_tail: Vec<String>,
        log_dir: PathBuf,
    ) {
        self.outcome[node] = Some(Outcome::Failed);
        self.sink.event(Event::TaskFailed {
            task: name.to_owned(),
            exit_code,
            message: message.clone(),
        });
        self.summary.failed.push(Failure {
            task: name.to_owned(),
            exit_code,
            message,
            stderr_tail,
            log_dir,
        });
    }

    /// After `node` ended: its dependents whose inputs are all there become ready; those
    /// of a failed or skipped node are left, and end as skipped.
    fn release(&mut self, node: usize) {
        if !matches!(self.outcome[node], Some(Outcome::Ran | Outcome::Cached)) {
            return;
        }
        let mut next: Vec<usize> = self
            .graph
            .neighbors_directed(NodeIndex::new(node), Direction::Outgoing)
            .map(|n| n.index())
            .collect();
        // Edges come back newest first; start dependents in plan order.
        next.sort_unstable();
        next.dedup();
        for i in next {
            self.remaining[i] = self.remaining[i].saturating_sub(1);
            if self.remaining[i] == 0 {
                self.ready.push_back(i);
            }
        }
    }

    /// The end of the run: what never ran, what the run made, the engines' folders.
    fn end(mut self, started: Instant) -> Summary {
        self.never_ran();
        let graph = self.graph;
        // Which job reads which job's outputs (an `after` reads nothing), as pairs of
        // positions (reader, read): looked up per edge, so that a gather of many calls
        // costs one lookup per edge, not a scan of its dependencies.
        let reads: std::collections::HashSet<(usize, usize)> = self
            .plan
            .jobs
            .iter()
            .enumerate()
            .flat_map(|(reader, job)| {
                job.after
                    .iter()
                    .filter(|d| !d.order_only)
                    .filter_map(move |d| Some((reader, self.plan.position(&d.job)?)))
            })
            .collect();
        for node in 0..graph.node_count() {
            let inst = graph[NodeIndex::new(node)];
            let (j, index) = (inst.job as usize, inst.index as u64);
            // Final: read by nothing.
            if graph
                .neighbors_directed(NodeIndex::new(node), Direction::Outgoing)
                .any(|n| reads.contains(&(graph[n].job as usize, j)))
            {
                continue;
            }
            if let Some(files) = self.outputs.get(&(j, index)) {
                let name = self.plan.instance_name(j, index);
                for (output, (path, _)) in files.iter() {
                    self.summary
                        .final_outputs
                        .push((format!("{name}.{output}"), path.clone()));
                }
            }
        }
        self.last.refresh_stamps(self.store);
        self.store.save_last(&mut self.last).ok();
        crate::free_later((
            std::mem::take(&mut self.last),
            std::mem::take(&mut self.outputs),
        ));
        self.summary.kept = self
            .engines
            .engines
            .iter()
            .filter_map(|e| e.finish())
            .collect();
        self.summary.elapsed = started.elapsed();
        let s = &self.summary;
        self.sink.event(Event::RunFinished {
            ran: s.ran,
            cached: s.cached,
            failed: s.failed.len(),
            skipped: s.skipped + s.not_run,
            seconds: s.elapsed.as_secs_f64(),
        });
        self.summary
    }

    /// Records every instance that never ran: skipped for a failure, or not run because
    /// the run stopped.
    fn never_ran(&mut self) {
        for node in 0..self.outcome.len() {
            if self.outcome[node].is_some() {
                continue;
            }
            let inst = self.graph[NodeIndex::new(node)];
            let (j, index) = (inst.job as usize, inst.index as u64);
            let end = if self.stopping {
                Outcome::NotRun
            } else {
                Outcome::Skipped
            };
            let mut r = self.record(j, index, end.clone(), None);
            r.message = Some(if self.stopping {
                "not started: the run was stopped".into()
            } else {
                "not started: an instance it reads failed".into()
            });
            self.sink.instance(r);
            self.outcome[node] = Some(end);
            if self.stopping {
                self.summary.not_run += 1;
            } else {
                self.summary.skipped += 1;
                self.sink.event(Event::TaskSkipped {
                    task: self.plan.instance_name(j, index),
                });
            }
        }
    }
}

/// A cache hit with its outputs linked.
struct Hit {
    key: String,
    hit: store::Hit,
    files: Files,
}

impl Scheduler<'_, '_> {
    /// The start of an instance's record; the scheduler fills in what it learns.
    fn record(
        &self,
        j: usize,
        index: u64,
        outcome: Outcome,
        resolved: Option<&Resolved>,
    ) -> InstanceRecord {
        self.record_named(
            self.plan.instance_name(j, index),
            j,
            index,
            outcome,
            resolved,
        )
    }

    /// [`Scheduler::record`], for an instance whose name is at hand.
    fn record_named(
        &self,
        name: String,
        j: usize,
        index: u64,
        outcome: Outcome,
        resolved: Option<&Resolved>,
    ) -> InstanceRecord {
        let job = &self.plan.jobs[j];
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
            engine: engine_of(&self.engines, j),
            made_by: None,
        }
    }
}

/// The engine's name in the records of its instances.
fn engine_of(engines: &Engines<'_>, j: usize) -> &'static str {
    engines.engines[engines.route[j]].name()
}

/// The signals that stop a run: SIGINT (Ctrl-C), SIGTERM and SIGHUP; only SIGINT when the
/// run is detached, whose head a reaper may end without its jobs being cancelled.
struct Interrupts(Vec<(tokio::signal::unix::Signal, &'static str)>);

impl Interrupts {
    fn new(detached: bool) -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ];
        let taken = if detached { 1 } else { kinds.len() };
        Interrupts(
            kinds
                .into_iter()
                .take(taken)
                .filter_map(|(k, name)| Some((signal(k).ok()?, name)))
                .collect(),
        )
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        std::future::poll_fn(|cx| {
            for (s, name) in &mut self.0 {
                if let std::task::Poll::Ready(Some(())) = s.poll_recv(cx) {
                    return std::task::Poll::Ready(*name);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}
