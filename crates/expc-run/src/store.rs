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
//!   last-keys                 the key of each instance's last success and what it was
//!                             made from, for `expc why` and unchanged instances
//!   cache/stamps              stamps of objects known good, newer than their entries'
//!   stat-cache.json           stamps of hashed data files: a fast path only
//!   lock                      who holds the folder (`crate::lock`)
//!   tmp/                      work directories of running tasks and their logs while
//!                             they run; emptied ones kept for the next instances
//! ```
//!
//! An object is trusted while its stamp ([`crate::stamp`]: inode, size, mtime and ctime)
//! is the one its entry notes, or one known good ([`known`]); otherwise it is hashed
//! again, and evicted when its bytes are not the stored ones ([`objects`]). `expc verify`
//! hashes every object ([`verify`]).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod gc;
mod known;
mod objects;
pub mod verify;

pub use crate::stamp::Stamp;
pub use objects::{Linked, Unusable, object_name};

#[derive(Debug)]
pub struct Store {
    pub root: PathBuf,
    /// The outputs of each entry in `cache/index`, by key, read when first needed: an
    /// unchanged instance is found through `last-keys`, and a rerun where nothing changed
    /// never reads the index. Entries recorded by this run are added, so that a later
    /// instance with the same key is a hit.
    index: std::sync::OnceLock<std::sync::Mutex<FastMap<String, IndexEntry>>>,
    pid: u32,
    /// `out/`, open: an output still linked is found with a `stat` relative to it, which
    /// walks three path components instead of the whole path.
    out_fd: Option<fs::File>,
    out_root: PathBuf,
    /// The key documents of `cache/entries`, read the first time `expc why` needs one.
    key_docs: std::sync::OnceLock<HashMap<String, serde_json::Value>>,
    /// Stamps of objects known good.
    known: std::sync::Mutex<known::KnownStamps>,
}

/// An entry's outputs, sorted by name: a shared slice, not a map, since the index holds
/// one per entry for the whole run (a map's first node alone is most of a kilobyte), and a
/// hit hands them out without a copy.
pub type StoredOutputs = std::sync::Arc<[(String, StoredOutput)]>;

/// The output called `name` among sorted outputs.
pub fn stored_output<'a>(
    outputs: &'a [(String, StoredOutput)],
    name: &str,
) -> Option<&'a StoredOutput> {
    outputs
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| &outputs[i].1)
}

/// What the index knows of an entry.
#[derive(Debug, Clone)]
struct IndexEntry {
    outputs: StoredOutputs,
    made_by: Option<MadeBy>,
}

pub use crate::events::MadeBy;

/// A cache hit: the entry's outputs, and which run's instance made them, when known.
#[derive(Debug, Clone)]
pub struct Hit {
    pub outputs: StoredOutputs,
    pub made_by: Option<MadeBy>,
}

/// One output of a finished task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOutput {
    pub digest: String,
    pub dir: bool,
    pub size: u64,
    /// The object's stamp when its entry was noted (a directory's: its tree's), kept in
    /// the index and `last-keys`, so that a rerun finds an output still linked to its
    /// object, unchanged, with one `fstatat` of the link. `None` in entries written
    /// before stamps had a ctime: their objects are hashed again once.
    #[serde(skip)]
    pub stamp: Option<Stamp>,
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
    /// The provenance record of the instance that made it, when provenance is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<MadeBy>,
}

/// For each instance, the key of its last success, the fingerprint of what it was made
/// from then, and its cache entry: read at the start of a run and written at its end, for
/// `expc why` and for finding an unchanged instance cached without working out its key or
/// reading the cache index. The file, `last-keys`, has a line per instance,
/// `JOB\tINDEX\tKEY\tFINGERPRINT[\tENTRY]` (the fingerprint may be empty; ENTRY is an
/// index line's fields after its key: `[@RUN/TASK\t](NAME\tDIGEST\tKIND\tSIZE)*`),
/// written whole and renamed into place.
#[derive(Debug, Default)]
pub struct LastKeys {
    /// The file as read: the lines read from it are ranges of it, not copies (a rerun of
    /// a sweep of 10,000 reads 10,000).
    text: String,
    jobs: FastMap<String, FastMap<u64, Last>>,
    dirty: bool,
}

