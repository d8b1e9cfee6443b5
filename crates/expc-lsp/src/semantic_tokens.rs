//! Semantic tokens: every name coloured by what it names (a task, a param, a task input,
//! a field …), from the symbol index of the recovered tree, so a broken document keeps
//! its colours; keywords, literals and comments from the lexer.
//!
//! A name the index does not know (a name the checker could not resolve) gets no token,
//! so the editor's grammar colours it. Tokens never span lines: a block comment or a
//! string over several lines is one token per line, as clients without
//! `multilineTokenSupport` need.

use std::collections::HashMap;

use expc_check::index::SymbolKind;
use expc_diagnostics::{SourceFile, Span};
use expc_syntax::lexer::{CommentKind, lex};
use expc_syntax::{ITEM_KEYWORDS, SECTION_KEYWORDS, Token};
use lsp_types::{
    Range, SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokens,
    SemanticTokensLegend,
};

use crate::analysis::Analysis;
use crate::navigation::RESERVED;

/// The token types, in the order of the legend (a token's type is its index here).
const TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::TYPE,
    SemanticTokenType::ENUM,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
];

/// The token modifiers, in the order of the legend (bit `i` is modifier `i`).
const MODIFIERS: &[SemanticTokenModifier] = &[
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::READONLY,
    SemanticTokenModifier::DEFAULT_LIBRARY,
    SemanticTokenModifier::DOCUMENTATION,
];

const DECLARATION: u32 = 1 << 0;
const READONLY: u32 = 1 << 1;
const DEFAULT_LIBRARY: u32 = 1 << 2;
const DOCUMENTATION: u32 = 1 << 3;

/// The grammar's other keywords (`grammar/exp.ebnf`), besides the item, section and
/// reserved words.
const OTHER_KEYWORDS: &[&str] = &["as", "args", "after"];

/// What the server announces: the types and modifiers, by index.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

fn type_index(ty: &SemanticTokenType) -> u32 {
    TYPES.iter().position(|t| t == ty).unwrap_or(0) as u32
}

/// The token type of a symbol of this kind, with the modifiers the kind implies.
fn of_kind(kind: SymbolKind) -> (SemanticTokenType, u32) {
    use SymbolKind as K;
    match kind {
        K::Experiment | K::Module => (SemanticTokenType::NAMESPACE, 0),
        K::Param | K::Secret => (SemanticTokenType::VARIABLE, READONLY),
        K::Sweep | K::Resource | K::Site | K::Data | K::Model | K::Profile => {
            (SemanticTokenType::VARIABLE, 0)
        }
        K::Binding | K::LoopVar => (SemanticTokenType::VARIABLE, 0),
        K::Task | K::Pipeline => (SemanticTokenType::FUNCTION, 0),
        K::Record | K::Schema | K::Format | K::Kind => (SemanticTokenType::TYPE, 0),
        K::Enum => (SemanticTokenType::ENUM, 0),
        K::Variant => (SemanticTokenType::ENUM_MEMBER, 0),
        K::Input => (SemanticTokenType::PARAMETER, 0),
        K::Output | K::Field | K::Axis => (SemanticTokenType::PROPERTY, 0),
    }
}

/// One token, in bytes, before it is encoded.
struct Raw {
    start: u32,
    end: u32,
    ty: u32,
    modifiers: u32,
}

/// The semantic tokens of the analysis's root document; only those that overlap `range`
/// when one is given.
pub fn tokens(analysis: &Analysis, range: Option<Range>) -> SemanticTokens {
    let Some(file) = analysis.root_file() else {
        return SemanticTokens::default();
    };
    let names = names(analysis);
    let mut raw = Vec::new();
    let lexed = lex(file.id, &file.text);
    let mut comments = lexed.comments.iter().peekable();
    for (token, span) in &lexed.tokens {
        while let Some(c) = comments.next_if(|c| c.span.start < span.start) {
            raw.push(comment(c.kind, c.span));
        }
        if let Some(t) = classify(token, *span, &names) {
            raw.push(t);
        }
    }
    raw.extend(comments.map(|c| comment(c.kind, c.span)));
    let bounds = range.map(|r| {
        (
            crate::position::offset(file, r.start),
            crate::position::offset(file, r.end),
        )
    });
    SemanticTokens {
        result_id: None,
        data: encode(file, &raw, bounds),
    }
}

fn comment(kind: CommentKind, span: Span) -> Raw {
    Raw {
        start: span.start,
        end: span.end,
        ty: type_index(&SemanticTokenType::COMMENT),
        modifiers: if kind == CommentKind::Doc {
            DOCUMENTATION
        } else {
            0
        },
    }
}

