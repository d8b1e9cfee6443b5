//! The printer: walks the tree, writing text and weaving comments back in.

use expc_diagnostics::Span;
use expc_syntax::ast::*;
use expc_syntax::{Comment, CommentKind};

const INDENT: &str = "  ";

pub(crate) struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    /// The next comment not yet printed.
    next: usize,
    out: String,
    indent: usize,
    /// The source offset where the last printed thing ended (for blank lines and trailing
    /// comments).
    last_end: u32,
    /// Nothing printed yet at this block level (no blank line wanted).
    block_start: bool,
}

impl<'a> Printer<'a> {
    pub(crate) fn new(src: &'a str, comments: &'a [Comment]) -> Self {
        Self {
            src,
            comments,
            next: 0,
            out: String::with_capacity(src.len() + src.len() / 8),
            indent: 0,
            last_end: 0,
            block_start: true,
        }
    }

    pub(crate) fn file(mut self, file: &SourceFile) -> String {
        let mut prev: Option<&Item> = None;
        for item in &file.items {
            let wants_blank = prev
                .is_some_and(|p| !(is_one_liner(p) && is_one_liner(item) && same_kind(p, item)));
            self.line_node(item.span, wants_blank);
            self.item(item);
            self.trailing(item.span.end);
            prev = Some(item);
        }
        self.leading(self.src.len() as u32 + 1, false);
        while self.out.ends_with('\n') {
            self.out.pop();
        }
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    // ───────────────────────── lines, comments, blank lines ─────────────────────────

    fn write(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    fn blank_line(&mut self) {
        if self.block_start || self.out.is_empty() {
            return;
        }
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.ends_with("\n\n") {
            self.out.push('\n');
            if !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
        }
    }

    /// Whether the source has an empty line between two offsets.
    fn blank_between(&self, from: u32, to: u32) -> bool {
        let (from, to) = (from as usize, (to as usize).min(self.src.len()));
        if from >= to {
            return false;
        }
        let mut newlines = 0;
        for c in self.src[from..to].chars() {
            match c {
                '\n' => {
                    newlines += 1;
                    if newlines >= 2 {
                        return true;
                    }
                }
                c if c.is_whitespace() => {}
                _ => newlines = 0,
            }
        }
        false
    }

    /// Prints the comments that come before `pos`, each on its own line.
    /// `force_blank` puts an empty line before them (and the node), never between a
    /// comment and the node it sits on.
    fn leading(&mut self, pos: u32, mut force_blank: bool) {
        while let Some(c) = self.comments.get(self.next).copied() {
            if c.span.start >= pos {
                break;
            }
            self.next += 1;
            if !self.block_start && (force_blank || self.blank_between(self.last_end, c.span.start))
            {
                self.blank_line();
            }
            force_blank = false;
            self.newline();
            if c.kind == CommentKind::Doc && !self.only_comments_between(c.span.end, pos) {
                // A doc comment that documented nothing where it was (inside an import,
                // before a `}`) would document the node at `pos` here: it stays what it
                // was, a remark.
                self.out
                    .push_str(self.src[c.span.start as usize + 1..c.span.end as usize].trim_end());
            } else {
                self.comment(c);
            }
            self.last_end = c.span.end;
            self.block_start = false;
        }
        if (force_blank || self.blank_between(self.last_end, pos)) && !self.block_start {
            self.blank_line();
        }
    }

    /// Starts a line for a node at `span`, after its leading comments.
    fn line_node(&mut self, span: Span, force_blank: bool) {
        self.leading(span.start, force_blank);
        self.newline();
        self.block_start = false;
    }

    /// Prints a comment that follows on the same source line as `end`.
    fn trailing(&mut self, end: u32) {
        self.last_end = self.last_end.max(end);
        while let Some(c) = self.comments.get(self.next).copied() {
            let gap = &self.src[(end as usize).min(c.span.start as usize)..c.span.start as usize];
            // Only whitespace (and a separating comma) may stand between: otherwise the
            // comment belongs to what follows on the line.
            let own = gap
                .chars()
                .all(|ch| ch == ',' || (ch.is_whitespace() && ch != '\n'));
            if c.span.start < end || !own || c.kind == CommentKind::Doc {
                break;
            }
            self.next += 1;
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            self.write("  ");
            self.comment(c);
            self.last_end = c.span.end;
        }
    }

    /// Whether the source between two offsets holds only whitespace and comments.
    fn only_comments_between(&self, from: u32, to: u32) -> bool {
        let to = to.min(self.src.len() as u32);
        let mut at = from;
        // Comments are in source order: start at the first at or after `from`.
        let first = self.comments.partition_point(|c| c.span.start < from);
        for c in self.comments[first..]
            .iter()
            .take_while(|c| c.span.end <= to)
        {
            if !self.src[at as usize..c.span.start as usize]
                .trim()
                .is_empty()
            {
                return false;
            }
            at = c.span.end;
        }
        at >= to || self.src[at as usize..to as usize].trim().is_empty()
    }

    /// Where the first `byte` at or after `from` is that is not inside a comment (the end
    /// of the source if there is none).
    fn next_outside_comments(&self, from: u32, byte: u8) -> u32 {
        let bytes = self.src.as_bytes();
        let first = self.comments.partition_point(|c| c.span.start < from);
        let mut comments = self.comments[first..].iter().peekable();
        let mut at = from as usize;
        while at < bytes.len() {
            if let Some(c) = comments.peek() {
                if c.span.start as usize == at {
                    at = c.span.end as usize;
                    comments.next();
                    continue;
                }
            }
            if bytes[at] == byte {
                return at as u32;
            }
            at += 1;
        }
        bytes.len() as u32
    }

    fn comment(&mut self, c: Comment) {
        let text = &self.src[c.span.range()];
        let text = match c.kind {
            CommentKind::Block => text,
            CommentKind::Line | CommentKind::Doc => text.trim_end(),
        };
        self.out.push_str(text);
    }

    /// Whether any comment lies inside `span`.
    fn has_comment_in(&self, span: Span) -> bool {
        self.comments[self.next..]
            .iter()
            .take_while(|c| c.span.start < span.end)
            .any(|c| c.span.start >= span.start)
    }

    fn single_line(&self, span: Span) -> bool {
        !self.src[span.range()].contains('\n')
    }

    /// Opens a multi-line body: `{`, indentation.
    fn open(&mut self, s: &str) {
        self.write(s);
        self.indent += 1;
        self.block_start = true;
    }

    /// Closes a multi-line body whose closing delimiter ends at `end`.
    fn close(&mut self, end: u32, s: &str) {
        self.leading(end.saturating_sub(1), false);
        self.indent -= 1;
        self.newline();
        self.write(s);
        self.block_start = false;
        self.last_end = end;
    }

    // ───────────────────────────────── items ─────────────────────────────────

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Experiment(e) => {
                self.write("experiment ");
                self.ident(&e.name);
                self.write(" ");
                self.block(&e.body);
            }
            ItemKind::Import(i) => self.import(i),
            ItemKind::Param(p) => {
                self.write("param ");
                self.ident(&p.name);
                self.write(": ");
                self.ty(&p.ty);
                if let Some(d) = &p.default {
                    self.write(" = ");
                    self.expr(d);
                }
                if let Some(c) = &p.constraint {
                    self.write(" where ");
                    self.expr(c);
                }
            }
            ItemKind::Secret(s) => {
                self.write("secret ");
                self.ident(&s.name);
                self.write(": ");
                self.ty(&s.ty);
                self.write(" = ");
                self.expr(&s.source);
            }
            ItemKind::Sweep(s) => {
                self.write("sweep ");
                self.ident(&s.name);
                self.write(" = ");
                self.ident(&s.strategy);
                if let Some(args) = &s.args {
                    self.args(args);
                }
                if let Some(body) = &s.body {
                    self.write(" ");
                    self.block(body);
                }
            }
            ItemKind::Resource(r) | ItemKind::Site(r) => {
                self.write(item.kind.keyword());
                self.write(" ");
                self.ident(&r.name);
                self.write(" = ");
                self.ident(&r.kind);
                self.write(" ");
                self.block(&r.body);
            }
            ItemKind::Data(a) | ItemKind::Model(a) => {
                self.write(item.kind.keyword());
                self.write(" ");
                self.ident(&a.name);
                self.write(": ");
                self.ty(&a.ty);
                self.write(" = ");
                self.expr(&a.source);
                if let Some(b) = &a.body {
                    self.write(" ");
                    self.block(b);
                }
            }
            ItemKind::Task(t) => self.task(t),
            ItemKind::Pipeline(p) => {
                self.write("pipeline ");
                self.ident(&p.name);
                self.write(" ");
                self.statements(&p.body, p.body_span);
            }
            ItemKind::Record(r) | ItemKind::Schema(r) | ItemKind::Profile(r) => {
                self.write(item.kind.keyword());
                self.write(" ");
                self.ident(&r.name);
                self.write(" ");
                self.block(&r.body);
            }
            ItemKind::Enum(e) => self.enum_decl(e),
            ItemKind::Format(f) => {
                self.write("format ");
                self.ident(&f.name);
                if let Some(b) = &f.base {
                    self.write(": ");
                    self.ident(b);
                }
                self.write(" ");
                self.block(&f.body);
            }
            ItemKind::Kind(k) => {
                self.write("kind ");
                self.ident(&k.name);
                self.write(": ");
                self.ident(&k.backend);
                self.write(" ");
                self.block(&k.body);
            }
            // Files with errors are never formatted; print the source as it was.
            ItemKind::Error => self.verbatim(item.span),
        }
    }

