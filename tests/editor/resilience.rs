//! The language server on broken files: every example spec, broken in the ways a file is
//! broken while it is being typed, keeps the outline and the hovers of the items the
//! breakage did not touch, and reports the real error without cascades.
//!
//! The examples are only read: the broken text reaches the server as an unsaved change.

use std::ops::Range;
use std::path::PathBuf;

use expc_tests::Suite;
use serde_json::{Value, json};

use crate::lsp::{Client, root, uri};

pub fn trials(suite: &mut Suite) {
    let cases = expc_tests::example_specs(None)
        .into_iter()
        .flat_map(|spec| {
            BREAKAGES.iter().map(move |(name, _)| {
                let example = spec.split('/').nth(1).unwrap_or(&spec).to_owned();
                (format!("{example}::{name}"), (spec.clone(), *name))
            })
        })
        .collect::<Vec<_>>();
    suite.each(
        "untouched_items_keep_outline_and_hover",
        cases.clone(),
        |(spec, breakage)| untouched_items_keep_outline_and_hover(&spec, breakage),
    );
    let examples = expc_tests::example_specs(None)
        .into_iter()
        .map(|spec| (spec.split('/').nth(1).unwrap_or(&spec).to_owned(), spec));
    suite.each(
        "completion_in_a_half_typed_call_offers_the_params",
        examples,
        |spec| completion_in_a_half_typed_call_offers_the_params(&spec),
    );
    suite.each(
        "uses_of_untouched_items_navigate_and_hover_as_their_declaration",
        cases,
        |(spec, breakage)| uses_navigate_and_hover_as_their_declaration(&spec, breakage),
    );
}

/// A broken copy of a valid text.
struct Broken {
    text: String,
    /// The bytes of the valid text the breakage touched.
    region: Range<usize>,
    /// Whether the items after the region are expected to survive it. An unclosed
    /// brace makes everything after it part of its block, as far as the parser can
    /// tell: those items are lost until the brace is closed.
    keeps_after: bool,
    /// The task the breakage makes unreadable while the items after it stay: what
    /// refers to it can no longer say what it refers to.
    lost: Option<String>,
}

type Breakage = fn(&str) -> Option<Broken>;

/// Each way of breaking a spec, by name; `None` when the spec has nothing to break so.
const BREAKAGES: &[(&str, Breakage)] = &[
    ("unfinished_last_line", unfinished_last_line),
    ("unclosed_brace_in_the_middle", unclosed_brace_in_the_middle),
    (
        "half_typed_call_in_a_pipeline",
        half_typed_call_in_a_pipeline,
    ),
    (
        "task_missing_its_closing_brace",
        task_missing_its_closing_brace,
    ),
    ("mistyped_keyword", mistyped_keyword),
];

/// `this is not valid exp syntax {` appended as the last line.
fn unfinished_last_line(text: &str) -> Option<Broken> {
    Some(Broken {
        text: format!("{text}this is not valid exp syntax {{\n"),
        region: text.len()..text.len(),
        keeps_after: true,
        lost: None,
    })
}

/// A line opening a brace it never closes, above the first task.
fn unclosed_brace_in_the_middle(text: &str) -> Option<Broken> {
    let at = item_start(text, "task ")?;
    Some(Broken {
        text: format!("{}oops {{\n{}", &text[..at], &text[at..]),
        region: at..at,
        keeps_after: false,
        lost: None,
    })
}

/// A call typed as far as its first argument, as the last statement of the first
/// pipeline.
fn half_typed_call_in_a_pipeline(text: &str) -> Option<Broken> {
    let task = first_task_name(text)?;
    let start = item_start(text, "pipeline ")?;
    let end = item_end(text, start)?;
    let at = end - 1;
    Some(Broken {
        text: format!("{}  let half = {task}(x = )\n{}", &text[..at], &text[at..]),
        region: start..end,
        keeps_after: true,
        lost: None,
    })
}

/// The first task without the `}` that closes it.
fn task_missing_its_closing_brace(text: &str) -> Option<Broken> {
    let start = item_start(text, "task ")?;
    let end = item_end(text, start)?;
    Some(Broken {
        text: format!("{}{}", &text[..end - 1], &text[end..]),
        region: start..end,
        // The task's body runs on to the end of the file, taking the items after it.
        keeps_after: false,
        lost: None,
    })
}

/// The first task's keyword mistyped as `taks`.
fn mistyped_keyword(text: &str) -> Option<Broken> {
    let start = item_start(text, "task ")?;
    let end = item_end(text, start)?;
    let keyword = keyword_line(text, "task ")?;
    Some(Broken {
        text: format!("{}taks {}", &text[..keyword], &text[keyword + 5..]),
        region: start..end,
        keeps_after: true,
        lost: first_task_name(text).map(str::to_owned),
    })
}

