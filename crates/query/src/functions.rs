//! The functions of the supported Flux subset, each with InfluxDB's table semantics.
//!
//! Transformations work table by table on materialised [`Table`]s. `from`, `range`, `filter`,
//! `aggregateWindow` and the bare aggregates first try to fold themselves into a pending storage
//! read (see [`crate::exec`]); what cannot be pushed down runs here. Output shapes follow Flux:
//! aggregates keep the group-key columns (in key order) and the aggregated column; selectors keep
//! whole rows; `group`, `map`, `set` and `pivot` regroup rows into tables by their new key.
//! `map` writes its columns in sorted label order, as Flux's map transformation does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::QueryError;
use crate::exec::{
    Args, Function, Interp, Pending, PendingWindow, RowRef, Stream, StreamData, resolve_time,
    stringify, window_bounds,
};
use crate::flux::ast::{BinaryOp, Expr, ExprKind, FunctionBody, StringPart, UnaryOp};
use crate::source::{AggregateKind, BucketRef, Predicate, TimeSource, WindowAggregate};
use crate::table::{Column, GroupKey, KeyColumn, Partitioner, Table, cell_identity};
use crate::time::Duration;
use crate::value::{DataType, Value};

type R<T> = Result<T, QueryError>;

const DAY: i64 = 86_400_000_000_000;

/// The parameters each builtin accepts (besides the piped `tables`).
fn params_of(name: &str) -> &'static [&'static str] {
    match name {
        "from" => &["bucket", "bucketID"],
        "range" => &["start", "stop"],
        "filter" => &["fn", "onEmpty"],
        "map" => &["fn", "mergeKey"],
        "keep" | "drop" | "rename" => &["columns", "fn"],
        "group" => &["columns", "mode"],
        "count" | "sum" | "mean" | "spread" | "min" | "max" | "first" | "last" | "distinct"
        | "unique" => &["column"],
        "stddev" => &["column", "mode"],
        "median" => &["column", "method", "compression"],
        "quantile" => &["column", "q", "method", "compression"],
        "limit" | "tail" => &["n", "offset"],
        "sort" => &["columns", "desc"],
        "top" | "bottom" => &["n", "columns"],
        "window" => &[
            "every",
            "period",
            "offset",
            "createEmpty",
            "timeColumn",
            "startColumn",
            "stopColumn",
        ],
        "aggregateWindow" => &[
            "every",
            "period",
            "offset",
            "fn",
            "column",
            "timeSrc",
            "timeDst",
            "createEmpty",
        ],
        "pivot" => &["rowKey", "columnKey", "valueColumn"],
        "fill" => &["column", "value", "usePrevious"],
        "duplicate" => &["column", "as"],
        "set" => &["key", "value"],
        "yield" => &["name"],
        "string" | "int" | "uint" | "float" | "bool" | "time" => &["v"],
        "length" => &["arr"],
        "contains" => &["value", "set"],
        "csv.from" => &["csv"],
        "array.from" => &["rows"],
        "to" | "influxdb.to" => crate::to::PARAMS,
        "tasks.lastSuccess" => &["orDefault"],
        "secrets.get" => crate::secrets::PARAMS,
        n if n.starts_with("schema.") => {
            &["bucket", "tag", "predicate", "start", "stop", "measurement"]
        }
        _ => &[],
    }
}

/// Dispatches a call of a builtin.
pub fn call_builtin(it: &mut Interp<'_>, a: Args) -> R<Value> {
    let allowed = params_of(a.name);
    for (k, _) in &a.named {
        if k != "tables" && !allowed.contains(&k.as_str()) {
            return Err(a.err(format!("unsupported argument {k}")));
        }
    }
    if a.name == "window" {
        for (k, d) in [("startColumn", "_start"), ("stopColumn", "_stop")] {
            if a.string_or(k, d)? != d {
                return Err(a.err(format!("{k} other than {d:?} is not supported")));
            }
        }
    }
    match a.name {
        "from" => from(&a),
        "range" => range(it, &a),
        "filter" => filter(it, &a),
        "aggregateWindow" => aggregate_window(it, &a),
        "count" | "sum" | "mean" | "min" | "max" | "first" | "last" => {
            if let Some(v) = try_push_bare(it, &a)? {
                return Ok(v);
            }
            let (tables, bounds) = input(it, &a)?;
            let column = a.string_or("column", "_value")?;
            let out = match a.name {
                "count" | "sum" | "mean" => aggregate(&a, &tables, &column, a.name)?,
                _ => selector(&a, &tables, &column, a.name)?,
            };
            Ok(Stream::tables(out, bounds))
        }
        "yield" => {
            let s = a.stream()?;
            let name = a.string_or("name", "_result")?;
            let tables = it.materialize(&s)?;
            let st = Stream {
                data: StreamData::Tables(tables),
                yielded: true,
                bounds: s.bounds,
            };
            it.yield_result(&name, &st, a.span)?;
            Ok(Value::Stream(Arc::new(st)))
        }
        "now" => Ok(Value::Time(it.now)),
        "to" | "influxdb.to" => crate::to::to(it, &a),
        "tasks.lastSuccess" => crate::to::last_success(it, &a),
        "secrets.get" => crate::secrets::get(it, &a),
        "buckets" => buckets(it, &a),
        "string" | "int" | "uint" | "float" | "bool" | "time" => {
            let v = a.required("v").cloned().or_else(|e| {
                if a.named.iter().any(|(k, _)| k == "v") {
                    Ok(Value::Null)
                } else {
                    Err(e)
                }
            })?;
            convert(&v, a.name).map_err(|m| a.err(m))
        }
        "contains" => {
            let set = match a.required("set")? {
                Value::Array(x) => x.clone(),
                v => return Err(a.err(format!("set must be an array, got {}", v.type_name()))),
            };
            match a.named.iter().find(|(k, _)| k == "value").map(|(_, v)| v) {
                None => Err(a.err("missing required argument value")),
                Some(Value::Null) => Ok(Value::Null),
                Some(v) => Ok(Value::Bool(set.iter().any(|x| x == v))),
            }
        }
        "length" => match a.required("arr")? {
            Value::Array(x) => Ok(Value::Int(x.len() as i64)),
            v => Err(a.err(format!("arr must be an array, got {}", v.type_name()))),
        },
        "window" if window_pushable(&a)? => {
            let Some((s, mut p)) = pending(&a)? else {
                return Err(a.err("expected a pending read"));
            };
            p.window = Some(PendingWindow {
                every: a
                    .duration("every")?
                    .ok_or_else(|| a.err("missing required argument every"))?,
                offset: a.duration("offset")?.unwrap_or_default(),
                create_empty: a.bool_or("createEmpty", false)?,
            });
            Ok(with_pending(p, s.bounds))
        }
        n if n.starts_with("schema.") => schema(it, &a),
        "csv.from" => {
            let text = a
                .string("csv")?
                .ok_or_else(|| a.err("missing required argument csv (file is not supported)"))?;
            let results = crate::csv::decode(&text).map_err(|e| a.err(e))?;
            Ok(Stream::tables(
                results.into_iter().flat_map(|r| r.tables).collect(),
                None,
            ))
        }
        "array.from" => array_from(&a),
        _ => {
            let (tables, bounds) = input(it, &a)?;
            let out = transform(it, &a, &tables)?;
            it.limits.check_memory(&out, it.held_bytes())?;
            Ok(Stream::tables(out, bounds))
        }
    }
}

fn transform(it: &mut Interp<'_>, a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    match a.name {
        "map" => map(it, a, tables),
        "keep" | "drop" => keep_drop(it, a, tables),
        "rename" => rename(it, a, tables),
        "group" => group(a, tables),
        "median" | "quantile" | "spread" | "stddev" => {
            let column = a.string_or("column", "_value")?;
            if matches!(a.name, "median" | "quantile") {
                quantile(a, tables, &column)
            } else {
                aggregate(a, tables, &column, a.name)
            }
        }
        "distinct" => distinct(a, tables),
        "unique" => unique(a, tables),
        "limit" | "tail" => limit(a, tables),
        "sort" | "top" | "bottom" => sort(a, tables),
        "window" => window(it, a, tables),
        "pivot" => pivot(a, tables),
        "fill" => fill(a, tables),
        "duplicate" => duplicate(a, tables),
        "set" => set(a, tables),
        "toFloat" | "toInt" | "toUInt" | "toString" | "toBool" | "toTime" => {
            convert_column(a, tables)
        }
        other => Err(a.err(format!("unsupported function {other}"))),
    }
}

type Bounds = Option<(i64, i64)>;

fn input(it: &mut Interp<'_>, a: &Args) -> R<(Arc<Vec<Table>>, Bounds)> {
    let s = a.stream()?;
    let t = it.materialize(&s)?;
    Ok((t, s.bounds))
}

fn pending(a: &Args) -> R<Option<(Arc<Stream>, Pending)>> {
    let s = a.stream()?;
    if let StreamData::Pending(p) = &s.data {
        let p = p.clone();
        return Ok(Some((s, *p)));
    }
    Ok(None)
}

