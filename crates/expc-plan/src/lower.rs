//! Lowering: the typed IR of one pipeline to a plan of jobs, in dependency order.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;

use expc_check::ir::{self, Backend, IrExpr, IrPart};
use expc_check::value::{Value, format_float};
use expc_diagnostics::{Code, Diagnostic, FileId, Span};

use crate::index::ProgramIndex;
use crate::plan::{
    CheckedData, Command, Dep, Env, Job, Loop, Output, Param, Plan, Relation, Resources,
    SCHEMA_VERSION, Totals,
};

/// The outcome of lowering.
#[derive(Debug)]
pub struct Lowered {
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Clone, Debug)]
struct LoopCtx {
    id: u32,
    var: String,
    index: Option<String>,
    sweep: String,
}

struct Site<'p> {
    call: &'p ir::Call,
    loops: Vec<LoopCtx>,
    /// The plan-time conditions around the call, outermost first (`fast is true`).
    when: Vec<String>,
}

/// Lowers `pipeline` of `program` (the file `root` is for diagnostics without a place).
pub fn lower(program: &ir::Program, pipeline: &str, root: FileId) -> Lowered {
    let mut diagnostics = Vec::new();
    let Some(p) = program.pipelines.iter().find(|p| p.id == pipeline) else {
        let names: Vec<&str> = program.pipelines.iter().map(|p| p.id.as_str()).collect();
        let d = Diagnostic::error(
            Code::NO_PIPELINE,
            format!("the experiment has no pipeline `{pipeline}`"),
            Span::new(root, 0, 0),
        );
        diagnostics.push(if names.is_empty() {
            d.with_help("declare one: `pipeline main { … }`")
        } else {
            d.with_help(if names.len() == 1 {
                format!(
                    "the only pipeline is {0}; choose it with `--pipeline {0}`",
                    names[0]
                )
            } else {
                format!(
                    "the pipelines are {}; choose one with `--pipeline NAME`",
                    crate::diff::and_list(&names)
                )
            })
        });
        return Lowered {
            plan: None,
            diagnostics,
        };
    };
    // Params without a value.
    for param in program.params.iter().filter(|p| p.value.is_none()) {
        diagnostics.push(
            Diagnostic::error(
                Code::UNSET_PARAM,
                format!("the param `{}` has no value", param.id),
                param.span,
            )
            .with_primary_message("declared without a default")
            .with_help(format!(
                "give it one with `-p {}=VALUE` or in a `--params` file",
                param.id
            )),
        );
    }
    if !diagnostics.is_empty() {
        return Lowered {
            plan: None,
            diagnostics,
        };
    }

    let sites = sites_of(p);
    let calls: Vec<&ir::Call> = sites.iter().map(|s| s.call).collect();
    let loop_ids: Vec<Vec<u32>> = sites
        .iter()
        .map(|s| s.loops.iter().map(|l| l.id).collect())
        .collect();
    let produced = crate::expansion::producers(&sites_loops(&sites), &calls, program);
    let (order, deps) = match order_calls(&calls, Some(&loop_ids), &produced) {
        Ok(ordered) => ordered,
        Err(cycle) => {
            diagnostics.push(*cycle);
            return Lowered {
                plan: None,
                diagnostics,
            };
        }
    };

    let cx = Cx {
        program,
        index: ProgramIndex::new(program, pipeline),
        task_json: RefCell::default(),
    };
    let mut jobs: Vec<Job> = Vec::with_capacity(sites.len());
    let mut ids: HashMap<String, String> = HashMap::new();
    for &i in &order {
        let site = &sites[i];
        let job = cx.job(site, &deps[i], &sites, &ids);
        ids.insert(job.key.clone(), job.id.clone());
        jobs.push(job);
    }
    let sweeps: BTreeMap<String, ir::Sweep> = program
        .sweeps
        .iter()
        .map(|s| (s.id.clone(), s.clone()))
        .collect();
    let (totals, warnings) = cx.totals(&jobs);
    let mut read = program.artifacts_passed(pipeline);
    for t in &program.tasks {
        read.extend(t.uses.iter().cloned());
    }
    let checked_data = program
        .data
        .iter()
        .filter(|a| read.contains(&a.id))
        .filter_map(|a| match program.shape(&a.ty) {
            expc_check::shape::Shape::Table(t) => Some(CheckedData {
                data: a.id.clone(),
                path: program.artifact_path(a),
                checks: t.describe(),
            }),
            _ => None,
        })
        .collect();
    let plan = Plan {
        schema_version: SCHEMA_VERSION,
        root: program.root.clone(),
        experiment: program.experiment.as_ref().map(|e| e.name.clone()),
        pipeline: pipeline.to_owned(),
        params: program
            .params
            .iter()
            .map(|p| Param {
                id: p.id.clone(),
                value: p.value.clone(),
                source: p.source,
            })
            .collect(),
        profile: program.profile.clone(),
        jobs,
        totals,
        warnings,
        checked_data,
        decisions: crate::decision::decisions_of(&p.body),
        sweeps,
        index: HashMap::new(),
    };
    let mut plan = plan;
    plan.index = plan
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.key.clone(), i))
        .collect();
    Lowered {
        plan: Some(plan),
        diagnostics,
    }
}

