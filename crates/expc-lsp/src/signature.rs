//! Signature help inside a task call: the task's inputs with their types and defaults,
//! their docs, and the input being written.
//!
//! The call is found in the text, not the tree, so that it works on the line being typed
//! (`count(input = raw, ` has no closing parenthesis yet): the `(` still open at the
//! cursor, by the lexer's tokens, and the name before it, resolved by the symbol index (a use
//! it recorded there, else the name in the document's scope).

use expc_check::index::{SymbolId, SymbolKind};
use expc_diagnostics::FileId;
use expc_syntax::Token;
use lsp_types::{
    Documentation, MarkupContent, MarkupKind, ParameterInformation, ParameterLabel, SignatureHelp,
    SignatureInformation,
};

use crate::analysis::Analysis;

pub fn signature_help(analysis: &Analysis, file: FileId, offset: u32) -> Option<SignatureHelp> {
    let source = analysis.file(file)?;
    let text = source.text.as_str();
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let open = open_paren(text, offset)?;
    let name_end = text[..open].trim_end().len();
    let name_start = text[..name_end]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let callee = &text[name_start..name_end];
    if callee.is_empty() {
        return None;
    }
    let task = resolve(analysis, file, name_start as u32, name_end as u32, callee)?;
    let args = &text[open + 1..offset];
    Some(help_for(analysis, task, args))
}

/// The `(` before `offset` that is not closed before it, by the lexer's tokens, so that
/// brackets in strings, templates and comments do not count.
fn open_paren(text: &str, offset: usize) -> Option<usize> {
    let lexed = expc_syntax::lexer::lex(FileId(0), text);
    let mut stack: Vec<(Token<'_>, usize)> = Vec::new();
    for (token, span) in &lexed.tokens {
        if span.start as usize >= offset {
            break;
        }
        match token {
            Token::LParen | Token::LBracket | Token::LBrace | Token::TplInterpStart => {
                stack.push((*token, span.start as usize))
            }
            Token::RParen | Token::RBracket | Token::RBrace | Token::TplInterpEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    match stack.last() {
        Some((Token::LParen, at)) => Some(*at),
        _ => None,
    }
}

/// The task a call names: the symbol the index recorded for the name, else the name in
/// the scope of the document (or of the module an alias names).
fn resolve(
    analysis: &Analysis,
    file: FileId,
    start: u32,
    end: u32,
    name: &str,
) -> Option<SymbolId> {
    let index = &analysis.index;
    let recorded = index
        .references
        .iter()
        .find(|r| r.span.file == file && r.span.end == end && r.span.start >= start)
        .map(|r| r.symbol);
    let symbol = recorded.or_else(|| {
        let module = index.module_of(file)?;
        match name.rsplit_once('.') {
            None => index.lookup(module, name),
            Some((alias, member)) => {
                let m = index.get(index.lookup(module, alias)?);
                let target = index.module_of(m.span.file)?;
                index.lookup(target, member)
            }
        }
    })?;
    (index.get(symbol).kind == SymbolKind::Task).then_some(symbol)
}

fn help_for(analysis: &Analysis, task: SymbolId, args: &str) -> SignatureHelp {
    let index = &analysis.index;
    let s = index.get(task);
    let inputs: Vec<SymbolId> = index
        .children(task)
        .filter(|(_, c)| c.kind == SymbolKind::Input)
        .map(|(id, _)| id)
        .collect();
    let mut label = format!("{}(", s.name);
    let mut parameters = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 {
            label.push_str(", ");
        }
        // `input lr: Float = 0.1` as the index writes it, without the word.
        let detail = &index.get(*input).detail;
        let detail = detail.strip_prefix("input ").unwrap_or(detail);
        let start = label.encode_utf16().count() as u32;
        label.push_str(detail);
        let end = label.encode_utf16().count() as u32;
        parameters.push(ParameterInformation {
            label: ParameterLabel::LabelOffsets([start, end]),
            documentation: index.get(*input).doc.clone().map(markdown),
        });
    }
    label.push(')');
    let active = active_input(args, &inputs, analysis);
    SignatureHelp {
        signatures: vec![SignatureInformation {
            label,
            documentation: s.doc.clone().map(markdown),
            parameters: Some(parameters),
            active_parameter: active,
        }],
        active_signature: Some(0),
        active_parameter: active,
    }
}

/// The input being written: the one the current argument names (`times = |`), else the
/// first not yet given.
fn active_input(args: &str, inputs: &[SymbolId], analysis: &Analysis) -> Option<u32> {
    let pieces = top_level_pieces(args);
    let (current, before) = pieces.split_last()?;
    let name_of = |piece: &str| {
        piece
            .split_once('=')
            .map(|(name, _)| name.trim().to_owned())
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    let position = |name: &str| {
        inputs
            .iter()
            .position(|i| analysis.index.get(*i).name == name)
            .map(|p| p as u32)
    };
    if let Some(name) = name_of(current) {
        return position(&name);
    }
    let given: Vec<String> = before.iter().filter_map(|p| name_of(p)).collect();
    inputs
        .iter()
        .position(|i| !given.contains(&analysis.index.get(*i).name))
        .map(|p| p as u32)
}

/// The arguments written so far, split at the commas between them (not those inside
/// brackets or strings).
fn top_level_pieces(args: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0, None);
    for (i, c) in args.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                pieces.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&args[start..]);
    pieces
}

fn markdown(value: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_call_is_found_past_strings_and_closed_brackets() {
        let text = "let c = count(input = f(\")\"), times = [1, 2], `(${x}`, ";
        assert_eq!(open_paren(text, text.len()), Some(13));
        let text = "run `a ${b} (`\n// (\nlet c = count(x = [";
        assert_eq!(open_paren(text, text.len()), None);
        assert_eq!(open_paren(text, text.len() - 1), Some(33));
        assert_eq!(open_paren("count(a = 1) ", 13), None);
        assert_eq!(
            top_level_pieces("input = f(1, 2), times = [1, 2], x"),
            vec!["input = f(1, 2)", " times = [1, 2]", " x"]
        );
    }
}
