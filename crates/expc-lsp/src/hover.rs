//! Hover: the declaration of a name as written (its type), its doc comment, and for
//! quantities the units they are written in.

use expc_check::index::SymbolKind;
use expc_check::{SECTION_FIELDS, SectionField};
use expc_diagnostics::FileId;
use expc_syntax::ast::ItemKind;
use expc_syntax::quantity;
use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use crate::analysis::Analysis;
use crate::position;

/// The units a value of a type is written in, for types that have units.
pub fn units_of(ty: &str) -> Option<String> {
    let list = |units: &mut dyn Iterator<Item = &str>| {
        units
            .map(|u| format!("`{u}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match ty.trim_end_matches('?') {
        "Memory" => Some(format!(
            "a memory size with a unit: {} (for example `16GiB`)",
            list(&mut quantity::memory_unit_names())
        )),
        "Duration" => Some(format!(
            "a duration with a unit: {} (`m` is minutes), combined largest first (for example `2h30m`)",
            list(&mut quantity::duration_unit_names())
        )),
        "Cpu" => Some("a number of CPUs (for example `4`)".to_owned()),
        _ => None,
    }
}

pub fn hover(analysis: &Analysis, file: FileId, offset: u32) -> Option<Hover> {
    let source = analysis.file(file)?;
    if let Some((symbol, span)) = analysis.symbol_at(file, offset) {
        let s = analysis.index.get(symbol);
        let mut text = format!("```exp\n{}\n```\n\n*{}*", s.detail, s.kind.noun());
        if let Some(parent) = s.parent {
            let p = analysis.index.get(parent);
            text.push_str(&format!(" of {} `{}`", p.kind.noun(), p.name));
        }
        let module = &analysis.modules.get(s.module.0 as usize)?;
        if !module.is_root() && s.kind != SymbolKind::Module {
            text.push_str(&format!(" in `{}`", module.key));
        }
        // What a binding calls and a loop variable walks.
        if let Some(target) = s
            .target
            .filter(|_| matches!(s.kind, SymbolKind::Binding | SymbolKind::LoopVar))
        {
            let t = analysis.index.get(target);
            text.push_str(&format!(
                "\n\n{} {}:\n```exp\n{}\n```",
                if s.kind == SymbolKind::Binding {
                    "calls"
                } else {
                    "walks"
                },
                t.kind.noun(),
                t.detail
            ));
        }
        if let Some(units) = s.ty.as_deref().and_then(units_of) {
            text.push_str(&format!("\n\n{units}"));
        }
        if let Some(set) = analysis.file_sets.iter().find(|f| f.span == s.span) {
            text.push_str(&file_set_text(set));
        }
        if let Some(doc) = &s.doc {
            text.push_str(&format!("\n\n---\n\n{doc}"));
        }
        return Some(markdown(
            text,
            position::range(source, span.start, span.end),
        ));
    }
    // A field of a task section.
    let (start, end) = word_at(&source.text, offset as usize);
    let word = &source.text[start..end];
    let in_task = analysis
        .modules
        .iter()
        .find(|m| m.file == file)
        .is_some_and(|m| {
            m.ast
                .items
                .iter()
                .any(|i| matches!(i.kind, ItemKind::Task(_)) && i.span.contains(offset))
        });
    if !in_task {
        return None;
    }
    let SectionField {
        section,
        name,
        ty,
        doc: what,
    } = SECTION_FIELDS.iter().find(|f| f.name == word)?;
    let mut text = if *section == "task" {
        format!("```exp\n{name}: {ty}\n```\n\n*field of a task*: {what}")
    } else {
        format!("```exp\n{name}: {ty}\n```\n\n*field of the `{section}` section*: {what}")
    };
    if let Some(units) = units_of(ty) {
        text.push_str(&format!("\n\n{units}"));
    }
    Some(markdown(
        text,
        position::range(source, start as u32, end as u32),
    ))
}

/// What a file set's pattern matched: the count and the first few files.
fn file_set_text(set: &expc_check::FileSetSummary) -> String {
    const SHOWN: usize = 5;
    let Some(files) = &set.files else {
        return format!("\n\n`{}`: the folders could not be listed", set.pattern);
    };
    let n = files.len();
    let mut text = format!(
        "\n\n`{}` matches {n} file{}",
        set.pattern,
        if n == 1 { "" } else { "s" }
    );
    if n > 0 {
        text.push(':');
        for f in files.iter().take(SHOWN) {
            text.push_str(&format!("\n- `{f}`"));
        }
        if n > SHOWN {
            text.push_str(&format!("\n- … and {} more", n - SHOWN));
        }
    }
    text
}

fn markdown(value: String, range: lsp_types::Range) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: Some(range),
    }
}

/// The identifier around a byte offset (empty when there is none).
pub fn word_at(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    (start, end)
}
