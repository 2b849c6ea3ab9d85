//! Tombstone files: deletions recorded beside a TSM file until the next compaction removes
//! the data.
//!
//! `GEN-SEQ.tombstone` belongs to `GEN-SEQ.tsm`. A record deletes the points of one TSM key
//! with `min <= t <= max`. The version is given by the first four bytes (BE u32):
//!
//! | version | first 4 bytes | body |
//! |---|---|---|
//! | v1 | anything else (also an empty file) | text, one key per line, each a full-range delete |
//! | v2 | `00 00 15 02` | records until the end of the file |
//! | v3 | `00 00 15 03` | one gzip stream of records |
//! | v4 | `00 00 15 04` | one or more concatenated gzip members of records |
//!
//! Record (v2-v4): `keyLen u32 BE | key | min i64 BE | max i64 BE`.
//!
//! This module reads all four versions and writes v4: appending to a v4 file copies it and
//! adds one gzip member; an older file is rewritten as v4. The new file is written as
//! `GEN-SEQ.tombstone.tmp`, fsynced and renamed over the old one.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

/// Header of version 2 files.
pub const V2_HEADER: u32 = 0x1502;
/// Header of version 3 files.
pub const V3_HEADER: u32 = 0x1503;
/// Header of version 4 files.
pub const V4_HEADER: u32 = 0x1504;

/// Largest decompressed tombstone body accepted (guards against gzip bombs).
const MAX_BODY: u64 = 1 << 30;

/// One deletion: the points of `key` with `min <= t <= max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Full TSM key (series key + `#!~#` + field).
    pub key: Vec<u8>,
    /// First deleted time (inclusive).
    pub min: i64,
    /// Last deleted time (inclusive).
    pub max: i64,
}

/// Error reading or writing a tombstone file.
#[derive(Debug, thiserror::Error)]
pub enum TombstoneError {
    /// I/O failed (including a corrupt gzip stream).
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// A record is cut short.
    #[error("truncated record at body offset {0}")]
    Truncated(usize),
    /// The decompressed body is implausibly large.
    #[error("tombstone body larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// The tombstone path of a TSM file: `.tsm` (or any extension) replaced by `.tombstone`.
pub fn tombstone_path(tsm_path: &Path) -> PathBuf {
    tsm_path.with_extension("tombstone")
}

/// Parses the bytes of a tombstone file of any version.
pub fn parse(bytes: &[u8]) -> Result<Vec<Tombstone>, TombstoneError> {
    let header = bytes.first_chunk::<4>().map(|h| u32::from_be_bytes(*h));
    match header {
        Some(V2_HEADER) => parse_records(&bytes[4..]),
        Some(V3_HEADER) | Some(V4_HEADER) => {
            let mut body = Vec::new();
            MultiGzDecoder::new(&bytes[4..])
                .take(MAX_BODY + 1)
                .read_to_end(&mut body)?;
            if body.len() as u64 > MAX_BODY {
                return Err(TombstoneError::TooLarge);
            }
            parse_records(&body)
        }
        _ => Ok(bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Tombstone {
                key: l.to_vec(),
                min: i64::MIN,
                max: i64::MAX,
            })
            .collect()),
    }
}

fn parse_records(mut b: &[u8]) -> Result<Vec<Tombstone>, TombstoneError> {
    let total = b.len();
    let mut out = Vec::new();
    while !b.is_empty() {
        let at = total - b.len();
        let len = b
            .first_chunk::<4>()
            .map(|h| u32::from_be_bytes(*h) as usize)
            .ok_or(TombstoneError::Truncated(at))?;
        let rest = &b[4..];
        if rest.len() < len.saturating_add(16) {
            return Err(TombstoneError::Truncated(at));
        }
        let key = rest[..len].to_vec();
        let mut t = [0u8; 8];
        t.copy_from_slice(&rest[len..len + 8]);
        let min = i64::from_be_bytes(t);
        t.copy_from_slice(&rest[len + 8..len + 16]);
        let max = i64::from_be_bytes(t);
        out.push(Tombstone { key, min, max });
        b = &rest[len + 16..];
    }
    Ok(out)
}

