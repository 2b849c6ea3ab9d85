//! Streaming TSM file writer.
//!
//! File layout (all integers big-endian):
//!
//! ```text
//! header  = magic 16 D1 16 D1 | version 01
//! blocks  = { crc32 u32 | block data }*          (see `block`)
//! index   = { keyLen u16 | key | type u8 | count u16 | count x entry }*   sorted by key
//! entry   = minTime i64 | maxTime i64 | offset i64 | size u32              (28 bytes)
//! footer  = indexOffset u64
//! ```
//!
//! `offset` points at a block record's CRC and `size` counts the CRC plus the block data.
//! Blocks are written straight to the file as they come; only the index (28 bytes per block
//! plus each key once) is kept in memory until [`TsmWriter::finish`], so memory use does not
//! grow with the data. Keys must be added in ascending byte order; one key may receive any
//! number of blocks (at most 65535), in ascending time order.
//!
//! The file is written as `<name>.tsm.tmp`; `finish` writes the index and footer, fsyncs the
//! file, renames it to `<name>.tsm` and fsyncs the directory, so a published name always holds
//! a complete file. A writer dropped before `finish` deletes its temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::block::{self, BlockType, ValuesRef};
use crate::encoding::StringValues;
use crate::error::{Error, ErrorKind, Result};

/// TSM magic number.
pub const MAGIC: u32 = 0x16D1_16D1;
/// TSM format version.
pub const VERSION: u8 = 1;
/// Size of the header (magic + version).
pub const HEADER_SIZE: u64 = 5;
/// Size of the footer (index offset).
pub const FOOTER_SIZE: u64 = 8;
/// Size of one index entry.
pub const INDEX_ENTRY_SIZE: usize = 28;
/// Points per block written by default (InfluxDB's `DefaultMaxPointsPerBlock`).
pub const DEFAULT_MAX_POINTS_PER_BLOCK: usize = 1000;
/// Largest number of blocks per key in one file.
pub const MAX_INDEX_ENTRIES: usize = 65535;
/// Largest key length.
pub const MAX_KEY_LENGTH: usize = 65535;

/// The file name InfluxDB gives generation `generation`, sequence `sequence`:
/// `%09d-%09d.tsm`.
pub fn file_name(generation: u64, sequence: u64) -> String {
    format!("{generation:09}-{sequence:09}.tsm")
}

/// Parses `GEN-SEQ.tsm` (or any name whose text before the first `.` is `GEN-SEQ`) into
/// (generation, sequence), as InfluxDB's `DefaultParseFileName`.
pub fn parse_file_name(name: &str) -> Option<(u32, u32)> {
    let base = name.rsplit('/').next()?;
    let stem = base.split('.').next()?;
    let (g, s) = stem.split_once('-')?;
    Some((g.parse().ok()?, s.parse().ok()?))
}

/// One index entry: where a block is and which times it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// First timestamp of the block.
    pub min_time: i64,
    /// Last timestamp of the block.
    pub max_time: i64,
    /// File offset of the block record (its CRC).
    pub offset: u64,
    /// Size of the block record: 4 (CRC) + block data length.
    pub size: u32,
}

impl IndexEntry {
    /// True if the block may hold points in `[min, max]`.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.min_time <= max && self.max_time >= min
    }
}

/// Streaming writer of one TSM file. See the module documentation.
pub struct TsmWriter {
    path: PathBuf,
    tmp_path: PathBuf,
    out: Option<BufWriter<File>>,
    offset: u64,
    max_points: usize,
    index: Vec<u8>,
    key: Vec<u8>,
    key_type: Option<BlockType>,
    entries: Vec<IndexEntry>,
    scratch: Vec<u8>,
    finished: bool,
}

