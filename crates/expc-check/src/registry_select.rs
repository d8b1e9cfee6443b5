//! Models chosen from the registry when the experiment is planned: `registry("NAME",
//! stage = "production")`, `registry.best("NAME", by = "val_mse", order = "asc")` and
//! `registry.top("NAME", by = "val_mse", n = 3)`, read through the loader and pinned by
//! digest (the chosen file is the store's object, named by its content).

use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind};

use crate::checker::{Checker, FileSet};
use crate::defs::DefId;
use crate::registry::RegistryVersion;
use crate::types::Type;
use crate::value::Value;

/// Which of the three a call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choose {
    /// `registry(…)`: the latest version (in a stage, or a given one).
    Latest,
    /// `registry.best(…)`
    Best,
    /// `registry.top(…)`: a list.
    Top,
}

/// The kind and the arguments of a registry call, when `e` is one.
pub fn registry_call(e: &ast::Expr) -> Option<(Choose, &[ast::Arg])> {
    let ExprKind::Call { callee, args } = &e.kind else {
        return None;
    };
    let kind = match &callee.kind {
        ExprKind::Name(n) if n.name == "registry" => Choose::Latest,
        ExprKind::Field { base, name } => match (&base.kind, name.name.as_str()) {
            (ExprKind::Name(b), "best") if b.name == "registry" => Choose::Best,
            (ExprKind::Name(b), "top") if b.name == "registry" => Choose::Top,
            _ => return None,
        },
        _ => return None,
    };
    Some((kind, args))
}

/// What a call asks for.
#[derive(Debug, Default)]
struct Query {
    name: String,
    stage: Option<String>,
    version: Option<i64>,
    by: Option<String>,
    descending: bool,
    n: Option<i64>,
}

impl Query {
    /// The call as the plan shows it.
    fn shown(&self, kind: Choose) -> String {
        let mut parts = vec![format!("{:?}", self.name)];
        if let Some(s) = &self.stage {
            parts.push(format!("stage = {s:?}"));
        }
        if let Some(v) = self.version {
            parts.push(format!("version = {v}"));
        }
        if let Some(b) = &self.by {
            parts.push(format!("by = {b:?}"));
            parts.push(format!(
                "order = {:?}",
                if self.descending { "desc" } else { "asc" }
            ));
        }
        if let Some(n) = self.n {
            parts.push(format!("n = {n}"));
        }
        let f = match kind {
            Choose::Latest => "registry",
            Choose::Best => "registry.best",
            Choose::Top => "registry.top",
        };
        format!("{f}({})", parts.join(", "))
    }
}

const USAGE: &str = "write `registry(\"NAME\", stage = \"production\")`, `registry.best(\"NAME\", by = \"METRIC\", order = \"asc\")` or `registry.top(\"NAME\", by = \"METRIC\", n = 3)`";

