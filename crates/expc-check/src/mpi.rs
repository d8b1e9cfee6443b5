//! MPI-style tasks: `resources { nodes = 2, tasks = 27 }` asks Slurm for the nodes and the
//! processes (`--nodes`, `--ntasks`) and starts the command with `srun`, once per task. No
//! other backend starts a command as several processes, so such a call is placed on a
//! Slurm resource (`expc run --local`, which tries a spec on this machine, runs it as one
//! process).

use expc_diagnostics::{Code, Diagnostic, Span};

use crate::checker::{Backend, Checker};
use crate::defs::DefId;
use crate::tasks::TaskSig;
use crate::value::Value;

impl Checker<'_> {
    /// Reports a task that sets `nodes` or `tasks`, placed on a resource that is not Slurm.
    pub fn check_mpi_placement(
        &mut self,
        sig: &TaskSig,
        backend: Backend,
        (tname, rname): (&str, &str),
        (span, rspan): (Span, Span),
        task: DefId,
    ) {
        if backend == Backend::Slurm {
            return;
        }
        for what in ["nodes", "tasks"] {
            let Some(asked) = sig.resources.get(what).and_then(Value::as_int) else {
                continue;
            };
            let task_span = self
                .task_resource_span(task, what)
                .unwrap_or(self.def(task).span);
            self.emit(
                Diagnostic::error(
                    Code::INVALID_PLACEMENT,
                    format!(
                        "`{tname}` is an MPI-style task (`{what} = {asked}`), which only a Slurm resource starts, and `{rname}` is not one"
                    ),
                    span,
                )
                .with_primary_message(format!("placed on `{rname}` here"))
                .with_label(task_span, format!("{what} = {asked}"))
                .with_label(rspan, "the resource is declared here")
                .with_help("place the call on a `Slurm` resource (or move it there with `--on`), or remove `nodes` and `tasks` from the task's `resources`"),
            );
            return;
        }
    }
}
