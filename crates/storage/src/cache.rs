//! In-memory cache of one shard: TSM key -> typed values written since the last snapshot.
//!
//! Writers append unsorted; reads and snapshots sort and deduplicate (newest wins on equal
//! timestamps). Every cache charges its bytes to one [`MemoryBudget`] shared by all shards of
//! the engine; a write that would take the total past `max_memory_bytes` is refused with
//! [`CacheFull`] before anything is written (the server answers 503), so memory stays bounded.
//!
//! A snapshot moves the current contents aside ([`Cache::begin_snapshot`]); new writes go to a
//! fresh map while the snapshot is written to a TSM file, and reads see both. Once the file is
//! durable [`Cache::commit_snapshot`] drops the snapshot and returns its bytes; if writing
//! failed, the next `begin_snapshot` takes the old snapshot along.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::values::Values;

/// Memory shared by all caches of an engine.
#[derive(Debug)]
pub struct MemoryBudget {
    used: AtomicU64,
    max: u64,
}

/// A write was refused because the caches hold `max_memory_bytes` already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cache-max-memory-size exceeded: ({used}/{max})")]
pub struct CacheFull {
    /// Bytes in use plus the refused write.
    pub used: u64,
    /// The bound.
    pub max: u64,
}

impl MemoryBudget {
    /// A budget of `max` bytes; 0 means unbounded.
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(MemoryBudget {
            used: AtomicU64::new(0),
            max,
        })
    }

    /// Charges `n` bytes, or refuses when that would exceed the bound.
    pub fn reserve(&self, n: u64) -> Result<(), CacheFull> {
        let prev = self.used.fetch_add(n, Ordering::AcqRel);
        if self.max > 0 && prev + n > self.max {
            self.used.fetch_sub(n, Ordering::AcqRel);
            return Err(CacheFull {
                used: prev + n,
                max: self.max,
            });
        }
        Ok(())
    }

    /// Charges `n` bytes unconditionally (WAL replay must not fail on the bound).
    pub fn force(&self, n: u64) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Returns `n` bytes.
    pub fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes in use.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The bound (0 = none).
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// A snapshot being written to TSM: sorted, deduplicated values per key.
pub type Snapshot = Arc<Vec<(Vec<u8>, Values)>>;

struct Inner {
    store: foldhash::HashMap<Vec<u8>, Values>,
    store_bytes: u64,
    snapshot: Option<Snapshot>,
    snapshot_bytes: u64,
}

/// The cache of one shard.
pub struct Cache {
    inner: RwLock<Inner>,
    budget: Arc<MemoryBudget>,
}

impl Cache {
    /// An empty cache charging `budget`.
    pub fn new(budget: Arc<MemoryBudget>) -> Self {
        Cache {
            inner: RwLock::new(Inner {
                store: foldhash::HashMap::default(),
                store_bytes: 0,
                snapshot: None,
                snapshot_bytes: 0,
            }),
            budget,
        }
    }

    /// Bytes a batch would take.
    pub fn batch_size(batch: &[(Vec<u8>, Values)]) -> u64 {
        batch.iter().map(|(k, v)| (k.len() + v.size()) as u64).sum()
    }

    /// Charges the budget for a batch; call before logging it to the WAL.
    pub fn reserve(&self, bytes: u64) -> Result<(), CacheFull> {
        self.budget.reserve(bytes)
    }

    /// Returns bytes reserved for a batch that was not inserted.
    pub fn unreserve(&self, bytes: u64) {
        self.budget.release(bytes);
    }