    fn verbatim(&mut self, span: Span) {
        let text = &self.src[span.range()];
        self.out.push_str(text);
        // Comments inside were printed with it.
        while self
            .comments
            .get(self.next)
            .is_some_and(|c| c.span.start < span.end)
        {
            self.next += 1;
        }
    }

    fn import(&mut self, i: &Import) {
        self.write("import ");
        match &i.source {
            ImportSource::File(s) => self.write(&s.raw),
            ImportSource::Module(path) => self.path(path),
        }
        if let Some(names) = &i.names {
            self.write(".{");
            for (k, n) in names.iter().enumerate() {
                if k > 0 {
                    self.write(", ");
                }
                self.ident(&n.name);
                if let Some(a) = &n.alias {
                    self.write(" as ");
                    self.ident(a);
                }
            }
            self.write("}");
        }
        if let Some(a) = &i.alias {
            self.write(" as ");
            self.ident(a);
        }
    }

    fn enum_decl(&mut self, e: &EnumDecl) {
        self.write("enum ");
        self.ident(&e.name);
        self.write(" ");
        if e.variants.is_empty() && !self.has_comment_in(e.body_span) {
            self.write("{}");
            return;
        }
        if self.single_line(e.body_span) && !self.has_comment_in(e.body_span) {
            self.write("{ ");
            for (k, v) in e.variants.iter().enumerate() {
                if k > 0 {
                    self.write(", ");
                }
                self.ident(&v.name);
            }
            self.write(" }");
            self.last_end = e.body_span.end;
            return;
        }
        self.open("{");
        for v in &e.variants {
            self.line_node(v.name.span, false);
            self.ident(&v.name);
            self.trailing(v.name.span.end);
        }
        self.close(e.body_span.end, "}");
    }

