//! Annotated CSV, the body InfluxDB answers `POST /api/v2/query` with.
//!
//! Layout (as Flux's `csv` result encoder and its delimited multi-result encoder write it):
//! * Lines end in CRLF; cells are quoted as Go's `encoding/csv` with `UseCRLF` does: a cell is
//!   quoted (quotes doubled) when it holds the delimiter, `"`, CR or LF, starts with a Unicode
//!   space, or is exactly `\.`; inside quotes a LF is written CRLF and a CR dropped.
//! * Every line starts with an annotation cell (empty on data and header lines), then `result`,
//!   then `table`, then the table's columns.
//! * Per table a new *block* starts when the columns (names and types, in order) differ from the
//!   previous table's, or when this or the previous table is empty. A block is an empty line
//!   (unless it is the result's first), the annotation rows in dialect order (`#datatype`,
//!   `#group`, `#default`), and the header row unless `header` is false.
//! * `#default` holds the result name; for an empty table also its table number and its key values.
//! * Data rows: `result` cell empty when the `default` annotation is on (else the name), `table`
//!   the table number (0, 1, ... per result). Values: null empty, floats in Go's shortest
//!   non-exponent form, times RFC3339 with trimmed nanoseconds.
//! * Each result ends with one empty line, so a query with no tables answers `\r\n`.
//! * An error after output began is written as its own block with columns `error,reference`.

use std::io::{self, Write};

use crate::table::{GroupKey, KeyColumn, ResultSet, Table};
use crate::time::write_rfc3339;
use crate::value::{DataType, Value, format_float};

/// An annotation row that the dialect can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Annotation {
    Datatype,
    Group,
    Default,
}

impl Annotation {
    /// Parses the dialect's spelling (`datatype`, `group`, `default`).
    pub fn parse(s: &str) -> Option<Annotation> {
        match s {
            "datatype" => Some(Annotation::Datatype),
            "group" => Some(Annotation::Group),
            "default" => Some(Annotation::Default),
            _ => None,
        }
    }
}

/// How the CSV is written (the request's `dialect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    pub header: bool,
    pub delimiter: char,
    /// Annotation rows, in the order they are written.
    pub annotations: Vec<Annotation>,
}

impl Default for Dialect {
    /// The dialect of a request without one: header, comma, no annotations.
    fn default() -> Self {
        Dialect {
            header: true,
            delimiter: ',',
            annotations: Vec::new(),
        }
    }
}

/// Why a request's dialect is refused (400 `invalid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    #[error("invalid dialect delimiter: {0:?}")]
    Delimiter(String),
    #[error("unknown annotation type: {0:?}")]
    Annotation(String),
    #[error("invalid dialect comment prefix: {0:?}")]
    CommentPrefix(String),
    #[error("invalid dialect date time format: {0:?}")]
    DateTimeFormat(String),
}

impl Dialect {
    /// Builds a dialect from the JSON request's fields (absent fields take their defaults) and
    /// validates them as InfluxDB does.
    pub fn from_request(
        header: Option<bool>,
        delimiter: Option<&str>,
        annotations: &[String],
        comment_prefix: Option<&str>,
        date_time_format: Option<&str>,
    ) -> Result<Dialect, DialectError> {
        let delimiter = match delimiter {
            None | Some("") => ',',
            Some(d) => {
                let mut it = d.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) if !matches!(c, '\r' | '\n' | '"' | '\u{FFFD}') => c,
                    _ => return Err(DialectError::Delimiter(d.to_string())),
                }
            }
        };
        let annotations = annotations
            .iter()
            .map(|a| Annotation::parse(a).ok_or_else(|| DialectError::Annotation(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(p) = comment_prefix
            && p.chars().count() > 1
        {
            return Err(DialectError::CommentPrefix(p.to_string()));
        }
        if let Some(f) = date_time_format
            && !matches!(f, "" | "RFC3339" | "RFC3339Nano")
        {
            return Err(DialectError::DateTimeFormat(f.to_string()));
        }
        Ok(Dialect {
            header: header.unwrap_or(true),
            delimiter,
            annotations,
        })
    }

    fn has(&self, a: Annotation) -> bool {
        self.annotations.contains(&a)
    }
}

/// Writes results one after another, each followed by an empty line.
pub fn write_results<W: Write>(
    w: &mut W,
    results: &[ResultSet],
    dialect: &Dialect,
) -> io::Result<()> {
    for r in results {
        write_result(w, r, dialect)?;
    }
    Ok(())
}

/// Encodes all results into a byte vector.
pub fn encode_results(results: &[ResultSet], dialect: &Dialect) -> Vec<u8> {
    // Sized up front (about 12 bytes a cell), so the answer is not copied while it grows.
    let cells: usize = results
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| {
            t.nrows()
                .saturating_add(1)
                .saturating_mul(t.columns.len() + 3)
        })
        .fold(0usize, usize::saturating_add);
    let mut out = Vec::with_capacity(cells.saturating_mul(12).min(1 << 30));
    // Writing into a Vec cannot fail.
    let _ = write_results(&mut out, results, dialect);
    out
}

