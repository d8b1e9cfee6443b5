//! Recording a run as it happens.
//!
//! [`Recording`] wraps the sink that shows progress: it opens the store when the run
//! starts (so a run refused before anything ran leaves no record), inserts every
//! instance's record as the scheduler reports it, and commits at most every 25 ms and at
//! the end — so recording stays off the critical path, and a killed run leaves a
//! consistent store with its run `running` until the next command marks it `interrupted`.
//! The inserts are made by a thread of their own, which the scheduler hands each record
//! to: on two cores a run of 10,000 cached instances records while it links their outputs.
//! A store that cannot be written never fails the run: a note says what was not recorded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use expc_run::{Event, InstanceRecord, Outcome, Sink, Summary};
use rusqlite::params;
use rusqlite::types::Value;

use crate::meta::RunMeta;
use crate::store::{Result, Store};
use crate::time::rfc3339;

/// How often an open transaction is committed while a run goes on: often enough that a
/// burst of records is written (and checkpointed) as the run goes on, not at its end.
const COMMIT_EVERY: Duration = Duration::from_millis(25);

/// Most records of cached instances handed to the writer at once.
const BATCH: usize = 256;

/// Records a run into the store while passing every event on.
#[derive(Debug)]
pub struct Recording<S> {
    pub inner: S,
    state_dir: PathBuf,
    meta: RunMeta,
    open: Option<Open>,
    /// Why recording stopped, once it did.
    failed: Option<String>,
    /// The run's start and end when they are known from elsewhere (ingested records).
    times: Option<(SystemTime, SystemTime)>,
    /// The run's id once its record is finished.
    finished: Option<String>,
    /// The id the run is recorded under, fixed when the recording is made.
    id: String,
}

/// A run being recorded: records go to the writer thread.
#[derive(Debug)]
struct Open {
    run_id: String,
    /// The runs whose records a cached instance of this run can refer to.
    sources: Arc<Sources>,
    send: mpsc::Sender<Vec<InstanceRecord>>,
    /// Records of cached instances not handed over yet (see [`Recording::record`]).
    pending: Vec<InstanceRecord>,
    writer: JoinHandle<Writer>,
    /// Why the writer stopped, once it did.
    error: Arc<Mutex<Option<String>>>,
}

/// The runs whose records a cached instance can refer to instead of copying them: this
/// run, and those that ended (succeeded or failed) before it started, which have every
/// record they were given. A run that was killed or whose recording stopped may lack some,
/// and is copied from instead.
#[derive(Debug)]
struct Sources {
    run: String,
    /// Asked once per cached instance: hashed with a fast hasher, not SipHash.
    ended: std::collections::HashSet<String, foldhash::fast::RandomState>,
}

impl Sources {
    fn has(&self, run: &str) -> bool {
        run == self.run || self.ended.contains(run)
    }
}

/// The thread that inserts records, with the state of the run's rows.
#[derive(Debug)]
struct Writer {
    store: Store,
    meta: Arc<RunMeta>,
    run_id: String,
    next_task: i64,
    next_artifact: i64,
    artifacts: HashMap<(PathBuf, String), i64>,
    /// The runs whose records a cached instance of this run can refer to (the same the
    /// scheduler is told, through [`Sink::can_refer`]).
    sources: Arc<Sources>,
    /// Outputs of the instances recorded by reference, with their task id: for the
    /// artifact row made if an instance of this run reads one. Indexed by path and digest
    /// (in `reused`) only once an instance reads a file this run has no row for.
    reused_pending: Vec<(i64, expc_run::Generated)>,
    reused: HashMap<(PathBuf, String), (i64, expc_run::Generated)>,
    in_tx: bool,
    last_commit: Instant,
    /// The last time written, by its milliseconds since the epoch, and its text.
    last_time: Option<(u128, String)>,
    host: Option<String>,
    error: Arc<Mutex<Option<String>>>,
}

impl<S: Sink> Recording<S> {
    pub fn new(inner: S, state_dir: &Path, meta: RunMeta) -> Self {
        let id = new_run_id(SystemTime::now(), &meta.spec_hash);
        Self {
            inner,
            state_dir: state_dir.to_path_buf(),
            meta,
            open: None,
            failed: None,
            times: None,
            finished: None,
            id,
        }
    }

    /// Records the run with these start and end times instead of the clock's, and with no
    /// process of its own: for runs ingested from an engine's records.
    pub fn with_times(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.times = Some((start, end));
        self.id = new_run_id(start, &self.meta.spec_hash);
        self
    }

    /// Records the run under `id`, chosen by whoever started this process: `expc run
    /// --detach` names the run before its head starts, to say it and find it again.
    pub fn with_id(mut self, id: String) -> Self {
        self.id = id;
        self
    }