/// Reads the tombstones of a TSM file (none if there is no tombstone file).
pub fn read_for(tsm_path: &Path) -> Result<Vec<Tombstone>, TombstoneError> {
    match fs::read(tombstone_path(tsm_path)) {
        Ok(b) => parse(&b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Encodes records as one gzip member.
fn gzip_member(records: &[Tombstone]) -> Result<Vec<u8>, TombstoneError> {
    let mut raw = Vec::new();
    for t in records {
        let len = u32::try_from(t.key.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "tombstone key too long"))?;
        raw.extend_from_slice(&len.to_be_bytes());
        raw.extend_from_slice(&t.key);
        raw.extend_from_slice(&t.min.to_be_bytes());
        raw.extend_from_slice(&t.max.to_be_bytes());
    }
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&raw)?;
    Ok(enc.finish()?)
}

/// Encodes a complete v4 tombstone file holding `records` (one gzip member).
pub fn encode_v4(records: &[Tombstone]) -> Result<Vec<u8>, TombstoneError> {
    let mut out = V4_HEADER.to_be_bytes().to_vec();
    out.extend(gzip_member(records)?);
    Ok(out)
}

/// Adds `records` to the tombstone file of the TSM file at `tsm_path`, writing v4 (see the
/// module documentation). Durable when it returns.
pub fn append_for(tsm_path: &Path, records: &[Tombstone]) -> Result<(), TombstoneError> {
    if records.is_empty() {
        return Ok(());
    }
    let path = tombstone_path(tsm_path);
    let existing = match fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let bytes = match existing {
        Some(b) if b.first_chunk::<4>().map(|h| u32::from_be_bytes(*h)) == Some(V4_HEADER) => {
            let mut b = b;
            b.extend(gzip_member(records)?);
            b
        }
        Some(b) => {
            let mut all = parse(&b)?;
            all.extend_from_slice(records);
            encode_v4(&all)?
        }
        None => encode_v4(records)?,
    };
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    crate::writer::sync_dir(&path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(key: &str, min: i64, max: i64) -> Tombstone {
        Tombstone {
            key: key.as_bytes().to_vec(),
            min,
            max,
        }
    }

    #[test]
    fn all_versions() {
        assert_eq!(parse(b"").unwrap(), []);
        assert_eq!(
            parse(b"cpu#!~#a\n\nmem#!~#b\n").unwrap(),
            [
                t("cpu#!~#a", i64::MIN, i64::MAX),
                t("mem#!~#b", i64::MIN, i64::MAX)
            ]
        );
        let recs = [t("cpu#!~#a", 5, 10), t("", -3, 3)];
        let mut raw = Vec::new();
        for r in &recs {
            raw.extend_from_slice(&(r.key.len() as u32).to_be_bytes());
            raw.extend_from_slice(&r.key);
            raw.extend_from_slice(&r.min.to_be_bytes());
            raw.extend_from_slice(&r.max.to_be_bytes());
        }
        let mut v2 = V2_HEADER.to_be_bytes().to_vec();
        v2.extend_from_slice(&raw);
        assert_eq!(parse(&v2).unwrap(), recs);
        let mut v3 = V3_HEADER.to_be_bytes().to_vec();
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&raw).unwrap();
        v3.extend(enc.finish().unwrap());
        assert_eq!(parse(&v3).unwrap(), recs);
        let mut v4 = encode_v4(&recs[..1]).unwrap();
        v4.extend(gzip_member(&recs[1..]).unwrap());
        assert_eq!(parse(&v4).unwrap(), recs);
        assert!(parse(&v2[..v2.len() - 1]).is_err());
        assert!(parse(&v3[..v3.len() - 3]).is_err());
    }

    #[test]
    fn append_writes_v4() {
        let dir = std::env::temp_dir().join(format!("tsm-tomb-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let tsm = dir.join("000000001-000000001.tsm");
        fs::write(tombstone_path(&tsm), b"old#!~#v\n").unwrap();
        append_for(&tsm, &[t("a", 1, 2)]).unwrap();
        append_for(&tsm, &[t("b", 3, 4)]).unwrap();
        let bytes = fs::read(dir.join("000000001-000000001.tombstone")).unwrap();
        assert_eq!(&bytes[..4], &[0, 0, 0x15, 0x04]);
        assert_eq!(
            read_for(&tsm).unwrap(),
            [
                t("old#!~#v", i64::MIN, i64::MAX),
                t("a", 1, 2),
                t("b", 3, 4)
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