fn with_pending(p: Pending, bounds: Option<(i64, i64)>) -> Value {
    Value::Stream(Arc::new(Stream {
        data: StreamData::Pending(Box::new(p)),
        yielded: false,
        bounds,
    }))
}

fn from(a: &Args) -> R<Value> {
    let bucket = match (a.string("bucket")?, a.string("bucketID")?) {
        (Some(b), None) => BucketRef::Name(b),
        (None, Some(id)) => BucketRef::Id(id),
        (Some(_), Some(_)) => return Err(a.err("specify only one of bucket and bucketID")),
        (None, None) => return Err(a.err("must specify one of bucket or bucketID")),
    };
    Ok(with_pending(
        Pending {
            bucket,
            range: None,
            predicate: None,
            aggregate: None,
            window: None,
            span: a.span,
        },
        None,
    ))
}

fn time_arg(it: &Interp<'_>, a: &Args, k: &str) -> R<Option<i64>> {
    match a.get(k) {
        None => Ok(None),
        Some(v) => resolve_time(v, it.now).map(Some).ok_or_else(|| {
            a.err(format!(
                "argument {k} must be a time, duration or int, got {}",
                v.type_name()
            ))
        }),
    }
}

fn range(it: &mut Interp<'_>, a: &Args) -> R<Value> {
    let start =
        time_arg(it, a, "start")?.ok_or_else(|| a.err("missing required argument start"))?;
    let stop = time_arg(it, a, "stop")?.unwrap_or(it.now);
    if let Some((_, mut p)) = pending(a)?
        && p.range.is_none()
        && p.aggregate.is_none()
        && p.window.is_none()
    {
        p.range = Some((start, stop));
        return Ok(with_pending(p, Some((start, stop))));
    }
    let (tables, prev_bounds) = input(it, a)?;
    let mut out = Vec::new();
    for t in tables.iter() {
        let Some(ti) = t.col_index("_time") else {
            return Err(a.err("missing time column \"_time\""));
        };
        let idx: Vec<usize> = (0..t.nrows())
            .filter(
                |&i| matches!(t.columns[ti].values[i], Value::Time(x) if x >= start && x < stop),
            )
            .collect();
        if idx.is_empty() {
            continue;
        }
        // A table already bounded keeps the intersection of its bounds and the new ones.
        let (mut s, mut e) = (start, stop);
        if let (Some(Value::Time(ks)), Some(Value::Time(ke))) =
            (t.key.get("_start"), t.key.get("_stop"))
            && (*ks).max(start) < (*ke).min(stop)
        {
            s = (*ks).max(start);
            e = (*ke).min(stop);
        }
        let mut nt = t.take_rows(&idx);
        set_bounds(&mut nt, s, e);
        out.push(nt);
    }
    // Later windowing uses the intersection of successive ranges.
    let bounds = match prev_bounds {
        Some((ps, pe)) if ps.max(start) < pe.min(stop) => (ps.max(start), pe.min(stop)),
        _ => (start, stop),
    };
    Ok(Stream::tables(out, Some(bounds)))
}

/// Sets `_start`/`_stop` on every row and in the key (adding them in front when absent).
fn set_bounds(t: &mut Table, start: i64, stop: i64) {
    let n = t.nrows();
    for (name, v) in [("_stop", stop), ("_start", start)] {
        match t.col_index(name) {
            Some(i) => {
                t.columns[i].ty = DataType::Time;
                t.columns[i].values = vec![Value::Time(v); n];
            }
            None => t.columns.insert(
                0,
                Column {
                    name: name.into(),
                    ty: DataType::Time,
                    values: vec![Value::Time(v); n],
                },
            ),
        }
        match t.key.columns.iter_mut().find(|c| c.name == name) {
            Some(k) => k.value = Value::Time(v),
            None => t.key.columns.insert(
                0,
                KeyColumn {
                    name: name.into(),
                    ty: DataType::Time,
                    value: Value::Time(v),
                },
            ),
        }
    }
}

/// Calls a row function (`(r) => ...`) on row `i` of `t`. A function whose body is a single
/// expression without nested function literals is evaluated reading the row's cells directly;
/// anything else gets the row as a record.
fn call_row(it: &mut Interp<'_>, a: &Args, f: &Arc<Function>, t: &Table, i: usize) -> R<Value> {
    it.row_calls = it.row_calls.wrapping_add(1);
    if it.row_calls.is_multiple_of(4096) {
        it.limits.check_time()?;
    }
    let Function::Closure { params, body, env } = f.as_ref() else {
        return Err(a.err("fn must be a function literal"));
    };
    let Some(first) = params.first() else {
        return Err(a.err("fn must take one parameter"));
    };
    if params.len() == 1
        && let FunctionBody::Expr(e) = body.as_ref()
        && !has_function_literal(e)
    {
        let row = RowRef {
            param: &first.name,
            table: t,
            index: i,
        };
        return it.eval_in(e, &env.clone(), Some(&row));
    }
    it.call(
        &Value::Function(f.clone()),
        vec![(first.name.clone(), Value::Record(Arc::new(t.row(i))))],
        None,
        a.span,
    )
}

fn has_function_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Function { .. } => true,
        ExprKind::Member { object, .. } => has_function_literal(object),
        ExprKind::Index { object, index } => {
            has_function_literal(object) || has_function_literal(index)
        }
        ExprKind::Binary { lhs, rhs, .. } => has_function_literal(lhs) || has_function_literal(rhs),
        ExprKind::Unary { operand, .. } => has_function_literal(operand),
        ExprKind::Call { callee, args } => {
            has_function_literal(callee) || args.iter().any(|a| has_function_literal(&a.value))
        }
        ExprKind::Pipe { lhs, call } => has_function_literal(lhs) || has_function_literal(call),
        ExprKind::Conditional {
            test,
            consequent,
            alternate,
        } => {
            has_function_literal(test)
                || has_function_literal(consequent)
                || has_function_literal(alternate)
        }
        ExprKind::String(parts) => parts
            .iter()
            .any(|s| matches!(s, StringPart::Interpolated(x) if has_function_literal(x))),
        ExprKind::Array(items) => items.iter().any(has_function_literal),
        ExprKind::Record { with, properties } => {
            with.as_ref().is_some_and(|w| has_function_literal(w))
                || properties.iter().any(|p| has_function_literal(&p.value))
        }
        _ => false,
    }
}

fn filter(it: &mut Interp<'_>, a: &Args) -> R<Value> {
    let mut f = a
        .function("fn")?
        .ok_or_else(|| a.err("missing required argument fn"))?;
    let keep_empty = a.string_or("onEmpty", "drop")? == "keep";
    let mut stream = a.stream()?;
    if let StreamData::Pending(p) = &stream.data
        && p.aggregate.is_none()
        && !keep_empty
    {
        // Before range() only a filter that storage can fully evaluate can wait for the bounds.
        let (pushed, rest) = if p.range.is_some() {
            split_predicate(it, &f)
        } else {
            (to_predicate(it, &f), None)
        };
        if let Some(pred) = pushed {
            let mut p = p.clone();
            p.predicate = Some(match p.predicate.take() {
                Some(old) => Predicate::And(Box::new(old), Box::new(pred)),
                None => pred,
            });
            match rest {
                // Everything went to storage.
                None => return Ok(with_pending(*p, stream.bounds)),
                // The conjuncts storage cannot test run in memory on what it returns.
                Some(rest) => {
                    f = rest;
                    stream = Arc::new(Stream {
                        data: StreamData::Pending(p),
                        yielded: false,
                        bounds: stream.bounds,
                    });
                }
            }
        }
    }
    let tables = it.materialize(&stream)?;
    let bounds = stream.bounds;
    let mut out = Vec::new();
    for t in tables.iter() {
        let mut idx = Vec::new();
        for i in 0..t.nrows() {
            match call_row(it, a, &f, t, i)? {
                Value::Bool(true) => idx.push(i),
                Value::Bool(false) | Value::Null => {}
                v => {
                    return Err(a.err(format!("fn must return a bool, got {}", v.type_name())));
                }
            }
        }
        if idx.is_empty() && !keep_empty {
            continue;
        }
        out.push(t.take_rows(&idx));
    }
    Ok(Stream::tables(out, bounds))
}

