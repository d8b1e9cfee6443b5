//! What expc writes stays in its folders: `expc build -o DIR` removes or overwrites only
//! the files it wrote there itself.

use expc_tests::Suite;
use std::path::{Path, PathBuf};

pub fn trials(suite: &mut Suite) {
    suite.test(
        "a_build_into_a_folder_of_someone_elses_files_is_refused",
        a_build_into_a_folder_of_someone_elses_files_is_refused,
    );
    suite.test(
        "a_rebuild_keeps_hand_edits_unless_forced",
        a_rebuild_keeps_hand_edits_unless_forced,
    );
}

fn temp(name: &str) -> PathBuf {
    expc_tests::temp_path("writes", name)
}

/// An error as one line: miette wraps its messages at the terminal's width.
fn flat(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn build(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "build",
        "--target",
        "slurm",
        "-o",
        dir.to_str().unwrap(),
        "tests/slurm/chain.exp",
    ];
    args.extend(extra);
    expc_tests::run(&args)
}

/// A folder holding the user's own scripts and no manifest is refused, naming what to do,
/// and nothing in it changes; with `--force` the files of the same names are overwritten
/// and the others are left alone.
fn a_build_into_a_folder_of_someone_elses_files_is_refused() {
    let dir = temp("foreign");
    std::fs::create_dir_all(dir.join("jobs")).unwrap();
    std::fs::write(dir.join("jobs/train.sbatch"), "#!/bin/bash\n# mine\n").unwrap();
    std::fs::write(dir.join("submit.sh"), "# my own submit script\n").unwrap();
    let out = build(&dir, &[]);
    let err = flat(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("already holds files that expc did not write"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("submit.sh")).unwrap(),
        "# my own submit script\n"
    );
    assert!(!dir.join(".expc-build").exists());

    let out = build(&dir, &["--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        std::fs::read_to_string(dir.join("submit.sh")).unwrap(),
        "# my own submit script\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("jobs/train.sbatch")).unwrap(),
        "#!/bin/bash\n# mine\n",
        "a file expc did not write was changed"
    );
    expc_tests::remove_tree(&dir);
}

/// A generated file edited by hand since the last build, or a file of the user's where
/// the build would write one, is not overwritten without `--force`; a second build into
/// its own untouched folder just replaces it.
fn a_rebuild_keeps_hand_edits_unless_forced() {
    let dir = temp("edited");
    assert!(build(&dir, &[]).status.success());
    // Untouched: a rebuild replaces it.
    let again = build(&dir, &[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    std::fs::write(dir.join("submit.sh"), "# edited by hand\n").unwrap();
    let out = build(&dir, &[]);
    let err = flat(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("`submit.sh`"), "{err}");
    assert!(err.contains("edited since"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("submit.sh")).unwrap(),
        "# edited by hand\n"
    );
    assert!(build(&dir, &["--force"]).status.success());
    assert_ne!(
        std::fs::read_to_string(dir.join("submit.sh")).unwrap(),
        "# edited by hand\n"
    );
    expc_tests::remove_tree(&dir);
}
