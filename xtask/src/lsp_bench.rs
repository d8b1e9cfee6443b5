//! The language server's latency: `expc lsp` (the release binary) driven over its
//! standard input and output as an editor drives it, on a generated spec of about 2,000
//! lines. Each measure is 100 requests, reported as the median and the 95th percentile
//! of the time from sending to the answer.
//!
//! - diagnostics: a one-character edit sent as a range, until the diagnostics of that
//!   version arrive (a whole re-check);
//! - hover, completion, signature help, semantic tokens: on the settled document, and
//!   sent right after an edit, timed from the edit (so the answer waits for the re-check,
//!   as it does when an editor asks for tokens after each keystroke).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const REQUESTS: usize = 100;

/// A spec of about 2,000 lines: documented params and tasks, and a pipeline chaining them.
pub fn spec() -> String {
    let mut spec = String::from(
        "import std.formats.{Csv}\nimport std.resources.{Local}\nresource here = Local { cpus = 2 }\ndata input: File<Csv> = \"in.csv\"\n",
    );
    let mut n = 0;
    while spec.lines().count() < 2_000 {
        spec.push_str(&format!(
            "/// Step {n}.\nparam p{n}: Int = {n} where p{n} >= 0\n\n/// Runs step {n}.\ntask t{n}(x: File<Csv>, k: Int = 1) -> (y: File<Csv> = \"y{n}.csv\") {{\n  resources {{\n    mem = 1GiB\n    time = 10m\n  }}\n  run `step --in ${{x}} --k ${{k}} --out ${{y}}`\n}}\n\n"
        ));
        n += 1;
    }
    spec.push_str("pipeline main {\n  let s0 = t0(x = input, k = p0) on here\n");
    for i in 1..n {
        spec.push_str(&format!(
            "  let s{i} = t{i}(x = s{}.y, k = p{i}) on here\n",
            i - 1
        ));
    }
    spec.push_str("}\n");
    spec
}

/// `expc lsp` and the messages it sent that nobody has read yet.
struct Server {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: i64,
    /// Notifications read while waiting for an answer, not yet asked for.
    unread: Vec<Value>,
}

impl Server {
    fn start(expc: &Path, root: &Path) -> Server {
        let mut child = Command::new(expc)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start expc lsp");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut s = Server {
            child,
            input,
            output,
            next_id: 0,
            unread: Vec::new(),
        };
        let root = format!("file://{}", root.display());
        s.request(
            "initialize",
            json!({ "processId": null, "rootUri": root, "capabilities": {} }),
        );
        s.notify("initialized", json!({}));
        s
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.input, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.input.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "expc lsp stopped"
            );
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.output.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// Reads until the answer to request `id`, which must not be an error.
    fn answer(&mut self, id: i64) -> Value {
        loop {
            let m = self.receive();
            if m["id"] == json!(id) && m.get("method").is_none() {
                assert!(m.get("error").is_none(), "{m}");
                return m["result"].clone();
            }
            self.unread.push(m);
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.answer(id)
    }

    /// Reads until the diagnostics of `version` of `uri`.
    fn diagnostics(&mut self, uri: &str, version: i32) -> Vec<Value> {
        let wanted = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == json!(version)
        };
        let m = match self.unread.iter().position(wanted) {
            Some(i) => self.unread.remove(i),
            None => loop {
                let m = self.receive();
                if wanted(&m) {
                    break m;
                }
            },
        };
        self.unread.clear();
        m["params"]["diagnostics"].as_array().unwrap().clone()
    }

    fn stop(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let _ = self.child.wait();
    }
}

/// The median and 95th percentile of `n` timings.
fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    (at(0.5), at(0.95))
}

/// The 0-based line and UTF-16 column just after the first `needle` in `text`.
fn after(text: &str, needle: &str) -> Value {
    let offset = text.find(needle).expect("needle in spec") + needle.len();
    let line = text[..offset].matches('\n').count();
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    json!({ "line": line, "character": text[start..offset].encode_utf16().count() })
}

pub fn run(expc: &Path) {
    let dir = std::env::temp_dir().join(format!("expc-lsp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = spec();
    let lines = text.lines().count();
    let path = dir.join("big.exp");
    std::fs::write(&path, &text).unwrap();
    let uri = format!("file://{}", path.display());
    let mut server = Server::start(expc, &dir);
    server.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "exp", "version": 1, "text": text } }),
    );
    assert_eq!(server.diagnostics(&uri, 1), Vec::<Value>::new());

    // One character of `param p0: Int = 0` changed, back and forth.
    let edited = after(&text, "param p0: Int = ");
    let mut version = 1;
    let mut edit = |server: &mut Server| {
        version += 1;
        let range = json!({ "start": edited, "end": { "line": edited["line"], "character": edited["character"].as_u64().unwrap() + 1 } });
        server.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": range, "text": (version % 10).to_string() }],
            }),
        );
        version
    };

    // The start of a use of a param, halfway down the pipeline.
    let hover_at = after(&text, "let s70 = t70(x = s69.y, k = ");
    let document = json!({ "uri": uri });
    let at = |position: &Value| json!({ "textDocument": document, "position": position });
    let requests: Vec<(&str, &str, Value)> = vec![
        ("hover", "textDocument/hover", at(&hover_at)),
        (
            "completion (names in scope)",
            "textDocument/completion",
            at(&after(&text, "let s1 = t1(x = ")),
        ),
        (
            "signature help",
            "textDocument/signatureHelp",
            at(&after(&text, "let s1 = t1(x = ")),
        ),
        (
            "semantic tokens (whole document)",
            "textDocument/semanticTokens/full",
            json!({ "textDocument": document }),
        ),
    ];

    let mut rows = Vec::new();
    let mut times = Vec::new();
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let v = edit(&mut server);
        let d = server.diagnostics(&uri, v);
        times.push(start.elapsed());
        assert_eq!(d, Vec::<Value>::new());
    }
    rows.push((
        "diagnostics after an edit".to_owned(),
        percentiles(times),
        "< 50 ms",
    ));
    for (name, method, params) in &requests {
        let target = if name.starts_with("semantic") {
            "< 30 ms"
        } else if name.starts_with("signature") {
            ""
        } else {
            "< 50 ms"
        };
        let mut settled = Vec::new();
        for _ in 0..REQUESTS {
            let start = Instant::now();
            let result = server.request(method, params.clone());
            settled.push(start.elapsed());
            assert!(!result.is_null(), "{name}: no answer");
        }
        rows.push((
            format!("{name}, settled document"),
            percentiles(settled),
            target,
        ));
        let mut after_edit = Vec::new();
        for _ in 0..REQUESTS {
            let start = Instant::now();
            let v = edit(&mut server);
            let id = server.send_request(method, params.clone());
            let result = server.answer(id);
            after_edit.push(start.elapsed());
            assert!(!result.is_null(), "{name}: no answer");
            server.diagnostics(&uri, v);
        }
        rows.push((
            format!("{name}, right after an edit"),
            percentiles(after_edit),
            target,
        ));
    }
    server.stop();
    std::fs::remove_dir_all(&dir).ok();

    println!();
    println!(
        "Language server: `expc lsp` over standard input and output, a generated spec of {lines} lines ({} KB), {REQUESTS} requests each.",
        text.len() / 1000
    );
    println!();
    println!("| measure | median | p95 | target (p95) |");
    println!("|---|---|---|---|");
    for (name, (p50, p95), target) in rows {
        println!(
            "| {name} | {} | {} | {target} |",
            crate::ms(p50),
            crate::ms(p95)
        );
    }
}
