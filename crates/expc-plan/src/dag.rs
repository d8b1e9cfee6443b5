//! The DAG of task instances: one node per instance of every job, one edge per instance
//! an instance reads from. This is what the executor runs and the backends submit.

use petgraph::graph::{DiGraph, NodeIndex};

use crate::plan::{Plan, Relation};

/// One task instance: the index of its job in the plan and its index among the job's
/// instances. Eight bytes, so a million instances fit in a few megabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    pub job: u32,
    pub index: u32,
}

#[derive(Debug)]
pub struct Dag {
    pub graph: DiGraph<Instance, Relation, u32>,
    /// The node of the first instance of each job; a job's instances are consecutive.
    pub first: Vec<NodeIndex<u32>>,
}

impl Dag {
    pub fn node(&self, job: usize, index: u64) -> NodeIndex<u32> {
        NodeIndex::new(self.first[job].index() + index as usize)
    }
}

/// The instances of `producer` that instance `index` of `consumer` reads, by `relation`:
/// the one with the same coordinates on the loops they share (`Each`), or all of those
/// (`All`, a gather).
pub fn producers(
    plan: &Plan,
    consumer: usize,
    index: u64,
    producer: usize,
    relation: Relation,
) -> std::ops::Range<u64> {
    let (job, prod) = (&plan.jobs[consumer], &plan.jobs[producer]);
    let shared = job
        .loops
        .iter()
        .zip(&prod.loops)
        .take_while(|(a, b)| a.id == b.id)
        .count();
    let inner = |loops: &[crate::plan::Loop]| -> u64 {
        loops[shared..]
            .iter()
            .fold(1u64, |acc, l| acc.saturating_mul(l.points.max(1)))
    };
    let prefix = index / inner(&job.loops).max(1);
    let n = inner(&prod.loops);
    let (from, to) = match relation {
        Relation::Each => (prefix * n, prefix * n + 1),
        Relation::All => (prefix * n, (prefix + 1) * n),
    };
    from..to.min(prod.instances)
}

/// Builds the instance DAG of a plan (whose jobs are in dependency order).
pub fn build(plan: &Plan) -> Dag {
    let total: usize = plan.jobs.iter().map(|j| j.instances as usize).sum();
    let edges: usize = plan
        .jobs
        .iter()
        .map(|j| j.after.len() * j.instances as usize)
        .sum();
    let mut graph = DiGraph::with_capacity(total, edges);
    let mut first = Vec::with_capacity(plan.jobs.len());
    for (j, job) in plan.jobs.iter().enumerate() {
        first.push(NodeIndex::new(graph.node_count()));
        for i in 0..job.instances {
            graph.add_node(Instance {
                job: j as u32,
                index: i as u32,
            });
        }
    }
    for (j, job) in plan.jobs.iter().enumerate() {
        for dep in &job.after {
            let Some(p) = plan.position(&dep.job) else {
                continue;
            };
            for i in 0..job.instances {
                let range = producers(plan, j, i, p, dep.relation);
                let target = first[j].index() + i as usize;
                for k in range {
                    let source = first[p].index() + k as usize;
                    graph.add_edge(NodeIndex::new(source), NodeIndex::new(target), dep.relation);
                }
            }
        }
    }
    Dag { graph, first }
}
