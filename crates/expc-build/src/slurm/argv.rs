//! One instance's command as a generated script sees it: argv words and environment
//! variables made of literal text and of the script's run-time directories.
//!
//! This mirrors what `expc run` resolves locally, with paths left symbolic: data and
//! models are `${spec_dir}/PATH`, the instance's own outputs `${work}/FILE`, and the
//! outputs of upstream instances `${run_dir}/JOB/INDEX/FILE`. Nothing is evaluated by a
//! shell: each word is written with [`crate::quote::quote_word`].

use std::collections::{BTreeMap, HashMap};

use expc_check::ir::{self, IrExpr, IrPart};
use expc_check::value::Value;
use expc_plan::plan::{Plan, Relation};

use crate::quote::Segment;

/// A value at build time.
#[derive(Clone, Debug)]
enum BValue {
    Word(Vec<Segment>),
    List(Vec<BValue>),
    None,
    /// A secret, by the environment variable it is read from at submission.
    Secret(String),
}

impl BValue {
    fn text(t: impl Into<String>) -> Self {
        BValue::Word(vec![Segment::Text(t.into())])
    }

    /// As argv words: a list gives several, `none` none.
    fn words(self, out: &mut Vec<Vec<Segment>>) {
        match self {
            BValue::Word(w) => out.push(w),
            BValue::List(items) => items.into_iter().for_each(|i| i.words(out)),
            BValue::None => {}
            BValue::Secret(var) => out.push(vec![Segment::Var(var)]),
        }
    }

    /// As one word, the words joined by `sep`.
    fn joined(self, sep: &str) -> Vec<Segment> {
        let mut words = Vec::new();
        self.words(&mut words);
        let mut out = Vec::new();
        for (i, w) in words.into_iter().enumerate() {
            if i > 0 {
                out.push(Segment::Text(sep.to_owned()));
            }
            out.extend(w);
        }
        out
    }
}

/// What an instance runs.
#[derive(Clone, Debug)]
pub struct InstanceCommand {
    pub argv: Vec<Vec<Segment>>,
    /// `NAME=value` words for `export`.
    pub vars: Vec<Vec<Segment>>,
    /// Environment variables the job needs from the submitting shell (secrets).
    pub secret_vars: Vec<String>,
}

/// The name of a job's directories and files: its key with `#` (of `task#2`) as `-`.
pub fn job_dir(key: &str) -> String {
    key.replace('#', "-")
}

#[derive(Debug)]
pub struct ArgvBuilder<'a> {
    program: &'a ir::Program,
    plan: &'a Plan,
    tasks: HashMap<&'a str, &'a ir::Task>,
    params: HashMap<&'a str, &'a ir::Param>,
    artifacts: HashMap<&'a str, &'a ir::Artifact>,
    secrets: HashMap<&'a str, &'a ir::Secret>,
    calls: HashMap<&'a str, &'a ir::Call>,
}