/// An instance's line after its job and index: `KEY\tFINGERPRINT[\tENTRY]`, where the
/// entry is the key's cache entry as its index line holds it after the key (parsed when
/// used), with the lengths of the key and the fingerprint.
#[derive(Debug, Clone)]
struct Last {
    rest: Rest,
    key_len: u32,
    fingerprint_len: u32,
}

#[derive(Debug, Clone)]
enum Rest {
    /// Bytes of [`LastKeys::text`].
    Read(u32, u32),
    /// Noted by this run.
    Noted(Box<str>),
}

impl LastKeys {
    /// Notes a success: its key and, when known, the fingerprint it was made from and its
    /// cache entry ([`entry_text`]).
    pub fn set(
        &mut self,
        job: &str,
        index: u64,
        key: &str,
        fingerprint: Option<&str>,
        entry: Option<String>,
    ) {
        let fresh = Last::noted(key, fingerprint.unwrap_or(""), entry.as_deref());
        let same = self
            .jobs
            .get(job)
            .and_then(|j| j.get(&index))
            .is_some_and(|l| self.rest(l) == self.rest(&fresh));
        if !same {
            self.jobs
                .entry(job.to_owned())
                .or_default()
                .insert(index, fresh);
            self.dirty = true;
        }
    }

    /// Adds the cache entry of the success noted for an instance with this key, once the
    /// entry is recorded.
    pub fn attach(&mut self, job: &str, index: u64, key: &str, entry: String) {
        let Some(last) = self.jobs.get(job).and_then(|j| j.get(&index)) else {
            return;
        };
        let (noted_key, fingerprint, noted) = self.fields(last);
        if noted_key != key || noted == Some(entry.as_str()) {
            return;
        }
        let fresh = Last::noted(key, fingerprint.unwrap_or(""), Some(&entry));
        if let Some(slot) = self.jobs.get_mut(job).and_then(|j| j.get_mut(&index)) {
            *slot = fresh;
            self.dirty = true;
        }
    }

    /// Notes again, with the stamps this run knows their objects by, the entries whose
    /// objects' stamps moved after they were noted — an object shared by several outputs
    /// (the same bytes) is linked once for each, which moves its ctime — so that the next
    /// run finds each with one `fstatat`. Nothing to do when the run noted no stamp.
    pub fn refresh_stamps(&mut self, store: &Store) {
        if !store.any_fresh() {
            return;
        }
        let mut moved = Vec::new();
        for (job, instances) in &self.jobs {
            for (index, last) in instances {
                let (key, fingerprint, Some(entry)) = self.fields(last) else {
                    continue;
                };
                let Some(hit) = parse_entry(&mut tab_fields(entry).peekable()) else {
                    continue;
                };
                let mut outputs = hit.outputs.to_vec();
                let mut changed = false;
                for (_, o) in &mut outputs {
                    let fresh = store.fresh_stamp(&o.digest, o.dir);
                    if fresh.is_some() && fresh != o.stamp {
                        o.stamp = fresh;
                        changed = true;
                    }
                }
                let text = entry_text(
                    hit.made_by.as_ref(),
                    outputs.iter().map(|(n, o)| (n.as_str(), o)),
                );
                if let (true, Some(text)) = (changed, text) {
                    let fresh = Last::noted(key, fingerprint.unwrap_or(""), Some(&text));
                    moved.push((job.clone(), *index, fresh));
                }
            }
        }
        for (job, index, last) in moved {
            self.jobs.entry(job).or_default().insert(index, last);
            self.dirty = true;
        }
    }

