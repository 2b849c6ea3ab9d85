//! One shard: its TSM files, WAL, cache and series index, laid out as InfluxDB 2.x lays them out.
//!
//! ```text
//! engine/data/<bucketID hex>/autogen/<shardID>/   %09d-%09d.tsm, %09d-%09d.tombstone
//! engine/wal/<bucketID hex>/autogen/<shardID>/    _%05d.wal
//! ```
//!
//! Write: validate field types against the index (conflicts are dropped and reported), charge
//! the memory budget, append the WAL entry and insert into the cache under a shared gate, then
//! wait for the group-commit fsync. Snapshot: under the exclusive gate roll the WAL and move the
//! cache aside, write a TSM file of a new generation with sequence 1 (`.tsm.tmp`, fsync, rename,
//! directory fsync), then drop the snapshot and the WAL segments it covered.
//!
//! Compaction (level-planned, see [`Shard::compact`]) merges consecutive files into the highest
//! input generation with sequence `max + 1`
//! (newest file wins on equal timestamps, tombstones applied), written the same crash-safe way;
//! inputs and their tombstones are deleted only after the output is durable. A crash between
//! leaves inputs beside an output holding the same data, which reads merge identically.
//!
//! Delete: log a delete-range entry in the WAL (so replay evicts what it covered from the
//! cache), tombstone every file holding an affected key, evict the cache.
//! Snapshot, compaction and delete are serialised by one maintenance lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use crate::cache::{Cache, CacheFull, MemoryBudget};
use crate::catalog::{BucketId, ShardId};
use crate::index::{FieldConflict, SeriesIndex, escaped_measurement};
use crate::points::{FieldType, Point, split_tsm_key};
use crate::tsmio::{self, TsmFile, TsmIoError};
use crate::values::Values;
use crate::wal::{self, Wal, WalEntry, WalError};

mod window;

