//! `expc run` of a plan with loops over what a call produces (`for part in s.parts`):
//! first the part of the plan that does not wait for such a loop is run (it makes the
//! lists), then each list is read from the producer's outputs, the loops over it are
//! planned with one instance per file, and what is left runs with the rest cached.

use std::collections::HashSet;
use std::io::Write;

use expc_check::ir::Program;
use expc_diagnostics::FileId;
use expc_plan::Plan;
use expc_plan::dag::Dag;
use expc_plan::expansion::{self, KnownAfter};
use expc_run::{Event, RunOptions, Sink};
use miette::miette;

use crate::cli::RunArgs;

/// How many times lists are expanded, one level of loops over produced lists each.
const MAX_ROUNDS: usize = 16;

/// What to run once every produced list is known: the program, the plan, its DAG, and
/// the instances the first part of the run already showed.
pub(super) type Expanded = (Program, Plan, Dag, HashSet<String>);

/// The program, plan and DAG to run, with every loop over a produced list expanded;
/// `None` when running what makes the lists failed (reported here).
pub(super) fn produced_lists(
    program: Program,
    plan: Plan,
    dag: Dag,
    args: &RunArgs,
    opts: &RunOptions,
) -> miette::Result<Option<Expanded>> {
    let mut shown = HashSet::new();
    if expansion::unexpanded(&program, &plan).is_empty() {
        return Ok(Some((program, plan, dag, shown)));
    }
    drop(dag);
    let (mut program, mut plan) = (program, plan);
    for _ in 0..MAX_ROUNDS {
        let lists = expansion::unexpanded(&program, &plan);
        if lists.is_empty() {
            let dag = expc_plan::dag::build(&plan);
            return Ok(Some((program, plan, dag, shown)));
        }
        match run_head(&program, &plan, &lists, args, opts)? {
            Some(ran) => shown.extend(ran),
            None => return Ok(None),
        }
        for list in &lists {
            let (element, files) = produced_files(&program, &plan, list, &opts.state_dir)?;
            say_expanded(&plan, list, files.len(), args.json);
            expansion::expand(&mut program, &list.list, &element, &files);
        }
        plan = lower(&program, &plan.pipeline)?;
    }
    Err(miette!(
        help = "nothing more was run",
        "loops over produced lists nest more than {MAX_ROUNDS} deep"
    ))
}

/// For `expc why`: the program and plan with each produced list expanded to the files its
/// producer stored when it last ran, where it has; and the lists that could not be.
pub(super) fn as_last_stored(
    program: Program,
    plan: Plan,
    state_dir: &std::path::Path,
) -> (Program, Plan, Vec<KnownAfter>) {
    let (mut program, mut plan) = (program, plan);
    for _ in 0..MAX_ROUNDS {
        let lists = expansion::unexpanded(&program, &plan);
        let mut expanded = program.clone();
        let mut any = false;
        for list in &lists {
            if let Ok((element, files)) = produced_files(&program, &plan, list, state_dir) {
                expansion::expand(&mut expanded, &list.list, &element, &files);
                any = true;
            }
        }
        if !any {
            return (program, plan, lists);
        }
        match lower(&expanded, &plan.pipeline) {
            Ok(p) => (program, plan) = (expanded, p),
            Err(_) => return (program, plan, lists),
        }
    }
    let left = expansion::unexpanded(&program, &plan);
    (program, plan, left)
}

fn lower(program: &Program, pipeline: &str) -> miette::Result<Plan> {
    let lowered = expc_plan::lower(program, pipeline, FileId(0));
    lowered.plan.ok_or_else(|| {
        let why: Vec<String> = lowered
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        miette!(
            help = "the calls that make the lists ran; nothing after them did",
            "the plan with the produced lists expanded is not valid: {}",
            why.join("; ")
        )
    })
}

/// Runs what does not wait for a produced list: the names of its instances when every one
/// succeeded, `None` (reported) otherwise.
fn run_head(
    program: &Program,
    plan: &Plan,
    lists: &[KnownAfter],
    args: &RunArgs,
    opts: &RunOptions,
) -> miette::Result<Option<Vec<String>>> {
    let head_program = expansion::head(program, &plan.pipeline, lists);
    let head = lower(&head_program, &plan.pipeline)?;
    let dag = expc_plan::dag::build(&head);
    let mut meta = expc_prov::RunMeta::collect(&head_program, &head, &args.file, &opts.spec_dir);
    if args.local {
        meta.ran_here();
    }
    let mut shown = super::run::shown_sink(args.json);
    if let Some(head) = &args.head {
        shown = super::detach::logged(shown, head)?;
    }
    let mut sink = expc_prov::Recording::new(shown, &opts.state_dir, meta);
    let opts = RunOptions {
        run_id: Some(sink.id().to_owned()),
        fingerprint: None,
        ..opts.clone()
    };
    let summary = expc_run::run(&head_program, &head, &dag, &opts, &mut sink)
        .map_err(|e| miette!(help = "nothing was run", "{}", e.0))?;
    sink.finish(&summary);
    drop(sink);
    if summary.success() {
        return Ok(Some(instance_names(&head)));
    }
    let mut err = std::io::stderr().lock();
    for f in &summary.failed {
        let _ = writeln!(err, "\nfailed: {}: {}", f.task, f.message);
        for line in &f.stderr_tail {
            let _ = writeln!(err, "  | {line}");
        }
        if !f.log_dir.as_os_str().is_empty() {
            let _ = writeln!(err, "  logs: {}", f.log_dir.display());
        }
    }
    let waiting: Vec<String> = lists.iter().map(|k| k.list.clone()).collect();
    let _ = writeln!(
        err,
        "\nnot expanded: the loops over {} wait for calls that did not finish; {} ran, {} cached, {} failed",
        waiting.join(", "),
        summary.ran,
        summary.cached,
        summary.failed.len()
    );
    if summary.interrupted {
        let _ = writeln!(err, "interrupted: run `expc run` again to resume");
    }
    Ok(None)
}