/// Writes one result and its closing empty line.
pub fn write_result<W: Write>(w: &mut W, result: &ResultSet, dialect: &Dialect) -> io::Result<()> {
    let mut enc = Encoder {
        line: String::new(),
        delim: dialect.delimiter,
    };
    let mut last: Option<(&Table, bool)> = None;
    let mut scratch = String::new();
    let mut last_times: Vec<Option<(i64, String)>> = Vec::new();
    for (id, table) in result.tables.iter().enumerate() {
        let empty = table.is_empty();
        let new_block = match &last {
            None => true,
            Some((prev, last_empty)) => *last_empty || empty || !same_columns(prev, table),
        };
        if new_block {
            if last.is_some() {
                enc.line.push_str("\r\n");
            }
            write_schema(&mut enc, dialect, table, &result.name, id, empty);
        }
        let result_cell = if dialect.has(Annotation::Default) {
            ""
        } else {
            result.name.as_str()
        };
        let id_text = id.to_string();
        // The text of each column's last time cell: `_start` and `_stop` repeat on every row.
        last_times.clear();
        last_times.resize(table.columns.len(), None);
        for i in 0..table.nrows() {
            enc.cell(true, "");
            enc.cell(false, result_cell);
            enc.cell(false, &id_text);
            for (c, last_time) in table.columns.iter().zip(last_times.iter_mut()) {
                match &c.values[i] {
                    Value::Time(t) => {
                        if last_time.as_ref().is_none_or(|(lt, _)| lt != t) {
                            let mut text = String::new();
                            write_rfc3339(&mut text, *t);
                            *last_time = Some((*t, text));
                        }
                        if let Some((_, text)) = last_time {
                            enc.cell(false, text);
                        }
                    }
                    v => {
                        scratch.clear();
                        write_cell(&mut scratch, v);
                        enc.cell(false, &scratch);
                    }
                }
            }
            enc.line.push_str("\r\n");
            if enc.line.len() > 64 * 1024 {
                w.write_all(enc.line.as_bytes())?;
                enc.line.clear();
            }
        }
        last = Some((table, empty));
    }
    enc.line.push_str("\r\n");
    w.write_all(enc.line.as_bytes())
}

/// True when both tables have the same column names and types in the same order.
fn same_columns(a: &Table, b: &Table) -> bool {
    a.columns.len() == b.columns.len()
        && a.columns
            .iter()
            .zip(&b.columns)
            .all(|(x, y)| x.ty == y.ty && x.name == y.name)
}

