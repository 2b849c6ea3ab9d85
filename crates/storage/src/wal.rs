//! Write-ahead log of one shard, in InfluxDB's WAL format (storage-formats 4.2), with group
//! commit.
//!
//! # Format
//!
//! A shard's WAL directory (`engine/wal/<bucketID>/autogen/<shardID>/`) holds segment files
//! `_%05d.wal` (`_00001.wal`, ...); a segment is closed and a new one started once it exceeds
//! [`SEGMENT_SIZE`] (10 MiB). A segment is a sequence of entries:
//!
//! ```text
//! entryType u8 | len u32 BE | snappy-block(payload)   (len = compressed length)
//! ```
//!
//! | type | payload |
//! |---|---|
//! | 1 write | repeated: `valueType u8`, `keyLen u16 BE`, key, `count u32 BE`, count × (`time i64 BE`, value) |
//! | 2 delete | keys joined with `\n` |
//! | 3 delete-range | `min i64 BE`, `max i64 BE`, repeated (`keyLen u32 BE`, key) |
//!
//! WAL value types: 1 float (IEEE bits, u64 BE), 2 integer (i64 BE), 3 boolean (1 byte), 4 string
//! (`len u32 BE` + bytes), 5 unsigned (u64 BE). Keys are full TSM keys.
//!
//! # Durability and group commit
//!
//! [`Wal::append`] writes the framed entry to the current segment under a short lock and
//! returns its sequence number; [`Wal::sync`] then waits until an fsync covers it. The first
//! waiter with nothing in flight becomes the syncer: it fsyncs the segment for every entry
//! written so far, then wakes all waiters it covered; writers arriving meanwhile queue for the
//! next fsync. So one fsync acknowledges all writers that were waiting. A write is acknowledged
//! only after its fsync; after a failed fsync the WAL refuses further writes (the page cache
//! state is unknown), until the shard is reopened.
//!
//! # Replay
//!
//! [`Wal::open`] reads every segment in order. An entry whose header or body is short, whose
//! snappy block or payload does not decode, ends the segment: the file is truncated at the end
//! of the last good entry (as InfluxDB does) and replay moves on.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::values::Values;

/// A segment is closed once it grows past this many bytes (InfluxDB `DefaultSegmentSize`).
pub const SEGMENT_SIZE: u64 = 10 * 1024 * 1024;
/// Segment file name prefix.
pub const SEGMENT_PREFIX: &str = "_";
/// Segment file extension.
pub const SEGMENT_EXT: &str = "wal";
/// Entry header: type byte + u32 length.
pub const ENTRY_HEADER_LEN: usize = 5;
/// Largest entry body accepted on replay (guards against garbage lengths).
pub const MAX_ENTRY_LEN: usize = 1 << 30;

/// Entry type bytes.
pub const WRITE_ENTRY: u8 = 1;
/// Delete of whole keys.
pub const DELETE_ENTRY: u8 = 2;
/// Delete of a time range of keys.
pub const DELETE_RANGE_ENTRY: u8 = 3;

const FLOAT: u8 = 1;
const INTEGER: u8 = 2;
const BOOLEAN: u8 = 3;
const STRING: u8 = 4;
const UNSIGNED: u8 = 5;

/// WAL errors.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// File system error.
    #[error("wal {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// An earlier fsync failed; the WAL takes no more writes.
    #[error("wal is poisoned by an earlier failed fsync")]
    Poisoned,
    /// A key longer than the format allows.
    #[error("key of {0} bytes is too long for a WAL entry")]
    KeyTooLong(usize),
}

/// A decoded WAL entry.
#[derive(Debug, Clone, PartialEq)]
pub enum WalEntry {
    /// Values per TSM key.
    Write(Vec<(Vec<u8>, Values)>),
    /// Whole keys deleted.
    Delete(Vec<Vec<u8>>),
    /// Keys deleted for `min <= t <= max`.
    DeleteRange {
        /// Lower bound, inclusive.
        min: i64,
        /// Upper bound, inclusive.
        max: i64,
        /// TSM keys.
        keys: Vec<Vec<u8>>,
    },
}

impl WalEntry {
    /// Entry type byte.
    pub fn kind(&self) -> u8 {
        match self {
            WalEntry::Write(_) => WRITE_ENTRY,
            WalEntry::Delete(_) => DELETE_ENTRY,
            WalEntry::DeleteRange { .. } => DELETE_RANGE_ENTRY,
        }
    }

