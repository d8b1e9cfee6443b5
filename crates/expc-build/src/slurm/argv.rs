//! One instance's command as a generated script writes it: argv words and environment
//! variables made of literal text and of the script's run-time directories.
//!
//! The command is evaluated by [`expc_plan::command`], the one evaluator `expc run` uses
//! too; this file only says what a script writes for each place: data and models are
//! `${spec_dir}/PATH` (an absolute path as it is), the instance's own outputs
//! `${work}/FILE`, the outputs of upstream instances `${run_dir}/JOB/INDEX/FILE`, and a
//! secret the variable it is read from. Nothing is evaluated by a shell: each word is
//! written with [`crate::quote::quote_word`].

use expc_check::ir;
use expc_plan::command::{
    CommandKind, Evaluator, InstanceCommand, Piece, Place, VariableKind, Word,
};
use expc_plan::plan::Plan;

use crate::quote::Segment;

/// What an instance runs.
#[derive(Clone, Debug)]
pub struct ScriptCommand {
    pub argv: Vec<Vec<Segment>>,
    /// `NAME=value` words for `export`.
    pub vars: Vec<Vec<Segment>>,
    /// Environment variables the job needs from the submitting shell (secrets).
    pub secret_vars: Vec<String>,
    /// Files the script writes in the work directory before the command runs
    /// (`${json(…)}`, `${yaml(…)}`): name and text.
    pub configs: Vec<(String, String)>,
}

/// The name of a job's directories and files: its key with `#` (of `task#2`) as `-`.
pub fn job_dir(key: &str) -> String {
    key.replace('#', "-")
}

/// The commands of a plan's instances as scripts write them.
#[derive(Debug)]
pub struct ScriptCommands<'a> {
    evaluator: Evaluator<'a>,
    /// Whether the scripts submit Spark applications: a command is then the application
    /// and its arguments, which `spark-submit` and its options precede.
    spark: bool,
}

impl<'a> ScriptCommands<'a> {
    /// The commands of `run` and `shell` tasks (Slurm jobs, Kubernetes Jobs).
    pub fn new(program: &'a ir::Program, plan: &'a Plan) -> Self {
        ScriptCommands {
            evaluator: Evaluator::new(program, plan),
            spark: false,
        }
    }

    /// The applications of `spark` tasks.
    pub fn for_spark(program: &'a ir::Program, plan: &'a Plan) -> Self {
        ScriptCommands {
            evaluator: Evaluator::new(program, plan),
            spark: true,
        }
    }

    /// The program's items by id.
    pub fn index(&self) -> &expc_plan::ProgramIndex<'a> {
        self.evaluator.index()
    }

    /// The declared outputs of job `j`: name and file.
    pub fn outputs(&self, j: usize) -> Vec<(String, String)> {
        self.evaluator
            .outputs(j)
            .into_iter()
            .map(|o| (o.name, o.file))
            .collect()
    }

    /// The command of instance `index` of job `j`: a `run` or `shell` task's argv, or
    /// for Spark scripts a `spark` task's application and arguments.
    pub fn command(&self, j: usize, index: u64) -> Result<ScriptCommand, String> {
        let cmd = self.evaluator.command(j, index)?;
        if let Some(o) = cmd.outputs.iter().find(|o| o.stdout) {
            return Err(format!(
                "its output `{}` is the command's standard output (`= stdout`), which job scripts do not capture yet: run it with `expc run`, or have the command write the file itself",
                o.name
            ));
        }
        match (&cmd.kind, self.spark) {
            (CommandKind::Spark { .. }, false) => {
                Err("a `spark` task cannot run on a Slurm resource".into())
            }
            (CommandKind::Run | CommandKind::Shell { .. }, true) => {
                Err("the task runs no Spark application".into())
            }
            _ => Ok(self.script_command(&cmd)),
        }
    }

    fn script_command(&self, cmd: &InstanceCommand<'_>) -> ScriptCommand {
        let plan = self.evaluator.plan();
        let argv = cmd.words().iter().map(|w| segments(plan, w)).collect();
        let mut vars = Vec::new();
        let mut secret_vars = Vec::new();
        for v in &cmd.variables {
            let mut word = vec![Segment::Text(format!("{}=", v.name))];
            match v.value.as_secret().filter(|_| v.kind == VariableKind::Env) {
                Some((_, var)) => {
                    secret_vars.push(var.to_owned());
                    word.push(Segment::Var(var.to_owned()));
                }
                None => word.extend(segments(plan, &v.value.joined(v.separator()))),
            }
            vars.push(word);
        }
        ScriptCommand {
            argv,
            vars,
            secret_vars,
            configs: cmd
                .configs()
                .into_iter()
                .map(|(f, t)| (f.to_owned(), t.to_owned()))
                .collect(),
        }
    }
}

/// A word as script segments: text, and the script's variables for places.
fn segments(plan: &Plan, word: &Word) -> Vec<Segment> {
    let mut out = Vec::new();
    for piece in &word.0 {
        match piece {
            Piece::Text(t) => out.push(Segment::Text(t.clone())),
            Piece::Place(p) | Piece::Path(p) => place(plan, p, &mut out),
        }
    }
    out
}

fn place(plan: &Plan, place: &Place, out: &mut Vec<Segment>) {
    match place {
        Place::Data { path, .. } if path.starts_with('/') => out.push(Segment::Text(path.clone())),
        Place::Data { path, .. } => {
            out.push(Segment::Var("spec_dir".into()));
            out.push(Segment::Text(format!("/{path}")));
        }
        Place::Output { file, .. } => {
            out.push(Segment::Var("work".into()));
            out.push(Segment::Text(format!("/{file}")));
        }
        Place::Upstream {
            job, index, file, ..
        } => {
            out.push(Segment::Var("run_dir".into()));
            out.push(Segment::Text(format!(
                "/{}/{index}/{file}",
                job_dir(&plan.jobs[*job].key)
            )));
        }
        Place::Secret { var, .. } => out.push(Segment::Var(var.clone())),
        // Written there by the script first (see `crate::cases`).
        Place::Config { file, .. } => {
            out.push(Segment::Var("work".into()));
            out.push(Segment::Text(format!("/{file}")));
        }
    }
}
