//! Flux's `to()` (universe `to` and `influxdb.to`): writes its input tables into a bucket
//! through the interpreter's [`Sink`](crate::source::Sink) and passes them on unchanged.
//!
//! Each row becomes one point per field, as InfluxDB's `to` transformation builds them:
//! * the measurement is the `measurementColumn` (default `_measurement`), which must be a
//!   non-empty string;
//! * the time is the `timeColumn` (default `_time`), which must exist with type time and be
//!   set on every row;
//! * the field is named by `_field` and valued by `_value` (both must exist), or, with
//!   `fieldFn: (r) => ({k: v, ...})`, each property of the record the function returns for
//!   the row is a field (in key order);
//! * tags are the `tagColumns` given, or else every string column but the measurement column
//!   and `_field` and `_value` (with `fieldFn`: but the columns the function reads as `r.col`
//!   or `r["col"]`); `_start`/`_stop`, being times, never are; a null or empty tag value
//!   leaves the tag out;
//! * a null value writes nothing for that field.
//!
//! `host` and `token` (remote writes) are not supported and are refused by name.
//! `tasks.lastSuccess` (package `influxdata/influxdb/tasks`), which task scripts pair with
//! `to()`, is here too.
//! Points go to the sink once per table, after the whole table is checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::QueryError;
use crate::exec::{Args, Function, Interp, Stream, StreamData};
use crate::flux::ast::{Expr, ExprKind, FunctionBody, Statement, StringPart};
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
    "fieldFn",
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
    let field_fn = a.function("fieldFn")?;
    let mut spec = Spec {
        time_column: a.string_or("timeColumn", "_time")?,
        measurement_column: a.string_or("measurementColumn", "_measurement")?,
        tag_columns: a.strings("tagColumns")?.map(|mut t| {
            t.sort();
            t
        }),
        field_fn_reads: None,
    };
    let param = match field_fn.as_deref() {
        None => None,
        Some(Function::Closure { params, body, .. }) => {
            let p = params
                .first()
                .map(|p| p.name.clone())
                .ok_or_else(|| a.err("fieldFn must take the row as its parameter"))?;
            let mut reads = BTreeSet::new();
            body_reads(body, &p, &mut reads);
            spec.field_fn_reads = Some(reads);
            Some(p)
        }
        Some(Function::Builtin(_)) => {
            return Err(a.err("fieldFn must be a function literal (r) => ({...})"));
        }
    };
    let Some(sink) = it.sink else {
        return Err(a.err("to() cannot write here: no write destination is available"));
    };
    let s = a.stream()?;
    let tables = it.materialize(&s)?;
    for t in tables.iter() {
        it.limits.check_time()?;
        let points = match (&field_fn, &param) {
            (Some(f), Some(p)) => {
                let f = Value::Function(f.clone());
                let mut fields = |i: usize| -> R<Vec<(String, Value)>> {
                    let row = Value::Record(Arc::new(t.row(i)));
                    match it.call(&f, vec![(p.clone(), row)], None, a.span)? {
                        Value::Record(r) => {
                            let mut v = r.fields.clone();
                            v.sort_by(|x, y| x.0.cmp(&y.0));
                            Ok(v)
                        }
                        other => Err(a.err(format!(
                            "fieldFn must return a record, got {}",
                            other.type_name()
                        ))),
                    }
                };
                table_points_with(t, &spec, Some(&mut fields)).map_err(|e| match e {
                    QueryError::Invalid { span, message } if span == Default::default() => {
                        a.err(message)
                    }
                    e => e,
                })?
            }
            _ => table_points(t, &spec).map_err(|m| a.err(m))?,
        };
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
    /// the measurement column (or, with a `fieldFn`, but the columns it reads).
    pub tag_columns: Option<Vec<String>>,
    /// With a `fieldFn`: the columns it reads.
    pub field_fn_reads: Option<BTreeSet<String>>,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            time_column: "_time".into(),
            measurement_column: "_measurement".into(),
            tag_columns: None,
            field_fn_reads: None,
        }
    }
}

/// The columns a `fieldFn` body reads from its row parameter `p` (`p.col`, `p["col"]`).
fn body_reads(body: &FunctionBody, p: &str, out: &mut BTreeSet<String>) {
    match body {
        FunctionBody::Expr(e) => expr_reads(e, p, out),
        FunctionBody::Block(stmts) => {
            for st in stmts {
                match st {
                    Statement::Assign { value, .. }
                    | Statement::Return { value, .. }
                    | Statement::Option { value, .. } => expr_reads(value, p, out),
                    Statement::Expr(e) => expr_reads(e, p, out),
                }
            }
        }
    }
}

