//! The Flux interpreter: evaluates a parsed program against a [`Source`] and collects results.
//!
//! Values are evaluated eagerly except table streams that start with `from()`: those stay a
//! pending [`ReadRequest`] while `range`, pushable `filter`s (predicates on `_measurement`,
//! `_field` and tags) and a pushable `aggregateWindow` or bare aggregate/selector are folded into
//! it, so storage can answer without handing every point to the executor. The first operation
//! that cannot be pushed reads the source and continues in memory (see [`crate::functions`]).
//! Statements run in order; `option now = () => t` fixes `now()`; every `yield` (and each bare
//! expression statement producing a stream that was not yielded) adds a result.

use std::sync::Arc;

use crate::flux::ast::{
    BinaryOp, DurationUnit, Expr, ExprKind, FunctionBody, Param, Program, Span, Statement,
    StringPart, UnaryOp,
};
use crate::functions;
use crate::source::{
    AggregateKind, BucketRef, Predicate, ReadRequest, Sink, Source, WindowAggregate,
};
use crate::table::{ResultSet, Table};
use crate::time::{Duration, add_months, month_index};
use crate::value::{Record, Value, format_float};
use crate::{QueryError, flux};

/// Settings of one query execution.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// What `now()` returns (ns since the epoch) unless the script sets `option now`.
    pub now: i64,
    /// Extra variables bound before the script runs (e.g. `v` with `timeRangeStart`).
    pub vars: Vec<(String, Value)>,
    /// Flux run before the script in the same scope, e.g. a request's `extern` rendered by
    /// [`crate::flux::extern_ast::to_source`]; kept apart so error positions stay the script's.
    pub prelude: String,
    /// Upper bound on the estimated bytes of the tables a query holds at once.
    pub memory_limit: Option<usize>,
    /// The query fails with [`QueryError::Timeout`] once this instant has passed.
    pub deadline: Option<std::time::Instant>,
    /// Set to true (e.g. when the client disconnects) to stop the query.
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// For a task run: the schedule time of the task's latest successful run, which
    /// `tasks.lastSuccess` answers.
    pub latest_success: Option<i64>,
    /// Where `secrets.get` loads the org's secrets from (see [`crate::secrets`]).
    pub secrets: crate::secrets::Secrets,
}

/// Parses and runs `program`, returning its results in the order they were yielded.
pub fn execute(
    program: &str,
    source: &dyn Source,
    options: &Options,
) -> Result<Vec<ResultSet>, QueryError> {
    execute_with_sink(program, source, None, options)
}

/// As [`execute`], with a [`Sink`] that `to()` writes into (without one, `to()` fails).
pub fn execute_with_sink(
    program: &str,
    source: &dyn Source,
    sink: Option<&dyn Sink>,
    options: &Options,
) -> Result<Vec<ResultSet>, QueryError> {
    let ast = flux::parse(program)?;
    let mut it = Interp {
        source,
        sink,
        now: options.now,
        results: Vec::new(),
        limits: Limits {
            memory: options.memory_limit,
            deadline: options.deadline,
            cancel: options.cancel.clone(),
        },
        row_calls: 0,
        latest_success: options.latest_success,
        secrets: options.secrets.clone(),
    };
    let mut env = Env::default();
    for (k, v) in &options.vars {
        env = env.bind(k, v.clone());
    }
    if !options.prelude.is_empty() {
        let pre = flux::parse(&options.prelude)?;
        env = it.run(&pre, env)?;
    }
    it.run(&ast, env)?;
    if it.results.is_empty() {
        return Err(QueryError::NoStreamingData);
    }
    Ok(it.results)
}

/// A lexical environment: a persistent list of bindings.
#[derive(Clone, Default)]
pub struct Env(Option<Arc<Frame>>);

pub struct Frame {
    name: String,
    value: Value,
    next: Env,
}

impl Env {
    pub fn bind(&self, name: &str, value: Value) -> Env {
        Env(Some(Arc::new(Frame {
            name: name.to_string(),
            value,
            next: self.clone(),
        })))
    }

    pub fn lookup(&self, name: &str) -> Option<&Value> {
        let mut cur = &self.0;
        while let Some(f) = cur {
            if f.name == name {
                return Some(&f.value);
            }
            cur = &f.next.0;
        }
        None
    }
}