/// Errors of a shard.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// WAL failure.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// TSM file failure.
    #[error(transparent)]
    Tsm(#[from] TsmIoError),
    /// Cache bound reached.
    #[error(transparent)]
    CacheFull(#[from] CacheFull),
    /// The shard object was replaced by a restore; write to the engine's current object.
    #[error("shard {0} was replaced by a restore")]
    Retired(ShardId),
    /// Directory operations.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn io_err(path: &Path, source: std::io::Error) -> ShardError {
    ShardError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Outcome of writing points to a shard.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ShardWrite {
    /// Points written.
    pub points: usize,
    /// Field values written.
    pub values: usize,
    /// Points dropped for a field type conflict.
    pub dropped: usize,
    /// The first conflict, for the error message.
    pub conflict: Option<FieldConflict>,
}

/// One shard.
pub struct Shard {
    /// Bucket.
    pub bucket: BucketId,
    /// Shard ID.
    pub id: ShardId,
    data_dir: PathBuf,
    wal: Wal,
    cache: Cache,
    index: RwLock<SeriesIndex>,
    files: RwLock<Vec<Arc<TsmFile>>>,
    /// Writers hold it shared from WAL append to cache insert; a snapshot start holds it
    /// exclusively, so every entry of a rolled segment is in the snapshot taken with it.
    gate: RwLock<()>,
    maint: Mutex<()>,
    last_write: Mutex<Instant>,
    next_generation: AtomicU64,
    /// Set when a restore replaced this shard object by a new one over the same directory:
    /// snapshots, compactions and deletes of this object then do nothing.
    retired: std::sync::atomic::AtomicBool,
}

impl Shard {
    /// Opens (creating) a shard: removes leftover temporary files, opens TSM files (renaming
    /// unreadable ones to `.bad`), replays the WAL into the cache and rebuilds the index.
    pub fn open(
        bucket: BucketId,
        id: ShardId,
        data_dir: &Path,
        wal_dir: &Path,
        budget: Arc<MemoryBudget>,
        wal_segment_size: u64,
    ) -> Result<Shard, ShardError> {
        wal::create_dir_durable(data_dir).map_err(|e| io_err(data_dir, e))?;
        let mut files = Vec::new();
        for e in fs::read_dir(data_dir).map_err(|e| io_err(data_dir, e))? {
            let e = e.map_err(|e| io_err(data_dir, e))?;
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                if path.is_dir() {
                    fs::remove_dir_all(&path).map_err(|e| io_err(&path, e))?;
                } else {
                    fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
                }
                continue;
            }
            if tsmio::parse_file_name(&name).is_none() {
                continue;
            }
            match TsmFile::open(&path) {
                Ok(f) => files.push(Arc::new(f)),
                Err(e) if e.is_corrupt() => {
                    let bad = path.with_extension("tsm.bad");
                    fs::rename(&path, &bad).map_err(|e| io_err(&path, e))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        files.sort_by_key(|f| (f.generation(), f.sequence()));
        let next_generation = files.iter().map(|f| f.generation()).max().unwrap_or(0) + 1;

        let (wal, entries) = Wal::open_with_segment_size(wal_dir, wal_segment_size)?;
        let cache = Cache::new(budget);
        for entry in entries {
            match entry {
                WalEntry::Write(batch) => {
                    let _ = cache.write(batch, true);
                }
                WalEntry::Delete(keys) => {
                    let keys: BTreeSet<Vec<u8>> = keys.into_iter().collect();
                    cache.delete_range(&|k| keys.contains(k), i64::MIN, i64::MAX);
                }
                WalEntry::DeleteRange { min, max, keys } => {
                    let keys: BTreeSet<Vec<u8>> = keys.into_iter().collect();
                    cache.delete_range(&|k| keys.contains(k), min, max);
                }
            }
        }
        let shard = Shard {
            bucket,
            id,
            data_dir: data_dir.to_path_buf(),
            wal,
            cache,
            index: RwLock::new(SeriesIndex::new()),
            files: RwLock::new(files),
            gate: RwLock::new(()),
            maint: Mutex::new(()),
            last_write: Mutex::new(Instant::now()),
            next_generation: AtomicU64::new(next_generation),
            retired: std::sync::atomic::AtomicBool::new(false),
        };
        shard.rebuild_index();
        Ok(shard)
    }

    /// Rebuilds the series index from TSM keys and cached keys.
    pub fn rebuild_index(&self) {
        let mut ix = SeriesIndex::new();
        for f in self.files.read().iter() {
            for k in f.keys() {
                // A key wholly tombstoned holds no data.
                if !f.fully_deleted(&k.key) {
                    ix.add_tsm_key(&k.key, k.field_type);
                }
            }
        }
        for k in self.cache.keys() {
            if let Some(v) = self.cache.values(&k, i64::MIN, i64::MAX)
                && !v.is_empty()
            {
                ix.add_tsm_key(&k, v.field_type());
            }
        }
        *self.index.write() = ix;
    }

    /// Shard data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// WAL directory.
    pub fn wal_dir(&self) -> &Path {
        self.wal.dir()
    }

    /// The series index (read-locked).
    pub fn index(&self) -> parking_lot::RwLockReadGuard<'_, SeriesIndex> {
        self.index.read()
    }

    /// The TSM files, oldest first.
    pub fn files(&self) -> Vec<Arc<TsmFile>> {
        self.files.read().clone()
    }

    /// Bytes in the cache.
    pub fn cache_size(&self) -> u64 {
        self.cache.size()
    }

    /// Time since the last write.
    pub fn idle_for(&self) -> std::time::Duration {
        self.last_write.lock().elapsed()
    }

    /// Writes points: field type conflicts are dropped (counted), the rest logged and cached.
    pub fn write_points(&self, points: &[&Point]) -> Result<ShardWrite, ShardError> {
        let mut out = ShardWrite::default();
        // Steady state: every series and field is known with the same type. Checking that
        // under the shared lock lets concurrent writers validate in parallel; anything new or
        // conflicting takes the exclusive path, which records it.
        //
        // The index stays read-locked until the values are in the cache, so a delete (which
        // drops emptied series under the write lock) cannot slip between validation and
        // insertion and leave cached data whose series the index forgot.
        let ix = self.index.read();
        let all_known = points.iter().all(|p| {
            let m = &p.series_key[..p.measurement_len];
            ix.has_series(&p.series_key)
                && p.fields
                    .iter()
                    .all(|(k, v)| ix.field_type(m, k) == Some(v.field_type()))
        });
        let (ix, keep) = if all_known {
            (ix, vec![true; points.len()])
        } else {
            drop(ix);
            let mut w = self.index.write();
            let keep: Vec<bool> = points
                .iter()
                .map(|p| validate(&mut w, p, &mut out))
                .collect();
            (parking_lot::RwLockWriteGuard::downgrade(w), keep)
        };
        let kept: Vec<&Point> = points
            .iter()
            .zip(keep)
            .filter_map(|(p, k)| k.then_some(*p))
            .collect();
        let batch = batch_values(&kept, &mut out);
        if batch.is_empty() {
            return Ok(out);
        }
        let seq = self.append_batch(batch)?;
        drop(ix);
        self.wal.sync(seq)?;
        Ok(out)
    }

    /// Logs and caches a batch of values; returns after the WAL fsync covering it.
    pub fn write_batch(&self, batch: Vec<(Vec<u8>, Values)>) -> Result<(), ShardError> {
        let seq = self.append_batch(batch)?;
        self.wal.sync(seq)?;
        Ok(())
    }

    /// Appends a batch to the WAL (not yet fsynced) and inserts it into the cache; returns
    /// the WAL sequence number to wait for.
    fn append_batch(&self, batch: Vec<(Vec<u8>, Values)>) -> Result<u64, ShardError> {
        let framed = WalEntry::encode_write(&batch)?;
        let bytes = Cache::batch_size(&batch);
        self.cache.reserve(bytes)?;
        let seq = {
            let _g = self.gate.read();
            if self.is_retired() {
                self.cache.unreserve(bytes);
                return Err(ShardError::Retired(self.id));
            }
            let appended = self.wal.append(&framed);
            wal::recycle(framed);
            match appended {
                Ok(seq) => {
                    self.cache.insert_reserved(batch, bytes);
                    seq
                }
                Err(e) => {
                    self.cache.unreserve(bytes);
                    return Err(e.into());
                }
            }
        };
        *self.last_write.lock() = Instant::now();
        Ok(seq)
    }

    /// Values of a TSM key in `[min, max]`, merged across files (oldest first, tombstones
    /// applied per file) and the cache, newest winning on equal timestamps.
    pub fn read(&self, key: &[u8], min: i64, max: i64) -> Result<Option<Values>, ShardError> {
        // The cache is read before the file list: a snapshot finishing in between moves
        // values from the cache into a new file, which the file list then includes. Read the
        // other way round, such values could be in neither.
        let cached = self.cache.values(key, min, max);
        let files = self.files();
        let mut out: Option<Values> = None;
        for f in &files {
            if let Some(v) = f.read(key, min, max)? {
                merge_into(&mut out, v);
            }
        }
        if let Some(v) = cached {
            merge_into(&mut out, v);
        }
        Ok(out)
    }

    /// Writes the cache to a new TSM file and drops the WAL segments it covered.
    /// Returns the file written, if any.
    pub fn snapshot(&self) -> Result<Option<PathBuf>, ShardError> {
        let _m = self.maint.lock();
        if self.is_retired() {
            return Ok(None);
        }
        let (closed, snap) = {
            let _g = self.gate.write();
            let closed = self.wal.roll()?;
            (closed, self.cache.begin_snapshot())
        };
        let Some(snap) = snap else {
            self.wal.remove_segments_upto(closed)?;
            return Ok(None);
        };
        let generation = self.next_generation.fetch_add(1, Ordering::SeqCst);
        let path = self.data_dir.join(tsmio::file_name(generation, 1));
        let entries = snap
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()));
        // An all-deleted snapshot writes no file; its WAL segments still go.
        self.install(&path, entries)?;
        self.cache.commit_snapshot();
        self.wal.remove_segments_upto(closed)?;
        Ok(Some(path))
    }

    /// Writes the file crash-safely (see [`tsmio::write_file`]), opens it and adds it to the
    /// file set. `None` when there was nothing to write.
    fn install<I: IntoIterator<Item = (Vec<u8>, Values)>>(
        &self,
        path: &Path,
        entries: I,
    ) -> Result<Option<Arc<TsmFile>>, ShardError> {
        if tsmio::write_file(path, entries)?.is_none() {
            return Ok(None);
        }
        let f = Arc::new(TsmFile::open(path)?);
        let mut files = self.files.write();
        files.push(Arc::clone(&f));
        files.sort_by_key(|f| (f.generation(), f.sequence()));
        Ok(Some(f))
    }

    /// Merges TSM files. `full`: all files into one (when there are several, or tombstones to
    /// purge). Otherwise by level, as InfluxDB's planner: the first run of at least `threshold`
    /// consecutive files of one level (level = sequence, capped at 4) is merged (at most
    /// `2 * threshold` of them) into the next level. Inputs are always consecutive in file
    /// order, so the output's name (highest input generation, highest sequence + 1) keeps
    /// "newer file wins" true. Returns the output path when a compaction ran.
    pub fn compact(&self, full: bool, threshold: usize) -> Result<Option<PathBuf>, ShardError> {
        let _m = self.maint.lock();
        if self.is_retired() {
            return Ok(None);
        }
        let files = self.files();
        let inputs: Vec<Arc<TsmFile>> = if full {
            if files.len() > 1 || files.iter().any(|f| f.has_tombstones()) {
                files
            } else {
                Vec::new()
            }
        } else {
            plan_level(&files, threshold)
                .map(|r| files[r].to_vec())
                .unwrap_or_default()
        };
        if inputs.is_empty() {
            return Ok(None);
        }
        let generation = inputs.iter().map(|f| f.generation()).max().unwrap_or(1);
        let sequence = inputs.iter().map(|f| f.sequence()).max().unwrap_or(1) + 1;
        let path = self.data_dir.join(tsmio::file_name(generation, sequence));
        let mut keys: BTreeMap<Vec<u8>, ()> = BTreeMap::new();
        for f in &inputs {
            for k in f.keys() {
                keys.insert(k.key.clone(), ());
            }
        }
        let merged = keys.into_keys().filter_map(|k| {
            let mut acc: Option<Values> = None;
            for f in &inputs {
                match f.read(&k, i64::MIN, i64::MAX) {
                    Ok(Some(v)) => merge_into(&mut acc, v),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
            }
            acc.filter(|v| !v.is_empty()).map(|v| Ok((k, v)))
        });
        if tsmio::try_write_file(&path, merged)?.is_none() {
            // Everything was deleted: the inputs go, nothing replaces them.
            let mut files = self.files.write();
            files.retain(|f| !inputs.iter().any(|i| Arc::ptr_eq(i, f)));
            drop(files);
            self.remove_files(&inputs)?;
            return Ok(None);
        }
        let out = Arc::new(TsmFile::open(&path)?);
        {
            let mut files = self.files.write();
            files.retain(|f| !inputs.iter().any(|i| Arc::ptr_eq(i, f)));
            files.push(out);
            files.sort_by_key(|f| (f.generation(), f.sequence()));
        }
        self.remove_files(&inputs)?;
        Ok(Some(path))
    }

    /// Deletes compacted input files and their tombstones, then fsyncs the directory.
    fn remove_files(&self, inputs: &[Arc<TsmFile>]) -> Result<(), ShardError> {
        for f in inputs {
            let tomb = tsmio::tombstone_path(f.path());
            match fs::remove_file(&tomb) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&tomb, e)),
            }
            fs::remove_file(f.path()).map_err(|e| io_err(f.path(), e))?;
        }
        wal::sync_dir(&self.data_dir).map_err(|e| io_err(&self.data_dir, e))
    }

    /// Deletes `[min, max]` of every TSM key for which `matches(key)` holds: WAL entry,
    /// tombstones on files, cache eviction; series left without data leave the index.
    /// Returns the number of keys affected.
    pub fn delete(
        &self,
        matches: &dyn Fn(&[u8]) -> bool,
        min: i64,
        max: i64,
    ) -> Result<usize, ShardError> {
        let _m = self.maint.lock();
        if self.is_retired() {
            return Ok(0);
        }
        let all_keys: BTreeSet<Vec<u8>> = {
            let mut keys = BTreeSet::new();
            for f in self.files().iter() {
                for k in f.keys() {
                    keys.insert(k.key.clone());
                }
            }
            keys.extend(self.cache.keys());
            keys
        };
        let keys: Vec<Vec<u8>> = all_keys.iter().filter(|k| matches(k)).cloned().collect();
        if keys.is_empty() {
            return Ok(0);
        }
        // Log and evict under the exclusive gate so that no write lands between the two:
        // replay then reproduces exactly the live state.
        {
            let _g = self.gate.write();
            self.wal.write(&WalEntry::DeleteRange {
                min,
                max,
                keys: keys.clone(),
            })?;
            let set: BTreeSet<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
            self.cache.delete_range(&|k| set.contains(k), min, max);
        }
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        for f in self.files().iter() {
            f.delete_range(&refs, min, max)?;
        }
        // Drop series with nothing left. Checked under the index write lock, which writers
        // hold (shared) from validation until their values are cached: a concurrent write
        // either is visible here or re-adds its series when it validates.
        let mut series: BTreeSet<String> = BTreeSet::new();
        for k in &keys {
            if let Some((s, _)) = split_tsm_key(k) {
                series.insert(String::from_utf8_lossy(s).into_owned());
            }
        }
        let mut ix = self.index.write();
        for s in &series {
            let fields = ix.field_keys(escaped_measurement(s));
            let has_data = fields.iter().any(|f| {
                self.read(&crate::points::tsm_key(s, f), i64::MIN, i64::MAX)
                    .ok()
                    .flatten()
                    .is_some_and(|v| !v.is_empty())
            });
            if !has_data {
                ix.remove_series(s);
            }
        }
        Ok(keys.len())
    }

    /// Holds off snapshots, compactions and deletes of this shard while the guard lives, so
    /// that its file set and WAL stay as they are (a restore switching the shard directory).
    pub fn pause_maintenance(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.maint.lock()
    }

    /// Holds off writes to this shard object while the guard lives: writers already past
    /// the gate have their entries in the WAL file and cache, later ones wait. A restore holds
    /// it from the directory switch until the new object has replayed the WAL and this one
    /// is retired, so no acknowledged write lands only in the replaced object.
    pub fn block_writes(&self) -> parking_lot::RwLockWriteGuard<'_, ()> {
        self.gate.write()
    }

    /// Marks this shard object replaced (see [`Shard::pause_maintenance`]): from now on its
    /// snapshots, compactions and deletes do nothing and its writes fail with
    /// [`ShardError::Retired`] (the engine retries them on its new object); the new object
    /// owns the files.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// Snapshots the cache so that the files hold every write (backup, close).
    pub fn flush(&self) -> Result<(), ShardError> {
        self.snapshot().map(|_| ())
    }

    /// Drops the cache contents from the memory budget (shard removal).
    pub fn release_memory(&self) {
        self.cache.clear();
    }
}

