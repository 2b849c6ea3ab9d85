//! Labels and label mappings, kept as InfluxDB 2.x keeps them (its `label` service).
//!
//! KV layout (byte-compatible with InfluxDB):
//! * `labelsv1`: label ID (16 hex) → label JSON
//!   `{"id":"…","orgID":"…","name":"…","properties":{"color":"…",…}}`, `properties` left out
//!   when empty and its keys in byte order (Go's map encoding);
//! * `labelindexv1`: org ID (16 hex) ‖ lower-cased name → label ID. Names are unique per org
//!   regardless of case. As in Go, the key is exactly `16 + len(name)` bytes long: a name whose
//!   lower-case form is longer in UTF-8 is cut, a shorter one is padded with zero bytes;
//! * `labelmappingsv1`: resource ID (16 hex) ‖ label ID (16 hex) → mapping JSON
//!   `{"labelID":"…","resourceID":"…","resourceType":"buckets"}`.
//!
//! Rules as InfluxDB's: a name is trimmed and must not be empty; an update merges `properties`
//! (an empty value removes the key) and renames when given a non-empty name; mapping a label
//! twice onto a resource is a conflict; deleting a mapping that does not exist is not an error;
//! a mapping whose label is gone is skipped when a resource's labels are listed. Where ironflux
//! is stricter: a label's org must exist, a name of blanks is rejected before it is trimmed to
//! nothing, and deleting a label also deletes its mappings (InfluxDB leaves them behind and skips
//! them). Deleting a bucket or an org leaves labels and mappings alone, as InfluxDB does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

/// A label (`labelsv1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// ID.
    pub id: Id,
    /// Owning organization.
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// Name, unique within the org regardless of case.
    pub name: String,
    /// Free-form string properties (the UI uses `color` and `description`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// A label put on a resource (`labelmappingsv1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMapping {
    /// The label.
    #[serde(rename = "labelID")]
    pub label_id: Id,
    /// The labelled resource.
    #[serde(rename = "resourceID")]
    pub resource_id: Id,
    /// The type of the labelled resource.
    #[serde(rename = "resourceType")]
    pub resource_type: ResourceType,
}

/// What [`MetaStore::create_label`] needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelCreate {
    /// Owning organization (required).
    pub org_id: Option<Id>,
    /// Name (trimmed; required).
    pub name: String,
    /// Properties; empty values are kept as InfluxDB keeps them on create.
    pub properties: BTreeMap<String, String>,
}

/// A change of a label (InfluxDB's `LabelUpdate`): a non-empty `name` renames; each property
/// with a non-empty value is set, with an empty value removed; the others are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelUpdate {
    /// New name; `None` or empty keeps the name.
    pub name: Option<String>,
    /// Properties to set or (with an empty value) remove.
    pub properties: BTreeMap<String, String>,
}

/// Filter of [`MetaStore::list_labels`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelFilter {
    /// Only the labels of this org.
    pub org_id: Option<Id>,
    /// Only the label with this name (compared regardless of case, as InfluxDB).
    pub name: Option<String>,
}

