//! `expc.lock`: what each remote input of a spec was when it was locked.
//!
//! Like `Cargo.lock`, it is meant to be committed beside the spec: a colleague's run then
//! gets the same bytes, or a clear error. The file is JSON with sorted keys and a fixed
//! field order, so locking twice gives the same bytes and a diff shows what moved.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The lock file's name, beside the spec it locks.
pub const LOCK_FILE: &str = "expc.lock";

/// The version of the lock file's shape.
const LOCK_VERSION: u32 = 1;

/// What a remote input was: its content digest and size, and what its server calls this
/// version of it (for conditional requests and for provenance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    /// `sha256:` and 64 hex digits.
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The object's version id, where the store keeps versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Locked {
    /// The hex digits of the SHA-256, which name the object in the store.
    pub fn sha256_hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

/// Every locked input, by URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    version: u32,
    pub inputs: BTreeMap<String, Locked>,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile::new()
    }
}

impl LockFile {
    pub fn new() -> Self {
        LockFile {
            version: LOCK_VERSION,
            inputs: BTreeMap::new(),
        }
    }

    /// Reads a lock file; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<LockFile>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
        };
        let lock: LockFile = serde_json::from_str(&text).map_err(|e| {
            format!(
                "`{}` is not a lock file expc can read ({e}): restore it from version control, or delete it and run `expc lock`",
                path.display()
            )
        })?;
        if lock.version != LOCK_VERSION {
            return Err(format!(
                "`{}` is a lock file of version {}, and this expc reads version {LOCK_VERSION}: run `expc lock` to write it again",
                path.display(),
                lock.version
            ));
        }
        Ok(Some(lock))
    }

    /// The file's text: the same inputs always give the same bytes.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the file whole, by rename, so a reader never sees half of it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("lock.tmp-{}", std::process::id()));
        std::fs::write(&tmp, self.to_text())?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_sorted_and_reads_back() {
        let mut lock = LockFile::new();
        for url in ["s3://b/z", "https://h/a"] {
            lock.inputs.insert(
                url.into(),
                Locked {
                    digest: format!("sha256:{}", "0".repeat(64)),
                    size: 3,
                    etag: Some("\"e\"".into()),
                    version: None,
                },
            );
        }
        let text = lock.to_text();
        assert!(text.find("https://h/a").unwrap() < text.find("s3://b/z").unwrap());
        assert!(!text.contains("version\": null"));
        let dir = std::env::temp_dir().join(format!("expc-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LOCK_FILE);
        lock.write(&path).unwrap();
        assert_eq!(LockFile::read(&path).unwrap(), Some(lock));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
