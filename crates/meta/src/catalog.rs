//! The storage catalogue InfluxDB keeps in the KV store under `v1_tsm1_metadata` / `meta.db`:
//! protobuf (proto2) message `Data` of InfluxDB's `v1/services/meta/internal/meta.proto`.
//! Each bucket is a 1.x database named by the bucket ID (16 hex), with one retention policy
//! `autogen` holding its shard groups; each shard group has one shard. IDs of shard groups and
//! shards come from the counters `MaxShardGroupID` / `MaxShardID`; `Index` grows with each change.
//!
//! The messages are hand-written prost structs (no build script, no `protoc`); proto2 `required`
//! fields are plain fields so prost always encodes them, as gogo-protobuf on the Go side expects.

use prost::Message;

use crate::error::{Error, Result};

/// KV bucket of the catalogue.
pub const BUCKET: &str = "v1_tsm1_metadata";
/// Key of the catalogue in [`BUCKET`].
pub const KEY: &[u8] = b"meta.db";
/// The retention policy name InfluxDB 2.x uses for every bucket.
pub const AUTOGEN: &str = "autogen";

/// `Data`: the whole catalogue.
#[derive(Clone, PartialEq, Message)]
pub struct Data {
    /// Term (unused, 0).
    #[prost(uint64, required, tag = "1")]
    pub term: u64,
    /// Incremented on every change.
    #[prost(uint64, required, tag = "2")]
    pub index: u64,
    /// Random cluster ID.
    #[prost(uint64, required, tag = "3")]
    pub cluster_id: u64,
    /// Unused in 2.x.
    #[prost(message, repeated, tag = "4")]
    pub nodes: Vec<NodeInfo>,
    /// One per bucket.
    #[prost(message, repeated, tag = "5")]
    pub databases: Vec<DatabaseInfo>,
    /// Unused in 2.x.
    #[prost(message, repeated, tag = "6")]
    pub users: Vec<UserInfo>,
    /// Unused in 2.x.
    #[prost(uint64, required, tag = "7")]
    pub max_node_id: u64,
    /// Highest shard group ID handed out.
    #[prost(uint64, required, tag = "8")]
    pub max_shard_group_id: u64,
    /// Highest shard ID handed out.
    #[prost(uint64, required, tag = "9")]
    pub max_shard_id: u64,
    /// Unused in 2.x.
    #[prost(message, repeated, tag = "10")]
    pub data_nodes: Vec<NodeInfo>,
    /// Unused in 2.x.
    #[prost(message, repeated, tag = "11")]
    pub meta_nodes: Vec<NodeInfo>,
}

/// `NodeInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeInfo {
    /// ID.
    #[prost(uint64, required, tag = "1")]
    pub id: u64,
    /// Host.
    #[prost(string, required, tag = "2")]
    pub host: String,
    /// TCP host.
    #[prost(string, optional, tag = "3")]
    pub tcp_host: Option<String>,
}

/// `DatabaseInfo`: one bucket.
#[derive(Clone, PartialEq, Message)]
pub struct DatabaseInfo {
    /// Bucket ID, 16 hex.
    #[prost(string, required, tag = "1")]
    pub name: String,
    /// `autogen`.
    #[prost(string, required, tag = "2")]
    pub default_retention_policy: String,
    /// One: `autogen`.
    #[prost(message, repeated, tag = "3")]
    pub retention_policies: Vec<RetentionPolicyInfo>,
    /// Unused in 2.x.
    #[prost(message, repeated, tag = "4")]
    pub continuous_queries: Vec<ContinuousQueryInfo>,
}

/// `RetentionPolicyInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct RetentionPolicyInfo {
    /// `autogen`.
    #[prost(string, required, tag = "1")]
    pub name: String,
    /// Retention in ns; 0 = infinite.
    #[prost(int64, required, tag = "2")]
    pub duration: i64,
    /// Shard group duration in ns.
    #[prost(int64, required, tag = "3")]
    pub shard_group_duration: i64,
    /// 1.
    #[prost(uint32, required, tag = "4")]
    pub replica_n: u32,
    /// Shard groups, in start-time order.
    #[prost(message, repeated, tag = "5")]
    pub shard_groups: Vec<ShardGroupInfo>,
    /// Unused in 2.x.
    #[prost(message, repeated, tag = "6")]
    pub subscriptions: Vec<SubscriptionInfo>,
}

/// `ShardGroupInfo`: a time range of a bucket.
#[derive(Clone, PartialEq, Message)]
pub struct ShardGroupInfo {
    /// ID.
    #[prost(uint64, required, tag = "1")]
    pub id: u64,
    /// Start (ns, inclusive).
    #[prost(int64, required, tag = "2")]
    pub start_time: i64,
    /// End (ns, exclusive).
    #[prost(int64, required, tag = "3")]
    pub end_time: i64,
    /// Deletion time (ns); 0 = live.
    #[prost(int64, required, tag = "4")]
    pub deleted_at: i64,
    /// The shards (one in 2.x).
    #[prost(message, repeated, tag = "5")]
    pub shards: Vec<ShardInfo>,
    /// Truncation time (ns); 0 = none.
    #[prost(int64, optional, tag = "6")]
    pub truncated_at: Option<i64>,
}

impl ShardGroupInfo {
    /// Whether `t` (ns) falls in `[start, end)`.
    pub fn contains(&self, t: i64) -> bool {
        self.start_time <= t && t < self.end_time
    }
    /// Whether the group was deleted.
    pub fn deleted(&self) -> bool {
        self.deleted_at != 0
    }
}