    /// The id the run will be recorded under (known before it starts, so that the cache
    /// entries it makes can name it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run's id, once it started.
    pub fn run_id(&self) -> Option<&str> {
        self.open
            .as_ref()
            .map(|o| o.run_id.as_str())
            .or(self.finished.as_deref())
    }

    /// Why provenance could not be recorded, if it could not.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn begin(&mut self, instances: u64) -> Result<()> {
        let store = Store::open(&self.state_dir)?;
        let now = self.times.map_or_else(SystemTime::now, |t| t.0);
        let own = self.times.is_none();
        let run_id = self.id.clone();
        store.conn.set_prepared_statement_cache_capacity(64);
        // The recorder's rows refer to its run's row, inserted first, and to each other by
        // construction: checking each row's foreign keys is work for nothing.
        store.conn.pragma_update(None, "foreign_keys", "OFF")?;
        // Its statuses and roles come from enums, always among the values the `CHECK`
        // constraints allow; SQLite checks an `IN (…)` list by building a table of the
        // values for every row inserted, most of the cost of a row.
        store
            .conn
            .pragma_update(None, "ignore_check_constraints", "ON")?;
        // The write-ahead log is copied into the database by the commits of the recorder's
        // thread as the run goes on (every 256 pages, not 1,000), so that little is left
        // for the checkpoint made when the run ends and closes the store.
        store.conn.pragma_update(None, "wal_autocheckpoint", 256)?;
        // A multi-row `INSERT` keeps a statement journal (to undo the statement alone on
        // an error): in memory, not written to a temporary file page by page.
        store.conn.pragma_update(None, "temp_store", "MEMORY")?;
        let sources = Arc::new(Sources {
            run: run_id.clone(),
            ended: store
                .conn
                .prepare("SELECT id FROM runs WHERE status IN ('succeeded', 'failed')")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()?,
        });
        let error = Arc::new(Mutex::new(None));
        let mut writer = Writer {
            store,
            meta: Arc::new(self.meta.clone()),
            run_id: run_id.clone(),
            next_task: 0,
            next_artifact: 0,
            artifacts: HashMap::new(),
            sources: sources.clone(),
            reused_pending: Vec::new(),
            reused: HashMap::new(),
            in_tx: false,
            last_commit: Instant::now(),
            last_time: None,
            host: self.meta.host.clone(),
            error: error.clone(),
        };
        let (send, receive) = mpsc::channel::<Vec<InstanceRecord>>();
        let writer = std::thread::Builder::new()
            .name("expc-provenance".into())
            .spawn(move || {
                // The run's row is inserted here, while the scheduler goes on: its commit
                // waits on the log's first `fsync`.
                if let Err(e) = writer.insert_run(now, own, instances) {
                    *lock(&writer.error) = Some(e.to_string());
                }
                for batch in receive {
                    if writer.failed() {
                        continue;
                    }
                    if let Err(e) = writer.record(batch) {
                        *lock(&writer.error) = Some(e.to_string());
                    }
                }
                writer
            })
            .map_err(|e| crate::store::Error(format!("cannot start the recorder: {e}")))?;
        self.open = Some(Open {
            run_id,
            sources,
            send,
            pending: Vec::new(),
            writer,
            error,
        });
        Ok(())
    }

    /// Hands a record to the writer. Records of cached instances, which a rerun reports
    /// by the thousand in a burst, go over together, up to [`BATCH`] at once; any other
    /// record or event sends what is waiting at once, so nothing waits behind a running
    /// task.
    fn record(&mut self, r: InstanceRecord) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        let cached = r.outcome == Outcome::Cached;
        o.pending.push(r);
        if cached && o.pending.len() < BATCH {
            return Ok(());
        }
        self.flush()
    }

    /// Sends the records waiting, if any.
    fn flush(&mut self) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        if let Some(e) = lock(&o.error).clone() {
            return Err(crate::store::Error(e));
        }
        if o.pending.is_empty() {
            return Ok(());
        }
        o.send
            .send(std::mem::take(&mut o.pending))
            .map_err(|_| crate::store::Error("the recorder stopped".into()))
    }

    /// Ends the run's record with its outcome. Call once, after `expc_run::run` returned.
    pub fn finish(&mut self, summary: &Summary) {
        if let Err(e) = self.flush() {
            self.stop(e.to_string());
        }
        let Some(o) = self.open.take() else {
            return;
        };
        // Every record sent is inserted before the run's row is updated.
        drop(o.send);
        let run_id = o.run_id;
        let result = match o.writer.join() {
            Err(_) => Err(crate::store::Error("the recorder stopped".into())),
            Ok(mut w) => match w.error() {
                Some(e) => Err(crate::store::Error(e)),
                None => {
                    let status = if summary.interrupted {
                        "interrupted"
                    } else if summary.success() {
                        "succeeded"
                    } else {
                        "failed"
                    };
                    w.finish(
                        status,
                        self.times.map_or_else(SystemTime::now, |t| t.1),
                        summary,
                    )
                }
            },
        };
        self.finished = Some(run_id);
        if let Err(e) = result {
            self.failed = Some(e.to_string());
        }
    }
}

