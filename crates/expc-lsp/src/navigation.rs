//! Go to definition, find references and rename, across the files of a program and the
//! other programs of the workspace that import them.

use std::collections::{BTreeSet, HashMap};

use expc_check::index::SymbolKind;
use expc_diagnostics::FileId;
use lsp_types::{Location, TextEdit, Uri, WorkspaceEdit};

use crate::analysis::{Analysis, SymbolKey};

/// The declaration of the name at `offset`.
pub fn definition(analysis: &Analysis, file: FileId, offset: u32) -> Option<Location> {
    let (symbol, _) = analysis.symbol_at(file, offset)?;
    analysis.location(analysis.index.get(symbol).span)
}

/// Every use of the symbol `key` in the given analyses (each a program rooted at one
/// file), and its declaration if asked, without duplicates, in file and source order.
pub fn references(key: &SymbolKey, analyses: &[&Analysis], declaration: bool) -> Vec<Location> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for analysis in analyses {
        let Some(symbol) = analysis.find(key) else {
            continue;
        };
        let decl = analysis.index.get(symbol).span;
        let spans = analysis
            .index
            .references_to(symbol)
            .map(|r| r.span)
            .chain(declaration.then_some(decl));
        for span in spans {
            let Some(file) = analysis.file(span.file) else {
                continue;
            };
            if !seen.insert((file.name.clone(), span.start, span.end)) {
                continue;
            }
            if let Some(location) = analysis.location(span) {
                out.push(((file.name.clone(), span.start), location));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, l)| l).collect()
}

/// Whether a symbol of this kind may be renamed.
pub fn renamable(kind: SymbolKind) -> bool {
    matches!(
        kind,
        SymbolKind::Task | SymbolKind::Param | SymbolKind::Input | SymbolKind::Output
    )
}

/// Words that can never be names.
pub const RESERVED: &[&str] = &["true", "false", "none", "let", "for", "in", "on", "where"];

/// Whether `name` can name a task or a param.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

/// The edits that rename the symbol `key` to `new_name` everywhere it is used.
pub fn rename(
    key: &SymbolKey,
    origin: &Analysis,
    analyses: &[&Analysis],
    new_name: &str,
) -> Result<WorkspaceEdit, String> {
    let symbol = origin
        .find(key)
        .ok_or_else(|| "nothing to rename here".to_owned())?;
    let s = origin.index.get(symbol);
    if !renamable(s.kind) {
        return Err(format!("a {} cannot be renamed", s.kind.noun()));
    }
    if !valid_name(new_name) {
        return Err(format!("`{new_name}` is not a valid name"));
    }
    if new_name == s.name {
        return Ok(WorkspaceEdit::default());
    }
    // A clash with a name already declared where the symbol is.
    let clash = match s.parent {
        Some(parent) => origin
            .index
            .children(parent)
            .any(|(_, c)| c.name == new_name),
        None => origin.index.lookup(s.module, new_name).is_some(),
    };
    if clash {
        return Err(format!("`{new_name}` is already declared here"));
    }
    let old = s.name.clone();
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for location in references(key, analyses, true) {
        // Only where the old name is written (not an import's path, say).
        let text_matches = analyses.iter().any(|a| {
            crate::position::uri_to_path(&location.uri)
                .and_then(|p| a.file_at(&p))
                .and_then(|f| a.file(f))
                .is_some_and(|f| {
                    let start = crate::position::offset(f, location.range.start);
                    let end = crate::position::offset(f, location.range.end);
                    f.text.get(start as usize..end as usize) == Some(old.as_str())
                })
        });
        if !text_matches {
            continue;
        }
        changes.entry(location.uri).or_default().push(TextEdit {
            range: location.range,
            new_text: new_name.to_owned(),
        });
    }
    Ok(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    })
}
