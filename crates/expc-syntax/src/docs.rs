//! Attaching `///` doc comments to the items, fields, entries and variants below them.

use expc_diagnostics::{Code, Diagnostic, Span};

use crate::ast::*;
use crate::lexer::{Comment, CommentKind};

/// Attaches doc comments in place; returns a warning for each one that documents nothing.
pub(crate) fn attach(file: &mut SourceFile, comments: &[Comment], src: &str) -> Vec<Diagnostic> {
    let mut docs = collect(comments, src);
    if docs.is_empty() {
        return Vec::new();
    }
    for item in &mut file.items {
        item.doc = docs.take(item.span.start);
        match &mut item.kind {
            ItemKind::Experiment(e) => block(&mut e.body, &mut docs),
            ItemKind::Sweep(s) => {
                if let Some(b) = &mut s.body {
                    block(b, &mut docs);
                }
            }
            ItemKind::Resource(r) | ItemKind::Site(r) => block(&mut r.body, &mut docs),
            ItemKind::Data(a) | ItemKind::Model(a) => {
                if let Some(b) = &mut a.body {
                    block(b, &mut docs);
                }
            }
            ItemKind::Task(t) => {
                for f in t.inputs.iter_mut().chain(t.outputs.iter_mut().flatten()) {
                    f.doc = docs.take(f.span.start);
                }
                for s in &mut t.sections {
                    match &mut s.kind {
                        SectionKind::Resources(b) | SectionKind::Env(b) => block(b, &mut docs),
                        SectionKind::Spark { body: Some(b), .. }
                        | SectionKind::Retry { body: Some(b), .. } => block(b, &mut docs),
                        _ => {}
                    }
                }
            }
            ItemKind::Record(r) | ItemKind::Schema(r) | ItemKind::Profile(r) => {
                block(&mut r.body, &mut docs)
            }
            ItemKind::Format(f) => block(&mut f.body, &mut docs),
            ItemKind::Kind(k) => block(&mut k.body, &mut docs),
            ItemKind::Enum(e) => {
                for v in &mut e.variants {
                    v.doc = docs.take(v.name.span.start);
                }
            }
            ItemKind::Import(_)
            | ItemKind::Param(_)
            | ItemKind::Secret(_)
            | ItemKind::Pipeline(_)
            | ItemKind::Error => {}
        }
    }
    let mut dangling: Vec<_> = docs.docs.into_iter().filter_map(|(_, d)| d).collect();
    dangling.sort_by_key(|d| d.span.start);
    dangling
        .into_iter()
        .map(|d| {
            Diagnostic::warning(
                Code::DANGLING_DOC_COMMENT,
                "doc comment documents nothing",
                d.span,
            )
            .with_help("move it above an item, field or entry, or make it a `//` comment")
        })
        .collect()
}

/// The doc comments of a file, sorted by the offset of what each documents; attaching
/// one takes it out.
struct Docs {
    docs: Vec<(u32, Option<Doc>)>,
    /// Where the last look-up ended: the tree is walked in source order, so the next one
    /// is usually at or just after it.
    next: usize,
}

impl Docs {
    fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    fn take(&mut self, at: u32) -> Option<Doc> {
        let docs = &mut self.docs;
        let mut i = self.next;
        while i < docs.len() && docs[i].0 < at {
            i += 1;
        }
        while i > 0 && docs[i - 1].0 >= at {
            i -= 1;
        }
        self.next = i;
        match docs.get_mut(i) {
            Some((key, doc)) if *key == at => doc.take(),
            _ => None,
        }
    }
}

fn block(b: &mut Block, docs: &mut Docs) {
    for entry in &mut b.entries {
        entry.doc = docs.take(entry.span.start);
        if let EntryValue::Block(inner) = &mut entry.value {
            block(inner, docs);
        }
    }
}

/// Groups consecutive doc comments and keys each group by the offset of the first token
/// after it (skipping whitespace and ordinary comments).
fn collect(comments: &[Comment], src: &str) -> Docs {
    let mut out: Vec<(u32, Option<Doc>)> = Vec::new();
    let mut i = 0;
    while i < comments.len() {
        if comments[i].kind != CommentKind::Doc {
            i += 1;
            continue;
        }
        let first = i;
        let mut last = i;
        while last + 1 < comments.len()
            && comments[last + 1].kind == CommentKind::Doc
            && is_blank(
                &src[comments[last].span.end as usize..comments[last + 1].span.start as usize],
            )
        {
            last += 1;
        }
        // Find the target: skip whitespace and non-doc comments.
        let mut pos = comments[last].span.end as usize;
        let mut next = last + 1;
        loop {
            let rest = &src[pos..];
            let trimmed = rest.trim_start();
            pos += rest.len() - trimmed.len();
            if next < comments.len()
                && comments[next].span.start as usize == pos
                && comments[next].kind != CommentKind::Doc
            {
                pos = comments[next].span.end as usize;
                next += 1;
                continue;
            }
            break;
        }
        let text = comments[first..=last]
            .iter()
            .map(|c| {
                let line = &src[c.span.range()];
                let line = line.strip_prefix("///").unwrap_or(line);
                line.strip_prefix(' ').unwrap_or(line).trim_end()
            })
            .collect::<Vec<_>>()
            .join("\n");
        let span = Span {
            end: comments[last].span.end,
            ..comments[first].span
        };
        // Comments come in order, and so do their targets (a doc comment ends the search
        // for the target of the group before it); a later group for the same target
        // would replace the earlier one.
        let doc = Some(Doc { text, span });
        match out.last_mut() {
            Some((at, previous)) if *at == pos as u32 => *previous = doc,
            _ => out.push((pos as u32, doc)),
        }
        i = last + 1;
    }
    out.sort_by_key(|(at, _)| *at);
    Docs { docs: out, next: 0 }
}

fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}
