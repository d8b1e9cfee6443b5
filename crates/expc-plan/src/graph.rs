//! The plan as a graph for people: Graphviz DOT and Mermaid.
//!
//! By default a sweep is one node (`train × 12`); `expand` draws every instance, each
//! job's instances grouped in a cluster.

use std::fmt::Write as _;

use crate::plan::{Plan, Relation};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
}

fn label(plan: &Plan, j: usize) -> String {
    let job = &plan.jobs[j];
    let times = if job.loops.is_empty() {
        String::new()
    } else if let Some(k) = &job.known_after {
        format!(" × ? (per file of {})", k.list)
    } else {
        format!(" × {}", job.instances)
    };
    format!("{} = {}{times}\\non {}", job.key, job.task, job.on)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("\\\\n", "\\n")
}

/// Node name of a job (`j0`, `j1`, …) or of one of its instances (`j0_3`).
fn node(j: usize, i: Option<u64>) -> String {
    match i {
        Some(i) => format!("j{j}_{i}"),
        None => format!("j{j}"),
    }
}

/// An instance's coordinates, one per line.
fn instance_label(plan: &Plan, job: &crate::plan::Job, i: u64) -> String {
    plan.coords(job, i)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// Most instances drawn per job when expanded; the rest are summarised in one node.
const MAX_DRAWN: u64 = 50;

pub fn render(plan: &Plan, format: Format, expand: bool) -> String {
    match format {
        Format::Dot => dot(plan, expand),
        Format::Mermaid => mermaid(plan, expand),
    }
}

fn dot(plan: &Plan, expand: bool) -> String {
    let mut out = String::new();
    let name = plan.experiment.as_deref().unwrap_or("plan");
    let _ = writeln!(out, "digraph \"{}\" {{", escape(name));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(
        out,
        "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"
    );
    for (j, job) in plan.jobs.iter().enumerate() {
        if expand && !job.loops.is_empty() {
            let _ = writeln!(out, "  subgraph cluster_{j} {{");
            let _ = writeln!(out, "    label=\"{}\";", escape(&label(plan, j)));
            for i in 0..job.instances.min(MAX_DRAWN) {
                let coords = instance_label(plan, job, i);
                let _ = writeln!(
                    out,
                    "    {} [label=\"{}\"];",
                    node(j, Some(i)),
                    escape(&coords)
                );
            }
            if job.instances > MAX_DRAWN {
                let _ = writeln!(
                    out,
                    "    {} [label=\"… {} more\", style=dashed];",
                    node(j, Some(MAX_DRAWN)),
                    job.instances - MAX_DRAWN
                );
            }
            let _ = writeln!(out, "  }}");
        } else {
            let shape = if job.loops.is_empty() {
                ""
            } else {
                ", peripheries=2"
            };
            let _ = writeln!(
                out,
                "  {} [label=\"{}\"{shape}];",
                node(j, None),
                escape(&label(plan, j))
            );
        }
    }
    for (j, job) in plan.jobs.iter().enumerate() {
        for dep in &job.after {
            let Some(p) = plan.position(&dep.job) else {
                continue;
            };
            // Data edges are solid (dashed "all" for a gather); an order without data
            // (`after`) is dashed and labelled so.
            let style = match (dep.order_only, dep.relation) {
                (false, Relation::Each) => "",
                (false, Relation::All) => " [style=dashed, label=\"all\"]",
                (true, Relation::Each) => " [style=dashed, label=\"after\"]",
                (true, Relation::All) => " [style=dashed, label=\"after all\"]",
            };
            let producer = &plan.jobs[p];
            if expand && (!job.loops.is_empty() || !producer.loops.is_empty()) {
                // Between clusters: one edge from cluster to cluster keeps the drawing legible.
                let from = if producer.loops.is_empty() {
                    node(p, None)
                } else {
                    node(p, Some(0))
                };
                let to = if job.loops.is_empty() {
                    node(j, None)
                } else {
                    node(j, Some(0))
                };
                let mut attrs = Vec::new();
                if !producer.loops.is_empty() {
                    attrs.push(format!("ltail=cluster_{p}"));
                }
                if !job.loops.is_empty() {
                    attrs.push(format!("lhead=cluster_{j}"));
                }
                match (dep.order_only, dep.relation) {
                    (false, Relation::Each) => {}
                    (false, Relation::All) => {
                        attrs.push("style=dashed".into());
                        attrs.push("label=\"all\"".into());
                    }
                    (true, Relation::Each) => {
                        attrs.push("style=dashed".into());
                        attrs.push("label=\"after\"".into());
                    }
                    (true, Relation::All) => {
                        attrs.push("style=dashed".into());
                        attrs.push("label=\"after all\"".into());
                    }
                }
                let _ = writeln!(out, "  {from} -> {to} [{}];", attrs.join(", "));
            } else {
                let _ = writeln!(out, "  {} -> {}{style};", node(p, None), node(j, None));
            }
        }
    }
    if expand {
        let _ = writeln!(out, "  compound=true;");
    }
    let _ = writeln!(out, "}}");
    out
}

fn mermaid(plan: &Plan, expand: bool) -> String {
    let mut out = String::from("flowchart LR\n");
    let text = |s: &str| s.replace('"', "#quot;").replace("\\n", "<br/>");
    for (j, job) in plan.jobs.iter().enumerate() {
        if expand && !job.loops.is_empty() {
            let _ = writeln!(
                out,
                "  subgraph {}[\"{}\"]",
                node(j, None),
                text(&label(plan, j))
            );
            for i in 0..job.instances.min(MAX_DRAWN) {
                let coords = instance_label(plan, job, i);
                let _ = writeln!(out, "    {}[\"{}\"]", node(j, Some(i)), text(&coords));
            }
            if job.instances > MAX_DRAWN {
                let _ = writeln!(
                    out,
                    "    {}[\"… {} more\"]",
                    node(j, Some(MAX_DRAWN)),
                    job.instances - MAX_DRAWN
                );
            }
            let _ = writeln!(out, "  end");
        } else if job.loops.is_empty() {
            let _ = writeln!(out, "  {}[\"{}\"]", node(j, None), text(&label(plan, j)));
        } else {
            let _ = writeln!(out, "  {}[[\"{}\"]]", node(j, None), text(&label(plan, j)));
        }
    }
    for (j, job) in plan.jobs.iter().enumerate() {
        for dep in &job.after {
            let Some(p) = plan.position(&dep.job) else {
                continue;
            };
            let arrow = match (dep.order_only, dep.relation) {
                (false, Relation::Each) => "-->",
                (false, Relation::All) => "-. all .->",
                (true, Relation::Each) => "-. after .->",
                (true, Relation::All) => "-. after all .->",
            };
            let _ = writeln!(out, "  {} {arrow} {}", node(p, None), node(j, None));
        }
    }
    out
}
