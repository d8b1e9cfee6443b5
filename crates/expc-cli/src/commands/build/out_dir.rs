//! The folder `expc build -o DIR` writes into: expc removes or overwrites only files it
//! wrote there itself.
//!
//! Every build leaves a manifest (`.expc-build`) listing each file it wrote with the
//! BLAKE3 digest of what it wrote. The next build into the folder removes the files of
//! the last one that it no longer makes, and writes its own — but a file it would
//! overwrite or remove that expc did not write (it is not in the manifest), or that was
//! edited since (its digest is not the manifest's), is someone's work: the build refuses,
//! names the files and writes nothing, unless `--force` (which overwrites those of the
//! same names and still removes nothing expc did not write). A folder that holds files
//! and no manifest is refused the same way.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use expc_build::Artifact;
use miette::{IntoDiagnostic, WrapErr, miette};

/// The file in the output directory that lists what the last build wrote.
pub const MANIFEST: &str = ".expc-build";

/// What the last build wrote: path → digest (empty for a manifest of the first form,
/// which listed paths only).
fn read_manifest(out: &Path) -> Option<BTreeMap<PathBuf, String>> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).ok()?;
    let mut files = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (digest, rel) = match line.split_once("  ") {
            Some((d, r)) if d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) => {
                (d.to_owned(), r)
            }
            _ => (String::new(), line),
        };
        // Only plain relative paths: a hand-edited manifest cannot reach outside `out`.
        let p = Path::new(rel);
        if p.components().all(|c| matches!(c, Component::Normal(_))) {
            files.insert(p.to_path_buf(), digest);
        }
    }
    Some(files)
}

/// Whether the file at `path` is the one the manifest says expc wrote (a manifest of the
/// first form, without digests, is taken at its word).
fn unchanged(path: &Path, digest: &str) -> bool {
    digest.is_empty()
        || std::fs::read(path).is_ok_and(|b| blake3::hash(&b).to_hex().as_str() == digest)
}

/// Whether `dir` holds anything but the manifest.
fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name() != MANIFEST)))
}

/// The files of `out` the build would overwrite or remove that expc did not write, or
/// that were changed since it did.
fn foreign(
    out: &Path,
    artifacts: &[Artifact],
    last: Option<&BTreeMap<PathBuf, String>>,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for a in artifacts {
        let rel = Path::new(&a.path);
        let path = out.join(rel);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        match last.and_then(|m| m.get(rel)) {
            Some(digest) if unchanged(&path, digest) => {}
            _ => found.push(rel.to_path_buf()),
        }
    }
    if let Some(last) = last {
        let made: std::collections::BTreeSet<&Path> =
            artifacts.iter().map(|a| Path::new(&a.path)).collect();
        for (rel, digest) in last {
            let path = out.join(rel);
            if !made.contains(rel.as_path()) && path.exists() && !unchanged(&path, digest) {
                found.push(rel.clone());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Writes the artifacts under `out`, removing the files the last build wrote there that
/// this one does not make. Refuses (writing nothing) to overwrite or remove a file expc
/// did not write or that was edited since, unless `force`.
pub fn write(out: &Path, artifacts: &[Artifact], force: bool) -> miette::Result<()> {
    let last = read_manifest(out);
    if !force {
        if last.is_none() && holds_files(out) {
            return Err(miette!(
                help = "build into a new or empty folder, or pass --force to overwrite the files of the same names (nothing else is removed)",
                "`{}` already holds files that expc did not write; nothing was written",
                out.display()
            ));
        }
        let foreign = foreign(out, artifacts, last.as_ref());
        if !foreign.is_empty() {
            let names: Vec<String> = foreign
                .iter()
                .take(10)
                .map(|p| format!("`{}`", p.display()))
                .collect();
            return Err(miette!(
                help =
                    "move them away, build into another folder, or pass --force to overwrite them",
                "{} in `{}` {} not written by expc (or {} edited since); nothing was written",
                names.join(", "),
                out.display(),
                if foreign.len() == 1 { "was" } else { "were" },
                if foreign.len() == 1 { "was" } else { "were" },
            ));
        }
    }
    std::fs::create_dir_all(out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create `{}`", out.display()))?;
    let made: std::collections::BTreeSet<&Path> =
        artifacts.iter().map(|a| Path::new(&a.path)).collect();
    for (rel, digest) in last.iter().flatten() {
        let path = out.join(rel);
        if !made.contains(rel.as_path()) && (force || unchanged(&path, digest)) {
            let _ = std::fs::remove_file(&path);
        }
    }
    let mut manifest = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        write_file(&out.join(&a.path), a)?;
        let digest = blake3::hash(a.contents.as_bytes()).to_hex().to_string();
        manifest.push(format!("{digest}  {}", a.path));
    }
    manifest.sort_unstable_by(|a, b| a[66..].cmp(&b[66..]));
    let mut text = manifest.join("\n");
    text.push('\n');
    std::fs::write(out.join(MANIFEST), text)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write `{}`", out.join(MANIFEST).display()))?;
    Ok(())
}

/// Writes one artifact, by rename, with its mode.
fn write_file(path: &Path, a: &Artifact) -> miette::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create `{}`", parent.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mode = if a.executable { 0o755 } else { 0o644 };
    std::fs::write(&tmp, &a.contents)
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|()| std::fs::rename(&tmp, path))
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write `{}`", path.display()))
}