fn expr_reads(e: &Expr, p: &str, out: &mut BTreeSet<String>) {
    let is_param = |o: &Expr| matches!(&o.kind, ExprKind::Identifier(n) if n == p);
    match &e.kind {
        ExprKind::Member { object, property } => {
            if is_param(object) {
                out.insert(property.clone());
            }
            expr_reads(object, p, out);
        }
        ExprKind::Index { object, index } => {
            if is_param(object)
                && let ExprKind::String(parts) = &index.kind
                && let [StringPart::Text(col)] = parts.as_slice()
            {
                out.insert(col.clone());
            }
            expr_reads(object, p, out);
            expr_reads(index, p, out);
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            expr_reads(lhs, p, out);
            expr_reads(rhs, p, out);
        }
        ExprKind::Unary { operand, .. } => expr_reads(operand, p, out),
        ExprKind::Call { callee, args } => {
            expr_reads(callee, p, out);
            for a in args {
                expr_reads(&a.value, p, out);
            }
        }
        ExprKind::Pipe { lhs, call } => {
            expr_reads(lhs, p, out);
            expr_reads(call, p, out);
        }
        ExprKind::Conditional {
            test,
            consequent,
            alternate,
        } => {
            expr_reads(test, p, out);
            expr_reads(consequent, p, out);
            expr_reads(alternate, p, out);
        }
        ExprKind::String(parts) => {
            for s in parts {
                if let StringPart::Interpolated(x) = s {
                    expr_reads(x, p, out);
                }
            }
        }
        ExprKind::Array(items) => {
            for x in items {
                expr_reads(x, p, out);
            }
        }
        ExprKind::Record { with, properties } => {
            if let Some(w) = with {
                expr_reads(w, p, out);
            }
            for x in properties {
                expr_reads(&x.value, p, out);
            }
        }
        ExprKind::Function { body, .. } => body_reads(body, p, out),
        _ => {}
    }
}

/// The points one table writes with the default field mapping (`_field` = `_value`), as
/// described in the module documentation; errors carry InfluxDB's messages.
pub fn table_points(t: &Table, spec: &Spec) -> Result<Vec<WritePoint>, String> {
    table_points_with(t, spec, None).map_err(|e| match e {
        QueryError::Invalid { message, .. } => message,
        e => e.to_string(),
    })
}

/// Row `i`'s fields, as a `fieldFn` gives them (sorted by key).
pub type FieldsOf<'f> = dyn FnMut(usize) -> R<Vec<(String, Value)>> + 'f;

fn invalid(m: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        span: crate::flux::ast::Span::default(),
        message: m.into(),
    }
}

/// The points of one table; `fields` maps a row to its fields, else `_field`/`_value` do.
pub fn table_points_with(
    t: &Table,
    spec: &Spec,
    mut fields: Option<&mut FieldsOf<'_>>,
) -> R<Vec<WritePoint>> {
    let is_tag = |name: &str, ty: DataType| match (&spec.tag_columns, &spec.field_fn_reads) {
        (Some(list), _) => list.binary_search_by(|c| c.as_str().cmp(name)).is_ok(),
        (None, Some(reads)) => {
            ty == DataType::String && !reads.contains(name) && name != spec.measurement_column
        }
        (None, None) => {
            ty == DataType::String
                && name != "_field"
                && name != "_value"
                && name != spec.measurement_column
        }
    };
    let time_col = t
        .column(&spec.time_column)
        .ok_or_else(|| invalid("no time column detected"))?;
    if time_col.ty != DataType::Time {
        return Err(invalid(format!(
            "column {} of type {} is not of type time",
            spec.time_column,
            time_col.ty.flux_name()
        )));
    }
    let mut tag_cols = Vec::new();
    for c in &t.columns {
        if c.name != spec.measurement_column && c.name != spec.time_column && is_tag(&c.name, c.ty)
        {
            if c.ty != DataType::String {
                return Err(invalid("invalid type for tag column"));
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
    let default_cols = match fields {
        Some(_) => None,
        None => Some((
            t.column("_field")
                .ok_or_else(|| invalid("table has no _field column"))?,
            t.column("_value")
                .ok_or_else(|| invalid("table has no _value column"))?,
        )),
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(Value::Time(time)) = time_col.values.get(i) else {
            return Err(invalid("timestamp missing from block"));
        };
        let measurement = match measurement_col.and_then(|c| c.values.get(i)) {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            _ => {
                return Err(invalid(format!(
                    "no column with label {} exists",
                    spec.measurement_column
                )));
            }
        };
        let row_fields: Vec<(String, Value)> = match (&mut fields, default_cols) {
            (Some(f), _) => f(i)?,
            (None, Some((field_col, value_col))) => {
                let field = match field_col.values.get(i) {
                    Some(Value::String(f)) => f.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => {
                        return Err(invalid(format!(
                            "field name must be a string, got {}",
                            v.type_name()
                        )));
                    }
                };
                vec![(
                    field,
                    value_col.values.get(i).cloned().unwrap_or(Value::Null),
                )]
            }
            (None, None) => Vec::new(),
        };
        let tags: Vec<(String, String)> = tag_cols
            .iter()
            .filter_map(|c| match c.values.get(i) {
                Some(Value::String(v)) if !v.is_empty() => Some((c.name.clone(), v.clone())),
                _ => None,
            })
            .collect();
        for (field, value) in row_fields {
            let value = match value {
                Value::Null => continue,
                Value::Float(f) if !f.is_finite() => {
                    return Err(invalid(format!(
                        "invalid field value {f} for field {field}"
                    )));
                }
                v @ (Value::Float(_)
                | Value::Int(_)
                | Value::UInt(_)
                | Value::Bool(_)
                | Value::String(_)) => v,
                v => {
                    return Err(invalid(format!(
                        "unsupported field type {} for field {field}",
                        v.type_name()
                    )));
                }
            };
            if field.is_empty() {
                return Err(invalid("field name must not be empty"));
            }
            out.push(WritePoint {
                measurement: measurement.clone(),
                tags: tags.clone(),
                field,
                value,
                time: *time,
            });
        }
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
