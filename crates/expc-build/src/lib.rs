//! Submission artifacts built from a plan: for Slurm, one sbatch script per job (a job
//! array per sweep, split at the site's `max_array_size`), a `submit.sh` that submits
//! them in dependency order, the plan's JSON, and a provenance hook in every job; for
//! Spark, one `spark-submit` script per job with the same layout ([`spark::build`]).
//!
//! Generators are pure: they take the typed IR and the plan and return the files as
//! text ([`slurm::build`]), so the output is byte-identical from build to build and
//! golden-tested. They must not do IO (the CLI writes the files), and they must never
//! place a value from a spec or a param where a shell would parse it: every such value
//! is written as one single-quoted word ([`quote::quote`]).
//!
//! The provenance hook's records are read back by the run crate (`expc_run::hook`):
//! this crate writes the hook into every artifact and reads nothing.

pub mod all;
pub mod artifact;
pub mod cases;
pub mod k8s;
pub mod quote;
pub mod slurm;
pub mod spark;

pub use artifact::{Artifact, BuildError};
pub use slurm::SlurmOptions;
