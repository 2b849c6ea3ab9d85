//! The engine's door to TSM files and their tombstones: write a sorted key/values stream as a
//! file, open a file and read a key's values in a time range, append tombstones.
//!
//! The file layout (storage-formats 1.1–1.3: header `16 D1 16 D1 01`, blocks
//! `crc32 | block data`, index of `keyLen u16 | key | type u8 | count u16 | count × (min i64,
//! max i64, offset u64, size u32)`, footer `indexOffset u64`, all BE) and tombstones (1.6:
//! v1–v4 read, v4 written) are described there; the block codecs come from the `tsm` crate
//! (`tsm::block`). This module keeps only the framing the engine needs until the `tsm` crate's
//! file writer and reader land (see `NEEDS.md`); everything goes through this one API so the
//! swap touches nothing else.
//!
//! Reads use positional reads (`pread`) of single blocks: only the index is held in memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;

use crate::points::FieldType;
use crate::values::Values;

/// TSM magic number.
pub const MAGIC: u32 = 0x16D1_16D1;
/// TSM version byte.
pub const VERSION: u8 = 1;
/// Header length.
pub const HEADER_LEN: u64 = 5;
/// Footer length.
pub const FOOTER_LEN: u64 = 8;
/// Points per block written (InfluxDB `DefaultMaxPointsPerBlock`).
pub const MAX_POINTS_PER_BLOCK: usize = 1000;
/// Index entries per key per file.
pub const MAX_INDEX_ENTRIES: usize = 65535;
/// Tombstone v4 magic.
pub const TOMBSTONE_V4: u32 = 0x0000_1504;
const TOMBSTONE_V2: u32 = 0x0000_1502;
const TOMBSTONE_V3: u32 = 0x0000_1503;

/// Errors of TSM file I/O.
#[derive(Debug, thiserror::Error)]
pub enum TsmIoError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The file is not a valid TSM file.
    #[error("{path}: corrupt TSM file: {what}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn io_err(path: &Path, source: io::Error) -> TsmIoError {
    TsmIoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, what: impl Into<String>) -> TsmIoError {
    TsmIoError::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// `%09d-%09d.tsm`.
pub fn file_name(generation: u64, sequence: u64) -> String {
    format!("{generation:09}-{sequence:09}.tsm")
}

/// Parses `<gen>-<seq>.tsm` (text before the first `.` split at `-`).
pub fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".tsm")?;
    let base = stem.split('.').next()?;
    let (g, s) = base.split_once('-')?;
    let g: u32 = g.parse().ok()?;
    let s: u32 = s.parse().ok()?;
    Some((u64::from(g), u64::from(s)))
}

/// The tombstone file name beside a TSM file.
pub fn tombstone_path(tsm: &Path) -> PathBuf {
    tsm.with_extension("tombstone")
}

