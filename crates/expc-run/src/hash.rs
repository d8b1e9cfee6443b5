//! Content digests of files and directories (blake3), with a stat cache as a fast path.
//!
//! Content is the truth: a file's digest is the hash of its bytes. The stat cache only
//! remembers, for a path, the size, modification time and inode at which it was last
//! hashed, so that an unchanged file is not read again; `touch` changes the mtime and
//! causes a re-hash, which finds the same digest, so nothing re-runs.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    inode: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatCache {
    entries: HashMap<PathBuf, (Stamp, String)>,
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
        let stamp = stamp(&meta);
        if let Some((s, d)) = self.entries.get(path) {
            if *s == stamp {
                return Ok((d.clone(), false, meta.len()));
            }
        }
        let d = file_digest(path)?;
        self.entries.insert(path.to_path_buf(), (stamp, d.clone()));
        self.dirty = true;
        Ok((d, false, meta.len()))
    }

    /// The digest of a new file or directory, such as a task's output about to be moved
    /// into the store: computed without remembering its path, which will not be read again.
    pub fn digest_once(path: &Path) -> io::Result<(String, bool, u64)> {
        StatCache::default().digest(path)
    }

    /// Forgets the paths under `dir` (work directories, which are gone after a run).
    pub fn forget_under(&mut self, dir: &Path) {
        let before = self.entries.len();
        self.entries.retain(|p, _| !p.starts_with(dir));
        self.dirty |= self.entries.len() != before;
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

fn stamp(meta: &fs::Metadata) -> Stamp {
    Stamp {
        size: meta.len(),
        mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        inode: meta.ino(),
    }
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

/// The SHA-256 of a file, for pinned `sha256:` digests of data.
pub fn sha256(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    read_blocks(path, |b| h.update(b))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
