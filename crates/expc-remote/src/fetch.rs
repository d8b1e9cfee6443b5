//! One fetch: a GET streamed into the store, hashed on the way, verified, renamed.
//!
//! The client is `object_store`'s, for HTTP(S) and S3 alike: it signs S3 requests with
//! credentials it reads from the environment (and never shows), and retries, with
//! exponential backoff, timeouts, dropped connections and server errors — never a 4xx.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use expc_check::remote_url::RemoteUrl;
use futures_util::StreamExt;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, ObjectStore, RetryConfig, path::Path as ObjectPath,
};
use sha2::Digest;

use crate::lockfile::Locked;
use crate::store::RemoteStore;

/// Why a fetch did not give an object.
#[derive(Debug)]
pub enum FetchError {
    /// A conditional request found the object unchanged.
    NotModified,
    /// The message says what failed, at which URL, and what to do.
    Failed(String),
}

/// A fetched object, in the store.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub path: PathBuf,
    pub locked: Locked,
}

/// The client of one URL's store, and the object's path in it.
fn client(url: &RemoteUrl) -> Result<(Arc<dyn ObjectStore>, ObjectPath), String> {
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(120),
    };
    let options = ClientOptions::new()
        .with_allow_http(true)
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(timeout());
    match url {
        RemoteUrl::Http { origin, path } => {
            let store = object_store::http::HttpBuilder::new()
                .with_url(origin.clone())
                .with_client_options(options)
                .with_retry(retry)
                .build()
                .map_err(|e| format!("cannot reach `{url}`: {e}"))?;
            let path = ObjectPath::parse(path).map_err(|e| format!("`{url}`: {e}"))?;
            Ok((Arc::new(store), path))
        }
        RemoteUrl::Git { .. } => Err(format!("`{url}` is fetched with git")),
        RemoteUrl::S3 { bucket, key } => {
            credentials_present(url)?;
            let store = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket.clone())
                .with_client_options(options)
                .with_retry(retry)
                .build()
                .map_err(|e| {
                    format!("cannot reach `{url}`: {e}. Set AWS_REGION (and AWS_ENDPOINT_URL for an S3-compatible store)")
                })?;
            let path = ObjectPath::parse(key).map_err(|e| format!("`{url}`: {e}"))?;
            Ok((Arc::new(store), path))
        }
    }
}

/// How long one request may take, body included: `EXPC_FETCH_TIMEOUT` seconds, else an hour.
fn timeout() -> Duration {
    std::env::var("EXPC_FETCH_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(Duration::from_secs(3600), Duration::from_secs_f64)
}

/// S3 credentials come from the environment, as the AWS tools read them; without them the
/// client would ask the cloud's instance metadata service, which is not there off a cloud.
fn credentials_present(url: &RemoteUrl) -> Result<(), String> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let anonymous = std::env::var("AWS_SKIP_SIGNATURE").is_ok_and(|v| v == "true" || v == "1");
    if anonymous
        || (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"))
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        return Ok(());
    }
    Err(format!(
        "no S3 credentials to fetch `{url}`: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones) in the environment, or AWS_SKIP_SIGNATURE=true for a public bucket"
    ))
}

/// Fetches `url` into `store` (with `If-None-Match: etag` when given), checking the bytes
/// against `pinned` (`sha256:…` or `blake3:…`) before they get their name.
pub(crate) async fn fetch(
    store: &RemoteStore,
    url: &RemoteUrl,
    if_none_match: Option<&str>,
    pinned: Option<&str>,
) -> Result<Fetched, FetchError> {
    if let RemoteUrl::Git { repo, rev, path } = url {
        let shown = url.to_string();
        let (path, locked) = crate::git::fetch(store, &shown, (repo, rev, path), pinned)
            .map_err(FetchError::Failed)?;
        return Ok(Fetched { path, locked });
    }
    let (client, path) = client(url).map_err(FetchError::Failed)?;
    let options = GetOptions {
        if_none_match: if_none_match.map(str::to_owned),
        ..GetOptions::default()
    };
    let result = match client.get_opts(&path, options).await {
        Ok(r) => r,
        Err(object_store::Error::NotModified { .. }) => return Err(FetchError::NotModified),
        Err(e) => return Err(FetchError::Failed(crate::errors::explain(url, &e))),
    };
    let meta = result.meta.clone();
    let (tmp, file) = store.temp().map_err(|e| {
        FetchError::Failed(format!("cannot write into the store to fetch `{url}`: {e}"))
    })?;
    let written = stream_into(result.into_stream(), file)
        .await
        .map_err(|e| format!("`{url}`: {e}"));
    let outcome = written.and_then(|(sha, b3, size)| {
        if size != meta.size {
            return Err(format!(
                "`{url}` was cut off: {size} of {} bytes arrived. Nothing was kept; run again to fetch it again",
                meta.size
            ));
        }
        check_pinned(&url.to_string(), pinned, &sha, &b3)?;
        let to = store
            .publish(&tmp, &sha)
            .map_err(|e| format!("cannot store `{url}`: {e}"))?;
        Ok(Fetched {
            path: to,
            locked: Locked {
                digest: format!("sha256:{sha}"),
                size,
                etag: meta.e_tag.clone(),
                version: meta.version.clone(),
            },
        })
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome.map_err(FetchError::Failed)
}

/// Writes the body to `file`, hashing it: (SHA-256 hex, BLAKE3 hex, bytes).
async fn stream_into<S, B>(
    mut body: S,
    file: std::fs::File,
) -> Result<(String, String, u64), String>
where
    S: futures_util::Stream<Item = object_store::Result<B>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut sha = sha2::Sha256::new();
    let mut b3 = blake3::Hasher::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            format!("the download broke off after {size} bytes ({e}). Nothing was kept; run again to fetch it again")
        })?;
        let chunk = chunk.as_ref();
        sha.update(chunk);
        b3.update(chunk);
        size += chunk.len() as u64;
        out.write_all(chunk)
            .map_err(|e| format!("cannot write into the store: {e}"))?;
    }
    out.flush()
        .map_err(|e| format!("cannot write into the store: {e}"))?;
    Ok((
        hex(&sha.finalize()),
        b3.finalize().to_hex().to_string(),
        size,
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored file's digests and size: (SHA-256 hex, BLAKE3 hex, bytes).
pub(crate) fn hash_file(path: &std::path::Path) -> std::io::Result<(String, String, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut sha = sha2::Sha256::new();
    let mut b3 = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        b3.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        hex(&sha.finalize()),
        b3.finalize().to_hex().to_string(),
        size,
    ))
}

/// The fetched bytes must be the ones the spec pins.
pub(crate) fn check_pinned(
    url: &str,
    pinned: Option<&str>,
    sha: &str,
    b3: &str,
) -> Result<(), String> {
    let Some(pinned) = pinned else {
        return Ok(());
    };
    let got = match pinned.split_once(':') {
        Some(("sha256", _)) => format!("sha256:{sha}"),
        Some(("blake3", _)) => format!("blake3:{b3}"),
        _ => return Ok(()),
    };
    if got == pinned {
        return Ok(());
    }
    Err(format!(
        "`{url}` does not match the digest the spec pins: expected {pinned}, got {got}. Nothing was kept. If the new content is the one you want, update `digest` in the spec"
    ))
}
