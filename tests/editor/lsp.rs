//! The language server, driven over JSON-RPC as an editor drives it: in process through
//! lsp-server's memory connection, and once through `expc lsp`'s standard input and
//! output. One test per feature, and one that holds the server to `expc check`'s
//! diagnostics on every spec of the test corpus and the examples.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expc_lsp::Connection;
use expc_tests::Suite;
use lsp_server::{Message, Notification, Request, RequestId, Response};
use serde_json::{Value, json};

pub fn trials(suite: &mut Suite) {
    suite.test(
        "diagnostics_on_open_and_change",
        diagnostics_on_open_and_change,
    );
    suite.test(
        "unsaved_imported_files_are_checked",
        unsaved_imported_files_are_checked,
    );
    suite.test(
        "hover_shows_type_doc_and_units",
        hover_shows_type_doc_and_units,
    );
    suite.test(
        "definition_in_the_file_and_across_files",
        definition_in_the_file_and_across_files,
    );
    suite.test("references_across_files", references_across_files);
    suite.test(
        "completion_of_keywords_names_fields_formats_and_units",
        completion_of_keywords_names_fields_formats_and_units,
    );
    suite.test(
        "completion_at_a_statement_offers_if_and_an_if_checks_in_the_editor",
        completion_at_a_statement_offers_if_and_an_if_checks_in_the_editor,
    );
    suite.test(
        "document_symbols_outline_the_file",
        document_symbols_outline_the_file,
    );
    suite.test(
        "formatting_uses_the_formatter",
        formatting_uses_the_formatter,
    );
    suite.test(
        "rename_tasks_and_params_across_files",
        rename_tasks_and_params_across_files,
    );
    suite.test("quick_fix_for_did_you_mean", quick_fix_for_did_you_mean);
    suite.test(
        "malformed_documents_and_unknown_requests_do_not_stop_the_server",
        malformed_documents_and_unknown_requests_do_not_stop_the_server,
    );
    suite.test(
        "cli_and_lsp_give_identical_diagnostics",
        cli_and_lsp_give_identical_diagnostics,
    );
    suite.test("expc_lsp_serves_on_stdio", expc_lsp_serves_on_stdio);
    suite.test(
        "profiles_cache_and_after_are_completed_and_explained",
        profiles_cache_and_after_are_completed_and_explained,
    );
    suite.test(
        "register_and_registry_calls_are_completed_and_need_no_store",
        register_and_registry_calls_are_completed_and_need_no_store,
    );
    suite.test(
        "file_sets_complete_glob_and_hover_with_what_they_match",
        file_sets_complete_glob_and_hover_with_what_they_match,
    );
    suite.test(
        "rows_and_resource_reads_complete_and_a_rows_sweep_hovers_with_its_table",
        rows_and_resource_reads_complete_and_a_rows_sweep_hovers_with_its_table,
    );
    suite.test(
        "record_params_complete_their_fields_and_hover_with_their_type",
        record_params_complete_their_fields_and_hover_with_their_type,
    );
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// An editor talking to an in-process server.
pub(crate) struct Client {
    conn: Connection,
    next_id: i32,
    notifications: Vec<Notification>,
    server: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Client {
    /// Starts a server with `root` as its workspace folder and initialises it.
    pub(crate) fn start(root: &Path) -> Client {
        let (server, client) = Connection::memory();
        let handle = std::thread::spawn(move || expc_lsp::serve(server));
        let mut c = Client {
            conn: client,
            next_id: 0,
            notifications: Vec::new(),
            server: Some(handle),
        };
        let init = c.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "capabilities": {},
                "workspaceFolders": [{ "uri": uri(root), "name": "root" }],
            }),
        );
        let caps = &init.expect("initialize succeeds")["capabilities"];
        assert_eq!(caps["hoverProvider"], json!(true));
        c.notify("initialized", json!({}));
        c
    }

    pub(crate) fn request(&mut self, method: &str, params: Value) -> Result<Value, (i32, String)> {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.conn
            .sender
            .send(Message::Request(Request::new(
                id.clone(),
                method.to_owned(),
                params,
            )))
            .expect("server is running");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.receiver.recv_timeout(left) {
                Ok(Message::Response(Response {
                    id: rid,
                    response_result,
                })) if rid == id => {
                    return response_result.map_err(|e| (e.code, e.message));
                }
                Ok(Message::Notification(n)) => self.notifications.push(n),
                Ok(_) => {}
                Err(e) => panic!("no answer to `{method}`: {e}"),
            }
        }
    }

    pub(crate) fn notify(&mut self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                method.to_owned(),
                params,
            )))
            .expect("server is running");
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        self.diagnostics_of_version(uri, None)
    }

    /// The next diagnostics published for `uri` at `version`, if given.
    pub(crate) fn diagnostics_of_version(&mut self, uri: &str, version: Option<i32>) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.notifications.iter().position(|n| {
                n.method == "textDocument/publishDiagnostics"
                    && n.params["uri"] == uri
                    && version.is_none_or(|v| n.params["version"] == json!(v))
            }) {
                let n = self.notifications.remove(i);
                return n.params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.receiver.recv_timeout(left) {
                Ok(Message::Notification(n)) => self.notifications.push(n),
                Ok(_) => {}
                Err(e) => panic!("no diagnostics for {uri}: {e}"),
            }
        }
    }

    pub(crate) fn open(&mut self, path: &Path, text: &str) -> Vec<Value> {
        let u = uri(path);
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": u, "languageId": "exp", "version": 1, "text": text } }),
        );
        self.diagnostics_of_version(&u, Some(1))
    }

    pub(crate) fn change(&mut self, path: &Path, version: i32, text: &str) -> Vec<Value> {
        let u = uri(path);
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": u, "version": version }, "contentChanges": [{ "text": text }] }),
        );
        self.diagnostics_of_version(&u, Some(version))
    }

    pub(crate) fn at(&mut self, method: &str, path: &Path, (line, character): (u32, u32)) -> Value {
        let mut params = json!({
            "textDocument": { "uri": uri(path) },
            "position": { "line": line, "character": character },
        });
        if method == "textDocument/references" {
            params["context"] = json!({ "includeDeclaration": true });
        }
        self.request(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e:?}"))
    }

    pub(crate) fn stop(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert_eq!(r, Ok(Value::Null));
        self.notify("exit", Value::Null);
        let result = self.server.take().unwrap().join().expect("server thread");
        assert_eq!(result, Ok(()));
    }
}