/// One WAL entry's worth of values: one run per TSM key, in no particular order (a key
/// appears once: InfluxDB's WAL reader keeps only the last run of a repeated key).
///
/// The common batch names each series once with distinct fields, so every (series, field)
/// pair is already unique and the runs are built straight into a vector; only a batch that
/// repeats a series (or a field within a line) is grouped through a map.
fn batch_values(points: &[&Point], out: &mut ShardWrite) -> Vec<(Vec<u8>, Values)> {
    let mut seen: foldhash::HashSet<&str> = foldhash::HashSet::default();
    seen.reserve(points.len());
    let unique = points.iter().all(|p| {
        seen.insert(p.series_key.as_str())
            && p.fields
                .iter()
                .enumerate()
                .all(|(i, (k, _))| p.fields[..i].iter().all(|(o, _)| o != k))
    });
    let sep = crate::points::FIELD_SEPARATOR;
    let key_of = |p: &Point, field: &str| {
        let mut key = Vec::with_capacity(p.series_key.len() + sep.len() + field.len());
        key.extend_from_slice(p.series_key.as_bytes());
        key.extend_from_slice(sep);
        key.extend_from_slice(field.as_bytes());
        key
    };
    out.points += points.len();
    if unique {
        let n = points.iter().map(|p| p.fields.len()).sum();
        out.values += n;
        let mut batch = Vec::with_capacity(n);
        for p in points {
            for (k, v) in &p.fields {
                batch.push((key_of(p, k), Values::single(p.time, v)));
            }
        }
        return batch;
    }
    let mut batch: foldhash::HashMap<Vec<u8>, Values> = foldhash::HashMap::default();
    for p in points {
        for (k, v) in &p.fields {
            match batch.entry(key_of(p, k)) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.get_mut().push(p.time, v);
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Values::single(p.time, v));
                }
            }
            out.values += 1;
        }
    }
    batch.into_iter().collect()
}

