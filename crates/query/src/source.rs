//! The edge between queries and storage: what the executor asks a [`Source`] for.
//!
//! The executor pushes down the leading `from |> range |> filter |> aggregateWindow` (or a bare
//! aggregate/selector) of a pipeline into one [`ReadRequest`]: bucket, time range, a predicate on
//! series keys (measurement, field, tags) and optionally a window aggregate. A source answers with
//! tables shaped exactly as InfluxDB's storage reader shapes them, so the CSV is byte-exact:
//! * raw read: one table per series and field, columns `_start, _stop, _time, _value`, then one
//!   string column per tag (including `_field` and `_measurement`) in byte order of the tag key;
//!   group key `_start, _stop` and every tag; rows in time order; series without points in range
//!   give no table. Tables are sorted by series key.
//! * window aggregate with a time column (`aggregateWindow`): columns `_start, _stop, _time,
//!   _value, tags...`, `_start`/`_stop` the range, `_time` the (clipped) window stop or start.
//! * bare aggregate (`count`/`sum`/`mean` without window): `_start, _stop, _value, tags...`;
//!   bare selector (`first`/`last`/`min`/`max`): the selected row in the raw shape.
//!
//! [`series_table`] and [`aggregate_series`] build these shapes from raw points so a source only
//! needs to find series and points; [`MemSource`] is an in-memory source built on them.
//!
//! A source over a storage engine answers a [`ReadRequest`] like this:
//! 1. resolve [`ReadRequest::bucket`] (name or 16-hex ID), else [`SourceError::BucketNotFound`];
//! 2. for each series and field with points in `[start, stop)`, in series-key order, keep it when
//!    `predicate` is absent or [`Predicate::matches`] with a lookup of `_measurement`, `_field`
//!    and the tags (an equality on `_measurement` can narrow the index scan first);
//! 3. without `aggregate`, answer [`series_table`] of its points; with one, either
//!    [`aggregate_series`] of that table, or the engine's own per-window results passed to
//!    [`window_aggregate_table`] (which adds empty windows and the storage shape). Windows with
//!    calendar units (`every.months != 0`) align on months; `every: None` means one window
//!    spanning the range.

use crate::table::{Column, GroupKey, KeyColumn, Table};
use crate::time::Duration;
use crate::value::{DataType, Value};

/// Which bucket to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketRef {
    Name(String),
    Id(String),
}

impl std::fmt::Display for BucketRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketRef::Name(n) => write!(f, "{n}"),
            BucketRef::Id(i) => write!(f, "{i}"),
        }
    }
}

/// A predicate on series keys. Evaluates in three-valued logic like Flux: a comparison with a
/// tag the series lacks is null, and a filter keeps only series where the predicate is true.
#[derive(Debug, Clone)]
pub enum Predicate {
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
    Not(Box<Predicate>),
    /// `exists r.key`.
    Exists(String),
    /// `r.key == value` (or `!=` with `negate`).
    Equal {
        key: String,
        value: String,
        negate: bool,
    },
    /// `r.key =~ /re/` (or `!~` with `negate`).
    Regex {
        key: String,
        regex: regex::Regex,
        negate: bool,
    },
    /// `r.key < value` and friends on strings.
    Compare {
        key: String,
        op: std::cmp::Ordering,
        or_equal: bool,
        value: String,
    },
}

impl Predicate {
    /// Evaluates against a series; `tag` returns the value of a key (`_measurement`, `_field`
    /// or a tag), `None` when the series lacks it.
    pub fn eval<'a>(&self, tag: &dyn Fn(&str) -> Option<&'a str>) -> Option<bool> {
        match self {
            Predicate::And(a, b) => match (a.eval(tag), b.eval(tag)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Predicate::Or(a, b) => match (a.eval(tag), b.eval(tag)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Predicate::Not(a) => a.eval(tag).map(|b| !b),
            Predicate::Exists(k) => Some(tag(k).is_some()),
            Predicate::Equal { key, value, negate } => tag(key).map(|v| (v == value) != *negate),
            Predicate::Regex { key, regex, negate } => {
                tag(key).map(|v| regex.is_match(v) != *negate)
            }
            Predicate::Compare {
                key,
                op,
                or_equal,
                value,
            } => tag(key).map(|v| {
                let o = v.cmp(value.as_str());
                o == *op || (*or_equal && o.is_eq())
            }),
        }
    }

    /// True when a series with these tags passes.
    pub fn matches<'a>(&self, tag: &dyn Fn(&str) -> Option<&'a str>) -> bool {
        self.eval(tag) == Some(true)
    }
}

