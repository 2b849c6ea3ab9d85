//! Window aggregates computed inside one shard from its TSM blocks and cache, for the engine's
//! pushed-down `aggregateWindow` (see `engine::aggregate`): counts from block headers, and the
//! clean block lists that the engine folds into running aggregates without merging points.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Shard, ShardError};
use crate::points::FieldType;
use crate::tsmio::TsmFile;
use crate::values::Values;

impl Shard {
    /// Counts the points of `key` in `[min, max]` per window `[w, w + every)` aligned to
    /// `offset`, adding into `counts` (window start -> count). Blocks lying inside one window
    /// are counted from their timestamp header without decoding values; this needs the key's
    /// data to be in files only, without tombstones or blocks overlapping in time (else the
    /// points are read and counted one by one, which is always right).
    pub fn count_windows(
        &self,
        key: &[u8],
        min: i64,
        max: i64,
        every: i64,
        offset: i64,
        counts: &mut BTreeMap<i64, i64>,
    ) -> Result<(), ShardError> {
        let window = |t: i64| t - (t - offset).rem_euclid(every);
        let count_points = |v: &Values, counts: &mut BTreeMap<i64, i64>| {
            for i in 0..v.len() {
                *counts.entry(window(v.time(i))).or_insert(0) += 1;
            }
        };
        let cached = self.cache.values(key, min, max);
        let files = self.files();
        let mut blocks: Vec<(usize, tsm::IndexEntry)> = Vec::new();
        let mut clean = cached.as_ref().is_none_or(|v| v.is_empty());
        if clean {
            for (i, f) in files.iter().enumerate() {
                if f.entry(key).is_none() {
                    continue;
                }
                match f.clean_blocks(key) {
                    Some(es) => blocks.extend(
                        es.into_iter()
                            .filter(|e| e.overlaps(min, max))
                            .map(|e| (i, e)),
                    ),
                    None => {
                        clean = false;
                        break;
                    }
                }
            }
            blocks.sort_by_key(|(_, e)| e.min_time);
            clean = clean && blocks.windows(2).all(|w| w[0].1.max_time < w[1].1.min_time);
        }
        if !clean {
            if let Some(v) = self.read(key, min, max)? {
                count_points(&v, counts);
            }
            return Ok(());
        }
        for (i, e) in blocks {
            let f = &files[i];
            let inside = e.min_time >= min && e.max_time <= max;
            if inside && window(e.min_time) == window(e.max_time) {
                *counts.entry(window(e.min_time)).or_insert(0) += f.block_point_count(&e)? as i64;
            } else if let Some(v) = f.read(key, e.min_time.max(min), e.max_time.min(max))? {
                count_points(&v, counts);
            }
        }
        Ok(())
    }
}

impl Shard {
    /// The field type and blocks of `key` overlapping `[min, max]`, in time order, when they
    /// alone hold the key's points there: the cache has none of them in the range, no
    /// tombstone touches the key and no two blocks overlap in time. `Some(None)` when no file
    /// holds the key; `None` otherwise (then only a merged read, as [`Shard::read`], is right).
    #[allow(clippy::type_complexity)]
    pub(crate) fn clean_blocks_in(
        &self,
        key: &[u8],
        min: i64,
        max: i64,
    ) -> Option<Option<(FieldType, Vec<(Arc<TsmFile>, tsm::IndexEntry)>)>> {
        // The cache first, then the file list, as `read` does.
        if self
            .cache
            .values(key, min, max)
            .is_some_and(|v| !v.is_empty())
        {
            return None;
        }
        let files = self.files();
        let mut found: Option<FieldType> = None;
        let mut blocks = Vec::new();
        for f in files.iter() {
            let Some((t, es)) = f.clean_blocks_overlapping(key, min, max)? else {
                continue;
            };
            if found.is_some_and(|ft| ft != t) {
                return None;
            }
            found = Some(t);
            blocks.extend(es.into_iter().map(|e| (Arc::clone(f), e)));
        }
        let Some(t) = found else {
            return Some(None);
        };
        blocks.sort_by_key(|(_, e)| e.min_time);
        blocks
            .windows(2)
            .all(|w| w[0].1.max_time < w[1].1.min_time)
            .then_some(Some((t, blocks)))
    }
}
