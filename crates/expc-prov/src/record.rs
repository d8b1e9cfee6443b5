//! Recording a run as it happens.
//!
//! [`Recording`] wraps the sink that shows progress: it opens the store when the run
//! starts (so a run refused before anything ran leaves no record), inserts every
//! instance's record as the scheduler reports it, and commits at most every 200 ms and at
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

use crate::meta::RunMeta;
use crate::store::{Result, Store};
use crate::time::rfc3339;

/// How often an open transaction is committed while a run goes on.
const COMMIT_EVERY: Duration = Duration::from_millis(200);

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
}

/// A run being recorded: records go to the writer thread.
#[derive(Debug)]
struct Open {
    run_id: String,
    send: mpsc::Sender<Box<InstanceRecord>>,
    writer: JoinHandle<Writer>,
    /// Why the writer stopped, once it did.
    error: Arc<Mutex<Option<String>>>,
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
    in_tx: bool,
    last_commit: Instant,
    host: Option<String>,
    error: Arc<Mutex<Option<String>>>,
}

impl<S: Sink> Recording<S> {
    pub fn new(inner: S, state_dir: &Path, meta: RunMeta) -> Self {
        Self {
            inner,
            state_dir: state_dir.to_path_buf(),
            meta,
            open: None,
            failed: None,
            times: None,
            finished: None,
        }
    }

    /// Records the run with these start and end times instead of the clock's, and with no
    /// process of its own: for runs ingested from an engine's records.
    pub fn with_times(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.times = Some((start, end));
        self
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
        let pid = std::process::id();
        let own = self.times.is_none();
        let run_id = format!(
            "{}-{}",
            crate::time::compact(now),
            &blake3::hash(format!("{now:?}{pid}{}", self.meta.spec_hash).as_bytes()).to_hex()[..6]
        );
        let m = &self.meta;
        let tx = store.conn.unchecked_transaction()?;
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
        let error = Arc::new(Mutex::new(None));
        let mut writer = Writer {
            store,
            meta: Arc::new(self.meta.clone()),
            run_id: run_id.clone(),
            next_task: 0,
            next_artifact: 0,
            artifacts: HashMap::new(),
            in_tx: false,
            last_commit: Instant::now(),
            host: self.meta.host.clone(),
            error: error.clone(),
        };
        let (send, receive) = mpsc::channel::<Box<InstanceRecord>>();
        let writer = std::thread::Builder::new()
            .name("expc-provenance".into())
            .spawn(move || {
                for r in receive {
                    if writer.failed() {
                        continue;
                    }
                    if let Err(e) = writer.record(&r) {
                        *lock(&writer.error) = Some(e.to_string());
                    }
                }
                writer
            })
            .map_err(|e| crate::store::Error(format!("cannot start the recorder: {e}")))?;
        self.open = Some(Open {
            run_id,
            send,
            writer,
            error,
        });
        Ok(())
    }

