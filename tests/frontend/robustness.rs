//! No input makes expc panic: random bytes, mutated examples and pathological nesting,
//! through the library and through the real binary (exit codes 0 or 1, never 101).

use std::panic::{AssertUnwindSafe, catch_unwind};

use expc_diagnostics::FileId;
use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    // Each input its own test, numbered in the order its generator makes them.
    let mut rng = Rng(0x5eed_0001);
    suite.each(
        "random_bytes_never_panic",
        numbered(random_inputs(&mut rng, 1000)),
        |input| never_panics(&input),
    );
    let mut rng = Rng(0x5eed_0002);
    suite.each(
        "mutated_examples_never_panic",
        numbered(mutated_examples(&mut rng, 1000)),
        |input| never_panics(&input),
    );
    suite.each(
        "pathological_nesting_and_length",
        pathological(),
        |input: String| never_panics(input.as_bytes()),
    );
    suite.test(
        "binary_exits_cleanly_on_every_input",
        binary_exits_cleanly_on_every_input,
    );
    let mut rng = Rng(0x5eed_0003);
    suite.each(
        "fmt_keeps_the_meaning_of_valid_inputs",
        numbered(commented_examples(&mut rng, 3000)),
        |input| fmt_keeps_the_meaning(&input),
    );
    suite.test(
        "sources_that_are_not_regular_files_are_refused_at_once",
        sources_that_are_not_regular_files_are_refused_at_once,
    );
    suite.test(
        "a_huge_line_is_located_not_printed_under_each_label",
        a_huge_line_is_located_not_printed_under_each_label,
    );
}

