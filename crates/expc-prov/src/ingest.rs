//! Loading the records that generated jobs' provenance hooks wrote on a cluster into the
//! store, as a run with the same records a local run has (`expc prov ingest`).
//!
//! The run crate reads the hook records against the plan of the same spec and params
//! ([`expc_run::ingest::instances`]); this records them, once: the same records ingested
//! twice are one run, not two.

use std::path::Path;

use expc_plan::plan::Plan;
use expc_run::ingest::Ingestion;
use expc_run::{Event, Sink};
use serde_json::json;

use crate::meta::RunMeta;

/// What was ingested.
#[derive(Debug)]
pub struct Ingested {
    pub run_id: String,
    pub ran: usize,
    pub failed: usize,
    pub not_run: usize,
}

struct Quiet;

impl Sink for Quiet {
    fn event(&mut self, _: Event) {}
}

/// Records `ingestion` (the instances of `plan` read from the hook records under
/// `run_dir`) into the store of `state_dir` as one run.
pub fn ingest(
    state_dir: &Path,
    plan: &Plan,
    mut meta: RunMeta,
    ingestion: Ingestion,
    run_dir: &Path,
) -> Result<Ingested, String> {
    let records_digest = &ingestion.records_digest;
    if let Ok(store) = crate::Store::open(state_dir) {
        let before: Option<String> = store
            .conn
            .query_row(
                "SELECT id FROM runs WHERE json_extract(environment, '$.records_digest') = ?1",
                [records_digest],
                |r| r.get(0),
            )
            .ok();
        if let Some(id) = before {
            return Err(format!(
                "these records were already ingested as run {id} (`expc runs show {id}`)"
            ));
        }
    }
    meta.environment = json!({
        "source": "provenance hooks of generated jobs",
        "records": run_dir.display().to_string(),
        "records_digest": records_digest,
        "hosts": ingestion.hosts,
        "modules_declared": plan.jobs.iter().flat_map(|j| j.env.modules.iter()).collect::<std::collections::BTreeSet<_>>(),
        "containers": plan.jobs.iter().filter_map(|j| j.env.image.as_ref()).collect::<std::collections::BTreeSet<_>>(),
        "conda": plan.jobs.iter().filter_map(|j| j.env.conda.as_ref()).collect::<std::collections::BTreeSet<_>>(),
    });
    let mut rec = crate::Recording::new(Quiet, state_dir, meta)
        .with_times(ingestion.started, ingestion.ended);
    let total: u64 = plan.jobs.iter().map(|j| j.instances).sum();
    rec.event(Event::RunStarted { instances: total });
    for r in ingestion.records {
        rec.instance(r);
    }
    let summary = ingestion.summary;
    rec.finish(&summary);
    if let Some(why) = rec.failure() {
        return Err(format!("the store could not be written: {why}"));
    }
    Ok(Ingested {
        run_id: rec.run_id().unwrap_or_default().to_owned(),
        ran: summary.ran,
        failed: summary.failed.len(),
        not_run: summary.not_run,
    })
}
