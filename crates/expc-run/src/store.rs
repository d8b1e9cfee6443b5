//! The `.expc/` directory: content-addressed objects, cache entries, the outputs view,
//! logs and the state `expc why` compares against.
//!
//! Every file is written to a temporary name in the same directory and renamed into
//! place, so a run killed at any moment leaves either the old file or the new one, never
//! a partial one. A cache entry is written only after all its objects are stored, so an
//! entry that exists can be trusted (and is checked against the objects anyway).
//!
//! A cache entry is two appended lines, not a file of its own (a file per entry made an
//! inode per task instance, which on a busy ext4 costs more than running a small task):
//! first the whole entry (what `expc why` compares against) to `cache/entries`, then its
//! key and outputs to `cache/index`, which a run reads once to find every entry. A line is
//! trusted only when it is complete and its checksum matches (a run killed mid-write
//! leaves a torn last line, which is skipped and cut off by the next append), and an entry
//! found in the index is checked against the objects. An entry whose key or output names
//! cannot be written on one line, and entries of stores written before the index existed,
//! are files of their own (`cache/ab/<key>.json`), looked up when a key is not in the
//! index.
//!
//! ```text
//! .expc/
//!   objects/ab/abcdef…        outputs by content (read-only files; `….d` directories)
//!   cache/entries             what each task instance's key produced, and the key's
//!                             parts, one checksummed line each
//!   cache/index               the same entries' outputs, one checksummed line each
//!   cache/ab/<key>.json       an entry that cannot be one line (rare), or of old stores
//!   out/<job>/<index>/<name>  the outputs of the latest run, linked to their objects
//!   logs/<job>/<index>/       stdout and stderr of the latest attempt, unless both
//!                             were empty and it succeeded
//!   last-keys.json            the key of each instance's last success, for `expc why`
//!   stat-cache.json           size, mtime and inode of hashed files: a fast path only
//!   tmp/                      work directories of running tasks and their logs while
//!                             they run; emptied ones kept for the next instances
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug)]
pub struct Store {
    pub root: PathBuf,
    /// The outputs of each entry in `cache/index`, by key, read when the store is opened.
    /// Entries recorded by this run are added, so that a later instance with the same key
    /// is a hit.
    index: std::sync::Mutex<HashMap<String, BTreeMap<String, StoredOutput>>>,
    pid: u32,
    /// The key documents of `cache/entries`, read the first time `expc why` needs one.
    key_docs: std::sync::OnceLock<HashMap<String, serde_json::Value>>,
}

