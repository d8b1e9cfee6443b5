//! Reading the store back: arbitrary read-only SQL (`expc query`), and the views of runs
//! that `expc runs`, `expc models` and the exports use — all through documented tables.

use std::collections::{BTreeMap, HashMap};

use rusqlite::types::ValueRef;
use serde_json::{Value as Json, json};

use crate::store::{Error, Result, Store};

/// Rows of a query with their column names.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Json>>,
}

/// Runs one read-only SQL statement.
pub fn sql(store: &Store, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Table> {
    let mut stmt = store.conn.prepare(sql).map_err(|e| {
        Error(format!(
            "{e}. The tables are runs, params, tasks, task_values, artifacts, usages, metrics; the views task_inputs, task_outputs, task_reads, task_metrics and models (see docs/provenance.md)"
        ))
    })?;
    if !stmt.readonly() {
        return Err(Error(
            "`expc query` only reads: the statement would change the store".into(),
        ));
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut q = stmt.query(args)?;
    while let Some(row) = q.next()? {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(match row.get_ref(i)? {
                ValueRef::Null => Json::Null,
                ValueRef::Integer(v) => json!(v),
                ValueRef::Real(v) => json!(v),
                ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                ValueRef::Blob(b) => json!(format!("<{} bytes>", b.len())),
            });
        }
        rows.push(out);
    }
    Ok(Table { columns, rows })
}

impl Table {
    /// A cell as text: strings bare, `null` empty, numbers as JSON writes them.
    pub fn cell(v: &Json) -> String {
        match v {
            Json::Null => String::new(),
            Json::String(s) => s.clone(),
            v => v.to_string(),
        }
    }

    /// Aligned columns for a terminal.
    pub fn to_text(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| Self::cell(c).replace('\n', "⏎")).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for r in &cells {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |r: &[String]| {
            let mut s = String::new();
            for (i, c) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
                }
            }
            s.trim_end().to_owned() + "\n"
        };
        let mut out = line(&self.columns);
        for r in &cells {
            out.push_str(&line(r));
        }
        out
    }

    /// RFC 4180 CSV with a header row.
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| field(c)).collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        for r in &self.rows {
            let row: Vec<String> = r.iter().map(|c| field(&Self::cell(c))).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// A JSON array of objects, one per row.
    pub fn to_json(&self) -> Json {
        Json::Array(
            self.rows
                .iter()
                .map(|r| {
                    Json::Object(
                        self.columns
                            .iter()
                            .cloned()
                            .zip(r.iter().cloned())
                            .collect(),
                    )
                })
                .collect(),
        )
    }
}

/// The runs, newest first.
pub fn runs(store: &Store) -> Result<Table> {
    sql(
        store,
        "SELECT id, status, experiment, started_at,
                printf('%.1fs', (julianday(ended_at) - julianday(started_at)) * 86400.0) AS duration,
                instances, ran, cached, failed, skipped,
                substr(git_commit, 1, 10) || CASE WHEN git_dirty THEN '+dirty' ELSE '' END AS git
         FROM runs ORDER BY started_at DESC, id DESC",
        &[],
    )
}

/// The usages of a run, each with whether it was the program a command runs. A store of
/// schema 4 or older, opened read-only (so not migrated), has no `used_as`: nothing in it
/// was recorded as a program.
fn usages_query(c: &rusqlite::Connection) -> rusqlite::Result<String> {
    let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let program = if version >= 5 {
        "used_as = 'program'"
    } else {
        "0"
    };
    Ok(format!(
        "SELECT task_id, artifact_id, input, {program} FROM usages WHERE run_id = ?1 ORDER BY task_id, artifact_id"
    ))
}

/// `expc query`: one read-only statement, run by the store itself (on a shared store,
/// by the server, as the connected role, so row-level security applies).
pub fn raw(store: &Store, statement: &str) -> Result<Table> {
    match &store.mirror {
        Some(m) => m.borrow_mut().query(statement),
        None => sql(store, statement, &[]),
    }
}

/// Everything recorded about one run.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run: BTreeMap<String, Json>,
    pub params: Vec<(String, String, Json)>,
    pub tasks: Vec<TaskView>,
    pub artifacts: Vec<ArtifactView>,
    /// (task id, artifact id, input name, whether read as the program a command runs)
    pub usages: Vec<(i64, i64, String, bool)>,
    /// (task id, name, value)
    pub metrics: Vec<(i64, String, f64)>,
    /// What instances used of what they asked, where the engine measured it, by task id.
    pub efficiency: Vec<(i64, expc_run::events::Usage)>,
}

