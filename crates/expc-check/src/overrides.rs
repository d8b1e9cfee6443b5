//! Param overrides from the command line: `-p name=value`.

use crate::defs::DefId;
use crate::types::Type;
use crate::value::Value;

/// Values given for params, in the order given: a later one wins.
///
/// A value from the command line (`-p NAME=VALUE`, [`Overrides::push_assignment`]) for a
/// `String` or `Path` param is taken literally, byte for byte: quotes in it are part of
/// the value (`-p b='"x"'` is the three characters `"x"`), as the shell left them. Every
/// other value is read as a literal of the param's type, where a quoted whole is its text.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Name, text, and whether the text is verbatim (from `-p`).
    values: Vec<(String, String, bool)>,
    /// The profile to apply (`--profile NAME`).
    profile: Option<String>,
    /// Placements moved on the command line (`--on FROM=TO`), in order: they apply after
    /// the profile's, a later one winning.
    moves: Vec<(String, String)>,
    /// Where each name given by a params file was given: the file and the key's line.
    origins: Vec<(String, String, Option<usize>)>,
}

impl Overrides {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `NAME=VALUE`.
    pub fn push_assignment(&mut self, text: &str) -> Result<(), String> {
        let Some((name, value)) = text.split_once('=') else {
            return Err(format!("`{text}` is not `NAME=VALUE`"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("`{text}` has no param name before `=`"));
        }
        self.values.push((name.to_owned(), value.to_owned(), true));
        Ok(())
    }

    /// Applies the profile `name` (`--profile NAME`).
    pub fn set_profile(&mut self, name: impl Into<String>) {
        self.profile = Some(name.into());
    }

    /// The profile to apply, if one was named.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// Parses `FROM=TO` (`--on laptop=cluster`): calls placed on `FROM` run on `TO`.
    pub fn push_move(&mut self, text: &str) -> Result<(), String> {
        let Some((from, to)) = text.split_once('=') else {
            return Err(format!("`{text}` is not `FROM=TO`"));
        };
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err(format!("`{text}` needs a resource on each side of `=`"));
        }
        self.moves.push((from.to_owned(), to.to_owned()));
        Ok(())
    }

    /// The placements moved with `--on`, in order.
    pub fn moves(&self) -> &[(String, String)] {
        &self.moves
    }

    /// Adds the values of a params file (YAML: a mapping from names to values).
    pub fn push_yaml(&mut self, text: &str) -> Result<(), String> {
        for (name, value) in crate::yaml::params(text)? {
            self.push(name, value);
        }
        Ok(())
    }

    /// As [`Self::push_yaml`], noting that the names come from the file `file`, and on
    /// which line, for the messages about them.
    pub fn push_yaml_file(&mut self, text: &str, file: &str) -> Result<(), String> {
        for (name, value) in crate::yaml::params(text)? {
            let line = crate::yaml::path_line(text, &name);
            self.origins.push((name.clone(), file.to_owned(), line));
            self.push(name, value);
        }
        Ok(())
    }

    /// Where `name` was given, when the last value given for it came from a params file:
    /// `params.yaml, line 3`.
    pub fn origin(&self, name: &str) -> Option<String> {
        let (_, _, verbatim) = self.values.iter().rev().find(|(n, _, _)| n == name)?;
        if *verbatim {
            return None;
        }
        let (_, file, line) = self.origins.iter().rev().find(|(n, _, _)| n == name)?;
        Some(match line {
            Some(l) => format!("`{file}`, line {l}"),
            None => format!("`{file}`"),
        })
    }

    /// A value as a literal of the param's type (a params file's; quotes are read).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.push((name.into(), value.into(), false));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_verbatim(name).map(|(v, _)| v)
    }

    /// The value and whether it is verbatim: given with `-p`, so that a `String` or
    /// `Path` param takes it byte for byte.
    pub fn get_verbatim(&self, name: &str) -> Option<(&str, bool)> {
        self.values
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, verbatim)| (v.as_str(), *verbatim))
    }

    /// The fields of the record param `param` that are set (`-p train.lr=…`, a section
    /// `train:` of a params file): each field's path below the param (`lr`, `opt.name`),
    /// once, in order of first appearance, with the last value given for it and whether
    /// that value is verbatim.
    pub fn fields_of(&self, param: &str) -> Vec<(&str, &str, bool)> {
        let mut out: Vec<(&str, &str, bool)> = Vec::new();
        for (n, v, verbatim) in &self.values {
            let Some(path) = n.strip_prefix(param).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            match out.iter_mut().find(|(p, _, _)| *p == path) {
                Some(slot) => *slot = (path, v, *verbatim),
                None => out.push((path, v, *verbatim)),
            }
        }
        out
    }

    /// How the messages name where `name` was set: `` `train.lr` in `p.yaml`, line 3 ``
    /// for a params file, `` `-p train.lr=…` `` for the command line.
    pub fn given(&self, name: &str) -> String {
        match self.origin(name) {
            Some(at) => format!("`{name}` in {at}"),
            None => format!("`-p {name}=…`"),
        }
    }

    /// Every overridden name, once, in order of first appearance.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (n, _, _) in &self.values {
            if !out.contains(&n.as_str()) {
                out.push(n);
            }
        }
        out
    }
}