/// One output of a finished task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOutput {
    pub digest: String,
    pub dir: bool,
    pub size: u64,
    /// Device and inode of the object, once [`Store::lookup`] checked it (not stored).
    #[serde(skip)]
    pub inode: Option<(u64, u64)>,
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
        let index = fs::read(root.join("cache").join(INDEX))
            .map(|b| parse_index(&b))
            .unwrap_or_default();
        Ok(Store {
            root: root.to_path_buf(),
            index: std::sync::Mutex::new(index),
            pid: std::process::id(),
            key_docs: std::sync::OnceLock::new(),
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

    /// `.expc/tmp/`: work directories, their logs while they run, staging.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where an instance runs (created only when it does).
    pub fn work_path(&self, job: &str, index: u64) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}-{index}-{}", safe(job), self.pid))
    }

    /// The outputs of the entry for a key, if it exists and every object it names is
    /// still stored (each checked object's inode is kept, for [`Store::materialise`]).
    pub fn lookup(&self, key: &str) -> Option<BTreeMap<String, StoredOutput>> {
        let known = self
            .index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned();
        let mut outputs = match known {
            Some(outputs) => outputs,
            None => {
                let text = fs::read(self.entry_path(key)).ok()?;
                serde_json::from_slice::<CacheEntry>(&text).ok()?.outputs
            }
        };
        for o in outputs.values_mut() {
            use std::os::unix::fs::MetadataExt;
            let meta = fs::metadata(self.object(&o.digest, o.dir)).ok()?;
            let complete = if o.dir {
                meta.is_dir()
            } else {
                meta.is_file() && meta.len() == o.size
            };
            if !complete {
                return None;
            }
            o.inode = Some((meta.dev(), meta.ino()));
        }
        Some(outputs)
    }

    /// Writes an entry (after the objects it names are stored): its file, by rename, then
    /// its line in the index.
    pub fn record(&self, entry: &CacheEntry) -> io::Result<()> {
        let Some(line) = index_line(&entry.key, &entry.outputs) else {
            // Not representable in the index: found through a file of its own.
            return write_atomic(
                &self.entry_path(&entry.key),
                &serde_json::to_vec_pretty(entry)?,
            );
        };
        // The whole entry first: the index line is what makes it a hit.
        let json = serde_json::to_string(entry)?;
        append_line(
            &self.root.join("cache").join(ENTRIES),
            &checked_line(&format!("{}\t{json}", entry.key)),
        )?;
        append_line(&self.root.join("cache").join(INDEX), &line)?;
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(entry.key.clone(), entry.outputs.clone());
        Ok(())
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
        let existing = fs::symlink_metadata(&target).ok();
        if !output.dir
            && existing
                .as_ref()
                .is_some_and(|t| same_file(&object, output.inode, t))
        {
            return Ok(target);
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        // Nothing there yet: one link is already atomic.
        if !output.dir && existing.is_none() && fs::hard_link(&object, &target).is_ok() {
            return Ok(target);
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
        let docs = self.key_docs.get_or_init(|| {
            let bytes = fs::read(self.root.join("cache").join(ENTRIES)).unwrap_or_default();
            checked_lines(&bytes)
                .filter_map(|rest| {
                    let (key, json) = rest.split_once('\t')?;
                    let entry: CacheEntry = serde_json::from_str(json).ok()?;
                    Some((key.to_owned(), entry.key_doc))
                })
                .collect()
        });
        if let Some(doc) = docs.get(key) {
            return Some(doc.clone());
        }
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

/// Whether `b` (its metadata) is a hard link to the file `a` (whose device and inode are
/// given when known).
fn same_file(a: &Path, a_inode: Option<(u64, u64)>, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let x = match a_inode {
        Some(x) => x,
        None => match fs::metadata(a) {
            Ok(m) => (m.dev(), m.ino()),
            Err(_) => return false,
        },
    };
    x == (b.dev(), b.ino())
}

/// The index's file name under `cache/`.
const INDEX: &str = "index";
const ENTRIES: &str = "entries";

/// Appends `line` (ending with a line break) with one write. A torn line left by a killed
/// run is ended first, so it stays one bad line.
fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut data = Vec::with_capacity(line.len() + 1);
    if len > 0 {
        use std::os::unix::fs::FileExt;
        let mut last = [0u8];
        f.read_exact_at(&mut last, len - 1)?;
        if last[0] != b'\n' {
            data.push(b'\n');
        }
    }
    data.extend_from_slice(line.as_bytes());
    f.write_all(&data)
}

/// `CHECK\tREST\n`, CHECK the start of REST's BLAKE3 hash.
fn checked_line(rest: &str) -> String {
    let check = blake3::hash(rest.as_bytes()).to_hex();
    format!("{}\t{rest}\n", &check[..16])
}

/// The REST of every complete line whose checksum matches.
fn checked_lines(bytes: &[u8]) -> impl Iterator<Item = &str> {
    let complete = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&bytes[..0], |end| &bytes[..end]);
    complete.split(|b| *b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let (check, rest) = line.split_once('\t')?;
        let hash = blake3::hash(rest.as_bytes()).to_hex();
        (check.len() == 16 && hash.starts_with(check)).then_some(rest)
    })
}

/// An entry as a line of the index: `CHECK KEY (NAME DIGEST DIR SIZE)*`, separated by
/// tabs, where CHECK is the first 16 hex digits of the blake3 of the rest of the line.
/// `None` when a field holds a tab or a line break.
fn index_line(key: &str, outputs: &BTreeMap<String, StoredOutput>) -> Option<String> {
    let mut rest = String::from(key);
    for (name, o) in outputs {
        rest.push('\t');
        rest.push_str(name);
        rest.push('\t');
        rest.push_str(&o.digest);
        rest.push_str(if o.dir { "\t1\t" } else { "\t0\t" });
        rest.push_str(&o.size.to_string());
    }
    if rest.contains(['\n', '\r']) || key.contains('\t') || key.is_empty() {
        return None;
    }
    if outputs
        .iter()
        .any(|(n, o)| n.contains('\t') || o.digest.contains('\t') || n.is_empty())
    {
        return None;
    }
    Some(checked_line(&rest))
}

/// Every complete, intact line of the index (a later line for a key wins).
fn parse_index(bytes: &[u8]) -> HashMap<String, BTreeMap<String, StoredOutput>> {
    // Only lines ended by a line break: a torn last line is not read.
    checked_lines(bytes).filter_map(parse_index_line).collect()
}

