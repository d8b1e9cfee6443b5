//! One instance's command, evaluated once: its argv, environment, inputs and output files,
//! with every file left as a [`Place`].
//!
//! This is the only evaluator of what an instance runs. Its callers differ only in what
//! they put where a place is: the generators write script variables (`${spec_dir}/PATH`,
//! `${work}/FILE`, `${run_dir}/JOB/INDEX/FILE`), the run writes the concrete paths of the
//! engine the instance runs on and, for its cache key, each file's content digest. So the
//! argv a job script runs, the argv `expc run` executes and records, and the words its
//! cache key is made of cannot disagree on anything but the places themselves.

use std::collections::HashMap;

use expc_check::ir::{self, IrExpr, IrPart};
use expc_check::value::Value;

use crate::index::{ProgramIndex, output_file};
use crate::plan::{Plan, Relation};

/// A file (or secret) a command refers to, known only where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A declared data item or model: its path as declared, relative to the spec's folder
    /// (or absolute).
    Data { id: String, path: String },
    /// An output of the instance itself: its file, relative to the work directory.
    Output { name: String, file: String },
    /// An output of instance `index` of the plan's job `job`: its file there.
    Upstream {
        job: usize,
        index: u64,
        output: String,
        file: String,
    },
    /// A secret, by id, and the environment variable its value is read from.
    Secret { id: String, var: String },
    /// A file of the instance's own that holds `text` (`${json(train)}`): its name,
    /// relative to the work directory, where the engine writes it before the command
    /// runs.
    Config { file: String, text: String },
}

/// The name of the file `${json(…)}` or `${yaml(…)}` writes for `text`: named after its
/// content, so two values never share a file and the same value always has one name.
pub fn config_file_name(format: &str, text: &str) -> String {
    let hash = blake3::hash(text.as_bytes()).to_hex();
    format!("expc-config-{}.{format}", &hash[..12])
}

/// A piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Place(Place),
    /// A place inside a template passed as an argument (`x = "${data}/part"`): the
    /// template is one text, and the cache key has always taken it as text, its paths
    /// included, rather than the content of its files.
    Path(Place),
}

/// One word of a command: text and places, concatenated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word(pub Vec<Piece>);

impl Word {
    fn text(t: impl Into<String>) -> Word {
        Word(vec![Piece::Text(t.into())])
    }

    fn place(p: Place) -> Word {
        Word(vec![Piece::Place(p)])
    }

    /// The place the word is made of, when it is exactly one.
    pub fn as_place(&self) -> Option<&Place> {
        match &self.0[..] {
            [Piece::Place(p)] => Some(p),
            _ => None,
        }
    }

    /// Whether no piece is a file or secret of its own: the word is a value (a param, a
    /// sweep point, a template's text), as provenance records values.
    pub fn is_value(&self) -> bool {
        !self.0.iter().any(|p| matches!(p, Piece::Place(_)))
    }

    /// The word with every place written by `place`.
    pub fn render(&self, mut place: impl FnMut(&Place, &mut String)) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Place(p) | Piece::Path(p) => place(p, &mut out),
            }
        }
        out
    }
}

/// What an expression evaluates to: words, a list of them, or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Symbolic {
    Word(Word),
    List(Vec<Symbolic>),
    None,
}

