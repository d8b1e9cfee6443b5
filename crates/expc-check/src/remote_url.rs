//! The URL of a remote input, as a spec writes it: read here, without IO, so the checker
//! and the run (`expc-remote`) agree on what is remote and what a URL names.

use std::fmt;

/// Where a remote input lives: an HTTP(S) URL, or an object of an S3(-compatible) bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteUrl {
    /// `https://host/path` (or `http://`): the server's origin and the object's path.
    Http { origin: String, path: String },
    /// `s3://bucket/key`: the endpoint, region and credentials come from the environment.
    S3 { bucket: String, key: String },
}

/// Whether a path as written in a spec names a remote input (it has a scheme).
pub fn is_remote(path: &str) -> bool {
    path.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
    })
}

impl RemoteUrl {
    /// Reads a URL as written in a spec; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<RemoteUrl, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!("`{text}` is not a URL"));
        };
        match scheme {
            "http" | "https" => {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                if host.is_empty() {
                    return Err(format!("`{text}` names no host"));
                }
                if path.is_empty() || path.ends_with('/') {
                    return Err(format!("`{text}` names no file"));
                }
                Ok(RemoteUrl::Http {
                    origin: format!("{scheme}://{host}"),
                    path: path.to_owned(),
                })
            }
            "s3" => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("`{text}` names no bucket"));
                }
                if key.is_empty() || key.ends_with('/') {
                    return Err(format!("`{text}` names no object in bucket `{bucket}`"));
                }
                Ok(RemoteUrl::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                })
            }
            other => Err(format!(
                "`{other}://` is not a kind of remote input expc reads (https://, http:// and s3:// are)"
            )),
        }
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteUrl::Http { origin, path } => write!(f, "{origin}/{path}"),
            RemoteUrl::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kinds_of_url() {
        assert_eq!(
            RemoteUrl::parse("https://h:8/a/b.csv").unwrap(),
            RemoteUrl::Http {
                origin: "https://h:8".into(),
                path: "a/b.csv".into()
            }
        );
        assert_eq!(
            RemoteUrl::parse("s3://bkt/x/y.csv").unwrap(),
            RemoteUrl::S3 {
                bucket: "bkt".into(),
                key: "x/y.csv".into()
            }
        );
        for bad in [
            "s3://",
            "s3://bkt",
            "s3://bkt/",
            "https:///x",
            "https://h",
            "ftp://h/x",
        ] {
            assert!(RemoteUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(is_remote("s3://b/k") && is_remote("ftp://x") && !is_remote("data/x.csv"));
        assert!(!is_remote("a b://c"));
    }
}
