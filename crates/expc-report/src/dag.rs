//! The DAG of a run's task instances, laid out in layers for drawing.
//!
//! An edge goes from the instance that made an artifact to each instance that used it
//! (the `usages` and `artifacts.produced_by` of the store). A call with many instances is
//! drawn as one node counting its instances by state, so a 10,000-point sweep stays
//! readable; small calls keep one node per instance.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use expc_prov::query::RunView;
use serde::Serialize;

use crate::model::TaskRow;

/// A call with more instances than this is drawn as one node.
const MAX_INSTANCES_PER_CALL: usize = 8;
/// A run with more instances than this draws every call as one node.
const MAX_INSTANCE_NODES: usize = 120;

#[derive(Debug, Serialize)]
pub struct Dag {
    pub nodes: Vec<DagNode>,
    /// (from, to), indices into `nodes`.
    pub edges: Vec<(usize, usize)>,
}

#[derive(Debug, Serialize)]
pub struct DagNode {
    pub label: String,
    pub call: String,
    /// `ran`, `cached`, `failed`, `skipped`, `not_run`, or, for a group, the worst of
    /// its instances' (failed before skipped before not run before ran before cached).
    pub status: String,
    /// Instances by status (one for an instance node).
    pub counts: BTreeMap<String, usize>,
    /// The sum of the instances' durations.
    pub duration_ms: Option<i64>,
    /// The layer (longest path from a source) and the place within it.
    pub layer: usize,
    pub row: usize,
    /// Indices into the run's tasks.
    pub tasks: Vec<usize>,
}

fn severity(status: &str) -> u8 {
    match status {
        "failed" => 5,
        "skipped" => 4,
        "not_run" => 3,
        "ran" => 2,
        _ => 1,
    }
}

impl Dag {
    pub fn build(view: &RunView, tasks: &[TaskRow]) -> Dag {
        let mut per_call: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, t) in tasks.iter().enumerate() {
            per_call.entry(t.call.as_str()).or_default().push(i);
        }
        let expand_all = tasks.len() <= MAX_INSTANCE_NODES;
        // Nodes in the order the run settled their first instance.
        let mut calls: Vec<(&str, Vec<usize>)> = per_call.into_iter().collect();
        calls.sort_by_key(|(_, ts)| ts[0]);
        let mut nodes = Vec::new();
        let mut node_of_task = vec![0usize; tasks.len()];
        for (call, mut ts) in calls {
            ts.sort_by_key(|&i| (tasks[i].index, tasks[i].id));
            if ts.len() == 1 || (expand_all && ts.len() <= MAX_INSTANCES_PER_CALL) {
                for &i in &ts {
                    node_of_task[i] = nodes.len();
                    let t = &tasks[i];
                    let label = if t.instance == t.task {
                        t.instance.clone()
                    } else {
                        format!("{} = {}", t.instance, t.task)
                    };
                    nodes.push(node(call, label, vec![i], tasks));
                }
            } else {
                let label = format!("{call} = {} × {}", tasks[ts[0]].task, ts.len());
                for &i in &ts {
                    node_of_task[i] = nodes.len();
                }
                nodes.push(node(call, label, ts, tasks));
            }
        }
        let row_of_id: HashMap<i64, usize> =
            tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let producer: HashMap<i64, i64> = view
            .artifacts
            .iter()
            .filter_map(|a| Some((a.id, a.produced_by?)))
            .collect();
        let mut edges = BTreeSet::new();
        for (task, artifact, _, _) in &view.usages {
            let (Some(from), Some(to)) = (
                producer.get(artifact).and_then(|p| row_of_id.get(p)),
                row_of_id.get(task),
            ) else {
                continue;
            };
            let (a, b) = (node_of_task[*from], node_of_task[*to]);
            if a != b {
                edges.insert((a, b));
            }
        }
        let edges: Vec<(usize, usize)> = edges.into_iter().collect();
        layout(&mut nodes, &edges);
        Dag { nodes, edges }
    }
}

