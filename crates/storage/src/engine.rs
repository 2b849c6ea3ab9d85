//! The storage engine: routes line-protocol writes to shards, serves reads for the query layer,
//! and runs the background work (cache snapshots, compactions, retention).
//!
//! # Write semantics (as InfluxDB 2.x)
//!
//! * Any unparsable line rejects the whole body: nothing is written and
//!   [`WriteError::Parse`] carries every bad line (`unable to parse '<line>': <reason>`, joined
//!   by `\n`, with 1-based line numbers) -> HTTP 400 `invalid`.
//! * Points older than `now - retention` are dropped; points whose field type conflicts with the
//!   shard's are dropped. All other points are written, and then [`WriteError::PartialWrite`]
//!   reports `partial write: <first reason> dropped=<n>` -> HTTP 422 `unprocessable entity`.
//! * A write refused because the caches are full ([`WriteError::CacheFull`]) wrote nothing to
//!   the shards it could not reach; the server answers 503 and the client retries. Points of
//!   a body spanning several shards, or of an earlier batch of a body over
//!   [`LARGE_BODY_BYTES`] (written [`WRITE_BATCH_POINTS`] at a time), may already be durable.
//! * `Ok` means every written point is fsynced in its shard's WAL.
//!
//! # Threads
//!
//! Every method is blocking and may be called from any thread concurrently (an async server
//! calls it via `spawn_blocking`). Concurrent writers to one shard share WAL fsyncs (group
//! commit). With `EngineConfig::maintenance_interval` set, one background thread snapshots
//! caches past `cache_snapshot_memory_bytes` (or idle for `cache_snapshot_write_cold`),
//! compacts shards with `compact_threshold` files or more, fully compacts shards idle for
//! `compact_full_write_cold`, and drops shard groups wholly out of retention.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::cache::{CacheFull, MemoryBudget};
use crate::catalog::{BucketId, CatalogError, ShardCatalog, ShardId, ShardSpec};
use crate::index::FieldConflict;
use crate::points::{
    FieldType, ParseError, Point, Precision, parse_lines, parse_series_key, split_tsm_key,
};
use crate::predicate::Predicate;
use crate::shard::{Shard, ShardError};

/// Bodies larger than this are checked whole, then written in batches (see
/// [`Engine::write_lines`]).
pub const LARGE_BODY_BYTES: usize = 8 << 20;
/// Points per batch when a large body is written in batches.
pub const WRITE_BATCH_POINTS: usize = 50_000;

/// Retention policy directory name used for every bucket.
pub const RETENTION_POLICY: &str = "autogen";
/// Data directory under the engine path.
pub const DATA_DIR: &str = "data";
/// WAL directory under the engine path.
pub const WAL_DIR: &str = "wal";

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The engine directory (InfluxDB's `engine/`), holding `data/` and `wal/`.
    pub path: PathBuf,
    /// Bound on all caches together; writes past it fail with `CacheFull`. 0 = unbounded.
    pub cache_max_memory_bytes: u64,
    /// A shard's cache is snapshotted to TSM once it holds this many bytes.
    pub cache_snapshot_memory_bytes: u64,
    /// A shard's cache is snapshotted when no write arrived for this long.
    pub cache_snapshot_write_cold: Duration,
    /// A shard with this many TSM files (or more) is compacted.
    pub compact_threshold: usize,
    /// A shard idle for this long is fully compacted into one file.
    pub compact_full_write_cold: Duration,
    /// WAL segment rollover size.
    pub wal_segment_size: u64,
    /// Period of the background thread; `None` runs no thread (call the maintenance methods).
    pub maintenance_interval: Option<Duration>,
    /// Period of retention enforcement in the background thread.
    pub retention_check_interval: Duration,
}

