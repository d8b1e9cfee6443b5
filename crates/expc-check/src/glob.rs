//! File sets: `glob("data/*_{1,2}.fq")` as the value of a data item.
//!
//! A pattern is a `/`-separated path whose components may hold `*` (any run of characters
//! but `/`), `?` (one character), `[abc]`, `[a-z]`, `[!abc]` (one character of a class),
//! `{a,b}` (either alternative; they may nest), and a whole component `**` (any number of
//! folders, none included). A `*`, `?` or class never matches a leading `.` of a name, so
//! hidden files and folders are left out unless the pattern names the dot.
//!
//! The matching is pure; the folders are listed through the checker's [`Loader`], so the
//! file system, editors and tests in memory expand the same way. Matches come back as
//! paths written like the pattern (relative to the declaring file's folder, or absolute),
//! sorted by their bytes, each once.

use std::path::{Path, PathBuf};

use crate::loader::{DirEntry, Loader};

/// The most files one pattern may match: beyond, the expansion stops with an error
/// rather than taking the machine's memory.
pub const MAX_MATCHES: usize = 1_000_000;

/// The longest pattern, the deepest braces and the most folders `**` descends.
const MAX_PATTERN_BYTES: usize = 4096;
const MAX_BRACE_DEPTH: usize = 16;
const MAX_DEPTH: usize = 64;

/// Why a pattern is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(pub String);

/// A parsed pattern: each alternative of its braces, as components.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The components of each alternative of the braces.
    alternatives: Vec<Vec<Component>>,
    absolute: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Component {
    /// A name without wildcards (`.` and `..` included).
    Literal(String),
    /// `**`.
    Any,
    /// A name with wildcards.
    Wild(Vec<Token>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    Question,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError("the pattern is empty".into()));
        }
        if pattern.contains('\0') {
            return Err(PatternError("the pattern holds a NUL character".into()));
        }
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(PatternError(format!(
                "the pattern is longer than {MAX_PATTERN_BYTES} bytes"
            )));
        }
        let mut depth = 0usize;
        for c in pattern.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if depth > MAX_BRACE_DEPTH {
                        return Err(PatternError(format!(
                            "braces nest deeper than {MAX_BRACE_DEPTH}"
                        )));
                    }
                }
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        let absolute = pattern.starts_with('/');
        let mut alternatives = Vec::new();
        for alt in expand_braces(pattern)? {
            let mut comps = Vec::new();
            for part in alt.split('/') {
                if part.is_empty() {
                    continue;
                }
                let c = component(part)?;
                // `**/**` is `**`.
                if c == Component::Any && comps.last() == Some(&Component::Any) {
                    continue;
                }
                comps.push(c);
            }
            if comps.is_empty() {
                return Err(PatternError(format!("`{alt}` names no file")));
            }
            if matches!(comps.last(), Some(Component::Any)) {
                return Err(PatternError(
                    "a pattern ends with a name, not `**` (write `**/*` for every file)".into(),
                ));
            }
            alternatives.push(comps);
        }
        Ok(Pattern {
            alternatives,
            absolute,
        })
    }

    /// Whether `path` (relative, `/`-separated, as the pattern is written) matches.
    pub fn matches(&self, path: &str) -> bool {
        let names: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        self.alternatives
            .iter()
            .any(|a| match_components(a, &names))
    }

    /// Every file under `dir` (the declaring file's folder) that the pattern matches,
    /// written as the pattern is (relative to `dir`, or absolute), sorted by their bytes;
    /// `None` when the loader lists no folders.
    pub fn expand(&self, dir: &Path, loader: &dyn Loader) -> Result<Option<Vec<String>>, String> {
        if let Err(e) = loader.list_dir(dir) {
            if e.kind() == std::io::ErrorKind::Unsupported {
                return Ok(None);
            }
        }
        let mut out = Vec::new();
        for alt in &self.alternatives {
            let base = if self.absolute {
                PathBuf::from("/")
            } else {
                dir.to_path_buf()
            };
            let prefix = if self.absolute { "/" } else { "" };
            walk(loader, &base, prefix.to_owned(), alt, 0, &mut out)?;
        }
        out.sort();
        out.dedup();
        Ok(Some(out))
    }
}