/// A run's id: its start time, then six hex digits of a hash of that time, the process and
/// the spec (`20261201T230512Z-3fa9c1`), so ids sort by time and do not collide.
pub fn new_run_id(start: SystemTime, spec_hash: &str) -> String {
    let pid = std::process::id();
    format!(
        "{}-{}",
        crate::time::compact(start),
        &blake3::hash(format!("{start:?}{pid}{spec_hash}").as_bytes()).to_hex()[..6]
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    /// Inserts the run's row (status `running`) and its params, and commits them.
    fn insert_run(&self, now: SystemTime, own: bool, instances: u64) -> Result<()> {
        let (m, run_id, pid) = (&*self.meta, &self.run_id, std::process::id());
        let tx = self.store.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO runs (id, experiment, spec_path, spec_hash, pipeline, expc_version, user, host,
               pid, pid_start, started_at, status, git_commit, git_dirty, git_diff_hash, environment, instances)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', ?12, ?13, ?14, ?15, ?16)",
            params![
                run_id,
                m.experiment,
                m.spec_path.display().to_string(),
                m.spec_hash,
                m.pipeline,
                env!("CARGO_PKG_VERSION"),
                m.user,
                m.host,
                own.then_some(pid),
                own.then(|| crate::meta::process_start(pid)).flatten(),
                rfc3339(now),
                m.git.as_ref().map(|g| g.commit.clone()),
                m.git.as_ref().map(|g| g.dirty),
                m.git.as_ref().and_then(|g| g.diff_hash.clone()),
                m.environment.to_string(),
                instances as i64,
            ],
        )?;
        for p in &m.params {
            tx.execute(
                "INSERT INTO params (run_id, name, type, value, num) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, p.name, p.ty, p.value.to_string(), p.num],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A time as stored: the text of the last one is kept, since the instances of a rerun
    /// are found cached hundreds to a millisecond.
    fn time_text(&mut self, t: SystemTime) -> String {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        match &self.last_time {
            Some((at, text)) if *at == ms => text.clone(),
            _ => {
                let text = rfc3339(t);
                self.last_time = Some((ms, text.clone()));
                text
            }
        }
    }

    fn failed(&self) -> bool {
        lock(&self.error).is_some()
    }

    fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    /// Inserts a batch of records: the rows of each table together, with multi-row
    /// `INSERT`s (one statement per many rows instead of one per row), each instance's own
    /// row first so its values, usages and metrics can refer to it.
    ///
    /// A cached instance whose outputs were made by an instance of a run recorded whole
    /// is one row referring to that instance's record (`source_run`, `source_task`): its
    /// values, outputs, reads and metrics are there already, and are not copied.
    fn record(&mut self, batch: Vec<InstanceRecord>) -> Result<()> {
        let meta = self.meta.clone();
        let meta = &*meta;
        let o = self;
        if !o.in_tx {
            o.store.conn.execute_batch("BEGIN")?;
            o.in_tx = true;
        }
        let run_id = Value::Text(o.run_id.clone());
        let mut tasks = Rows::new(
            "INSERT INTO tasks (run_id, id, instance, call, task, idx, cache_key, argv, status,
               started_at, ended_at, host, exit_code, attempts, backend, resource, message, job_id,
               source_run, source_task)",
            20,
        );
        let mut values = Rows::new(
            "INSERT OR REPLACE INTO task_values (run_id, task_id, name, value, num)",
            5,
        );
        let mut artifacts = Rows::new(
            "INSERT INTO artifacts (run_id, id, path, digest, size, is_dir, type, role, name, produced_by)",
            10,
        );
        let mut usages = Rows::new(
            "INSERT INTO usages (run_id, task_id, artifact_id, input, used_as)",
            5,
        );
        let mut metrics = Rows::new("INSERT INTO metrics (run_id, task_id, name, value)", 4);
        let mut efficiency = Rows::new(
            "INSERT INTO efficiency (run_id, task_id, elapsed_ms, cpu_ms, max_rss, cpus, mem, time_limit_s)",
            8,
        );
        let mut refs = RefRows::default();
        for mut r in batch {
            let task_id = o.next_task;
            o.next_task += 1;
            let (declared, resource) = crate::meta::placement(meta, &r.call);
            // The engine that ran it (`local` under `--local`), else the spec's placement.
            let backend = if r.engine.is_empty() {
                declared
            } else {
                r.engine
            };
            let status = match r.outcome {
                Outcome::Ran => "ran",
                Outcome::Cached => "cached",
                Outcome::Failed => "failed",
                Outcome::Skipped => "skipped",
                Outcome::NotRun => "not_run",
            };
            // A cached instance starts and ends at once: its time is written once.
            let started = r.started.map(|t| o.time_text(t));
            let ended = if r.ended == r.started {
                started.clone()
            } else {
                r.ended.map(|t| o.time_text(t))
            };
            let source = match &r.made_by {
                Some(m) if r.outcome == Outcome::Cached && o.sources.has(&m.run) => Some(m),
                _ => None,
            };
            if let Some(m) = source {
                let shared = RefShared {
                    call: &r.call,
                    task: &r.task,
                    attempts: r.attempts,
                    backend,
                    resource,
                    source_run: &m.run,
                };
                let row = RefRow {
                    id: task_id,
                    instance: std::mem::take(&mut r.name),
                    idx: r.index as i64,
                    time: started,
                    source: m.task as i64,
                };
                refs.push(shared, row);
                o.reused_pending
                    .extend(r.generated.drain(..).map(|g| (task_id, g)));
                continue;
            }
            let host = r.host.clone().or_else(|| o.host.clone());
            tasks.push([
                run_id.clone(),
                task_id.into(),
                r.name.clone().into(),
                r.call.clone().into(),
                r.task.clone().into(),
                (r.index as i64).into(),
                r.key.clone().into(),
                (!r.argv.is_empty())
                    .then(|| serde_json::to_string(&r.argv).unwrap_or_default())
                    .into(),
                status.to_owned().into(),
                started.clone().into(),
                ended.into(),
                r.started.and(host).into(),
                r.exit_code.into(),
                r.attempts.into(),
                backend.to_owned().into(),
                resource.to_owned().into(),
                r.message.clone().into(),
                r.job_id.clone().into(),
                Value::Null,
                Value::Null,
            ]);
            if let Some(u) = &r.usage {
                efficiency.push(efficiency_row(&run_id, task_id, u));
            }
            for (name, value) in &r.values {
                values.push([
                    run_id.clone(),
                    task_id.into(),
                    name.clone().into(),
                    value.clone().into(),
                    value.parse::<f64>().ok().filter(|f| f.is_finite()).into(),
                ]);
            }
            for u in &r.used {
                let key = (u.path.clone(), u.digest.clone());
                let artifact = match o.artifacts.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = o.next_artifact;
                        o.next_artifact += 1;
                        for (producer, g) in o.reused_pending.drain(..) {
                            o.reused
                                .insert((g.path.clone(), g.digest.clone()), (producer, g));
                        }
                        if let Some((producer, g)) = o.reused.get(&key) {
                            // An output of an instance recorded by reference: it gets its
                            // row in this run when an instance of this run reads it.
                            artifacts.push(generated_row(&run_id, id, g, *producer));
                        } else {
                            let canonical =
                                std::fs::canonicalize(&u.path).unwrap_or(u.path.clone());
                            let (name, ty, role) = meta
                                .declared
                                .get(&canonical)
                                .map_or((None, None, "file"), |(id, ty, role)| {
                                    (Some(id.clone()), Some(ty.clone()), *role)
                                });
                            let meta_fs = std::fs::metadata(&u.path).ok();
                            artifacts.push([
                                run_id.clone(),
                                id.into(),
                                u.path.display().to_string().into(),
                                u.digest.clone().into(),
                                meta_fs
                                    .as_ref()
                                    .filter(|m| m.is_file())
                                    .map(|m| m.len() as i64)
                                    .into(),
                                meta_fs.as_ref().is_some_and(|m| m.is_dir()).into(),
                                ty.into(),
                                role.to_owned().into(),
                                name.into(),
                                Value::Null,
                            ]);
                        }
                        o.artifacts.insert(key, id);
                        id
                    }
                };
                usages.push([
                    run_id.clone(),
                    task_id.into(),
                    artifact.into(),
                    u.input.clone().into(),
                    Value::from(if u.program { "program" } else { "input" }.to_owned()),
                ]);
            }
            for g in &r.generated {
                let id = o.next_artifact;
                o.next_artifact += 1;
                artifacts.push(generated_row(&run_id, id, g, task_id));
                o.artifacts.insert((g.path.clone(), g.digest.clone()), id);
                if role_of(&g.ty) == "metrics" {
                    for (name, value) in read_metrics(&g.path) {
                        metrics.push([run_id.clone(), task_id.into(), name.into(), value.into()]);
                    }
                }
            }
        }
        let conn = &o.store.conn;
        refs.insert(conn, &o.run_id)?;
        for rows in [&tasks, &values, &artifacts, &usages, &metrics, &efficiency] {
            rows.insert(conn)?;
        }
        if o.last_commit.elapsed() >= COMMIT_EVERY {
            o.store.conn.execute_batch("COMMIT")?;
            o.in_tx = false;
            o.last_commit = Instant::now();
        }
        Ok(())
    }

    /// Adds the run's models to the registry: each instance of a registered call that
    /// ran or was cached, and each instance of an evaluating task, in the run's last
    /// transaction (a run killed before has registered nothing).
    fn register(&self) -> Result<()> {
        let conn = &self.store.conn;
        let live = "status IN ('ran', 'cached')";
        for r in &self.meta.registry.registrations {
            conn.execute(
                &format!("INSERT OR IGNORE INTO registrations (run_id, task_id, output, name) SELECT run_id, id, ?3, ?4 FROM tasks WHERE run_id = ?1 AND call = ?2 AND {live}"),
                params![self.run_id, r.call, r.output, r.name],
            )?;
        }
        for (task, input) in &self.meta.registry.evaluations {
            conn.execute(
                &format!("INSERT OR IGNORE INTO evaluations (run_id, task_id, input) SELECT run_id, id, ?3 FROM tasks WHERE run_id = ?1 AND task = ?2 AND {live}"),
                params![self.run_id, task, input],
            )?;
        }
        Ok(())
    }

    /// Updates the run's row with its outcome and commits.
    fn finish(&mut self, status: &str, ended: SystemTime, summary: &Summary) -> Result<()> {
        // The last commit does not checkpoint the log on its way (two `fsync`s): closing
        // the store right after checkpoints it, once.
        self.store
            .conn
            .pragma_update(None, "wal_autocheckpoint", 0)?;
        if !self.in_tx {
            self.store.conn.execute_batch("BEGIN")?;
        }
        self.store.conn.execute(
            "UPDATE runs SET status = ?2, ended_at = ?3, ran = ?4, cached = ?5, failed = ?6, skipped = ?7 WHERE id = ?1",
            params![
                self.run_id,
                status,
                rfc3339(ended),
                summary.ran as i64,
                summary.cached as i64,
                summary.failed.len() as i64,
                (summary.skipped + summary.not_run) as i64,
            ],
        )?;
        self.register()?;
        self.store.conn.execute_batch("COMMIT")?;
        self.in_tx = false;
        Ok(())
    }
}

