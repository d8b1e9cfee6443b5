//! The remote part of the content store, `.expc/remote/`: fetched objects named by their
//! SHA-256 (`sha256/HEX`), read-only; `tmp/`, where a fetch streams before it is verified
//! and renamed; and `known.json`, what the store last learnt of each URL (the same shape
//! as `expc.lock`), so a run without a lock file makes no request for what it fetched.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::lockfile::{LockFile, Locked};

#[derive(Clone, Debug)]
pub struct RemoteStore {
    dir: PathBuf,
}

impl RemoteStore {
    /// The remote store of the state folder `state_dir` (nothing is created yet).
    pub fn new(state_dir: &Path) -> Self {
        RemoteStore {
            dir: state_dir.join("remote"),
        }
    }

    /// Where the object with this SHA-256 is (or would be).
    pub fn object(&self, sha256_hex: &str) -> PathBuf {
        self.dir.join("sha256").join(sha256_hex)
    }

    pub fn holds(&self, sha256_hex: &str) -> bool {
        sha256_hex.len() == 64
            && sha256_hex.bytes().all(|b| b.is_ascii_hexdigit())
            && self.object(sha256_hex).is_file()
    }

    /// A new temporary file in the store's folder (on its file system, so the rename that
    /// publishes it is atomic). Files left by processes that died are removed first.
    pub(crate) fn temp(&self) -> std::io::Result<(PathBuf, File)> {
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(self.dir.join("sha256"))?;
        self.clean_tmp(&tmp);
        let mut n = 0u64;
        loop {
            let path = tmp.join(format!("{}-{n}", std::process::id()));
            match File::create_new(&path) {
                Ok(f) => return Ok((path, f)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    fn clean_tmp(&self, tmp: &Path) {
        let Ok(entries) = std::fs::read_dir(tmp) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().unwrap_or_default();
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_file(e.path());
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Moves a verified temporary file to its name; read-only, since tasks read it in place.
    pub(crate) fn publish(&self, tmp: &Path, sha256_hex: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let to = self.object(sha256_hex);
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o444))?;
        std::fs::rename(tmp, &to)?;
        Ok(to)
    }

    fn known_path(&self) -> PathBuf {
        self.dir.join("known.json")
    }

    /// What the store learnt of each URL (empty when nothing, or when the file is damaged:
    /// it only saves requests).
    pub fn known(&self) -> LockFile {
        LockFile::read(&self.known_path())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Notes what `url` was found to be.
    pub(crate) fn note(&self, url: &str, locked: &Locked) {
        let mut known = self.known();
        if known.inputs.get(url) == Some(locked) {
            return;
        }
        known.inputs.insert(url.to_owned(), locked.clone());
        let _ = std::fs::create_dir_all(&self.dir);
        let _ = known.write(&self.known_path());
    }
}
