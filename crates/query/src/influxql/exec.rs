//! Runs InfluxQL statements against a [`Source`].
//!
//! A `SELECT` reads each measurement through [`Source::read`] with the time range and a
//! predicate on `_measurement`, the needed `_field`s and the exact tag conditions of the
//! `WHERE` clause (`tag = 'v'`, `tag =~ /re/` when `''` does not match) pushed down. Then:
//! * aggregates `count sum min max first last` (and `mean` of float fields, as sum and count)
//!   under a condition that reads no field are computed by storage per series and window
//!   ([`WindowAggregate`]) and only combined here across the series of a group;
//! * otherwise the per-field tables of a series are joined on time into rows (InfluxDB's
//!   points), the rest of the condition is evaluated per row (a missing tag is `''`, a missing
//!   field fails every comparison), and rows are listed (raw selects) or aggregated per window.
//!
//! Rows form series per measurement and `GROUP BY` tag set; windows are aligned to the epoch
//! (plus the offset); `fill` applies to windows without points; without `GROUP BY time` the
//! one row's time is the range's start (0 when unbounded), or the point's for a lone selector.
//!
//! Keys (measurements, tags, fields and their types) come from a read of the last point of
//! every series over all time (a window aggregate per series, never the raw points).
//!
//! Bounds: a statement's answer is built whole in memory (the caller's memory limit applies to
//! each read), and `GROUP BY time` with a fill other than `none` may emit at most
//! [`MAX_WINDOWS`] windows per series.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ast::{Expr, Field, Fill, KeyMatch, NameMatch, Op, Select, Source as From, Statement};
use super::{Series, StatementResult};
use crate::source::{AggregateKind, BucketRef, Predicate, ReadRequest, Source, WindowAggregate};
use crate::table::Table;
use crate::value::{DataType, Value};

/// Most windows one series of a `GROUP BY time` answer may have when empty windows are filled.
pub const MAX_WINDOWS: i64 = 1_000_000;

/// InfluxDB's smallest time.
const MIN_TIME: i64 = i64::MIN + 2;

/// A DBRP mapping, for `SHOW DATABASES` and `SHOW RETENTION POLICIES`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dbrp {
    pub database: String,
    pub retention_policy: String,
    pub default: bool,
    /// The bucket's retention period in ns (0: forever).
    pub retention_period: i64,
}

/// A database and retention policy (`None`: the default one) resolved by the caller to a
/// bucket, or to the error the statement should answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub database: String,
    pub retention_policy: Option<String>,
    pub bucket: Result<BucketRef, String>,
}

/// What statements run against.
pub struct Context<'a> {
    pub source: &'a dyn Source,
    /// The request's `db` and `rp`.
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    /// Every (database, rp) pair [`Context::needed`] listed, resolved.
    pub resolved: Vec<Resolved>,
    /// The organization's mappings (only read by `SHOW DATABASES` and `SHOW RETENTION
    /// POLICIES`).
    pub dbrps: Vec<Dbrp>,
    /// `now()` in ns.
    pub now: i64,
    pub memory_limit: Option<usize>,
    /// Set to true (e.g. when the client disconnects) to stop: the running statement and the
    /// ones after it answer `query canceled`.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Context<'_> {
    /// The (database, rp) pairs the statements read, for the caller to resolve into
    /// [`Context::resolved`] before running them.
    pub fn needed(
        statements: &[Statement],
        database: Option<&str>,
        retention_policy: Option<&str>,
    ) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        let mut add = |db: Option<&str>, rp: Option<&str>| {
            if let Some(db) = db.or(database) {
                let pair = (db.to_string(), rp.or(retention_policy).map(str::to_string));
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        };
        for s in statements {
            let sources: &[From] = match s {
                Statement::Select(sel) => &sel.from,
                Statement::ShowTagKeys { from, .. }
                | Statement::ShowTagValues { from, .. }
                | Statement::ShowFieldKeys { from, .. }
                | Statement::ShowSeries { from, .. } => from,
                Statement::ShowMeasurements { database: db, .. } => {
                    add(db.as_deref(), None);
                    continue;
                }
                _ => continue,
            };
            let on = match s {
                Statement::ShowTagKeys { database, .. }
                | Statement::ShowTagValues { database, .. }
                | Statement::ShowFieldKeys { database, .. }
                | Statement::ShowSeries { database, .. } => database.as_deref(),
                _ => None,
            };
            if sources.is_empty() {
                add(on, None);
            }
            for src in sources {
                add(
                    src.database.as_deref().or(on),
                    src.retention_policy.as_deref(),
                );
            }
        }
        out
    }

    fn check_cancel(&self) -> R<()> {
        match &self.cancel {
            Some(c) if c.load(std::sync::atomic::Ordering::Relaxed) => Err("query canceled".into()),
            _ => Ok(()),
        }
    }

    /// Reads from the source unless canceled.
    fn read(&self, req: &ReadRequest) -> R<Vec<Table>> {
        self.check_cancel()?;
        self.source.read(req).map_err(|e| e.to_string())
    }

    fn bucket(&self, db: Option<&str>, rp: Option<&str>) -> Result<BucketRef, String> {
        let Some(db) = db.or(self.database.as_deref()) else {
            return Err("database name required".into());
        };
        let rp = rp.or(self.retention_policy.as_deref());
        self.resolved
            .iter()
            .find(|r| r.database == db && r.retention_policy.as_deref() == rp)
            .map_or_else(
                || Err(format!("database not found: {db}")),
                |r| r.bucket.clone(),
            )
    }
}

type R<T> = Result<T, String>;

/// A series' tags, sorted by key.
type Tags = Vec<(String, String)>;
/// (measurement, tags, field).
type KeyId = (String, Tags, String);

/// Runs every statement; each gets its own result (and its own error).
pub fn execute(statements: &[Statement], ctx: &Context<'_>) -> Vec<StatementResult> {
    statements
        .iter()
        .enumerate()
        .map(|(i, s)| execute_statement(i, s, ctx))
        .collect()
}

/// Runs one statement.
pub fn execute_statement(id: usize, s: &Statement, ctx: &Context<'_>) -> StatementResult {
    if let Err(e) = ctx.check_cancel() {
        return StatementResult {
            statement_id: id,
            series: vec![],
            error: Some(e),
        };
    }
    let series = match s {
        Statement::Select(sel) => select(ctx, sel),
        Statement::ShowDatabases => Ok(show_databases(ctx)),
        Statement::ShowRetentionPolicies { database } => show_retention_policies(ctx, database),
        Statement::ShowMeasurements {
            database,
            with,
            condition,
            limit,
            offset,
        } => show_measurements(ctx, database.as_deref(), with.as_ref(), condition.as_ref()).map(
            |names| {
                let names = page(names, *limit, *offset);
                if names.is_empty() {
                    return vec![];
                }
                vec![Series {
                    name: Some("measurements".into()),
                    tags: vec![],
                    columns: vec!["name".into()],
                    values: names.into_iter().map(|n| vec![Value::String(n)]).collect(),
                }]
            },
        ),
        Statement::ShowTagKeys {
            database,
            from,
            condition,
            limit,
            offset,
        } => show_tag_keys(
            ctx,
            database.as_deref(),
            from,
            condition.as_ref(),
            *limit,
            *offset,
        ),
        Statement::ShowTagValues {
            database,
            from,
            key,
            condition,
            limit,
            offset,
        } => show_tag_values(
            ctx,
            database.as_deref(),
            from,
            key,
            condition.as_ref(),
            *limit,
            *offset,
        ),
        Statement::ShowFieldKeys {
            database,
            from,
            limit,
            offset,
        } => show_field_keys(ctx, database.as_deref(), from, *limit, *offset),
        Statement::ShowSeries {
            database,
            from,
            condition,
            limit,
            offset,
        } => show_series(
            ctx,
            database.as_deref(),
            from,
            condition.as_ref(),
            *limit,
            *offset,
        ),
        Statement::Unsupported(what) => Err(format!("not implemented: {what}")),
    };
    match series {
        Ok(series) => StatementResult {
            statement_id: id,
            series,
            error: None,
        },
        Err(e) => StatementResult {
            statement_id: id,
            series: vec![],
            error: Some(e),
        },
    }
}