/// The aggregate of a pushed-down window aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateKind {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    First,
    Last,
}

impl AggregateKind {
    pub fn is_selector(self) -> bool {
        matches!(
            self,
            AggregateKind::Min | AggregateKind::Max | AggregateKind::First | AggregateKind::Last
        )
    }

    pub fn parse(name: &str) -> Option<AggregateKind> {
        Some(match name {
            "count" => AggregateKind::Count,
            "sum" => AggregateKind::Sum,
            "mean" => AggregateKind::Mean,
            "min" => AggregateKind::Min,
            "max" => AggregateKind::Max,
            "first" => AggregateKind::First,
            "last" => AggregateKind::Last,
            _ => return None,
        })
    }
}

/// Where `aggregateWindow` takes each row's `_time` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    Start,
    Stop,
}

/// A window aggregate to compute in storage.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAggregate {
    /// `None`: one window spanning the range (a bare aggregate or selector).
    pub every: Option<Duration>,
    pub offset: Duration,
    pub kind: AggregateKind,
    pub create_empty: bool,
    /// `Some` for `aggregateWindow` (rows get `_time` from the window), `None` for bare calls.
    pub time_source: Option<TimeSource>,
}

/// A read of one bucket.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    pub bucket: BucketRef,
    /// Inclusive start, exclusive stop, ns since the epoch.
    pub start: i64,
    pub stop: i64,
    pub predicate: Option<Predicate>,
    pub aggregate: Option<WindowAggregate>,
    /// The query's remaining memory budget in bytes (as [`crate::exec::estimate_bytes`]
    /// counts): a source should stop with [`SourceError::MemoryLimit`] rather than build more.
    pub memory_limit: Option<usize>,
}

/// A bucket as `buckets()` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub id: String,
    pub organization_id: String,
    /// Retention period in ns, 0 = forever.
    pub retention_period: i64,
    pub retention_policy: String,
}

/// Why a source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("could not find bucket \"{0}\"")]
    BucketNotFound(String),
    /// The request cannot be answered for this data (e.g. `mean` of a string field).
    #[error("{0}")]
    Invalid(String),
    /// The answer would exceed [`ReadRequest::memory_limit`].
    #[error("query exceeded its memory limit of {limit} bytes")]
    MemoryLimit { limit: usize },
    /// The caller may not do this (e.g. `to()` into a bucket without write permission).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Other(String),
}

/// Where queries read data from. One source serves one organization.
pub trait Source {
    /// The organization's buckets.
    fn buckets(&self) -> Result<Vec<BucketInfo>, SourceError>;
    /// Answers a read; see the module documentation for the shapes.
    fn read(&self, req: &ReadRequest) -> Result<Vec<Table>, SourceError>;
}

/// An organization named by `to()`: `org` (a name) or `orgID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgRef {
    Name(String),
    Id(String),
}

/// Where `to()` writes: a bucket, and its org when named (else the query's org).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    pub bucket: BucketRef,
    pub org: Option<OrgRef>,
}

/// One field value at one time, as `to()` writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct WritePoint {
    pub measurement: String,
    /// Tags sorted by key, without empty values.
    pub tags: Vec<(String, String)>,
    pub field: String,
    /// A `Float`, `Int`, `UInt`, `Bool` or `String` (never null).
    pub value: Value,
    /// ns since the epoch.
    pub time: i64,
}

/// Where `to()` writes points: the write edge beside [`Source`].
pub trait Sink {
    /// Writes points into the target bucket; errors as [`SourceError`] (an unknown or
    /// unwritable bucket is [`SourceError::BucketNotFound`]).
    fn write(&self, target: &WriteTarget, points: &[WritePoint]) -> Result<(), SourceError>;
}

