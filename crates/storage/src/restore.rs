//! Shard restore (`POST /api/v2/restore/shards/{id}`): stage, validate completely, then switch
//! the shard over atomically.
//!
//! InfluxDB writes each `.tsm` entry of the tar straight into the live shard, skips tombstones
//! and swallows extraction errors, so a broken upload can answer success with data missing or
//! deleted data reappearing. Here:
//!
//! 1. **Stage.** The tar (see [`backup::shard_tar`]: unsafe entries are rejected) is streamed into
//!    a staging directory beside the shard, `<shard>.restore-<pid>-<n>.tmp`, each file fsynced.
//!    The decompressed size is bounded by [`RestoreOptions::max_bytes`] (gzip bombs).
//! 2. **Validate.** Every TSM file is read completely: header, index, footer, and every block's
//!    CRC and decoding. Every tombstone file is parsed and must belong to a TSM file of the tar.
//! 3. **Merge.** The shard's cache is flushed; the staged files are renamed to generations above
//!    every live file of the shard (so no name collides and restored values win on equal
//!    timestamps, keeping their relative order), and the live files are hard-linked beside
//!    them. Tombstones stay paired with their TSM file, so deleted data stays deleted.
//! 4. **Switch.** A marker `<shard>.restore-switch` naming the staging directory is written and
//!    fsynced, then `<shard>` is renamed to `<shard>.restore-old` and the staging directory to
//!    `<shard>`; the shard is reopened (index rebuilt from the new files, WAL replayed), the old
//!    directory and the marker are removed. [`recover`] finishes a switch that a crash
//!    interrupted (before the engine opens), so after a restart the shard holds either the old
//!    or the new file set, never a mix. Before the marker exists, a crash leaves only a staging
//!    directory, which [`recover`] removes. [`Engine::open`] runs [`recover`] before it opens
//!    any shard. From the listing of the live files to the reopen, the live shard's snapshots,
//!    compactions and deletes are paused. Writes keep flowing into the WAL until the switch;
//!    from the switch until the reopened shard has replayed the WAL they wait, then the
//!    replaced shard object is retired (writes that reach it are retried on the new object),
//!    so nothing acknowledged during a restore is lost.
//!
//! On any error before the switch, the staging directory is removed and the shard is exactly as
//! before; errors name the tar entry and the reason. The WAL directory is never touched, so
//! writes that reach the shard during a restore are kept.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use backup::shard_tar::{self, FileKind};

use crate::catalog::{BucketId, ShardId};
use crate::engine::{DATA_DIR, Engine, EngineError, RETENTION_POLICY};
use crate::snapshot::find_shard;
use crate::wal::sync_dir;

/// Limits of a restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Most bytes of (decompressed) tar accepted; larger bodies fail with
    /// [`RestoreError::TooLarge`].
    pub max_bytes: u64,
}

impl Default for RestoreOptions {
    /// 1 TiB.
    fn default() -> Self {
        RestoreOptions { max_bytes: 1 << 40 }
    }
}