    fn task(&mut self, t: &Task) {
        self.write("task ");
        self.ident(&t.name);
        let sig_end = t
            .outputs
            .as_ref()
            .and_then(|o| o.last())
            .or(t.inputs.last())
            .map_or(t.name.span.end, |f| f.span.end);
        let sig = Span {
            end: sig_end,
            ..t.name.span
        };
        let inline = self.single_line(sig) && !self.has_comment_in(sig);
        self.fields(&t.inputs, inline);
        if let Some(outputs) = &t.outputs {
            self.write(" -> ");
            self.fields(outputs, inline);
        }
        self.write(" ");
        if t.sections.is_empty() && !self.has_comment_in(t.body_span) {
            self.write("{}");
            return;
        }
        self.open("{");
        for s in &t.sections {
            self.line_node(s.span, false);
            self.section(s);
            self.trailing(s.span.end);
        }
        self.close(t.body_span.end, "}");
    }

    fn fields(&mut self, fields: &[Field], inline: bool) {
        if inline || fields.is_empty() {
            self.write("(");
            for (k, f) in fields.iter().enumerate() {
                if k > 0 {
                    self.write(", ");
                }
                self.field(f);
            }
            self.write(")");
            return;
        }
        self.open("(");
        for f in fields {
            self.line_node(f.span, false);
            self.field(f);
            self.write(",");
            self.trailing(f.span.end);
        }
        // Comments after the last field belong inside the list, before its `)`.
        let end = fields.last().map_or(0, |f| f.span.end);
        let close = self.next_outside_comments(end, b')');
        self.leading(close, false);
        self.indent -= 1;
        self.newline();
        self.write(")");
        self.block_start = false;
    }

    fn field(&mut self, f: &Field) {
        self.ident(&f.name);
        self.write(": ");
        self.ty(&f.ty);
        if let Some(d) = &f.default {
            self.write(" = ");
            self.expr(d);
        }
    }

