//! The formatter: idempotent, meaning-preserving, comment-preserving, on every example,
//! standard library module and fixture; `fixtures/fmt/*.exp` snapshot its layout decisions.

use std::path::PathBuf;

use expc_diagnostics::FileId;
use expc_syntax::CommentKind;
use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    suite.test("the_corpus_is_large", || {
        let files = all_valid_sources();
        assert!(files.len() > 20, "corpus too small: {}", files.len());
    });
    suite.each(
        "formatting_is_idempotent_and_keeps_meaning_and_comments",
        all_valid_sources()
            .into_iter()
            .map(|p| (expc_tests::relative(&p), p)),
        formatting_is_idempotent_and_keeps_meaning_and_comments,
    );
    suite.each(
        "is_formatted",
        expc_tests::corpus()
            .into_iter()
            .map(|p| (expc_tests::relative(&p), p)),
        example_or_stdlib_is_formatted,
    );
    suite.each(
        "layout",
        expc_tests::glob_cases("tests/fixtures/fmt", "exp")
            .into_iter()
            .map(|case| (expc_tests::stem(&case.0), case)),
        layout_snapshot,
    );
    suite.test(
        "files_with_syntax_errors_are_not_formatted",
        files_with_syntax_errors_are_not_formatted,
    );
}

fn all_valid_sources() -> Vec<PathBuf> {
    let mut files = expc_tests::corpus();
    files.extend(expc_tests::files("tests/fixtures/parse", "exp"));
    files.extend(expc_tests::files("tests/fixtures/fmt", "exp"));
    files
}

fn comment_texts(src: &str) -> Vec<String> {
    let parsed = expc_syntax::parse(FileId(0), src);
    let mut texts: Vec<String> = parsed
        .comments
        .iter()
        .map(|c| {
            let t = &src[c.span.range()];
            match c.kind {
                CommentKind::Block => t.to_owned(),
                _ => t.trim_end().to_owned(),
            }
        })
        .collect();
    texts.sort();
    texts
}

fn formatting_is_idempotent_and_keeps_meaning_and_comments(path: PathBuf) {
    let src = std::fs::read_to_string(&path).unwrap();
    let once = expc_fmt::format_source(FileId(0), &src)
        .unwrap_or_else(|e| panic!("{}: {:?}", path.display(), e.0));
    let twice = expc_fmt::format_source(FileId(0), &once).unwrap_or_else(|e| {
        panic!(
            "{}: formatted output does not parse: {:?}\n{once}",
            path.display(),
            e.0
        )
    });
    assert_eq!(
        once,
        twice,
        "{}: formatting is not idempotent",
        path.display()
    );

    let before = expc_syntax::parse(FileId(0), &src);
    let after = expc_syntax::parse(FileId(0), &once);
    assert_eq!(
        expc_syntax::dump::outline(&before.file, false),
        expc_syntax::dump::outline(&after.file, false),
        "{}: formatting changed the meaning",
        path.display()
    );
    assert_eq!(
        comment_texts(&src),
        comment_texts(&once),
        "{}: a comment was lost",
        path.display()
    );
}

fn example_or_stdlib_is_formatted(path: PathBuf) {
    let src = std::fs::read_to_string(&path).unwrap();
    let formatted = expc_fmt::format_source(FileId(0), &src).unwrap();
    assert_eq!(
        src,
        formatted,
        "{} is not in canonical format (run `expc fmt`)",
        path.display()
    );
}

fn layout_snapshot((path, suffix): (PathBuf, Option<String>)) {
    let src = std::fs::read_to_string(&path).unwrap();
    let formatted = expc_fmt::format_source(FileId(0), &src).unwrap();
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, snapshot_suffix => suffix.unwrap_or_default(), input_file => &path }, {
        insta::assert_snapshot!("fmt__layout_snapshots", format!("{src}\n──────── formatted ────────\n{formatted}"));
    });
}

fn files_with_syntax_errors_are_not_formatted() {
    let err = expc_fmt::format_source(FileId(0), "param x Int = 1").unwrap_err();
    assert_eq!(err.0[0].code.id, "E0010");
}
