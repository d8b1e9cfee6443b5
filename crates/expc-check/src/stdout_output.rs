//! Standard output as an output: `-> (log: File<Text> = stdout)`. The task's standard
//! output is written to the output's file (`log.stdout` in its work directory) instead of
//! its log, and is stored, keyed and read by other tasks like any output.
//!
//! `expc run` captures it for the processes it starts; the job scripts of `expc build` do
//! not yet, so such a call is placed on a `Local` resource.

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind};

use crate::checker::{Backend, Checker};
use crate::defs::DefId;
use crate::expr::Cx;
use crate::types::Type;
use crate::value::Value;

/// Whether `e`, an output's default, is the word `stdout`.
pub fn is_stdout(e: &ast::Expr) -> bool {
    matches!(&e.kind, ExprKind::Name(n) if n.name == "stdout")
}

/// The file, in the work directory, that holds the standard output of the output `name`.
pub fn stdout_file(name: &str) -> String {
    format!("{name}.stdout")
}

/// Whether the output `name` of task `t` is its standard output (`= stdout`), where no
/// declaration is called `stdout`.
pub fn is_stdout_output(t: &ast::Task, name: &str) -> bool {
    t.outputs
        .iter()
        .flatten()
        .any(|f| f.name.name == name && f.default.as_ref().is_some_and(is_stdout))
}

impl Checker<'_> {
    /// The file name of the output `f` declared `= stdout`, checked: a file or a table
    /// (a directory cannot be a stream), of a task whose command is `run` or `shell`.
    pub fn stdout_output(&mut self, f: &ast::Field, ty: &Type, cx: &Cx<'_>) -> Option<Value> {
        if self.defs.lookup(cx.module, "stdout").is_some() {
            return None;
        }
        let fits = matches!(
            ty,
            Type::File(_) | Type::Table(..) | Type::Metrics | Type::Error
        ) && !matches!(ty, Type::File(d) if self.format_flag(*d, "directory"));
        if !fits {
            let shown = self.show(ty);
            self.emit(
                Diagnostic::error(
                    Code::INVALID_TASK,
                    format!(
                        "the standard output is a file, and `{}` is {shown}",
                        f.name.name
                    ),
                    f.span,
                )
                .with_help("declare it as a file, for example `log: File<Text> = stdout`"),
            );
        }
        Some(Value::Str(stdout_file(&f.name.name)))
    }

    /// Reports a call of a task with an output `= stdout` placed where no process of
    /// `expc run`'s own runs it.
    pub fn check_stdout_placement(
        &mut self,
        task: DefId,
        backend: Backend,
        (tname, rname): (&str, &str),
        (span, rspan): (Span, Span),
    ) {
        if backend == Backend::Local || self.defs.lookup(self.def(task).module, "stdout").is_some()
        {
            return;
        }
        let ast::ItemKind::Task(t) = &self.item(task).kind else {
            return;
        };
        let Some(out) = t
            .outputs
            .iter()
            .flatten()
            .find(|f| f.default.as_ref().is_some_and(is_stdout))
        else {
            return;
        };
        self.emit(
            Diagnostic::error(
                Code::INVALID_PLACEMENT,
                format!(
                    "`{tname}` writes its standard output to its output `{}`, which only a `Local` resource captures, and `{rname}` is not one",
                    out.name.name
                ),
                span,
            )
            .with_primary_message(format!("placed on `{rname}` here"))
            .with_label(out.span, "the output is the standard output")
            .with_label(rspan, "the resource is declared here")
            .with_help("place the call on a `Local` resource (or move it there with `--on`), or have the command write the file itself"),
        );
    }

    /// Reports a second output of task `t` declared `= stdout`: there is one stream.
    pub fn check_one_stdout(&mut self, t: &ast::Task) {
        let mut declared = t
            .outputs
            .iter()
            .flatten()
            .filter(|f| f.default.as_ref().is_some_and(is_stdout));
        let Some(first) = declared.next() else {
            return;
        };
        for other in declared {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_TASK,
                    format!(
                        "`{}` and `{}` are both the standard output",
                        first.name.name, other.name.name
                    ),
                    other.span,
                )
                .with_label(first.span, "the first is declared here")
                .with_help("declare one output `= stdout`, and give the other a file name"),
            );
        }
    }
}