/// `a{b,c}d` as `abd` and `acd`, nesting allowed.
fn expand_braces(p: &str) -> Result<Vec<String>, PatternError> {
    let chars: Vec<char> = p.chars().collect();
    // The first top-level `{` and its matching `}`.
    let mut depth = 0usize;
    let mut open = None;
    let mut in_class = false;
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => {
                if depth == 0 {
                    open = Some(i);
                }
                depth += 1;
            }
            '}' if !in_class => {
                if depth == 0 {
                    return Err(PatternError("a `}` closes no `{`".into()));
                }
                depth -= 1;
                if depth == 0 {
                    let start = open.unwrap_or(0);
                    let head: String = chars[..start].iter().collect();
                    let tail: String = chars[i + 1..].iter().collect();
                    let inner: Vec<char> = chars[start + 1..i].to_vec();
                    let mut out = Vec::new();
                    for option in split_top(&inner) {
                        for rest in expand_braces(&format!("{head}{option}{tail}"))? {
                            out.push(rest);
                            if out.len() > 10_000 {
                                return Err(PatternError(
                                    "the braces give more than 10,000 patterns".into(),
                                ));
                            }
                        }
                    }
                    return Ok(out);
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(PatternError("a `{` is not closed".into()));
    }
    Ok(vec![p.to_owned()])
}

/// The alternatives of a brace's inside, split at its top-level commas.
fn split_top(inner: &[char]) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0usize;
    for &c in inner {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

fn component(part: &str) -> Result<Component, PatternError> {
    if part == "**" {
        return Ok(Component::Any);
    }
    if part.contains("**") {
        return Err(PatternError(format!(
            "`**` stands alone between slashes (`a/**/b`), found `{part}`"
        )));
    }
    if !part.contains(['*', '?', '[']) {
        return Ok(Component::Literal(part.to_owned()));
    }
    let mut tokens = Vec::new();
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::Question),
            '[' => {
                let negated = matches!(chars.peek(), Some('!' | '^'));
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                let mut first = true;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    if chars.peek() == Some(&'-') {
                        let mut ahead = chars.clone();
                        ahead.next();
                        match ahead.peek() {
                            Some(&end) if end != ']' => {
                                chars.next();
                                chars.next();
                                if end < c {
                                    return Err(PatternError(format!(
                                        "the range `{c}-{end}` is backwards"
                                    )));
                                }
                                ranges.push((c, end));
                                continue;
                            }
                            _ => {}
                        }
                    }
                    ranges.push((c, c));
                }
                if !closed {
                    return Err(PatternError("a `[` is not closed".into()));
                }
                tokens.push(Token::Class { negated, ranges });
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    Ok(Component::Wild(tokens))
}

/// Whether a name matches a component's tokens.
fn match_name(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    if name.first() == Some(&'.') && !matches!(tokens.first(), Some(Token::Char('.'))) {
        return false;
    }
    // Iterative matching with one backtrack point per star.
    let (mut t, mut n) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, n));
                t += 1;
                continue;
            }
            Some(Token::Question) => {
                t += 1;
                n += 1;
                continue;
            }
            Some(Token::Char(c)) if *c == name[n] => {
                t += 1;
                n += 1;
                continue;
            }
            Some(Token::Class { negated, ranges })
                if ranges.iter().any(|(a, b)| (*a..=*b).contains(&name[n])) != *negated =>
            {
                t += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((st, sn)) => {
                t = st + 1;
                n = sn + 1;
                star = Some((st, sn + 1));
            }
            None => return false,
        }
    }
    tokens[t.min(tokens.len())..]
        .iter()
        .all(|t| *t == Token::Star)
}

fn match_components(comps: &[Component], names: &[&str]) -> bool {
    match (comps.first(), names.first()) {
        (None, None) => true,
        (Some(Component::Any), _) => {
            // Zero folders, or one (not hidden) and still `**`.
            match_components(&comps[1..], names)
                || names
                    .first()
                    .is_some_and(|n| !n.starts_with('.') && match_components(comps, &names[1..]))
        }
        (Some(Component::Literal(l)), Some(n)) => {
            l == n && match_components(&comps[1..], &names[1..])
        }
        (Some(Component::Wild(t)), Some(n)) => {
            match_name(t, n) && match_components(&comps[1..], &names[1..])
        }
        _ => false,
    }
}

/// Walks `dir` (written `shown` in results) along `comps`, collecting files.
fn walk(
    loader: &dyn Loader,
    dir: &Path,
    shown: String,
    comps: &[Component],
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), String> {
    let Some(first) = comps.first() else {
        return Ok(());
    };
    if depth > MAX_DEPTH {
        return Err(format!("`{shown}` is more than {MAX_DEPTH} folders deep"));
    }
    let last = comps.len() == 1;
    let join = |name: &str| {
        if shown.is_empty() || shown.ends_with('/') {
            format!("{shown}{name}")
        } else {
            format!("{shown}/{name}")
        }
    };
    match first {
        Component::Literal(name) => {
            let path = dir.join(name);
            if last {
                if loader.is_file(&path) {
                    out.push(join(name));
                }
            } else {
                walk(loader, &path, join(name), &comps[1..], depth + 1, out)?;
            }
        }
        Component::Any => {
            // Zero folders here, then each folder below; `**` does not follow links to
            // folders, which could lead back up the tree.
            walk(loader, dir, shown.clone(), &comps[1..], depth, out)?;
            for entry in list(loader, dir)? {
                if entry.is_dir && !entry.is_link && !entry.name.starts_with('.') {
                    walk(
                        loader,
                        &dir.join(&entry.name),
                        join(&entry.name),
                        comps,
                        depth + 1,
                        out,
                    )?;
                }
            }
        }
        Component::Wild(tokens) => {
            for entry in list(loader, dir)? {
                if !match_name(tokens, &entry.name) {
                    continue;
                }
                if last {
                    if !entry.is_dir {
                        out.push(join(&entry.name));
                    }
                } else if entry.is_dir {
                    walk(
                        loader,
                        &dir.join(&entry.name),
                        join(&entry.name),
                        &comps[1..],
                        depth + 1,
                        out,
                    )?;
                }
            }
        }
    }
    if out.len() > MAX_MATCHES {
        return Err(format!("the pattern matches more than {MAX_MATCHES} files"));
    }
    Ok(())
}