impl Checker<'_> {
    /// `model NAME: Model<F> = registry…(…)`: checks the call and the declared type, and
    /// chooses the version(s) from the registry the loader reads.
    pub(crate) fn registry_model(
        &mut self,
        def: DefId,
        kind: Choose,
        args: &[ast::Arg],
        span: Span,
    ) {
        if !self.registry_type_fits(def, kind, span) {
            return;
        }
        let Some(query) = self.registry_query(kind, args, span) else {
            return;
        };
        let Some(loader) = self.loader else {
            return;
        };
        let held = match loader.registry() {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return,
            Err(e) => {
                self.emit(
                    Diagnostic::error(Code::REGISTRY_SELECTION, format!("cannot read the model registry: {e}"), span)
                        .with_help("the registry is the provenance store beside the spec (`.expc/provenance.db`), written by `expc run`"),
                );
                return;
            }
        };
        let chosen = match choose(kind, &query, &held) {
            Ok(c) => c,
            Err(why) => {
                self.emit(
                    Diagnostic::error(Code::REGISTRY_SELECTION, why, span).with_help(
                        "`expc models` lists the registry's models, versions, stages and metrics",
                    ),
                );
                return;
            }
        };
        let shown = query.shown(kind);
        let why: Vec<String> = chosen
            .iter()
            .map(|v| match &query.by {
                Some(m) => format!(
                    "{}@{} ({m} = {})",
                    v.name,
                    v.version,
                    v.score(m).unwrap_or_default()
                ),
                None => format!("{}@{} ({})", v.name, v.version, v.stage),
            })
            .collect();
        let mut values = BTreeMap::new();
        values.insert(
            "selected_by".to_owned(),
            Value::Str(format!("{shown}: {}", why.join(", "))),
        );
        if kind == Choose::Top {
            let element = match self.decl_types.get(&def) {
                Some(Type::List(e)) => (**e).clone(),
                _ => Type::Error,
            };
            values.insert(
                "versions".to_owned(),
                Value::List(
                    chosen
                        .iter()
                        .map(|v| Value::Str(format!("{}@{}", v.name, v.version)))
                        .collect(),
                ),
            );
            self.file_sets.insert(
                def,
                FileSet {
                    pattern: shown,
                    allow_empty: false,
                    files: Some(chosen.iter().map(|v| v.path.clone()).collect()),
                    element,
                },
            );
        } else if let Some(v) = chosen.first() {
            values.insert("path".to_owned(), Value::Str(v.path.clone()));
            values.insert(
                "digest".to_owned(),
                Value::Str(format!("blake3:{}", v.digest)),
            );
            values.insert(
                "version".to_owned(),
                Value::Str(format!("{}@{}", v.name, v.version)),
            );
            values.insert("stage".to_owned(), Value::Str(v.stage.clone()));
        }
        let name = self.def(def).name.clone();
        self.values.insert(def, Value::Record(name, values));
    }

    /// Whether the declared type fits the call: one model, or a list of them for `top`.
    fn registry_type_fits(&mut self, def: DefId, kind: Choose, span: Span) -> bool {
        let ty = self.decl_types.get(&def).cloned().unwrap_or(Type::Error);
        let fits = match (&ty, kind) {
            (Type::Error, _) => return false,
            (Type::Model(_), Choose::Latest | Choose::Best) => true,
            (Type::List(e), Choose::Top) => matches!(**e, Type::Model(_) | Type::Error),
            _ => false,
        };
        if !fits {
            let shown = self.show(&ty);
            let wanted = if kind == Choose::Top {
                "a list of models, `List<Model<F>>`"
            } else {
                "one model, `Model<F>`"
            };
            self.emit(
                Diagnostic::error(
                    Code::REGISTRY_SELECTION,
                    format!(
                        "this call gives {wanted}, and `{}` is declared as {shown}",
                        self.def(def).name
                    ),
                    span,
                )
                .with_label(self.item(def).span, "declared here")
                .with_help(USAGE),
            );
        }
        fits
    }

    /// The arguments of a registry call.
    fn registry_query(&mut self, kind: Choose, args: &[ast::Arg], span: Span) -> Option<Query> {
        let mut q = Query::default();
        let mut name = None;
        for arg in args {
            let text = match &arg.value.kind {
                ExprKind::String(s) => Some(s.value.to_string()),
                _ => None,
            };
            let int = match &arg.value.kind {
                ExprKind::Int { value, .. } => Some(*value),
                _ => None,
            };
            let ok = match (arg.name.as_ref().map(|n| n.name.as_str()), kind) {
                (None, _) if name.is_none() => text.clone().map(|t| name = Some(t)).is_some(),
                (Some("stage"), _) => text.clone().map(|t| q.stage = Some(t)).is_some(),
                (Some("version"), Choose::Latest) => int
                    .filter(|v| *v >= 1)
                    .map(|v| q.version = Some(v))
                    .is_some(),
                (Some("by"), Choose::Best | Choose::Top) => {
                    text.clone().map(|t| q.by = Some(t)).is_some()
                }
                (Some("order"), Choose::Best | Choose::Top) => match text.as_deref() {
                    Some("asc") => true,
                    Some("desc") => {
                        q.descending = true;
                        true
                    }
                    _ => false,
                },
                (Some("n"), Choose::Top) => {
                    int.filter(|n| *n >= 1).map(|n| q.n = Some(n)).is_some()
                }
                _ => false,
            };
            if !ok {
                self.emit(
                    Diagnostic::error(Code::REGISTRY_SELECTION, "an argument this registry call does not take, or of the wrong kind", arg.span)
                        .with_help(format!("{USAGE}; `order` is \"asc\" or \"desc\", `n` and `version` are numbers from 1")),
                );
                return None;
            }
        }
        let missing = match (&name, kind, &q.by, q.n) {
            (None, ..) => Some("the model's name"),
            (_, Choose::Best | Choose::Top, None, _) => Some("`by = \"METRIC\"`"),
            (_, Choose::Top, _, None) => Some("`n = N`"),
            _ => None,
        };
        if let Some(m) = missing {
            self.emit(
                Diagnostic::error(
                    Code::REGISTRY_SELECTION,
                    format!("this registry call needs {m}"),
                    span,
                )
                .with_help(USAGE),
            );
            return None;
        }
        q.name = name.unwrap_or_default();
        Some(q)
    }
}

