//! A compact, readable outline of a syntax tree, for snapshot tests and debugging.
//!
//! With spans off, two trees that differ only in layout print the same, which is how the
//! formatter's tests check that formatting changes no meaning.

use std::fmt::Write;

use crate::ast::*;

/// Prints the outline of a file; `spans` adds each node's byte range.
pub fn outline(file: &SourceFile, spans: bool) -> String {
    let mut d = Dumper {
        out: String::new(),
        spans,
    };
    for item in &file.items {
        d.item(item);
    }
    d.out
}

struct Dumper {
    out: String,
    spans: bool,
}

impl Dumper {
    fn line(&mut self, depth: usize, text: &str, span: expc_diagnostics::Span) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        if self.spans {
            let _ = write!(self.out, " @{}..{}", span.start, span.end);
        }
        self.out.push('\n');
    }

    fn item(&mut self, item: &Item) {
        let name = item.kind.name().map_or("", |n| n.name.as_str());
        let mut head = format!("{} {name}", item.kind.keyword());
        if let Some(doc) = &item.doc {
            let _ = write!(head, " /// {:?}", doc.text);
        }
        match &item.kind {
            ItemKind::Experiment(e) => {
                self.line(0, &head, item.span);
                self.block(1, &e.body);
            }
            ItemKind::Import(i) => {
                let source = match &i.source {
                    ImportSource::File(s) => s.raw.to_string(),
                    ImportSource::Module(p) => path(p),
                };
                let names = i.names.as_ref().map(|n| {
                    n.iter()
                        .map(|n| match &n.alias {
                            Some(a) => format!("{} as {}", n.name.name, a.name),
                            None => n.name.name.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                let mut text = format!("import {source}");
                if let Some(n) = names {
                    let _ = write!(text, ".{{{n}}}");
                }
                if let Some(a) = &i.alias {
                    let _ = write!(text, " as {}", a.name);
                }
                self.line(0, &text, item.span);
            }
            ItemKind::Param(p) => {
                let _ = write!(head, ": {}", ty(&p.ty));
                if let Some(d) = &p.default {
                    let _ = write!(head, " = {}", expr(d));
                }
                if let Some(c) = &p.constraint {
                    let _ = write!(head, " where {}", expr(c));
                }
                self.line(0, &head, item.span);
            }
            ItemKind::Secret(s) => {
                let _ = write!(head, ": {} = {}", ty(&s.ty), expr(&s.source));
                self.line(0, &head, item.span);
            }
            ItemKind::Sweep(s) => {
                let _ = write!(head, " = {}", s.strategy.name);
                if let Some(a) = &s.args {
                    let _ = write!(head, "({})", args(a));
                }
                self.line(0, &head, item.span);
                if let Some(body) = &s.body {
                    self.block(1, body);
                }
            }
            ItemKind::Resource(r) | ItemKind::Site(r) => {
                let _ = write!(head, " = {}", r.kind.name);
                self.line(0, &head, item.span);
                self.block(1, &r.body);
            }
            ItemKind::Data(a) | ItemKind::Model(a) => {
                let _ = write!(head, ": {} = {}", ty(&a.ty), expr(&a.source));
                self.line(0, &head, item.span);
                if let Some(b) = &a.body {
                    self.block(1, b);
                }
            }
            ItemKind::Task(t) => {
                self.line(0, &head, item.span);
                for f in &t.inputs {
                    self.field(1, "in", f);
                }
                for f in t.outputs.iter().flatten() {
                    self.field(1, "out", f);
                }
                for s in &t.sections {
                    self.section(1, s);
                }
            }
            ItemKind::Pipeline(p) => {
                self.line(0, &head, item.span);
                self.statements(1, &p.body);
            }
            ItemKind::Record(r) | ItemKind::Schema(r) | ItemKind::Profile(r) => {
                self.line(0, &head, item.span);
                self.block(1, &r.body);
            }
            ItemKind::Enum(e) => {
                let variants: Vec<_> = e.variants.iter().map(|v| v.name.name.as_str()).collect();
                let _ = write!(head, " {{ {} }}", variants.join(", "));
                self.line(0, &head, item.span);
            }
            ItemKind::Format(f) => {
                if let Some(b) = &f.base {
                    let _ = write!(head, ": {}", b.name);
                }
                self.line(0, &head, item.span);
                self.block(1, &f.body);
            }
            ItemKind::Kind(k) => {
                let _ = write!(head, ": {}", k.backend.name);
                self.line(0, &head, item.span);
                self.block(1, &k.body);
            }
            ItemKind::Error => self.line(0, "<error>", item.span),
        }
    }

    fn field(&mut self, depth: usize, dir: &str, f: &Field) {
        let mut text = format!("{dir} {}: {}", f.name.name, ty(&f.ty));
        if let Some(d) = &f.default {
            let _ = write!(text, " = {}", expr(d));
        }
        if let Some(doc) = &f.doc {
            let _ = write!(text, " /// {:?}", doc.text);
        }
        self.line(depth, &text, f.span);
    }

    fn section(&mut self, depth: usize, s: &Section) {
        match &s.kind {
            SectionKind::Resources(b) | SectionKind::Env(b) => {
                self.line(depth, s.kind.keyword(), s.span);
                self.block(depth + 1, b);
            }
            SectionKind::Run(t) | SectionKind::Shell(t) => {
                let text = format!("{} {}", s.kind.keyword(), template(t));
                self.line(depth, &text, s.span);
            }
            SectionKind::Spark { app, args, body } => {
                let mut text = format!("spark {}", expr(app));
                if let Some(a) = args {
                    let _ = write!(text, " args {}", expr(a));
                }
                self.line(depth, &text, s.span);
                if let Some(b) = body {
                    self.block(depth + 1, b);
                }
            }
            SectionKind::Retry { attempts, body } => {
                self.line(depth, &format!("retry {}", expr(attempts)), s.span);
                if let Some(b) = body {
                    self.block(depth + 1, b);
                }
            }
            SectionKind::Cache(v) => self.line(depth, &format!("cache = {}", expr(v)), s.span),
            SectionKind::Evaluates(v) => {
                self.line(depth, &format!("evaluates = {}", v.name), s.span)
            }
            SectionKind::Error => self.line(depth, "<error>", s.span),
        }
    }

    fn statements(&mut self, depth: usize, body: &[Stmt]) {
        for s in body {
            match &s.kind {
                StmtKind::Let {
                    name,
                    value,
                    after,
                    on,
                } => {
                    let text = format!(
                        "let {} = {}{}{}",
                        name.name,
                        expr(value),
                        after_text(after),
                        on_text(on)
                    );
                    self.line(depth, &text, s.span);
                }
                StmtKind::For {
                    index,
                    var,
                    source,
                    body,
                    ..
                } => {
                    let source = match source.as_path() {
                        Some(p) => p
                            .iter()
                            .map(|i| i.name.as_str())
                            .collect::<Vec<_>>()
                            .join("."),
                        None => expr(source),
                    };
                    let vars = match index {
                        Some(i) => format!("({}, {})", i.name, var.name),
                        None => var.name.to_string(),
                    };
                    self.line(depth, &format!("for {vars} in {source}"), s.span);
                    self.statements(depth + 1, body);
                }
                StmtKind::If(i) => {
                    self.line(depth, &format!("if {}", expr(&i.condition)), s.span);
                    self.statements(depth + 1, &i.then_body);
                    if let Some((body, span)) = &i.else_body {
                        self.line(depth, "else", *span);
                        self.statements(depth + 1, body);
                    }
                }
                StmtKind::Expr { value, after, on } => {
                    let text = format!("{}{}{}", expr(value), after_text(after), on_text(on));
                    self.line(depth, &text, s.span);
                }
                StmtKind::Register { model, name } => {
                    let text = format!("register {} as {}", expr(model), expr(name));
                    self.line(depth, &text, s.span);
                }
                StmtKind::Error => self.line(depth, "<error>", s.span),
            }
        }
    }

    fn block(&mut self, depth: usize, b: &Block) {
        for e in &b.entries {
            let doc = e
                .doc
                .as_ref()
                .map(|d| format!(" /// {:?}", d.text))
                .unwrap_or_default();
            match &e.value {
                EntryValue::Value(v) => self.line(
                    depth,
                    &format!("{} = {}{doc}", e.name.name, expr(v)),
                    e.span,
                ),
                EntryValue::Typed { ty: t, default } => {
                    let mut text = format!("{}: {}", e.name.name, ty(t));
                    if let Some(d) = default {
                        let _ = write!(text, " = {}", expr(d));
                    }
                    text.push_str(&doc);
                    self.line(depth, &text, e.span);
                }
                EntryValue::Block(inner) => {
                    self.line(depth, &format!("{} {{}}{doc}", e.name.name), e.span);
                    self.block(depth + 1, inner);
                }
                EntryValue::Error => self.line(depth, "<error>", e.span),
            }
        }
    }
}

fn on_text(on: &Option<Ident>) -> String {
    on.as_ref()
        .map(|r| format!(" on {}", r.name))
        .unwrap_or_default()
}

fn path(p: &[Ident]) -> String {
    p.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

fn ty(t: &TypeExpr) -> String {
    match &t.kind {
        TypeExprKind::Named {
            name,
            args,
            optional,
        } => {
            let mut s = name.name.to_string();
            if !args.is_empty() {
                let a: Vec<_> = args.iter().map(ty).collect();
                let _ = write!(s, "<{}>", a.join(", "));
            }
            if *optional {
                s.push('?');
            }
            s
        }
        TypeExprKind::Error => "<error>".into(),
    }
}

fn args(a: &[Arg]) -> String {
    a.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{} = {}", n.name, expr(&a.value)),
            None => expr(&a.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn template(t: &Template) -> String {
    let words: Vec<String> = t
        .words
        .iter()
        .map(|w| {
            w.parts
                .iter()
                .map(|p| match p {
                    TemplatePart::Text { value, .. } => format!("{value:?}"),
                    TemplatePart::Interp(e) => format!("${{{}}}", expr(e)),
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    format!("[{}]", words.join(", "))
}

/// An expression, fully parenthesised so precedence is visible.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int { value, .. } => value.to_string(),
        ExprKind::Float { value, .. } => format!("{value:?}"),
        ExprKind::Quantity { value, .. } => value.to_string(),
        ExprKind::String(s) => format!("{:?}", s.value),
        ExprKind::Template(t) => template(t),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".into(),
        ExprKind::Name(i) => i.name.to_string(),
        ExprKind::List(items) => {
            let i: Vec<_> = items.iter().map(expr).collect();
            format!("[{}]", i.join(", "))
        }
        ExprKind::Record { ty, body } => {
            let entries: Vec<String> = body
                .entries
                .iter()
                .map(|e| match &e.value {
                    EntryValue::Value(v) => format!("{} = {}", e.name.name, expr(v)),
                    EntryValue::Typed { ty: t, .. } => format!("{}: {}", e.name.name, self::ty(t)),
                    EntryValue::Block(_) => format!("{} {{…}}", e.name.name),
                    EntryValue::Error => "<error>".into(),
                })
                .collect();
            format!("{} {{ {} }}", ty.name, entries.join(", "))
        }
        ExprKind::Paren(inner) => expr(inner),
        ExprKind::Unary { op, operand } => format!("({}{})", op.as_str(), expr(operand)),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", expr(lhs), op.as_str(), expr(rhs))
        }
        ExprKind::Compare { first, rest } => {
            let mut s = format!("({}", expr(first));
            for (op, e) in rest {
                let _ = write!(s, " {} {}", op.as_str(), expr(e));
            }
            s.push(')');
            s
        }
        ExprKind::Range {
            start,
            end,
            inclusive,
        } => {
            format!(
                "({}{}{})",
                expr(start),
                if *inclusive { "..=" } else { ".." },
                expr(end)
            )
        }
        ExprKind::Field { base, name } => format!("{}.{}", expr(base), name.name),
        ExprKind::Call { callee, args: a } => format!("{}({})", expr(callee), args(a)),
        ExprKind::Index { base, index } => format!("{}[{}]", expr(base), expr(index)),
        ExprKind::Error => "<error>".into(),
    }
}

fn after_text(after: &Option<After>) -> String {
    match after {
        Some(a) => {
            let names: Vec<&str> = a.names.iter().map(|n| n.name.as_str()).collect();
            format!(" after [{}]", names.join(", "))
        }
        None => String::new(),
    }
}
