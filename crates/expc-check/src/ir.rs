//! The typed IR: a checked program, with every name resolved, every type known and every
//! value that can be known computed. Lowering to a DAG reads this, never the AST.
//!
//! `expc check --emit ir` prints it as JSON. The shape is versioned by
//! [`SCHEMA_VERSION`]; maps are ordered, so the output is byte-identical from run to run.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::ir_expr::{IrExpr, IrPart};
use crate::value::Value;

/// The kind of engine a resource places its calls on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Local,
    Slurm,
    Kubernetes,
    Spark,
}

impl Backend {
    pub fn parse(s: &str) -> Option<Backend> {
        Some(match s {
            "local" => Backend::Local,
            "slurm" => Backend::Slurm,
            "kubernetes" => Backend::Kubernetes,
            "spark" => Backend::Spark,
            _ => return None,
        })
    }
}

/// How a sweep combines its axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Product,
    Zip,
    Random,
    /// The elements of a list a `for` loop runs over: one axis, named ``.
    List,
    /// The rows of a sample sheet (`rows(units)`): an axis per column, a point per row.
    Rows,
    /// The files a call produces for a list output (`for x in s.parts`): one axis, named
    /// ``, whose values are known only when the call has run. The sweep's id is
    /// `BINDING.OUTPUT`.
    Produced,
}

/// Bumped on any incompatible change of the JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize)]
pub struct Program {
    pub schema_version: u32,
    /// The root file, by name.
    pub root: String,
    /// Every loaded module: the root, imported files, standard modules.
    pub modules: Vec<String>,
    pub experiment: Option<Experiment>,
    pub params: Vec<Param>,
    pub secrets: Vec<Secret>,
    pub sweeps: Vec<Sweep>,
    pub sites: Vec<Declared>,
    pub resources: Vec<Resource>,
    pub data: Vec<Artifact>,
    pub models: Vec<Artifact>,
    /// The formats the program's types use, with their properties (inherited ones
    /// included).
    pub formats: Vec<Format>,
    /// The schemas the program's types use.
    pub schemas: Vec<Schema>,
    pub tasks: Vec<Task>,
    pub pipelines: Vec<Pipeline>,
    /// The profile and `--on` moves applied to the placements, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<AppliedProfile>,
}