impl<S: Sink> Recording<S> {
    fn stop(&mut self, why: String) {
        if self.failed.is_none() {
            self.inner.event(Event::Note {
                message: format!("provenance of this run is not recorded from here on: {why}"),
            });
            self.failed = Some(why);
        }
        self.open = None;
    }
}

impl<S: Sink> Sink for Recording<S> {
    fn event(&mut self, event: Event) {
        if let Event::RunStarted { instances } = &event {
            if self.failed.is_none() {
                if let Err(e) = self.begin(*instances) {
                    self.stop(e.to_string());
                }
            }
        } else if !matches!(event, Event::TaskCached { .. }) && self.failed.is_none() {
            if let Err(e) = self.flush() {
                self.stop(e.to_string());
            }
        }
        self.inner.event(event);
    }

    /// Keeps the record for the store; the sink it wraps is given the events.
    fn instance(&mut self, record: InstanceRecord) {
        if self.failed.is_none() {
            if let Err(e) = self.record(record) {
                self.stop(e.to_string());
            }
        }
    }

    /// Kept in the run's description, written when the run starts.
    fn remote_inputs(&mut self, inputs: &[expc_run::RemoteInput]) {
        self.meta.remote_inputs(inputs);
        self.inner.remote_inputs(inputs);
    }