pub(crate) fn uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn root() -> PathBuf {
    std::fs::canonicalize(expc_tests::root()).unwrap()
}

fn example(name: &str) -> (PathBuf, String) {
    let path = root()
        .join("examples")
        .join(name)
        .join(format!("{name}.exp"));
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// The 0-based line and UTF-16 column of the `n`th occurrence of `needle` (plus `shift`
/// characters) in `text`.
pub(crate) fn pos(text: &str, needle: &str, n: usize, shift: usize) -> (u32, u32) {
    let offset = text
        .match_indices(needle)
        .nth(n)
        .unwrap_or_else(|| panic!("`{needle}` occurs {n} times or fewer"))
        .0
        + shift;
    let line = text[..offset].matches('\n').count() as u32;
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (line, text[start..offset].encode_utf16().count() as u32)
}

/// A scratch folder with the given files.
pub(crate) fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = expc_tests::temp_path("lsp", name);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::canonicalize(dir).unwrap()
}

/// Applies LSP text edits to a text.
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let (line, ch) = (
            p["line"].as_u64().unwrap() as usize,
            p["character"].as_u64().unwrap() as usize,
        );
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let rest = &text[start..];
        let mut units = 0;
        for (i, c) in rest.char_indices() {
            if units >= ch || c == '\n' {
                return start + i;
            }
            units += c.len_utf16();
        }
        text.len()
    };
    let mut edits: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_owned();
    for (s, e, new) in edits {
        out.replace_range(s..e, new);
    }
    out
}

pub(crate) const SMALL: &str = r#"import std.formats.{Csv}
import std.resources.{Local}

/// How many passes.
param epochs: Int = 20 where 1 <= epochs <= 100

data raw: File<Csv> = "raw.csv"

resource laptop = Local {
  cpus = 2
  mem = 8GiB
}

/// Counts the rows.
task count(input: File<Csv>, times: Int) -> (out: File<Csv> = "out.csv") {
  resources {
    mem = 1GiB
  }
  run `wc -l ${input} --times ${times} --out ${out}`
}

pipeline main {
  let c = count(input = raw, times = epochs) on laptop
  count(input = c.out, times = epochs) on laptop
}
"#;

fn diagnostics_on_open_and_change() {
    let dir = scratch("diag", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    assert_eq!(c.open(&path, SMALL), Vec::<Value>::new());
    // An unsaved edit is what gets checked.
    let broken = SMALL.replacen("times = epochs)", "times = epoch)", 1);
    let d = c.change(&path, 2, &broken);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0]["message"].as_str().unwrap().contains("`epoch`"),
        "{d:?}"
    );
    assert_eq!(d[0]["severity"], json!(1));
    assert_eq!(
        d[0]["range"]["start"]["line"],
        json!(pos(&broken, "epoch)", 0, 0).0)
    );
    assert_eq!(c.change(&path, 3, SMALL), Vec::<Value>::new());
    c.stop();
}