/// A callable value.
pub enum Function {
    /// A function of the standard library, by qualified name (`filter`, `schema.tagValues`).
    Builtin(&'static str),
    Closure {
        params: Vec<Param>,
        body: Arc<FunctionBody>,
        env: Env,
    },
}

/// A stream of tables: still a pending storage read, or materialised.
#[derive(Clone)]
pub struct Stream {
    pub data: StreamData,
    /// Set by `yield`, so that the statement is not yielded again as `_result`.
    pub yielded: bool,
    /// The bounds of the nearest `range()` upstream, used by windowing.
    pub bounds: Option<(i64, i64)>,
}

#[derive(Clone)]
pub enum StreamData {
    Pending(Box<Pending>),
    Tables(Arc<Vec<Table>>),
}

/// A storage read being built.
#[derive(Clone)]
pub struct Pending {
    pub bucket: BucketRef,
    pub range: Option<(i64, i64)>,
    pub predicate: Option<Predicate>,
    pub aggregate: Option<WindowAggregate>,
    /// A `window()` waiting for an aggregate to push down with it (applied in memory otherwise).
    pub window: Option<PendingWindow>,
    pub span: Span,
}

/// `window(every, offset, createEmpty)` folded into a pending read.
#[derive(Clone, Copy, Debug)]
pub struct PendingWindow {
    pub every: Duration,
    pub offset: Duration,
    pub create_empty: bool,
}

impl Stream {
    pub fn tables(tables: Vec<Table>, bounds: Option<(i64, i64)>) -> Value {
        Value::Stream(Arc::new(Stream {
            data: StreamData::Tables(Arc::new(tables)),
            yielded: false,
            bounds,
        }))
    }
}

/// Arguments of a builtin call.
pub struct Args {
    pub named: Vec<(String, Value)>,
    pub pipe: Option<Value>,
    pub span: Span,
    pub name: &'static str,
}

impl Args {
    pub fn err(&self, msg: impl std::fmt::Display) -> QueryError {
        QueryError::Invalid {
            span: self.span,
            message: format!("{}: {msg}", self.name),
        }
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.named
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    pub fn required(&self, k: &str) -> Result<&Value, QueryError> {
        self.get(k)
            .ok_or_else(|| self.err(format!("missing required argument {k}")))
    }

    pub fn string(&self, k: &str) -> Result<Option<String>, QueryError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(format!(
                "argument {k} must be a string, got {}",
                v.type_name()
            ))),
        }
    }

    /// A string argument that must be given.
    pub fn required_string(&self, k: &str) -> Result<String, QueryError> {
        self.string(k)?
            .ok_or_else(|| self.err(format!("missing required argument {k}")))
    }

    pub fn string_or(&self, k: &str, d: &str) -> Result<String, QueryError> {
        Ok(self.string(k)?.unwrap_or_else(|| d.to_string()))
    }

    pub fn bool_or(&self, k: &str, d: bool) -> Result<bool, QueryError> {
        match self.get(k) {
            None => Ok(d),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(format!(
                "argument {k} must be a bool, got {}",
                v.type_name()
            ))),
        }
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, QueryError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(v) => Err(self.err(format!(
                "argument {k} must be an int, got {}",
                v.type_name()
            ))),
        }
    }

    pub fn float(&self, k: &str) -> Result<Option<f64>, QueryError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Float(f)) => Ok(Some(*f)),
            Some(v) => Err(self.err(format!(
                "argument {k} must be a float, got {}",
                v.type_name()
            ))),
        }
    }

    pub fn duration(&self, k: &str) -> Result<Option<Duration>, QueryError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Duration(d)) => Ok(Some(*d)),
            Some(v) => Err(self.err(format!(
                "argument {k} must be a duration, got {}",
                v.type_name()
            ))),
        }
    }

    pub fn strings(&self, k: &str) -> Result<Option<Vec<String>>, QueryError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(self.err(format!(
                        "argument {k} must be an array of strings, found {}",
                        v.type_name()
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.err(format!(
                "argument {k} must be an array of strings, got {}",
                v.type_name()
            ))),
        }
    }

    pub fn function(&self, k: &str) -> Result<Option<Arc<Function>>, QueryError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Function(f)) => Ok(Some(f.clone())),
            Some(v) => Err(self.err(format!(
                "argument {k} must be a function, got {}",
                v.type_name()
            ))),
        }
    }

    /// The piped-in stream.
    pub fn stream(&self) -> Result<Arc<Stream>, QueryError> {
        match self.pipe.as_ref().or_else(|| self.get("tables")) {
            Some(Value::Stream(s)) => Ok(s.clone()),
            Some(v) => Err(self.err(format!(
                "expected a stream of tables, got {}",
                v.type_name()
            ))),
            None => Err(self.err("missing required argument tables")),
        }
    }
}

/// Names bound in the universe (no import needed).
const UNIVERSE: &[&str] = &[
    "from",
    "range",
    "filter",
    "map",
    "keep",
    "drop",
    "rename",
    "group",
    "count",
    "sum",
    "mean",
    "median",
    "min",
    "max",
    "first",
    "last",
    "spread",
    "stddev",
    "quantile",
    "distinct",
    "limit",
    "tail",
    "sort",
    "top",
    "bottom",
    "unique",
    "window",
    "aggregateWindow",
    "pivot",
    "fill",
    "duplicate",
    "set",
    "toFloat",
    "toInt",
    "toUInt",
    "toString",
    "toBool",
    "toTime",
    "string",
    "int",
    "uint",
    "float",
    "bool",
    "time",
    "yield",
    "buckets",
    "now",
    "length",
    "contains",
    "to",
];

