//! The parser: tokens to a syntax tree, with recovery.
//!
//! Built with chumsky. Each construct that can be repeated (items, entries, task sections,
//! statements) recovers from an error by skipping to where the next one can start, so one
//! run reports every syntax error. Closing brackets are matched beforehand by
//! [`crate::delimiters`], which reports unclosed and mismatched ones precisely; the parser
//! therefore treats a missing closing brace as the end of its block.

mod error;
mod expr;
mod fast;
mod items;

pub use items::{ITEM_KEYWORDS, SECTION_KEYWORDS};

use chumsky::error::{Rich, RichPattern, RichReason};
use chumsky::input::{IterInput, ValueInput};
use chumsky::prelude::*;
use expc_diagnostics::{Code, Diagnostic, FileId, Span};

use crate::ast::SourceFile;
use crate::token::{Tok, Token};

/// What every parser carries besides its error: the first parse's list buffers.
pub(crate) type Extra<E> = extra::Full<E, fast::State, ()>;

use error::{Detailed, Fast, SynErr};

/// Marks the custom error for a missing closing delimiter, which the delimiter pass has
/// already reported when it happens.
pub(crate) const MISSING_CLOSE: &str = "\u{0}missing-close";

/// Marks the custom error for an expression tree deeper than the parser builds.
pub(crate) const TOO_DEEP: &str = "\u{0}too-deep";

/// Marks the custom error for a reserved word declared as a name.
pub(crate) const RESERVED_NAME: &str = "\u{0}reserved-name";

/// Reserved words that a port of another workflow may well have as a name (`where`, `in`,
/// `on`): where a name is declared they are one error, and read as names everywhere else
/// in the detailed parse, so that their uses add no cascade.
pub(crate) fn is_reserved_name_word(word: &str) -> bool {
    matches!(word, "where" | "in" | "on")
}

/// A reserved word where a name is declared: reported once, and kept as the name.
pub(crate) fn reserved_as_name<'t, 's: 't, I, E>(
    what: &'static str,
) -> impl Parser<'t, I, crate::ast::Ident, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Ident(s) if is_reserved_name_word(s) => s }.validate(
        move |s: &str, e, emitter| {
            emitter.emit(E::custom(e.span(), || {
                format!("{RESERVED_NAME}`{s}` is a reserved word, and cannot name {what}")
            }));
            crate::ast::Ident {
                name: crate::ast::smol(s),
                span: e.span(),
            }
        },
    )
}

/// A reserved word read as a name where one is used (a call's argument, an expression),
/// without an error: the declaration has one.
pub(crate) fn reserved_used_as_name<'t, 's: 't, I, E>()
-> impl Parser<'t, I, crate::ast::Ident, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Ident(s) if is_reserved_name_word(s) => s }.map_with(|s: &str, e| {
        crate::ast::Ident {
            name: crate::ast::smol(s),
            span: e.span(),
        }
    })
}

/// Parses tokens into a file. Never fails: errors become diagnostics and `Error` nodes.
/// `quantities` are the lexer's values of the quantity literals
/// ([`crate::lexer::LexedCompact::quantities`]).
pub(crate) fn parse_tokens<'s>(
    file: FileId,
    src: &'s str,
    tokens: &'s [Tok],
    quantities: Vec<(u32, crate::quantity::Quantity)>,
    suppress_missing_close: bool,
) -> (SourceFile, Vec<Diagnostic>) {
    let len = src.len();
    let eoi = Span::new(file, len, len);
    let all = Tokens { tokens, src, file };
    let input = || IterInput::new(Cursor { all: &all, at: 0 }, eoi);
    // A fast parse without error details; a valid file (the common case) stops here.
    let mut state = fast::State::from(fast::Buffers::new(quantities));
    let (output, errors) = items::file_parser::<_, Fast>()
        .parse_with_state(input(), &mut state)
        .into_output_errors();
    if errors.is_empty() {
        return (output.unwrap_or_else(|| empty_file(file, len)), Vec::new());
    }
    let (output, errors) = items::file_parser::<_, Detailed<'_, 's>>()
        .parse(input())
        .into_output_errors();
    let mut diagnostics = Vec::new();
    for error in errors {
        if let RichReason::Custom(msg) = error.reason() {
            if msg.starts_with(MISSING_CLOSE) && suppress_missing_close {
                continue;
            }
        }
        diagnostics.push(to_diagnostic(&error));
    }
    (output.unwrap_or_else(|| empty_file(file, len)), diagnostics)
}