fn unsaved_imported_files_are_checked() {
    let lib = "/// A size.\nparam size: Int = 3\n";
    let main = "import \"lib.exp\"\nparam n: Int = size\nparam _m: Int = n\n";
    let dir = scratch("import", &[("lib.exp", lib), ("main.exp", main)]);
    let mut c = Client::start(&dir);
    assert_eq!(c.open(&dir.join("main.exp"), main), Vec::<Value>::new());
    // Renaming `size` in the open, unsaved library breaks the importer.
    c.open(&dir.join("lib.exp"), &lib.replace("size", "length"));
    let d = c.diagnostics(&uri(&dir.join("main.exp")));
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0]["message"].as_str().unwrap().contains("`size`"));
    c.stop();
}

/// `glob` is offered as the value of a data item; hovering a file set says how many files
/// its pattern matches and names the first of them; a loop's position is an `Int`.
fn file_sets_complete_glob_and_hover_with_what_they_match() {
    let (path, text) = example("filesets");
    let mut c = Client::start(&root());
    assert!(
        c.open(&path, &text).is_empty(),
        "the example has diagnostics"
    );
    let h = c.at("textDocument/hover", &path, pos(&text, "data reads", 0, 6));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("List<File<Fastq>>"), "{value}");
    assert!(value.contains("matches 4 files"), "{value}");
    assert!(value.contains("- `data/s1_1.fq`"), "{value}");
    // A use of the set hovers the same way.
    let h = c.at("textDocument/hover", &path, pos(&text, "in reads", 0, 4));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("matches 4 files"), "{value}");

    let with_index = text.replace("for fq in reads", "for (i, fq) in reads");
    c.change(&path, 2, &with_index);
    let h = c.at(
        "textDocument/hover",
        &path,
        pos(&with_index, "(i, fq)", 0, 1),
    );
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("i: Int, the position of `fq`"), "{value}");

    let typing = text.replace("glob(\"data/*_{1,2}.fq\") {", "gl {");
    c.change(&path, 3, &typing);
    let items = c.at("textDocument/completion", &path, pos(&typing, "gl {", 0, 2));
    let glob = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "glob")
        .unwrap_or_else(|| panic!("no `glob` in {items}"));
    assert_eq!(glob["insertText"], "glob(\"$1\")");
    let git = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "git");
    assert!(
        git.is_some_and(|g| g["insertText"] == "git(\"$1\", \"$2\", \"$3\")"),
        "{items}"
    );
    c.stop();
}

/// `rows` is offered as a sweep's strategy; hovering a `rows` sweep names its table;
/// `resources.` in a task's command offers what the command may read of its job.
fn rows_and_resource_reads_complete_and_a_rows_sweep_hovers_with_its_table() {
    let (path, text) = example("samplesheet");
    let mut c = Client::start(&root());
    assert!(
        c.open(&path, &text).is_empty(),
        "the example has diagnostics"
    );
    let h = c.at("textDocument/hover", &path, pos(&text, "in samples", 0, 4));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("sweep samples = rows(units)"), "{value}");

    let typing = text.replace("sweep samples = rows(units)", "sweep samples = ro");
    c.change(&path, 2, &typing);
    let items = c.at(
        "textDocument/completion",
        &path,
        pos(&typing, "samples = ro", 0, 12),
    );
    let rows = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "rows")
        .unwrap_or_else(|| panic!("no `rows` in {items}"));
    assert_eq!(rows["insertText"], "rows($1)");

    // What a task's command may read of its job.
    let typing = text.replace("--threads ${resources.cpus}", "--threads ${resources.}");
    c.change(&path, 3, &typing);
    let items = c.at(
        "textDocument/completion",
        &path,
        pos(&typing, "${resources.}", 0, 12),
    );
    let l: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for name in ["cpus", "mem", "gpus", "time"] {
        assert!(l.contains(&name), "no `{name}` in {l:?}");
    }
    c.stop();
}

/// `train.` offers the fields of the param's record, and `train.optim.` those of the
/// record of its field; hovering the param shows its record type.
fn record_params_complete_their_fields_and_hover_with_their_type() {
    let (path, text) = example("training");
    let mut c = Client::start(&root());
    assert!(
        c.open(&path, &text).is_empty(),
        "the example has diagnostics"
    );
    let h = c.at("textDocument/hover", &path, pos(&text, "param train", 0, 7));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("param train: TrainCfg"), "{value}");

    let typing = text.replace("--lr ${train.lr}", "--lr ${train.}");
    c.change(&path, 2, &typing);
    let labels = |items: serde_json::Value| -> Vec<String> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&typing, "${train.}", 0, 8),
    ));
    for name in ["lr", "layers", "epochs", "optim"] {
        assert!(l.contains(&name.to_owned()), "no `{name}` in {l:?}");
    }
    let typing = text.replace("${train.optim.name}", "${train.optim.}");
    c.change(&path, 3, &typing);
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&typing, "${train.optim.}", 0, 14),
    ));
    assert!(
        l.contains(&"name".to_owned()) && l.contains(&"momentum".to_owned()),
        "{l:?}"
    );
    // In a command, `json` and `yaml` are offered.
    let typing = text.replace("--config ${json(train)}", "--config ${js}");
    c.change(&path, 4, &typing);
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&typing, "--config ${js}", 0, 13),
    ));
    assert!(
        l.contains(&"json".to_owned()) && l.contains(&"yaml".to_owned()),
        "{l:?}"
    );
    c.stop();
}

