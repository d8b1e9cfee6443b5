//! The outline of a document: its items, with task inputs and outputs, fields, variants,
//! sweep axes and pipeline bindings beneath them.

use expc_check::index::{SymbolId, SymbolKind};
use lsp_types::DocumentSymbol;

use crate::analysis::Analysis;
use crate::position;

pub fn document_symbols(analysis: &Analysis) -> Vec<DocumentSymbol> {
    let Some(module) = analysis.index.module_of(analysis.root) else {
        return Vec::new();
    };
    analysis
        .index
        .items_of(module)
        .into_iter()
        .filter_map(|s| symbol(analysis, s))
        .collect()
}

fn symbol(analysis: &Analysis, id: SymbolId) -> Option<DocumentSymbol> {
    let s = analysis.index.get(id);
    let file = analysis.file(s.span.file)?;
    let children: Vec<DocumentSymbol> = analysis
        .index
        .children(id)
        .filter_map(|(c, _)| symbol(analysis, c))
        .collect();
    // The full range must contain the name's range.
    let full = s.full_span.to(s.span);
    #[allow(deprecated)]
    Some(DocumentSymbol {
        name: if s.name.is_empty() {
            "?".to_owned()
        } else {
            s.name.clone()
        },
        detail: Some(s.detail.clone()),
        kind: kind(s.kind),
        tags: None,
        deprecated: None,
        range: position::range(file, full.start, full.end),
        selection_range: position::range(file, s.span.start, s.span.end),
        children: (!children.is_empty()).then_some(children),
    })
}

fn kind(kind: SymbolKind) -> lsp_types::SymbolKind {
    use lsp_types::SymbolKind as K;
    match kind {
        SymbolKind::Experiment => K::NAMESPACE,
        SymbolKind::Param | SymbolKind::Secret => K::CONSTANT,
        SymbolKind::Sweep | SymbolKind::Data | SymbolKind::Model => K::VARIABLE,
        SymbolKind::Resource | SymbolKind::Site | SymbolKind::Profile => K::OBJECT,
        SymbolKind::Task | SymbolKind::Pipeline => K::FUNCTION,
        SymbolKind::Record | SymbolKind::Schema | SymbolKind::Kind => K::STRUCT,
        SymbolKind::Enum => K::ENUM,
        SymbolKind::Format => K::CLASS,
        SymbolKind::Field | SymbolKind::Axis => K::FIELD,
        SymbolKind::Variant => K::ENUM_MEMBER,
        SymbolKind::Input | SymbolKind::Output | SymbolKind::Binding | SymbolKind::LoopVar => {
            K::VARIABLE
        }
        SymbolKind::Module => K::MODULE,
    }
}
