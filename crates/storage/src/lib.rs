//! The storage engine of ironflux: InfluxDB 2.x's write path and on-disk layout.
//!
//! * [`points`]: line protocol -> points, series keys and TSM keys as InfluxDB builds them.
//! * [`wal`]: per-shard write-ahead log in InfluxDB's format, group commit, torn-tail replay.
//! * [`cache`]: bounded in-memory values per TSM key, snapshotted to TSM files.
//! * [`tsmio`]: TSM files and tombstones as the engine reads and writes them.
//! * [`index`]: per-shard series index rebuilt from TSM keys and the WAL.
//! * [`shard`]: one shard directory: files, WAL, cache, index, snapshot, compaction, delete.
//! * [`catalog`]: where shards are recorded ([`catalog::ShardCatalog`]).
//! * [`engine`]: the entry point: [`Engine::open`], [`Engine::write_lines`], [`Engine::read`].
//! * [`predicate`]: series predicates and the `/api/v2/delete` predicate parser.
//! * [`snapshot`] and [`restore`]: shard backup (hard-linked snapshots) and validated, atomic
//!   shard restore.

//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use storage::{Engine, EngineConfig, MemoryCatalog, Precision, ReadRequest, ShardCatalog};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let catalog = Arc::new(MemoryCatalog::new());
//! catalog.add_bucket(0x0837_1db1_dd8c_8000, 0, 0); // infinite retention, default groups
//! let engine = Engine::open(EngineConfig::new(dir.path()), catalog as Arc<dyn ShardCatalog>).unwrap();
//! let stats = engine
//!     .write_lines(0x0837_1db1_dd8c_8000, b"cpu,host=a usage=0.5 1700000000", Precision::Seconds, 0)
//!     .unwrap();
//! assert_eq!(stats.points, 1);
//! let series: Vec<_> = engine
//!     .read(&ReadRequest::all(0x0837_1db1_dd8c_8000, i64::MIN, i64::MAX))
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(series[0].series_key, "cpu,host=a");
//! assert_eq!(series[0].field, "usage");
//! ```

pub mod cache;
pub mod catalog;
pub mod engine;
pub mod index;
pub mod meta_catalog;
pub mod points;
pub mod predicate;
pub mod restore;
pub mod shard;
pub mod snapshot;
pub mod tsmio;
pub mod values;
pub mod wal;

pub use catalog::{BucketId, MemoryCatalog, ShardCatalog, ShardId};
pub use engine::{
    Aggregate, Engine, EngineConfig, ReadRequest, SeriesPoints, WriteError, WriteStats,
};
pub use points::Precision;
pub use predicate::{Predicate, parse_delete_predicate};