/// Errors of a shard restore. Only [`RestoreError::Io`] and [`RestoreError::Engine`] after the
/// switch began can leave the shard changed; everything else leaves it as it was.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// No shard with this ID on this server.
    #[error("shard {0} not found")]
    NotFound(ShardId),
    /// The upload is not a valid shard tar: the entry at fault and why.
    #[error("{entry}: {reason}")]
    Invalid {
        /// Tar entry (or `archive` for the stream itself).
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The decompressed upload exceeded [`RestoreOptions::max_bytes`].
    #[error("shard archive larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// Flushing, reopening or the catalogue failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

fn io_err(path: &Path, source: io::Error) -> RestoreError {
    RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(entry: &str, reason: impl Into<String>) -> RestoreError {
    RestoreError::Invalid {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// What a restore installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Bucket of the shard.
    pub bucket: BucketId,
    /// Names the restored files got in the shard.
    pub installed: Vec<String>,
    /// Tar entries passed over (directories, files that are not shard data).
    pub skipped: Vec<String>,
    /// Bytes of tar read.
    pub tar_bytes: u64,
}

/// Suffix of the marker file of a switch in progress.
const SWITCH_SUFFIX: &str = ".restore-switch";
/// Suffix of the previous shard directory during a switch.
const OLD_SUFFIX: &str = ".restore-old";

static NEXT: AtomicU64 = AtomicU64::new(0);
/// Switches are serialised: two restores of one shard must not interleave their renames.
static SWITCH: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Counts bytes and fails once more than `max` were read.
struct Limited<R> {
    inner: R,
    read: u64,
    max: u64,
    exceeded: Arc<AtomicBool>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(io::Error::other("size limit exceeded"));
        }
        Ok(n)
    }
}

/// Removes the staging directory unless disarmed.
struct Staging {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A staged data file.
struct Staged {
    name: String,
    generation: u32,
    sequence: u32,
    kind: FileKind,
}

/// Restores the shard tar `input` (already decompressed) into shard `id`. See the module doc.
pub fn restore_shard(
    engine: &Engine,
    id: ShardId,
    input: impl Read,
    opts: &RestoreOptions,
) -> Result<RestoreSummary, RestoreError> {
    let bucket = find_shard(engine, id)?.ok_or(RestoreError::NotFound(id))?;
    let shard_dir = engine.shard_data_dir(bucket, id);
    let parent = shard_dir
        .parent()
        .ok_or_else(|| {
            io_err(
                &shard_dir,
                io::Error::other("shard directory has no parent"),
            )
        })?
        .to_path_buf();
    fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let staging = Staging {
        dir: parent.join(format!("{id}.restore-{}-{n}.tmp", std::process::id())),
        keep: false,
    };
    let incoming = staging.dir.join("incoming");
    fs::create_dir_all(&incoming).map_err(|e| io_err(&incoming, e))?;

    // 1. Stage.
    let exceeded = Arc::new(AtomicBool::new(false));
    let mut limited = Limited {
        inner: input,
        read: 0,
        max: opts.max_bytes,
        exceeded: Arc::clone(&exceeded),
    };
    let mut failure: Option<RestoreError> = None;
    let mut staged: Vec<Staged> = Vec::new();
    let result = shard_tar::read(&mut limited, |entry, r| {
        match stage_file(&incoming, entry, r) {
            Ok(()) => {
                staged.push(Staged {
                    name: entry.name.clone(),
                    generation: entry.file.generation,
                    sequence: entry.file.sequence,
                    kind: entry.file.kind,
                });
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                failure = Some(e);
                Err(backup::Error::TarEntry {
                    entry: entry.name.clone(),
                    reason: msg,
                })
            }
        }
    });
    let tar_bytes = limited.read;
    if exceeded.load(Ordering::Relaxed) {
        return Err(RestoreError::TooLarge(opts.max_bytes));
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            if let Some(f) = failure {
                return Err(f);
            }
            return Err(match e {
                backup::Error::TarEntry { entry, reason } => invalid(&entry, reason),
                backup::Error::Tar(e) => invalid("archive", format!("reading tar: {e}")),
                other => invalid("archive", other.to_string()),
            });
        }
    };

    // 2. Validate.
    for f in &staged {
        let path = incoming.join(&f.name);
        match f.kind {
            FileKind::Tsm => verify_tsm(&path, &f.name)?,
            FileKind::Tombstone => {
                if !staged.iter().any(|t| {
                    t.kind == FileKind::Tsm
                        && t.generation == f.generation
                        && t.sequence == f.sequence
                }) {
                    return Err(invalid(
                        &f.name,
                        "tombstone without its TSM file in the archive",
                    ));
                }
                let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
                tsm::tombstone::parse(&bytes)
                    .map_err(|e| invalid(&f.name, format!("invalid tombstone file: {e}")))?;
            }
        }
    }
    let mut out = RestoreSummary {
        bucket,
        installed: Vec::new(),
        skipped: summary.skipped,
        tar_bytes,
    };
    if staged.is_empty() {
        return Ok(out);
    }

    // 3. Merge, 4. switch.
    let _switch = SWITCH.lock();
    let live_shard = engine.shard(bucket, id);
    if let Some(shard) = &live_shard {
        shard.flush().map_err(EngineError::from)?;
    }
    // From here to the reopen the live shard's files and WAL stay as listed: no snapshot,
    // compaction or delete can slip in between the listing and the switch.
    let _paused = live_shard.as_ref().map(|s| s.pause_maintenance());
    let live = live_files(&shard_dir)?;
    let base = live
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()
                .and_then(shard_tar::DataFileName::parse)
        })
        .map(|n| n.generation)
        .max()
        .unwrap_or(0);
    let mut generations: Vec<u32> = staged.iter().map(|f| f.generation).collect();
    generations.sort_unstable();
    generations.dedup();
    for f in &staged {
        let rank = generations
            .iter()
            .position(|g| *g == f.generation)
            .unwrap_or(0) as u32;
        let generation = base
            .checked_add(rank + 1)
            .ok_or_else(|| invalid(&f.name, "generation numbers exhausted in this shard"))?;
        let ext = match f.kind {
            FileKind::Tsm => "tsm",
            FileKind::Tombstone => "tombstone",
        };
        let name = format!("{generation:09}-{:09}.{ext}", f.sequence);
        let dst = staging.dir.join(&name);
        fs::rename(incoming.join(&f.name), &dst).map_err(|e| io_err(&dst, e))?;
        out.installed.push(name);
    }
    fs::remove_dir(&incoming).map_err(|e| io_err(&incoming, e))?;
    for src in &live {
        let Some(name) = src.file_name() else {
            continue;
        };
        let dst = staging.dir.join(name);
        if fs::hard_link(src, &dst).is_err() {
            fs::copy(src, &dst).map_err(|e| io_err(src, e))?;
        }
    }
    sync_dir(&staging.dir).map_err(|e| io_err(&staging.dir, e))?;

    let marker = parent.join(format!("{id}{SWITCH_SUFFIX}"));
    let staging_name = staging
        .dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    write_synced(&marker, staging_name.as_bytes())?;
    sync_dir(&parent).map_err(|e| io_err(&parent, e))?;
    let mut staging = staging;
    staging.keep = true;
    // Writes wait from the switch until the new shard object has replayed the WAL and the old
    // one is retired: an entry appended through the old object after the replay would be in
    // the WAL but missing from the new cache until the next restart.
    let blocked = live_shard.as_ref().map(|s| s.block_writes());
    finish_switch(&parent, id, &staging_name)?;
    let reloaded = engine.reload_shard(bucket, id);
    if let Some(shard) = &live_shard {
        shard.retire();
    }
    drop(blocked);
    reloaded?;
    Ok(out)
}

