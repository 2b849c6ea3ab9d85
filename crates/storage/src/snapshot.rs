//! Shard snapshots for backup (`GET /api/v2/backup/shards/{id}`).
//!
//! A snapshot first flushes the shard's cache, so every write acknowledged before it is in a TSM
//! file, then hard-links the shard's current `.tsm` files and their `.tombstone` files into a
//! private directory `<shard dir>/backup-<n>.tmp`. The links keep the bytes alive while they are
//! streamed even if a compaction removes the originals meanwhile; the directory is removed when
//! the [`ShardSnapshot`] is dropped (and, after a crash, when the shard is next opened: the shard
//! removes every `*.tmp` entry of its directory).
//!
//! A compaction that removes a file between listing and linking makes the link fail with "not
//! found"; the snapshot is then taken again (a few times) from the new file set.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::catalog::{BucketId, ShardId};
use crate::engine::{Engine, EngineError};

/// Errors of a shard snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No shard with this ID on this server.
    #[error("shard {0} not found")]
    NotFound(ShardId),
    /// Flushing the cache or reading the catalogue failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Linking or listing files failed.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The file set kept changing under the snapshot.
    #[error("shard {0} kept changing while its files were linked; try again")]
    Busy(ShardId),
}

fn io_err(path: &Path, source: io::Error) -> SnapshotError {
    SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The bucket holding shard `id`: an open shard, else one recorded in the catalogue.
pub fn find_shard(engine: &Engine, id: ShardId) -> Result<Option<BucketId>, EngineError> {
    if let Some((b, _)) = engine.shards().into_iter().find(|(_, s)| *s == id) {
        return Ok(Some(b));
    }
    let catalog = engine.catalog();
    for bucket in catalog.buckets()? {
        if catalog.shards(bucket)?.iter().any(|s| s.id == id) {
            return Ok(Some(bucket));
        }
    }
    Ok(None)
}

/// Hard links of a shard's data files, removed on drop.
#[derive(Debug)]
pub struct ShardSnapshot {
    /// Bucket of the shard.
    pub bucket: BucketId,
    /// Shard ID.
    pub id: ShardId,
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl ShardSnapshot {
    /// The linked files (TSM files oldest first, each followed by its tombstone file if any).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The private directory holding the links.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ShardSnapshot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Flushes shard `id` and links its files. `since`: only files modified strictly after it
/// (InfluxDB's file-level `since`). Unknown shards give [`SnapshotError::NotFound`].
pub fn snapshot_shard(
    engine: &Engine,
    id: ShardId,
    since: Option<SystemTime>,
) -> Result<ShardSnapshot, SnapshotError> {
    let bucket = find_shard(engine, id)?.ok_or(SnapshotError::NotFound(id))?;
    let shard_dir = engine.shard_data_dir(bucket, id);
    for _attempt in 0..5 {
        let sources = engine.shard_snapshot(bucket, id)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = shard_dir.join(format!("backup-{}-{n}.tmp", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let mut snap = ShardSnapshot {
            bucket,
            id,
            dir,
            files: Vec::new(),
        };
        let mut vanished = false;
        for src in sources {
            let Some(name) = src.file_name() else {
                continue;
            };
            if let Some(since) = since {
                match fs::metadata(&src).and_then(|m| m.modified()) {
                    Ok(t) if t <= since => continue,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        vanished = true;
                        break;
                    }
                    Err(e) => return Err(io_err(&src, e)),
                }
            }
            let dst = snap.dir.join(name);
            match fs::hard_link(&src, &dst) {
                Ok(()) => snap.files.push(dst),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    vanished = true;
                    break;
                }
                // File systems without hard links: copy instead.
                Err(_) => {
                    copy_file(&src, &dst)?;
                    snap.files.push(dst);
                }
            }
        }
        if !vanished {
            return Ok(snap);
        }
        // Dropping `snap` removes the partial link set; the next attempt sees the new files.
    }
    Err(SnapshotError::Busy(id))
}

fn copy_file(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    fs::copy(src, dst).map(|_| ()).map_err(|e| io_err(src, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{MemoryCatalog, ShardCatalog};
    use crate::engine::EngineConfig;
    use crate::points::Precision;
    use std::sync::Arc;

    const BUCKET: BucketId = 0x0837_1db1_dd8c_8000;

    fn engine(dir: &Path) -> Engine {
        let catalog = Arc::new(MemoryCatalog::new());
        catalog.add_bucket(BUCKET, 0, 0);
        let mut cfg = EngineConfig::new(dir);
        cfg.maintenance_interval = None;
        Engine::open(cfg, catalog as Arc<dyn ShardCatalog>).unwrap()
    }

    #[test]
    fn snapshot_holds_acknowledged_writes_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        e.write_lines(BUCKET, b"cpu v=1 1700000000", Precision::Seconds, 0)
            .unwrap();
        let (_, id) = e.shards()[0];
        let snap = snapshot_shard(&e, id, None).unwrap();
        assert_eq!(snap.files().len(), 1);
        assert!(
            snap.files()[0]
                .to_string_lossy()
                .ends_with("000000001-000000001.tsm")
        );
        let r = tsm::TsmReader::open(&snap.files()[0]).unwrap();
        assert_eq!(r.key_count(), 1);
        // Deletes add a tombstone, which the next snapshot carries.
        e.delete(BUCKET, 0, i64::MAX, &crate::Predicate::True)
            .unwrap();
        let snap2 = snapshot_shard(&e, id, None).unwrap();
        let names: Vec<_> = snap2
            .files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["000000001-000000001.tsm", "000000001-000000001.tombstone"]
        );
        let d = snap.dir().to_path_buf();
        drop(snap);
        assert!(!d.exists());
        // `since` after the files' times leaves nothing.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(
            snapshot_shard(&e, id, Some(later))
                .unwrap()
                .files()
                .is_empty()
        );
        assert!(matches!(
            snapshot_shard(&e, 999, None),
            Err(SnapshotError::NotFound(999))
        ));
    }
}
