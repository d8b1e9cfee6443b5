//! A shared store read through the embedded store's queries: an in-memory SQLite database
//! of the embedded store's schema, holding the rows the server lets this role see, fetched
//! as they are needed. Every row comes through the role's connection, so row-level
//! security decides what is here; nothing is written on the server.

use std::collections::HashSet;

use postgres::types::Type;
use rusqlite::Connection;

use super::{RUN_TABLES, Shared, quoted};
use crate::store::{Error, MIGRATIONS, Result, SCHEMA_VERSION, Store};

/// The server behind a [`Store`] read from a shared store.
#[derive(Debug)]
pub struct Mirror {
    shared: Shared,
    /// The (run, table) pairs whose rows are here.
    fetched: HashSet<(String, &'static str)>,
}

impl Shared {
    /// A store to read with the embedded store's queries: the runs and their params are
    /// fetched now, the rest of a run when a query asks for it ([`Store::fetch`]).
    pub fn into_store(mut self) -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        for script in MIGRATIONS {
            conn.execute_batch(script)?;
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        copy(&mut self, &conn, "runs", "TRUE", &[])?;
        copy(&mut self, &conn, "params", "TRUE", &[])?;
        let path = self.shown.clone().into();
        Ok(Store {
            conn,
            path,
            mirror: Some(Box::new(std::cell::RefCell::new(Mirror {
                shared: self,
                fetched: HashSet::new(),
            }))),
        })
    }

    /// `expc query` on the server: one statement, in a read-only transaction, as this
    /// role (row-level security applies), values as the embedded store gives them.
    pub fn query(&mut self, sql: &str) -> Result<crate::query::Table> {
        let (shown, user) = (self.shown.clone(), self.user.clone());
        let mut tx = self
            .client
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(|e| super::connect::explain(&e, &shown, &user))?;
        let stmt = match tx.prepare(sql) {
            Ok(s) => s,
            Err(e) => {
                let e = super::connect::explain(&e, &shown, &user);
                return Err(Error(format!(
                    "{e}. The tables are runs, params, tasks, task_values, artifacts, usages, metrics, members; the views task_inputs, task_outputs, task_reads, task_metrics and models (see docs/store.md)"
                )));
            }
        };
        let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        let rows = tx
            .query(&stmt, &[])
            .map_err(|e| super::connect::explain(&e, &shown, &user))?;
        let rows = rows
            .iter()
            .map(|r| (0..columns.len()).map(|i| json_of(r, i)).collect())
            .collect();
        Ok(crate::query::Table { columns, rows })
    }
}

impl Mirror {
    /// `expc query` on the server.
    pub(crate) fn query(&mut self, sql: &str) -> Result<crate::query::Table> {
        self.shared.query(sql)
    }

    /// Fetches the rows of `tables` (which include `tasks`) of `runs` and of the runs
    /// they refer to, each (run, table) once.
    pub(crate) fn fetch(
        &mut self,
        conn: &Connection,
        runs: &[String],
        tables: &[&'static str],
    ) -> Result<()> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut wanted: Vec<String> = runs.to_vec();
        while !wanted.is_empty() {
            let tx = conn.unchecked_transaction()?;
            for table in tables {
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|r| !self.fetched.contains(&(r.to_string(), *table)))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                copy(
                    &mut self.shared,
                    conn,
                    table,
                    "run_id = ANY($1)",
                    &[&missing],
                )?;
                self.fetched
                    .extend(missing.into_iter().map(|r| (r, *table)));
            }
            tx.commit()?;
            seen.extend(wanted);
            let mut stmt =
                conn.prepare("SELECT DISTINCT source_run FROM tasks WHERE source_run IS NOT NULL")?;
            wanted = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|r| !seen.contains(r))
                .collect();
        }
        Ok(())
    }

    /// One side of `expc runs compare`, read on the server: `sql` (with `$1` for the run)
    /// gives `(call, idx, instance, name, value)` rows.
    pub(crate) fn side(
        &mut self,
        sql: &str,
        run: &str,
        visit: &mut crate::query::Visit<'_>,
    ) -> Result<()> {
        let shared = &mut self.shared;
        let rows = shared
            .client
            .query(sql, &[&run])
            .map_err(|e| shared.error(&e))?;
        for r in &rows {
            visit(r.get(0), r.get(1), r.get(2), r.get(3), json_of(r, 4));
        }
        Ok(())
    }

    /// Every run's rows (`expc models`).
    pub(crate) fn fetch_all(&mut self, conn: &Connection) -> Result<()> {
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM runs")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        self.fetch(conn, &ids, &RUN_TABLES[1..])
    }
}

