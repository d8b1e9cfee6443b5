//! File sets: data items declared with `glob("PATTERN")`, expanded through the loader
//! when the spec is checked, each matched file a data item of its own in the IR.

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind};

use crate::checker::{Checker, FileSet};
use crate::defs::DefId;
use crate::glob::Pattern;
use crate::items::plain_field;
use crate::types::Type;
use crate::value::Value;

/// The arguments of `glob(…)`, when the expression is a call of it.
pub fn glob_call(e: &ast::Expr) -> Option<&[ast::Arg]> {
    match &e.kind {
        ExprKind::Call { callee, args } => match &callee.kind {
            ExprKind::Name(n) if n.name == "glob" => Some(args),
            _ => None,
        },
        _ => None,
    }
}

/// The IR id of one file of the set `set`: the set's id and the file's path, so that it
/// does not change when other files come or go.
pub fn member_id(set: &str, path: &str) -> String {
    format!("{set}[{path}]")
}

impl Checker<'_> {
    /// `data NAME: List<File<F>> = glob(…)`: checks the call and the type, and expands the
    /// pattern in the declaring file's folder.
    pub fn file_set(&mut self, def: DefId, args: &[ast::Arg], span: Span, is_model: bool) {
        let name = self.def(def).name.clone();
        let ty = self.decl_types.get(&def).cloned().unwrap_or(Type::Error);
        if is_model {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_FILE_SET,
                    "a model is one file: `glob(…)` declares data",
                    span,
                )
                .with_help(format!(
                    "declare the files as data: `data {name}: List<File<F>> = glob(\"…\")`"
                )),
            );
            return;
        }
        let element = match &ty {
            Type::List(inner) => (**inner).clone(),
            Type::Error => Type::Error,
            other => {
                let shown = self.show(other);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_FILE_SET,
                        format!(
                            "`glob(…)` gives a list of files, and `{name}` is declared as {shown}"
                        ),
                        span,
                    )
                    .with_label(self.item(def).span, "declared here")
                    .with_help(format!(
                        "declare it as a list of files: `data {name}: List<{shown}> = glob(…)`"
                    )),
                );
                return;
            }
        };
        let Some((pattern, pattern_span, allow_empty)) = self.glob_args(args, span) else {
            return;
        };
        let parsed = match Pattern::parse(&pattern) {
            Ok(p) => p,
            Err(e) => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_FILE_SET,
                        format!("invalid pattern: {}", e.0),
                        pattern_span,
                    )
                    .with_help("patterns use `*`, `?`, `[a-z]`, `[!a-z]`, `{a,b}` and `**` for any folders"),
                );
                return;
            }
        };
        // The body: a description (a digest pins one file, not a set).
        if let ast::ItemKind::Data(a) = &self.item(def).kind {
            if let Some(body) = &a.body {
                let cx = self.top_cx(self.def(def).module, "in a data declaration");
                if let Some(d) = body.entries.iter().find(|e| e.name.name == "digest") {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_VALUE,
                            "a digest pins a single file, not a file set",
                            d.span,
                        )
                        .with_help("remove the digest: each file's content is hashed into the keys of the tasks that read it"),
                    );
                }
                let fields = [plain_field("description", Type::String)];
                let owner = format!("the data item `{name}`");
                let rest = ast::Block {
                    entries: body
                        .entries
                        .iter()
                        .filter(|e| e.name.name != "digest")
                        .cloned()
                        .collect(),
                    ..body.clone()
                };
                let values = self.block(&rest, &fields, &owner, self.def(def).span, &cx);
                let values = values.into_iter().filter(|(_, v)| *v != Value::None);
                self.values
                    .insert(def, Value::Record(name.to_string(), values.collect()));
            }
        }
        let module = self.module(self.def(def).module);
        let files = match (self.loader, &module.dir) {
            (Some(loader), Some(dir)) => match parsed.expand(dir, loader) {
                Ok(files) => files,
                Err(why) => {
                    self.emit(Diagnostic::error(
                        Code::INVALID_FILE_SET,
                        format!("`{pattern}` cannot be expanded: {why}"),
                        pattern_span,
                    ));
                    return;
                }
            },
            _ => None,
        };
        if let Some(files) = &files {
            if files.is_empty() && !allow_empty {
                let folder = module
                    .dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| ".".into());
                self.emit(
                    Diagnostic::error(
                        Code::EMPTY_FILE_SET,
                        format!("the pattern `{pattern}` matches no file in `{folder}`"),
                        pattern_span,
                    )
                    .with_primary_message("no file matches")
                    .with_help("check the pattern (`*` does not match a leading `.`), or write `glob(\"…\", allow_empty = true)` if an empty set is expected"),
                );
            }
        }
        self.file_sets.insert(
            def,
            FileSet {
                pattern,
                allow_empty,
                files,
                element,
            },
        );
    }

    /// The pattern (a string literal) and `allow_empty` of `glob(…)`.
    fn glob_args(&mut self, args: &[ast::Arg], span: Span) -> Option<(String, Span, bool)> {
        let usage = "write `glob(\"data/*.fq\")`, or `glob(\"data/*.fq\", allow_empty = true)`";
        let mut pattern = None;
        let mut allow_empty = false;
        for arg in args {
            match (&arg.name, &arg.value.kind) {
                (None, ExprKind::String(s)) if pattern.is_none() => {
                    pattern = Some((s.value.to_string(), arg.value.span));
                }
                (Some(n), ExprKind::Bool(b)) if n.name == "allow_empty" => allow_empty = *b,
                (Some(n), _) if n.name == "allow_empty" => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_FILE_SET,
                            "`allow_empty` is `true` or `false`",
                            arg.value.span,
                        )
                        .with_help(usage),
                    );
                    return None;
                }
                (None, _) if pattern.is_none() => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_FILE_SET,
                            "the pattern of `glob(…)` is a string literal",
                            arg.value.span,
                        )
                        .with_help(usage),
                    );
                    return None;
                }
                _ => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_FILE_SET,
                            "`glob(…)` takes a pattern and `allow_empty = true|false`",
                            arg.span,
                        )
                        .with_help(usage),
                    );
                    return None;
                }
            }
        }
        match pattern {
            Some((p, s)) => Some((p, s, allow_empty)),
            None => {
                self.emit(
                    Diagnostic::error(Code::INVALID_FILE_SET, "`glob(…)` needs a pattern", span)
                        .with_help(usage),
                );
                None
            }
        }
    }

    /// A data item declared as a list but given something other than `glob(…)`.
    pub fn list_without_glob(&mut self, def: DefId, source: &ast::Expr) {
        let name = self.def(def).name.clone();
        let mut d = Diagnostic::error(
            Code::INVALID_FILE_SET,
            format!("`{name}` is a list of files, given by a pattern: `glob(\"…\")`"),
            source.span,
        );
        d = match &source.kind {
            ExprKind::String(s) => d.with_help(format!(
                "write `glob(\"{}\")` for the files it matches, or declare one file without `List<…>`",
                s.value
            )),
            _ => d.with_help("write `glob(\"data/*.csv\")`"),
        };
        self.emit(d);
    }

    /// The file set an expression's IR names, if it is one.
    pub fn file_set_of(&self, ir: &crate::ir_expr::IrExpr) -> Option<DefId> {
        match ir {
            crate::ir_expr::IrExpr::Artifact { id } => self
                .file_sets
                .keys()
                .copied()
                .find(|d| self.ir_id(*d) == *id),
            _ => None,
        }
    }

    /// The files of a file set, as the values a loop runs over.
    pub fn file_set_values(&self, def: DefId) -> Option<Vec<Value>> {
        let set = self.file_sets.get(&def)?;
        let id = self.ir_id(def);
        Some(
            set.files
                .as_ref()?
                .iter()
                .map(|f| Value::Artifact(member_id(&id, f)))
                .collect(),
        )
    }
}
