//! Sample sheets: `sweep samples = rows(units)` over a data item `units: Table<Tsv, Unit>`.
//!
//! The table is read through the loader when the spec is checked (so when it is planned):
//! its header must be the schema's columns, in order, and every cell must read as its
//! column's type; the first mismatch is an error naming the row and the column. The sweep
//! has one axis per column and one point per row. A `File<F>` column holds a path relative
//! to the sheet; each file named is a data item of its own (`units[PATH]`), so its content
//! is in the cache key of every instance that reads it.

use std::collections::BTreeMap;
use std::path::Path;

use expc_diagnostics::{Code, Diagnostic, Span};
use expc_syntax::ast;

use crate::checker::Checker;
use crate::defs::{Binding, DefId, DefKind};
use crate::fileset::member_id;
use crate::shape::is_timestamp;
use crate::sweeps::{Axis, Strategy, SweepInfo};
use crate::types::Type;
use crate::value::Value;

/// The files a sample sheet names, each with its type, by path from the declaring
/// module's folder; sorted and each once.
#[derive(Clone, Debug, Default)]
pub struct SheetFiles {
    pub files: BTreeMap<String, Type>,
}

/// A cell that does not read as its column's type.
struct CellError {
    row: usize,
    column: usize,
    message: String,
}

impl Checker<'_> {
    /// `sweep NAME = rows(TABLE)`: the points of the sweep, one per row of the table.
    pub fn rows_sweep(&mut self, sweep: DefId, s: &ast::Sweep) -> Option<SweepInfo> {
        let usage = format!(
            "write `sweep {} = rows(units)`, where `units` is a data item declared as `Table<Tsv, Unit>` with `schema Unit {{ … }}`",
            s.name.name
        );
        if let Some(body) = &s.body {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_SWEEP,
                    "a `rows(…)` sweep takes its points from the table, and has no axes of its own",
                    body.span,
                )
                .with_help(format!("remove the block: {usage}")),
            );
        }
        let args = s.args.as_deref().unwrap_or_default();
        let (arg, name) = match args {
            [a] if a.name.is_none() => match &a.value.kind {
                ast::ExprKind::Name(n) => (a, n),
                _ => return self.rows_usage(a.value.span, &usage),
            },
            [] => return self.rows_usage(s.strategy.span, &usage),
            [_, second, ..] => return self.rows_usage(second.span, &usage),
            [a] => return self.rows_usage(a.span, &usage),
        };
        let module = self.def(sweep).module;
        let cx = self.top_cx(module, "in a sweep");
        let t = self.expr(&arg.value, None, &cx);
        if t.ty.is_error() {
            return None;
        }
        let data = match self.defs.lookup(module, &name.name).map(|b| b.binding) {
            Some(Binding::Def(d)) if self.def(d).kind == DefKind::Data => Some(d),
            _ => None,
        };
        let (data, format, schema) = match (data, &t.ty) {
            (Some(d), Type::Table(f, Some(schema))) => (d, *f, *schema),
            (Some(_), Type::Table(_, None)) => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SWEEP,
                        format!("`{}` has no schema: its rows have no types", name.name),
                        arg.value.span,
                    )
                    .with_help(format!("declare its columns: `data {}: Table<Tsv, Unit>` with `schema Unit {{ sample: String, fq1: File<Fastq> }}`", name.name)),
                );
                return None;
            }
            _ => {
                let shown = self.show(&t.ty);
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SWEEP,
                        format!(
                            "`rows(…)` reads a data item that is a table, and `{}` is {shown}",
                            name.name
                        ),
                        arg.value.span,
                    )
                    .with_help(usage),
                );
                return None;
            }
        };
        let Some(delimiter) = self.table_delimiter(format) else {
            let shown = self.show(&t.ty);
            self.emit(
                Diagnostic::error(
                    Code::INVALID_SWEEP,
                    format!(
                        "`rows(…)` reads CSV and TSV tables, and `{}` is {shown}",
                        name.name
                    ),
                    arg.value.span,
                )
                .with_help("declare the sample sheet as `Table<Tsv, S>` or `Table<Csv, S>`"),
            );
            return None;
        };
        let columns = self.fields.get(&schema).cloned().unwrap_or_default();
        let mut axes: Vec<Axis> = columns
            .iter()
            .map(|c| Axis {
                name: c.name.to_string(),
                ty: c.ty.clone(),
                span: c.span,
                values: None,
            })
            .collect();
        let path = match self.values.get(&data) {
            Some(Value::Record(_, fields)) => fields.get("path").and_then(|p| p.as_str()),
            _ => None,
        }
        .map(str::to_owned);
        let dir = self.module(self.def(data).module).dir.clone();
        // Until the sheet is read, or when it cannot be, the sweep is typed and its points
        // unknown: its uses are checked without a cascade of errors.
        self.sweeps.insert(sweep, rows_info(axes.clone(), None));
        let (Some(loader), Some(path), Some(dir)) = (self.loader, path, dir) else {
            return None;
        };
        let text = match loader.read(&dir.join(&path)) {
            Ok(t) => t,
            Err(e) => {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SAMPLE_SHEET,
                        format!("the sample sheet `{path}` cannot be read: {e}"),
                        arg.value.span,
                    )
                    .with_label(self.def(data).span, "declared here")
                    .with_help(
                        "check the data item's path: it is relative to the file that declares it",
                    ),
                );
                return None;
            }
        };
        let sheet_dir = Path::new(&path).parent().unwrap_or(Path::new(""));
        let rows = match read_rows(&text, delimiter, &columns) {
            Ok(rows) => rows,
            Err(e) => {
                let at = match (e.row, e.column) {
                    (0, _) => "the header".to_owned(),
                    (r, 0) => format!("row {r}"),
                    (r, c) => format!(
                        "row {r}, column {c} (`{}`)",
                        columns.get(c - 1).map_or("", |f| f.name.as_str())
                    ),
                };
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SAMPLE_SHEET,
                        format!("the sample sheet `{path}` does not match the schema: {at}: {}", e.message),
                        arg.value.span,
                    )
                    .with_primary_message(format!("{at} of `{path}`"))
                    .with_help("rows are counted from the first after the header; fix the sheet, or the schema's columns"),
                );
                return None;
            }
        };
        if rows.is_empty() {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_SAMPLE_SHEET,
                    format!(
                        "the sample sheet `{path}` has no rows: the sweep would have no points"
                    ),
                    arg.value.span,
                )
                .with_help("add a row per sample under the header"),
            );
            return None;
        }
        if rows.len() as u64 > crate::sweeps::MAX_POINTS {
            self.emit(
                Diagnostic::error(
                    Code::INVALID_SAMPLE_SHEET,
                    format!(
                        "the sample sheet `{path}` has {} rows, more than ten million",
                        rows.len()
                    ),
                    arg.value.span,
                )
                .with_help("split the sheet into several experiments"),
            );
            return None;
        }
        let mut seen: BTreeMap<&[String], usize> = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            if let Some(first) = seen.insert(row, i + 1) {
                self.emit(
                    Diagnostic::error(
                        Code::INVALID_SAMPLE_SHEET,
                        format!(
                            "rows {first} and {} of the sample sheet `{path}` are the same",
                            i + 1
                        ),
                        arg.value.span,
                    )
                    .with_help("list each sample once: an instance is known by its row's values"),
                );
                return None;
            }
        }
        // Files named: each a data item of the sheet, which must be there.
        let data_id = self.ir_id(data);
        let mut files = self.sheet_files.remove(&data).unwrap_or_default();
        for (c, column) in columns.iter().enumerate() {
            let element = match &column.ty {
                Type::Optional(inner) => (**inner).clone(),
                t => t.clone(),
            };
            if !matches!(element, Type::File(_)) {
                continue;
            }
            for (r, row) in rows.iter().enumerate() {
                let cell = &row[c];
                if cell.is_empty() {
                    continue;
                }
                let file = from_sheet(sheet_dir, cell);
                if !loader.is_file(&dir.join(&file)) {
                    self.emit(
                        Diagnostic::error(
                            Code::INVALID_SAMPLE_SHEET,
                            format!("the sample sheet `{path}` names a file that is not there: row {}, column {} (`{}`): `{cell}`", r + 1, c + 1, column.name),
                            arg.value.span,
                        )
                        .with_primary_message(format!("`{file}` is not a file"))
                        .with_help("a path in a `File` column is relative to the sheet's folder: check the name, or add the file"),
                    );
                    return None;
                }
                files.files.insert(file, element.clone());
            }
        }
        self.sheet_files.insert(data, files);
        for (c, axis) in axes.iter_mut().enumerate() {
            let values = rows
                .iter()
                .map(|row| cell_value(&row[c], &axis.ty, &data_id, sheet_dir))
                .collect();
            axis.values = Some(Value::List(values));
        }
        Some(rows_info(axes, Some(rows.len() as u64)))
    }

    fn rows_usage(&mut self, span: Span, usage: &str) -> Option<SweepInfo> {
        self.emit(
            Diagnostic::error(
                Code::INVALID_SWEEP,
                "`rows(…)` takes the name of one data item, a table with a schema",
                span,
            )
            .with_help(usage.to_owned()),
        );
        None
    }

    /// The delimiter of a format that is CSV or TSV or extends one of them.
    fn table_delimiter(&self, format: DefId) -> Option<u8> {
        let mut current = Some(format);
        // Bounded: a chain of formats is no longer than the formats there are.
        for _ in 0..=self.formats.len() {
            let f = current?;
            match self.ir_id(f).as_str() {
                "std.formats::Csv" => return Some(b','),
                "std.formats::Tsv" => return Some(b'\t'),
                _ => current = self.formats.get(&f).and_then(|i| i.base),
            }
        }
        None
    }
}

