//! A symbol index of a loaded program, for editors: every declaration (items, task inputs
//! and outputs, fields, variants, sweep axes, pipeline bindings, modules) and every
//! reference to one, with byte spans.
//!
//! It is built from the syntax trees of [`Checked::modules`](crate::Checked) and the same
//! scopes the checker uses, so a name resolves here as it does there. It reports nothing:
//! a name that does not resolve is simply not a reference (the checker reports it).

use std::collections::HashMap;

use expc_diagnostics::{FileId, SourceMap, Span};
use expc_syntax::ast::{
    self, Block, EntryValue, Expr, ExprKind, ImportSource, ItemKind, SectionKind, Stmt, StmtKind,
    TemplatePart, TypeExpr, TypeExprKind,
};

use crate::defs::{self, Binding, Defs};
use crate::modules::{Module, ModuleId};

/// Index of a symbol in [`SymbolIndex::symbols`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SymbolId(pub u32);

/// What a symbol is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Experiment,
    Param,
    Secret,
    Sweep,
    Resource,
    Site,
    Data,
    Model,
    Task,
    Pipeline,
    Record,
    Schema,
    Enum,
    Format,
    Kind,
    /// `profile NAME { from = to }`.
    Profile,
    /// A field of a record, a column of a schema, a field of a resource kind.
    Field,
    Variant,
    /// An input of a task.
    Input,
    /// An output of a task.
    Output,
    /// An axis of a sweep.
    Axis,
    /// `let NAME = …` in a pipeline.
    Binding,
    /// `for NAME in …` in a pipeline.
    LoopVar,
    /// A whole file or standard module, the target of an import.
    Module,
}

impl SymbolKind {
    /// How the kind is named to a user: "param", "task input", …
    pub fn noun(self) -> &'static str {
        match self {
            SymbolKind::Experiment => "experiment",
            SymbolKind::Param => "param",
            SymbolKind::Secret => "secret",
            SymbolKind::Sweep => "sweep",
            SymbolKind::Resource => "resource",
            SymbolKind::Site => "site profile",
            SymbolKind::Data => "data item",
            SymbolKind::Model => "model",
            SymbolKind::Task => "task",
            SymbolKind::Pipeline => "pipeline",
            SymbolKind::Record => "record type",
            SymbolKind::Schema => "schema",
            SymbolKind::Enum => "enum",
            SymbolKind::Format => "format",
            SymbolKind::Kind => "resource kind",
            SymbolKind::Profile => "profile",
            SymbolKind::Field => "field",
            SymbolKind::Variant => "enum variant",
            SymbolKind::Input => "task input",
            SymbolKind::Output => "task output",
            SymbolKind::Axis => "sweep axis",
            SymbolKind::Binding => "pipeline binding",
            SymbolKind::LoopVar => "sweep point",
            SymbolKind::Module => "module",
        }
    }
}

/// A declaration.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    pub module: ModuleId,
    /// The span of the declared name (an empty span at the start for a module).
    pub span: Span,
    /// The span of the whole declaration.
    pub full_span: Span,
    /// A one-line signature as written: `param epochs: Int = 20`, `mem: Memory?`.
    pub detail: String,
    /// The type as written, for names that have one.
    pub ty: Option<String>,
    pub doc: Option<String>,
    /// The declaration this one belongs to (a task for its inputs, a kind for its fields).
    pub parent: Option<SymbolId>,
    /// What the symbol stands for: the task a binding calls, the sweep a loop variable
    /// walks, the type of a field.
    pub target: Option<SymbolId>,
}

/// A use of a symbol's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    pub span: Span,
    pub symbol: SymbolId,
}

/// The declarations of a program and the references to them.
#[derive(Debug, Default)]
pub struct SymbolIndex {
    pub symbols: Vec<Symbol>,
    pub references: Vec<Reference>,
    /// For each module, its symbol and the symbols of its items (by item index).
    modules: Vec<(SymbolId, HashMap<usize, SymbolId>)>,
    /// The module each file is.
    files: HashMap<FileId, ModuleId>,
    /// The names visible at the top of each module.
    scopes: Vec<HashMap<String, SymbolId>>,
    /// The children of each symbol that has some, in order.
    children: HashMap<SymbolId, Vec<SymbolId>>,
}

