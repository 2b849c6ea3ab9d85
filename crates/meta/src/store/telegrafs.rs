//! Telegraf agent configurations, kept as InfluxDB 2.x keeps them (its `telegraf/service` on
//! the KV store).
//!
//! KV layout (byte-compatible with InfluxDB):
//! * `telegrafv1`: config ID (16 hex) → config JSON `{"id","orgID","name","description",
//!   "config","metadata"}` in Go's field order, each field left out when empty (Go's
//!   `omitempty`); `config` is the agent's whole TOML file, `metadata` an object (keys in byte
//!   order, as Go encodes maps), in practice `{"buckets":["…"]}`;
//! * `telegrafbyorgindexv1`: org ID (16 hex) ‖ `/` ‖ config ID (16 hex) → config ID (16 hex),
//!   InfluxDB's generic `kv.Index`; lists of one org walk it;
//! * `telegrafPluginsv1`: config ID (16 hex) → how often each plugin occurs in the TOML, e.g.
//!   `{"inputs.cpu":1,"outputs.influxdb_v2":1}`: every `[[inputs.…]]`, `[[outputs.…]]`,
//!   `[[aggregators.…]]` and `[[processors.…]]` header, counted as InfluxDB's
//!   `TelegrafConfig.CountPlugins` counts them (a leftmost-longest match on one line). Rewritten
//!   on every put, deleted with the config.
//!
//! Rules as InfluxDB's: a config needs a valid org ID (`provided telegraf configuration
//! organization ID is missing or invalid`); name, description and config are free; an update
//! replaces everything but the ID and the org; a missing config is `telegraf configuration not
//! found`. When a config is decoded (from a request or from the store) with no or empty
//! `metadata`, its `buckets` are taken from the `bucket` keys of the TOML's
//! `[[outputs.influxdb_v2]]` tables (empty ones dropped), as InfluxDB's `parseMetadata` does.
//! Where ironflux is stricter or kinder: the org must exist; a config whose TOML cannot be
//! parsed while buckets are needed from it is refused as invalid when created or updated
//! (InfluxDB answers 500) and read with no buckets when a store holds one; the legacy
//! `plugins` array of pre-2.0 records is not converted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::*;

/// A Telegraf configuration (`telegrafv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TelegrafConfig {
    /// ID.
    pub id: Id,
    /// Owning organization (`organizationID` in records of InfluxDB 2.0 betas).
    #[serde(rename = "orgID", alias = "organizationID")]
    pub org_id: Id,
    /// Name (free, not unique).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The agent's TOML configuration.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    /// Metadata, `{"buckets": [...]}` in practice.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// What [`MetaStore::create_telegraf`] and [`MetaStore::update_telegraf`] take.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TelegrafCreate {
    /// Owning organization (required on create, ignored on update).
    pub org_id: Option<Id>,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The TOML configuration.
    pub config: String,
    /// Metadata; when empty, the buckets are taken from `config`.
    pub metadata: Map<String, Value>,
}

/// `orgID/telegrafID`: the key of `telegrafbyorgindexv1`.
fn org_index_key(org: Id, id: Id) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.push(b'/');
    k.extend_from_slice(&id.encode());
    k
}

const PLUGIN_KINDS: [&str; 4] = ["inputs.", "outputs.", "aggregators.", "processors."];

/// How often each plugin header occurs in `config` (InfluxDB's `CountPlugins`: the POSIX
/// regexp `\[\[(inputs\..*|outputs\..*|aggregators\..*|processors\..*)\]\]`, `.` not matching
/// a newline, leftmost-longest).
pub fn count_plugins(config: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in config.split('\n') {
        let mut from = 0;
        while let Some(pos) = line[from..].find("[[") {
            let start = from + pos;
            let rest = &line[start + 2..];
            let found = PLUGIN_KINDS.iter().find_map(|kind| {
                let after = rest.strip_prefix(kind)?;
                let end = after.rfind("]]")?;
                Some(kind.len() + end)
            });
            match found {
                Some(len) => {
                    *out.entry(rest[..len].to_string()).or_insert(0) += 1;
                    from = start + 2 + len + 2;
                }
                None => from = start + 1,
            }
        }
    }
    out
}