/// Where the first line starting with `keyword` starts.
fn keyword_line(text: &str, keyword: &str) -> Option<usize> {
    if text.starts_with(keyword) {
        Some(0)
    } else {
        text.find(&format!("\n{keyword}")).map(|i| i + 1)
    }
}

/// Where the first item starting with `keyword` at the start of a line begins, with the
/// doc comment above it.
fn item_start(text: &str, keyword: &str) -> Option<usize> {
    let mut at = keyword_line(text, keyword)?;
    while let Some(line) = text[..at.saturating_sub(1)].rfind('\n').map(|i| i + 1) {
        if !text[line..].starts_with("///") {
            break;
        }
        at = line;
    }
    Some(at)
}

/// Where the item starting at `start` ends: just after its closing `}` in the first
/// column.
fn item_end(text: &str, start: usize) -> Option<usize> {
    text[start..].find("\n}").map(|i| start + i + 2)
}

/// The name of the first task declared.
fn first_task_name(text: &str) -> Option<&str> {
    let rest = &text[keyword_line(text, "task ")? + 5..];
    rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .filter(|n| !n.is_empty())
}

/// What the server says about a document: its outline and the hover of every symbol in
/// it, by the path of names that leads to the symbol.
struct View {
    outline: Vec<Value>,
    hovers: Vec<(String, Value)>,
}

fn view(c: &mut Client, path: &std::path::Path) -> View {
    let outline = c
        .request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri(path) } }),
        )
        .expect("documentSymbol succeeds");
    let outline = outline.as_array().cloned().unwrap_or_default();
    let mut hovers = Vec::new();
    for s in &outline {
        hovers_of(c, path, s, "", &mut hovers);
    }
    View { outline, hovers }
}

/// The hover on the name of `symbol` and of each symbol beneath it.
fn hovers_of(
    c: &mut Client,
    path: &std::path::Path,
    symbol: &Value,
    parent: &str,
    out: &mut Vec<(String, Value)>,
) {
    let key = format!("{parent}/{}", symbol["name"].as_str().unwrap_or("?"));
    // Siblings may share a name (two loops over `p`): number them.
    let key = match out
        .iter()
        .filter(|(k, _)| k == &key || k.starts_with(&format!("{key}#")))
        .count()
    {
        0 => key,
        n => format!("{key}#{n}"),
    };
    let start = &symbol["selectionRange"]["start"];
    let at = (
        start["line"].as_u64().unwrap() as u32,
        start["character"].as_u64().unwrap() as u32,
    );
    let hover = c.at("textDocument/hover", path, at);
    out.push((key.clone(), hover["contents"].clone()));
    for child in symbol["children"].as_array().into_iter().flatten() {
        hovers_of(c, path, child, &key, out);
    }
}

/// A symbol without its positions, which move with the text around it.
fn shape(symbol: &Value) -> Value {
    json!({
        "name": symbol["name"],
        "kind": symbol["kind"],
        "detail": symbol["detail"],
        "children": symbol["children"]
            .as_array()
            .map(|c| c.iter().map(shape).collect::<Vec<_>>()),
    })
}

/// Whether a hover shows the declaration of the task `lost`.
fn refers_to_lost(hover: &Value, lost: Option<&str>) -> bool {
    lost.zip(hover["value"].as_str())
        .is_some_and(|(task, text)| text.contains(&format!("\ntask {task}(")))
}

/// The 0-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset].matches('\n').count() as u64
}

/// The example spec at `spec` (relative to the root), its text, and its text broken by
/// `breakage` (`None` when the spec has nothing to break so).
fn load(spec: &str, breakage: &str) -> (PathBuf, String, Option<Broken>) {
    let path: PathBuf = root().join(spec);
    let text = std::fs::read_to_string(&path).unwrap();
    let (_, breaker) = BREAKAGES.iter().find(|(n, _)| *n == breakage).unwrap();
    let broken = breaker(&text);
    (path, text, broken)
}

/// The top-level symbols of the valid outline that `broken` leaves alone.
fn untouched<'v>(outline: &'v [Value], text: &str, broken: &Broken) -> Vec<&'v Value> {
    let (first, last) = (
        line_of(text, broken.region.start),
        line_of(text, broken.region.end),
    );
    outline
        .iter()
        .filter(|s| {
            let range = &s["range"];
            range["end"]["line"].as_u64().unwrap() < first
                || (broken.keeps_after && range["start"]["line"].as_u64().unwrap() > last)
        })
        .collect()
}

