//! Expressions of the typed IR: what a value is made of, once names are resolved.

use serde::Serialize;

use crate::value::Value;

/// A resolved expression. Anything known when the spec is checked is folded into a
/// `Value`; references to things only known at run time stay symbolic.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IrExpr {
    Value {
        value: Value,
    },
    /// A param, by id; its effective value is in the program's params.
    Param {
        id: String,
    },
    /// A declared data item or model.
    Artifact {
        id: String,
    },
    /// A secret, by id: never its value.
    Secret {
        id: String,
    },
    /// An input of the task being defined.
    Input {
        name: String,
    },
    /// An output of the task being defined (its path).
    Output {
        name: String,
    },
    /// `p.axis` in `for p in sweep`.
    Point {
        var: String,
        axis: String,
    },
    /// `x` in `for x in LIST`: the current element; `x.a.b` its record fields.
    Element {
        var: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<String>,
    },
    /// `i` in `for (i, x) in …`: the position of the current element or point, from 0.
    LoopIndex {
        /// The element's name, which tells the loop.
        var: String,
        /// The position's own name.
        name: String,
    },
    /// `resources.cpus` (`mem`, `gpus`, `time`) in a task's command: what the job is given,
    /// known once it is placed.
    Resource {
        name: String,
    },
    /// `t.output` of a pipeline binding; `gathered` after the binding's loops.
    CallOutput {
        binding: String,
        output: String,
        gathered: bool,
    },
    List {
        items: Vec<IrExpr>,
    },
    /// `a + b` of lists or strings known only at run time.
    Concat {
        parts: Vec<IrExpr>,
    },
    /// A template used as a value: one word.
    Template {
        parts: Vec<IrPart>,
    },
    /// `${json(x)}` / `${yaml(x)}`: a file in the work directory holding `text`, its
    /// path the argument.
    Config {
        /// `json` or `yaml`.
        format: String,
        text: String,
    },
    /// Something already reported as an error.
    Error,
}

/// A piece of a template word.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IrPart {
    Text { text: String },
    Interp { expr: IrExpr },
}

impl IrExpr {
    pub fn value(value: Value) -> IrExpr {
        IrExpr::Value { value }
    }
}
