//! `git(repo, rev, path)` inputs: one file at one revision, fetched with the `git` command
//! (no shell: every word is an argument) into a scratch repository in the store's
//! temporary folder, written out by `git cat-file`, then hashed, checked and stored like
//! any remote input. Its version is the commit the revision named when it was fetched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::lockfile::Locked;
use crate::store::RemoteStore;

/// The file `path` at `rev` of `repo`, stored: its object's path and what it is.
pub(crate) fn fetch(
    store: &RemoteStore,
    shown: &str,
    (repo, rev, path): (&str, &str, &str),
    pinned: Option<&str>,
) -> Result<(PathBuf, Locked), String> {
    let (tmp, file) = store
        .temp()
        .map_err(|e| format!("cannot write into the store to fetch `{shown}`: {e}"))?;
    let work = tmp.with_extension("git");
    let result = (|| {
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot write into the store to fetch `{shown}`: {e}"))?;
        git(&work, &["init", "-q", "--bare"], shown)?;
        let commit = fetch_rev(&work, repo, rev, shown)?;
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(&work)
            .args(["cat-file", "blob", &format!("{commit}:{path}")])
            .stdout(Stdio::from(file))
            .stderr(Stdio::null())
            .status()
            .map_err(|e| not_installed(shown, &e))?;
        if !out.success() {
            return Err(format!(
                "`{path}` is not a file at `{rev}` (commit {commit}) of `{repo}`: check the path, or the revision"
            ));
        }
        let (sha, b3, size) = crate::fetch::hash_file(&tmp)
            .map_err(|e| format!("cannot read what was fetched of `{shown}`: {e}"))?;
        crate::fetch::check_pinned(shown, pinned, &sha, &b3)?;
        let to = store
            .publish(&tmp, &sha)
            .map_err(|e| format!("cannot store `{shown}`: {e}"))?;
        let locked = Locked {
            digest: format!("sha256:{sha}"),
            size,
            etag: None,
            version: Some(commit),
        };
        Ok((to, locked))
    })();
    let _ = std::fs::remove_dir_all(&work);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Fetches `rev` (a branch, a tag, or a commit) into `work`; the commit it names.
fn fetch_rev(work: &Path, repo: &str, rev: &str, shown: &str) -> Result<String, String> {
    let direct = git(
        work,
        &["fetch", "-q", "--depth=1", "--end-of-options", repo, rev],
        shown,
    );
    if direct.is_ok() {
        return git(
            work,
            &["rev-parse", "--verify", "FETCH_HEAD^{commit}"],
            shown,
        );
    }
    // A commit the server does not let a client ask for by name: fetch every branch and
    // tag, and look the commit up among them.
    let refs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
    let all = ["fetch", "-q", "--end-of-options", repo, refs[0], refs[1]];
    if let Err(why) = git(work, &all, shown) {
        return Err(format!(
            "cannot fetch `{rev}` from `{repo}` ({why}): check the repository's URL, that it can be read from here, and that `{rev}` is a branch, tag or commit in it"
        ));
    }
    git(
        work,
        &[
            "rev-parse",
            "--verify",
            "--end-of-options",
            &format!("{rev}^{{commit}}"),
        ],
        shown,
    )
    .map_err(|_| format!("`{rev}` is not a branch, tag or commit of `{repo}`: check the revision"))
}

/// Runs `git` in `work` without a terminal prompt; its trimmed output, or its last line
/// of errors.
fn git(work: &Path, args: &[&str], shown: &str) -> Result<String, String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(work)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| not_installed(shown, &e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(err.lines().last().unwrap_or("git failed").trim().to_owned())
}

fn not_installed(shown: &str, e: &std::io::Error) -> String {
    format!("cannot run `git` to fetch `{shown}` ({e}): install git")
}
