//! Window aggregates for the query layer: `count`, `sum`, `min`, `max`, `first`, `last`,
//! `mean` over windows `[t, t + every)` aligned to an offset, as Flux's `aggregateWindow`.
//!
//! How much is read:
//! * `count` is answered from TSM block headers where the data allows (see
//!   [`Shard::count_windows`](crate::shard::Shard::count_windows)).
//! * Every other aggregate first asks each shard for the key's *clean* blocks (no points of the
//!   key in the cache for the range, no tombstone on the key, no two blocks overlapping in
//!   time). Then each block is decoded once into a reused buffer and its points are folded
//!   straight into the running state of their window ([`Folder`]): no merged value list, no
//!   per-point rows. `sum` and `mean` add in time order, so their results are exactly those of a
//!   point-by-point sum.
//! * A block lying inside the range and inside one window answers `first`, `last`, `min` and
//!   `max` from a [`BlockSummary`] (count, first, last, smallest, largest point), computed the
//!   first time the block is decoded and cached for the process, per open file (held weakly,
//!   so a file replaced by a compaction or a restore never shares its entry) and block
//!   offset: an open TSM file is never modified. `last`
//!   visits blocks newest first and `first` oldest first, and both skip a block whose window
//!   already has its point, so `last()` over a range reads one summary per series.
//! * TSM blocks carry no value statistics, and a float sum depends on the order of its
//!   additions, so `sum` and `mean` are not answered from cached per-block sums: a windowed mean
//!   decodes the values of the blocks it covers (about 5 ns a value) but builds nothing per
//!   point. Answers never depend on where block boundaries fall.
//! * Anything else (points in the cache, tombstones, overlapping files) reads the series'
//!   merged points and aggregates them with [`window_aggregate`], which is always right.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::{Engine, EngineError, ReadRequest};
use crate::points::{FieldType, FieldValue, tsm_key};
use crate::shard::{Shard, ShardError};
use crate::tsmio::TsmFile;
use crate::values::Values;

