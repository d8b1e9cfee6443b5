//! The remote inputs of one run (or one `expc lock`): each found in the store when it is
//! held there, fetched otherwise, as the mode allows.

use std::path::{Path, PathBuf};

use expc_check::remote_url::RemoteUrl;

use crate::fetch::{self, FetchError};
use crate::lockfile::{LockFile, Locked};
use crate::store::RemoteStore;

/// How a run may reach remote inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// Ask the server again about every input (a conditional request where an ETag is
    /// known), rather than trusting what the store and the lock hold.
    pub refresh: bool,
    /// Refuse content other than the lock file's (and an input the lock does not name).
    pub locked: bool,
    /// Make no request: what the store does not hold is an error.
    pub offline: bool,
}

/// A remote input, where it is in the store and what it is.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub url: String,
    pub path: PathBuf,
    pub locked: Locked,
    /// Whether this run fetched it (else the store held it already).
    pub fetched: bool,
}

/// The remote inputs of one run.
#[derive(Debug)]
pub struct Inputs {
    store: RemoteStore,
    lock: Option<LockFile>,
    known: LockFile,
    mode: Mode,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Inputs {
    /// Opens the remote store of `state_dir`, with the lock file at `lock_path` if there
    /// is one (with `--locked`, there must be).
    pub fn open(state_dir: &Path, lock_path: &Path, mode: Mode) -> Result<Inputs, String> {
        let lock = LockFile::read(lock_path)?;
        if mode.locked && lock.is_none() {
            return Err(format!(
                "--locked, and there is no `{}`: run `expc lock` to write it",
                lock_path.display()
            ));
        }
        let store = RemoteStore::new(state_dir);
        Ok(Inputs {
            known: store.known(),
            store,
            lock,
            mode,
            runtime: None,
        })
    }

    /// The input at `url`, pinned to `pinned` (`sha256:…`/`blake3:…`) if the spec says so.
    pub fn resolve(&mut self, url: &str, pinned: Option<&str>) -> Result<Resolved, String> {
        let parsed = RemoteUrl::parse(url)?;
        let recorded = self
            .lock
            .as_ref()
            .and_then(|l| l.inputs.get(url))
            .or_else(|| self.known.inputs.get(url))
            .filter(|r| self.store.holds(r.sha256_hex()) && pins(r, pinned))
            .cloned();
        if let (false, Some(r)) = (self.mode.refresh, &recorded) {
            return self.held(url, r.clone());
        }
        if let Some(r) = self.pinned_held(pinned).filter(|_| !self.mode.refresh) {
            return self.held(url, r);
        }
        if self.mode.offline {
            return Err(format!(
                "`{url}` is not in the store, and --offline makes no request: run once without --offline (or `expc lock`) to fetch it"
            ));
        }
        let etag = recorded.as_ref().and_then(|r| r.etag.as_deref());
        let store = self.store.clone();
        let fetched = self
            .runtime()?
            .block_on(fetch::fetch(&store, &parsed, etag, pinned));
        let resolved = match (fetched, recorded) {
            (Err(FetchError::NotModified), Some(r)) => self.held(url, r)?,
            (Err(FetchError::NotModified), None) => {
                return Err(format!(
                    "`{url}` answered 304 Not Modified to a request that was not conditional"
                ));
            }
            (Err(FetchError::Failed(why)), _) => return Err(why),
            (Ok(f), _) => Resolved {
                url: url.to_owned(),
                path: f.path,
                locked: f.locked,
                fetched: true,
            },
        };
        self.check_locked(&resolved)?;
        self.store.note(url, &resolved.locked);
        self.known
            .inputs
            .insert(url.to_owned(), resolved.locked.clone());
        Ok(resolved)
    }

    fn held(&self, url: &str, locked: Locked) -> Result<Resolved, String> {
        let resolved = Resolved {
            url: url.to_owned(),
            path: self.store.object(locked.sha256_hex()),
            locked,
            fetched: false,
        };
        self.check_locked(&resolved)?;
        Ok(resolved)
    }

    /// An object the store holds by the SHA-256 the spec pins, known without a request.
    fn pinned_held(&self, pinned: Option<&str>) -> Option<Locked> {
        let hex = pinned?.strip_prefix("sha256:")?;
        let size = std::fs::metadata(self.store.object(hex)).ok()?.len();
        self.store.holds(hex).then(|| Locked {
            digest: format!("sha256:{hex}"),
            size,
            etag: None,
            version: None,
        })
    }

    /// With `--locked`, the content must be the lock file's.
    fn check_locked(&self, r: &Resolved) -> Result<(), String> {
        if !self.mode.locked {
            return Ok(());
        }
        match self.lock.as_ref().and_then(|l| l.inputs.get(&r.url)) {
            None => Err(format!(
                "--locked, and `{}` is not in the lock file: run `expc lock` to add it",
                r.url
            )),
            Some(l) if l.digest != r.locked.digest => Err(format!(
                "--locked, and `{}` changed: the lock file has {}, the server now has {}. Run `expc lock --refresh` to accept the new content, or restore the old one at the server",
                r.url, l.digest, r.locked.digest
            )),
            Some(_) => Ok(()),
        }
    }

    fn runtime(&mut self) -> Result<&tokio::runtime::Runtime, String> {
        let rt = match self.runtime.take() {
            Some(rt) => rt,
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the client of remote inputs: {e}"))?,
        };
        Ok(self.runtime.insert(rt))
    }
}

/// Whether a recorded object is the one the spec pins (a BLAKE3 pin is checked when the
/// run hashes its data).
fn pins(r: &Locked, pinned: Option<&str>) -> bool {
    match pinned.and_then(|p| p.strip_prefix("sha256:")) {
        Some(hex) => hex == r.sha256_hex(),
        None => true,
    }
}