    fn can_refer(&mut self, made_by: &expc_run::MadeBy) -> bool {
        self.open
            .as_ref()
            .is_some_and(|o| o.sources.has(&made_by.run))
    }
}

/// Most rows one `INSERT` statement carries: enough that the cost of a statement
/// (binding, stepping, resetting) is spread over many rows, and within SQLite's oldest
/// limit of [`MAX_PARAMETERS`].
const ROWS_PER_INSERT: usize = 50;
const MAX_PARAMETERS: usize = 999;

/// The rows of one table waiting to be inserted, their values in column order.
/// The `efficiency` row of an instance the engine measured.
fn efficiency_row(run_id: &Value, task_id: i64, u: &expc_run::events::Usage) -> [Value; 8] {
    let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    [
        run_id.clone(),
        task_id.into(),
        big(u.elapsed_ms).into(),
        big(u.cpu_ms).into(),
        u.max_rss.map(big).into(),
        i64::from(u.cpus).into(),
        u.mem.map(big).into(),
        u.time_limit_s.map(big).into(),
    ]
}

struct Rows {
    head: &'static str,
    columns: usize,
    values: Vec<Value>,
}

impl Rows {
    fn new(head: &'static str, columns: usize) -> Self {
        Rows {
            head,
            columns,
            values: Vec::new(),
        }
    }

    fn push<const N: usize>(&mut self, row: [Value; N]) {
        debug_assert_eq!(N, self.columns);
        self.values.extend(row);
    }

