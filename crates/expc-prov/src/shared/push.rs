//! Sending the runs of an embedded store that the shared store lacks: each run in one
//! transaction (its row and all of its rows, or nothing), skipped when it is already there,
//! so pushing again and pushing from two machines at once store each run once.

use std::io::Write;

use rusqlite::types::ValueRef;

use super::{RUN_TABLES, Shared, quoted};
use crate::store::{Error, Result, Store};

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The runs sent, oldest first.
    pub sent: Vec<String>,
    /// Runs that were there already.
    pub already: usize,
    /// Runs still running, left for a later push.
    pub running: usize,
}

impl Shared {
    /// Sends every finished run of `local` that the shared store lacks, oldest first (a
    /// run that reuses another's records refers to it). A run goes under the project of
    /// the settings, else its experiment's name.
    pub fn push(&mut self, local: &Store) -> Result<Pushed> {
        let mut pushed = Pushed::default();
        let mut stmt = local
            .conn
            .prepare("SELECT id, status, experiment FROM runs ORDER BY started_at, id")?;
        let runs: Vec<(String, String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let ids: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
        let there: std::collections::HashSet<String> = self
            .client
            .query("SELECT id FROM expc.runs WHERE id = ANY($1)", &[&ids])
            .map_err(|e| self.error(&e))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (id, status, experiment) in runs {
            if status == "running" {
                pushed.running += 1;
            } else if there.contains(&id) {
                pushed.already += 1;
            } else {
                let project = self
                    .project
                    .clone()
                    .or(experiment)
                    .unwrap_or_else(|| "default".into());
                super::settings::check_project(&project)?;
                if self.push_run(local, &id, &project)? {
                    pushed.sent.push(id);
                } else {
                    pushed.already += 1;
                }
            }
        }
        Ok(pushed)
    }

    /// One run in one transaction; `false` when another push stored it first. A
    /// transaction the server gave up to break a deadlock or a serialization conflict is
    /// tried again, a few times, so that users never see one.
    fn push_run(&mut self, local: &Store, id: &str, project: &str) -> Result<bool> {
        let mut pause = std::time::Duration::from_millis(20);
        for _ in 0..6 {
            match self.push_run_once(local, id, project) {
                Err(CopyError::Server(e)) if retryable(&e) => {
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                other => return other.map_err(|e| self.push_error(e, id, project)),
            }
        }
        self.push_run_once(local, id, project)
            .map_err(|e| self.push_error(e, id, project))
    }

    fn push_run_once(
        &mut self,
        local: &Store,
        id: &str,
        project: &str,
    ) -> std::result::Result<bool, CopyError> {
        let mut tx = self.client.transaction()?;
        // Two pushes of one run wait for each other here; the second finds it stored.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&id])?;
        if tx
            .query_opt("SELECT 1 FROM expc.runs WHERE id = $1", &[&id])?
            .is_some()
        {
            return Ok(false);
        }
        copy_rows(&mut tx, local, "runs", "id", id, Some(project))?;
        for table in RUN_TABLES {
            copy_rows(&mut tx, local, table, "run_id", id, None)?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// What went wrong sending run `id` to `project`, for the user.
    fn push_error(&self, e: CopyError, id: &str, project: &str) -> Error {
        let (shown, user) = (&self.shown, &self.user);
        let e = match e {
            CopyError::Local(e) => return e,
            CopyError::Server(e) => e,
        };
        match e.as_db_error().map(|d| d.code().code()) {
            Some("42501") => Error(format!(
                "permission denied: `{user}` may not write runs of project `{project}` in {shown}. An admin of `{project}` grants it with `expc store grant {project} {user} write`"
            )),
            Some("23505") => Error(format!(
                "run `{id}` is already in {shown}, in a project `{user}` cannot read"
            )),
            _ => super::connect::explain(&e, shown, user),
        }
    }
}

/// A deadlock broken or a serialization conflict: the transaction may simply be run again.
fn retryable(e: &postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| matches!(d.code().code(), "40P01" | "40001"))
}

/// An error of either side of a copy.
enum CopyError {
    Local(Error),
    Server(postgres::Error),
}

impl From<rusqlite::Error> for CopyError {
    fn from(e: rusqlite::Error) -> Self {
        CopyError::Local(e.into())
    }
}

impl From<postgres::Error> for CopyError {
    fn from(e: postgres::Error) -> Self {
        CopyError::Server(e)
    }
}

/// The rows of `table` whose `key` is `id`, sent with one `COPY` (text format) into a
/// temporary table, then inserted from there (`COPY` itself is refused on tables with
/// row-level security, and the insert is where the policies check each row), with the
/// run's project appended for `runs`. The columns are the local table's, so a store of an
/// older version sends what it has and the server's defaults fill the rest.
fn copy_rows(
    tx: &mut postgres::Transaction<'_>,
    local: &Store,
    table: &str,
    key: &str,
    id: &str,
    project: Option<&str>,
) -> std::result::Result<(), CopyError> {
    let columns: Vec<String> = local
        .conn
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut target = columns.clone();
    if project.is_some() {
        target.push("project".into());
    }
    let mut stmt = local.conn.prepare(&format!(
        "SELECT {} FROM {table} WHERE {key} = ?1",
        quoted(&columns)
    ))?;
    let mut rows = stmt.query([id])?;
    let mut text = Vec::new();
    while let Some(row) = rows.next()? {
        for i in 0..columns.len() {
            if i > 0 {
                text.push(b'\t');
            }
            write_value(&mut text, row.get_ref(i)?);
        }
        if let Some(p) = project {
            text.push(b'\t');
            write_text(&mut text, p.as_bytes());
        }
        text.push(b'\n');
    }
    if text.is_empty() {
        return Ok(());
    }
    let list = quoted(&target);
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS push_{table} (LIKE expc.{table} INCLUDING DEFAULTS) ON COMMIT DROP;
         TRUNCATE push_{table}"
    ))?;
    let mut writer = tx.copy_in(&format!("COPY push_{table} ({list}) FROM STDIN"))?;
    writer
        .write_all(&text)
        .map_err(|e| CopyError::Local(Error(format!("cannot send `{table}`: {e}"))))?;
    writer.finish()?;
    tx.batch_execute(&format!(
        "INSERT INTO expc.{table} ({list}) SELECT {list} FROM push_{table}"
    ))?;
    Ok(())
}

/// A value in COPY's text format.
fn write_value(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => out.extend_from_slice(b"\\N"),
        ValueRef::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        ValueRef::Real(f) if f.is_infinite() => {
            out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" })
        }
        ValueRef::Real(f) => out.extend_from_slice(format!("{f:?}").as_bytes()),
        ValueRef::Text(t) | ValueRef::Blob(t) => write_text(out, t),
    }
}

/// Text escaped for COPY: backslash, tab, newline and carriage return.
fn write_text(out: &mut Vec<u8>, t: &[u8]) {
    for &b in t {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => {}
            b => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_row() {
        let mut out = Vec::new();
        write_text(&mut out, b"a\tb\nc\\d\re");
        assert_eq!(out, b"a\\tb\\nc\\\\d\\re");
        let mut out = Vec::new();
        write_value(&mut out, ValueRef::Real(0.1));
        write_value(&mut out, ValueRef::Null);
        write_value(&mut out, ValueRef::Real(f64::NEG_INFINITY));
        assert_eq!(out, b"0.1\\N-Infinity");
    }
}
