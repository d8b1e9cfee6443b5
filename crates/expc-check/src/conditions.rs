//! `if` in a pipeline, decided when the experiment is planned: the condition must be a
//! `Bool` of params and literals; both branches are checked, only the taken one reaches the
//! IR. A name bound in both branches is usable after the `if`; one bound in only one branch
//! is optional there (its outputs are `T?`), and where the branch was not taken it stands
//! for `none`.

use expc_diagnostics::{Code, Diagnostic};
use expc_syntax::ast::{self, ExprKind, SmolStr, Stmt, StmtKind};
use foldhash::{HashMap, HashMapExt};

use crate::checker::Checker;
use crate::expr::{Cx, Local, Secrets, Typed};
use crate::ir;
use crate::ir_expr::IrExpr;
use crate::modules::ModuleId;
use crate::pipeline::Walk;
use crate::types::Type;
use crate::value::Value;

impl Checker<'_> {
    /// The bindings of both branches of `i`, into `locals`: one bound in both branches is
    /// one binding, one bound in only one is optional.
    pub(crate) fn collect_if_bindings(
        &mut self,
        module: ModuleId,
        i: &ast::IfStmt,
        loops: &mut Vec<u32>,
        counter: &mut u32,
        locals: &mut HashMap<SmolStr, Local>,
    ) {
        let mut then_names = HashMap::new();
        self.collect_bindings(module, &i.then_body, loops, counter, &mut then_names);
        let mut else_names = HashMap::new();
        if let Some((body, _)) = &i.else_body {
            self.collect_bindings(module, body, loops, counter, &mut else_names);
        }
        let mut names: Vec<SmolStr> = then_names
            .keys()
            .chain(else_names.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let local = match (then_names.remove(&name), else_names.remove(&name)) {
                (Some(a), Some(b)) => {
                    self.same_outputs(&name, &a, &b);
                    let optional = is_optional(&a) || is_optional(&b);
                    with_optional(a, optional)
                }
                (Some(one), None) | (None, Some(one)) => with_optional(one, true),
                (None, None) => continue,
            };
            if let Some(first) = locals.get(&name) {
                let first = first.span();
                self.emit(
                    Diagnostic::error(
                        Code::DUPLICATE_NAME,
                        format!("`{name}` is bound twice in the pipeline"),
                        local.span(),
                    )
                    .with_label(first, "first bound here")
                    .with_help("a name may be bound once in each branch of an `if`, and nowhere else: rename one of them"),
                );
                continue;
            }
            locals.insert(name, local);
        }
    }

    /// A name bound in both branches to calls of two tasks: their outputs must agree.
    fn same_outputs(&mut self, name: &str, a: &Local, b: &Local) {
        let (Local::Binding { task: ta, .. }, Local::Binding { task: tb, span, .. }) = (a, b)
        else {
            return;
        };
        if ta == tb {
            return;
        }
        let outputs = |t| {
            let mut o: Vec<(SmolStr, Type)> = self
                .tasks
                .get(t)
                .map(|s| {
                    s.outputs
                        .iter()
                        .map(|f| (f.name.clone(), f.ty.clone()))
                        .collect()
                })
                .unwrap_or_default();
            o.sort_by(|x, y| x.0.cmp(&y.0));
            o
        };
        if outputs(ta) == outputs(tb) {
            return;
        }
        let (na, nb) = (self.def(*ta).name.clone(), self.def(*tb).name.clone());
        self.emit(
            Diagnostic::error(
                Code::BRANCH_MISMATCH,
                format!("`{name}` is a call of `{na}` in one branch and of `{nb}` in the other, whose outputs differ"),
                *span,
            )
            .with_primary_message(format!("a call of `{nb}` here"))
            .with_label(a.span(), format!("a call of `{na}` here"))
            .with_help(format!("after the `if`, `{name}` must have the same outputs whichever branch runs: give the two tasks the same outputs, or bind different names")),
        );
    }

    /// An `if` statement: the condition decided, both branches checked, the taken one's IR.
    pub(crate) fn if_statement(
        &mut self,
        module: ModuleId,
        i: &ast::IfStmt,
        walk: &mut Walk,
    ) -> Option<ir::Decision> {
        let value = self.plan_condition(module, &i.condition, walk);
        let then_ir = self.branch(module, &i.then_body, walk, value == Some(false));
        let else_ir = match &i.else_body {
            Some((body, _)) => self.branch(module, body, walk, value == Some(true)),
            None => Vec::new(),
        };
        let value = value?;
        let no_else = Vec::new();
        let else_ast = i.else_body.as_ref().map_or(&no_else, |(b, _)| b);
        let (body, other) = if value {
            (then_ir, else_ast)
        } else {
            (else_ir, &i.then_body)
        };
        // The names `let` binds in the branch not taken (a call without one cannot be read).
        let mut lets = Vec::new();
        all_lets(other, &mut lets);
        let taken = bindings_of(&body);
        let mut left_out: Vec<String> = lets
            .into_iter()
            .map(|n| n.to_string())
            .filter(|b| !taken.contains(b))
            .collect();
        left_out.sort();
        left_out.dedup();
        walk.left_out.extend(left_out.iter().cloned());
        Some(ir::Decision {
            condition: condition_text(&i.condition),
            value,
            taken: if value { "then" } else { "else" },
            left_out,
            body,
        })
    }

    /// A branch's statements, with the names it binds (outside nested `if`s) not optional
    /// inside it. The calls without `let` of a branch not taken give their names back, so
    /// that the calls after it are named as if it were not written.
    fn branch(
        &mut self,
        module: ModuleId,
        body: &[Stmt],
        walk: &mut Walk,
        not_taken: bool,
    ) -> Vec<ir::Stmt> {
        let names_before = walk.anonymous_names.len();
        let mut own = Vec::new();
        lets_of(body, &mut own);
        let mut saved = Vec::new();
        for name in own {
            if let Some(l @ Local::Binding { optional: true, .. }) = walk.locals.get(&name) {
                let l = l.clone();
                walk.locals
                    .insert(name.clone(), with_optional(l.clone(), false));
                saved.push((name, l));
            }
        }
        let out = self.statements(module, body, walk);
        if not_taken {
            walk.anonymous_names.truncate(names_before);
        }
        for (name, l) in saved {
            walk.locals.insert(name, l);
        }
        out
    }

    /// The value of an `if`'s condition, when the experiment is planned; `None` when it
    /// has none (reported, or a param without a value, which lowering reports).
    fn plan_condition(&mut self, module: ModuleId, cond: &ast::Expr, walk: &Walk) -> Option<bool> {
        let cx = Cx {
            module,
            locals: &walk.locals,
            secrets: Secrets::Forbidden("in a condition"),
            loops: &walk.loops,
            env_ok: false,
        };
        let t: Typed = self.expr(cond, Some(&Type::Bool), &cx);
        match &t.ty {
            Type::Error => return None,
            Type::Bool => {}
            other => {
                let shown = self.show(other);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_CONDITION,
                        format!("an `if` condition is a `Bool`, and this is {shown}"),
                        cond.span,
                    )
                    .with_primary_message(format!("this is {shown}"))
                    .with_help("compare it: `if epochs > 10`, `if mode == \"full\"`"),
                );
                return None;
            }
        }
        if let Some(Value::Bool(b)) = t.value {
            return Some(b);
        }
        if let Some((name, local)) = run_time_name(cond, &walk.locals) {
            let (what, help) = match local {
                Local::Binding { .. } => (
                    format!("`{name}` is a call: what it makes is known only when it runs"),
                    "decide on params and literals (`if train.enabled`), which the plan knows",
                ),
                _ => (
                    format!("`{name}` is a loop variable: it differs between the loop's instances"),
                    "put the `if` around the loop, or loop over a list that holds only the wanted elements",
                ),
            };
            self.emit(
                Diagnostic::error(
                    Code::INVALID_CONDITION,
                    format!("an `if` is decided when the experiment is planned, and {what}"),
                    cond.span,
                )
                .with_primary_message("not known when the experiment is planned")
                .with_help(help),
            );
        }
        None
    }

    /// A value that may be left out (`v.out` of a one-branch `v`) passed where a value is
    /// required: reported here, with where the name is bound, instead of as a plain type
    /// mismatch. Whether it was.
    pub(crate) fn one_branch_misfit(
        &mut self,
        found: &Type,
        expected: &Type,
        arg: &ast::Expr,
        what: &str,
        locals: &HashMap<SmolStr, Local>,
    ) -> bool {
        let Type::Optional(inner) = found else {
            return false;
        };
        if matches!(expected, Type::Optional(_)) || self.fits(inner, expected).is_err() {
            return false;
        }
        let Some(path) = arg.as_path() else {
            return false;
        };
        let name = &path[0].name;
        let Some(bound @ Local::Binding { optional: true, .. }) = locals.get(name) else {
            return false;
        };
        let (fs, es) = (self.show(found), self.show(expected));
        self.emit(
            Diagnostic::error(
                Code::OPTIONAL_BINDING,
                format!("{what} expects {es}, and `{name}` is bound in only one branch of an `if`, so this is {fs}"),
                arg.span,
            )
            .with_primary_message("left out when the other branch is taken")
            .with_label(bound.span(), "bound only in this branch")
            .with_help(format!("bind `{name}` in the other branch too, or declare the input as `{es}?` so that the task is given `none` when the branch is not taken")),
        );
        true
    }

    /// `b.out`, where `b` is bound in only one branch of an `if`: optional.
    pub(crate) fn field_of_binding(
        &mut self,
        base: &ast::Expr,
        name: &ast::Ident,
        cx: &Cx<'_>,
    ) -> Typed {
        let optional = matches!(&base.kind, ExprKind::Name(n)
            if matches!(cx.locals.get(&n.name), Some(Local::Binding { optional: true, .. })));
        let mut t = self.field(base, name, cx);
        if optional && !t.ty.is_error() && !matches!(t.ty, Type::Optional(_)) {
            t.ty = Type::Optional(Box::new(t.ty));
        }
        t
    }
}