/// The buckets of the `[[outputs.influxdb_v2]]` tables of `config` (InfluxDB's
/// `parseMetadata`), with its messages when the TOML is not usable.
pub fn buckets_of(config: &str) -> std::result::Result<Vec<String>, String> {
    let doc: toml_edit::DocumentMut = config.parse().map_err(|e| format!("{e}"))?;
    let mut out = Vec::new();
    let Some(outputs) = doc.get("outputs") else {
        return Ok(out);
    };
    let Some(outputs) = outputs.as_table_like() else {
        return Err("no plugins in config to get buckets".into());
    };
    let Some(v2) = outputs.get("influxdb_v2") else {
        return Ok(out);
    };
    let Some(tables) = v2.as_array_of_tables() else {
        return Err("influxdb_v2 output has no config".into());
    };
    for t in tables.iter() {
        if let Some(b) = t.get("bucket").and_then(|b| b.as_str())
            && !b.is_empty()
        {
            out.push(b.to_string());
        }
    }
    Ok(out)
}

/// `{"buckets": [...]}` of `config`.
fn metadata_of(config: &str) -> std::result::Result<Map<String, Value>, String> {
    let buckets = buckets_of(config)?;
    Ok(Map::from_iter([(
        "buckets".to_string(),
        Value::Array(buckets.into_iter().map(Value::String).collect()),
    )]))
}

/// A stored config, its metadata filled from the TOML when empty.
fn decode(bucket: &str, v: &[u8]) -> Result<TelegrafConfig> {
    let mut tc: TelegrafConfig = from_json(bucket, v)?;
    if tc.metadata.is_empty() {
        tc.metadata = metadata_of(&tc.config).unwrap_or_else(|_| {
            Map::from_iter([("buckets".to_string(), Value::Array(Vec::new()))])
        });
    }
    Ok(tc)
}

fn tx_get_telegraf(t: &Tree, id: Id) -> Result<TelegrafConfig> {
    let v = t
        .get(schema::TELEGRAFS, &id.encode())
        .ok_or(Error::not_found(Kind::Telegraf))?;
    decode(schema::TELEGRAFS, v)
}

fn tx_put_telegraf(t: &mut Tree, tc: &TelegrafConfig) {
    t.put(
        schema::TELEGRAF_BY_ORG,
        org_index_key(tc.org_id, tc.id),
        tc.id.encode().to_vec(),
    );
    t.put(schema::TELEGRAFS, tc.id.encode().to_vec(), to_go_json(tc));
    t.put(
        schema::TELEGRAF_PLUGINS,
        tc.id.encode().to_vec(),
        to_go_json(&count_plugins(&tc.config)),
    );
}

/// The request's metadata, or the one its TOML yields.
fn request_metadata(req: &TelegrafCreate) -> Result<Map<String, Value>> {
    if !req.metadata.is_empty() {
        return Ok(req.metadata.clone());
    }
    metadata_of(&req.config).map_err(Error::Invalid)
}

impl MetaStore {
    /// Creates a config with a new ID. [`Error::Invalid`] without an org or with TOML whose
    /// buckets cannot be read (when `metadata` is empty); [`Error::NotFound`] if the org does
    /// not exist.
    pub fn create_telegraf(&self, req: TelegrafCreate) -> Result<TelegrafConfig> {
        let org_id = req.org_id.ok_or_else(|| {
            Error::Invalid(
                "provided telegraf configuration organization ID is missing or invalid".into(),
            )
        })?;
        let metadata = request_metadata(&req)?;
        self.update(|t| {
            if t.get(schema::ORGS, &org_id.encode()).is_none() {
                return Err(Error::not_found(Kind::Organization));
            }
            let mut id = Id::generate();
            while t.get(schema::TELEGRAFS, &id.encode()).is_some() {
                id = Id::generate();
            }
            let tc = TelegrafConfig {
                id,
                org_id,
                name: req.name,
                description: req.description,
                config: req.config,
                metadata,
            };
            tx_put_telegraf(t, &tc);
            Ok(tc)
        })
    }

