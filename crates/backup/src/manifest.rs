//! Manifests: the JSON that describes buckets and backup files.
//!
//! * [`BucketManifest`]: one bucket with its retention policy, shard groups and shards. The server
//!   lists every bucket this way in the `buckets` part of `GET /api/v2/backup/metadata`, and
//!   `POST /api/v2/restore/bucketMetadata` takes one.
//! * [`Manifest`]: the backup directory's `<ts>.manifest` (version 2), written last by a backup.
//!   Each shard entry there carries its file (`fileName`, `size`, `compression`) flattened into it.
//! * [`LegacyManifest`]: the version-less manifest of InfluxDB 2.0's built-in CLI.
//!
//! Field names, types and omissions follow InfluxDB 2.x and the `influx` CLI exactly: IDs of orgs
//! and buckets are 16-hex strings, shard and shard-group IDs are numbers, durations are integer
//! nanoseconds, times are RFC 3339 strings, lists are `[]` and never `null`, `description`,
//! `deletedAt` and `truncatedAt` are omitted when unset, and `compression` is the integer 0 (none)
//! or 1 (gzip). A file entry may also carry `sha256` (hex of the file's bytes as stored), a field
//! the `influx` CLI ignores and `ironflux restore` checks.

use crate::Error;
use crate::time::{serde_rfc3339, serde_rfc3339_opt};
use serde::{Deserialize, Serialize};

/// The only manifest version InfluxDB 2.1+ writes.
pub const MANIFEST_VERSION: i64 = 2;

/// A bucket and its storage layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketManifest {
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    pub organization_name: String,
    #[serde(rename = "bucketID")]
    pub bucket_id: String,
    pub bucket_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub default_retention_policy: String,
    pub retention_policies: Vec<RetentionPolicyManifest>,
}

/// A retention policy; InfluxDB 2.x buckets have exactly one, named `autogen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicyManifest {
    pub name: String,
    #[serde(rename = "replicaN")]
    pub replica_n: i32,
    /// Retention period in nanoseconds; 0 keeps data forever.
    pub duration: i64,
    /// Time span of each shard group in nanoseconds.
    pub shard_group_duration: i64,
    pub shard_groups: Vec<ShardGroupManifest>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionManifest>,
}

/// A shard group: a time span of one bucket, held by its shards (one in InfluxDB OSS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardGroupManifest {
    pub id: u64,
    /// Inclusive start, nanoseconds since the epoch.
    #[serde(with = "serde_rfc3339")]
    pub start_time: i64,
    /// Exclusive end, nanoseconds since the epoch.
    #[serde(with = "serde_rfc3339")]
    pub end_time: i64,
    #[serde(
        default,
        with = "serde_rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<i64>,
    #[serde(
        default,
        with = "serde_rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub truncated_at: Option<i64>,
    pub shards: Vec<ShardManifest>,
}

/// A shard; in a backup directory's manifest it also names the file holding its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardManifest {
    pub id: u64,
    #[serde(default)]
    pub shard_owners: Vec<ShardOwner>,
    #[serde(flatten)]
    pub file: Option<FileEntry>,
}

/// The node owning a shard (unused by InfluxDB OSS, kept for fidelity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOwner {
    #[serde(rename = "nodeID")]
    pub node_id: u64,
}

/// A subscription of a retention policy (unused by InfluxDB 2.x, kept for fidelity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionManifest {
    pub name: String,
    pub mode: String,
    #[serde(default)]
    pub destinations: Vec<String>,
}

/// How a backup file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Compression {
    None,
    Gzip,
}

impl From<Compression> for u8 {
    fn from(c: Compression) -> u8 {
        match c {
            Compression::None => 0,
            Compression::Gzip => 1,
        }
    }
}

impl TryFrom<u8> for Compression {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            other => Err(format!(
                "unknown compression {other}, want 0 (none) or 1 (gzip)"
            )),
        }
    }
}

/// A file of a backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Base name, relative to the backup directory.
    pub file_name: String,
    /// Size of the file as stored (compressed size when gzipped).
    pub size: i64,
    pub compression: Compression,
    /// Hex SHA-256 of the file as stored; written by ironflux, absent in InfluxDB's backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A backup directory's `<ts>.manifest`, version 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub manifest_version: i64,
    pub kv: FileEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<FileEntry>,
    pub buckets: Vec<BucketManifest>,
}

/// The manifest of InfluxDB 2.0's built-in CLI: no version, one entry per shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyManifest {
    pub kv: LegacyFileEntry,
    #[serde(default)]
    pub files: Vec<LegacyShardEntry>,
}

/// The KV file of a legacy manifest (always uncompressed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyFileEntry {
    pub file_name: String,
    pub size: i64,
}

/// One shard file of a legacy manifest (always a gzipped tar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyShardEntry {
    #[serde(rename = "organizationID")]
    pub organization_id: String,
    pub organization_name: String,
    #[serde(rename = "bucketID")]
    pub bucket_id: String,
    pub bucket_name: String,
    #[serde(rename = "shardID")]
    pub shard_id: u64,
    pub file_name: String,
    pub size: i64,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub last_modified: Option<i64>,
}

/// A manifest file of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyManifest {
    V2(Manifest),
    Legacy(LegacyManifest),
}

impl Manifest {
    /// The manifest as the `influx` CLI writes it: JSON indented by two spaces.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Every file the manifest names: KV, SQL, then shards in bucket order.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        std::iter::once(&self.kv)
            .chain(self.sql.iter())
            .chain(self.buckets.iter().flat_map(BucketManifest::shard_files))
    }
}

