//! InfluxDB's `/query` answer formats.
//!
//! JSON: `{"results":[{"statement_id":0,"series":[{"name":..,"tags":{..},"columns":[..],
//! "values":[[..]]}]}]}` with `"error"` in a result that failed; numbers as Go's encoder writes
//! them (`1` for the float 1.0, exponents past 1e21 and below 1e-6); times as RFC3339 with the
//! fraction's trailing zeros stripped, or integers in an [`Epoch`] unit (truncated toward
//! zero, as Go's integer division). Chunked answers are one JSON object per line, each holding
//! at most `chunk_size` rows of one series, `"partial":true` on all but the last.
//!
//! CSV (`Accept: application/csv` or `text/csv`): InfluxDB's v1 CSV, a `name,tags,<columns>`
//! header per statement (again when the columns change, after an empty line), then one line per
//! row with the series' name and its tags as `k=v,k2=v2` (escaped as in line protocol); times as
//! integer ns unless an epoch is asked; statements without series are skipped.

use std::fmt::Write as _;

use super::{Series, StatementResult};
use crate::time::write_rfc3339;
use crate::value::Value;

/// The unit of integer times (`epoch=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epoch {
    Ns,
    Us,
    Ms,
    S,
    M,
    H,
}

impl Epoch {
    /// `epoch=`'s value as InfluxDB 2.x reads it: `u ms s m h`, and nanoseconds for any other
    /// non-empty value (`ns` included).
    pub fn parse(s: &str) -> Epoch {
        match s {
            "u" => Epoch::Us,
            "ms" => Epoch::Ms,
            "s" => Epoch::S,
            "m" => Epoch::M,
            "h" => Epoch::H,
            _ => Epoch::Ns,
        }
    }

    fn divisor(self) -> i64 {
        match self {
            Epoch::Ns => 1,
            Epoch::Us => 1_000,
            Epoch::Ms => 1_000_000,
            Epoch::S => 1_000_000_000,
            Epoch::M => 60_000_000_000,
            Epoch::H => 3_600_000_000_000,
        }
    }
}

/// Appends a JSON string literal.
pub fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float as Go's `encoding/json` writes it.
pub fn json_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        // Rust writes `1e21` and `1.5e-7`; Go writes `1e+21` and `1.5e-07`, then its JSON
        // encoder shortens a two-digit negative exponent with a leading zero to one digit.
        match s.split_once('e') {
            Some((m, e)) if e.starts_with('-') => {
                let _ = write!(out, "{m}e-{}", &e[1..]);
            }
            Some((m, e)) => {
                let _ = write!(
                    out,
                    "{m}e+{}",
                    if e.len() == 1 {
                        format!("0{e}")
                    } else {
                        e.to_string()
                    }
                );
            }
            None => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

fn write_time(out: &mut String, t: i64, epoch: Option<Epoch>) {
    match epoch {
        Some(e) => {
            let _ = write!(out, "{}", t / e.divisor());
        }
        None => {
            out.push('"');
            write_rfc3339(out, t);
            out.push('"');
        }
    }
}

/// Appends one cell as JSON.
pub fn json_value(out: &mut String, v: &Value, epoch: Option<Epoch>) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => json_float(out, *f),
        Value::String(s) => json_string(out, s),
        Value::Time(t) => write_time(out, *t, epoch),
        other => json_string(out, &format!("{other:?}")),
    }
}

fn json_series(
    out: &mut String,
    s: &Series,
    rows: &[Vec<Value>],
    partial: bool,
    epoch: Option<Epoch>,
) {
    out.push('{');
    let mut first = true;
    if let Some(n) = &s.name {
        out.push_str("\"name\":");
        json_string(out, n);
        first = false;
    }
    if !s.tags.is_empty() {
        if !first {
            out.push(',');
        }
        out.push_str("\"tags\":{");
        for (i, (k, v)) in s.tags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(out, k);
            out.push(':');
            json_string(out, v);
        }
        out.push('}');
        first = false;
    }
    // Empty columns and values are left out, as Go's `omitempty` does.
    if !s.columns.is_empty() {
        if !first {
            out.push(',');
        }
        out.push_str("\"columns\":[");
        for (i, c) in s.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(out, c);
        }
        out.push(']');
        first = false;
    }
    if !rows.is_empty() {
        if !first {
            out.push(',');
        }
        out.push_str("\"values\":[");
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                json_value(out, v, epoch);
            }
            out.push(']');
        }
        out.push(']');
        first = false;
    }
    if partial {
        if !first {
            out.push(',');
        }
        out.push_str("\"partial\":true");
    }
    out.push('}');
}

