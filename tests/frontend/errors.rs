//! Broken specifications: each `fixtures/errors/*.exp` names, in `// expect: CODE LINE:COL`
//! lines at its top, exactly the diagnostics it must produce. The rendered diagnostics are
//! snapshotted with the source, so a reviewer reads both in one file.

use std::collections::BTreeSet;
use std::path::PathBuf;

use expc_diagnostics::render::{RenderOptions, render_all};
use expc_diagnostics::{FileId, SourceMap, codes};
use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    suite.each(
        "fixture",
        expc_tests::glob_cases("tests/fixtures/errors", "exp")
            .into_iter()
            .map(|case| (expc_tests::stem(&case.0), case)),
        error_fixture,
    );
    suite.test("every_code_has_a_fixture", every_code_has_a_fixture);
    suite.test(
        "mistyped_keywords_get_a_suggestion",
        mistyped_keywords_get_a_suggestion,
    );
}

fn expectations(src: &str) -> BTreeSet<(String, u32, u32)> {
    src.lines()
        .filter_map(|l| l.strip_prefix("// expect: "))
        .map(|rest| {
            let (code, pos) = rest.split_once(' ').expect("`// expect: CODE LINE:COL`");
            let (line, col) = pos.trim().split_once(':').expect("LINE:COL");
            (code.to_owned(), line.parse().unwrap(), col.parse().unwrap())
        })
        .collect()
}

fn error_fixture((path, suffix): (PathBuf, Option<String>)) {
    let bytes = std::fs::read(&path).unwrap();
    let (text, parsed) = expc_syntax::parse_bytes(FileId(0), &bytes);
    let mut sources = SourceMap::new();
    let name = expc_tests::relative(&path);
    sources.add(name, text.clone());
    let file = sources.get(FileId(0)).unwrap();
    let found: BTreeSet<_> = parsed
        .diagnostics
        .iter()
        .map(|d| {
            let lc = file.line_col(d.span().start);
            (d.code.id.to_owned(), lc.line, lc.column)
        })
        .collect();
    let expected = expectations(&text);
    assert!(
        !expected.is_empty(),
        "{}: no `// expect:` line",
        path.display()
    );
    let rendered = render_all(
        &parsed.diagnostics,
        &sources,
        RenderOptions { color: false },
    );
    assert_eq!(found, expected, "{}:\n{rendered}", path.display());
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, snapshot_suffix => suffix.unwrap_or_default(), input_file => &path }, {
        insta::assert_snapshot!("errors__error_fixtures", format!("{text}\n──────── diagnostics ────────\n{rendered}"));
    });
}

fn every_code_has_a_fixture() {
    let mut covered = BTreeSet::new();
    for path in expc_tests::files("tests/fixtures/errors", "exp") {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        covered.extend(expectations(&text).into_iter().map(|(c, _, _)| c));
    }
    let missing: Vec<_> = codes::ALL
        .iter()
        .map(|i| i.code.id)
        .filter(|id| id.starts_with("E00") || id.starts_with("W00"))
        .filter(|id| !covered.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without an error fixture: {missing:?}"
    );
}

fn mistyped_keywords_get_a_suggestion() {
    for (src, suggestion) in [
        ("taks t() {}", "task"),
        ("parm x: Int = 1", "param"),
        ("resouce r = Local {}", "resource"),
        ("task t() { retyr 2 }", "retry"),
        ("pipeline p { lett x = f() }", "let"),
    ] {
        let parsed = expc_syntax::parse(FileId(0), src);
        let helps: Vec<_> = parsed
            .diagnostics
            .iter()
            .filter_map(|d| d.help.clone())
            .collect();
        assert!(
            helps.iter().any(|h| h.contains(&format!("`{suggestion}`"))),
            "{src:?}: no suggestion of `{suggestion}` in {helps:?}"
        );
    }
}