/// The placements moved by `--profile NAME` and `--on FROM=TO`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AppliedProfile {
    /// The profile's name, when one was applied.
    pub name: Option<String>,
    /// Resource to resource, the profile's entries and then `--on`'s (which win).
    pub moves: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Experiment {
    pub name: String,
    pub doc: Option<String>,
    pub entries: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Param {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// The effective value: the override, else the default; `null` when neither is given.
    pub value: Option<Value>,
    /// Where the value comes from: `default`, `override` or `unset`.
    pub source: &'static str,
    pub doc: Option<String>,
    /// The declared name, for diagnostics of later phases (not serialised).
    #[serde(skip)]
    pub span: expc_diagnostics::Span,
}

#[derive(Clone, Debug, Serialize)]
pub struct Secret {
    pub id: String,
    /// The environment variable read when a run starts.
    pub env: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    pub id: String,
    pub strategy: Strategy,
    pub axes: Vec<Axis>,
    pub samples: Option<i64>,
    pub seed: Option<i64>,
    pub points: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Axis {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// The list of values (product, zip) or the distribution (random).
    pub values: Option<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Declared {
    pub id: String,
    pub value: Option<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub id: String,
    pub kind: String,
    pub backend: Option<Backend>,
    /// Every field of the kind, defaults filled in.
    pub fields: Option<Value>,
    /// The limits that apply: the site's, overridden by the resource's own.
    pub limits: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Artifact {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// Relative to the folder of the module that declares it.
    pub path: Option<String>,
    pub module: String,
    pub doc: Option<String>,
    /// Digest, description and, for models, their registry entries and lineage.
    pub entries: BTreeMap<String, Value>,
    /// A file set (`glob(…)`): its pattern and the files it matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glob: Option<Glob>,
    /// One file of a file set: the set's id. Each matched file is a data item of its own,
    /// listed after its set, with the id `SET[PATH]` and its path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_of: Option<String>,
}

/// The pattern of a file set and what it matched when the spec was checked.
#[derive(Clone, Debug, Serialize)]
pub struct Glob {
    pub pattern: String,
    pub allow_empty: bool,
    /// The ids of the matched files' data items, sorted by path; `None` when the folders
    /// could not be listed (an editor's buffer without a folder).
    pub members: Option<Vec<String>>,
}

impl Program {
    /// The files of a file set, by data item, in the set's order.
    pub fn members<'p>(&'p self, set: &'p Artifact) -> impl Iterator<Item = &'p Artifact> + 'p {
        self.data
            .iter()
            .filter(move |a| a.member_of.as_deref() == Some(set.id.as_str()))
    }

    /// The path of a declared data item or model, relative to the root file's folder (or
    /// absolute, when declared so): its module's folder joined to its own path.
    pub fn artifact_path(&self, artifact: &Artifact) -> String {
        root_relative(
            &self.root,
            &artifact.module,
            artifact.path.clone().unwrap_or_default(),
        )
    }

    /// A `Path`-typed value as a path relative to the root file's folder: a string as it
    /// is, a declared data item or model by its path (`conda = env_dir`).
    pub fn path_value(&self, value: &Value) -> Option<String> {
        match value {
            Value::Str(s) => Some(s.clone()),
            Value::Artifact(id) => self
                .data
                .iter()
                .chain(&self.models)
                .find(|a| a.id == *id)
                .map(|a| self.artifact_path(a)),
            _ => None,
        }
    }
}

impl Program {
    /// The declared artifacts the calls of pipeline `pipeline` pass as arguments, and those
    /// its loops run over (the files of a file set): what a run of it reads, besides what
    /// task commands name (`Task::uses`).
    pub fn artifacts_passed(&self, pipeline: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        if let Some(p) = self.pipelines.iter().find(|p| p.id == pipeline) {
            self.calls_read(&p.body, &mut out);
        }
        out
    }

    fn calls_read(&self, body: &[Stmt], out: &mut std::collections::BTreeSet<String>) {
        for s in body {
            match s {
                Stmt::Call(c) => c.args.values().for_each(|e| artifacts_in(e, out)),
                Stmt::For { sweep, body, .. } => {
                    // The files of a file set or a sample sheet a loop runs over.
                    let list = self.sweeps.iter().find(|s| {
                        s.id == *sweep && matches!(s.strategy, Strategy::List | Strategy::Rows)
                    });
                    for a in list.iter().flat_map(|s| &s.axes) {
                        for v in a.values.as_ref().and_then(Value::as_list).unwrap_or(&[]) {
                            if let Value::Artifact(id) = v {
                                out.insert(id.clone());
                            }
                        }
                    }
                    self.calls_read(body, out);
                }
                Stmt::If(d) => self.calls_read(&d.body, out),
            }
        }
    }
}

fn artifacts_in(e: &IrExpr, out: &mut std::collections::BTreeSet<String>) {
    match e {
        IrExpr::Artifact { id } => {
            out.insert(id.clone());
        }
        IrExpr::List { items } | IrExpr::Concat { parts: items } => {
            items.iter().for_each(|i| artifacts_in(i, out));
        }
        IrExpr::Template { parts } => parts.iter().for_each(|p| {
            if let IrPart::Interp { expr } = p {
                artifacts_in(expr, out);
            }
        }),
        IrExpr::Value {
            value: Value::Artifact(id),
        } => {
            out.insert(id.clone());
        }
        _ => {}
    }
}

/// A path declared in `module`, relative to the root module's folder (absolute paths and
/// those of the root module and the standard library as they are).
pub fn root_relative(root: &str, module: &str, path: String) -> String {
    if path.starts_with('/')
        || module == root
        || module.starts_with("std.")
        || crate::remote_url::is_remote(&path)
    {
        return path;
    }
    match module.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{path}"),
        None => path,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Format {
    pub id: String,
    pub base: Option<String>,
    pub props: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Schema {
    pub id: String,
    pub columns: Vec<Column>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// An input's default, or an output's file name.
    pub default: Option<Value>,
    /// A list output's pattern (`parts/*.csv`): its files are those the task writes in the
    /// folder `default` that match it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// An output that is the task's standard output (`= stdout`), written to its file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdout: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Task {
    pub id: String,
    pub name: String,
    pub module: String,
    pub doc: Option<String>,
    pub inputs: Vec<Field>,
    pub outputs: Vec<Field>,
    /// `resources { … }` as given: cpus, mem, time, gpus.
    pub resources: BTreeMap<String, Value>,
    pub env: Env,
    pub command: Command,
    pub retry: Retry,
    /// Whether a run may serve the task from the cache (`cache = false`: never). Not
    /// part of any id: it changes when a result is made, not what it is.
    #[serde(skip_serializing_if = "is_yes")]
    pub cache: bool,
    /// `evaluates = INPUT`: the model input whose scores the task's `Metrics` hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluates: Option<String>,
    /// Params, data, models and secrets the task refers to by name.
    pub uses: Vec<String>,
}

fn is_yes(b: &bool) -> bool {
    *b
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Env {
    pub image: Option<String>,
    pub modules: Vec<String>,
    pub conda: Option<String>,
    pub vars: BTreeMap<String, IrExpr>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// An argv template: each word one argument.
    Run { argv: Vec<Word> },
    /// A bash script; values reach it as environment variables: the task's inputs and
    /// outputs, and the params, data items and models it names (`exports`, by name).
    Shell {
        script: String,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        exports: BTreeMap<String, IrExpr>,
    },
    Spark {
        app: IrExpr,
        args: Vec<IrExpr>,
        settings: BTreeMap<String, Value>,
    },
    /// No command (already reported).
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Word {
    pub parts: Vec<IrPart>,
    /// The word is exactly one interpolation: a list gives one argument per element and
    /// `none` gives no argument.
    pub expands: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Retry {
    pub attempts: u32,
    pub backoff_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pipeline {
    pub id: String,
    pub body: Vec<Stmt>,
    /// `register t.model as "name"`: outputs whose models each run adds to the registry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registrations: Vec<Registration>,
}

/// `register BINDING.OUTPUT as "NAME"`: every model the output holds after a run is a
/// version of the registry's model `NAME`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Registration {
    /// The call's binding (the plan's job key).
    pub call: String,
    pub output: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stmt {
    Call(Call),
    For {
        var: String,
        /// The name of the position, in `for (i, x) in …`.
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<String>,
        sweep: String,
        body: Vec<Stmt>,
    },
    /// `if CONDITION { … } else { … }`, decided when the experiment was planned: `body` is
    /// the branch taken, the other is left out.
    If(Decision),
}

/// A plan-time `if`: its condition as written, what it evaluated to, and the branch taken.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub condition: String,
    pub value: bool,
    /// `then` or `else`.
    pub taken: &'static str,
    /// The bindings of the branch not taken, which the plan leaves out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    pub body: Vec<Stmt>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Call {
    /// The `let` name; a call without one is named after its task (`bulletin`, or
    /// `bulletin#2` when that name is taken).
    pub binding: String,
    pub task: String,
    pub args: BTreeMap<String, IrExpr>,
    /// The resource the call is placed on (after the profile applied, if any).
    pub on: Option<String>,
    /// The resource the spec places the call on, when a profile or `--on` moved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// Calls of the same pipeline (bindings) this one runs after, though it reads none of
    /// their outputs (`after [a, b]`): an order, not an input, so in no id or key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Where the call is written, for diagnostics of later phases (not serialised).
    #[serde(skip)]
    pub span: expc_diagnostics::Span,
}
