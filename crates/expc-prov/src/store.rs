//! The store: one SQLite database, `.expc/provenance.db`, in WAL mode.
//!
//! The schema is versioned with `PRAGMA user_version`; [`MIGRATIONS`] holds every version's
//! script in order and opening a store applies the missing ones in one transaction. A run
//! killed at any moment leaves the database consistent (SQLite's journal), with its run
//! still `running`; the next command that opens the store marks such runs `interrupted`
//! once their process is gone.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

/// Schema scripts, oldest first. Version N is the state after the N-th script.
pub const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_2.sql"),
    include_str!("schema_3.sql"),
    include_str!("schema_4.sql"),
    include_str!("schema_5.sql"),
    include_str!("schema_6.sql"),
    include_str!("schema_7.sql"),
];

/// The schema version this expc writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database's file name inside the state directory.
pub const FILE: &str = "provenance.db";

#[derive(Debug)]
pub struct Store {
    pub conn: Connection,
    pub path: PathBuf,
    /// For a store read from a shared one, the server its rows are fetched from.
    pub(crate) mirror: Option<Box<std::cell::RefCell<crate::shared::mirror::Mirror>>>,
}

/// A store error, as a message for users.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::types::FromSqlError> for Error {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        Error(e.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Runs `f` again while SQLite says the database is locked without having waited (as it
/// does to avoid a deadlock between two connections that both want to write), for up to
/// ten seconds: the busy timeout's wait, for the cases it does not cover.
fn retry_while_busy<T, E: std::fmt::Display>(
    mut f: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        match f() {
            Err(e)
                if e.to_string().contains("database is locked")
                    && started.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

impl Store {
    /// Opens (creating it when missing) the store of a state directory for writing.
    pub fn open(state_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error(format!("cannot create `{}`: {e}", state_dir.display())))?;
        let path = state_dir.join(FILE);
        let conn = Connection::open(&path)
            .map_err(|e| Error(format!("cannot open `{}`: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Turning a fresh file to WAL takes an exclusive lock, and SQLite answers "database
        // is locked" at once, without waiting, to a connection that meets another doing
        // it: several processes opening one fresh store at once retry for a while.
        retry_while_busy(|| conn.pragma_update(None, "journal_mode", "WAL"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A run inserts a few rows per instance into indexes that span every run: a page
        // cache of 64 MiB (instead of 2) keeps their pages from being read again and again.
        conn.pragma_update(None, "cache_size", -65_536)?;
        let mut store = Store {
            conn,
            path,
            mirror: None,
        };
        retry_while_busy(|| store.migrate())?;
        store.mark_interrupted()?;
        Ok(store)
    }

    /// Opens an existing store for reading only (`expc runs`, `query`, `models`, `report`,
    /// `prov export`): nothing is written, so an archived project or a folder on
    /// read-only storage can be read. Runs whose process is gone read as `interrupted`
    /// without being marked so in the file (the next run marks them).
    pub fn open_read_only(state_dir: &Path) -> Result<Store> {
        let path = state_dir.join(FILE);
        if !path.exists() {
            return Err(Error(format!(
                "no provenance store at `{}`: `expc run` records one there. Pass `--state-dir` to read another",
                path.display()
            )));
        }
        let conn = read_only_connection(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(newer(&path, version));
        }
        show_interrupted(&conn)?;
        conn.pragma_update(None, "query_only", "ON")?;
        // Reads map the file instead of copying pages through read(2).
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        Ok(Store {
            conn,
            path,
            mirror: None,
        })
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(newer(&self.path, version));
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        // Another process may be creating or migrating this store at this very moment
        // (two commands started at once on a fresh folder): the version is read again
        // inside a write transaction, which one process at a time holds, so each script
        // is applied once.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(newer(&self.path, version));
        }
        for script in &MIGRATIONS[version as usize..] {
            tx.execute_batch(script)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(())
    }

    /// Makes sure the rows of `runs` (and of the runs they refer to) are here: a no-op on
    /// the embedded store; on a store read from a shared one, fetches them once.
    pub fn fetch(&self, runs: &[String]) -> Result<()> {
        self.fetch_tables(
            runs,
            &[
                "tasks",
                "task_values",
                "artifacts",
                "usages",
                "metrics",
                "efficiency",
            ],
        )
    }

    /// [`Store::fetch`] of some tables only (`tasks` among them).
    pub(crate) fn fetch_tables(&self, runs: &[String], tables: &[&'static str]) -> Result<()> {
        match &self.mirror {
            Some(m) => m.borrow_mut().fetch(&self.conn, runs, tables),
            None => Ok(()),
        }
    }

    /// [`Store::fetch`] for every run.
    pub fn fetch_all(&self) -> Result<()> {
        match &self.mirror {
            Some(m) => m.borrow_mut().fetch_all(&self.conn),
            None => Ok(()),
        }
    }

    /// Whether this store is read from a shared one.
    pub fn is_shared(&self) -> bool {
        self.mirror.is_some()
    }

    /// Runs left `running` by a process of this host that is gone become `interrupted`.
    fn mark_interrupted(&self) -> Result<()> {
        for id in stale_runs(&self.conn)? {
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted',
                   ended_at = COALESCE(ended_at, (SELECT MAX(ended_at) FROM tasks WHERE run_id = ?1), started_at)
                 WHERE id = ?1 AND status = 'running'",
                params![id],
            )?;
        }
        Ok(())
    }

    /// The id of a run from what a user typed: a whole id, a unique prefix of one, or
    /// `latest`.
    pub fn resolve_run(&self, reference: &str) -> Result<String> {
        if reference == "latest" || reference == "last" {
            return self
                .conn
                .query_row(
                    "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(|_| Error("there are no runs in this store yet".into()));
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM runs WHERE id = ?1 OR substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 6")?;
        let ids: Vec<String> = stmt
            .query_map([reference], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if ids.iter().any(|i| i == reference) {
            return Ok(reference.to_owned());
        }
        match ids.len() {
            1 => Ok(ids.into_iter().next().unwrap_or_default()),
            0 => Err(Error(format!(
                "no run `{reference}` in `{}`: `expc runs` lists them",
                self.path.display()
            ))),
            _ => Err(Error(format!(
                "`{reference}` could be any of {}: type more of the id",
                ids.join(", ")
            ))),
        }
    }
}

/// The runs left `running` by a process of this host that is gone (by pid and process
/// start time, so that a reused pid does not pass for the run's).
fn stale_runs(conn: &Connection) -> Result<Vec<String>> {
    let host = crate::meta::hostname();
    let mut stale = Vec::new();
    let mut stmt = conn
        .prepare("SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host IS ?1")?;
    let rows = stmt.query_map([&host], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    for row in rows {
        let (id, pid, start) = row?;
        let alive = match (pid, start) {
            (Some(pid), Some(start)) => {
                crate::meta::process_start(pid as u32).as_deref() == Some(start.as_str())
            }
            _ => false,
        };
        if !alive {
            stale.push(id);
        }
    }
    Ok(stale)
}

/// A connection that only reads `path`. A store in WAL mode is read through its `-shm`
/// file, which the first reader makes when it is missing (a store closed cleanly has
/// none); in a folder this process cannot write, none can be made, and SQLite reads the
/// file as `immutable` instead — right, since nothing can be writing there either, unless
/// a write-ahead log was left beside it (a run killed while its `-shm` was removed): then
/// its last transactions could not be read, and the store is refused with why.
fn read_only_connection(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let cannot_open = |e: rusqlite::Error| Error(format!("cannot open `{}`: {e}", path.display()));
    let conn = Connection::open_with_flags(path, flags).map_err(cannot_open)?;
    let probe = |c: &Connection| {
        c.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let first = match probe(&conn) {
        Ok(_) => return Ok(conn),
        Err(e) => e,
    };
    drop(conn);
    let sidecar = |ext: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    if sidecar("-shm").exists() {
        return Err(cannot_open(first));
    }
    if std::fs::metadata(sidecar("-wal")).is_ok_and(|m| m.len() > 0) {
        return Err(Error(format!(
            "cannot read `{}` here: its write-ahead log (`-wal`) holds transactions SQLite reads only through a `-shm` file, which cannot be made in this folder. Open the store once where its folder can be written (any `expc runs` does it), or copy the folder somewhere writable",
            path.display()
        )));
    }
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let conn = Connection::open_with_flags(&uri, flags).map_err(cannot_open)?;
    probe(&conn).map_err(|_| cannot_open(first))?;
    Ok(conn)
}

/// A path as the path of a `file:` URI: bytes other than unreserved ones and `/`
/// percent-encoded.
fn uri_path(path: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(*b as char);
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Runs whose process is gone read as `interrupted` through this connection (as the next
/// run will mark them): a temporary view `runs`, in memory, shadows the table, with their
/// status and end as [`Store::mark_interrupted`] would set them. Nothing is written to the
/// store.
fn show_interrupted(conn: &Connection) -> Result<()> {
    let stale = stale_runs(conn)?;
    if stale.is_empty() {
        return Ok(());
    }
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.execute_batch("CREATE TEMP TABLE expc_interrupted (id TEXT PRIMARY KEY)")?;
    for id in &stale {
        conn.execute("INSERT INTO temp.expc_interrupted (id) VALUES (?1)", [id])?;
    }
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('runs', 'main')")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    let stale_row = "r.id IN (SELECT id FROM temp.expc_interrupted)";
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "status" => format!("CASE WHEN {stale_row} THEN 'interrupted' ELSE r.status END AS status"),
            "ended_at" => format!(
                "CASE WHEN {stale_row} THEN COALESCE(r.ended_at, (SELECT MAX(t.ended_at) FROM main.tasks t WHERE t.run_id = r.id), r.started_at) ELSE r.ended_at END AS ended_at"
            ),
            other => format!("r.\"{}\"", other.replace('"', "\"\"")),
        })
        .collect();
    conn.execute_batch(&format!(
        "CREATE TEMP VIEW runs AS SELECT {} FROM main.runs r",
        select.join(", ")
    ))?;
    Ok(())
}

fn newer(path: &Path, version: i64) -> Error {
    Error(format!(
        "`{}` has schema version {version}, newer than this expc knows ({SCHEMA_VERSION}): use a newer expc",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("expc-prov-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_new_store_has_the_current_schema_in_wal_mode() {
        let d = dir("new");
        let s = Store::open(&d).unwrap();
        let v: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let mode: String = s
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // Opening again applies nothing and keeps the data.
        s.conn
            .execute(
                "INSERT INTO runs (id, spec_path, spec_hash, pipeline, expc_version, started_at, status, environment)
                 VALUES ('r1', '/s.exp', 'h', 'main', '0', '2026-01-01T00:00:00.000Z', 'succeeded', '{}')",
                [],
            )
            .unwrap();
        drop(s);
        let s = Store::open(&d).unwrap();
        assert_eq!(s.resolve_run("r").unwrap(), "r1");
        assert_eq!(s.resolve_run("latest").unwrap(), "r1");
        assert!(s.resolve_run("x").unwrap_err().0.contains("no run `x`"));
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Processes that open one fresh store at the same moment each find it created once,
    /// with the current schema: none fails with "table already exists".
    #[test]
    fn several_processes_create_one_fresh_store_at_once() {
        const CHILD: &str = "EXPC_PROV_TEST_OPEN_STORE";
        if let Some(d) = std::env::var_os(CHILD) {
            let d = PathBuf::from(d);
            while !d.join("go").exists() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Store::open(&d.join("state")).unwrap();
            return;
        }
        let d = dir("race");
        std::fs::create_dir_all(&d).unwrap();
        let children: Vec<_> = (0..6)
            .map(|_| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "store::tests::several_processes_create_one_fresh_store_at_once",
                        "--test-threads=1",
                        "--nocapture",
                    ])
                    .env(CHILD, &d)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::write(d.join("go"), "").unwrap();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "a process could not open the fresh store:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let s = Store::open_read_only(&d.join("state")).unwrap();
        let v: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn an_older_store_is_migrated_in_place() {
        let d = dir("older");
        std::fs::create_dir_all(&d).unwrap();
        // A store of version 1, with a run whose cached instance carries its own rows.
        let c = Connection::open(d.join(FILE)).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO runs (id, spec_path, spec_hash, pipeline, expc_version, started_at, status, environment)
               VALUES ('r1', '/s.exp', 'h', 'main', '0', '2026-01-01T00:00:00.000Z', 'succeeded', '{}');
             INSERT INTO tasks (run_id, id, instance, call, task, idx, status, backend, resource)
               VALUES ('r1', 0, 't[0]', 't', 't', 0, 'cached', 'local', 'here');
             INSERT INTO artifacts (run_id, id, path, digest, role, name, produced_by)
               VALUES ('r1', 0, '/o.txt', 'ab', 'output', 'out', 0);
             INSERT INTO metrics (run_id, task_id, name, value) VALUES ('r1', 0, 'loss', 0.5);",
        )
        .unwrap();
        drop(c);
        let s = Store::open(&d).unwrap();
        let v: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let count = |sql: &str| -> i64 { s.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'metrics_by_run_name'"),
            1
        );
        // The old rows read through the views of version 3 as they are.
        assert_eq!(
            count("SELECT COUNT(*) FROM tasks WHERE source_run IS NULL"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM task_outputs WHERE run_id = 'r1' AND digest = 'ab'"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM task_metrics WHERE run_id = 'r1' AND name = 'loss'"),
            1
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_newer_store_is_refused_not_misread() {
        let d = dir("newer");
        let s = Store::open(&d).unwrap();
        s.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(s);
        let e = Store::open(&d).unwrap_err();
        assert!(e.0.contains("newer than this expc knows"), "{e}");
        let e = Store::open_read_only(&d).unwrap_err();
        assert!(e.0.contains("newer than this expc knows"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_running_run_whose_process_is_gone_becomes_interrupted() {
        let d = dir("stale");
        let s = Store::open(&d).unwrap();
        let host = crate::meta::hostname();
        let me = std::process::id();
        // One run of this very process (alive), one of a pid with another start tick.
        for (id, start) in [
            ("alive", crate::meta::process_start(me)),
            ("dead", Some("1".to_owned())),
        ] {
            s.conn
                .execute(
                    "INSERT INTO runs (id, spec_path, spec_hash, pipeline, expc_version, started_at, status, environment, host, pid, pid_start)
                     VALUES (?1, '/s.exp', 'h', 'main', '0', '2026-01-01T00:00:00.000Z', 'running', '{}', ?2, ?3, ?4)",
                    params![id, host, me, start],
                )
                .unwrap();
        }
        drop(s);
        let s = Store::open_read_only(&d).unwrap();
        let status = |id: &str| -> String {
            s.conn
                .query_row("SELECT status FROM runs WHERE id = ?1", [id], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(status("alive"), "running");
        assert_eq!(status("dead"), "interrupted");
        // The read-only connection cannot write.
        assert!(s.conn.execute("DELETE FROM runs", []).is_err());
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
