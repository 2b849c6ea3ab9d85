//! The query crate's [`Source`] over the storage engine: what `POST /api/v2/query` reads; and
//! [`EngineSink`], the [`Sink`] `to()` writes through.
//!
//! One [`EngineSource`] serves one organization and one caller. Buckets are found by name or
//! ID in the metadata store; a bucket the caller may not read is reported as not found, as
//! InfluxDB's bucket lookup does for a filtered caller.
//!
//! Pushdown: the time range, and a measurement or field pinned by the filter, go into the
//! engine's [`storage::ReadRequest`]; the rest of the filter is reduced to a storage predicate
//! that keeps a superset of the series (equalities joined by `and`/`or`; anything else counts
//! as true) so the engine skips non-matching series without reading their points. The exact
//! filter, in Flux's three-valued logic, is then applied to each series' tags before its points
//! are turned into a table.
//!
//! Window aggregates with a fixed period (not `mo`/`y`) go to the engine's
//! [`storage::Engine::read_window_aggregate`] (which counts from TSM block headers, answers
//! selectors from cached block summaries and folds decoded blocks into running sums, one series
//! at a time, without building per-point rows); a bare aggregate is one window spanning the
//! range. The engine's non-empty windows become the query crate's table shape through
//! [`window_aggregate_table`]. When the engine refuses an aggregate for a field type (e.g. `max`
//! of strings), or the window has calendar units, the series' points are read and the query
//! crate's [`aggregate_series`] decides, so answers and errors are the same either way.

use std::sync::Arc;

use meta::{Action, Bucket, BucketFilter, BucketType, FindOptions, Id, MetaStore, ResourceType};
use query::source::{
    AggregateKind, BucketInfo, BucketRef, OrgRef, Predicate, ReadRequest, SeriesValues, Sink,
    Source, SourceError, WindowAggregate, WindowResult, WritePoint, WriteTarget, aggregate_series,
    series_table, window_aggregate_table,
};
use query::table::Table;
use query::value::{DataType, Value};
use storage::engine::EngineError;
use storage::points::FieldValue;
use storage::values::Values;

use crate::auth::{Auth, Perm};

/// A [`Source`] reading one org's buckets from the engine on behalf of one caller.
pub struct EngineSource {
    pub meta: Arc<MetaStore>,
    pub engine: Arc<storage::Engine>,
    pub org_id: Id,
    pub auth: Auth,
}

/// The permission reading a bucket needs (a system bucket: reading its org).
pub fn bucket_read_perm(b: &Bucket) -> meta::Permission {
    match b.bucket_type {
        BucketType::System => Perm::at(Action::Read, ResourceType::Orgs, b.org_id, b.org_id),
        BucketType::User => Perm::at(Action::Read, ResourceType::Buckets, b.org_id, b.id),
    }
}

fn other(e: impl std::fmt::Display) -> SourceError {
    SourceError::Other(e.to_string())
}

impl EngineSource {
    fn bucket(&self, r: &BucketRef) -> Result<Bucket, SourceError> {
        let not_found = || SourceError::BucketNotFound(r.to_string());
        let found = match r {
            BucketRef::Name(n) => self.meta.find_bucket_by_name(self.org_id, n),
            BucketRef::Id(s) => match s.parse::<Id>() {
                Ok(id) => self.meta.get_bucket(id),
                Err(_) => return Err(not_found()),
            },
        };
        match found {
            Ok(b) if b.org_id == self.org_id && self.auth.allowed(&bucket_read_perm(&b)) => Ok(b),
            Ok(_) | Err(meta::Error::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(other(e)),
        }
    }
}

/// A storage predicate that holds for every series the query predicate keeps (and maybe more).
fn superset(p: &Predicate) -> storage::Predicate {
    match p {
        Predicate::And(a, b) => match (superset(a), superset(b)) {
            (storage::Predicate::True, x) | (x, storage::Predicate::True) => x,
            (x, y) => storage::Predicate::And(vec![x, y]),
        },
        Predicate::Or(a, b) => match (superset(a), superset(b)) {
            (storage::Predicate::True, _) | (_, storage::Predicate::True) => {
                storage::Predicate::True
            }
            (x, y) => storage::Predicate::Or(vec![x, y]),
        },
        // `key == value` is true only when the key exists with that value, so a series that
        // passes has it; storage compares a missing tag as "", which never equals a non-empty
        // value.
        Predicate::Equal {
            key,
            value,
            negate: false,
        } if !value.is_empty() => storage::Predicate::Eq(key.clone(), value.clone()),
        _ => storage::Predicate::True,
    }
}

/// The value `key` must equal for the predicate to hold, if it pins one.
fn pinned<'a>(p: &'a Predicate, key: &str) -> Option<&'a str> {
    match p {
        Predicate::Equal {
            key: k,
            value,
            negate: false,
        } if k == key => Some(value),
        Predicate::And(a, b) => pinned(a, key).or_else(|| pinned(b, key)),
        _ => None,
    }
}

