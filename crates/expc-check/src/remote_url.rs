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
    /// `git(repo, rev, path)`: a file at a revision of a git repository, written in a
    /// data item's path as `git+REPO#REV:PATH` ([`RemoteUrl::git`]).
    Git {
        repo: String,
        rev: String,
        path: String,
    },
}

/// The schemes of the repositories `git(…)` fetches from (`ext::` and the like, which run
/// commands, are not among them).
pub const GIT_SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file"];

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
            _ if scheme.starts_with("git+") => RemoteUrl::parse_git(&text[4..]),
            other => Err(format!(
                "`{other}://` is not a kind of remote input expc reads (https://, http:// and s3:// are)"
            )),
        }
    }
}

impl RemoteUrl {
    /// A file `path` at revision `rev` of the repository `repo`, checked as `git(…)` is.
    pub fn git(repo: &str, rev: &str, path: &str) -> Result<RemoteUrl, String> {
        let scheme = repo.split_once("://").map(|(s, _)| s);
        if !scheme.is_some_and(|s| GIT_SCHEMES.contains(&s)) {
            return Err(format!(
                "`{repo}` is not a repository URL expc fetches from: write it with one of {}://",
                GIT_SCHEMES.join("://, ")
            ));
        }
        if rev.is_empty() || rev.starts_with('-') || rev.contains([':', ' ', '#']) {
            return Err(format!("`{rev}` is not a branch, tag or commit"));
        }
        if path.is_empty()
            || path.starts_with('/')
            || path.ends_with('/')
            || path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Err(format!(
                "`{path}` is not the path of a file inside the repository"
            ));
        }
        Ok(RemoteUrl::Git {
            repo: repo.to_owned(),
            rev: rev.to_owned(),
            path: path.to_owned(),
        })
    }

    fn parse_git(text: &str) -> Result<RemoteUrl, String> {
        let (repo, at) = text
            .rsplit_once('#')
            .ok_or_else(|| format!("`git+{text}` names no revision"))?;
        let (rev, path) = at
            .split_once(':')
            .ok_or_else(|| format!("`git+{text}` names no file"))?;
        RemoteUrl::git(repo, rev, path)
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteUrl::Http { origin, path } => write!(f, "{origin}/{path}"),
            RemoteUrl::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            RemoteUrl::Git { repo, rev, path } => write!(f, "git+{repo}#{rev}:{path}"),
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
        let git = RemoteUrl::git("file:///r.git", "v1", "d/x.csv").unwrap();
        assert_eq!(git.to_string(), "git+file:///r.git#v1:d/x.csv");
        assert_eq!(RemoteUrl::parse(&git.to_string()).unwrap(), git);
        assert!(is_remote(&git.to_string()));
        for (repo, rev, path) in [
            ("ext::sh -c x", "v1", "x"),
            ("/local/repo", "v1", "x"),
            ("file:///r", "-x", "x"),
            ("file:///r", "v1", "../x"),
            ("file:///r", "v1", "/x"),
            ("file:///r", "", "x"),
        ] {
            assert!(
                RemoteUrl::git(repo, rev, path).is_err(),
                "{repo} {rev} {path}"
            );
        }
        assert!(!is_remote("a b://c"));
    }
}
