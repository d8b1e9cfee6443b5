//! Loops over what a call produces (`for part in s.parts`): their instances are known only
//! when `s` has run. The plan shows what decides them (`count × ?  (one per file of
//! s.parts, known after s)`); a run expands them by filling the loop's list with the files
//! `s` wrote (`expand`), each a data item whose content is in its instance's key, and
//! planning again.

use expc_check::ir;
use expc_check::value::Value;
use serde::Serialize;

use crate::plan::Loop;

/// What decides the instances of a job inside a loop over a produced list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KnownAfter {
    /// The call that produces the list.
    pub call: String,
    /// The list: `s.parts`.
    pub list: String,
}

/// The first loop of `loops` over a produced list, if any.
pub fn known_after(loops: &[Loop]) -> Option<KnownAfter> {
    loops
        .iter()
        .find(|l| l.strategy == ir::Strategy::Produced)
        .map(|l| KnownAfter {
            call: producer_of(&l.sweep).to_owned(),
            list: l.sweep.clone(),
        })
}

/// The binding that produces the list `BINDING.OUTPUT`.
pub fn producer_of(list: &str) -> &str {
    list.split_once('.').map_or(list, |(b, _)| b)
}

/// For each site (by the sweeps of its loops), the call whose produced list one of its
/// loops runs over: `(site, producer)` edges.
pub fn producers(
    loops: &[Vec<String>],
    calls: &[&ir::Call],
    program: &ir::Program,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, sweeps) in loops.iter().enumerate() {
        for s in sweeps {
            let produced = program
                .sweeps
                .iter()
                .any(|p| p.id == *s && p.strategy == ir::Strategy::Produced);
            if !produced {
                continue;
            }
            let producer = producer_of(s);
            if let Some(j) = calls.iter().position(|c| c.binding == producer) {
                out.push((i, j));
            }
        }
    }
    out
}