fn write_schema(
    enc: &mut Encoder,
    dialect: &Dialect,
    table: &Table,
    result_name: &str,
    id: usize,
    empty: bool,
) {
    for a in &dialect.annotations {
        match a {
            Annotation::Datatype => {
                let types: Vec<&str> = table.columns.iter().map(|c| c.ty.csv_name()).collect();
                enc.row(["#datatype", "string", "long"].into_iter().chain(types));
            }
            Annotation::Group => {
                let flags: Vec<&str> = table
                    .columns
                    .iter()
                    .map(|c| {
                        if table.key.contains(&c.name) {
                            "true"
                        } else {
                            "false"
                        }
                    })
                    .collect();
                enc.row(["#group", "false", "false"].into_iter().chain(flags));
            }
            Annotation::Default => {
                let id_text = if empty { id.to_string() } else { String::new() };
                let defaults: Vec<String> = table
                    .columns
                    .iter()
                    .map(|c| match (empty, table.key.get(&c.name)) {
                        (true, Some(v)) => format_cell(v),
                        _ => String::new(),
                    })
                    .collect();
                enc.row(
                    ["#default", result_name, id_text.as_str()]
                        .into_iter()
                        .chain(defaults.iter().map(String::as_str)),
                );
            }
        }
    }
    if dialect.header {
        enc.row(
            ["", "result", "table"]
                .into_iter()
                .chain(table.columns.iter().map(|c| c.name.as_str())),
        );
    }
}

/// Writes an error that happened after output began, in the block InfluxDB uses for it.
/// `wrote_anything` tells whether any byte of the body was written before.
pub fn write_error<W: Write>(
    w: &mut W,
    message: &str,
    dialect: &Dialect,
    wrote_anything: bool,
) -> io::Result<()> {
    let mut enc = Encoder {
        line: String::new(),
        delim: dialect.delimiter,
    };
    if wrote_anything {
        enc.line.push_str("\r\n");
    }
    for a in &dialect.annotations {
        match a {
            Annotation::Datatype => enc.row(["#datatype", "string", "string"]),
            Annotation::Group => enc.row(["#group", "true", "true"]),
            Annotation::Default => enc.row(["#default", "", ""]),
        }
    }
    enc.row(["", "error", "reference"]);
    enc.row(["", message, ""]);
    w.write_all(enc.line.as_bytes())
}

/// The text of one cell.
pub fn format_cell(v: &Value) -> String {
    let mut s = String::new();
    write_cell(&mut s, v);
    s
}

/// Appends the text of one cell to `out`.
pub fn write_cell(out: &mut String, v: &Value) {
    use std::fmt::Write as _;
    let _ = match v {
        Value::Null => Ok(()),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Int(i) => write!(out, "{i}"),
        Value::UInt(u) => write!(out, "{u}"),
        // Finite floats are written in place, without `format_float`'s string.
        Value::Float(f) if f.is_finite() => write!(out, "{f}"),
        Value::Float(f) => {
            out.push_str(&format_float(*f));
            Ok(())
        }
        Value::String(s) => {
            out.push_str(s);
            Ok(())
        }
        Value::Time(t) => {
            write_rfc3339(out, *t);
            Ok(())
        }
        other => write!(out, "{other:?}"),
    };
}

struct Encoder {
    line: String,
    delim: char,
}

impl Encoder {
    fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) {
        for (i, c) in cells.into_iter().enumerate() {
            self.cell(i == 0, c);
        }
        self.line.push_str("\r\n");
    }

    /// Appends one cell, preceded by the delimiter unless it opens the line.
    fn cell(&mut self, first: bool, c: &str) {
        if !first {
            self.line.push(self.delim);
        }
        if needs_quotes(c, self.delim) {
            self.line.push('"');
            for ch in c.chars() {
                match ch {
                    '"' => self.line.push_str("\"\""),
                    '\r' => {}
                    '\n' => self.line.push_str("\r\n"),
                    ch => self.line.push(ch),
                }
            }
            self.line.push('"');
        } else {
            self.line.push_str(c);
        }
    }
}

fn needs_quotes(field: &str, delim: char) -> bool {
    if field.is_empty() {
        return false;
    }
    if field == "\\." {
        return true;
    }
    if field.contains([delim, '"', '\r', '\n']) {
        return true;
    }
    field.chars().next().is_some_and(char::is_whitespace)
}

