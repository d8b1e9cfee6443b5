//! Attaching `///` doc comments to the items, fields, entries and variants below them.

use std::collections::HashMap;

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
        item.doc = docs.remove(&item.span.start);
        match &mut item.kind {
            ItemKind::Experiment(e) => block(&mut e.body, &mut docs),
            ItemKind::Sweep(s) => block(&mut s.body, &mut docs),
            ItemKind::Resource(r) | ItemKind::Site(r) => block(&mut r.body, &mut docs),
            ItemKind::Data(a) | ItemKind::Model(a) => {
                if let Some(b) = &mut a.body {
                    block(b, &mut docs);
                }
            }
            ItemKind::Task(t) => {
                for f in t.inputs.iter_mut().chain(t.outputs.iter_mut().flatten()) {
                    f.doc = docs.remove(&f.span.start);
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
            ItemKind::Record(r) | ItemKind::Schema(r) => block(&mut r.body, &mut docs),
            ItemKind::Format(f) => block(&mut f.body, &mut docs),
            ItemKind::Kind(k) => block(&mut k.body, &mut docs),
            ItemKind::Enum(e) => {
                for v in &mut e.variants {
                    v.doc = docs.remove(&v.name.span.start);
                }
            }
            ItemKind::Import(_)
            | ItemKind::Param(_)
            | ItemKind::Secret(_)
            | ItemKind::Pipeline(_)
            | ItemKind::Error => {}
        }
    }
    let mut dangling: Vec<_> = docs.into_values().collect();
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

fn block(b: &mut Block, docs: &mut HashMap<u32, Doc>) {
    for entry in &mut b.entries {
        entry.doc = docs.remove(&entry.span.start);
        if let EntryValue::Block(inner) = &mut entry.value {
            block(inner, docs);
        }
    }
}

/// Groups consecutive doc comments and keys each group by the offset of the first token
/// after it (skipping whitespace and ordinary comments).
fn collect(comments: &[Comment], src: &str) -> HashMap<u32, Doc> {
    let mut out = HashMap::new();
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
        out.insert(pos as u32, Doc { text, span });
        i = last + 1;
    }
    out
}

fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}