fn hover_shows_type_doc_and_units() {
    let (path, text) = example("rainfall");
    let mut c = Client::start(&root());
    c.open(&path, &text);
    let h = c.at("textDocument/hover", &path, pos(&text, "${epochs}", 0, 3));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("param epochs: Int = 200"), "{value}");
    assert!(value.contains("Passes of gradient descent"), "{value}");
    // A field of a resource: its kind's declaration, doc and units.
    let h = c.at("textDocument/hover", &path, pos(&text, "mem = 16GiB", 0, 1));
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(value.contains("mem: Memory?"), "{value}");
    assert!(value.contains("GiB"), "{value}");
    assert!(value.contains("resource kind `Local`"), "{value}");
    // A task input's type.
    let h = c.at("textDocument/hover", &path, pos(&text, "${lr}", 0, 3));
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("input lr: Float")
    );
    // A pipeline binding: what it calls.
    let h = c.at(
        "textDocument/hover",
        &path,
        pos(&text, "nowcasters = t.nowcaster", 0, 13),
    );
    let value = h["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("calls task") && value.contains("task train("),
        "{value}"
    );
    // Nothing to say about a comment.
    assert_eq!(
        c.at("textDocument/hover", &path, pos(&text, "A preempted", 0, 3)),
        Value::Null
    );
    c.stop();
}

fn definition_in_the_file_and_across_files() {
    let (path, text) = example("simstudy");
    let mut c = Client::start(&root());
    c.open(&path, &text);
    // `common.collect` is declared in lib/common.exp.
    let d = c.at(
        "textDocument/definition",
        &path,
        pos(&text, "common.collect", 0, 8),
    );
    assert!(
        d["uri"]
            .as_str()
            .unwrap()
            .ends_with("/examples/simstudy/lib/common.exp"),
        "{d}"
    );
    let lib = std::fs::read_to_string(root().join("examples/simstudy/lib/common.exp")).unwrap();
    assert_eq!(
        d["range"]["start"],
        json!({ "line": pos(&lib, "task collect", 0, 5).0, "character": 5 })
    );
    // A resource used in a placement, declared in this file.
    let d = c.at(
        "textDocument/definition",
        &path,
        pos(&text, "on laptop", 0, 4),
    );
    assert_eq!(d["uri"].as_str().unwrap(), uri(&path));
    let (line, _) = pos(&text, "resource laptop", 0, 0);
    assert_eq!(d["range"]["start"]["line"], json!(line));
    // A kind of the standard library: a copy of its source is opened.
    let d = c.at(
        "textDocument/definition",
        &path,
        pos(&text, "= Slurm {", 0, 2),
    );
    let std_uri = d["uri"].as_str().unwrap();
    assert!(std_uri.ends_with("/std/resources.exp"), "{d}");
    let std_text = std::fs::read_to_string(std_uri.strip_prefix("file://").unwrap()).unwrap();
    let line = d["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert!(
        std_text
            .lines()
            .nth(line)
            .unwrap()
            .starts_with("kind Slurm"),
        "{d}"
    );
    // The import of the file leads to it.
    let d = c.at(
        "textDocument/definition",
        &path,
        pos(&text, "\"lib/common.exp\"", 0, 2),
    );
    assert!(d["uri"].as_str().unwrap().ends_with("lib/common.exp"));
    c.stop();
}

fn references_across_files() {
    let lib_path = root().join("examples/simstudy/lib/common.exp");
    let lib = std::fs::read_to_string(&lib_path).unwrap();
    let mut c = Client::start(&root().join("examples"));
    c.open(&lib_path, &lib);
    // From the declaration in the library: the importer's call is found.
    let refs = c.at(
        "textDocument/references",
        &lib_path,
        pos(&lib, "task collect", 0, 6),
    );
    let refs = refs.as_array().unwrap();
    let uris: Vec<&str> = refs.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    assert!(
        uris.iter().any(|u| u.ends_with("simstudy/simstudy.exp")),
        "{uris:?}"
    );
    assert!(
        uris.iter().any(|u| u.ends_with("lib/common.exp")),
        "{uris:?}"
    );
    // Within one file: every use of a param, and its declaration.
    let (path, text) = example("rainfall");
    c.open(&path, &text);
    let refs = c.at(
        "textDocument/references",
        &path,
        pos(&text, "param epochs", 0, 7),
    );
    // `--epochs` in the command is text, not a use.
    let uses = text.matches("epochs").count() - text.matches("--epochs").count();
    assert_eq!(refs.as_array().unwrap().len(), uses, "{refs}");
    c.stop();
}