fn block_type_of(t: FieldType) -> tsm::BlockType {
    match t {
        FieldType::Float => tsm::BlockType::Float,
        FieldType::Integer => tsm::BlockType::Integer,
        FieldType::Unsigned => tsm::BlockType::Unsigned,
        FieldType::Boolean => tsm::BlockType::Boolean,
        FieldType::String => tsm::BlockType::String,
    }
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

fn to_block(v: &Values, lo: usize, hi: usize) -> tsm::Block {
    let timestamps: Vec<i64> = (lo..hi).map(|i| v.time(i)).collect();
    let values = match v {
        Values::Float(x) => tsm::Values::Float(x[lo..hi].iter().map(|p| p.1).collect()),
        Values::Integer(x) => tsm::Values::Integer(x[lo..hi].iter().map(|p| p.1).collect()),
        Values::Unsigned(x) => tsm::Values::Unsigned(x[lo..hi].iter().map(|p| p.1).collect()),
        Values::Boolean(x) => tsm::Values::Boolean(x[lo..hi].iter().map(|p| p.1).collect()),
        Values::String(x) => {
            let mut s = tsm::StringValues::new();
            for p in &x[lo..hi] {
                s.push(p.1.as_bytes());
            }
            tsm::Values::String(s)
        }
    };
    tsm::Block { timestamps, values }
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

/// Writes `entries` (keys strictly ascending, values sorted and deduplicated) to `path` as a
/// TSM file, then fsyncs it. The caller writes to a `.tmp` name and renames.
pub fn write_file<I>(path: &Path, entries: I) -> Result<u64, TsmIoError>
where
    I: IntoIterator<Item = (Vec<u8>, Values)>,
{
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut offset: u64 = 0;
    let put = |w: &mut BufWriter<File>, b: &[u8], offset: &mut u64| -> Result<(), TsmIoError> {
        w.write_all(b).map_err(|e| io_err(path, e))?;
        *offset += b.len() as u64;
        Ok(())
    };
    let mut header = MAGIC.to_be_bytes().to_vec();
    header.push(VERSION);
    put(&mut w, &header, &mut offset)?;
    let mut index = Vec::new();
    let mut data = Vec::new();
    let mut last_key: Option<Vec<u8>> = None;
    for (key, values) in entries {
        if values.is_empty() {
            continue;
        }
        if key.len() > u16::MAX as usize {
            return Err(corrupt(path, format!("key of {} bytes", key.len())));
        }
        if last_key.as_ref().is_some_and(|l| *l >= key) {
            return Err(corrupt(path, "keys not ascending"));
        }
        let blocks = values.len().div_ceil(MAX_POINTS_PER_BLOCK);
        if blocks > MAX_INDEX_ENTRIES {
            return Err(corrupt(path, "max blocks exceeded"));
        }
        let mut entries = Vec::with_capacity(blocks);
        for b in 0..blocks {
            let lo = b * MAX_POINTS_PER_BLOCK;
            let hi = (lo + MAX_POINTS_PER_BLOCK).min(values.len());
            data.clear();
            to_block(&values, lo, hi)
                .encode(&mut data)
                .map_err(|e| corrupt(path, e.to_string()))?;
            let crc = tsm::block::checksum(&data);
            let start = offset;
            put(&mut w, &crc.to_be_bytes(), &mut offset)?;
            put(&mut w, &data, &mut offset)?;
            entries.push((
                values.time(lo),
                values.time(hi - 1),
                start,
                (offset - start) as u32,
            ));
        }
        index.extend_from_slice(&(key.len() as u16).to_be_bytes());
        index.extend_from_slice(&key);
        index.push(block_type_of(values.field_type()) as u8);
        index.extend_from_slice(&(entries.len() as u16).to_be_bytes());
        for (min, max, off, size) in entries {
            index.extend_from_slice(&min.to_be_bytes());
            index.extend_from_slice(&max.to_be_bytes());
            index.extend_from_slice(&off.to_be_bytes());
            index.extend_from_slice(&size.to_be_bytes());
        }
        last_key = Some(key);
    }
    let index_offset = offset;
    put(&mut w, &index, &mut offset)?;
    put(&mut w, &index_offset.to_be_bytes(), &mut offset)?;
    let f = w.into_inner().map_err(|e| io_err(path, e.into_error()))?;
    f.sync_all().map_err(|e| io_err(path, e))?;
    Ok(offset)
}

/// One index entry: a block of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry {
    /// Smallest time in the block.
    pub min: i64,
    /// Largest time in the block.
    pub max: i64,
    /// File offset of the CRC.
    pub offset: u64,
    /// CRC + data length.
    pub size: u32,
}

/// A key of a file with its blocks.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// TSM key.
    pub key: Vec<u8>,
    /// Value type.
    pub field_type: FieldType,
    /// Blocks in time order.
    pub blocks: Vec<BlockEntry>,
}

/// A tombstone record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// TSM key.
    pub key: Vec<u8>,
    /// Lower bound, inclusive.
    pub min: i64,
    /// Upper bound, inclusive.
    pub max: i64,
}

/// An open TSM file.
pub struct TsmFile {
    path: PathBuf,
    generation: u64,
    sequence: u64,
    file: File,
    size: u64,
    keys: Vec<KeyEntry>,
    tombstones: RwLock<Vec<Tombstone>>,
}