    /// Uncompressed payload.
    pub fn encode_payload(&self) -> Result<Vec<u8>, WalError> {
        let mut b = Vec::new();
        match self {
            WalEntry::Write(kv) => write_payload(kv, &mut b)?,
            WalEntry::Delete(keys) => {
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        b.push(b'\n');
                    }
                    b.extend_from_slice(k);
                }
            }
            WalEntry::DeleteRange { min, max, keys } => {
                b.extend_from_slice(&min.to_be_bytes());
                b.extend_from_slice(&max.to_be_bytes());
                for k in keys {
                    b.extend_from_slice(&(k.len() as u32).to_be_bytes());
                    b.extend_from_slice(k);
                }
            }
        }
        Ok(b)
    }

    /// Framed entry: header plus snappy block.
    pub fn encode(&self) -> Result<Vec<u8>, WalError> {
        frame(self.kind(), &self.encode_payload()?)
    }

    /// Framed write entry for a batch, without building a [`WalEntry`]. The buffer comes
    /// from a small pool; hand it back with [`recycle`] once appended.
    pub fn encode_write(batch: &[(Vec<u8>, Values)]) -> Result<Vec<u8>, WalError> {
        let mut payload = take_buffer();
        payload.reserve(payload_len(batch));
        let framed = write_payload(batch, &mut payload).and_then(|()| {
            let mut out = take_buffer();
            frame_into(WRITE_ENTRY, &payload, &mut out)?;
            Ok(out)
        });
        recycle(payload);
        framed
    }

    /// Decodes a payload of the given type; `None` when malformed.
    pub fn decode_payload(kind: u8, p: &[u8]) -> Option<WalEntry> {
        let mut r = Reader { b: p, at: 0 };
        match kind {
            WRITE_ENTRY => {
                let mut out = Vec::new();
                while !r.done() {
                    let ty = r.u8()?;
                    let klen = u16::from_be_bytes(r.array()?) as usize;
                    let key = r.bytes(klen)?.to_vec();
                    let n = u32::from_be_bytes(r.array()?) as usize;
                    // Each value takes at least 9 bytes; reject counts the body cannot hold.
                    if n > r.remaining() / 9 {
                        return None;
                    }
                    let values = match ty {
                        FLOAT => Values::Float(
                            (0..n)
                                .map(|_| Some((r.i64()?, f64::from_bits(r.i64()? as u64))))
                                .collect::<Option<_>>()?,
                        ),
                        INTEGER => Values::Integer(
                            (0..n)
                                .map(|_| Some((r.i64()?, r.i64()?)))
                                .collect::<Option<_>>()?,
                        ),
                        UNSIGNED => Values::Unsigned(
                            (0..n)
                                .map(|_| Some((r.i64()?, r.i64()? as u64)))
                                .collect::<Option<_>>()?,
                        ),
                        BOOLEAN => Values::Boolean(
                            (0..n)
                                .map(|_| Some((r.i64()?, r.u8()? != 0)))
                                .collect::<Option<_>>()?,
                        ),
                        STRING => Values::String(
                            (0..n)
                                .map(|_| {
                                    let t = r.i64()?;
                                    let len = u32::from_be_bytes(r.array()?) as usize;
                                    let s = String::from_utf8(r.bytes(len)?.to_vec()).ok()?;
                                    Some((t, s))
                                })
                                .collect::<Option<_>>()?,
                        ),
                        _ => return None,
                    };
                    out.push((key, values));
                }
                Some(WalEntry::Write(out))
            }
            DELETE_ENTRY => Some(WalEntry::Delete(if p.is_empty() {
                Vec::new()
            } else {
                p.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
            })),
            DELETE_RANGE_ENTRY => {
                let min = r.i64()?;
                let max = r.i64()?;
                let mut keys = Vec::new();
                while !r.done() {
                    let n = u32::from_be_bytes(r.array()?) as usize;
                    keys.push(r.bytes(n)?.to_vec());
                }
                Some(WalEntry::DeleteRange { min, max, keys })
            }
            _ => None,
        }
    }
}