fn page<T>(v: Vec<T>, limit: Option<u64>, offset: Option<u64>) -> Vec<T> {
    let off = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let it = v.into_iter().skip(off);
    match limit {
        Some(l) if l > 0 => it.take(usize::try_from(l).unwrap_or(usize::MAX)).collect(),
        _ => it.collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Keys

/// One series key of one field, with the field's type.
#[derive(Debug, Clone)]
struct Key {
    measurement: String,
    field: String,
    tags: Vec<(String, String)>,
    ty: DataType,
}

fn tags_of(t: &Table) -> (String, String, Vec<(String, String)>) {
    let mut m = String::new();
    let mut f = String::new();
    let mut tags = Vec::new();
    for c in &t.key.columns {
        let Value::String(v) = &c.value else { continue };
        match c.name.as_str() {
            "_measurement" => m = v.clone(),
            "_field" => f = v.clone(),
            "_start" | "_stop" => {}
            k => tags.push((k.to_string(), v.clone())),
        }
    }
    tags.sort();
    (m, f, tags)
}

/// Every series key of a bucket (restricted by `predicate`), over all time.
fn scan_keys(ctx: &Context<'_>, bucket: &BucketRef, predicate: Option<Predicate>) -> R<Vec<Key>> {
    let mut seen: BTreeMap<KeyId, DataType> = BTreeMap::new();
    // Two halves so that each window's span fits in an i64.
    for (start, stop) in [(MIN_TIME, 0), (0, i64::MAX)] {
        let req = ReadRequest {
            bucket: bucket.clone(),
            start,
            stop,
            predicate: predicate.clone(),
            aggregate: Some(WindowAggregate {
                every: None,
                offset: crate::time::Duration::default(),
                kind: AggregateKind::Last,
                create_empty: false,
                time_source: None,
            }),
            memory_limit: ctx.memory_limit,
        };
        for t in ctx.read(&req)? {
            let ty = t
                .col_index("_value")
                .map_or(DataType::Float, |i| t.columns[i].ty);
            let (m, f, tags) = tags_of(&t);
            seen.entry((m, tags, f)).or_insert(ty);
        }
    }
    Ok(seen
        .into_iter()
        .map(|((measurement, tags, field), ty)| Key {
            measurement,
            field,
            tags,
            ty,
        })
        .collect())
}

/// A measurement's fields (with types) and tag keys.
#[derive(Debug, Default, Clone)]
struct Schema {
    fields: BTreeMap<String, DataType>,
    tags: BTreeSet<String>,
}

fn schemas(keys: &[Key]) -> BTreeMap<String, Schema> {
    let mut out: BTreeMap<String, Schema> = BTreeMap::new();
    for k in keys {
        let s = out.entry(k.measurement.clone()).or_default();
        s.fields.entry(k.field.clone()).or_insert(k.ty);
        for (t, _) in &k.tags {
            s.tags.insert(t.clone());
        }
    }
    out
}

fn measurement_predicate(m: &str) -> Predicate {
    Predicate::Equal {
        key: "_measurement".into(),
        value: m.into(),
        negate: false,
    }
}

/// The measurements of a bucket that `sources` name (all when empty), sorted, with the keys
/// of each.
fn source_keys(
    ctx: &Context<'_>,
    db: Option<&str>,
    from: &[From],
) -> R<BTreeMap<String, Vec<Key>>> {
    let mut out: BTreeMap<String, Vec<Key>> = BTreeMap::new();
    let mut cache: HashMap<String, Vec<Key>> = HashMap::new();
    let all = [From {
        database: None,
        retention_policy: None,
        measurement: NameMatch::Regex(regex::Regex::new("").map_err(|e| e.to_string())?),
    }];
    let from = if from.is_empty() { &all[..] } else { from };
    for src in from {
        let bucket = ctx.bucket(
            src.database.as_deref().or(db),
            src.retention_policy.as_deref(),
        )?;
        let keys = match &src.measurement {
            NameMatch::Name(n) => scan_keys(ctx, &bucket, Some(measurement_predicate(n)))?,
            NameMatch::Regex(_) => {
                let id = bucket.to_string();
                if !cache.contains_key(&id) {
                    cache.insert(id.clone(), scan_keys(ctx, &bucket, None)?);
                }
                cache.get(&id).cloned().unwrap_or_default()
            }
        };
        for k in keys {
            if src.measurement.matches(&k.measurement) {
                out.entry(k.measurement.clone()).or_default().push(k);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Conditions

/// What a row offers to a condition: tags by name, fields by name.
trait RowLookup {
    fn tag(&self, k: &str) -> Option<&str>;
    /// `None`: not a field (then a tag); `Some(Null)`: a field without a value here.
    fn field(&self, k: &str) -> Option<&Value>;
}

enum Operand<'a> {
    Value(std::borrow::Cow<'a, Value>),
    Regex(&'a regex::Regex),
}

fn operand<'a>(e: &'a Expr, row: &'a dyn RowLookup) -> R<Operand<'a>> {
    use std::borrow::Cow;
    Ok(Operand::Value(match e {
        Expr::Var(name) => {
            if name.eq_ignore_ascii_case("time") {
                return Err(
                    "invalid time condition: time may only be compared in top-level AND terms"
                        .into(),
                );
            }
            match row.field(name) {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(Value::String(row.tag(name).unwrap_or("").to_string())),
            }
        }
        Expr::Str(s) => Cow::Owned(Value::String(s.clone())),
        Expr::Int(i) | Expr::Duration(i) => Cow::Owned(Value::Int(*i)),
        Expr::Num(n) => Cow::Owned(Value::Float(*n)),
        Expr::Bool(b) => Cow::Owned(Value::Bool(*b)),
        Expr::Regex(r) => return Ok(Operand::Regex(r)),
        other => return Err(format!("unsupported expression in WHERE: {other}")),
    }))
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::UInt(x), Value::UInt(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => num(a)?.partial_cmp(&num(b)?),
    }
}

fn truth(e: &Expr, row: &dyn RowLookup) -> R<bool> {
    use std::cmp::Ordering::*;
    match e {
        Expr::Binary(l, Op::And, r) => Ok(truth(l, row)? && truth(r, row)?),
        Expr::Binary(l, Op::Or, r) => Ok(truth(l, row)? || truth(r, row)?),
        Expr::Binary(l, op, r) => {
            let (a, b) = (operand(l, row)?, operand(r, row)?);
            match (a, b) {
                (Operand::Value(v), Operand::Regex(re))
                | (Operand::Regex(re), Operand::Value(v)) => {
                    let hit = match v.as_ref() {
                        Value::String(s) => re.is_match(s),
                        _ => return Ok(false),
                    };
                    match op {
                        Op::Match | Op::Eq => Ok(hit),
                        Op::NotMatch | Op::Neq => Ok(!hit),
                        other => Err(format!("invalid operator {} with a regex", other.as_str())),
                    }
                }
                (Operand::Regex(_), Operand::Regex(_)) => Err(format!("invalid condition: {e}")),
                (Operand::Value(a), Operand::Value(b)) => {
                    if matches!(a.as_ref(), Value::Null) || matches!(b.as_ref(), Value::Null) {
                        return Ok(false);
                    }
                    let o = compare(&a, &b);
                    Ok(match op {
                        Op::Eq => o == Some(Equal),
                        Op::Neq => o.is_some_and(|o| o != Equal),
                        Op::Lt => o == Some(Less),
                        Op::Lte => matches!(o, Some(Less | Equal)),
                        Op::Gt => o == Some(Greater),
                        Op::Gte => matches!(o, Some(Greater | Equal)),
                        other => {
                            return Err(format!(
                                "unsupported operator {} in WHERE: {e}",
                                other.as_str()
                            ));
                        }
                    })
                }
            }
        }
        Expr::Bool(b) => Ok(*b),
        other => Err(format!("invalid condition: {other}")),
    }
}

fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Binary(l, Op::And, r) => {
            conjuncts(l, out);
            conjuncts(r, out);
        }
        other => out.push(other.clone()),
    }
}

fn mentions_time(e: &Expr) -> bool {
    match e {
        Expr::Var(v) => v.eq_ignore_ascii_case("time"),
        Expr::Binary(l, _, r) => mentions_time(l) || mentions_time(r),
        Expr::Call { args, .. } => args.iter().any(mentions_time),
        _ => false,
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e, Expr::Var(v) if v.eq_ignore_ascii_case("time"))
}

/// Parses a time literal string: RFC3339, `YYYY-MM-DD HH:MM:SS[.f]` or `YYYY-MM-DD` (UTC).
fn parse_time_string(s: &str) -> Option<i64> {
    if let Some(t) = crate::time::parse_rfc3339(s) {
        return Some(t);
    }
    let s = s.trim();
    if s.len() == 10 {
        return crate::time::parse_rfc3339(&format!("{s}T00:00:00Z"));
    }
    let t = s.replacen(' ', "T", 1);
    crate::time::parse_rfc3339(&t).or_else(|| crate::time::parse_rfc3339(&format!("{t}Z")))
}

fn time_value(e: &Expr, now: i64) -> R<i64> {
    match e {
        Expr::Str(s) => parse_time_string(s).ok_or_else(|| format!("invalid time literal '{s}'")),
        Expr::Int(i) | Expr::Duration(i) => Ok(*i),
        Expr::Num(n) => Ok(*n as i64),
        Expr::Call { name, args } if name == "now" && args.is_empty() => Ok(now),
        Expr::Binary(l, op @ (Op::Add | Op::Sub), r) => {
            let (a, b) = (time_value(l, now)?, time_value(r, now)?);
            let v = if *op == Op::Add {
                a.checked_add(b)
            } else {
                a.checked_sub(b)
            };
            v.ok_or_else(|| format!("time overflow in {e}"))
        }
        other => Err(format!("invalid time expression: {other}")),
    }
}

/// Splits a condition into the inclusive time range and the rest.
fn split_time(cond: Option<&Expr>, now: i64) -> R<(Option<i64>, Option<i64>, Option<Expr>)> {
    let Some(cond) = cond else {
        return Ok((None, None, None));
    };
    let mut parts = Vec::new();
    conjuncts(cond, &mut parts);
    let (mut min, mut max): (Option<i64>, Option<i64>) = (None, None);
    let mut rest: Option<Expr> = None;
    for p in parts {
        let time_cmp = match &p {
            Expr::Binary(l, op, r) if is_time(l) => Some((*op, r.as_ref())),
            Expr::Binary(l, op, r) if is_time(r) => {
                let flipped = match op {
                    Op::Lt => Op::Gt,
                    Op::Lte => Op::Gte,
                    Op::Gt => Op::Lt,
                    Op::Gte => Op::Lte,
                    o => *o,
                };
                Some((flipped, l.as_ref()))
            }
            _ => None,
        };
        if let Some((op, other)) = time_cmp {
            let v = time_value(other, now)?;
            let (lo, hi) = match op {
                Op::Gt => (v.checked_add(1), None),
                Op::Gte => (Some(v), None),
                Op::Lt => (None, v.checked_sub(1)),
                Op::Lte => (None, Some(v)),
                Op::Eq => (Some(v), Some(v)),
                o => {
                    return Err(format!(
                        "invalid time comparison operator: {} (use =, <, <=, >, >=)",
                        o.as_str()
                    ));
                }
            };
            if let Some(lo) = lo {
                min = Some(min.map_or(lo, |m: i64| m.max(lo)));
            }
            if let Some(hi) = hi {
                max = Some(max.map_or(hi, |m: i64| m.min(hi)));
            }
            continue;
        }
        if mentions_time(&p) {
            return Err(format!(
                "invalid time condition: {p} (time may only be compared in top-level AND terms)"
            ));
        }
        rest = Some(match rest {
            None => p,
            Some(r) => Expr::Binary(Box::new(r), Op::And, Box::new(p)),
        });
    }
    Ok((min, max, rest))
}

/// The conjuncts of `cond` that storage can apply exactly: `tag = 'non-empty'` and
/// `tag =~ /re/` where the regex does not match `''` (a missing tag reads as `''`).
fn pushdown(cond: Option<&Expr>, schema: &Schema) -> Option<Predicate> {
    let cond = cond?;
    let mut parts = Vec::new();
    conjuncts(cond, &mut parts);
    let mut out: Option<Predicate> = None;
    for p in parts {
        let pred = match &p {
            Expr::Binary(l, Op::Match | Op::Eq, r) => match (l.as_ref(), r.as_ref()) {
                (Expr::Var(k), Expr::Str(v)) | (Expr::Str(v), Expr::Var(k))
                    if !v.is_empty() && !schema.fields.contains_key(k) =>
                {
                    Some(Predicate::Equal {
                        key: k.clone(),
                        value: v.clone(),
                        negate: false,
                    })
                }
                (Expr::Var(k), Expr::Regex(re))
                    if !re.is_match("") && !schema.fields.contains_key(k) =>
                {
                    Some(Predicate::Regex {
                        key: k.clone(),
                        regex: re.clone(),
                        negate: false,
                    })
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(pred) = pred {
            out = Some(match out {
                None => pred,
                Some(o) => Predicate::And(Box::new(o), Box::new(pred)),
            });
        }
    }
    out
}

struct TagRow<'a>(&'a [(String, String)]);

impl RowLookup for TagRow<'_> {
    fn tag(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(t, _)| t == k).map(|(_, v)| v.as_str())
    }
    fn field(&self, _k: &str) -> Option<&Value> {
        None
    }
}

/// A condition of a SHOW statement (on tags only).
fn tags_pass(cond: Option<&Expr>, tags: &[(String, String)], now: i64) -> R<bool> {
    let (_, _, rest) = split_time(cond, now)?;
    match rest {
        None => Ok(true),
        Some(e) => truth(&e, &TagRow(tags)),
    }
}

// ---------------------------------------------------------------------------------------------
// SELECT

/// InfluxQL's functions outside the supported set, named as such in errors.
const KNOWN_FUNCTIONS: &[&str] = &[
    "abs",
    "acos",
    "asin",
    "atan",
    "atan2",
    "bottom",
    "ceil",
    "chande_momentum_oscillator",
    "cos",
    "double_exponential_moving_average",
    "elapsed",
    "exp",
    "floor",
    "histogram",
    "holt_winters",
    "holt_winters_with_fit",
    "integral",
    "kaufmans_adaptive_moving_average",
    "kaufmans_efficiency_ratio",
    "ln",
    "log",
    "log10",
    "log2",
    "pow",
    "relative_strength_index",
    "round",
    "sample",
    "sin",
    "sqrt",
    "tan",
    "top",
    "triple_exponential_derivative",
    "triple_exponential_moving_average",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Count,
    Mean,
    Median,
    Mode,
    Spread,
    Stddev,
    Sum,
    Min,
    Max,
    First,
    Last,
    Percentile,
    Distinct,
}

impl Func {
    fn parse(name: &str) -> Option<Func> {
        Some(match name {
            "count" => Func::Count,
            "mean" => Func::Mean,
            "median" => Func::Median,
            "mode" => Func::Mode,
            "spread" => Func::Spread,
            "stddev" => Func::Stddev,
            "sum" => Func::Sum,
            "min" => Func::Min,
            "max" => Func::Max,
            "first" => Func::First,
            "last" => Func::Last,
            "percentile" => Func::Percentile,
            "distinct" => Func::Distinct,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::Mean => "mean",
            Func::Median => "median",
            Func::Mode => "mode",
            Func::Spread => "spread",
            Func::Stddev => "stddev",
            Func::Sum => "sum",
            Func::Min => "min",
            Func::Max => "max",
            Func::First => "first",
            Func::Last => "last",
            Func::Percentile => "percentile",
            Func::Distinct => "distinct",
        }
    }

    fn is_selector(self) -> bool {
        matches!(
            self,
            Func::Min | Func::Max | Func::First | Func::Last | Func::Percentile
        )
    }

    fn numeric_only(self) -> bool {
        matches!(
            self,
            Func::Mean
                | Func::Median
                | Func::Spread
                | Func::Stddev
                | Func::Sum
                | Func::Min
                | Func::Max
                | Func::Percentile
        )
    }

    /// Whether the output keeps the input's type (for `fill(<number>)`).
    fn keeps_type(self) -> bool {
        !matches!(self, Func::Mean | Func::Median | Func::Stddev | Func::Count)
    }
}

fn numeric(ty: DataType) -> bool {
    matches!(ty, DataType::Int | DataType::UInt | DataType::Float)
}

/// One output column of a SELECT.
#[derive(Debug, Clone)]
enum Col {
    Field(String),
    Tag(String),
    Agg {
        func: Func,
        field: String,
        param: f64,
    },
}

enum Arg {
    Field(String),
    All,
    Regex(regex::Regex),
}

fn agg_arg(name: &str, func: Func, args: &[Expr]) -> R<(Arg, f64)> {
    let want = if func == Func::Percentile { 2 } else { 1 };
    if args.len() != want {
        return Err(format!(
            "invalid number of arguments for {name}, expected {want}, got {}",
            args.len()
        ));
    }
    let arg = match &args[0] {
        Expr::Var(v) => Arg::Field(v.clone()),
        Expr::Wildcard => Arg::All,
        Expr::Regex(r) => Arg::Regex(r.clone()),
        Expr::Call { name: inner, .. } => {
            return Err(format!(
                "nested function calls are not supported: {name}({inner}(...))"
            ));
        }
        other => return Err(format!("expected field argument in {name}(), got {other}")),
    };
    let param = if func == Func::Percentile {
        match &args[1] {
            Expr::Int(i) => *i as f64,
            Expr::Num(n) => *n,
            other => {
                return Err(format!(
                    "expected float argument in percentile(), got {other}"
                ));
            }
        }
    } else {
        0.0
    };
    Ok((arg, param))
}

/// The rows of one series: time → values of the needed fields.
struct SeriesRows {
    tags: Vec<(String, String)>,
    /// In time order.
    rows: Vec<(i64, Vec<Value>)>,
}

/// One field of one series as storage read it (times ascending).
struct FieldColumn {
    /// Index among the statement's needed fields.
    field: usize,
    times: Vec<Value>,
    values: Vec<Value>,
}

/// Joins a series' fields on time (a merge of sorted columns): one row per distinct time, with
/// `Null` for the fields that have no value then.
fn join_on_time(fields: Vec<FieldColumn>, width: usize) -> Vec<(i64, Vec<Value>)> {
    let time_of = |v: &Value| match v {
        Value::Time(t) => Some(*t),
        _ => None,
    };
    let mut cursors: Vec<(
        usize,
        std::vec::IntoIter<Value>,
        std::iter::Peekable<std::vec::IntoIter<Value>>,
    )> = fields
        .into_iter()
        .map(|f| {
            (
                f.field,
                f.values.into_iter(),
                f.times.into_iter().peekable(),
            )
        })
        .collect();
    let mut out = Vec::new();
    loop {
        let next = cursors
            .iter_mut()
            .filter_map(|(_, _, times)| times.peek().and_then(time_of))
            .min();
        let Some(t) = next else { break };
        let mut row = vec![Value::Null; width];
        for (fi, values, times) in &mut cursors {
            while let Some(tv) = times.peek() {
                match time_of(tv) {
                    Some(x) if x == t => {
                        times.next();
                        if let Some(v) = values.next() {
                            row[*fi] = v;
                        }
                    }
                    // A cell that is not a time is skipped with its value.
                    None => {
                        times.next();
                        values.next();
                    }
                    Some(_) => break,
                }
            }
        }
        out.push((t, row));
    }
    out
}

struct PointRow<'a> {
    tags: &'a [(String, String)],
    values: &'a [Value],
    index: &'a HashMap<String, usize>,
}

impl RowLookup for PointRow<'_> {
    fn tag(&self, k: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(t, _)| t == k)
            .map(|(_, v)| v.as_str())
    }
    fn field(&self, k: &str) -> Option<&Value> {
        self.index.get(k).map(|&i| &self.values[i])
    }
}

fn vars(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Var(v) => {
            out.insert(v.clone());
        }
        Expr::Binary(l, _, r) => {
            vars(l, out);
            vars(r, out);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| vars(a, out)),
        _ => {}
    }
}

fn unique_names(names: Vec<String>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut taken: BTreeSet<String> = names.iter().cloned().collect();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let count = seen.entry(n.clone()).or_insert(0);
        if *count == 0 {
            *count = 1;
            out.push(n);
            continue;
        }
        let mut k = *count;
        let mut candidate = format!("{n}_{k}");
        while taken.contains(&candidate) {
            k += 1;
            candidate = format!("{n}_{k}");
        }
        *count = k + 1;
        taken.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

fn select(ctx: &Context<'_>, s: &Select) -> R<Vec<Series>> {
    let (mut tmin, mut tmax, cond) = split_time(s.condition.as_ref(), ctx.now)?;
    let keys = source_keys(ctx, None, &s.from)?;
    let measurement_schemas: BTreeMap<String, Schema> = keys
        .iter()
        .map(|(m, k)| (m.clone(), schemas(k).remove(m).unwrap_or_default()))
        .collect();
    let mut all = Schema::default();
    for sc in measurement_schemas.values() {
        for (f, t) in &sc.fields {
            all.fields.entry(f.clone()).or_insert(*t);
        }
        all.tags.extend(sc.tags.iter().cloned());
    }
    let dims: Vec<String> = if s.group_all {
        all.tags.iter().cloned().collect()
    } else {
        let mut d = s.group_tags.clone();
        d.sort();
        d.dedup();
        d
    };

    // Columns.
    // The computed columns, and the output columns made of them (a column, or arithmetic
    // over several).
    let mut cols: Vec<(String, Col)> = Vec::new();
    let mut outputs: Vec<(String, Out)> = Vec::new();
    let mut aggregate = false;
    let mut raw = false;
    for Field { expr, alias } in &s.fields {
        match expr {
            Expr::Wildcard => {
                raw = true;
                let mut names: Vec<(String, Col)> = all
                    .fields
                    .keys()
                    .map(|f| (f.clone(), Col::Field(f.clone())))
                    .collect();
                names.extend(
                    all.tags
                        .iter()
                        .filter(|t| !dims.contains(t) && !all.fields.contains_key(*t))
                        .map(|t| (t.clone(), Col::Tag(t.clone()))),
                );
                names.sort_by(|a, b| a.0.cmp(&b.0));
                for c in names {
                    outputs.push((c.0.clone(), Out::Col(cols.len())));
                    cols.push(c);
                }
            }
            Expr::Var(v) => {
                raw = true;
                if v.eq_ignore_ascii_case("time") {
                    continue;
                }
                let col = if !all.fields.contains_key(v) && all.tags.contains(v) {
                    Col::Tag(v.clone())
                } else {
                    Col::Field(v.clone())
                };
                let name = alias.clone().unwrap_or_else(|| v.clone());
                outputs.push((name.clone(), Out::Col(cols.len())));
                cols.push((name, col));
            }
            Expr::Call { name, args } if Transform::is(name) => {
                let (t, col) = transform_col(name, args, s.interval.is_some(), &all)?;
                match col.1 {
                    Col::Agg { .. } => aggregate = true,
                    _ => raw = true,
                }
                outputs.push((
                    alias.clone().unwrap_or_else(|| name.clone()),
                    Out::Transform(t, cols.len()),
                ));
                cols.push(col);
            }
            Expr::Call { name, args } => {
                aggregate = true;
                for c in agg_cols(name, args, alias.as_deref(), &all)? {
                    outputs.push((c.0.clone(), Out::Col(cols.len())));
                    cols.push(c);
                }
            }
            Expr::Binary(_, Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod, _) => {
                let math = math_expr(expr, &all, &mut cols, &mut aggregate, &mut raw)?;
                let name = alias.clone().unwrap_or_else(|| math_name(expr));
                outputs.push((name, Out::Math(math)));
            }
            other => {
                return Err(format!("unsupported expression in SELECT: {other}"));
            }
        }
    }
    if aggregate && raw {
        return Err("mixing aggregate and non-aggregate queries is not supported".into());
    }
    let transforms = outputs
        .iter()
        .filter(|(_, o)| matches!(o, Out::Transform(..)))
        .count();
    if transforms > 0 && transforms < outputs.len() {
        return Err(
            "mixing transformations (derivative, difference, ...) with other fields is not supported"
                .into(),
        );
    }
    if !aggregate && s.interval.is_some() {
        return Err("GROUP BY requires at least one aggregate function".into());
    }
    let distinct = cols.iter().any(|(_, c)| {
        matches!(
            c,
            Col::Agg {
                func: Func::Distinct,
                ..
            }
        )
    });
    if distinct && cols.len() > 1 {
        return Err(
            "aggregate function distinct() cannot be combined with other functions or fields"
                .into(),
        );
    }
    if !cols
        .iter()
        .any(|(_, c)| matches!(c, Col::Field(_) | Col::Agg { .. }))
    {
        // `*` over measurements that do not exist selects nothing, without error.
        if measurement_schemas.is_empty() {
            return Ok(vec![]);
        }
        return Err("at least 1 non-time field must be queried".into());
    }
    let names = unique_names(
        std::iter::once("time".to_string())
            .chain(outputs.iter().map(|(n, _)| n.clone()))
            .collect(),
    );
    let direct = outputs.len() == cols.len()
        && outputs
            .iter()
            .enumerate()
            .all(|(i, (_, o))| matches!(o, Out::Col(c) if *c == i));
    let project = |rows: Vec<Vec<Value>>| -> Vec<Vec<Value>> {
        if direct {
            return rows;
        }
        if transforms > 0 {
            return apply_transforms(&outputs, &rows);
        }
        rows.into_iter()
            .map(|row| {
                let mut out = Vec::with_capacity(outputs.len() + 1);
                out.push(row.first().cloned().unwrap_or(Value::Null));
                for (_, o) in &outputs {
                    out.push(match o {
                        Out::Col(i) => row.get(i + 1).cloned().unwrap_or(Value::Null),
                        Out::Math(m) => eval_math(m, &row),
                        Out::Transform(..) => Value::Null,
                    });
                }
                out
            })
            .collect()
    };

    if s.interval.is_some() && tmax.is_none() {
        tmax = Some(ctx.now);
    }
    let read_start = tmin.unwrap_or(MIN_TIME);
    let read_stop = tmax.map_or(i64::MAX, |t| t.saturating_add(1));
    if read_start >= read_stop {
        return Ok(vec![]);
    }

    // Needed fields: selected ones and those of the condition.
    let mut cond_vars = BTreeSet::new();
    if let Some(c) = &cond {
        vars(c, &mut cond_vars);
    }

    // Groups: (measurement, dim values) → series rows.
    let mut groups: BTreeMap<(String, Vec<String>), Vec<SeriesRows>> = BTreeMap::new();
    // Aggregates: (measurement, dim values) → non-empty windows.
    let mut windowed: BTreeMap<(String, Vec<String>), BTreeMap<i64, Cells>> = BTreeMap::new();
    let mut field_index_of: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for (m, schema) in &measurement_schemas {
        let mut needed: Vec<String> = Vec::new();
        for (_, c) in &cols {
            let f = match c {
                Col::Field(f) | Col::Agg { field: f, .. } => f,
                Col::Tag(_) => continue,
            };
            if schema.fields.contains_key(f) && !needed.contains(f) {
                needed.push(f.clone());
            }
        }
        let selected = needed.len();
        for v in &cond_vars {
            if schema.fields.contains_key(v) && !needed.contains(v) {
                needed.push(v.clone());
            }
        }
        if selected == 0 {
            continue;
        }
        let bucket = {
            let src = s
                .from
                .iter()
                .find(|src| src.measurement.matches(m))
                .ok_or_else(|| format!("no source for measurement {m}"))?;
            ctx.bucket(src.database.as_deref(), src.retention_policy.as_deref())?
        };
        if aggregate && pushable(&cols, cond.as_ref(), schema) {
            let pushed = pushed_windows(
                ctx,
                s,
                &cols,
                m,
                schema,
                cond.as_ref(),
                &bucket,
                (read_start, read_stop),
                &dims,
                tmin,
                keys.get(m).map_or(&[][..], Vec::as_slice),
            )?;
            for (dim_values, cells) in pushed {
                windowed.insert((m.clone(), dim_values), cells);
            }
            continue;
        }
        let index: HashMap<String, usize> = needed
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), i))
            .collect();
        let mut field_pred: Option<Predicate> = None;
        for f in &needed {
            let p = Predicate::Equal {
                key: "_field".into(),
                value: f.clone(),
                negate: false,
            };
            field_pred = Some(match field_pred {
                None => p,
                Some(o) => Predicate::Or(Box::new(o), Box::new(p)),
            });
        }
        let mut pred = measurement_predicate(m);
        if let Some(fp) = field_pred {
            pred = Predicate::And(Box::new(pred), Box::new(fp));
        }
        if let Some(tp) = pushdown(cond.as_ref(), schema) {
            pred = Predicate::And(Box::new(pred), Box::new(tp));
        }
        let req = ReadRequest {
            bucket,
            start: read_start,
            stop: read_stop,
            predicate: Some(pred),
            aggregate: None,
            memory_limit: ctx.memory_limit,
        };
        let tables = ctx.read(&req)?;
        // Each series' fields, joined on time below.
        let mut series: BTreeMap<Tags, Vec<FieldColumn>> = BTreeMap::new();
        for mut t in tables {
            let (_, f, tags) = tags_of(&t);
            let Some(&fi) = index.get(&f) else { continue };
            let (Some(ti), Some(vi)) = (t.col_index("_time"), t.col_index("_value")) else {
                continue;
            };
            let times = std::mem::take(&mut t.columns[ti].values);
            let values = std::mem::take(&mut t.columns[vi].values);
            series.entry(tags).or_default().push(FieldColumn {
                field: fi,
                times,
                values,
            });
        }
        for (tags, fields) in series {
            let mut rows = join_on_time(fields, needed.len());
            // Only points with a selected field count; then the condition.
            rows.retain(|(_, vals)| vals[..selected].iter().any(|v| !matches!(v, Value::Null)));
            if let Some(c) = &cond {
                let mut err = None;
                rows.retain(|(_, vals)| {
                    let row = PointRow {
                        tags: &tags,
                        values: vals,
                        index: &index,
                    };
                    match truth(c, &row) {
                        Ok(b) => b,
                        Err(e) => {
                            err = Some(e);
                            false
                        }
                    }
                });
                if let Some(e) = err {
                    return Err(e);
                }
            }
            if rows.is_empty() {
                continue;
            }
            let dim_values: Vec<String> = dims
                .iter()
                .map(|d| {
                    tags.iter()
                        .find(|(k, _)| k == d)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect();
            groups
                .entry((m.clone(), dim_values))
                .or_default()
                .push(SeriesRows { tags, rows });
        }
        field_index_of.insert(m.clone(), index);
    }

    let mut out = Vec::new();
    if aggregate {
        for ((m, dim_values), members) in groups {
            let index = field_index_of.get(&m).cloned().unwrap_or_default();
            let cells = cells_from_rows(s, &cols, &members, &index, tmin)?;
            if !cells.is_empty() {
                windowed.insert((m, dim_values), cells);
            }
        }
        if s.interval.is_some() && tmin.is_none() {
            // Unbounded start: windows begin at the first point's.
            tmin = windowed
                .values()
                .filter_map(|c| c.keys().next().copied())
                .min();
        }
        for ((m, dim_values), cells) in windowed {
            let mut values = project(emit_windows(
                s,
                &cols,
                cells,
                tmin,
                tmax,
                &measurement_schemas[&m],
            )?);
            if s.descending {
                values.reverse();
            }
            let values = page(values, s.limit, s.offset);
            if values.is_empty() {
                continue;
            }
            out.push(Series {
                name: Some(m),
                tags: dims.iter().cloned().zip(dim_values).collect(),
                columns: names.clone(),
                values,
            });
        }
        return Ok(page(out, s.slimit, s.soffset));
    }
    for ((m, dim_values), members) in groups {
        let index = field_index_of.get(&m).cloned().unwrap_or_default();
        let mut values = project(raw_group(&cols, &members, &index));
        if s.descending {
            values.reverse();
        }
        let values = page(values, s.limit, s.offset);
        if values.is_empty() {
            continue;
        }
        out.push(Series {
            name: Some(m),
            tags: dims.iter().cloned().zip(dim_values).collect(),
            columns: names.clone(),
            values,
        });
    }
    Ok(page(out, s.slimit, s.soffset))
}

/// An output column: one computed column, arithmetic over computed columns, or a
/// transformation of one computed column along the series' rows.
#[derive(Debug, Clone)]
enum Out {
    Col(usize),
    Math(Math),
    Transform(Transform, usize),
}

/// InfluxQL's transformations, applied to a series' rows in time order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    /// Change per `unit` ns between consecutive values.
    Derivative {
        unit: i64,
        non_negative: bool,
    },
    Difference {
        non_negative: bool,
    },
    CumulativeSum,
    MovingAverage(usize),
}

impl Transform {
    fn is(name: &str) -> bool {
        matches!(
            name,
            "derivative"
                | "non_negative_derivative"
                | "difference"
                | "non_negative_difference"
                | "cumulative_sum"
                | "moving_average"
        )
    }
}

/// The transformation a call asks for and the column it reads: a field (raw) or, with `GROUP
/// BY time`, one aggregate of one field.
fn transform_col(
    name: &str,
    args: &[Expr],
    grouped: bool,
    all: &Schema,
) -> R<(Transform, (String, Col))> {
    let Some(inner) = args.first() else {
        return Err(format!(
            "invalid number of arguments for {name}, expected at least 1, got 0"
        ));
    };
    let col = match inner {
        Expr::Var(v) if grouped => {
            return Err(format!(
                "aggregate function required inside the call to {name}: {name}({v})"
            ));
        }
        Expr::Var(v) => (v.clone(), Col::Field(v.clone())),
        Expr::Call { name: f, args: a } if Transform::is(f) => {
            return Err(format!(
                "nested transformations are not supported: {name}({f}(...))"
            ));
        }
        Expr::Call { name: f, args: a } => {
            if !grouped {
                return Err(format!(
                    "{name}({f}(...)) requires a GROUP BY time interval"
                ));
            }
            let mut c = agg_cols(f, a, None, all)?;
            if c.len() != 1 || !matches!(a.first(), Some(Expr::Var(_))) {
                return Err(format!("{name}() needs one field in {f}()"));
            }
            c.remove(0)
        }
        other => return Err(format!("expected field argument in {name}(), got {other}")),
    };
    let t = match name {
        "derivative" | "non_negative_derivative" => {
            let unit = match args.get(1) {
                None => 1_000_000_000,
                Some(Expr::Duration(d)) if *d > 0 => *d,
                Some(other) => {
                    return Err(format!(
                        "second argument to {name} must be a duration, got {other}"
                    ));
                }
            };
            if args.len() > 2 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected at least 1 but no more than 2, got {}",
                    args.len()
                ));
            }
            Transform::Derivative {
                unit,
                non_negative: name.starts_with("non_negative"),
            }
        }
        "difference" | "non_negative_difference" | "cumulative_sum" => {
            if args.len() != 1 {
                return Err(format!(
                    "invalid number of arguments for {name}, expected 1, got {}",
                    args.len()
                ));
            }
            match name {
                "cumulative_sum" => Transform::CumulativeSum,
                _ => Transform::Difference {
                    non_negative: name.starts_with("non_negative"),
                },
            }
        }
        _ => match args.get(1) {
            Some(Expr::Int(n)) if *n > 1 && args.len() == 2 => {
                Transform::MovingAverage(usize::try_from(*n).unwrap_or(usize::MAX))
            }
            _ => {
                return Err(
                    "moving_average() needs a field and a window of more than one point".into(),
                );
            }
        },
    };
    Ok((t, col))
}

