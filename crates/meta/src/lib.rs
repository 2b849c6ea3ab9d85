//! Metadata: orgs, buckets, users, authorizations, DBRP mappings and the shard catalogue, kept in
//! InfluxDB 2.x's own stores (a BoltDB KV file and a SQLite file).
//!
//! The entry point is [`MetaStore`] (blocking, `Send + Sync`, cheap to clone): open it with the
//! paths of `influxd.bolt` and `influxd.sqlite`; a new pair of files is created with InfluxDB
//! 2.7's buckets, tables and migration lists, and an existing pair (also one written by real
//! InfluxDB) is used as is. Records are the types of [`model`], serialized exactly as InfluxDB
//! stores them; errors are [`Error`], whose variants map one-to-one onto InfluxDB's error codes.
//!
//! Layout of the crate:
//! * [`model`]: records, filters, paging, request/update structs;
//! * `store`: [`MetaStore`], the services and their InfluxDB rules;
//! * [`schema`]: KV bucket names, migration names, Go-compatible JSON;
//! * [`catalog`]: the `meta.db` protobuf shard catalogue;
//! * [`sql`]: the SQLite store and its migrations;
//! * `bolt`, `kv`: the BoltDB file format and the crash-safe live file.

mod bolt;
pub mod catalog;
mod error;
mod id;
mod kv;
pub mod model;
pub mod schema;
pub mod sql;
mod store;
mod time;

pub use catalog::{DatabaseInfo, RetentionPolicyInfo, ShardGroupInfo, ShardInfo};
pub use error::{Error, Kind, Result};
pub use id::Id;
pub use model::*;
pub use store::{
    BCRYPT_COST, MIN_PASSWORD_LEN, MetaStore, default_shard_group_duration, generate_token,
    hash_token,
};
pub use time::Time;