fn collect<'p>(
    body: &'p [ir::Stmt],
    loops: &mut Vec<LoopCtx>,
    next: &mut u32,
    out: &mut Vec<Site<'p>>,
) {
    for stmt in body {
        match stmt {
            ir::Stmt::Call(call) => out.push(Site {
                call,
                loops: loops.clone(),
                when: Vec::new(),
            }),
            ir::Stmt::If(d) => {
                let first = out.len();
                collect(&d.body, loops, next, out);
                let when = crate::decision::when(d);
                for site in &mut out[first..] {
                    site.when.insert(0, when.clone());
                }
            }
            ir::Stmt::For {
                var,
                index,
                sweep,
                body,
            } => {
                loops.push(LoopCtx {
                    id: *next,
                    var: var.clone(),
                    index: index.clone(),
                    sweep: sweep.clone(),
                });
                *next += 1;
                collect(body, loops, next, out);
                loops.pop();
            }
        }
    }
}

/// The bindings whose outputs an expression reads.
pub(crate) fn bindings_read(e: &IrExpr, out: &mut Vec<String>) {
    let mut found = Vec::new();
    outputs_read(e, &mut found);
    out.extend(found.into_iter().map(|(b, _)| b.to_owned()));
}

/// The bindings whose outputs an expression reads, and whether gathered.
fn outputs_read<'e>(e: &'e IrExpr, out: &mut Vec<(&'e str, bool)>) {
    match e {
        IrExpr::CallOutput {
            binding, gathered, ..
        } => out.push((binding.as_str(), *gathered)),
        IrExpr::List { items } => items.iter().for_each(|i| outputs_read(i, out)),
        IrExpr::Concat { parts } => parts.iter().for_each(|i| outputs_read(i, out)),
        IrExpr::Template { parts } => parts.iter().for_each(|p| {
            if let IrPart::Interp { expr } = p {
                outputs_read(expr, out);
            }
        }),
        _ => {}
    }
}

/// The sweeps of the loops around each site, outermost first.
fn sites_loops(sites: &[Site<'_>]) -> Vec<Vec<String>> {
    sites
        .iter()
        .map(|s| s.loops.iter().map(|l| l.sweep.clone()).collect())
        .collect()
}

/// Every call of the pipeline, with the loops around it.
fn sites_of(p: &ir::Pipeline) -> Vec<Site<'_>> {
    let mut sites = Vec::new();
    let mut next_loop = 0;
    collect(&p.body, &mut Vec::new(), &mut next_loop, &mut sites);
    sites
}

/// Every call of a pipeline's body, in source order.
pub(crate) fn calls_in(body: &[ir::Stmt]) -> Vec<&ir::Call> {
    let mut out = Vec::new();
    calls_of(body, &mut out);
    out
}

/// Every call of a pipeline's body, in source order, without the loops around them.
fn calls_of<'p>(body: &'p [ir::Stmt], out: &mut Vec<&'p ir::Call>) {
    for stmt in body {
        match stmt {
            ir::Stmt::Call(call) => out.push(call),
            ir::Stmt::For { body, .. } => calls_of(body, out),
            ir::Stmt::If(d) => calls_of(&d.body, out),
        }
    }
}

/// The calls that read each other's outputs in a cycle, in every pipeline of `program`:
/// what `expc check` reports without lowering (which needs every param's value).
pub fn cycles(program: &ir::Program) -> Vec<Diagnostic> {
    program
        .pipelines
        .iter()
        .filter_map(|p| {
            let mut calls = Vec::new();
            calls_of(&p.body, &mut calls);
            order_calls(&calls, None, &[]).err()
        })
        .map(|d| *d)
        .collect()
}

/// An edge of the call graph: the call `from` runs first.
#[derive(Clone, Copy, Debug)]
struct Edge {
    from: usize,
    /// Every instance of `from` comes first (a gather), not only the matching one.
    gathered: bool,
    /// From `after [..]`: an order, with no data read.
    order_only: bool,
}

