//! The back end's shape, read from its sources: no function longer than a reviewer can
//! hold in mind, no IO in the artifact generators, the provenance crate reading the run
//! crate only through its public records, and a small `expc_run` root.

use expc_tests::Suite;
use std::path::{Path, PathBuf};

/// The back-end crates whose `src` folders are checked.
const BACKEND_CRATES: [&str; 5] = [
    "crates/expc-plan",
    "crates/expc-build",
    "crates/expc-run",
    "crates/expc-prov",
    "crates/expc-report",
];

/// The most lines a function may take, from its `fn` line to its closing brace.
const MAX_FN_LINES: usize = 200;

/// The most lines `crates/expc-run/src/lib.rs` may hold (it must stay under this).
const MAX_RUN_LIB_LINES: usize = 400;

pub fn trials(suite: &mut Suite) {
    suite.test(
        "no_backend_function_is_longer_than_200_lines",
        no_backend_function_is_longer_than_200_lines,
    );
    suite.test(
        "the_build_crate_does_no_file_io",
        the_build_crate_does_no_file_io,
    );
    suite.test(
        "the_prov_crate_uses_no_store_resolve_or_hash_of_the_run_crate",
        the_prov_crate_uses_no_store_resolve_or_hash_of_the_run_crate,
    );
    suite.test(
        "the_run_crate_root_is_under_400_lines",
        the_run_crate_root_is_under_400_lines,
    );
    suite.test(
        "the_ir_does_not_import_the_checker",
        the_ir_does_not_import_the_checker,
    );
    suite.test(
        "the_language_server_keeps_no_unit_or_section_tables",
        the_language_server_keeps_no_unit_or_section_tables,
    );
    suite.test(
        "the_scanner_sees_through_literals_and_comments",
        the_scanner_sees_through_literals_and_comments,
    );
}

/// Every `.rs` file under `dir` (relative to the repository root), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&expc_tests::root().join(dir), &mut out);
    out.sort();
    assert!(!out.is_empty(), "no Rust file under {dir}");
    out
}

