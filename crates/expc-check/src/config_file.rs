//! `${json(train)}` and `${yaml(train)}` in a task's command: a value known when the spec
//! is checked (a record param, a list, a field), written as a file in the instance's work
//! directory, whose path is the argument. The file's text is made here, once, so the IR
//! carries it: the run writes it and keys the instance by it, and the plan shows it.
//!
//! In the file, a record is a mapping of its fields (in name order, unset optionals left
//! out), a list a sequence, an enum its variant's name, a memory size its bytes and a
//! duration its seconds, as in an argv template.

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast;

use crate::checker::Checker;
use crate::expr::{Cx, Secrets, Typed};
use crate::ir_expr::IrExpr;
use crate::types::Type;
use crate::value::Value;

/// The names of the functions, which are also the files' formats.
pub const CONFIG_FUNCTIONS: [&str; 2] = ["json", "yaml"];

impl Checker<'_> {
    /// `json(value)` or `yaml(value)` (`function`), called at `span` with `args`.
    pub fn config_file(
        &mut self,
        function: &str,
        args: &[ast::Arg],
        span: Span,
        cx: &Cx<'_>,
    ) -> Typed {
        let in_command =
            matches!(cx.secrets, Secrets::Forbidden(p) if p.starts_with("in a task's command"));
        if !in_command {
            self.emit(
                Diagnostic::error(
                    Code::NOT_CALLABLE,
                    format!("`{function}(…)` is a file given to a task's command"),
                    span,
                )
                .with_help(format!(
                    "use it in a command, as in `run `train --config ${{{function}(train)}}``"
                )),
            );
            return Typed::error();
        }
        let [arg] = args else {
            self.emit(
                Diagnostic::error(
                    Code::NOT_CALLABLE,
                    format!("`{function}` takes 1 argument, found {}", args.len()),
                    span,
                )
                .with_help(format!(
                    "write `{function}(value)`, for example `{function}(train)`"
                )),
            );
            return Typed::error();
        };
        if let Some(n) = &arg.name {
            self.emit(
                Diagnostic::error(
                    Code::UNKNOWN_ARGUMENT,
                    format!(
                        "`{function}` takes a positional argument, not `{} = …`",
                        n.name
                    ),
                    n.span,
                )
                .with_help(format!("write `{function}(value)`")),
            );
            return Typed::error();
        }
        let t = self.expr(&arg.value, None, cx);
        if t.ty.is_error() {
            return Typed::error();
        }
        let value = match t.value {
            Some(v) if self.param_type_ok(&t.ty) => v,
            _ => {
                let shown = self.show(&t.ty);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_INTERPOLATION,
                        format!("`{function}(…)` writes a value known when the spec is checked, not {shown}"),
                        arg.value.span,
                    )
                    .with_primary_message(format!("this is {shown}, known only when it runs"))
                    .with_help("give it a param, a field of one, or a literal; pass files and outputs as arguments of their own"),
                );
                return Typed::error();
            }
        };
        let text = config_text(function, &value);
        Typed {
            ty: Type::Path,
            value: None,
            ir: IrExpr::Config {
                format: function.to_owned(),
                text,
            },
        }
    }
}

/// The text of the file `function` (`json` or `yaml`) writes for `value`.
pub fn config_text(function: &str, value: &Value) -> String {
    let plain = plain(value);
    if function == "yaml" {
        crate::yaml::to_string(&plain).unwrap_or_default()
    } else {
        let mut text = serde_json::to_string_pretty(&plain).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// A value as the plain data of a configuration file.
fn plain(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Int(i) => J::from(*i),
        Value::Float(f) => J::from(*f),
        Value::Bool(b) => J::Bool(*b),
        Value::Str(s) | Value::Enum(s) | Value::Artifact(s) => J::String(s.clone()),
        Value::Memory(b) => J::from(*b),
        Value::Duration(ms) if ms % 1000 == 0 => J::from(ms / 1000),
        Value::Duration(ms) => J::from(*ms as f64 / 1000.0),
        Value::List(items) => J::Array(items.iter().map(plain).collect()),
        Value::Record(_, fields) => J::Object(
            fields
                .iter()
                .filter(|(_, v)| **v != Value::None)
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect(),
        ),
        Value::None | Value::Distribution(_) => J::Null,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn records_are_mappings_and_quantities_numbers() {
        let optim = Value::Record(
            "Optim".into(),
            BTreeMap::from([
                ("name".into(), Value::Str("adam".into())),
                ("momentum".into(), Value::None),
            ]),
        );
        let train = Value::Record(
            "TrainCfg".into(),
            BTreeMap::from([
                ("lr".into(), Value::Float(0.01)),
                (
                    "layers".into(),
                    Value::List(vec![Value::Int(64), Value::Int(64)]),
                ),
                ("mem".into(), Value::Memory(1 << 30)),
                ("time".into(), Value::Duration(90_000)),
                ("optim".into(), optim),
            ]),
        );
        assert_eq!(
            config_text("json", &train),
            "{\n  \"layers\": [\n    64,\n    64\n  ],\n  \"lr\": 0.01,\n  \"mem\": 1073741824,\n  \"optim\": {\n    \"name\": \"adam\"\n  },\n  \"time\": 90\n}\n"
        );
        assert_eq!(
            config_text("yaml", &train),
            "layers:\n- 64\n- 64\nlr: 0.01\nmem: 1073741824\noptim:\n  name: adam\ntime: 90\n"
        );
    }
}