/// The name each instance of `plan` has in events: `s`, or `c[2]` in a loop.
fn instance_names(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for j in &plan.jobs {
        if j.loops.is_empty() {
            out.push(j.key.clone());
        } else {
            out.extend((0..j.instances).map(|i| format!("{}[{i}]", j.key)));
        }
    }
    out
}

/// Events shown as they are, but for the `cached` of instances the first part of the run
/// already showed finishing.
pub(super) fn hide_repeats(shown: Box<dyn Sink>, before: HashSet<String>) -> Box<dyn Sink> {
    if before.is_empty() {
        return shown;
    }
    Box::new(HideRepeats { shown, before })
}

struct HideRepeats {
    shown: Box<dyn Sink>,
    before: HashSet<String>,
}

impl Sink for HideRepeats {
    fn event(&mut self, event: Event) {
        if let Event::TaskCached { task } = &event {
            if self.before.contains(task) {
                return;
            }
        }
        self.shown.event(event);
    }

    fn instance(&mut self, record: expc_run::InstanceRecord) {
        self.shown.instance(record);
    }

    fn can_refer(&mut self, made_by: &expc_run::MadeBy) -> bool {
        self.shown.can_refer(made_by)
    }
}

/// The files the producer of `list` wrote for it, as (name in the list's folder, absolute
/// path of the stored file), sorted by name.
fn produced_files(
    program: &Program,
    plan: &Plan,
    list: &KnownAfter,
    state_dir: &std::path::Path,
) -> miette::Result<(String, Vec<(String, String)>)> {
    let no_list = |why: String| {
        miette!(
            help = "the loops over it were not run",
            "cannot expand `{}`: {why}",
            list.list
        )
    };
    let Some(job) = plan.jobs.iter().find(|j| j.key == list.call) else {
        return Err(no_list(format!("`{}` is not in the plan", list.call)));
    };
    if !job.loops.is_empty() {
        return Err(no_list(format!(
            "`{}` runs in a loop: a loop over the lists of many instances is not supported yet; gather them in one task first",
            list.call
        )));
    }
    let output = list.list.split_once('.').map_or("", |(_, o)| o);
    let Some(pattern) = expc_run::produced::pattern(program, &job.task, output) else {
        return Err(no_list(format!(
            "`{output}` is not a list output of `{}`",
            job.task
        )));
    };
    let dir = state_dir
        .join("out")
        .join(&*expc_run::store::safe(&job.key));
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let found = expc_run::produced::files(&dir, pattern).map_err(no_list)?;
    if found.is_empty() {
        return Err(no_list(format!(
            "`{}` wrote no file matching `{pattern}` (in {})",
            list.call,
            dir.display()
        )));
    }
    let folder = expc_check::produced_folder(pattern).unwrap_or_default();
    let element = job
        .outputs
        .iter()
        .find(|o| o.name == output)
        .and_then(|o| o.ty.strip_prefix("List<"))
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or_default()
        .to_owned();
    let files = found
        .into_iter()
        .map(|f| {
            let name = f
                .strip_prefix(&format!("{folder}/"))
                .unwrap_or(&f)
                .to_owned();
            (name, dir.join(&f).to_string_lossy().into_owned())
        })
        .collect();
    Ok((element, files))
}

fn say_expanded(plan: &Plan, list: &KnownAfter, n: usize, json: bool) {
    let jobs: Vec<&str> = plan
        .jobs
        .iter()
        .filter(|j| j.known_after.as_ref() == Some(list))
        .map(|j| j.key.as_str())
        .collect();
    if json {
        let line = serde_json::json!({
            "event": "expanded", "list": list.list, "after": list.call, "files": n, "jobs": jobs,
        });
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    } else {
        let files = format!("{n} file{}", if n == 1 { "" } else { "s" });
        let line = match jobs.len() {
            0 => format!("expanded {}: {files}", list.list),
            1 => format!(
                "expanded {}: one instance per file of {}, {files}",
                jobs[0], list.list
            ),
            _ => format!(
                "expanded {}: one instance each per file of {}, {files}",
                jobs.join(", "),
                list.list
            ),
        };
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// For `expc why`: the jobs whose instances are still unknown, and why.
pub(super) fn say_unknown(
    out: &mut impl Write,
    plan: &Plan,
    unknown: &[KnownAfter],
    only: Option<&str>,
) {
    for k in unknown {
        for j in plan
            .jobs
            .iter()
            .filter(|j| j.known_after.as_ref() == Some(k))
        {
            if only.is_some_and(|o| o != j.key) {
                continue;
            }
            let _ = writeln!(
                out,
                "{}: will run — one instance per file of {}, known when `{}` has run (it has not stored them yet)",
                j.key, k.list, k.call
            );
        }
    }
}
