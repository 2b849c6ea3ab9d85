//! Metadata: orgs, buckets, users, authorizations, DBRP mappings and the shard catalogue, kept in
//! InfluxDB 2.x's own stores (a BoltDB KV file and a SQLite file).
//!
//! The entry point is [`MetaStore`] (blocking, `Send + Sync`, cheap to clone): open it with the
//! paths of `influxd.bolt` and `influxd.sqlite`; a new pair of files is created with InfluxDB
//! 2.7's buckets, tables and migration lists, and an existing pair (also one written by real
//! InfluxDB) is used as is. Records are the types of [`model`], serialized exactly as InfluxDB
//! stores them; errors are [`Error`], whose variants map one-to-one onto InfluxDB's error codes.
//!
//! ```
//! use meta::{MetaStore, SetupRequest, Permission, Action, ResourceType};
//! # fn main() -> meta::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! let store = MetaStore::open(dir.path().join("influxd.bolt"), dir.path().join("influxd.sqlite"))?;
//! assert!(store.setup_allowed()?);
//! let done = store.setup(SetupRequest {
//!     username: "admin".into(),
//!     password: Some("changeme!".into()),
//!     org: "acme".into(),
//!     bucket: "metrics".into(),
//!     retention_period_ns: 0,
//!     token: None,
//! })?;
//! // A request carrying the operator token may write buckets.
//! let auth = store.find_authorization_by_token(&done.auth.token)?;
//! assert!(auth.allows(&Permission::new(Action::Write, ResourceType::Buckets)));
//! // Storage maps a point of the bucket to its shard.
//! let group = store.shard_group_for(done.bucket.id, 1_700_000_000_000_000_000)?;
//! assert_eq!(group.shards.len(), 1);
//! # Ok(())
//! # }
//! ```
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
    BCRYPT_COST, Label, LabelCreate, LabelFilter, LabelMapping, LabelUpdate, MIN_PASSWORD_LEN,
    MetaStore, Run, RunLog, Task, TaskCreate, TaskFilter, default_shard_group_duration,
    generate_token, hash_token, zero_time,
};
pub use store::{
    Cell, CellCreate, CellUpdate, Dashboard, DashboardCreate, DashboardFilter, DashboardMeta,
    DashboardUpdate, View, ViewUpdate, empty_view_properties,
};
pub use store::{TelegrafConfig, TelegrafCreate, buckets_of, count_plugins};
pub use store::{Variable, VariableArguments, VariableCreate, VariableQueryValues, VariableUpdate};
pub use time::Time;