    /// The config with this ID ([`Error::NotFound`]: `telegraf configuration not found`).
    pub fn get_telegraf(&self, id: Id) -> Result<TelegrafConfig> {
        tx_get_telegraf(&self.view(), id)
    }

    /// The configs of one org (walking `telegrafbyorgindexv1`), or of every org; ID order.
    pub fn list_telegrafs(&self, org_id: Option<Id>) -> Result<Vec<TelegrafConfig>> {
        let t = self.view();
        match org_id {
            None => t
                .iter(schema::TELEGRAFS)
                .map(|(_, v)| decode(schema::TELEGRAFS, v))
                .collect(),
            Some(org) => {
                let mut prefix = org.encode().to_vec();
                prefix.push(b'/');
                let mut out = Vec::new();
                for (_, v) in t.prefix(schema::TELEGRAF_BY_ORG, &prefix) {
                    match tx_get_telegraf(&t, id_from(v)?) {
                        Ok(tc) => out.push(tc),
                        // An index entry whose config is gone is skipped.
                        Err(Error::NotFound { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            }
        }
    }

    /// Replaces name, description, config and metadata of config `id` (its org stays).
    /// [`Error::NotFound`] if there is none; [`Error::Invalid`] as on create.
    pub fn update_telegraf(&self, id: Id, req: TelegrafCreate) -> Result<TelegrafConfig> {
        let metadata = request_metadata(&req)?;
        self.update(|t| {
            let old = tx_get_telegraf(t, id)?;
            let tc = TelegrafConfig {
                id,
                org_id: old.org_id,
                name: req.name,
                description: req.description,
                config: req.config,
                metadata,
            };
            tx_put_telegraf(t, &tc);
            Ok(tc)
        })
    }

    /// Deletes a config, its index entry, its plugin counts and its members and owners.
    /// [`Error::NotFound`] if there is none.
    pub fn delete_telegraf(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let tc = tx_get_telegraf(t, id)?;
            t.delete(schema::TELEGRAF_BY_ORG, &org_index_key(tc.org_id, id));
            t.delete(schema::TELEGRAFS, &id.encode());
            t.delete(schema::TELEGRAF_PLUGINS, &id.encode());
            tx_delete_resource_urms(t, id)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_are_counted_as_influxdb() {
        let cfg = "[agent]\n[[inputs.cpu]]\n  x = 1\n[[inputs.cpu]]\n[[outputs.influxdb_v2]] # c\n\
                   [[inputs.disk]] # [[z]]\n[[processors.rename]][[x]]\n  [[inputs.mem]]\n[inputs.no]\n[[other.no]]\n";
        let got = count_plugins(cfg);
        let want: BTreeMap<String, u64> = [
            ("inputs.cpu", 2),
            ("outputs.influxdb_v2", 1),
            ("inputs.disk]] # [[z", 1),
            ("processors.rename]][[x", 1),
            ("inputs.mem", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            String::from_utf8(to_go_json(&count_plugins(
                "[[inputs.cpu]]\n[[outputs.file]]"
            )))
            .unwrap(),
            r#"{"inputs.cpu":1,"outputs.file":1}"#
        );
        assert_eq!(to_go_json(&count_plugins("")), b"{}");
    }

    #[test]
    fn buckets_come_from_influxdb_v2_outputs() {
        let cfg = "[agent]\ninterval = \"10s\"\n[[outputs.influxdb_v2]]\nbucket = \"a\"\n\
                   [[outputs.influxdb_v2]]\nbucket = \"\"\n[[outputs.influxdb_v2]]\nurls = []\n\
                   [[outputs.influxdb_v2]]\nbucket = \"b\"\n[[outputs.file]]\nbucket = \"no\"\n";
        assert_eq!(buckets_of(cfg).unwrap(), vec!["a", "b"]);
        assert_eq!(buckets_of("").unwrap(), Vec::<String>::new());
        assert_eq!(
            buckets_of("outputs = 1").unwrap_err(),
            "no plugins in config to get buckets"
        );
        assert_eq!(
            buckets_of("[outputs.influxdb_v2]\nbucket = \"a\"").unwrap_err(),
            "influxdb_v2 output has no config"
        );
        assert!(buckets_of("[[inputs.cpu]\n").is_err());
    }

    #[test]
    fn config_json_is_influxdb_json() {
        let mut tc = TelegrafConfig {
            id: Id::new(0x0b).unwrap(),
            org_id: Id::new(0x0a).unwrap(),
            name: "n".into(),
            description: String::new(),
            config: "[[inputs.cpu]]\n".into(),
            metadata: Map::from_iter([(
                "buckets".to_string(),
                Value::Array(vec![Value::String("b<".into())]),
            )]),
        };
        assert_eq!(
            String::from_utf8(to_go_json(&tc)).unwrap(),
            r#"{"id":"000000000000000b","orgID":"000000000000000a","name":"n","config":"[[inputs.cpu]]\n","metadata":{"buckets":["b\u003c"]}}"#
        );
        tc.name.clear();
        tc.config.clear();
        tc.metadata.clear();
        assert_eq!(
            String::from_utf8(to_go_json(&tc)).unwrap(),
            r#"{"id":"000000000000000b","orgID":"000000000000000a"}"#
        );
        // Metadata keys in byte order, as Go encodes a map.
        tc.metadata = serde_json::from_str(r#"{"z":1,"buckets":[],"a":{"y":2,"b":3}}"#).unwrap();
        assert_eq!(
            String::from_utf8(to_go_json(&tc)).unwrap(),
            r#"{"id":"000000000000000b","orgID":"000000000000000a","metadata":{"a":{"b":3,"y":2},"buckets":[],"z":1}}"#
        );
        let beta: TelegrafConfig = serde_json::from_str(
            r#"{"id":"000000000000000b","organizationID":"000000000000000a","name":"b"}"#,
        )
        .unwrap();
        assert_eq!(beta.org_id, tc.org_id);
        assert_eq!(
            org_index_key(tc.org_id, tc.id),
            b"000000000000000a/000000000000000b".to_vec()
        );
    }

    #[test]
    fn records_written_by_influxdb_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        let org = s.create_org("o", "", None).unwrap().id;
        let id = Id::new(0x0c).unwrap();
        let gone = Id::new(0x0d).unwrap();
        // No metadata: the buckets come from the TOML.
        let raw = format!(
            r#"{{"id":"{id}","orgID":"{org}","name":"t","config":"[[outputs.influxdb_v2]]\n  bucket = \"m\"\n"}}"#
        );
        s.update(|t| {
            t.put(
                schema::TELEGRAFS,
                id.encode().to_vec(),
                raw.as_bytes().to_vec(),
            );
            t.put(
                schema::TELEGRAF_BY_ORG,
                org_index_key(org, id),
                id.encode().to_vec(),
            );
            t.put(
                schema::TELEGRAF_BY_ORG,
                org_index_key(org, gone),
                gone.encode().to_vec(),
            );
            Ok(())
        })
        .unwrap();
        let listed = s.list_telegrafs(Some(org)).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].metadata["buckets"], serde_json::json!(["m"]));
        assert_eq!(s.list_telegrafs(None).unwrap(), listed);
    }
}
