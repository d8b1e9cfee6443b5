//! Completion: keywords where an item, a section or a statement begins, names in scope,
//! the fields of a resource's kind and of task sections, members after a dot, formats in
//! type arguments and units after a number.

use expc_check::index::{Symbol, SymbolId, SymbolKind};
use expc_diagnostics::FileId;
use expc_syntax::ast::{ItemKind, SectionKind};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, MarkupContent,
    MarkupKind, TextEdit,
};

use expc_syntax::quantity;

use crate::analysis::Analysis;
use expc_check::SECTION_FIELDS;

use crate::hover::units_of;
use crate::position;

pub fn completion(analysis: &Analysis, file: FileId, offset: u32) -> Vec<CompletionItem> {
    let Some(source) = analysis.file(file) else {
        return Vec::new();
    };
    let text = &source.text;
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let token_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map_or(before.len(), |(i, _)| i);
    let token = &before[token_start..];

    // Units after a number: `16G`, `2h3`.
    if token.starts_with(|c: char| c.is_ascii_digit()) {
        let unit_len = token
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        let unit_start = (line_start + before.len() - unit_len) as u32;
        let range = position::range(source, unit_start, offset as u32);
        return quantity::memory_unit_names()
            .map(|u| (u, "memory"))
            .chain(quantity::duration_unit_names().map(|u| (u, "duration")))
            .map(|(u, what)| CompletionItem {
                label: u.to_owned(),
                kind: Some(CompletionItemKind::UNIT),
                detail: Some(format!("{what} unit")),
                text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                    range,
                    new_text: u.to_owned(),
                })),
                ..CompletionItem::default()
            })
            .collect();
    }

    let Some(module) = analysis.index.module_of(file) else {
        return Vec::new();
    };
    let item = analysis.modules.get(module.0 as usize).and_then(|m| {
        m.ast
            .items
            .iter()
            .enumerate()
            .find(|(_, i)| i.span.contains(offset as u32) && offset as u32 > i.span.start)
    });
    let item_symbol = item.and_then(|(i, _)| {
        analysis.index.items_of(module).into_iter().find(|s| {
            analysis.index.get(*s).full_span
                == analysis.modules[module.0 as usize].ast.items[i].span
        })
    });
    let locals = locals(analysis, item_symbol, offset as u32);

    // Standard modules after `import std.`.
    if before[..token_start].trim_start().starts_with("import")
        && token.starts_with("std.")
        && token.matches('.').count() == 1
    {
        return expc_check::loader::STD_MODULES
            .iter()
            .map(|(name, _)| CompletionItem {
                label: (*name).to_owned(),
                kind: Some(CompletionItemKind::MODULE),
                detail: Some(format!("std.{name}")),
                ..CompletionItem::default()
            })
            .collect();
    }

    // Members after a dot: `c.`, `p.`, `common.`.
    if let Some(dot) = token.rfind('.') {
        let path: Vec<&str> = token[..dot].split('.').collect();
        // What a task's command reads of its job: `${resources.cpus}`.
        let in_task = matches!(item.map(|(_, i)| &i.kind), Some(ItemKind::Task(_)));
        if in_task && path == ["resources"] && !locals.iter().any(|(n, _)| n == "resources") {
            return resource_reads();
        }
        let mut target = path.first().and_then(|first| {
            locals
                .iter()
                .find(|(n, _)| n == first)
                .map(|(_, s)| *s)
                .or_else(|| analysis.index.lookup(module, first))
        });
        for next in path.iter().skip(1) {
            target = target.and_then(|t| {
                member_list(analysis, t)
                    .into_iter()
                    .find(|m| analysis.index.get(*m).name == *next)
            });
        }
        return target
            .map(|t| {
                member_list(analysis, t)
                    .into_iter()
                    .map(|m| symbol_item(analysis.index.get(m)))
                    .collect()
            })
            .unwrap_or_default();
    }

    let at_line_start = before[..token_start].trim().is_empty();
    let before_token = before[..token_start].trim_end();

    // Formats in type arguments: `File<`, `Table<`, `Model<`.
    if let Some(head) = before_token.strip_suffix('<') {
        let ty = head
            .trim_end()
            .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .unwrap_or("");
        if matches!(ty, "File" | "Table" | "Model") {
            return formats(analysis, module);
        }
    }

    let Some((_, item)) = item else {
        // Between items.
        return if at_line_start {
            keywords(expc_syntax::ITEM_KEYWORDS)
        } else {
            Vec::new()
        };
    };
    match &item.kind {
        ItemKind::Error if at_line_start => return keywords(expc_syntax::ITEM_KEYWORDS),
        ItemKind::Resource(r) | ItemKind::Site(r)
            if r.body.span.contains(offset as u32) && at_line_start =>
        {
            // Fields of the resource's kind not set yet.
            let kind = item_symbol.and_then(|s| analysis.index.get(s).target);
            let set: Vec<&str> = r
                .body
                .entries
                .iter()
                .map(|e| e.name.name.as_str())
                .collect();
            return kind
                .map(|k| {
                    analysis
                        .index
                        .children(k)
                        .filter(|(_, f)| !set.contains(&f.name.as_str()) || f.name == token)
                        .map(|(_, f)| field_item(f))
                        .collect()
                })
                .unwrap_or_default();
        }
        ItemKind::Task(t)
            if t.body_span.contains(offset as u32) && offset as u32 > t.body_span.start =>
        {
            let section = t.sections.iter().find(|s| s.span.contains(offset as u32));
            let block = section.and_then(|s| match &s.kind {
                SectionKind::Resources(b) => Some(("resources", b)),
                SectionKind::Env(b) => Some(("env", b)),
                SectionKind::Retry { body: Some(b), .. } => Some(("retry", b)),
                _ => None,
            });
            match block {
                Some((name, b)) if b.span.contains(offset as u32) && at_line_start => {
                    return SECTION_FIELDS
                        .iter()
                        .filter(|f| f.section == name)
                        .map(|f| CompletionItem {
                            label: f.name.to_owned(),
                            kind: Some(CompletionItemKind::FIELD),
                            detail: Some(format!("{}: {}", f.name, f.ty)),
                            documentation: Some(markdown(match units_of(f.ty) {
                                Some(u) => format!("{}\n\n{u}", f.doc),
                                None => f.doc.to_owned(),
                            })),
                            ..CompletionItem::default()
                        })
                        .collect();
                }
                None if at_line_start => return keywords(expc_syntax::SECTION_KEYWORDS),
                _ => {}
            }
        }
        ItemKind::Pipeline(_) if at_line_start => {
            let mut items = keywords(&["let", "for", "register"]);
            items.extend(keywords(&["if"]));
            items.extend(names(analysis, module, &locals));
            return items;
        }
        _ => {}
    }
    let mut items = names(analysis, module, &locals);
    items.extend(keywords(&["true", "false", "none"]));
    // The value of a data item may be a file set.
    if matches!(item.kind, ItemKind::Data(_)) {
        items.push(CompletionItem {
            label: "glob".to_owned(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some("glob(pattern, allow_empty = false): List<File<F>>".to_owned()),
            documentation: Some(markdown(
                "Every file the pattern matches, relative to this file's folder, sorted by path: `*`, `?`, `[a-z]`, `{a,b}`, and `**` for any folders. The data item is a `List<File<F>>`; `for f in NAME { … }` runs once per file.".to_owned(),
            )),
            insert_text: Some("glob(\"$1\")".to_owned()),
            insert_text_format: Some(lsp_types::InsertTextFormat::SNIPPET),
            ..CompletionItem::default()
        });
        items.push(git_completion());
    }
    // A model may be chosen from the registry.
    if matches!(item.kind, ItemKind::Model(_)) {
        items.extend(registry_calls());
    }
    // A sweep may take its points from a sample sheet.
    if matches!(item.kind, ItemKind::Sweep(_)) {
        items.push(CompletionItem {
            label: "rows".to_owned(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some("rows(table): one point per row".to_owned()),
            documentation: Some(markdown(
                "A sample sheet: one point per row of a data item `Table<Tsv, S>` or `Table<Csv, S>`, one key per column of the schema `S`, read and checked when the experiment is planned. A `File<F>` column holds paths relative to the sheet.".to_owned(),
            )),
            insert_text: Some("rows($1)".to_owned()),
            insert_text_format: Some(lsp_types::InsertTextFormat::SNIPPET),
            ..CompletionItem::default()
        });
    }
    if matches!(item.kind, ItemKind::Pipeline(_)) {
        items.extend(keywords(&["on", "in", "after"]));
    }
    // A task's command may pass a value whole as a file.
    if matches!(item.kind, ItemKind::Task(_)) {
        items.extend(config_functions());
    }
    items
}

/// `json(…)` and `yaml(…)`, offered in a task.
fn config_functions() -> Vec<CompletionItem> {
    ["json", "yaml"]
        .into_iter()
        .map(|f| CompletionItem {
            label: f.to_owned(),
            kind: Some(CompletionItemKind::FUNCTION),
            detail: Some(format!("{f}(value): Path")),
            documentation: Some(markdown(format!(
                "In a command, `${{{f}(train)}}` writes the value (a record param, a field, a list) as a {} file in the instance's work directory and passes its path. The file is named after its content, which is in the cache key.",
                f.to_uppercase()
            ))),
            insert_text: Some(format!("{f}($1)")),
            insert_text_format: Some(lsp_types::InsertTextFormat::SNIPPET),
            ..CompletionItem::default()
        })
        .collect()
}

/// Task inputs and outputs inside a task; bindings declared above inside a pipeline.
fn locals(analysis: &Analysis, item: Option<SymbolId>, offset: u32) -> Vec<(String, SymbolId)> {
    let Some(item) = item else {
        return Vec::new();
    };
    match analysis.index.get(item).kind {
        SymbolKind::Task => analysis
            .index
            .children(item)
            .map(|(id, s)| (s.name.clone(), id))
            .collect(),
        SymbolKind::Pipeline => analysis
            .index
            .children(item)
            .filter(|(_, s)| s.span.end <= offset)
            .map(|(id, s)| (s.name.clone(), id))
            .collect(),
        _ => Vec::new(),
    }
}

/// What can follow `symbol.`.
fn member_list(analysis: &Analysis, symbol: SymbolId) -> Vec<SymbolId> {
    let s = analysis.index.get(symbol);
    match s.kind {
        SymbolKind::Module => analysis.index.items_of(s.module),
        SymbolKind::Binding => s
            .target
            .map(|t| {
                analysis
                    .index
                    .children(t)
                    .filter(|(_, c)| c.kind == SymbolKind::Output)
                    .map(|(id, _)| id)
                    .collect()
            })
            .unwrap_or_default(),
        SymbolKind::LoopVar => s
            .target
            .map(|t| analysis.index.children(t).map(|(id, _)| id).collect())
            .unwrap_or_default(),
        // A record param, or a field of a record: the fields of its record type.
        SymbolKind::Param | SymbolKind::Field => record_of(analysis, s)
            .map(|r| analysis.index.children(r).map(|(id, _)| id).collect())
            .unwrap_or_default(),
        _ => analysis.index.children(symbol).map(|(id, _)| id).collect(),
    }
}

/// The record a param or field is declared with (`train: TrainCfg`, `optim: Optim?`).
fn record_of(analysis: &Analysis, s: &Symbol) -> Option<SymbolId> {
    let ty = s.ty.as_deref()?.trim().trim_end_matches('?');
    let record = analysis.index.lookup(s.module, ty)?;
    (analysis.index.get(record).kind == SymbolKind::Record).then_some(record)
}

fn names(
    analysis: &Analysis,
    module: expc_check::modules::ModuleId,
    locals: &[(String, SymbolId)],
) -> Vec<CompletionItem> {
    let mut items: Vec<CompletionItem> = locals
        .iter()
        .map(|(_, s)| symbol_item(analysis.index.get(*s)))
        .collect();
    let mut scope: Vec<(&str, SymbolId)> = analysis.index.scope(module).collect();
    scope.sort();
    for (name, s) in scope {
        let mut item = symbol_item(analysis.index.get(s));
        item.label = name.to_owned();
        items.push(item);
    }
    items
}

fn formats(analysis: &Analysis, module: expc_check::modules::ModuleId) -> Vec<CompletionItem> {
    let mut scope: Vec<(&str, SymbolId)> = analysis
        .index
        .scope(module)
        .filter(|(_, s)| analysis.index.get(*s).kind == SymbolKind::Format)
        .collect();
    scope.sort();
    scope
        .into_iter()
        .map(|(name, s)| {
            let mut item = symbol_item(analysis.index.get(s));
            item.label = name.to_owned();
            item
        })
        .collect()
}

fn keywords(words: &[&str]) -> Vec<CompletionItem> {
    words
        .iter()
        .map(|w| CompletionItem {
            label: (*w).to_owned(),
            kind: Some(CompletionItemKind::KEYWORD),
            ..CompletionItem::default()
        })
        .collect()
}

fn field_item(f: &Symbol) -> CompletionItem {
    let mut doc = f.doc.clone().unwrap_or_default();
    if let Some(u) = f.ty.as_deref().and_then(units_of) {
        doc = if doc.is_empty() {
            u.to_owned()
        } else {
            format!("{doc}\n\n{u}")
        };
    }
    CompletionItem {
        label: f.name.clone(),
        kind: Some(CompletionItemKind::FIELD),
        detail: Some(f.detail.clone()),
        documentation: (!doc.is_empty()).then(|| markdown(doc)),
        insert_text: Some(format!("{} = ", f.name)),
        ..CompletionItem::default()
    }
}

fn symbol_item(s: &Symbol) -> CompletionItem {
    let kind = match s.kind {
        SymbolKind::Task | SymbolKind::Pipeline => CompletionItemKind::FUNCTION,
        SymbolKind::Param | SymbolKind::Secret => CompletionItemKind::CONSTANT,
        SymbolKind::Data | SymbolKind::Model | SymbolKind::Sweep | SymbolKind::Experiment => {
            CompletionItemKind::VARIABLE
        }
        SymbolKind::Resource | SymbolKind::Site | SymbolKind::Profile => CompletionItemKind::VALUE,
        SymbolKind::Record | SymbolKind::Schema | SymbolKind::Kind => CompletionItemKind::STRUCT,
        SymbolKind::Enum => CompletionItemKind::ENUM,
        SymbolKind::Format => CompletionItemKind::CLASS,
        SymbolKind::Field | SymbolKind::Axis => CompletionItemKind::FIELD,
        SymbolKind::Variant => CompletionItemKind::ENUM_MEMBER,
        SymbolKind::Input | SymbolKind::Output | SymbolKind::Binding | SymbolKind::LoopVar => {
            CompletionItemKind::VARIABLE
        }
        SymbolKind::Module => CompletionItemKind::MODULE,
    };
    CompletionItem {
        label: s.name.clone(),
        kind: Some(kind),
        detail: Some(s.detail.clone()),
        documentation: s.doc.clone().map(markdown),
        ..CompletionItem::default()
    }
}

fn markdown(value: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value,
    })
}