/// The values of one series, as read from storage.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValues {
    Float(Vec<f64>),
    Int(Vec<i64>),
    UInt(Vec<u64>),
    Bool(Vec<bool>),
    String(Vec<String>),
}

impl SeriesValues {
    pub fn data_type(&self) -> DataType {
        match self {
            SeriesValues::Float(_) => DataType::Float,
            SeriesValues::Int(_) => DataType::Int,
            SeriesValues::UInt(_) => DataType::UInt,
            SeriesValues::Bool(_) => DataType::Bool,
            SeriesValues::String(_) => DataType::String,
        }
    }

    fn cells(self) -> Vec<Value> {
        match self {
            SeriesValues::Float(v) => v.into_iter().map(Value::Float).collect(),
            SeriesValues::Int(v) => v.into_iter().map(Value::Int).collect(),
            SeriesValues::UInt(v) => v.into_iter().map(Value::UInt).collect(),
            SeriesValues::Bool(v) => v.into_iter().map(Value::Bool).collect(),
            SeriesValues::String(v) => v.into_iter().map(Value::String).collect(),
        }
    }
}

/// Sorts tags (including `_measurement` and `_field`) by key bytes, as storage orders them.
pub fn sorted_tags(tags: &[(String, String)]) -> Vec<(String, String)> {
    let mut t = tags.to_vec();
    t.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    t
}

fn storage_key(start: i64, stop: i64, tags: &[(String, String)]) -> GroupKey {
    let mut columns = vec![
        KeyColumn {
            name: "_start".into(),
            ty: DataType::Time,
            value: Value::Time(start),
        },
        KeyColumn {
            name: "_stop".into(),
            ty: DataType::Time,
            value: Value::Time(stop),
        },
    ];
    for (k, v) in tags {
        columns.push(KeyColumn {
            name: k.clone(),
            ty: DataType::String,
            value: Value::String(v.clone()),
        });
    }
    GroupKey { columns }
}

fn build(
    start: i64,
    stop: i64,
    tags: &[(String, String)],
    times: Option<Vec<Value>>,
    value_ty: DataType,
    values: Vec<Value>,
) -> Table {
    let tags = sorted_tags(tags);
    let n = values.len();
    let mut columns = vec![
        Column {
            name: "_start".into(),
            ty: DataType::Time,
            values: vec![Value::Time(start); n],
        },
        Column {
            name: "_stop".into(),
            ty: DataType::Time,
            values: vec![Value::Time(stop); n],
        },
    ];
    if let Some(times) = times {
        columns.push(Column {
            name: "_time".into(),
            ty: DataType::Time,
            values: times,
        });
    }
    columns.push(Column {
        name: "_value".into(),
        ty: value_ty,
        values,
    });
    for (k, v) in &tags {
        columns.push(Column {
            name: k.clone(),
            ty: DataType::String,
            values: vec![Value::String(v.clone()); n],
        });
    }
    Table {
        key: storage_key(start, stop, &tags),
        columns,
    }
}

/// The raw-read table of one series: `times` ascending, already limited to `[start, stop)`.
/// `tags` holds `_measurement`, `_field` and the series' tags in any order.
pub fn series_table(
    start: i64,
    stop: i64,
    tags: &[(String, String)],
    times: Vec<i64>,
    values: SeriesValues,
) -> Table {
    let ty = values.data_type();
    build(
        start,
        stop,
        tags,
        Some(times.into_iter().map(Value::Time).collect()),
        ty,
        values.cells(),
    )
}

/// One window's aggregate as storage computed it (windows without points may be omitted).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    /// The window's start (before clipping to the range; either form is accepted).
    pub start: i64,
    /// The aggregate, or the selected point's value for selectors.
    pub value: Value,
    /// For selectors, the time of the selected point.
    pub time: Option<i64>,
}

