//! Data that lives elsewhere: `https://…`, `http://…`, `s3://bucket/key` and
//! `git(repo, rev, path)` inputs.
//!
//! A remote input is fetched once into the remote part of the content store
//! (`.expc/remote/`), streamed to a temporary file in the same folder, checked against its
//! size and any digest it is pinned to, and only then renamed to its name — the SHA-256 of
//! its content — so the store never holds half an object. `expc.lock` ([`LockFile`]) pins
//! each URL to the digest (and ETag or version id) it had, as `Cargo.lock` pins crates; a
//! run that holds an input (in the store, by the lock's or the store's own record) makes
//! no request for it ([`Inputs::resolve`]).
//!
//! What it must not do: record or print a credential (S3 credentials are read from the
//! environment by the client and never leave it); leave a partial object under a digest's
//! name; retry a failure that a retry cannot mend (only timeouts, dropped connections and
//! server errors are retried, with backoff, by `object_store`'s client).

mod errors;
mod fetch;
mod git;
mod inputs;
mod lockfile;
mod store;

pub use expc_check::remote_url::RemoteUrl;
pub use fetch::FetchError;
pub use inputs::{Inputs, Mode, Resolved};
pub use lockfile::{LOCK_FILE, LockFile, Locked};
pub use store::RemoteStore;