/// Splits `(r) => a and b and ...` into a storage predicate made of the conjuncts storage can
/// test and a function of the remaining ones (`None` when nothing remains).
fn split_predicate(
    it: &mut Interp<'_>,
    f: &Arc<Function>,
) -> (Option<Predicate>, Option<Arc<Function>>) {
    if let Some(p) = to_predicate(it, f) {
        return (Some(p), None);
    }
    let Function::Closure { params, body, env } = f.as_ref() else {
        return (None, Some(f.clone()));
    };
    let FunctionBody::Expr(e) = body.as_ref() else {
        return (None, Some(f.clone()));
    };
    if params.len() != 1 {
        return (None, Some(f.clone()));
    }
    fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match &e.kind {
            ExprKind::Binary {
                op: BinaryOp::And,
                lhs,
                rhs,
            } => {
                conjuncts(lhs, out);
                conjuncts(rhs, out);
            }
            _ => out.push(e),
        }
    }
    let mut parts = Vec::new();
    conjuncts(e, &mut parts);
    let p = params[0].name.clone();
    let env2 = env.clone();
    let mut pushed: Option<Predicate> = None;
    let mut rest: Vec<Expr> = Vec::new();
    for c in parts {
        let mut lit = |x: &Expr| -> Option<Value> {
            if mentions(x, &p) {
                return None;
            }
            it.eval(x, &env2).ok()
        };
        match pred_of(c, &p, &mut lit) {
            Some(pr) => {
                pushed = Some(match pushed.take() {
                    Some(old) => Predicate::And(Box::new(old), Box::new(pr)),
                    None => pr,
                })
            }
            None => rest.push(c.clone()),
        }
    }
    let Some(pushed) = pushed else {
        return (None, Some(f.clone()));
    };
    let mut iter = rest.into_iter();
    let Some(first) = iter.next() else {
        return (Some(pushed), None);
    };
    let body = iter.fold(first, |acc, x| Expr {
        span: acc.span.to(x.span),
        kind: ExprKind::Binary {
            op: BinaryOp::And,
            lhs: Box::new(acc),
            rhs: Box::new(x),
        },
    });
    let rest_fn = Function::Closure {
        params: params.clone(),
        body: Arc::new(FunctionBody::Expr(Box::new(body))),
        env: env.clone(),
    };
    (Some(pushed), Some(Arc::new(rest_fn)))
}

/// Translates `(r) => <predicate on series keys>` into a storage predicate, if it is one.
fn to_predicate(it: &mut Interp<'_>, f: &Arc<Function>) -> Option<Predicate> {
    let Function::Closure { params, body, env } = f.as_ref() else {
        return None;
    };
    if params.len() != 1 {
        return None;
    }
    let FunctionBody::Expr(e) = body.as_ref() else {
        return None;
    };
    let p = &params[0].name;
    let env = env.clone();
    let mut lit = |x: &Expr| -> Option<Value> {
        if mentions(x, p) {
            return None;
        }
        it.eval(x, &env).ok()
    };
    pred_of(e, p, &mut lit)
}

fn mentions(e: &Expr, p: &str) -> bool {
    match &e.kind {
        ExprKind::Identifier(n) => n == p,
        ExprKind::Member { object, .. } => mentions(object, p),
        ExprKind::Index { object, index } => mentions(object, p) || mentions(index, p),
        ExprKind::Binary { lhs, rhs, .. } => mentions(lhs, p) || mentions(rhs, p),
        ExprKind::Unary { operand, .. } => mentions(operand, p),
        ExprKind::Call { callee, args } => {
            mentions(callee, p) || args.iter().any(|a| mentions(&a.value, p))
        }
        ExprKind::Pipe { lhs, call } => mentions(lhs, p) || mentions(call, p),
        ExprKind::Conditional {
            test,
            consequent,
            alternate,
        } => mentions(test, p) || mentions(consequent, p) || mentions(alternate, p),
        ExprKind::String(parts) => parts
            .iter()
            .any(|s| matches!(s, StringPart::Interpolated(x) if mentions(x, p))),
        ExprKind::Array(items) => items.iter().any(|x| mentions(x, p)),
        ExprKind::Record { with, properties } => {
            with.as_ref().is_some_and(|w| mentions(w, p))
                || properties.iter().any(|x| mentions(&x.value, p))
        }
        ExprKind::Function { .. } => true,
        _ => false,
    }
}

/// The series-key column a member expression `r.key` names, if it is one storage can test.
fn key_column<'e>(e: &'e Expr, p: &str) -> Option<&'e str> {
    if let ExprKind::Member { object, property } = &e.kind
        && matches!(&object.kind, ExprKind::Identifier(n) if n == p)
        && !matches!(property.as_str(), "_value" | "_time" | "_start" | "_stop")
    {
        return Some(property);
    }
    None
}

fn pred_of(e: &Expr, p: &str, lit: &mut dyn FnMut(&Expr) -> Option<Value>) -> Option<Predicate> {
    match &e.kind {
        ExprKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = pred_of(lhs, p, lit)?;
                let r = pred_of(rhs, p, lit)?;
                Some(if *op == BinaryOp::And {
                    Predicate::And(Box::new(l), Box::new(r))
                } else {
                    Predicate::Or(Box::new(l), Box::new(r))
                })
            }
            BinaryOp::RegexMatch | BinaryOp::RegexNotMatch => {
                let key = key_column(lhs, p)?;
                let Value::Regex(re) = lit(rhs)? else {
                    return None;
                };
                Some(Predicate::Regex {
                    key: key.to_string(),
                    regex: re.as_ref().clone(),
                    negate: *op == BinaryOp::RegexNotMatch,
                })
            }
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Lt
            | BinaryOp::Lte
            | BinaryOp::Gt
            | BinaryOp::Gte => {
                let (key, other, flipped) = match (key_column(lhs, p), key_column(rhs, p)) {
                    (Some(k), _) => (k, rhs, false),
                    (None, Some(k)) => (k, lhs, true),
                    _ => return None,
                };
                let Value::String(value) = lit(other)? else {
                    return None;
                };
                let key = key.to_string();
                use std::cmp::Ordering::*;
                let cmp = |op: std::cmp::Ordering, or_equal: bool| Predicate::Compare {
                    key: key.clone(),
                    op,
                    or_equal,
                    value: value.clone(),
                };
                Some(match (op, flipped) {
                    (BinaryOp::Eq | BinaryOp::Neq, _) => Predicate::Equal {
                        key: key.clone(),
                        value: value.clone(),
                        negate: *op == BinaryOp::Neq,
                    },
                    (BinaryOp::Lt, false) | (BinaryOp::Gt, true) => cmp(Less, false),
                    (BinaryOp::Lte, false) | (BinaryOp::Gte, true) => cmp(Less, true),
                    (BinaryOp::Gt, false) | (BinaryOp::Lt, true) => cmp(Greater, false),
                    _ => cmp(Greater, true),
                })
            }
            _ => None,
        },
        ExprKind::Unary {
            op: UnaryOp::Not,
            operand,
        } => Some(Predicate::Not(Box::new(pred_of(operand, p, lit)?))),
        // contains(value: r.key, set: [...strings]) is an `or` of equalities.
        ExprKind::Call { callee, args } if matches!(&callee.kind, ExprKind::Identifier(n) if n == "contains") =>
        {
            let value = args.iter().find(|x| x.key == "value")?;
            let set = args.iter().find(|x| x.key == "set")?;
            let key = key_column(&value.value, p)?.to_string();
            let Value::Array(items) = lit(&set.value)? else {
                return None;
            };
            let mut acc: Option<Predicate> = None;
            for it in items.iter() {
                let Value::String(v) = it else { return None };
                let eq = Predicate::Equal {
                    key: key.clone(),
                    value: v.clone(),
                    negate: false,
                };
                acc = Some(match acc {
                    Some(prev) => Predicate::Or(Box::new(prev), Box::new(eq)),
                    None => eq,
                });
            }
            // An empty set matches nothing: `x != x` is false for present tags, null otherwise.
            Some(acc.unwrap_or(Predicate::And(
                Box::new(Predicate::Exists(key.clone())),
                Box::new(Predicate::Not(Box::new(Predicate::Exists(key)))),
            )))
        }
        ExprKind::Unary {
            op: UnaryOp::Exists,
            operand,
        } => Some(Predicate::Exists(key_column(operand, p)?.to_string())),
        _ => None,
    }
}

fn agg_kind_of(v: &Value) -> Option<AggregateKind> {
    match v {
        Value::Function(f) => match f.as_ref() {
            Function::Builtin(n) => AggregateKind::parse(n),
            _ => None,
        },
        _ => None,
    }
}

fn try_push_bare(it: &mut Interp<'_>, a: &Args) -> R<Option<Value>> {
    let _ = it;
    let Some((s, mut p)) = pending(a)? else {
        return Ok(None);
    };
    let kind = AggregateKind::parse(a.name);
    if p.range.is_none() || p.aggregate.is_some() || a.string_or("column", "_value")? != "_value" {
        return Ok(None);
    }
    let Some(kind) = kind else { return Ok(None) };
    if let Some(w) = p.window {
        // window |> count/sum/mean: storage computes per window; rows are split into tables
        // when read (selectors keep the in-memory path).
        if kind.is_selector() {
            return Ok(None);
        }
        p.aggregate = Some(WindowAggregate {
            every: Some(w.every),
            offset: w.offset,
            kind,
            create_empty: w.create_empty,
            time_source: Some(TimeSource::Start),
        });
        return Ok(Some(with_pending(p, s.bounds)));
    }
    p.aggregate = Some(WindowAggregate {
        every: None,
        offset: Duration::default(),
        kind,
        create_empty: false,
        time_source: None,
    });
    Ok(Some(with_pending(p, s.bounds)))
}