const SCHEMA: &[&str] = &[
    "schema.measurements",
    "schema.tagKeys",
    "schema.tagValues",
    "schema.measurementTagKeys",
    "schema.measurementTagValues",
    "schema.fieldKeys",
    "schema.measurementFieldKeys",
];

/// The row a row function is evaluated on.
pub struct RowRef<'t> {
    pub param: &'t str,
    pub table: &'t Table,
    pub index: usize,
}

pub struct Interp<'a> {
    pub source: &'a dyn Source,
    /// Where `to()` writes; `None` where writing is not available.
    pub sink: Option<&'a dyn Sink>,
    pub now: i64,
    pub results: Vec<ResultSet>,
    pub limits: Limits,
    /// Row-function calls so far (limits are checked every few thousand).
    pub row_calls: u64,
    /// See [`Options::latest_success`].
    pub latest_success: Option<i64>,
    /// See [`Options::secrets`].
    pub secrets: crate::secrets::Secrets,
}

/// The bounds a query runs within.
#[derive(Clone, Default)]
pub struct Limits {
    pub memory: Option<usize>,
    pub deadline: Option<std::time::Instant>,
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Limits {
    /// Fails when the query was canceled or ran past its deadline.
    pub fn check_time(&self) -> R<()> {
        if let Some(c) = &self.cancel
            && c.load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(QueryError::Canceled);
        }
        if let Some(d) = self.deadline
            && std::time::Instant::now() >= d
        {
            return Err(QueryError::Timeout);
        }
        Ok(())
    }

    /// Fails when `tables` (plus the results kept so far) exceed the memory limit.
    pub fn check_memory(&self, tables: &[Table], held: usize) -> R<()> {
        self.check_time()?;
        let Some(limit) = self.memory else {
            return Ok(());
        };
        let used = held.saturating_add(estimate_bytes(tables));
        if used > limit {
            return Err(QueryError::MemoryLimit { limit });
        }
        Ok(())
    }
}

/// A rough size of tables in memory: a cell slot per value plus string bytes.
pub fn estimate_bytes(tables: &[Table]) -> usize {
    let mut n = 0usize;
    for t in tables {
        for c in &t.columns {
            n = n.saturating_add(c.values.len() * std::mem::size_of::<Value>());
            if c.ty == crate::value::DataType::String {
                for v in &c.values {
                    if let Value::String(s) = v {
                        n = n.saturating_add(s.len());
                    }
                }
            }
        }
    }
    n
}

type R<T> = Result<T, QueryError>;

fn invalid(span: Span, message: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        span,
        message: message.into(),
    }
}