/// Why annotated CSV could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotated CSV line {line}: {message}")]
pub struct DecodeError {
    pub line: usize,
    pub message: String,
}

/// Splits CSV text into records of cells (Go `encoding/csv` quoting; CRLF or LF line ends).
/// Each record keeps the 1-based line it starts on; empty lines give empty records.
fn split_records(text: &str, delim: char) -> Result<Vec<(usize, Vec<String>)>, DecodeError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    while chars.peek().is_some() {
        let start_line = line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut quoted_any = false;
        loop {
            match chars.next() {
                None => {
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some('"') if cell.is_empty() && !quoted_any => {
                    quoted_any = true;
                    loop {
                        match chars.next() {
                            None => {
                                return Err(DecodeError {
                                    line: start_line,
                                    message: "unterminated quoted cell".into(),
                                });
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                cell.push('"');
                            }
                            Some('"') => break,
                            Some('\r') if chars.peek() == Some(&'\n') => {}
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                cell.push(c);
                            }
                        }
                    }
                }
                Some(c) if c == delim => {
                    cells.push(std::mem::take(&mut cell));
                    quoted_any = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some(c) => cell.push(c),
            }
        }
        if cells.len() == 1 && cells[0].is_empty() {
            cells.clear();
        }
        out.push((start_line, cells));
    }
    Ok(out)
}

fn parse_cell(text: &str, ty: DataType) -> Result<Value, String> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let bad = || format!("invalid {} value {text:?}", ty.csv_name());
    Ok(match ty {
        DataType::String => Value::String(text.to_string()),
        DataType::Int => Value::Int(text.parse().map_err(|_| bad())?),
        DataType::UInt => Value::UInt(text.parse().map_err(|_| bad())?),
        DataType::Float => Value::Float(match text {
            "NaN" => f64::NAN,
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            t => t.parse().map_err(|_| bad())?,
        }),
        DataType::Bool => Value::Bool(match text {
            "true" => true,
            "false" => false,
            _ => return Err(bad()),
        }),
        DataType::Time => Value::Time(crate::time::parse_rfc3339(text).ok_or_else(bad)?),
    })
}

fn parse_type(s: &str) -> Option<DataType> {
    Some(match s.split(':').next().unwrap_or(s) {
        "string" => DataType::String,
        "long" => DataType::Int,
        "unsignedLong" => DataType::UInt,
        "double" => DataType::Float,
        "boolean" => DataType::Bool,
        "dateTime" => DataType::Time,
        _ => return None,
    })
}