/// Reads the text of an override as a literal of the param's type; `verbatim` (from `-p`),
/// a `String` or `Path` takes it as it is. An optional takes `none` or its type's literal
/// (a field of a record param may be optional).
pub fn parse_value(
    text: &str,
    ty: &Type,
    verbatim: bool,
    variants: impl Fn(DefId) -> Option<Vec<String>> + Copy,
) -> Result<Value, String> {
    // A quoted literal of another type (`"8GiB"` from a params file) reads as its text.
    let unquoted = match ty {
        Type::String | Type::Path | Type::List(_) => None,
        _ => unquote(text),
    };
    let t = unquoted.as_deref().unwrap_or(text).trim();
    match ty {
        Type::Error => Err("the param's type is not known".into()),
        Type::Optional(_) if text.trim() == "none" => Ok(Value::None),
        Type::Optional(inner) => parse_value(text, inner, verbatim, variants),
        Type::String | Type::Path if verbatim => Ok(Value::Str(text.to_owned())),
        Type::String | Type::Path => {
            Ok(Value::Str(unquote(text).unwrap_or_else(|| text.to_owned())))
        }
        Type::Int => {
            let digits = t.replace('_', "");
            digits
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("`{t}` is not a whole number"))
        }
        Type::Float | Type::Cpu => {
            let digits = t.replace('_', "");
            match digits.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Value::Float(f)),
                _ => Err(format!("`{t}` is not a number")),
            }
        }
        Type::Bool => match t {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{t}` is not `true` or `false`")),
        },
        Type::Memory | Type::Duration => {
            if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "`{t}` has no unit: write it as `{t}{}`",
                    if *ty == Type::Memory { "GiB" } else { "m" }
                ));
            }
            let q = expc_syntax::quantity::parse(t).map_err(|e| e.message)?;
            match (q.dimension, ty) {
                (expc_syntax::quantity::Dimension::Memory, Type::Memory) => {
                    Ok(Value::Memory(q.amount))
                }
                (expc_syntax::quantity::Dimension::Duration, Type::Duration) => {
                    Ok(Value::Duration(q.amount))
                }
                _ => Err(format!("`{t}` is a quantity of another kind")),
            }
        }
        Type::Enum(def) => {
            let names = variants(*def).unwrap_or_default();
            if names.iter().any(|n| n == t) {
                Ok(Value::Enum(t.to_owned()))
            } else {
                Err(format!("`{t}` is not one of {}", names.join(", ")))
            }
        }
        Type::List(inner) => {
            let Some(body) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
                return Err(format!("`{t}` is not a list: write `[a, b, c]`"));
            };
            let mut items = Vec::new();
            for part in split_top(body) {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let item = match &**inner {
                    Type::String | Type::Path => {
                        Value::Str(unquote(part).unwrap_or_else(|| part.to_owned()))
                    }
                    other => parse_value(part, other, false, variants)?,
                };
                items.push(item);
            }
            Ok(Value::List(items))
        }
        Type::Record(_) => Err(
            "a record is given field by field: `-p NAME.FIELD=VALUE`, or a section in a params file"
                .into(),
        ),
        _ => Err("this type cannot be given on the command line".into()),
    }
}

/// The text of a quoted literal: `"…"` with the escapes `\"`, `\\`, `\n`, `\t`, `\r`,
/// `\0`, `\'` and `\u{…}`, or `'…'` taken as it is.
fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(inner.to_owned());
    }
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Splits on commas outside quotes.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: DefId) -> Option<Vec<String>> {
        None
    }

    #[test]
    fn values_are_read_as_their_type() {
        assert_eq!(
            parse_value("50", &Type::Int, false, none),
            Ok(Value::Int(50))
        );
        assert_eq!(
            parse_value("1e-3", &Type::Float, false, none),
            Ok(Value::Float(1e-3))
        );
        assert_eq!(
            parse_value("8GiB", &Type::Memory, false, none),
            Ok(Value::Memory(8 << 30))
        );
        assert_eq!(
            parse_value("2h30m", &Type::Duration, false, none),
            Ok(Value::Duration(9_000_000))
        );
        assert_eq!(
            parse_value("rio de janeiro", &Type::String, false, none),
            Ok(Value::Str("rio de janeiro".into()))
        );
        assert_eq!(
            parse_value("[1, 2, 3]", &Type::list(Type::Int), false, none),
            Ok(Value::List(vec![
                Value::Int(1),
                Value::Int(2),
                Value::Int(3)
            ]))
        );
        assert!(parse_value("abc", &Type::Int, false, none).is_err());
        assert_eq!(
            parse_value("\"a \\\"b\\\" \\u{e9}\\n\"", &Type::String, false, none),
            Ok(Value::Str("a \"b\" \u{e9}\n".into()))
        );
        assert!(
            parse_value("16", &Type::Memory, false, none)
                .unwrap_err()
                .contains("no unit")
        );
    }

    #[test]
    fn a_value_from_p_is_verbatim_for_strings_and_paths() {
        for text in ["\"x\"", "'x'", " x ", ""] {
            for ty in [Type::String, Type::Path] {
                assert_eq!(
                    parse_value(text, &ty, true, none),
                    Ok(Value::Str(text.into()))
                );
            }
        }
        // Other types read a quoted whole as its text, verbatim or not.
        assert_eq!(
            parse_value("\"50\"", &Type::Int, true, none),
            Ok(Value::Int(50))
        );
        let mut o = Overrides::new();
        o.push_assignment("b=\"x\"").unwrap();
        assert_eq!(o.get_verbatim("b"), Some(("\"x\"", true)));
        o.push("b", "\"y\"");
        assert_eq!(o.get_verbatim("b"), Some(("\"y\"", false)));
    }
}
