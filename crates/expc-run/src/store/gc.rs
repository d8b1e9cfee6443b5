//! `expc gc`, the store's part: cache entries no kept run used are dropped, and the objects
//! no remaining entry names are removed.
//!
//! What is kept: the entries whose keys the caller keeps (the keys of the instances of the
//! provenance runs kept), the entries of every instance's last success (`last-keys`, which
//! the next run starts from), and every object those entries name. The index and the
//! entries log are rewritten whole (to a temporary file, then renamed), under the state
//! folder's lock the caller holds; a crash leaves the old file or the new one. An entry
//! dropped by mistake costs a re-run, never a wrong result: an entry is checked against
//! its objects before it is trusted.

use std::collections::HashSet;
use std::fs;
use std::io;

use super::{ENTRIES, INDEX, Store, checked_line, checked_lines, parse_index_line};

/// What collecting removed (or, dry, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    pub entries_kept: usize,
    pub entries_dropped: usize,
    pub objects_kept: usize,
    pub objects_removed: usize,
    /// Bytes of the objects removed.
    pub bytes: u64,
}

impl Store {
    /// Drops the cache entries whose key is neither in `keep` nor an instance's last
    /// success, and removes the objects no remaining entry names. With `dry_run`, only
    /// counts.
    pub fn collect(&self, keep: &HashSet<String>, dry_run: bool) -> io::Result<Collected> {
        let mut keys: HashSet<&str> = keep.iter().map(String::as_str).collect();
        let last = self.load_last();
        keys.extend(last.keys());
        let mut done = Collected::default();
        let cache = self.root.join("cache");

        // The index: what makes an entry a hit, and what names the objects.
        let index = fs::read(cache.join(INDEX)).unwrap_or_default();
        let mut kept_index = String::new();
        let mut needed: HashSet<String> = HashSet::new();
        for rest in checked_lines(&index) {
            let Some((key, entry)) = parse_index_line(rest) else {
                continue;
            };
            if keys.contains(key.as_str()) {
                done.entries_kept += 1;
                needed.extend(
                    entry
                        .outputs
                        .iter()
                        .map(|(_, o)| super::object_name(&o.digest, o.dir)),
                );
                kept_index.push_str(&checked_line(rest));
            } else {
                done.entries_dropped += 1;
            }
        }
        // Entries of their own files (`cache/ab/KEY.json`).
        let mut dropped_files = Vec::new();
        for shard in fs::read_dir(&cache).into_iter().flatten().flatten() {
            if !shard.path().is_dir() {
                continue;
            }
            for e in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(key) = name.strip_suffix(".json") else {
                    continue;
                };
                if keys.contains(key) {
                    done.entries_kept += 1;
                    let entry: Option<super::CacheEntry> =
                        serde_json::from_slice(&fs::read(e.path()).unwrap_or_default()).ok();
                    needed.extend(entry.into_iter().flat_map(|entry| {
                        entry
                            .outputs
                            .values()
                            .map(|o| super::object_name(&o.digest, o.dir))
                            .collect::<Vec<_>>()
                    }));
                } else {
                    done.entries_dropped += 1;
                    dropped_files.push(e.path());
                }
            }
        }
        // The entries log, for `expc why`: the kept keys' lines.
        let log = fs::read(cache.join(ENTRIES)).unwrap_or_default();
        let mut kept_log = String::new();
        for rest in checked_lines(&log) {
            let key = rest.split_once('\t').map_or(rest, |(k, _)| k);
            if keys.contains(key) {
                kept_log.push_str(&checked_line(rest));
            }
        }

        let mut doomed = Vec::new();
        for (object, name) in self.objects()? {
            if needed.contains(&name) {
                done.objects_kept += 1;
            } else {
                done.objects_removed += 1;
                done.bytes += size_of(&object);
                doomed.push(object);
            }
        }
        if dry_run {
            return Ok(done);
        }
        // The entries go first: an entry never names an object that is gone.
        super::write_atomic(&cache.join(ENTRIES), kept_log.as_bytes())?;
        super::write_atomic(&cache.join(INDEX), kept_index.as_bytes())?;
        for f in dropped_files {
            fs::remove_file(f)?;
        }
        for object in doomed {
            self.evict(&object)?;
        }
        Ok(done)
    }
}

/// The bytes of a file, or of every file under a directory.
fn size_of(path: &std::path::Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size_of(&e.path()))
        .sum()
}