fn completion_of_keywords_names_fields_formats_and_units() {
    let dir = scratch("completion", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    let labels = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    // An item keyword at the start of a line between items.
    let text = format!("{SMALL}\nta");
    c.change(&path, 2, &text);
    let end = (text.lines().count() as u32 - 1, 2);
    let l = labels(c.at("textDocument/completion", &path, end));
    assert!(
        l.contains(&"task".to_owned()) && l.contains(&"pipeline".to_owned()),
        "{l:?}"
    );
    // Names in scope in an expression.
    let text = SMALL.replace("times = epochs)", "times = ep)");
    c.change(&path, 3, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "= ep)", 0, 4)));
    assert!(
        l.contains(&"epochs".to_owned()) && l.contains(&"raw".to_owned()),
        "{l:?}"
    );
    // The fields of the resource's kind that are not set yet.
    let text = SMALL.replace("  mem = 8GiB\n", "  mem = 8GiB\n  w\n");
    c.change(&path, 4, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "  w\n", 0, 3)));
    assert!(
        l.contains(&"workdir".to_owned()) && l.contains(&"gpus".to_owned()),
        "{l:?}"
    );
    assert!(!l.contains(&"mem".to_owned()), "{l:?}");
    // Formats in a type argument.
    let text = SMALL.replace("data raw: File<Csv>", "data raw: File<C");
    c.change(&path, 5, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "File<C", 0, 6)));
    assert_eq!(l, vec!["Csv".to_owned()]);
    // Units after a number.
    let text = SMALL.replace("mem = 8GiB", "mem = 8G");
    c.change(&path, 6, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "8G\n", 0, 2)));
    assert!(
        l.contains(&"GiB".to_owned()) && l.contains(&"h".to_owned()),
        "{l:?}"
    );
    // A call's outputs after a dot, and the fields of a task section.
    let text = SMALL.replace("input = c.out", "input = c.");
    c.change(&path, 7, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "c.,", 0, 2)));
    assert_eq!(l, vec!["out".to_owned()]);
    let text = SMALL.replace("    mem = 1GiB\n", "    mem = 1GiB\n    ti\n");
    c.change(&path, 8, &text);
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&text, "    ti\n", 0, 6),
    ));
    assert!(
        l.contains(&"time".to_owned()) && l.contains(&"cpus".to_owned()),
        "{l:?}"
    );
    // Standard modules in an import.
    let text = format!("import std.\n{SMALL}");
    c.change(&path, 9, &text);
    let l = labels(c.at("textDocument/completion", &path, (0, 11)));
    assert!(
        l.contains(&"formats".to_owned()) && l.contains(&"resources".to_owned()),
        "{l:?}"
    );
    c.stop();
}