impl BucketManifest {
    /// The files of this bucket's shards, in manifest order.
    pub fn shard_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.shards().filter_map(|s| s.file.as_ref())
    }

    /// Every shard of every shard group, in manifest order.
    pub fn shards(&self) -> impl Iterator<Item = &ShardManifest> {
        self.retention_policies
            .iter()
            .flat_map(|rp| rp.shard_groups.iter())
            .flat_map(|g| g.shards.iter())
    }

    /// The key under which the `influx` CLI merges buckets of several manifests.
    pub fn merge_key(&self) -> String {
        format!("{}/{}", self.organization_name, self.bucket_name)
    }
}

/// Reads a manifest file: `manifestVersion` 2, or none (legacy); any other version is an error.
pub fn read_manifest(bytes: &[u8]) -> Result<AnyManifest, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        manifest_version: i64,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Error::Manifest(e.to_string()))?;
    match probe.manifest_version {
        MANIFEST_VERSION => serde_json::from_slice(bytes)
            .map(AnyManifest::V2)
            .map_err(|e| Error::Manifest(e.to_string())),
        0 => serde_json::from_slice(bytes)
            .map(AnyManifest::Legacy)
            .map_err(|e| Error::Manifest(e.to_string())),
        other => Err(Error::UnsupportedVersion(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = r#"{
  "manifestVersion": 2,
  "kv": { "fileName": "20240102T030405Z.bolt.gz", "size": 24576, "compression": 1 },
  "sql": { "fileName": "20240102T030405Z.sqlite.gz", "size": 8192, "compression": 1 },
  "buckets": [
    {
      "organizationID": "0123456789abcdef",
      "organizationName": "my-org",
      "bucketID": "fedcba9876543210",
      "bucketName": "telemetry",
      "defaultRetentionPolicy": "autogen",
      "retentionPolicies": [
        {
          "name": "autogen", "replicaN": 1, "duration": 0,
          "shardGroupDuration": 604800000000000,
          "shardGroups": [
            {
              "id": 1, "startTime": "2023-12-25T00:00:00Z", "endTime": "2024-01-01T00:00:00Z",
              "shards": [
                { "id": 1, "shardOwners": [], "fileName": "20240102T030405Z.1.tar.gz",
                  "size": 1048576, "compression": 1 }
              ]
            }
          ],
          "subscriptions": []
        }
      ]
    }
  ]
}"#;

    #[test]
    fn reads_the_cli_manifest_and_writes_it_back_equal() {
        let AnyManifest::V2(m) = read_manifest(V2.as_bytes()).unwrap() else {
            panic!("not a v2 manifest")
        };
        let b = &m.buckets[0];
        assert_eq!(b.description, None);
        let g = &b.retention_policies[0].shard_groups[0];
        assert_eq!(g.start_time, 1_703_462_400_000_000_000);
        assert_eq!(g.deleted_at, None);
        let file = g.shards[0].file.as_ref().unwrap();
        assert_eq!(file.file_name, "20240102T030405Z.1.tar.gz");
        assert_eq!(file.compression, Compression::Gzip);
        assert_eq!(m.files().count(), 3);

        let again: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
        let orig: serde_json::Value = serde_json::from_str(V2).unwrap();
        assert_eq!(
            again, orig,
            "round trip must keep every field and omit nothing more"
        );
    }

    #[test]
    fn server_bucket_manifest_has_no_file_fields_and_empty_lists() {
        let b = BucketManifest {
            organization_id: "0123456789abcdef".into(),
            organization_name: "o".into(),
            bucket_id: "fedcba9876543210".into(),
            bucket_name: "b".into(),
            description: None,
            default_retention_policy: "autogen".into(),
            retention_policies: vec![RetentionPolicyManifest {
                name: "autogen".into(),
                replica_n: 1,
                duration: 0,
                shard_group_duration: 3_600_000_000_000,
                shard_groups: vec![ShardGroupManifest {
                    id: 7,
                    start_time: 0,
                    end_time: 3_600_000_000_000,
                    deleted_at: Some(1),
                    truncated_at: None,
                    shards: vec![ShardManifest {
                        id: 9,
                        shard_owners: vec![],
                        file: None,
                    }],
                }],
                subscriptions: vec![],
            }],
        };
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            r#"{"organizationID":"0123456789abcdef","organizationName":"o","bucketID":"fedcba9876543210","bucketName":"b","defaultRetentionPolicy":"autogen","retentionPolicies":[{"name":"autogen","replicaN":1,"duration":0,"shardGroupDuration":3600000000000,"shardGroups":[{"id":7,"startTime":"1970-01-01T00:00:00Z","endTime":"1970-01-01T01:00:00Z","deletedAt":"1970-01-01T00:00:00.000000001Z","shards":[{"id":9,"shardOwners":[]}]}],"subscriptions":[]}]}"#
        );
        let back: BucketManifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn legacy_and_unknown_versions() {
        let legacy = r#"{"kv":{"fileName":"20210101T000000Z.bolt","size":10},
          "files":[{"organizationID":"0123456789abcdef","organizationName":"o",
          "bucketID":"fedcba9876543210","bucketName":"b","shardID":12,
          "fileName":"20210101T000000Z.s12.tar.gz","size":99,"lastModified":"2021-01-01T00:00:00Z"}]}"#;
        let AnyManifest::Legacy(m) = read_manifest(legacy.as_bytes()).unwrap() else {
            panic!("not legacy")
        };
        assert_eq!(m.files[0].shard_id, 12);
        assert!(matches!(
            read_manifest(br#"{"manifestVersion":3}"#),
            Err(Error::UnsupportedVersion(3))
        ));
        assert!(matches!(read_manifest(b"{"), Err(Error::Manifest(_))));
        let bad_compression = V2.replacen("\"compression\": 1", "\"compression\": 7", 1);
        assert!(matches!(
            read_manifest(bad_compression.as_bytes()),
            Err(Error::Manifest(_))
        ));
    }
}