fn untouched_items_keep_outline_and_hover(spec: &str, breakage: &str) {
    let (path, text, Some(broken)) = load(spec, breakage) else {
        return;
    };
    let mut c = Client::start(path.parent().unwrap());
    c.open(&path, &text);
    let valid = view(&mut c, &path);
    let diagnostics = c.change(&path, 2, &broken.text);
    let after = view(&mut c, &path);
    c.stop();

    // Only the syntax errors: no doc comment detached, no name made unknown or unused.
    assert!(!diagnostics.is_empty(), "the breakage is reported");
    for d in &diagnostics {
        let code = d["code"].as_str().unwrap_or_default();
        assert!(code.starts_with("E00") && code != "E0016", "a cascade: {d}");
    }

    let mut checked = 0;
    for symbol in untouched(&valid.outline, &text, &broken) {
        let name = symbol["name"].as_str().unwrap();
        let kept = after
            .outline
            .iter()
            .find(|s| s["name"] == symbol["name"] && s["kind"] == symbol["kind"])
            .unwrap_or_else(|| panic!("`{name}` is gone from the outline"));
        assert_eq!(shape(kept), shape(symbol), "the outline of `{name}`");
        let prefix = format!("/{name}");
        for (key, hover) in valid
            .hovers
            .iter()
            .filter(|(k, _)| k == &prefix || k.starts_with(&format!("{prefix}/")))
        {
            assert_ne!(hover, &Value::Null, "a hover on the declaration {key}");
            let now = after.hovers.iter().find(|(k, _)| k == key).map(|(_, h)| h);
            let now = now.unwrap_or_else(|| panic!("no hover on {key}"));
            if refers_to_lost(hover, broken.lost.as_deref()) {
                // A binding calling the lost task: all but what it calls.
                let (was, is) = (hover["value"].as_str(), now["value"].as_str());
                assert!(
                    was.zip(is).is_some_and(|(w, i)| w.starts_with(i)),
                    "the hover on {key}"
                );
            } else {
                assert_eq!(now, hover, "the hover on {key}");
            }
        }
        checked += 1;
    }
    assert!(checked > 0, "no item is left untouched");
}

/// On the broken file, every use of an untouched item leads to its declaration and
/// hovers as the declaration does, and the declaration finds its uses.
fn uses_navigate_and_hover_as_their_declaration(spec: &str, breakage: &str) {
    let (path, text, Some(broken)) = load(spec, breakage) else {
        return;
    };
    let mut c = Client::start(path.parent().unwrap());
    c.open(&path, &text);
    let valid = view(&mut c, &path);
    c.change(&path, 2, &broken.text);
    let after = view(&mut c, &path);
    let here = uri(&path);
    for symbol in untouched(&valid.outline, &text, &broken) {
        let name = symbol["name"].as_str().unwrap();
        let Some(declared) = after.outline.iter().find(|s| s["name"] == symbol["name"]) else {
            panic!("`{name}` is gone from the outline");
        };
        let at = |p: &Value| {
            (
                p["line"].as_u64().unwrap() as u32,
                p["character"].as_u64().unwrap() as u32,
            )
        };
        let declaration = at(&declared["selectionRange"]["start"]);
        let hover = c.at("textDocument/hover", &path, declaration);
        let refs = c.at("textDocument/references", &path, declaration);
        let uses: Vec<&Value> = refs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["uri"] == here)
            .collect();
        assert!(
            uses.iter()
                .any(|r| r["range"] == declared["selectionRange"]),
            "the references of `{name}` hold its declaration: {refs}"
        );
        for r in uses {
            let use_at = at(&r["range"]["start"]);
            let definition = c.at("textDocument/definition", &path, use_at);
            assert_eq!(
                definition["range"], declared["selectionRange"],
                "the definition of `{name}` at {use_at:?}"
            );
            let use_hover = c.at("textDocument/hover", &path, use_at);
            assert_eq!(
                use_hover["contents"], hover["contents"],
                "the hover on `{name}` at {use_at:?}"
            );
        }
    }
    c.stop();
}

/// Completing the value of the argument of a half-typed call offers the params, which the
/// broken pipeline leaves alone.
fn completion_in_a_half_typed_call_offers_the_params(spec: &str) {
    let (path, text, Some(broken)) = load(spec, "half_typed_call_in_a_pipeline") else {
        return;
    };
    let mut c = Client::start(path.parent().unwrap());
    c.open(&path, &text);
    let valid = view(&mut c, &path);
    c.change(&path, 2, &broken.text);
    let offset = broken.text.find("(x = )").unwrap() + "(x = ".len();
    let line = line_of(&broken.text, offset) as u32;
    let column = offset - broken.text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let items = c.at("textDocument/completion", &path, (line, column as u32));
    c.stop();
    let items = items.get("items").unwrap_or(&items);
    let labels: Vec<&str> = items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["label"].as_str())
        .collect();
    // Params are constants in the outline.
    let params = valid.outline.iter().filter(|s| s["kind"] == json!(14));
    for param in params {
        let name = param["name"].as_str().unwrap();
        assert!(
            labels.contains(&name),
            "`{name}` is not offered: {labels:?}"
        );
    }
}
