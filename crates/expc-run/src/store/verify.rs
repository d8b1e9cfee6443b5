//! `expc verify`: every object of the store hashed again, whatever its stamp. An object
//! whose bytes are not the ones its name (its digest) says is damaged: it is evicted, and
//! the instances whose entries name it run again next time. The stamps of the good ones
//! become the stamps log, so the next run trusts them without hashing.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use super::{CacheEntry, ENTRIES, FastMap, Store, checked_lines};
use crate::stamp::Stamp;

/// What verifying the store found.
#[derive(Debug, Default)]
pub struct Verified {
    /// Objects hashed, and their bytes.
    pub objects: usize,
    pub bytes: u64,
    pub damaged: Vec<Damaged>,
}

/// A damaged object.
#[derive(Debug)]
pub struct Damaged {
    /// Its path, from `.expc/` on.
    pub object: String,
    /// How it differs from what was stored.
    pub why: String,
    /// The cache entries that name it: "output `model` of `t` [3]".
    pub named_by: Vec<String>,
}

impl Store {
    /// Hashes every object again; unless `dry_run`, evicts the damaged ones and keeps the
    /// good ones' stamps.
    pub fn verify(&self, dry_run: bool) -> io::Result<Verified> {
        let mut found = Verified::default();
        let mut good: FastMap<String, Stamp> = FastMap::default();
        let mut damaged: Vec<(PathBuf, String, String)> = Vec::new();
        for (object, name) in self.objects()? {
            let (digest, dir) = match name.strip_suffix(".d") {
                Some(d) => (d, true),
                None => (name.as_str(), false),
            };
            found.objects += 1;
            let stamp = Stamp::of_path(&object, false)?;
            let is_dir = matches!(stamp, Stamp::Tree { .. });
            let why = if is_dir != dir {
                Some(format!(
                    "it is a {}",
                    if is_dir { "directory" } else { "file" }
                ))
            } else {
                let (now, _, size) = crate::hash::output_digest(&object)?;
                found.bytes += size;
                (now != digest).then(|| {
                    format!(
                        "its digest is {}…, not {}…",
                        &now[..12.min(now.len())],
                        &digest[..12.min(digest.len())]
                    )
                })
            };
            match why {
                None => {
                    good.insert(name, stamp);
                }
                Some(why) => damaged.push((object, digest.to_owned(), why)),
            }
        }
        let named = if damaged.is_empty() {
            BTreeMap::new()
        } else {
            self.entries_by_object()
        };
        for (object, digest, why) in damaged {
            if !dry_run {
                self.evict(&object)?;
            }
            found.damaged.push(Damaged {
                object: self.shown(&object),
                why,
                named_by: named.get(&digest).cloned().unwrap_or_default(),
            });
        }
        if !dry_run {
            self.write_stamps(&good)?;
        }
        Ok(found)
    }

    /// Every object of the store, with its file name, sorted.
    pub(super) fn objects(&self) -> io::Result<Vec<(PathBuf, String)>> {
        let mut out = Vec::new();
        let root = self.root.join("objects");
        let Ok(shards) = fs::read_dir(&root) else {
            return Ok(out);
        };
        for shard in shards {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for e in fs::read_dir(&shard)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                // Temporary names (`.NAME.copy`) a killed run may have left are not objects.
                if !name.starts_with('.') {
                    out.push((e.path(), name));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// For each object digest, the entries that name it, as "output `o` of `job` [i]".
    fn entries_by_object(&self) -> BTreeMap<String, Vec<String>> {
        let mut entries: Vec<CacheEntry> = Vec::new();
        let log = fs::read(self.root.join("cache").join(ENTRIES)).unwrap_or_default();
        entries.extend(checked_lines(&log).filter_map(|rest| {
            let (_, json) = rest.split_once('\t')?;
            serde_json::from_str(json).ok()
        }));
        // Entries of their own files (`cache/ab/KEY.json`).
        if let Ok(shards) = fs::read_dir(self.root.join("cache")) {
            for shard in shards.flatten().filter(|s| s.path().is_dir()) {
                for e in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                    if let Ok(entry) =
                        serde_json::from_slice(&fs::read(e.path()).unwrap_or_default())
                    {
                        entries.push(entry);
                    }
                }
            }
        }
        let mut by_object: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in entries {
            for (name, o) in &e.outputs {
                let named = format!("output `{name}` of `{}` [{}]", e.job, e.index);
                let list = by_object.entry(o.digest.clone()).or_default();
                if !list.contains(&named) {
                    list.push(named);
                }
            }
        }
        by_object
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::store_with_object;
    use super::*;

    #[test]
    fn verify_finds_a_damaged_object_and_evicts_it_unless_dry() {
        let w = store_with_object("verify");
        let entry = CacheEntry {
            key: "k".into(),
            job: "t".into(),
            index: 3,
            outputs: w.outputs.clone(),
            exit_code: 0,
            attempts: 1,
            duration_ms: 1,
            key_doc: serde_json::Value::Null,
            made_by: None,
        };
        w.store.record(&entry).unwrap();
        let clean = w.store.verify(true).unwrap();
        assert_eq!((clean.objects, clean.damaged.len()), (1, 0));
        let object = w.store.object(&w.digest, false);
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&object, fs::Permissions::from_mode(0o644)).unwrap();
            fs::write(&object, "abd").unwrap();
        }
        let dry = w.store.verify(true).unwrap();
        assert_eq!(dry.damaged.len(), 1);
        assert_eq!(dry.damaged[0].named_by, ["output `out` of `t` [3]"]);
        assert!(object.exists());
        let real = w.store.verify(false).unwrap();
        assert_eq!(real.damaged.len(), 1);
        assert!(!object.exists());
        assert_eq!(w.store.verify(false).unwrap().objects, 0);
        let _ = fs::remove_dir_all(&w.dir);
    }
}