/// Appends one statement's result object.
pub fn json_result(out: &mut String, r: &StatementResult, epoch: Option<Epoch>) {
    let _ = write!(out, "{{\"statement_id\":{}", r.statement_id);
    if let Some(e) = &r.error {
        out.push_str(",\"error\":");
        json_string(out, e);
    } else if !r.series.is_empty() {
        out.push_str(",\"series\":[");
        for (i, s) in r.series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_series(out, s, &s.values, false, epoch);
        }
        out.push(']');
    }
    out.push('}');
}

/// The whole JSON answer (no trailing newline).
pub fn json(results: &[StatementResult], epoch: Option<Epoch>) -> String {
    let mut out = String::from("{\"results\":[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_result(&mut out, r, epoch);
    }
    out.push_str("]}");
    out
}

/// One statement's chunks for `chunked=true`: each line a `{"results":[..]}` object holding
/// at most `chunk_size` rows of one series.
pub fn json_chunks(r: &StatementResult, epoch: Option<Epoch>, chunk_size: usize) -> Vec<String> {
    let chunk_size = chunk_size.max(1);
    if r.error.is_some() || r.series.is_empty() {
        return vec![json(std::slice::from_ref(r), epoch)];
    }
    let mut out = Vec::new();
    let nseries = r.series.len();
    for (si, s) in r.series.iter().enumerate() {
        let chunks: Vec<&[Vec<Value>]> = if s.values.is_empty() {
            vec![&s.values[..]]
        } else {
            s.values.chunks(chunk_size).collect()
        };
        let n = chunks.len();
        for (ci, rows) in chunks.into_iter().enumerate() {
            let series_partial = ci + 1 < n;
            let result_partial = series_partial || si + 1 < nseries;
            let mut line = String::from("{\"results\":[");
            let _ = write!(line, "{{\"statement_id\":{},\"series\":[", r.statement_id);
            json_series(&mut line, s, rows, series_partial, epoch);
            line.push(']');
            if result_partial {
                line.push_str(",\"partial\":true");
            }
            line.push_str("}]}");
            out.push(line);
        }
    }
    out
}

/// Re-indents compact JSON as Go's `json.MarshalIndent(v, "", "    ")` does (`pretty=true`):
/// one member or element a line, four spaces a level, `": "` after keys, `{}` and `[]` kept
/// on one line.
pub fn indent(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

/// The JSON error answer of a request that failed as a whole.
pub fn json_error(message: &str) -> String {
    let mut out = String::from("{\"error\":");
    json_string(&mut out, message);
    out.push('}');
    out
}

fn csv_field(out: &mut String, s: &str) {
    let needs = s == "\\."
        || s.contains([',', '"', '\r', '\n'])
        || s.starts_with(' ')
        || s.starts_with('\t');
    if needs {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv_row(out: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, c);
    }
    out.push('\n');
}

fn escape_tag(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// The tags of a series as InfluxDB's CSV writes them: `k=v,k2=v2`, escaped.
pub fn tags_key(tags: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape_tag(k));
        out.push('=');
        out.push_str(&escape_tag(v));
    }
    out
}

fn csv_cell(v: &Value, epoch: Option<Epoch>) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => {
            if f.is_finite() {
                format!("{f}")
            } else {
                String::new()
            }
        }
        Value::String(s) => s.clone(),
        Value::Time(t) => (t / epoch.map_or(1, Epoch::divisor)).to_string(),
        other => format!("{other:?}"),
    }
}

/// Writes statements' results as CSV one after another (the state carries the blank line
/// between statements). A statement error is written as InfluxDB writes a failed request's:
/// an `error` header and the message.
#[derive(Debug, Default)]
pub struct CsvWriter {
    started: bool,
}