/// Checks a point's field types against the index (recording new fields and the series);
/// `false` (counted in `out`) when a field's type conflicts, so the point is dropped whole.
fn validate(ix: &mut SeriesIndex, p: &Point, out: &mut ShardWrite) -> bool {
    let m = &p.series_key[..p.measurement_len];
    let mut new_fields: Vec<(&str, FieldType)> = Vec::new();
    for (k, v) in &p.fields {
        let t = v.field_type();
        let known = ix
            .field_type(m, k)
            .or_else(|| new_fields.iter().find(|f| f.0 == k).map(|f| f.1));
        if let Some(existing) = known
            && existing != t
        {
            out.dropped += 1;
            if out.conflict.is_none() {
                out.conflict = Some(FieldConflict {
                    measurement: p.measurement(),
                    field: k.clone(),
                    input: t,
                    existing,
                });
            }
            return false;
        }
        if known.is_none() {
            new_fields.push((k, t));
        }
    }
    for (k, t) in new_fields {
        // Cannot conflict: checked above under the same lock.
        let _ = ix.check_field(m, k, t);
    }
    if !ix.has_series(&p.series_key) {
        ix.add_series(&p.series_key);
    }
    true
}

/// The level of a file: its sequence, capped at 4 (InfluxDB's "full" level).
pub fn level(f: &TsmFile) -> u64 {
    f.sequence().min(4)
}