/// Checks a staged TSM file completely: header, footer and index through
/// [`tsm::TsmReader::open`], then every block, read with `pread` into one reused buffer: its
/// CRC, that it decodes with as many values as timestamps, and its type against the index.
///
/// `TsmReader::verify` would check the same through the file's memory map, which makes every
/// page of the file resident in this process while it runs (a restore of a 1 GiB shard would
/// grow the server's RSS by 1 GiB); here only the index pages are mapped and touched, and the
/// blocks go through the page cache, so memory does not grow with the shard.
fn verify_tsm(path: &Path, name: &str) -> Result<(), RestoreError> {
    use std::os::unix::fs::FileExt as _;
    let bad = |e: tsm::Error| invalid(name, format!("invalid TSM file: {e}"));
    let at = |kind: tsm::ErrorKind, key: &[u8], offset: u64| {
        tsm::Error::new(Path::new(name), kind)
            .with_key(key)
            .at(offset)
    };
    let reader = tsm::TsmReader::open(path)
        .map_err(|e| invalid(name, format!("invalid TSM file: {}", e.kind)))?;
    let file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    // Blocks lie between the header and the index.
    let blocks_end = reader
        .size()
        .saturating_sub(tsm::writer::FOOTER_SIZE + reader.index_size());
    let mut buf = Vec::new();
    let mut block = tsm::Block::new(tsm::BlockType::Float);
    for i in 0..reader.key_count() {
        let Some((key, typ)) = reader.key_at(i) else {
            continue;
        };
        for e in reader.entries_at(i) {
            let end = e.offset.checked_add(u64::from(e.size));
            if e.size < 5 || end.is_none_or(|end| end > blocks_end) {
                let kind = tsm::ErrorKind::EntryOutOfBounds {
                    offset: e.offset as i64,
                    size: e.size,
                };
                return Err(bad(at(kind, key, e.offset)));
            }
            buf.resize(e.size as usize, 0);
            file.read_exact_at(&mut buf, e.offset)
                .map_err(|x| io_err(path, x))?;
            let stored = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let data = &buf[4..];
            let computed = tsm::block::checksum(data);
            if stored != computed {
                let kind = tsm::ErrorKind::Checksum { stored, computed };
                return Err(bad(at(kind, key, e.offset)));
            }
            tsm::block::decode(data, &mut block).map_err(|k| bad(at(k.into(), key, e.offset)))?;
            let found = block.values.block_type();
            if found != typ {
                let kind = tsm::ErrorKind::TypeMismatch {
                    expected: typ as u8,
                    found: found as u8,
                };
                return Err(bad(at(kind, key, e.offset)));
            }
        }
    }
    Ok(())
}