fn parse_index_line(rest: &str) -> Option<(String, BTreeMap<String, StoredOutput>)> {
    let mut fields = rest.split('\t');
    let key = fields.next()?.to_owned();
    let mut outputs = BTreeMap::new();
    while let Some(name) = fields.next() {
        let digest = fields.next()?.to_owned();
        let dir = match fields.next()? {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        let size = fields.next()?.parse().ok()?;
        outputs.insert(
            name.to_owned(),
            StoredOutput {
                digest,
                dir,
                size,
                inode: None,
            },
        );
    }
    Some((key, outputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(digest: &str) -> BTreeMap<String, StoredOutput> {
        BTreeMap::from([(
            "out".to_owned(),
            StoredOutput {
                digest: digest.to_owned(),
                dir: false,
                size: 3,
                inode: None,
            },
        )])
    }

    #[test]
    fn index_lines_read_back() {
        let a = index_line("k1", &outputs("d1")).unwrap();
        let b = index_line("k2", &BTreeMap::new()).unwrap();
        let index = parse_index(format!("{a}{b}").as_bytes());
        assert_eq!(index.len(), 2);
        assert_eq!(index["k1"], outputs("d1"));
        assert!(index["k2"].is_empty());
    }

    #[test]
    fn torn_and_corrupt_index_lines_are_not_trusted() {
        let a = index_line("k1", &outputs("d1")).unwrap();
        let b = index_line("k2", &outputs("d2")).unwrap();
        // A line cut short by a killed run, ended by the next append's line break.
        let torn = &b[..b.len() / 2];
        let index = parse_index(format!("{a}{torn}\n{b}").as_bytes());
        assert_eq!(index.len(), 2);
        assert_eq!(index["k2"], outputs("d2"));
        // The same torn line at the end (no line break yet) is not read at all.
        let index = parse_index(format!("{a}{}", &b[..b.len() - 1]).as_bytes());
        assert_eq!(index.keys().collect::<Vec<_>>(), ["k1"]);
        // A changed byte fails the checksum.
        let bad = a.replace("d1", "d9");
        assert!(parse_index(bad.as_bytes()).is_empty());
        // Names that would break the format are left to the entry's file.
        assert!(index_line("k\t1", &outputs("d1")).is_none());
        let mut odd = outputs("d1");
        odd.insert("a\nb".into(), odd["out"].clone());
        assert!(index_line("k3", &odd).is_none());
    }

    #[test]
    fn entries_are_found_through_the_index_and_checked_against_the_objects() {
        let dir = std::env::temp_dir().join(format!("expc-store-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let file = dir.join("made");
        fs::write(&file, b"abc").unwrap();
        let digest = crate::hash::file_digest(&file).unwrap();
        store.store(&file, &digest, false).unwrap();
        let entry = CacheEntry {
            key: "key1".into(),
            job: "t".into(),
            index: 0,
            outputs: outputs(&digest),
            exit_code: 0,
            attempts: 1,
            duration_ms: 1,
            key_doc: serde_json::Value::Null,
        };
        store.record(&entry).unwrap();
        // One line in each log, no file of its own; found by this store at once.
        assert!(!store.entry_path("key1").exists());
        assert_eq!(store.lookup("key1").unwrap()["out"].digest, digest);
        let reopened = Store::open(&dir).unwrap();
        let found = reopened.lookup("key1").unwrap();
        assert_eq!(found["out"].digest, digest);
        assert!(found["out"].inode.is_some());
        // An object that is gone makes the entry untrusted.
        let object = reopened.object(&digest, false);
        make_writable(&object);
        fs::remove_file(&object).unwrap();
        assert!(reopened.lookup("key1").is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn why_reads_a_key_document_from_the_entries_log_and_odd_keys_get_a_file() {
        let dir = std::env::temp_dir().join(format!("expc-store-docs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let entry = |key: &str, argv: &str| CacheEntry {
            key: key.into(),
            job: "t".into(),
            index: 0,
            outputs: BTreeMap::new(),
            exit_code: 0,
            attempts: 1,
            duration_ms: 1,
            key_doc: serde_json::json!({ "argv": [argv] }),
        };
        store.record(&entry("k1", "first")).unwrap();
        // A torn line from a killed run, then a later entry: both lines of the later one
        // are read, the torn one is not.
        let log = dir.join("cache").join(ENTRIES);
        let mut bytes = fs::read(&log).unwrap();
        bytes.extend_from_slice(b"0123456789abcdef\tk2\t{\"key\":");
        fs::write(&log, bytes).unwrap();
        store.record(&entry("k2", "second\nline")).unwrap();
        let mut last = LastKeys::default();
        last.set("t", 0, "k2");
        last.set("u", 0, "k1");
        let reopened = Store::open(&dir).unwrap();
        assert_eq!(
            reopened.last_key_doc(&last, "t", 0).unwrap()["argv"][0],
            "second\nline"
        );
        assert_eq!(
            reopened.last_key_doc(&last, "u", 0).unwrap()["argv"][0],
            "first"
        );
        assert!(reopened.lookup("k2").is_some());
        // A key the index cannot hold is a file of its own, found by lookup and why.
        store.record(&entry("k\t3", "third")).unwrap();
        assert!(store.entry_path("k\t3").is_file());
        last.set("v", 0, "k\t3");
        let reopened = Store::open(&dir).unwrap();
        assert!(reopened.lookup("k\t3").is_some());
        assert_eq!(
            reopened.last_key_doc(&last, "v", 0).unwrap()["argv"][0],
            "third"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
