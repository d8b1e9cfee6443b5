//! The `if`s a plan decided: which branch each took, and what it left out, as the plan's
//! text and JSON show them.

use expc_check::ir;
use serde::Serialize;

/// One `if` decided when the experiment was planned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedIf {
    /// The condition as written (`fast`, `epochs > 10`).
    pub condition: String,
    pub value: bool,
    /// `then` or `else`.
    pub taken: &'static str,
    /// The bindings of the branch not taken.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// Whether the branch taken calls nothing (an `if` without `else`, found false).
    #[serde(skip)]
    pub runs_nothing: bool,
}

/// What a job inside the taken branch of `d` is planned under: `fast is true`.
pub fn when(d: &ir::Decision) -> String {
    format!("{} is {}", d.condition, d.value)
}

/// Every `if` of a pipeline's body, nested ones included, in source order.
pub fn decisions_of(body: &[ir::Stmt]) -> Vec<PlannedIf> {
    let mut out = Vec::new();
    collect(body, &mut out);
    out
}

fn collect(body: &[ir::Stmt], out: &mut Vec<PlannedIf>) {
    for stmt in body {
        match stmt {
            ir::Stmt::Call(_) => {}
            ir::Stmt::For { body, .. } => collect(body, out),
            ir::Stmt::If(d) => {
                out.push(PlannedIf {
                    condition: d.condition.clone(),
                    value: d.value,
                    taken: d.taken,
                    left_out: d.left_out.clone(),
                    runs_nothing: d.body.is_empty(),
                });
                collect(&d.body, out);
            }
        }
    }
}

/// The plan text's section on the decided `if`s: empty when there are none.
pub fn text(decisions: &[PlannedIf]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if decisions.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nDecided when planned");
    for d in decisions {
        let runs = if d.runs_nothing {
            "nothing of it runs".to_owned()
        } else {
            format!("its `{}` branch runs", d.taken)
        };
        let left_out = if d.left_out.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", d.left_out.join(", "))
        };
        let _ = writeln!(
            out,
            "  if {}: {}, so {runs}{left_out}",
            d.condition, d.value
        );
    }
    out
}