fn document_symbols_outline_the_file() {
    let dir = scratch("symbols", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    let s = c
        .request(
            "textDocument/documentSymbol",
            json!({ "textDocument": { "uri": uri(&path) } }),
        )
        .unwrap();
    let names: Vec<&str> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["epochs", "raw", "laptop", "count", "main"]);
    let task = &s[3];
    let children: Vec<&str> = task["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["input", "times", "out"]);
    assert_eq!(
        task["selectionRange"]["start"],
        json!({ "line": pos(SMALL, "task count", 0, 5).0, "character": 5 })
    );
    c.stop();
}

fn formatting_uses_the_formatter() {
    let messy = "param   epochs : Int=20\nparam _x: Int = epochs\n";
    let dir = scratch("fmt", &[("messy.exp", messy)]);
    let path = dir.join("messy.exp");
    let mut c = Client::start(&dir);
    c.open(&path, messy);
    let params = json!({ "textDocument": { "uri": uri(&path) }, "options": { "tabSize": 2, "insertSpaces": true } });
    let edits = c
        .request("textDocument/formatting", params.clone())
        .unwrap();
    let formatted = apply(messy, edits.as_array().unwrap());
    assert_eq!(
        formatted,
        expc_fmt::format_source(expc_diagnostics::FileId(0), messy).unwrap()
    );
    assert_ne!(formatted, messy);
    // Formatted text needs no edit; broken text gets none.
    c.change(&path, 2, &formatted);
    assert_eq!(
        c.request("textDocument/formatting", params.clone())
            .unwrap(),
        json!([])
    );
    c.change(&path, 3, "param epochs: = {");
    assert_eq!(
        c.request("textDocument/formatting", params).unwrap(),
        Value::Null
    );
    c.stop();
}

fn rename_tasks_and_params_across_files() {
    let lib = "/// Counts.\ntask count(n: Int) -> (out: File<Csv> = \"o.csv\") {\n  run `wc ${n} ${out}`\n}\nimport std.formats.{Csv}\n";
    let main = "import \"lib.exp\" as lib\nimport std.resources.{Local}\nparam size: Int = 3 where size > 0\nresource here = Local {}\npipeline main {\n  let c = lib.count(n = size) on here\n  lib.count(n = size) on here\n}\n";
    let dir = scratch("rename", &[("lib.exp", lib), ("main.exp", main)]);
    let (lib_path, main_path) = (dir.join("lib.exp"), dir.join("main.exp"));
    let mut c = Client::start(&dir);
    assert_eq!(c.open(&main_path, main), Vec::<Value>::new());
    // A param: declaration, constraint and both calls.
    let prepared = c.at(
        "textDocument/prepareRename",
        &main_path,
        pos(main, "size", 1, 1),
    );
    assert_eq!(prepared["start"], json!({ "line": 2, "character": 26 }));
    let edit = c
        .request(
            "textDocument/rename",
            json!({ "textDocument": { "uri": uri(&main_path) }, "position": { "line": 2, "character": 7 }, "newName": "width" }),
        )
        .unwrap();
    let edits = edit["changes"][uri(&main_path)].as_array().unwrap().clone();
    assert_eq!(edits.len(), 4);
    let renamed = apply(main, &edits);
    assert_eq!(renamed.matches("width").count(), 4);
    assert_eq!(c.change(&main_path, 2, &renamed), Vec::<Value>::new());
    // A task, from a call in another file: the declaration in the library is renamed too.
    let edit = c
        .request(
            "textDocument/rename",
            json!({ "textDocument": { "uri": uri(&main_path) }, "position": { "line": 5, "character": 14 }, "newName": "tally" }),
        )
        .unwrap();
    let main_edits = edit["changes"][uri(&main_path)].as_array().unwrap();
    let lib_edits = edit["changes"][uri(&lib_path)].as_array().unwrap();
    assert_eq!((main_edits.len(), lib_edits.len()), (2, 1));
    let (new_main, new_lib) = (apply(&renamed, main_edits), apply(lib, lib_edits));
    assert!(new_lib.contains("task tally("));
    c.open(&lib_path, &new_lib);
    assert_eq!(c.change(&main_path, 3, &new_main), Vec::<Value>::new());
    // Bad names and names of other things are refused.
    let bad = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri(&main_path) }, "position": { "line": 2, "character": 7 }, "newName": "for" }),
    );
    assert!(bad.is_err());
    let not_renamable = c.request(
        "textDocument/prepareRename",
        json!({ "textDocument": { "uri": uri(&main_path) }, "position": { "line": 3, "character": 10 } }),
    );
    assert!(not_renamable.unwrap_err().1.contains("cannot be renamed"));
    c.stop();
}