    /// Inserts the rows, up to [`ROWS_PER_INSERT`] at a time. The statement for a full
    /// chunk and for one row are kept prepared; other sizes (the rest of a batch) are
    /// prepared once.
    fn insert(&self, conn: &rusqlite::Connection) -> Result<()> {
        if self.values.is_empty() {
            return Ok(());
        }
        let per = ROWS_PER_INSERT.min(MAX_PARAMETERS / self.columns);
        let row = format!("({})", vec!["?"; self.columns].join(", "));
        for chunk in self.values.chunks(per * self.columns) {
            let n = chunk.len() / self.columns;
            let sql = format!("{} VALUES {}", self.head, vec![row.as_str(); n].join(", "));
            let params = rusqlite::params_from_iter(chunk.iter());
            if n == per || n == 1 {
                conn.prepare_cached(&sql)?.execute(params)?;
            } else {
                conn.prepare(&sql)?.execute(params)?;
            }
        }
        Ok(())
    }
}

/// The `tasks` rows of instances recorded by reference, in groups of consecutive rows
/// that differ only in their id, instance, index, time and source task: the cached
/// instances of a sweep. A group is inserted from a list of those five values per row, the
/// rest bound once (`INSERT … SELECT … FROM (VALUES …)`): a quarter of the values a row
/// of its own binds.
#[derive(Default)]
struct RefRows {
    groups: Vec<RefGroup>,
}

struct RefGroup {
    call: String,
    task: String,
    attempts: u32,
    backend: String,
    resource: String,
    source_run: String,
    rows: Vec<RefRow>,
}

/// What is a row's own in a [`RefGroup`].
struct RefRow {
    id: i64,
    instance: String,
    idx: i64,
    time: Option<String>,
    source: i64,
}

/// What the rows of a [`RefGroup`] share.
#[derive(Clone, Copy)]
struct RefShared<'a> {
    call: &'a str,
    task: &'a str,
    attempts: u32,
    backend: &'a str,
    resource: &'a str,
    source_run: &'a str,
}

/// Most rows of a [`RefRows`] group one statement inserts (7 + 5 × 128 parameters, within
/// [`MAX_PARAMETERS`]). A group is inserted in statements of a power of two rows each,
/// so that a handful of statements, kept prepared, serve every size.
const REF_ROWS_PER_INSERT: usize = 128;

impl RefRows {
    fn push(&mut self, shared: RefShared<'_>, row: RefRow) {
        let same = self.groups.last().is_some_and(|g| {
            g.call == shared.call
                && g.task == shared.task
                && g.attempts == shared.attempts
                && g.backend == shared.backend
                && g.resource == shared.resource
                && g.source_run == shared.source_run
        });
        if !same {
            self.groups.push(RefGroup {
                call: shared.call.to_owned(),
                task: shared.task.to_owned(),
                attempts: shared.attempts,
                backend: shared.backend.to_owned(),
                resource: shared.resource.to_owned(),
                source_run: shared.source_run.to_owned(),
                rows: Vec::new(),
            });
        }
        if let Some(g) = self.groups.last_mut() {
            g.rows.push(row);
        }
    }

    fn insert(&self, conn: &rusqlite::Connection, run_id: &str) -> Result<()> {
        for g in &self.groups {
            let mut rest = &g.rows[..];
            while !rest.is_empty() {
                // The largest power of two that fits.
                let n = 1usize << rest.len().min(REF_ROWS_PER_INSERT).ilog2();
                let mut stmt = conn.prepare_cached(ref_rows_sql(n))?;
                stmt.raw_bind_parameter(1, run_id)?;
                stmt.raw_bind_parameter(2, &g.call)?;
                stmt.raw_bind_parameter(3, &g.task)?;
                stmt.raw_bind_parameter(4, g.attempts)?;
                stmt.raw_bind_parameter(5, &g.backend)?;
                stmt.raw_bind_parameter(6, &g.resource)?;
                stmt.raw_bind_parameter(7, &g.source_run)?;
                for (i, row) in rest[..n].iter().enumerate() {
                    let at = 8 + 5 * i;
                    stmt.raw_bind_parameter(at, row.id)?;
                    stmt.raw_bind_parameter(at + 1, &row.instance)?;
                    stmt.raw_bind_parameter(at + 2, row.idx)?;
                    stmt.raw_bind_parameter(at + 3, &row.time)?;
                    stmt.raw_bind_parameter(at + 4, row.source)?;
                }
                stmt.raw_execute()?;
                rest = &rest[n..];
            }
        }
        Ok(())
    }
}

/// The statement inserting `n` rows of a [`RefRows`] group. `OR FAIL`: a statement that
/// could be undone alone (the default, `ABORT`) keeps a journal of every page it changes,
/// which costs more than the inserts; a failed insert stops the recording, and the
/// transaction is not committed, either way.
fn ref_rows_sql(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=REF_ROWS_PER_INSERT.ilog2())
            .map(|p| ref_rows_sql_of(1 << p))
            .collect()
    });
    &all[n.ilog2() as usize]
}

