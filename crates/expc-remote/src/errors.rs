//! A failed request, told as what happened at which URL and what to do about it.

use expc_check::remote_url::RemoteUrl;

/// The message for a request to `url` that failed with `e` (after the client's retries).
pub(crate) fn explain(url: &RemoteUrl, e: &object_store::Error) -> String {
    use object_store::Error as E;
    let detail = e.to_string();
    let s3 = matches!(url, RemoteUrl::S3 { .. });
    match e {
        E::NotFound { .. } if detail.contains("NoSuchBucket") => {
            let bucket = match url {
                RemoteUrl::S3 { bucket, .. } => bucket.as_str(),
                _ => "",
            };
            format!(
                "the bucket `{bucket}` of `{url}` does not exist{}: check the bucket's name, and AWS_ENDPOINT_URL for an S3-compatible store",
                endpoint()
            )
        }
        E::NotFound { .. } => format!(
            "`{url}` does not exist (404 Not Found): check the URL, or that the file was uploaded"
        ),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } if s3 => format!(
            "`{url}` refused access ({}): check the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that they may read the object",
            status(&detail, "403 Forbidden")
        ),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => format!(
            "`{url}` refused access ({}): the server needs credentials expc does not send for HTTP inputs; download the file and declare the local copy, or serve it without a login",
            status(&detail, "403 Forbidden")
        ),
        _ if is_timeout(e) => format!(
            "`{url}` did not answer in time, after retries: check that the server is up and reachable from here; a slow link may need a longer EXPC_FETCH_TIMEOUT (seconds)"
        ),
        _ => format!(
            "cannot fetch `{url}`: {detail}. Check the URL and that the server is reachable"
        ),
    }
}

fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(e) if !e.is_empty() => format!(" at {e}"),
        _ => String::new(),
    }
}

fn status<'a>(detail: &str, fallback: &'a str) -> std::borrow::Cow<'a, str> {
    if detail.contains("401") {
        "401 Unauthorized".into()
    } else {
        fallback.into()
    }
}

fn is_timeout(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("timeout") {
            return true;
        }
        source = s.source();
    }
    false
}