impl TsmWriter {
    /// Starts writing the file that will be published at `path` (normally `…/GEN-SEQ.tsm`);
    /// until [`finish`](Self::finish) the data goes to `path` + `.tmp`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp_path = PathBuf::from(tmp);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp_path)
            .map_err(|e| Error::new(&tmp_path, e))?;
        Ok(TsmWriter {
            path,
            tmp_path,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            offset: 0,
            max_points: DEFAULT_MAX_POINTS_PER_BLOCK,
            index: Vec::new(),
            key: Vec::new(),
            key_type: None,
            entries: Vec::new(),
            scratch: Vec::new(),
            finished: false,
        })
    }

    /// Sets how many points [`write`](Self::write) puts in one block (at least 1).
    pub fn with_max_points_per_block(mut self, n: usize) -> Self {
        self.max_points = n.max(1);
        self
    }

    /// The path the file is published at by `finish`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far (blocks only, before the index).
    pub fn size(&self) -> u64 {
        self.offset
    }

    /// Writes the points of `key`, splitting them into blocks of the configured size.
    /// `timestamps` must be sorted and unique and as long as `values`. Keys must come in
    /// ascending order; the same key may be written again with later points.
    pub fn write(&mut self, key: &[u8], timestamps: &[i64], values: ValuesRef<'_>) -> Result<()> {
        if timestamps.len() != values.len() {
            return Err(self
                .err(block::BlockError::CountMismatch {
                    timestamps: timestamps.len(),
                    values: values.len(),
                })
                .with_key(key));
        }
        let mut start = 0;
        while start < timestamps.len() {
            let end = (start + self.max_points).min(timestamps.len());
            let mut data = std::mem::take(&mut self.scratch);
            data.clear();
            let r = match values {
                ValuesRef::Float(v) => block::encode(
                    &timestamps[start..end],
                    ValuesRef::Float(&v[start..end]),
                    &mut data,
                ),
                ValuesRef::Integer(v) => block::encode(
                    &timestamps[start..end],
                    ValuesRef::Integer(&v[start..end]),
                    &mut data,
                ),
                ValuesRef::Unsigned(v) => block::encode(
                    &timestamps[start..end],
                    ValuesRef::Unsigned(&v[start..end]),
                    &mut data,
                ),
                ValuesRef::Boolean(v) => block::encode(
                    &timestamps[start..end],
                    ValuesRef::Boolean(&v[start..end]),
                    &mut data,
                ),
                ValuesRef::String(v) => {
                    let part: StringValues = v.iter().skip(start).take(end - start).collect();
                    block::encode(&timestamps[start..end], ValuesRef::String(&part), &mut data)
                }
            };
            let r = r.map_err(|e| self.err(e).with_key(key)).and_then(|()| {
                self.write_block(key, timestamps[start], timestamps[end - 1], &data)
            });
            self.scratch = data;
            r?;
            start = end;
        }
        Ok(())
    }

    /// Writes one already-encoded block (block data without CRC, as produced by
    /// [`block::encode`]) covering `min_time..=max_time` for `key`.
    pub fn write_block(
        &mut self,
        key: &[u8],
        min_time: i64,
        max_time: i64,
        data: &[u8],
    ) -> Result<()> {
        let bt = block::block_type(data).map_err(|e| self.err(e).with_key(key))?;
        if key.is_empty() || key.len() > MAX_KEY_LENGTH {
            return Err(self.err(ErrorKind::KeyLength(key.len())).with_key(key));
        }
        let size = u32::try_from(data.len() + 4)
            .map_err(|_| self.err(ErrorKind::TooLarge("block")).with_key(key))?;
        if self.key_type.is_none() || key != self.key.as_slice() {
            if self.key_type.is_some() && key < self.key.as_slice() {
                return Err(self.err(ErrorKind::KeyOrder).with_key(key));
            }
            self.flush_key();
            self.key.clear();
            self.key.extend_from_slice(key);
            self.key_type = Some(bt);
        } else if self.key_type != Some(bt) {
            return Err(self
                .err(ErrorKind::TypeMismatch {
                    expected: self.key_type.map_or(0, |t| t as u8),
                    found: bt as u8,
                })
                .with_key(key));
        }
        if self.entries.len() >= MAX_INDEX_ENTRIES {
            return Err(self.err(ErrorKind::TooManyBlocks).with_key(key));
        }
        if self.offset == 0 {
            let mut h = [0u8; 5];
            h[..4].copy_from_slice(&MAGIC.to_be_bytes());
            h[4] = VERSION;
            self.put(&h)?;
            self.offset = HEADER_SIZE;
        }
        let at = self.offset;
        self.put(&block::checksum(data).to_be_bytes())?;
        self.put(data)?;
        self.offset += u64::from(size);
        self.entries.push(IndexEntry {
            min_time,
            max_time,
            offset: at,
            size,
        });
        Ok(())
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        match self.out.as_mut() {
            Some(w) => w
                .write_all(b)
                .map_err(|e| Error::new(&self.tmp_path, e).at(self.offset)),
            None => Err(Error::new(
                &self.tmp_path,
                std::io::Error::other("writer already finished"),
            )),
        }
    }

    fn err(&self, kind: impl Into<ErrorKind>) -> Error {
        Error::new(&self.tmp_path, kind)
    }

    /// Appends the index section of the current key.
    fn flush_key(&mut self) {
        let Some(t) = self.key_type else { return };
        if self.entries.is_empty() {
            return;
        }
        self.entries.sort_by_key(|e| e.min_time);
        self.index
            .extend_from_slice(&(self.key.len() as u16).to_be_bytes());
        self.index.extend_from_slice(&self.key);
        self.index.push(t as u8);
        self.index
            .extend_from_slice(&(self.entries.len() as u16).to_be_bytes());
        for e in &self.entries {
            self.index.extend_from_slice(&e.min_time.to_be_bytes());
            self.index.extend_from_slice(&e.max_time.to_be_bytes());
            self.index.extend_from_slice(&e.offset.to_be_bytes());
            self.index.extend_from_slice(&e.size.to_be_bytes());
        }
        self.entries.clear();
    }

    /// Writes the index and footer, fsyncs, renames the file to its final name and fsyncs
    /// the directory. Returns the final path. Fails with [`ErrorKind::NoValues`] (and removes
    /// the temporary file) if no block was written.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.offset == 0 {
            return Err(self.err(ErrorKind::NoValues));
        }
        self.flush_key();
        let index = std::mem::take(&mut self.index);
        let index_at = self.offset;
        self.put(&index)?;
        self.put(&index_at.to_be_bytes())?;
        let w = self
            .out
            .take()
            .ok_or_else(|| self.err(ErrorKind::NoValues))?;
        let file = w.into_inner().map_err(|e| self.err(e.into_error()))?;
        file.sync_all().map_err(|e| self.err(e))?;
        drop(file);
        fs::rename(&self.tmp_path, &self.path).map_err(|e| self.err(e))?;
        self.finished = true;
        sync_dir(&self.path).map_err(|e| Error::new(&self.path, e))?;
        Ok(self.path.clone())
    }

    /// Abandons the file, deleting the temporary file.
    pub fn abort(mut self) {
        self.out = None;
        let _ = fs::remove_file(&self.tmp_path);
        self.finished = true;
    }
}