fn ref_rows_sql_of(n: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::from(
        "INSERT OR FAIL INTO tasks (run_id, id, instance, call, task, idx, status, started_at,
           ended_at, attempts, backend, resource, source_run, source_task)
         SELECT ?1, column1, column2, ?2, ?3, column3, 'cached', column4, column4, ?4, ?5, ?6,
           ?7, column5
         FROM (VALUES ",
    );
    for i in 0..n {
        let at = 8 + 5 * i;
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(
            sql,
            "{sep}(?{at}, ?{}, ?{}, ?{}, ?{})",
            at + 1,
            at + 2,
            at + 3,
            at + 4
        );
    }
    sql.push(')');
    sql
}

/// The role of an output of a declared type.
fn role_of(ty: &str) -> &'static str {
    if ty.starts_with("Model") {
        "model"
    } else if ty.starts_with("Metrics") {
        "metrics"
    } else {
        "output"
    }
}

/// The artifact row of an output made by the instance `producer`.
fn generated_row(run_id: &Value, id: i64, g: &expc_run::Generated, producer: i64) -> [Value; 10] {
    [
        run_id.clone(),
        id.into(),
        g.path.display().to_string().into(),
        g.digest.clone().into(),
        (g.size as i64).into(),
        g.is_dir.into(),
        g.ty.clone().into(),
        role_of(&g.ty).to_owned().into(),
        g.name.clone().into(),
        producer.into(),
    ]
}

