//! The engine's door to TSM files and their tombstones: write a sorted key/values stream as a
//! file, open a file and read a key's values in a time range, append tombstones.
//!
//! The formats (storage-formats 1.1–1.6) are owned by the `tsm` crate; this module adapts its
//! [`tsm::TsmWriter`], [`tsm::TsmReader`] and tombstone API to the engine's row-shaped
//! [`Values`] and keeps a small per-key summary (type, block time ranges) for planning
//! deletes and compactions without touching the file.

use std::path::{Path, PathBuf};

use parking_lot::RwLock;

use crate::points::FieldType;
use crate::values::Values;

pub use tsm::Tombstone;

/// Points per block written (InfluxDB `DefaultMaxPointsPerBlock`).
pub const MAX_POINTS_PER_BLOCK: usize = tsm::DEFAULT_MAX_POINTS_PER_BLOCK;

/// Errors of TSM file I/O.
#[derive(Debug, thiserror::Error)]
pub enum TsmIoError {
    /// Reading or writing a TSM file failed (the `tsm` crate's error names file and cause).
    #[error(transparent)]
    Tsm(#[from] tsm::Error),
    /// The file name is not `<gen>-<seq>.tsm`.
    #[error("{0}: not a TSM file name")]
    BadName(PathBuf),
}

impl TsmIoError {
    /// True when the file itself is unreadable (as opposed to an I/O failure).
    pub fn is_corrupt(&self) -> bool {
        match self {
            TsmIoError::Tsm(e) => !matches!(e.kind, tsm::ErrorKind::Io(_)),
            TsmIoError::BadName(_) => true,
        }
    }
}

/// `%09d-%09d.tsm`.
pub fn file_name(generation: u64, sequence: u64) -> String {
    tsm::file_name(generation, sequence)
}

/// Parses `<gen>-<seq>.tsm`.
pub fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    if !name.ends_with(".tsm") {
        return None;
    }
    tsm::parse_file_name(name).map(|(g, s)| (u64::from(g), u64::from(s)))
}

/// The tombstone file name beside a TSM file.
pub fn tombstone_path(path: &Path) -> PathBuf {
    tsm::tombstone::tombstone_path(path)
}

/// Field type of a TSM block type.
pub fn field_type_of(t: tsm::BlockType) -> FieldType {
    match t {
        tsm::BlockType::Float => FieldType::Float,
        tsm::BlockType::Integer => FieldType::Integer,
        tsm::BlockType::Unsigned => FieldType::Unsigned,
        tsm::BlockType::Boolean => FieldType::Boolean,
        tsm::BlockType::String => FieldType::String,
    }
}

/// Writes `entries` (keys strictly ascending, values sorted and deduplicated) as the TSM file
/// `path`: data goes to `path.tmp`, is fsynced, renamed to `path`, and the directory fsynced.
/// Returns the file size, or `None` (and no file) when there was nothing to write.
pub fn write_file<I>(path: &Path, entries: I) -> Result<Option<u64>, TsmIoError>
where
    I: IntoIterator<Item = (Vec<u8>, Values)>,
{
    try_write_file(path, entries.into_iter().map(Ok))
}

