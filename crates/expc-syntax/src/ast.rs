//! The syntax tree of one `.exp` file.
//!
//! It mirrors the source closely (literals keep their text, parentheses are kept) so the
//! formatter can print it back; every node has a byte span. Parsing errors leave `Error`
//! nodes in the tree rather than failing.

use expc_diagnostics::Span;
pub use smol_str::SmolStr;

use crate::quantity::Quantity;

/// `text` as a [`SmolStr`]: the same value as `SmolStr::new`, built with
/// `SmolStr::new_inline` when it fits inline (names and literals nearly always do), which
/// takes about 60 instructions fewer per text than `SmolStr::new`'s general path: 14 M of
/// the quarter million texts the parser builds for the 10,000-task spec.
#[inline]
pub(crate) fn smol(text: &str) -> SmolStr {
    if text.len() <= 23 {
        SmolStr::new_inline(text)
    } else {
        SmolStr::new(text)
    }
}

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: SmolStr,
    pub span: Span,
}

/// A doc comment (`///` lines) attached to the node below it.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    /// The text of the lines, without the `///` and one following space, joined by `\n`.
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceFile {
    pub items: Vec<Item>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub doc: Option<Doc>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    Experiment(Experiment),
    Import(Import),
    Param(Param),
    Secret(Secret),
    Sweep(Sweep),
    Resource(Resource),
    Site(Resource),
    Data(Artifact),
    Model(Artifact),
    Task(Task),
    Pipeline(Pipeline),
    Record(RecordDecl),
    /// `schema NAME { column: Type … }`: the columns of a table.
    Schema(RecordDecl),
    Enum(EnumDecl),
    Format(FormatDecl),
    Kind(KindDecl),
    /// `profile NAME { from = to … }`: placements moved from one resource to another.
    Profile(RecordDecl),
    /// Tokens that could not be parsed as an item.
    Error,
}

impl ItemKind {
    /// The keyword that introduces the item.
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Experiment(_) => "experiment",
            ItemKind::Import(_) => "import",
            ItemKind::Param(_) => "param",
            ItemKind::Secret(_) => "secret",
            ItemKind::Sweep(_) => "sweep",
            ItemKind::Resource(_) => "resource",
            ItemKind::Site(_) => "site",
            ItemKind::Data(_) => "data",
            ItemKind::Model(_) => "model",
            ItemKind::Task(_) => "task",
            ItemKind::Pipeline(_) => "pipeline",
            ItemKind::Record(_) => "record",
            ItemKind::Schema(_) => "schema",
            ItemKind::Enum(_) => "enum",
            ItemKind::Format(_) => "format",
            ItemKind::Kind(_) => "kind",
            ItemKind::Profile(_) => "profile",
            ItemKind::Error => "error",
        }
    }

    /// The name the item declares, if it declares one.
    pub fn name(&self) -> Option<&Ident> {
        match self {
            ItemKind::Experiment(e) => Some(&e.name),
            ItemKind::Import(i) => i.alias.as_ref(),
            ItemKind::Param(p) => Some(&p.name),
            ItemKind::Secret(s) => Some(&s.name),
            ItemKind::Sweep(s) => Some(&s.name),
            ItemKind::Resource(r) | ItemKind::Site(r) => Some(&r.name),
            ItemKind::Data(a) | ItemKind::Model(a) => Some(&a.name),
            ItemKind::Task(t) => Some(&t.name),
            ItemKind::Pipeline(p) => Some(&p.name),
            ItemKind::Record(r) | ItemKind::Schema(r) | ItemKind::Profile(r) => Some(&r.name),
            ItemKind::Enum(e) => Some(&e.name),
            ItemKind::Format(f) => Some(&f.name),
            ItemKind::Kind(k) => Some(&k.name),
            ItemKind::Error => None,
        }
    }
}

/// `experiment NAME { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub name: Ident,
    pub body: Block,
}