fn aggregate_window(it: &mut Interp<'_>, a: &Args) -> R<Value> {
    let every = a
        .duration("every")?
        .ok_or_else(|| a.err("missing required argument every"))?;
    let period = a.duration("period")?.unwrap_or(every);
    let offset = a.duration("offset")?.unwrap_or_default();
    let f = a
        .get("fn")
        .cloned()
        .ok_or_else(|| a.err("missing required argument fn"))?;
    let column = a.string_or("column", "_value")?;
    let time_src = a.string_or("timeSrc", "_stop")?;
    let time_dst = a.string_or("timeDst", "_time")?;
    let create_empty = a.bool_or("createEmpty", true)?;
    if every.is_negative() || every.is_zero() {
        return Err(a.err("every must be positive"));
    }
    if let Some((s, mut p)) = pending(a)?
        && p.range.is_some()
        && p.aggregate.is_none()
        && p.window.is_none()
        && let Some(kind) = agg_kind_of(&f)
        && column == "_value"
        && time_dst == "_time"
        && (time_src == "_stop" || time_src == "_start")
        && period == every
        && every.nanos != i64::MAX
    {
        p.aggregate = Some(WindowAggregate {
            every: Some(every),
            offset,
            kind,
            create_empty,
            time_source: Some(if time_src == "_stop" {
                TimeSource::Stop
            } else {
                TimeSource::Start
            }),
        });
        return Ok(with_pending(p, s.bounds));
    }
    let (tables, bounds) = input(it, a)?;
    let windowed = window_tables(
        &|m| a.err(m),
        &tables,
        bounds,
        every,
        period,
        offset,
        create_empty,
        "_time",
    )?;
    let agg = it.call(
        &f,
        vec![("column".to_string(), Value::String(column.clone()))],
        Some(Stream::tables(windowed, bounds)),
        a.span,
    )?;
    let Value::Stream(s) = agg else {
        return Err(a.err("fn must return a stream of tables"));
    };
    let mut tables = it.materialize(&s)?.as_ref().clone();
    if create_empty {
        for t in tables.iter_mut() {
            if t.is_empty() {
                for c in t.columns.iter_mut() {
                    c.values
                        .push(t.key.get(&c.name).cloned().unwrap_or(Value::Null));
                }
            }
        }
    }
    let mut out = Vec::new();
    for t in tables {
        if t.is_empty() {
            continue;
        }
        let Some(src) = t.column(&time_src).cloned() else {
            return Err(a.err(format!("timeSrc column {time_src:?} does not exist")));
        };
        let mut t = t;
        put_column(&mut t, &time_dst, src.ty, src.values);
        out.push(t);
    }
    let merged = window_tables(
        &|m| a.err(m),
        &out,
        bounds,
        Duration::from_nanos(i64::MAX),
        Duration::from_nanos(i64::MAX),
        Duration::default(),
        false,
        &time_dst,
    )?;
    Ok(Stream::tables(merged, bounds))
}

/// Replaces or appends a column (never in the key).
fn put_column(t: &mut Table, name: &str, ty: DataType, values: Vec<Value>) {
    match t.col_index(name) {
        Some(i) => {
            t.columns[i].ty = ty;
            t.columns[i].values = values;
            t.key.columns.retain(|k| k.name != name);
        }
        None => t.columns.push(Column {
            name: name.to_string(),
            ty,
            values,
        }),
    }
}

/// Whether a `window()` call can wait in a pending read for an aggregate to push down with.
fn window_pushable(a: &Args) -> R<bool> {
    let Some((_, p)) = pending(a)? else {
        return Ok(false);
    };
    let Some(every) = a.duration("every")? else {
        return Ok(false);
    };
    Ok(p.range.is_some()
        && p.aggregate.is_none()
        && p.window.is_none()
        && !every.is_negative()
        && !every.is_zero()
        && every.nanos != i64::MAX
        && a.duration("period")?.is_none_or(|d| d == every)
        && a.string_or("timeColumn", "_time")? == "_time")
}

/// Turns window-aggregate tables read with `_time` = window start (one row per window) into
/// one table per window without `_time`, `_start`/`_stop` being the (clipped) window, as
/// InfluxDB answers a pushed-down `window() |> aggregate()`.
pub fn split_windows(
    tables: &[Table],
    start: i64,
    stop: i64,
    w: &PendingWindow,
) -> Result<Vec<Table>, String> {
    let bounds = window_bounds(start, stop, w.every, w.every, w.offset)?;
    let mut out = Vec::new();
    for t in tables {
        let Some(ti) = t.col_index("_time") else {
            out.push(t.clone());
            continue;
        };
        for i in 0..t.nrows() {
            let Value::Time(ws) = t.columns[ti].values[i] else {
                continue;
            };
            let we = bounds
                .binary_search_by_key(&ws, |b| b.0)
                .map_or(stop, |k| bounds[k].1);
            let mut nt = t.take_rows(&[i]);
            nt.columns.remove(ti);
            set_bounds(&mut nt, ws, we);
            out.push(nt);
        }
    }
    Ok(out)
}

fn window(it: &mut Interp<'_>, a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let _ = it;
    let every = a.duration("every")?;
    let period = a.duration("period")?;
    let (every, period) = match (every, period) {
        (Some(e), p) => (e, p.unwrap_or(e)),
        (None, Some(p)) => (p, p),
        (None, None) => return Err(a.err("missing required argument every")),
    };
    if every.is_negative() || every.is_zero() {
        return Err(a.err("every must be positive"));
    }
    let offset = a.duration("offset")?.unwrap_or_default();
    let create_empty = a.bool_or("createEmpty", false)?;
    let time_col = a.string_or("timeColumn", "_time")?;
    let bounds = a.stream()?.bounds;
    window_tables(
        &|m| a.err(m),
        tables,
        bounds,
        every,
        period,
        offset,
        create_empty,
        &time_col,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn window_tables(
    err: &dyn Fn(String) -> QueryError,
    tables: &[Table],
    bounds: Option<(i64, i64)>,
    every: Duration,
    period: Duration,
    offset: Duration,
    create_empty: bool,
    time_col: &str,
) -> R<Vec<Table>> {
    let inf = every.months == 0 && every.nanos == i64::MAX;
    let mut part = Partitioner::default();
    let mut out_tables: Vec<Table> = Vec::new();
    for t in tables {
        let tb = match (t.key.get("_start"), t.key.get("_stop")) {
            (Some(Value::Time(s)), Some(Value::Time(e))) if !inf => Some((*s, *e)),
            _ => bounds,
        };
        let Some((start, stop)) = tb else {
            return Err(err("window needs bounds: call range() first".to_string()));
        };
        let Some(ti) = t.col_index(time_col) else {
            return Err(err(format!("missing time column {time_col:?}")));
        };
        let times: Vec<Option<i64>> = t.columns[ti]
            .values
            .iter()
            .map(|v| {
                if let Value::Time(x) = v {
                    Some(*x)
                } else {
                    None
                }
            })
            .collect();
        // Rows with a time, ordered by it (stable), to find each window's rows by bisection.
        let mut by_time: Vec<usize> = (0..t.nrows()).filter(|&i| times[i].is_some()).collect();
        let in_order = by_time.windows(2).all(|w| times[w[0]] <= times[w[1]]);
        if !in_order {
            by_time.sort_by_key(|&i| times[i]);
        }
        let windows = if inf {
            vec![(start, stop)]
        } else {
            window_bounds(start, stop, every, period, offset).map_err(err)?
        };
        for (ws, we) in windows {
            // Unclipped window bounds decide membership; the clipped ones go into the key.
            let idx: Vec<usize> = if inf {
                (0..t.nrows()).collect()
            } else {
                let lo = by_time.partition_point(|&i| times[i].is_some_and(|x| x < ws));
                let hi = by_time.partition_point(|&i| times[i].is_some_and(|x| x < we));
                let mut idx = by_time[lo..hi].to_vec();
                if !in_order {
                    idx.sort_unstable();
                }
                idx
            };
            if idx.is_empty() && !create_empty {
                continue;
            }
            let mut nt = t.take_rows(&idx);
            set_bounds(&mut nt, ws, we);
            if inf {
                let nschema = nt.schema();
                let key = nt.key.clone();
                if nt.is_empty() {
                    part.ensure(key.clone(), &nschema);
                }
                for i in 0..nt.nrows() {
                    let row: Vec<Value> = nt.columns.iter().map(|c| c.values[i].clone()).collect();
                    part.push(key.clone(), &nschema, row).map_err(err)?;
                }
            } else {
                out_tables.push(nt);
            }
        }
    }
    if inf { Ok(part.tables) } else { Ok(out_tables) }
}

// ---------------------------------------------------------------------------------------------
// Aggregates and selectors

/// Sum of the non-null values, typed as the column; null when there are none.
pub fn sum_values<'a>(ty: DataType, vals: impl Iterator<Item = &'a Value>) -> Value {
    let mut any = false;
    let (mut i, mut u, mut f) = (0i64, 0u64, 0f64);
    for v in vals {
        match v {
            Value::Int(x) => {
                i = i.wrapping_add(*x);
                any = true
            }
            Value::UInt(x) => {
                u = u.wrapping_add(*x);
                any = true
            }
            Value::Float(x) => {
                f += x;
                any = true
            }
            _ => {}
        }
    }
    if !any {
        return Value::Null;
    }
    match ty {
        DataType::Int => Value::Int(i),
        DataType::UInt => Value::UInt(u),
        _ => Value::Float(f),
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(x) => Some(*x as f64),
        Value::UInt(x) => Some(*x as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// Mean of the non-null values as a float; null when there are none.
pub fn mean_values<'a>(vals: impl Iterator<Item = &'a Value>) -> Value {
    let (mut sum, mut n) = (0f64, 0u64);
    for v in vals {
        if let Some(x) = as_f64(v) {
            sum += x;
            n += 1;
        }
    }
    if n == 0 {
        Value::Null
    } else {
        Value::Float(sum / n as f64)
    }
}

/// The row a selector picks: first/last non-null, or the extreme value (earliest on ties).
pub fn select_index(kind: AggregateKind, vals: &[Value]) -> Option<usize> {
    match kind {
        AggregateKind::First => vals.iter().position(|v| !v.is_null()),
        AggregateKind::Last => vals.iter().rposition(|v| !v.is_null()),
        AggregateKind::Min | AggregateKind::Max => {
            let mut best: Option<usize> = None;
            for (i, v) in vals.iter().enumerate() {
                if v.is_null() || matches!(v, Value::Float(f) if f.is_nan()) {
                    continue;
                }
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let o = Value::cmp_cells(v, &vals[b]);
                        let better = if kind == AggregateKind::Min {
                            o.is_lt()
                        } else {
                            o.is_gt()
                        };
                        Some(if better { i } else { b })
                    }
                };
            }
            best
        }
        _ => None,
    }
}

/// Output of an aggregate: the key columns (key order) then the aggregated column.
fn agg_table(t: &Table, column: &str, ty: DataType, v: Value) -> Table {
    let mut columns: Vec<Column> = t
        .key
        .columns
        .iter()
        .filter(|k| k.name != column)
        .map(|k| Column {
            name: k.name.clone(),
            ty: k.ty,
            values: vec![k.value.clone()],
        })
        .collect();
    columns.push(Column {
        name: column.to_string(),
        ty,
        values: vec![v],
    });
    let mut key = t.key.clone();
    key.columns.retain(|k| k.name != column);
    Table { key, columns }
}

fn numeric_column<'t>(a: &Args, t: &'t Table, column: &str) -> R<&'t Column> {
    let c = t
        .column(column)
        .ok_or_else(|| a.err(format!("column {column:?} does not exist")))?;
    if !matches!(c.ty, DataType::Int | DataType::UInt | DataType::Float) {
        return Err(a.err(format!(
            "unsupported aggregate column type {}",
            c.ty.flux_name()
        )));
    }
    Ok(c)
}

