//! The storage engine: line protocol, WAL, cache, shards of TSM files, series index.

pub mod cache;
pub mod points;
pub mod values;
pub mod wal;