/// As [`write_file`], for a stream that can fail: the first error abandons the file (nothing
/// is published) and is returned.
pub fn try_write_file<I>(path: &Path, entries: I) -> Result<Option<u64>, TsmIoError>
where
    I: IntoIterator<Item = Result<(Vec<u8>, Values), TsmIoError>>,
{
    let mut w = tsm::TsmWriter::create(path)?;
    let mut ts = Vec::new();
    let mut any = false;
    for entry in entries {
        let (key, values) = match entry {
            Ok(e) => e,
            Err(e) => {
                w.abort();
                return Err(e);
            }
        };
        if values.is_empty() {
            continue;
        }
        ts.clear();
        ts.extend((0..values.len()).map(|i| values.time(i)));
        match &values {
            Values::Float(v) => {
                let x: Vec<f64> = v.iter().map(|p| p.1).collect();
                w.write(&key, &ts, tsm::ValuesRef::Float(&x))?;
            }
            Values::Integer(v) => {
                let x: Vec<i64> = v.iter().map(|p| p.1).collect();
                w.write(&key, &ts, tsm::ValuesRef::Integer(&x))?;
            }
            Values::Unsigned(v) => {
                let x: Vec<u64> = v.iter().map(|p| p.1).collect();
                w.write(&key, &ts, tsm::ValuesRef::Unsigned(&x))?;
            }
            Values::Boolean(v) => {
                let x: Vec<bool> = v.iter().map(|p| p.1).collect();
                w.write(&key, &ts, tsm::ValuesRef::Boolean(&x))?;
            }
            Values::String(v) => {
                let mut x = tsm::StringValues::new();
                for p in v {
                    x.push(p.1.as_bytes());
                }
                w.write(&key, &ts, tsm::ValuesRef::String(&x))?;
            }
        }
        any = true;
    }
    if !any {
        w.abort();
        return Ok(None);
    }
    let published = w.finish()?;
    let size = std::fs::metadata(&published)
        .map_err(|e| tsm::Error::new(&published, e))?
        .len();
    Ok(Some(size))
}

fn from_block(b: tsm::Block) -> Values {
    let ts = b.timestamps;
    match b.values {
        tsm::Values::Float(v) => Values::Float(ts.into_iter().zip(v).collect()),
        tsm::Values::Integer(v) => Values::Integer(ts.into_iter().zip(v).collect()),
        tsm::Values::Unsigned(v) => Values::Unsigned(ts.into_iter().zip(v).collect()),
        tsm::Values::Boolean(v) => Values::Boolean(ts.into_iter().zip(v).collect()),
        tsm::Values::String(v) => Values::String(
            ts.into_iter()
                .zip(v.iter().map(|s| String::from_utf8_lossy(s).into_owned()))
                .collect(),
        ),
    }
}

/// Summary of one key of a file.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// TSM key.
    pub key: Vec<u8>,
    /// Value type.
    pub field_type: FieldType,
    /// First and last time over all blocks.
    pub min: i64,
    /// Last time over all blocks.
    pub max: i64,
}

/// An open TSM file.
pub struct TsmFile {
    path: PathBuf,
    generation: u64,
    sequence: u64,
    reader: RwLock<tsm::TsmReader>,
    keys: Vec<KeyEntry>,
    /// Set once the engine has computed this file's block summaries ahead of queries.
    summaries_warmed: std::sync::atomic::AtomicBool,
}

