//! What an editor asks while a spec is typed: semantic tokens (whole document and a
//! range, and on a broken document), signature help inside a call, edits sent as ranges
//! in UTF-16 columns, and hover on a declaration's own name.

use serde_json::{Value, json};

use crate::lsp::{Client, SMALL, pos, scratch, uri};
use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "semantic_tokens_colour_names_by_what_they_name",
        semantic_tokens_colour_names_by_what_they_name,
    );
    suite.test(
        "semantic_tokens_of_a_range_and_of_a_broken_document",
        semantic_tokens_of_a_range_and_of_a_broken_document,
    );
    suite.test(
        "signature_help_names_the_input_being_written",
        signature_help_names_the_input_being_written,
    );
    suite.test(
        "incremental_edits_apply_at_utf16_columns",
        incremental_edits_apply_at_utf16_columns,
    );
    suite.test(
        "hover_on_a_declarations_own_name",
        hover_on_a_declarations_own_name,
    );
}

/// One decoded semantic token: its line, UTF-16 column, length, type and modifiers.
#[derive(Debug, Clone, PartialEq)]
struct Tok {
    line: u32,
    column: u32,
    length: u32,
    ty: String,
    modifiers: Vec<String>,
}

/// The tokens of an answer, decoded with the legend the server announces.
fn decode(answer: &Value) -> Vec<Tok> {
    let legend = serde_json::to_value(expc_lsp::capabilities()).unwrap()["semanticTokensProvider"]
        ["legend"]
        .clone();
    let types: Vec<String> = serde_json::from_value(legend["tokenTypes"].clone()).unwrap();
    let mods: Vec<String> = serde_json::from_value(legend["tokenModifiers"].clone()).unwrap();
    let data: Vec<u32> = serde_json::from_value(answer["data"].clone()).unwrap();
    assert_eq!(data.len() % 5, 0, "{data:?}");
    let (mut line, mut column) = (0, 0);
    data.chunks(5)
        .map(|t| {
            if t[0] > 0 {
                column = 0;
            }
            line += t[0];
            column += t[1];
            Tok {
                line,
                column,
                length: t[2],
                ty: types[t[3] as usize].clone(),
                modifiers: mods
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| t[4] & (1 << i) != 0)
                    .map(|(_, m)| m.clone())
                    .collect(),
            }
        })
        .collect()
}

/// The token at a position, which must be there.
fn token_at(tokens: &[Tok], (line, column): (u32, u32)) -> &Tok {
    tokens
        .iter()
        .find(|t| t.line == line && t.column <= column && column < t.column + t.length)
        .unwrap_or_else(|| panic!("no token at {line}:{column} in {tokens:#?}"))
}

fn semantic_tokens(c: &mut Client, path: &std::path::Path, range: Option<Value>) -> Vec<Tok> {
    let mut params = json!({ "textDocument": { "uri": uri(path) } });
    let method = match range {
        Some(r) => {
            params["range"] = r;
            "textDocument/semanticTokens/range"
        }
        None => "textDocument/semanticTokens/full",
    };
    let answer = c.request(method, params).expect("semantic tokens");
    decode(&answer)
}