fn rows_info(axes: Vec<Axis>, points: Option<u64>) -> SweepInfo {
    SweepInfo {
        strategy: Strategy::Rows,
        axes,
        samples: None,
        seed: None,
        points,
    }
}

/// A path written in a sheet in the folder `sheet_dir`, from the declaring module's folder.
fn from_sheet(sheet_dir: &Path, cell: &str) -> String {
    if Path::new(cell).is_absolute() {
        return cell.to_owned();
    }
    crate::loader::normalize(&sheet_dir.join(cell))
        .to_string_lossy()
        .into_owned()
}

/// The rows of a delimited table whose header is `columns`, each cell (trimmed) checked
/// against its column's type.
fn read_rows(
    text: &[u8],
    delimiter: u8,
    columns: &[crate::checker::FieldInfo],
) -> Result<Vec<Vec<String>>, CellError> {
    let at = |row, column, message: String| CellError {
        row,
        column,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let header = reader
        .headers()
        .map_err(|e| at(0, 0, format!("it cannot be read: {e}")))?
        .clone();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let found: Vec<&str> = header.iter().collect();
    if found != names {
        let quoted = |v: &[&str]| {
            v.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(at(
            0,
            0,
            format!(
                "it names {}, and the schema's columns are {}, in this order, separated by {}",
                quoted(&found),
                quoted(&names),
                if delimiter == b'\t' { "tabs" } else { "commas" }
            ),
        ));
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(rows),
            Ok(true) => {}
            Err(e) => return Err(at(rows.len() + 1, 0, format!("it cannot be read: {e}"))),
        }
        let row = rows.len() + 1;
        if record.len() != names.len() {
            return Err(at(
                row,
                0,
                format!(
                    "it has {} fields, and the schema has {} columns",
                    record.len(),
                    names.len()
                ),
            ));
        }
        let mut cells = Vec::with_capacity(names.len());
        for (i, cell) in record.iter().enumerate() {
            let (ty, optional) = match &columns[i].ty {
                Type::Optional(inner) => (&**inner, true),
                t => (t, false),
            };
            let cell = cell.trim();
            if cell.is_empty() && !optional && !matches!(ty, Type::String) {
                return Err(at(
                    row,
                    i + 1,
                    "the cell is empty (a column whose cells may be empty has a type ending in `?`)"
                        .to_owned(),
                ));
            }
            if !cell.is_empty() && !cell_reads_as(cell, ty) {
                let shown: String = cell.chars().take(60).collect();
                return Err(at(
                    row,
                    i + 1,
                    format!("expected {}, found {shown:?}", type_word(ty)),
                ));
            }
            cells.push(cell.to_owned());
        }
        rows.push(cells);
    }
}

fn cell_reads_as(cell: &str, ty: &Type) -> bool {
    match ty {
        Type::Int => cell.parse::<i64>().is_ok(),
        Type::Float => cell.parse::<f64>().is_ok_and(f64::is_finite),
        Type::Bool => ["true", "false", "1", "0"]
            .iter()
            .any(|b| cell.eq_ignore_ascii_case(b)),
        Type::Timestamp => is_timestamp(cell),
        _ => true,
    }
}

fn type_word(ty: &Type) -> &'static str {
    match ty {
        Type::Int => "an Int",
        Type::Float => "a Float",
        Type::Bool => "a Bool (`true`, `false`, `1` or `0`)",
        Type::Timestamp => "a Timestamp (`2024-05-01` or `2024-05-01T12:30:00Z`)",
        _ => "a value",
    }
}

/// The value of a checked cell in a column of type `ty`.
fn cell_value(cell: &str, ty: &Type, sheet: &str, sheet_dir: &Path) -> Value {
    let ty = match ty {
        Type::Optional(_) if cell.is_empty() => return Value::None,
        Type::Optional(inner) => &**inner,
        t => t,
    };
    match ty {
        Type::Int => cell.parse().map_or(Value::None, Value::Int),
        Type::Float => cell.parse().map_or(Value::None, Value::Float),
        Type::Bool => Value::Bool(cell.eq_ignore_ascii_case("true") || cell == "1"),
        Type::File(_) => Value::Artifact(member_id(sheet, &from_sheet(sheet_dir, cell))),
        _ => Value::Str(cell.to_owned()),
    }
}