/// The IR after checking: every output of a binding left out is `none`, and no call runs
/// after one.
pub(crate) fn leave_out(body: &mut [ir::Stmt], left_out: &[String]) {
    if left_out.is_empty() {
        return;
    }
    for stmt in body {
        match stmt {
            ir::Stmt::Call(c) => {
                for arg in c.args.values_mut() {
                    if matches!(arg, IrExpr::CallOutput { binding, .. } if left_out.contains(binding))
                    {
                        *arg = IrExpr::value(Value::None);
                    }
                }
                c.after.retain(|a| !left_out.contains(a));
            }
            ir::Stmt::For { body, .. } => leave_out(body, left_out),
            ir::Stmt::If(d) => leave_out(&mut d.body, left_out),
        }
    }
}

fn is_optional(l: &Local) -> bool {
    matches!(l, Local::Binding { optional: true, .. })
}

fn with_optional(l: Local, optional: bool) -> Local {
    match l {
        Local::Binding {
            task, loops, span, ..
        } => Local::Binding {
            task,
            loops,
            span,
            optional,
        },
        other => other,
    }
}

/// The names `let` binds in `body` and its loops, not in its nested `if`s.
fn lets_of(body: &[Stmt], out: &mut Vec<SmolStr>) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Let { name, .. } => out.push(name.name.clone()),
            StmtKind::For { body, .. } => lets_of(body, out),
            _ => {}
        }
    }
}

