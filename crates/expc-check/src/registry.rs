//! The model registry in a spec: `register t.model as "nowcaster"` in a pipeline, and
//! `evaluates = model` in a task whose `Metrics` score the model it is given.

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind};

use crate::checker::Checker;
use crate::expr::Local;
use crate::ir;
use crate::tasks::TaskSig;
use crate::types::Type;

/// What a `register` statement sees of its pipeline.
#[derive(Clone, Copy)]
pub(crate) struct RegisterScope<'a> {
    pub locals: &'a foldhash::HashMap<ast::SmolStr, Local>,
    pub let_names: &'a [ast::SmolStr],
}

/// Every `let` name of a pipeline's statements, in loops too.
pub(crate) fn let_names(stmts: &[ast::Stmt]) -> Vec<ast::SmolStr> {
    let mut out = Vec::new();
    for s in stmts {
        match &s.kind {
            ast::StmtKind::Let { name, .. } => out.push(name.name.clone()),
            ast::StmtKind::For { body, .. } => out.extend(let_names(body)),
            _ => {}
        }
    }
    out
}

/// The longest registry name: names are shown in tables and sent to other registries.
const MAX_NAME: usize = 100;

impl Checker<'_> {
    /// `register BINDING.OUTPUT as "NAME"`: the registration, when the output is a model
    /// output of a call of the pipeline and the name a plain name not registered before.
    pub(crate) fn register_stmt(
        &mut self,
        model: &ast::Expr,
        name: &ast::Expr,
        scope: RegisterScope<'_>,
        earlier: &[ir::Registration],
    ) -> Option<ir::Registration> {
        let output = self.registered_output(model, scope);
        let name = self.registry_name(name)?;
        let (call, output) = output?;
        if earlier.iter().any(|r| r.name == name.0) {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_REGISTER,
                    format!("`{}` is registered twice in the pipeline", name.0),
                    name.1,
                )
                .with_help("register one output per name: the instances of a call in a loop are all registered by one `register` after it"),
            );
            return None;
        }
        Some(ir::Registration {
            call,
            output,
            name: name.0,
        })
    }

    /// The call and output `BINDING.OUTPUT` names, when it is a model output.
    fn registered_output(
        &mut self,
        model: &ast::Expr,
        scope: RegisterScope<'_>,
    ) -> Option<(String, String)> {
        let help = "write `register t.model as \"name\"`, with `t` a call of this pipeline and `model` one of its `Model<F>` outputs";
        let path = model.as_path().filter(|p| p.len() == 2);
        let Some(path) = path else {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_REGISTER,
                    "`register` takes an output of a call, `BINDING.OUTPUT`",
                    model.span,
                )
                .with_help(help),
            );
            return None;
        };
        let (binding, output) = (path[0], path[1]);
        let Some(Local::Binding { task, .. }) = scope.locals.get(&binding.name) else {
            if scope.let_names.contains(&binding.name) {
                // A call whose task did not check: already reported.
                return None;
            }
            self.emit(
                Diagnostic::error(
                    Code::INVALID_REGISTER,
                    format!("`{}` is not a call of this pipeline", binding.name),
                    binding.span,
                )
                .with_help(help),
            );
            return None;
        };
        let sig: std::rc::Rc<TaskSig> = self.tasks.get(task).cloned()?;
        let field = sig.outputs.iter().find(|f| f.name == output.name);
        match field.map(|f| &f.ty) {
            Some(Type::Model(_)) => Some((
                binding.name.as_str().to_owned(),
                output.name.as_str().to_owned(),
            )),
            Some(Type::Error) => None,
            Some(other) => {
                let shown = self.show(other);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_REGISTER,
                        format!("`{}.{}` is {shown}, not a model", binding.name, output.name),
                        model.span,
                    )
                    .with_primary_message("only a `Model<F>` output is registered")
                    .with_help(help),
                );
                None
            }
            None => {
                let task = self.def(*task).name.clone();
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_REGISTER,
                        format!("the task `{task}` has no output `{}`", output.name),
                        output.span,
                    )
                    .with_help(help),
                );
                None
            }
        }
    }

    /// The registry name a `register` gives, when it is a plain name.
    fn registry_name(&mut self, name: &ast::Expr) -> Option<(String, Span)> {
        let text = match &name.kind {
            ExprKind::String(s) => Some(s.value.as_str()),
            _ => None,
        };
        match text {
            Some(t) if is_registry_name(t) => Some((t.to_owned(), name.span)),
            _ => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_REGISTER,
                        "a registry name is a string of letters, digits, `-`, `_` and `.`",
                        name.span,
                    )
                    .with_help(format!("write a name such as `\"nowcaster\"`: it starts with a letter or a digit and has at most {MAX_NAME} characters")),
                );
                None
            }
        }
    }

    /// `evaluates = INPUT`: the input's name, when it is a model input of the task.
    pub(crate) fn evaluates_section(
        &mut self,
        input: &ast::Ident,
        sig: &TaskSig,
    ) -> Option<String> {
        let help = "write `evaluates = model`, naming the task's `Model<F>` input whose scores its `Metrics` outputs hold";
        match sig
            .inputs
            .iter()
            .find(|f| f.name == input.name)
            .map(|f| &f.ty)
        {
            Some(Type::Model(_)) => Some(input.name.as_str().to_owned()),
            Some(Type::Error) => None,
            Some(other) => {
                let shown = self.show(other);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_EVALUATES,
                        format!("the input `{}` is {shown}, not a model", input.name),
                        input.span,
                    )
                    .with_help(help),
                );
                None
            }
            None => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_EVALUATES,
                        format!("the task has no input `{}`", input.name),
                        input.span,
                    )
                    .with_help(help),
                );
                None
            }
        }
    }
}

/// Whether `name` can name a model in the registry: letters, digits, `-`, `_` and `.`,
/// starting with a letter or a digit.
pub fn is_registry_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One version the model registry holds, as the checker is told of it by its loader.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryVersion {
    pub name: String,
    pub version: i64,
    /// BLAKE3 of the model's bytes, lowercase hex.
    pub digest: String,
    /// Where its bytes are, by content (the store's object).
    pub path: String,
    pub stage: String,
    /// Its scores by metric: every value recorded (by the instance that made it and by
    /// those that evaluated it).
    pub metrics: std::collections::BTreeMap<String, Vec<f64>>,
}

impl RegistryVersion {
    /// The version's value of a metric: the mean of the values recorded.
    pub fn score(&self, metric: &str) -> Option<f64> {
        let values = self.metrics.get(metric).filter(|v| !v.is_empty())?;
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::is_registry_name;

    #[test]
    fn registry_names_are_plain_words() {
        assert!(is_registry_name("nowcaster"));
        assert!(is_registry_name("rain-2.v1_b"));
        assert!(!is_registry_name(""));
        assert!(!is_registry_name("now caster"));
        assert!(!is_registry_name("-x"));
        assert!(!is_registry_name("a/b"));
        assert!(!is_registry_name(&"a".repeat(101)));
    }
}