/// A 450 KB line (a template never closed): `check` and `fmt` say where, in a few lines, instead of
/// printing the whole line under each of the diagnostic's labels.
fn a_huge_line_is_located_not_printed_under_each_label() {
    let dir = expc_tests::temp_path("robustness", "huge-line");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = format!(
        "experiment e {{}}\ntask t() -> (o: File<Text> = \"o\") {{ run `echo {}\n",
        "a b ${x} ".repeat(50_000)
    );
    std::fs::write(dir.join("huge.exp"), spec).unwrap();
    for command in ["check", "fmt"] {
        let out = std::process::Command::new(expc_tests::expc())
            .args([command, "huge.exp"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {err:.2000}");
        assert!(
            out.stdout.len() + out.stderr.len() < 4_000,
            "{command} printed {} bytes",
            out.stdout.len() + out.stderr.len()
        );
        assert!(err.contains("unterminated template"), "{command}: {err}");
        assert!(err.contains("huge.exp:2:41"), "{command}: {err}");
        assert!(err.contains("too long to quote"), "{command}: {err}");
    }
}

/// A FIFO (which would block forever), `/dev/zero` (which never ends) and `/dev/urandom`,
/// given on the command line or imported, are refused at once with what they are.
fn sources_that_are_not_regular_files_are_refused_at_once() {
    let dir = expc_tests::temp_path("robustness", "special");
    std::fs::create_dir_all(&dir).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo.exp"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(dir.join("zero.exp"), "import \"/dev/zero\"\n").unwrap();
    std::fs::write(dir.join("imports_fifo.exp"), "import \"fifo.exp\"\n").unwrap();
    for (args, shown) in [
        (vec!["check", "fifo.exp"], "fifo.exp"),
        (vec!["check", "/dev/urandom"], "/dev/urandom"),
        (vec!["check", "zero.exp"], "/dev/zero"),
        (vec!["check", "imports_fifo.exp"], "fifo.exp"),
    ] {
        let mut child = std::process::Command::new(expc_tests::expc())
            .args(&args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(20) {
                child.kill().ok();
                panic!("`expc {}` still reading after 20 s", args.join(" "));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot read `{shown}`")),
            "{args:?}: {err}"
        );
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}

/// Comments, doc comments and line breaks that formatting must keep where they are.
const TRIVIA: &[&str] = &[
    " /* note */ ",
    "\n// a remark\n",
    "\n/// a doc comment\n",
    "\n\n",
    "\n",
    " /* a\nlonger note */\n",
    "\t",
];

/// Examples with comments and line breaks put between random tokens (never inside a
/// command template or a string): most stay valid, and formatting must keep their
/// meaning.
fn commented_examples(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let sources: Vec<String> = expc_tests::corpus()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    // Where trivia may go in each source: after a token outside any template.
    let places: Vec<Vec<usize>> = sources
        .iter()
        .map(|src| {
            let lexed = expc_syntax::lexer::lex(FileId(0), src);
            let mut depth = 0usize;
            let mut at = Vec::new();
            for (token, span) in &lexed.tokens {
                match token {
                    expc_syntax::Token::TplStart => depth += 1,
                    expc_syntax::Token::TplEnd => depth = depth.saturating_sub(1),
                    _ if depth == 0 => at.push(span.end as usize),
                    _ => {}
                }
            }
            at
        })
        .collect();
    (0..n)
        .map(|_| {
            let which = rng.below(sources.len());
            let mut s = sources[which].clone();
            let mut at: Vec<usize> = (0..1 + rng.below(4))
                .map(|_| places[which][rng.below(places[which].len())])
                .collect();
            // From the end, so earlier offsets stay right.
            at.sort_unstable_by(|a, b| b.cmp(a));
            for offset in at {
                s.insert_str(offset, TRIVIA[rng.below(TRIVIA.len())]);
            }
            s.into_bytes()
        })
        .collect()
}

/// An input that checks without errors formats to one that checks without errors, to the
/// same typed program (docs included), and formatting it again changes nothing.
fn fmt_keeps_the_meaning(input: &[u8]) {
    let Some(before) = checked_ir(input) else {
        return;
    };
    let text = String::from_utf8(input.to_vec()).unwrap();
    let once = expc_fmt::format_source(FileId(0), &text).expect("a valid input formats");
    let twice = expc_fmt::format_source(FileId(0), &once).expect("formatted output parses");
    assert_eq!(once, twice, "formatting is not idempotent");
    let after = checked_ir(once.as_bytes()).expect("the formatted input checks");
    assert_eq!(before, after, "formatting changed the program:\n{once}");
}

/// The typed program of a standalone input as JSON, if it checks without errors.
fn checked_ir(input: &[u8]) -> Option<String> {
    let mut sources = expc_diagnostics::SourceMap::new();
    let loader = expc_check::MemoryLoader::new().with("input.exp", input.to_vec());
    let path = std::path::Path::new("input.exp");
    let (file, _) = expc_check::load_root(path, &loader, &mut sources).ok()?;
    let checked = expc_check::check(
        path,
        file,
        &mut sources,
        &loader,
        &expc_check::Overrides::new(),
    );
    if checked.has_errors() {
        return None;
    }
    serde_json::to_string(checked.program.as_ref()?).ok()
}

fn numbered(inputs: Vec<Vec<u8>>) -> impl Iterator<Item = (String, Vec<u8>)> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| (format!("{i:04}"), input))
}

/// A small deterministic generator (xorshift64*), so every run tests the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "task", "data", "param", "sweep", "pipeline", "resource", "let", "for", "in", "on", "run",
    "shell", "{", "}", "(", ")", "[", "]", "`", "${", "\"", "'", "/*", "*/", "//", "///", "\n",
    " ", "=", ":", ",", "->", "..", "<", ">", ">=", "32GiB", "2h30m", "1e", "0x", "é", "\\", "$$",
    "$", "\u{1A}", "\r", "\t", "Local", "x", "1", "1.5", "true", "none", "where",
];

fn random_inputs(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = rng.below(400);
            if i % 2 == 0 {
                (0..len).map(|_| rng.next() as u8).collect()
            } else {
                let mut s = Vec::new();
                for _ in 0..len / 4 {
                    s.extend_from_slice(PIECES[rng.below(PIECES.len())].as_bytes());
                }
                s
            }
        })
        .collect()
}

fn mutated_examples(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let sources: Vec<Vec<u8>> = expc_tests::corpus()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!sources.is_empty());
    (0..n)
        .map(|_| {
            let mut s = sources[rng.below(sources.len())].clone();
            for _ in 0..1 + rng.below(6) {
                let len = s.len().max(1);
                let at = rng.below(len);
                match rng.below(5) {
                    0 => {
                        let end = (at + rng.below(40)).min(s.len());
                        s.drain(at.min(end)..end);
                    }
                    1 => {
                        let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                        let at = at.min(s.len());
                        s.splice(at..at, piece.iter().copied());
                    }
                    2 => {
                        if at < s.len() {
                            s[at] = rng.next() as u8;
                        }
                    }
                    3 => {
                        let end = (at + rng.below(80)).min(s.len());
                        let chunk = s[at.min(end)..end].to_vec();
                        let to = rng.below(s.len().max(1)).min(s.len());
                        s.splice(to..to, chunk);
                    }
                    _ => s.truncate(at),
                }
            }
            s
        })
        .collect()
}

