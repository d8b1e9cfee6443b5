//! Kubernetes artifacts of a plan: a `batch/v1` Job per Kubernetes-placed job.

use expc_check::ir;
use expc_plan::plan::Plan;

use crate::{Artifact, BuildError};

#[derive(Clone, Debug, Default)]
pub struct K8sOptions {
    /// The folder the spec's relative data paths are resolved against where the Jobs run.
    pub spec_dir: String,
}

/// The Kubernetes artifacts of `plan`.
pub fn build(
    _program: &ir::Program,
    _plan: &Plan,
    _opts: &K8sOptions,
) -> Result<Vec<Artifact>, BuildError> {
    Err(BuildError::new(
        "this version of expc does not build Kubernetes artifacts yet".into(),
        "run the pipeline with `expc run --local`".into(),
    ))
}