impl SymbolIndex {
    /// Indexes the modules of a checked program.
    pub fn build(modules: &[Module], sources: &SourceMap) -> SymbolIndex {
        let defs = defs::collect(modules, &mut Vec::new());
        let mut b = Builder {
            index: SymbolIndex::default(),
            sources,
            modules,
        };
        b.declare_all();
        b.bind_scopes(&defs);
        for module in modules {
            b.resolve_module(module);
        }
        b.index
    }

    pub fn get(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id.0 as usize]
    }

    /// The module a file holds, if the file belongs to the program.
    pub fn module_of(&self, file: FileId) -> Option<ModuleId> {
        self.files.get(&file).copied()
    }

    /// The symbol of a whole module.
    pub fn module_symbol(&self, module: ModuleId) -> Option<SymbolId> {
        self.modules.get(module.0 as usize).map(|(s, _)| *s)
    }

    /// The symbol whose declared name or reference is at `offset` of `file`, with the span
    /// of the name found there.
    pub fn at(&self, file: FileId, offset: u32) -> Option<(SymbolId, Span)> {
        let decl = self
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind != SymbolKind::Module)
            .find(|(_, s)| s.span.file == file && s.span.contains(offset))
            .map(|(i, s)| (SymbolId(i as u32), s.span));
        decl.or_else(|| {
            self.references
                .iter()
                .filter(|r| r.span.file == file && r.span.contains(offset))
                .min_by_key(|r| r.span.len())
                .map(|r| (r.symbol, r.span))
        })
    }

    /// Every reference to `symbol`.
    pub fn references_to(&self, symbol: SymbolId) -> impl Iterator<Item = &Reference> {
        self.references.iter().filter(move |r| r.symbol == symbol)
    }

    /// The children of a symbol (a task's inputs and outputs, a kind's fields), in order.
    pub fn children(&self, parent: SymbolId) -> impl Iterator<Item = (SymbolId, &Symbol)> {
        self.children
            .get(&parent)
            .into_iter()
            .flatten()
            .map(|id| (*id, self.get(*id)))
    }

    /// The top-level declarations of a module, in source order.
    pub fn items_of(&self, module: ModuleId) -> Vec<SymbolId> {
        let mut items: Vec<SymbolId> = self
            .modules
            .get(module.0 as usize)
            .map(|(_, m)| m.values().copied().collect())
            .unwrap_or_default();
        items.sort_by_key(|s| self.get(*s).span.start);
        items
    }

    /// Every name visible at the top of a module: its own items and what it imports.
    pub fn scope(&self, module: ModuleId) -> impl Iterator<Item = (&str, SymbolId)> {
        self.scopes
            .get(module.0 as usize)
            .into_iter()
            .flatten()
            .map(|(n, s)| (n.as_str(), *s))
    }

    /// The symbol `name` stands for at the top of a module.
    pub fn lookup(&self, module: ModuleId, name: &str) -> Option<SymbolId> {
        self.scopes.get(module.0 as usize)?.get(name).copied()
    }

    /// The field of a kind, record or schema by name, following a symbol's target.
    pub fn field(&self, owner: SymbolId, name: &str) -> Option<SymbolId> {
        self.children(owner)
            .find(|(_, s)| s.name == name)
            .map(|(id, _)| id)
    }
}

struct Builder<'a> {
    index: SymbolIndex,
    sources: &'a SourceMap,
    modules: &'a [Module],
}

/// Names in scope inside a task body or a pipeline.
type Locals = Vec<(String, SymbolId)>;
type Scope = [(String, SymbolId)];