/// Applies every output's transformation to a series' rows (time order); nulls are skipped;
/// a row is kept when one of its outputs has a value.
fn apply_transforms(outputs: &[(String, Out)], rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut columns: Vec<Vec<Value>> = Vec::with_capacity(outputs.len());
    for (_, o) in outputs {
        let Out::Transform(t, ci) = o else {
            columns.push(vec![Value::Null; rows.len()]);
            continue;
        };
        let mut out = vec![Value::Null; rows.len()];
        let mut prev: Option<(i64, Value)> = None;
        let mut sum: Option<Value> = None;
        let mut window: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
        for (ri, row) in rows.iter().enumerate() {
            let Some(Value::Time(time)) = row.first() else {
                continue;
            };
            let v = match row.get(ci + 1) {
                Some(v @ (Value::Int(_) | Value::UInt(_) | Value::Float(_))) => v.clone(),
                _ => continue,
            };
            out[ri] = match *t {
                Transform::Derivative { unit, non_negative } => match &prev {
                    Some((pt, pv)) if *time > *pt => {
                        let d = (num(&v).unwrap_or(0.0) - num(pv).unwrap_or(0.0))
                            / ((*time - *pt) as f64 / unit as f64);
                        if non_negative && d < 0.0 {
                            Value::Null
                        } else {
                            Value::Float(d)
                        }
                    }
                    _ => Value::Null,
                },
                Transform::Difference { non_negative } => match &prev {
                    Some((_, pv)) => {
                        let d = match (&v, pv) {
                            (Value::Int(a), Value::Int(b)) => Value::Int(a.wrapping_sub(*b)),
                            _ => Value::Float(num(&v).unwrap_or(0.0) - num(pv).unwrap_or(0.0)),
                        };
                        if non_negative && num(&d).is_some_and(|x| x < 0.0) {
                            Value::Null
                        } else {
                            d
                        }
                    }
                    None => Value::Null,
                },
                Transform::CumulativeSum => {
                    let next = match &sum {
                        None => v.clone(),
                        Some(s) => add_values(s, &v),
                    };
                    sum = Some(next.clone());
                    next
                }
                Transform::MovingAverage(n) => {
                    window.push_back(num(&v).unwrap_or(0.0));
                    if window.len() > n {
                        window.pop_front();
                    }
                    if window.len() == n {
                        Value::Float(window.iter().sum::<f64>() / n as f64)
                    } else {
                        Value::Null
                    }
                }
            };
            prev = Some((*time, v));
        }
        columns.push(out);
    }
    let mut result = Vec::new();
    for (ri, row) in rows.iter().enumerate() {
        if columns.iter().all(|c| matches!(c[ri], Value::Null)) {
            continue;
        }
        let mut out = Vec::with_capacity(outputs.len() + 1);
        out.push(row.first().cloned().unwrap_or(Value::Null));
        out.extend(columns.iter().map(|c| c[ri].clone()));
        result.push(out);
    }
    result
}