fn columns(v: Values) -> (Vec<i64>, SeriesValues) {
    fn split<T>(v: Vec<(i64, T)>) -> (Vec<i64>, Vec<T>) {
        v.into_iter().unzip()
    }
    match v {
        Values::Float(x) => {
            let (t, v) = split(x);
            (t, SeriesValues::Float(v))
        }
        Values::Integer(x) => {
            let (t, v) = split(x);
            (t, SeriesValues::Int(v))
        }
        Values::Unsigned(x) => {
            let (t, v) = split(x);
            (t, SeriesValues::UInt(v))
        }
        Values::Boolean(x) => {
            let (t, v) = split(x);
            (t, SeriesValues::Bool(v))
        }
        Values::String(x) => {
            let (t, v) = split(x);
            (t, SeriesValues::String(v))
        }
    }
}

impl Source for EngineSource {
    fn buckets(&self) -> Result<Vec<BucketInfo>, SourceError> {
        let f = BucketFilter {
            org_id: Some(self.org_id),
            ..BucketFilter::default()
        };
        let list = self
            .meta
            .list_buckets(&f, &FindOptions::default())
            .map_err(other)?;
        Ok(list
            .into_iter()
            .filter(|b| self.auth.allowed(&bucket_read_perm(b)))
            .map(|b| BucketInfo {
                name: b.name,
                id: b.id.to_string(),
                organization_id: b.org_id.to_string(),
                retention_period: b.retention_period_ns,
                retention_policy: b.retention_policy_name,
            })
            .collect())
    }

