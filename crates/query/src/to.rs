//! Flux's `to()` (universe `to` and `influxdb.to`): writes its input tables into a bucket
//! through the interpreter's [`Sink`] and passes them on unchanged.
//!
//! Each row becomes one point per field, as InfluxDB's `to` transformation builds them:
//! * the measurement is the `measurementColumn` (default `_measurement`), which must be a
//!   non-empty string;
//! * the time is the `timeColumn` (default `_time`), which must exist with type time and be
//!   set on every row;
//! * the field is named by `_field` and valued by `_value` (both must exist);
//! * tags are the `tagColumns` given, or else every string column but `_field`, `_value`
//!   and the measurement column (so `_start`/`_stop`, being times, never are); a null or empty
//!   tag value leaves the tag out;
//! * a null `_value` writes nothing for that row.
//!
//! `fieldFn`, `host` and `token` (remote writes) are not supported and are refused by name.
//! `tasks.lastSuccess` (package `influxdata/influxdb/tasks`), which task scripts pair with
//! `to()`, is here too.
//! Points go to the sink once per table, after the whole table is checked.

use std::sync::Arc;

use crate::QueryError;
use crate::exec::{Args, Interp, Stream, StreamData};
use crate::source::{BucketRef, OrgRef, WritePoint, WriteTarget};
use crate::table::Table;
use crate::value::{DataType, Value};

/// `tasks.lastSuccess(orDefault)`: the schedule time of the task's latest successful run, or
/// `orDefault` (returned as given, e.g. a duration for `range`) when there is none or the
/// script is not a task run.
pub fn last_success(it: &mut Interp<'_>, a: &Args) -> R<Value> {
    let default = a.required("orDefault")?.clone();
    Ok(it.latest_success.map_or(default, Value::Time))
}

/// The parameters `to()` accepts (the rest are refused as unsupported arguments).
pub const PARAMS: &[&str] = &[
    "bucket",
    "bucketID",
    "org",
    "orgID",
    "timeColumn",
    "measurementColumn",
    "tagColumns",
];

type R<T> = Result<T, QueryError>;

/// Calls `to()`: validates its arguments, writes every input table and returns the input.
pub fn to(it: &mut Interp<'_>, a: &Args) -> R<Value> {
    let bucket = match (a.string("bucket")?, a.string("bucketID")?) {
        (Some(b), None) => BucketRef::Name(b),
        (None, Some(id)) => BucketRef::Id(id),
        (Some(_), Some(_)) => return Err(a.err("specify only one of bucket and bucketID")),
        (None, None) => return Err(a.err("must specify one of bucket or bucketID")),
    };
    let org = match (a.string("org")?, a.string("orgID")?) {
        (Some(o), None) => Some(OrgRef::Name(o)),
        (None, Some(id)) => Some(OrgRef::Id(id)),
        (Some(_), Some(_)) => return Err(a.err("specify only one of org and orgID")),
        (None, None) => None,
    };
    let target = WriteTarget { bucket, org };
    let spec = Spec {
        time_column: a.string_or("timeColumn", "_time")?,
        measurement_column: a.string_or("measurementColumn", "_measurement")?,
        tag_columns: a.strings("tagColumns")?.map(|mut t| {
            t.sort();
            t
        }),
    };
    let Some(sink) = it.sink else {
        return Err(a.err("to() cannot write here: no write destination is available"));
    };
    let s = a.stream()?;
    let tables = it.materialize(&s)?;
    for t in tables.iter() {
        it.limits.check_time()?;
        let points = table_points(t, &spec).map_err(|m| a.err(m))?;
        if !points.is_empty() {
            sink.write(&target, &points)?;
        }
    }
    Ok(Value::Stream(Arc::new(Stream {
        data: StreamData::Tables(tables),
        yielded: false,
        bounds: s.bounds,
    })))
}

/// How `to()` maps columns.
#[derive(Debug, Clone)]
pub struct Spec {
    pub time_column: String,
    pub measurement_column: String,
    /// Sorted explicit tag columns; `None`: every string column but `_field`, `_value` and
    /// the measurement column.
    pub tag_columns: Option<Vec<String>>,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            time_column: "_time".into(),
            measurement_column: "_measurement".into(),
            tag_columns: None,
        }
    }
}