/// Arithmetic over computed columns (by index) and number literals.
#[derive(Debug, Clone)]
enum Math {
    Col(usize),
    Int(i64),
    Num(f64),
    Bin(Box<Math>, Op, Box<Math>),
}

/// The columns an aggregate call computes (several for `*` and regexes).
fn agg_cols(name: &str, args: &[Expr], alias: Option<&str>, all: &Schema) -> R<Vec<(String, Col)>> {
    let Some(func) = Func::parse(name) else {
        if KNOWN_FUNCTIONS.contains(&name) {
            return Err(format!("function {name}() is not supported"));
        }
        return Err(format!("undefined function {name}()"));
    };
    let (arg, param) = agg_arg(name, func, args)?;
    let fields: Vec<String> = match &arg {
        Arg::Field(f) => vec![f.clone()],
        Arg::All | Arg::Regex(_) => all
            .fields
            .iter()
            .filter(|(f, ty)| {
                (!func.numeric_only() || numeric(**ty))
                    && match &arg {
                        Arg::Regex(r) => r.is_match(f),
                        _ => true,
                    }
            })
            .map(|(f, _)| f.clone())
            .collect(),
    };
    let single = matches!(arg, Arg::Field(_));
    let mut out = Vec::new();
    for f in fields {
        if let Some(ty) = all.fields.get(&f)
            && func.numeric_only()
            && !numeric(*ty)
        {
            return Err(format!(
                "unsupported {}() on a {} field: {f}",
                func.name(),
                match ty {
                    DataType::Bool => "boolean",
                    _ => "string",
                }
            ));
        }
        let col_name = match (alias, single) {
            (Some(a), true) => a.to_string(),
            (Some(a), false) => format!("{a}_{f}"),
            (None, true) => func.name().to_string(),
            (None, false) => format!("{}_{f}", func.name()),
        };
        out.push((
            col_name,
            Col::Agg {
                func,
                field: f,
                param,
            },
        ));
    }
    Ok(out)
}