fn empty_file(file: FileId, len: usize) -> SourceFile {
    SourceFile {
        items: Vec::new(),
        span: Span::new(file, 0, len),
    }
}

/// What repetitions collect into: a `Vec` with room for exactly the elements when there
/// are few. Collecting into a `Vec` directly reserves four elements at the first push,
/// which for the tree's large nodes (an `Entry` is 280 bytes) more than doubled the
/// memory the tree takes, and so the time spent allocating and faulting it in.
pub(crate) struct Exact<T>(Vec<T>);

impl<T> Exact<T> {
    pub(crate) fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T> FromIterator<T> for Exact<T> {
    fn from_iter<It: IntoIterator<Item = T>>(iter: It) -> Self {
        let mut iter = iter.into_iter();
        let Some(a) = iter.next() else {
            return Exact(Vec::new());
        };
        let Some(b) = iter.next() else {
            return Exact(vec![a]);
        };
        let Some(c) = iter.next() else {
            return Exact(vec![a, b]);
        };
        let Some(d) = iter.next() else {
            return Exact(vec![a, b, c]);
        };
        let mut v = Vec::with_capacity(8);
        v.extend([a, b, c, d]);
        v.extend(iter);
        // Shrinking is done in place by the allocator.
        v.shrink_to_fit();
        Exact(v)
    }
}

/// The tokens of a file, with what is needed to rebuild each [`Token`].
struct Tokens<'a, 's> {
    tokens: &'a [Tok],
    src: &'s str,
    file: FileId,
}

/// The parser's input: a position in [`Tokens`], small because the parser saves and
/// restores it at every alternative.
#[derive(Clone, Copy)]
struct Cursor<'c, 'a, 's> {
    all: &'c Tokens<'a, 's>,
    at: usize,
}

impl<'s> Iterator for Cursor<'_, '_, 's> {
    type Item = (Token<'s>, Span);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let t = self.all.tokens.get(self.at)?;
        self.at += 1;
        Some((t.token(self.all.src), t.span(self.all.file)))
    }
}

/// Turns a chumsky error into an expc diagnostic with a stable code.
fn to_diagnostic(error: &Rich<'_, Token<'_>, Span>) -> Diagnostic {
    let span = *error.span();
    if let RichReason::Custom(msg) = error.reason() {
        if let Some(msg) = msg.strip_prefix(TOO_DEEP) {
            return Diagnostic::error(Code::NESTING_TOO_DEEP, msg.to_owned(), span)
                .with_help("split the expression with a `param`, or use a list");
        }
        if let Some(msg) = msg.strip_prefix(RESERVED_NAME) {
            return Diagnostic::error(Code::RESERVED_WORD, msg.to_owned(), span)
                .with_primary_message("reserved")
                .with_help("rename it (`where_`, `condition`, `input`), here and where it is used; the reserved words are true, false, none, let, for, in, on and where");
        }
        let msg = msg.trim_start_matches(MISSING_CLOSE);
        return Diagnostic::error(Code::UNEXPECTED_TOKEN, msg.to_owned(), span);
    }
    let found = error.found().map(|t| t.describe());
    let mut expected: Vec<String> = error
        .expected()
        .filter_map(|p| match p {
            RichPattern::Token(t) => Some(format!("`{}`", &**t)),
            RichPattern::Label(l) => Some(l.to_string()),
            RichPattern::EndOfInput => Some("end of input".to_owned()),
            RichPattern::Identifier(i) => Some(format!("`{i}`")),
            _ => None,
        })
        .collect();
    // Operators that could continue an expression say little about the mistake: fold them.
    let before = expected.len();
    expected.retain(|e| !is_operator(e));
    if expected.len() < before {
        expected.push("an operator".to_owned());
    }
    expected.sort();
    expected.dedup();
    // Keywords of the place where the error is, for "did you mean".
    let mut keywords: Vec<&str> = expected
        .iter()
        .filter_map(|e| e.strip_prefix('`').and_then(|e| e.strip_suffix('`')))
        .filter(|e| e.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    for e in &expected {
        match e.as_str() {
            "an item" => keywords.extend_from_slice(ITEM_KEYWORDS),
            "a task section" => keywords.extend_from_slice(SECTION_KEYWORDS),
            "a statement" => keywords.extend_from_slice(&["let", "for", "if"]),
            _ => {}
        }
    }
    let found_word = match error.found() {
        Some(Token::Ident(w)) => Some(*w),
        _ => None,
    };
    let suggestion = found_word.and_then(|w| crate::suggest::closest(w, keywords.iter().copied()));
    let expected_text = list(&expected);
    let found_text = found.unwrap_or_else(|| "end of input".to_owned());
    let (code, message) =
        if suggestion.is_some() || is_item_position(&expected) && found_word.is_some() {
            (
                Code::UNKNOWN_KEYWORD,
                format!("expected {expected_text}, found {found_text}"),
            )
        } else {
            (
                Code::UNEXPECTED_TOKEN,
                format!("expected {expected_text}, found {found_text}"),
            )
        };
    let mut d = Diagnostic::error(code, message, span)
        .with_primary_message(format!("unexpected {found_text}"));
    if let Some(s) = suggestion {
        d = d.with_help(format!("did you mean `{s}`?"));
    } else if found_word == Some("after") && expected.iter().any(|e| e == "a statement") {
        // `t() on laptop after [a]`: the order is written before the placement.
        d = d.with_help(
            "`after [..]` comes before `on`: write `let b = task(…) after [a] on resource`",
        );
    }
    d
}

fn is_operator(pattern: &str) -> bool {
    matches!(
        pattern,
        "`(`"
            | "`[`"
            | "`.`"
            | "`..`"
            | "`..=`"
            | "`==`"
            | "`!=`"
            | "`<`"
            | "`<=`"
            | "`>`"
            | "`>=`"
            | "`in`"
            | "`+`"
            | "`-`"
            | "`*`"
            | "`/`"
            | "`%`"
            | "`&&`"
            | "`||`"
            | "an operator"
    )
}

fn is_item_position(expected: &[String]) -> bool {
    expected.iter().any(|e| e == "an item")
}

fn list(items: &[String]) -> String {
    match items {
        [] => "something else".to_owned(),
        [one] => one.clone(),
        [init @ .., last] if items.len() <= 8 => format!("{} or {last}", init.join(", ")),
        _ => format!("{}, …", items[..6].join(", ")),
    }
}

/// `kw("task")`: the contextual keyword `task`, yielding its span.
pub(crate) fn keyword<'t, 's: 't, I, E>(
    word: &'static str,
    label: &'static str,
) -> impl Parser<'t, I, Span, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Ident(s) if s == word => () }
        .map_with(|(), e| e.span())
        .labelled(label)
}