/// Go's `unicode.ToLower` of one rune: the simple lower-case mapping (Rust's
/// `char::to_lowercase` gives a full mapping, several chars only for U+0130).
fn go_lower_char(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn go_lower(s: &str) -> String {
    s.chars().map(go_lower_char).collect()
}

/// Go's `strings.EqualFold`, close enough for label names: equal after simple lower-casing.
fn equal_fold(a: &str, b: &str) -> bool {
    a.chars()
        .map(go_lower_char)
        .eq(b.chars().map(go_lower_char))
}

/// `orgID ‖ lower(name)`, exactly `16 + len(name)` bytes as InfluxDB's `labelIndexKey`.
fn label_index_key(org: Id, name: &str) -> Vec<u8> {
    let mut k = vec![0u8; 16 + name.len()];
    k[..16].copy_from_slice(&org.encode());
    let lower = go_lower(name);
    let n = lower.len().min(name.len());
    k[16..16 + n].copy_from_slice(&lower.as_bytes()[..n]);
    k
}

/// `resourceID ‖ labelID`.
fn label_mapping_key(resource: Id, label: Id) -> Vec<u8> {
    let mut k = resource.encode().to_vec();
    k.extend_from_slice(&label.encode());
    k
}

fn label_conflict(name: &str) -> Error {
    Error::Conflict(format!("label with name {name} already exists"))
}

fn tx_get_label(t: &Tree, id: Id) -> Result<Label> {
    get_json(t, schema::LABELS, &id.encode(), Kind::Label)
}

impl MetaStore {
    /// Creates a label. [`Error::Invalid`] without an org (`orgID is required`) or name (`label
    /// name is required`), [`Error::NotFound`] if the org does not exist, [`Error::Conflict`]
    /// (`label with name <name> already exists`) if the org has a label of that name in any case.
    pub fn create_label(&self, req: LabelCreate) -> Result<Label> {
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(Error::Invalid("label name is required".into()));
        }
        let org_id = req
            .org_id
            .ok_or_else(|| Error::Invalid("orgID is required".into()))?;
        self.update(|t| {
            if t.get(schema::ORGS, &org_id.encode()).is_none() {
                return Err(Error::not_found(Kind::Organization));
            }
            let ik = label_index_key(org_id, &name);
            if t.get(schema::LABEL_INDEX, &ik).is_some() {
                return Err(label_conflict(&name));
            }
            let mut id = Id::generate();
            while t.get(schema::LABELS, &id.encode()).is_some() {
                id = Id::generate();
            }
            let l = Label {
                id,
                org_id,
                name,
                properties: req.properties,
            };
            t.put(schema::LABEL_INDEX, ik, id.encode().to_vec());
            t.put(schema::LABELS, id.encode().to_vec(), to_go_json(&l));
            Ok(l)
        })
    }

    /// The label with this ID ([`Error::NotFound`]: `label not found`).
    pub fn get_label(&self, id: Id) -> Result<Label> {
        tx_get_label(&self.view(), id)
    }

    /// Labels matching `filter`, in ID order.
    pub fn list_labels(&self, filter: &LabelFilter) -> Result<Vec<Label>> {
        let t = self.view();
        let all: Vec<Label> = all_json(&t, schema::LABELS)?;
        Ok(all
            .into_iter()
            .filter(|l| {
                filter.org_id.is_none_or(|o| o == l.org_id)
                    && filter
                        .name
                        .as_deref()
                        .is_none_or(|n| n.is_empty() || equal_fold(n, &l.name))
            })
            .collect())
    }

    /// Applies `upd` (see [`LabelUpdate`]). [`Error::NotFound`] for a missing label,
    /// [`Error::Conflict`] if another label of the org has the new name,
    /// [`Error::Invalid`] if the new name is blank.
    pub fn update_label(&self, id: Id, upd: LabelUpdate) -> Result<Label> {
        self.update(|t| {
            let mut l = tx_get_label(t, id)?;
            for (k, v) in upd.properties {
                if v.is_empty() {
                    l.properties.remove(&k);
                } else {
                    l.properties.insert(k, v);
                }
            }
            if let Some(n) = upd.name.as_deref().filter(|n| !n.is_empty()) {
                let n = n.trim();
                if n.is_empty() {
                    return Err(Error::Invalid("label name is required".into()));
                }
                let old = label_index_key(l.org_id, &l.name);
                let new = label_index_key(l.org_id, n);
                t.delete(schema::LABEL_INDEX, &old);
                if t.get(schema::LABEL_INDEX, &new).is_some() {
                    return Err(label_conflict(n));
                }
                l.name = n.to_string();
            }
            t.put(
                schema::LABEL_INDEX,
                label_index_key(l.org_id, &l.name),
                id.encode().to_vec(),
            );
            t.put(schema::LABELS, id.encode().to_vec(), to_go_json(&l));
            Ok(l)
        })
    }

    /// Deletes a label, its name index entry and every mapping of it.
    /// [`Error::NotFound`] if there is no such label.
    pub fn delete_label(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let l = tx_get_label(t, id)?;
            t.delete(schema::LABELS, &id.encode());
            t.delete(schema::LABEL_INDEX, &label_index_key(l.org_id, &l.name));
            let enc = id.encode();
            let keys: Vec<Vec<u8>> = t
                .iter(schema::LABEL_MAPPINGS)
                .filter(|(k, _)| k.len() == 32 && k[16..] == enc)
                .map(|(k, _)| k.to_vec())
                .collect();
            for k in keys {
                t.delete(schema::LABEL_MAPPINGS, &k);
            }
            Ok(())
        })
    }

    /// Puts a label on a resource. [`Error::NotFound`] if the label does not exist,
    /// [`Error::Conflict`] (`Cannot add label, label already exists on resource`) if it is
    /// already there. The resource itself is not looked up: callers check it.
    pub fn create_label_mapping(&self, m: &LabelMapping) -> Result<()> {
        self.update(|t| {
            tx_get_label(t, m.label_id)?;
            let k = label_mapping_key(m.resource_id, m.label_id);
            if t.get(schema::LABEL_MAPPINGS, &k).is_some() {
                return Err(Error::Conflict(
                    "Cannot add label, label already exists on resource".into(),
                ));
            }
            t.put(schema::LABEL_MAPPINGS, k, to_go_json(m));
            Ok(())
        })
    }

    /// The labels on a resource, in label ID order; mappings of deleted labels are skipped.
    pub fn list_resource_labels(&self, resource_id: Id) -> Result<Vec<Label>> {
        let t = self.view();
        let mut out = Vec::new();
        for (k, _) in t.prefix(schema::LABEL_MAPPINGS, &resource_id.encode()) {
            if k.len() != 32 {
                return Err(Error::corrupt("malformed label mapping key"));
            }
            let label = id_from(&k[16..])?;
            match tx_get_label(&t, label) {
                Ok(l) => out.push(l),
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Takes a label off a resource; a mapping that does not exist is not an error.
    pub fn delete_label_mapping(&self, resource_id: Id, label_id: Id) -> Result<()> {
        self.update(|t| {
            t.delete(
                schema::LABEL_MAPPINGS,
                &label_mapping_key(resource_id, label_id),
            );
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_key_is_go_shaped() {
        let org = Id::new(0x0a).unwrap();
        let k = label_index_key(org, "Prod");
        assert_eq!(k, b"000000000000000aprod".to_vec());
        // U+0130 (2 bytes) lowers to 'i' (1 byte): Go pads the key with a zero byte.
        let k = label_index_key(org, "\u{130}X");
        assert_eq!(&k[16..], b"ix\0");
        // U+023A (2 bytes) lowers to U+2C65 (3 bytes): Go cuts the key at 16 + 2.
        let k = label_index_key(org, "\u{23a}");
        assert_eq!(&k[16..], &"\u{2c65}".as_bytes()[..2]);
    }

    #[test]
    fn mappings_influxdb_left_behind_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        let org = s.create_org("o", "", None).unwrap();
        let l = s
            .create_label(LabelCreate {
                org_id: Some(org.id),
                name: "kept".into(),
                properties: BTreeMap::new(),
            })
            .unwrap();
        let bucket = Id::new(0x0c).unwrap();
        let gone = Id::new(0x0d).unwrap();
        // InfluxDB deletes a label without its mappings: one of them points nowhere.
        s.update(|t| {
            for label in [l.id, gone] {
                let m = LabelMapping {
                    label_id: label,
                    resource_id: bucket,
                    resource_type: ResourceType::Buckets,
                };
                t.put(
                    schema::LABEL_MAPPINGS,
                    label_mapping_key(bucket, label),
                    to_go_json(&m),
                );
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(s.list_resource_labels(bucket).unwrap(), vec![l]);
    }

    #[test]
    fn equal_fold_ignores_case() {
        assert!(equal_fold("PROD", "prod"));
        assert!(equal_fold("Ärger", "äRGER"));
        assert!(!equal_fold("prod", "prod2"));
    }

    #[test]
    fn label_json_is_influxdb_json() {
        let mut l = Label {
            id: Id::new(0x0b).unwrap(),
            org_id: Id::new(0x0a).unwrap(),
            name: "a<b".into(),
            properties: BTreeMap::new(),
        };
        assert_eq!(
            String::from_utf8(to_go_json(&l)).unwrap(),
            r#"{"id":"000000000000000b","orgID":"000000000000000a","name":"a\u003cb"}"#
        );
        l.properties.insert("description".into(), "d".into());
        l.properties.insert("color".into(), "#ff0000".into());
        assert_eq!(
            String::from_utf8(to_go_json(&l)).unwrap(),
            r##"{"id":"000000000000000b","orgID":"000000000000000a","name":"a\u003cb","properties":{"color":"#ff0000","description":"d"}}"##
        );
        let m = LabelMapping {
            label_id: l.id,
            resource_id: Id::new(0x0c).unwrap(),
            resource_type: ResourceType::Buckets,
        };
        assert_eq!(
            String::from_utf8(to_go_json(&m)).unwrap(),
            r#"{"labelID":"000000000000000b","resourceID":"000000000000000c","resourceType":"buckets"}"#
        );
    }
}
