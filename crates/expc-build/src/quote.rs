//! Shell quoting for generated scripts: every value from a spec or a param becomes one
//! word that bash reads back byte for byte, with no expansion of any kind.
//!
//! A word is single-quoted (`'…'`); a `'` inside it closes the quotes, adds an escaped
//! quote and opens them again (`'\''`). Inside single quotes bash expands nothing: not
//! `$`, not backticks, not `\`, not `!` (history expansion is off in scripts), and a
//! newline is part of the word. Words made only of characters no shell treats specially
//! are left bare, so that scripts stay readable.

/// Characters that are never special to bash, anywhere in a word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '+' | '@' | '%' | '-' | ',')
}

/// `s` as one bash word. `s` must not contain a NUL byte, which no argument can hold
/// (builders check this first: see [`has_nul`]).
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_plain) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Whether `s` holds a NUL byte, which cannot be passed as an argument or a variable.
pub fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// A piece of a generated word: literal text, or a variable of the script that is set at
/// run time (the run directory, the instance's work directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    /// A script variable by name; written as `"${name}"`, so its value is not split or
    /// globbed either.
    Var(String),
}

/// Segments as one bash word: literal text single-quoted, variables double-quoted.
pub fn quote_word(segments: &[Segment]) -> String {
    let mut out = String::new();
    let mut text = String::new();
    for s in segments {
        match s {
            Segment::Text(t) => text.push_str(t),
            Segment::Var(v) => {
                if !text.is_empty() {
                    out.push_str(&quote(&text));
                    text.clear();
                }
                out.push_str("\"${");
                out.push_str(v);
                out.push_str("}\"");
            }
        }
    }
    if !text.is_empty() {
        out.push_str(&quote(&text));
    }
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// A string as the body of a JSON string (without the quotes).
pub fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads one word written by [`quote`] the way a POSIX shell does: single quotes
    /// keep everything, a backslash outside quotes keeps the next character.
    fn unquote(word: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = word.chars();
        while let Some(c) = chars.next() {
            match c {
                '\'' => loop {
                    match chars.next()? {
                        '\'' => break,
                        c => out.push(c),
                    }
                },
                '\\' => out.push(chars.next()?),
                c if is_plain(c) => out.push(c),
                _ => return None,
            }
        }
        Some(out)
    }

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(quote("python3"), "python3");
        assert_eq!(quote("--lr"), "--lr");
        assert_eq!(quote("data/x.csv"), "data/x.csv");
        assert_eq!(quote("50%"), "50%");
    }

    #[test]
    fn hostile_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("--flag=x"), "'--flag=x'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("é"), "'é'");
    }

    #[test]
    fn words_join_text_and_variables() {
        let w = [
            Segment::Text("--out=".into()),
            Segment::Var("work".into()),
            Segment::Text("/it's.json".into()),
        ];
        assert_eq!(quote_word(&w), "'--out='\"${work}\"'/it'\\''s.json'");
        assert_eq!(quote_word(&[]), "''");
        assert_eq!(quote_word(&[Segment::Text(String::new())]), "''");
        let joined = [Segment::Text("A=".into()), Segment::Text("it's".into())];
        assert_eq!(quote_word(&joined), "'A=it'\\''s'");
    }

    #[test]
    fn json_escape_escapes_quotes_and_controls() {
        assert_eq!(json_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(json_escape(""), "");
    }

    proptest! {
        #[test]
        fn quote_reads_back_exactly(s in "\\PC*|[\\x01-\\x7f]*") {
            let q = quote(&s);
            prop_assert_eq!(unquote(&q), Some(s));
        }
    }

    /// The real check: bash itself reads every quoted word back byte for byte.
    #[test]
    fn bash_reads_quoted_words_back_exactly() {
        if std::process::Command::new("bash")
            .arg("-c")
            .arg("true")
            .status()
            .is_err()
        {
            panic!("bash is needed to test quoting");
        }
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            ..ProptestConfig::default()
        });
        let strategy = proptest::collection::vec(
            "\\PC*|[\\x01-\\x7f]{0,12}|[-$`'\"\\\\ \n%(){}!*?~#;&|<>]{0,12}",
            1..8,
        );
        runner
            .run(&strategy, |words| {
                let script = format!(
                    "printf '%s\\0' {}",
                    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
                );
                let out = std::process::Command::new("bash")
                    .arg("-c")
                    .arg(&script)
                    .output()
                    .expect("bash runs");
                let mut expected = Vec::new();
                for w in &words {
                    expected.extend_from_slice(w.as_bytes());
                    expected.push(0);
                }
                prop_assert_eq!(out.stdout, expected, "script: {}", script);
                Ok(())
            })
            .unwrap();
    }
}
