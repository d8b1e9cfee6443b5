//! Artifacts checked against their declared shape: a `File` output must be a file and a
//! `Dir` a directory, and a CSV or TSV table with a schema must have the schema's header
//! and cells of its column types. A run checks a shipped table before the first task that
//! reads it starts, and a produced one when its task ends; the first mismatch fails the
//! instance (or the run) with the row, the column and what was expected.

use std::path::Path;

use expc_check::ir::Column;
use expc_check::shape::{Shape, Table, is_timestamp};

/// Whether `path` is what `shape` asks for; the message says what it is instead.
pub fn check(path: &Path, shape: &Shape) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    match shape {
        Shape::File if meta.is_dir() => {
            Err("is a directory, but its type is a file: write a file there".to_owned())
        }
        Shape::Dir if !meta.is_dir() => {
            Err("is a file, but its type is `Dir`: write a directory there".to_owned())
        }
        Shape::Table(table) if meta.is_file() => check_table(path, table),
        _ => Ok(()),
    }
}

/// The header and every cell of a delimited table against its schema.
pub fn check_table(path: &Path, table: &Table) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(table.delimiter)
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let header = reader
        .headers()
        .map_err(|e| format!("cannot read its header: {e}"))?
        .clone();
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let found: Vec<&str> = header.iter().collect();
    if found != names {
        let quoted = |v: &[&str]| {
            v.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "has the header {} ({} {}), but the schema `{}` has the columns {}, in this order, separated by {}",
            quoted(&found),
            found.len(),
            if found.len() == 1 { "field" } else { "fields" },
            table.schema,
            quoted(&names),
            if table.delimiter == b'\t' {
                "tabs"
            } else {
                "commas"
            },
        ));
    }
    let kinds: Vec<(Kind, bool)> = table.columns.iter().map(kind_of).collect();
    let mut record = csv::StringRecord::new();
    // Rows are counted from the first after the header (lines would miscount quoted
    // fields that hold line breaks).
    let mut row = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(format!("cannot be read as a table: {e}")),
        }
        row += 1;
        if record.len() != names.len() {
            return Err(format!(
                "has {} fields in row {row} (the header not counted), but the schema `{}` has {} columns",
                record.len(),
                table.schema,
                names.len()
            ));
        }
        for (i, cell) in record.iter().enumerate() {
            let (kind, optional) = kinds[i];
            if cell.is_empty() && (optional || kind == Kind::String) {
                continue;
            }
            if !kind.accepts(cell) {
                let shown: String = cell.chars().take(60).collect();
                let ty = &table.columns[i].ty;
                return Err(format!(
                    "row {row}, column {} (`{}`): expected {}, found {:?}{}",
                    i + 1,
                    names[i],
                    ty.trim_end_matches('?'),
                    shown,
                    if cell.is_empty() {
                        format!(" (an empty cell needs the type `{ty}?`)")
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    String,
    Timestamp,
}

fn kind_of(column: &Column) -> (Kind, bool) {
    let optional = column.ty.ends_with('?');
    let kind = match column.ty.trim_end_matches('?') {
        "Int" => Kind::Int,
        "Float" => Kind::Float,
        "Bool" => Kind::Bool,
        "Timestamp" => Kind::Timestamp,
        _ => Kind::String,
    };
    (kind, optional)
}

impl Kind {
    fn accepts(self, cell: &str) -> bool {
        let cell = cell.trim();
        match self {
            Kind::Int => cell.parse::<i64>().is_ok(),
            Kind::Float => cell.parse::<f64>().is_ok(),
            Kind::Bool => ["true", "false", "1", "0"]
                .iter()
                .any(|b| cell.eq_ignore_ascii_case(b)),
            Kind::String => true,
            Kind::Timestamp => is_timestamp(cell),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let col = |name: &str, ty: &str| Column {
            name: name.to_owned(),
            ty: ty.to_owned(),
        };
        Table {
            delimiter: b',',
            schema: "Obs".to_owned(),
            columns: vec![
                col("station", "String"),
                col("time", "Timestamp"),
                col("mm", "Float"),
                col("n", "Int?"),
                col("ok", "Bool"),
            ],
        }
    }

    fn check_text(text: &str) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("expc-tables-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "{:x}.csv",
            blake3::hash(text.as_bytes()).as_bytes()[0]
        ));
        std::fs::write(&path, text).unwrap();
        let r = check_table(&path, &table());
        std::fs::remove_file(&path).ok();
        r
    }

    #[test]
    fn a_table_of_its_schema_passes() {
        let text = "station,time,mm,n,ok\n\
                    a,2024-05-01,1.5,3,true\n\
                    \"b, west\",2024-05-01T12:30:00Z,-2e3,,0\n\
                    c,2024-05-01 12:30:00.25+02:00,nan,7,FALSE\n";
        assert_eq!(check_text(text), Ok(()));
    }

    #[test]
    fn mismatches_name_the_row_column_and_type() {
        let err = check_text("station,mm,time,n,ok\n").unwrap_err();
        assert!(
            err.contains("header `station`, `mm`, `time`, `n`, `ok` (5 fields)"),
            "{err}"
        );
        assert!(
            err.contains(
                "columns `station`, `time`, `mm`, `n`, `ok`, in this order, separated by commas"
            ),
            "{err}"
        );

        let err =
            check_text("station,time,mm,n,ok\na,2024-05-01,1.5,3,true\nb,2024-05-01,wet,1,true\n")
                .unwrap_err();
        assert_eq!(err, "row 2, column 3 (`mm`): expected Float, found \"wet\"");

        let err = check_text("station,time,mm,n,ok\na,2024-13-01,1,1,true\n").unwrap_err();
        assert!(
            err.contains("column 2 (`time`): expected Timestamp"),
            "{err}"
        );

        let err = check_text("station,time,mm,n,ok\na,2024-05-01,,1,true\n").unwrap_err();
        assert!(
            err.contains("an empty cell needs the type `Float?`"),
            "{err}"
        );

        let err = check_text("station,time,mm,n,ok\na,2024-05-01,1\n").unwrap_err();
        assert!(err.contains("3 fields in row 1"), "{err}");
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2024-05-01",
            "2024-05-01T00:00",
            "2024-05-01 23:59:59",
            "2024-05-01T12:00:00.123Z",
            "2024-05-01T12:00-0300",
        ] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in [
            "2024-5-01",
            "01/05/2024",
            "2024-05-01T",
            "2024-05-01T12",
            "2024-05-01T12:00:0",
            "yesterday",
            "2024-05-01T12:00+2",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }
}
