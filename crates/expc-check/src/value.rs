//! Values of expressions that are known when a spec is checked.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// A value computed at check time: a literal, a param's effective value, or anything
/// built from them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// Bytes.
    Memory(u64),
    /// Milliseconds.
    Duration(u64),
    List(Vec<Value>),
    /// A record value by its type's name, with its fields (defaults filled in).
    Record(String, BTreeMap<String, Value>),
    /// An enum variant.
    Enum(String),
    None,
    /// A declared artifact (data or model), by its IR id.
    Artifact(String),
    /// A distribution of a `random` sweep.
    Distribution(Distribution),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    Uniform(f64, f64),
    LogUniform(f64, f64),
    Choice(Vec<Value>),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// A field of a record value; `none` when unset.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Record(_, fields) => fields.get(name).filter(|v| **v != Value::None),
            _ => None,
        }
    }
}

/// Memory in the largest binary unit that divides it exactly: `16GiB`, `1536MiB`, `7B`.
pub fn format_memory(bytes: u64) -> String {
    const UNITS: &[(&str, u64)] = &[
        ("PiB", 1 << 50),
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= *size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}B")
}

/// A duration as a compound literal: `2h30m`, `90s` → `1m30s`, `1500ms` → `1s500ms`.
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    // Hours are the largest unit: `36h` reads better than `1d12h` next to a `48h` limit.
    const UNITS: &[(&str, u64)] = &[("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in UNITS {
        if rest >= *size {
            let _ = write!(out, "{}{unit}", rest / size);
            rest %= size;
        }
    }
    out
}

/// The shortest plain decimal that reads back as the same float, always with a point.
pub fn format_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        let s = format!("{f}");
        if s.contains(['.', 'e', 'E', 'N', 'i']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}

impl fmt::Display for Value {
    /// As it would be written in a spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Memory(b) => f.write_str(&format_memory(*b)),
            Value::Duration(ms) => f.write_str(&format_duration(*ms)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Record(name, fields) => {
                write!(f, "{name} {{")?;
                for (i, (k, v)) in fields
                    .iter()
                    .filter(|(_, v)| **v != Value::None)
                    .enumerate()
                {
                    f.write_str(if i > 0 { ", " } else { " " })?;
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(" }")
            }
            Value::Enum(v) => f.write_str(v),
            Value::None => f.write_str("none"),
            Value::Artifact(id) => f.write_str(id),
            Value::Distribution(d) => match d {
                Distribution::Uniform(a, b) => {
                    write!(f, "uniform({}, {})", format_float(*a), format_float(*b))
                }
                Distribution::LogUniform(a, b) => {
                    write!(f, "loguniform({}, {})", format_float(*a), format_float(*b))
                }
                Distribution::Choice(items) => write!(f, "choice({})", Value::List(items.clone())),
            },
        }
    }
}

/// JSON: numbers, strings, booleans, arrays and `null` as themselves; quantities, enums,
/// records, artifacts and distributions as one-key objects saying what they are.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Str(v) => s.serialize_str(v),
            Value::None => s.serialize_none(),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Memory(b) => one(s, "bytes", b),
            Value::Duration(ms) => one(s, "ms", ms),
            Value::Enum(v) => one(s, "enum", v),
            Value::Artifact(id) => one(s, "artifact", id),
            Value::Record(name, fields) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("record", name)?;
                map.serialize_entry("fields", fields)?;
                map.end()
            }
            Value::Distribution(d) => match d {
                Distribution::Uniform(a, b) => one(s, "uniform", &[a, b]),
                Distribution::LogUniform(a, b) => one(s, "loguniform", &[a, b]),
                Distribution::Choice(items) => one(s, "choice", items),
            },
        }
    }
}

fn one<S: Serializer, T: Serialize + ?Sized>(
    s: S,
    key: &str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_print_exactly() {
        assert_eq!(format_memory(16 << 30), "16GiB");
        assert_eq!(format_memory(1536 << 20), "1536MiB");
        assert_eq!(format_memory(1000), "1000B");
        assert_eq!(format_duration(9_000_000), "2h30m");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_float(2.0), "2.0");
        assert_eq!(format_float(0.001), "0.001");
    }
}