impl EngineConfig {
    /// InfluxDB's defaults: 1 GiB cache bound, 25 MiB snapshot size, 10 min cold snapshot,
    /// 4 h cold full compaction, 10 MiB WAL segments, retention checked every 30 min.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EngineConfig {
            path: path.into(),
            cache_max_memory_bytes: 1 << 30,
            cache_snapshot_memory_bytes: 25 << 20,
            cache_snapshot_write_cold: Duration::from_secs(600),
            compact_threshold: 4,
            compact_full_write_cold: Duration::from_secs(4 * 3600),
            wal_segment_size: crate::wal::SEGMENT_SIZE,
            maintenance_interval: Some(Duration::from_secs(1)),
            retention_check_interval: Duration::from_secs(1800),
        }
    }
}

/// Counts of a successful (or partial) write.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteStats {
    /// Points written.
    pub points: usize,
    /// Field values written.
    pub values: usize,
    /// Points dropped (retention, field type conflicts).
    pub dropped: usize,
}

/// Every unparsable line of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<ParseError>);

impl std::fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ParseErrors {
    /// Line number of the first bad line.
    pub fn first_line(&self) -> Option<usize> {
        self.0.first().map(|e| e.line)
    }
}

/// Why points of a write were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A field's type differs from the shard's.
    FieldTypeConflict,
    /// Older than the bucket's retention period.
    BeyondRetention,
    /// A tag key or the only field key is `time`.
    InvalidName,
}

/// Errors of [`Engine::write_lines`].
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Unparsable lines; nothing written. HTTP 400 `invalid`.
    #[error("{0}")]
    Parse(ParseErrors),
    /// Some points dropped, the rest written. HTTP 422 `unprocessable entity`.
    #[error("partial write: {reason} dropped={}", stats.dropped)]
    PartialWrite {
        /// First reason, InfluxDB's text.
        reason: String,
        /// Kind of the first reason.
        kind: DropReason,
        /// What was written and dropped.
        stats: WriteStats,
    },
    /// The cache bound is reached. HTTP 503 `unavailable`.
    #[error(transparent)]
    CacheFull(#[from] CacheFull),
    /// The bucket is unknown to the catalogue. HTTP 404.
    #[error("bucket {0:016x} not found")]
    BucketNotFound(BucketId),
    /// Catalogue failure. HTTP 500.
    #[error(transparent)]
    Catalog(CatalogError),
    /// Storage failure (I/O, poisoned WAL). HTTP 500.
    #[error(transparent)]
    Storage(ShardError),
}

impl From<CatalogError> for WriteError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::BucketNotFound(b) => WriteError::BucketNotFound(b),
            other => WriteError::Catalog(other),
        }
    }
}

impl From<ShardError> for WriteError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::CacheFull(c) => WriteError::CacheFull(c),
            other => WriteError::Storage(other),
        }
    }
}

/// Errors of reads, deletes and maintenance.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Catalogue failure.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Storage failure.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The aggregate does not apply to the field's type.
    #[error("unsupported aggregate {aggregate:?} for type {field_type}")]
    UnsupportedAggregate {
        /// The aggregate.
        aggregate: Aggregate,
        /// The type.
        field_type: FieldType,
    },
    /// Window period must be positive.
    #[error("window every must be positive")]
    BadWindow,
}

fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

type ShardMap = BTreeMap<(BucketId, ShardId), Arc<Shard>>;

struct Inner {
    cfg: EngineConfig,
    catalog: Arc<dyn ShardCatalog>,
    budget: Arc<MemoryBudget>,
    shards: RwLock<ShardMap>,
    /// Serialises shard creation and removal.
    open_lock: Mutex<()>,
    wake: (Mutex<bool>, Condvar),
    last_error: Mutex<Option<String>>,
    /// Shard groups already resolved per bucket, so that the catalogue (a protobuf decode in
    /// the KV store) is asked only for times no known group covers.
    groups: RwLock<HashMap<BucketId, Vec<ShardSpec>>>,
}

/// The storage engine.
pub struct Engine {
    inner: Arc<Inner>,
    background: Option<JoinHandle<()>>,
}

/// Parses a bucket directory name (16 hex digits).
fn parse_bucket_dir(name: &str) -> Option<BucketId> {
    if name.len() == 16 {
        u64::from_str_radix(name, 16).ok()
    } else {
        None
    }
}