impl<'a> ArgvBuilder<'a> {
    pub fn new(program: &'a ir::Program, plan: &'a Plan) -> Self {
        fn walk<'a>(body: &'a [ir::Stmt], out: &mut HashMap<&'a str, &'a ir::Call>) {
            for s in body {
                match s {
                    ir::Stmt::Call(c) => {
                        out.insert(c.binding.as_str(), c);
                    }
                    ir::Stmt::For { body, .. } => walk(body, out),
                }
            }
        }
        let mut calls = HashMap::new();
        if let Some(p) = program.pipelines.iter().find(|p| p.id == plan.pipeline) {
            walk(&p.body, &mut calls);
        }
        Self {
            program,
            plan,
            tasks: program.tasks.iter().map(|t| (t.id.as_str(), t)).collect(),
            params: program.params.iter().map(|p| (p.id.as_str(), p)).collect(),
            artifacts: program
                .data
                .iter()
                .chain(&program.models)
                .map(|a| (a.id.as_str(), a))
                .collect(),
            secrets: program.secrets.iter().map(|s| (s.id.as_str(), s)).collect(),
            calls,
        }
    }

    fn value(&self, v: &Value) -> BValue {
        match v {
            Value::List(items) => BValue::List(items.iter().map(|i| self.value(i)).collect()),
            Value::None => BValue::None,
            Value::Artifact(id) => self.artifact(id),
            v => BValue::text(expc_plan::lower::text(v).join(" ")),
        }
    }

    fn artifact(&self, id: &str) -> BValue {
        let path = match self.artifacts.get(id) {
            Some(a) => self.program.artifact_path(a),
            None => id.to_owned(),
        };
        if path.starts_with('/') {
            BValue::text(path)
        } else {
            BValue::Word(vec![
                Segment::Var("spec_dir".into()),
                Segment::Text(format!("/{path}")),
            ])
        }
    }

    /// The file name of output `name` of `task`, relative to an instance's work directory.
    fn output_file<'t>(task: &'t ir::Task, name: &'t str) -> &'t str {
        task.outputs
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.default.as_ref())
            .and_then(Value::as_str)
            .unwrap_or(name)
    }

    /// The declared outputs of job `j`: name and file.
    pub fn outputs(&self, j: usize) -> Vec<(String, String)> {
        let Some(task) = self.tasks.get(self.plan.jobs[j].task.as_str()) else {
            return Vec::new();
        };
        task.outputs
            .iter()
            .map(|o| (o.name.clone(), Self::output_file(task, &o.name).to_owned()))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn eval(
        &self,
        e: &IrExpr,
        j: usize,
        index: u64,
        call: &ir::Call,
        task: &ir::Task,
        coords: &[(String, Value)],
    ) -> BValue {
        let job = &self.plan.jobs[j];
        match e {
            IrExpr::Value { value } => self.value(value),
            IrExpr::Param { id } => self
                .params
                .get(id.as_str())
                .and_then(|p| p.value.as_ref())
                .map_or(BValue::None, |v| self.value(v)),
            IrExpr::Artifact { id } => self.artifact(id),
            IrExpr::Secret { id } => BValue::Secret(
                self.secrets
                    .get(id.as_str())
                    .and_then(|s| s.env.clone())
                    .unwrap_or_default(),
            ),
            IrExpr::Input { name } => match call.args.get(name) {
                Some(arg) => self.eval(arg, j, index, call, task, coords),
                None => BValue::None,
            },
            IrExpr::Output { name } => BValue::Word(vec![
                Segment::Var("work".into()),
                Segment::Text(format!("/{}", Self::output_file(task, name))),
            ]),
            IrExpr::Point { var, axis } => {
                let key = format!("{var}.{axis}");
                coords
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(BValue::None, |(_, v)| self.value(v))
            }
            IrExpr::CallOutput {
                binding,
                output,
                gathered,
            } => {
                let Some(p) = self.plan.position(binding) else {
                    return BValue::None;
                };
                let producer = &self.plan.jobs[p];
                let file = self
                    .tasks
                    .get(producer.task.as_str())
                    .map_or(output.as_str(), |t| Self::output_file(t, output));
                let relation = job
                    .after
                    .iter()
                    .find(|d| &d.job == binding)
                    .map_or(Relation::Each, |d| d.relation);
                let dir = job_dir(&producer.key);
                let files: Vec<BValue> =
                    expc_plan::dag::producers(self.plan, j, index, p, relation)
                        .map(|k| {
                            BValue::Word(vec![
                                Segment::Var("run_dir".into()),
                                Segment::Text(format!("/{dir}/{k}/{file}")),
                            ])
                        })
                        .collect();
                if *gathered {
                    BValue::List(files)
                } else {
                    files.into_iter().next().unwrap_or(BValue::None)
                }
            }
            IrExpr::List { items } | IrExpr::Concat { parts: items } => {
                let mut flat = Vec::new();
                for i in items {
                    match self.eval(i, j, index, call, task, coords) {
                        BValue::List(inner) => flat.extend(inner),
                        v => flat.push(v),
                    }
                }
                BValue::List(flat)
            }
            IrExpr::Template { parts } => {
                let mut word = Vec::new();
                for p in parts {
                    match p {
                        IrPart::Text { text } => word.push(Segment::Text(text.clone())),
                        IrPart::Interp { expr } => {
                            word.extend(self.eval(expr, j, index, call, task, coords).joined(" "))
                        }
                    }
                }
                BValue::Word(word)
            }
            IrExpr::Error => BValue::None,
        }
    }

    /// The command of instance `index` of job `j`.
    pub fn command(&self, j: usize, index: u64) -> Result<InstanceCommand, String> {
        let job = &self.plan.jobs[j];
        let task = self
            .tasks
            .get(job.task.as_str())
            .copied()
            .ok_or_else(|| format!("the task `{}` is missing from the program", job.task))?;
        let call = self
            .calls
            .get(job.key.as_str())
            .copied()
            .ok_or_else(|| format!("the call `{}` is missing from the pipeline", job.key))?;
        let coords = self.plan.coords(job, index);
        let ev = |e: &IrExpr| self.eval(e, j, index, call, task, &coords);
        let mut argv = Vec::new();
        let mut vars = Vec::new();
        let mut secret_vars = Vec::new();
        match &task.command {
            ir::Command::Run { argv: words } => {
                for w in words {
                    if w.expands {
                        if let [IrPart::Interp { expr }] = &w.parts[..] {
                            ev(expr).words(&mut argv);
                        }
                    } else {
                        let mut word = Vec::new();
                        for p in &w.parts {
                            match p {
                                IrPart::Text { text } => word.push(Segment::Text(text.clone())),
                                IrPart::Interp { expr } => word.extend(ev(expr).joined(" ")),
                            }
                        }
                        argv.push(word);
                    }
                }
                if argv.is_empty() {
                    return Err("the command is empty".into());
                }
            }
            ir::Command::Shell { script } => {
                // Values reach the script as variables named after the inputs and outputs,
                // as in a local run; the script text is the task's own.
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
                    let mut word = vec![Segment::Text(format!("{}=", f.name))];
                    word.extend(ev(&e).joined("\n"));
                    vars.push(word);
                }
                for w in ["bash", "-e", "-u", "-o", "pipefail", "-c"] {
                    argv.push(vec![Segment::Text(w.into())]);
                }
                argv.push(vec![Segment::Text(script.clone())]);
                argv.push(vec![Segment::Text("expc-shell".into())]);
            }
            ir::Command::Spark { .. } => {
                return Err("a `spark` task cannot run on a Slurm resource".into());
            }
            ir::Command::None => return Err("the task has no command".into()),
        }
        let env: BTreeMap<&String, &IrExpr> = task.env.vars.iter().collect();
        for (name, e) in env {
            let mut word = vec![Segment::Text(format!("{name}="))];
            match ev(e) {
                BValue::Secret(var) => {
                    secret_vars.push(var.clone());
                    word.push(Segment::Var(var));
                }
                v => word.extend(v.joined(" ")),
            }
            vars.push(word);
        }
        Ok(InstanceCommand {
            argv,
            vars,
            secret_vars,
        })
    }
}