fn aggregate(a: &Args, tables: &[Table], column: &str, name: &str) -> R<Vec<Table>> {
    let mut out = Vec::new();
    for t in tables {
        let (ty, v) = match name {
            "count" => {
                let c = t
                    .column(column)
                    .ok_or_else(|| a.err(format!("column {column:?} does not exist")))?;
                (DataType::Int, Value::Int(c.values.len() as i64))
            }
            "sum" => {
                let c = numeric_column(a, t, column)?;
                (c.ty, sum_values(c.ty, c.values.iter()))
            }
            "mean" => {
                let c = numeric_column(a, t, column)?;
                (DataType::Float, mean_values(c.values.iter()))
            }
            "spread" => {
                let c = numeric_column(a, t, column)?;
                let min = select_index(AggregateKind::Min, &c.values);
                let max = select_index(AggregateKind::Max, &c.values);
                let v = match (min.map(|i| &c.values[i]), max.map(|i| &c.values[i])) {
                    (Some(Value::Int(lo)), Some(Value::Int(hi))) => {
                        Value::Int(hi.wrapping_sub(*lo))
                    }
                    (Some(Value::UInt(lo)), Some(Value::UInt(hi))) => Value::UInt(hi - lo),
                    (Some(Value::Float(lo)), Some(Value::Float(hi))) => Value::Float(hi - lo),
                    _ => Value::Null,
                };
                (c.ty, v)
            }
            "stddev" => {
                let c = numeric_column(a, t, column)?;
                let mode = a.string_or("mode", "sample")?;
                let (mut n, mut mean, mut m2) = (0f64, 0f64, 0f64);
                for x in c.values.iter().filter_map(as_f64) {
                    n += 1.0;
                    let delta = x - mean;
                    mean += delta / n;
                    m2 += delta * (x - mean);
                }
                let v = if n == 0.0 {
                    Value::Null
                } else if mode == "population" {
                    Value::Float((m2 / n).sqrt())
                } else if n == 1.0 {
                    Value::Float(f64::NAN)
                } else {
                    Value::Float((m2 / (n - 1.0)).sqrt())
                };
                (DataType::Float, v)
            }
            other => return Err(a.err(format!("unsupported aggregate {other}"))),
        };
        out.push(agg_table(t, column, ty, v));
    }
    Ok(out)
}

fn selector(a: &Args, tables: &[Table], column: &str, name: &str) -> R<Vec<Table>> {
    let kind = AggregateKind::parse(name).ok_or_else(|| a.err("unknown selector"))?;
    let mut out = Vec::new();
    for t in tables {
        if t.is_empty() {
            out.push(t.clone());
            continue;
        }
        let c = t
            .column(column)
            .ok_or_else(|| a.err(format!("column {column:?} does not exist")))?;
        let idx: Vec<usize> = select_index(kind, &c.values).into_iter().collect();
        out.push(t.take_rows(&idx));
    }
    Ok(out)
}

fn quantile(a: &Args, tables: &[Table], column: &str) -> R<Vec<Table>> {
    let q = if a.name == "median" {
        0.5
    } else {
        a.float("q")?
            .ok_or_else(|| a.err("missing required argument q"))?
    };
    if !(0.0..=1.0).contains(&q) {
        return Err(a.err("quantile must be between 0 and 1"));
    }
    let method = a.string_or("method", "estimate_tdigest")?;
    let mut out = Vec::new();
    for t in tables {
        let c = numeric_column(a, t, column)?;
        let mut idx: Vec<usize> = (0..c.values.len())
            .filter(|&i| as_f64(&c.values[i]).is_some())
            .collect();
        idx.sort_by(|&x, &y| Value::cmp_cells(&c.values[x], &c.values[y]));
        match method.as_str() {
            "exact_selector" => {
                if idx.is_empty() {
                    out.push(t.take_rows(&[]));
                    continue;
                }
                let n = idx.len() as f64;
                let k = ((q * n).ceil() as i64 - 1).max(0) as usize;
                out.push(t.take_rows(&[idx[k.min(idx.len() - 1)]]));
            }
            "exact_mean" | "estimate_tdigest" => {
                let sorted: Vec<f64> = idx.iter().filter_map(|&i| as_f64(&c.values[i])).collect();
                let v = if sorted.is_empty() {
                    Value::Null
                } else if method == "exact_mean" {
                    let pos = q * (sorted.len() - 1) as f64;
                    let lo = pos.floor() as usize;
                    let hi = pos.ceil() as usize;
                    if lo == hi {
                        Value::Float(sorted[lo])
                    } else {
                        let d = pos - lo as f64;
                        Value::Float(sorted[lo] * (1.0 - d) + sorted[hi] * d)
                    }
                } else {
                    let compression = match a.float("compression")? {
                        Some(c) if c > 0.0 => c,
                        _ => 1000.0,
                    };
                    let mut td = crate::tdigest::TDigest::new(compression);
                    for v in &c.values {
                        if let Some(x) = as_f64(v) {
                            td.add(x, 1.0);
                        }
                    }
                    Value::Float(td.quantile(q))
                };
                out.push(agg_table(t, column, DataType::Float, v));
            }
            other => return Err(a.err(format!("unknown method {other:?}"))),
        }
    }
    Ok(out)
}

fn distinct(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let column = a.string_or("column", "_value")?;
    let mut out = Vec::new();
    for t in tables {
        let c = t
            .column(&column)
            .ok_or_else(|| a.err(format!("column {column:?} does not exist")))?;
        let mut vals = Vec::new();
        if let Some(kv) = t.key.get(&column) {
            if !t.is_empty() {
                vals.push(kv.clone());
            }
        } else {
            let mut seen = HashSet::new();
            for v in &c.values {
                let mut id = String::new();
                cell_identity(&mut id, v);
                if seen.insert(id) {
                    vals.push(v.clone());
                }
            }
        }
        let n = vals.len();
        let mut columns: Vec<Column> = t
            .key
            .columns
            .iter()
            .filter(|k| k.name != "_value")
            .map(|k| Column {
                name: k.name.clone(),
                ty: k.ty,
                values: vec![k.value.clone(); n],
            })
            .collect();
        columns.push(Column {
            name: "_value".into(),
            ty: c.ty,
            values: vals,
        });
        let mut key = t.key.clone();
        key.columns.retain(|k| k.name != "_value");
        out.push(Table { key, columns });
    }
    Ok(out)
}

