//! Parser fixtures: each `fixtures/parse/*.exp` parses without diagnostics, and its outline
//! is snapshotted beside its source; every example and standard library module parses
//! without diagnostics.

use std::path::PathBuf;

use expc_diagnostics::FileId;
use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    suite.each(
        "fixture",
        expc_tests::glob_cases("tests/fixtures/parse", "exp")
            .into_iter()
            .map(|case| (expc_tests::stem(&case.0), case)),
        fixture,
    );
    suite.each(
        "without_diagnostics",
        expc_tests::corpus()
            .into_iter()
            .map(|p| (expc_tests::relative(&p), p)),
        corpus_file_parses_without_diagnostics,
    );
}

fn fixture((path, suffix): (PathBuf, Option<String>)) {
    let src = std::fs::read_to_string(&path).unwrap();
    let parsed = expc_syntax::parse(FileId(0), &src);
    assert!(
        parsed.diagnostics.is_empty(),
        "{}: unexpected diagnostics: {:#?}",
        path.display(),
        parsed.diagnostics
    );
    let outline = expc_syntax::dump::outline(&parsed.file, true);
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, snapshot_suffix => suffix.unwrap_or_default(), input_file => &path }, {
        insta::assert_snapshot!("parse__parse_fixtures", format!("{src}\n──────── outline ────────\n{outline}"));
    });
}

fn corpus_file_parses_without_diagnostics(path: PathBuf) {
    let src = std::fs::read_to_string(&path).unwrap();
    let parsed = expc_syntax::parse(FileId(0), &src);
    assert!(
        parsed.diagnostics.is_empty(),
        "{}: {:#?}",
        path.display(),
        parsed.diagnostics
    );
}