    /// Hands a record to the writer.
    fn record(&mut self, r: &InstanceRecord) -> Result<()> {
        let Some(o) = self.open.as_mut() else {
            return Ok(());
        };
        if let Some(e) = lock(&o.error).clone() {
            return Err(crate::store::Error(e));
        }
        o.send
            .send(Box::new(r.clone()))
            .map_err(|_| crate::store::Error("the recorder stopped".into()))
    }
    /// Ends the run's record with its outcome. Call once, after `expc_run::run` returned.
    pub fn finish(&mut self, summary: &Summary) {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    fn failed(&self) -> bool {
        lock(&self.error).is_some()
    }

    fn error(&self) -> Option<String> {
        lock(&self.error).clone()
    }

    fn record(&mut self, r: &InstanceRecord) -> Result<()> {
        let meta = self.meta.clone();
        let meta = &*meta;
        let o = self;
        if !o.in_tx {
            o.store.conn.execute_batch("BEGIN")?;
            o.in_tx = true;
        }
        let task_id = o.next_task;
        o.next_task += 1;
        let (backend, resource) = crate::meta::placement(meta, &r.call);
        let host = r.host.clone().or_else(|| o.host.clone());
        let status = match r.outcome {
            Outcome::Ran => "ran",
            Outcome::Cached => "cached",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::NotRun => "not_run",
        };
        let conn = &o.store.conn;
        conn.prepare_cached(
            "INSERT INTO tasks (run_id, id, instance, call, task, idx, cache_key, argv, status,
               started_at, ended_at, host, exit_code, attempts, backend, resource, message, job_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?
        .execute(params![
            o.run_id,
            task_id,
            r.name,
            r.call,
            r.task,
            r.index as i64,
            r.key,
            (!r.argv.is_empty()).then(|| serde_json::to_string(&r.argv).unwrap_or_default()),
            status,
            r.started.map(rfc3339),
            r.ended.map(rfc3339),
            r.started.and(host),
            r.exit_code,
            r.attempts,
            backend,
            resource,
            r.message,
            r.job_id,
        ])?;
        for (name, value) in &r.values {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO task_values (run_id, task_id, name, value, num) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                o.run_id,
                task_id,
                name,
                value,
                value.parse::<f64>().ok().filter(|f| f.is_finite())
            ])?;
        }
        for u in &r.used {
            let key = (u.path.clone(), u.digest.clone());
            let artifact = match o.artifacts.get(&key) {
                Some(id) => *id,
                None => {
                    let id = o.next_artifact;
                    o.next_artifact += 1;
                    let canonical = std::fs::canonicalize(&u.path).unwrap_or(u.path.clone());
                    let (name, ty, role) = meta
                        .declared
                        .get(&canonical)
                        .map_or((None, None, "file"), |(id, ty, role)| {
                            (Some(id.as_str()), Some(ty.as_str()), *role)
                        });
                    let meta_fs = std::fs::metadata(&u.path).ok();
                    conn.prepare_cached(
                        "INSERT INTO artifacts (run_id, id, path, digest, size, is_dir, type, role, name)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        o.run_id,
                        id,
                        u.path.display().to_string(),
                        u.digest,
                        meta_fs.as_ref().filter(|m| m.is_file()).map(|m| m.len() as i64),
                        meta_fs.as_ref().is_some_and(|m| m.is_dir()),
                        ty,
                        role,
                        name,
                    ])?;
                    o.artifacts.insert(key, id);
                    id
                }
            };
            conn.prepare_cached(
                "INSERT INTO usages (run_id, task_id, artifact_id, input) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![o.run_id, task_id, artifact, u.input])?;
        }
        for g in &r.generated {
            let id = o.next_artifact;
            o.next_artifact += 1;
            let role = if g.ty.starts_with("Model") {
                "model"
            } else if g.ty.starts_with("Metrics") {
                "metrics"
            } else {
                "output"
            };
            conn.prepare_cached(
                "INSERT INTO artifacts (run_id, id, path, digest, size, is_dir, type, role, name, produced_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                o.run_id,
                id,
                g.path.display().to_string(),
                g.digest,
                g.size as i64,
                g.is_dir,
                g.ty,
                role,
                g.name,
                task_id,
            ])?;
            o.artifacts.insert((g.path.clone(), g.digest.clone()), id);
            if role == "metrics" {
                for (name, value) in read_metrics(&g.path) {
                    conn.prepare_cached(
                        "INSERT INTO metrics (run_id, task_id, name, value) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![o.run_id, task_id, name, value])?;
                }
            }
        }
        if o.last_commit.elapsed() >= COMMIT_EVERY {
            o.store.conn.execute_batch("COMMIT")?;
            o.in_tx = false;
            o.last_commit = Instant::now();
        }
        Ok(())
    }

    /// Updates the run's row with its outcome and commits.
    fn finish(&mut self, status: &str, ended: SystemTime, summary: &Summary) -> Result<()> {
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
        }
        self.inner.event(event);
    }

    fn instance(&mut self, record: &InstanceRecord) {
        if self.failed.is_none() {
            if let Err(e) = self.record(record) {
                self.stop(e.to_string());
            }
        }
        self.inner.instance(record);
    }
}

/// The numbers of a metrics file (a flat JSON object), in name order.
fn read_metrics(path: &Path) -> Vec<(String, f64)> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| v.as_f64().filter(|f| f.is_finite()).map(|f| (k, f)))
        .collect()
}
