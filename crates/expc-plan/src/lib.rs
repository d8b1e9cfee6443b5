//! Lowering of the typed IR to a DAG of task instances, and what reviewers read of it:
//! the plan (`expc plan`), its graph (`expc graph`) and the difference of two plans
//! (`expc diff`).
//!
//! Like the front end, this crate does no IO and is deterministic: the same program gives
//! byte-identical plans, graphs and diffs.

pub mod command;
pub mod dag;
pub mod decision;
pub mod diff;
pub mod expansion;
pub mod graph;
pub mod index;
pub mod lower;
pub mod plan;
pub mod render;
pub mod sweep;

pub use command::{Evaluator, InstanceCommand, Place};
pub use index::ProgramIndex;
pub use lower::{Lowered, cycles, lower};
pub use plan::Plan;