fn semantic_tokens_colour_names_by_what_they_name() {
    let dir = scratch("tokens", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    let tokens = semantic_tokens(&mut c, &path, None);
    let at = |needle: &str, shift: usize| token_at(&tokens, pos(SMALL, needle, 0, shift));
    let is = |t: &Tok, ty: &str, modifiers: &[&str]| {
        assert_eq!(
            (t.ty.as_str(), t.modifiers.clone()),
            (ty, modifiers.iter().map(|m| m.to_string()).collect()),
            "{t:?}"
        );
    };
    is(at("task count", 5), "function", &["declaration"]);
    is(at("= count(", 2), "function", &[]);
    is(
        at("param epochs", 6),
        "variable",
        &["declaration", "readonly"],
    );
    is(at("times = epochs", 8), "variable", &["readonly"]);
    is(at("input = raw", 0), "parameter", &[]);
    is(at("input = raw", 8), "variable", &[]);
    is(at("c.out", 2), "property", &[]);
    is(at("= Local {", 2), "type", &["defaultLibrary"]);
    is(at("param epochs", 0), "keyword", &[]);
    is(at("mem = 8GiB", 6), "number", &[]);
    is(at("\"raw.csv\"", 0), "string", &[]);
    is(at("/// How many", 0), "comment", &["documentation"]);
    assert_eq!(at("task count", 5).length, "count".len() as u32);
    // In source order, none overlapping, none spanning a line.
    for pair in tokens.windows(2) {
        assert!(
            (pair[0].line, pair[0].column + pair[0].length) <= (pair[1].line, pair[1].column),
            "{pair:?}"
        );
    }
    c.stop();
}

/// A range request answers the tokens of those lines only, as the whole document's do;
/// a document broken by an unfinished last line keeps the colours of what it declares.
fn semantic_tokens_of_a_range_and_of_a_broken_document() {
    let dir = scratch("tokens-range", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    let all = semantic_tokens(&mut c, &path, None);
    let (first, _) = pos(SMALL, "pipeline main", 0, 0);
    let last = SMALL.lines().count() as u32;
    let range = json!({ "start": { "line": first, "character": 0 }, "end": { "line": last, "character": 0 } });
    let some = semantic_tokens(&mut c, &path, Some(range));
    let expected: Vec<Tok> = all.into_iter().filter(|t| t.line >= first).collect();
    assert!(!some.is_empty());
    assert_eq!(some, expected);

    let broken = format!("{SMALL}this is not valid exp syntax {{\n");
    c.change(&path, 2, &broken);
    let tokens = semantic_tokens(&mut c, &path, None);
    let t = token_at(&tokens, pos(&broken, "task count", 0, 5));
    assert_eq!(
        (t.ty.as_str(), t.modifiers.clone()),
        ("function", vec!["declaration".to_owned()])
    );
    let t = token_at(&tokens, pos(&broken, "times = epochs", 0, 8));
    assert_eq!(t.ty, "variable");
    c.stop();
}

fn signature_help_names_the_input_being_written() {
    // The second call is being typed: no closing parenthesis yet. `times` has a default.
    let typing = SMALL
        .replace(
            "  count(input = c.out, times = epochs) on laptop\n",
            "  count(input = c.out, ti\n",
        )
        .replace("times: Int)", "times: Int = 3)");
    let dir = scratch("signature", &[("small.exp", &typing)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, &typing);
    let help = |c: &mut Client, at: (u32, u32)| c.at("textDocument/signatureHelp", &path, at);

    let h = help(&mut c, pos(&typing, "count(input = raw", 0, 6));
    let signature = &h["signatures"][0];
    assert_eq!(
        signature["label"],
        "count(input: File<Csv>, times: Int = 3)"
    );
    assert_eq!(signature["documentation"]["value"], "Counts the rows.");
    let label = signature["label"].as_str().unwrap();
    let params: Vec<&str> = signature["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            &label
                [p["label"][0].as_u64().unwrap() as usize..p["label"][1].as_u64().unwrap() as usize]
        })
        .collect();
    assert_eq!(params, ["input: File<Csv>", "times: Int = 3"]);
    assert_eq!(h["activeParameter"], 0);
    // Inside the value of `times = …`.
    let h = help(&mut c, pos(&typing, "times = epochs", 0, 9));
    assert_eq!(h["activeParameter"], 1);
    // After `input = c.out, `: the input not yet given.
    let h = help(&mut c, pos(&typing, "c.out, ti", 0, 7));
    assert_eq!(h["activeParameter"], 1);
    assert_eq!(
        h["signatures"][0]["label"],
        "count(input: File<Csv>, times: Int = 3)"
    );
    // Outside a call there is none.
    assert_eq!(help(&mut c, pos(&typing, "on laptop", 0, 3)), Value::Null);
    c.stop();
}

/// Edits sent as ranges apply one after another, at UTF-16 columns (an emoji is two
/// units): the doc comment edited after one lands exactly, and an edit that breaks a call
/// is diagnosed where it is.
fn incremental_edits_apply_at_utf16_columns() {
    let dir = scratch("incremental", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let u = uri(&path);
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    let (doc_line, _) = pos(SMALL, "/// Counts the rows.", 0, 0);
    let range = |line: u32, start: u32, end: u32| json!({ "start": { "line": line, "character": start }, "end": { "line": line, "character": end } });
    // "/// 😀 é Counts the rows." then "rows" (at 4 + 5 + 11 units) becomes "lines".
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": u, "version": 2 },
            "contentChanges": [
                { "range": range(doc_line, 4, 4), "text": "😀 é " },
                { "range": range(doc_line, 20, 24), "text": "lines" },
            ],
        }),
    );
    assert_eq!(c.diagnostics_of_version(&u, Some(2)), Vec::<Value>::new());
    let h = c.at("textDocument/hover", &path, pos(SMALL, "task count", 0, 6));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.ends_with("😀 é Counts the lines."), "{value}");

    // `times = epochs)` loses its `s`.
    let (line, column) = pos(SMALL, "times = epochs)", 0, 13);
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": u, "version": 3 },
            "contentChanges": [{ "range": range(line, column, column + 1), "text": "" }],
        }),
    );
    let d = c.diagnostics_of_version(&u, Some(3));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["message"].as_str().unwrap().contains("`epoch`"),
        "{d:?}"
    );
    assert_eq!(
        d[0]["range"]["start"],
        json!({ "line": line, "character": column - 5 })
    );
    c.stop();
}

/// A declaration's own name hovers as its uses do: its declaration, what it is and its doc.
fn hover_on_a_declarations_own_name() {
    let dir = scratch("hover-declaration", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    // (the declaration, where its name is in it, a use, where the name is in it, its doc)
    for (declaration, in_declaration, use_, in_use, doc) in [
        ("param epochs", 7, "times = epochs", 9, "How many passes."),
        ("task count", 6, "= count(", 3, "Counts the rows."),
    ] {
        let on_declaration = c.at(
            "textDocument/hover",
            &path,
            pos(SMALL, declaration, 0, in_declaration),
        );
        let on_use = c.at("textDocument/hover", &path, pos(SMALL, use_, 0, in_use));
        let value = on_declaration["contents"]["value"].as_str().unwrap();
        assert!(value.contains(doc), "{value}");
        assert!(value.contains(declaration), "{value}");
        assert_eq!(on_declaration["contents"], on_use["contents"]);
    }
    c.stop();
}