impl Interp<'_> {
    fn run(&mut self, prog: &Program, mut env: Env) -> R<Env> {
        for imp in &prog.imports {
            let pkg: &[&'static str] = match imp.path.as_str() {
                "influxdata/influxdb/schema" | "influxdata/influxdb/v1" => SCHEMA,
                "csv" => &["csv.from"],
                "array" => &["array.from"],
                "influxdata/influxdb" => &["influxdb.to"],
                "influxdata/influxdb/tasks" => &["tasks.lastSuccess"],
                "influxdata/influxdb/secrets" => &["secrets.get"],
                other => {
                    return Err(invalid(
                        imp.span,
                        format!("unsupported import: package {other:?} is not available"),
                    ));
                }
            };
            let rec = Record {
                fields: pkg
                    .iter()
                    .map(|q| {
                        let short = q.split('.').nth(1).unwrap_or(q);
                        (
                            short.to_string(),
                            Value::Function(Arc::new(Function::Builtin(q))),
                        )
                    })
                    .collect(),
            };
            env = env.bind(imp.name(), Value::Record(Arc::new(rec)));
        }
        for st in &prog.body {
            match st {
                Statement::Option {
                    package,
                    name,
                    value,
                    span,
                } => {
                    let v = self.eval(value, &env)?;
                    if package.is_none() && name == "now" {
                        let t = self.call(&v, Vec::new(), None, *span)?;
                        match t {
                            Value::Time(t) => self.now = t,
                            other => {
                                return Err(invalid(
                                    *span,
                                    format!(
                                        "option now must return a time, got {}",
                                        other.type_name()
                                    ),
                                ));
                            }
                        }
                    }
                    let bind_name = match package {
                        Some(p) => format!("{p}.{name}"),
                        None => name.clone(),
                    };
                    env = env.bind(&bind_name, v);
                }
                Statement::Assign { name, value, .. } => {
                    let v = self.eval(value, &env)?;
                    env = env.bind(name, v);
                }
                Statement::Return { span, .. } => {
                    return Err(invalid(*span, "return statement outside of a function"));
                }
                Statement::Expr(e) => {
                    let v = self.eval(e, &env)?;
                    if let Value::Stream(s) = v
                        && !s.yielded
                    {
                        self.add_result("_result", &s, e.span)?;
                    }
                }
            }
        }
        Ok(env)
    }

    fn add_result(&mut self, name: &str, s: &Stream, span: Span) -> R<()> {
        if self.results.iter().any(|r| r.name == name) {
            return Err(invalid(
                span,
                format!("yield: duplicate result name \"{name}\""),
            ));
        }
        let tables = self.materialize(s)?;
        let tables = Arc::try_unwrap(tables).unwrap_or_else(|shared| shared.as_ref().clone());
        self.results.push(ResultSet {
            name: name.to_string(),
            tables,
        });
        Ok(())
    }

    /// The tables of a stream, reading storage if it is still pending.
    pub fn materialize(&self, s: &Stream) -> R<Arc<Vec<Table>>> {
        match &s.data {
            StreamData::Tables(t) => Ok(t.clone()),
            StreamData::Pending(p) => {
                let Some((start, stop)) = p.range else {
                    return Err(invalid(
                        p.span,
                        format!(
                            "cannot submit unbounded read to \"{}\"; try bounding 'from' with a call to 'range'",
                            p.bucket
                        ),
                    ));
                };
                let req = ReadRequest {
                    bucket: p.bucket.clone(),
                    start,
                    stop,
                    predicate: p.predicate.clone(),
                    aggregate: p.aggregate.clone(),
                    memory_limit: self
                        .limits
                        .memory
                        .map(|m| m.saturating_sub(self.held_bytes())),
                };
                self.limits.check_time()?;
                let tables = match self.source.read(&req) {
                    Err(crate::source::SourceError::MemoryLimit { .. }) => {
                        return Err(QueryError::MemoryLimit {
                            limit: self.limits.memory.unwrap_or(0),
                        });
                    }
                    other => other?,
                };
                let tables = match (&p.window, &p.aggregate) {
                    (None, _) => tables,
                    (Some(w), None) => functions::window_tables(
                        &|m| invalid(p.span, m),
                        &tables,
                        Some((start, stop)),
                        w.every,
                        w.every,
                        w.offset,
                        w.create_empty,
                        "_time",
                    )?,
                    (Some(w), Some(_)) => functions::split_windows(&tables, start, stop, w)
                        .map_err(|m| invalid(p.span, m))?,
                };
                self.limits.check_memory(&tables, self.held_bytes())?;
                Ok(Arc::new(tables))
            }
        }
    }

    pub fn eval(&mut self, e: &Expr, env: &Env) -> R<Value> {
        self.eval_in(e, env, None)
    }

    /// Evaluates with an optional row in scope: `row.param` names the current row of a table,
    /// read column by column instead of being built into a record for every row.
    pub fn eval_in(&mut self, e: &Expr, env: &Env, row: Option<&RowRef<'_>>) -> R<Value> {
        Ok(match &e.kind {
            ExprKind::Identifier(name) => match row {
                Some(r) if r.param == name => Value::Record(Arc::new(r.table.row(r.index))),
                _ => self.lookup(name, env, e.span)?,
            },
            ExprKind::Integer(i) => Value::Int(*i),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::String(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        StringPart::Text(t) => s.push_str(t),
                        StringPart::Interpolated(x) => {
                            let v = self.eval_in(x, env, row)?;
                            s.push_str(&stringify(&v).ok_or_else(|| {
                                invalid(
                                    x.span,
                                    format!("cannot interpolate a value of type {}", v.type_name()),
                                )
                            })?);
                        }
                    }
                }
                Value::String(s)
            }
            ExprKind::Duration { parts, negative } => {
                let mut d = Duration::default();
                for (m, u) in parts {
                    let ns = |k: i64| Duration::from_nanos(m.saturating_mul(k));
                    let part = match u {
                        DurationUnit::Nanosecond => ns(1),
                        DurationUnit::Microsecond => ns(1_000),
                        DurationUnit::Millisecond => ns(1_000_000),
                        DurationUnit::Second => ns(1_000_000_000),
                        DurationUnit::Minute => ns(60_000_000_000),
                        DurationUnit::Hour => ns(3_600_000_000_000),
                        DurationUnit::Day => ns(86_400_000_000_000),
                        DurationUnit::Week => ns(604_800_000_000_000),
                        DurationUnit::Month => Duration {
                            months: *m,
                            nanos: 0,
                        },
                        DurationUnit::Year => Duration {
                            months: m.saturating_mul(12),
                            nanos: 0,
                        },
                    };
                    d.months = d.months.saturating_add(part.months);
                    d.nanos = d.nanos.saturating_add(part.nanos);
                }
                Value::Duration(if *negative { d.negated() } else { d })
            }
            ExprKind::Time(t) => Value::Time(*t),
            ExprKind::Regex(r) => {
                Value::Regex(Arc::new(regex::Regex::new(r).map_err(|err| {
                    invalid(e.span, format!("invalid regex literal: {err}"))
                })?))
            }
            ExprKind::Array(items) => Value::Array(Arc::new(
                items
                    .iter()
                    .map(|x| self.eval_in(x, env, row))
                    .collect::<R<Vec<_>>>()?,
            )),
            ExprKind::Record { with, properties } => {
                let mut rec = match with {
                    Some(w) => match self.eval_in(w, env, row)? {
                        Value::Record(r) => r.as_ref().clone(),
                        v => {
                            return Err(invalid(
                                w.span,
                                format!("with: expected a record, got {}", v.type_name()),
                            ));
                        }
                    },
                    None => Record::default(),
                };
                for p in properties {
                    let v = self.eval_in(&p.value, env, row)?;
                    rec.set(&p.key, v);
                }
                Value::Record(Arc::new(rec))
            }
            ExprKind::Function { params, body } => Value::Function(Arc::new(Function::Closure {
                params: params.clone(),
                body: Arc::new(body.clone()),
                env: env.clone(),
            })),
            ExprKind::Call { callee, args } => {
                let f = self.eval_in(callee, env, row)?;
                let args = self.eval_args(args, env, row)?;
                self.call(&f, args, None, e.span)?
            }
            ExprKind::Pipe { lhs, call } => {
                let piped = self.eval_in(lhs, env, row)?;
                let ExprKind::Call { callee, args } = &call.kind else {
                    return Err(invalid(
                        call.span,
                        "pipe destination must be a function call",
                    ));
                };
                let f = self.eval_in(callee, env, row)?;
                let args = self.eval_args(args, env, row)?;
                self.call(&f, args, Some(piped), call.span)?
            }
            ExprKind::Member { object, property } => {
                if let (Some(r), ExprKind::Identifier(n)) = (row, &object.kind)
                    && n == r.param
                {
                    return Ok(r
                        .table
                        .column(property)
                        .map_or(Value::Null, |c| c.values[r.index].clone()));
                }
                if let ExprKind::Identifier(pkg) = &object.kind {
                    let qualified = format!("{pkg}.{property}");
                    if let Some(v) = env.lookup(&qualified) {
                        return Ok(v.clone());
                    }
                }
                match self.eval_in(object, env, row)? {
                    Value::Record(r) => r.get(property).cloned().unwrap_or(Value::Null),
                    Value::Null => Value::Null,
                    v => {
                        return Err(invalid(
                            e.span,
                            format!(
                                "cannot access property {property} of a value of type {}",
                                v.type_name()
                            ),
                        ));
                    }
                }
            }
            ExprKind::Index { object, index } => {
                let o = self.eval_in(object, env, row)?;
                let i = self.eval_in(index, env, row)?;
                match (o, i) {
                    (Value::Array(a), Value::Int(i)) => {
                        let idx = usize::try_from(i).ok().filter(|&i| i < a.len());
                        match idx {
                            Some(i) => a[i].clone(),
                            None => {
                                return Err(invalid(
                                    e.span,
                                    format!("index out of bounds: {i} (length {})", a.len()),
                                ));
                            }
                        }
                    }
                    (o, i) => {
                        return Err(invalid(
                            e.span,
                            format!("cannot index {} with {}", o.type_name(), i.type_name()),
                        ));
                    }
                }
            }
            ExprKind::Unary { op, operand } => {
                if *op == UnaryOp::Exists {
                    let v = self.eval_in(operand, env, row)?;
                    return Ok(Value::Bool(!v.is_null()));
                }
                let v = self.eval_in(operand, env, row)?;
                match (op, v) {
                    (_, Value::Null) => Value::Null,
                    (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
                    (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (UnaryOp::Neg, Value::Duration(d)) => Value::Duration(d.negated()),
                    (UnaryOp::Plus, v @ (Value::Int(_) | Value::Float(_) | Value::UInt(_))) => v,
                    (op, v) => {
                        return Err(invalid(
                            e.span,
                            format!("invalid unary operator {op:?} on {}", v.type_name()),
                        ));
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => match op {
                BinaryOp::And => {
                    let l = self.eval_in(lhs, env, row)?;
                    if matches!(l, Value::Bool(false)) {
                        return Ok(Value::Bool(false));
                    }
                    let r = self.eval_in(rhs, env, row)?;
                    match (l, r) {
                        (_, Value::Bool(false)) => Value::Bool(false),
                        (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                        (Value::Null | Value::Bool(_), Value::Null | Value::Bool(_)) => Value::Null,
                        (l, r) => return Err(logic_type_error(e.span, "and", &l, &r)),
                    }
                }
                BinaryOp::Or => {
                    let l = self.eval_in(lhs, env, row)?;
                    if matches!(l, Value::Bool(true)) {
                        return Ok(Value::Bool(true));
                    }
                    let r = self.eval_in(rhs, env, row)?;
                    match (l, r) {
                        (_, Value::Bool(true)) => Value::Bool(true),
                        (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
                        (Value::Null | Value::Bool(_), Value::Null | Value::Bool(_)) => Value::Null,
                        (l, r) => return Err(logic_type_error(e.span, "or", &l, &r)),
                    }
                }
                _ => {
                    let l = self.eval_in(lhs, env, row)?;
                    let r = self.eval_in(rhs, env, row)?;
                    binary(*op, l, r).map_err(|m| invalid(e.span, m))?
                }
            },
            ExprKind::Conditional {
                test,
                consequent,
                alternate,
            } => match self.eval_in(test, env, row)? {
                Value::Bool(true) => self.eval_in(consequent, env, row)?,
                Value::Bool(false) | Value::Null => self.eval_in(alternate, env, row)?,
                v => {
                    return Err(invalid(
                        test.span,
                        format!("conditional test must be a bool, got {}", v.type_name()),
                    ));
                }
            },
        })
    }

    fn lookup(&self, name: &str, env: &Env, span: Span) -> R<Value> {
        if let Some(v) = env.lookup(name) {
            return Ok(v.clone());
        }
        match name {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "inf" => return Ok(Value::Duration(Duration::from_nanos(i64::MAX))),
            _ => {}
        }
        if let Some(b) = UNIVERSE.iter().find(|b| **b == name) {
            return Ok(Value::Function(Arc::new(Function::Builtin(b))));
        }
        Err(invalid(span, format!("undefined identifier {name}")))
    }

    fn eval_args(
        &mut self,
        args: &[crate::flux::ast::Property],
        env: &Env,
        row: Option<&RowRef<'_>>,
    ) -> R<Vec<(String, Value)>> {
        args.iter()
            .map(|p| Ok((p.key.clone(), self.eval_in(&p.value, env, row)?)))
            .collect()
    }

    /// Calls a function value.
    pub fn call(
        &mut self,
        f: &Value,
        args: Vec<(String, Value)>,
        pipe: Option<Value>,
        span: Span,
    ) -> R<Value> {
        let Value::Function(func) = f else {
            return Err(invalid(
                span,
                format!("cannot call a value of type {}", f.type_name()),
            ));
        };
        match func.as_ref() {
            Function::Builtin(name) => {
                let a = Args {
                    named: args,
                    pipe,
                    span,
                    name,
                };
                functions::call_builtin(self, a)
            }
            Function::Closure { params, body, env } => {
                let mut local = env.clone();
                for (k, _) in &args {
                    if !params.iter().any(|p| &p.name == k) {
                        return Err(invalid(span, format!("function has no parameter {k}")));
                    }
                }
                let mut args = args;
                let mut pipe = pipe;
                for p in params {
                    let v = if let Some(i) = args.iter().position(|(k, _)| *k == p.name) {
                        args.swap_remove(i).1
                    } else if p.pipe {
                        pipe.take().ok_or_else(|| {
                            invalid(span, format!("missing piped argument {}", p.name))
                        })?
                    } else if let Some(d) = &p.default {
                        let denv = env.clone();
                        self.eval(d, &denv)?
                    } else {
                        return Err(invalid(
                            span,
                            format!("missing required argument {}", p.name),
                        ));
                    };
                    local = local.bind(&p.name, v);
                }
                match body.as_ref() {
                    FunctionBody::Expr(e) => self.eval(e, &local),
                    FunctionBody::Block(stmts) => {
                        for st in stmts {
                            match st {
                                Statement::Assign { name, value, .. } => {
                                    let v = self.eval(value, &local)?;
                                    local = local.bind(name, v);
                                }
                                Statement::Return { value, .. } => return self.eval(value, &local),
                                Statement::Expr(e) => {
                                    self.eval(e, &local)?;
                                }
                                Statement::Option { span, .. } => {
                                    return Err(invalid(
                                        *span,
                                        "option statement inside a function",
                                    ));
                                }
                            }
                        }
                        Ok(Value::Null)
                    }
                }
            }
        }
    }

    /// Estimated bytes of the results kept so far.
    pub fn held_bytes(&self) -> usize {
        self.results.iter().map(|r| estimate_bytes(&r.tables)).sum()
    }

    /// Adds a named result (used by `yield`).
    pub fn yield_result(&mut self, name: &str, s: &Stream, span: Span) -> R<()> {
        self.add_result(name, s, span)
    }
}

fn logic_type_error(span: Span, op: &str, l: &Value, r: &Value) -> QueryError {
    invalid(
        span,
        format!(
            "operator {op} needs bool operands, got {} and {}",
            l.type_name(),
            r.type_name()
        ),
    )
}

/// The string form used by interpolation and `string()`.
pub fn stringify(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => format_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => crate::time::format_rfc3339(*t),
        Value::Duration(d) => d.to_string(),
        Value::Null => String::new(),
        _ => return None,
    })
}

/// Evaluates a non-logical binary operator.
pub fn binary(op: BinaryOp, l: Value, r: Value) -> Result<Value, String> {
    use Value as V;
    use std::cmp::Ordering;
    if matches!(op, BinaryOp::RegexMatch | BinaryOp::RegexNotMatch) {
        return match (l, r) {
            (V::Null, V::Regex(_)) => Ok(V::Null),
            (V::String(s), V::Regex(re)) => {
                Ok(V::Bool(re.is_match(&s) == (op == BinaryOp::RegexMatch)))
            }
            (l, r) => Err(format!(
                "operator {} needs a string and a regex, got {} and {}",
                op.symbol(),
                l.type_name(),
                r.type_name()
            )),
        };
    }
    if l.is_null() || r.is_null() {
        return Ok(V::Null);
    }
    let mismatch = |l: &Value, r: &Value| {
        format!(
            "type error: operator {} on {} and {} (Flux does not convert between types)",
            op.symbol(),
            l.type_name(),
            r.type_name()
        )
    };
    let cmp: Option<Ordering> = match (&l, &r) {
        (V::Int(a), V::Int(b)) => Some(a.cmp(b)),
        (V::UInt(a), V::UInt(b)) => Some(a.cmp(b)),
        (V::Float(a), V::Float(b)) => a.partial_cmp(b),
        (V::String(a), V::String(b)) => Some(a.cmp(b)),
        (V::Time(a), V::Time(b)) => Some(a.cmp(b)),
        (V::Bool(a), V::Bool(b)) => Some(a.cmp(b)),
        (V::Duration(a), V::Duration(b)) => Some((a.months, a.nanos).cmp(&(b.months, b.nanos))),
        _ => None,
    };
    let same_type = std::mem::discriminant(&l) == std::mem::discriminant(&r);
    match op {
        BinaryOp::Eq | BinaryOp::Neq => {
            if !same_type {
                return Err(mismatch(&l, &r));
            }
            let eq = match cmp {
                Some(o) => o.is_eq(),
                None => l == r && !matches!(l, V::Float(f) if f.is_nan()),
            };
            Ok(V::Bool(eq == (op == BinaryOp::Eq)))
        }
        BinaryOp::Lt | BinaryOp::Lte | BinaryOp::Gt | BinaryOp::Gte => {
            if !same_type || matches!(l, V::Bool(_)) {
                return Err(mismatch(&l, &r));
            }
            Ok(V::Bool(match cmp {
                None => false,
                Some(o) => match op {
                    BinaryOp::Lt => o.is_lt(),
                    BinaryOp::Lte => o.is_le(),
                    BinaryOp::Gt => o.is_gt(),
                    _ => o.is_ge(),
                },
            }))
        }
        _ => {
            if matches!(op, BinaryOp::Div | BinaryOp::Mod) && matches!(r, V::Int(0) | V::UInt(0)) {
                return Err("cannot divide by zero".into());
            }
            let (lt, rt) = (l.type_name(), r.type_name());
            arith(op, l, r).ok_or_else(|| {
                format!(
                    "type error: operator {} is not defined on {lt} and {rt}",
                    op.symbol()
                )
            })
        }
    }
}

fn arith(op: BinaryOp, l: Value, r: Value) -> Option<Value> {
    use Value as V;
    Some(match (op, l, r) {
        (BinaryOp::Add, V::String(a), V::String(b)) => V::String(a + &b),
        (BinaryOp::Add, V::Int(a), V::Int(b)) => V::Int(a.wrapping_add(b)),
        (BinaryOp::Sub, V::Int(a), V::Int(b)) => V::Int(a.wrapping_sub(b)),
        (BinaryOp::Mul, V::Int(a), V::Int(b)) => V::Int(a.wrapping_mul(b)),
        (BinaryOp::Div, V::Int(a), V::Int(b)) => V::Int(a.checked_div(b)?),
        (BinaryOp::Mod, V::Int(a), V::Int(b)) => V::Int(a.checked_rem(b)?),
        (BinaryOp::Pow, V::Int(a), V::Int(b)) => V::Float((a as f64).powf(b as f64)),
        (BinaryOp::Add, V::UInt(a), V::UInt(b)) => V::UInt(a.wrapping_add(b)),
        (BinaryOp::Sub, V::UInt(a), V::UInt(b)) => V::UInt(a.wrapping_sub(b)),
        (BinaryOp::Mul, V::UInt(a), V::UInt(b)) => V::UInt(a.wrapping_mul(b)),
        (BinaryOp::Div, V::UInt(a), V::UInt(b)) => V::UInt(a.checked_div(b)?),
        (BinaryOp::Mod, V::UInt(a), V::UInt(b)) => V::UInt(a.checked_rem(b)?),
        (BinaryOp::Pow, V::UInt(a), V::UInt(b)) => V::Float((a as f64).powf(b as f64)),
        (BinaryOp::Add, V::Float(a), V::Float(b)) => V::Float(a + b),
        (BinaryOp::Sub, V::Float(a), V::Float(b)) => V::Float(a - b),
        (BinaryOp::Mul, V::Float(a), V::Float(b)) => V::Float(a * b),
        (BinaryOp::Div, V::Float(a), V::Float(b)) => V::Float(a / b),
        (BinaryOp::Mod, V::Float(a), V::Float(b)) => V::Float(a % b),
        (BinaryOp::Pow, V::Float(a), V::Float(b)) => V::Float(a.powf(b)),
        (BinaryOp::Add, V::Duration(a), V::Duration(b)) => V::Duration(Duration {
            months: a.months + b.months,
            nanos: a.nanos.saturating_add(b.nanos),
        }),
        (BinaryOp::Sub, V::Duration(a), V::Duration(b)) => V::Duration(Duration {
            months: a.months - b.months,
            nanos: a.nanos.saturating_sub(b.nanos),
        }),
        _ => return None,
    })
}

/// Resolves a `range`-style bound: a time, a duration relative to `now`, or Unix seconds.
pub fn resolve_time(v: &Value, now: i64) -> Option<i64> {
    match v {
        Value::Time(t) => Some(*t),
        Value::Duration(d) => Some(d.add_to(now)),
        Value::Int(s) => s.checked_mul(1_000_000_000),
        _ => None,
    }
}

/// Most windows one call may produce; beyond it a query fails instead of exhausting memory.
pub const MAX_WINDOWS: usize = 5_000_000;

/// The windows `[k*every+offset, +period)` overlapping `[start, stop)`, clipped to it; an
/// error when there would be more than [`MAX_WINDOWS`].
pub fn window_bounds(
    start: i64,
    stop: i64,
    every: Duration,
    period: Duration,
    offset: Duration,
) -> Result<Vec<(i64, i64)>, String> {
    let mut out = Vec::new();
    if stop <= start {
        return Ok(out);
    }
    if every.nanos == i64::MAX && every.months == 0 {
        out.push((start, stop));
        return Ok(out);
    }
    let window_start = |k: i64| -> i64 {
        if every.months != 0 {
            offset
                .add_to(add_months(0, k.saturating_mul(every.months)))
                .saturating_add(every.nanos.saturating_mul(k))
        } else {
            offset.add_to(k.saturating_mul(every.nanos))
        }
    };
    // Index of a window starting at or before `start`.
    let mut k = if every.months > 0 {
        month_index(start).div_euclid(every.months) - 1
    } else if every.months == 0 && every.nanos > 0 {
        (start.saturating_sub(offset.add_to(0))).div_euclid(every.nanos) - 1
    } else {
        return Err(format!("window every {every} must be positive"));
    };
    while window_start(k) > start && k > i64::MIN / 2 {
        k -= 1;
    }
    // Step back while an earlier window still reaches into the range (period > every).
    while period.add_to(window_start(k - 1)) > start && k > i64::MIN / 2 {
        k -= 1;
    }
    loop {
        let ws = window_start(k);
        if ws >= stop {
            break;
        }
        let we = period.add_to(ws);
        if we > start {
            if out.len() >= MAX_WINDOWS {
                return Err(format!(
                    "window every {every} gives more than {MAX_WINDOWS} windows over the range"
                ));
            }
            out.push((ws.max(start), we.min(stop)));
        }
        k += 1;
    }
    Ok(out)
}

/// The start of the window `[k*every+offset, +every)` holding `t` (before clipping).
pub fn window_start_of(t: i64, every: Duration, offset: Duration) -> i64 {
    if every.months == 0 {
        let off = offset.add_to(0);
        let n = every.nanos.max(1);
        return t
            .saturating_sub(off)
            .div_euclid(n)
            .saturating_mul(n)
            .saturating_add(off);
    }
    let ws = |k: i64| {
        offset
            .add_to(add_months(0, k.saturating_mul(every.months)))
            .saturating_add(every.nanos.saturating_mul(k))
    };
    let mut k = month_index(t).div_euclid(every.months.max(1));
    while ws(k) > t && k > i64::MIN / 2 {
        k -= 1;
    }
    while ws(k + 1) <= t && k < i64::MAX / 2 {
        k += 1;
    }
    ws(k)
}

/// Aggregates the values of one window for a pushed-down aggregate; returns the value and,
/// for selectors, the time of the selected point.
pub fn aggregate_values(
    kind: AggregateKind,
    ty: crate::value::DataType,
    vals: &[Value],
    times: &[i64],
) -> (Value, Option<i64>) {
    match kind {
        AggregateKind::Count => (Value::Int(vals.len() as i64), None),
        AggregateKind::Sum => (functions::sum_values(ty, vals.iter()), None),
        AggregateKind::Mean => (functions::mean_values(vals.iter()), None),
        _ => match functions::select_index(kind, vals) {
            Some(i) => (vals[i].clone(), times.get(i).copied()),
            None => (Value::Null, None),
        },
    }
}