/// A file's path relative to the repository root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(expc_tests::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `source` with every comment and the contents of every string and char literal
/// replaced by spaces (newlines kept), so that braces, `fn` and paths in the result are
/// code. Handles nested block comments, escapes, byte strings, raw strings (`r#"…"#`)
/// and tells char literals from lifetimes well enough for this crate's sources.
fn code_only(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(c.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.extend([' ', ' ']);
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.extend([' ', ' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if !prev_ident && raw_string_start(&c, i).is_some() {
            let (hashes, open) = raw_string_start(&c, i).unwrap();
            out.extend(c[i..open + 1].iter());
            i = open + 1;
            // The body runs to `"` followed by as many `#`.
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(c[i]));
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' {
            // `'\…'` and `'x'` are char literals; `'a` (no closing quote) is a lifetime.
            let end = if c.get(i + 1) == Some(&'\\') {
                (i + 3..c.len()).find(|&k| c[k] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push('\'');
                    out.extend(c[i + 1..end].iter().map(|&ch| blank(ch)));
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// When a raw (byte) string starts at `i` (`r"`, `r#"`, `br##"`, …): its number of `#`
/// and the position of its opening quote.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut k = i;
    if c.get(k) == Some(&'b') {
        k += 1;
    }
    if c.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let hashes = c[k..].iter().take_while(|&&ch| ch == '#').count();
    k += hashes;
    (c.get(k) == Some(&'"')).then_some((hashes, k))
}

/// Each function with a body in `code` (see [`code_only`]): its name, first line
/// (1-based) and length in lines, from the `fn` line to its closing brace.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let c: Vec<char> = code.chars().collect();
    let line_at = |pos: usize| 1 + c[..pos].iter().filter(|&&ch| ch == '\n').count();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut found = Vec::new();
    let mut i = 0;
    while i + 2 < c.len() {
        let is_fn = c[i] == 'f'
            && c[i + 1] == 'n'
            && (i == 0 || !ident(c[i - 1]))
            && c[i + 2].is_whitespace();
        if !is_fn {
            i += 1;
            continue;
        }
        let mut k = i + 2;
        while k < c.len() && c[k].is_whitespace() {
            k += 1;
        }
        let name: String = c[k..].iter().take_while(|&&ch| ident(ch)).collect();
        if name.is_empty() {
            // A function pointer type such as `fn (u8)`.
            i += 2;
            continue;
        }
        // The body starts at the first `{` outside the signature's brackets; a `;` there
        // ends a declaration without a body.
        let (mut depth, mut body) = (0i32, None);
        let mut j = k + name.len();
        while j < c.len() {
            match c[j] {
                '(' | '[' | '<' => depth += 1,
                ')' | ']' => depth -= 1,
                '>' if c[j - 1] != '-' && c[j - 1] != '=' => depth -= 1,
                '{' if depth <= 0 => {
                    body = Some(j);
                    break;
                }
                ';' if depth <= 0 => break,
                _ => {}
            }
            j += 1;
        }
        if let Some(open) = body {
            let mut braces = 0;
            let mut end = open;
            for (p, &ch) in c.iter().enumerate().skip(open) {
                match ch {
                    '{' => braces += 1,
                    '}' => {
                        braces -= 1;
                        if braces == 0 {
                            end = p;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let (first, last) = (line_at(i), line_at(end));
            found.push((name.clone(), first, last - first + 1));
        }
        // Functions nested in this one are found too: carry on after the name.
        i = k + name.len();
    }
    found
}

/// `needle` in `code` as a path (not the tail of a longer identifier).
fn uses_path(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|ch| ch.is_alphanumeric() || ch == '_')
    })
}

/// The names a `use PREFIX{…}` group of `code` brings in, for each group.
fn grouped(code: &str, prefix: &str) -> Vec<String> {
    let squashed: String = code.chars().filter(|ch| !ch.is_whitespace()).collect();
    let open = format!("{prefix}{{");
    squashed
        .match_indices(&open)
        .filter_map(|(at, _)| {
            let rest = &squashed[at + open.len()..];
            rest.find('}').map(|end| rest[..end].to_owned())
        })
        .collect()
}

fn no_backend_function_is_longer_than_200_lines() {
    let mut offenders = Vec::new();
    for krate in BACKEND_CRATES {
        for path in rust_files(&format!("{krate}/src")) {
            let source = std::fs::read_to_string(&path).unwrap();
            for (name, line, len) in functions(&code_only(&source)) {
                if len > MAX_FN_LINES {
                    offenders.push(format!("{}:{line} fn {name}: {len} lines", shown(&path)));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "functions longer than {MAX_FN_LINES} lines (split them into named helpers):\n  {}",
        offenders.join("\n  ")
    );
}

fn the_build_crate_does_no_file_io() {
    let mut offenders = Vec::new();
    for path in rust_files("crates/expc-build/src") {
        let code = code_only(&std::fs::read_to_string(&path).unwrap());
        for (n, line) in code.lines().enumerate() {
            let io = uses_path(line, "std::fs") || uses_path(line, "fs::");
            if io {
                offenders.push(format!("{}:{}: {}", shown(&path), n + 1, line.trim()));
            }
        }
        if grouped(&code, "std::").iter().any(|g| {
            g.split(',')
                .any(|name| name == "fs" || name.starts_with("fs::"))
        }) {
            offenders.push(format!("{}: `use std::{{…fs…}}`", shown(&path)));
        }
    }
    assert!(
        offenders.is_empty(),
        "expc-build generates files as text and does no IO (the CLI writes them); found:\n  {}",
        offenders.join("\n  ")
    );
}

fn the_prov_crate_uses_no_store_resolve_or_hash_of_the_run_crate() {
    const INTERNALS: [&str; 3] = ["store", "resolve", "hash"];
    let mut offenders = Vec::new();
    for path in rust_files("crates/expc-prov/src") {
        let code = code_only(&std::fs::read_to_string(&path).unwrap());
        for module in INTERNALS {
            if uses_path(&code, &format!("expc_run::{module}")) {
                offenders.push(format!("{}: expc_run::{module}", shown(&path)));
            }
        }
        for group in grouped(&code, "expc_run::") {
            for name in group.split(',') {
                let head = name.split("::").next().unwrap_or("");
                if INTERNALS.contains(&head) {
                    offenders.push(format!("{}: expc_run::{{{name}}}", shown(&path)));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "expc-prov reads runs through expc_run's records, not its store, resolver or hashing:\n  {}",
        offenders.join("\n  ")
    );
}

fn the_run_crate_root_is_under_400_lines() {
    let path = expc_tests::root().join("crates/expc-run/src/lib.rs");
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(
        lines < MAX_RUN_LIB_LINES,
        "{} has {lines} lines; keep it under {MAX_RUN_LIB_LINES} by moving code into modules",
        shown(&path)
    );
}

/// The scanner itself: braces and `fn` in strings, chars and comments are not code, and
/// lifetimes, raw strings and nested functions are read right.
fn the_scanner_sees_through_literals_and_comments() {
    let source = r####"
fn outer<'a>(x: &'a str) -> [u8; 2] {
    let s = "{ fn not_code() {";
    let b = b"\"{\"";
    let r = r#"}" fn nope() {"#;
    let c = ('{', '\'', '\u{7b}');
    // fn commented() {
    /* { /* nested } */ fn hidden() { */
    fn inner() {
    }
    [0; 2]
}
trait T {
    fn declared(&self) -> u8;
}
"####;
    let found = functions(&code_only(source));
    assert_eq!(
        found,
        vec![("outer".to_owned(), 2, 11), ("inner".to_owned(), 9, 2)],
        "{}",
        code_only(source)
    );
}

/// The typed IR (`ir.rs`, and the expressions and values it holds) is what lowering
/// reads: it names no module of the checker, so the checker's internals can change
/// without the back end following.
fn the_ir_does_not_import_the_checker() {
    let checker_modules = [
        "checker", "defs", "expr", "items", "pipeline", "sweeps", "tasks", "types", "modules",
    ];
    for file in ["ir.rs", "ir_expr.rs", "value.rs"] {
        let path = expc_tests::root().join("crates/expc-check/src").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        for m in checker_modules {
            assert!(
                !text.contains(&format!("crate::{m}::")) && !text.contains(&format!("crate::{m};")),
                "{file} imports the checker's `{m}`"
            );
        }
    }
}

/// The language server asks the syntax crate for the units and the checker for the
/// section fields it completes and explains.
fn the_language_server_keeps_no_unit_or_section_tables() {
    for path in rust_files("crates/expc-lsp/src") {
        let text = std::fs::read_to_string(&path).unwrap();
        for unit in ["\"GiB\"", "\"MiB\"", "\"ms\""] {
            assert!(
                !text.contains(unit),
                "{} spells the unit {unit} itself: use expc_syntax::quantity",
                path.display()
            );
        }
        assert!(
            !text.contains("\"backoff\""),
            "{} lists section fields itself: use expc_check::SECTION_FIELDS",
            path.display()
        );
    }
}