/// A block of a TSM file.
type FileBlock = (Arc<TsmFile>, tsm::IndexEntry);

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
    /// `aggregateWindow(every, offset)`), empty windows omitted. Computed one series at a time
    /// from block headers, cached block summaries or decoded blocks where the series' data is
    /// in files only, untombstoned and non-overlapping, else from its merged points (see the
    /// module doc); the results are the same either way.
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
        if aggregate == Aggregate::Count {
            return self.count_windows(req, every, offset);
        }
        let mut folder = Folder::new(every, offset, aggregate);
        self.per_series(req, |shards, key, min, max| {
            Ok(match clean_blocks(shards, key, min, max) {
                Some(None) => Vec::new(),
                Some(Some((field_type, blocks))) => {
                    folder.fold_blocks(field_type, &blocks, min, max)?
                }
                None => match read_key(shards, key, min, max)? {
                    Some(values) => window_aggregate(&values, every, offset, aggregate)?,
                    None => Vec::new(),
                },
            })
        })
    }

    /// `count` per window, from block headers where the data allows (see
    /// [`Shard::count_windows`]).
    fn count_windows(
        &self,
        req: &ReadRequest,
        every: i64,
        offset: i64,
    ) -> Result<Vec<SeriesAggregate>, EngineError> {
        self.per_series(req, |shards, key, min, max| {
            let mut counts = BTreeMap::new();
            for s in shards {
                s.count_windows(key, min, max, every, offset, &mut counts)?;
            }
            Ok(counts
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(start, n)| WindowValue {
                    start,
                    stop: start.saturating_add(every),
                    time: start,
                    value: FieldValue::Integer(n),
                })
                .collect())
        })
    }

    /// Runs `windows(shards, tsm key, min, max)` for every series (and field) the request
    /// selects, over the inclusive time range `[min, max]` of `req`, and keeps the series with
    /// at least one window.
    fn per_series(
        &self,
        req: &ReadRequest,
        mut windows: impl FnMut(&[Arc<Shard>], &[u8], i64, i64) -> Result<Vec<WindowValue>, EngineError>,
    ) -> Result<Vec<SeriesAggregate>, EngineError> {
        let mut out = Vec::new();
        if req.stop <= req.start {
            return Ok(out);
        }
        let (min, max) = (req.start, req.stop - 1);
        let shards = self.bucket_shards(req.bucket);
        for (series_key, field, measurement, tags) in self.select(req, &shards) {
            let key = tsm_key(&series_key, &field);
            let windows = windows(&shards, &key, min, max)?;
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

/// The field type and blocks of `key` in `[min, max]` across shards, in time order, if they
/// alone hold its points there (see [`Shard::clean_blocks_in`]); `Some(None)` when no file
/// holds the key. Shards cover disjoint time ranges; the check that no two blocks overlap is
/// repeated across them.
fn clean_blocks(
    shards: &[Arc<Shard>],
    key: &[u8],
    min: i64,
    max: i64,
) -> Option<Option<(FieldType, Vec<FileBlock>)>> {
    let mut found: Option<FieldType> = None;
    let mut all = Vec::new();
    for s in shards {
        let Some((t, blocks)) = s.clean_blocks_in(key, min, max)? else {
            continue;
        };
        if found.is_some_and(|ft| ft != t) {
            return None;
        }
        found = Some(t);
        all.extend(blocks);
    }
    let Some(t) = found else {
        return Some(None);
    };
    if shards.len() > 1 {
        all.sort_by_key(|(_, e)| e.min_time);
        if !all.windows(2).all(|w| w[0].1.max_time < w[1].1.min_time) {
            return None;
        }
    }
    Some(Some((t, all)))
}

/// The merged points of `key` in `[min, max]` across shards (as [`Engine::read`] reads them).
fn read_key(
    shards: &[Arc<Shard>],
    key: &[u8],
    min: i64,
    max: i64,
) -> Result<Option<Values>, EngineError> {
    let mut acc: Option<Values> = None;
    for s in shards {
        match s.read(key, min, max)? {
            Some(v) if !v.is_empty() => match &mut acc {
                None => acc = Some(v),
                Some(a) => {
                    if !a.merge(&v) {
                        *a = v;
                    }
                }
            },
            _ => {}
        }
    }
    Ok(acc)
}

/// What is cached of a block that lies inside one window: its count and its first, last,
/// smallest and largest points (the smallest and largest the first of equals, as Flux's
/// selectors pick them). Not its sum: a float sum depends on the order of additions, and
/// answers must not depend on where block boundaries fall.
#[derive(Debug, Clone)]
struct BlockSummary {
    count: i64,
    first: (i64, FieldValue),
    last: (i64, FieldValue),
    /// `None` for booleans and strings.
    min: Option<(i64, FieldValue)>,
    max: Option<(i64, FieldValue)>,
}

/// Summaries are kept for at most this many blocks (about 200 bytes each with the map, so at
/// most about 50 MiB); when full, the cache starts over. String blocks are not cached (their
/// first and last values could be of any size).
const MAX_SUMMARIES: usize = 1 << 18;

/// The block summaries of one open file, by block offset. The file is held weakly: its
/// address then stays unique while the entry exists (no other file can be allocated there),
/// and a file dropped after a compaction or a restore leaves a dead entry that is swept.
struct FileSummaries {
    file: Weak<TsmFile>,
    blocks: HashMap<u64, BlockSummary, foldhash::fast::RandomState>,
}

#[derive(Default)]
struct SummaryCache {
    files: HashMap<usize, FileSummaries, foldhash::fast::RandomState>,
    blocks: usize,
}

impl SummaryCache {
    fn get(&self, f: &Arc<TsmFile>, offset: u64) -> Option<&BlockSummary> {
        let e = self.files.get(&(Arc::as_ptr(f) as usize))?;
        e.blocks.get(&offset)
    }

    fn insert(&mut self, f: &Arc<TsmFile>, offset: u64, s: BlockSummary) {
        if self.blocks >= MAX_SUMMARIES {
            self.files.clear();
            self.blocks = 0;
        }
        let addr = Arc::as_ptr(f) as usize;
        if !self.files.contains_key(&addr) {
            // A new file: forget the files dropped since.
            let before = self.files.len();
            self.files.retain(|_, e| e.file.strong_count() > 0);
            if self.files.len() != before {
                self.blocks = self.files.values().map(|e| e.blocks.len()).sum();
            }
            self.files.insert(
                addr,
                FileSummaries {
                    file: Arc::downgrade(f),
                    blocks: HashMap::default(),
                },
            );
        }
        if let Some(e) = self.files.get_mut(&addr)
            && e.blocks.insert(offset, s).is_none()
        {
            self.blocks += 1;
        }
    }
}

/// Computes and caches the summary of the newest block of every key of `file` (what `last()`
/// over a recent range reads), so that the first such query after a start or a compaction
/// reads summaries instead of decoding one block per series. Skipped (0) when the file's keys
/// would take the cache past half its bound; string blocks are never summarised. Returns the
/// blocks summarised.
pub(crate) fn warm_last_summaries(file: &Arc<TsmFile>) -> Result<usize, EngineError> {
    let keys = file.keys();
    if summaries().lock().blocks + keys.len() > MAX_SUMMARIES / 2 {
        return Ok(0);
    }
    let mut folder = Folder::new(1, 0, Aggregate::Last);
    let mut n = 0;
    for k in keys {
        if k.field_type == FieldType::String {
            continue;
        }
        if let Some(e) = file.last_block(&k.key)
            && folder.summary(file, &e, k.field_type)?.is_some()
        {
            n += 1;
        }
    }
    Ok(n)
}

fn summaries() -> &'static Mutex<SummaryCache> {
    static CACHE: OnceLock<Mutex<SummaryCache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(SummaryCache::default()))
}

