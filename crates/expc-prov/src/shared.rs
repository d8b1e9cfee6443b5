//! A team's shared provenance store, on PostgreSQL.
//!
//! The embedded SQLite store stays the record of every run: `expc run` always records
//! there, then sends what the shared store is missing ([`Shared::push`], also
//! `expc prov push`), each run in one transaction, so a run is there whole or not at all
//! and a run pushed twice is stored once. The shared store has the same tables and schema
//! versions (`shared/schema*.sql` mirror `schema*.sql`), plus each run's project and the
//! grants of `members`, enforced by PostgreSQL's row-level security: whatever SQL reaches
//! the server, a role sees only the runs of projects it may read.
//!
//! Reading commands get a [`Store`] whose SQLite database is in memory and holds the rows
//! the server let this role see, fetched as the queries need them (the runs list, then
//! each run asked for with the runs it refers to), so `runs`, `runs show`, `runs compare`,
//! `models`, `report` and `prov export` run the very same queries on both backends. Raw SQL
//! (`expc query`) goes to the server itself, in a read-only transaction.
//!
//! Credentials come from the environment (`PGPASSWORD`, or a URL in `EXPC_STORE`), never
//! from the settings file; the URL is shown without its password ([`Shared::shown`]) and
//! is never written into a run's record.

mod admin;
mod connect;
pub(crate) mod mirror;
mod push;
mod settings;

pub use admin::LEVELS;
pub use connect::{Shared, without_password};
pub use push::Pushed;
pub use settings::{SETTINGS_FILE, Settings};

/// The server's schema scripts, oldest first: script N brings a store to version N, as
/// [`crate::store::MIGRATIONS`] does for SQLite.
pub const MIGRATIONS: &[&str] = &[
    include_str!("shared/schema.sql"),
    include_str!("shared/schema_2.sql"),
    include_str!("shared/schema_3.sql"),
    include_str!("shared/schema_4.sql"),
    include_str!("shared/schema_5.sql"),
    include_str!("shared/schema_6.sql"),
    include_str!("shared/schema_7.sql"),
];

// Version N of a shared store is version N of the embedded store.
const _: () = assert!(MIGRATIONS.len() == crate::store::MIGRATIONS.len());

/// The tables of a run other than `runs`, in the order rows may be added (each refers
/// only to rows of the tables before it).
const RUN_TABLES: [&str; 9] = [
    "params",
    "tasks",
    "task_values",
    "artifacts",
    "usages",
    "metrics",
    "registrations",
    "evaluations",
    "efficiency",
];

/// A column name quoted for SQL (both dialects): `user` is reserved in PostgreSQL.
fn quoted(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}
