//! `resources.cpus` (`mem`, `gpus`, `time`) in a task's command: what the job is given,
//! read as a value of the command. Only a command that reads a resource has it in its key.

use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic};
use expc_syntax::ast;

use crate::checker::Checker;
use crate::ir_expr::IrExpr;
use crate::types::Type;
use crate::value::Value;

/// The resources a command may read.
const RESOURCE_READS: &[&str] = &["cpus", "mem", "gpus", "time"];

/// The type of `resources.NAME`: `cpus` a `Cpu`, `mem` a `Memory` (bytes in a command),
/// `gpus` an `Int`, `time` a `Duration` (seconds in a command).
fn resource_type(name: &str) -> Option<Type> {
    Some(match name {
        "cpus" => Type::Cpu,
        "mem" => Type::Memory,
        "gpus" => Type::Int,
        "time" => Type::Duration,
        _ => return None,
    })
}

impl Checker<'_> {
    /// `resources.NAME` in a task's body: what the job is given, known once it is placed.
    pub fn resource_read(&mut self, name: &ast::Ident) -> crate::expr::Typed {
        let Some(ty) = resource_type(&name.name) else {
            let mut d = Diagnostic::error(
                Code::UNKNOWN_FIELD,
                format!("a task's command reads no resource `{}`", name.name),
                name.span,
            );
            d = match expc_syntax::suggest::closest(
                &name.name,
                RESOURCE_READS.iter().copied(),
            ) {
                Some(s) => d.with_help(format!("did you mean `resources.{s}`?")),
                None => d.with_help("a command reads `resources.cpus`, `resources.mem`, `resources.gpus` or `resources.time`"),
            };
            self.emit(d);
            return crate::expr::Typed::error();
        };
        if let Some(reads) = &mut self.resource_reads {
            reads.push((name.name.clone(), name.span));
        }
        crate::expr::Typed {
            ty,
            value: None,
            ir: IrExpr::Resource {
                name: name.name.as_str().to_owned(),
            },
        }
    }

    /// Reads of `resources.NAME` in the `resources` section itself (those after `mark`).
    pub fn resources_read_in_resources(&mut self, mark: usize) {
        let reads = self
            .resource_reads
            .as_mut()
            .map(|r| r.split_off(mark.min(r.len())))
            .unwrap_or_default();
        for (name, span) in reads {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_VALUE,
                    format!("`resources.{name}` is what the `resources` section sets: it cannot read it"),
                    span,
                )
                .with_help(format!("give `{name}` a value (`{name} = 2`, or a param), and read `${{resources.{name}}}` in the command")),
            );
        }
    }

    /// A command that reads `resources.mem` or `resources.time` needs the task to set them:
    /// otherwise their value would depend on where the task is placed, or be none.
    pub fn resources_read_are_set(&mut self, resources: &BTreeMap<String, Value>) {
        let reads = self.resource_reads.take().unwrap_or_default();
        let mut said = Vec::new();
        for (name, span) in reads {
            let needs_setting = matches!(name.as_str(), "mem" | "time");
            if !needs_setting || resources.contains_key(name.as_str()) || said.contains(&name) {
                continue;
            }
            self.emit(
                Diagnostic::error(
                    Code::MISSING_FIELD,
                    format!("the command reads `resources.{name}`, and the task sets no `{name}`"),
                    span,
                )
                .with_help(format!(
                    "set it in the task: `resources {{ {name} = {} }}`",
                    if name == "mem" { "4GiB" } else { "1h" }
                )),
            );
            said.push(name);
        }
    }
}