/// The points one table writes, as described in the module documentation; errors carry
/// InfluxDB's messages.
pub fn table_points(t: &Table, spec: &Spec) -> Result<Vec<WritePoint>, String> {
    let is_tag = |name: &str, ty: DataType| match &spec.tag_columns {
        Some(list) => list.binary_search_by(|c| c.as_str().cmp(name)).is_ok(),
        None => {
            ty == DataType::String
                && name != "_field"
                && name != "_value"
                && name != spec.measurement_column
        }
    };
    let time_col = t
        .column(&spec.time_column)
        .ok_or_else(|| "no time column detected".to_string())?;
    if time_col.ty != DataType::Time {
        return Err(format!(
            "column {} of type {} is not of type time",
            spec.time_column,
            time_col.ty.flux_name()
        ));
    }
    let mut tag_cols = Vec::new();
    for c in &t.columns {
        if c.name != spec.measurement_column && c.name != spec.time_column && is_tag(&c.name, c.ty)
        {
            if c.ty != DataType::String {
                return Err("invalid type for tag column".into());
            }
            tag_cols.push(c);
        }
    }
    tag_cols.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let n = t.nrows();
    if n == 0 {
        return Ok(Vec::new());
    }
    let measurement_col = t.column(&spec.measurement_column);
    let field_col = t
        .column("_field")
        .ok_or_else(|| "table has no _field column".to_string())?;
    let value_col = t
        .column("_value")
        .ok_or_else(|| "table has no _value column".to_string())?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(Value::Time(time)) = time_col.values.get(i) else {
            return Err("timestamp missing from block".into());
        };
        let measurement = match measurement_col.and_then(|c| c.values.get(i)) {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            _ => {
                return Err(format!(
                    "no column with label {} exists",
                    spec.measurement_column
                ));
            }
        };
        let field = match field_col.values.get(i) {
            Some(Value::String(f)) => f.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => {
                return Err(format!(
                    "field name must be a string, got {}",
                    v.type_name()
                ));
            }
        };
        let value = match value_col.values.get(i) {
            None | Some(Value::Null) => continue,
            Some(Value::Float(f)) if !f.is_finite() => {
                return Err(format!("invalid field value {f} for field {field}"));
            }
            Some(
                v @ (Value::Float(_)
                | Value::Int(_)
                | Value::UInt(_)
                | Value::Bool(_)
                | Value::String(_)),
            ) => v.clone(),
            Some(v) => {
                return Err(format!(
                    "unsupported field type {} for field {field}",
                    v.type_name()
                ));
            }
        };
        if field.is_empty() {
            return Err("field name must not be empty".into());
        }
        let tags = tag_cols
            .iter()
            .filter_map(|c| match c.values.get(i) {
                Some(Value::String(v)) if !v.is_empty() => Some((c.name.clone(), v.clone())),
                _ => None,
            })
            .collect();
        out.push(WritePoint {
            measurement,
            tags,
            field,
            value,
            time: *time,
        });
    }
    Ok(out)
}

/// Points as line protocol (one line each, nanosecond precision), escaped as the protocol
/// requires: what a sink over a line-protocol writer sends.
pub fn line_protocol(points: &[WritePoint]) -> String {
    let mut s = String::new();
    for p in points {
        escape(&mut s, &p.measurement, &[',', ' ']);
        for (k, v) in &p.tags {
            s.push(',');
            escape(&mut s, k, &[',', '=', ' ']);
            s.push('=');
            escape(&mut s, v, &[',', '=', ' ']);
        }
        s.push(' ');
        escape(&mut s, &p.field, &[',', '=', ' ']);
        s.push('=');
        match &p.value {
            Value::Float(f) => {
                // Rust prints floats in their shortest round-trip form, as line protocol reads.
                s.push_str(&format!("{f:?}"));
            }
            Value::Int(i) => s.push_str(&format!("{i}i")),
            Value::UInt(u) => s.push_str(&format!("{u}u")),
            Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
            Value::String(v) => {
                s.push('"');
                for ch in v.chars() {
                    if ch == '"' || ch == '\\' {
                        s.push('\\');
                    }
                    s.push(ch);
                }
                s.push('"');
            }
            _ => {}
        }
        s.push(' ');
        s.push_str(&p.time.to_string());
        s.push('\n');
    }
    s
}

fn escape(out: &mut String, v: &str, special: &[char]) {
    for ch in v.chars() {
        if special.contains(&ch) {
            out.push('\\');
        }
        out.push(ch);
    }
}