/// Writes one tar entry to `dir`, checking its length, and fsyncs it.
fn stage_file(dir: &Path, entry: &shard_tar::Entry, r: &mut dyn Read) -> Result<(), RestoreError> {
    let path = dir.join(&entry.name);
    let mut f = fs::File::create(&path).map_err(|e| io_err(&path, e))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got: u64 = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(invalid(&entry.name, format!("reading archive: {e}"))),
        };
        f.write_all(&buf[..n]).map_err(|e| io_err(&path, e))?;
        got += n as u64;
    }
    if got != entry.size {
        return Err(invalid(
            &entry.name,
            format!("archive truncated: {got} of {} bytes", entry.size),
        ));
    }
    f.sync_all().map_err(|e| io_err(&path, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RestoreError> {
    let mut f = fs::File::create(path).map_err(|e| io_err(path, e))?;
    f.write_all(bytes).map_err(|e| io_err(path, e))?;
    f.sync_all().map_err(|e| io_err(path, e))
}

/// Regular files of a shard directory (data files and anything else kept there), without
/// temporaries.
fn live_files(dir: &Path) -> Result<Vec<PathBuf>, RestoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| io_err(dir, e))?;
        let ft = e.file_type().map_err(|x| io_err(&e.path(), x))?;
        let name = e.file_name();
        if ft.is_file() && !name.to_string_lossy().ends_with(".tmp") {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Completes a switch whose marker exists: idempotent, so it also finishes a switch a crash
/// interrupted at any step.
fn finish_switch(parent: &Path, id: ShardId, staging_name: &str) -> Result<(), RestoreError> {
    let shard = parent.join(id.to_string());
    let old = parent.join(format!("{id}{OLD_SUFFIX}"));
    let staging = parent.join(staging_name);
    let marker = parent.join(format!("{id}{SWITCH_SUFFIX}"));
    if staging.is_dir() {
        if shard.exists() && !old.exists() {
            fs::rename(&shard, &old).map_err(|e| io_err(&shard, e))?;
        } else if shard.exists() {
            // Both the old copy and a current directory: the current one is the old shard
            // reopened after a crash before the staging rename; it is superseded.
            fs::remove_dir_all(&shard).map_err(|e| io_err(&shard, e))?;
        }
        fs::rename(&staging, &shard).map_err(|e| io_err(&staging, e))?;
        sync_dir(parent).map_err(|e| io_err(parent, e))?;
    }
    match fs::remove_dir_all(&old) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&old, e)),
    }
    match fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&marker, e)),
    }
    sync_dir(parent).map_err(|e| io_err(parent, e))
}

/// Empties the engine after the shard catalogue was replaced wholesale (`/api/v2/restore/kv`,
/// as InfluxDB does): every shard's files, WAL and cache are removed, so no data of the previous
/// catalogue can show up under a reused shard ID, and the shard groups the engine remembers
/// for `buckets` (those of the old and new catalogue) are forgotten. Shards of the new
/// catalogue are created empty when first written or restored. Returns the removed shards.
pub fn reset_shards(
    engine: &Engine,
    buckets: &[BucketId],
) -> Result<Vec<(BucketId, ShardId)>, RestoreError> {
    let removed = engine.shards();
    for &(bucket, id) in &removed {
        // A group ID no catalogue holds: the engine removes the shard's files and then fails to
        // find the group, leaving the (new) catalogue untouched.
        let spec = crate::catalog::ShardSpec {
            id,
            group_id: u64::MAX,
            start: 0,
            end: 0,
        };
        match engine.drop_shard(bucket, &spec) {
            Ok(()) | Err(EngineError::Catalog(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for &b in buckets {
        engine.forget_bucket_groups(b);
    }
    Ok(removed)
}

/// Finishes or cleans up restores a crash interrupted, under the engine directory `engine_path`
/// (holding `data/`); [`Engine::open`] runs it first. Returns the shards whose switch it
/// completed.
pub fn recover(engine_path: &Path) -> Result<Vec<ShardId>, RestoreError> {
    let data = engine_path.join(DATA_DIR);
    let mut done = Vec::new();
    let Ok(buckets) = fs::read_dir(&data) else {
        return Ok(done);
    };
    for b in buckets.flatten() {
        let parent = b.path().join(RETENTION_POLICY);
        let Ok(rd) = fs::read_dir(&parent) else {
            continue;
        };
        let mut markers = Vec::new();
        let mut stagings = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(SWITCH_SUFFIX) {
                if let Ok(id) = id.parse::<ShardId>() {
                    markers.push((id, e.path()));
                }
            } else if name.contains(".restore-") && name.ends_with(".tmp") {
                stagings.push(name);
            }
        }
        let mut referenced = Vec::new();
        for (id, marker) in markers {
            let staging_name = fs::read_to_string(&marker).map_err(|e| io_err(&marker, e))?;
            let staging_name = staging_name.trim().to_string();
            if staging_name.contains('/') || staging_name.contains("..") {
                return Err(invalid(
                    &marker.display().to_string(),
                    "restore marker names a path outside the shard's parent",
                ));
            }
            finish_switch(&parent, id, &staging_name)?;
            referenced.push(staging_name);
            done.push(id);
        }
        for s in stagings {
            if !referenced.contains(&s) {
                let p = parent.join(&s);
                fs::remove_dir_all(&p).map_err(|e| io_err(&p, e))?;
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