fn unique(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let column = a.string_or("column", "_value")?;
    let mut out = Vec::new();
    for t in tables {
        let c = t
            .column(&column)
            .ok_or_else(|| a.err(format!("column {column:?} does not exist")))?;
        let mut seen = HashSet::new();
        let idx: Vec<usize> = (0..c.values.len())
            .filter(|&i| {
                let mut id = String::new();
                cell_identity(&mut id, &c.values[i]);
                seen.insert(id)
            })
            .collect();
        out.push(t.take_rows(&idx));
    }
    Ok(out)
}

fn limit(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let n = a
        .int("n")?
        .ok_or_else(|| a.err("missing required argument n"))?;
    let offset = a.int("offset")?.unwrap_or(0);
    if n < 0 || offset < 0 {
        return Err(a.err("n and offset must not be negative"));
    }
    let (n, offset) = (n as usize, offset as usize);
    Ok(tables
        .iter()
        .map(|t| {
            let rows = t.nrows();
            let idx: Vec<usize> = if a.name == "tail" {
                let end = rows.saturating_sub(offset);
                (end.saturating_sub(n)..end).collect()
            } else {
                (offset.min(rows)..(offset.saturating_add(n)).min(rows)).collect()
            };
            t.take_rows(&idx)
        })
        .collect())
}

fn sort(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let columns = a
        .strings("columns")?
        .unwrap_or_else(|| vec!["_value".to_string()]);
    let (desc, n) = match a.name {
        "top" => (true, a.int("n")?),
        "bottom" => (false, a.int("n")?),
        _ => (a.bool_or("desc", false)?, None),
    };
    if a.name != "sort" && n.is_none() {
        return Err(a.err("missing required argument n"));
    }
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<&Column> = columns.iter().filter_map(|c| t.column(c)).collect();
        if a.name != "sort" && cols.len() != columns.len() {
            return Err(a.err("sort column does not exist"));
        }
        let mut idx: Vec<usize> = (0..t.nrows()).collect();
        idx.sort_by(|&x, &y| {
            let mut o = std::cmp::Ordering::Equal;
            for c in &cols {
                o = Value::cmp_cells(&c.values[x], &c.values[y]);
                if o.is_ne() {
                    break;
                }
            }
            if desc { o.reverse() } else { o }
        });
        if let Some(n) = n {
            idx.truncate(n.max(0) as usize);
        }
        out.push(t.take_rows(&idx));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reshaping

fn key_sorted(mut tables: Vec<Table>) -> Vec<Table> {
    tables.sort_by(|x, y| x.key.compare(&y.key));
    tables
}

fn group(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let columns = a.strings("columns")?.unwrap_or_default();
    let mode = a.string_or("mode", "by")?;
    if mode != "by" && mode != "except" {
        return Err(a.err(format!("unknown group mode {mode:?}")));
    }
    let mut part = Partitioner::default();
    for t in tables {
        // Key columns come in the table's column order, whatever order they were listed in.
        let names: Vec<String> = if mode == "by" {
            t.columns
                .iter()
                .map(|c| c.name.clone())
                .filter(|n| columns.contains(n))
                .collect()
        } else {
            t.columns
                .iter()
                .map(|c| c.name.clone())
                .filter(|n| !columns.contains(n))
                .collect()
        };
        let schema = t.schema();
        let key_idx: Vec<usize> = names.iter().filter_map(|n| t.col_index(n)).collect();
        if t.is_empty() {
            part.ensure(t.key_from_columns(&names), &schema);
            continue;
        }
        for i in 0..t.nrows() {
            let key = GroupKey {
                columns: key_idx
                    .iter()
                    .map(|&j| KeyColumn {
                        name: t.columns[j].name.clone(),
                        ty: t.columns[j].ty,
                        value: t.columns[j].values[i].clone(),
                    })
                    .collect(),
            };
            let row = t.columns.iter().map(|c| c.values[i].clone()).collect();
            part.push(key, &schema, row).map_err(|m| a.err(m))?;
        }
    }
    Ok(key_sorted(part.tables))
}

fn keep_drop(it: &mut Interp<'_>, a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let columns = a.strings("columns")?;
    let f = a.function("fn")?;
    if columns.is_none() && f.is_none() {
        return Err(a.err("must specify columns or fn"));
    }
    let mut out = Vec::new();
    for t in tables {
        let mut kept = Vec::new();
        for c in &t.columns {
            let listed = match (&columns, &f) {
                (Some(cols), _) => cols.contains(&c.name),
                (None, Some(f)) => {
                    let pname = match f.as_ref() {
                        Function::Closure { params, .. } => params
                            .first()
                            .map(|p| p.name.clone())
                            .unwrap_or_else(|| "column".into()),
                        Function::Builtin(_) => "column".into(),
                    };
                    matches!(
                        it.call(
                            &Value::Function(f.clone()),
                            vec![(pname, Value::String(c.name.clone()))],
                            None,
                            a.span
                        )?,
                        Value::Bool(true)
                    )
                }
                (None, None) => false,
            };
            if listed == (a.name == "keep") {
                kept.push(c.clone());
            }
        }
        let mut key = t.key.clone();
        key.columns
            .retain(|k| kept.iter().any(|c| c.name == k.name));
        out.push(Table { key, columns: kept });
    }
    Ok(out)
}

fn rename(it: &mut Interp<'_>, a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let map = match a.get("columns") {
        Some(Value::Record(r)) => Some(r.clone()),
        Some(v) => return Err(a.err(format!("columns must be a record, got {}", v.type_name()))),
        None => None,
    };
    let f = a.function("fn")?;
    if map.is_none() && f.is_none() {
        return Err(a.err("must specify columns or fn"));
    }
    let mut out = Vec::new();
    for t in tables {
        let mut nt = t.clone();
        for c in nt.columns.iter_mut() {
            let new = match (&map, &f) {
                (Some(m), _) => match m.get(&c.name) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(v) => {
                        return Err(a.err(format!(
                            "new column name must be a string, got {}",
                            v.type_name()
                        )));
                    }
                    None => None,
                },
                (None, Some(f)) => {
                    let pname = match f.as_ref() {
                        Function::Closure { params, .. } => params
                            .first()
                            .map(|p| p.name.clone())
                            .unwrap_or_else(|| "column".into()),
                        Function::Builtin(_) => "column".into(),
                    };
                    match it.call(
                        &Value::Function(f.clone()),
                        vec![(pname, Value::String(c.name.clone()))],
                        None,
                        a.span,
                    )? {
                        Value::String(s) => Some(s),
                        v => {
                            return Err(
                                a.err(format!("fn must return a string, got {}", v.type_name()))
                            );
                        }
                    }
                }
                (None, None) => None,
            };
            if let Some(new) = new {
                if let Some(k) = nt.key.columns.iter_mut().find(|k| k.name == c.name) {
                    k.name = new.clone();
                }
                c.name = new;
            }
        }
        out.push(nt);
    }
    Ok(out)
}

fn map(it: &mut Interp<'_>, a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let f = a
        .function("fn")?
        .ok_or_else(|| a.err("missing required argument fn"))?;
    let mut part = Partitioner::default();
    let mut types: HashMap<String, DataType> = HashMap::new();
    for t in tables {
        for i in 0..t.nrows() {
            let rec = match call_row(it, a, &f, t, i)? {
                Value::Record(r) => r,
                v => return Err(a.err(format!("fn must return a record, got {}", v.type_name()))),
            };
            // Flux builds map's output columns in sorted label order.
            let mut fields: Vec<&(String, Value)> = rec.fields.iter().collect();
            fields.sort_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
            let mut schema = Vec::with_capacity(fields.len());
            let mut row = Vec::with_capacity(fields.len());
            for (k, v) in fields {
                let ty = match v.data_type() {
                    Some(ty) => ty,
                    None if v.is_null() => types
                        .get(k)
                        .copied()
                        .or_else(|| t.column(k).map(|c| c.ty))
                        .unwrap_or(DataType::String),
                    None => {
                        return Err(a.err(format!(
                            "column {k:?} cannot hold a value of type {}",
                            v.type_name()
                        )));
                    }
                };
                match types.get(k) {
                    Some(old) if *old != ty && !v.is_null() => {
                        return Err(a.err(format!(
                            "column {k:?} has type {} but fn returned {}",
                            old.flux_name(),
                            ty.flux_name()
                        )));
                    }
                    Some(_) => {}
                    None => {
                        types.insert(k.clone(), ty);
                    }
                }
                schema.push((k.clone(), types[k]));
                row.push(v.clone());
            }
            let key = GroupKey {
                columns: t
                    .key
                    .columns
                    .iter()
                    .filter_map(|kc| {
                        rec.get(&kc.name).map(|v| KeyColumn {
                            name: kc.name.clone(),
                            ty: types.get(&kc.name).copied().unwrap_or(kc.ty),
                            value: v.clone(),
                        })
                    })
                    .collect(),
            };
            part.push(key, &schema, row).map_err(|m| a.err(m))?;
        }
    }
    Ok(part.tables)
}

