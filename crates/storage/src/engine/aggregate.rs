//! Window aggregates for the query layer: `count`, `sum`, `min`, `max`, `first`, `last`,
//! `mean` over windows `[t, t + every)` aligned to an offset, as Flux's `aggregateWindow`.
//! `count` is answered from TSM block headers where the data allows (see
//! [`Shard::count_windows`](crate::shard::Shard::count_windows)); everything else streams one
//! series at a time through [`window_aggregate`].

use std::collections::BTreeMap;

use super::{Engine, EngineError, ReadRequest};
use crate::points::{FieldType, FieldValue, tsm_key};
use crate::values::Values;

/// Window aggregates the engine computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Number of points (integer).
    Count,
    /// Sum (float, integer or unsigned).
    Sum,
    /// Smallest value (numeric), with its time.
    Min,
    /// Largest value (numeric), with its time.
    Max,
    /// First point of the window.
    First,
    /// Last point of the window.
    Last,
    /// Arithmetic mean (float).
    Mean,
}

/// One window's result.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowValue {
    /// Window start, inclusive.
    pub start: i64,
    /// Window stop, exclusive.
    pub stop: i64,
    /// Time of the selected point for min/max/first/last, else the window start.
    pub time: i64,
    /// The aggregate.
    pub value: FieldValue,
}

/// A series with its window aggregates (windows without points are omitted).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesAggregate {
    /// Series key (escaped, as stored).
    pub series_key: String,
    /// Measurement, unescaped.
    pub measurement: String,
    /// Tags, unescaped, sorted by key.
    pub tags: Vec<(String, String)>,
    /// Field key.
    pub field: String,
    /// Windows in time order.
    pub windows: Vec<WindowValue>,
}

impl Engine {
    /// Window aggregates per series: windows `[t, t + every)` aligned to `offset` (as Flux's
    /// `aggregateWindow(every, offset)`), empty windows omitted. `Count` is answered from TSM
    /// block headers for blocks lying inside one window when the series' data is in files
    /// only, untombstoned and non-overlapping; every other case, and the other aggregates, are
    /// computed while streaming one series at a time (never the whole result in memory).
    pub fn read_window_aggregate(
        &self,
        req: &ReadRequest,
        every: i64,
        offset: i64,
        aggregate: Aggregate,
    ) -> Result<Vec<SeriesAggregate>, EngineError> {
        if every <= 0 {
            return Err(EngineError::BadWindow);
        }
        let mut out = Vec::new();
        if aggregate == Aggregate::Count {
            return self.count_windows(req, every, offset);
        }
        for s in self.read(req) {
            let s = s?;
            let windows = window_aggregate(&s.values, every, offset, aggregate)?;
            out.push(SeriesAggregate {
                series_key: s.series_key,
                measurement: s.measurement,
                tags: s.tags,
                field: s.field,
                windows,
            });
        }
        Ok(out)
    }

    /// `count` per window, from block headers where the data allows (see
    /// [`Shard::count_windows`]).
    fn count_windows(
        &self,
        req: &ReadRequest,
        every: i64,
        offset: i64,
    ) -> Result<Vec<SeriesAggregate>, EngineError> {
        let mut out = Vec::new();
        if req.stop <= req.start {
            return Ok(out);
        }
        let shards = self.bucket_shards(req.bucket);
        for (series_key, field, measurement, tags) in self.select(req, &shards) {
            let key = tsm_key(&series_key, &field);
            let mut counts = BTreeMap::new();
            for s in &shards {
                s.count_windows(&key, req.start, req.stop - 1, every, offset, &mut counts)?;
            }
            let windows: Vec<WindowValue> = counts
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(start, n)| WindowValue {
                    start,
                    stop: start.saturating_add(every),
                    time: start,
                    value: FieldValue::Integer(n),
                })
                .collect();
            if !windows.is_empty() {
                out.push(SeriesAggregate {
                    series_key,
                    measurement,
                    tags,
                    field,
                    windows,
                });
            }
        }
        Ok(out)
    }
}

/// Computes window aggregates over sorted values.
pub fn window_aggregate(
    values: &Values,
    every: i64,
    offset: i64,
    agg: Aggregate,
) -> Result<Vec<WindowValue>, EngineError> {
    if every <= 0 {
        return Err(EngineError::BadWindow);
    }
    let ft = values.field_type();
    let numeric = matches!(
        ft,
        FieldType::Float | FieldType::Integer | FieldType::Unsigned
    );
    if matches!(
        agg,
        Aggregate::Sum | Aggregate::Min | Aggregate::Max | Aggregate::Mean
    ) && !numeric
    {
        return Err(EngineError::UnsupportedAggregate {
            aggregate: agg,
            field_type: ft,
        });
    }
    let mut out = Vec::new();
    let n = values.len();
    let mut i = 0;
    while i < n {
        let t0 = values.time(i);
        let start = t0 - (t0 - offset).rem_euclid(every);
        let stop = start.saturating_add(every);
        let mut j = i;
        while j < n && values.time(j) < stop {
            j += 1;
        }
        out.push(aggregate_range(values, i, j, start, stop, agg));
        i = j;
    }
    Ok(out)
}

fn aggregate_range(
    v: &Values,
    lo: usize,
    hi: usize,
    start: i64,
    stop: i64,
    agg: Aggregate,
) -> WindowValue {
    let wv = |time: i64, value: FieldValue| WindowValue {
        start,
        stop,
        time,
        value,
    };
    match agg {
        Aggregate::Count => wv(start, FieldValue::Integer((hi - lo) as i64)),
        Aggregate::First => {
            let (t, x) = v.get(lo);
            wv(t, x)
        }
        Aggregate::Last => {
            let (t, x) = v.get(hi - 1);
            wv(t, x)
        }
        Aggregate::Sum => wv(
            start,
            match v {
                Values::Float(x) => FieldValue::Float(x[lo..hi].iter().map(|p| p.1).sum()),
                Values::Integer(x) => {
                    FieldValue::Integer(x[lo..hi].iter().fold(0i64, |a, p| a.wrapping_add(p.1)))
                }
                Values::Unsigned(x) => {
                    FieldValue::Unsigned(x[lo..hi].iter().fold(0u64, |a, p| a.wrapping_add(p.1)))
                }
                _ => FieldValue::Integer(0),
            },
        ),
        Aggregate::Mean => {
            let sum: f64 = match v {
                Values::Float(x) => x[lo..hi].iter().map(|p| p.1).sum(),
                Values::Integer(x) => x[lo..hi].iter().map(|p| p.1 as f64).sum(),
                Values::Unsigned(x) => x[lo..hi].iter().map(|p| p.1 as f64).sum(),
                _ => 0.0,
            };
            wv(start, FieldValue::Float(sum / (hi - lo) as f64))
        }
        Aggregate::Min | Aggregate::Max => {
            let want_min = agg == Aggregate::Min;
            // The first point wins ties, as Flux's min/max selectors do.
            let mut best = lo;
            for i in lo + 1..hi {
                let better = match v {
                    Values::Float(x) => {
                        if want_min {
                            x[i].1 < x[best].1
                        } else {
                            x[i].1 > x[best].1
                        }
                    }
                    Values::Integer(x) => {
                        if want_min {
                            x[i].1 < x[best].1
                        } else {
                            x[i].1 > x[best].1
                        }
                    }
                    Values::Unsigned(x) => {
                        if want_min {
                            x[i].1 < x[best].1
                        } else {
                            x[i].1 > x[best].1
                        }
                    }
                    _ => false,
                };
                if better {
                    best = i;
                }
            }
            let (t, x) = v.get(best);
            wv(t, x)
        }
    }
}