#[derive(Debug, Clone)]
pub struct TaskView {
    pub id: i64,
    pub instance: String,
    pub call: String,
    pub task: String,
    pub cache_key: Option<String>,
    pub argv: Vec<String>,
    pub status: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub host: Option<String>,
    pub exit_code: Option<i64>,
    pub attempts: i64,
    pub backend: String,
    pub resource: String,
    pub job_id: Option<String>,
    pub message: Option<String>,
    pub values: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct ArtifactView {
    pub id: i64,
    pub path: String,
    pub digest: String,
    pub size: Option<i64>,
    pub is_dir: bool,
    pub ty: Option<String>,
    pub role: String,
    pub name: Option<String>,
    pub produced_by: Option<i64>,
}

impl RunView {
    pub fn field(&self, name: &str) -> String {
        self.run.get(name).map(Table::cell).unwrap_or_default()
    }

    pub fn id(&self) -> String {
        self.field("id")
    }

    pub fn task(&self, id: i64) -> Option<&TaskView> {
        self.tasks.iter().find(|t| t.id == id)
    }

    pub fn artifact(&self, id: i64) -> Option<&ArtifactView> {
        self.artifacts.iter().find(|a| a.id == id)
    }
}

/// Loads one run.
pub fn run(store: &Store, id: &str) -> Result<RunView> {
    store.fetch(&[id.to_owned()])?;
    let t = sql(store, "SELECT * FROM runs WHERE id = ?1", &[&id])?;
    let Some(row) = t.rows.first() else {
        return Err(Error(format!("no run `{id}`")));
    };
    let run: BTreeMap<String, Json> = t.columns.iter().cloned().zip(row.clone()).collect();
    let c = &store.conn;
    let params = c
        .prepare("SELECT name, type, value FROM params WHERE run_id = ?1 ORDER BY name")?
        .query_map([id], |r| {
            let v: String = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                serde_json::from_str(&v).unwrap_or(Json::String(v)),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut values: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for row in c
        .prepare(
            "SELECT task_id, name, value FROM task_values WHERE run_id = ?1 ORDER BY task_id, name",
        )?
        .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))?
    {
        let (t, n, v) = row?;
        values.entry(t).or_default().push((n, v));
    }
    // Instances recorded by reference: (their id, the run and id of the record they refer to).
    let mut sourced: Vec<(i64, String, i64)> = Vec::new();
    let tasks = c
        .prepare(
            "SELECT id, instance, call, task, cache_key, argv, status, started_at, ended_at, host,
                    exit_code, attempts, backend, resource, job_id, message, source_run, source_task
             FROM tasks WHERE run_id = ?1 ORDER BY id",
        )?
        .query_map([id], |r| {
            let argv: Option<String> = r.get(5)?;
            let source: (Option<String>, Option<i64>) = (r.get(16)?, r.get(17)?);
            Ok((
                source,
                TaskView {
                    id: r.get(0)?,
                    instance: r.get(1)?,
                    call: r.get(2)?,
                    task: r.get(3)?,
                    cache_key: r.get(4)?,
                    argv: argv
                        .and_then(|a| serde_json::from_str(&a).ok())
                        .unwrap_or_default(),
                    status: r.get(6)?,
                    started_at: r.get(7)?,
                    ended_at: r.get(8)?,
                    host: r.get(9)?,
                    exit_code: r.get(10)?,
                    attempts: r.get(11)?,
                    backend: r.get(12)?,
                    resource: r.get(13)?,
                    job_id: r.get(14)?,
                    message: r.get(15)?,
                    values: Vec::new(),
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|(source, mut t)| {
            if let (Some(run), Some(task)) = source {
                sourced.push((t.id, run, task));
            }
            t.values = values.remove(&t.id).unwrap_or_default();
            t
        })
        .collect();
    let artifacts = run_artifacts(store, id)?;
    let usages = c
        .prepare(&usages_query(c)?)?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let metrics = c
        .prepare(
            "SELECT task_id, name, value FROM metrics WHERE run_id = ?1 ORDER BY task_id, name",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let efficiency = c
        .prepare(
            "SELECT task_id, elapsed_ms, cpu_ms, max_rss, cpus, mem, time_limit_s
             FROM efficiency WHERE run_id = ?1 ORDER BY task_id",
        )?
        .query_map([id], |r| {
            let n = |i: usize| {
                r.get::<_, Option<i64>>(i)
                    .map(|v| v.map(|v| v.max(0) as u64))
            };
            Ok((
                r.get(0)?,
                expc_run::events::Usage {
                    elapsed_ms: n(1)?.unwrap_or(0),
                    cpu_ms: n(2)?.unwrap_or(0),
                    max_rss: n(3)?,
                    cpus: n(4)?.unwrap_or(0) as u32,
                    mem: n(5)?,
                    time_limit_s: n(6)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut view = RunView {
        run,
        params,
        tasks,
        artifacts,
        usages,
        metrics,
        efficiency,
    };
    let mut by_run: BTreeMap<String, HashMap<i64, i64>> = BTreeMap::new();
    for (task, run, source) in sourced {
        by_run.entry(run).or_default().insert(source, task);
    }
    for (source_run, tasks) in &by_run {
        take_from_source(store, &mut view, source_run, tasks)?;
    }
    view.usages.sort();
    view.metrics
        .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(view)
}

/// The artifacts a run has rows for, by id.
fn run_artifacts(store: &Store, run: &str) -> Result<Vec<ArtifactView>> {
    let mut stmt = store.conn.prepare_cached(
        "SELECT id, path, digest, size, is_dir, type, role, name, produced_by
         FROM artifacts WHERE run_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([run], |r| {
        Ok(ArtifactView {
            id: r.get(0)?,
            path: r.get(1)?,
            digest: r.get(2)?,
            size: r.get(3)?,
            is_dir: r.get(4)?,
            ty: r.get(5)?,
            role: r.get(6)?,
            name: r.get(7)?,
            produced_by: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Fills in the instances of a run recorded by reference to records of `source_run`
/// (`tasks`: source task id → task id in the view): their argv, values, outputs, reads and
/// metrics, as the source recorded them. Artifacts the view does not have yet (same path
/// and digest) are added under new ids.
fn take_from_source(
    store: &Store,
    view: &mut RunView,
    source_run: &str,
    tasks: &HashMap<i64, i64>,
) -> Result<()> {
    let c = &store.conn;
    let index: HashMap<i64, usize> = view
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id, i))
        .collect();
    let slot =
        |source: i64| -> Option<usize> { tasks.get(&source).and_then(|id| index.get(id)).copied() };
    let mut stmt = c.prepare_cached("SELECT id, argv, cache_key FROM tasks WHERE run_id = ?1")?;
    let mut rows = stmt.query([source_run])?;
    while let Some(r) = rows.next()? {
        let Some(i) = slot(r.get(0)?) else {
            continue;
        };
        let t = &mut view.tasks[i];
        let argv: Option<String> = r.get(1)?;
        t.argv = argv
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default();
        if t.cache_key.is_none() {
            t.cache_key = r.get(2)?;
        }
    }
    let mut stmt = c.prepare_cached(
        "SELECT task_id, name, value FROM task_values WHERE run_id = ?1 ORDER BY task_id, name",
    )?;
    let mut rows = stmt.query([source_run])?;
    while let Some(r) = rows.next()? {
        if let Some(i) = slot(r.get(0)?) {
            view.tasks[i].values.push((r.get(1)?, r.get(2)?));
        }
    }
    // The source's artifacts that these instances made or read, under this view's ids.
    let source_artifacts: HashMap<i64, ArtifactView> = run_artifacts(store, source_run)?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let mut known: HashMap<(String, String), i64> = view
        .artifacts
        .iter()
        .map(|a| ((a.path.clone(), a.digest.clone()), a.id))
        .collect();
    let mut next = view.artifacts.iter().map(|a| a.id + 1).max().unwrap_or(0);
    let mut mapped: HashMap<i64, i64> = HashMap::new();
    let mut take = |view: &mut RunView, a: &ArtifactView, producer: Option<i64>| -> i64 {
        if let Some(id) = mapped.get(&a.id) {
            return *id;
        }
        let id = match known.get(&(a.path.clone(), a.digest.clone())) {
            Some(id) => {
                if let Some(existing) = view.artifacts.iter_mut().find(|x| x.id == *id) {
                    existing.produced_by = existing.produced_by.or(producer);
                }
                *id
            }
            None => {
                let id = next;
                next += 1;
                view.artifacts.push(ArtifactView {
                    id,
                    produced_by: producer,
                    ..a.clone()
                });
                known.insert((a.path.clone(), a.digest.clone()), id);
                id
            }
        };
        mapped.insert(a.id, id);
        id
    };
    let mut made: Vec<&ArtifactView> = source_artifacts
        .values()
        .filter(|a| a.produced_by.is_some_and(|p| tasks.contains_key(&p)))
        .collect();
    made.sort_by_key(|a| a.id);
    for a in made {
        let producer = a.produced_by.and_then(|p| tasks.get(&p)).copied();
        take(view, a, producer);
    }
    let mut stmt = c.prepare_cached(&usages_query(c)?)?;
    let mut rows = stmt.query([source_run])?;
    while let Some(r) = rows.next()? {
        let Some(task) = tasks.get(&r.get::<_, i64>(0)?).copied() else {
            continue;
        };
        let Some(a) = source_artifacts.get(&r.get::<_, i64>(1)?) else {
            continue;
        };
        let artifact = take(view, a, None);
        view.usages.push((task, artifact, r.get(2)?, r.get(3)?));
    }
    let mut stmt = c.prepare_cached(
        "SELECT task_id, name, value FROM metrics WHERE run_id = ?1 ORDER BY task_id, name",
    )?;
    let mut rows = stmt.query([source_run])?;
    while let Some(r) = rows.next()? {
        if let Some(task) = tasks.get(&r.get::<_, i64>(0)?) {
            view.metrics.push((*task, r.get(1)?, r.get(2)?));
        }
    }
    Ok(())
}

/// Two runs side by side: params, metrics (by instance) and outputs (by instance and
/// output), each row marked when the two differ.
///
/// Each side is read with one indexed scan and the two are merged here: grouping the
/// rows of both runs in SQL costs several times more on runs of 10,000 instances.
pub fn compare(store: &Store, a: &str, b: &str) -> Result<Vec<(String, Table)>> {
    // (Their params are read with the list of runs.) On a shared store, each side's rows
    // are read by the server's own query, not copied here first.
    let on_server = store.mirror.as_ref();
    let params = sql(
        store,
        "SELECT name, MAX(CASE WHEN run_id = ?1 THEN value END) AS a,
                MAX(CASE WHEN run_id = ?2 THEN value END) AS b,
                CASE WHEN MAX(CASE WHEN run_id = ?1 THEN value END) IS MAX(CASE WHEN run_id = ?2 THEN value END) THEN '' ELSE '≠' END AS diff
         FROM params WHERE run_id IN (?1, ?2) GROUP BY name ORDER BY name",
        &[&a, &b],
    )?;
    let side = |local: &'static str, server: &'static str| {
        move |run: &str, visit: &mut Visit<'_>| -> Result<()> {
            match on_server {
                Some(m) => m.borrow_mut().side(server, run, visit),
                None => local_side(store, local, run, visit),
            }
        }
    };
    // On the server, an instance's own rows and those of the instances it refers to are
    // two indexed joins: one on `COALESCE(…)` reads every run's rows.
    let metrics = merge(
        side(
            "SELECT t.call, t.idx, t.instance, m.name, m.value
             FROM tasks t JOIN metrics m ON m.run_id = COALESCE(t.source_run, t.run_id)
                                         AND m.task_id = COALESCE(t.source_task, t.id)
             WHERE t.run_id = ?1",
            "SELECT t.call, t.idx, t.instance, m.name, m.value
             FROM expc.tasks t JOIN expc.metrics m ON m.run_id = t.run_id AND m.task_id = t.id
             WHERE t.run_id = $1 AND t.source_run IS NULL
             UNION ALL
             SELECT t.call, t.idx, t.instance, m.name, m.value
             FROM expc.tasks t JOIN expc.metrics m ON m.run_id = t.source_run AND m.task_id = t.source_task
             WHERE t.run_id = $1 AND t.source_run IS NOT NULL",
        ),
        a,
        b,
        ["metric", "a", "b", "delta"],
        |x, y| match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => json!(y - x),
            _ => Json::Null,
        },
    )?;
    let outputs = merge(
        side(
            "SELECT t.call, t.idx, t.instance, a.name, substr(a.digest, 1, 12)
             FROM tasks t JOIN artifacts a ON a.run_id = COALESCE(t.source_run, t.run_id)
                                           AND a.produced_by = COALESCE(t.source_task, t.id)
             WHERE t.run_id = ?1",
            "SELECT t.call, t.idx, t.instance, a.name, substr(a.digest, 1, 12)
             FROM expc.tasks t JOIN expc.artifacts a ON a.run_id = t.run_id AND a.produced_by = t.id
             WHERE t.run_id = $1 AND t.source_run IS NULL
             UNION ALL
             SELECT t.call, t.idx, t.instance, a.name, substr(a.digest, 1, 12)
             FROM expc.tasks t JOIN expc.artifacts a ON a.run_id = t.source_run AND a.produced_by = t.source_task
             WHERE t.run_id = $1 AND t.source_run IS NOT NULL",
        ),
        a,
        b,
        ["output", "a", "b", "diff"],
        |x, y| json!(if x == y { "" } else { "≠" }),
    )?;
    Ok(vec![
        ("params".into(), params),
        ("metrics".into(), metrics),
        ("outputs".into(), outputs),
    ])
}

/// What reads one side of a comparison hands each row to: `(call, idx, instance, name,
/// value)`.
pub(crate) type Visit<'a> = dyn FnMut(&str, i64, &str, &str, Json) + 'a;

/// One side's rows from the embedded store.
fn local_side(store: &Store, sql: &str, run: &str, visit: &mut Visit<'_>) -> Result<()> {
    let mut stmt = store.conn.prepare_cached(sql)?;
    let mut q = stmt.query([run])?;
    while let Some(r) = q.next()? {
        let value = match r.get_ref(4)? {
            ValueRef::Real(v) => json!(v),
            ValueRef::Integer(v) => json!(v),
            ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            _ => Json::Null,
        };
        visit(
            r.get_ref(0)?.as_str()?,
            r.get(1)?,
            r.get_ref(2)?.as_str()?,
            r.get_ref(3)?.as_str()?,
            value,
        );
    }
    Ok(())
}

/// Rows `(call, idx, instance, name, value)` of two runs, merged on (call, idx, name) in
/// plan order: `instance.name`, the value in each run, and `last` of the two when both
/// have one.
fn merge(
    mut read: impl FnMut(&str, &mut Visit<'_>) -> Result<()>,
    a: &str,
    b: &str,
    columns: [&str; 4],
    last: impl Fn(&Json, &Json) -> Json,
) -> Result<Table> {
    // Calls and names interned, so a key is three integers.
    type Key = (u32, i64, u32);
    fn intern(names: &mut HashMap<String, u32>, s: &str) -> u32 {
        if let Some(i) = names.get(s) {
            return *i;
        }
        let i = names.len() as u32;
        names.insert(s.to_owned(), i);
        i
    }
    let (mut calls, mut names) = (HashMap::new(), HashMap::new());
    let mut rows: BTreeMap<Key, (String, Json, Json)> = BTreeMap::new();
    for (n, run) in [a, b].into_iter().enumerate() {
        read(run, &mut |call, idx, instance, name, value| {
            let key: Key = (intern(&mut calls, call), idx, intern(&mut names, name));
            let e = rows
                .entry(key)
                .or_insert_with(|| (format!("{instance}.{name}"), Json::Null, Json::Null));
            if n == 0 {
                e.1 = value;
            } else {
                e.2 = value;
            }
        })?;
    }
    Ok(Table {
        columns: columns.map(String::from).to_vec(),
        rows: rows
            .into_values()
            .map(|(label, x, y)| {
                let l = if x.is_null() || y.is_null() {
                    if columns[3] == "diff" {
                        json!("≠")
                    } else {
                        Json::Null
                    }
                } else {
                    last(&x, &y)
                };
                vec![json!(label), x, y, l]
            })
            .collect(),
    })
}

/// Model versions (a model's version is its digest) with the metrics of the instance
/// that made them and what it read, each list in a fixed order (by name, then value), so
/// that the output does not depend on how the rows were stored.
pub fn models(store: &Store) -> Result<Table> {
    store.fetch_all()?;
    sql(
        store,
        "SELECT substr(m.version, 1, 12) AS version, m.instance, m.output, m.type, m.run_id AS run,
                (SELECT group_concat(x.name || '=' || printf('%g', x.value), ' ' ORDER BY x.name, x.value)
                   FROM (SELECT name, value FROM metrics
                          WHERE run_id = m.run_id AND task_id = m.task_id
                         UNION
                         SELECT r.instance || '.' || x.name, x.value
                           FROM task_reads r
                           JOIN task_metrics x ON x.run_id = r.run_id AND x.task_id = r.task_id
                          WHERE r.digest = m.version AND r.used_as = 'input'
                            AND NOT (r.run_id = m.run_id AND r.task_id = m.task_id)) x) AS metrics,
                (SELECT group_concat(v.name || '=' || v.value, ' ' ORDER BY v.name)
                   FROM task_values v WHERE v.run_id = m.run_id AND v.task_id = m.task_id) AS inputs,
                (SELECT group_concat(u.input || ':' || COALESCE(a.name, a.path) || '@' || substr(a.digest, 1, 8), ' ' ORDER BY u.input, a.path, a.digest)
                   FROM usages u JOIN artifacts a ON a.run_id = u.run_id AND a.id = u.artifact_id
                   WHERE u.run_id = m.run_id AND u.task_id = m.task_id) AS lineage
         FROM models m ORDER BY m.started_at DESC, m.run_id DESC, m.instance, m.output, m.version",
        &[],
    )
}