/// The numbers of a metrics file, nested ones by dotted names, in name order.
fn read_metrics(path: &Path) -> Vec<(String, f64)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    expc_run::events::metrics_of(&bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use expc_run::Generated;
    use expc_run::events::Collect;
    use std::collections::BTreeMap;

    fn meta(dir: &Path) -> RunMeta {
        RunMeta {
            experiment: Some("t".into()),
            spec_path: dir.join("t.exp"),
            spec_hash: "0".repeat(64),
            pipeline: "main".into(),
            params: Vec::new(),
            git: None,
            environment: serde_json::json!({}),
            user: None,
            host: Some("here".into()),
            placements: BTreeMap::new(),
            declared: BTreeMap::new(),
            registry: Default::default(),
        }
    }

    /// A gather, instance `i`, that read the outputs of instances 0 to `n - 1`.
    fn gather(i: u64, n: u64, dir: &Path) -> InstanceRecord {
        let mut gather = instance(i, Outcome::Ran, dir);
        gather.used = (0..n)
            .map(|k| expc_run::Used {
                input: "parts".into(),
                path: dir.join(format!("out/{k}.txt")),
                digest: format!("{:064x}", k + 1),
                program: false,
            })
            .collect();
        gather
    }

    fn instance(i: u64, outcome: Outcome, dir: &Path) -> InstanceRecord {
        let now = SystemTime::now();
        InstanceRecord {
            name: format!("one[{i}]"),
            call: "o".into(),
            task: "one".into(),
            index: i,
            outcome,
            key: Some(format!("{i:064x}")),
            argv: vec!["touch".into(), format!("out{i}.txt")],
            started: Some(now),
            ended: Some(now),
            attempts: 0,
            exit_code: None,
            message: None,
            used: Vec::new(),
            values: vec![("i".into(), i.to_string())],
            generated: vec![Generated {
                name: "out".into(),
                path: dir.join(format!("out/{i}.txt")),
                digest: format!("{:064x}", i + 1),
                size: i,
                is_dir: false,
                ty: "File<Text>".into(),
            }],
            host: None,
            job_id: None,
            engine: "",
            made_by: None,
            usage: None,
        }
    }

    /// Cached records go over in batches and are inserted with multi-row statements: every
    /// row arrives (whole chunks, the rest of a batch, single records), in order, and the
    /// gather's usages point at the artifacts made by the instances it read.
    #[test]
    fn batched_records_are_all_inserted_in_order() {
        let dir = std::env::temp_dir().join(format!("expc-record-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = dir.join(".expc");
        let mut rec = Recording::new(Collect::default(), &state, meta(&dir));
        rec.event(Event::RunStarted { instances: 0 });
        // More than one batch, not a multiple of a statement's rows; one record ran between.
        let n = 2 * BATCH as u64 + 77;
        for i in 0..n {
            let outcome = if i == 130 {
                Outcome::Ran
            } else {
                Outcome::Cached
            };
            rec.instance(instance(i, outcome, &dir));
        }
        rec.instance(gather(n, n, &dir));
        rec.finish(&Summary::default());
        assert_eq!(rec.failure(), None);

        let store = Store::open(&state).unwrap();
        let count = |sql: &str| -> i64 { store.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT COUNT(*) FROM tasks"), n as i64 + 1);
        assert_eq!(count("SELECT COUNT(*) FROM task_values"), n as i64 + 1);
        assert_eq!(count("SELECT COUNT(*) FROM artifacts"), n as i64 + 1);
        assert_eq!(count("SELECT COUNT(*) FROM usages"), n as i64);
        // Ids follow the order the records came in, and each row has its own values.
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM tasks t JOIN task_values v ON v.run_id = t.run_id AND v.task_id = t.id WHERE t.idx = t.id AND v.num = t.idx"
            ),
            n as i64 + 1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM tasks WHERE status = 'ran'"),
            2,
            "the one that ran and the gather"
        );
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM tasks WHERE started_at IS NOT NULL AND started_at = ended_at"
            ),
            n as i64 + 1
        );
        // Every usage of the gather is the artifact its instance made (none added).
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM usages u JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id JOIN tasks t ON t.run_id = a.run_id AND t.id = a.produced_by WHERE u.task_id = (SELECT MAX(id) FROM tasks)"
            ),
            n as i64
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM artifacts WHERE size = produced_by"),
            n as i64 + 1
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A cached instance whose outputs an earlier, finished run made is one row naming that
    /// run's record: no values, outputs or metrics are copied, an output is given a row
    /// only when an instance of the rerun reads it, and the run read back is whole. A
    /// source run that did not finish (or is unknown) is copied from, as before.
    #[test]
    fn cached_instances_refer_to_the_record_that_made_them() {
        let dir = std::env::temp_dir().join(format!("expc-record-ref-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = dir.join(".expc");
        let n = 40u64;
        let mut first = Recording::new(Collect::default(), &state, meta(&dir));
        first.event(Event::RunStarted { instances: n });
        for i in 0..n {
            first.instance(instance(i, Outcome::Ran, &dir));
        }
        first.finish(&Summary::default());
        let made_in = first.run_id().unwrap().to_owned();

        let mut second = Recording::new(Collect::default(), &state, meta(&dir));
        second.event(Event::RunStarted { instances: n + 2 });
        for i in 0..n {
            let mut r = instance(i, Outcome::Cached, &dir);
            r.made_by = Some(expc_run::MadeBy {
                run: made_in.clone(),
                task: i,
            });
            second.instance(r);
        }
        // One whose source is a run that never finished: copied.
        let mut lost = instance(n, Outcome::Cached, &dir);
        lost.made_by = Some(expc_run::MadeBy {
            run: "20260101T000000Z-000000".into(),
            task: 0,
        });
        second.instance(lost);
        second.instance(gather(n + 1, n, &dir));
        second.finish(&Summary::default());
        assert_eq!(second.failure(), None);
        let rerun = second.run_id().unwrap().to_owned();

        let store = Store::open(&state).unwrap();
        let count =
            |sql: &str| -> i64 { store.conn.query_row(sql, [&rerun], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT COUNT(*) FROM tasks WHERE run_id = ?1"),
            n as i64 + 2
        );
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM tasks WHERE run_id = ?1 AND source_run IS NOT NULL AND source_task = idx"
            ),
            n as i64
        );
        // Values: the copied one's and the gather's only.
        assert_eq!(
            count("SELECT COUNT(*) FROM task_values WHERE run_id = ?1"),
            2
        );
        // Artifacts: the outputs the gather read (made by instances recorded by reference,
        // so produced by their rows in this run), the copied one's output and the gather's.
        assert_eq!(
            count("SELECT COUNT(*) FROM artifacts WHERE run_id = ?1"),
            n as i64 + 2
        );
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM usages u JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id JOIN tasks t ON t.run_id = a.run_id AND t.id = a.produced_by WHERE u.run_id = ?1 AND t.status = 'cached'"
            ),
            n as i64
        );
        // The views show every instance whole.
        assert_eq!(
            count("SELECT COUNT(*) FROM task_inputs WHERE run_id = ?1"),
            n as i64 + 2
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM task_outputs WHERE run_id = ?1"),
            n as i64 + 2
        );
        drop(store);
        let store = Store::open_read_only(&state).unwrap();
        let a = crate::query::run(&store, &made_in).unwrap();
        let b = crate::query::run(&store, &rerun).unwrap();
        for i in 0..n as usize {
            let (x, y) = (&a.tasks[i], &b.tasks[i]);
            assert_eq!(
                (&x.instance, &x.argv, &x.values, &x.cache_key),
                (&y.instance, &y.argv, &y.values, &y.cache_key)
            );
            let made = |v: &crate::query::RunView, id: i64| -> Vec<String> {
                v.artifacts
                    .iter()
                    .filter(|a| a.produced_by == Some(id))
                    .map(|a| format!("{} {}", a.path, a.digest))
                    .collect()
            };
            assert_eq!(made(&a, x.id), made(&b, y.id));
            assert_eq!(made(&b, y.id).len(), 1);
        }
        assert_eq!(b.usages.len(), n as usize);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
