//! What a report shows, as data: built from the store through `expc_prov::query`, then
//! serialised into the page as JSON for its script to draw.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use expc_prov::query::{self, RunView, Table};
use expc_prov::store::Result;
use expc_prov::time::parse_ms;
use serde::Serialize;
use serde_json::Value as Json;

use crate::compare::Compare;
use crate::dag::Dag;
use crate::logs;
use crate::timeline::Timeline;

/// The version of the JSON embedded in a report.
pub const SCHEMA_VERSION: u32 = 1;

/// Bytes of log tails a whole report may embed; each log gets its share, between 256
/// bytes and 4 KiB, so a run of thousands of tasks still makes a small file.
const LOG_BUDGET: usize = 2_000_000;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub expc_version: &'static str,
    pub runs: Vec<RunDetail>,
    /// Instances with metrics or sweep values across all the runs, for the
    /// parallel-coordinates plot; `None` when there are fewer than two.
    pub compare: Option<Compare>,
}

#[derive(Debug, Serialize)]
pub struct RunDetail {
    /// The run's row of `runs`, with `environment` parsed.
    pub summary: BTreeMap<String, Json>,
    pub duration_ms: Option<i64>,
    /// (name, type, value)
    pub params: Vec<(String, String, Json)>,
    pub tasks: Vec<TaskRow>,
    pub dag: Dag,
    pub timeline: Timeline,
}

#[derive(Debug, Serialize)]
pub struct TaskRow {
    pub id: i64,
    pub instance: String,
    pub call: String,
    pub task: String,
    /// The index in its sweep (0 outside one).
    pub index: i64,
    pub status: String,
    /// Milliseconds since the run started.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub host: Option<String>,
    pub backend: String,
    pub resource: String,
    pub exit_code: Option<i64>,
    pub attempts: i64,
    pub job_id: Option<String>,
    pub message: Option<String>,
    pub argv: Vec<String>,
    pub values: Vec<(String, String)>,
    pub metrics: Vec<(String, f64)>,
    /// What it used of what it asked, where the engine measured it ("memory: asked 1 GiB,
    /// used 82.9 MiB, 8 %; …").
    pub efficiency: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

impl TaskRow {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.end_ms? - self.start_ms?)
    }
}

impl Report {
    pub fn load(store: &expc_prov::Store, state_dir: &Path, run_ids: &[String]) -> Result<Report> {
        let views: Vec<RunView> = run_ids
            .iter()
            .map(|id| query::run(store, id))
            .collect::<Result<_>>()?;
        let logged: usize = views
            .iter()
            .flat_map(|v| &v.tasks)
            .filter(|t| matches!(t.status.as_str(), "ran" | "failed"))
            .count();
        let log_bytes = (LOG_BUDGET / (2 * logged.max(1))).clamp(256, 4096);
        let mut runs = Vec::with_capacity(views.len());
        for view in &views {
            runs.push(RunDetail::load(store, state_dir, view, log_bytes)?);
        }
        let compare = Compare::build(&runs);
        Ok(Report {
            schema_version: SCHEMA_VERSION,
            expc_version: env!("CARGO_PKG_VERSION"),
            runs,
            compare,
        })
    }
}

impl RunDetail {
    fn load(
        store: &expc_prov::Store,
        state_dir: &Path,
        view: &RunView,
        log_bytes: usize,
    ) -> Result<RunDetail> {
        let id = view.id();
        let mut summary = view.run.clone();
        if let Some(Json::String(env)) = summary.get("environment") {
            let parsed = serde_json::from_str(env).unwrap_or(Json::String(env.clone()));
            summary.insert("environment".into(), parsed);
        }
        let run_start = parse_ms(&view.field("started_at"));
        let duration_ms = run_start
            .zip(parse_ms(&view.field("ended_at")))
            .map(|(s, e)| e - s);
        // The sweep index of each instance, for the path of its logs.
        let index: HashMap<i64, i64> =
            query::sql(store, "SELECT id, idx FROM tasks WHERE run_id = ?1", &[&id])?
                .rows
                .iter()
                .filter_map(|r| Some((r[0].as_i64()?, r[1].as_i64()?)))
                .collect();
        let mut metrics: HashMap<i64, Vec<(String, f64)>> = HashMap::new();
        for (task, name, value) in &view.metrics {
            metrics
                .entry(*task)
                .or_default()
                .push((name.clone(), *value));
        }
        let mut efficiency: HashMap<i64, String> = view
            .efficiency
            .iter()
            .map(|(task, u)| (*task, u.describe()))
            .collect();
        let tasks: Vec<TaskRow> = view
            .tasks
            .iter()
            .map(|t| {
                let abs_start = t.started_at.as_deref().and_then(parse_ms);
                let abs_end = t.ended_at.as_deref().and_then(parse_ms);
                let rel = |ms: Option<i64>| Some(ms? - run_start?);
                let idx = index.get(&t.id).copied().unwrap_or(0);
                let (stdout, stderr) = match (abs_start, abs_end, t.status.as_str()) {
                    (Some(s), Some(e), "ran" | "failed") => {
                        let dir = expc_prov::log_dir(state_dir, &t.call, idx as u64);
                        (
                            logs::tail(&dir.join("stdout"), log_bytes, s, e),
                            logs::tail(&dir.join("stderr"), log_bytes, s, e),
                        )
                    }
                    _ => (None, None),
                };
                TaskRow {
                    id: t.id,
                    instance: t.instance.clone(),
                    call: t.call.clone(),
                    task: t.task.clone(),
                    index: idx,
                    status: t.status.clone(),
                    start_ms: rel(abs_start),
                    end_ms: rel(abs_end),
                    host: t.host.clone(),
                    backend: t.backend.clone(),
                    resource: t.resource.clone(),
                    exit_code: t.exit_code,
                    attempts: t.attempts,
                    job_id: t.job_id.clone(),
                    message: t.message.clone(),
                    argv: t.argv.clone(),
                    values: t.values.clone(),
                    metrics: metrics.remove(&t.id).unwrap_or_default(),
                    efficiency: efficiency.remove(&t.id),
                    stdout,
                    stderr,
                }
            })
            .collect();
        let dag = Dag::build(view, &tasks);
        let timeline = Timeline::build(&tasks);
        Ok(RunDetail {
            summary,
            duration_ms,
            params: view.params.clone(),
            tasks,
            dag,
            timeline,
        })
    }

    pub fn id(&self) -> String {
        self.summary.get("id").map(Table::cell).unwrap_or_default()
    }
}