impl Symbolic {
    /// As argv words: a list gives one per element (flattened), `none` none.
    pub fn words(&self) -> Vec<&Word> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Word>) {
        match self {
            Symbolic::Word(w) => out.push(w),
            Symbolic::List(items) => items.iter().for_each(|i| i.collect(out)),
            Symbolic::None => {}
        }
    }

    /// As one word, the words joined by `sep`.
    pub fn joined(&self, sep: &str) -> Word {
        let mut out = Vec::new();
        for (i, w) in self.words().into_iter().enumerate() {
            if i > 0 {
                out.push(Piece::Text(sep.to_owned()));
            }
            out.extend(w.0.iter().cloned());
        }
        Word(out)
    }

    /// The secret the value is, when it is exactly one.
    pub fn as_secret(&self) -> Option<(&str, &str)> {
        match self {
            Symbolic::Word(w) => match w.as_place() {
                Some(Place::Secret { id, var }) => Some((id, var)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every data item and upstream output among the value (not inside templates).
    pub fn files(&self) -> Vec<&Place> {
        self.words()
            .into_iter()
            .filter_map(Word::as_place)
            .filter(|p| matches!(p, Place::Data { .. } | Place::Upstream { .. }))
            .collect()
    }

    /// Whether the value is one word with no file of its own (what provenance records
    /// as an instance's value).
    pub fn as_value(&self) -> Option<&Word> {
        match self {
            Symbolic::Word(w) if w.is_value() => Some(w),
            _ => None,
        }
    }
}

/// What kind of command an instance runs.
#[derive(Clone, Debug, PartialEq)]
pub enum CommandKind<'p> {
    /// An argv template: the groups' words are the argv.
    Run,
    /// A bash script, which receives its values as variables.
    Shell { script: &'p str },
    /// A Spark application: the groups are the application and its arguments; the
    /// engine puts its `spark-submit` and options before them, and the task's settings.
    Spark {
        settings: &'p std::collections::BTreeMap<String, Value>,
    },
}

/// Where a variable of the command comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableKind {
    /// An input or output of a `shell` task, named after it: a list's words are joined by
    /// newlines.
    ShellValue,
    /// A variable of the task's `env` section: a list's words are joined by spaces.
    Env,
}

/// One environment variable of the command.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub name: String,
    pub value: Symbolic,
    pub kind: VariableKind,
}

impl Variable {
    /// The separator of the value's words.
    pub fn separator(&self) -> &'static str {
        match self.kind {
            VariableKind::ShellValue => "\n",
            VariableKind::Env => " ",
        }
    }
}

/// One declared output of the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    pub name: String,
    /// Relative to the work directory.
    pub file: String,
    pub metrics: bool,
    /// The task's standard output goes to the file (`log: File<Text> = stdout`).
    pub stdout: bool,
}

/// An instance's command, with its places left symbolic.
#[derive(Clone, Debug)]
pub struct InstanceCommand<'p> {
    pub kind: CommandKind<'p>,
    /// The command's words as the task writes them: one group per word of a `run`
    /// template (an expanding `${list}` gives a group of several words, `${none}` an empty
    /// one), or the application and each argument of a `spark` task. Empty for `shell`.
    pub groups: Vec<Vec<Word>>,
    /// The variables it runs with: a `shell` task's values, then the task's `env`.
    pub variables: Vec<Variable>,
    /// The call's arguments, by input name.
    pub inputs: Vec<(&'p str, Symbolic)>,
    pub outputs: Vec<OutputFile>,
}

impl InstanceCommand<'_> {
    /// The argv words, for a `run` task; the script's invocation for a `shell` task; the
    /// application and its arguments for a `spark` task.
    pub fn words(&self) -> Vec<Word> {
        match self.kind {
            CommandKind::Shell { script } => {
                let mut argv: Vec<Word> = SHELL.iter().map(|w| Word::text(*w)).collect();
                argv.push(Word::text(script));
                argv.push(Word::text(SHELL_NAME));
                argv
            }
            _ => self.groups.iter().flatten().cloned().collect(),
        }
    }
}

impl InstanceCommand<'_> {
    /// The file, relative to the work directory, that the command's standard output is
    /// written to, when an output is declared `= stdout`.
    pub fn stdout_file(&self) -> Option<&str> {
        self.outputs
            .iter()
            .find(|o| o.stdout)
            .map(|o| o.file.as_str())
    }

    /// The files `${json(…)}` and `${yaml(…)}` write in the work directory: name and text,
    /// each once.
    pub fn configs(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        let words = self
            .groups
            .iter()
            .flatten()
            .chain(self.variables.iter().flat_map(|v| v.value.words()));
        for w in words {
            for piece in &w.0 {
                if let Piece::Place(Place::Config { file, text })
                | Piece::Path(Place::Config { file, text }) = piece
                {
                    if !out.iter().any(|(f, _)| f == file) {
                        out.push((file, text));
                    }
                }
            }
        }
        out
    }

    /// The declared data items the command names itself (the program of `python3
    /// ${train_py}`, a file in a variable), each once, in the order they appear — not
    /// those that reach it through the call's inputs.
    pub fn named_data(&self) -> Vec<&Place> {
        let words = self
            .groups
            .iter()
            .flatten()
            .chain(self.variables.iter().flat_map(|v| v.value.words()));
        let mut seen: Vec<&Place> = Vec::new();
        for w in words {
            for piece in &w.0 {
                if let Piece::Place(p @ Place::Data { .. }) = piece {
                    if !seen.contains(&p) {
                        seen.push(p);
                    }
                }
            }
        }
        seen
    }
}