impl TsmFile {
    /// Opens a file (index validated, tombstones loaded).
    pub fn open(path: &Path) -> Result<TsmFile, TsmIoError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let (generation, sequence) =
            parse_file_name(name).ok_or_else(|| TsmIoError::BadName(path.to_path_buf()))?;
        let reader = tsm::TsmReader::open(path)?;
        let mut keys = Vec::with_capacity(reader.key_count());
        for i in 0..reader.key_count() {
            let Some((key, t)) = reader.key_at(i) else {
                continue;
            };
            let (mut min, mut max) = (i64::MAX, i64::MIN);
            for e in reader.entries_at(i) {
                min = min.min(e.min_time);
                max = max.max(e.max_time);
            }
            keys.push(KeyEntry {
                key: key.to_vec(),
                field_type: field_type_of(t),
                min,
                max,
            });
        }
        Ok(TsmFile {
            path: path.to_path_buf(),
            generation,
            sequence,
            reader: RwLock::new(reader),
            keys,
            summaries_warmed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// True the first time it is called for this open file, false ever after: whoever gets
    /// true computes the file's block summaries ahead of queries.
    pub fn take_summary_warming(&self) -> bool {
        !self
            .summaries_warmed
            .swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// The newest block of a key, if the key is in the file.
    pub fn last_block(&self, key: &[u8]) -> Option<tsm::IndexEntry> {
        self.reader.read().entries(key).pop()
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Sequence (level of the generation's first file).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.reader.read().size()
    }

    /// Keys in ascending order.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The summary of a key.
    pub fn entry(&self, key: &[u8]) -> Option<&KeyEntry> {
        self.keys
            .binary_search_by(|e| e.key.as_slice().cmp(key))
            .ok()
            .map(|i| &self.keys[i])
    }

    /// True when tombstones exist for this file.
    pub fn has_tombstones(&self) -> bool {
        self.reader.read().has_tombstones()
    }

    /// True when the whole time range of `key` is tombstoned.
    pub fn fully_deleted(&self, key: &[u8]) -> bool {
        let Some(e) = self.entry(key) else {
            return true;
        };
        self.reader
            .read()
            .tombstones(key)
            .iter()
            .any(|t| t.min <= e.min && t.max >= e.max)
    }

    /// Values of `key` with `min <= t <= max`, tombstones applied.
    pub fn read(&self, key: &[u8], min: i64, max: i64) -> Result<Option<Values>, TsmIoError> {
        if self.entry(key).is_none_or(|e| e.max < min || e.min > max) {
            return Ok(self.entry(key).map(|e| Values::empty(e.field_type)));
        }
        Ok(self
            .reader
            .read()
            .read_range(key, min, max)?
            .map(from_block))
    }

    /// Index entries of `key` (time-sorted) if no tombstone applies to the key: the blocks
    /// then hold exactly the key's points, so their metadata can answer aggregates.
    pub fn clean_blocks(&self, key: &[u8]) -> Option<Vec<tsm::IndexEntry>> {
        let r = self.reader.read();
        if !r.tombstones(key).is_empty() {
            return None;
        }
        Some(r.entries(key))
    }

    /// Number of points in a block, from its timestamp header (values are not decoded).
    pub fn block_point_count(&self, e: &tsm::IndexEntry) -> Result<usize, TsmIoError> {
        let r = self.reader.read();
        let (_, data) = r.block_bytes(e)?;
        tsm::block::count(data)
            .map_err(|k| TsmIoError::Tsm(tsm::Error::new(&self.path, k).at(e.offset)))
    }

    /// Deletes `[min, max]` of `keys` present in this file: appends to its v4 tombstone file
    /// (durable on return) and applies it to reads.
    pub fn delete_range(&self, keys: &[&[u8]], min: i64, max: i64) -> Result<(), TsmIoError> {
        let keys: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|k| self.entry(k).is_some_and(|e| e.max >= min && e.min <= max))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.reader.write().delete_range(&keys, min, max)?;
        Ok(())
    }
}

/// Block-level reads for the engine's window aggregates (`engine::aggregate`).
impl TsmFile {
    /// The field type of `key` and its blocks overlapping `[min, max]` (time-sorted), with
    /// one index lookup: `Some(None)` when the file does not hold the key, `None` when a
    /// tombstone applies to it (as [`TsmFile::clean_blocks`], only untombstoned blocks hold
    /// exactly the key's points).
    #[allow(clippy::type_complexity)]
    pub fn clean_blocks_overlapping(
        &self,
        key: &[u8],
        min: i64,
        max: i64,
    ) -> Option<Option<(FieldType, Vec<tsm::IndexEntry>)>> {
        let r = self.reader.read();
        let Some(i) = r.find(key) else {
            return Some(None);
        };
        if !r.tombstones(key).is_empty() {
            return None;
        }
        let t = r.key_at(i).map(|(_, t)| field_type_of(t))?;
        let blocks = r.entries_at(i).filter(|e| e.overlaps(min, max)).collect();
        Some(Some((t, blocks)))
    }

    /// Decodes one block into `out` (its timestamps and values, no tombstones applied: use
    /// it on the entries of [`TsmFile::clean_blocks`]). The block must hold `field_type`.
    pub fn decode_block(
        &self,
        e: &tsm::IndexEntry,
        field_type: FieldType,
        out: &mut tsm::Block,
    ) -> Result<(), TsmIoError> {
        let r = self.reader.read();
        r.read_block_into(e, out)?;
        let found = out.values.block_type();
        if field_type_of(found) != field_type {
            let expected = match field_type {
                FieldType::Float => tsm::BlockType::Float,
                FieldType::Integer => tsm::BlockType::Integer,
                FieldType::Unsigned => tsm::BlockType::Unsigned,
                FieldType::Boolean => tsm::BlockType::Boolean,
                FieldType::String => tsm::BlockType::String,
            };
            return Err(tsm::Error::new(
                &self.path,
                tsm::ErrorKind::TypeMismatch {
                    expected: expected as u8,
                    found: found as u8,
                },
            )
            .at(e.offset)
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_bytes() {
        // storage-formats 1.7: one float point, 99 bytes.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file_name(1, 1));
        let n = write_file(
            &p,
            vec![(
                b"cpu,host=a#!~#value".to_vec(),
                Values::Float(vec![(1_000_000_000, 1.0)]),
            )],
        )
        .unwrap();
        assert_eq!(n, Some(99));
        let b = std::fs::read(&p).unwrap();
        assert_eq!(
            &b[..9],
            &[0x16, 0xd1, 0x16, 0xd1, 0x01, 0xe0, 0x55, 0x22, 0x8c]
        );
        assert_eq!(&b[0x5b..], &[0, 0, 0, 0, 0, 0, 0, 0x27]);
        assert!(!dir.path().join("000000001-000000001.tsm.tmp").exists());
        assert_eq!(
            write_file(&dir.path().join(file_name(2, 1)), Vec::new()).unwrap(),
            None
        );
        assert!(!dir.path().join(file_name(2, 1)).exists());
    }

    #[test]
    fn reads_influxdb_files_and_tombstones() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/influxdb1/tsm/stateA/shard1"
        );
        let f = TsmFile::open(&Path::new(dir).join("000000001-000000001.tsm")).unwrap();
        assert_eq!(f.keys().len(), 43);
        let v = f
            .read(
                b"cpu,host=serverA,region=us-west#!~#usage_user",
                i64::MIN,
                i64::MAX,
            )
            .unwrap()
            .unwrap();
        assert_eq!(v.time(0), 1_704_067_200_000_000_000);

        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join(file_name(3, 1));
        let vals = Values::Integer((0..2500).map(|i| (i, i * 2)).collect());
        write_file(
            &p,
            vec![
                (b"a#!~#x".to_vec(), vals.clone()),
                (b"b#!~#y".to_vec(), Values::Boolean(vec![(5, true)])),
            ],
        )
        .unwrap();
        let f = TsmFile::open(&p).unwrap();
        assert_eq!(
            f.read(b"a#!~#x", i64::MIN, i64::MAX).unwrap().unwrap(),
            vals
        );
        f.delete_range(&[b"a#!~#x"], 10, 2000).unwrap();
        f.delete_range(&[b"b#!~#y"], i64::MIN, i64::MAX).unwrap();
        assert!(f.fully_deleted(b"b#!~#y"));
        drop(f);
        let f = TsmFile::open(&p).unwrap();
        assert!(f.has_tombstones());
        assert_eq!(
            f.read(b"a#!~#x", i64::MIN, i64::MAX)
                .unwrap()
                .unwrap()
                .len(),
            10 + 499
        );
        assert!(
            f.read(b"b#!~#y", i64::MIN, i64::MAX)
                .unwrap()
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            f.read(b"a#!~#x", 2001, 2003).unwrap().unwrap(),
            Values::Integer(vec![(2001, 4002), (2002, 4004), (2003, 4006)])
        );
        assert_eq!(
            f.read(b"a#!~#x", 5000, 6000).unwrap().unwrap(),
            Values::Integer(vec![])
        );
        assert!(f.read(b"zz", 0, 1).unwrap().is_none());
    }
}
