//! TSM file reader (layout in [`crate::writer`]).
//!
//! [`TsmReader::open`] memory-maps the file (memmap2) and validates it before returning:
//! magic, version, footer, that the index fits between the blocks and the footer, that every
//! key section is complete, keys strictly ascending, types known, and every index entry
//! points inside the block area. Memory mapping is used (as InfluxDB does) because blocks
//! are then read without copying, pages are loaded lazily and shared through the page cache
//! with every other reader of the same file; published TSM files are never modified in
//! place, which is what makes mapping them sound. [`TsmReader::from_vec`] reads a file held
//! in memory (for example one taken from a backup archive).
//!
//! Key lookup is a binary search over the parsed key sections. Block CRCs are checked by
//! [`TsmReader::verify`] and, if enabled with [`TsmReader::set_verify_checksums`], on every
//! read. Tombstones from the `.tombstone` file beside the TSM file are loaded at open and
//! applied as InfluxDB applies them: a key whose data is deleted entirely reads as empty and
//! is reported by [`TsmReader::is_deleted`] (InfluxDB drops it from its key list; the dump
//! does the same), partial ranges filter [`TsmReader::read_range`];
//! [`TsmReader::delete_range`] adds new ones.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::block::{self, Block, BlockType};
use crate::error::{Error, ErrorKind, Result};
use crate::tombstone::{self, Tombstone};
use crate::writer::{FOOTER_SIZE, HEADER_SIZE, INDEX_ENTRY_SIZE, IndexEntry, MAGIC, VERSION};

/// An inclusive time range `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeRange {
    /// First time.
    pub min: i64,
    /// Last time.
    pub max: i64,
}

impl TimeRange {
    /// True if `t` is inside the range.
    pub fn contains(&self, t: i64) -> bool {
        self.min <= t && t <= self.max
    }
}

enum Backing {
    Map(Mmap),
    Vec(Vec<u8>),
}

impl Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Vec(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct KeySection {
    key_at: usize,
    key_len: usize,
    typ: BlockType,
    entries_at: usize,
    count: usize,
}

/// A validated, open TSM file.
pub struct TsmReader {
    path: PathBuf,
    data: Backing,
    index_start: usize,
    keys: Vec<KeySection>,
    min_time: i64,
    max_time: i64,
    /// (first, last) key sections as opened; kept when keys are deleted, as InfluxDB does.
    key_range: (KeySection, KeySection),
    tombstones: HashMap<Vec<u8>, Vec<TimeRange>>,
    /// Keys removed because tombstones cover all their data, with their types.
    deleted: HashMap<Vec<u8>, BlockType>,
    has_tombstones: bool,
    verify_checksums: bool,
}

impl std::fmt::Debug for TsmReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsmReader")
            .field("path", &self.path)
            .field("size", &self.size())
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn be16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([b[at], b[at + 1]]))
}