fn node(call: &str, label: String, ts: Vec<usize>, tasks: &[TaskRow]) -> DagNode {
    let mut counts = BTreeMap::new();
    let mut duration = None;
    let mut status = "cached";
    for &i in &ts {
        let t = &tasks[i];
        *counts.entry(t.status.clone()).or_insert(0) += 1;
        if let Some(d) = t.duration_ms() {
            duration = Some(duration.unwrap_or(0) + d);
        }
        if severity(&t.status) > severity(status) {
            status = &t.status;
        }
    }
    DagNode {
        label,
        call: call.to_owned(),
        status: status.to_owned(),
        counts,
        duration_ms: duration,
        layer: 0,
        row: 0,
        tasks: ts,
    }
}

/// Layers by longest path from a source (Kahn's order; edges of a cycle, which a run
/// cannot have, are ignored), rows by order of appearance within a layer.
fn layout(nodes: &mut [DagNode], edges: &[(usize, usize)]) {
    let n = nodes.len();
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        indegree[b] += 1;
        out[a].push(b);
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &j in &out[i] {
            layer[j] = layer[j].max(layer[i] + 1);
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    let mut rows: HashMap<usize, usize> = HashMap::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        node.layer = layer[i];
        let row = rows.entry(layer[i]).or_insert(0);
        node.row = *row;
        *row += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use expc_prov::query::ArtifactView;

    use super::*;

    fn task(id: i64, call: &str, index: i64, status: &str) -> TaskRow {
        TaskRow {
            id,
            instance: format!("{call}[{index}]"),
            call: call.into(),
            task: call.into(),
            index,
            status: status.into(),
            start_ms: Some(0),
            end_ms: Some(10),
            host: None,
            backend: "local".into(),
            resource: "here".into(),
            exit_code: Some(0),
            attempts: 1,
            job_id: None,
            message: None,
            argv: Vec::new(),
            values: Vec::new(),
            metrics: Vec::new(),
            efficiency: None,
            stdout: None,
            stderr: None,
        }
    }

    fn artifact(id: i64, produced_by: i64) -> ArtifactView {
        ArtifactView {
            id,
            path: format!("/out/{id}"),
            digest: String::new(),
            size: None,
            is_dir: false,
            ty: None,
            role: "output".into(),
            name: None,
            produced_by: Some(produced_by),
        }
    }

    /// `prep`, then `n` instances of `t` reading its output, then `g` gathering theirs.
    fn fan(n: i64, failed: i64) -> Dag {
        let mut tasks = vec![task(0, "prep", 0, "cached")];
        let mut artifacts = vec![artifact(100, 0)];
        let mut usages = Vec::new();
        for i in 0..n {
            let status = if i == failed { "failed" } else { "ran" };
            tasks.push(task(i + 1, "t", i, status));
            usages.push((i + 1, 100, "data".to_owned(), false));
            artifacts.push(artifact(200 + i, i + 1));
            usages.push((n + 1, 200 + i, "parts".to_owned(), false));
        }
        tasks.push(task(n + 1, "g", 0, "ran"));
        let view = RunView {
            run: BTreeMap::new(),
            params: Vec::new(),
            tasks: Vec::new(),
            artifacts,
            usages,
            metrics: Vec::new(),
            efficiency: Vec::new(),
        };
        Dag::build(&view, &tasks)
    }

    #[test]
    fn small_calls_keep_one_node_per_instance() {
        let dag = fan(3, -1);
        assert_eq!(dag.nodes.len(), 5);
        assert_eq!(dag.edges.len(), 6);
        let layers: Vec<usize> = dag.nodes.iter().map(|n| n.layer).collect();
        assert_eq!(layers, [0, 1, 1, 1, 2]);
        assert_eq!(dag.nodes[1].label, "t[0] = t");
    }

    #[test]
    fn a_large_call_is_one_node_with_its_worst_state() {
        let dag = fan(20, 7);
        assert_eq!(dag.nodes.len(), 3);
        assert_eq!(dag.edges, [(0, 1), (1, 2)]);
        let t = &dag.nodes[1];
        assert_eq!(t.label, "t = t × 20");
        assert_eq!(t.status, "failed");
        assert_eq!(t.counts["ran"], 19);
        assert_eq!(t.counts["failed"], 1);
        assert_eq!(t.duration_ms, Some(200));
    }
}
