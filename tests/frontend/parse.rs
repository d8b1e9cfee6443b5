//! Parser fixtures: each `fixtures/parse/*.exp` parses without diagnostics, and its outline
//! is snapshotted beside its source.

use expc_diagnostics::FileId;

#[test]
fn parse_fixtures() {
    insta::glob!("fixtures/parse/*.exp", |path| {
        let src = std::fs::read_to_string(path).unwrap();
        let parsed = expc_syntax::parse(FileId(0), &src);
        assert!(
            parsed.diagnostics.is_empty(),
            "{}: unexpected diagnostics: {:#?}",
            path.display(),
            parsed.diagnostics
        );
        let outline = expc_syntax::dump::outline(&parsed.file, true);
        insta::assert_snapshot!(format!("{src}\n──────── outline ────────\n{outline}"));
    });
}

#[test]
fn corpus_parses_without_diagnostics() {
    for path in expc_tests::corpus() {
        let src = std::fs::read_to_string(&path).unwrap();
        let parsed = expc_syntax::parse(FileId(0), &src);
        assert!(
            parsed.diagnostics.is_empty(),
            "{}: {:#?}",
            path.display(),
            parsed.diagnostics
        );
    }
}
