//! The shard catalogue the engine asks where a point goes: bucket + time -> shard.
//!
//! InfluxDB keeps shard groups in `meta.db` (storage-formats 6.9): per bucket a retention period
//! and a shard-group duration; each group covers `[start, end)` with `start` = time truncated to
//! the duration, and holds one shard. [`ShardCatalog`] is the engine's view of that store;
//! [`MemoryCatalog`] implements it in memory (tests, and any embedding without a KV store).

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// A bucket ID (the u64 behind InfluxDB's 16-hex-digit IDs).
pub type BucketId = u64;
/// A shard ID (decimal directory name under `autogen/`).
pub type ShardId = u64;

/// One shard and the time span of its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// Shard ID.
    pub id: ShardId,
    /// Shard group ID.
    pub group_id: u64,
    /// Group start, inclusive, ns.
    pub start: i64,
    /// Group end, exclusive, ns.
    pub end: i64,
}

/// Catalogue errors.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The bucket is not known.
    #[error("bucket {0:016x} not found")]
    BucketNotFound(BucketId),
    /// The backing store failed.
    #[error("shard catalogue: {0}")]
    Store(String),
}

/// Where shards are recorded.
pub trait ShardCatalog: Send + Sync {
    /// Retention period of a bucket in ns; 0 means infinite.
    fn retention(&self, bucket: BucketId) -> Result<i64, CatalogError>;

    /// The shard holding time `t` of `bucket`, creating its shard group when missing.
    fn shard_for(&self, bucket: BucketId, t: i64) -> Result<ShardSpec, CatalogError>;

    /// Every live shard of a bucket, ordered by start time.
    fn shards(&self, bucket: BucketId) -> Result<Vec<ShardSpec>, CatalogError>;

    /// Every bucket with at least one registered shard group.
    fn buckets(&self) -> Result<Vec<BucketId>, CatalogError>;

    /// Marks a shard group deleted (retention); its shard is then removed from disk.
    fn delete_shard_group(&self, bucket: BucketId, group_id: u64) -> Result<(), CatalogError>;
}

/// InfluxDB's default shard-group duration for a retention period (`shardGroupDuration` in
/// `v1/services/meta/data.go`): < 2 days -> 1 h, < 6 months -> 1 day, else (and infinite) 7 days.
pub fn default_shard_group_duration(retention: i64) -> i64 {
    const HOUR: i64 = 3_600_000_000_000;
    const DAY: i64 = 24 * HOUR;
    if retention == 0 || retention >= 180 * DAY {
        7 * DAY
    } else if retention >= 2 * DAY {
        DAY
    } else {
        HOUR
    }
}

/// Start of the group holding `t` (floor division, so negative times work).
pub fn group_start(t: i64, duration: i64) -> i64 {
    t - t.rem_euclid(duration)
}

#[derive(Debug, Clone)]
struct BucketEntry {
    retention: i64,
    group_duration: i64,
    groups: BTreeMap<i64, ShardSpec>,
}

/// In-memory catalogue.
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    buckets: BTreeMap<BucketId, BucketEntry>,
    next_group: u64,
    next_shard: u64,
}

impl MemoryCatalog {
    /// An empty catalogue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a bucket; `group_duration` 0 picks InfluxDB's default for `retention`.
    pub fn add_bucket(&self, bucket: BucketId, retention: i64, group_duration: i64) {
        let group_duration = if group_duration > 0 {
            group_duration
        } else {
            default_shard_group_duration(retention)
        };
        self.inner
            .lock()
            .buckets
            .entry(bucket)
            .or_insert(BucketEntry {
                retention,
                group_duration,
                groups: BTreeMap::new(),
            });
    }
}

impl ShardCatalog for MemoryCatalog {
    fn retention(&self, bucket: BucketId) -> Result<i64, CatalogError> {
        self.inner
            .lock()
            .buckets
            .get(&bucket)
            .map(|b| b.retention)
            .ok_or(CatalogError::BucketNotFound(bucket))
    }

    fn shard_for(&self, bucket: BucketId, t: i64) -> Result<ShardSpec, CatalogError> {
        let mut g = self.inner.lock();
        let inner = &mut *g;
        let b = inner
            .buckets
            .get_mut(&bucket)
            .ok_or(CatalogError::BucketNotFound(bucket))?;
        let start = group_start(t, b.group_duration);
        if let Some(s) = b.groups.get(&start) {
            return Ok(*s);
        }
        inner.next_group += 1;
        inner.next_shard += 1;
        let spec = ShardSpec {
            id: inner.next_shard,
            group_id: inner.next_group,
            start,
            end: start.saturating_add(b.group_duration),
        };
        b.groups.insert(start, spec);
        Ok(spec)
    }

    fn shards(&self, bucket: BucketId) -> Result<Vec<ShardSpec>, CatalogError> {
        let g = self.inner.lock();
        let b = g
            .buckets
            .get(&bucket)
            .ok_or(CatalogError::BucketNotFound(bucket))?;
        Ok(b.groups.values().copied().collect())
    }

    fn buckets(&self) -> Result<Vec<BucketId>, CatalogError> {
        Ok(self.inner.lock().buckets.keys().copied().collect())
    }

    fn delete_shard_group(&self, bucket: BucketId, group_id: u64) -> Result<(), CatalogError> {
        let mut g = self.inner.lock();
        let b = g
            .buckets
            .get_mut(&bucket)
            .ok_or(CatalogError::BucketNotFound(bucket))?;
        b.groups.retain(|_, s| s.group_id != group_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_truncated_spans_and_reused() {
        let c = MemoryCatalog::new();
        c.add_bucket(1, 0, 0);
        let week = 7 * 24 * 3_600_000_000_000;
        let a = c.shard_for(1, 1_704_067_200_000_000_000).unwrap();
        assert_eq!(a.start % week, 0);
        assert_eq!(a.end - a.start, week);
        assert_eq!(c.shard_for(1, a.start).unwrap(), a);
        let old = c.shard_for(1, -86_399_876_543_211).unwrap();
        assert!(old.start <= -86_399_876_543_211 && -86_399_876_543_211 < old.end);
        assert_ne!(old.id, a.id);
        assert_eq!(c.shards(1).unwrap(), vec![old, a]);
        assert!(matches!(
            c.shard_for(2, 0),
            Err(CatalogError::BucketNotFound(2))
        ));
        assert_eq!(
            default_shard_group_duration(3_600_000_000_000),
            3_600_000_000_000
        );
    }
}