/// The versions a query chooses from what the registry holds, best first; or why none.
fn choose(
    kind: Choose,
    q: &Query,
    held: &[RegistryVersion],
) -> Result<Vec<RegistryVersion>, String> {
    let of_name: Vec<&RegistryVersion> = held.iter().filter(|v| v.name == q.name).collect();
    if of_name.is_empty() {
        let mut names: Vec<&str> = held.iter().map(|v| v.name.as_str()).collect();
        names.dedup();
        return Err(if names.is_empty() {
            format!(
                "no model `{}` in the registry: it holds none yet (`register t.model as \"{}\"` in a pipeline adds one when it runs)",
                q.name, q.name
            )
        } else {
            format!(
                "no model `{}` in the registry: it holds {}",
                q.name,
                listed(&names)
            )
        });
    }
    let versions_text = || {
        of_name
            .iter()
            .map(|v| format!("{} ({})", v.version, v.stage))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut matching: Vec<&RegistryVersion> = of_name
        .iter()
        .copied()
        .filter(|v| q.stage.as_ref().is_none_or(|s| &v.stage == s))
        .filter(|v| q.version.is_none_or(|n| v.version == n))
        .collect();
    if matching.is_empty() {
        return Err(format!(
            "no version of `{}` is {}: its versions are {}",
            q.name,
            match (&q.stage, q.version) {
                (Some(s), _) => format!("in the stage `{s}`"),
                (None, Some(n)) => format!("numbered {n}"),
                (None, None) => "registered".into(),
            },
            versions_text()
        ));
    }
    match &q.by {
        None => {
            let latest = matching.iter().max_by_key(|v| v.version).copied();
            Ok(latest.into_iter().cloned().collect())
        }
        Some(metric) => {
            matching.retain(|v| v.score(metric).is_some());
            if matching.is_empty() {
                let mut metrics: Vec<&str> = of_name
                    .iter()
                    .flat_map(|v| v.metrics.keys().map(String::as_str))
                    .collect();
                metrics.sort_unstable();
                metrics.dedup();
                return Err(format!(
                    "no version of `{}`{} has a metric `{metric}`: its metrics are {}",
                    q.name,
                    q.stage
                        .as_ref()
                        .map(|s| format!(" in the stage `{s}`"))
                        .unwrap_or_default(),
                    if metrics.is_empty() {
                        "none".into()
                    } else {
                        listed(&metrics)
                    }
                ));
            }
            matching.sort_by(|a, b| {
                let (x, y) = (
                    a.score(metric).unwrap_or_default(),
                    b.score(metric).unwrap_or_default(),
                );
                let by = if q.descending {
                    y.total_cmp(&x)
                } else {
                    x.total_cmp(&y)
                };
                by.then(a.version.cmp(&b.version))
            });
            let n = if kind == Choose::Top {
                q.n.unwrap_or(1) as usize
            } else {
                1
            };
            Ok(matching.into_iter().take(n).cloned().collect())
        }
    }
}

fn listed(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
