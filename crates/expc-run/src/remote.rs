//! Remote inputs (`https://…`, `s3://…`) made local before the run's checks: each one a
//! task reads is found in, or fetched into, the store's remote objects by `expc-remote`,
//! and from then on it is a file like any declared data — hashed, checked against its
//! pinned digest and its schema, and keyed by its content, never by its URL.

use expc_check::ir;
use expc_check::remote_url::is_remote;
use expc_plan::plan::Plan;

use crate::resolve::Resolver;
use crate::{RunError, RunOptions};

/// Resolves every remote input of the plan into `resolver.remote`, as `opts.remote` allows.
pub fn fetch(
    program: &ir::Program,
    plan: &Plan,
    opts: &RunOptions,
    resolver: &mut Resolver<'_>,
) -> Result<(), RunError> {
    let mut used = program.artifacts_passed(&plan.pipeline);
    for t in &program.tasks {
        used.extend(t.uses.iter().cloned());
    }
    let remote: Vec<&ir::Artifact> = program
        .data
        .iter()
        .chain(&program.models)
        .filter(|a| used.contains(&a.id))
        .filter(|a| a.path.as_deref().is_some_and(is_remote))
        .collect();
    if remote.is_empty() {
        return Ok(());
    }
    let lock_path = opts.spec_dir.join(expc_remote::LOCK_FILE);
    let mut inputs =
        expc_remote::Inputs::open(&opts.state_dir, &lock_path, opts.remote).map_err(RunError)?;
    for a in remote {
        let url = a.path.as_deref().unwrap_or_default();
        let pinned = resolver.pinned_digest(&a.id);
        let r = inputs
            .resolve(url, pinned.as_deref())
            .map_err(|e| RunError(format!("remote input `{}`: {e}", a.id)))?;
        resolver.remote.insert(a.id.clone(), r);
    }
    Ok(())
}

/// The remote inputs `fetch` resolved, by id, for provenance.
pub fn recorded(resolver: &Resolver<'_>) -> Vec<crate::events::RemoteInput> {
    let mut out: Vec<_> = resolver
        .remote
        .iter()
        .map(|(id, r)| crate::events::RemoteInput {
            data: id.clone(),
            url: r.url.clone(),
            path: r.path.clone(),
            digest: r.locked.digest.clone(),
            size: r.locked.size,
            etag: r.locked.etag.clone(),
            version: r.locked.version.clone(),
            fetched: r.fetched,
        })
        .collect();
    out.sort_by(|a, b| a.data.cmp(&b.data));
    out
}