    /// The key of every instance's last success.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.jobs
            .values()
            .flat_map(|j| j.values())
            .map(|l| self.fields(l).0)
    }

    pub fn get(&self, job: &str, index: u64) -> Option<&str> {
        Some(self.fields(self.jobs.get(job)?.get(&index)?).0)
    }

    /// The key of the instance's last success, and its cache entry when noted, if it was
    /// made from this fingerprint.
    pub fn known(&self, job: &str, index: u64, fingerprint: &str) -> Option<(&str, Option<&str>)> {
        let (key, noted, entry) = self.fields(self.jobs.get(job)?.get(&index)?);
        (noted == Some(fingerprint)).then_some((key, entry))
    }

    fn rest<'a>(&'a self, last: &'a Last) -> &'a str {
        match &last.rest {
            Rest::Read(start, end) => self.text.get(*start as usize..*end as usize).unwrap_or(""),
            Rest::Noted(rest) => rest,
        }
    }

    /// Key, fingerprint (when not empty) and entry (when noted) of a line.
    fn fields<'a>(&'a self, last: &'a Last) -> (&'a str, Option<&'a str>, Option<&'a str>) {
        let rest = self.rest(last);
        let (k, f) = (last.key_len as usize, last.fingerprint_len as usize);
        let key = rest.get(..k).unwrap_or("");
        let fingerprint = rest.get(k + 1..k + 1 + f).filter(|f| !f.is_empty());
        let entry = rest.get(k + f + 2..).filter(|e| !e.is_empty());
        (key, fingerprint, entry)
    }

    fn parse(text: String) -> LastKeys {
        // Each line's job, index and the rest; then a map of a job's lines with room for
        // all of them (lines come grouped by job).
        let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count();
        let mut read: Vec<(&str, u64, Last)> = Vec::with_capacity(lines);
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
            let at = start;
            let line = &text[at..end];
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let mut f = tab_fields(line);
            let (Some(job), Some(index), Some(key), fingerprint) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            // What follows `JOB\tINDEX\t`.
            let rest_at = at + job.len() + index.len() + 2;
            let Ok(index) = index.parse() else {
                continue;
            };
            let (Ok(rest_at), Ok(rest_end)) =
                (u32::try_from(rest_at), u32::try_from(at + line.len()))
            else {
                break;
            };
            read.push((
                job,
                index,
                Last {
                    rest: Rest::Read(rest_at, rest_end),
                    key_len: key.len() as u32,
                    fingerprint_len: fingerprint.map_or(0, str::len) as u32,
                },
            ));
        }
        let mut jobs: FastMap<String, FastMap<u64, Last>> = FastMap::default();
        for group in read.chunk_by(|a, b| a.0 == b.0) {
            let map = jobs.entry(group[0].0.to_owned()).or_default();
            map.reserve(group.len());
            map.extend(group.iter().map(|(_, index, last)| (*index, last.clone())));
        }
        drop(read);
        LastKeys {
            text,
            jobs,
            dirty: false,
        }
    }

    /// The file's text, instances in order.
    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut jobs: Vec<(&String, &FastMap<u64, Last>)> = self.jobs.iter().collect();
        jobs.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        for (job, instances) in jobs {
            if job.contains(['\t', '\n', '\r']) {
                continue;
            }
            let mut indices: Vec<(&u64, &Last)> = instances.iter().collect();
            indices.sort_by_key(|(i, _)| **i);
            for (index, last) in indices {
                let _ = writeln!(out, "{job}\t{index}\t{}", self.rest(last));
            }
        }
        out
    }
}

impl Last {
    fn noted(key: &str, fingerprint: &str, entry: Option<&str>) -> Last {
        let mut rest = format!("{key}\t{fingerprint}");
        if let Some(e) = entry {
            rest.push('\t');
            rest.push_str(e);
        }
        Last {
            rest: Rest::Noted(rest.into_boxed_str()),
            key_len: key.len() as u32,
            fingerprint_len: fingerprint.len() as u32,
        }
    }
}