fn never_panics(input: &[u8]) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let (text, parsed) = expc_syntax::parse_bytes(FileId(0), input);
        for d in &parsed.diagnostics {
            assert!(d.span().end as usize <= text.len() || d.span().start as usize <= text.len());
        }
        if !parsed.has_errors() {
            let once = expc_fmt::format_parsed(&parsed, &text);
            let twice = expc_fmt::format_source(FileId(0), &once).expect("formatted output parses");
            assert_eq!(once, twice, "formatting is not idempotent");
        }
        // The whole checker, with a loader that knows only this file (imports fail).
        let mut sources = expc_diagnostics::SourceMap::new();
        let loader = expc_check::MemoryLoader::new().with("input.exp", input.to_vec());
        let path = std::path::Path::new("input.exp");
        let (file, _) = expc_check::load_root(path, &loader, &mut sources).unwrap();
        let checked = expc_check::check(
            path,
            file,
            &mut sources,
            &loader,
            &expc_check::Overrides::new(),
        );
        assert!(checked.program.is_none() || !checked.has_errors());
        let mut all = parsed.diagnostics.clone();
        all.extend(checked.diagnostics);
        expc_diagnostics::render::render_all(
            &all[..all.len().min(100)],
            &sources,
            expc_diagnostics::render::RenderOptions { color: false },
        )
    }));
    if let Err(e) = result {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "panicked on input {:?}: {msg}",
            String::from_utf8_lossy(input)
        );
    }
}

/// Inputs a hundred thousand brackets, operators or templates deep, by name.
fn pathological() -> Vec<(String, String)> {
    let n = 100_000;
    [
        ("open_brackets", "[".repeat(n)),
        (
            "parentheses",
            format!("param p: Int = {}1{}", "(".repeat(n), ")".repeat(n)),
        ),
        ("negations", format!("param p: Int = {}1", "-".repeat(n))),
        (
            "sum",
            format!("param p: Int = {}", vec!["1"; n].join(" + ")),
        ),
        ("fields", format!("param p: Int = a{}", ".b".repeat(n))),
        (
            "comparisons",
            format!("param p: Int = 1 {}", "< 2 ".repeat(n)),
        ),
        ("braces", "{".repeat(n) + &"}".repeat(n)),
        (
            "interpolations",
            format!("task t() {{ run `{}` }}", "${".repeat(n)),
        ),
        ("blocks", format!("experiment e {{ {} }}", "a { ".repeat(n))),
        ("comment_openers", "/*".repeat(n)),
        ("quotes", "\"".repeat(n)),
        ("backticks", "`".repeat(n)),
        (
            "type_arguments",
            format!(
                "param p: {}Int{} = []",
                "List<".repeat(20_000),
                ">".repeat(20_000)
            ),
        ),
    ]
    .into_iter()
    .map(|(name, input)| (name.to_owned(), input))
    .collect()
}

/// The real binary, on all the inputs at once: exit 0 or 1, never a crash.
fn binary_exits_cleanly_on_every_input() {
    let mut rng = Rng(0x5eed_0003);
    let mut inputs = random_inputs(&mut rng, 1000);
    inputs.extend(mutated_examples(&mut rng, 1000));
    let dir = expc_tests::temp_path("robustness", "inputs");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let p = dir.join(format!("case{i:04}.exp"));
        std::fs::write(&p, input).unwrap();
        paths.push(p.to_string_lossy().into_owned());
    }
    for chunk in paths.chunks(500) {
        for cmd in [
            &["check"][..],
            &["check", "--format", "json"],
            &["fmt", "--check"],
        ] {
            let mut args: Vec<&str> = cmd.to_vec();
            args.extend(chunk.iter().map(String::as_str));
            let out = expc_tests::run(&args);
            let code = out.status.code();
            assert!(
                matches!(code, Some(0 | 1)),
                "`expc {}` exited with {code:?}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