macro_rules! kw {
    ($word:literal) => {
        $crate::parser::keyword($word, concat!("`", $word, "`"))
    };
}
pub(crate) use kw;

/// Words that can never be names.
#[cfg(test)]
pub const RESERVED: &[&str] = &["true", "false", "none", "let", "for", "in", "on", "where"];

/// Whether `word` is reserved: a `match`, which compiles to a switch on the length,
/// where a search of the list compared each word in turn (this is asked of every name).
pub(crate) fn is_reserved(word: &str) -> bool {
    matches!(
        word,
        "true" | "false" | "none" | "let" | "for" | "in" | "on" | "where"
    )
}

/// A name: any word but the reserved ones.
pub(crate) fn ident<'t, 's: 't, I, E>() -> impl Parser<'t, I, crate::ast::Ident, Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    select! { Token::Ident(s) if !is_reserved(s) => s }
        .map_with(|s: &str, e| crate::ast::Ident {
            name: crate::ast::smol(s),
            span: e.span(),
        })
        .labelled("a name")
}

/// A closing delimiter that, when missing, ends the construct anyway (the delimiter pass
/// reports it).
pub(crate) fn close<'t, 's: 't, I, E>(token: Token<'s>) -> impl Parser<'t, I, (), Extra<E>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    E: SynErr<'t, 's, I>,
{
    just(token)
        .ignored()
        .or(empty().validate(move |(), e, emitter| {
            emitter.emit(E::custom(e.span(), || {
                format!("{MISSING_CLOSE}expected `{token}`")
            }))
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both parses of a file: the first one (with the loops of [`fast`]) and the detailed
    /// one, which never uses them. Returns the trees and whether each had errors.
    fn both(src: &str) -> ((Option<SourceFile>, bool), (Option<SourceFile>, bool)) {
        let file = FileId(0);
        let lexed = crate::lexer::lex_compact(file, src);
        let (tokens, _) = crate::delimiters::check_compact(file, src.len(), lexed.tokens);
        let eoi = Span::new(file, src.len(), src.len());
        let all = Tokens {
            tokens: &tokens,
            src,
            file,
        };
        let input = || IterInput::new(Cursor { all: &all, at: 0 }, eoi);
        let mut state = fast::State::from(fast::Buffers::new(lexed.quantities));
        let (fast, fast_errors) = items::file_parser::<_, Fast>()
            .parse_with_state(input(), &mut state)
            .into_output_errors();
        let (detailed, detailed_errors) = items::file_parser::<_, Detailed<'_, '_>>()
            .parse(input())
            .into_output_errors();
        (
            (fast, !fast_errors.is_empty()),
            (detailed, !detailed_errors.is_empty()),
        )
    }

    /// The first parse accepts exactly what the detailed one accepts, and builds the same
    /// tree (spans included).
    fn assert_same(name: &str, src: &str) {
        let ((fast, fast_failed), (detailed, detailed_failed)) = both(src);
        assert_eq!(
            fast_failed, detailed_failed,
            "{name}: the first parse and the detailed one disagree on whether it has errors"
        );
        if !detailed_failed {
            assert_eq!(fast, detailed, "{name}: the trees differ");
        }
    }

    const SNIPPETS: &[&str] = &[
        // Quantities, some read again after the loops gave up (valued by the lexer first).
        "resource r = Local { a = [1h, 2GiB], b = 1h + 2h, c = f(3m), d = 1h30m }\ntask t() { resources { m = 4GiB } retry 2 { backoff = 30s } }",
        "resource r = Local { a = 1.5B, b = 2GiB }",
        "resource r = Local { cpus = 4, mem = 16GiB }",
        "resource r = Local { cpus = 4 mem = 16GiB, }",
        "resource r = Local {}",
        "resource r = Local { a = { b = 1, c = { d = [] } } e = x }",
        "resource r = Local { a = 1 + 2, b = -1, c = !x, d = f(1)(2), e = a.b.c, f = x[0] }",
        "resource r = Local { a = [1, 2,], b = [], c = [[1], [2, 3]], d = (1), e = 1..3 }",
        "resource r = Local { a = Rec { x = 1 }, b = Name, c = task, d = true, e = none }",
        "resource r = Local { a = \"s\\n\", b = 1.5e3, c = 1h30m, d = 0x10, e = 1_000 }",
        "resource r = Local { a: Int, b: Int = 1, c: File<Csv>=\"x\", d: List<File<Csv>>=[] }",
        "resource r = Local { a: Map<String, Int,>?, b: T? = none, c: T<>=1, d: X<Y>? = 2 }",
        "resource r = Local { a: Int >= 1 }",
        "resource r = Local { a = 1 b }",
        "resource r = Local { let = 1 }",
        "resource r = Local { a = }",
        "resource r = Local { a = 1,, }",
        "resource r = Local { a = 1",
        "record R { a: Int, b: String = \"x\" where x }",
        "param p: Int = 1 where 1 <= p <= 10\nparam q: File<Csv>=\"a\"\nparam s: List<Int>",
        "task t(a: File<Csv>, b: Float = 0.1,) -> (o: File<Csv> = \"o.csv\") { run `x` }",
        "task t() -> () { }",
        "task t(a: Int b: Int) { }",
        "task t(a Int) { }",
        "task t(a: Int,,) { }",
        "task t(a: File<Csv>=) { }",
        "task t(a: File<Csv> =) { }",
        "task t(a: File<Csv>) -> (o: File<Csv>=\"o\" ) { run `cmd ${a} --x=${b}.csv \"q ${c}\" 'l' ${f(1, x = 2)}` }",
        "task t() { run `` }",
        "task t() { run `a  b` }",
        "task t() { run `a ${} b` }",
        "task t() { run `a ${1 + } b` }",
        "task t() { run `a ${[1, 2]}${x.y}z` }",
        "task t() { shell `echo $HOME ${x}` }",
        "task t() { run `a ${`b ${c}`} d` }",
        "task t() { resources { cpus = 2 } env { A = \"1\", B = [\"x\"] } retry 2 { backoff = 30s } }",
        "task t() { spark app args [\"a\"] { conf = { x = 1 } } }",
        "pipeline p { let a = t(x = 1, y = b.out) on laptop\n for p in grid { t(x = p.lr) } }",
        "pipeline p { let a = t(x = 1, y = b.out on laptop }",
        "param a: Map<String, List<File<Csv>?>?>=1\nparam b: A<B<C<D<E<F>>>>, G,>? = 2\nparam c: A<>",
        "param a: List<A<B>=1\nparam b: A<,> = 1\nparam c: A<B C>\nparam d: A<B>> = 1\nparam e: A<1>",
        "pipeline p { for a in g { for b in m.h { let x = t(a = a.x) on r\n t(b = x.out) } } }",
        "pipeline p { let a = 1\n let b = [a, 2]\n let c = f(a)(b) on x\n g(c)\n h() on y }",
        // `if`, `else`, nested, and a task named `if` (called, not a condition).
        "pipeline p { if fast { let a = t() on r } else { let a = u() } t(b = a.out) }",
        "pipeline p { if a > 1 && !b { if c { t() } } else { for x in g { if x { t() } } } }",
        "pipeline p { if(x = 1) on r\n if (a) { t() } if a { } else { } }",
        "pipeline p { if a { t() } else b() }",
        "pipeline p { if { t() } }",
        "pipeline p { let a = f() on }",
        "pipeline p { let a = f() on let }",
        "pipeline p { let = f() }",
        "pipeline p { let a f() }",
        "pipeline p { let a = data\n f() }",
        "pipeline p { a }",
        "pipeline p { a.b }",
        "pipeline p { f() + 1 }",
        "pipeline p { -f() }",
        "pipeline p { (f()) }",
        "pipeline p { f() g() }",
        "pipeline p { for in g { } }",
        "pipeline p { for a g { } }",
        "pipeline p { for a in { } }",
        "pipeline p { for a in g. { } }",
        "pipeline p { for a in g }",
        "pipeline p { for a in g { let } }",
        "pipeline p { } pipeline q { }",
        "pipeline { }",
        "pipeline p",
        "task t() { retry 2 }\ntask u() { retry n { backoff = 1s } run `x` }",
        "task t() { retry N { backoff = 1s } }",
        "task t() { retry 2 { backoff = } }",
        "task t() { run `a` spark app { x = 1 } shell `b` }",
        "task t() { run `a` oops }",
        "task t() { resources { } resources { a = 1 } env }",
        "task t() -> { }",
        "task t() -> () }",
        "task t { }",
        "task () { }",
        "task t(a: Int) -> (b: Int) { run `x` }\nparam q: Int = 1\ntask u() { }",
        "task t() { run `x` }\nbogus\ntask u() { }",
        "task",
        "experiment e { version = \"1\" }\nimport std.formats.{Csv, Parquet as P}\nimport \"f.exp\" as f",
        "data d: File<Csv> = \"d.csv\" { schema = S }\nmodel m: Model<Torch> = t.out",
        "enum E { a, b, c }\nformat F: Csv { delimiter = \",\" }\nkind K: slurm { x: Int = 1 }",
        "sweep g = product { lr = [1e-3, 1e-4], seed = 0..4 }\nsweep r = random(n = 10) { x = 0.0..1.0 }",
        "pipeline p { let a = b() after [c, d,] on e\n f() after []\n after(x = 1) after [a] }",
        "pipeline p { let a = b() after [c on e }",
        "pipeline p { let a = b() after [1] on e }",
        "pipeline p { let a = b() after\n after(x = 1) }",
        "pipeline p { let a = b() on e after [c] }",
        "task t() { cache = false run `x` }\ntask u() { cache false }\nprofile q { a = b }",
    ];

    #[test]
    fn first_parse_builds_what_the_detailed_parse_builds() {
        for (i, src) in SNIPPETS.iter().enumerate() {
            assert_same(&format!("snippet {i}: {src}"), src);
        }
        // Types nested deeper than the loops read them, and not closed.
        for depth in [31, 32, 33, 40] {
            let (open, close) = ("List<".repeat(depth), ">".repeat(depth));
            assert_same("deep type", &format!("task t(a: {open}Int{close}) {{ }}"));
            assert_same("deep type", &format!("param p: {open}Int{close}=[]"));
            assert_same("deep type", &format!("param p: {open}Int{close}? = []"));
            assert_same("unclosed type", &format!("param p: {open}Int = []"));
        }
        // Every specification in the repository, and each of its prefixes cut at a line.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for dir in ["tests", "examples", "stdlib"] {
            collect_exp(&root.join(dir), &mut files);
        }
        assert!(files.len() > 20, "found only {} .exp files", files.len());
        for path in files {
            let Ok(src) = std::fs::read_to_string(&path) else {
                continue;
            };
            let name = path.display().to_string();
            assert_same(&name, &src);
            for (cut, _) in src.match_indices('\n').step_by(3) {
                assert_same(&format!("{name} cut at {cut}"), &src[..cut]);
            }
        }
    }

    fn collect_exp(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            // Only the repository's own specs, not what runs and installs leave in the
            // checkout and may be rewriting meanwhile: a run's `.expc/`, the validators'
            // `node_modules/`.
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            if path.is_dir() {
                collect_exp(&path, out);
            } else if path.extension().is_some_and(|e| e == "exp") {
                out.push(path);
            }
        }
    }
}
