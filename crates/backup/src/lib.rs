//! Backup formats shared by the server and the command-line client, as InfluxDB 2.x and the
//! `influx` CLI write them: the bucket manifests of `GET /api/v2/backup/metadata` and
//! `POST /api/v2/restore/bucketMetadata`, the backup directory's `<ts>.manifest`, and the shard
//! tar streams of `GET /api/v2/backup/shards/{id}` and `POST /api/v2/restore/shards/{id}`.
//!
//! Format only: nothing here touches a live store. Readers reject malformed input with a typed
//! [`Error`] and never panic on it.

pub mod manifest;
pub mod shard_tar;
pub mod time;

mod error;
pub use error::Error;