/// The names `let` binds anywhere in `body`.
fn all_lets(body: &[Stmt], out: &mut Vec<SmolStr>) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Let { name, .. } => out.push(name.name.clone()),
            StmtKind::For { body, .. } => all_lets(body, out),
            StmtKind::If(i) => {
                all_lets(&i.then_body, out);
                if let Some((body, _)) = &i.else_body {
                    all_lets(body, out);
                }
            }
            _ => {}
        }
    }
}

/// The bindings of every call in an IR body.
fn bindings_of(body: &[ir::Stmt]) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in body {
        match stmt {
            ir::Stmt::Call(c) => out.push(c.binding.clone()),
            ir::Stmt::For { body, .. } => out.extend(bindings_of(body)),
            ir::Stmt::If(d) => out.extend(bindings_of(&d.body)),
        }
    }
    out
}

/// The first name of the pipeline (a call or a loop variable) a condition reads.
fn run_time_name<'a>(
    e: &ast::Expr,
    locals: &'a HashMap<SmolStr, Local>,
) -> Option<(SmolStr, &'a Local)> {
    let mut found = None;
    visit_names(e, &mut |n: &ast::Ident| {
        if found.is_none() {
            found = locals.get(&n.name).map(|l| (n.name.clone(), l));
        }
    });
    found
}

fn visit_names(e: &ast::Expr, f: &mut dyn FnMut(&ast::Ident)) {
    match &e.kind {
        ExprKind::Name(n) => f(n),
        ExprKind::Field { base, .. } => visit_names(base, f),
        ExprKind::Paren(inner) | ExprKind::Unary { operand: inner, .. } => visit_names(inner, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit_names(lhs, f);
            visit_names(rhs, f);
        }
        ExprKind::Compare { first, rest } => {
            visit_names(first, f);
            rest.iter().for_each(|(_, e)| visit_names(e, f));
        }
        ExprKind::List(items) => items.iter().for_each(|e| visit_names(e, f)),
        ExprKind::Index { base, index } => {
            visit_names(base, f);
            visit_names(index, f);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| visit_names(&a.value, f)),
        _ => {}
    }
}

/// A condition as a reader would write it: `fast`, `epochs > 10`, `!(a && b)`.
pub(crate) fn condition_text(e: &ast::Expr) -> String {
    match &e.kind {
        ExprKind::Int { raw, .. }
        | ExprKind::Float { raw, .. }
        | ExprKind::Quantity { raw, .. } => raw.to_string(),
        ExprKind::String(s) => format!("{:?}", s.value.as_str()),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Name(n) => n.name.to_string(),
        ExprKind::Field { base, name } => format!("{}.{}", condition_text(base), name.name),
        ExprKind::Paren(inner) => format!("({})", condition_text(inner)),
        ExprKind::Unary { op, operand } => format!("{}{}", op.as_str(), condition_text(operand)),
        ExprKind::Binary { op, lhs, rhs } => format!(
            "{} {} {}",
            condition_text(lhs),
            op.as_str(),
            condition_text(rhs)
        ),
        ExprKind::Compare { first, rest } => {
            let mut s = condition_text(first);
            for (op, e) in rest {
                s.push_str(&format!(" {} {}", op.as_str(), condition_text(e)));
            }
            s
        }
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(condition_text).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::Index { base, index } => {
            format!("{}[{}]", condition_text(base), condition_text(index))
        }
        _ => expc_syntax::dump::expr(e),
    }
}
