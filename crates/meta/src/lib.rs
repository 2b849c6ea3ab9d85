//! Metadata: orgs, buckets, users, authorizations, DBRP mappings and the shard catalogue, kept in
//! InfluxDB 2.x's own stores (a BoltDB KV file and a SQLite file).
//!
//! The entry point is [`MetaStore`]; records are the types of [`model`], serialized exactly as
//! InfluxDB 2.x stores them; errors are [`Error`].

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