/// `import "path.exp" as alias` or `import std.formats.{Csv, Parquet as Pq}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub source: ImportSource,
    /// `{ a, b as c }` after a module path.
    pub names: Option<Vec<ImportName>>,
    pub alias: Option<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ImportSource {
    /// A relative file path, as a string literal.
    File(StringLit),
    /// A dotted module path such as `std.formats`.
    Module(Vec<Ident>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportName {
    pub name: Ident,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// `param NAME: TYPE = DEFAULT where CONSTRAINT`
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub constraint: Option<Expr>,
}

/// `secret NAME: TYPE = SOURCE`
#[derive(Clone, Debug, PartialEq)]
pub struct Secret {
    pub name: Ident,
    pub ty: TypeExpr,
    pub source: Expr,
}

/// `sweep NAME = STRATEGY(ARGS) { axis = values … }`, or `sweep NAME = rows(TABLE)`
/// without a body.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    pub name: Ident,
    pub strategy: Ident,
    /// Present when the strategy has parentheses, even empty ones.
    pub args: Option<Vec<Arg>>,
    /// Absent for a sweep whose points come from elsewhere (`rows(units)`).
    pub body: Option<Block>,
}

/// `resource NAME = KIND { … }` and `site NAME = KIND { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub name: Ident,
    pub kind: Ident,
    pub body: Block,
}

/// `data NAME: TYPE = SOURCE { … }` and `model NAME: TYPE = SOURCE { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    pub name: Ident,
    pub ty: TypeExpr,
    pub source: Expr,
    pub body: Option<Block>,
}

/// `task NAME(INPUTS) -> (OUTPUTS) { SECTIONS }`
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub name: Ident,
    pub inputs: Vec<Field>,
    pub outputs: Option<Vec<Field>>,
    pub sections: Vec<Section>,
    /// The span of the braces around the sections.
    pub body_span: Span,
}

/// `NAME: TYPE = DEFAULT`, in a task signature.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub kind: SectionKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SectionKind {
    /// `resources { cpus = 4, mem = 16GiB }`
    Resources(Block),
    /// `env { image = "…", modules = […] }`
    Env(Block),
    /// `run \`…\``: an argv template.
    Run(Template),
    /// `shell \`…\``: an explicit bash script.
    Shell(Template),
    /// `spark APP args [..] { … }`
    Spark {
        app: Expr,
        args: Option<Expr>,
        body: Option<Block>,
    },
    /// `retry N { … }`
    Retry {
        attempts: Expr,
        body: Option<Block>,
    },
    /// `cache = false`: whether a run may serve the task from the cache.
    Cache(Expr),
    /// `evaluates = INPUT`: the model input the task evaluates; its `Metrics` outputs
    /// are the scores of that model in the registry.
    Evaluates(Ident),
    Error,
}

impl SectionKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            SectionKind::Resources(_) => "resources",
            SectionKind::Env(_) => "env",
            SectionKind::Run(_) => "run",
            SectionKind::Shell(_) => "shell",
            SectionKind::Spark { .. } => "spark",
            SectionKind::Retry { .. } => "retry",
            SectionKind::Cache(_) => "cache",
            SectionKind::Evaluates(_) => "evaluates",
            SectionKind::Error => "error",
        }
    }
}

/// `pipeline NAME { STATEMENTS }`
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub body_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `let NAME = EXPR after [A, B] on RESOURCE`
    Let {
        name: Ident,
        value: Expr,
        after: Option<After>,
        on: Option<Ident>,
    },
    /// `for VAR in SOURCE { … }` or `for (INDEX, VAR) in SOURCE { … }`: the source is a
    /// sweep (a name path) or any list.
    For {
        /// The name of the position in the list, in `for (i, x) in …`.
        index: Option<Ident>,
        var: Ident,
        source: Expr,
        body: Vec<Stmt>,
        body_span: Span,
    },
    /// `if CONDITION { … } else { … }`: which branch runs is decided by the condition, when
    /// the experiment is planned (params and literals).
    If(IfStmt),
    /// `EXPR after [A, B] on RESOURCE`
    Expr {
        value: Expr,
        after: Option<After>,
        on: Option<Ident>,
    },
    /// `register BINDING.OUTPUT as "NAME"`: each model the output holds after a run is a
    /// version of the registry's model `NAME`.
    Register {
        model: Expr,
        name: Expr,
    },
    Error,
}