/// Builds the table storage answers for a window aggregate of one series from the non-empty
/// windows' results (in time order): empty windows are filled when `create_empty` (null, or 0
/// for `count`), `_time` comes from the window or the selected point, and columns follow the
/// storage shape. `None` when there is no row.
pub fn window_aggregate_table(
    agg: &WindowAggregate,
    start: i64,
    stop: i64,
    tags: &[(String, String)],
    value_type: DataType,
    results: &[WindowResult],
) -> Result<Option<Table>, SourceError> {
    let out_ty = match agg.kind {
        AggregateKind::Count => DataType::Int,
        AggregateKind::Mean => DataType::Float,
        _ => value_type,
    };
    let windows: Vec<(i64, i64)> = match agg.every {
        None => vec![(start, stop)],
        // Without empty windows only the windows that hold points matter.
        Some(every) if !agg.create_empty => results
            .iter()
            .map(|r| {
                let ws = crate::exec::window_start_of(r.start, every, agg.offset);
                (ws.max(start), every.add_to(ws).min(stop))
            })
            .collect(),
        Some(every) => crate::exec::window_bounds(start, stop, every, every, agg.offset)
            .map_err(SourceError::Invalid)?,
    };
    let mut out_times = Vec::new();
    let mut out_values = Vec::new();
    let mut ri = 0usize;
    for (ws, we) in windows {
        while ri < results.len() && results[ri].start.max(start) < ws {
            ri += 1;
        }
        let found = results
            .get(ri)
            .filter(|r| r.start.max(start) == ws || agg.every.is_none());
        let (value, sel_time) = match found {
            Some(r) => (r.value.clone(), r.time),
            None if !agg.create_empty => continue,
            None if agg.kind == AggregateKind::Count => (Value::Int(0), None),
            None => (Value::Null, None),
        };
        match agg.time_source {
            Some(TimeSource::Stop) => out_times.push(Value::Time(we)),
            Some(TimeSource::Start) => out_times.push(Value::Time(ws)),
            None if agg.kind.is_selector() => match sel_time {
                Some(t) => out_times.push(Value::Time(t)),
                None => continue,
            },
            None => {}
        }
        out_values.push(value);
    }
    if out_values.is_empty() {
        return Ok(None);
    }
    let has_time = agg.time_source.is_some() || agg.kind.is_selector();
    Ok(Some(build(
        start,
        stop,
        tags,
        has_time.then_some(out_times),
        out_ty,
        out_values,
    )))
}

/// Computes a window aggregate over a raw series table (as made by [`series_table`]) and
/// returns the table storage would answer, or `None` when it has no rows.
pub fn aggregate_series(
    req: &WindowAggregate,
    start: i64,
    stop: i64,
    raw: &Table,
) -> Result<Option<Table>, SourceError> {
    let tags: Vec<(String, String)> = raw
        .columns
        .iter()
        .skip(4)
        .map(|c| {
            let v = c
                .values
                .first()
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| {
                    raw.key
                        .get(&c.name)
                        .and_then(|v| v.as_str().map(str::to_string))
                })
                .unwrap_or_default();
            (c.name.clone(), v)
        })
        .collect();
    let (Some(tcol), Some(vcol)) = (raw.column("_time"), raw.column("_value")) else {
        return Err(SourceError::Other(
            "raw series table lacks _time or _value".into(),
        ));
    };
    let ty = vcol.ty;
    if matches!(req.kind, AggregateKind::Sum | AggregateKind::Mean)
        && !matches!(ty, DataType::Float | DataType::Int | DataType::UInt)
    {
        return Err(SourceError::Invalid(format!(
            "unsupported aggregate column type {}",
            ty.flux_name()
        )));
    }
    let times: Vec<i64> = tcol
        .values
        .iter()
        .map(|v| if let Value::Time(t) = v { *t } else { i64::MIN })
        .collect();
    let windows: Vec<(i64, i64)> = match req.every {
        None => vec![(start, stop)],
        Some(every) if !req.create_empty => {
            // The windows holding points, found from the points themselves.
            let mut w: Vec<(i64, i64)> = Vec::new();
            for &t in &times {
                let ws = crate::exec::window_start_of(t, every, req.offset);
                if w.last().is_none_or(|l| l.0 != ws.max(start)) {
                    w.push((ws.max(start), every.add_to(ws).min(stop)));
                }
            }
            w
        }
        Some(every) => crate::exec::window_bounds(start, stop, every, every, req.offset)
            .map_err(SourceError::Invalid)?,
    };
    let mut results = Vec::new();
    let mut lo = 0usize;
    for (ws, we) in windows {
        while lo < times.len() && times[lo] < ws {
            lo += 1;
        }
        let mut hi = lo;
        while hi < times.len() && times[hi] < we {
            hi += 1;
        }
        if hi > lo {
            let (value, time) =
                crate::exec::aggregate_values(req.kind, ty, &vcol.values[lo..hi], &times[lo..hi]);
            results.push(WindowResult {
                start: ws,
                value,
                time,
            });
        }
    }
    window_aggregate_table(req, start, stop, &tags, ty, &results)
}