impl Engine {
    /// Opens the engine: every shard directory under `data/` and `wal/` is opened (WAL
    /// replayed, index rebuilt); the background thread starts if configured.
    pub fn open(cfg: EngineConfig, catalog: Arc<dyn ShardCatalog>) -> Result<Engine, EngineError> {
        // Finish shard restores a crash interrupted (or drop their staging) before any shard
        // directory is opened: a shard is then wholly old or wholly new.
        crate::restore::recover(&cfg.path)
            .map_err(|e| io_err(&cfg.path, std::io::Error::other(e.to_string())))?;
        let budget = MemoryBudget::new(cfg.cache_max_memory_bytes);
        let inner = Arc::new(Inner {
            cfg,
            catalog,
            budget,
            shards: RwLock::new(BTreeMap::new()),
            open_lock: Mutex::new(()),
            wake: (Mutex::new(false), Condvar::new()),
            last_error: Mutex::new(None),
            groups: RwLock::new(HashMap::new()),
        });
        let mut found: BTreeSet<(BucketId, ShardId)> = BTreeSet::new();
        for root in [DATA_DIR, WAL_DIR] {
            let root = inner.cfg.path.join(root);
            let Ok(rd) = fs::read_dir(&root) else {
                continue;
            };
            for b in rd.flatten() {
                let Some(bucket) = b.file_name().to_str().and_then(parse_bucket_dir) else {
                    continue;
                };
                let Ok(rd) = fs::read_dir(b.path().join(RETENTION_POLICY)) else {
                    continue;
                };
                for s in rd.flatten() {
                    if let Some(id) = s
                        .file_name()
                        .to_str()
                        .and_then(|n| n.parse::<ShardId>().ok())
                    {
                        found.insert((bucket, id));
                    }
                }
            }
        }
        for (bucket, id) in found {
            inner.open_shard(bucket, id)?;
        }
        let background = inner.cfg.maintenance_interval.map(|every| {
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("storage-maintenance".into())
                .spawn(move || background_loop(weak, every))
                .map_err(|e| io_err(Path::new("storage-maintenance"), e))
        });
        let background = background.transpose()?;
        Ok(Engine { inner, background })
    }

    /// The catalogue in use.
    pub fn catalog(&self) -> &Arc<dyn ShardCatalog> {
        &self.inner.catalog
    }

    /// Bytes held by all caches.
    pub fn cache_bytes(&self) -> u64 {
        self.inner.budget.used()
    }

    /// The last error the background thread met, if any.
    pub fn last_background_error(&self) -> Option<String> {
        self.inner.last_error.lock().clone()
    }