impl Builder<'_> {
    fn text(&self, span: Span) -> &str {
        self.sources.get(span.file).map_or("", |f| f.slice(span))
    }

    fn add(&mut self, symbol: Symbol) -> SymbolId {
        let id = SymbolId(self.index.symbols.len() as u32);
        if let Some(parent) = symbol.parent {
            self.index.children.entry(parent).or_default().push(id);
        }
        self.index.symbols.push(symbol);
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn symbol(
        &self,
        name: &ast::Ident,
        kind: SymbolKind,
        module: ModuleId,
        full_span: Span,
        detail: String,
        ty: Option<String>,
        doc: Option<&ast::Doc>,
        parent: Option<SymbolId>,
    ) -> Symbol {
        Symbol {
            name: name.name.as_str().to_owned(),
            kind,
            module,
            span: name.span,
            full_span,
            detail,
            ty,
            doc: doc.map(|d| d.text.clone()),
            parent,
            target: None,
        }
    }

    fn declare_all(&mut self) {
        for module in self.modules {
            let file_len = self
                .sources
                .get(module.file)
                .map_or(0, |f| f.text.len() as u32);
            let whole = Span {
                file: module.file,
                start: 0,
                end: file_len,
            };
            let module_symbol = self.add(Symbol {
                name: module.key.clone(),
                kind: SymbolKind::Module,
                module: module.id,
                span: whole.start_point(),
                full_span: whole,
                detail: format!("module {}", module.key),
                ty: None,
                doc: None,
                parent: None,
                target: None,
            });
            self.index.files.insert(module.file, module.id);
            let mut items = HashMap::new();
            for (i, item) in module.ast.items.iter().enumerate() {
                if let Some(id) = self.declare_item(module.id, item) {
                    items.insert(i, id);
                }
            }
            self.index.modules.push((module_symbol, items));
        }
    }

    fn declare_item(&mut self, module: ModuleId, item: &ast::Item) -> Option<SymbolId> {
        let doc = item.doc.as_ref();
        let m = module;
        let id = match &item.kind {
            ItemKind::Import(_) | ItemKind::Error => return None,
            ItemKind::Experiment(e) => {
                let s = self.symbol(
                    &e.name,
                    SymbolKind::Experiment,
                    m,
                    item.span,
                    format!("experiment {}", e.name.name),
                    None,
                    doc,
                    None,
                );
                self.add(s)
            }
            ItemKind::Param(p) => {
                let ty = self.text(p.ty.span).to_owned();
                let mut detail = format!("param {}: {ty}", p.name.name);
                if let Some(d) = &p.default {
                    detail.push_str(&format!(" = {}", self.text(d.span)));
                }
                if let Some(c) = &p.constraint {
                    detail.push_str(&format!(" where {}", self.text(c.span)));
                }
                let s = self.symbol(
                    &p.name,
                    SymbolKind::Param,
                    m,
                    item.span,
                    detail,
                    Some(ty),
                    doc,
                    None,
                );
                self.add(s)
            }
            ItemKind::Secret(p) => {
                let ty = self.text(p.ty.span).to_owned();
                let detail = format!(
                    "secret {}: {ty} = {}",
                    p.name.name,
                    self.text(p.source.span)
                );
                let s = self.symbol(
                    &p.name,
                    SymbolKind::Secret,
                    m,
                    item.span,
                    detail,
                    Some(ty),
                    doc,
                    None,
                );
                self.add(s)
            }
            ItemKind::Sweep(sw) => {
                let mut detail = format!("sweep {} = {}", sw.name.name, sw.strategy.name);
                // A sample sheet's table, which says where the points come from.
                if let (None, Some([arg])) = (&sw.body, sw.args.as_deref()) {
                    if let ExprKind::Name(n) = &arg.value.kind {
                        detail.push_str(&format!("({})", n.name));
                    }
                }
                let s = self.symbol(
                    &sw.name,
                    SymbolKind::Sweep,
                    m,
                    item.span,
                    detail,
                    None,
                    doc,
                    None,
                );
                let id = self.add(s);
                for e in sw.body.iter().flat_map(|b| &b.entries) {
                    if e.name.name.is_empty() {
                        continue;
                    }
                    let detail = match &e.value {
                        EntryValue::Value(v) => {
                            format!("{} = {}", e.name.name, self.text(v.span))
                        }
                        _ => e.name.name.as_str().to_owned(),
                    };
                    let s = self.symbol(
                        &e.name,
                        SymbolKind::Axis,
                        m,
                        e.span,
                        detail,
                        None,
                        e.doc.as_ref(),
                        Some(id),
                    );
                    self.add(s);
                }
                id
            }
            ItemKind::Resource(r) | ItemKind::Site(r) => {
                let (kind, kw) = if matches!(item.kind, ItemKind::Site(_)) {
                    (SymbolKind::Site, "site")
                } else {
                    (SymbolKind::Resource, "resource")
                };
                let detail = format!("{kw} {} = {}", r.name.name, r.kind.name);
                let s = self.symbol(
                    &r.name,
                    kind,
                    m,
                    item.span,
                    detail,
                    Some(r.kind.name.as_str().to_owned()),
                    doc,
                    None,
                );
                self.add(s)
            }
            ItemKind::Data(a) | ItemKind::Model(a) => {
                let (kind, kw) = if matches!(item.kind, ItemKind::Model(_)) {
                    (SymbolKind::Model, "model")
                } else {
                    (SymbolKind::Data, "data")
                };
                let ty = self.text(a.ty.span).to_owned();
                let detail = format!("{kw} {}: {ty} = {}", a.name.name, self.text(a.source.span));
                let s = self.symbol(&a.name, kind, m, item.span, detail, Some(ty), doc, None);
                self.add(s)
            }
            ItemKind::Task(t) => {
                let field = |b: &Self, f: &ast::Field| b.field_text(f);
                let inputs: Vec<String> = t.inputs.iter().map(|f| field(self, f)).collect();
                let mut detail = format!("task {}({})", t.name.name, inputs.join(", "));
                if let Some(outputs) = &t.outputs {
                    let outputs: Vec<String> = outputs.iter().map(|f| field(self, f)).collect();
                    detail.push_str(&format!(" -> ({})", outputs.join(", ")));
                }
                let s = self.symbol(
                    &t.name,
                    SymbolKind::Task,
                    m,
                    item.span,
                    detail,
                    None,
                    doc,
                    None,
                );
                let id = self.add(s);
                for (fields, kind) in [
                    (Some(&t.inputs), SymbolKind::Input),
                    (t.outputs.as_ref(), SymbolKind::Output),
                ] {
                    for f in fields.into_iter().flatten() {
                        if f.name.name.is_empty() {
                            continue;
                        }
                        let ty = self.text(f.ty.span).to_owned();
                        let detail = format!(
                            "{} {}",
                            if kind == SymbolKind::Input {
                                "input"
                            } else {
                                "output"
                            },
                            self.field_text(f)
                        );
                        let s = self.symbol(
                            &f.name,
                            kind,
                            m,
                            f.span,
                            detail,
                            Some(ty),
                            f.doc.as_ref(),
                            Some(id),
                        );
                        self.add(s);
                    }
                }
                id
            }
            ItemKind::Pipeline(p) => {
                let s = self.symbol(
                    &p.name,
                    SymbolKind::Pipeline,
                    m,
                    item.span,
                    format!("pipeline {}", p.name.name),
                    None,
                    doc,
                    None,
                );
                let id = self.add(s);
                self.declare_statements(m, &p.body, id);
                id
            }
            ItemKind::Record(r) | ItemKind::Schema(r) => {
                let (kind, kw) = if matches!(item.kind, ItemKind::Schema(_)) {
                    (SymbolKind::Schema, "schema")
                } else {
                    (SymbolKind::Record, "record")
                };
                let s = self.symbol(
                    &r.name,
                    kind,
                    m,
                    item.span,
                    format!("{kw} {}", r.name.name),
                    None,
                    doc,
                    None,
                );
                let id = self.add(s);
                self.declare_fields(m, &r.body, id);
                id
            }
            ItemKind::Profile(p) => {
                let moves: Vec<String> = p
                    .body
                    .entries
                    .iter()
                    .filter_map(|e| match &e.value {
                        EntryValue::Value(v) => {
                            Some(format!("{} = {}", e.name.name, self.text(v.span)))
                        }
                        _ => None,
                    })
                    .collect();
                let s = self.symbol(
                    &p.name,
                    SymbolKind::Profile,
                    m,
                    item.span,
                    format!("profile {} {{ {} }}", p.name.name, moves.join(", ")),
                    None,
                    doc,
                    None,
                );
                self.add(s)
            }
            ItemKind::Kind(k) => {
                let s = self.symbol(
                    &k.name,
                    SymbolKind::Kind,
                    m,
                    item.span,
                    format!("kind {}: {}", k.name.name, k.backend.name),
                    None,
                    doc,
                    None,
                );
                let id = self.add(s);
                self.declare_fields(m, &k.body, id);
                id
            }
            ItemKind::Format(f) => {
                let detail = match &f.base {
                    Some(b) => format!("format {}: {}", f.name.name, b.name),
                    None => format!("format {}", f.name.name),
                };
                let s = self.symbol(
                    &f.name,
                    SymbolKind::Format,
                    m,
                    item.span,
                    detail,
                    None,
                    doc,
                    None,
                );
                self.add(s)
            }
            ItemKind::Enum(e) => {
                let variants: Vec<&str> = e.variants.iter().map(|v| v.name.name.as_str()).collect();
                let s = self.symbol(
                    &e.name,
                    SymbolKind::Enum,
                    m,
                    item.span,
                    format!("enum {} {{ {} }}", e.name.name, variants.join(", ")),
                    None,
                    doc,
                    None,
                );
                let id = self.add(s);
                for v in &e.variants {
                    let s = self.symbol(
                        &v.name,
                        SymbolKind::Variant,
                        m,
                        v.name.span,
                        format!("{}.{}", e.name.name, v.name.name),
                        Some(e.name.name.as_str().to_owned()),
                        v.doc.as_ref(),
                        Some(id),
                    );
                    self.add(s);
                }
                id
            }
        };
        Some(id)
    }

    fn field_text(&self, f: &ast::Field) -> String {
        let mut s = format!("{}: {}", f.name.name, self.text(f.ty.span));
        if let Some(d) = &f.default {
            s.push_str(&format!(" = {}", self.text(d.span)));
        }
        s
    }

    /// Typed entries of a record, schema or kind.
    fn declare_fields(&mut self, module: ModuleId, body: &Block, parent: SymbolId) {
        for e in &body.entries {
            if e.name.name.is_empty() {
                continue;
            }
            let (ty, detail) = match &e.value {
                EntryValue::Typed { ty, default } => {
                    let t = self.text(ty.span).to_owned();
                    let mut detail = format!("{}: {t}", e.name.name);
                    if let Some(d) = default {
                        detail.push_str(&format!(" = {}", self.text(d.span)));
                    }
                    (Some(t), detail)
                }
                EntryValue::Value(v) => (None, format!("{} = {}", e.name.name, self.text(v.span))),
                _ => (None, e.name.name.as_str().to_owned()),
            };
            let s = self.symbol(
                &e.name,
                SymbolKind::Field,
                module,
                e.span,
                detail,
                ty,
                e.doc.as_ref(),
                Some(parent),
            );
            self.add(s);
        }
    }

    fn declare_statements(&mut self, module: ModuleId, body: &[Stmt], pipeline: SymbolId) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Let { name, value, .. } => {
                    let s = self.symbol(
                        name,
                        SymbolKind::Binding,
                        module,
                        stmt.span,
                        format!("let {} = {}", name.name, self.text(value.span)),
                        None,
                        None,
                        Some(pipeline),
                    );
                    self.add(s);
                }
                StmtKind::For {
                    index,
                    var,
                    source,
                    body,
                    ..
                } => {
                    let source_text = self.text(source.span).to_owned();
                    let s = self.symbol(
                        var,
                        SymbolKind::LoopVar,
                        module,
                        stmt.span,
                        format!("for {} in {source_text}", var.name),
                        None,
                        None,
                        Some(pipeline),
                    );
                    self.add(s);
                    if let Some(i) = index {
                        let s = self.symbol(
                            i,
                            SymbolKind::LoopVar,
                            module,
                            stmt.span,
                            format!(
                                "{}: Int, the position of `{}` in {source_text}, from 0",
                                i.name, var.name
                            ),
                            None,
                            None,
                            Some(pipeline),
                        );
                        self.add(s);
                    }
                    self.declare_statements(module, body, pipeline);
                }
                StmtKind::If(i) => {
                    self.declare_statements(module, &i.then_body, pipeline);
                    if let Some((body, _)) = &i.else_body {
                        self.declare_statements(module, body, pipeline);
                    }
                }
                StmtKind::Expr { .. } | StmtKind::Register { .. } | StmtKind::Error => {}
            }
        }
    }

    fn item_symbol(&self, module: ModuleId, item: usize) -> Option<SymbolId> {
        self.index
            .modules
            .get(module.0 as usize)?
            .1
            .get(&item)
            .copied()
    }

    fn bind_scopes(&mut self, defs: &Defs) {
        for module in self.modules {
            let mut scope = HashMap::new();
            for (name, bound) in &defs.scopes[module.id.0 as usize] {
                let symbol = match bound.binding {
                    Binding::Def(d) => {
                        let def = defs.get(d);
                        self.item_symbol(def.module, def.item)
                    }
                    Binding::Module(m) => self.index.module_symbol(m),
                };
                if let Some(s) = symbol {
                    scope.insert(name.as_str().to_owned(), s);
                }
            }
            self.index.scopes.push(scope);
        }
    }

    fn refer(&mut self, span: Span, symbol: SymbolId) {
        if !span.is_empty() {
            self.index.references.push(Reference { span, symbol });
        }
    }

    fn lookup(&self, module: ModuleId, locals: &Scope, name: &str) -> Option<SymbolId> {
        locals
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .or_else(|| self.index.lookup(module, name))
    }

    fn resolve_module(&mut self, module: &Module) {
        let m = module.id;
        for (i, item) in module.ast.items.iter().enumerate() {
            let own = self.item_symbol(m, i);
            match &item.kind {
                ItemKind::Import(import) => self.resolve_import(module, i, import),
                ItemKind::Experiment(e) => self.block_values(m, &[], &e.body),
                ItemKind::Param(p) => {
                    self.ty(m, &p.ty);
                    for e in p.default.iter().chain(&p.constraint) {
                        self.expr(m, &[], e);
                    }
                }
                ItemKind::Secret(s) => {
                    self.ty(m, &s.ty);
                    self.expr(m, &[], &s.source);
                }
                ItemKind::Sweep(s) => {
                    for a in s.args.iter().flatten() {
                        self.expr(m, &[], &a.value);
                    }
                    if let Some(body) = &s.body {
                        self.block_values(m, &[], body);
                    }
                }
                ItemKind::Resource(r) | ItemKind::Site(r) => {
                    let kind = self.index.lookup(m, &r.kind.name);
                    if let Some(k) = kind {
                        self.refer(r.kind.span, k);
                    }
                    self.fields_block(m, &[], &r.body, kind);
                    if let (Some(own), Some(k)) = (own, kind) {
                        self.index.symbols[own.0 as usize].target = Some(k);
                    }
                }
                ItemKind::Data(a) | ItemKind::Model(a) => {
                    self.ty(m, &a.ty);
                    self.expr(m, &[], &a.source);
                    if let Some(b) = &a.body {
                        self.block_values(m, &[], b);
                    }
                }
                ItemKind::Task(t) => {
                    let mut locals = Locals::new();
                    if let Some(own) = own {
                        let children: Vec<(String, SymbolId)> = self
                            .index
                            .children(own)
                            .map(|(id, s)| (s.name.clone(), id))
                            .collect();
                        locals.extend(children);
                    }
                    for f in t.inputs.iter().chain(t.outputs.iter().flatten()) {
                        self.ty(m, &f.ty);
                        if let Some(d) = &f.default {
                            self.expr(m, &[], d);
                        }
                    }
                    for section in &t.sections {
                        self.section(m, &locals, &section.kind);
                    }
                }
                ItemKind::Pipeline(p) => {
                    let mut locals = Locals::new();
                    if let Some(own) = own {
                        self.statements(m, &mut locals, own, &p.body);
                    }
                }
                ItemKind::Record(r) | ItemKind::Schema(r) => self.block_values(m, &[], &r.body),
                ItemKind::Kind(k) => self.block_values(m, &[], &k.body),
                ItemKind::Profile(p) => {
                    for e in &p.body.entries {
                        self.placement(m, Some(&e.name));
                        if let EntryValue::Value(v) = &e.value {
                            self.expr(m, &[], v);
                        }
                    }
                }
                ItemKind::Format(f) => {
                    if let Some(b) = &f.base {
                        if let Some(s) = self.index.lookup(m, &b.name) {
                            self.refer(b.span, s);
                        }
                    }
                    self.block_values(m, &[], &f.body);
                }
                ItemKind::Enum(_) | ItemKind::Error => {}
            }
        }
    }

    fn resolve_import(&mut self, module: &Module, index: usize, import: &ast::Import) {
        let Some(&target) = module.imports.get(&index) else {
            return;
        };
        let Some(target_symbol) = self.index.module_symbol(target) else {
            return;
        };
        match &import.source {
            ImportSource::File(lit) => self.refer(lit.span, target_symbol),
            ImportSource::Module(path) => {
                if let Some(last) = path.last() {
                    self.refer(last.span, target_symbol);
                }
            }
        }
        if let Some(alias) = &import.alias {
            self.refer(alias.span, target_symbol);
        }
        for n in import.names.iter().flatten() {
            if let Some(s) = self.index.lookup(target, &n.name.name) {
                if self.get_module(s) == target {
                    self.refer(n.name.span, s);
                    if let Some(a) = &n.alias {
                        self.refer(a.span, s);
                    }
                }
            }
        }
    }

    fn get_module(&self, s: SymbolId) -> ModuleId {
        self.index.get(s).module
    }

    fn section(&mut self, m: ModuleId, locals: &Scope, section: &SectionKind) {
        match section {
            SectionKind::Resources(b) | SectionKind::Env(b) => self.block_values(m, locals, b),
            SectionKind::Run(t) | SectionKind::Shell(t) => self.template(m, locals, t),
            SectionKind::Spark { app, args, body } => {
                self.expr(m, locals, app);
                if let Some(a) = args {
                    self.expr(m, locals, a);
                }
                if let Some(b) = body {
                    self.block_values(m, locals, b);
                }
            }
            SectionKind::Retry { attempts, body } => {
                self.expr(m, locals, attempts);
                if let Some(b) = body {
                    self.block_values(m, locals, b);
                }
            }
            SectionKind::Cache(v) => {
                self.expr(m, locals, v);
            }
            SectionKind::Evaluates(_) => {}
            SectionKind::Error => {}
        }
    }

    fn template(&mut self, m: ModuleId, locals: &Scope, t: &ast::Template) {
        for w in &t.words {
            for p in &w.parts {
                if let TemplatePart::Interp(e) = p {
                    self.expr(m, locals, e);
                }
            }
        }
    }

    fn statements(&mut self, m: ModuleId, locals: &mut Locals, pipeline: SymbolId, body: &[Stmt]) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Let {
                    name,
                    value,
                    after,
                    on,
                } => {
                    let task = self.expr(m, locals, value);
                    self.after(locals, pipeline, after.as_ref());
                    self.placement(m, on.as_ref());
                    if let Some(binding) = self.local_symbol(pipeline, name.span) {
                        self.index.symbols[binding.0 as usize].target = task;
                        locals.push((name.name.as_str().to_owned(), binding));
                    }
                }
                StmtKind::For {
                    index,
                    var,
                    source,
                    body,
                    ..
                } => {
                    let target = self.expr(m, locals, source);
                    let depth = locals.len();
                    let mut vars = 0;
                    if let Some(var_symbol) = self.local_symbol(pipeline, var.span) {
                        self.index.symbols[var_symbol.0 as usize].target = target;
                        locals.push((var.name.as_str().to_owned(), var_symbol));
                        vars += 1;
                    }
                    if let Some(i) = index {
                        if let Some(symbol) = self.local_symbol(pipeline, i.span) {
                            locals.push((i.name.as_str().to_owned(), symbol));
                            vars += 1;
                        }
                    }
                    self.statements(m, locals, pipeline, body);
                    // Bindings made inside a loop stay visible after it (they gather).
                    let inner: Locals = locals.split_off(depth);
                    locals.extend(inner.into_iter().skip(vars));
                }
                StmtKind::Expr { value, after, on } => {
                    self.expr(m, locals, value);
                    self.after(locals, pipeline, after.as_ref());
                    self.placement(m, on.as_ref());
                }
                StmtKind::If(i) => {
                    self.expr(m, locals, &i.condition);
                    // Bindings made in a branch stay visible after the `if`.
                    self.statements(m, locals, pipeline, &i.then_body);
                    if let Some((body, _)) = &i.else_body {
                        self.statements(m, locals, pipeline, body);
                    }
                }
                StmtKind::Register { model, .. } => {
                    self.expr(m, locals, model);
                }
                StmtKind::Error => {}
            }
        }
    }

    fn local_symbol(&self, pipeline: SymbolId, span: Span) -> Option<SymbolId> {
        self.index
            .children(pipeline)
            .find(|(_, s)| s.span == span)
            .map(|(id, _)| id)
    }

    /// `after [a, b]`: each a binding of the pipeline, written before or after.
    fn after(&mut self, locals: &Locals, pipeline: SymbolId, after: Option<&ast::After>) {
        for n in after.iter().flat_map(|a| &a.names) {
            let found = locals
                .iter()
                .rev()
                .find(|(name, _)| name == n.name.as_str())
                .map(|(_, s)| *s)
                .or_else(|| {
                    self.index
                        .children(pipeline)
                        .find(|(_, s)| s.name == n.name.as_str() && s.kind == SymbolKind::Binding)
                        .map(|(id, _)| id)
                });
            if let Some(s) = found {
                if self.index.get(s).kind == SymbolKind::Binding {
                    self.refer(n.span, s);
                }
            }
        }
    }

    fn placement(&mut self, m: ModuleId, on: Option<&ast::Ident>) {
        if let Some(on) = on {
            if let Some(s) = self.index.lookup(m, &on.name) {
                self.refer(on.span, s);
            }
        }
    }

    /// `base.name` where `base` is the symbol `of`: a module's item, a call's output, a
    /// sweep point's axis, an enum's variant, a record's field.
    fn member(&self, of: SymbolId, name: &str) -> Option<SymbolId> {
        let sym = self.index.get(of);
        match sym.kind {
            SymbolKind::Module => self.index.lookup(sym.module, name).filter(|s| {
                let t = self.index.get(*s);
                t.module == sym.module
            }),
            SymbolKind::Binding => {
                let task = sym.target?;
                self.index
                    .children(task)
                    .find(|(_, c)| c.name == name && c.kind == SymbolKind::Output)
                    .map(|(id, _)| id)
            }
            SymbolKind::LoopVar | SymbolKind::Resource | SymbolKind::Site => {
                self.index.field(sym.target?, name)
            }
            _ => self.index.field(of, name),
        }
    }

    /// Resolves an expression's names; returns the task it calls, if it is a call.
    fn expr(&mut self, m: ModuleId, locals: &Scope, e: &Expr) -> Option<SymbolId> {
        match &e.kind {
            ExprKind::Name(n) => {
                let s = self.lookup(m, locals, &n.name)?;
                self.refer(n.span, s);
                Some(s)
            }
            ExprKind::Field { base, name } => {
                let b = self.expr(m, locals, base)?;
                let s = self.member(b, &name.name)?;
                self.refer(name.span, s);
                Some(s)
            }
            ExprKind::Call { callee, args } => {
                let task = self
                    .expr(m, locals, callee)
                    .filter(|t| self.index.get(*t).kind == SymbolKind::Task);
                for a in args {
                    if let (Some(name), Some(t)) = (&a.name, task) {
                        let input = self
                            .index
                            .children(t)
                            .find(|(_, c)| c.name == name.name && c.kind == SymbolKind::Input)
                            .map(|(id, _)| id);
                        if let Some(i) = input {
                            self.refer(name.span, i);
                        }
                    }
                    self.expr(m, locals, &a.value);
                }
                task
            }
            ExprKind::Record { ty, body } => {
                let record = self.index.lookup(m, &ty.name);
                if let Some(r) = record {
                    self.refer(ty.span, r);
                }
                self.fields_block(m, locals, body, record);
                None
            }
            ExprKind::List(items) => {
                for i in items {
                    self.expr(m, locals, i);
                }
                None
            }
            ExprKind::Paren(x) | ExprKind::Unary { operand: x, .. } => {
                self.expr(m, locals, x);
                None
            }
            ExprKind::Binary { lhs, rhs, .. }
            | ExprKind::Range {
                start: lhs,
                end: rhs,
                ..
            }
            | ExprKind::Index {
                base: lhs,
                index: rhs,
            } => {
                self.expr(m, locals, lhs);
                self.expr(m, locals, rhs);
                None
            }
            ExprKind::Compare { first, rest } => {
                self.expr(m, locals, first);
                for (_, x) in rest {
                    self.expr(m, locals, x);
                }
                None
            }
            ExprKind::Template(t) => {
                for w in &t.words {
                    for p in &w.parts {
                        if let TemplatePart::Interp(x) = p {
                            self.expr(m, locals, x);
                        }
                    }
                }
                None
            }
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Quantity { .. }
            | ExprKind::String(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Error => None,
        }
    }

    /// A block of entries whose names are fields of `owner` (a kind or a record).
    fn fields_block(&mut self, m: ModuleId, locals: &Scope, body: &Block, owner: Option<SymbolId>) {
        for e in &body.entries {
            let field = owner.and_then(|o| self.index.field(o, &e.name.name));
            if let Some(f) = field {
                self.refer(e.name.span, f);
            }
            match &e.value {
                EntryValue::Value(v) => {
                    self.expr(m, locals, v);
                }
                EntryValue::Typed { ty, default } => {
                    self.ty(m, ty);
                    if let Some(d) = default {
                        self.expr(m, locals, d);
                    }
                }
                EntryValue::Block(inner) => {
                    // A nested block is written in the fields of the field's type.
                    let inner_owner = field.and_then(|f| self.type_of_field(f));
                    self.fields_block(m, locals, inner, inner_owner);
                }
                EntryValue::Error => {}
            }
        }
    }

    /// The record or kind a field's declared type names.
    fn type_of_field(&self, field: SymbolId) -> Option<SymbolId> {
        let f = self.index.get(field);
        let ty = f.ty.as_deref()?;
        let name: String = ty
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        self.index.lookup(f.module, &name)
    }

    fn block_values(&mut self, m: ModuleId, locals: &Scope, body: &Block) {
        self.fields_block(m, locals, body, None);
    }

    fn ty(&mut self, m: ModuleId, ty: &TypeExpr) {
        if let TypeExprKind::Named { name, args, .. } = &ty.kind {
            if let Some(s) = self.index.lookup(m, &name.name) {
                self.refer(name.span, s);
            }
            for a in args {
                self.ty(m, a);
            }
        }
    }
}
