//! Stamps of objects known good: those this run found or made (its own links move an
//! object's ctime), and those of earlier runs, kept in `cache/stamps`.
//!
//! A cache entry notes its objects' stamps when it is written, and `last-keys` when an
//! instance succeeds; an object shared by several entries (outputs with the same bytes),
//! or linked again later, gets a newer stamp than some of them note. That newer stamp is
//! known good — the run moved it with a link, or hashed the object again — and is appended
//! to `cache/stamps` when the run ends, so that the next run trusts the object without
//! hashing it. A line is `CHECK\tOBJECT\tKIND\tSIZE` (the fields of an index line's
//! output); a later line for an object wins; torn or corrupt lines are skipped. The file
//! is written again whole when most of its lines are stale.

use std::fs;
use std::io;

use super::{FastMap, Store, append_line, checked_line, checked_lines, tab_fields};
use crate::stamp::Stamp;

/// The file's name under `cache/`.
pub(super) const STAMPS: &str = "stamps";

/// What is known of objects' stamps in this run.
#[derive(Debug, Default)]
pub(super) struct KnownStamps {
    /// The log, by object name, once read (only when an object's stamp is not the one its
    /// entry notes: a rerun where nothing moved never reads it).
    logged: Option<FastMap<String, Stamp>>,
    /// Lines in the log when it was read.
    lines: usize,
    /// Stamps found or made by this run, by object name, to append at its end.
    fresh: FastMap<String, Stamp>,
}

impl Store {
    /// The stamp the object called `name` was last known good with.
    pub(super) fn known_stamp(&self, name: &str) -> Option<Stamp> {
        let mut known = self.known();
        if let Some(s) = known.fresh.get(name) {
            return Some(*s);
        }
        if known.logged.is_none() {
            let bytes = fs::read(self.root.join("cache").join(STAMPS)).unwrap_or_default();
            let (logged, lines) = parse(&bytes);
            known.logged = Some(logged);
            known.lines = lines;
        }
        known.logged.as_ref().and_then(|l| l.get(name)).copied()
    }

    /// Notes that the object called `name` is good with this stamp.
    pub(super) fn note_stamp(&self, name: &str, stamp: Stamp) {
        self.known().fresh.insert(name.to_owned(), stamp);
    }

    /// Whether this run noted any stamp.
    pub(super) fn any_fresh(&self) -> bool {
        !self.known().fresh.is_empty()
    }

    /// The stamp this run noted for an object, if it did.
    pub fn fresh_stamp(&self, digest: &str, dir: bool) -> Option<Stamp> {
        let name = super::objects::object_name(digest, dir);
        self.known().fresh.get(&name).copied()
    }

    /// Appends the stamps this run found or made to `cache/stamps` (or writes the file
    /// again whole, when most of what it holds is stale). Nothing when it noted none.
    pub fn save_stamps(&self) -> io::Result<()> {
        let mut known = self.known();
        if known.fresh.is_empty() {
            return Ok(());
        }
        let path = self.root.join("cache").join(STAMPS);
        let fresh = std::mem::take(&mut known.fresh);
        let lines: String = fresh.iter().filter_map(|(n, s)| line(n, s)).collect();
        let stale = known
            .logged
            .as_ref()
            .is_some_and(|l| known.lines > 10_000 && known.lines > 2 * (l.len() + fresh.len()));
        if stale {
            let mut all = known.logged.take().unwrap_or_default();
            all.extend(fresh);
            let whole: String = all.iter().filter_map(|(n, s)| line(n, s)).collect();
            return super::write_atomic(&path, whole.as_bytes());
        }
        append_line(&path, &lines)
    }

    /// Writes the whole log anew with these stamps (what `expc verify` found).
    pub(super) fn write_stamps(&self, stamps: &FastMap<String, Stamp>) -> io::Result<()> {
        let whole: String = stamps.iter().filter_map(|(n, s)| line(n, s)).collect();
        super::write_atomic(&self.root.join("cache").join(STAMPS), whole.as_bytes())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, KnownStamps> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An object's line: `CHECK\tOBJECT\tKIND\tSIZE`.
fn line(name: &str, stamp: &Stamp) -> Option<String> {
    if name.contains(['\t', '\n', '\r']) || name.is_empty() {
        return None;
    }
    let size = match stamp {
        Stamp::File(f) => f.size,
        Stamp::Tree { .. } => 0,
    };
    Some(checked_line(&format!(
        "{name}\t{}\t{size}",
        stamp.kind_field()
    )))
}

/// The stamps of a log, and how many lines it has.
fn parse(bytes: &[u8]) -> (FastMap<String, Stamp>, usize) {
    let mut stamps = FastMap::default();
    let mut lines = 0;
    for rest in checked_lines(bytes) {
        lines += 1;
        let mut f = tab_fields(rest);
        let (Some(name), Some(kind), Some(size)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(size) = size.parse() else {
            continue;
        };
        if let Some((_, Some(stamp))) = Stamp::parse_kind(kind, size) {
            stamps.insert(name.to_owned(), stamp);
        }
    }
    (stamps, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::FileStamp;

    #[test]
    fn stamps_noted_by_one_run_are_known_to_the_next() {
        let dir = std::env::temp_dir().join(format!("expc-store-known-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let file = |ctime_ns| {
            Stamp::File(FileStamp {
                dev: 1,
                ino: 2,
                size: 3,
                mtime_ns: 4,
                ctime_ns,
            })
        };
        let tree = Stamp::Tree {
            hash: 7,
            newest_ns: 8,
        };
        store.note_stamp("ab", file(5));
        store.note_stamp("cd.d", tree);
        assert_eq!(store.known_stamp("ab"), Some(file(5)));
        store.save_stamps().unwrap();
        // A later line wins; a torn one is not read.
        let next = Store::open(&dir).unwrap();
        next.note_stamp("ab", file(6));
        next.save_stamps().unwrap();
        let log = dir.join("cache").join(STAMPS);
        let mut bytes = fs::read(&log).unwrap();
        bytes.extend_from_slice(b"0123456789abcdef\tab\t0:1:2");
        fs::write(&log, bytes).unwrap();
        let third = Store::open(&dir).unwrap();
        assert_eq!(third.known_stamp("ab"), Some(file(6)));
        assert_eq!(third.known_stamp("cd.d"), Some(tree));
        assert_eq!(third.known_stamp("ef"), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