/// Copies the rows of `table` matching `filter` from the server into `conn`, with the
/// columns of the embedded store's table.
fn copy(
    shared: &mut Shared,
    conn: &Connection,
    table: &str,
    filter: &str,
    args: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<()> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let list = quoted(&columns);
    let rows = shared
        .client
        .query(
            &format!("SELECT {list} FROM expc.{table} WHERE {filter}"),
            args,
        )
        .map_err(|e| shared.error(&e))?;
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {table} ({list}) VALUES ({})",
        marks.join(", ")
    ))?;
    for row in &rows {
        let values: Vec<rusqlite::types::Value> =
            (0..columns.len()).map(|i| value_of(row, i)).collect();
        insert.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}

/// A server value as SQLite holds it.
fn value_of(row: &postgres::Row, i: usize) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    let ty = row.columns()[i].type_();
    let v = if *ty == Type::INT8 {
        row.get::<_, Option<i64>>(i).map(Value::Integer)
    } else if *ty == Type::FLOAT8 {
        row.get::<_, Option<f64>>(i).map(Value::Real)
    } else {
        row.get::<_, Option<String>>(i).map(Value::Text)
    };
    v.unwrap_or(Value::Null)
}

/// A server value of any type as JSON, as `expc query` prints it: numbers as numbers,
/// booleans as SQLite would give them (1 and 0), text as text; other types as their text.
fn json_of(row: &postgres::Row, i: usize) -> serde_json::Value {
    use serde_json::{Value as Json, json};
    let ty = row.columns()[i].type_().clone();
    let got: Option<Json> = match ty {
        Type::INT8 => row.get::<_, Option<i64>>(i).map(|v| json!(v)),
        Type::INT4 => row.get::<_, Option<i32>>(i).map(|v| json!(v)),
        Type::INT2 => row.get::<_, Option<i16>>(i).map(|v| json!(v)),
        Type::FLOAT8 => row.get::<_, Option<f64>>(i).map(|v| json!(v)),
        Type::FLOAT4 => row.get::<_, Option<f32>>(i).map(|v| json!(v as f64)),
        Type::BOOL => row.get::<_, Option<bool>>(i).map(|v| json!(v as i64)),
        Type::NUMERIC => row.get::<_, Option<Numeric>>(i).map(|v| v.0),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::UNKNOWN => {
            row.get::<_, Option<String>>(i).map(Json::String)
        }
        _ => row
            .try_get::<_, Option<String>>(i)
            .unwrap_or_else(|_| Some(format!("<{}>", ty.name())))
            .map(Json::String),
    };
    got.unwrap_or(Json::Null)
}

/// A `numeric` (what `SUM` and `AVG` of integers give) as a JSON number: an integer when
/// it has no fraction, else the nearest float.
struct Numeric(serde_json::Value);

impl<'a> postgres::types::FromSql<'a> for Numeric {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| -> i64 {
            raw.get(i * 2..i * 2 + 2)
                .map_or(0, |b| i16::from_be_bytes([b[0], b[1]]) as i64)
        };
        let (ndigits, weight, sign, scale) = (word(0), word(1), word(2), word(3));
        if sign == 0xC000u16 as i16 as i64 {
            return Ok(Numeric(serde_json::Value::Null));
        }
        let mut text = String::new();
        for d in 0..ndigits {
            text.push_str(&format!("{:04}", word(4 + d as usize)));
        }
        // The digits are base 10,000 with the first at 10,000^weight.
        let int_digits = (weight + 1) * 4;
        let value: f64 = if text.is_empty() {
            0.0
        } else {
            format!("0.{text}e{int_digits}").parse().unwrap_or(f64::NAN)
        };
        let value = if sign == 0x4000 { -value } else { value };
        let json = if scale == 0 && value.abs() < 9.0e15 {
            serde_json::json!(value as i64)
        } else {
            serde_json::json!(value)
        };
        Ok(Numeric(json))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}