/// Turns arithmetic in a projection into [`Math`], adding the fields and aggregates it reads
/// as computed columns.
fn math_expr(
    e: &Expr,
    all: &Schema,
    cols: &mut Vec<(String, Col)>,
    aggregate: &mut bool,
    raw: &mut bool,
) -> R<Math> {
    Ok(match e {
        Expr::Int(i) => Math::Int(*i),
        Expr::Num(n) => Math::Num(*n),
        Expr::Var(v) if !v.eq_ignore_ascii_case("time") => {
            *raw = true;
            let col = if !all.fields.contains_key(v) && all.tags.contains(v) {
                Col::Tag(v.clone())
            } else {
                Col::Field(v.clone())
            };
            cols.push((v.clone(), col));
            Math::Col(cols.len() - 1)
        }
        Expr::Call { name, args } => {
            *aggregate = true;
            let mut c = agg_cols(name, args, None, all)?;
            if c.len() != 1 || !matches!(args.first(), Some(Expr::Var(_))) {
                return Err(format!(
                    "unsupported expression in SELECT: {e} (arithmetic needs one field per call)"
                ));
            }
            cols.append(&mut c);
            Math::Col(cols.len() - 1)
        }
        Expr::Binary(l, op @ (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod), r) => Math::Bin(
            Box::new(math_expr(l, all, cols, aggregate, raw)?),
            *op,
            Box::new(math_expr(r, all, cols, aggregate, raw)?),
        ),
        other => return Err(format!("unsupported expression in SELECT: {other}")),
    })
}