impl TsmReader {
    /// Opens, maps and validates the file at `path`, and loads its tombstones.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::new(path, e))?;
        let len = file.metadata().map_err(|e| Error::new(path, e))?.len();
        if len < HEADER_SIZE + FOOTER_SIZE + 1 {
            return Err(Error::new(path, ErrorKind::TooSmall(len)));
        }
        // SAFETY: TSM files are immutable once published (written under a temporary name and
        // renamed); nothing in this process truncates or rewrites a mapped file.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::new(path, e))?;
        let mut r = Self::parse(path, Backing::Map(map))?;
        r.load_tombstones()?;
        Ok(r)
    }

    /// Validates a TSM file held in memory. `path` only names it in errors; no tombstones
    /// are loaded.
    pub fn from_vec(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<Self> {
        Self::parse(path.as_ref(), Backing::Vec(bytes))
    }

    fn parse(path: &Path, data: Backing) -> Result<Self> {
        let b: &[u8] = &data;
        let len = b.len();
        let err = |k: ErrorKind| Error::new(path, k);
        if (len as u64) < HEADER_SIZE + FOOTER_SIZE + 1 {
            return Err(err(ErrorKind::TooSmall(len as u64)));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC {
            return Err(err(ErrorKind::BadMagic(magic)).at(0));
        }
        if b[4] != VERSION {
            return Err(err(ErrorKind::BadVersion(b[4])).at(4));
        }
        let footer_at = len - FOOTER_SIZE as usize;
        let index_start = be64(b, footer_at);
        if index_start < HEADER_SIZE || index_start >= footer_at as u64 {
            return Err(err(ErrorKind::BadIndexStart(index_start)).at(footer_at as u64));
        }
        let index_start = index_start as usize;
        let mut keys: Vec<KeySection> = Vec::new();
        let mut min_time = i64::MAX;
        let mut max_time = i64::MIN;
        let mut at = index_start;
        while at < footer_at {
            let sec_at = at;
            let trunc = || err(ErrorKind::IndexTruncated).at(sec_at as u64);
            if at + 2 > footer_at {
                return Err(trunc());
            }
            let key_len = be16(b, at);
            let key_at = at + 2;
            if key_at + key_len + 3 > footer_at {
                return Err(trunc());
            }
            let key = &b[key_at..key_at + key_len];
            let t = b[key_at + key_len];
            let typ = BlockType::from_u8(t).ok_or_else(|| {
                err(ErrorKind::BadBlockType(t))
                    .with_key(key)
                    .at(sec_at as u64)
            })?;
            let count = be16(b, key_at + key_len + 1);
            let entries_at = key_at + key_len + 3;
            let end = entries_at + count * INDEX_ENTRY_SIZE;
            if end > footer_at {
                return Err(trunc().with_key(key));
            }
            if count == 0 {
                return Err(err(ErrorKind::NoEntries).with_key(key).at(sec_at as u64));
            }
            if let Some(prev) = keys.last()
                && &b[prev.key_at..prev.key_at + prev.key_len] >= key
            {
                return Err(err(ErrorKind::KeysUnsorted).with_key(key).at(sec_at as u64));
            }
            for i in 0..count {
                let e_at = entries_at + i * INDEX_ENTRY_SIZE;
                let e = entry_at(b, e_at);
                if e.offset < HEADER_SIZE
                    || e.size < 5
                    || e.offset.saturating_add(u64::from(e.size)) > index_start as u64
                {
                    return Err(err(ErrorKind::EntryOutOfBounds {
                        offset: e.offset as i64,
                        size: e.size,
                    })
                    .with_key(key)
                    .at(e_at as u64));
                }
                if e.min_time > e.max_time {
                    return Err(err(ErrorKind::BadTimeRange {
                        min: e.min_time,
                        max: e.max_time,
                    })
                    .with_key(key)
                    .at(e_at as u64));
                }
                min_time = min_time.min(e.min_time);
                max_time = max_time.max(e.max_time);
            }
            keys.push(KeySection {
                key_at,
                key_len,
                typ,
                entries_at,
                count,
            });
            at = end;
        }
        let (Some(&first), Some(&last)) = (keys.first(), keys.last()) else {
            return Err(err(ErrorKind::IndexTruncated).at(index_start as u64));
        };
        Ok(TsmReader {
            path: path.to_path_buf(),
            data,
            index_start,
            keys,
            min_time,
            max_time,
            key_range: (first, last),
            tombstones: HashMap::new(),
            deleted: HashMap::new(),
            has_tombstones: false,
            verify_checksums: false,
        })
    }

    fn load_tombstones(&mut self) -> Result<()> {
        let ts = tombstone::read_for(&self.path)
            .map_err(|e| Error::new(&tombstone::tombstone_path(&self.path), e))?;
        self.apply_tombstones(&ts);
        Ok(())
    }

    /// Applies tombstones as InfluxDB's index does: a deletion outside the file's or the
    /// key's time range is ignored; a key whose whole time range ends up deleted (by one
    /// range, or by ranges that overlap or touch without gaps) is marked deleted; other
    /// ranges are kept and filter [`read_range`](Self::read_range).
    fn apply_tombstones(&mut self, ts: &[Tombstone]) {
        if !ts.is_empty() {
            self.has_tombstones = true;
        }
        // InfluxDB's file time range (its max-time scan starts at 0).
        let (fmin, fmax) = (self.min_time, self.max_time.max(0));
        for t in ts {
            let Some(i) = self.find(&t.key) else {
                continue;
            };
            let full = if t.min == i64::MIN && t.max == i64::MAX {
                true
            } else {
                if t.min > fmax || t.max < fmin {
                    continue;
                }
                let kmin = self.entries_at(i).next().map_or(i64::MAX, |e| e.min_time);
                let kmax = self.entries_at(i).last().map_or(i64::MIN, |e| e.max_time);
                if t.min > kmax || t.max < kmin {
                    continue;
                }
                if t.min <= kmin && t.max >= kmax {
                    true
                } else {
                    let v = self.tombstones.entry(t.key.clone()).or_default();
                    v.push(TimeRange {
                        min: t.min,
                        max: t.max,
                    });
                    v.sort_unstable();
                    // Grow a window over ranges that overlap or touch; any gap aborts.
                    let (mut lo, mut hi) = (v[0].min, v[0].max);
                    for w in v.windows(2) {
                        let (p, c) = (w[0], w[1]);
                        if p.max != c.min.wrapping_sub(1) && !(p.min <= c.max && p.max >= c.min) {
                            lo = i64::MAX;
                            hi = i64::MIN;
                            break;
                        }
                        lo = lo.min(c.min);
                        hi = hi.max(c.max);
                    }
                    lo <= kmin && hi >= kmax
                }
            };
            if full {
                self.tombstones.remove(&t.key);
                self.deleted.insert(t.key.clone(), self.keys[i].typ);
            }
        }
    }

    /// Checks each block's CRC on every read from now on (off by default, as InfluxDB).
    pub fn set_verify_checksums(&mut self, on: bool) {
        self.verify_checksums = on;
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Size of the index in bytes (without the footer).
    pub fn index_size(&self) -> u64 {
        (self.data.len() - FOOTER_SIZE as usize - self.index_start) as u64
    }

    /// Number of keys in the index (including keys that tombstones deleted entirely; see
    /// [`live_key_count`](Self::live_key_count)).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of keys that still have data: InfluxDB's `KeyCount`, which forgets keys whose
    /// data tombstones deleted entirely.
    pub fn live_key_count(&self) -> usize {
        self.keys.len() - self.deleted.len()
    }

    fn key_of(&self, s: &KeySection) -> &[u8] {
        &self.data[s.key_at..s.key_at + s.key_len]
    }

    /// The `i`th key (in ascending order) and its block type.
    pub fn key_at(&self, i: usize) -> Option<(&[u8], BlockType)> {
        let s = self.keys.get(i)?;
        Some((self.key_of(s), s.typ))
    }

    /// Iterates keys in ascending order with their block types.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = (&[u8], BlockType)> + '_ {
        self.keys.iter().map(|s| (self.key_of(s), s.typ))
    }

    /// Position of `key` in the index (binary search).
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        self.keys.binary_search_by(|s| self.key_of(s).cmp(key)).ok()
    }

    /// True if the file has blocks for `key`.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Block type of `key`.
    pub fn block_type(&self, key: &[u8]) -> Option<BlockType> {
        self.find(key).map(|i| self.keys[i].typ)
    }

    /// Index entries of the `i`th key, sorted by time.
    pub fn entries_at(&self, i: usize) -> impl ExactSizeIterator<Item = IndexEntry> + '_ {
        let (at, n) = self.keys.get(i).map_or((0, 0), |s| (s.entries_at, s.count));
        (0..n).map(move |k| entry_at(&self.data, at + k * INDEX_ENTRY_SIZE))
    }

    /// Index entries of `key` (empty if absent).
    pub fn entries(&self, key: &[u8]) -> Vec<IndexEntry> {
        match self.find(key) {
            Some(i) => self.entries_at(i).collect(),
            None => Vec::new(),
        }
    }

    /// Smallest and largest timestamp of the file (from the index).
    pub fn time_range(&self) -> (i64, i64) {
        (self.min_time, self.max_time)
    }

    /// Smallest and largest key of the file (as opened: deletions do not change it, as in
    /// InfluxDB).
    pub fn key_range(&self) -> (&[u8], &[u8]) {
        (
            self.key_of(&self.key_range.0),
            self.key_of(&self.key_range.1),
        )
    }

    /// The stored CRC and the block data of an entry (validated at open to be in bounds).
    pub fn block_bytes(&self, e: &IndexEntry) -> Result<(u32, &[u8])> {
        let a = e.offset as usize;
        let end = a
            .checked_add(e.size as usize)
            .filter(|&x| x <= self.index_start && e.size >= 5);
        let Some(end) = end else {
            return Err(Error::new(
                &self.path,
                ErrorKind::EntryOutOfBounds {
                    offset: e.offset as i64,
                    size: e.size,
                },
            )
            .at(e.offset));
        };
        let b = &self.data[a..end];
        let crc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        Ok((crc, &b[4..]))
    }

    /// Checks the CRC of a block.
    pub fn check_block(&self, e: &IndexEntry) -> Result<()> {
        let (stored, data) = self.block_bytes(e)?;
        let computed = block::checksum(data);
        if stored != computed {
            return Err(
                Error::new(&self.path, ErrorKind::Checksum { stored, computed }).at(e.offset),
            );
        }
        Ok(())
    }

    /// Decodes the block of an entry into `out` (no tombstone filtering).
    pub fn read_block_into(&self, e: &IndexEntry, out: &mut Block) -> Result<()> {
        if self.verify_checksums {
            self.check_block(e)?;
        }
        let (_, data) = self.block_bytes(e)?;
        block::decode(data, out).map_err(|k| Error::new(&self.path, k).at(e.offset))
    }

    /// Decodes the block of an entry (no tombstone filtering).
    pub fn read_block(&self, e: &IndexEntry) -> Result<Block> {
        let (_, data) = self.block_bytes(e)?;
        let t = block::block_type(data).map_err(|k| Error::new(&self.path, k).at(e.offset))?;
        let mut b = Block::new(t);
        self.read_block_into(e, &mut b)?;
        Ok(b)
    }

    /// Reads the points of `key` with `min <= t <= max`, minus tombstoned points, sorted by
    /// time. `None` if the key is not in the file; an empty block if tombstones deleted all
    /// of it.
    pub fn read_range(&self, key: &[u8], min: i64, max: i64) -> Result<Option<Block>> {
        let Some(i) = self.find(key) else {
            return Ok(None);
        };
        if self.deleted.contains_key(key) {
            return Ok(Some(Block::new(self.keys[i].typ)));
        }
        let typ = self.keys[i].typ;
        let mut out = Block::new(typ);
        let mut tmp = Block::new(typ);
        for e in self.entries_at(i) {
            if !e.overlaps(min, max) {
                continue;
            }
            self.read_block_into(&e, &mut tmp)
                .map_err(|x| x.with_key(key))?;
            if tmp.values.block_type() != typ {
                return Err(Error::new(
                    &self.path,
                    ErrorKind::TypeMismatch {
                        expected: typ as u8,
                        found: tmp.values.block_type() as u8,
                    },
                )
                .with_key(key)
                .at(e.offset));
            }
            tmp.retain_time_range(min, max);
            append(&mut out, &tmp);
        }
        if let Some(ranges) = self.tombstones.get(key) {
            let keep: Vec<bool> = out
                .timestamps
                .iter()
                .map(|&t| !ranges.iter().any(|r| r.contains(t)))
                .collect();
            if keep.iter().any(|k| !k) {
                out.filter(&keep);
            }
        }
        if !out.timestamps.windows(2).all(|w| w[0] < w[1]) {
            sort_dedup(&mut out);
        }
        Ok(Some(out))
    }

    /// Reads every live point of `key`.
    pub fn read_all(&self, key: &[u8]) -> Result<Option<Block>> {
        self.read_range(key, i64::MIN, i64::MAX)
    }

    /// Tombstoned ranges of `key`, sorted; `[i64::MIN, i64::MAX]` for a key deleted
    /// entirely.
    pub fn tombstones(&self, key: &[u8]) -> &[TimeRange] {
        const ALL: &[TimeRange] = &[TimeRange {
            min: i64::MIN,
            max: i64::MAX,
        }];
        if self.deleted.contains_key(key) {
            return ALL;
        }
        self.tombstones.get(key).map_or(&[], Vec::as_slice)
    }

    /// True if tombstones deleted all data of `key` in this file.
    pub fn is_deleted(&self, key: &[u8]) -> bool {
        self.deleted.contains_key(key)
    }

    /// True if the file has tombstones (even if none of them applied).
    pub fn has_tombstones(&self) -> bool {
        self.has_tombstones
    }

    /// Deletes the points of `keys` in `[min, max]`: appends to the tombstone file (v4) and
    /// applies the deletion to this reader.
    pub fn delete_range(&mut self, keys: &[&[u8]], min: i64, max: i64) -> Result<()> {
        let recs: Vec<Tombstone> = keys
            .iter()
            .filter(|k| self.contains(k))
            .map(|k| Tombstone {
                key: k.to_vec(),
                min,
                max,
            })
            .collect();
        tombstone::append_for(&self.path, &recs)
            .map_err(|e| Error::new(&tombstone::tombstone_path(&self.path), e))?;
        self.apply_tombstones(&recs);
        Ok(())
    }

    /// Checks every block: CRC, then that it decodes with as many values as timestamps and
    /// the type of its index entry. Calls `on_error` for each bad block and returns the number
    /// of blocks checked.
    pub fn verify_each(&self, mut on_error: impl FnMut(Error)) -> usize {
        let mut n = 0;
        let mut scratch = Block::new(BlockType::Float);
        for i in 0..self.keys.len() {
            let s = self.keys[i];
            let key = self.key_of(&s);
            for e in self.entries_at(i) {
                n += 1;
                if let Err(x) = self.check_block(&e) {
                    on_error(x.with_key(key));
                    continue;
                }
                let res = self.block_bytes(&e).and_then(|(_, data)| {
                    block::decode(data, &mut scratch)
                        .map_err(|k| Error::new(&self.path, k).at(e.offset))
                });
                match res {
                    Err(x) => on_error(x.with_key(key)),
                    Ok(()) if scratch.values.block_type() != s.typ => on_error(
                        Error::new(
                            &self.path,
                            ErrorKind::TypeMismatch {
                                expected: s.typ as u8,
                                found: scratch.values.block_type() as u8,
                            },
                        )
                        .with_key(key)
                        .at(e.offset),
                    ),
                    Ok(()) => {}
                }
            }
        }
        n
    }

    /// Checks every block (see [`verify_each`](Self::verify_each)); the first problem is
    /// the error. Returns the number of blocks checked.
    pub fn verify(&self) -> Result<usize> {
        let mut first = None;
        let n = self.verify_each(|e| {
            if first.is_none() {
                first = Some(e);
            }
        });
        match first {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

fn entry_at(b: &[u8], at: usize) -> IndexEntry {
    IndexEntry {
        min_time: be64(b, at) as i64,
        max_time: be64(b, at + 8) as i64,
        offset: be64(b, at + 16),
        size: u32::from_be_bytes([b[at + 24], b[at + 25], b[at + 26], b[at + 27]]),
    }
}

fn append(out: &mut Block, b: &Block) {
    use crate::block::Values;
    out.timestamps.extend_from_slice(&b.timestamps);
    match (&mut out.values, &b.values) {
        (Values::Float(o), Values::Float(v)) => o.extend_from_slice(v),
        (Values::Integer(o), Values::Integer(v)) => o.extend_from_slice(v),
        (Values::Unsigned(o), Values::Unsigned(v)) => o.extend_from_slice(v),
        (Values::Boolean(o), Values::Boolean(v)) => o.extend_from_slice(v),
        (Values::String(o), Values::String(v)) => {
            for s in v.iter() {
                o.push(s);
            }
        }
        _ => {}
    }
}

/// Sorts points by time; for equal times the later one (in input order) wins.
fn sort_dedup(b: &mut Block) {
    let mut idx: Vec<usize> = (0..b.timestamps.len()).collect();
    idx.sort_by_key(|&i| b.timestamps[i]);
    let mut keep: Vec<usize> = Vec::with_capacity(idx.len());
    for &i in &idx {
        match keep.last_mut() {
            Some(last) if b.timestamps[*last] == b.timestamps[i] => *last = i.max(*last),
            _ => keep.push(i),
        }
    }
    use crate::block::Values;
    let ts: Vec<i64> = keep.iter().map(|&i| b.timestamps[i]).collect();
    let values = match &b.values {
        Values::Float(v) => Values::Float(keep.iter().map(|&i| v[i]).collect()),
        Values::Integer(v) => Values::Integer(keep.iter().map(|&i| v[i]).collect()),
        Values::Unsigned(v) => Values::Unsigned(keep.iter().map(|&i| v[i]).collect()),
        Values::Boolean(v) => Values::Boolean(keep.iter().map(|&i| v[i]).collect()),
        Values::String(v) => Values::String(keep.iter().filter_map(|&i| v.get(i)).collect()),
    };
    b.timestamps = ts;
    b.values = values;
}
