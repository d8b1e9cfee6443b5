//! Kubernetes names and label values, and the checks of names a spec gives verbatim.
//!
//! Names expc derives (Jobs, ConfigMaps, label values) are made valid: lowercased, other
//! characters replaced, and, whenever that changed the text or it had to be cut, suffixed
//! with a hash of the original so two different originals never meet. Names a spec gives
//! for objects that already exist (a namespace, a claim, a ConfigMap) are checked instead:
//! changing them would point at another object.

use sha2::{Digest, Sha256};

/// The longest DNS-1123 label (names of Jobs, namespaces, volumes; label values too).
pub const MAX_LABEL: usize = 63;

/// The first `n` hex digits of the SHA-256 of `bytes`.
pub fn hash_hex(bytes: &[u8], n: usize) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out.truncate(n);
    out
}

/// Whether `s` is a DNS-1123 label: 1 to 63 of `a-z`, `0-9`, `-`, starting and ending
/// with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a DNS-1123 subdomain: at most 253 characters of labels joined by `.`
/// (names of ConfigMaps, claims, Secrets, service accounts).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Whether `s` is a label value: at most 63 of alphanumerics, `-`, `_`, `.`, starting and
/// ending with an alphanumeric (or empty).
pub fn is_label_value(s: &str) -> bool {
    s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

/// Whether `s` is a qualified name (label keys, extended resource names): an optional
/// DNS subdomain prefix and `/`, then at most 63 alphanumerics, `-`, `_`, `.`, starting
/// and ending with an alphanumeric.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// Whether `s` is an environment variable name a shell can export.
pub fn is_env_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `raw` as a DNS-1123 label of at most `max` characters (`max` ≥ 10): lowercased, every
/// other character `-`, outer `-` trimmed; suffixed with `-` and 8 hex digits of the
/// hash of `raw` when that changed anything or the text is longer than `max`.
pub fn dns_label(raw: &str, max: usize) -> String {
    dns_label_showing(raw, raw, max)
}

/// As [`dns_label`], with the readable part taken from `shown` (a shortened form of
/// `raw`) whenever it differs from `raw`; the hash is always of `raw`.
pub fn dns_label_showing(raw: &str, shown: &str, max: usize) -> String {
    let max = max.clamp(10, MAX_LABEL);
    let mapped: String = shown
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed == raw && raw.len() <= max {
        return raw.to_owned();
    }
    let keep = &trimmed[..trimmed.len().min(max - 9)];
    let keep = keep.trim_end_matches('-');
    let hash = hash_hex(raw.as_bytes(), 8);
    if keep.is_empty() {
        hash
    } else {
        format!("{keep}-{hash}")
    }
}

/// `raw` as a label value: other characters `-`, outer non-alphanumerics trimmed; hash
/// suffixed as in [`dns_label`] when changed or longer than 63.
pub fn label_value(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed == raw && raw.len() <= MAX_LABEL {
        return raw.to_owned();
    }
    let keep = &trimmed[..trimmed.len().min(MAX_LABEL - 9)];
    let keep = keep.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    let hash = hash_hex(raw.as_bytes(), 8);
    if keep.is_empty() {
        hash
    } else {
        format!("{keep}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_valid_and_kept_when_already_valid() {
        assert_eq!(dns_label("detection-c", 54), "detection-c");
        let changed = dns_label("Detection_c", 54);
        assert!(changed.starts_with("detection-c-"), "{changed}");
        assert!(is_dns_label(&changed));
        assert_ne!(dns_label("a_b", 54), dns_label("a-b-", 54));
        let long = "x".repeat(200);
        let cut = dns_label(&long, 54);
        assert_eq!(cut.len(), 54);
        assert!(is_dns_label(&cut));
        assert_ne!(cut, dns_label(&"x".repeat(201), 54));
        assert!(is_dns_label(&dns_label("___", 54)));
        assert!(is_dns_label(&dns_label("é-ü", 54)));
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("train"), "train");
        assert_eq!(label_value("lib_x.y"), "lib_x.y");
        for raw in [
            "task#2",
            "lib/common.exp::collect",
            "_x_",
            &"y".repeat(80),
            "ä",
        ] {
            let v = label_value(raw);
            assert!(is_label_value(&v) && !v.is_empty(), "{raw} -> {v}");
            assert_ne!(v, raw);
        }
    }

    #[test]
    fn checks_of_given_names() {
        assert!(is_dns_subdomain("vision-lab.data"));
        assert!(!is_dns_subdomain("Vision"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(is_qualified_name("nvidia.com/gpu"));
        assert!(is_qualified_name("cloud.example.org/accelerator"));
        assert!(!is_qualified_name("nvidia.com/"));
        assert!(!is_qualified_name("bad key"));
        assert!(is_env_name("LAB_TOKEN"));
        assert!(!is_env_name("1X"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