    fn section(&mut self, s: &Section) {
        match &s.kind {
            SectionKind::Resources(b) => {
                self.write("resources ");
                self.block(b);
            }
            SectionKind::Env(b) => {
                self.write("env ");
                self.block(b);
            }
            SectionKind::Run(t) => {
                self.write("run ");
                self.template(t);
            }
            SectionKind::Shell(t) => {
                self.write("shell ");
                self.template(t);
            }
            SectionKind::Spark { app, args, body } => {
                self.write("spark ");
                self.expr(app);
                if let Some(a) = args {
                    self.write(" args ");
                    self.expr(a);
                }
                if let Some(b) = body {
                    self.write(" ");
                    self.block(b);
                }
            }
            SectionKind::Retry { attempts, body } => {
                self.write("retry ");
                self.expr(attempts);
                if let Some(b) = body {
                    self.write(" ");
                    self.block(b);
                }
            }
            SectionKind::Cache(v) => {
                self.write("cache = ");
                self.expr(v);
            }
            SectionKind::Evaluates(v) => {
                self.write("evaluates = ");
                self.ident(v);
            }
            SectionKind::Error => self.verbatim(s.span),
        }
    }

    fn statements(&mut self, body: &[Stmt], span: Span) {
        if body.is_empty() && !self.has_comment_in(span) {
            self.write("{}");
            return;
        }
        self.open("{");
        for s in body {
            self.line_node(s.span, false);
            self.statement(s);
            self.trailing(s.span.end);
        }
        self.close(span.end, "}");
    }

