//! Provenance of expc runs.
//!
//! Every `expc run` is recorded in an embedded SQLite store under `.expc/` ([`store`],
//! schema in `schema.sql`, documented in `docs/provenance.md`): the run with its spec,
//! params, git state and environment, every task instance with its argv, times and exit,
//! every artifact read and made with its digest, and the metrics tasks wrote. [`query`]
//! reads it back for `expc runs`, `expc query` and `expc models`; [`export`] writes a run
//! as W3C PROV-JSON or as a Workflow Run RO-Crate.
//!
//! Secrets never enter the store: instance records carry argv words (where a secret
//! appears as `secret(NAME)`) and never the environment.

pub mod export;
pub mod ingest;
pub mod meta;
pub mod mlflow;
pub mod query;
pub mod record;
pub mod registry;
pub mod retention;
pub mod shared;
pub mod store;
pub mod time;

/// Where a run kept an instance's logs, for the report.
pub use expc_run::events::log_dir;
pub use meta::RunMeta;
pub use record::Recording;
pub use store::Store;