    /// Appends a batch whose bytes were reserved (or `force`d). Values of a type other than
    /// the key's existing type are skipped (the shard's field index prevents this).
    pub fn insert_reserved(&self, batch: Vec<(Vec<u8>, Values)>, bytes: u64) {
        let mut g = self.inner.write();
        g.store_bytes += bytes;
        for (k, v) in batch {
            match g.store.entry(k) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.get_mut().extend(&v);
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }

    /// Reserves and appends (used by replay with `force = true`).
    pub fn write(&self, batch: Vec<(Vec<u8>, Values)>, force: bool) -> Result<(), CacheFull> {
        let bytes = Self::batch_size(&batch);
        if force {
            self.budget.force(bytes);
        } else {
            self.budget.reserve(bytes)?;
        }
        self.insert_reserved(batch, bytes);
        Ok(())
    }

    /// Bytes held (store and snapshot).
    pub fn size(&self) -> u64 {
        let g = self.inner.read();
        g.store_bytes + g.snapshot_bytes
    }

    /// Bytes held by the live store only.
    pub fn store_size(&self) -> u64 {
        self.inner.read().store_bytes
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        let g = self.inner.read();
        g.store.is_empty() && g.snapshot.as_ref().is_none_or(|s| s.is_empty())
    }

    /// Every key held (store and snapshot), unsorted, deduplicated.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let g = self.inner.read();
        let mut keys: Vec<Vec<u8>> = g.store.keys().cloned().collect();
        if let Some(s) = &g.snapshot {
            keys.extend(s.iter().map(|(k, _)| k.clone()));
            keys.sort_unstable();
            keys.dedup();
        }
        keys
    }

    /// Values of a key with `min <= t <= max`, sorted, newest write winning.
    pub fn values(&self, key: &[u8], min: i64, max: i64) -> Option<Values> {
        let g = self.inner.read();
        let mut out: Option<Values> = None;
        if let Some(s) = &g.snapshot
            && let Ok(i) = s.binary_search_by(|(k, _)| k.as_slice().cmp(key))
        {
            out = Some(s[i].1.clone());
        }
        if let Some(v) = g.store.get(key) {
            match &mut out {
                Some(o) => {
                    o.extend(v);
                }
                None => out = Some(v.clone()),
            }
        }
        drop(g);
        let mut out = out?;
        out.sort_dedup();
        out.retain_range(min, max);
        Some(out)
    }

    /// Moves the store aside as a sorted snapshot and returns it (merged with a snapshot left
    /// by a failed attempt). Returns `None` when there is nothing to snapshot.
    pub fn begin_snapshot(&self) -> Option<Snapshot> {
        let mut g = self.inner.write();
        if g.store.is_empty() {
            return g.snapshot.clone();
        }
        // Keep the table size: the next interval writes about as many keys, and growing a
        // table from empty rehashes every key several times.
        let cap = g.store.len();
        let store = std::mem::replace(
            &mut g.store,
            foldhash::HashMap::with_capacity_and_hasher(cap, Default::default()),
        );
        let bytes = std::mem::take(&mut g.store_bytes);
        let mut map: foldhash::HashMap<Vec<u8>, Values> = foldhash::HashMap::default();
        if let Some(old) = g.snapshot.take() {
            map.extend(old.iter().cloned());
        }
        for (k, v) in store {
            match map.get_mut(&k) {
                Some(e) => {
                    e.extend(&v);
                }
                None => {
                    map.insert(k, v);
                }
            }
        }
        let mut snap: Vec<(Vec<u8>, Values)> = map.into_iter().collect();
        snap.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (_, v) in &mut snap {
            v.sort_dedup();
        }
        let snap = Arc::new(snap);
        g.snapshot = Some(Arc::clone(&snap));
        g.snapshot_bytes += bytes;
        Some(snap)
    }

    /// Drops the snapshot once its TSM file is durable, returning its bytes to the budget.
    pub fn commit_snapshot(&self) {
        let mut g = self.inner.write();
        g.snapshot = None;
        let bytes = std::mem::take(&mut g.snapshot_bytes);
        drop(g);
        self.budget.release(bytes);
    }

    /// Removes values with `min <= t <= max` of every key for which `matches` holds.
    pub fn delete_range(&self, matches: &dyn Fn(&[u8]) -> bool, min: i64, max: i64) {
        let mut g = self.inner.write();
        let mut freed = 0u64;
        g.store.retain(|k, v| {
            if !matches(k) {
                return true;
            }
            let before = v.size();
            v.exclude(min, max);
            freed += (before - v.size()) as u64;
            if v.is_empty() {
                freed += k.len() as u64;
                false
            } else {
                true
            }
        });
        if g.store.is_empty() {
            // Key bytes are charged per write, not per key: an empty store frees them all.
            freed = g.store_bytes;
        }
        let freed = freed.min(g.store_bytes);
        g.store_bytes -= freed;
        if let Some(s) = g.snapshot.take() {
            let mut s: Vec<(Vec<u8>, Values)> = s.iter().cloned().collect();
            for (k, v) in &mut s {
                if matches(k) {
                    v.exclude(min, max);
                }
            }
            s.retain(|(_, v)| !v.is_empty());
            g.snapshot = Some(Arc::new(s));
        }
        drop(g);
        self.budget.release(freed);
    }

