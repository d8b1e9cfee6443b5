//! The type checker on real-world mistakes and on every example.
//!
//! Each `check/*.exp` is a spec with one kind of mistake. Its `// expect: CODE LINE:COL`
//! lines name exactly the diagnostics it must produce (`CODE FILE:LINE:COL` for one in an
//! imported file); `// params: NAME=VALUE …` gives `-p` overrides, `// profile: NAME` and
//! `// on: FROM=TO …` the placement of `--profile` and `--on`. The rendered
//! diagnostics are snapshotted with the source.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use expc_check::{Loader, Overrides};
use expc_diagnostics::render::{RenderOptions, render_all};
use expc_diagnostics::{SourceMap, codes};
use expc_tests::Suite;

pub fn trials(suite: &mut Suite) {
    suite.test("fixtures_are_found", || {
        let roots = fixtures();
        assert!(roots.len() >= 40, "only {} check fixtures", roots.len());
    });
    suite.each(
        "fixture",
        fixtures().into_iter().map(|p| (expc_tests::stem(&p), p)),
        check_fixture,
    );
    suite.test(
        "every_checker_code_has_a_fixture",
        every_checker_code_has_a_fixture,
    );
    suite.test("examples_are_found", || assert!(examples().len() >= 5));
    suite.each(
        "example_type_checks_and_its_ir_is_stable",
        examples().into_iter().map(|p| (expc_tests::stem(&p), p)),
        example_type_checks_and_its_ir_is_stable,
    );
    let mut libraries = expc_tests::files("stdlib", "exp");
    libraries.push(expc_tests::root().join("examples/simstudy/lib/common.exp"));
    suite.each(
        "library_checks_on_its_own",
        libraries.into_iter().map(|p| (expc_tests::relative(&p), p)),
        library_checks_on_its_own,
    );
    suite.test(
        "overrides_are_typed_and_checked_against_constraints",
        overrides_are_typed_and_checked_against_constraints,
    );
    suite.test(
        "cli_emits_ir_and_reads_overrides",
        cli_emits_ir_and_reads_overrides,
    );
    suite.test("valid_programs_are_found", || {
        assert!(!valid_programs().is_empty())
    });
    suite.each(
        "valid_program_checks_cleanly",
        valid_programs()
            .into_iter()
            .map(|p| (expc_tests::stem(&p), p)),
        valid_program_checks_cleanly,
    );
}

/// The specs of `tests/check/` (not the files they import from its folders).
fn fixtures() -> Vec<PathBuf> {
    expc_tests::files("tests/check", "exp")
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("check")))
        .collect()
}

/// The examples' specs (`examples/NAME/NAME.exp`).
fn examples() -> Vec<PathBuf> {
    expc_tests::files("examples", "exp")
        .into_iter()
        .filter(|p| {
            p.parent()
                .and_then(Path::parent)
                .is_some_and(|d| d.ends_with("examples"))
        })
        .collect()
}

/// The roots of `tests/check/ok/`: programs that must check without a diagnostic.
fn valid_programs() -> Vec<PathBuf> {
    expc_tests::files("tests/check/ok", "exp")
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("ok")))
        .collect()
}

/// Reads paths relative to the repository root, so that file names in diagnostics and
/// snapshots do not depend on where the checkout is.
struct RootLoader(PathBuf);

impl Loader for RootLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.0.join(path))
    }

    fn canonical(&self, path: &Path) -> std::io::Result<PathBuf> {
        let full = std::fs::canonicalize(self.0.join(path))?;
        Ok(full
            .strip_prefix(&self.0)
            .map(Path::to_path_buf)
            .unwrap_or(full))
    }

    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<expc_check::loader::DirEntry>> {
        expc_check::loader::list_dir(&self.0.join(path))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.0.join(path).is_file()
    }
}

struct Outcome {
    checked: expc_check::Checked,
    sources: SourceMap,
}

fn check(relative: &str, overrides: &Overrides) -> Outcome {
    let loader = RootLoader(std::fs::canonicalize(expc_tests::root()).unwrap());
    let mut sources = SourceMap::new();
    let path = Path::new(relative);
    let (file, decode) =
        expc_check::load_root(path, &loader, &mut sources).expect("fixture exists");
    assert!(decode.is_empty());
    let checked = expc_check::check(path, file, &mut sources, &loader, overrides);
    Outcome { checked, sources }
}

fn expectations(src: &str, root_name: &str) -> BTreeSet<(String, String, u32, u32)> {
    src.lines()
        .filter_map(|l| l.strip_prefix("// expect: "))
        .map(|rest| {
            let (code, pos) = rest.split_once(' ').expect("`// expect: CODE LINE:COL`");
            let parts: Vec<&str> = pos.trim().split(':').collect();
            let (file, line, col) = match parts.as_slice() {
                [line, col] => (root_name.to_owned(), *line, *col),
                [file, line, col] => (format!("tests/check/{file}"), *line, *col),
                _ => panic!("bad expectation `{rest}`"),
            };
            (
                code.to_owned(),
                file,
                line.parse().unwrap(),
                col.parse().unwrap(),
            )
        })
        .collect()
}

fn overrides_of(src: &str) -> Overrides {
    let mut o = Overrides::new();
    for line in src.lines().filter_map(|l| l.strip_prefix("// params: ")) {
        for assignment in line.split_whitespace() {
            o.push_assignment(assignment).unwrap();
        }
    }
    // `// profile: NAME` is `--profile NAME`; `// on: FROM=TO …` is `--on FROM=TO` each.
    for line in src.lines().filter_map(|l| l.strip_prefix("// profile: ")) {
        o.set_profile(line.trim());
    }
    for line in src.lines().filter_map(|l| l.strip_prefix("// on: ")) {
        for m in line.split_whitespace() {
            o.push_move(m).unwrap();
        }
    }
    o
}