/// One series held by [`MemSource`].
#[derive(Debug, Clone)]
pub struct MemSeries {
    /// `_measurement`, `_field` and tags.
    pub tags: Vec<(String, String)>,
    pub times: Vec<i64>,
    pub values: SeriesValues,
}

/// An in-memory source, for tests and small embedded uses.
#[derive(Debug, Clone, Default)]
pub struct MemSource {
    pub buckets: Vec<(BucketInfo, Vec<MemSeries>)>,
}

impl MemSource {
    fn find(&self, b: &BucketRef) -> Option<&[MemSeries]> {
        self.buckets
            .iter()
            .find(|(info, _)| match b {
                BucketRef::Name(n) => &info.name == n,
                BucketRef::Id(i) => &info.id == i,
            })
            .map(|(_, s)| s.as_slice())
    }
}

impl Source for MemSource {
    fn buckets(&self) -> Result<Vec<BucketInfo>, SourceError> {
        Ok(self.buckets.iter().map(|(b, _)| b.clone()).collect())
    }

    fn read(&self, req: &ReadRequest) -> Result<Vec<Table>, SourceError> {
        let series = self
            .find(&req.bucket)
            .ok_or_else(|| SourceError::BucketNotFound(req.bucket.to_string()))?;
        let mut sorted: Vec<&MemSeries> = series.iter().collect();
        let series_key = |s: &MemSeries| {
            let mut t = sorted_tags(&s.tags);
            t.sort_by(|a, b| {
                let rank = |k: &str| match k {
                    "_measurement" => 0,
                    "_field" => 2,
                    _ => 1,
                };
                rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0))
            });
            t
        };
        sorted.sort_by_key(|s| series_key(s));
        let mut out = Vec::new();
        let mut used = 0usize;
        for s in sorted {
            if let Some(p) = &req.predicate {
                let tag = |k: &str| {
                    s.tags
                        .iter()
                        .find(|(tk, _)| tk == k)
                        .map(|(_, v)| v.as_str())
                };
                if !p.matches(&tag) {
                    continue;
                }
            }
            let mut idx: Vec<usize> = (0..s.times.len())
                .filter(|&i| s.times[i] >= req.start && s.times[i] < req.stop)
                .collect();
            idx.sort_by_key(|&i| s.times[i]);
            if idx.is_empty() {
                continue;
            }
            let times = idx.iter().map(|&i| s.times[i]).collect();
            let values = match &s.values {
                SeriesValues::Float(v) => SeriesValues::Float(idx.iter().map(|&i| v[i]).collect()),
                SeriesValues::Int(v) => SeriesValues::Int(idx.iter().map(|&i| v[i]).collect()),
                SeriesValues::UInt(v) => SeriesValues::UInt(idx.iter().map(|&i| v[i]).collect()),
                SeriesValues::Bool(v) => SeriesValues::Bool(idx.iter().map(|&i| v[i]).collect()),
                SeriesValues::String(v) => {
                    SeriesValues::String(idx.iter().map(|&i| v[i].clone()).collect())
                }
            };
            let raw = series_table(req.start, req.stop, &s.tags, times, values);
            let table = match &req.aggregate {
                None => Some(raw),
                Some(agg) => aggregate_series(agg, req.start, req.stop, &raw)?,
            };
            if let Some(t) = table {
                used = used.saturating_add(crate::exec::estimate_bytes(std::slice::from_ref(&t)));
                if let Some(limit) = req.memory_limit
                    && used > limit
                {
                    return Err(SourceError::MemoryLimit { limit });
                }
                out.push(t);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn tags() -> Vec<(String, String)> {
        vec![
            ("host".into(), "a".into()),
            ("_measurement".into(), "cpu".into()),
            ("_field".into(), "v".into()),
            ("Zone".into(), "z".into()),
        ]
    }

    #[test]
    fn storage_shape_orders_tags_by_bytes() {
        let t = series_table(0, 10 * S, &tags(), vec![S], SeriesValues::Int(vec![7]));
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "_start",
                "_stop",
                "_time",
                "_value",
                "Zone",
                "_field",
                "_measurement",
                "host"
            ]
        );
        assert_eq!(t.key.columns.len(), 6);
        assert!(!t.key.contains("_time") && !t.key.contains("_value"));
    }

    #[test]
    fn window_results_fill_empty_windows() {
        let agg = WindowAggregate {
            every: Some(Duration::from_nanos(10 * S)),
            offset: Duration::default(),
            kind: AggregateKind::Count,
            create_empty: true,
            time_source: Some(TimeSource::Stop),
        };
        // Range [5s, 35s): windows [5,10) [10,20) [20,30) [30,35); only [10,20) has points.
        let results = [WindowResult {
            start: 10 * S,
            value: Value::Int(4),
            time: None,
        }];
        let t = window_aggregate_table(&agg, 5 * S, 35 * S, &tags(), DataType::Float, &results)
            .unwrap()
            .unwrap();
        let v = &t.column("_value").unwrap().values;
        assert_eq!(
            v,
            &[Value::Int(0), Value::Int(4), Value::Int(0), Value::Int(0)]
        );
        let times = &t.column("_time").unwrap().values;
        assert_eq!(
            times,
            &[10 * S, 20 * S, 30 * S, 35 * S].map(Value::Time).to_vec()
        );
        let bare = WindowAggregate {
            every: None,
            kind: AggregateKind::Last,
            create_empty: false,
            time_source: None,
            ..agg
        };
        let results = [WindowResult {
            start: 0,
            value: Value::Float(1.5),
            time: Some(33 * S),
        }];
        let t = window_aggregate_table(&bare, 5 * S, 35 * S, &tags(), DataType::Float, &results)
            .unwrap()
            .unwrap();
        assert_eq!(t.column("_time").unwrap().values, vec![Value::Time(33 * S)]);
        assert!(
            window_aggregate_table(&bare, 5 * S, 35 * S, &tags(), DataType::Float, &[])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn predicates_use_three_valued_logic() {
        let eq = |k: &str, v: &str| Predicate::Equal {
            key: k.into(),
            value: v.into(),
            negate: false,
        };
        let tag = |k: &str| match k {
            "host" => Some("a"),
            _ => None,
        };
        assert_eq!(eq("host", "a").eval(&tag), Some(true));
        assert_eq!(eq("dc", "x").eval(&tag), None);
        assert_eq!(Predicate::Not(Box::new(eq("dc", "x"))).eval(&tag), None);
        assert!(!Predicate::Not(Box::new(eq("dc", "x"))).matches(&tag));
        let or = Predicate::Or(Box::new(eq("dc", "x")), Box::new(eq("host", "a")));
        assert!(or.matches(&tag));
        let and = Predicate::And(Box::new(eq("dc", "x")), Box::new(eq("host", "b")));
        assert_eq!(and.eval(&tag), Some(false));
        assert!(Predicate::Exists("host".into()).matches(&tag));
        let lt = Predicate::Compare {
            key: "host".into(),
            op: std::cmp::Ordering::Less,
            or_equal: true,
            value: "a".into(),
        };
        assert!(lt.matches(&tag));
    }
}
