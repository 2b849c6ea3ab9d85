//! The read API for the query layer: series of a bucket selected by measurement, field and
//! tag predicate, with their points in a time range merged across shards, caches, TSM files
//! and tombstones; plus the schema (measurements, tags, fields) from the series indexes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Engine, EngineError};
use crate::catalog::BucketId;
use crate::points::{FieldType, parse_series_key, tsm_key};
use crate::predicate::Predicate;
use crate::shard::Shard;
use crate::values::Values;

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// Bucket.
    pub bucket: BucketId,
    /// Start, inclusive, ns.
    pub start: i64,
    /// Stop, exclusive, ns.
    pub stop: i64,
    /// Measurement (unescaped); `None` = all.
    pub measurement: Option<String>,
    /// Field key; `None` = all fields.
    pub field: Option<String>,
    /// Predicate on `_measurement`, `_field` and tags.
    pub predicate: Predicate,
}

impl ReadRequest {
    /// Everything of a bucket in `[start, stop)`.
    pub fn all(bucket: BucketId, start: i64, stop: i64) -> Self {
        ReadRequest {
            bucket,
            start,
            stop,
            measurement: None,
            field: None,
            predicate: Predicate::True,
        }
    }
}

/// One series and field with its points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    /// Series key (escaped, as stored).
    pub series_key: String,
    /// Measurement, unescaped.
    pub measurement: String,
    /// Tags, unescaped, sorted by key.
    pub tags: Vec<(String, String)>,
    /// Field key.
    pub field: String,
    /// Points, ascending by time, one per timestamp.
    pub values: Values,
}

/// Unescaped tags of a series.
pub(super) type Tags = Vec<(String, String)>;
/// A selected series field: series key, field, measurement, tags.
pub(super) type Selected = (String, String, String, Tags);

impl Engine {
    /// Series (and fields) of a request, without their points: (series key, field) sorted.
    pub(super) fn select(&self, req: &ReadRequest, shards: &[Arc<Shard>]) -> Vec<Selected> {
        let mut out: Vec<Selected> = Vec::new();
        let pinned = req
            .measurement
            .as_deref()
            .or_else(|| req.predicate.measurement());
        for s in shards {
            let ix = s.index();
            for m in ix.measurements() {
                if pinned.is_some_and(|p| p != m.name) {
                    continue;
                }
                let mut fields: Vec<&String> = match &req.field {
                    Some(f) => m.fields.keys().filter(|k| *k == f).collect(),
                    None => m.fields.keys().collect(),
                };
                if fields.is_empty() {
                    continue;
                }
                fields.sort();
                for sk in &m.series {
                    let tags = parse_series_key(sk).1;
                    for f in &fields {
                        if req.predicate.matches(&m.name, &tags, f) {
                            out.push((sk.clone(), (*f).clone(), m.name.clone(), tags.clone()));
                        }
                    }
                }
            }
        }
        // One shard's series come sorted (its index keeps them in order); several shards'
        // are sorted and deduplicated here.
        fn key(x: &Selected) -> (&str, &str) {
            (x.0.as_str(), x.1.as_str())
        }
        if !out.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
            out.sort_by(|a, b| key(a).cmp(&key(b)));
            out.dedup_by(|a, b| key(a) == key(b));
        }
        out
    }

    /// Series matching the request with their points in `[start, stop)`, merged across
    /// shards, caches, files and tombstones; ordered by series key then field. Series without
    /// points in the range are skipped. Each item is read when the iterator reaches it.
    pub fn read(&self, req: &ReadRequest) -> SeriesIter {
        let shards = self.bucket_shards(req.bucket);
        let selected = self.select(req, &shards);
        SeriesIter {
            shards,
            selected: selected.into_iter(),
            start: req.start,
            stop: req.stop,
        }
    }

    /// Measurements of a bucket, sorted.
    pub fn measurements(&self, bucket: BucketId) -> Vec<String> {
        let mut out = BTreeSet::new();
        for s in self.bucket_shards(bucket) {
            for m in s.index().measurements() {
                out.insert(m.name.clone());
            }
        }
        out.into_iter().collect()
    }

    /// Tag keys and values of a measurement of a bucket.
    pub fn tags(&self, bucket: BucketId, measurement: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in self.bucket_shards(bucket) {
            if let Some(m) = s.index().measurement(measurement) {
                for (k, vs) in &m.tags {
                    out.entry(k.clone()).or_default().extend(vs.iter().cloned());
                }
            }
        }
        out
    }

    /// Field keys and types of a measurement of a bucket.
    pub fn fields(&self, bucket: BucketId, measurement: &str) -> BTreeMap<String, FieldType> {
        let mut out = BTreeMap::new();
        for s in self.bucket_shards(bucket) {
            if let Some(m) = s.index().measurement(measurement) {
                for (k, t) in &m.fields {
                    out.entry(k.clone()).or_insert(*t);
                }
            }
        }
        out
    }
}

/// Iterator over the series of a read; see [`Engine::read`].
pub struct SeriesIter {
    shards: Vec<Arc<Shard>>,
    selected: std::vec::IntoIter<Selected>,
    start: i64,
    stop: i64,
}

impl Iterator for SeriesIter {
    type Item = Result<SeriesPoints, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stop <= self.start {
            return None;
        }
        for (series_key, field, measurement, tags) in self.selected.by_ref() {
            let key = tsm_key(&series_key, &field);
            let mut acc: Option<Values> = None;
            for s in &self.shards {
                match s.read(&key, self.start, self.stop - 1) {
                    Ok(Some(v)) if !v.is_empty() => match &mut acc {
                        None => acc = Some(v),
                        Some(a) => {
                            // Shards hold disjoint time ranges; merge keeps order regardless.
                            if !a.merge(&v) {
                                *a = v;
                            }
                        }
                    },
                    Ok(_) => {}
                    Err(e) => return Some(Err(e.into())),
                }
            }
            if let Some(values) = acc {
                return Some(Ok(SeriesPoints {
                    series_key,
                    measurement,
                    tags,
                    field,
                    values,
                }));
            }
        }
        None
    }
}
