//! The `.expc/` directory: content-addressed objects, cache entries, the outputs view,
//! logs and the state `expc why` compares against.
//!
//! Every file is written to a temporary name in the same directory and renamed into
//! place, so a run killed at any moment leaves either the old file or the new one, never
//! a partial one. A cache entry is written only after all its objects are stored, so an
//! entry that exists can be trusted (and is checked against the objects anyway).
//!
//! ```text
//! .expc/
//!   objects/ab/abcdef…        outputs by content (read-only files; `….d` directories)
//!   cache/ab/<key>.json       what a task instance with that key produced
//!   out/<job>/<index>/<name>  the outputs of the latest run, linked to their objects
//!   logs/<job>/<index>/       stdout and stderr of the latest attempt
//!   last-keys.json            the key of each instance's last success, for `expc why`
//!   stat-cache.json           size, mtime and inode of hashed files: a fast path only
//!   tmp/                      work directories of running tasks
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// One output of a finished task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOutput {
    pub digest: String,
    pub dir: bool,
    pub size: u64,
}

/// What a task instance with a given key produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub key: String,
    pub job: String,
    pub index: u64,
    pub outputs: BTreeMap<String, StoredOutput>,
    pub exit_code: i32,
    pub attempts: u32,
    pub duration_ms: u64,
    /// What the key was made of, for `expc why`.
    #[serde(default)]
    pub key_doc: serde_json::Value,
}

/// For each instance (`job/index`), the key of its last success: one file, read at the
/// start of a run and written at its end, for `expc why`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LastKeys {
    pub keys: BTreeMap<String, String>,
    #[serde(skip)]
    dirty: bool,
}

impl LastKeys {
    pub fn set(&mut self, job: &str, index: u64, key: &str) {
        let k = format!("{job}/{index}");
        if self.keys.get(&k).map(String::as_str) != Some(key) {
            self.keys.insert(k, key.to_owned());
            self.dirty = true;
        }
    }

    pub fn get(&self, job: &str, index: u64) -> Option<&str> {
        self.keys.get(&format!("{job}/{index}")).map(String::as_str)
    }
}

impl Store {
    pub fn open(root: &Path) -> io::Result<Store> {
        for d in ["objects", "cache", "out", "logs", "tmp"] {
            fs::create_dir_all(root.join(d))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn object(&self, digest: &str, dir: bool) -> PathBuf {
        let name = if dir {
            format!("{digest}.d")
        } else {
            digest.to_owned()
        };
        self.root
            .join("objects")
            .join(&digest[..2.min(digest.len())])
            .join(name)
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.root
            .join("cache")
            .join(&key[..2.min(key.len())])
            .join(format!("{key}.json"))
    }

    pub fn out_dir(&self, job: &str, index: u64, looped: bool) -> PathBuf {
        let base = self.root.join("out").join(safe(job));
        if looped {
            base.join(index.to_string())
        } else {
            base
        }
    }

    pub fn log_dir(&self, job: &str, index: u64) -> PathBuf {
        self.root
            .join("logs")
            .join(safe(job))
            .join(index.to_string())
    }

    /// Where an instance runs (created only when it does).
    pub fn work_path(&self, job: &str, index: u64) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}-{index}-{}", safe(job), std::process::id()))
    }

    /// The entry for a key, if it exists and every object it names is still stored.
    pub fn lookup(&self, key: &str) -> Option<CacheEntry> {
        let text = fs::read(self.entry_path(key)).ok()?;
        let entry: CacheEntry = serde_json::from_slice(&text).ok()?;
        let complete = entry.outputs.values().all(|o| {
            let p = self.object(&o.digest, o.dir);
            if o.dir {
                p.is_dir()
            } else {
                fs::metadata(&p).is_ok_and(|m| m.len() == o.size)
            }
        });
        complete.then_some(entry)
    }

    pub fn record(&self, entry: &CacheEntry) -> io::Result<()> {
        write_atomic(
            &self.entry_path(&entry.key),
            &serde_json::to_vec_pretty(entry)?,
        )
    }

    /// Moves a finished output into the object store (if not there yet).
    pub fn store(&self, from: &Path, digest: &str, dir: bool) -> io::Result<()> {
        let to = self.object(digest, dir);
        if to.exists() {
            if dir {
                fs::remove_dir_all(from).ok();
            } else {
                fs::remove_file(from).ok();
            }
            return Ok(());
        }
        fs::create_dir_all(to.parent().unwrap_or(&self.root))?;
        if dir {
            // Rename the whole tree into place: no reader ever sees half of it.
            let staging = self.root.join("tmp").join(format!("{digest}.staging"));
            if staging.exists() {
                fs::remove_dir_all(&staging)?;
            }
            fs::rename(from, &staging)?;
            read_only(&staging)?;
            fs::rename(&staging, &to)
        } else {
            read_only(from)?;
            fs::rename(from, &to)
        }
    }

    /// Makes `name` in an instance's output directory point at a stored object.
    pub fn materialise(
        &self,
        out_dir: &Path,
        name: &str,
        output: &StoredOutput,
    ) -> io::Result<PathBuf> {
        let object = self.object(&output.digest, output.dir);
        let target = out_dir.join(name);
        if !output.dir && same_file(&object, &target) {
            return Ok(target);
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let tmp = target.with_file_name(format!(
            ".{}.tmp-{}",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        remove_any(&tmp)?;
        if output.dir {
            link_tree(&object, &tmp)?;
        } else if fs::hard_link(&object, &tmp).is_err() {
            fs::copy(&object, &tmp)?;
        }
        remove_any(&target)?;
        fs::rename(&tmp, &target)?;
        Ok(target)
    }

    pub fn load_last(&self) -> LastKeys {
        fs::read(self.root.join("last-keys.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save_last(&self, last: &mut LastKeys) -> io::Result<()> {
        if !last.dirty {
            return Ok(());
        }
        last.dirty = false;
        write_atomic(
            &self.root.join("last-keys.json"),
            &serde_json::to_vec(last)?,
        )
    }

    /// The key document of an instance's last success.
    pub fn last_key_doc(
        &self,
        last: &LastKeys,
        job: &str,
        index: u64,
    ) -> Option<serde_json::Value> {
        let key = last.get(job, index)?;
        let text = fs::read(self.entry_path(key)).ok()?;
        let entry: CacheEntry = serde_json::from_slice(&text).ok()?;
        Some(entry.key_doc)
    }

    /// Removes work directories left by runs that were killed.
    pub fn clean_tmp(&self) {
        if let Ok(entries) = fs::read_dir(self.root.join("tmp")) {
            for e in entries.flatten() {
                let p = e.path();
                make_writable(&p);
                if p.is_dir() {
                    fs::remove_dir_all(&p).ok();
                } else {
                    fs::remove_file(&p).ok();
                }
            }
        }
    }
}

/// A job key as a file name (`bulletin#2` stays readable; separators do not pass).
pub fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            make_writable(p);
            fs::remove_dir_all(p)
        }
        Ok(_) => fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

fn read_only(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(p)?;
    if meta.is_dir() {
        for e in fs::read_dir(p)?.flatten() {
            read_only(&e.path())?;
        }
        Ok(())
    } else {
        let mode = meta.permissions().mode() & !0o222;
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
    }
}

fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
            if let Ok(entries) = fs::read_dir(p) {
                for e in entries.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// A copy of a directory tree whose files are hard links (copies across devices).
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)?.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            link_tree(&src, &dst)?;
        } else if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Whether two paths are hard links to one file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::symlink_metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