impl TsmFile {
    /// Opens a file and reads its index and tombstones.
    pub fn open(path: &Path) -> Result<TsmFile, TsmIoError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let (generation, sequence) =
            parse_file_name(name).ok_or_else(|| corrupt(path, "bad file name"))?;
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let size = file.metadata().map_err(|e| io_err(path, e))?.len();
        if size < HEADER_LEN + FOOTER_LEN {
            return Err(corrupt(path, "too short"));
        }
        let mut header = [0u8; 5];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| io_err(path, e))?;
        if u32::from_be_bytes([header[0], header[1], header[2], header[3]]) != MAGIC
            || header[4] != VERSION
        {
            return Err(corrupt(path, "bad magic or version"));
        }
        let mut footer = [0u8; 8];
        file.read_exact_at(&mut footer, size - FOOTER_LEN)
            .map_err(|e| io_err(path, e))?;
        let index_offset = u64::from_be_bytes(footer);
        if index_offset < HEADER_LEN || index_offset > size - FOOTER_LEN {
            return Err(corrupt(
                path,
                format!("index offset {index_offset} out of range"),
            ));
        }
        let mut index = vec![0u8; (size - FOOTER_LEN - index_offset) as usize];
        file.read_exact_at(&mut index, index_offset)
            .map_err(|e| io_err(path, e))?;
        let keys = parse_index(&index, index_offset).ok_or_else(|| corrupt(path, "bad index"))?;
        let tombstones = read_tombstones(&tombstone_path(path))?;
        Ok(TsmFile {
            path: path.to_path_buf(),
            generation,
            sequence,
            file,
            size,
            keys,
            tombstones: RwLock::new(tombstones),
        })
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
        self.size
    }

    /// Keys in ascending order.
    pub fn keys(&self) -> &[KeyEntry] {
        &self.keys
    }

    /// The index entry of a key.
    pub fn entry(&self, key: &[u8]) -> Option<&KeyEntry> {
        self.keys
            .binary_search_by(|e| e.key.as_slice().cmp(key))
            .ok()
            .map(|i| &self.keys[i])
    }

    /// True when tombstones exist for this file.
    pub fn has_tombstones(&self) -> bool {
        !self.tombstones.read().is_empty()
    }

    /// Tombstones of this file.
    pub fn tombstones(&self) -> Vec<Tombstone> {
        self.tombstones.read().clone()
    }

    /// Values of `key` with `min <= t <= max`, tombstones applied.
    pub fn read(&self, key: &[u8], min: i64, max: i64) -> Result<Option<Values>, TsmIoError> {
        let Some(e) = self.entry(key) else {
            return Ok(None);
        };
        let mut out = Values::empty(e.field_type);
        let mut buf = Vec::new();
        for b in e.blocks.iter().filter(|b| b.max >= min && b.min <= max) {
            buf.resize(b.size as usize, 0);
            self.file
                .read_exact_at(&mut buf, b.offset)
                .map_err(|err| io_err(&self.path, err))?;
            if buf.len() < 4 {
                return Err(corrupt(&self.path, "short block"));
            }
            let crc = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if tsm::block::checksum(&buf[4..]) != crc {
                return Err(corrupt(
                    &self.path,
                    format!("block checksum mismatch at {}", b.offset),
                ));
            }
            let block = tsm::block::decode_new(&buf[4..])
                .map_err(|err| corrupt(&self.path, err.to_string()))?;
            out.extend(&from_block(block));
        }
        let ts = self.tombstones.read();
        for t in ts.iter().filter(|t| t.key == key) {
            out.exclude(t.min, t.max);
        }
        drop(ts);
        out.retain_range(min, max);
        Ok(Some(out))
    }

    /// Appends tombstone records (v4: a new gzip member on a copy, renamed over the old file).
    pub fn add_tombstones(&self, records: &[Tombstone]) -> Result<(), TsmIoError> {
        if records.is_empty() {
            return Ok(());
        }
        let path = tombstone_path(&self.path);
        let mut ts = self.tombstones.write();
        let existing = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path, e)),
        };
        let mut out = Vec::new();
        if existing.len() >= 4 && existing[..4] == TOMBSTONE_V4.to_be_bytes() {
            out.extend_from_slice(&existing);
        } else {
            // Older or no file: rewrite everything known as v4.
            out.extend_from_slice(&TOMBSTONE_V4.to_be_bytes());
            if !ts.is_empty() {
                out.extend_from_slice(&gzip_records(&ts, &path)?);
            }
        }
        out.extend_from_slice(&gzip_records(records, &path)?);
        let tmp = path.with_extension("tombstone.tmp");
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&out).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        if let Some(dir) = path.parent() {
            crate::wal::sync_dir(dir).map_err(|e| io_err(dir, e))?;
        }
        ts.extend_from_slice(records);
        Ok(())
    }
}

