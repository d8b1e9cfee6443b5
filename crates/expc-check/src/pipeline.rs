//! Pipelines: calls of tasks, their arguments, their placement and the loops over sweeps.

use expc_syntax::ast::SmolStr;
use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeMap;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast::{self, ExprKind, ItemKind, Stmt, StmtKind};

use crate::checker::{Backend, Checker};
use crate::defs::{Binding, DefId, DefKind};
use crate::expr::{Cx, Local, Secrets};
use crate::ir;
use crate::ir_expr::IrExpr;
use crate::tasks::TaskSig;
use crate::types::Type;
use crate::value::{Value, format_duration, format_memory};

/// What a `for` loop runs over.
enum Looped {
    Sweep(DefId),
    List { sweep: String, element: Type },
}

pub(crate) struct Walk {
    pub(crate) locals: HashMap<SmolStr, Local>,
    pub(crate) loops: Vec<u32>,
    next_loop: u32,
    pub(crate) anonymous_names: Vec<String>,
    /// The bindings of the branches of `if`s not taken.
    pub(crate) left_out: Vec<String>,
    registrations: Vec<ir::Registration>,
    /// Every `let` name of the pipeline, its call resolved or not: a `register` of one
    /// whose call failed to check says nothing more.
    let_names: Vec<SmolStr>,
}

impl Walk {
    /// What a `register` statement sees: the bindings, and every `let` name.
    fn scope(&self) -> crate::registry::RegisterScope<'_> {
        crate::registry::RegisterScope {
            locals: &self.locals,
            let_names: &self.let_names,
        }
    }
}