/// `if CONDITION { … }` with an optional `else { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct IfStmt {
    pub condition: Expr,
    pub then_body: Vec<Stmt>,
    pub then_span: Span,
    /// The `else` branch and its braces' span, if written.
    pub else_body: Option<(Vec<Stmt>, Span)>,
}

/// `after [a, b]` on a call: bindings of the pipeline the call runs after, though it
/// reads none of their outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct After {
    pub names: Vec<Ident>,
    /// From `after` to the closing bracket.
    pub span: Span,
}

/// `record NAME { … }` and `schema NAME { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct RecordDecl {
    pub name: Ident,
    pub body: Block,
}

/// `enum NAME { a, b }`
#[derive(Clone, Debug, PartialEq)]
pub struct EnumDecl {
    pub name: Ident,
    pub variants: Vec<Variant>,
    pub body_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub doc: Option<Doc>,
    pub name: Ident,
}

/// `format NAME: BASE { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct FormatDecl {
    pub name: Ident,
    pub base: Option<Ident>,
    pub body: Block,
}

/// `kind NAME: BACKEND { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct KindDecl {
    pub name: Ident,
    pub backend: Ident,
    pub body: Block,
}

/// `{ entry … }`
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub entries: Vec<Entry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub value: EntryValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EntryValue {
    /// `name = expr`
    Value(Expr),
    /// `name: Type = default`
    Typed {
        ty: TypeExpr,
        default: Option<Expr>,
    },
    /// `name { … }`
    Block(Block),
    Error,
}

/// A type as written: `Table<Csv, Stations>?`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TypeExprKind {
    Named {
        name: Ident,
        args: Vec<TypeExpr>,
        optional: bool,
    },
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
    /// The height of this expression's tree; the parser keeps it at most
    /// [`MAX_EXPR_DEPTH`], so that every pass may recurse on expressions.
    pub depth: u32,
}

/// The deepest expression tree the parser builds.
pub const MAX_EXPR_DEPTH: u32 = 256;

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        let depth = 1 + kind.child_depth();
        Self { kind, span, depth }
    }

    /// An error node standing for an expression that was too deep; folding onto it keeps
    /// it, so one over-deep chain gives one diagnostic.
    pub fn too_deep(span: Span) -> Self {
        Self {
            kind: ExprKind::Error,
            span,
            depth: MAX_EXPR_DEPTH,
        }
    }

    pub fn is_too_deep(&self) -> bool {
        matches!(self.kind, ExprKind::Error) && self.depth == MAX_EXPR_DEPTH
    }

    /// The expression `a.b.c` of a name path.
    pub fn from_path(path: &[Ident]) -> Self {
        let mut it = path.iter();
        let Some(first) = it.next() else {
            return Expr::new(ExprKind::Error, Span::default());
        };
        let mut e = Expr::new(ExprKind::Name(first.clone()), first.span);
        for name in it {
            let span = e.span.to(name.span);
            e = Expr::new(
                ExprKind::Field {
                    base: Box::new(e),
                    name: name.clone(),
                },
                span,
            );
        }
        e
    }

    /// The names of `a.b.c`, when the expression is a name path.
    pub fn as_path(&self) -> Option<Vec<&Ident>> {
        match &self.kind {
            ExprKind::Name(n) => Some(vec![n]),
            ExprKind::Field { base, name } => {
                let mut p = base.as_path()?;
                p.push(name);
                Some(p)
            }
            _ => None,
        }
    }
}