/// How a `shell` task's script is run: `bash -e -u -o pipefail -c SCRIPT expc-shell`.
pub const SHELL: [&str; 6] = ["bash", "-e", "-u", "-o", "pipefail", "-c"];
/// `$0` of a `shell` task's script.
pub const SHELL_NAME: &str = "expc-shell";

/// Evaluates the commands of a plan's instances.
#[derive(Debug)]
pub struct Evaluator<'p> {
    index: ProgramIndex<'p>,
    plan: &'p Plan,
}

/// What one evaluation of one instance needs.
struct Scope<'p> {
    job: usize,
    index: u64,
    call: &'p ir::Call,
    task: &'p ir::Task,
    coords: Vec<(String, Value)>,
    /// How the job reads each job it reads from, for the jobs that read from many.
    relations: Option<HashMap<&'p str, Relation>>,
}

impl<'p> Evaluator<'p> {
    /// The evaluator of `plan`'s instances, lowered from `program`.
    pub fn new(program: &'p ir::Program, plan: &'p Plan) -> Self {
        Evaluator {
            index: ProgramIndex::new(program, &plan.pipeline),
            plan,
        }
    }

    pub fn index(&self) -> &ProgramIndex<'p> {
        &self.index
    }

    pub fn plan(&self) -> &'p Plan {
        self.plan
    }

    /// The task of job `j`.
    pub fn task(&self, j: usize) -> Result<&'p ir::Task, String> {
        let job = &self.plan.jobs[j];
        self.index
            .task(&job.task)
            .ok_or_else(|| format!("the task `{}` is missing from the program", job.task))
    }

    /// The declared outputs of job `j`.
    pub fn outputs(&self, j: usize) -> Vec<OutputFile> {
        self.task(j).map(outputs).unwrap_or_default()
    }

    /// The command of instance `index` of job `j`.
    pub fn command(&self, j: usize, index: u64) -> Result<InstanceCommand<'p>, String> {
        let job = &self.plan.jobs[j];
        let task = self.task(j)?;
        let call = self
            .index
            .call(&job.key)
            .ok_or_else(|| format!("the call `{}` is missing from the pipeline", job.key))?;
        // A gather over many calls reads as many jobs: look their relations up by name.
        let relations = (job.after.len() > 8).then(|| {
            let plan: &'p Plan = self.plan;
            plan.jobs[j]
                .after
                .iter()
                .map(|d| (d.job.as_str(), d.relation))
                .collect()
        });
        let scope = Scope {
            job: j,
            index,
            call,
            task,
            coords: self.plan.coords(job, index),
            relations,
        };
        let ev = |e: &IrExpr| self.eval(e, &scope);
        let mut groups = Vec::new();
        let mut variables = Vec::new();
        let kind = match &task.command {
            ir::Command::Run { argv } => {
                for w in argv {
                    if w.expands {
                        if let [IrPart::Interp { expr }] = &w.parts[..] {
                            groups.push(ev(expr).words().into_iter().cloned().collect());
                        }
                    } else {
                        let mut word = Vec::new();
                        for p in &w.parts {
                            match p {
                                IrPart::Text { text } => word.push(Piece::Text(text.clone())),
                                IrPart::Interp { expr } => word.extend(ev(expr).joined(" ").0),
                            }
                        }
                        groups.push(vec![Word(word)]);
                    }
                }
                if groups.iter().all(Vec::is_empty) {
                    return Err("the command is empty".into());
                }
                CommandKind::Run
            }
            ir::Command::Shell { script, exports } => {
                // Values reach the script as variables named after the inputs and outputs,
                // and after the params, data items and models it names.
                for (name, e) in exports {
                    variables.push(Variable {
                        name: name.clone(),
                        value: ev(e),
                        kind: VariableKind::ShellValue,
                    });
                }
                for f in task.inputs.iter().chain(&task.outputs) {
                    let e = if task.outputs.iter().any(|o| o.name == f.name) {
                        IrExpr::Output {
                            name: f.name.clone(),
                        }
                    } else {
                        IrExpr::Input {
                            name: f.name.clone(),
                        }
                    };
                    variables.push(Variable {
                        name: f.name.clone(),
                        value: ev(&e),
                        kind: VariableKind::ShellValue,
                    });
                }
                CommandKind::Shell { script }
            }
            ir::Command::Spark {
                app,
                args,
                settings,
            } => {
                groups.push(ev(app).words().into_iter().cloned().collect());
                for a in args {
                    groups.push(ev(a).words().into_iter().cloned().collect());
                }
                CommandKind::Spark { settings }
            }
            ir::Command::None => return Err("the task has no command".into()),
        };
        for (name, e) in &task.env.vars {
            variables.push(Variable {
                name: name.clone(),
                value: ev(e),
                kind: VariableKind::Env,
            });
        }
        let inputs = call.args.iter().map(|(k, e)| (k.as_str(), ev(e))).collect();
        Ok(InstanceCommand {
            kind,
            groups,
            variables,
            inputs,
            outputs: outputs(task),
        })
    }

    fn value(&self, v: &Value) -> Symbolic {
        match v {
            Value::List(items) => Symbolic::List(items.iter().map(|i| self.value(i)).collect()),
            Value::None => Symbolic::None,
            Value::Artifact(id) => self.artifact(id),
            v => Symbolic::Word(Word::text(crate::lower::text(v).join(" "))),
        }
    }

    fn artifact(&self, id: &str) -> Symbolic {
        // A file set is its files.
        if let Some(set) = self.index.artifact(id).filter(|a| a.glob.is_some()) {
            return Symbolic::List(
                self.index
                    .members(&set.id)
                    .map(|m| self.artifact(&m.id))
                    .collect(),
            );
        }
        let path = self
            .index
            .artifact_path(id)
            .unwrap_or_else(|| id.to_owned());
        Symbolic::Word(Word::place(Place::Data {
            id: id.to_owned(),
            path,
        }))
    }

    fn eval(&self, e: &IrExpr, s: &Scope<'_>) -> Symbolic {
        match e {
            IrExpr::Value { value } => self.value(value),
            IrExpr::Param { id } => self
                .index
                .param_value(id)
                .map_or(Symbolic::None, |v| self.value(v)),
            IrExpr::Artifact { id } => self.artifact(id),
            IrExpr::Secret { id } => Symbolic::Word(Word::place(Place::Secret {
                id: id.clone(),
                var: self
                    .index
                    .secret(id)
                    .and_then(|s| s.env.clone())
                    .unwrap_or_default(),
            })),
            IrExpr::Input { name } => match s.call.args.get(name) {
                Some(arg) => self.eval(arg, s),
                None => Symbolic::None,
            },
            IrExpr::Output { name } => Symbolic::Word(Word::place(Place::Output {
                name: name.clone(),
                file: output_file(s.task, name).to_owned(),
            })),
            IrExpr::Point { var, axis } => s
                .coords
                .iter()
                .find(|(k, _)| {
                    k.strip_prefix(var.as_str())
                        .and_then(|rest| rest.strip_prefix('.'))
                        == Some(axis.as_str())
                })
                .map_or(Symbolic::None, |(_, v)| self.value(v)),
            IrExpr::Element { var, fields } => s
                .coords
                .iter()
                .rev()
                .find(|(k, _)| k == var)
                .and_then(|(_, v)| fields.iter().try_fold(v, |v, f| v.field(f)))
                .map_or(Symbolic::None, |v| self.value(v)),
            IrExpr::LoopIndex { var, .. } => {
                let job = &self.plan.jobs[s.job];
                let points = self.plan.loop_points(job, s.index);
                job.loops
                    .iter()
                    .zip(points)
                    .rev()
                    .find(|(l, _)| l.var == *var)
                    .map_or(Symbolic::None, |(_, p)| {
                        Symbolic::Word(Word::text(p.to_string()))
                    })
            }
            IrExpr::Resource { name } => self.value(&crate::lower::resource_value(
                &self.plan.jobs[s.job].resources,
                name,
            )),
            IrExpr::CallOutput {
                binding,
                output,
                gathered,
            } => self.call_output(binding, output, *gathered, s),
            IrExpr::List { items } | IrExpr::Concat { parts: items } => {
                let mut flat = Vec::new();
                for i in items {
                    match self.eval(i, s) {
                        Symbolic::List(inner) => flat.extend(inner),
                        v => flat.push(v),
                    }
                }
                Symbolic::List(flat)
            }
            IrExpr::Template { parts } => {
                let mut word = Vec::new();
                for p in parts {
                    match p {
                        IrPart::Text { text } => word.push(Piece::Text(text.clone())),
                        IrPart::Interp { expr } => {
                            word.extend(self.eval(expr, s).joined(" ").0.into_iter().map(|piece| {
                                match piece {
                                    Piece::Place(p) => Piece::Path(p),
                                    other => other,
                                }
                            }))
                        }
                    }
                }
                Symbolic::Word(Word(word))
            }
            IrExpr::Config { format, text } => Symbolic::Word(Word::place(Place::Config {
                file: config_file_name(format, text),
                text: text.clone(),
            })),
            IrExpr::Error => Symbolic::None,
        }
    }

    /// The output `output` of the call `binding`, as instance `s.index` reads it: one
    /// file, or every gathered instance's.
    fn call_output(&self, binding: &str, output: &str, gathered: bool, s: &Scope<'_>) -> Symbolic {
        let Some(p) = self.plan.position(binding) else {
            return Symbolic::None;
        };
        let file = self
            .index
            .task(&self.plan.jobs[p].task)
            .map_or(output, |t| output_file(t, output))
            .to_owned();
        let relation = match &s.relations {
            Some(r) => r.get(binding).copied(),
            None => self.plan.jobs[s.job]
                .after
                .iter()
                .find(|d| d.job == binding)
                .map(|d| d.relation),
        }
        .unwrap_or(Relation::Each);
        let mut files = crate::dag::producers(self.plan, s.job, s.index, p, relation).map(|k| {
            Symbolic::Word(Word::place(Place::Upstream {
                job: p,
                index: k,
                output: output.to_owned(),
                file: file.clone(),
            }))
        });
        if gathered {
            Symbolic::List(files.collect())
        } else {
            files.next().unwrap_or(Symbolic::None)
        }
    }
}