/// `resources.` in a task: the figures its command may read.
fn resource_reads() -> Vec<CompletionItem> {
    SECTION_FIELDS
        .iter()
        .filter(|f| f.section == "resources")
        .map(|f| CompletionItem {
            label: f.name.to_owned(),
            kind: Some(CompletionItemKind::FIELD),
            detail: Some(format!("resources.{}: {}", f.name, f.ty)),
            documentation: Some(markdown(format!(
                "{}: what the job is given, read in its command{}",
                f.doc,
                match f.name {
                    "mem" => " as bytes",
                    "time" => " as seconds",
                    _ => "",
                }
            ))),
            ..CompletionItem::default()
        })
        .collect()
}

/// `git(repo, rev, path)`, the value of a data item that is a file in a git repository.
fn git_completion() -> CompletionItem {
    CompletionItem {
        label: "git".to_owned(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some("git(repo, rev, path): a file at a revision of a git repository".to_owned()),
        documentation: Some(markdown(
            "The file `path` at the branch, tag or commit `rev` of the repository `repo` (`https://`, `http://`, `ssh://`, `git://` or `file://`), fetched into the store when a run starts and pinned by its commit in `expc.lock`.".to_owned(),
        )),
        insert_text: Some("git(\"$1\", \"$2\", \"$3\")".to_owned()),
        insert_text_format: Some(lsp_types::InsertTextFormat::SNIPPET),
        ..CompletionItem::default()
    }
}

/// `registry(…)`, `registry.best(…)` and `registry.top(…)`, where a model is declared.
fn registry_calls() -> Vec<CompletionItem> {
    [
        (
            "registry",
            "registry(name, stage = …): Model<F>",
            "The latest registered version of a model (in a stage, with `stage = \"production\"`), chosen when the experiment is planned and pinned by digest.",
            "registry(\"$1\")",
        ),
        (
            "registry.best",
            "registry.best(name, by = metric, order = \"asc\"): Model<F>",
            "The registered version with the lowest (`\"asc\"`) or highest (`\"desc\"`) value of a metric, chosen when the experiment is planned.",
            "registry.best(\"$1\", by = \"$2\")",
        ),
        (
            "registry.top",
            "registry.top(name, by = metric, n = N): List<Model<F>>",
            "The `n` best registered versions by a metric, as a list, chosen when the experiment is planned.",
            "registry.top(\"$1\", by = \"$2\", n = $3)",
        ),
    ]
    .into_iter()
    .map(|(label, detail, doc, insert)| CompletionItem {
        label: label.to_owned(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some(detail.to_owned()),
        documentation: Some(markdown(doc.to_owned())),
        insert_text: Some(insert.to_owned()),
        insert_text_format: Some(lsp_types::InsertTextFormat::SNIPPET),
        ..CompletionItem::default()
    })
    .collect()
}