impl Drop for TsmWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.out = None;
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// Fsyncs the directory containing `path` so a rename in it is durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_name(12, 2), "000000012-000000002.tsm");
        assert_eq!(file_name(1_000_000_000, 1), "1000000000-000000001.tsm");
        assert_eq!(parse_file_name("000000012-000000002.tsm"), Some((12, 2)));
        assert_eq!(
            parse_file_name("dir/000000012-000000002.tsm.tmp"),
            Some((12, 2))
        );
        assert_eq!(parse_file_name("foo.tsm"), None);
    }

    #[test]
    fn worked_example_file() {
        let dir = std::env::temp_dir().join(format!("tsm-writer-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file_name(1, 1));
        let mut w = TsmWriter::create(&path).unwrap();
        w.write(
            b"cpu,host=a#!~#value",
            &[1_000_000_000],
            ValuesRef::Float(&[1.0]),
        )
        .unwrap();
        assert_eq!(w.finish().unwrap(), path);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 99);
        assert_eq!(
            &bytes[..9],
            &[0x16, 0xd1, 0x16, 0xd1, 1, 0xe0, 0x55, 0x22, 0x8c]
        );
        assert_eq!(&bytes[91..], &[0, 0, 0, 0, 0, 0, 0, 0x27]);
        assert!(!dir.join("000000001-000000001.tsm.tmp").exists());
        // Empty writer: error and no file left behind.
        let p2 = dir.join(file_name(2, 1));
        let w = TsmWriter::create(&p2).unwrap();
        assert!(matches!(w.finish().unwrap_err().kind, ErrorKind::NoValues));
        assert!(!p2.exists());
        let mut w = TsmWriter::create(&p2).unwrap();
        w.write(b"b", &[1], ValuesRef::Integer(&[1])).unwrap();
        let e = w.write(b"a", &[1], ValuesRef::Integer(&[1])).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::KeyOrder));
        drop(w);
        assert!(!dir.join("000000002-000000001.tsm.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
