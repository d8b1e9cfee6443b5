//! Spark artifacts of a plan: a `spark-submit` script per Spark-placed job.

use expc_check::ir;
use expc_plan::plan::Plan;

use crate::{Artifact, BuildError};

#[derive(Clone, Debug, Default)]
pub struct SparkOptions {
    /// The folder the spec's relative data paths are resolved against where the scripts
    /// run.
    pub spec_dir: String,
}

/// The Spark artifacts of `plan`.
pub fn build(
    _program: &ir::Program,
    _plan: &Plan,
    _opts: &SparkOptions,
) -> Result<Vec<Artifact>, BuildError> {
    Err(BuildError::new(
        "this version of expc does not build Spark artifacts yet".into(),
        "run the pipeline with `expc run`".into(),
    ))
}