    fn statement(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Let {
                name,
                value,
                after,
                on,
            } => {
                self.write("let ");
                self.ident(name);
                self.write(" = ");
                self.expr(value);
                self.after(after);
                self.on(on);
            }
            StmtKind::For {
                index,
                var,
                source,
                body,
                body_span,
            } => {
                self.write("for ");
                match index {
                    Some(i) => {
                        self.write("(");
                        self.ident(i);
                        self.write(", ");
                        self.ident(var);
                        self.write(")");
                    }
                    None => self.ident(var),
                }
                self.write(" in ");
                // A record literal before the body would read as a name and a body.
                if matches!(source.kind, ExprKind::Record { .. }) {
                    self.write("(");
                    self.expr(source);
                    self.write(")");
                } else {
                    self.expr(source);
                }
                self.write(" ");
                self.statements(body, *body_span);
            }
            StmtKind::If(i) => {
                self.write("if ");
                // A record literal before the body would read as a name and a body.
                if matches!(i.condition.kind, ExprKind::Record { .. }) {
                    self.write("(");
                    self.expr(&i.condition);
                    self.write(")");
                } else {
                    self.expr(&i.condition);
                }
                self.write(" ");
                self.statements(&i.then_body, i.then_span);
                if let Some((body, span)) = &i.else_body {
                    self.write(" else ");
                    self.statements(body, *span);
                }
            }
            StmtKind::Expr { value, after, on } => {
                self.expr(value);
                self.after(after);
                self.on(on);
            }
            StmtKind::Register { model, name } => {
                self.write("register ");
                self.expr(model);
                self.write(" as ");
                self.expr(name);
            }
            StmtKind::Error => self.verbatim(s.span),
        }
    }

    fn after(&mut self, after: &Option<After>) {
        if let Some(a) = after {
            self.write(" after [");
            for (k, n) in a.names.iter().enumerate() {
                if k > 0 {
                    self.write(", ");
                }
                self.ident(n);
            }
            self.write("]");
        }
    }

    fn on(&mut self, on: &Option<Ident>) {
        if let Some(r) = on {
            self.write(" on ");
            self.ident(r);
        }
    }

    // ───────────────────────────── blocks and types ─────────────────────────────

    fn block(&mut self, b: &Block) {
        if b.entries.is_empty() && !self.has_comment_in(b.span) {
            self.write("{}");
            self.last_end = b.span.end;
            return;
        }
        if self.single_line(b.span) && !self.has_comment_in(b.span) {
            self.write("{ ");
            for (k, e) in b.entries.iter().enumerate() {
                if k > 0 {
                    self.write(", ");
                }
                self.entry(e);
            }
            self.write(" }");
            self.last_end = b.span.end;
            return;
        }
        self.open("{");
        for e in &b.entries {
            self.line_node(e.span, false);
            self.entry(e);
            self.trailing(e.span.end);
        }
        self.close(b.span.end, "}");
    }

    fn entry(&mut self, e: &Entry) {
        self.ident(&e.name);
        match &e.value {
            EntryValue::Value(v) => {
                self.write(" = ");
                self.expr(v);
            }
            EntryValue::Typed { ty, default } => {
                self.write(": ");
                self.ty(ty);
                if let Some(d) = default {
                    self.write(" = ");
                    self.expr(d);
                }
            }
            EntryValue::Block(b) => {
                self.write(" ");
                self.block(b);
            }
            EntryValue::Error => self.verbatim(e.span),
        }
    }

    fn ty(&mut self, t: &TypeExpr) {
        match &t.kind {
            TypeExprKind::Named {
                name,
                args,
                optional,
            } => {
                self.ident(name);
                if !args.is_empty() {
                    self.write("<");
                    for (k, a) in args.iter().enumerate() {
                        if k > 0 {
                            self.write(", ");
                        }
                        self.ty(a);
                    }
                    self.write(">");
                }
                if *optional {
                    self.write("?");
                }
            }
            TypeExprKind::Error => self.verbatim(t.span),
        }
    }

    fn ident(&mut self, i: &Ident) {
        self.out.push_str(&i.name);
    }

    fn path(&mut self, path: &[Ident]) {
        for (k, p) in path.iter().enumerate() {
            if k > 0 {
                self.write(".");
            }
            self.ident(p);
        }
    }

    // ─────────────────────────────── expressions ───────────────────────────────

    fn template(&mut self, t: &Template) {
        // Templates are the user's command line: printed exactly as written.
        let text = &self.src[t.span.range()];
        self.out.push_str(text);
    }

    fn args(&mut self, args: &[Arg]) {
        self.write("(");
        for (k, a) in args.iter().enumerate() {
            if k > 0 {
                self.write(", ");
            }
            if let Some(n) = &a.name {
                self.ident(n);
                self.write(" = ");
            }
            self.expr(&a.value);
        }
        self.write(")");
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int { raw, .. }
            | ExprKind::Float { raw, .. }
            | ExprKind::Quantity { raw, .. } => {
                self.out.push_str(raw);
            }
            ExprKind::String(s) => self.out.push_str(&s.raw),
            ExprKind::Template(t) => self.template(t),
            ExprKind::Bool(b) => self.write(if *b { "true" } else { "false" }),
            ExprKind::None => self.write("none"),
            ExprKind::Name(i) => self.ident(i),
            ExprKind::List(items) => self.list(items, e.span),
            ExprKind::Record { ty, body } => {
                self.ident(ty);
                self.write(" ");
                self.block(body);
            }
            ExprKind::Paren(inner) => {
                self.write("(");
                self.expr(inner);
                self.write(")");
            }
            ExprKind::Unary { op, operand } => {
                self.write(op.as_str());
                self.expr(operand);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr(lhs);
                self.write(" ");
                self.write(op.as_str());
                self.write(" ");
                self.expr(rhs);
            }
            ExprKind::Compare { first, rest } => {
                self.expr(first);
                for (op, e) in rest {
                    self.write(" ");
                    self.write(op.as_str());
                    self.write(" ");
                    self.expr(e);
                }
            }
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => {
                self.expr(start);
                self.write(if *inclusive { "..=" } else { ".." });
                self.expr(end);
            }
            ExprKind::Field { base, name } => {
                self.expr(base);
                self.write(".");
                self.ident(name);
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                self.args(args);
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.write("[");
                self.expr(index);
                self.write("]");
            }
            ExprKind::Error => self.verbatim(e.span),
        }
    }

    fn list(&mut self, items: &[Expr], span: Span) {
        if items.is_empty() && !self.has_comment_in(span) {
            self.write("[]");
            return;
        }
        if self.single_line(span) && !self.has_comment_in(span) {
            self.write("[");
            for (k, e) in items.iter().enumerate() {
                if k > 0 {
                    self.write(", ");
                }
                self.expr(e);
            }
            self.write("]");
            self.last_end = span.end;
            return;
        }
        self.open("[");
        for e in items {
            self.line_node(e.span, false);
            self.expr(e);
            self.write(",");
            self.trailing(e.span.end);
        }
        self.close(span.end, "]");
    }
}

/// Items that fit on one line and group without blank lines between them (imports,
/// params, secrets of the same kind).
fn is_one_liner(item: &Item) -> bool {
    matches!(
        item.kind,
        ItemKind::Import(_) | ItemKind::Param(_) | ItemKind::Secret(_)
    )
}

fn same_kind(a: &Item, b: &Item) -> bool {
    let group = |i: &Item| match i.kind {
        ItemKind::Import(_) => 0,
        _ => 1,
    };
    group(a) == group(b)
}
