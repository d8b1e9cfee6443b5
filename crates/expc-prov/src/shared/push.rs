//! Sending the runs of an embedded store that the shared store lacks: each run in one
//! transaction (its row and all of its rows, or nothing), skipped when it is already there,
//! so pushing again and pushing from two machines at once store each run once.

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

/// The rows of `table` whose `key` is `id`, sent as one `INSERT … SELECT FROM unnest(…)`
/// with a typed array per column (`COPY` is refused on tables with row-level security; the
/// insert is where the policies check each row), with the run's project added for `runs`.
/// The columns are the local table's, so a store of an older version sends what it has and
/// the server's defaults fill the rest.
fn copy_rows(
    tx: &mut postgres::Transaction<'_>,
    local: &Store,
    table: &str,
    key: &str,
    id: &str,
    project: Option<&str>,
) -> std::result::Result<(), CopyError> {
    let declared: Vec<(String, String)> = local
        .conn
        .prepare("SELECT name, type FROM pragma_table_info(?1)")?
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut names: Vec<String> = declared.iter().map(|(n, _)| n.clone()).collect();
    let mut columns: Vec<Column> = declared.iter().map(|(_, ty)| Column::of(ty)).collect();
    let mut stmt = local.conn.prepare(&format!(
        "SELECT {} FROM {table} WHERE {key} = ?1",
        quoted(&names)
    ))?;
    let mut rows = stmt.query([id])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        for (i, column) in columns.iter_mut().enumerate() {
            column.push(row.get_ref(i)?);
        }
        n += 1;
    }
    if n == 0 {
        return Ok(());
    }
    if let Some(p) = project {
        names.push("project".into());
        columns.push(Column::Text(vec![Some(p.to_owned()); n]));
    }
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}[]", i + 1, c.sql_type()))
        .collect();
    let list = quoted(&names);
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
        columns.iter().map(Column::as_param).collect();
    tx.execute(
        &format!(
            "INSERT INTO expc.{table} ({list}) SELECT * FROM unnest({})",
            arrays.join(", ")
        ),
        &params,
    )?;
    Ok(())
}

/// One column of a table's rows, typed as the embedded store declares it.
enum Column {
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

impl Column {
    fn of(declared: &str) -> Column {
        match declared.to_ascii_uppercase().as_str() {
            "INTEGER" => Column::Int(Vec::new()),
            "REAL" => Column::Real(Vec::new()),
            _ => Column::Text(Vec::new()),
        }
    }

    /// A value, converted to the column's type as SQLite's affinity would.
    fn push(&mut self, v: ValueRef<'_>) {
        let text = |v: ValueRef<'_>| match v {
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Some(String::from_utf8_lossy(t).replace('\0', ""))
            }
            ValueRef::Integer(i) => Some(i.to_string()),
            ValueRef::Real(f) => Some(f.to_string()),
            ValueRef::Null => None,
        };
        match self {
            Column::Int(c) => c.push(match v {
                ValueRef::Integer(i) => Some(i),
                ValueRef::Real(f) => Some(f as i64),
                other => text(other).and_then(|t| t.trim().parse().ok()),
            }),
            Column::Real(c) => c.push(match v {
                ValueRef::Real(f) => Some(f),
                ValueRef::Integer(i) => Some(i as f64),
                other => text(other).and_then(|t| t.trim().parse().ok()),
            }),
            Column::Text(c) => c.push(text(v)),
        }
    }

    fn sql_type(&self) -> &'static str {
        match self {
            Column::Int(_) => "bigint",
            Column::Real(_) => "float8",
            Column::Text(_) => "text",
        }
    }

    fn as_param(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            Column::Int(c) => c,
            Column::Real(c) => c,
            Column::Text(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_their_column_type_as_sqlite_affinity_would() {
        let mut c = Column::of("INTEGER");
        c.push(ValueRef::Integer(7));
        c.push(ValueRef::Text(b" 8"));
        c.push(ValueRef::Null);
        assert!(matches!(c, Column::Int(ref v) if *v == vec![Some(7), Some(8), None]));
        let mut c = Column::of("REAL");
        c.push(ValueRef::Integer(1));
        c.push(ValueRef::Real(0.1));
        assert!(matches!(c, Column::Real(ref v) if *v == vec![Some(1.0), Some(0.1)]));
        let mut c = Column::of("TEXT");
        c.push(ValueRef::Text(b"a\tb\0"));
        c.push(ValueRef::Integer(3));
        assert!(
            matches!(c, Column::Text(ref v) if *v == vec![Some("a\tb".to_owned()), Some("3".to_owned())])
        );
    }
}