/// The calls in an order where each comes after those whose outputs it reads and those
/// it is to run `after`, and those edges; a cycle is an error. `loop_ids`, the loops
/// around each call, tell an `after` inside its call's loops from one after them (without
/// them, as for cycles, every `after` waits for all).
#[allow(clippy::type_complexity)]
fn order_calls(
    calls: &[&ir::Call],
    loop_ids: Option<&[Vec<u32>]>,
    produced: &[(usize, usize)],
) -> Result<(Vec<usize>, Vec<Vec<Edge>>), Box<Diagnostic>> {
    let by_binding: foldhash::HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.binding.as_str(), i))
        .collect();

    // What each call reads: the edges of the call graph, for the order and for cycles.
    let mut deps: Vec<Vec<Edge>> = vec![Vec::new(); calls.len()];
    let mut found: Vec<(&str, bool)> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        found.clear();
        for arg in call.args.values() {
            outputs_read(arg, &mut found);
        }
        // A gather over many calls reads as many bindings: each is taken once, read
        // whole if it is read whole anywhere (`false` sorts first).
        found.sort_unstable();
        found.dedup_by_key(|(binding, _)| *binding);
        deps[i].extend(found.iter().filter_map(|(binding, gathered)| {
            by_binding.get(binding).map(|&j| Edge {
                from: j,
                gathered: *gathered,
                order_only: false,
            })
        }));
        // `after [a]`: an order without data, each instance after the matching instance
        // of `a` when inside `a`'s loops, else after all of them. A call it also reads
        // keeps its data edge.
        for binding in &call.after {
            let Some(&j) = by_binding.get(binding.as_str()) else {
                continue;
            };
            if deps[i].iter().any(|e| e.from == j) {
                continue;
            }
            let gathered = loop_ids.is_none_or(|l| !l[i].starts_with(&l[j]));
            deps[i].push(Edge {
                from: j,
                gathered,
                order_only: true,
            });
        }
    }
    // A loop over what a call produces runs after all of that call.
    for &(i, j) in produced {
        if !deps[i].iter().any(|e| e.from == j) {
            deps[i].push(Edge {
                from: j,
                gathered: true,
                order_only: false,
            });
        }
    }
    match stable_topo(calls.len(), &deps) {
        Ok(order) => Ok((order, deps)),
        Err(cycle) => Err(Box::new(cycle_diagnostic(calls, &deps, cycle))),
    }
}

/// A cycle of calls, as an error that names each and what it reads.
fn cycle_diagnostic(calls: &[&ir::Call], deps: &[Vec<Edge>], mut cycle: Vec<usize>) -> Diagnostic {
    // Start at the call written first.
    if let Some(pos) = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, i)| **i)
        .map(|(p, _)| p)
    {
        cycle.rotate_left(pos);
    }
    let names: Vec<String> = cycle
        .iter()
        .map(|i| format!("`{}`", calls[*i].binding))
        .collect();
    let first = &calls[cycle[0]];
    let order_only = |i: usize, from: usize| deps[i].iter().any(|e| e.from == from && e.order_only);
    let any_after = (0..cycle.len()).any(|k| order_only(cycle[(k + 1) % cycle.len()], cycle[k]));
    let mut d = Diagnostic::error(
        Code::DEPENDENCY_CYCLE,
        format!(
            "the calls {} → {} {}: none can run first",
            names.join(" → "),
            names[0],
            if any_after {
                "wait for each other (reading outputs or by `after`)"
            } else {
                "read each other's outputs"
            }
        ),
        first.span,
    )
    .with_primary_message(format!("`{}` is here", first.binding));
    for (k, i) in cycle.iter().enumerate().skip(1) {
        let prev = cycle[k - 1];
        let verb = if order_only(*i, prev) {
            "runs after"
        } else {
            "reads"
        };
        d = d.with_label(
            calls[*i].span,
            format!("`{}` {verb} `{}`", calls[*i].binding, calls[prev].binding),
        );
    }
    d.with_help(if any_after {
        "break the cycle: remove one of these calls' `after` or one of the outputs it reads"
    } else {
        "break the cycle: one of these calls must not read the others' outputs"
    })
}