/// The running aggregate of one window.
#[derive(Debug, Clone)]
struct WindowState {
    start: i64,
    count: i64,
    fsum: f64,
    isum: i64,
    usum: u64,
    sel: Option<(i64, FieldValue)>,
}

impl WindowState {
    fn new(start: i64) -> Self {
        WindowState {
            start,
            count: 0,
            fsum: 0.0,
            isum: 0,
            usum: 0,
            sel: None,
        }
    }
}

/// Strictly smaller (or larger) numeric value; other types never compare.
fn better(a: &FieldValue, b: &FieldValue, want_min: bool) -> bool {
    let ord = match (a, b) {
        (FieldValue::Float(x), FieldValue::Float(y)) => x.partial_cmp(y),
        (FieldValue::Integer(x), FieldValue::Integer(y)) => Some(x.cmp(y)),
        (FieldValue::Unsigned(x), FieldValue::Unsigned(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match ord {
        Some(std::cmp::Ordering::Less) => want_min,
        Some(std::cmp::Ordering::Greater) => !want_min,
        _ => false,
    }
}

fn value_at(v: &tsm::Values, i: usize) -> FieldValue {
    match v {
        tsm::Values::Float(x) => FieldValue::Float(x[i]),
        tsm::Values::Integer(x) => FieldValue::Integer(x[i]),
        tsm::Values::Unsigned(x) => FieldValue::Unsigned(x[i]),
        tsm::Values::Boolean(x) => FieldValue::Boolean(x[i]),
        tsm::Values::String(x) => {
            FieldValue::String(String::from_utf8_lossy(x.get(i).unwrap_or_default()).into_owned())
        }
    }
}

/// Index of the smallest (or largest) value in `lo..hi`, the first of equals.
fn best_index<T: PartialOrd>(x: &[T], lo: usize, hi: usize, want_min: bool) -> usize {
    let mut best = lo;
    for i in lo + 1..hi {
        if (want_min && x[i] < x[best]) || (!want_min && x[i] > x[best]) {
            best = i;
        }
    }
    best
}

/// Folds the blocks of series into window aggregates, reusing one decode buffer.
///
/// Blocks are visited in time order (for `last`, in reverse) and each block's points in
/// `[min, max]` are folded straight into the running state of their window: sums and counts
/// for `sum`/`mean` (added in time order, so the result is the one a point-by-point sum gives),
/// the selected point for `first`/`last`/`min`/`max`. No per-point rows or merged value lists
/// are built. A block lying inside `[min, max]` and inside one window answers `first`, `last`,
/// `min` and `max` from its cached [`BlockSummary`] without being decoded again; `first` and
/// `last` skip such a block entirely when its window already has its point.
struct Folder {
    every: i64,
    offset: i64,
    agg: Aggregate,
    block: Option<tsm::Block>,
}

impl Folder {
    fn new(every: i64, offset: i64, agg: Aggregate) -> Self {
        Folder {
            every,
            offset,
            agg,
            block: None,
        }
    }

    fn window(&self, t: i64) -> i64 {
        t - (t - self.offset).rem_euclid(self.every)
    }

    /// The windows of one key of type `key_type` from its clean blocks.
    fn fold_blocks(
        &mut self,
        key_type: FieldType,
        blocks: &[FileBlock],
        min: i64,
        max: i64,
    ) -> Result<Vec<WindowValue>, EngineError> {
        let numeric = matches!(
            key_type,
            FieldType::Float | FieldType::Integer | FieldType::Unsigned
        );
        if matches!(
            self.agg,
            Aggregate::Sum | Aggregate::Min | Aggregate::Max | Aggregate::Mean
        ) && !numeric
        {
            return Err(EngineError::UnsupportedAggregate {
                aggregate: self.agg,
                field_type: key_type,
            });
        }
        let reverse = self.agg == Aggregate::Last;
        let mut states: Vec<WindowState> = Vec::new();
        let order: Box<dyn Iterator<Item = &FileBlock>> = if reverse {
            Box::new(blocks.iter().rev())
        } else {
            Box::new(blocks.iter())
        };
        for (f, e) in order {
            let inside = e.min_time >= min && e.max_time <= max;
            let w = self.window(e.min_time);
            let one_window = inside && w == self.window(e.max_time);
            if one_window
                && matches!(self.agg, Aggregate::First | Aggregate::Last)
                && states
                    .last()
                    .is_some_and(|s| s.start == w && s.sel.is_some())
            {
                continue;
            }
            if one_window
                && matches!(
                    self.agg,
                    Aggregate::First | Aggregate::Last | Aggregate::Min | Aggregate::Max
                )
            {
                if let Some(summary) = self.summary(f, e, key_type)? {
                    self.fold_summary(&mut states, w, summary);
                }
                continue;
            }
            self.decode(f, e, key_type)?;
            self.fold_decoded(&mut states, min, max, reverse);
        }
        if reverse {
            states.reverse();
        }
        Ok(states
            .into_iter()
            .filter_map(|s| self.finish(s, key_type))
            .collect())
    }

    fn decode(
        &mut self,
        f: &Arc<TsmFile>,
        e: &tsm::IndexEntry,
        ft: FieldType,
    ) -> Result<(), EngineError> {
        let block = self
            .block
            .get_or_insert_with(|| tsm::Block::new(tsm::BlockType::Float));
        f.decode_block(e, ft, block)
            .map_err(|x| EngineError::Shard(ShardError::from(x)))
    }

    /// The summary of a block lying inside one window: cached, or decoded and cached.
    fn summary(
        &mut self,
        f: &Arc<TsmFile>,
        e: &tsm::IndexEntry,
        ft: FieldType,
    ) -> Result<Option<BlockSummary>, EngineError> {
        if let Some(s) = summaries().lock().get(f, e.offset) {
            return Ok(Some(s.clone()));
        }
        self.decode(f, e, ft)?;
        let Some(b) = &self.block else {
            return Ok(None);
        };
        let n = b.timestamps.len();
        if n == 0 {
            return Ok(None);
        }
        let at = |i: usize| (b.timestamps[i], value_at(&b.values, i));
        let (min, max) = match &b.values {
            tsm::Values::Float(x) => (
                Some(best_index(x, 0, n, true)),
                Some(best_index(x, 0, n, false)),
            ),
            tsm::Values::Integer(x) => (
                Some(best_index(x, 0, n, true)),
                Some(best_index(x, 0, n, false)),
            ),
            tsm::Values::Unsigned(x) => (
                Some(best_index(x, 0, n, true)),
                Some(best_index(x, 0, n, false)),
            ),
            _ => (None, None),
        };
        let s = BlockSummary {
            count: n as i64,
            first: at(0),
            last: at(n - 1),
            min: min.map(at),
            max: max.map(at),
        };
        if ft != FieldType::String {
            summaries().lock().insert(f, e.offset, s.clone());
        }
        Ok(Some(s))
    }

    /// The state of window `w`: the last one if it is `w`, else a new one (windows are
    /// visited in order, so a window never comes back once left).
    fn state(states: &mut Vec<WindowState>, w: i64) -> &mut WindowState {
        if states.last().is_none_or(|s| s.start != w) {
            states.push(WindowState::new(w));
        }
        let i = states.len() - 1;
        &mut states[i]
    }

    fn fold_summary(&self, states: &mut Vec<WindowState>, w: i64, s: BlockSummary) {
        let st = Self::state(states, w);
        st.count += s.count;
        let candidate = match self.agg {
            Aggregate::First | Aggregate::Last => {
                // First visits blocks forward, last backward: the first block seen wins.
                if st.sel.is_none() {
                    st.sel = Some(if self.agg == Aggregate::First {
                        s.first
                    } else {
                        s.last
                    });
                }
                return;
            }
            Aggregate::Min => s.min,
            Aggregate::Max => s.max,
            _ => None,
        };
        if let Some(c) = candidate {
            let want_min = self.agg == Aggregate::Min;
            match &st.sel {
                Some(cur) if !better(&c.1, &cur.1, want_min) => {}
                _ => st.sel = Some(c),
            }
        }
    }

    /// Folds the decoded block's points in `[min, max]` into their windows.
    fn fold_decoded(&self, states: &mut Vec<WindowState>, min: i64, max: i64, reverse: bool) {
        let Some(b) = &self.block else { return };
        let ts = &b.timestamps;
        let lo = ts.partition_point(|&t| t < min);
        let hi = ts.partition_point(|&t| t <= max);
        // Runs of points sharing a window, in time order.
        let mut runs: Vec<(i64, usize, usize)> = Vec::new();
        let mut i = lo;
        while i < hi {
            let w = self.window(ts[i]);
            let stop = w.saturating_add(self.every);
            let j = i + ts[i..hi].partition_point(|&t| t < stop);
            runs.push((w, i, j));
            i = j;
        }
        if reverse {
            runs.reverse();
        }
        for (w, i, j) in runs {
            let st = Self::state(states, w);
            self.fold_run(st, &b.values, ts, i, j);
        }
    }

    fn fold_run(&self, st: &mut WindowState, v: &tsm::Values, ts: &[i64], i: usize, j: usize) {
        st.count += (j - i) as i64;
        match self.agg {
            Aggregate::Count => {}
            Aggregate::Sum | Aggregate::Mean => match v {
                tsm::Values::Float(x) => {
                    for &y in &x[i..j] {
                        st.fsum += y;
                    }
                }
                tsm::Values::Integer(x) => {
                    for &y in &x[i..j] {
                        st.isum = st.isum.wrapping_add(y);
                        st.fsum += y as f64;
                    }
                }
                tsm::Values::Unsigned(x) => {
                    for &y in &x[i..j] {
                        st.usum = st.usum.wrapping_add(y);
                        st.fsum += y as f64;
                    }
                }
                _ => {}
            },
            Aggregate::First => {
                if st.sel.is_none() {
                    st.sel = Some((ts[i], value_at(v, i)));
                }
            }
            Aggregate::Last => {
                // Visited backward: the latest run comes first.
                if st.sel.is_none() {
                    st.sel = Some((ts[j - 1], value_at(v, j - 1)));
                }
            }
            Aggregate::Min | Aggregate::Max => {
                let want_min = self.agg == Aggregate::Min;
                let k = match v {
                    tsm::Values::Float(x) => best_index(x, i, j, want_min),
                    tsm::Values::Integer(x) => best_index(x, i, j, want_min),
                    tsm::Values::Unsigned(x) => best_index(x, i, j, want_min),
                    _ => return,
                };
                let c = (ts[k], value_at(v, k));
                match &st.sel {
                    Some(cur) if !better(&c.1, &cur.1, want_min) => {}
                    _ => st.sel = Some(c),
                }
            }
        }
    }

    fn finish(&self, s: WindowState, ft: FieldType) -> Option<WindowValue> {
        if s.count == 0 {
            return None;
        }
        let stop = s.start.saturating_add(self.every);
        let at = |time: i64, value: FieldValue| WindowValue {
            start: s.start,
            stop,
            time,
            value,
        };
        Some(match self.agg {
            Aggregate::Count => at(s.start, FieldValue::Integer(s.count)),
            Aggregate::Sum => at(
                s.start,
                match ft {
                    FieldType::Integer => FieldValue::Integer(s.isum),
                    FieldType::Unsigned => FieldValue::Unsigned(s.usum),
                    _ => FieldValue::Float(s.fsum),
                },
            ),
            Aggregate::Mean => at(s.start, FieldValue::Float(s.fsum / s.count as f64)),
            _ => {
                let (t, v) = s.sel?;
                at(t, v)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::path::Path;

    use super::*;
    use crate::catalog::{MemoryCatalog, ShardCatalog};
    use crate::engine::EngineConfig;
    use crate::points::Precision;
    use crate::predicate::parse_delete_predicate;

    const BUCKET: u64 = 0x0837_1db1_dd8c_8000;
    const NOW: i64 = 1_705_000_000_000_000_000;
    const T0: i64 = 1_704_067_200_000_000_000;
    const SEC: i64 = 1_000_000_000;

    fn open(path: &Path) -> Engine {
        let c = Arc::new(MemoryCatalog::new());
        // One-day shard groups, so a range crosses shards.
        c.add_bucket(BUCKET, 0, 24 * 3600 * SEC);
        Engine::open(
            EngineConfig {
                maintenance_interval: None,
                ..EngineConfig::new(path)
            },
            c as Arc<dyn ShardCatalog>,
        )
        .unwrap()
    }

    /// 1,300 points of every type per series, one every 40 s from 2 h before a shard
    /// boundary: two shards, two blocks per key in the second; values with ties.
    fn write(e: &Engine, shift: i64) {
        let mut body = String::new();
        for i in 0..1_300i64 {
            let t = T0 - 2 * 3600 * SEC + i * 40 * SEC + shift;
            let x = (i * 7_919 + shift) % 101;
            for host in ["a", "b"] {
                let _ = writeln!(
                    body,
                    "m,host={host} f={}.25,i={}i,u={}u,b={},s=\"s{}\" {t}",
                    x - 50,
                    x - 50,
                    x,
                    x % 2 == 0,
                    x % 13
                );
            }
        }
        e.write_lines(BUCKET, body.as_bytes(), Precision::Nanoseconds, NOW)
            .unwrap();
    }

    /// Reading merged points and aggregating them, the reference.
    fn generic(
        e: &Engine,
        req: &ReadRequest,
        every: i64,
        offset: i64,
        agg: Aggregate,
    ) -> Vec<SeriesAggregate> {
        let mut out = Vec::new();
        for s in e.read(req) {
            let s = s.unwrap();
            let Ok(windows) = window_aggregate(&s.values, every, offset, agg) else {
                continue;
            };
            out.push(SeriesAggregate {
                windows,
                series_key: s.series_key,
                measurement: s.measurement,
                tags: s.tags,
                field: s.field,
            });
        }
        out
    }

    fn check(e: &Engine, stage: &str) {
        let day = 24 * 3600 * SEC;
        let whole = ReadRequest::all(BUCKET, T0 - day, T0 + day);
        let part = ReadRequest::all(BUCKET, T0 - 3_000 * SEC, T0 + 20_000 * SEC + 1);
        let aggs = [
            Aggregate::Count,
            Aggregate::Sum,
            Aggregate::Mean,
            Aggregate::Min,
            Aggregate::Max,
            Aggregate::First,
            Aggregate::Last,
        ];
        for req in [&whole, &part] {
            for (every, offset) in [(2 * day, 0), (17 * 60 * SEC, 5 * SEC), (5 * 3600 * SEC, 0)] {
                for agg in aggs {
                    let mut req = req.clone();
                    if matches!(
                        agg,
                        Aggregate::Sum | Aggregate::Mean | Aggregate::Min | Aggregate::Max
                    ) {
                        req.predicate = crate::Predicate::Or(vec![
                            crate::Predicate::Eq("_field".into(), "f".into()),
                            crate::Predicate::Eq("_field".into(), "i".into()),
                            crate::Predicate::Eq("_field".into(), "u".into()),
                        ]);
                    }
                    let want = generic(e, &req, every, offset, agg);
                    assert!(!want.is_empty());
                    // Twice: the second time from cached block summaries.
                    for _ in 0..2 {
                        let got = e.read_window_aggregate(&req, every, offset, agg).unwrap();
                        assert_eq!(got, want, "{stage}: {agg:?} every {every} offset {offset}");
                    }
                }
            }
        }
        let strings = ReadRequest {
            field: Some("s".into()),
            ..whole.clone()
        };
        assert!(matches!(
            e.read_window_aggregate(&strings, day, 0, Aggregate::Mean),
            Err(EngineError::UnsupportedAggregate { .. })
        ));
    }

    #[test]
    fn folded_blocks_equal_aggregating_merged_points() {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path());
        write(&e, 0);
        check(&e, "cache only");
        e.flush().unwrap();
        check(&e, "files");
        write(&e, 20 * SEC);
        check(&e, "files and cache");
        e.flush().unwrap();
        check(&e, "files overlapping in time");
        e.compact(true).unwrap();
        check(&e, "compacted");
        e.delete(
            BUCKET,
            T0,
            T0 + 3_600 * SEC,
            &parse_delete_predicate(r#"host="a""#).unwrap(),
        )
        .unwrap();
        check(&e, "tombstones");
    }

    /// Once writes have left a shard, maintenance summarises the newest block of every
    /// non-string key of its files, once per file; answers stay those of the merged points.
    #[test]
    fn maintenance_summarises_newest_blocks_of_settled_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path());
        write(&e, 0);
        e.flush().unwrap();
        write(&e, 20 * SEC);
        // Under writes (points cached at this tick), nothing is summarised.
        e.inner.maintain().unwrap();
        let files: Vec<Arc<TsmFile>> = e
            .bucket_shards(BUCKET)
            .iter()
            .flat_map(|s| s.files())
            .collect();
        assert!(!files.is_empty());
        for f in &files {
            assert!(f.take_summary_warming(), "summarised during writes");
        }
        // A file opened afresh is summarised by the next tick with nothing cached.
        drop(files);
        e.flush().unwrap();
        let e = {
            drop(e);
            open(dir.path())
        };
        e.inner.maintain().unwrap();
        let files: Vec<Arc<TsmFile>> = e
            .bucket_shards(BUCKET)
            .iter()
            .flat_map(|s| s.files())
            .collect();
        assert!(!files.is_empty());
        for f in &files {
            assert!(!f.take_summary_warming(), "not summarised");
            let cache = summaries().lock();
            for k in f.keys() {
                let newest = f.last_block(&k.key).unwrap();
                assert_eq!(
                    cache.get(f, newest.offset).is_some(),
                    k.field_type != FieldType::String,
                    "{:?}",
                    String::from_utf8_lossy(&k.key)
                );
            }
        }
        check(&e, "summarised ahead");
    }
}