impl Store {
    pub fn open(root: &Path) -> io::Result<Store> {
        for d in ["objects", "cache", "out", "logs", "tmp"] {
            fs::create_dir_all(root.join(d))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            index: std::sync::OnceLock::new(),
            pid: std::process::id(),
            out_fd: fs::File::open(root.join("out")).ok(),
            out_root: root.join("out"),
            key_docs: std::sync::OnceLock::new(),
            known: Default::default(),
        })
    }

    /// The index, once read.
    fn index(&self) -> &std::sync::Mutex<FastMap<String, IndexEntry>> {
        self.index.get_or_init(|| {
            let path = self.root.join("cache").join(INDEX);
            std::sync::Mutex::new(fs::read(path).map(|b| parse_index(&b)).unwrap_or_default())
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
        // Built in one buffer: a rerun asks for thousands.
        let root = self.out_root.as_os_str();
        let mut dir = std::ffi::OsString::with_capacity(root.len() + job.len() + 22);
        dir.push(root);
        dir.push("/");
        dir.push(&*safe(job));
        if looped {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut n = index;
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            dir.push("/");
            dir.push(std::str::from_utf8(&digits[at..]).unwrap_or_default());
        }
        PathBuf::from(dir)
    }

    /// See [`crate::events::log_dir`].
    pub fn log_dir(&self, job: &str, index: u64) -> PathBuf {
        crate::events::log_dir(&self.root, job, index)
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

    /// The outputs of the entry for a key, if there is one. Its objects are checked when
    /// they are linked ([`Store::materialise`]).
    pub fn lookup(&self, key: &str) -> Option<Hit> {
        let known = self
            .index()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .map(|e| Hit {
                outputs: e.outputs.clone(),
                made_by: e.made_by.clone(),
            });
        let hit = match known {
            Some(hit) => hit,
            None => {
                let text = fs::read(self.entry_path(key)).ok()?;
                let entry = serde_json::from_slice::<CacheEntry>(&text).ok()?;
                Hit {
                    outputs: entry.outputs.into_iter().collect(),
                    made_by: entry.made_by,
                }
            }
        };
        Some(hit)
    }

    /// The hit an entry of `last-keys` describes (see [`LastKeys::known`]).
    pub fn hit_of_entry(&self, entry: &str) -> Option<Hit> {
        parse_entry(&mut tab_fields(entry).peekable())
    }

    /// Writes an entry (after the objects it names are stored): its file, by rename, then
    /// its line in the index.
    pub fn record(&self, entry: &CacheEntry) -> io::Result<()> {
        let Some(line) = index_line(&entry.key, entry.made_by.as_ref(), &entry.outputs) else {
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
        self.index()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                entry.key.clone(),
                IndexEntry {
                    outputs: entry
                        .outputs
                        .iter()
                        .map(|(n, o)| (n.clone(), o.clone()))
                        .collect(),
                    made_by: entry.made_by.clone(),
                },
            );
        Ok(())
    }

    pub fn load_last(&self) -> LastKeys {
        if let Ok(text) = fs::read_to_string(self.root.join(LAST_KEYS)) {
            return LastKeys::parse(text);
        }
        // Stores before `last-keys`: `{"keys": {"JOB/INDEX": KEY}}`.
        #[derive(Deserialize)]
        struct Old {
            keys: BTreeMap<String, String>,
        }
        let mut last = LastKeys::default();
        let old = fs::read(self.root.join("last-keys.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Old>(&b).ok());
        for (instance, key) in old.map(|o| o.keys).unwrap_or_default() {
            if let Some((job, index)) = instance.rsplit_once('/') {
                if let Ok(index) = index.parse() {
                    last.set(job, index, &key, None, None);
                }
            }
        }
        last
    }

    pub fn save_last(&self, last: &mut LastKeys) -> io::Result<()> {
        if !last.dirty {
            return Ok(());
        }
        last.dirty = false;
        write_atomic(&self.root.join(LAST_KEYS), last.text().as_bytes())?;
        // The file it replaces, in stores from before it.
        let _ = fs::remove_file(self.root.join("last-keys.json"));
        Ok(())
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
                objects::make_writable(&p);
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
pub fn safe(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains(['/', '\\', ':']) {
        return std::borrow::Cow::Borrowed(name);
    }
    name.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect::<String>()
        .into()
}

/// A hasher for maps keyed by digests and names the run made itself, thousands of which
/// a rerun looks up: a multiply-and-rotate over 8 bytes at a time instead of SipHash,
/// whose resistance to chosen keys nothing here needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

/// The file of [`LastKeys`].
const LAST_KEYS: &str = "last-keys";

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
        let hash = blake3::hash(rest.as_bytes());
        (check.len() == 16 && hex_prefix_matches(check.as_bytes(), hash.as_bytes())).then_some(rest)
    })
}

/// The fields of a line separated by tabs. Found with `memchr`: `str::split` on a `char`
/// costs more per field than the fields of `last-keys` and the index are long.
fn tab_fields(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\t', r.as_bytes()) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Whether lowercase hex digits spell the first bytes of `bytes`.
fn hex_prefix_matches(hex: &[u8], bytes: &[u8]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex.len() <= 2 * bytes.len()
        && hex.iter().enumerate().all(|(i, h)| {
            let b = bytes[i / 2];
            let nibble = if i % 2 == 0 { b >> 4 } else { b & 0xf };
            DIGITS[nibble as usize] == *h
        })
}

/// An entry as a line of the index: `CHECK KEY [@RUN/TASK] (NAME DIGEST KIND SIZE)*`,
/// separated by tabs, where CHECK is the first 16 hex digits of the blake3 of the rest of
/// the line, and the fields after the key are [`entry_text`]'s. `None` when a field holds
/// a tab or a line break.
fn index_line(
    key: &str,
    made_by: Option<&MadeBy>,
    outputs: &BTreeMap<String, StoredOutput>,
) -> Option<String> {
    if key.contains(['\t', '\n', '\r']) || key.is_empty() {
        return None;
    }
    let entry = entry_text(made_by, outputs.iter().map(|(n, o)| (n.as_str(), o)))?;
    let mut rest = String::from(key);
    if !entry.is_empty() {
        rest.push('\t');
        rest.push_str(&entry);
    }
    Some(checked_line(&rest))
}

/// A cache entry as fields separated by tabs: `@RUN/TASK`, the provenance record of the
/// instance that made it, when known, then `NAME DIGEST KIND SIZE` for each output, where
/// KIND is `1` for a directory, `0` for a file, or with the object's stamp
/// ([`Stamp::kind_field`]) `0:DEV:INO:MTIME_NS:CTIME_NS` for a file and `1:HASH:NEWEST_NS`
/// for a directory; lines written before ctimes were noted have `0:DEV:INO:MTIME_NS`, read
/// as no stamp. `None` when a field holds a tab or a line break.
pub fn entry_text<'a>(
    made_by: Option<&MadeBy>,
    outputs: impl Iterator<Item = (&'a str, &'a StoredOutput)>,
) -> Option<String> {
    use std::fmt::Write as _;
    let mut text = String::new();
    if let Some(m) = made_by {
        if m.run.contains(['\t', '/', '\n', '\r']) || m.run.is_empty() {
            return None;
        }
        let _ = write!(text, "@{}/{}", m.run, m.task);
    }
    for (name, o) in outputs {
        if name.is_empty()
            || name.contains(['\t', '\n', '\r'])
            || o.digest.contains(['\t', '\n', '\r'])
        {
            return None;
        }
        if !text.is_empty() {
            text.push('\t');
        }
        text.push_str(name);
        text.push('\t');
        text.push_str(&o.digest);
        match (o.dir, o.stamp) {
            (_, Some(stamp)) => {
                text.push('\t');
                text.push_str(&stamp.kind_field());
            }
            (true, None) => text.push_str("\t1"),
            (false, None) => text.push_str("\t0"),
        }
        let _ = write!(text, "\t{}", o.size);
    }
    Some(text)
}

/// Every complete, intact line of the index (a later line for a key wins).
fn parse_index(bytes: &[u8]) -> FastMap<String, IndexEntry> {
    // Only lines ended by a line break: a torn last line is not read.
    let mut index = FastMap::with_capacity_and_hasher(
        bytes.iter().filter(|b| **b == b'\n').count(),
        Default::default(),
    );
    index.extend(checked_lines(bytes).filter_map(parse_index_line));
    index
}

fn parse_index_line(rest: &str) -> Option<(String, IndexEntry)> {
    let mut fields = tab_fields(rest).peekable();
    let key = fields.next()?.to_owned();
    let Hit { outputs, made_by } = parse_entry(&mut fields)?;
    Some((key, IndexEntry { outputs, made_by }))
}

/// The fields of [`entry_text`], read back: the record that made the entry and its
/// outputs, sorted by name (not checked against the store).
fn parse_entry<'a>(fields: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) -> Option<Hit> {
    let mut made_by = None;
    if let Some(m) = fields.next_if(|f| f.starts_with('@')) {
        let (run, task) = m[1..].rsplit_once('/')?;
        made_by = Some(MadeBy {
            run: run.to_owned(),
            task: task.parse().ok()?,
        });
    }
    let mut outputs = Vec::with_capacity(1);
    while let Some(name) = fields.next() {
        let digest = fields.next()?.to_owned();
        let kind = fields.next()?;
        let size = fields.next()?.parse().ok()?;
        let (dir, stamp) = Stamp::parse_kind(kind, size)?;
        outputs.push((
            name.to_owned(),
            StoredOutput {
                digest,
                dir,
                size,
                stamp,
            },
        ));
    }
    // Written from a map, so sorted; sorted again for a line written by hand.
    outputs.sort_by(|a, b| a.0.cmp(&b.0));
    outputs.dedup_by(|a, b| a.0 == b.0);
    Some(Hit {
        outputs: outputs.into(),
        made_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(o: &StoredOutputs) -> BTreeMap<String, StoredOutput> {
        o.iter().cloned().collect()
    }

    pub(super) fn outputs(digest: &str) -> BTreeMap<String, StoredOutput> {
        BTreeMap::from([(
            "out".to_owned(),
            StoredOutput {
                digest: digest.to_owned(),
                dir: false,
                size: 3,
                stamp: None,
            },
        )])
    }

    #[test]
    fn index_lines_read_back() {
        let a = index_line("k1", None, &outputs("d1")).unwrap();
        let b = index_line("k2", None, &BTreeMap::new()).unwrap();
        let mut stamped = outputs("d3");
        let stamp = Stamp::File(crate::stamp::FileStamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        });
        stamped.get_mut("out").unwrap().stamp = Some(stamp);
        let c = index_line("k3", None, &stamped).unwrap();
        // A line of a store written before ctimes were noted: read, with no stamp.
        let old = checked_line("k4\tout\td4\t0:1:2:4\t3");
        let index = parse_index(format!("{a}{b}{c}{old}").as_bytes());
        assert_eq!(index.len(), 4);
        assert_eq!(map(&index["k1"].outputs), outputs("d1"));
        assert!(index["k2"].outputs.is_empty());
        assert_eq!(map(&index["k3"].outputs), stamped);
        assert_eq!(map(&index["k4"].outputs), outputs("d4"));
    }

    #[test]
    fn torn_and_corrupt_index_lines_are_not_trusted() {
        let a = index_line("k1", None, &outputs("d1")).unwrap();
        let b = index_line("k2", None, &outputs("d2")).unwrap();
        // A line cut short by a killed run, ended by the next append's line break.
        let torn = &b[..b.len() / 2];
        let index = parse_index(format!("{a}{torn}\n{b}").as_bytes());
        assert_eq!(index.len(), 2);
        assert_eq!(map(&index["k2"].outputs), outputs("d2"));
        // The same torn line at the end (no line break yet) is not read at all.
        let index = parse_index(format!("{a}{}", &b[..b.len() - 1]).as_bytes());
        assert_eq!(index.keys().collect::<Vec<_>>(), ["k1"]);
        // A changed byte fails the checksum.
        let bad = a.replace("d1", "d9");
        assert!(parse_index(bad.as_bytes()).is_empty());
        // Names that would break the format are left to the entry's file.
        assert!(index_line("k\t1", None, &outputs("d1")).is_none());
        let mut odd = outputs("d1");
        odd.insert("a\nb".into(), odd["out"].clone());
        assert!(index_line("k3", None, &odd).is_none());
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
            made_by: None,
        };
        store.record(&entry).unwrap();
        // One line in each log, no file of its own; found by this store at once.
        assert!(!store.entry_path("key1").exists());
        assert_eq!(
            stored_output(&store.lookup("key1").unwrap().outputs, "out")
                .unwrap()
                .digest,
            digest
        );
        let reopened = Store::open(&dir).unwrap();
        let found = reopened.lookup("key1").unwrap().outputs;
        let out = stored_output(&found, "out").unwrap();
        assert_eq!(out.digest, digest);
        // An entry with no stamp: its object is hashed, found good, and stamped.
        let out_dir = reopened.out_dir("t", 0, false);
        let linked = reopened.materialise(&out_dir, "x.txt", out).unwrap();
        assert!(linked.stamp.is_some());
        // An object that is gone makes the entry unusable.
        let object = reopened.object(&digest, false);
        fs::remove_file(&object).unwrap();
        fs::remove_file(&linked.path).unwrap();
        assert!(matches!(
            reopened.materialise(&out_dir, "x.txt", out),
            Err(Unusable::Missing)
        ));
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
            made_by: None,
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
        last.set("t", 0, "k2", None, None);
        last.set("u", 0, "k1", None, None);
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
        last.set("v", 0, "k\t3", None, None);
        let reopened = Store::open(&dir).unwrap();
        assert!(reopened.lookup("k\t3").is_some());
        assert_eq!(
            reopened.last_key_doc(&last, "v", 0).unwrap()["argv"][0],
            "third"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// A store in a fresh folder holding one file object (`abc`), the outputs naming it
    /// with its stamp, and a record that made them.
    pub(super) struct WithObject {
        pub(super) dir: PathBuf,
        pub(super) store: Store,
        pub(super) digest: String,
        pub(super) outputs: BTreeMap<String, StoredOutput>,
        pub(super) made_by: MadeBy,
    }

    pub(super) fn store_with_object(name: &str) -> WithObject {
        let dir = std::env::temp_dir().join(format!("expc-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let file = dir.join("made");
        fs::write(&file, b"abc").unwrap();
        let digest = crate::hash::file_digest(&file).unwrap();
        store.store(&file, &digest, false).unwrap();
        let mut outputs = outputs(&digest);
        outputs.get_mut("out").unwrap().stamp =
            Some(Stamp::of_path(&store.object(&digest, false), false).unwrap());
        let made_by = MadeBy {
            run: "20261202T000000Z-abcdef".into(),
            task: 7,
        };
        WithObject {
            dir,
            store,
            digest,
            outputs,
            made_by,
        }
    }

    /// An entry made with provenance names its record, and keeps its object's stamp: a
    /// rerun finds an output still linked to the object, unchanged, with one `fstatat` of
    /// the link, and only looks at the object when the link is gone or changed.
    #[test]
    fn entries_name_their_record_and_links_in_place_are_trusted() {
        let WithObject {
            dir,
            store,
            digest,
            outputs,
            made_by,
        } = store_with_object("links");
        let stamp = outputs["out"].stamp;
        let entry = CacheEntry {
            key: "key1".into(),
            job: "t".into(),
            index: 0,
            outputs,
            exit_code: 0,
            attempts: 1,
            duration_ms: 1,
            key_doc: serde_json::Value::Null,
            made_by: Some(made_by.clone()),
        };
        store.record(&entry).unwrap();
        let reopened = Store::open(&dir).unwrap();
        let hit = reopened.lookup("key1").unwrap();
        assert_eq!(hit.made_by, Some(made_by));
        let mut out = stored_output(&hit.outputs, "out").unwrap().clone();
        assert_eq!(out.stamp, stamp);
        let out_dir = reopened.out_dir("t", 0, false);
        let linked = reopened.materialise(&out_dir, "x.txt", &out).unwrap();
        assert_eq!(fs::read(&linked.path).unwrap(), b"abc");
        // The link moved the object's ctime: with the stamp it gave, the link in place is
        // the object.
        out.stamp = linked.stamp.or(out.stamp);
        assert!(
            reopened
                .materialise(&out_dir, "x.txt", &out)
                .unwrap()
                .stamp
                .is_none()
        );
        // The object goes: the link in place still holds the output, and puts it back
        // into the store (hashed first: removing the object moved the link's ctime).
        let object = reopened.object(&digest, false);
        fs::remove_file(&object).unwrap();
        assert!(matches!(
            reopened.check(&out_dir, "y.txt", &out),
            Err(Unusable::Missing)
        ));
        assert!(reopened.check(&out_dir, "x.txt", &out).is_ok());
        let restored = reopened.materialise(&out_dir, "x.txt", &out).unwrap();
        assert!(object.exists());
        out.stamp = restored.stamp.or(out.stamp);
        assert!(reopened.materialise(&out_dir, "y.txt", &out).is_ok());
        // With neither the object nor a link holding it, it is gone.
        fs::remove_file(&object).unwrap();
        fs::remove_file(out_dir.join("y.txt")).unwrap();
        assert!(matches!(
            reopened.materialise(&out_dir, "y.txt", &out),
            Err(Unusable::Missing)
        ));
        // A file of the same size put in the link's place is not trusted, even when it gets
        // the inode number the object had (file systems reuse them at once): its ctime is
        // the time it was made.
        fs::remove_file(&linked.path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        fs::write(&linked.path, b"xyz").unwrap();
        assert!(matches!(
            reopened.materialise(&out_dir, "x.txt", &out),
            Err(Unusable::Missing)
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn last_keys_read_back_and_old_files_are_read() {
        let dir = std::env::temp_dir().join(format!("expc-store-last-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        // A store from before `last-keys`.
        fs::write(
            dir.join("last-keys.json"),
            r#"{"keys":{"train#2/3":"k3","a/b/0":"k0"}}"#,
        )
        .unwrap();
        let mut last = store.load_last();
        assert_eq!(last.get("train#2", 3), Some("k3"));
        assert_eq!(last.get("a/b", 0), Some("k0"));
        assert_eq!(last.known("train#2", 3, "f"), None);
        last.set("train#2", 3, "k4", Some("f4"), None);
        last.set("u", 1, "k5", None, None);
        store.save_last(&mut last).unwrap();
        assert!(!dir.join("last-keys.json").exists());
        let again = store.load_last();
        assert_eq!(again.known("train#2", 3, "f4"), Some(("k4", None)));
        assert_eq!(again.known("train#2", 3, "f3"), None);
        assert_eq!(again.get("u", 1), Some("k5"));
        assert_eq!(again.known("u", 1, ""), None);
        assert_eq!(again.get("a/b", 0), Some("k0"));
        // Written in order, so the same keys give the same file.
        assert_eq!(again.text(), last.text());
        let _ = fs::remove_dir_all(&dir);
    }

    /// `last-keys` notes each success's cache entry, so that an unchanged instance is found
    /// cached without the index: the entry reads back as the index would give it, and is
    /// trusted as little (an object that is gone is no hit).
    #[test]
    fn last_keys_note_entries_that_give_the_hit_without_the_index() {
        let WithObject {
            dir,
            store,
            outputs,
            made_by,
            ..
        } = store_with_object("noted");
        let text =
            entry_text(Some(&made_by), outputs.iter().map(|(n, o)| (n.as_str(), o))).unwrap();
        let mut last = LastKeys::default();
        last.set("t", 0, "key1", Some("f0"), None);
        last.attach("t", 0, "other key", text.clone());
        last.set("t", 1, "key2", Some("f1"), None);
        last.attach("t", 1, "key2", text.clone());
        store.save_last(&mut last).unwrap();
        let again = store.load_last();
        // Attached only to the success of the entry's key.
        assert_eq!(again.known("t", 0, "f0"), Some(("key1", None)));
        let (key, noted) = again.known("t", 1, "f1").unwrap();
        assert_eq!((key, noted), ("key2", Some(text.as_str())));
        assert_eq!(again.text(), last.text());
        // The index has no entry: the noted one gives the hit.
        assert!(store.lookup("key2").is_none());
        let hit = store.hit_of_entry(noted.unwrap()).unwrap();
        assert_eq!(hit.made_by, Some(made_by));
        assert_eq!(map(&hit.outputs), outputs);
        // A torn entry is no hit; one whose directory object is gone cannot be linked.
        assert!(store.hit_of_entry(&text[..text.len() - 3]).is_none());
        let gone = entry_text(
            None,
            [(
                "d",
                &StoredOutput {
                    digest: "00".repeat(32),
                    dir: true,
                    size: 0,
                    stamp: None,
                },
            )]
            .into_iter(),
        )
        .unwrap();
        let hit_gone = store.hit_of_entry(&gone).unwrap();
        assert!(matches!(
            store.materialise(&store.out_dir("d", 0, false), "d", &hit_gone.outputs[0].1),
            Err(Unusable::Missing)
        ));
        // Fields that would break a line are not noted.
        assert!(entry_text(None, [("a\tb", &hit.outputs[0].1)].into_iter()).is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    /// An entry noted before a later link moved its object's stamp (an object shared by
    /// two outputs) is noted again, at the run's end, with the stamp the run knows.
    #[test]
    fn entries_whose_objects_moved_are_noted_again_with_the_stamps_the_run_knows() {
        let WithObject {
            dir,
            store,
            outputs,
            ..
        } = store_with_object("refresh");
        let out = outputs["out"].clone();
        let first = store
            .materialise(&store.out_dir("t", 0, true), "x.txt", &out)
            .unwrap();
        let mut noted = out.clone();
        noted.stamp = first.stamp.or(out.stamp);
        let text = |o: &StoredOutput| entry_text(None, [("out", o)].into_iter()).unwrap();
        let mut last = LastKeys::default();
        last.set("t", 0, "k", Some("f"), Some(text(&noted)));
        // The same bytes are another instance's output: one more link to the object.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = store
            .materialise(&store.out_dir("t", 1, true), "x.txt", &noted)
            .unwrap();
        let now = second.stamp.expect("a link moves the ctime");
        last.refresh_stamps(&store);
        let (_, entry) = last.known("t", 0, "f").unwrap();
        let hit = store.hit_of_entry(entry.unwrap()).unwrap();
        assert_eq!(hit.outputs[0].1.stamp, Some(now));
        // With it, the first link is found in place with one look.
        assert!(
            store
                .materialise(&store.out_dir("t", 0, true), "x.txt", &hit.outputs[0].1)
                .unwrap()
                .stamp
                .is_none()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
