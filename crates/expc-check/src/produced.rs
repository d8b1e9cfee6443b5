//! Lists of files a task produces: an output declared `parts: List<File<Csv>> =
//! glob("parts/*.csv")` is the files the task writes in the folder `parts` that match the
//! pattern, known only when the task has run. In the task's command `${parts}` is that
//! folder; in a pipeline `s.parts` is the list, which a task may take whole or a `for` loop
//! may run over (one instance per file, expanded when `s` has run).

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind, SmolStr};
use foldhash::HashMap;

use crate::checker::{Checker, FieldInfo};
use crate::expr::Local;
use crate::glob::Pattern;
use crate::ir;
use crate::ir_expr::IrExpr;
use crate::types::Type;
use crate::value::Value;

impl Checker<'_> {
    /// An output of a list type, or one declared with `glob(…)`: checked here, its
    /// default the folder the files are written in. `None` for any other output.
    pub(crate) fn list_output(&mut self, f: &ast::Field, ty: &Type) -> Option<FieldInfo> {
        let args = f.default.as_ref().and_then(crate::fileset::glob_call);
        let element = match ty {
            Type::List(e) => Some(&**e),
            _ => None,
        };
        if args.is_none() && element.is_none() {
            return None;
        }
        let info = |default: Option<Value>| FieldInfo {
            name: f.name.name.clone(),
            has_default: f.default.is_some(),
            default,
            ty: ty.clone(),
            span: f.name.span,
        };
        let ok_element =
            element.is_some_and(|e| e.is_artifact() && !matches!(e, Type::Optional(_)));
        if !ok_element {
            if !ty.is_error() {
                let shown = self.show(ty);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_PRODUCED_LIST,
                        format!(
                            "an output declared with `glob(…)` is a list of files, not {shown}"
                        ),
                        f.ty.span,
                    )
                    .with_help(format!(
                        "declare it as a list: `{}: List<File<Csv>> = glob(\"{}/*.csv\")`",
                        f.name.name, f.name.name
                    )),
                );
            }
            return Some(info(None));
        }
        let Some(args) = args else {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_PRODUCED_LIST,
                    format!(
                        "the list output `{}` names its files with `glob(…)`",
                        f.name.name
                    ),
                    f.span,
                )
                .with_help(format!(
                    "write `{}: {} = glob(\"{}/*\")`: the files the task writes in the folder `{}`",
                    f.name.name,
                    self.show(ty),
                    f.name.name,
                    f.name.name
                )),
            );
            return Some(info(None));
        };
        let pattern = match args {
            [a] if a.name.is_none() => match &a.value.kind {
                ExprKind::String(s) => Some((s.value.as_str().to_owned(), a.value.span)),
                _ => None,
            },
            _ => None,
        };
        let Some((pattern, span)) = pattern else {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_PRODUCED_LIST,
                    "a list output's `glob(…)` takes one pattern, a string",
                    f.default.as_ref().map_or(f.span, |d| d.span),
                )
                .with_help("write `glob(\"parts/*.csv\")`"),
            );
            return Some(info(None));
        };
        match output_folder(&pattern) {
            Ok(folder) => {
                self.output_patterns.insert(f.name.span, pattern);
                Some(info(Some(Value::Str(folder))))
            }
            Err(why) => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_PRODUCED_LIST,
                        format!("the pattern \"{}\" {why}", pattern.escape_debug()),
                        span,
                    )
                    .with_help("start it with the folder the task writes its files in: `glob(\"parts/*.csv\")`"),
                );
                Some(info(None))
            }
        }
    }

    /// A call of a task with a list output inside a loop: its lists would be known one per
    /// instance, which neither a loop over them nor a gather can read yet.
    pub(crate) fn list_outputs_in_loop(
        &mut self,
        sig: &crate::tasks::TaskSig,
        loops: &[u32],
        span: Span,
        task: &str,
    ) {
        if loops.is_empty() {
            return;
        }
        let Some(list) = sig
            .outputs
            .iter()
            .find(|o| self.output_patterns.contains_key(&o.span))
        else {
            return;
        };
        self.emit(
            Diagnostic::error(
                Code::INVALID_PRODUCED_LIST,
                format!("`{task}` produces a list (`{}`) and is called in a loop: a list per instance is not supported yet", list.name),
                span,
            )
            .with_label(list.span, "the list output")
            .with_help("call it outside the loop, or write its files to a `Dir` output and pass that"),
        );
    }

    /// A list a task produces passed where one file is expected: said with what to do
    /// instead of as a plain type mismatch. Whether it was.
    pub(crate) fn produced_list_misfit(
        &mut self,
        found: &Type,
        expected: &Type,
        arg: &ast::Expr,
        what: &str,
        locals: &HashMap<SmolStr, Local>,
    ) -> bool {
        let Type::List(element) = found else {
            return false;
        };
        if self.fits(element, expected).is_err() {
            return false;
        }
        let Some(path) = arg.as_path() else {
            return false;
        };
        let [binding, output] = path[..] else {
            return false;
        };
        let Some(Local::Binding { task, .. }) = locals.get(&binding.name) else {
            return false;
        };
        let declared = self.tasks.get(task).and_then(|t| {
            t.outputs
                .iter()
                .find(|o| o.name == output.name)
                .map(|o| o.span)
        });
        let Some(declared) = declared.filter(|s| self.output_patterns.contains_key(s)) else {
            return false;
        };
        let (fs, es) = (self.show(found), self.show(expected));
        let (b, o) = (&binding.name, &output.name);
        self.emit(
            Diagnostic::error(
                Code::PRODUCED_LIST_AS_FILE,
                format!("{what} expects {es}, and `{b}.{o}` is {fs}: every file `{b}` writes there"),
                arg.span,
            )
            .with_primary_message(format!("this is {fs}"))
            .with_label(declared, "declared as a list here")
            .with_help(format!("run the call once per file with `for x in {b}.{o} {{ … }}` and pass `x`, or declare the input as {fs} to take them all")),
        );
        true
    }

    /// `for x in s.parts`: a loop over what a call produces, expanded when it has run. The
    /// id of the sweep it is noted as (strategy `produced`, without points), and the type
    /// of an element; `None` when the list is not an output of a call.
    pub(crate) fn produced_loop(
        &mut self,
        t: &crate::expr::Typed,
        span: Span,
        locals: &HashMap<SmolStr, Local>,
    ) -> Option<(String, Type)> {
        let IrExpr::CallOutput {
            binding,
            output,
            gathered: false,
        } = &t.ir
        else {
            return None;
        };
        let Type::List(element) = &t.ty else {
            return None;
        };
        // A producer in a loop is reported where it is called.
        let _ = (span, locals);
        let id = format!("{binding}.{output}");
        if !self.list_loops.iter().any(|s| s.id == id) {
            self.list_loops.push(ir::Sweep {
                id: id.clone(),
                strategy: ir::Strategy::Produced,
                axes: vec![ir::Axis {
                    name: String::new(),
                    ty: self.show(element),
                    values: None,
                }],
                samples: None,
                seed: None,
                points: None,
            });
        }
        Some((id, (**element).clone()))
    }
}

/// The folder a list output's files are written in: the pattern's first name, which must
/// be plain (no wildcard) and followed by more.
pub fn output_folder(pattern: &str) -> Result<String, String> {
    Pattern::parse(pattern).map_err(|e| e.0)?;
    if pattern.starts_with('/') {
        return Err("is absolute: a task writes its outputs in its own folder".into());
    }
    let mut parts = pattern.split('/').filter(|p| !p.is_empty());
    let first = parts.next().unwrap_or_default();
    let wild = |s: &str| s.contains(['*', '?', '[', '{']);
    if wild(first) || parts.next().is_none() {
        return Err("does not start with the folder the files are written in".into());
    }
    if first == "." || first == ".." {
        return Err("starts with `.` or `..`".into());
    }
    Ok(first.to_owned())
}
