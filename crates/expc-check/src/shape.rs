//! What a value of an artifact type must be on disk: a file, a directory, or a table whose
//! header and cells a run can check against its schema. Read from a type as the IR writes
//! it (`Table<Csv, Observation>`), with the program's formats and schemas.

use crate::ir::{Column, Format, Program};
use crate::value::Value;

/// What a run checks of an artifact when it reads or makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Either (a table in a format that may be a directory of part files, `Metrics` is
    /// checked on its own).
    Any,
    /// A delimited text table with a header row and the columns of a schema: checked
    /// when it is a file (a directory of part files is not read).
    Table(Table),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// `,` for CSV, a tab for TSV (and their sub-formats).
    pub delimiter: u8,
    /// The schema's name, for messages.
    pub schema: String,
    pub columns: Vec<Column>,
}

impl Table {
    /// What `expc plan` says is checked.
    pub fn describe(&self) -> String {
        format!(
            "header and cell types against `{}`, {} columns",
            self.schema,
            self.columns.len()
        )
    }
}

impl Program {
    /// What a value of type `ty` (as the IR writes types) must be on disk.
    pub fn shape(&self, ty: &str) -> Shape {
        let Some((kind, args)) = ty.split_once('<') else {
            return match ty {
                "Dir" => Shape::Dir,
                _ => Shape::Any,
            };
        };
        let args: Vec<&str> = args
            .strip_suffix('>')
            .unwrap_or(args)
            .split(',')
            .map(str::trim)
            .collect();
        let format = args.first().and_then(|f| self.format_named(f));
        let directory =
            format.is_some_and(|f| matches!(f.props.get("directory"), Some(Value::Bool(true))));
        match kind {
            "File" | "Model" if directory => Shape::Dir,
            "File" | "Model" => Shape::File,
            "Table" => {
                let delimiter = format.and_then(|f| self.delimiter(f));
                let schema = args.get(1).and_then(|s| self.schema_named(s));
                match (delimiter, schema) {
                    (Some(delimiter), Some(schema)) => Shape::Table(Table {
                        delimiter,
                        schema: args[1].to_owned(),
                        columns: schema.columns.clone(),
                    }),
                    _ => Shape::Any,
                }
            }
            _ => Shape::Any,
        }
    }

    fn format_named(&self, name: &str) -> Option<&Format> {
        self.formats.iter().find(|f| short(&f.id) == name)
    }

    fn schema_named(&self, name: &str) -> Option<&crate::ir::Schema> {
        self.schemas.iter().find(|s| short(&s.id) == name)
    }

    /// The delimiter of a format that is CSV or TSV or extends one of them.
    fn delimiter(&self, format: &Format) -> Option<u8> {
        let of = |id: &str| match id {
            "std.formats::Csv" => Some(b','),
            "std.formats::Tsv" => Some(b'\t'),
            _ => None,
        };
        let mut current = format;
        // Bounded: a chain of formats cannot be longer than the formats there are.
        for _ in 0..=self.formats.len() {
            if let Some(d) = of(&current.id) {
                return Some(d);
            }
            let base = current.base.as_deref()?;
            if let Some(d) = of(base) {
                return Some(d);
            }
            current = self.formats.iter().find(|x| x.id == base)?;
        }
        None
    }
}

/// An ISO 8601 date or date and time: `2024-05-01`, `2024-05-01T12:30`,
/// `2024-05-01 12:30:00.5`, with `Z` or an offset (`+02:00`, `-0300`) or neither.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return false;
    }
    let (month, day) = (&s[5..7], &s[8..10]);
    if !("01"..="12").contains(&month) || !("01"..="31").contains(&day) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    let time = matches!(b[10], b'T' | b' ')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16);
    if !time {
        return false;
    }
    let mut rest = &s[16..];
    if let Some(sec) = rest.strip_prefix(':') {
        if !sec
            .get(..2)
            .is_some_and(|d| d.bytes().all(|c| c.is_ascii_digit()))
        {
            return false;
        }
        rest = &sec[2..];
        if let Some(frac) = rest.strip_prefix(['.', ',']) {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return false;
            }
            rest = &frac[n..];
        }
    }
    match rest.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', h1, h2] => h1.is_ascii_digit() && h2.is_ascii_digit(),
        [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// A declaration's name without its module (`std.formats::Csv` → `Csv`).
fn short(id: &str) -> &str {
    id.rsplit_once("::").map_or(id, |(_, name)| name)
}