/// Appends the write payload of a batch.
fn write_payload(kv: &[(Vec<u8>, Values)], b: &mut Vec<u8>) -> Result<(), WalError> {
    for (key, values) in kv {
        let klen = u16::try_from(key.len()).map_err(|_| WalError::KeyTooLong(key.len()))?;
        let (ty, n) = match values {
            Values::Float(v) => (FLOAT, v.len()),
            Values::Integer(v) => (INTEGER, v.len()),
            Values::Boolean(v) => (BOOLEAN, v.len()),
            Values::String(v) => (STRING, v.len()),
            Values::Unsigned(v) => (UNSIGNED, v.len()),
        };
        b.push(ty);
        b.extend_from_slice(&klen.to_be_bytes());
        b.extend_from_slice(key);
        b.extend_from_slice(&(n as u32).to_be_bytes());
        match values {
            Values::Float(v) => v.iter().for_each(|(t, x)| {
                b.extend_from_slice(&t.to_be_bytes());
                b.extend_from_slice(&x.to_bits().to_be_bytes());
            }),
            Values::Integer(v) => v.iter().for_each(|(t, x)| {
                b.extend_from_slice(&t.to_be_bytes());
                b.extend_from_slice(&x.to_be_bytes());
            }),
            Values::Unsigned(v) => v.iter().for_each(|(t, x)| {
                b.extend_from_slice(&t.to_be_bytes());
                b.extend_from_slice(&x.to_be_bytes());
            }),
            Values::Boolean(v) => v.iter().for_each(|(t, x)| {
                b.extend_from_slice(&t.to_be_bytes());
                b.push(u8::from(*x));
            }),
            Values::String(v) => v.iter().for_each(|(t, x)| {
                b.extend_from_slice(&t.to_be_bytes());
                b.extend_from_slice(&(x.len() as u32).to_be_bytes());
                b.extend_from_slice(x.as_bytes());
            }),
        }
    }
    Ok(())
}

/// Encoding buffers kept between writes. A write's payload and framed entry run to megabytes;
/// allocating them afresh for every request costs a page fault per 4 KiB, which showed as the
/// largest single cost of HTTP ingest. At most [`POOLED_BUFFERS`] buffers of at most
/// [`POOLED_BUFFER_MAX`] bytes are kept, so the pool holds a few MiB at most.
static BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const POOLED_BUFFERS: usize = 4;
const POOLED_BUFFER_MAX: usize = 8 << 20;

fn take_buffer() -> Vec<u8> {
    let mut b = BUFFERS.lock().pop().unwrap_or_default();
    b.clear();
    b
}

/// Returns a buffer from [`WalEntry::encode_write`] to the pool.
pub fn recycle(buf: Vec<u8>) {
    if buf.capacity() <= POOLED_BUFFER_MAX {
        let mut pool = BUFFERS.lock();
        if pool.len() < POOLED_BUFFERS {
            pool.push(buf);
        }
    }
}

/// Exact payload length of a batch (see [`write_payload`]).
fn payload_len(kv: &[(Vec<u8>, Values)]) -> usize {
    kv.iter()
        .map(|(key, values)| {
            7 + key.len()
                + match values {
                    Values::Float(v) => v.len() * 16,
                    Values::Integer(v) => v.len() * 16,
                    Values::Unsigned(v) => v.len() * 16,
                    Values::Boolean(v) => v.len() * 9,
                    Values::String(v) => v.iter().map(|(_, x)| 12 + x.len()).sum(),
                }
        })
        .sum()
}

/// Frames a payload: type, compressed length, snappy block.
fn frame(kind: u8, payload: &[u8]) -> Result<Vec<u8>, WalError> {
    let mut out = Vec::new();
    frame_into(kind, payload, &mut out)?;
    Ok(out)
}

/// [`frame`] into `out` (cleared first).
fn frame_into(kind: u8, payload: &[u8], out: &mut Vec<u8>) -> Result<(), WalError> {
    let max = snap::raw::max_compress_len(payload.len());
    out.clear();
    out.resize(ENTRY_HEADER_LEN + max, 0);
    let n = snap::raw::Encoder::new()
        .compress(payload, &mut out[ENTRY_HEADER_LEN..])
        .map_err(|e| WalError::Io {
            path: PathBuf::new(),
            source: io::Error::other(e),
        })?;
    out.truncate(ENTRY_HEADER_LEN + n);
    out[0] = kind;
    out[1..5].copy_from_slice(&(n as u32).to_be_bytes());
    Ok(())
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.b.len()
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.at
    }
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.array()?))
    }
}