    /// Parses `body` and writes its points into `bucket`. See the module doc for semantics.
    /// `now` (ns) stamps points without a timestamp and anchors the retention check.
    ///
    /// Parsed points take several times the bytes of their line protocol, so a body larger
    /// than [`LARGE_BODY_BYTES`] is read twice: once to check every line (nothing is written
    /// if one is bad), then parsed again and written [`WRITE_BATCH_POINTS`] points at a time,
    /// so that memory does not grow with the body.
    pub fn write_lines(
        &self,
        bucket: BucketId,
        body: &[u8],
        precision: Precision,
        now: i64,
    ) -> Result<WriteStats, WriteError> {
        if body.len() > LARGE_BODY_BYTES {
            return self.write_large_body(bucket, body, precision, now);
        }
        let mut points = Vec::new();
        let mut errors = Vec::new();
        for r in parse_lines(body, precision, now) {
            match r {
                Ok(p) => points.push(p),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(WriteError::Parse(ParseErrors(errors)));
        }
        self.write_points(bucket, &points, now)
    }

    /// [`Engine::write_lines`] for a large body: checked whole, then written in batches.
    fn write_large_body(
        &self,
        bucket: BucketId,
        body: &[u8],
        precision: Precision,
        now: i64,
    ) -> Result<WriteStats, WriteError> {
        let errors: Vec<ParseError> = parse_lines(body, precision, now)
            .filter_map(Result::err)
            .collect();
        if !errors.is_empty() {
            return Err(WriteError::Parse(ParseErrors(errors)));
        }
        let mut stats = WriteStats::default();
        let mut first: Option<(String, DropReason)> = None;
        let mut write = |points: &[Point]| -> Result<(), WriteError> {
            let s = match self.write_points(bucket, points, now) {
                Ok(s) => s,
                Err(WriteError::PartialWrite {
                    reason,
                    kind,
                    stats,
                }) => {
                    first.get_or_insert((reason, kind));
                    stats
                }
                Err(e) => return Err(e),
            };
            stats.points += s.points;
            stats.values += s.values;
            stats.dropped += s.dropped;
            Ok(())
        };
        let mut batch = Vec::with_capacity(WRITE_BATCH_POINTS);
        for p in parse_lines(body, precision, now).flatten() {
            batch.push(p);
            if batch.len() == WRITE_BATCH_POINTS {
                write(&batch)?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            write(&batch)?;
        }
        match first {
            Some((reason, kind)) => Err(WriteError::PartialWrite {
                reason,
                kind,
                stats,
            }),
            None => Ok(stats),
        }
    }

    /// Writes parsed points into `bucket` (retention check against `now`).
    pub fn write_points(
        &self,
        bucket: BucketId,
        points: &[Point],
        now: i64,
    ) -> Result<WriteStats, WriteError> {
        let retention = self.inner.catalog.retention(bucket)?;
        let min_time = if retention > 0 {
            now.saturating_sub(retention)
        } else {
            i64::MIN
        };
        let mut stats = WriteStats::default();
        let mut first: Option<(DropReason, String)> = None;
        // InfluxDB rejects the tag key `time` and skips fields named `time` (dropping a point
        // left without fields). Points that lose a field are copied; the rest are borrowed.
        let mut trimmed: Vec<Point> = Vec::new();
        let mut keep: Vec<Option<Option<usize>>> = Vec::with_capacity(points.len());
        for p in points {
            if has_time_tag(p) {
                stats.dropped += 1;
                first.get_or_insert((
                    DropReason::InvalidName,
                    format!(
                        "invalid tag key: input tag \"time\" on measurement \"{}\" is invalid",
                        p.measurement()
                    ),
                ));
                keep.push(None);
            } else if p.fields.iter().any(|(k, _)| k == "time") {
                let mut q = p.clone();
                q.fields.retain(|(k, _)| k != "time");
                if q.fields.is_empty() {
                    stats.dropped += 1;
                    first.get_or_insert((
                        DropReason::InvalidName,
                        format!("invalid field name: input field \"time\" on measurement \"{}\" is invalid", p.measurement()),
                    ));
                    keep.push(None);
                } else {
                    trimmed.push(q);
                    keep.push(Some(Some(trimmed.len() - 1)));
                }
            } else {
                keep.push(Some(None));
            }
        }
        let mut by_shard: BTreeMap<ShardId, (ShardSpec, Vec<&Point>)> = BTreeMap::new();
        let mut last: Option<ShardSpec> = None;
        for (p, k) in points.iter().zip(keep) {
            let p = match k {
                None => continue,
                Some(None) => p,
                Some(Some(i)) => &trimmed[i],
            };
            if p.time < min_time {
                stats.dropped += 1;
                first.get_or_insert((
                    DropReason::BeyondRetention,
                    "points beyond retention policy".into(),
                ));
                continue;
            }
            let spec = match last {
                Some(s) if s.start <= p.time && p.time < s.end => s,
                _ => {
                    let s = self.inner.shard_for(bucket, p.time)?;
                    last = Some(s);
                    s
                }
            };
            by_shard
                .entry(spec.id)
                .or_insert_with(|| (spec, Vec::new()))
                .1
                .push(p);
        }
        for (id, (_, pts)) in by_shard {
            // A restore may replace the shard object between the lookup and the write; the
            // replaced object refuses the write and the next lookup finds its successor.
            let mut attempts = 0;
            let (shard, res) = loop {
                let shard = self.inner.open_shard(bucket, id).map_err(|e| match e {
                    EngineError::Shard(s) => WriteError::from(s),
                    other => WriteError::Storage(ShardError::Io {
                        path: self.inner.cfg.path.clone(),
                        source: std::io::Error::other(other.to_string()),
                    }),
                })?;
                match shard.write_points(&pts) {
                    Ok(r) => break (shard, r),
                    Err(ShardError::Retired(_)) if attempts < 8 => attempts += 1,
                    Err(ShardError::CacheFull(c)) => {
                        self.inner.wake();
                        return Err(WriteError::CacheFull(c));
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            stats.points += res.points;
            stats.values += res.values;
            stats.dropped += res.dropped;
            if let Some(c) = res.conflict {
                first.get_or_insert((DropReason::FieldTypeConflict, conflict_text(&c)));
            }
            if shard.cache_size() > self.inner.cfg.cache_snapshot_memory_bytes {
                self.inner.wake();
            }
        }
        match first {
            Some((kind, reason)) => Err(WriteError::PartialWrite {
                reason,
                kind,
                stats,
            }),
            None => Ok(stats),
        }
    }

    pub(super) fn bucket_shards(&self, bucket: BucketId) -> Vec<Arc<Shard>> {
        self.inner
            .shards
            .read()
            .range((bucket, 0)..=(bucket, u64::MAX))
            .map(|(_, s)| Arc::clone(s))
            .collect()
    }

    /// Deletes points with `start <= t <= stop` of the series and fields matching `predicate`
    /// in `bucket` (InfluxDB's `/api/v2/delete`: both bounds inclusive). Returns the number of
    /// TSM keys affected.
    pub fn delete(
        &self,
        bucket: BucketId,
        start: i64,
        stop: i64,
        predicate: &Predicate,
    ) -> Result<usize, EngineError> {
        let mut n = 0;
        let pinned = predicate.measurement().map(str::to_string);
        let matches = |key: &[u8]| -> bool {
            let Some((series, field)) = split_tsm_key(key) else {
                return false;
            };
            let (Ok(series), Ok(field)) = (std::str::from_utf8(series), std::str::from_utf8(field))
            else {
                return false;
            };
            let (m, tags) = parse_series_key(series);
            if pinned.as_deref().is_some_and(|p| p != m) {
                return false;
            }
            predicate.matches(&m, &tags, field)
        };
        for s in self.bucket_shards(bucket) {
            n += s.delete(&matches, start, stop)?;
        }
        Ok(n)
    }

    /// Snapshots every cache to TSM (before a backup, or to bound WAL size).
    pub fn flush(&self) -> Result<(), EngineError> {
        for s in self.all_shards() {
            s.flush()?;
        }
        Ok(())
    }

    /// Compacts every shard (`full`: into one file each). Returns the number of compactions.
    pub fn compact(&self, full: bool) -> Result<usize, EngineError> {
        let mut n = 0;
        for s in self.all_shards() {
            if s.compact(full, self.inner.cfg.compact_threshold)?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Drops every shard group that ended before `now - retention`: files, WAL and catalogue
    /// entry. Returns the removed shard IDs.
    pub fn enforce_retention(&self, now: i64) -> Result<Vec<ShardId>, EngineError> {
        self.inner.enforce_retention(now)
    }

    /// Removes one shard (files, WAL, cache) and its catalogue group.
    pub fn drop_shard(&self, bucket: BucketId, spec: &ShardSpec) -> Result<(), EngineError> {
        self.inner.drop_shard(bucket, spec)
    }

    /// Snapshots a shard's cache and returns its current `.tsm` files and their `.tombstone`
    /// files, oldest first (what a shard backup holds). Files stay valid until the next
    /// compaction of the shard; callers that stream them should hard-link them first.
    pub fn shard_snapshot(
        &self,
        bucket: BucketId,
        id: ShardId,
    ) -> Result<Vec<PathBuf>, EngineError> {
        let shard = self.inner.open_shard(bucket, id)?;
        shard.flush()?;
        let mut out = Vec::new();
        for f in shard.files() {
            out.push(f.path().to_path_buf());
            let t = crate::tsmio::tombstone_path(f.path());
            if t.exists() {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Closes and reopens a shard from its directories (after a restore replaced its files):
    /// files are reopened, the WAL replayed and the index rebuilt.
    pub fn reload_shard(&self, bucket: BucketId, id: ShardId) -> Result<(), EngineError> {
        self.inner.forget_groups(bucket);
        {
            let _g = self.inner.open_lock.lock();
            if let Some(old) = self.inner.shards.write().remove(&(bucket, id)) {
                old.release_memory();
            }
        }
        self.inner.open_shard(bucket, id)?;
        Ok(())
    }

    /// Forgets the shard groups remembered for a bucket; call after the catalogue changed
    /// behind the engine's back (restore of bucket metadata, bucket deletion).
    pub fn forget_bucket_groups(&self, bucket: BucketId) {
        self.inner.forget_groups(bucket);
    }

    /// Data directory of a shard (`data/<bucket hex>/autogen/<id>`).
    pub fn shard_data_dir(&self, bucket: BucketId, id: ShardId) -> PathBuf {
        self.inner.data_dir(bucket, id)
    }

    /// Open shards as (bucket, shard id).
    pub fn shards(&self) -> Vec<(BucketId, ShardId)> {
        self.inner.shards.read().keys().copied().collect()
    }

    /// An open shard.
    pub fn shard(&self, bucket: BucketId, id: ShardId) -> Option<Arc<Shard>> {
        self.inner.shards.read().get(&(bucket, id)).cloned()
    }

    fn all_shards(&self) -> Vec<Arc<Shard>> {
        self.inner.shards.read().values().cloned().collect()
    }

    /// Stops the background thread. WAL contents stay on disk and are replayed on open.
    pub fn close(mut self) {
        self.stop_background();
    }

    fn stop_background(&mut self) {
        if let Some(h) = self.background.take() {
            *self.inner.wake.0.lock() = true;
            self.inner.wake.1.notify_all();
            let _ = h.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_background();
    }
}

/// True when the point has the tag key `time` (an unescaped `,time=` in its tag section).
fn has_time_tag(p: &Point) -> bool {
    let tags = &p.series_key.as_bytes()[p.measurement_len..];
    tags.windows(6)
        .enumerate()
        .any(|(i, w)| w == b",time=" && (i == 0 || tags[i - 1] != b'\\'))
}

fn conflict_text(c: &FieldConflict) -> String {
    c.to_string()
}

impl Inner {
    fn shard_for(&self, bucket: BucketId, t: i64) -> Result<ShardSpec, CatalogError> {
        if let Some(specs) = self.groups.read().get(&bucket)
            && let Some(s) = specs.iter().find(|s| s.start <= t && t < s.end)
        {
            return Ok(*s);
        }
        let s = self.catalog.shard_for(bucket, t)?;
        self.groups.write().entry(bucket).or_default().push(s);
        Ok(s)
    }

    fn forget_groups(&self, bucket: BucketId) {
        self.groups.write().remove(&bucket);
    }

    fn data_dir(&self, bucket: BucketId, id: ShardId) -> PathBuf {
        self.cfg
            .path
            .join(DATA_DIR)
            .join(format!("{bucket:016x}"))
            .join(RETENTION_POLICY)
            .join(id.to_string())
    }

    fn wal_dir(&self, bucket: BucketId, id: ShardId) -> PathBuf {
        self.cfg
            .path
            .join(WAL_DIR)
            .join(format!("{bucket:016x}"))
            .join(RETENTION_POLICY)
            .join(id.to_string())
    }

    fn open_shard(&self, bucket: BucketId, id: ShardId) -> Result<Arc<Shard>, EngineError> {
        if let Some(s) = self.shards.read().get(&(bucket, id)) {
            return Ok(Arc::clone(s));
        }
        let _g = self.open_lock.lock();
        if let Some(s) = self.shards.read().get(&(bucket, id)) {
            return Ok(Arc::clone(s));
        }
        let shard = Arc::new(Shard::open(
            bucket,
            id,
            &self.data_dir(bucket, id),
            &self.wal_dir(bucket, id),
            Arc::clone(&self.budget),
            self.cfg.wal_segment_size,
        )?);
        self.shards.write().insert((bucket, id), Arc::clone(&shard));
        Ok(shard)
    }

    fn drop_shard(&self, bucket: BucketId, spec: &ShardSpec) -> Result<(), EngineError> {
        let _g = self.open_lock.lock();
        self.forget_groups(bucket);
        if let Some(s) = self.shards.write().remove(&(bucket, spec.id)) {
            s.release_memory();
        }
        for dir in [
            self.data_dir(bucket, spec.id),
            self.wal_dir(bucket, spec.id),
        ] {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&dir, e)),
            }
        }
        self.catalog.delete_shard_group(bucket, spec.group_id)?;
        Ok(())
    }

    fn enforce_retention(&self, now: i64) -> Result<Vec<ShardId>, EngineError> {
        let mut dropped = Vec::new();
        for bucket in self.catalog.buckets()? {
            let retention = self.catalog.retention(bucket)?;
            if retention <= 0 {
                continue;
            }
            let cutoff = now.saturating_sub(retention);
            for spec in self.catalog.shards(bucket)? {
                if spec.end <= cutoff {
                    self.drop_shard(bucket, &spec)?;
                    dropped.push(spec.id);
                }
            }
        }
        Ok(dropped)
    }

    fn wake(&self) {
        self.wake.1.notify_all();
    }

    fn maintain(&self) -> Result<(), EngineError> {
        let shards: Vec<Arc<Shard>> = self.shards.read().values().cloned().collect();
        for s in shards {
            let size = s.cache_size();
            let idle = s.idle_for();
            if size > self.cfg.cache_snapshot_memory_bytes
                || (size > 0 && idle >= self.cfg.cache_snapshot_write_cold)
                || (self.cfg.cache_max_memory_bytes > 0
                    && self.budget.used() * 10 >= self.cfg.cache_max_memory_bytes * 9
                    && size > 0)
            {
                s.snapshot()?;
            }
            // A few level compactions per tick; the rest wait for the next one.
            for _ in 0..4 {
                if s.compact(false, self.cfg.compact_threshold)?.is_none() {
                    break;
                }
            }
            if idle >= self.cfg.compact_full_write_cold {
                s.compact(true, self.cfg.compact_threshold)?;
            }
            // Files of a shard that writes have left (nothing cached since the last tick, or
            // cold) are stable: summarise their newest blocks once, ahead of `last()` queries.
            // Files of a shard under ingest are soon compacted away and are left alone.
            if size == 0 || idle >= self.cfg.cache_snapshot_write_cold {
                for f in s.files() {
                    if f.take_summary_warming() {
                        aggregate::warm_last_summaries(&f)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn background_loop(weak: std::sync::Weak<Inner>, every: Duration) {
    let mut last_retention = std::time::Instant::now();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        {
            let mut stop = inner.wake.0.lock();
            if *stop {
                return;
            }
            inner.wake.1.wait_for(&mut stop, every);
            if *stop {
                return;
            }
        }
        if let Err(e) = inner.maintain() {
            *inner.last_error.lock() = Some(e.to_string());
        }
        if last_retention.elapsed() >= inner.cfg.retention_check_interval {
            last_retention = std::time::Instant::now();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            if let Err(e) = inner.enforce_retention(now) {
                *inner.last_error.lock() = Some(e.to_string());
            }
        }
    }
}

mod aggregate;
mod read;
pub use aggregate::{Aggregate, SeriesAggregate, WindowValue, window_aggregate};
pub use read::{ReadRequest, SeriesIter, SeriesPoints};

#[cfg(test)]
mod tests;