/// InfluxQL's name of an arithmetic column: its fields' and calls' names joined by `_`.
fn math_name(e: &Expr) -> String {
    fn walk(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::Var(v) => out.push(v.clone()),
            Expr::Call { name, .. } => out.push(name.clone()),
            Expr::Binary(l, _, r) => {
                walk(l, out);
                walk(r, out);
            }
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk(e, &mut names);
    names.join("_")
}

/// Evaluates arithmetic on one output row (`row[0]` is the time). Integers stay integers
/// except under `/`; a null or non-number operand gives null; division by zero gives 0, as
/// in InfluxQL.
fn eval_math(m: &Math, row: &[Value]) -> Value {
    match m {
        Math::Col(i) => match row.get(i + 1) {
            Some(v @ (Value::Int(_) | Value::UInt(_) | Value::Float(_))) => v.clone(),
            _ => Value::Null,
        },
        Math::Int(i) => Value::Int(*i),
        Math::Num(n) => Value::Float(*n),
        Math::Bin(l, op, r) => {
            let (a, b) = (eval_math(l, row), eval_math(r, row));
            match (&a, &b) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (Value::Int(x), Value::Int(y)) if *op != Op::Div => match op {
                    Op::Add => Value::Int(x.wrapping_add(*y)),
                    Op::Sub => Value::Int(x.wrapping_sub(*y)),
                    Op::Mul => Value::Int(x.wrapping_mul(*y)),
                    _ => {
                        if *y == 0 {
                            Value::Int(0)
                        } else {
                            Value::Int(x.wrapping_rem(*y))
                        }
                    }
                },
                _ => {
                    let (Some(x), Some(y)) = (num(&a), num(&b)) else {
                        return Value::Null;
                    };
                    Value::Float(match op {
                        Op::Add => x + y,
                        Op::Sub => x - y,
                        Op::Mul => x * y,
                        Op::Div if y == 0.0 => 0.0,
                        Op::Div => x / y,
                        _ if y == 0.0 => 0.0,
                        _ => x % y,
                    })
                }
            }
        }
    }
}

/// Whether storage can compute a measurement's aggregates per series for this statement
/// (`count sum min max first last`, and `mean` of float fields as sum and count), leaving only
/// their combination across the series of a group: the condition must not read fields.
fn pushable(cols: &[(String, Col)], cond: Option<&Expr>, schema: &Schema) -> bool {
    let funcs_ok = cols.iter().all(|(_, c)| match c {
        Col::Agg { func, field, .. } => match func {
            Func::Count | Func::Sum | Func::Min | Func::Max | Func::First | Func::Last => true,
            Func::Mean => schema.fields.get(field) == Some(&DataType::Float),
            _ => false,
        },
        _ => false,
    });
    let mut names = BTreeSet::new();
    if let Some(c) = cond {
        vars(c, &mut names);
    }
    funcs_ok && names.iter().all(|n| !schema.fields.contains_key(n))
}

/// A storage aggregate of one field in one window, combined across series.
#[derive(Debug, Clone)]
enum Partial {
    Count(i64),
    Sum(Value),
    /// A selected point: time and value.
    Point(i64, Value),
}

fn add_values(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(*y)),
        (Value::UInt(x), Value::UInt(y)) => Value::UInt(x.wrapping_add(*y)),
        _ => Value::Float(num(a).unwrap_or(0.0) + num(b).unwrap_or(0.0)),
    }
}

fn combine(kind: AggregateKind, old: Partial, new: Partial) -> Partial {
    use std::cmp::Ordering::{Greater, Less};
    match (old, new) {
        (Partial::Count(a), Partial::Count(b)) => Partial::Count(a + b),
        (Partial::Sum(a), Partial::Sum(b)) => Partial::Sum(add_values(&a, &b)),
        (Partial::Point(ta, va), Partial::Point(tb, vb)) => {
            let take_new = match kind {
                AggregateKind::Min => match compare(&vb, &va) {
                    Some(Less) => true,
                    Some(Greater) => false,
                    _ => tb < ta,
                },
                AggregateKind::Max => match compare(&vb, &va) {
                    Some(Greater) => true,
                    Some(Less) => false,
                    _ => tb < ta,
                },
                AggregateKind::First => tb < ta || (tb == ta && compare(&vb, &va) == Some(Greater)),
                _ => tb > ta || (tb == ta && compare(&vb, &va) == Some(Greater)),
            };
            if take_new {
                Partial::Point(tb, vb)
            } else {
                Partial::Point(ta, va)
            }
        }
        (old, _) => old,
    }
}