impl CsvWriter {
    pub fn write(&mut self, out: &mut String, r: &StatementResult, epoch: Option<Epoch>) {
        if let Some(e) = &r.error {
            csv_row(out, &["error".to_string()]);
            csv_row(out, std::slice::from_ref(e));
            return;
        }
        if r.series.is_empty() {
            return;
        }
        if self.started {
            out.push('\n');
        }
        self.started = true;
        let mut header: Option<&Vec<String>> = None;
        for s in &r.series {
            if let Some(h) = header
                && h != &s.columns
            {
                out.push('\n');
                header = None;
            }
            if header.is_none() {
                let mut cells = vec!["name".to_string(), "tags".to_string()];
                cells.extend(s.columns.iter().cloned());
                csv_row(out, &cells);
                header = Some(&s.columns);
            }
            let name = s.name.clone().unwrap_or_default();
            let tags = tags_key(&s.tags);
            for row in &s.values {
                let mut cells = vec![name.clone(), tags.clone()];
                cells.extend(row.iter().map(|v| csv_cell(v, epoch)));
                csv_row(out, &cells);
            }
        }
    }
}

/// The whole CSV answer (see [`CsvWriter`]).
pub fn csv(results: &[StatementResult], epoch: Option<Epoch>) -> String {
    let mut out = String::new();
    let mut w = CsvWriter::default();
    for r in results {
        w.write(&mut out, r, epoch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_writes_them() {
        let f = |x: f64| {
            let mut s = String::new();
            json_float(&mut s, x);
            s
        };
        assert_eq!(f(1.0), "1");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e-300), "1e-300");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(-1.7976931348623157e308), "-1.7976931348623157e+308");
        assert_eq!(f(123456789.125), "123456789.125");
    }

    #[test]
    fn json_shape_and_epochs() {
        let r = StatementResult {
            statement_id: 0,
            series: vec![Series {
                name: Some("cpu".into()),
                tags: vec![("host".into(), "a".into())],
                columns: vec!["time".into(), "v".into()],
                values: vec![vec![Value::Time(1_500_000_000), Value::Float(1.0)]],
            }],
            error: None,
        };
        assert_eq!(
            json(std::slice::from_ref(&r), None),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","v"],"values":[["1970-01-01T00:00:01.5Z",1]]}]}]}"#
        );
        assert_eq!(
            ["u", "ms", "s", "m", "h", "ns", "x"].map(Epoch::parse),
            [
                Epoch::Us,
                Epoch::Ms,
                Epoch::S,
                Epoch::M,
                Epoch::H,
                Epoch::Ns,
                Epoch::Ns
            ]
        );
        assert!(json(std::slice::from_ref(&r), Some(Epoch::S)).contains("[[1,1]]"));
        assert!(json(std::slice::from_ref(&r), Some(Epoch::Ms)).contains("[[1500,1]]"));
        let text = csv(std::slice::from_ref(&r), None);
        assert_eq!(text, "name,tags,time,v\ncpu,host=a,1500000000,1\n");
        let err = StatementResult {
            statement_id: 1,
            series: vec![],
            error: Some("boom".into()),
        };
        assert_eq!(
            json(&[err], None),
            r#"{"results":[{"statement_id":1,"error":"boom"}]}"#
        );
    }

    #[test]
    fn pretty_as_go_indents() {
        assert_eq!(
            indent(
                r#"{"results":[{"statement_id":0,"series":[{"columns":["a,b"],"values":[]}]}]}"#
            ),
            "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"columns\": [\n                        \"a,b\"\n                    ],\n                    \"values\": []\n                }\n            ]\n        }\n    ]\n}"
        );
        assert_eq!(
            indent(r#"{"e":"x\\\"]:{"}"#),
            "{\n    \"e\": \"x\\\\\\\"]:{\"\n}"
        );
    }

    #[test]
    fn chunks_split_rows() {
        let r = StatementResult {
            statement_id: 0,
            series: vec![Series {
                name: Some("m".into()),
                tags: vec![],
                columns: vec!["time".into(), "v".into()],
                values: (0..5)
                    .map(|i| vec![Value::Time(i), Value::Int(i)])
                    .collect(),
            }],
            error: None,
        };
        let chunks = json_chunks(&r, Some(Epoch::Ns), 2);
        assert_eq!(chunks.len(), 3);
        assert!(chunks[0].contains("\"partial\":true"));
        assert!(!chunks[2].contains("partial"));
        assert!(chunks[2].contains("[[4,4]]"));
    }
}