impl Checker<'_> {
    pub fn check_pipelines(&mut self) -> Vec<ir::Pipeline> {
        let mut out = Vec::new();
        for def in self.all(DefKind::Pipeline) {
            let ItemKind::Pipeline(p) = &self.item(def).kind else {
                continue;
            };
            let module = self.def(def).module;
            self.ended_loop_names.clear();
            let mut walk = Walk {
                locals: HashMap::new(),
                loops: Vec::new(),
                next_loop: 0,
                anonymous_names: Vec::new(),
                left_out: Vec::new(),
                registrations: Vec::new(),
                let_names: crate::registry::let_names(&p.body),
            };
            // Bindings are visible in the whole pipeline: collect them first.
            let mut counter = 0;
            self.collect_bindings(
                module,
                &p.body,
                &mut Vec::new(),
                &mut counter,
                &mut walk.locals,
            );
            let mut body = self.statements(module, &p.body, &mut walk);
            crate::conditions::leave_out(&mut body, &walk.left_out);
            if module.0 == 0 {
                out.push(ir::Pipeline {
                    id: p.name.name.as_str().to_owned(),
                    body,
                    registrations: std::mem::take(&mut walk.registrations),
                });
            }
        }
        out
    }

    pub(crate) fn collect_bindings(
        &mut self,
        module: crate::modules::ModuleId,
        stmts: &[Stmt],
        loops: &mut Vec<u32>,
        counter: &mut u32,
        locals: &mut HashMap<SmolStr, Local>,
    ) {
        for stmt in stmts {
            match &stmt.kind {
                StmtKind::Let { name, value, .. } => {
                    let task = self.callee_task_quiet(module, value);
                    if let Some(first) = locals.get(&name.name) {
                        let first = first.span();
                        self.emit(
                            Diagnostic::error(
                                Code::DUPLICATE_NAME,
                                format!("`{}` is bound twice in the pipeline", name.name),
                                name.span,
                            )
                            .with_label(first, "first bound here")
                            .with_help("each binding names one call: rename one of them"),
                        );
                        continue;
                    }
                    if let Some(task) = task {
                        locals.insert(
                            name.name.clone(),
                            Local::Binding {
                                task,
                                loops: loops.clone(),
                                span: name.span,
                                optional: false,
                            },
                        );
                    }
                }
                StmtKind::For { body, .. } => {
                    loops.push(*counter);
                    *counter += 1;
                    self.collect_bindings(module, body, loops, counter, locals);
                    loops.pop();
                }
                StmtKind::If(i) => self.collect_if_bindings(module, i, loops, counter, locals),
                _ => {}
            }
        }
    }

    /// The task a call statement calls, without reporting anything.
    fn callee_task_quiet(
        &self,
        module: crate::modules::ModuleId,
        value: &ast::Expr,
    ) -> Option<DefId> {
        let ExprKind::Call { callee, .. } = &value.kind else {
            return None;
        };
        let def = match &callee.kind {
            ExprKind::Name(n) => match self.defs.lookup(module, &n.name)?.binding {
                Binding::Def(d) => d,
                Binding::Module(_) => return None,
            },
            ExprKind::Field { base, name } => {
                let ExprKind::Name(m) = &base.kind else {
                    return None;
                };
                match self.defs.lookup(module, &m.name)?.binding {
                    Binding::Module(m) => self.defs.declared_in(m, &name.name)?,
                    Binding::Def(_) => return None,
                }
            }
            _ => return None,
        };
        (self.def(def).kind == DefKind::Task).then_some(def)
    }

    pub(crate) fn statements(
        &mut self,
        module: crate::modules::ModuleId,
        stmts: &[Stmt],
        walk: &mut Walk,
    ) -> Vec<ir::Stmt> {
        let mut out = Vec::new();
        for stmt in stmts {
            match &stmt.kind {
                StmtKind::Let {
                    name,
                    value,
                    after,
                    on,
                } => {
                    let place = (after.as_ref(), on.as_ref());
                    if let Some(call) = self.call_stmt(module, Some(&name.name), value, place, walk)
                    {
                        out.push(ir::Stmt::Call(call));
                    }
                }
                StmtKind::Expr { value, after, on } => {
                    let place = (after.as_ref(), on.as_ref());
                    if let Some(call) = self.call_stmt(module, None, value, place, walk) {
                        out.push(ir::Stmt::Call(call));
                    }
                }
                StmtKind::For {
                    index,
                    var,
                    source,
                    body,
                    ..
                } => {
                    let id = walk.next_loop;
                    walk.next_loop += 1;
                    let looped = self.loop_source(module, source, walk);
                    if let Some(i) = index {
                        if i.name == var.name {
                            self.emit(
                                Diagnostic::error(
                                    Code::INVALID_LOOP,
                                    format!("`{}` names both the position and the element", i.name),
                                    i.span,
                                )
                                .with_help(format!("write `for (i, {}) in …`", var.name)),
                            );
                        }
                    }
                    let local = match &looped {
                        Some(Looped::Sweep(s)) => Some(Local::Point {
                            sweep: *s,
                            span: var.span,
                        }),
                        Some(Looped::List { element, .. }) => Some(Local::Element {
                            ty: element.clone(),
                            span: var.span,
                        }),
                        // Already reported: the variable fits everywhere, so that its uses
                        // give no second error.
                        None => Some(Local::Element {
                            ty: Type::Error,
                            span: var.span,
                        }),
                    };
                    let mut shadowed = Vec::new();
                    let mut bind = |name: &ast::Ident, local: Option<Local>, walk: &mut Walk| {
                        let prev = match local {
                            Some(l) => walk.locals.insert(name.name.clone(), l),
                            None => walk.locals.remove(&name.name),
                        };
                        shadowed.push((name.name.clone(), prev));
                    };
                    bind(var, local, walk);
                    if let Some(i) = index.as_ref().filter(|i| i.name != var.name) {
                        let l = Local::Index {
                            var: var.name.clone(),
                            span: i.span,
                        };
                        bind(i, Some(l), walk);
                    }
                    walk.loops.push(id);
                    let body_ir = self.statements(module, body, walk);
                    walk.loops.pop();
                    for (name, prev) in shadowed.into_iter().rev() {
                        walk.locals.remove(&name);
                        if let Some(prev) = prev {
                            walk.locals.insert(name, prev);
                        }
                    }
                    // A use of the loop's names after it says where they belonged.
                    self.ended_loop_names.push((var.name.clone(), var.span));
                    if let Some(i) = index {
                        self.ended_loop_names.push((i.name.clone(), i.span));
                    }
                    let sweep = match looped {
                        Some(Looped::Sweep(s)) => self.ir_id(s),
                        Some(Looped::List { sweep, .. }) => sweep,
                        None => continue,
                    };
                    out.push(ir::Stmt::For {
                        var: var.name.as_str().to_owned(),
                        index: index.as_ref().map(|i| i.name.as_str().to_owned()),
                        sweep,
                        body: body_ir,
                    });
                }
                StmtKind::If(i) => {
                    if let Some(d) = self.if_statement(module, i, walk) {
                        out.push(ir::Stmt::If(d));
                    }
                }
                StmtKind::Register { model, name } => {
                    let r = self.register_stmt(model, name, walk.scope(), &walk.registrations);
                    walk.registrations.extend(r);
                }
                StmtKind::Error => {}
            }
        }
        out
    }

    /// What a loop runs over: a sweep, or a list known when the experiment is planned
    /// (noted as a sweep of strategy `list`, whose id is returned).
    fn loop_source(
        &mut self,
        module: crate::modules::ModuleId,
        source: &ast::Expr,
        walk: &Walk,
    ) -> Option<Looped> {
        // A name path that names a sweep (not shadowed by a binding or loop variable).
        if let Some(path) = source.as_path() {
            let first = path[0];
            let is_sweep = !walk.locals.contains_key(&first.name)
                && match self.defs.lookup(module, &first.name).map(|b| b.binding) {
                    Some(Binding::Def(d)) => self.def(d).kind == DefKind::Sweep,
                    Some(Binding::Module(m)) => path.get(1).is_some_and(|n| {
                        self.defs
                            .declared_in(m, &n.name)
                            .is_some_and(|d| self.def(d).kind == DefKind::Sweep)
                    }),
                    None => false,
                };
            let unknown = !walk.locals.contains_key(&first.name)
                && self.defs.lookup(module, &first.name).is_none()
                && !crate::defs::BUILTIN_FUNCTIONS.contains(&first.name.as_str());
            if is_sweep || unknown {
                let owned: Vec<ast::Ident> = path.into_iter().cloned().collect();
                return self.sweep_path(module, &owned).map(Looped::Sweep);
            }
        }
        let cx = Cx {
            module,
            locals: &walk.locals,
            secrets: Secrets::Forbidden("as what a loop runs over"),
            loops: &walk.loops,
            env_ok: false,
        };
        let t = self.expr(source, None, &cx);
        if let Some((sweep, element)) = self.produced_loop(&t, source.span, &walk.locals) {
            return Some(Looped::List { sweep, element });
        }
        let element = match &t.ty {
            Type::Error => return None,
            Type::List(e) => (**e).clone(),
            Type::EmptyList => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_LOOP,
                        "the loop runs over an empty list",
                        source.span,
                    )
                    .with_help(
                        "list the values, or loop over a param or data item that holds them",
                    ),
                );
                return None;
            }
            Type::Call { task, .. } => {
                let task = self.def(*task).name.clone();
                let name = source
                    .as_path()
                    .map_or_else(|| "the call".to_owned(), |p| format!("`{}`", p[0].name));
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_LOOP,
                        format!("{name} is a call of `{task}`: what it makes is known only when it runs, so it cannot decide how many instances a loop plans"),
                        source.span,
                    )
                    .with_primary_message("known only when the pipeline runs")
                    .with_help("pass its output whole to one task (`t(parts = s.parts)`), or loop over what decides its instances")
                    .with_note(LOOP_SOURCES),
                );
                return None;
            }
            other => {
                let shown = self.show(other);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_LOOP,
                        format!("a loop runs over a sweep or a list, and this is {shown}"),
                        source.span,
                    )
                    .with_help("loop over a sweep (`for p in grid`), a list (`for x in [1, 2]`, `for i in 0..n`), a list param or a file set"),
                );
                return None;
            }
        };
        // A file set: its files, each a data item.
        let set = self.file_set_of(&t.ir);
        let values = match set {
            Some(def) => self.file_set_values(def).unwrap_or_default(),
            None => match t.value {
                Some(Value::List(items)) => items,
                _ => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_LOOP,
                            "a loop runs over a list known when the experiment is planned",
                            source.span,
                        )
                        .with_primary_message("known only when the pipeline runs")
                        .with_help("the number of instances must be known to plan: pass a gathered list to one task instead, or loop over a param, a file set or a literal"),
                    );
                    return None;
                }
            },
        };
        // An instance is known by its element: two equal elements would be one instance.
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = values.iter().find(|v| !seen.insert(v.to_string())) {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_LOOP,
                    format!("the list holds `{twice}` twice"),
                    source.span,
                )
                .with_primary_message("an instance is known by its element")
                .with_help("list each value once: two equal elements would run the same instance twice under one id"),
            );
            return None;
        }
        // Named after the set or param it runs over; a literal after its position.
        let named = match &t.ir {
            IrExpr::Artifact { id } | IrExpr::Param { id } => Some(id.clone()),
            _ => None,
        };
        let id = named.unwrap_or_else(|| format!("loop#{}", self.list_loops.len() + 1));
        if !self.list_loops.iter().any(|s| s.id == id) {
            let points = values.len() as u64;
            self.list_loops.push(ir::Sweep {
                id: id.clone(),
                strategy: ir::Strategy::List,
                axes: vec![ir::Axis {
                    name: String::new(),
                    ty: self.show(&element),
                    values: Some(Value::List(values)),
                }],
                samples: None,
                seed: None,
                points: Some(points),
            });
        }
        Some(Looped::List { sweep: id, element })
    }

    fn sweep_path(
        &mut self,
        module: crate::modules::ModuleId,
        path: &[ast::Ident],
    ) -> Option<DefId> {
        let first = path.first()?;
        let cx_locals = HashMap::new();
        let cx = Cx::top(module, &cx_locals, "in a loop");
        let found = match self.defs.lookup(module, &first.name).map(|b| b.binding) {
            None => {
                let before = self.diagnostics.len();
                self.unknown_name(first, &cx, None);
                // Say what a loop may run over.
                if let Some(d) = self.diagnostics.get_mut(before) {
                    d.notes.push(LOOP_SOURCES.to_owned());
                }
                return None;
            }
            Some(Binding::Module(m)) => match path.get(1) {
                Some(n) => match self.defs.declared_in(m, &n.name) {
                    Some(d) => (d, n),
                    None => {
                        self.emit(Diagnostic::error(
                            Code::UNKNOWN_NAME,
                            format!("`{}` is not declared in `{}`", n.name, self.module(m).key),
                            n.span,
                        ));
                        return None;
                    }
                },
                None => {
                    self.emit(Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("`{}` is a module, not a sweep", first.name),
                        first.span,
                    ));
                    return None;
                }
            },
            Some(Binding::Def(d)) => (d, first),
        };
        let (def, ident) = found;
        self.used.insert(def);
        if self.def(def).kind != DefKind::Sweep {
            let noun = self.def(def).kind.noun();
            self.emit(
                Diagnostic::error(
                    Code::WRONG_KIND_OF_NAME,
                    format!("a loop runs over a sweep, and `{}` is a {noun}", ident.name),
                    ident.span,
                )
                .with_label(self.def(def).span, format!("the {noun} is declared here"))
                .with_help("declare the values as a sweep: `sweep grid = product { x = [1, 2] }`"),
            );
            return None;
        }
        Some(def)
    }

    fn call_stmt(
        &mut self,
        module: crate::modules::ModuleId,
        binding: Option<&str>,
        value: &ast::Expr,
        (after, on): (Option<&ast::After>, Option<&ast::Ident>),
        walk: &mut Walk,
    ) -> Option<ir::Call> {
        let after = after.map_or_else(Vec::new, |a| self.after_list(binding, a, walk));
        let ExprKind::Call { callee, args } = &value.kind else {
            let cx = Cx {
                module,
                locals: &walk.locals,
                secrets: Secrets::Forbidden("in a pipeline"),
                loops: &walk.loops,
                env_ok: false,
            };
            let t = self.expr(value, None, &cx);
            if !t.ty.is_error() {
                self.emit(
                    Diagnostic::error(
                        Code::NOT_CALLABLE,
                        "a pipeline binding names a call of a task",
                        value.span,
                    )
                    .with_help("write `let name = task(arg = value) on resource`"),
                );
            }
            return None;
        };
        let cx = Cx {
            module,
            locals: &walk.locals,
            secrets: Secrets::Forbidden("as a task's argument"),
            loops: &walk.loops,
            env_ok: false,
        };
        let c = self.expr(callee, None, &cx);
        let task = match c.ty {
            Type::Task(t) => t,
            Type::Error => return None,
            other => {
                let shown = self.show(&other);
                self.emit(
                    Diagnostic::error(
                        Code::NOT_CALLABLE,
                        format!("{shown} is not a task and cannot be called in a pipeline"),
                        callee.span,
                    )
                    .with_help("pipelines call tasks; built-in functions are for values"),
                );
                return None;
            }
        };
        let sig = self.tasks.get(&task).cloned()?;
        let task_name = self.def(task).name.clone();
        self.list_outputs_in_loop(&sig, &walk.loops, callee.span, &task_name);
        let mut ir_args = BTreeMap::new();
        let mut given: HashMap<SmolStr, Span> = HashMap::new();
        for arg in args {
            let Some(name) = &arg.name else {
                self.emit(
                    Diagnostic::error(
                        Code::UNKNOWN_ARGUMENT,
                        format!("arguments of `{task_name}` are passed by name"),
                        arg.span,
                    )
                    .with_help(match sig.inputs.first() {
                        Some(f) => format!("write `{} = …`", f.name),
                        None => format!("`{task_name}` takes no inputs"),
                    }),
                );
                continue;
            };
            if let Some(first) = given.get(&name.name) {
                self.emit(
                    Diagnostic::error(
                        Code::UNKNOWN_ARGUMENT,
                        format!("`{}` is passed twice", name.name),
                        name.span,
                    )
                    .with_label(*first, "first passed here"),
                );
                continue;
            }
            given.insert(name.name.clone(), name.span);
            let Some(input) = sig.inputs.iter().find(|f| f.name == name.name) else {
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_ARGUMENT,
                    format!("`{task_name}` has no input `{}`", name.name),
                    name.span,
                )
                .with_label(self.def(task).span, "the task is declared here");
                if let Some(s) = expc_syntax::suggest::closest(
                    &name.name,
                    sig.inputs.iter().map(|f| f.name.as_str()),
                ) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else if sig.outputs.iter().any(|o| o.name == name.name) {
                    d = d.with_help(format!("`{}` is an output of `{task_name}`: it is written by the task, not passed to it", name.name));
                } else {
                    let names: Vec<&str> = sig.inputs.iter().map(|f| f.name.as_str()).collect();
                    d = d.with_help(if names.is_empty() {
                        format!("`{task_name}` takes no inputs")
                    } else {
                        format!("the inputs are {}", names.join(", "))
                    });
                }
                self.emit(d);
                continue;
            };
            let t = self.expr(&arg.value, Some(&input.ty), &cx);
            match self.fits(&t.ty, &input.ty) {
                Ok(()) => {
                    let ir = match t.ir {
                        IrExpr::Error => t.value.map_or(IrExpr::Error, |v| {
                            IrExpr::value(crate::expr::coerce(v, &input.ty))
                        }),
                        IrExpr::Value { value } => {
                            IrExpr::value(crate::expr::coerce(value, &input.ty))
                        }
                        ir => ir,
                    };
                    ir_args.insert(input.name.as_str().to_owned(), ir);
                }
                Err(m) => {
                    let what = format!("the input `{}` of `{task_name}`", input.name);
                    if self.one_branch_misfit(&t.ty, &input.ty, &arg.value, &what, &walk.locals)
                        || self.produced_list_misfit(
                            &t.ty,
                            &input.ty,
                            &arg.value,
                            &what,
                            &walk.locals,
                        )
                    {
                        continue;
                    }
                    let producer = self.producer(&arg.value, &walk.locals, module);
                    self.misfit(m, &t.ty, &input.ty, arg.value.span, &what, producer);
                }
            }
        }
        let missing: Vec<&crate::checker::FieldInfo> = sig
            .inputs
            .iter()
            .filter(|f| {
                !given.contains_key(f.name.as_str())
                    && !f.has_default
                    && !matches!(f.ty, Type::Optional(_))
            })
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|f| format!("`{}`", f.name)).collect();
            let mut d = Diagnostic::error(
                Code::MISSING_ARGUMENT,
                format!(
                    "the call of `{task_name}` does not pass {} {}",
                    if missing.len() == 1 {
                        "the input"
                    } else {
                        "the inputs"
                    },
                    names.join(", ")
                ),
                callee.span,
            );
            for f in &missing {
                d = d.with_label(
                    f.span,
                    format!("`{}` is declared here, without a default", f.name),
                );
            }
            let example: Vec<String> = missing.iter().map(|f| format!("{} = …", f.name)).collect();
            d = d.with_help(format!("pass {}", example.join(", ")));
            self.emit(d);
        }
        // Inputs with defaults that were not passed.
        for f in &sig.inputs {
            if !ir_args.contains_key(f.name.as_str()) && !given.contains_key(f.name.as_str()) {
                if let Some(v) = &f.default {
                    ir_args.insert(f.name.as_str().to_owned(), IrExpr::value(v.clone()));
                }
            }
        }
        let placed = self.placement(module, task, on, value.span);
        let moved = placed.and_then(|r| self.moved(r));
        let resource = moved.as_ref().map(|(to, _)| *to).or(placed);
        if let Some(r) = resource {
            let mark = self.diagnostics.len();
            self.check_placement(task, r, on.map_or(callee.span, |o| o.span));
            if let (Some(spec), Some((_, source))) = (placed, &moved) {
                self.note_move(mark, spec, source);
            }
        }
        // A call without `let` is named after its task, so that adding or removing an
        // unrelated call renames nothing.
        let binding = match binding {
            Some(b) => b.to_owned(),
            None => {
                let mut name = task_name.clone();
                let mut n = 1;
                while walk.locals.contains_key(name.as_str())
                    || walk.anonymous_names.contains(&name)
                {
                    n += 1;
                    name = format!("{task_name}#{n}");
                }
                walk.anonymous_names.push(name.clone());
                name
            }
        };
        Some(ir::Call {
            binding,
            task: self.ir_id(task),
            args: ir_args,
            on: resource.map(|r| self.ir_id(r)),
            moved_from: moved.and(placed).map(|r| self.ir_id(r)),
            after,
            span: value.span,
        })
    }

    /// The bindings of `after [a, b]`, each a call of the pipeline other than this one.
    fn after_list(
        &mut self,
        binding: Option<&str>,
        after: &ast::After,
        walk: &Walk,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(after.names.len());
        for n in &after.names {
            let name = n.name.as_str();
            match walk.locals.get(name) {
                Some(Local::Binding { .. }) if Some(name) == binding => {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_AFTER,
                            format!("`{name}` runs after itself"),
                            n.span,
                        )
                        .with_help("a call runs after other calls: remove it from the list"),
                    );
                }
                Some(Local::Binding { .. }) => {
                    if out.iter().any(|o| o == name) {
                        self.emit(
                            Diagnostic::error(
                                Code::INVALID_AFTER,
                                format!("`{name}` is listed twice in `after`"),
                                n.span,
                            )
                            .with_help("list each call once"),
                        );
                    } else {
                        out.push(name.to_owned());
                    }
                }
                other => {
                    let mut bindings: Vec<&str> = walk
                        .locals
                        .iter()
                        .filter(|(k, l)| {
                            matches!(l, Local::Binding { .. }) && Some(k.as_str()) != binding
                        })
                        .map(|(k, _)| k.as_str())
                        .collect();
                    bindings.sort_unstable();
                    let point = matches!(other, Some(Local::Point { .. }));
                    let what = if point {
                        format!("`{name}` is a loop variable, not a call of the pipeline")
                    } else {
                        format!("`{name}` is not a call of this pipeline")
                    };
                    let mut d = Diagnostic::error(Code::INVALID_AFTER, what, n.span)
                        .with_primary_message("`after` lists calls, by their `let` names");
                    let closest = if point {
                        None
                    } else {
                        expc_syntax::suggest::closest(name, bindings.iter().copied())
                    };
                    d = match closest {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None if bindings.is_empty() => {
                            d.with_help("name a call with `let NAME = task(…)` to run after it")
                        }
                        None => d.with_help(format!(
                            "the calls that can be named are {}",
                            bindings.join(", ")
                        )),
                    };
                    self.emit(d);
                }
            }
        }
        out
    }

    /// The declaration a value comes from, for "the producer is declared here".
    fn producer(
        &self,
        e: &ast::Expr,
        locals: &HashMap<SmolStr, Local>,
        module: crate::modules::ModuleId,
    ) -> Option<Span> {
        match &e.kind {
            ExprKind::Field { base, name } => {
                let ExprKind::Name(b) = &base.kind else {
                    return None;
                };
                match locals.get(&b.name) {
                    Some(Local::Binding { task, .. }) => self
                        .tasks
                        .get(task)
                        .and_then(|s| s.outputs.iter().find(|o| o.name == name.name))
                        .map(|o| o.span),
                    _ => None,
                }
            }
            ExprKind::Name(n) => match self.defs.lookup(module, &n.name)?.binding {
                Binding::Def(d) => Some(self.def(d).span),
                Binding::Module(_) => None,
            },
            _ => None,
        }
    }

    /// The resource a call runs on: its `on`, or the only resource there is.
    fn placement(
        &mut self,
        module: crate::modules::ModuleId,
        task: DefId,
        on: Option<&ast::Ident>,
        span: Span,
    ) -> Option<DefId> {
        if !self.resources_in_scope.contains_key(&module) {
            let mut found: Vec<DefId> = self.defs.scopes[module.0 as usize]
                .values()
                .filter_map(|b| match b.binding {
                    Binding::Def(d) if self.def(d).kind == DefKind::Resource => Some(d),
                    _ => None,
                })
                .collect();
            found.sort_by(|a, b| self.def(*a).name.cmp(&self.def(*b).name));
            self.resources_in_scope.insert(module, found);
        }
        let resources = self.resources_in_scope[&module].clone();
        let Some(on) = on else {
            if resources.len() == 1 {
                return Some(resources[0]);
            }
            let task_name = self.def(task).name.clone();
            let mut names: Vec<String> = resources
                .iter()
                .map(|r| self.def(*r).name.clone())
                .collect();
            names.sort();
            let d = Diagnostic::error(
                Code::INVALID_PLACEMENT,
                format!("the call of `{task_name}` does not say where it runs"),
                span,
            );
            self.emit(if names.is_empty() {
                d.with_help("declare a resource, for example `resource laptop = Local { cpus = 2 }`, and place the call with `on laptop`")
            } else {
                d.with_help(format!("place it with `on NAME`; the resources are {}", names.join(", ")))
            });
            return None;
        };
        match self.defs.lookup(module, &on.name).map(|b| b.binding) {
            Some(Binding::Def(d)) if self.def(d).kind == DefKind::Resource => Some(d),
            Some(Binding::Def(d)) => {
                let noun = self.def(d).kind.noun();
                self.emit(
                    Diagnostic::error(
                        Code::WRONG_KIND_OF_NAME,
                        format!("`{}` is a {noun}, not a resource", on.name),
                        on.span,
                    )
                    .with_label(self.def(d).span, format!("the {noun} is declared here")),
                );
                None
            }
            Some(Binding::Module(_)) => {
                self.emit(Diagnostic::error(
                    Code::WRONG_KIND_OF_NAME,
                    format!("`{}` is a module, not a resource", on.name),
                    on.span,
                ));
                None
            }
            None => {
                let mut names: Vec<String> = resources
                    .iter()
                    .map(|r| self.def(*r).name.clone())
                    .collect();
                names.sort();
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_NAME,
                    format!("unknown resource `{}`", on.name),
                    on.span,
                )
                .with_primary_message("not declared in this file or imported");
                if let Some(s) =
                    expc_syntax::suggest::closest(&on.name, names.iter().map(String::as_str))
                {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else if !names.is_empty() {
                    d = d.with_help(format!("the resources are {}", names.join(", ")));
                }
                self.emit(d);
                None
            }
        }
    }

    /// A task placed on a `Local` resource asks for no more CPUs or memory than the
    /// resource has: the run could never start it.
    fn check_local_capacity(
        &mut self,
        sig: &TaskSig,
        resource: &Value,
        (tname, rname): (&str, &str),
        (span, rspan): (Span, Span),
        task: DefId,
    ) {
        for what in ["cpus", "mem"] {
            let (Some(asked), Some(has)) = (sig.resources.get(what), resource.field(what)) else {
                continue;
            };
            if !exceeds(asked, has) {
                continue;
            }
            let show = show_amount;
            let task_span = self
                .task_resource_span(task, what)
                .unwrap_or(self.def(task).span);
            self.emit(
                Diagnostic::error(
                    Code::INVALID_PLACEMENT,
                    format!(
                        "`{tname}` asks for {what} = {}, and `{rname}` has {what} = {}",
                        show(asked),
                        show(has)
                    ),
                    span,
                )
                .with_primary_message(format!("placed on `{rname}` here"))
                .with_label(task_span, format!("{what} = {}", show(asked)))
                .with_label(rspan, "the resource is declared here")
                .with_help(format!(
                    "ask for at most {} in the task's `resources`, give `{rname}` more, or place the call elsewhere",
                    show(has)
                )),
            );
        }
    }

    /// Can the resource run the task, within its limits?
    fn check_placement(&mut self, task: DefId, resource: DefId, span: Span) {
        let Some(kind) = self.resource_kind(resource) else {
            return;
        };
        let Some(backend) = self.backends.get(&kind).copied() else {
            return;
        };
        let Some(sig) = self.tasks.get(&task).cloned() else {
            return;
        };
        let rvalue = self.values.get(&resource).cloned().unwrap_or(Value::None);
        let (tname, rname) = (self.def(task).name.clone(), self.def(resource).name.clone());
        let rspan = self.def(resource).span;
        if sig.spark && backend != Backend::Spark {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_PLACEMENT,
                    format!(
                        "`{tname}` runs a Spark application, and `{rname}` is not a Spark resource"
                    ),
                    span,
                )
                .with_label(
                    rspan,
                    format!("`{rname}` is a {} resource", self.def(kind).name),
                )
                .with_help("place the call on a `Spark` resource"),
            );
            return;
        }
        let gpus = sig
            .resources
            .get("gpus")
            .and_then(Value::as_int)
            .or_else(|| {
                if backend == Backend::Slurm {
                    rvalue.field("gpus").and_then(Value::as_int)
                } else {
                    None
                }
            })
            .unwrap_or(0);
        if gpus > 0 {
            let capacity = match backend {
                Backend::Local => Some(rvalue.field("gpus").and_then(Value::as_int).unwrap_or(0)),
                Backend::Spark => Some(0),
                _ => None,
            };
            if let Some(cap) = capacity {
                if cap < gpus {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_PLACEMENT,
                            format!("`{tname}` asks for {gpus} GPU{}, and `{rname}` has {}", if gpus == 1 { "" } else { "s" }, if cap == 0 { "none".to_owned() } else { cap.to_string() }),
                            span,
                        )
                        .with_label(rspan, "the resource is declared here")
                        .with_help("place the call on a resource with GPUs, or remove `gpus` from the task's `resources`"),
                    );
                }
            }
        }
        if backend == Backend::Local {
            self.check_local_capacity(&sig, &rvalue, (&tname, &rname), (span, rspan), task);
        }
        self.check_mpi_placement(&sig, backend, (&tname, &rname), (span, rspan), task);
        self.check_stdout_placement(task, backend, (&tname, &rname), (span, rspan));
        let limits = self.limits(&rvalue);
        let task_value = |name: &str, fallback: Option<&str>| -> Option<Value> {
            sig.resources
                .get(name)
                .cloned()
                .or_else(|| fallback.and_then(|f| rvalue.field(f).cloned()))
        };
        let checks: [(&str, Option<Value>, &str); 4] = [
            ("time", task_value("time", None), "max_time"),
            (
                "mem",
                task_value("mem", (backend == Backend::Slurm).then_some("mem_per_node")),
                "max_mem_per_node",
            ),
            (
                "cpus",
                task_value(
                    "cpus",
                    (backend == Backend::Slurm).then_some("cpus_per_node"),
                ),
                "max_cpus_per_node",
            ),
            (
                "gpus",
                (gpus > 0).then_some(Value::Int(gpus)),
                "max_gpus_per_node",
            ),
        ];
        for (what, asked, limit_name) in checks {
            let (Some(asked), Some(limit)) = (asked, limits.get(limit_name)) else {
                continue;
            };
            if exceeds(&asked, limit) {
                let show = show_amount;
                let task_span = self
                    .task_resource_span(task, what)
                    .unwrap_or(self.def(task).span);
                self.emit(
                    Diagnostic::error(
                        Code::SITE_LIMIT,
                        format!(
                            "`{tname}` asks for {what} = {}, over the limit of `{rname}` ({limit_name} = {})",
                            show(&asked),
                            show(limit)
                        ),
                        span,
                    )
                    .with_primary_message(format!("placed on `{rname}` here"))
                    .with_label(task_span, format!("{what} = {}", show(&asked)))
                    .with_help(format!("ask for at most {}, or place the call on another resource", show(limit))),
                );
            }
        }
        if backend == Backend::Spark {
            let mem = sig
                .spark_settings
                .get("executor_mem")
                .or_else(|| rvalue.field("executor_mem"))
                .cloned();
            let overhead = sig
                .spark_settings
                .get("executor_mem_overhead")
                .or_else(|| rvalue.field("executor_mem_overhead"))
                .cloned();
            if let (Some(Value::Memory(m)), Some(Value::Memory(max))) =
                (mem, rvalue.field("max_executor_mem"))
            {
                let total = m.saturating_add(match overhead {
                    Some(Value::Memory(o)) => o,
                    _ => 0,
                });
                if total > *max {
                    self.emit(
                        Diagnostic::error(
                            Code::SITE_LIMIT,
                            format!(
                                "`{tname}` asks for executors of {} (memory and overhead), over `{rname}`'s max_executor_mem of {}",
                                format_memory(total),
                                format_memory(*max)
                            ),
                            span,
                        )
                        .with_label(rspan, "the resource is declared here")
                        .with_help("lower `executor_mem` or `executor_mem_overhead`"),
                    );
                }
            }
        }
    }

    pub fn task_resource_span(&self, task: DefId, name: &str) -> Option<Span> {
        let ItemKind::Task(t) = &self.item(task).kind else {
            return None;
        };
        t.sections.iter().find_map(|s| match &s.kind {
            ast::SectionKind::Resources(b) => b
                .entries
                .iter()
                .find(|e| e.name.name == name)
                .map(|e| e.span),
            _ => None,
        })
    }
}

/// Whether an amount a task asks for (time, memory, CPUs, GPUs) is more than `limit`.
fn exceeds(asked: &Value, limit: &Value) -> bool {
    match (asked, limit) {
        (Value::Duration(a), Value::Duration(l)) | (Value::Memory(a), Value::Memory(l)) => a > l,
        _ => matches!((asked.as_f64(), limit.as_f64()), (Some(a), Some(l)) if a > l),
    }
}

/// An amount as a message shows it: `30m`, `16GiB`, `8` CPUs rather than `8.0`.
fn show_amount(v: &Value) -> String {
    match v {
        Value::Duration(ms) => format_duration(*ms),
        Value::Memory(b) => format_memory(*b),
        v => match v.as_f64() {
            Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
            _ => v.to_string(),
        },
    }
}

/// What a `for` loop may run over, for the messages of a loop over something else.
const LOOP_SOURCES: &str = "a loop runs over a sweep (`for p in grid`, `for s in samples` of `sweep samples = rows(units)`), a file set (`for f in reads`), a list param, or a list written out (`for x in [1, 2]`, `for i in 0..n`)";