    fn read(&self, req: &ReadRequest) -> Result<Vec<Table>, SourceError> {
        let bucket = self.bucket(&req.bucket)?;
        let mut sreq = storage::ReadRequest::all(bucket.id.get(), req.start, req.stop);
        if let Some(p) = &req.predicate {
            sreq.measurement = pinned(p, "_measurement").map(str::to_string);
            sreq.field = pinned(p, "_field").map(str::to_string);
            sreq.predicate = superset(p);
        }
        if let Some(agg) = &req.aggregate
            && let Some(tables) = self.read_aggregate(req, &sreq, agg)?
        {
            return Ok(tables);
        }
        let mut out = Vec::new();
        for series in self.engine.read(&sreq) {
            let s = series.map_err(other)?;
            let Some(tags) = keep(req, s.measurement, s.field, s.tags) else {
                continue;
            };
            let (times, values) = columns(s.values);
            let raw = series_table(req.start, req.stop, &tags, times, values);
            match &req.aggregate {
                None => out.push(raw),
                Some(agg) => {
                    if let Some(t) = aggregate_series(agg, req.start, req.stop, &raw)? {
                        out.push(t);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The series' tags with `_measurement` and `_field`, if the request's predicate keeps it.
fn keep(
    req: &ReadRequest,
    measurement: String,
    field: String,
    series_tags: Vec<(String, String)>,
) -> Option<Vec<(String, String)>> {
    let mut tags = Vec::with_capacity(series_tags.len() + 2);
    tags.push(("_measurement".to_string(), measurement));
    tags.push(("_field".to_string(), field));
    tags.extend(series_tags);
    if let Some(p) = &req.predicate {
        let lookup = |k: &str| tags.iter().find(|(tk, _)| tk == k).map(|(_, v)| v.as_str());
        if !p.matches(&lookup) {
            return None;
        }
    }
    Some(tags)
}

fn storage_aggregate(kind: AggregateKind) -> storage::Aggregate {
    match kind {
        AggregateKind::Count => storage::Aggregate::Count,
        AggregateKind::Sum => storage::Aggregate::Sum,
        AggregateKind::Mean => storage::Aggregate::Mean,
        AggregateKind::Min => storage::Aggregate::Min,
        AggregateKind::Max => storage::Aggregate::Max,
        AggregateKind::First => storage::Aggregate::First,
        AggregateKind::Last => storage::Aggregate::Last,
    }
}

fn cell(v: FieldValue) -> (Value, DataType) {
    match v {
        FieldValue::Float(x) => (Value::Float(x), DataType::Float),
        FieldValue::Integer(x) => (Value::Int(x), DataType::Int),
        FieldValue::Unsigned(x) => (Value::UInt(x), DataType::UInt),
        FieldValue::Boolean(x) => (Value::Bool(x), DataType::Bool),
        FieldValue::String(x) => (Value::String(x), DataType::String),
    }
}

impl EngineSource {
    /// A window aggregate computed by the engine, or `None` when the engine cannot compute it
    /// (calendar windows, an aggregate the field's type does not allow): the caller then
    /// aggregates raw points.
    fn read_aggregate(
        &self,
        req: &ReadRequest,
        sreq: &storage::ReadRequest,
        agg: &WindowAggregate,
    ) -> Result<Option<Vec<Table>>, SourceError> {
        let (every, offset) = match agg.every {
            Some(e) if e.months == 0 && agg.offset.months == 0 && e.nanos > 0 => {
                (e.nanos, agg.offset.nanos)
            }
            Some(_) => return Ok(None),
            None => match req.stop.checked_sub(req.start) {
                Some(span) if span > 0 => (span, req.start),
                _ => return Ok(None),
            },
        };
        let kind = storage_aggregate(agg.kind);
        let series = match self.engine.read_window_aggregate(sreq, every, offset, kind) {
            Ok(s) => s,
            Err(EngineError::UnsupportedAggregate { .. }) => return Ok(None),
            Err(e) => return Err(other(e)),
        };
        let mut out = Vec::new();
        for s in series {
            let Some(tags) = keep(req, s.measurement, s.field, s.tags) else {
                continue;
            };
            let mut value_type = DataType::Float;
            let results: Vec<WindowResult> = s
                .windows
                .into_iter()
                .map(|w| {
                    let (value, ty) = cell(w.value);
                    value_type = ty;
                    WindowResult {
                        start: w.start,
                        value,
                        time: agg.kind.is_selector().then_some(w.time),
                    }
                })
                .collect();
            if let Some(t) =
                window_aggregate_table(agg, req.start, req.stop, &tags, value_type, &results)?
            {
                out.push(t);
            }
        }
        Ok(Some(out))
    }
}

/// The query crate's [`Sink`] over the engine: where `to()` writes, on behalf of one caller.
///
/// The target org is the one `to()` names (by name or ID) or else the query's; the bucket is
/// found by name or ID in that org and must allow the caller to write (else 403 `forbidden`,
/// as InfluxDB's write path refuses). Points are written as nanosecond line protocol through
/// [`storage::Engine::write_lines`], the path `POST /api/v2/write` takes, so series keys and
/// field-type checks are the same.
pub struct EngineSink {
    pub meta: Arc<MetaStore>,
    pub engine: Arc<storage::Engine>,
    pub org_id: Id,
    pub auth: Auth,
}

impl EngineSink {
    fn target_bucket(&self, target: &WriteTarget) -> Result<Bucket, SourceError> {
        let org_id = match &target.org {
            None => self.org_id,
            Some(OrgRef::Id(s)) => s
                .parse::<Id>()
                .map_err(|_| SourceError::Invalid(format!("invalid org id {s:?}")))?,
            Some(OrgRef::Name(n)) => match self.meta.find_org_by_name(n) {
                Ok(o) => o.id,
                Err(meta::Error::NotFound { .. }) => {
                    return Err(SourceError::BucketNotFound(format!(
                        "failed to look up organization {n:?}"
                    )));
                }
                Err(e) => return Err(other(e)),
            },
        };
        let not_found = || SourceError::BucketNotFound(target.bucket.to_string());
        let found = match &target.bucket {
            BucketRef::Name(n) => self.meta.find_bucket_by_name(org_id, n),
            BucketRef::Id(s) => match s.parse::<Id>() {
                Ok(id) => self.meta.get_bucket(id),
                Err(_) => return Err(SourceError::Invalid("invalid bucket id".into())),
            },
        };
        let b = match found {
            Ok(b) if b.org_id == org_id => b,
            Ok(_) | Err(meta::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(other(e)),
        };
        let write = Perm::at(Action::Write, ResourceType::Buckets, b.org_id, b.id);
        if !self.auth.allowed(&write) {
            return Err(SourceError::Forbidden(
                "insufficient permissions for write".into(),
            ));
        }
        Ok(b)
    }
}

impl Sink for EngineSink {
    fn write(&self, target: &WriteTarget, points: &[WritePoint]) -> Result<(), SourceError> {
        let bucket = self.target_bucket(target)?;
        let body = query::to::line_protocol(points);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        match self.engine.write_lines(
            bucket.id.get(),
            body.as_bytes(),
            storage::Precision::Nanoseconds,
            now,
        ) {
            Ok(_) => Ok(()),
            Err(e @ (storage::WriteError::Parse(_) | storage::WriteError::PartialWrite { .. })) => {
                Err(SourceError::Invalid(e.to_string()))
            }
            Err(e) => Err(other(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(k: &str, v: &str) -> Predicate {
        Predicate::Equal {
            key: k.into(),
            value: v.into(),
            negate: false,
        }
    }

    #[test]
    fn superset_keeps_equalities_only() {
        let p = Predicate::And(
            Box::new(eq("_measurement", "cpu")),
            Box::new(Predicate::Or(
                Box::new(eq("host", "a")),
                Box::new(Predicate::Not(Box::new(eq("host", "b")))),
            )),
        );
        assert_eq!(
            superset(&p),
            storage::Predicate::Eq("_measurement".into(), "cpu".into())
        );
        assert_eq!(pinned(&p, "_measurement"), Some("cpu"));
        assert_eq!(pinned(&p, "_field"), None);
        let q = Predicate::Or(Box::new(eq("host", "a")), Box::new(eq("host", "c")));
        assert_eq!(
            superset(&q),
            storage::Predicate::Or(vec![
                storage::Predicate::Eq("host".into(), "a".into()),
                storage::Predicate::Eq("host".into(), "c".into()),
            ])
        );
        assert_eq!(pinned(&q, "host"), None);
        assert_eq!(superset(&eq("host", "")), storage::Predicate::True);
    }
}