fn gzip_records(records: &[Tombstone], path: &Path) -> Result<Vec<u8>, TsmIoError> {
    let mut raw = Vec::new();
    for t in records {
        raw.extend_from_slice(&(t.key.len() as u32).to_be_bytes());
        raw.extend_from_slice(&t.key);
        raw.extend_from_slice(&t.min.to_be_bytes());
        raw.extend_from_slice(&t.max.to_be_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).map_err(|e| io_err(path, e))?;
    gz.finish().map_err(|e| io_err(path, e))
}

fn parse_records(b: &[u8]) -> Option<Vec<Tombstone>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let n = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        let key = b.get(at..at.checked_add(n)?)?.to_vec();
        at += n;
        let min = i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?);
        let max = i64::from_be_bytes(b.get(at + 8..at + 16)?.try_into().ok()?);
        at += 16;
        out.push(Tombstone { key, min, max });
    }
    Some(out)
}

/// Reads a tombstone file of any version (missing file = none).
pub fn read_tombstones(path: &Path) -> Result<Vec<Tombstone>, TsmIoError> {
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path, e)),
    };
    let magic = if b.len() >= 4 {
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    } else {
        0
    };
    let bad = || corrupt(path, "bad tombstone file");
    match magic {
        TOMBSTONE_V2 => parse_records(&b[4..]).ok_or_else(bad),
        TOMBSTONE_V3 | TOMBSTONE_V4 => {
            let mut raw = Vec::new();
            flate2::read::MultiGzDecoder::new(&b[4..])
                .read_to_end(&mut raw)
                .map_err(|_| bad())?;
            parse_records(&raw).ok_or_else(bad)
        }
        _ => Ok(b
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|k| Tombstone {
                key: k.to_vec(),
                min: i64::MIN,
                max: i64::MAX,
            })
            .collect()),
    }
}

fn parse_index(b: &[u8], index_offset: u64) -> Option<Vec<KeyEntry>> {
    let mut out: Vec<KeyEntry> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let klen = u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize;
        at += 2;
        let key = b.get(at..at + klen)?.to_vec();
        at += klen;
        let ty = tsm::BlockType::from_u8(*b.get(at)?)?;
        let count = u16::from_be_bytes(b.get(at + 1..at + 3)?.try_into().ok()?) as usize;
        at += 3;
        let mut blocks = Vec::with_capacity(count);
        for _ in 0..count {
            let e = b.get(at..at + 28)?;
            let entry = BlockEntry {
                min: i64::from_be_bytes(e[0..8].try_into().ok()?),
                max: i64::from_be_bytes(e[8..16].try_into().ok()?),
                offset: u64::from_be_bytes(e[16..24].try_into().ok()?),
                size: u32::from_be_bytes(e[24..28].try_into().ok()?),
            };
            if entry.offset < HEADER_LEN || entry.offset + u64::from(entry.size) > index_offset {
                return None;
            }
            blocks.push(entry);
            at += 28;
        }
        if out.last().is_some_and(|l| l.key >= key) {
            return None;
        }
        out.push(KeyEntry {
            key,
            field_type: field_type_of(ty),
            blocks,
        });
    }
    Some(out)
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
        assert_eq!(n, 99);
        let b = fs::read(&p).unwrap();
        assert_eq!(
            &b[..9],
            &[0x16, 0xd1, 0x16, 0xd1, 0x01, 0xe0, 0x55, 0x22, 0x8c]
        );
        assert_eq!(&b[0x5b..], &[0, 0, 0, 0, 0, 0, 0, 0x27]);
        let f = TsmFile::open(&p).unwrap();
        assert_eq!(
            f.keys()[0].blocks[0],
            BlockEntry {
                min: 1_000_000_000,
                max: 1_000_000_000,
                offset: 5,
                size: 34
            }
        );
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
        assert_eq!(f.entry(b"a#!~#x").unwrap().blocks.len(), 3);
        assert_eq!(
            f.read(b"a#!~#x", i64::MIN, i64::MAX).unwrap().unwrap(),
            vals
        );
        f.add_tombstones(&[Tombstone {
            key: b"a#!~#x".to_vec(),
            min: 10,
            max: 2000,
        }])
        .unwrap();
        f.add_tombstones(&[Tombstone {
            key: b"b#!~#y".to_vec(),
            min: i64::MIN,
            max: i64::MAX,
        }])
        .unwrap();
        drop(f);
        let f = TsmFile::open(&p).unwrap();
        assert_eq!(f.tombstones().len(), 2);
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
    }

    #[test]
    fn v1_tombstones_are_full_range() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.tombstone");
        fs::write(&p, b"a#!~#x\n\nb#!~#y\n").unwrap();
        let t = read_tombstones(&p).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[1].min, t[1].max), (i64::MIN, i64::MAX));
    }
}