/// The kind of each name the index knows in the root document, by the name's span
/// (start, end): its declarations and its uses.
fn names(analysis: &Analysis) -> HashMap<(u32, u32), (u32, u32)> {
    let index = &analysis.index;
    let of_symbol = |id: expc_check::index::SymbolId, declaration: bool| {
        let s = index.get(id);
        let (ty, mut modifiers) = of_kind(s.kind);
        if declaration {
            modifiers |= DECLARATION;
        }
        if analysis
            .file(s.span.file)
            .is_some_and(|f| f.name.starts_with("stdlib/"))
        {
            modifiers |= DEFAULT_LIBRARY;
        }
        (type_index(&ty), modifiers)
    };
    let mut out = HashMap::new();
    for r in index
        .references
        .iter()
        .filter(|r| r.span.file == analysis.root)
    {
        out.insert((r.span.start, r.span.end), of_symbol(r.symbol, false));
    }
    for (i, s) in index.symbols.iter().enumerate() {
        if s.span.file == analysis.root && s.kind != SymbolKind::Module && !s.span.is_empty() {
            let id = expc_check::index::SymbolId(i as u32);
            out.insert((s.span.start, s.span.end), of_symbol(id, true));
        }
    }
    out
}

fn classify(token: &Token<'_>, span: Span, names: &HashMap<(u32, u32), (u32, u32)>) -> Option<Raw> {
    let (ty, modifiers) = match token {
        Token::Ident(word) => match names.get(&(span.start, span.end)) {
            Some(&known) => known,
            None if is_keyword(word) => (type_index(&SemanticTokenType::KEYWORD), 0),
            None => return None,
        },
        Token::Int(_) | Token::Float(_) | Token::Quantity(_) => {
            (type_index(&SemanticTokenType::NUMBER), 0)
        }
        Token::Str(_) | Token::TplStart | Token::TplText(..) | Token::TplEnd => {
            (type_index(&SemanticTokenType::STRING), 0)
        }
        _ => return None,
    };
    Some(Raw {
        start: span.start,
        end: span.end,
        ty,
        modifiers,
    })
}

fn is_keyword(word: &str) -> bool {
    ITEM_KEYWORDS.contains(&word)
        || SECTION_KEYWORDS.contains(&word)
        || RESERVED.contains(&word)
        || OTHER_KEYWORDS.contains(&word)
}

/// The protocol's encoding: each token's line and start relative to the previous one's,
/// lengths and columns in UTF-16 units, one token per line of a multi-line token.
fn encode(file: &SourceFile, raw: &[Raw], bounds: Option<(u32, u32)>) -> Vec<SemanticToken> {
    let text = file.text.as_str();
    let mut cursor = Cursor::default();
    let (mut last_line, mut last_start) = (0, 0);
    let mut out = Vec::with_capacity(raw.len());
    for t in raw {
        if let Some((from, to)) = bounds {
            if t.end < from || t.start > to {
                continue;
            }
        }
        let mut start = t.start as usize;
        let end = (t.end as usize).min(text.len());
        while start < end {
            let line_end = text[start..end].find('\n').map_or(end, |i| start + i);
            let piece = text[start..line_end].trim_end_matches('\r');
            let (line, column) = cursor.advance(text, start);
            let length: u32 = piece.chars().map(|c| c.len_utf16() as u32).sum();
            if length > 0 {
                out.push(SemanticToken {
                    delta_line: line - last_line,
                    delta_start: if line == last_line {
                        column - last_start
                    } else {
                        column
                    },
                    length,
                    token_type: t.ty,
                    token_modifiers_bitset: t.modifiers,
                });
                (last_line, last_start) = (line, column);
            }
            start = line_end + 1;
        }
    }
    out
}

/// A position walked forward through the text, so that encoding is linear in its length.
#[derive(Default)]
struct Cursor {
    offset: usize,
    line: u32,
    column: u32,
}

impl Cursor {
    /// The line and UTF-16 column of `offset`, which is not before the last one asked.
    fn advance(&mut self, text: &str, offset: usize) -> (u32, u32) {
        for c in text[self.offset..offset].chars() {
            if c == '\n' {
                self.line += 1;
                self.column = 0;
            } else {
                self.column += c.len_utf16() as u32;
            }
        }
        self.offset = offset;
        (self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expc_check::MemoryLoader;

    fn decoded(text: &str) -> Vec<(u32, u32, u32, String, u32)> {
        let loader = MemoryLoader::default();
        let analysis = Analysis::new(std::path::Path::new("/t/a.exp"), text.to_owned(), &loader);
        let (mut line, mut start) = (0, 0);
        tokens(&analysis, None)
            .data
            .iter()
            .map(|t| {
                if t.delta_line > 0 {
                    start = 0;
                }
                line += t.delta_line;
                start += t.delta_start;
                (
                    line,
                    start,
                    t.length,
                    TYPES[t.token_type as usize].as_str().to_owned(),
                    t.token_modifiers_bitset,
                )
            })
            .collect()
    }

    #[test]
    fn names_are_coloured_by_what_they_name_and_columns_count_utf16() {
        let t = decoded("/* é\n😀 */ param n: Int = 1\n");
        assert_eq!(
            t,
            vec![
                (0, 0, 4, "comment".to_owned(), 0),
                (1, 0, 5, "comment".to_owned(), 0),
                (1, 6, 5, "keyword".to_owned(), 0),
                (1, 12, 1, "variable".to_owned(), DECLARATION | READONLY),
                (1, 21, 1, "number".to_owned(), 0),
            ]
        );
    }
}
