//! Content digests of files and directories (blake3), with a stat cache as a fast path.
//!
//! Content is the truth: a file's digest is the hash of its bytes. The stat cache only
//! remembers, for a path, the stamp ([`FileStamp`]: size, inode, modification and change
//! times) at which it was last hashed and when, so that an unchanged file is not read
//! again. `touch` changes the times and causes a re-hash, which finds the same digest, so
//! nothing re-runs; an edit that keeps the size, the inode and the mtime (`rsync --inplace
//! -t`, a restore) still moves the ctime, and is hashed again. A file that changed within
//! [`RACY_NS`](crate::stamp::RACY_NS) of being hashed is hashed again the next time, whatever its stamp.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stamp::{FileStamp, Stamp};

/// A file as it was hashed: its stamp then, its digest, and when the digest was taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Hashed {
    stamp: FileStamp,
    digest: String,
    at_ns: i64,
}

/// Digests of files by path, trusted while a file's stamp is the one it was hashed with.
/// Kept in `.expc/stat-cache.json`; a file in an older form is not read (everything is
/// hashed again once).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatCache {
    files: HashMap<PathBuf, Hashed>,
    #[serde(skip)]
    dirty: bool,
}

impl StatCache {
    pub fn load(path: &Path) -> StatCache {
        fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        crate::store::write_atomic(path, &serde_json::to_vec(self)?)
    }

    /// The digest of a file or directory: `(digest, is_dir, size)`.
    pub fn digest(&mut self, path: &Path) -> io::Result<(String, bool, u64)> {
        let meta = fs::metadata(path)?;
        if meta.is_dir() {
            let (d, size) = self.dir_digest(path)?;
            return Ok((d, true, size));
        }
        let stamp = FileStamp::of(&meta);
        if let Some(h) = self.files.get(path) {
            // A file changed in the tick it was hashed in may have kept its stamp.
            if h.stamp == stamp && !Stamp::File(stamp).is_racy(h.at_ns) {
                return Ok((h.digest.clone(), false, meta.len()));
            }
        }
        let at_ns = crate::stamp::now_ns();
        let digest = file_digest(path)?;
        self.files.insert(
            path.to_path_buf(),
            Hashed {
                stamp,
                digest: digest.clone(),
                at_ns,
            },
        );
        self.dirty = true;
        Ok((digest, false, meta.len()))
    }

    /// Forgets the paths under `dir` (work directories, which are gone after a run).
    pub fn forget_under(&mut self, dir: &Path) {
        let before = self.files.len();
        self.files.retain(|p, _| !p.starts_with(dir));
        self.dirty |= self.files.len() != before;
    }

    /// A directory's digest: of its sorted entries' relative names and digests.
    fn dir_digest(&mut self, dir: &Path) -> io::Result<(String, u64)> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort();
        let mut h = blake3::Hasher::new();
        let mut size = 0;
        for rel in files {
            let (d, _, s) = self.digest(&dir.join(&rel))?;
            size += s;
            h.update(rel.to_string_lossy().as_bytes());
            h.update(b"\0");
            h.update(d.as_bytes());
            h.update(b"\n");
        }
        Ok((h.finalize().to_hex().to_string(), size))
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            collect(root, &p, out)?;
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

/// Feeds a file's bytes to `update`, a block at a time.
fn read_blocks(path: &Path, mut update: impl FnMut(&[u8])) -> io::Result<()> {
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        update(&buf[..n]);
    }
}

pub fn file_digest(path: &Path) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    read_blocks(path, |b| {
        h.update(b);
    })?;
    Ok(h.finalize().to_hex().to_string())
}

/// The digest of a task's output as the store keeps it: a file's bytes, or a directory's
/// files — the same digest as [`StatCache::digest`] gives a directory of plain files, but
/// a symbolic link inside it is hashed as a link (its target's text, marked as a link) and
/// never followed: expc does not read, and never changes, what an output links to.
pub fn output_digest(path: &Path) -> io::Result<(String, bool, u64)> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return Ok((file_digest(path)?, false, meta.len()));
    }
    let mut files = Vec::new();
    collect(path, path, &mut files)?;
    files.sort();
    let mut h = blake3::Hasher::new();
    let mut size = 0;
    for rel in files {
        let file = path.join(&rel);
        let meta = fs::symlink_metadata(&file)?;
        let digest = if meta.file_type().is_symlink() {
            let target = fs::read_link(&file)?;
            size += target.as_os_str().len() as u64;
            link_digest(&target)
        } else {
            size += meta.len();
            file_digest(&file)?
        };
        h.update(rel.to_string_lossy().as_bytes());
        h.update(b"\0");
        h.update(digest.as_bytes());
        h.update(b"\n");
    }
    Ok((h.finalize().to_hex().to_string(), true, size))
}

/// A symbolic link's entry in a directory's digest: `link:` and the hash of its target's
/// text, which no file's digest (hex digits only) can be.
fn link_digest(target: &Path) -> String {
    format!(
        "link:{}",
        blake3::hash(target.as_os_str().as_encoded_bytes()).to_hex()
    )
}

/// The SHA-256 of a file, for pinned `sha256:` digests of data.
pub fn sha256(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    read_blocks(path, |b| h.update(b))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("expc-hash-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A digest taken within two seconds of the file's last change is not trusted the
    /// next time, even with the same stamp; one taken later is.
    #[test]
    fn a_racily_clean_file_is_hashed_again() {
        let d = dir("racy");
        let f = d.join("data.csv");
        fs::write(&f, "a,b\n").unwrap();
        let stamp = FileStamp::of(&fs::metadata(&f).unwrap());
        let real = file_digest(&f).unwrap();
        let noted = |at_ns: i64| {
            let mut cache = StatCache::default();
            cache.files.insert(
                f.clone(),
                Hashed {
                    stamp,
                    digest: "noted".into(),
                    at_ns,
                },
            );
            cache
        };
        let mut racy = noted(stamp.newest_ns() + 1_000);
        assert_eq!(racy.digest(&f).unwrap().0, real);
        let mut settled = noted(stamp.newest_ns() + 3_000_000_000);
        assert_eq!(settled.digest(&f).unwrap().0, "noted");
        let _ = fs::remove_dir_all(&d);
    }

    /// An output directory's symbolic link is hashed as the link, not followed; without
    /// links, its digest is the one the stat cache gives the same tree.
    #[test]
    fn output_links_are_hashed_as_links() {
        let d = dir("links");
        let (out, elsewhere) = (d.join("out"), d.join("elsewhere"));
        fs::create_dir_all(out.join("sub")).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(out.join("a.txt"), "a").unwrap();
        fs::write(out.join("sub/b.txt"), "b").unwrap();
        assert_eq!(
            output_digest(&out).unwrap(),
            StatCache::default().digest(&out).unwrap()
        );
        std::os::unix::fs::symlink(&elsewhere, out.join("linked")).unwrap();
        let with_link = output_digest(&out).unwrap();
        // What the link points to changes nothing; where it points does.
        fs::write(elsewhere.join("big.bin"), "x".repeat(1000)).unwrap();
        assert_eq!(output_digest(&out).unwrap(), with_link);
        fs::remove_file(out.join("linked")).unwrap();
        std::os::unix::fs::symlink(d.join("other"), out.join("linked")).unwrap();
        assert_ne!(output_digest(&out).unwrap().0, with_link.0);
        let _ = fs::remove_dir_all(&d);
    }
}