fn quick_fix_for_did_you_mean() {
    let dir = scratch("fix", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    let broken = SMALL.replace("on laptop\n}", "on laptp\n}").replacen(
        "times = epochs)",
        "times = epohcs)",
        1,
    );
    let d = c.open(&path, &broken);
    assert_eq!(d.len(), 2, "{d:?}");
    let mut text = broken.clone();
    for diagnostic in &d {
        let actions = c
            .request(
                "textDocument/codeAction",
                json!({ "textDocument": { "uri": uri(&path) }, "range": diagnostic["range"], "context": { "diagnostics": [diagnostic] } }),
            )
            .unwrap();
        let actions = actions.as_array().unwrap();
        assert_eq!(actions.len(), 1, "{actions:?}");
        assert_eq!(actions[0]["kind"], json!("quickfix"));
        let edits = actions[0]["edit"]["changes"][uri(&path)]
            .as_array()
            .unwrap();
        text = apply(&text, edits);
    }
    // Both fixes applied (the later one first does not move the earlier one).
    assert_eq!(text, SMALL);
    assert_eq!(c.change(&path, 2, &text), Vec::<Value>::new());
    c.stop();
}

fn malformed_documents_and_unknown_requests_do_not_stop_the_server() {
    let dir = scratch("robust", &[]);
    let path = dir.join("bad.exp");
    let mut c = Client::start(&dir);
    let inputs = [
        "task (((((( { ] } `${ \"",
        &"[".repeat(20_000),
        "\u{0}\u{1a}é😀 resource r = Slurm { mem = 1.5.5GiB }",
        "pipeline main { let = on for in }",
        "",
    ];
    c.open(&path, "");
    for (i, text) in inputs.iter().enumerate() {
        c.change(&path, i as i32 + 2, text);
        for method in [
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/definition",
            "textDocument/references",
            "textDocument/documentSymbol",
            "textDocument/formatting",
        ] {
            for line in 0..2 {
                let _ = c.request(
                    method,
                    json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": line, "character": 3 }, "context": { "includeDeclaration": true }, "options": { "tabSize": 2, "insertSpaces": true } }),
                );
            }
        }
    }
    let unknown = c.request("expc/noSuchRequest", json!({}));
    assert_eq!(unknown.unwrap_err().0, -32601);
    let bad_params = c.request("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(bad_params.unwrap_err().0, -32602);
    c.notify("expc/noSuchNotification", json!(42));
    // Still serving.
    assert!(c.change(&path, 100, SMALL).is_empty());
    c.stop();
}

/// Every spec of the checker's test corpus and every example: the server publishes for a
/// file exactly what `expc check --format json` reports in it.
fn cli_and_lsp_give_identical_diagnostics() {
    let mut files = expc_tests::files("tests/check", "exp");
    files.extend(expc_tests::files("examples", "exp"));
    let root = root();
    let mut c = Client::start(&root);
    let mut compared = 0;
    for file in &files {
        let file = std::fs::canonicalize(file).unwrap();
        let out = expc_tests::run(&["check", "--format", "json", file.to_str().unwrap()]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let from_cli: Vec<Value> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["file"] == file.to_str().unwrap())
            .map(|d| {
                let at = |b: u64| -> Value {
                    let b = b as usize;
                    let line = text[..b].matches('\n').count();
                    let start = text[..b].rfind('\n').map_or(0, |i| i + 1);
                    json!({ "line": line, "character": text[start..b].encode_utf16().count() })
                };
                let message = match d["help"].as_str() {
                    Some(h) => format!("{}\nhelp: {h}", d["message"].as_str().unwrap()),
                    None => d["message"].as_str().unwrap().to_owned(),
                };
                let severity = match d["severity"].as_str().unwrap() {
                    "error" => 1,
                    "warning" => 2,
                    _ => 3,
                };
                json!({
                    "range": { "start": at(d["range"]["byte_start"].as_u64().unwrap()), "end": at(d["range"]["byte_end"].as_u64().unwrap()) },
                    "severity": severity,
                    "code": d["code"],
                    "message": message,
                })
            })
            .collect();
        let from_lsp: Vec<Value> = c
            .open(&file, &text)
            .into_iter()
            .map(|d| json!({ "range": d["range"], "severity": d["severity"], "code": d["code"], "message": d["message"] }))
            .collect();
        assert_eq!(from_lsp, from_cli, "{}", file.display());
        compared += from_cli.len();
    }
    // The corpus is mostly broken specs: a comparison of empty lists proves nothing.
    assert!(
        compared >= files.len() / 2,
        "only {compared} diagnostics compared"
    );
    c.stop();
}

/// The real binary: `expc lsp` speaks the protocol on standard input and output.
fn expc_lsp_serves_on_stdio() {
    let mut child = Command::new(expc_tests::expc())
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Malformed messages are skipped, not fatal.
    stdin
        .write_all(b"Content-Length: 9\r\n\r\n{nonsense\r\nX-No-Length: 1\r\n\r\n")
        .unwrap();
    let mut send = |v: Value| {
        let body = v.to_string();
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        stdin.flush().unwrap();
    };
    let mut read = || -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                len = n.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    };
    send(
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } }),
    );
    let init = read();
    assert_eq!(init["result"]["serverInfo"]["name"], json!("expc"));
    send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    send(
        json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": "file:///nowhere/a.exp", "languageId": "exp", "version": 1, "text": "param x: Int = y\n" } } }),
    );
    let published = read();
    assert_eq!(
        published["method"],
        json!("textDocument/publishDiagnostics")
    );
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics
            .iter()
            .any(|d| d["message"].as_str().unwrap().contains("unknown name `y`")),
        "{diagnostics:?}"
    );
    send(json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown" }));
    assert_eq!(read()["id"], json!(2));
    send(json!({ "jsonrpc": "2.0", "method": "exit" }));
    assert!(child.wait().unwrap().success());
}

const PLACED: &str = r#"import std.formats.{Csv}
import std.resources.{Local, Slurm}

data raw: File<Csv> = "raw.csv"

resource laptop = Local {
  cpus = 2
}

resource cluster = Slurm {
  partition = "cpu"
}

/// On the cluster, what the spec places on the laptop.
profile hpc {
  laptop = cluster
}

task count(input: File<Csv>) -> (out: File<Csv> = "out.csv") {
  cache = false
  run `wc -l ${input} --out ${out}`
}

pipeline main {
  let c = count(input = raw) on laptop
  let d = count(input = raw) after [c] on laptop
}
"#;