    /// Drops everything (shard removal), returning the bytes to the budget.
    pub fn clear(&self) {
        let mut g = self.inner.write();
        let bytes = g.store_bytes + g.snapshot_bytes;
        g.store.clear();
        g.store_bytes = 0;
        g.snapshot = None;
        g.snapshot_bytes = 0;
        drop(g);
        self.budget.release(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn reads_sorted_newest_wins() {
        let c = Cache::new(MemoryBudget::new(0));
        c.write(
            vec![(k("a"), Values::Float(vec![(3, 3.0), (1, 1.0)]))],
            false,
        )
        .unwrap();
        c.write(
            vec![(k("a"), Values::Float(vec![(1, 10.0), (2, 2.0)]))],
            false,
        )
        .unwrap();
        assert_eq!(
            c.values(b"a", i64::MIN, i64::MAX),
            Some(Values::Float(vec![(1, 10.0), (2, 2.0), (3, 3.0)]))
        );
        assert_eq!(c.values(b"a", 2, 2), Some(Values::Float(vec![(2, 2.0)])));
        assert_eq!(c.values(b"b", i64::MIN, i64::MAX), None);
    }

    #[test]
    fn bound_refuses_writes_and_snapshot_commit_frees() {
        let budget = MemoryBudget::new(100);
        let c = Cache::new(Arc::clone(&budget));
        let batch = || vec![(k("key"), Values::Integer(vec![(1, 1), (2, 2)]))]; // 3 + 32 bytes
        c.write(batch(), false).unwrap();
        c.write(batch(), false).unwrap();
        let err = c.write(batch(), false).unwrap_err();
        assert_eq!(
            err,
            CacheFull {
                used: 105,
                max: 100
            }
        );
        assert_eq!(budget.used(), 70);
        let snap = c.begin_snapshot().unwrap();
        assert_eq!(snap.len(), 1);
        // Readers still see the snapshot; the store is empty but the bytes are still held.
        assert_eq!(c.values(b"key", i64::MIN, i64::MAX).unwrap().len(), 2);
        // Snapshot bytes stay charged until the TSM file is durable.
        assert!(c.write(batch(), false).is_err());
        c.commit_snapshot();
        assert_eq!(budget.used(), 0);
        c.write(batch(), false).unwrap();
        assert_eq!(budget.used(), 35);
    }

    #[test]
    fn failed_snapshot_is_taken_along() {
        let c = Cache::new(MemoryBudget::new(0));
        c.write(vec![(k("a"), Values::Integer(vec![(1, 1)]))], false)
            .unwrap();
        let _first = c.begin_snapshot().unwrap();
        c.write(
            vec![
                (k("a"), Values::Integer(vec![(1, 5), (2, 2)])),
                (k("b"), Values::Boolean(vec![(1, true)])),
            ],
            false,
        )
        .unwrap();
        let second = c.begin_snapshot().unwrap();
        assert_eq!(
            *second,
            vec![
                (k("a"), Values::Integer(vec![(1, 5), (2, 2)])),
                (k("b"), Values::Boolean(vec![(1, true)]))
            ]
        );
    }

    #[test]
    fn delete_range_evicts() {
        let budget = MemoryBudget::new(0);
        let c = Cache::new(Arc::clone(&budget));
        c.write(
            vec![
                (k("a"), Values::Integer(vec![(1, 1), (2, 2), (3, 3)])),
                (k("b"), Values::Integer(vec![(1, 1)])),
            ],
            false,
        )
        .unwrap();
        c.delete_range(&|key| key == b"a", 2, 5);
        assert_eq!(
            c.values(b"a", i64::MIN, i64::MAX),
            Some(Values::Integer(vec![(1, 1)]))
        );
        c.delete_range(&|_| true, i64::MIN, i64::MAX);
        assert!(c.is_empty());
        assert_eq!(budget.used(), 0);
    }
}
