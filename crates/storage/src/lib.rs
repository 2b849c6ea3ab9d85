//! The storage engine: line protocol, WAL, cache, shards of TSM files, series index.

pub mod cache;
pub mod catalog;
pub mod index;
pub mod points;
pub mod tsmio;
pub mod values;
pub mod wal;