/// The declared outputs of a task.
fn outputs(task: &ir::Task) -> Vec<OutputFile> {
    task.outputs
        .iter()
        .map(|o| OutputFile {
            name: o.name.clone(),
            file: output_file(task, &o.name).to_owned(),
            metrics: o.ty.starts_with("Metrics"),
            stdout: o.stdout,
        })
        .collect()
}

/// The resources a task's command and variables read (`${resources.cpus}`), each once,
/// sorted.
pub fn resources_read(task: &ir::Task) -> std::collections::BTreeSet<&str> {
    fn walk<'a>(e: &'a IrExpr, out: &mut std::collections::BTreeSet<&'a str>) {
        match e {
            IrExpr::Resource { name } => {
                out.insert(name);
            }
            IrExpr::List { items } | IrExpr::Concat { parts: items } => {
                items.iter().for_each(|i| walk(i, out));
            }
            IrExpr::Template { parts } => parts.iter().for_each(|p| {
                if let IrPart::Interp { expr } = p {
                    walk(expr, out);
                }
            }),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    match &task.command {
        ir::Command::Run { argv } => argv.iter().flat_map(|w| &w.parts).for_each(|p| {
            if let IrPart::Interp { expr } = p {
                walk(expr, &mut out);
            }
        }),
        ir::Command::Spark { app, args, .. } => {
            walk(app, &mut out);
            args.iter().for_each(|a| walk(a, &mut out));
        }
        ir::Command::Shell { .. } | ir::Command::None => {}
    }
    task.env.vars.values().for_each(|e| walk(e, &mut out));
    out
}
