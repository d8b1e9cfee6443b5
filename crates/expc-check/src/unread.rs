//! What the checker does not report in a file the parser could not read whole: the
//! consequences of the text it skipped, which may be what is being typed.

use std::collections::HashSet;

use expc_diagnostics::{Code, Diagnostic, SourceMap, Span};
use expc_syntax::ast::{Expr, ExprKind, ItemKind, Stmt, StmtKind};

use crate::modules::Module;

/// Drops the diagnostics that only follow from text the parser could not read: a name
/// used there may be used after all (no "never used"), one declared there may be
/// declared after all (no "unknown name"), and what the parser made of the start of a
/// line it then failed on is not what is being typed. A mistyped keyword
/// (`taks generate()`) thus reports itself, not every name its item declares or uses.
pub(crate) fn drop_cascades(
    diagnostics: &mut Vec<Diagnostic>,
    modules: &[Module],
    sources: &SourceMap,
) {
    let errors: Vec<Span> = diagnostics
        .iter()
        .filter(|d| expc_syntax::is_unread(d))
        .map(Diagnostic::span)
        .collect();
    if errors.is_empty() {
        return;
    }
    let mut unread: HashSet<&str> = modules
        .iter()
        .filter_map(|m| Some(unread_words(m, &sources.get(m.file)?.text, &errors)))
        .flatten()
        .collect();
    // `let g = generate(raw = stations)` binds and uses nothing when `generate` was not
    // read: neither is `g` unknown nor `stations` unused.
    let mut touched = Vec::new();
    for module in modules {
        for item in &module.ast.items {
            if let ItemKind::Pipeline(p) = &item.kind {
                touched_by_calls_to(&p.body, &unread, &mut touched);
            }
        }
    }
    unread.extend(touched);
    diagnostics.retain(|d| {
        if expc_syntax::is_unread(d) {
            return true;
        }
        let names_unread = matches!(d.code, Code::UNUSED | Code::UNKNOWN_NAME)
            && spanned_name(d, sources).is_some_and(|name| unread.contains(name));
        !names_unread && !on_a_broken_line(d.span(), &errors, sources)
    });
}

/// Whether `span` starts on the line of an error the parser could not read past, and
/// before it.
fn on_a_broken_line(span: Span, errors: &[Span], sources: &SourceMap) -> bool {
    let Some(file) = sources.get(span.file) else {
        return false;
    };
    errors.iter().any(|e| {
        e.file == span.file
            && span.start <= e.start
            && file
                .text
                .get(span.start as usize..e.start as usize)
                .is_some_and(|between| !between.contains('\n'))
    })
}

/// The identifiers in the text of `module` the parser did not read whole: its `Error`
/// items, the items with one of `errors` in them, and what it skipped between items.
/// Comments between items count too, which errs on the side of silence, and only in a
/// file with such errors.
fn unread_words<'t>(module: &Module, text: &'t str, errors: &[Span]) -> Vec<&'t str> {
    if !errors.iter().any(|e| e.file == module.file) {
        return Vec::new();
    }
    let mut read: Vec<(usize, usize)> = module
        .ast
        .items
        .iter()
        .filter(|i| expc_syntax::is_read_whole(i, errors))
        .map(|i| (i.span.start as usize, i.span.end as usize))
        .collect();
    read.sort_unstable();
    let mut words = Vec::new();
    let mut at = 0;
    for (start, end) in read.into_iter().chain([(text.len(), text.len())]) {
        if let Some(gap) = text.get(at..start) {
            words.extend(
                gap.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty()),
            );
        }
        at = at.max(end);
    }
    words
}

/// The names that statements among `stmts` bind to, or pass to, calls of a name in
/// `callees`: what a call the checker cannot resolve would have bound and used.
fn touched_by_calls_to<'a>(stmts: &'a [Stmt], callees: &HashSet<&str>, touched: &mut Vec<&'a str>) {
    for stmt in stmts {
        let (binding, value) = match &stmt.kind {
            StmtKind::Let { name, value, .. } => (Some(name), value),
            StmtKind::Expr { value, .. } => (None, value),
            StmtKind::For { body, .. } => {
                touched_by_calls_to(body, callees, touched);
                continue;
            }
            StmtKind::If(i) => {
                touched_by_calls_to(&i.then_body, callees, touched);
                if let Some((body, _)) = &i.else_body {
                    touched_by_calls_to(body, callees, touched);
                }
                continue;
            }
            StmtKind::Register { .. } | StmtKind::Error => continue,
        };
        let ExprKind::Call { callee, args } = &value.kind else {
            continue;
        };
        if head_name(callee).is_some_and(|n| callees.contains(n)) {
            touched.extend(binding.map(|b| b.name.as_str()));
            touched.extend(args.iter().filter_map(|a| head_name(&a.value)));
        }
    }
}

/// The name an expression starts with: `g` of `g.numbers`, `generate` of `generate`.
fn head_name(expr: &Expr) -> Option<&str> {
    let mut head = expr;
    while let ExprKind::Field { base, .. } = &head.kind {
        head = base;
    }
    match &head.kind {
        ExprKind::Name(n) => Some(n.name.as_str()),
        _ => None,
    }
}

/// The name a diagnostic points at: the first segment of the text of its span.
fn spanned_name<'s>(d: &Diagnostic, sources: &'s SourceMap) -> Option<&'s str> {
    let span = d.span();
    let text = sources
        .get(span.file)?
        .text
        .get(span.start as usize..span.end as usize)?;
    text.split('.').next()
}