fn check_fixture(path: PathBuf) {
    let mut failures = Vec::new();
    let name = expc_tests::relative(&path);
    let src = std::fs::read_to_string(&path).unwrap();
    let mut out = check(&name, &overrides_of(&src));
    // `// lower: PIPELINE` also lowers the program, for the errors of planning.
    if let (Some(pipeline), Some(program)) = (
        src.lines().find_map(|l| l.strip_prefix("// lower: ")),
        &out.checked.program,
    ) {
        let lowered = expc_plan::lower(program, pipeline.trim(), expc_diagnostics::FileId(0));
        out.checked.diagnostics.extend(lowered.diagnostics);
    }
    let found: BTreeSet<_> = out
        .checked
        .diagnostics
        .iter()
        .map(|d| {
            let file = out.sources.get(d.span().file).unwrap();
            let lc = file.line_col(d.span().start);
            (d.code.id.to_owned(), file.name.clone(), lc.line, lc.column)
        })
        .collect();
    let expected = expectations(&src, &name);
    let rendered = render_all(
        &out.checked.diagnostics,
        &out.sources,
        RenderOptions { color: false },
    );
    if expected.is_empty() {
        failures.push(format!("{name}: no `// expect:` line"));
    } else if found != expected {
        failures.push(format!(
            "{name}:\n  expected {expected:?}\n  found    {found:?}\n{rendered}"
        ));
    }
    if out.checked.has_errors() && out.checked.program.is_some() && !src.contains("// lower: ") {
        failures.push(format!("{name}: an IR was built despite errors"));
    }
    let snapshot_name = expc_tests::stem(&path);
    insta::with_settings!({ snapshot_path => "../snapshots/check", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(snapshot_name, format!("{src}\n──────── diagnostics ────────\n{rendered}"));
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn every_checker_code_has_a_fixture() {
    let mut covered = BTreeSet::new();
    for path in expc_tests::files("tests/check", "exp") {
        let src = std::fs::read_to_string(&path).unwrap();
        covered.extend(expectations(&src, "").into_iter().map(|(c, ..)| c));
    }
    let missing: Vec<_> = codes::ALL
        .iter()
        .map(|i| i.code.id)
        .filter(|id| !id.starts_with("E00") && !id.starts_with("W00"))
        .filter(|id| !covered.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "checker codes without a fixture: {missing:?}"
    );
}

fn example_type_checks_and_its_ir_is_stable(path: PathBuf) {
    let name = expc_tests::relative(&path);
    let first = check(&name, &Overrides::new());
    let rendered = render_all(
        &first.checked.diagnostics,
        &first.sources,
        RenderOptions { color: false },
    );
    assert!(first.checked.diagnostics.is_empty(), "{name}:\n{rendered}");
    let program = first.checked.program.expect("an IR for a valid spec");
    let json = serde_json::to_string_pretty(&program).unwrap();
    let again = check(&name, &Overrides::new()).checked.program.unwrap();
    assert_eq!(
        json,
        serde_json::to_string_pretty(&again).unwrap(),
        "{name}: IR differs between runs"
    );
    let snapshot_name = expc_tests::stem(&path);
    insta::with_settings!({ snapshot_path => "../snapshots/ir", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(snapshot_name, json);
    });
}

fn library_checks_on_its_own(path: PathBuf) {
    let name = expc_tests::relative(&path);
    let out = check(&name, &Overrides::new());
    let rendered = render_all(
        &out.checked.diagnostics,
        &out.sources,
        RenderOptions { color: false },
    );
    assert!(!out.checked.has_errors(), "{name}:\n{rendered}");
}

fn overrides_are_typed_and_checked_against_constraints() {
    let ok = check("examples/rainfall/rainfall.exp", &{
        let mut o = Overrides::new();
        o.push("epochs", "50");
        o
    });
    let program = ok.checked.program.expect("valid override");
    let epochs = program.params.iter().find(|p| p.id == "epochs").unwrap();
    assert_eq!(epochs.value, Some(expc_check::value::Value::Int(50)));
    assert_eq!(epochs.source, "override");

    let bad = check("examples/rainfall/rainfall.exp", &{
        let mut o = Overrides::new();
        o.push("epochs", "0");
        o
    });
    let codes: Vec<&str> = bad.checked.diagnostics.iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["E0206"]);
}

fn cli_emits_ir_and_reads_overrides() {
    let a = expc_tests::run(&["check", "--emit", "ir", "examples/hello/hello.exp"]);
    let b = expc_tests::run(&["check", "--emit", "ir", "examples/hello/hello.exp"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout, "--emit ir is not deterministic");
    let ir: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(ir["schema_version"], 1);
    assert_eq!(ir["experiment"]["name"], "hello");

    let out = expc_tests::run(&["check", "-p", "count=0", "examples/hello/hello.exp"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E0206"), "{stderr}");
    assert!(stderr.contains("-p count=0"), "{stderr}");

    let out = expc_tests::run(&["check", "-p", "count", "examples/hello/hello.exp"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));
}

fn valid_program_checks_cleanly(path: PathBuf) {
    let name = expc_tests::relative(&path);
    let out = check(&name, &Overrides::new());
    let rendered = render_all(
        &out.checked.diagnostics,
        &out.sources,
        RenderOptions { color: false },
    );
    assert!(out.checked.diagnostics.is_empty(), "{name}:\n{rendered}");
    let program = out.checked.program.unwrap();
    // A file imported twice (here by the root and by another import) is one module.
    let shared = program
        .modules
        .iter()
        .filter(|m| m.ends_with("shared.exp"))
        .count();
    assert!(shared <= 1, "{:?}", program.modules);
}