/// `ShardInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct ShardInfo {
    /// Shard ID (its directory name under the engine path).
    #[prost(uint64, required, tag = "1")]
    pub id: u64,
    /// Deprecated.
    #[prost(uint64, repeated, packed = "false", tag = "2")]
    pub owner_ids: Vec<u64>,
    /// Empty in 2.x.
    #[prost(message, repeated, tag = "3")]
    pub owners: Vec<ShardOwner>,
}

/// `ShardOwner`.
#[derive(Clone, PartialEq, Message)]
pub struct ShardOwner {
    /// Node ID.
    #[prost(uint64, required, tag = "1")]
    pub node_id: u64,
}

/// `SubscriptionInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct SubscriptionInfo {
    /// Name.
    #[prost(string, required, tag = "1")]
    pub name: String,
    /// Mode.
    #[prost(string, required, tag = "2")]
    pub mode: String,
    /// Destinations.
    #[prost(string, repeated, tag = "3")]
    pub destinations: Vec<String>,
}

/// `ContinuousQueryInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct ContinuousQueryInfo {
    /// Name.
    #[prost(string, required, tag = "1")]
    pub name: String,
    /// Query.
    #[prost(string, required, tag = "2")]
    pub query: String,
}

/// `UserInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct UserInfo {
    /// Name.
    #[prost(string, required, tag = "1")]
    pub name: String,
    /// Hash.
    #[prost(string, required, tag = "2")]
    pub hash: String,
    /// Admin.
    #[prost(bool, required, tag = "3")]
    pub admin: bool,
    /// Privileges.
    #[prost(message, repeated, tag = "4")]
    pub privileges: Vec<UserPrivilege>,
}

/// `UserPrivilege`.
#[derive(Clone, PartialEq, Message)]
pub struct UserPrivilege {
    /// Database.
    #[prost(string, required, tag = "1")]
    pub database: String,
    /// Privilege.
    #[prost(int32, required, tag = "2")]
    pub privilege: i32,
}

impl Data {
    /// Decodes `meta.db`.
    pub fn decode_bytes(b: &[u8]) -> Result<Data> {
        Data::decode(b).map_err(|e| Error::corrupt(format!("meta.db: {e}")))
    }

    /// Encodes `meta.db`.
    pub fn encode_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// The database of a bucket (by its 16-hex name).
    pub fn database(&self, name: &str) -> Option<&DatabaseInfo> {
        self.databases.iter().find(|d| d.name == name)
    }

    /// Mutable access to the database of a bucket.
    pub fn database_mut(&mut self, name: &str) -> Option<&mut DatabaseInfo> {
        self.databases.iter_mut().find(|d| d.name == name)
    }
}

impl DatabaseInfo {
    /// A new database for a bucket with retention policy `autogen`.
    pub fn for_bucket(name: String, retention_ns: i64, shard_group_duration_ns: i64) -> Self {
        DatabaseInfo {
            name,
            default_retention_policy: AUTOGEN.to_string(),
            retention_policies: vec![RetentionPolicyInfo {
                name: AUTOGEN.to_string(),
                duration: retention_ns,
                shard_group_duration: shard_group_duration_ns,
                replica_n: 1,
                shard_groups: Vec::new(),
                subscriptions: Vec::new(),
            }],
            continuous_queries: Vec::new(),
        }
    }

    /// The default retention policy.
    pub fn default_rp(&self) -> Option<&RetentionPolicyInfo> {
        self.retention_policies
            .iter()
            .find(|r| r.name == self.default_retention_policy)
    }

    /// Mutable default retention policy.
    pub fn default_rp_mut(&mut self) -> Option<&mut RetentionPolicyInfo> {
        let name = self.default_retention_policy.clone();
        self.retention_policies.iter_mut().find(|r| r.name == name)
    }
}

/// Truncates `t` (ns since the Unix epoch) down to a multiple of `d` (ns) counted from Go's zero
/// time (January 1, year 1 UTC), as Go's `time.Truncate` does: so 7-day shard groups start on
/// Mondays, exactly as InfluxDB's.
pub fn truncate(t: i64, d: i64) -> i64 {
    if d <= 0 {
        return t;
    }
    const UNIX_TO_ZERO_NS: i128 = 62_135_596_800 * 1_000_000_000;
    let abs = i128::from(t) + UNIX_TO_ZERO_NS;
    let r = abs - abs.rem_euclid(i128::from(d)) - UNIX_TO_ZERO_NS;
    i64::try_from(r).unwrap_or(i64::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_matches_go() {
        const DAY: i64 = 86_400_000_000_000;
        // 2021-09-29T10:00:00Z (a Wednesday) truncates to Monday 2021-09-27 with 7d groups.
        let t = 1_632_909_600_000_000_000;
        assert_eq!(truncate(t, 7 * DAY), 1_632_700_800_000_000_000);
        assert_eq!(truncate(t, DAY), 1_632_873_600_000_000_000);
        assert_eq!(truncate(-1, DAY), -DAY);
    }

    #[test]
    fn required_fields_are_encoded() {
        let d = Data::default();
        let b = d.encode_bytes();
        // Term, Index, ClusterID, MaxNodeID, MaxShardGroupID, MaxShardID all present.
        assert_eq!(b, vec![8, 0, 16, 0, 24, 0, 56, 0, 64, 0, 72, 0]);
        assert_eq!(Data::decode_bytes(&b).unwrap(), d);
    }
}