/// The new words are completed where an item or a section begins; `cache`, a profile and
/// a name in `after [..]` are explained on hover; the name in `after` goes to its binding.
fn profiles_cache_and_after_are_completed_and_explained() {
    let dir = scratch("placed", &[("placed.exp", PLACED)]);
    let path = dir.join("placed.exp");
    let mut c = Client::start(&dir);
    assert!(c.open(&path, PLACED).is_empty(), "the spec has diagnostics");
    let labels = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let text = format!("{PLACED}\npr");
    c.change(&path, 2, &text);
    let end = (text.lines().count() as u32 - 1, 2);
    let l = labels(c.at("textDocument/completion", &path, end));
    assert!(l.contains(&"profile".to_owned()), "{l:?}");
    let text = PLACED.replace("  cache = false\n", "  ca\n");
    c.change(&path, 3, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "  ca\n", 0, 4)));
    assert!(l.contains(&"cache".to_owned()), "{l:?}");
    // `after` where a call ends, and the bindings above in its list.
    let text = PLACED.replace("after [c] on laptop", "af");
    c.change(&path, 4, &text);
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&text, "raw) af", 0, 7),
    ));
    assert!(l.contains(&"after".to_owned()), "{l:?}");
    let text = PLACED.replace("after [c] on laptop", "after [");
    c.change(&path, 5, &text);
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&text, "after [", 0, 7),
    ));
    assert!(l.contains(&"c".to_owned()), "{l:?}");
    c.change(&path, 6, PLACED);
    let hover = |c: &mut Client, needle: &str, shift: usize| -> String {
        let h = c.at("textDocument/hover", &path, pos(PLACED, needle, 0, shift));
        h["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let value = hover(&mut c, "cache = false", 1);
    assert!(
        value.contains("cache: Bool") && value.contains("never served from the cache"),
        "{value}"
    );
    let value = hover(&mut c, "profile hpc", 9);
    assert!(
        value.contains("profile hpc { laptop = cluster }"),
        "{value}"
    );
    assert!(value.contains("On the cluster"), "{value}");
    let value = hover(&mut c, "after [c]", 7);
    assert!(value.contains("calls task"), "{value}");
    let d = c.at(
        "textDocument/definition",
        &path,
        pos(PLACED, "after [c]", 0, 7),
    );
    let target = if d.is_array() { d[0].clone() } else { d };
    assert_eq!(
        target["range"]["start"],
        serde_json::json!({ "line": pos(PLACED, "let c", 0, 4).0, "character": 6 }),
        "{target}"
    );
    c.stop();
}

/// `if` is offered where a pipeline statement starts, and a spec with an `if` whose
/// one-branch binding is passed where a value is required gets E0220 in the editor too.
fn completion_at_a_statement_offers_if_and_an_if_checks_in_the_editor() {
    let dir = scratch("completion-if", &[("small.exp", SMALL)]);
    let path = dir.join("small.exp");
    let mut c = Client::start(&dir);
    c.open(&path, SMALL);
    let text = SMALL.replace("  count(input = c.out", "  i\n  count(input = c.out");
    c.change(&path, 2, &text);
    let items = c.at("textDocument/completion", &path, pos(&text, "  i\n", 0, 3));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"if") && labels.contains(&"let"),
        "{labels:?}"
    );
    let text = SMALL.replace(
        "  let c = count(input = raw, times = epochs) on laptop\n",
        "  if epochs > 10 {\n    let c = count(input = raw, times = epochs) on laptop\n  }\n",
    );
    let published = c.change(&path, 3, &text);
    let codes: Vec<&str> = published
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["E0220"], "{published:?}");
    c.stop();
}

const REGISTERED: &str = r#"import std.formats.{Json}
import std.resources.{Local}

format LinearJson: Json { model = true }

resource laptop = Local { cpus = 2 }

model best: Model<LinearJson> = registry.best("slope", by = "val_mse")

task train(lr: Float) -> (model: Model<LinearJson> = "model.json") {
  run `python3 train.py ${lr} ${model}`
}

task evaluate(model: Model<LinearJson>) -> (scores: Metrics = "scores.json") {
  evaluates = model
  run `python3 evaluate.py ${model} ${scores}`
}

pipeline main {
  let t = train(lr = 0.1) on laptop
  let e = evaluate(model = best) on laptop
  register t.model as "slope"
}
"#;

/// `register` at the start of a pipeline's line, the registry's calls where a model is
/// declared; a spec choosing from the registry is checked without one (no store here).
fn register_and_registry_calls_are_completed_and_need_no_store() {
    let dir = scratch("registered", &[("registered.exp", REGISTERED)]);
    let path = dir.join("registered.exp");
    let mut c = Client::start(&dir);
    let diagnostics = c.open(&path, REGISTERED);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let labels = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    let text = REGISTERED.replace("  register t.model as \"slope\"", "  reg");
    c.change(&path, 2, &text);
    let l = labels(c.at(
        "textDocument/completion",
        &path,
        pos(&text, "  reg\n", 0, 5),
    ));
    assert!(l.contains(&"register".to_owned()), "{l:?}");
    let text = REGISTERED.replace("registry.best(\"slope\", by = \"val_mse\")", "re");
    c.change(&path, 3, &text);
    let l = labels(c.at("textDocument/completion", &path, pos(&text, "= re\n", 0, 4)));
    for call in ["registry", "registry.best", "registry.top"] {
        assert!(l.contains(&call.to_owned()), "{l:?}");
    }
}