/// Kahn's algorithm, taking ready calls in source order, so the order is stable; on a
/// cycle, returns the calls of one cycle in dependency order.
fn stable_topo(n: usize, deps: &[Vec<Edge>]) -> Result<Vec<usize>, Vec<usize>> {
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for e in ds {
            dependents[e.from].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|i| remaining[*i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            remaining[j] -= 1;
            if remaining[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk back along unresolved dependencies from any call left until one repeats.
    let start = (0..n).find(|i| remaining[*i] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    loop {
        let Some(next) = deps[current]
            .iter()
            .map(|e| e.from)
            .find(|d| remaining[*d] > 0)
        else {
            return Err(path);
        };
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            return Err(cycle);
        }
        path.push(next);
        current = next;
    }
}

/// `x`, or `x.a.b` for fields of a loop's element.
fn element(var: &str, fields: &[String]) -> String {
    let mut out = var.to_owned();
    for f in fields {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Lookups into the program.
struct Cx<'p> {
    program: &'p ir::Program,
    index: ProgramIndex<'p>,
    /// Each task's part of its calls' ids, made once per task (see [`TaskJson`]).
    task_json: RefCell<foldhash::HashMap<&'p str, Rc<TaskJson>>>,
}

/// The JSON of what a task contributes to the id of each of its calls, around the
/// environment, which depends on the call: `[inputs,outputs,` and `,command,module,name]`.
/// With the call's environment between them, these are the bytes of
/// `serde_json::to_vec(&(inputs, outputs, env, command, module, name))`, which ids have
/// always hashed; made once per task instead of once per call.
struct TaskJson {
    /// A hasher that has read `[inputs,outputs,`: each call's id starts from a copy of it.
    hashed_before_env: blake3::Hasher,
    after_env: Vec<u8>,
}

impl TaskJson {
    fn of(task: &ir::Task, module: &str) -> TaskJson {
        let mut before_env = serde_json::to_vec(&(&task.inputs, &task.outputs)).unwrap_or_default();
        // `[inputs,outputs]` → `[inputs,outputs,`
        before_env.pop();
        before_env.push(b',');
        let mut after_env =
            serde_json::to_vec(&(&task.command, module, &task.name)).unwrap_or_default();
        // `[command,module,name]` → `,command,module,name]`
        if let Some(open) = after_env.first_mut() {
            *open = b',';
        }
        let mut hashed_before_env = blake3::Hasher::new();
        hashed_before_env.update(&before_env);
        TaskJson {
            hashed_before_env,
            after_env,
        }
    }
}

impl Cx<'_> {
    /// Whether `id` is a file set (`glob(…)`).
    fn is_set(&self, id: &str) -> bool {
        self.index.artifact(id).is_some_and(|a| a.glob.is_some())
    }

    /// The path of a declared artifact, relative to the root file's folder.
    fn artifact_path(&self, id: &str) -> String {
        self.index
            .artifact_path(id)
            .unwrap_or_else(|| format!("{{{id}}}"))
    }

    /// A value as words, declared artifacts (a file of a set) by their paths.
    fn value_words(&self, v: &Value) -> Vec<String> {
        match v {
            Value::Artifact(id) if self.index.artifact(id).is_some() => {
                vec![self.artifact_path(id)]
            }
            Value::List(items) => items.iter().flat_map(|i| self.value_words(i)).collect(),
            v => text(v),
        }
    }

    /// An expression as the words it becomes (a list gives several).
    fn words(&self, e: &IrExpr, call: &ir::Call, task: &ir::Task) -> Vec<String> {
        match e {
            IrExpr::Value { value } => self.value_words(value),
            IrExpr::Param { id } => self
                .index
                .param_value(id)
                .map_or_else(|| vec![format!("{{{id}}}")], text),
            IrExpr::Artifact { id } if self.is_set(id) => self
                .index
                .members(id)
                .map(|m| self.artifact_path(&m.id))
                .collect(),
            IrExpr::Artifact { id } => vec![self.artifact_path(id)],
            IrExpr::Secret { id } => vec![format!("secret({id})")],
            IrExpr::Input { name } => match call.args.get(name) {
                Some(arg) => self.words(arg, call, task),
                None => vec![format!("{{{name}}}")],
            },
            IrExpr::Output { name } => {
                let path = task
                    .outputs
                    .iter()
                    .find(|o| &o.name == name)
                    .and_then(|o| o.default.as_ref())
                    .and_then(Value::as_str)
                    .unwrap_or(name);
                vec![format!("{{out}}/{path}")]
            }
            IrExpr::Point { var, axis } => vec![format!("{{{var}.{axis}}}")],
            IrExpr::Element { var, fields } => vec![format!("{{{}}}", element(var, fields))],
            IrExpr::LoopIndex { name, .. } => vec![format!("{{{name}}}")],
            IrExpr::Resource { name } => vec![format!("{{resources.{name}}}")],
            IrExpr::CallOutput {
                binding,
                output,
                gathered,
            } => vec![if *gathered {
                format!("{{{binding}.{output}…}}")
            } else {
                format!("{{{binding}.{output}}}")
            }],
            IrExpr::List { items } | IrExpr::Concat { parts: items } => items
                .iter()
                .flat_map(|i| self.words(i, call, task))
                .collect(),
            IrExpr::Template { parts } => vec![
                parts
                    .iter()
                    .map(|p| match p {
                        IrPart::Text { text } => text.clone(),
                        IrPart::Interp { expr } => self.words(expr, call, task).join(" "),
                    })
                    .collect(),
            ],
            IrExpr::Config { format, text } => vec![format!(
                "{{out}}/{}",
                crate::command::config_file_name(format, text)
            )],
            IrExpr::Error => vec!["{?}".to_owned()],
        }
    }

    /// The job of the call at `site`, reading the jobs at `deps` (positions in `sites`;
    /// `true` when it gathers every instance), whose ids are in `ids`.
    fn job(
        &self,
        site: &Site<'_>,
        deps: &[Edge],
        sites: &[Site<'_>],
        ids: &HashMap<String, String>,
    ) -> Job {
        let call = site.call;
        let task = self.index.task(&call.task);
        let resource = call.on.as_deref().and_then(|r| self.index.resource(r));
        let backend = resource.and_then(|r| r.backend).unwrap_or(Backend::Local);
        // Made only for a call of an unknown task: building it for every call cost as
        // much as the rest of its lookups.
        let empty_task;
        let task = match task {
            Some(t) => t,
            None => {
                empty_task = self::empty_task(call);
                &empty_task
            }
        };
        let inputs: BTreeMap<String, String> = call
            .args
            .iter()
            .map(|(name, e)| (name.clone(), self.describe(e)))
            .collect();
        let outputs = task
            .outputs
            .iter()
            .map(|o| Output {
                name: o.name.clone(),
                ty: o.ty.clone(),
                path: o
                    .default
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or(&o.name)
                    .to_owned(),
                checked: match self.program.shape(&o.ty) {
                    expc_check::shape::Shape::Table(t) => Some(t.describe()),
                    _ => None,
                },
            })
            .collect();
        let command = self.command(call, task);
        let fields = match resource.and_then(|r| r.fields.as_ref()) {
            Some(Value::Record(_, f)) => f.clone(),
            _ => BTreeMap::new(),
        };
        let resources = job_resources(task, backend, &fields);
        let env = self.env(call, task, &fields);
        let loops = self.loops(site);
        let known_after = crate::expansion::known_after(&loops);
        let instances = loops
            .iter()
            .fold(1u64, |acc, l| acc.saturating_mul(l.points));
        let after: Vec<Dep> = deps
            .iter()
            .map(|e| Dep {
                job: sites[e.from].call.binding.clone(),
                relation: if e.gathered {
                    Relation::All
                } else {
                    Relation::Each
                },
                order_only: e.order_only,
            })
            .collect();
        let id = self.job_id(site, task, &inputs, &env, &after, ids);
        let id = with_resources_read(id, task, &resources);
        let mut placement = BTreeMap::new();
        for (k, v) in &fields {
            if !matches!(v, Value::None) && !matches!(v, Value::List(l) if l.is_empty()) {
                placement.insert(k.clone(), v.clone());
            }
        }
        Job {
            key: call.binding.clone(),
            id,
            task: call.task.clone(),
            doc: task.doc.clone(),
            on: call.on.clone().unwrap_or_default(),
            backend,
            loops,
            instances,
            inputs,
            outputs,
            command,
            resources,
            env,
            retry: task.retry.clone(),
            cache: task.cache,
            after,
            moved_from: call.moved_from.clone(),
            when: site.when.clone(),
            known_after,
            placement,
        }
    }

    /// The command `call` runs: `task`'s with the call's arguments as words.
    fn command(&self, call: &ir::Call, task: &ir::Task) -> Command {
        match &task.command {
            ir::Command::Run { argv } => Command::Run {
                argv: argv
                    .iter()
                    .flat_map(|w| {
                        if w.expands {
                            match &w.parts[..] {
                                [IrPart::Interp { expr }] => self.words(expr, call, task),
                                _ => Vec::new(),
                            }
                        } else {
                            vec![
                                w.parts
                                    .iter()
                                    .map(|p| match p {
                                        IrPart::Text { text } => text.clone(),
                                        IrPart::Interp { expr } => {
                                            self.words(expr, call, task).join(" ")
                                        }
                                    })
                                    .collect(),
                            ]
                        }
                    })
                    .collect(),
            },
            ir::Command::Shell { script, .. } => Command::Shell {
                script: script.clone(),
            },
            ir::Command::Spark {
                app,
                args,
                settings,
            } => Command::Spark {
                app: self.words(app, call, task).join(" "),
                args: args
                    .iter()
                    .flat_map(|a| self.words(a, call, task))
                    .collect(),
                settings: settings.clone(),
            },
            ir::Command::None => Command::None,
        }
    }

    /// The job's environment: `task`'s, with the image, modules and conda environment of
    /// the resource (its `fields`) where the task sets none (modules: the resource's
    /// first).
    fn env(&self, call: &ir::Call, task: &ir::Task, fields: &BTreeMap<String, Value>) -> Env {
        let from_resource = |k: &str| fields.get(k).filter(|v| **v != Value::None).cloned();
        Env {
            image: task
                .env
                .image
                .clone()
                .or_else(|| from_resource("image").and_then(|v| v.as_str().map(str::to_owned))),
            modules: {
                let mut m: Vec<String> = from_resource("modules")
                    .and_then(|v| {
                        v.as_list().map(|l| {
                            l.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                    })
                    .unwrap_or_default();
                m.extend(task.env.modules.iter().cloned());
                m
            },
            conda: task
                .env
                .conda
                .clone()
                .or_else(|| from_resource("conda").and_then(|v| self.program.path_value(&v))),
            vars: task
                .env
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), self.words(v, call, task).join(" ")))
                .collect(),
        }
    }

    /// The loops around the call at `site`, with their sweeps' strategy, points and axes.
    fn loops(&self, site: &Site<'_>) -> Vec<Loop> {
        site.loops
            .iter()
            .map(|l| {
                let s = self.index.sweep(&l.sweep);
                Loop {
                    id: l.id,
                    var: l.var.clone(),
                    index: l.index.clone(),
                    sweep: l.sweep.clone(),
                    strategy: s.map_or(ir::Strategy::Product, |s| s.strategy),
                    points: s.and_then(|s| s.points).unwrap_or(0),
                    axes: s
                        .map(|s| s.axes.iter().map(|a| a.name.clone()).collect())
                        .unwrap_or_default(),
                    seed: s.and_then(|s| s.seed),
                }
            })
            .collect()
    }

    /// The job's id: a digest of what determines its results — the task (not the root
    /// file's name), the call's arguments, the values of what the task uses by name, the
    /// sweeps around it and the ids of the jobs it reads (`after`, looked up in `ids`).
    /// `inputs` are the call's arguments as [`Cx::describe`] gives them.
    fn job_id(
        &self,
        site: &Site<'_>,
        task: &ir::Task,
        inputs: &BTreeMap<String, String>,
        env: &Env,
        after: &[Dep],
        ids: &HashMap<String, String>,
    ) -> String {
        let task_json = self.task_json(task);
        let mut h = task_json.hashed_before_env.clone();
        h.update(&serde_json::to_vec(env).unwrap_or_default());
        h.update(&task_json.after_env);
        for (name, described) in inputs {
            h.update(name.as_bytes());
            h.update(b"=");
            h.update(described.as_bytes());
            h.update(b"\0");
        }
        // What the task uses by name enters by value: renaming a param changes nothing.
        for used in &task.uses {
            if let Some(p) = self.index.param(used) {
                h.update(
                    p.value
                        .as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                        .as_bytes(),
                );
            } else if let Some(a) = self.index.artifact(used) {
                h.update(self.artifact_path(used).as_bytes());
                h.update(
                    a.entries
                        .get("digest")
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                        .as_bytes(),
                );
            }
            h.update(b"\0");
        }
        for l in &site.loops {
            if let Some(s) = self.index.sweep(&l.sweep) {
                // A loop over a list enters by its element type only: each instance's id
                // adds its element, so a file added to a set renames no other instance. So
                // does a sample sheet, by its columns: a row added renames no other.
                if matches!(s.strategy, ir::Strategy::List | ir::Strategy::Rows) {
                    h.update(if s.strategy == ir::Strategy::Rows {
                        b"rows:"
                    } else {
                        b"list:"
                    });
                    for a in &s.axes {
                        h.update(a.name.as_bytes());
                        h.update(a.ty.as_bytes());
                    }
                    h.update(if l.index.is_some() { b"#" } else { b";" });
                    continue;
                }
                h.update(
                    serde_json::to_string(
                        &s.axes
                            .iter()
                            .map(|a| (&a.name, &a.values))
                            .collect::<Vec<_>>(),
                    )
                    .unwrap_or_default()
                    .as_bytes(),
                );
                h.update(format!("{:?}{:?}{:?}", s.strategy, s.seed, s.samples).as_bytes());
            }
        }
        // An order without data (`after`) changes no result.
        for d in after.iter().filter(|d| !d.order_only) {
            h.update(d.job.as_bytes());
            h.update(ids.get(&d.job).map_or(&b""[..], |s| s.as_bytes()));
        }
        h.finalize().to_hex()[..16].to_owned()
    }

    /// The JSON of `task`'s part of its calls' ids, made at its first call. A task no
    /// program declares (a call of an unknown one) is not kept.
    fn task_json(&self, task: &ir::Task) -> Rc<TaskJson> {
        // The root file's name is not part of a task's identity: renaming or moving the
        // spec changes no result.
        let module = if task.module == self.program.root {
            ""
        } else {
            task.module.as_str()
        };
        let Some(declared) = self.index.task(&task.id) else {
            return Rc::new(TaskJson::of(task, module));
        };
        self.task_json
            .borrow_mut()
            .entry(declared.id.as_str())
            .or_insert_with(|| Rc::new(TaskJson::of(declared, module)))
            .clone()
    }

    /// An argument as a reviewer reads it.
    fn describe(&self, e: &IrExpr) -> String {
        match e {
            IrExpr::Value { value } => value.to_string(),
            IrExpr::Param { id } => match self.index.param(id).and_then(|p| p.value.as_ref()) {
                Some(v) => format!("{v} (param {id})"),
                None => format!("param {id}"),
            },
            IrExpr::Artifact { id } if self.is_set(id) => {
                let pattern = self
                    .index
                    .artifact(id)
                    .and_then(|a| a.glob.as_ref())
                    .map_or("", |g| g.pattern.as_str());
                let n = self.index.members(id).count();
                let chosen = self
                    .index
                    .artifact(id)
                    .and_then(|a| a.entries.get("selected_by"))
                    .and_then(Value::as_str);
                match chosen {
                    // A model list from the registry: the call and what it chose.
                    Some(chosen) => format!("{id} ({chosen})"),
                    None => format!(
                        "{id} (glob \"{pattern}\", {n} file{})",
                        if n == 1 { "" } else { "s" }
                    ),
                }
            }
            IrExpr::Artifact { id } => {
                let digest = self
                    .index
                    .artifact(id)
                    .and_then(|a| a.entries.get("digest"))
                    .and_then(Value::as_str)
                    .map(|d| format!(", {}…", &d[..d.len().min(19)]))
                    .unwrap_or_default();
                let path = self.artifact_path(id);
                let chosen = self
                    .index
                    .artifact(id)
                    .and_then(|a| a.entries.get("selected_by"))
                    .and_then(Value::as_str);
                // A URL is fetched by the run: the plan says so, rather than show it as a path.
                let remote = if expc_check::remote_url::is_remote(&path) {
                    "remote "
                } else {
                    ""
                };
                match chosen {
                    // A model from the registry: how it was chosen, pinned by its digest.
                    Some(chosen) => format!("{id} ({chosen}{digest})"),
                    None => format!("{id} ({remote}{path}{digest})"),
                }
            }
            IrExpr::Secret { id } => format!("secret({id})"),
            IrExpr::Input { name } => name.clone(),
            IrExpr::Output { name } => format!("output {name}"),
            IrExpr::Point { var, axis } => format!("{var}.{axis}"),
            IrExpr::Element { var, fields } => element(var, fields),
            IrExpr::LoopIndex { var, name } => format!("{name} (the position of {var})"),
            IrExpr::Resource { name } => format!("resources.{name}"),
            IrExpr::CallOutput {
                binding,
                output,
                gathered,
            } => {
                if *gathered {
                    format!("{binding}.{output} (gathered)")
                } else {
                    format!("{binding}.{output}")
                }
            }
            IrExpr::List { items } => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| self.describe(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            IrExpr::Concat { parts } => parts
                .iter()
                .map(|i| self.describe(i))
                .collect::<Vec<_>>()
                .join(" + "),
            IrExpr::Template { parts } => parts
                .iter()
                .map(|p| match p {
                    IrPart::Text { text } => text.clone(),
                    IrPart::Interp { expr } => format!("${{{}}}", self.describe(expr)),
                })
                .collect(),
            IrExpr::Config { format, .. } => format!("{format}(…)"),
            IrExpr::Error => "?".to_owned(),
        }
    }

    fn totals(&self, jobs: &[Job]) -> (Vec<Totals>, Vec<String>) {
        let mut by: BTreeMap<String, Totals> = BTreeMap::new();
        let mut warnings = Vec::new();
        for job in jobs {
            let name = backend_name(job.backend).to_owned();
            let t = by.entry(name.clone()).or_insert_with(|| Totals {
                backend: name,
                ..Totals::default()
            });
            t.jobs += 1;
            t.instances += job.instances;
            let limits = self.index.limits(&job.on);
            if job.backend == Backend::Slurm && !job.loops.is_empty() {
                let max = limits
                    .get("max_array_size")
                    .and_then(Value::as_int)
                    .filter(|m| *m > 0)
                    .unwrap_or(1001) as u64;
                let arrays = job.instances.div_ceil(max);
                t.arrays += arrays;
                if arrays > 1 {
                    warnings.push(format!(
                        "`{}` has {} instances, more than `{}`'s max_array_size of {max}: it is split into {arrays} job arrays",
                        job.key, job.instances, job.on
                    ));
                }
            }
            if let Some(max_jobs) = limits.get("max_jobs").and_then(Value::as_int) {
                if job.instances > max_jobs as u64 {
                    warnings.push(format!(
                        "`{}` has {} instances, more than `{}` allows queued at once (max_jobs = {max_jobs}): the engine will hold the rest back",
                        job.key, job.instances, job.on
                    ));
                }
            }
            match job.resources.time_ms {
                Some(ms) => {
                    let hours = ms as f64 / 3_600_000.0 * job.instances as f64;
                    t.cpu_hours += hours * job.resources.cpus;
                    t.gpu_hours += hours * job.resources.gpus as f64;
                }
                None => t.instances_without_time += job.instances,
            }
            if let Some(m) = job.resources.mem_bytes {
                t.max_mem_bytes = Some(t.max_mem_bytes.map_or(m, |x: u64| x.max(m)));
            }
            if job.instances == 0 && job.known_after.is_none() {
                warnings.push(format!(
                    "`{}` has no instances: its sweep is empty",
                    job.key
                ));
            }
        }
        (by.into_values().collect(), warnings)
    }
}

/// The task a call of an unknown task runs: nothing, with no inputs or outputs.
fn empty_task(call: &ir::Call) -> ir::Task {
    ir::Task {
        id: call.task.clone(),
        name: call.task.clone(),
        module: String::new(),
        doc: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
        resources: BTreeMap::new(),
        env: ir::Env::default(),
        command: ir::Command::None,
        retry: ir::Retry::default(),
        cache: true,
        evaluates: None,
        uses: Vec::new(),
    }
}

/// The job's CPUs, memory, wall time and GPUs: `task`'s, and on Slurm the resource's
/// (its `fields`) per-node figures where the task sets none.
fn job_resources(task: &ir::Task, backend: Backend, fields: &BTreeMap<String, Value>) -> Resources {
    let from_resource = |k: &str| fields.get(k).filter(|v| **v != Value::None).cloned();
    let cpus = task
        .resources
        .get("cpus")
        .and_then(Value::as_f64)
        .or_else(|| {
            (backend == Backend::Slurm)
                .then(|| from_resource("cpus_per_node"))
                .flatten()
                .and_then(|v| v.as_f64())
        })
        .unwrap_or(1.0);
    let mem_bytes = match task.resources.get("mem").cloned().or_else(|| {
        (backend == Backend::Slurm)
            .then(|| from_resource("mem_per_node"))
            .flatten()
    }) {
        Some(Value::Memory(b)) => Some(b),
        _ => None,
    };
    let time_ms = match task.resources.get("time") {
        Some(Value::Duration(ms)) => Some(*ms),
        _ => None,
    };
    let gpus = task
        .resources
        .get("gpus")
        .and_then(Value::as_int)
        .or_else(|| {
            (backend == Backend::Slurm)
                .then(|| from_resource("gpus"))
                .flatten()
                .and_then(|v| v.as_int())
        })
        .unwrap_or(0);
    Resources {
        cpus,
        mem_bytes,
        time_ms,
        gpus,
        nodes: task.resources.get("nodes").and_then(Value::as_int),
        tasks: task.resources.get("tasks").and_then(Value::as_int),
    }
}

pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Local => "local",
        Backend::Slurm => "slurm",
        Backend::Kubernetes => "kubernetes",
        Backend::Spark => "spark",
    }
}

/// The text a value becomes as argv words.
pub fn text(v: &Value) -> Vec<String> {
    match v {
        Value::Int(i) => vec![i.to_string()],
        Value::Float(f) => vec![format_float(*f)],
        Value::Bool(b) => vec![b.to_string()],
        Value::Str(s) => vec![s.clone()],
        Value::Memory(b) => vec![b.to_string()],
        Value::Duration(ms) => vec![if ms % 1000 == 0 {
            (ms / 1000).to_string()
        } else {
            format_float(*ms as f64 / 1000.0)
        }],
        Value::Enum(e) => vec![e.clone()],
        Value::List(items) => items.iter().flat_map(text).collect(),
        Value::None => Vec::new(),
        Value::Artifact(id) => vec![format!("{{{id}}}")],
        other => vec![other.to_string()],
    }
}

/// A job's id, with the values of the resources its command reads (`${resources.cpus}`):
/// those change its result, unlike the resources it is only given.
fn with_resources_read(id: String, task: &ir::Task, resources: &Resources) -> String {
    let read = crate::command::resources_read(task);
    if read.is_empty() {
        return id;
    }
    let mut h = blake3::Hasher::new();
    h.update(id.as_bytes());
    for name in read {
        h.update(name.as_bytes());
        h.update(b"=");
        h.update(resource_value(resources, name).to_string().as_bytes());
        h.update(b"\0");
    }
    h.finalize().to_hex()[..16].to_owned()
}

/// The value of `resources.NAME` for a job given `resources`.
pub fn resource_value(resources: &Resources, name: &str) -> Value {
    match name {
        "cpus" if resources.cpus.fract() == 0.0 => Value::Int(resources.cpus as i64),
        "cpus" => Value::Float(resources.cpus),
        "mem" => resources.mem_bytes.map_or(Value::None, Value::Memory),
        "time" => resources.time_ms.map_or(Value::None, Value::Duration),
        "gpus" => Value::Int(resources.gpus),
        _ => Value::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_hashed_json_around_an_env_hashes_as_the_whole_tuple() {
        // Ids hash these bytes: the pieces made once per task must give exactly them.
        let task = ir::Task {
            id: "m.train".into(),
            name: "train".into(),
            module: "lib/m.exp".into(),
            doc: Some("a \"doc\"".into()),
            inputs: Vec::new(),
            outputs: Vec::new(),
            resources: BTreeMap::new(),
            env: ir::Env::default(),
            command: ir::Command::Shell {
                script: "echo \"$x\"".into(),
                exports: BTreeMap::new(),
            },
            retry: ir::Retry::default(),
            cache: true,
            evaluates: None,
            uses: Vec::new(),
        };
        let env = Env {
            image: Some("img:1".into()),
            modules: vec!["python/3.11".into()],
            conda: None,
            vars: BTreeMap::from([("X".to_owned(), "1 2".to_owned())]),
        };
        let pieces = TaskJson::of(&task, "lib/m.exp");
        let mut h = pieces.hashed_before_env.clone();
        h.update(&serde_json::to_vec(&env).unwrap());
        h.update(&pieces.after_env);
        let whole = serde_json::to_vec(&(
            &task.inputs,
            &task.outputs,
            &env,
            &task.command,
            "lib/m.exp",
            &task.name,
        ))
        .unwrap();
        assert!(whole.ends_with(&pieces.after_env));
        assert_eq!(h.finalize(), blake3::hash(&whole));
    }
}