/// The files (a range of `files`, in file order) of the next level compaction, if any.
pub fn plan_level(files: &[Arc<TsmFile>], threshold: usize) -> Option<std::ops::Range<usize>> {
    let t = threshold.max(2);
    let mut i = 0;
    while i < files.len() {
        let l = level(&files[i]);
        let mut j = i;
        while j < files.len() && level(&files[j]) == l {
            j += 1;
        }
        if j - i >= t {
            return Some(i..i + (j - i).min(2 * t));
        }
        i = j;
    }
    None
}

fn merge_into(acc: &mut Option<Values>, newer: Values) {
    match acc {
        None => *acc = Some(newer),
        Some(a) => {
            if a.is_empty() {
                *a = newer;
            } else if !newer.is_empty() && !a.merge(&newer) {
                // A type differing from the older data: the newer source wins outright.
                *a = newer;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(dir: &Path) -> Shard {
        Shard::open(
            1,
            1,
            &dir.join("data"),
            &dir.join("wal"),
            MemoryBudget::new(0),
            wal::SEGMENT_SIZE,
        )
        .unwrap()
    }

    fn names(s: &Shard) -> Vec<String> {
        s.files()
            .iter()
            .map(|f| f.path().file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn level_compactions_keep_newest_values_and_name_files_as_influxdb() {
        let dir = tempfile::tempdir().unwrap();
        let s = shard(dir.path());
        // Nine snapshots, each overwriting time 0 and adding its own time.
        for g in 1..=9i64 {
            s.write_batch(vec![(
                b"m#!~#v".to_vec(),
                Values::Integer(vec![(0, g), (g, g)]),
            )])
            .unwrap();
            s.snapshot().unwrap();
        }
        assert_eq!(names(&s).len(), 9);
        // Level 1 -> 2: the first run of >= 4 level-1 files (up to 8) is merged.
        let out = s.compact(false, 4).unwrap().unwrap();
        assert_eq!(out.file_name().unwrap(), "000000008-000000002.tsm");
        assert_eq!(
            names(&s),
            vec!["000000008-000000002.tsm", "000000009-000000001.tsm"]
        );
        assert_eq!(s.compact(false, 4).unwrap(), None);
        let want = Values::Integer((0..=9).map(|t| (t, if t == 0 { 9 } else { t })).collect());
        assert_eq!(
            s.read(b"m#!~#v", i64::MIN, i64::MAX).unwrap(),
            Some(want.clone())
        );
        // Full: everything into one file of the highest generation.
        let out = s.compact(true, 4).unwrap().unwrap();
        assert_eq!(out.file_name().unwrap(), "000000009-000000003.tsm");
        assert_eq!(names(&s), vec!["000000009-000000003.tsm"]);
        drop(s);
        let s = shard(dir.path());
        assert_eq!(s.read(b"m#!~#v", i64::MIN, i64::MAX).unwrap(), Some(want));
    }

    #[test]
    fn crash_between_compaction_rename_and_input_removal_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let s = shard(dir.path());
        for g in 1..=2i64 {
            s.write_batch(vec![(
                b"m#!~#v".to_vec(),
                Values::Float(vec![(0, g as f64), (g, 1.0)]),
            )])
            .unwrap();
            s.snapshot().unwrap();
        }
        let inputs: Vec<(PathBuf, Vec<u8>)> = s
            .files()
            .iter()
            .map(|f| (f.path().to_path_buf(), fs::read(f.path()).unwrap()))
            .collect();
        s.compact(true, 4).unwrap().unwrap();
        drop(s);
        // Put the inputs back as if the process died before deleting them.
        for (p, b) in &inputs {
            fs::write(p, b).unwrap();
        }
        fs::write(
            dir.path().join("data").join("000000003-000000001.tsm.tmp"),
            b"partial",
        )
        .unwrap();
        fs::write(
            dir.path().join("data").join("000000004-000000001.tsm"),
            b"\x16\xd1\x16\xd1\x01garbage",
        )
        .unwrap();
        let s = shard(dir.path());
        assert_eq!(names(&s).len(), 3);
        assert!(
            dir.path()
                .join("data")
                .join("000000004-000000001.tsm.bad")
                .exists()
        );
        assert!(
            !dir.path()
                .join("data")
                .join("000000003-000000001.tsm.tmp")
                .exists()
        );
        assert_eq!(
            s.read(b"m#!~#v", i64::MIN, i64::MAX).unwrap(),
            Some(Values::Float(vec![(0, 2.0), (1, 1.0), (2, 1.0)]))
        );
    }
}