/// Decodes annotated CSV (with `#datatype`; `#group` and `#default` optional) into results, as
/// Flux's `csv.from` reads it. Rows are split into tables by the `table` column and into results
/// by the `result` column (or its `#default`).
pub fn decode(text: &str) -> Result<Vec<ResultSet>, DecodeError> {
    let records = split_records(text, ',')?;
    let mut results: Vec<ResultSet> = Vec::new();
    let mut types: Option<Vec<DataType>> = None;
    let mut groups: Vec<bool> = Vec::new();
    let mut defaults: Vec<String> = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut in_annotations = false;
    // (result name, table id) of the table being filled.
    let mut current: Option<(String, String)> = None;
    for (line, rec) in records {
        let err = |m: String| DecodeError { line, message: m };
        if rec.is_empty() {
            continue;
        }
        if rec[0].starts_with('#') {
            if !in_annotations {
                types = None;
                groups.clear();
                defaults.clear();
                header = None;
                current = None;
            }
            in_annotations = true;
            let vals: Vec<String> = rec[1..].to_vec();
            match rec[0].as_str() {
                "#datatype" => {
                    types = Some(
                        vals.iter()
                            .map(|v| {
                                parse_type(v).ok_or_else(|| err(format!("unknown datatype {v:?}")))
                            })
                            .collect::<Result<_, _>>()?,
                    )
                }
                "#group" => groups = vals.iter().map(|v| v == "true").collect(),
                "#default" => defaults = vals,
                _ => {}
            }
            continue;
        }
        in_annotations = false;
        let Some(tys) = &types else {
            return Err(err("missing #datatype annotation".into()));
        };
        if header.is_none() {
            header = Some(rec[1..].to_vec());
            continue;
        }
        let Some(hdr) = &header else { continue };
        if rec.len() != hdr.len() + 1 || tys.len() != hdr.len() {
            return Err(err(format!(
                "expected {} cells, found {}",
                hdr.len() + 1,
                rec.len()
            )));
        }
        let cell = |j: usize| -> &str {
            if rec[j + 1].is_empty() {
                defaults.get(j).map(String::as_str).unwrap_or("")
            } else {
                rec[j + 1].as_str()
            }
        };
        let result_name = cell(0).to_string();
        let table_id = cell(1).to_string();
        let result_name = if result_name.is_empty() {
            "_result".to_string()
        } else {
            result_name
        };
        let ri = match results.iter().position(|r| r.name == result_name) {
            Some(i) => i,
            None => {
                results.push(ResultSet {
                    name: result_name.clone(),
                    tables: Vec::new(),
                });
                results.len() - 1
            }
        };
        let ident = (result_name, table_id);
        let mut row = Vec::with_capacity(hdr.len() - 2);
        for (j, ty) in tys.iter().enumerate().skip(2) {
            row.push(parse_cell(cell(j), *ty).map_err(&err)?);
        }
        if current.as_ref() != Some(&ident) {
            let mut key = GroupKey::default();
            for j in 2..hdr.len() {
                if groups.get(j).copied().unwrap_or(false) {
                    key.columns.push(KeyColumn {
                        name: hdr[j].clone(),
                        ty: tys[j],
                        value: row[j - 2].clone(),
                    });
                }
            }
            let schema: Vec<(String, DataType)> =
                (2..hdr.len()).map(|j| (hdr[j].clone(), tys[j])).collect();
            results[ri].tables.push(Table::empty(key, &schema));
            current = Some(ident);
        }
        if let Some(t) = results[ri].tables.last_mut() {
            for (c, v) in t.columns.iter_mut().zip(row) {
                c.values.push(v);
            }
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, GroupKey, KeyColumn};
    use crate::time::parse_rfc3339;
    use testdata::Rng;

    fn t(s: &str) -> Value {
        Value::Time(parse_rfc3339(s).unwrap())
    }

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    fn col(name: &str, ty: DataType, values: Vec<Value>) -> Column {
        Column {
            name: name.into(),
            ty,
            values,
        }
    }

    fn key(cols: &[(&str, DataType, Value)]) -> GroupKey {
        GroupKey {
            columns: cols
                .iter()
                .map(|(n, ty, v)| KeyColumn {
                    name: (*n).into(),
                    ty: *ty,
                    value: v.clone(),
                })
                .collect(),
        }
    }

    fn series(host: &str, time: &str, v: f64) -> Table {
        let start = t("2024-01-01T00:00:00Z");
        let stop = t("2024-01-02T00:00:00Z");
        Table {
            key: key(&[
                ("_start", DataType::Time, start.clone()),
                ("_stop", DataType::Time, stop.clone()),
                ("_field", DataType::String, s("usage")),
                ("_measurement", DataType::String, s("cpu")),
                ("host", DataType::String, s(host)),
            ]),
            columns: vec![
                col("_start", DataType::Time, vec![start]),
                col("_stop", DataType::Time, vec![stop]),
                col("_time", DataType::Time, vec![t(time)]),
                col("_value", DataType::Float, vec![Value::Float(v)]),
                col("_field", DataType::String, vec![s("usage")]),
                col("_measurement", DataType::String, vec![s("cpu")]),
                col("host", DataType::String, vec![s(host)]),
            ],
        }
    }

    fn all_annotations() -> Dialect {
        Dialect {
            annotations: vec![Annotation::Datatype, Annotation::Group, Annotation::Default],
            ..Dialect::default()
        }
    }

    fn enc(results: &[ResultSet], d: &Dialect) -> String {
        String::from_utf8(encode_results(results, d)).unwrap()
    }

    #[test]
    fn two_series_share_a_block() {
        let r = ResultSet {
            name: "_result".into(),
            tables: vec![
                series("a", "2024-01-01T10:00:00Z", 0.5),
                series("b", "2024-01-01T10:00:00Z", 2.0),
            ],
        };
        let want = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\r\n\
#group,false,false,true,true,false,false,true,true,true\r\n\
#default,_result,,,,,,,,\r\n\
,result,table,_start,_stop,_time,_value,_field,_measurement,host\r\n\
,,0,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,2024-01-01T10:00:00Z,0.5,usage,cpu,a\r\n\
,,1,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,2024-01-01T10:00:00Z,2,usage,cpu,b\r\n\
\r\n";
        assert_eq!(enc(&[r], &all_annotations()), want);
    }

    #[test]
    fn empty_table_writes_key_defaults() {
        let r = ResultSet {
            name: "_result".into(),
            tables: vec![Table {
                key: key(&[("_measurement", DataType::String, s("cpu"))]),
                columns: vec![
                    col("_measurement", DataType::String, vec![]),
                    col("_value", DataType::Int, vec![]),
                ],
            }],
        };
        assert_eq!(
            enc(&[r], &all_annotations()),
            "#datatype,string,long,string,long\r\n#group,false,false,true,false\r\n#default,_result,0,cpu,\r\n,result,table,_measurement,_value\r\n\r\n"
        );
    }

    #[test]
    fn schema_change_and_empty_tables_start_blocks() {
        let mut other = series("c", "2024-01-01T10:00:00.040Z", 1.0);
        other.columns[3].ty = DataType::Int;
        other.columns[3].values = vec![Value::Int(-7)];
        let empty = Table {
            key: GroupKey::default(),
            columns: vec![col("x", DataType::Bool, vec![])],
        };
        let r = ResultSet {
            name: "r".into(),
            tables: vec![series("a", "2024-01-01T10:00:00Z", 1.0), other, empty],
        };
        let d = Dialect {
            annotations: vec![Annotation::Datatype],
            ..Dialect::default()
        };
        let out = enc(&[r], &d);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(
            lines[2],
            ",r,0,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,2024-01-01T10:00:00Z,1,usage,cpu,a"
        );
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with(
            "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,long,"
        ));
        assert_eq!(
            lines[6],
            ",r,1,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,2024-01-01T10:00:00.04Z,-7,usage,cpu,c"
        );
        assert_eq!(lines[7], "");
        assert_eq!(lines[8], "#datatype,string,long,boolean");
        assert_eq!(lines[9], ",result,table,x");
        assert_eq!(&lines[10..], ["", ""]);
    }

    #[test]
    fn no_tables_is_one_empty_line_per_result() {
        let r = ResultSet {
            name: "_result".into(),
            tables: vec![],
        };
        assert_eq!(enc(std::slice::from_ref(&r), &all_annotations()), "\r\n");
        assert_eq!(enc(&[r.clone(), r], &Dialect::default()), "\r\n\r\n");
    }

    #[test]
    fn quoting_nulls_delimiter_and_no_header() {
        let tbl = Table {
            key: GroupKey::default(),
            columns: vec![
                col(
                    "s",
                    DataType::String,
                    vec![
                        s("a,b"),
                        s(" lead"),
                        s("q\"x"),
                        s("l1\nl2"),
                        s("\\."),
                        Value::Null,
                        s("é;"),
                    ],
                ),
                col(
                    "v",
                    DataType::Float,
                    vec![
                        Value::Float(f64::NAN),
                        Value::Float(f64::NEG_INFINITY),
                        Value::Float(1e-7),
                        Value::Null,
                        Value::Float(123456789012.5),
                        Value::Float(-0.0),
                        Value::Float(1e300),
                    ],
                ),
            ],
        };
        let r = ResultSet {
            name: "_result".into(),
            tables: vec![tbl],
        };
        let out = enc(std::slice::from_ref(&r), &Dialect::default());
        let want = ",result,table,s,v\r\n\
,_result,0,\"a,b\",NaN\r\n\
,_result,0,\" lead\",-Inf\r\n\
,_result,0,\"q\"\"x\",0.0000001\r\n\
,_result,0,\"l1\r\nl2\",\r\n\
,_result,0,\"\\.\",123456789012.5\r\n\
,_result,0,,-0\r\n\
,_result,0,é;,";
        assert!(out.starts_with(want), "{out:?}");
        let d = Dialect {
            header: false,
            delimiter: ';',
            annotations: vec![],
        };
        let out = enc(&[r], &d);
        assert!(out.starts_with(";_result;0;a,b;NaN\r\n"), "{out:?}");
        assert!(out.contains(";_result;0;\"é;\";1"), "{out:?}");
    }

    #[test]
    fn all_types_and_unsigned() {
        let tbl = Table {
            key: GroupKey::default(),
            columns: vec![
                col("b", DataType::Bool, vec![Value::Bool(true)]),
                col("i", DataType::Int, vec![Value::Int(i64::MIN)]),
                col("u", DataType::UInt, vec![Value::UInt(u64::MAX)]),
                col("t", DataType::Time, vec![Value::Time(-1)]),
            ],
        };
        let r = ResultSet {
            name: "x".into(),
            tables: vec![tbl],
        };
        assert_eq!(
            enc(&[r], &all_annotations()),
            "#datatype,string,long,boolean,long,unsignedLong,dateTime:RFC3339\r\n\
#group,false,false,false,false,false,false\r\n\
#default,x,,,,,\r\n\
,result,table,b,i,u,t\r\n\
,,0,true,-9223372036854775808,18446744073709551615,1969-12-31T23:59:59.999999999Z\r\n\r\n"
        );
    }

    #[test]
    fn error_block() {
        let mut out = Vec::new();
        write_error(&mut out, "boom, again", &all_annotations(), true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\r\n#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n,error,reference\r\n,\"boom, again\",\r\n"
        );
    }

    #[test]
    fn dialect_validation() {
        assert!(Dialect::from_request(None, Some(";;"), &[], None, None).is_err());
        assert!(Dialect::from_request(None, None, &["bogus".into()], None, None).is_err());
        assert!(Dialect::from_request(None, None, &[], Some("##"), None).is_err());
        assert!(Dialect::from_request(None, None, &[], None, Some("unix")).is_err());
        let d = Dialect::from_request(
            Some(false),
            Some("\t"),
            &["group".into(), "datatype".into()],
            Some("#"),
            Some("RFC3339Nano"),
        )
        .unwrap();
        assert_eq!(d.delimiter, '\t');
        assert!(!d.header);
        assert_eq!(d.annotations, [Annotation::Group, Annotation::Datatype]);
    }

    #[test]
    fn decode_reads_back_what_encode_wrote() {
        let mut other = series("c", "2024-01-01T10:00:00.040Z", 1.0);
        other.columns[3].ty = DataType::Int;
        other.columns[3].values = vec![Value::Int(-7)];
        let mut quoted = series("x,\"y\"\nz", "2024-01-01T10:00:00Z", f64::NEG_INFINITY);
        quoted.columns[6].values = vec![s("x,\"y\"\nz")];
        let r = ResultSet {
            name: "r1".into(),
            tables: vec![series("a", "2024-01-01T10:00:00Z", 0.5), other, quoted],
        };
        let r2 = ResultSet {
            name: "r2".into(),
            tables: vec![series("b", "1969-12-31T23:59:59.5Z", -1.25)],
        };
        let text = String::from_utf8(encode_results(&[r.clone(), r2.clone()], &all_annotations()))
            .unwrap();
        let back = decode(&text).unwrap();
        assert_eq!(back, vec![r, r2]);
        assert!(decode("a,b\n1,2\n").is_err());
        assert!(decode("#datatype,string,long,bogus\n").is_err());
    }

    fn random_cell(rng: &mut Rng, ty: DataType) -> Value {
        if rng.below(8) == 0 {
            return Value::Null;
        }
        match ty {
            DataType::String => {
                const PIECES: &[&str] = &[
                    "a", ",", "\"", "\n", " ", "é", "☃", "x y", "#", "\\.", ";", "\t", "0",
                ];
                let n = 1 + rng.below(5);
                Value::String(
                    (0..n)
                        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
                        .collect(),
                )
            }
            DataType::Int => Value::Int(rng.next() as i64),
            DataType::UInt => Value::UInt(rng.next()),
            DataType::Float => match rng.below(6) {
                0 => Value::Float(f64::NAN),
                1 => Value::Float(f64::INFINITY),
                2 => Value::Float(-0.5),
                _ => Value::Float(
                    f64::from_bits(rng.next() >> 2) * if rng.below(2) == 0 { 1.0 } else { -1.0 },
                ),
            },
            DataType::Bool => Value::Bool(rng.below(2) == 0),
            DataType::Time => Value::Time(rng.next() as i64),
        }
    }

    #[test]
    fn randomized_tables_round_trip_through_encode_and_decode() {
        let types = [
            DataType::String,
            DataType::Int,
            DataType::UInt,
            DataType::Float,
            DataType::Bool,
            DataType::Time,
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..150 {
            let ncols = 1 + rng.below(5) as usize;
            let schema: Vec<(String, DataType)> = (0..ncols)
                .map(|j| (format!("c{j}"), types[rng.below(6) as usize]))
                .collect();
            let nkey = rng.below(ncols as u64 + 1) as usize;
            let mut tables = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let nrows = 1 + rng.below(4) as usize;
                let key_values: Vec<Value> = (0..nkey)
                    .map(|j| random_cell(&mut rng, schema[j].1))
                    .collect();
                let columns = schema
                    .iter()
                    .enumerate()
                    .map(|(j, (name, ty))| Column {
                        name: name.clone(),
                        ty: *ty,
                        values: (0..nrows)
                            .map(|_| {
                                if j < nkey {
                                    key_values[j].clone()
                                } else {
                                    random_cell(&mut rng, *ty)
                                }
                            })
                            .collect(),
                    })
                    .collect();
                let key = GroupKey {
                    columns: (0..nkey)
                        .map(|j| KeyColumn {
                            name: schema[j].0.clone(),
                            ty: schema[j].1,
                            value: key_values[j].clone(),
                        })
                        .collect(),
                };
                tables.push(Table { key, columns });
            }
            let result = ResultSet {
                name: format!("r{round}"),
                tables,
            };
            let text = String::from_utf8(encode_results(
                std::slice::from_ref(&result),
                &all_annotations(),
            ))
            .unwrap();
            let back = decode(&text).unwrap_or_else(|e| panic!("round {round}: {e}\n{text}"));
            assert_eq!(back.len(), 1, "round {round}");
            // An empty string and a null write the same cell; compare with that folded.
            let fold = |t: &Table| -> Vec<Vec<String>> {
                t.columns
                    .iter()
                    .map(|c| {
                        c.values
                            .iter()
                            .map(|v| {
                                format!(
                                    "{:?}",
                                    match v {
                                        Value::String(s) if s.is_empty() => Value::Null,
                                        v => v.clone(),
                                    }
                                )
                            })
                            .collect()
                    })
                    .collect()
            };
            assert_eq!(
                back[0].tables.len(),
                result.tables.len(),
                "round {round}\n{text}"
            );
            for (got, want) in back[0].tables.iter().zip(&result.tables) {
                assert_eq!(got.schema(), want.schema(), "round {round}");
                assert_eq!(fold(got), fold(want), "round {round}\n{text}");
                let names = |t: &Table| {
                    t.key
                        .columns
                        .iter()
                        .map(|k| k.name.clone())
                        .collect::<Vec<_>>()
                };
                assert_eq!(names(got), names(want), "round {round}");
            }
        }
    }
}