/// The entries of a folder; a missing folder has none.
fn list(loader: &dyn Loader, dir: &Path) -> Result<Vec<DirEntry>, String> {
    match loader.list_dir(dir) {
        Ok(entries) => Ok(entries),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(Vec::new()),
        Err(e) => Err(format!("`{}` cannot be listed: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::MemoryLoader;

    fn m(p: &str, path: &str) -> bool {
        Pattern::parse(p).unwrap().matches(path)
    }

    #[test]
    fn wildcards() {
        assert!(m("*.fq", "a.fq"));
        assert!(!m("*.fq", "a.fa"));
        assert!(!m("*.fq", "d/a.fq"));
        assert!(m("a?.fq", "a1.fq"));
        assert!(!m("a?.fq", "a.fq"));
        assert!(m("[ab]*", "b_1"));
        assert!(!m("[!ab]*", "b_1"));
        assert!(m("s[0-9].txt", "s7.txt"));
        assert!(!m("s[0-9].txt", "sx.txt"));
        assert!(m("*_{1,2}.fq", "x_2.fq"));
        assert!(!m("*_{1,2}.fq", "x_3.fq"));
        assert!(m("{a,b{c,d}}.txt", "bd.txt"));
        assert!(m("**/*.fq", "a.fq"));
        assert!(m("**/*.fq", "x/y/a.fq"));
        assert!(m("data/**/r.fq", "data/r.fq"));
        assert!(!m("*", ".hidden"));
        assert!(m(".*", ".hidden"));
        assert!(!m("**/*.fq", ".git/a.fq"));
        assert!(m("*a*b*c", "xxaxbxxcc"));
        assert!(!m("*a*b*c", "xxaxcxxb"));
    }

    #[test]
    fn invalid_patterns() {
        for p in ["", "a{b", "a}b", "[ab", "a/**", "a**b", "[z-a]", "a\0b"] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
        let deep = format!("{}a{}", "{".repeat(10_000), "}".repeat(10_000));
        assert!(Pattern::parse(&deep).is_err());
        assert!(Pattern::parse(&"a".repeat(5000)).is_err());
        // Many alternatives are refused, not expanded without end.
        assert!(Pattern::parse(&"{a,b}".repeat(20)).is_err());
        // Runs of `**` are one.
        assert!(m("**/**/**/**/**/**/**/**/**/**/*.fq", "x/y/a.fq"));
    }

    #[test]
    fn expansion_is_sorted_and_relative() {
        let loader = MemoryLoader::new()
            .with("/p/spec.exp", "")
            .with("/p/data/b_1.fq", "")
            .with("/p/data/a_2.fq", "")
            .with("/p/data/a_1.fq", "")
            .with("/p/data/a_3.fq", "")
            .with("/p/data/sub/c_1.fq", "")
            .with("/p/other/d_1.fq", "");
        let got = Pattern::parse("data/*_{2,1}.fq")
            .unwrap()
            .expand(Path::new("/p"), &loader)
            .unwrap()
            .unwrap();
        assert_eq!(got, ["data/a_1.fq", "data/a_2.fq", "data/b_1.fq"]);
        let got = Pattern::parse("**/*_1.fq")
            .unwrap()
            .expand(Path::new("/p"), &loader)
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            [
                "data/a_1.fq",
                "data/b_1.fq",
                "data/sub/c_1.fq",
                "other/d_1.fq"
            ]
        );
        let got = Pattern::parse("../other/*")
            .unwrap()
            .expand(Path::new("/p/data"), &loader)
            .unwrap()
            .unwrap();
        assert_eq!(got, ["../other/d_1.fq"]);
        let got = Pattern::parse("/p/other/*.fq")
            .unwrap()
            .expand(Path::new("/elsewhere"), &loader)
            .unwrap()
            .unwrap();
        assert_eq!(got, ["/p/other/d_1.fq"]);
        let got = Pattern::parse("nothing/*")
            .unwrap()
            .expand(Path::new("/p"), &loader)
            .unwrap()
            .unwrap();
        assert!(got.is_empty());
    }
}