/// The aggregates of one measurement per group and window, computed per series by storage
/// (one window aggregate read per field and kind) and combined here.
#[allow(clippy::too_many_arguments)]
fn pushed_windows(
    ctx: &Context<'_>,
    s: &Select,
    cols: &[(String, Col)],
    m: &str,
    schema: &Schema,
    cond: Option<&Expr>,
    bucket: &BucketRef,
    (start, stop): (i64, i64),
    dims: &[String],
    tmin: Option<i64>,
    keys: &[Key],
) -> R<BTreeMap<Vec<String>, BTreeMap<i64, Cells>>> {
    use crate::time::Duration;
    // Without GROUP BY time the one window spans the range; halves keep its span in an i64.
    let ranges = if s.interval.is_none() && start < 0 && stop > 0 {
        vec![(start, 0), (0, stop)]
    } else {
        vec![(start, stop)]
    };
    // A mean over groups of one series each is storage's mean; otherwise sum and count.
    let mut direct_mean: BTreeSet<&str> = BTreeSet::new();
    if ranges.len() == 1 {
        for (_, c) in cols {
            let Col::Agg {
                func: Func::Mean,
                field,
                ..
            } = c
            else {
                continue;
            };
            let mut per_group: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
            for k in keys.iter().filter(|k| &k.field == field) {
                if let Some(c) = cond
                    && !truth(c, &TagRow(&k.tags))?
                {
                    continue;
                }
                let group: Vec<&str> = dims
                    .iter()
                    .map(|d| {
                        k.tags
                            .iter()
                            .find(|(t, _)| t == d)
                            .map_or("", |(_, v)| v.as_str())
                    })
                    .collect();
                *per_group.entry(group).or_default() += 1;
            }
            if per_group.values().all(|n| *n <= 1) {
                direct_mean.insert(field);
            }
        }
    }
    let mut kinds: Vec<(String, AggregateKind)> = Vec::new();
    let mut want = |f: &str, k: AggregateKind| {
        if !kinds.iter().any(|(kf, kk)| kf == f && *kk == k) {
            kinds.push((f.to_string(), k));
        }
    };
    for (_, c) in cols {
        if let Col::Agg { func, field, .. } = c {
            match func {
                Func::Count => want(field, AggregateKind::Count),
                Func::Sum => want(field, AggregateKind::Sum),
                Func::Mean if direct_mean.contains(field.as_str()) => {
                    want(field, AggregateKind::Mean);
                }
                Func::Mean => {
                    want(field, AggregateKind::Sum);
                    want(field, AggregateKind::Count);
                }
                Func::Min => want(field, AggregateKind::Min),
                Func::Max => want(field, AggregateKind::Max),
                Func::First => want(field, AggregateKind::First),
                Func::Last => want(field, AggregateKind::Last),
                _ => return Err(format!("{}() is not computed by storage", func.name())),
            }
        }
    }
    let (every, offset) = match s.interval {
        Some((e, o)) => (Some(Duration::from_nanos(e)), Duration::from_nanos(o)),
        None => (None, Duration::default()),
    };
    let tag_pred = pushdown(cond, schema);
    let mut partials: BTreeMap<Vec<String>, BTreeMap<i64, Vec<Option<Partial>>>> = BTreeMap::new();
    for (ki, (field, kind)) in kinds.iter().enumerate() {
        let mut pred = Predicate::And(
            Box::new(measurement_predicate(m)),
            Box::new(Predicate::Equal {
                key: "_field".into(),
                value: field.clone(),
                negate: false,
            }),
        );
        if let Some(tp) = &tag_pred {
            pred = Predicate::And(Box::new(pred), Box::new(tp.clone()));
        }
        for &(lo, hi) in &ranges {
            let req = ReadRequest {
                bucket: bucket.clone(),
                start: lo,
                stop: hi,
                predicate: Some(pred.clone()),
                aggregate: Some(WindowAggregate {
                    every,
                    offset,
                    kind: *kind,
                    create_empty: false,
                    time_source: (!kind.is_selector()).then_some(crate::source::TimeSource::Start),
                }),
                memory_limit: ctx.memory_limit,
            };
            for t in ctx.read(&req)? {
                let (_, _, tags) = tags_of(&t);
                if let Some(c) = cond
                    && !truth(c, &TagRow(&tags))?
                {
                    continue;
                }
                let dim_values: Vec<String> = dims
                    .iter()
                    .map(|d| {
                        tags.iter()
                            .find(|(k, _)| k == d)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                let Some(vi) = t.col_index("_value") else {
                    continue;
                };
                let times = t.col_index("_time").map(|i| &t.columns[i].values);
                let group = partials.entry(dim_values).or_default();
                for (ri, v) in t.columns[vi].values.iter().enumerate() {
                    if matches!(v, Value::Null) {
                        continue;
                    }
                    let time = match times.and_then(|c| c.get(ri)) {
                        Some(Value::Time(t)) => *t,
                        _ => lo,
                    };
                    let key = window_key(s, time, tmin);
                    let p = match kind {
                        AggregateKind::Count => match v {
                            Value::Int(n) => Partial::Count(*n),
                            _ => continue,
                        },
                        AggregateKind::Sum | AggregateKind::Mean => Partial::Sum(v.clone()),
                        _ => Partial::Point(time, v.clone()),
                    };
                    let slots = group.entry(key).or_insert_with(|| vec![None; kinds.len()]);
                    slots[ki] = Some(match slots[ki].take() {
                        None => p,
                        Some(old) => combine(*kind, old, p),
                    });
                }
            }
        }
    }
    let slot = |slots: &[Option<Partial>], f: &str, k: AggregateKind| {
        kinds
            .iter()
            .position(|(kf, kk)| kf == f && *kk == k)
            .and_then(|i| slots[i].clone())
    };
    let mut out = BTreeMap::new();
    for (dim_values, windows) in partials {
        let mut cells_by_window = BTreeMap::new();
        for (w, slots) in windows {
            let mut cells: Cells = Vec::with_capacity(cols.len());
            for (_, c) in cols {
                let Col::Agg { func, field, .. } = c else {
                    cells.push(vec![]);
                    continue;
                };
                let cell = match func {
                    Func::Count => match slot(&slots, field, AggregateKind::Count) {
                        Some(Partial::Count(n)) if n > 0 => Some((None, Value::Int(n))),
                        _ => None,
                    },
                    Func::Sum => match slot(&slots, field, AggregateKind::Sum) {
                        Some(Partial::Sum(v)) => Some((None, v)),
                        _ => None,
                    },
                    Func::Mean if direct_mean.contains(field.as_str()) => {
                        match slot(&slots, field, AggregateKind::Mean) {
                            Some(Partial::Sum(v)) => num(&v).map(|m| (None, Value::Float(m))),
                            _ => None,
                        }
                    }
                    Func::Mean => match (
                        slot(&slots, field, AggregateKind::Sum),
                        slot(&slots, field, AggregateKind::Count),
                    ) {
                        (Some(Partial::Sum(v)), Some(Partial::Count(n))) if n > 0 => {
                            Some((None, Value::Float(num(&v).unwrap_or(0.0) / n as f64)))
                        }
                        _ => None,
                    },
                    _ => {
                        let kind = match func {
                            Func::Min => AggregateKind::Min,
                            Func::Max => AggregateKind::Max,
                            Func::First => AggregateKind::First,
                            _ => AggregateKind::Last,
                        };
                        match slot(&slots, field, kind) {
                            Some(Partial::Point(t, v)) => Some((Some(t), v)),
                            _ => None,
                        }
                    }
                };
                cells.push(cell.into_iter().collect());
            }
            if cells.iter().any(|c| !c.is_empty()) {
                cells_by_window.insert(w, cells);
            }
        }
        if !cells_by_window.is_empty() {
            out.insert(dim_values, cells_by_window);
        }
    }
    Ok(out)
}

fn raw_group(
    cols: &[(String, Col)],
    members: &[SeriesRows],
    index: &HashMap<String, usize>,
) -> Vec<Vec<Value>> {
    let mut rows: Vec<(i64, usize, &Vec<Value>)> = Vec::new();
    for (si, sr) in members.iter().enumerate() {
        rows.extend(sr.rows.iter().map(|(t, v)| (*t, si, v)));
    }
    rows.sort_by_key(|(t, si, _)| (*t, *si));
    let mut out = Vec::with_capacity(rows.len());
    for (t, si, vals) in rows {
        let mut row = Vec::with_capacity(cols.len() + 1);
        row.push(Value::Time(t));
        let mut any = false;
        for (_, c) in cols {
            match c {
                Col::Field(f) => {
                    let v = index.get(f).map_or(Value::Null, |&i| vals[i].clone());
                    any |= !matches!(v, Value::Null);
                    row.push(v);
                }
                Col::Tag(k) => row.push(
                    members[si]
                        .tags
                        .iter()
                        .find(|(tk, _)| tk == k)
                        .map_or(Value::Null, |(_, v)| Value::String(v.clone())),
                ),
                Col::Agg { .. } => row.push(Value::Null),
            }
        }
        if any {
            out.push(row);
        }
    }
    out
}

fn window_start(t: i64, every: i64, offset: i64) -> i64 {
    t - (t - offset).rem_euclid(every)
}

/// Per output column, the aggregate's rows in one window (several for `distinct`, none when
/// the window holds no value of the column's field); selectors carry their point's time.
type Cells = Vec<Vec<(Option<i64>, Value)>>;

/// The key of the window holding `t`: its start, or the one window of a query without
/// `GROUP BY time` (keyed by the range's start, 0 when unbounded).
fn window_key(s: &Select, t: i64, tmin: Option<i64>) -> i64 {
    match s.interval {
        Some((every, offset)) => window_start(t, every, offset),
        None => tmin.unwrap_or(0),
    }
}

/// The aggregates of a group's points per non-empty window.
fn cells_from_rows(
    s: &Select,
    cols: &[(String, Col)],
    members: &[SeriesRows],
    index: &HashMap<String, usize>,
    tmin: Option<i64>,
) -> R<BTreeMap<i64, Cells>> {
    // All points of the group in time order.
    let mut rows: Vec<(i64, &Vec<Value>)> = Vec::new();
    for sr in members {
        rows.extend(sr.rows.iter().map(|(t, v)| (*t, v)));
    }
    rows.sort_by_key(|(t, _)| *t);
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < rows.len() {
        let w = window_key(s, rows[i].0, tmin);
        let mut j = i;
        while j < rows.len() && window_key(s, rows[j].0, tmin) == w {
            j += 1;
        }
        let slice = &rows[i..j];
        let mut cells: Cells = Vec::with_capacity(cols.len());
        let mut any = false;
        for (_, c) in cols {
            let Col::Agg { func, field, param } = c else {
                cells.push(vec![]);
                continue;
            };
            let points: Vec<(i64, &Value)> = match index.get(field) {
                Some(&fi) => slice
                    .iter()
                    .filter(|(_, v)| !matches!(v[fi], Value::Null))
                    .map(|(t, v)| (*t, &v[fi]))
                    .collect(),
                None => vec![],
            };
            if points.is_empty() {
                cells.push(vec![]);
                continue;
            }
            any = true;
            cells.push(reduce(*func, *param, &points)?);
        }
        if any {
            out.insert(w, cells);
        }
        i = j;
    }
    Ok(out)
}

/// The rows of one group from its non-empty windows: every window of the range when empty
/// ones are filled, with InfluxQL's fill rules and selector times.
fn emit_windows(
    s: &Select,
    cols: &[(String, Col)],
    mut cells: BTreeMap<i64, Cells>,
    tmin: Option<i64>,
    tmax: Option<i64>,
    schema: &Schema,
) -> R<Vec<Vec<Value>>> {
    let single_selector = s.interval.is_none()
        && cols.len() == 1
        && matches!(cols[0].1, Col::Agg { func, .. } if func.is_selector());
    let windows: Vec<i64> = match s.interval {
        Some((every, offset)) if s.fill != Fill::None => {
            let (Some(lo), Some(hi)) = (tmin, tmax) else {
                return Ok(vec![]);
            };
            let first = window_start(lo, every, offset);
            let last = window_start(hi, every, offset);
            let n = (last - first) / every + 1;
            if n > MAX_WINDOWS {
                return Err(format!(
                    "too many windows ({n}) for GROUP BY time: at most {MAX_WINDOWS} are filled per series; narrow the time range, widen the interval or use fill(none)"
                ));
            }
            (0..n.max(0)).map(|k| first + k * every).collect()
        }
        _ => cells.keys().copied().collect(),
    };
    let ncols = cols.len();
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut previous: Vec<Value> = vec![Value::Null; ncols];
    let mut empty_cells: Vec<(usize, usize)> = Vec::new();
    for w in windows {
        let cells = cells.remove(&w).unwrap_or_else(|| vec![vec![]; ncols]);
        if distinct_rows(cols) {
            let t = Value::Time(w);
            for (_, v) in cells.into_iter().next().unwrap_or_default() {
                out.push(vec![t.clone(), v]);
            }
            continue;
        }
        let mut time = w;
        if single_selector && let Some(Some(t)) = cells[0].first().map(|(t, _)| *t) {
            time = t;
        }
        let mut row = vec![Value::Time(time)];
        for (ci, (_, c)) in cols.iter().enumerate() {
            let v = match cells[ci].first() {
                Some((_, v)) => v.clone(),
                None => {
                    let Col::Agg { func, field, .. } = c else {
                        row.push(Value::Null);
                        continue;
                    };
                    match s.fill {
                        Fill::Null | Fill::None => {
                            if *func == Func::Count && s.interval.is_some() {
                                Value::Int(0)
                            } else {
                                Value::Null
                            }
                        }
                        Fill::Number(n) => {
                            let int = *func == Func::Count
                                || (func.keeps_type()
                                    && matches!(
                                        schema.fields.get(field),
                                        Some(DataType::Int | DataType::UInt)
                                    ));
                            if int {
                                Value::Int(n as i64)
                            } else {
                                Value::Float(n)
                            }
                        }
                        Fill::Previous => previous[ci].clone(),
                        Fill::Linear => {
                            empty_cells.push((out.len(), ci + 1));
                            Value::Null
                        }
                    }
                }
            };
            if !matches!(v, Value::Null) {
                previous[ci] = v.clone();
            }
            row.push(v);
        }
        out.push(row);
    }
    if s.fill == Fill::Linear {
        linear_fill(&mut out, &empty_cells);
    }
    Ok(out)
}

fn distinct_rows(cols: &[(String, Col)]) -> bool {
    cols.len() == 1
        && matches!(
            cols[0].1,
            Col::Agg {
                func: Func::Distinct,
                ..
            }
        )
}

/// Interpolates each empty cell between the nearest non-null cells of its column.
fn linear_fill(rows: &mut [Vec<Value>], cells: &[(usize, usize)]) {
    let time = |r: &Vec<Value>| match r.first() {
        Some(Value::Time(t)) => *t,
        _ => 0,
    };
    for &(ri, ci) in cells {
        let before = (0..ri).rev().find(|&k| num(&rows[k][ci]).is_some());
        let after = (ri + 1..rows.len()).find(|&k| num(&rows[k][ci]).is_some());
        let (Some(b), Some(a)) = (before, after) else {
            continue;
        };
        let (tb, ta, t) = (time(&rows[b]), time(&rows[a]), time(&rows[ri]));
        let v = match (&rows[b][ci], &rows[a][ci]) {
            (Value::Int(x), Value::Int(y)) => {
                let span = (ta - tb) as i128;
                let d = (*y as i128 - *x as i128) * (t - tb) as i128 / span.max(1);
                Value::Int((*x as i128 + d) as i64)
            }
            (x, y) => match (num(x), num(y)) {
                (Some(x), Some(y)) => {
                    Value::Float(x + (y - x) * (t - tb) as f64 / (ta - tb).max(1) as f64)
                }
                _ => continue,
            },
        };
        rows[ri][ci] = v;
    }
}

/// One aggregate over the points of a window (time order). Selectors give their point's time.
fn reduce(func: Func, param: f64, points: &[(i64, &Value)]) -> R<Vec<(Option<i64>, Value)>> {
    let n = points.len();
    let all_int = points.iter().all(|(_, v)| matches!(v, Value::Int(_)));
    let all_uint = points.iter().all(|(_, v)| matches!(v, Value::UInt(_)));
    let floats = || -> R<Vec<f64>> {
        points
            .iter()
            .map(|(_, v)| {
                num(v)
                    .ok_or_else(|| format!("unsupported {}() on a non-numeric field", func.name()))
            })
            .collect()
    };
    let one = |v: Value| Ok(vec![(None, v)]);
    match func {
        Func::Count => one(Value::Int(n as i64)),
        Func::Sum => {
            if all_int {
                one(Value::Int(points.iter().fold(0i64, |a, (_, v)| match v {
                    Value::Int(i) => a.wrapping_add(*i),
                    _ => a,
                })))
            } else if all_uint {
                one(Value::UInt(points.iter().fold(0u64, |a, (_, v)| match v {
                    Value::UInt(i) => a.wrapping_add(*i),
                    _ => a,
                })))
            } else {
                one(Value::Float(floats()?.iter().sum()))
            }
        }
        Func::Mean => {
            let f = floats()?;
            one(Value::Float(f.iter().sum::<f64>() / n as f64))
        }
        Func::Median => {
            let mut f = floats()?;
            f.sort_by(f64::total_cmp);
            let v = if n % 2 == 1 {
                f[n / 2]
            } else {
                let (a, b) = (f[n / 2 - 1], f[n / 2]);
                a + (b - a) / 2.0
            };
            one(Value::Float(v))
        }
        Func::Stddev => {
            let f = floats()?;
            if n < 2 {
                return one(Value::Null);
            }
            let mean = f.iter().sum::<f64>() / n as f64;
            let var = f.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
            one(Value::Float(var.sqrt()))
        }
        Func::Spread => {
            if all_int {
                let it = points.iter().filter_map(|(_, v)| match v {
                    Value::Int(i) => Some(*i),
                    _ => None,
                });
                let (lo, hi) = it.fold((i64::MAX, i64::MIN), |(l, h), x| (l.min(x), h.max(x)));
                one(Value::Int(hi.wrapping_sub(lo)))
            } else if all_uint {
                let it = points.iter().filter_map(|(_, v)| match v {
                    Value::UInt(i) => Some(*i),
                    _ => None,
                });
                let (lo, hi) = it.fold((u64::MAX, 0), |(l, h), x| (l.min(x), h.max(x)));
                one(Value::UInt(hi.wrapping_sub(lo)))
            } else {
                let f = floats()?;
                let lo = f.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                one(Value::Float(hi - lo))
            }
        }
        Func::Min | Func::Max => {
            floats()?;
            let mut best = points[0];
            for p in &points[1..] {
                let o = compare(p.1, best.1);
                let better = if func == Func::Min {
                    o == Some(std::cmp::Ordering::Less)
                } else {
                    o == Some(std::cmp::Ordering::Greater)
                };
                if better {
                    best = *p;
                }
            }
            Ok(vec![(Some(best.0), best.1.clone())])
        }
        Func::First | Func::Last => {
            // Points of several series may share the time: the larger value wins, as in
            // InfluxDB's first and last reducers.
            let mut best = points[0];
            for p in &points[1..] {
                let later = p.0 > best.0;
                let tie_bigger =
                    p.0 == best.0 && compare(p.1, best.1) == Some(std::cmp::Ordering::Greater);
                let take = if func == Func::First {
                    p.0 < best.0 || tie_bigger
                } else {
                    later || tie_bigger
                };
                if take {
                    best = *p;
                }
            }
            Ok(vec![(Some(best.0), best.1.clone())])
        }
        Func::Percentile => {
            floats()?;
            let mut sorted: Vec<(i64, &Value)> = points.to_vec();
            sorted.sort_by(|a, b| Value::cmp_cells(a.1, b.1));
            let idx = ((n as f64) * param / 100.0 + 0.5).floor() as i64 - 1;
            if idx < 0 || idx >= n as i64 {
                return one(Value::Null);
            }
            let (t, v) = sorted[idx as usize];
            Ok(vec![(Some(t), v.clone())])
        }
        Func::Mode => {
            let mut sorted: Vec<&Value> = points.iter().map(|(_, v)| *v).collect();
            sorted.sort_by(|a, b| Value::cmp_cells(a, b));
            let (mut best, mut best_n) = (sorted[0], 0usize);
            let mut i = 0;
            while i < sorted.len() {
                let mut j = i;
                while j < sorted.len() && Value::cmp_cells(sorted[i], sorted[j]).is_eq() {
                    j += 1;
                }
                if j - i > best_n {
                    best_n = j - i;
                    best = sorted[i];
                }
                i = j;
            }
            one(best.clone())
        }
        Func::Distinct => {
            let mut sorted: Vec<&Value> = points.iter().map(|(_, v)| *v).collect();
            sorted.sort_by(|a, b| Value::cmp_cells(a, b));
            sorted.dedup_by(|a, b| Value::cmp_cells(a, b).is_eq());
            Ok(sorted.into_iter().map(|v| (None, v.clone())).collect())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SHOW

fn show_databases(ctx: &Context<'_>) -> Vec<Series> {
    let names: BTreeSet<&str> = ctx.dbrps.iter().map(|d| d.database.as_str()).collect();
    vec![Series {
        name: Some("databases".into()),
        tags: vec![],
        columns: vec!["name".into()],
        values: names
            .into_iter()
            .map(|n| vec![Value::String(n.to_string())])
            .collect(),
    }]
}

/// InfluxDB 2.x answers every retention policy with these: buckets have no shard groups of
/// 1.x's kind, and it does not report the bucket's retention here.
const RP_DURATION: &str = "0s";
const RP_SHARD_GROUP_DURATION: &str = "168h0m0s";

fn show_retention_policies(ctx: &Context<'_>, database: &Option<String>) -> R<Vec<Series>> {
    let Some(db) = database.as_deref().or(ctx.database.as_deref()) else {
        return Err("database name required".into());
    };
    Ok(vec![Series {
        name: None,
        tags: vec![],
        columns: [
            "name",
            "duration",
            "shardGroupDuration",
            "replicaN",
            "default",
        ]
        .map(String::from)
        .to_vec(),
        values: ctx
            .dbrps
            .iter()
            .filter(|d| d.database == db)
            .map(|d| {
                vec![
                    Value::String(d.retention_policy.clone()),
                    Value::String(RP_DURATION.into()),
                    Value::String(RP_SHARD_GROUP_DURATION.into()),
                    Value::Int(1),
                    Value::Bool(d.default),
                ]
            })
            .collect(),
    }])
}

fn show_measurements(
    ctx: &Context<'_>,
    database: Option<&str>,
    with: Option<&NameMatch>,
    cond: Option<&Expr>,
) -> R<Vec<String>> {
    let bucket = ctx.bucket(database, None)?;
    let keys = scan_keys(ctx, &bucket, None)?;
    let mut names = BTreeSet::new();
    for k in &keys {
        if with.is_some_and(|w| !w.matches(&k.measurement)) {
            continue;
        }
        if tags_pass(cond, &k.tags, ctx.now)? {
            names.insert(k.measurement.clone());
        }
    }
    Ok(names.into_iter().collect())
}

fn show_tag_keys(
    ctx: &Context<'_>,
    database: Option<&str>,
    from: &[From],
    cond: Option<&Expr>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> R<Vec<Series>> {
    let mut out = Vec::new();
    for (m, keys) in source_keys(ctx, database, from)? {
        let mut tags = BTreeSet::new();
        for k in &keys {
            if tags_pass(cond, &k.tags, ctx.now)? {
                tags.extend(k.tags.iter().map(|(t, _)| t.clone()));
            }
        }
        let tags = page(tags.into_iter().collect(), limit, offset);
        if tags.is_empty() {
            continue;
        }
        out.push(Series {
            name: Some(m),
            tags: vec![],
            columns: vec!["tagKey".into()],
            values: tags.into_iter().map(|t| vec![Value::String(t)]).collect(),
        });
    }
    Ok(out)
}

fn show_tag_values(
    ctx: &Context<'_>,
    database: Option<&str>,
    from: &[From],
    key: &KeyMatch,
    cond: Option<&Expr>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> R<Vec<Series>> {
    let mut out = Vec::new();
    for (m, keys) in source_keys(ctx, database, from)? {
        let mut pairs = BTreeSet::new();
        for k in &keys {
            if !tags_pass(cond, &k.tags, ctx.now)? {
                continue;
            }
            for (t, v) in &k.tags {
                if key.matches(t) {
                    pairs.insert((t.clone(), v.clone()));
                }
            }
        }
        let pairs = page(pairs.into_iter().collect(), limit, offset);
        if pairs.is_empty() {
            continue;
        }
        out.push(Series {
            name: Some(m),
            tags: vec![],
            columns: vec!["key".into(), "value".into()],
            values: pairs
                .into_iter()
                .map(|(k, v)| vec![Value::String(k), Value::String(v)])
                .collect(),
        });
    }
    Ok(out)
}

/// InfluxQL's name of a field type (unsigned reads as integer).
pub fn field_type_name(ty: DataType) -> &'static str {
    match ty {
        DataType::Float => "float",
        DataType::Int | DataType::UInt => "integer",
        DataType::String => "string",
        DataType::Bool => "boolean",
        DataType::Time => "integer",
    }
}

fn show_field_keys(
    ctx: &Context<'_>,
    database: Option<&str>,
    from: &[From],
    limit: Option<u64>,
    offset: Option<u64>,
) -> R<Vec<Series>> {
    let mut out = Vec::new();
    for (m, keys) in source_keys(ctx, database, from)? {
        let schema = schemas(&keys).remove(&m).unwrap_or_default();
        let fields = page(schema.fields.into_iter().collect(), limit, offset);
        if fields.is_empty() {
            continue;
        }
        out.push(Series {
            name: Some(m),
            tags: vec![],
            columns: vec!["fieldKey".into(), "fieldType".into()],
            values: fields
                .into_iter()
                .map(|(f, ty)| {
                    vec![
                        Value::String(f),
                        Value::String(field_type_name(ty).to_string()),
                    ]
                })
                .collect(),
        });
    }
    Ok(out)
}

fn escape_key(s: &str, measurement: bool) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ',' || c == ' ' || (!measurement && c == '=') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn show_series(
    ctx: &Context<'_>,
    database: Option<&str>,
    from: &[From],
    cond: Option<&Expr>,
    limit: Option<u64>,
    offset: Option<u64>,
) -> R<Vec<Series>> {
    let mut keys_out = BTreeSet::new();
    for (m, keys) in source_keys(ctx, database, from)? {
        for k in &keys {
            if !tags_pass(cond, &k.tags, ctx.now)? {
                continue;
            }
            let mut key = escape_key(&m, true);
            for (t, v) in &k.tags {
                key.push(',');
                key.push_str(&escape_key(t, false));
                key.push('=');
                key.push_str(&escape_key(v, false));
            }
            keys_out.insert(key);
        }
    }
    let keys = page(keys_out.into_iter().collect(), limit, offset);
    if keys.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Series {
        name: None,
        tags: vec![],
        columns: vec!["key".into()],
        values: keys.into_iter().map(|k| vec![Value::String(k)]).collect(),
    }])
}
