//! `expc report`: one self-contained HTML file describing recorded runs.
//!
//! The report shows each run's summary (spec, params, git state, environment, status),
//! its DAG of task instances coloured by state, a timeline of task executions per host
//! and backend, a table of tasks with the tails of their logs, and — for several runs or
//! a sweep — a parallel-coordinates plot of params, sweep values and metrics linked to a
//! scatter plot and a sortable table of the selected instances.
//!
//! Data comes from the provenance store only through `expc_prov::query` (the same tables
//! `expc query` documents); logs are read from `.expc/logs/`. The charts are drawn by
//! Apache ECharts, vendored in `vendor/` and inlined, so the file opens with no network.
//!
//! This crate must not write to the store, fetch anything at view time, or put a value
//! from a run into the page anywhere but the escaped JSON data block (see [`html`]).

mod compare;
mod dag;
pub mod html;
mod logs;
mod model;
mod timeline;

use std::path::Path;

use expc_prov::Store;
use expc_prov::store::Result;

pub use model::Report;

/// Builds the report of the given runs (ids as stored; the first is shown first) and
/// returns the HTML page. `state_dir` is the `.expc/` directory whose logs are read.
pub fn render(store: &Store, state_dir: &Path, run_ids: &[String]) -> Result<String> {
    let report = Report::load(store, state_dir, run_ids)?;
    Ok(html::page(&report))
}