fn block_depth(b: &Block) -> u32 {
    b.entries
        .iter()
        .map(|e| match &e.value {
            EntryValue::Value(v) => v.depth,
            EntryValue::Typed { default, .. } => default.as_ref().map_or(0, |d| d.depth),
            EntryValue::Block(inner) => 1 + block_depth(inner),
            EntryValue::Error => 0,
        })
        .max()
        .unwrap_or(0)
}

impl ExprKind {
    fn child_depth(&self) -> u32 {
        let max = |it: &mut dyn Iterator<Item = u32>| it.max().unwrap_or(0);
        match self {
            ExprKind::List(items) => max(&mut items.iter().map(|e| e.depth)),
            ExprKind::Record { body, .. } => block_depth(body),
            ExprKind::Paren(e) | ExprKind::Unary { operand: e, .. } => e.depth,
            ExprKind::Binary { lhs, rhs, .. } => lhs.depth.max(rhs.depth),
            ExprKind::Compare { first, rest } => {
                first.depth.max(max(&mut rest.iter().map(|(_, e)| e.depth)))
            }
            ExprKind::Range { start, end, .. } => start.depth.max(end.depth),
            ExprKind::Field { base, .. } => base.depth,
            ExprKind::Call { callee, args } => callee
                .depth
                .max(max(&mut args.iter().map(|a| a.value.depth))),
            ExprKind::Index { base, index } => base.depth.max(index.depth),
            ExprKind::Template(t) => {
                max(&mut t.words.iter().flat_map(|w| &w.parts).map(|p| match p {
                    TemplatePart::Interp(e) => e.depth,
                    TemplatePart::Text { .. } => 0,
                }))
            }
            ExprKind::Int { .. }
            | ExprKind::Float { .. }
            | ExprKind::Quantity { .. }
            | ExprKind::String(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Name(_)
            | ExprKind::Error => 0,
        }
    }
}

/// A string literal: its raw text (with quotes) and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct StringLit {
    pub raw: SmolStr,
    pub value: SmolStr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int {
        raw: SmolStr,
        value: i64,
    },
    Float {
        raw: SmolStr,
        value: f64,
    },
    Quantity {
        raw: SmolStr,
        value: Quantity,
    },
    String(StringLit),
    Template(Template),
    Bool(bool),
    None,
    Name(Ident),
    List(Vec<Expr>),
    /// `Kind { … }`
    Record {
        ty: Ident,
        body: Block,
    },
    Paren(Box<Expr>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `a < b`, or a chain `a <= b < c`.
    Compare {
        first: Box<Expr>,
        rest: Vec<(CompareOp, Expr)>,
    },
    Range {
        start: Box<Expr>,
        end: Box<Expr>,
        inclusive: bool,
    },
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    In,
}

impl UnaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
            CompareOp::In => "in",
        }
    }
}

/// `name = value` or a positional `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// A template between backticks. For `run`, a list of words, each one argument; for
/// `shell`, a single word holding the script text.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub words: Vec<TemplateWord>,
    pub span: Span,
}

/// One argument of an argv template, made of pieces.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateWord {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplatePart {
    /// Literal text; `raw` is as written (with its quotes), `value` with escapes applied.
    Text {
        raw: SmolStr,
        value: SmolStr,
        quote: crate::TextQuote,
        span: Span,
    },
    /// `${ expr }`
    Interp(Expr),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `smol` builds what `SmolStr::new` builds, on each side of the inline capacity.
    #[test]
    fn smol_is_smol_str_new() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..=text.len() {
            let (a, b) = (smol(&text[..len]), SmolStr::new(&text[..len]));
            assert_eq!(a, b);
            assert_eq!(a.as_str(), &text[..len]);
            assert_eq!(a.is_heap_allocated(), b.is_heap_allocated(), "{len}");
        }
    }
}