fn pivot(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let row_key = a
        .strings("rowKey")?
        .ok_or_else(|| a.err("missing required argument rowKey"))?;
    let column_key = a
        .strings("columnKey")?
        .ok_or_else(|| a.err("missing required argument columnKey"))?;
    let value_column = a.required_string("valueColumn")?;
    struct Acc {
        key: GroupKey,
        row_schema: Vec<(String, DataType)>,
        rows: Vec<Vec<Value>>,
        row_index: HashMap<String, usize>,
        new_cols: Vec<(String, DataType)>,
        cells: HashMap<(usize, usize), Value>,
    }
    let mut accs: Vec<Acc> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for t in tables {
        let mut key = t.key.clone();
        key.columns
            .retain(|k| !column_key.contains(&k.name) && k.name != value_column);
        let vc = t
            .column(&value_column)
            .ok_or_else(|| a.err(format!("value column {value_column:?} does not exist")))?;
        let ck: Vec<&Column> = column_key
            .iter()
            .map(|c| {
                t.column(c)
                    .ok_or_else(|| a.err(format!("column {c:?} does not exist")))
            })
            .collect::<R<_>>()?;
        let rk: Vec<&Column> = row_key
            .iter()
            .map(|c| {
                t.column(c)
                    .ok_or_else(|| a.err(format!("column {c:?} does not exist")))
            })
            .collect::<R<_>>()?;
        let id = key.identity();
        let ai = *by_key.entry(id).or_insert_with(|| {
            // Kept key columns and row-key columns, in the input table's column order.
            let row_schema: Vec<(String, DataType)> = t
                .columns
                .iter()
                .filter(|c| key.contains(&c.name) || row_key.contains(&c.name))
                .map(|c| (c.name.clone(), c.ty))
                .collect();
            accs.push(Acc {
                key: key.clone(),
                row_schema,
                rows: Vec::new(),
                row_index: HashMap::new(),
                new_cols: Vec::new(),
                cells: HashMap::new(),
            });
            accs.len() - 1
        });
        let acc = &mut accs[ai];
        for i in 0..t.nrows() {
            let mut rid = String::new();
            for c in &rk {
                cell_identity(&mut rid, &c.values[i]);
                rid.push('\u{1}');
            }
            let ri = match acc.row_index.get(&rid) {
                Some(&r) => r,
                None => {
                    let row: Vec<Value> = acc
                        .row_schema
                        .iter()
                        .map(|(n, _)| {
                            t.column(n)
                                .map(|c| c.values[i].clone())
                                .unwrap_or(Value::Null)
                        })
                        .collect();
                    acc.rows.push(row);
                    acc.row_index.insert(rid, acc.rows.len() - 1);
                    acc.rows.len() - 1
                }
            };
            let name = ck
                .iter()
                .map(|c| match &c.values[i] {
                    Value::Null => "null".to_string(),
                    Value::Float(f) => float_e(*f),
                    v => stringify(v).unwrap_or_default(),
                })
                .collect::<Vec<_>>()
                .join("_");
            let ci = match acc.new_cols.iter().position(|(n, _)| *n == name) {
                Some(ci) => {
                    if acc.new_cols[ci].1 != vc.ty {
                        return Err(
                            a.err(format!("value columns for {name:?} have different types"))
                        );
                    }
                    ci
                }
                None => {
                    acc.new_cols.push((name, vc.ty));
                    acc.new_cols.len() - 1
                }
            };
            acc.cells.insert((ri, ci), vc.values[i].clone());
        }
    }
    let mut out = Vec::new();
    for acc in accs {
        let n = acc.rows.len();
        let mut order: Vec<usize> = (0..n).collect();
        let rk_pos: Vec<usize> = row_key
            .iter()
            .filter_map(|c| acc.row_schema.iter().position(|(n, _)| n == c))
            .collect();
        order.sort_by(|&x, &y| {
            for &p in &rk_pos {
                let o = Value::cmp_cells(&acc.rows[x][p], &acc.rows[y][p]);
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        let mut columns: Vec<Column> = acc
            .row_schema
            .iter()
            .enumerate()
            .map(|(j, (name, ty))| Column {
                name: name.clone(),
                ty: *ty,
                values: order.iter().map(|&r| acc.rows[r][j].clone()).collect(),
            })
            .collect();
        for (ci, (name, ty)) in acc.new_cols.iter().enumerate() {
            let values = order
                .iter()
                .map(|&r| acc.cells.get(&(r, ci)).cloned().unwrap_or(Value::Null))
                .collect();
            if let Some(existing) = columns.iter_mut().find(|c| c.name == *name) {
                existing.ty = *ty;
                existing.values = values;
            } else {
                columns.push(Column {
                    name: name.clone(),
                    ty: *ty,
                    values,
                });
            }
        }
        out.push(Table {
            key: acc.key,
            columns,
        });
    }
    Ok(out)
}

/// A float as Go's `strconv.FormatFloat(f, 'E', -1, 64)` writes it (`1.5E+00`), which is how
/// pivot names columns made from float values.
fn float_e(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{f:E}");
    let (mant, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}E{sign}{:02}", exp.unsigned_abs())
}

fn fill(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let column = a.string_or("column", "_value")?;
    let use_prev = a.bool_or("usePrevious", false)?;
    let value = a.get("value").cloned();
    if !use_prev && value.is_none() {
        return Err(a.err("must specify value or usePrevious"));
    }
    let mut out = Vec::new();
    for t in tables {
        let mut nt = t.clone();
        if let Some(ci) = nt.col_index(&column) {
            let c = &mut nt.columns[ci];
            if let Some(v) = &value
                && v.data_type() != Some(c.ty)
            {
                return Err(a.err(format!(
                    "fill value of type {} does not match column type {}",
                    v.type_name(),
                    c.ty.flux_name()
                )));
            }
            let mut prev = Value::Null;
            for cell in c.values.iter_mut() {
                if cell.is_null() {
                    if use_prev {
                        *cell = prev.clone();
                    } else if let Some(v) = &value {
                        *cell = v.clone();
                    }
                } else {
                    prev = cell.clone();
                }
            }
        } else if let Some(v) = &value {
            let ty = v
                .data_type()
                .ok_or_else(|| a.err("fill value must be a scalar"))?;
            let n = nt.nrows();
            nt.columns.push(Column {
                name: column.clone(),
                ty,
                values: vec![v.clone(); n],
            });
        }
        out.push(nt);
    }
    Ok(out)
}

fn duplicate(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let column = a.required_string("column")?;
    let as_ = a.required_string("as")?;
    let mut out = Vec::new();
    for t in tables {
        let c = t
            .column(&column)
            .ok_or_else(|| a.err(format!("column {column:?} does not exist")))?
            .clone();
        let mut nt = t.clone();
        put_column(&mut nt, &as_, c.ty, c.values);
        out.push(nt);
    }
    Ok(out)
}

fn set(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let key = a.required_string("key")?;
    let value = a.required_string("value")?;
    let mut part = Partitioner::default();
    let mut plain = Vec::new();
    let mut regroup = false;
    for t in tables {
        let mut nt = t.clone();
        let n = nt.nrows();
        match nt.col_index(&key) {
            Some(i) => {
                nt.columns[i].ty = DataType::String;
                nt.columns[i].values = vec![Value::String(value.clone()); n];
            }
            None => nt.columns.push(Column {
                name: key.clone(),
                ty: DataType::String,
                values: vec![Value::String(value.clone()); n],
            }),
        }
        if let Some(k) = nt.key.columns.iter_mut().find(|k| k.name == key) {
            k.ty = DataType::String;
            k.value = Value::String(value.clone());
            regroup = true;
        }
        plain.push(nt);
    }
    if !regroup {
        return Ok(plain);
    }
    for t in plain {
        let schema = t.schema();
        if t.is_empty() {
            part.ensure(t.key.clone(), &schema);
        }
        for i in 0..t.nrows() {
            part.push(
                t.key.clone(),
                &schema,
                t.columns.iter().map(|c| c.values[i].clone()).collect(),
            )
            .map_err(|m| a.err(m))?;
        }
    }
    Ok(part.tables)
}

/// Converts a scalar as `string()`, `int()`, `float()`, ... do.
pub fn convert(v: &Value, to: &str) -> Result<Value, String> {
    use Value as V;
    if v.is_null() {
        return Ok(V::Null);
    }
    let fail = || format!("cannot convert {} {:?} to {to}", v.type_name(), v);
    Ok(match to {
        "string" => V::String(stringify(v).ok_or_else(fail)?),
        "int" => V::Int(match v {
            V::Int(i) => *i,
            V::UInt(u) => *u as i64,
            V::Float(f) => {
                if f.is_nan() {
                    return Err(fail());
                }
                f.trunc() as i64
            }
            V::Bool(b) => i64::from(*b),
            V::Time(t) => *t,
            V::Duration(d) => d.nanos,
            V::String(s) => s.parse().map_err(|_| fail())?,
            _ => return Err(fail()),
        }),
        "uint" => V::UInt(match v {
            V::Int(i) => *i as u64,
            V::UInt(u) => *u,
            V::Float(f) => f.trunc() as u64,
            V::Bool(b) => u64::from(*b),
            V::Time(t) => *t as u64,
            V::String(s) => s.parse().map_err(|_| fail())?,
            _ => return Err(fail()),
        }),
        "float" => V::Float(match v {
            V::Int(i) => *i as f64,
            V::UInt(u) => *u as f64,
            V::Float(f) => *f,
            V::Bool(b) => f64::from(u8::from(*b)),
            V::String(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "+Inf" | "Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                s => s.parse().map_err(|_| fail())?,
            },
            _ => return Err(fail()),
        }),
        "bool" => V::Bool(match v {
            V::Bool(b) => *b,
            V::Int(i) if *i == 0 || *i == 1 => *i == 1,
            V::UInt(u) if *u == 0 || *u == 1 => *u == 1,
            V::Float(f) if *f == 0.0 || *f == 1.0 => *f == 1.0,
            V::String(s) if s == "true" || s == "false" => s == "true",
            _ => return Err(fail()),
        }),
        "time" => V::Time(match v {
            V::Time(t) => *t,
            V::Int(i) => *i,
            V::UInt(u) => *u as i64,
            V::String(s) => crate::time::parse_rfc3339(s).ok_or_else(fail)?,
            _ => return Err(fail()),
        }),
        _ => return Err(fail()),
    })
}

fn convert_column(a: &Args, tables: &[Table]) -> R<Vec<Table>> {
    let (to, ty) = match a.name {
        "toFloat" => ("float", DataType::Float),
        "toInt" => ("int", DataType::Int),
        "toUInt" => ("uint", DataType::UInt),
        "toString" => ("string", DataType::String),
        "toBool" => ("bool", DataType::Bool),
        _ => ("time", DataType::Time),
    };
    let mut out = Vec::new();
    for t in tables {
        let mut nt = t.clone();
        let ci = nt
            .col_index("_value")
            .ok_or_else(|| a.err("column \"_value\" does not exist"))?;
        let c = &mut nt.columns[ci];
        c.values = c
            .values
            .iter()
            .map(|v| convert(v, to))
            .collect::<Result<_, _>>()
            .map_err(|m| a.err(m))?;
        c.ty = ty;
        if let Some(k) = nt.key.columns.iter_mut().find(|k| k.name == "_value") {
            k.ty = ty;
            k.value = convert(&k.value, to).map_err(|m| a.err(m))?;
        }
        out.push(nt);
    }
    Ok(out)
}

fn array_from(a: &Args) -> R<Value> {
    let rows = match a.required("rows")? {
        Value::Array(rows) => rows.clone(),
        v => return Err(a.err(format!("rows must be an array, got {}", v.type_name()))),
    };
    let mut schema: Vec<(String, DataType)> = Vec::new();
    let mut records = Vec::new();
    for r in rows.iter() {
        let Value::Record(rec) = r else {
            return Err(a.err(format!("rows must hold records, found {}", r.type_name())));
        };
        for (k, v) in &rec.fields {
            let ty = v.data_type();
            match schema.iter_mut().find(|(n, _)| n == k) {
                Some((_, t)) => {
                    if let Some(ty) = ty
                        && *t != ty
                    {
                        return Err(a.err(format!("column {k:?} has values of different types")));
                    }
                }
                None => schema.push((k.clone(), ty.unwrap_or(DataType::String))),
            }
        }
        records.push(rec.clone());
    }
    let mut t = Table::empty(GroupKey::default(), &schema);
    for rec in &records {
        for c in t.columns.iter_mut() {
            c.values
                .push(rec.get(&c.name).cloned().unwrap_or(Value::Null));
        }
    }
    Ok(Stream::tables(vec![t], None))
}

// ---------------------------------------------------------------------------------------------
// Buckets and schema

fn string_table(names: &[&str], rows: Vec<Vec<Value>>, types: &[DataType]) -> Table {
    Table {
        key: GroupKey::default(),
        columns: names
            .iter()
            .enumerate()
            .map(|(j, n)| Column {
                name: (*n).to_string(),
                ty: types[j],
                values: rows.iter().map(|r| r[j].clone()).collect(),
            })
            .collect(),
    }
}

fn buckets(it: &mut Interp<'_>, _a: &Args) -> R<Value> {
    let list = it.source.buckets()?;
    let rows = list
        .into_iter()
        .map(|b| {
            vec![
                Value::String(b.name),
                Value::String(b.id),
                Value::String(b.organization_id),
                Value::String(b.retention_policy),
                Value::Int(b.retention_period),
            ]
        })
        .collect();
    use DataType::{Int, String as S};
    Ok(Stream::tables(
        vec![string_table(
            &[
                "name",
                "id",
                "organizationID",
                "retentionPolicy",
                "retentionPeriod",
            ],
            rows,
            &[S, S, S, S, Int],
        )],
        None,
    ))
}

fn schema(it: &mut Interp<'_>, a: &Args) -> R<Value> {
    let short = a.name.trim_start_matches("schema.");
    let bucket = a.required_string("bucket")?;
    let start = time_arg(it, a, "start")?.unwrap_or(it.now - 30 * DAY);
    let stop = time_arg(it, a, "stop")?.unwrap_or(it.now);
    let measurement = match short {
        "measurementTagKeys" | "measurementTagValues" | "measurementFieldKeys" => {
            Some(a.required_string("measurement")?)
        }
        _ => None,
    };
    let tag = match short {
        "tagValues" | "measurementTagValues" => Some(a.required_string("tag")?),
        "measurements" => Some("_measurement".to_string()),
        "fieldKeys" | "measurementFieldKeys" => Some("_field".to_string()),
        _ => None,
    };
    let mut predicate = measurement.map(|m| Predicate::Equal {
        key: "_measurement".into(),
        value: m,
        negate: false,
    });
    let mut row_filter = None;
    if let Some(f) = a.function("predicate")? {
        match to_predicate(it, &f) {
            Some(p) => {
                predicate = Some(match predicate {
                    Some(old) => Predicate::And(Box::new(old), Box::new(p)),
                    None => p,
                })
            }
            None => row_filter = Some(f),
        }
    }
    let pend = Pending {
        bucket: BucketRef::Name(bucket),
        range: Some((start, stop)),
        predicate,
        window: None,
        aggregate: row_filter.is_none().then_some(WindowAggregate {
            every: None,
            offset: Duration::default(),
            kind: AggregateKind::Count,
            create_empty: false,
            time_source: None,
        }),
        span: a.span,
    };
    let st = Stream {
        data: StreamData::Pending(Box::new(pend)),
        yielded: false,
        bounds: Some((start, stop)),
    };
    let mut tables = it.materialize(&st)?.as_ref().clone();
    if let Some(f) = row_filter {
        let mut kept = Vec::new();
        for t in tables {
            let mut idx = Vec::new();
            for i in 0..t.nrows() {
                if matches!(call_row(it, a, &f, &t, i)?, Value::Bool(true)) {
                    idx.push(i);
                }
            }
            if !idx.is_empty() {
                kept.push(t.take_rows(&idx));
            }
        }
        tables = kept;
    }
    let mut values: Vec<String> = Vec::new();
    match tag {
        Some(tag) => {
            for t in &tables {
                if let Some(Value::String(v)) = t.key.get(&tag) {
                    values.push(v.clone());
                }
            }
            values.sort();
            values.dedup();
        }
        None => {
            let mut keys: Vec<String> = Vec::new();
            for t in &tables {
                for k in &t.key.columns {
                    if !matches!(
                        k.name.as_str(),
                        "_start" | "_stop" | "_measurement" | "_field"
                    ) {
                        keys.push(k.name.clone());
                    }
                }
            }
            keys.sort();
            keys.dedup();
            if !tables.is_empty() {
                values.extend([
                    "_start".to_string(),
                    "_stop".to_string(),
                    "_measurement".to_string(),
                ]);
                values.extend(keys);
                values.push("_field".to_string());
            }
        }
    }
    let rows = values.into_iter().map(|v| vec![Value::String(v)]).collect();
    Ok(Stream::tables(
        vec![string_table(&["_value"], rows, &[DataType::String])],
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::float_e;

    #[test]
    fn floats_in_go_e_format() {
        assert_eq!(float_e(1.5), "1.5E+00");
        assert_eq!(float_e(100.0), "1E+02");
        assert_eq!(float_e(-0.00000025), "-2.5E-07");
        assert_eq!(float_e(1e300), "1E+300");
        assert_eq!(float_e(0.0), "0E+00");
        assert_eq!(float_e(f64::NEG_INFINITY), "-Inf");
    }
}
