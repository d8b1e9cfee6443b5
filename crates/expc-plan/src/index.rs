//! One index of a program: its items by id and one pipeline's calls by binding.
//!
//! Lowering, the command evaluator ([`crate::command`]), the generators, the run and
//! provenance all look items up by id; they do it through this one type, built once per
//! program and pipeline, instead of each building its own maps.

use std::collections::HashMap;

use expc_check::ir;
use expc_check::value::Value;

/// A program's items by id, and the calls of one of its pipelines by binding.
#[derive(Debug)]
pub struct ProgramIndex<'p> {
    pub program: &'p ir::Program,
    /// The pipeline whose calls are indexed (`None` when the program has no such one).
    pub pipeline: Option<&'p ir::Pipeline>,
    tasks: HashMap<&'p str, &'p ir::Task>,
    params: HashMap<&'p str, &'p ir::Param>,
    artifacts: HashMap<&'p str, &'p ir::Artifact>,
    /// The files of each file set, in order.
    members: HashMap<&'p str, Vec<&'p ir::Artifact>>,
    secrets: HashMap<&'p str, &'p ir::Secret>,
    resources: HashMap<&'p str, &'p ir::Resource>,
    sweeps: HashMap<&'p str, &'p ir::Sweep>,
    calls: HashMap<&'p str, &'p ir::Call>,
}

impl<'p> ProgramIndex<'p> {
    /// Indexes `program`, and the calls of its pipeline `pipeline`.
    pub fn new(program: &'p ir::Program, pipeline: &str) -> Self {
        let pipeline = program.pipelines.iter().find(|p| p.id == pipeline);
        let mut calls = HashMap::new();
        if let Some(p) = pipeline {
            index_calls(&p.body, &mut calls);
        }
        let mut members: HashMap<&'p str, Vec<&'p ir::Artifact>> = HashMap::new();
        for a in program.data.iter().chain(&program.models) {
            if let Some(set) = &a.member_of {
                members.entry(set.as_str()).or_default().push(a);
            }
        }
        ProgramIndex {
            program,
            members,
            pipeline,
            tasks: program.tasks.iter().map(|t| (t.id.as_str(), t)).collect(),
            params: program.params.iter().map(|p| (p.id.as_str(), p)).collect(),
            artifacts: program
                .data
                .iter()
                .chain(&program.models)
                .map(|a| (a.id.as_str(), a))
                .collect(),
            secrets: program.secrets.iter().map(|s| (s.id.as_str(), s)).collect(),
            resources: program
                .resources
                .iter()
                .map(|r| (r.id.as_str(), r))
                .collect(),
            sweeps: program.sweeps.iter().map(|s| (s.id.as_str(), s)).collect(),
            calls,
        }
    }

    pub fn task(&self, id: &str) -> Option<&'p ir::Task> {
        self.tasks.get(id).copied()
    }

    pub fn param(&self, id: &str) -> Option<&'p ir::Param> {
        self.params.get(id).copied()
    }

    /// A declared data item or model.
    pub fn artifact(&self, id: &str) -> Option<&'p ir::Artifact> {
        self.artifacts.get(id).copied()
    }

    /// The files of the file set `set`, in order (none for anything else).
    pub fn members(&self, set: &str) -> impl Iterator<Item = &'p ir::Artifact> + '_ {
        self.members.get(set).into_iter().flatten().copied()
    }

    pub fn secret(&self, id: &str) -> Option<&'p ir::Secret> {
        self.secrets.get(id).copied()
    }

    pub fn resource(&self, id: &str) -> Option<&'p ir::Resource> {
        self.resources.get(id).copied()
    }

    pub fn sweep(&self, id: &str) -> Option<&'p ir::Sweep> {
        self.sweeps.get(id).copied()
    }

    /// The call of the pipeline bound to `binding`.
    pub fn call(&self, binding: &str) -> Option<&'p ir::Call> {
        self.calls.get(binding).copied()
    }

    /// Every declared data item and model, by id, in no particular order.
    pub fn artifacts(&self) -> impl Iterator<Item = &'p ir::Artifact> + '_ {
        self.artifacts.values().copied()
    }

    /// The path of a declared artifact as written (relative to its file's folder made
    /// relative to the root's), or `None` for an id that is not declared.
    pub fn artifact_path(&self, id: &str) -> Option<String> {
        self.artifact(id).map(|a| self.program.artifact_path(a))
    }

    /// The digest pinned on a declared artifact (`digest = "blake3:…"`), if any.
    pub fn pinned_digest(&self, id: &str) -> Option<&'p str> {
        self.artifact(id)?
            .entries
            .get("digest")
            .and_then(Value::as_str)
    }

    /// The site limits of a resource (none for an undeclared one).
    pub fn limits(&self, resource: &str) -> std::collections::BTreeMap<String, Value> {
        self.resource(resource)
            .map(|r| r.limits.clone())
            .unwrap_or_default()
    }

    /// The value of a param: its override or default.
    pub fn param_value(&self, id: &str) -> Option<&'p Value> {
        self.param(id)?.value.as_ref()
    }
}

/// The file an output of `task` is written to, relative to the instance's work directory:
/// its declared path, or its name.
pub fn output_file<'t>(task: &'t ir::Task, output: &'t str) -> &'t str {
    task.outputs
        .iter()
        .find(|o| o.name == output)
        .and_then(|o| o.default.as_ref())
        .and_then(Value::as_str)
        .unwrap_or(output)
}

fn index_calls<'p>(body: &'p [ir::Stmt], out: &mut HashMap<&'p str, &'p ir::Call>) {
    for s in body {
        match s {
            ir::Stmt::Call(c) => {
                out.insert(c.binding.as_str(), c);
            }
            ir::Stmt::For { body, .. } => index_calls(body, out),
            ir::Stmt::If(d) => index_calls(&d.body, out),
        }
    }
}