/// Decodes the entries of a segment image; returns them and the length of the good prefix.
pub fn decode_segment(buf: &[u8]) -> (Vec<WalEntry>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    let mut dec = snap::raw::Decoder::new();
    while at + ENTRY_HEADER_LEN <= buf.len() {
        let kind = buf[at];
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        let body_start = at + ENTRY_HEADER_LEN;
        if len > MAX_ENTRY_LEN || body_start + len > buf.len() {
            break;
        }
        let Ok(payload) = dec.decompress_vec(&buf[body_start..body_start + len]) else {
            break;
        };
        let Some(entry) = WalEntry::decode_payload(kind, &payload) else {
            break;
        };
        out.push(entry);
        at = body_start + len;
    }
    (out, at)
}

/// Segment file name for an id.
pub fn segment_name(id: u64) -> String {
    format!("{SEGMENT_PREFIX}{id:05}.{SEGMENT_EXT}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

/// Lists segment ids in a directory, ascending.
pub fn segment_ids(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut ids = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(io_err(dir, e)),
    };
    for e in rd {
        let e = e.map_err(|e| io_err(dir, e))?;
        if let Some(id) = e.file_name().to_str().and_then(parse_segment_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn io_err(path: &Path, source: io::Error) -> WalError {
    WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a directory and any missing parents, fsyncing each parent whose entry changed, so
/// that files later fsynced inside it cannot vanish with their directory after a crash.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// Fsyncs a directory so that file creations and removals in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

struct Segment {
    id: u64,
    file: Arc<File>,
    size: u64,
}

struct Writer {
    seg: Segment,
    /// Sequence number of the last entry written.
    written: u64,
    poisoned: bool,
}

struct SyncState {
    synced: u64,
    syncing: bool,
    poisoned: bool,
}

/// The WAL of one shard.
pub struct Wal {
    dir: PathBuf,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced_cv: Condvar,
    segment_size: u64,
    fsyncs: std::sync::atomic::AtomicU64,
}

impl Wal {
    /// Opens (creating) the WAL directory, replays every segment (truncating torn tails) and
    /// returns the WAL positioned on a fresh segment together with the replayed entries.
    pub fn open(dir: &Path) -> Result<(Wal, Vec<WalEntry>), WalError> {
        Self::open_with_segment_size(dir, SEGMENT_SIZE)
    }

    /// As [`Wal::open`] with a custom rollover size (tests).
    pub fn open_with_segment_size(
        dir: &Path,
        segment_size: u64,
    ) -> Result<(Wal, Vec<WalEntry>), WalError> {
        create_dir_durable(dir).map_err(|e| io_err(dir, e))?;
        let ids = segment_ids(dir)?;
        let mut entries = Vec::new();
        for &id in &ids {
            let path = dir.join(segment_name(id));
            let buf = fs::read(&path).map_err(|e| io_err(&path, e))?;
            let (mut es, good) = decode_segment(&buf);
            entries.append(&mut es);
            if good < buf.len() {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_err(&path, e))?;
                f.set_len(good as u64).map_err(|e| io_err(&path, e))?;
                f.sync_all().map_err(|e| io_err(&path, e))?;
            }
        }
        // Always start a new segment: replayed segments stay as they are until a snapshot
        // covers them.
        let next = match ids.last() {
            // Reuse an empty last segment rather than leaving a trail of empty files.
            Some(&l)
                if fs::metadata(dir.join(segment_name(l)))
                    .map(|m| m.len())
                    .unwrap_or(1)
                    == 0 =>
            {
                l
            }
            Some(&l) => l + 1,
            None => 1,
        };
        let seg = Self::create_segment(dir, next)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer {
                seg,
                written: 0,
                poisoned: false,
            }),
            sync: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                poisoned: false,
            }),
            synced_cv: Condvar::new(),
            segment_size,
            fsyncs: std::sync::atomic::AtomicU64::new(0),
        };
        Ok((wal, entries))
    }

    fn create_segment(dir: &Path, id: u64) -> Result<Segment, WalError> {
        let path = dir.join(segment_name(id));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let size = file.metadata().map_err(|e| io_err(&path, e))?.len();
        sync_dir(dir).map_err(|e| io_err(dir, e))?;
        Ok(Segment {
            id,
            file: Arc::new(file),
            size,
        })
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a framed entry (see [`WalEntry::encode`]) and returns its sequence number for
    /// [`Wal::sync`]. The entry is not durable until `sync` returns.
    pub fn append(&self, framed: &[u8]) -> Result<u64, WalError> {
        let mut w = self.writer.lock();
        if w.poisoned {
            return Err(WalError::Poisoned);
        }
        if w.seg.size > 0 && w.seg.size + framed.len() as u64 > self.segment_size {
            self.roll_locked(&mut w)?;
        }
        let path = self.dir.join(segment_name(w.seg.id));
        if let Err(e) = (&*w.seg.file).write_all(framed) {
            // A partial write leaves a torn entry; replay truncates it. Refuse further writes.
            w.poisoned = true;
            return Err(io_err(&path, e));
        }
        w.seg.size += framed.len() as u64;
        w.written += 1;
        Ok(w.written)
    }

    /// Closes the current segment (fsynced) and starts the next; returns the closed id.
    /// Everything written before is durable when this returns.
    pub fn roll(&self) -> Result<u64, WalError> {
        let mut w = self.writer.lock();
        if w.poisoned {
            return Err(WalError::Poisoned);
        }
        self.roll_locked(&mut w)
    }

    fn roll_locked(&self, w: &mut Writer) -> Result<u64, WalError> {
        let path = self.dir.join(segment_name(w.seg.id));
        if let Err(e) = w.seg.file.sync_data() {
            w.poisoned = true;
            self.sync.lock().poisoned = true;
            self.synced_cv.notify_all();
            return Err(io_err(&path, e));
        }
        let closed = w.seg.id;
        w.seg = Self::create_segment(&self.dir, closed + 1)?;
        let mut s = self.sync.lock();
        s.synced = s.synced.max(w.written);
        drop(s);
        self.synced_cv.notify_all();
        Ok(closed)
    }

    /// Waits until entry `seq` is fsynced, fsyncing itself when no other writer is.
    pub fn sync(&self, seq: u64) -> Result<(), WalError> {
        let mut s = self.sync.lock();
        loop {
            if s.poisoned {
                return Err(WalError::Poisoned);
            }
            if s.synced >= seq {
                return Ok(());
            }
            if s.syncing {
                self.synced_cv.wait(&mut s);
                continue;
            }
            s.syncing = true;
            drop(s);
            let (file, target, id) = {
                let w = self.writer.lock();
                (Arc::clone(&w.seg.file), w.written, w.seg.id)
            };
            let res = file.sync_data();
            self.fsyncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            s = self.sync.lock();
            s.syncing = false;
            match res {
                Ok(()) => s.synced = s.synced.max(target),
                Err(e) => {
                    s.poisoned = true;
                    // Lock order is writer -> sync everywhere: release sync first.
                    drop(s);
                    self.writer.lock().poisoned = true;
                    self.synced_cv.notify_all();
                    return Err(io_err(&self.dir.join(segment_name(id)), e));
                }
            }
            self.synced_cv.notify_all();
        }
    }

    /// Appends an entry and waits for its fsync.
    pub fn write(&self, entry: &WalEntry) -> Result<(), WalError> {
        let framed = entry.encode()?;
        let seq = self.append(&framed)?;
        self.sync(seq)
    }

    /// Removes every closed segment with id `<= upto` (after a snapshot covered them).
    pub fn remove_segments_upto(&self, upto: u64) -> Result<(), WalError> {
        let current = self.writer.lock().seg.id;
        for id in segment_ids(&self.dir)? {
            if id <= upto && id < current {
                let p = self.dir.join(segment_name(id));
                fs::remove_file(&p).map_err(|e| io_err(&p, e))?;
            }
        }
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))
    }

    /// Number of group-commit fsyncs done so far.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Id of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.writer.lock().seg.id
    }

    /// Total bytes of all segment files.
    pub fn disk_size(&self) -> u64 {
        segment_ids(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| fs::metadata(self.dir.join(segment_name(id))).ok())
            .map(|m| m.len())
            .sum()
    }
}

#[cfg(test)]
mod tests;