/// The lists a plan still has to expand: those its loops run over, in the order of their
/// first job, then those a call takes whole.
pub fn unexpanded(program: &ir::Program, plan: &crate::Plan) -> Vec<KnownAfter> {
    let mut out: Vec<KnownAfter> = Vec::new();
    for j in &plan.jobs {
        if let Some(k) = &j.known_after {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    let index = crate::index::ProgramIndex::new(program, &plan.pipeline);
    for j in &plan.jobs {
        for (binding, output) in j.reads_whole(program) {
            let produced = plan
                .jobs
                .iter()
                .find(|p| p.key == binding)
                .and_then(|p| index.task(&p.task))
                .and_then(|t| t.outputs.iter().find(|o| o.name == output))
                .is_some_and(|o| o.pattern.is_some());
            let k = KnownAfter {
                call: binding.clone(),
                list: format!("{binding}.{output}"),
            };
            if produced && !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

/// `program` with the produced list `list` known: its files (paths as a run can read
/// them, sorted), each a data item `LIST[NAME]` of the list's element type. A loop over
/// the list then plans one instance per file, known by the file's name in the folder.
pub fn expand(program: &mut ir::Program, list: &str, element: &str, files: &[(String, String)]) {
    let ty = element.to_owned();
    let ids: Vec<Value> = files
        .iter()
        .map(|(name, _)| Value::Artifact(format!("{list}[{name}]")))
        .collect();
    if let Some(sweep) = program.sweeps.iter_mut().find(|s| s.id == list) {
        sweep.strategy = ir::Strategy::List;
        sweep.points = Some(ids.len() as u64);
        if let Some(a) = sweep.axes.first_mut() {
            a.values = Some(Value::List(ids));
        }
    }
    // A call that takes the list whole is given its files.
    let items: Vec<ir::IrExpr> = files
        .iter()
        .map(|(name, _)| ir::IrExpr::Artifact {
            id: format!("{list}[{name}]"),
        })
        .collect();
    for p in &mut program.pipelines {
        give_files(&mut p.body, list, &items);
    }
    for (name, path) in files {
        program.data.push(ir::Artifact {
            id: format!("{list}[{name}]"),
            ty: ty.clone(),
            path: Some(path.clone()),
            module: program.root.clone(),
            doc: None,
            entries: Default::default(),
            glob: None,
            member_of: None,
        });
    }
}

/// Every argument of a call in `body` that is the produced list `list` (`s.parts`, read
/// whole) becomes the list of its files.
fn give_files(body: &mut [ir::Stmt], list: &str, items: &[ir::IrExpr]) {
    for stmt in body {
        match stmt {
            ir::Stmt::Call(c) => {
                for arg in c.args.values_mut() {
                    if is_list(arg, list) {
                        *arg = ir::IrExpr::List {
                            items: items.to_vec(),
                        };
                    }
                }
            }
            ir::Stmt::For { body, .. } => give_files(body, list, items),
            ir::Stmt::If(d) => give_files(&mut d.body, list, items),
        }
    }
}

/// Whether `e` is the produced list `list` read whole (`s.parts`, not gathered).
fn is_list(e: &ir::IrExpr, list: &str) -> bool {
    matches!(e, ir::IrExpr::CallOutput { binding, output, gathered: false }
        if list.split_once('.') == Some((binding.as_str(), output.as_str())))
}

/// The text of a loop over a produced list, for the plan.
pub fn loop_text(vars: &str, l: &Loop) -> String {
    format!(
        "for {vars} in {} (one per file of {}, known after {})",
        l.sweep,
        l.sweep,
        producer_of(&l.sweep)
    )
}

/// `program` with the pipeline `pipeline` cut to what can run before any loop over a
/// produced list is expanded: those loops, and every call that reads (or runs after) a
/// call left out, are left out. The producers stay, so running it makes the lists.
pub fn head(program: &ir::Program, pipeline: &str, lists: &[KnownAfter]) -> ir::Program {
    let mut out = program.clone();
    let produced: Vec<String> = lists.iter().map(|k| k.list.clone()).collect();
    if let Some(p) = out.pipelines.iter_mut().find(|p| p.id == pipeline) {
        let mut left_out = Vec::new();
        loop {
            let before = left_out.len();
            cut(&mut p.body, &produced, &mut left_out);
            if left_out.len() == before {
                break;
            }
        }
    }
    out
}

/// Removes from `body` the loops over `produced` lists and the calls that read or run
/// after a binding in `left_out`, noting the bindings it removes.
fn cut(body: &mut Vec<ir::Stmt>, produced: &[String], left_out: &mut Vec<String>) {
    body.retain_mut(|stmt| match stmt {
        ir::Stmt::Call(c) => {
            let mut read = Vec::new();
            for arg in c.args.values() {
                crate::lower::bindings_read(arg, &mut read);
            }
            let keep = !read
                .iter()
                .chain(c.after.iter())
                .any(|b| left_out.contains(b))
                && !c
                    .args
                    .values()
                    .any(|a| produced.iter().any(|l| is_list(a, l)));
            if !keep {
                left_out.push(c.binding.clone());
            }
            keep
        }
        ir::Stmt::For { sweep, body, .. } => {
            if produced.contains(sweep) {
                let mut calls = Vec::new();
                bindings_in(body, &mut calls);
                left_out.extend(calls);
                false
            } else {
                cut(body, produced, left_out);
                true
            }
        }
        ir::Stmt::If(d) => {
            cut(&mut d.body, produced, left_out);
            true
        }
    });
}

fn bindings_in(body: &[ir::Stmt], out: &mut Vec<String>) {
    for stmt in body {
        match stmt {
            ir::Stmt::Call(c) => out.push(c.binding.clone()),
            ir::Stmt::For { body, .. } => bindings_in(body, out),
            ir::Stmt::If(d) => bindings_in(&d.body, out),
        }
    }
}
