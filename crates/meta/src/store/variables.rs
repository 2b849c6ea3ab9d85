//! Variables (dashboard and query variables), kept as InfluxDB 2.x keeps them (its `kv`
//! variable service on an `IndexStore`).
//!
//! KV layout (byte-compatible with InfluxDB):
//! * `variablesv1`: variable ID (16 hex) → variable JSON
//!   `{"id","orgID","name","description","selected","arguments","createdAt","updatedAt"}`, in
//!   Go's field order; `selected` is `null` when never set; `arguments` is
//!   `{"type":"constant","values":["a",…]}`, `{"type":"map","values":{"k":"v",…}}` (keys in
//!   byte order, as Go encodes maps) or `{"type":"query","values":{"query":"…","language":"flux"}}`;
//! * `variablesindexv1`: org ID (16 hex) ‖ lower-cased name → variable ID (16 hex). Names are
//!   unique per org regardless of case (Go's `strings.ToLower`, the key as long as the lowered
//!   name);
//! * `variableorgsv1`: org ID (16 hex) ‖ variable ID (16 hex) → empty value; lists of one org
//!   walk it.
//!
//! Rules as InfluxDB's: a name must not be empty nor one of Flux's keywords (`and`, `import`,
//! `not`, `return`, `option`, `test`, `empty`, `in`, `or`, `package`, `builtin`); a create whose
//! name is taken is a conflict (`variable is not unique for key <orgID><name>`), so is an update
//! onto another variable's name (`variable entity update conflicts with an existing entity for
//! key <orgID><name>`); an update sets `updatedAt` and only the fields it carries (a non-empty
//! name, trimmed; `selected`; `arguments`; a non-empty description); a replace (`PUT`) stores the
//! whole variable under its ID, creating it when missing. Where ironflux is stricter or kinder: a
//! variable's org must exist, and a replace keeps the stored `createdAt` and sets `updatedAt`
//! (InfluxDB stores the times the body carries).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

/// Names Flux reserves, refused as variable names.
const PROTECTED: [&str; 11] = [
    "and", "import", "not", "return", "option", "test", "empty", "in", "or", "package", "builtin",
];

/// The values of a query variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableQueryValues {
    /// The query text.
    pub query: String,
    /// `flux` or `influxql`.
    pub language: String,
}

/// How a variable expands: `{"type": …, "values": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "values", rename_all = "lowercase")]
pub enum VariableArguments {
    /// A fixed list of values.
    Constant(Vec<String>),
    /// Display keys mapped to values.
    Map(BTreeMap<String, String>),
    /// The values a query returns.
    Query(VariableQueryValues),
}

/// A variable (`variablesv1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// ID.
    pub id: Id,
    /// Owning organization.
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// Name, unique within the org regardless of case.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The values chosen in the UI; `null` when never set.
    #[serde(default)]
    pub selected: Option<Vec<String>>,
    /// How the variable expands (always set on a stored variable).
    #[serde(default)]
    pub arguments: Option<VariableArguments>,
    /// Creation time.
    #[serde(rename = "createdAt", default = "zero_time")]
    pub created_at: Time,
    /// Last change.
    #[serde(rename = "updatedAt", default = "zero_time")]
    pub updated_at: Time,
}

/// What [`MetaStore::create_variable`] and [`MetaStore::replace_variable`] need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariableCreate {
    /// Owning organization (required).
    pub org_id: Option<Id>,
    /// Name (required).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Selected values.
    pub selected: Option<Vec<String>>,
    /// Arguments (required).
    pub arguments: Option<VariableArguments>,
}

/// A change of a variable (InfluxDB's `VariableUpdate`): each field that is set (a name or
/// description only when not empty) replaces the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariableUpdate {
    /// New name (trimmed).
    pub name: String,
    /// New selected values.
    pub selected: Option<Vec<String>>,
    /// New description.
    pub description: String,
    /// New arguments.
    pub arguments: Option<VariableArguments>,
}

/// Go's `strings.ToLower` (the simple lower-case mapping of each rune).
fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut it = c.to_lowercase();
            match (it.next(), it.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// `orgID ‖ lower(name)`: the key of `variablesindexv1`.
fn variable_index_key(org: Id, name: &str) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(go_lower(name).as_bytes());
    k
}

/// `orgID ‖ variableID`: the key of `variableorgsv1`.
fn variable_org_key(org: Id, id: Id) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(&id.encode());
    k
}

/// InfluxDB's `Variable.Valid`.
fn validate(name: &str, args: Option<&VariableArguments>) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Invalid("missing variable name".into()));
    }
    if args.is_none() {
        return Err(Error::Invalid("invalid arguments type".into()));
    }
    if PROTECTED.contains(&name) {
        return Err(Error::Invalid(
            "Protected variable name, invalid variable name".into(),
        ));
    }
    Ok(())
}

fn tx_get_variable(t: &Tree, id: Id) -> Result<Variable> {
    get_json(t, schema::VARIABLES, &id.encode(), Kind::Variable)
}

fn tx_put_variable(t: &mut Tree, v: &Variable) {
    t.put(
        schema::VARIABLE_INDEX,
        variable_index_key(v.org_id, &v.name),
        v.id.encode().to_vec(),
    );
    t.put(
        schema::VARIABLE_ORGS,
        variable_org_key(v.org_id, v.id),
        Vec::new(),
    );
    t.put(schema::VARIABLES, v.id.encode().to_vec(), to_go_json(v));
}

/// Fails unless the name index entry of `v` is free or already `v`'s (the check of InfluxDB's
/// `IndexStore` on update), then drops the index entry of the stored version `old`.
fn tx_check_update(t: &mut Tree, old: &Variable, v: &Variable) -> Result<()> {
    let key = variable_index_key(v.org_id, &v.name);
    if let Some(owner) = t.get(schema::VARIABLE_INDEX, &key)
        && owner != v.id.encode()
    {
        return Err(Error::Conflict(format!(
            "variable entity update conflicts with an existing entity for key {}",
            String::from_utf8_lossy(&key)
        )));
    }
    t.delete(
        schema::VARIABLE_INDEX,
        &variable_index_key(old.org_id, &old.name),
    );
    if old.org_id != v.org_id {
        t.delete(schema::VARIABLE_ORGS, &variable_org_key(old.org_id, old.id));
    }
    Ok(())
}

fn tx_create(t: &mut Tree, id: Id, org_id: Id, req: VariableCreate, now: Time) -> Result<Variable> {
    if t.get(schema::ORGS, &org_id.encode()).is_none() {
        return Err(Error::not_found(Kind::Organization));
    }
    let key = variable_index_key(org_id, &req.name);
    if t.get(schema::VARIABLE_INDEX, &key).is_some() {
        return Err(Error::Conflict(format!(
            "variable is not unique for key {}",
            String::from_utf8_lossy(&key)
        )));
    }
    let v = Variable {
        id,
        org_id,
        name: req.name,
        description: req.description,
        selected: req.selected,
        arguments: req.arguments,
        created_at: now,
        updated_at: now,
    };
    tx_put_variable(t, &v);
    Ok(v)
}

impl MetaStore {
    /// Creates a variable with a new ID. [`Error::Invalid`] for a missing org (`orgID is
    /// required`), name, arguments or a protected name; [`Error::NotFound`] if the org does not
    /// exist; [`Error::Conflict`] if the org has a variable of that name in any case.
    pub fn create_variable(&self, req: VariableCreate) -> Result<Variable> {
        validate(&req.name, req.arguments.as_ref())?;
        let org_id = req
            .org_id
            .ok_or_else(|| Error::Invalid("orgID is required".into()))?;
        let req = VariableCreate {
            name: req.name.trim().to_string(),
            ..req
        };
        if req.name.is_empty() {
            return Err(Error::Invalid("missing variable name".into()));
        }
        self.update(|t| {
            let mut id = Id::generate();
            while t.get(schema::VARIABLES, &id.encode()).is_some() {
                id = Id::generate();
            }
            tx_create(t, id, org_id, req, Time::now())
        })
    }

    /// The variable with this ID ([`Error::NotFound`]: `variable not found`).
    pub fn get_variable(&self, id: Id) -> Result<Variable> {
        tx_get_variable(&self.view(), id)
    }

    /// The variables of one org (walking `variableorgsv1`, in ID order), or of every org.
    pub fn list_variables(&self, org_id: Option<Id>) -> Result<Vec<Variable>> {
        let t = self.view();
        match org_id {
            None => all_json(&t, schema::VARIABLES),
            Some(org) => {
                let prefix = org.encode();
                let mut out = Vec::new();
                for (k, _) in t.prefix(schema::VARIABLE_ORGS, &prefix) {
                    if k.len() != 32 {
                        return Err(Error::corrupt("malformed variable orgs index key"));
                    }
                    match tx_get_variable(&t, id_from(&k[16..])?) {
                        Ok(v) => out.push(v),
                        // An index entry whose variable is gone is skipped.
                        Err(Error::NotFound { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            }
        }
    }

    /// Applies `upd` (see [`VariableUpdate`]). [`Error::Invalid`] when it carries nothing (`no
    /// fields supplied in update`), [`Error::NotFound`] for a missing variable,
    /// [`Error::Conflict`] when another variable of the org has the new name.
    pub fn update_variable(&self, id: Id, upd: VariableUpdate) -> Result<Variable> {
        if upd.name.is_empty()
            && upd.description.is_empty()
            && upd.selected.is_none()
            && upd.arguments.is_none()
        {
            return Err(Error::Invalid("no fields supplied in update".into()));
        }
        self.update(|t| {
            let old = tx_get_variable(t, id)?;
            let mut v = old.clone();
            v.updated_at = Time::now();
            let name = upd.name.trim();
            if !name.is_empty() {
                v.name = name.to_string();
            }
            if upd.selected.is_some() {
                v.selected = upd.selected;
            }
            if upd.arguments.is_some() {
                v.arguments = upd.arguments;
            }
            if !upd.description.is_empty() {
                v.description = upd.description;
            }
            tx_check_update(t, &old, &v)?;
            tx_put_variable(t, &v);
            Ok(v)
        })
    }

    /// Stores `req` as the whole variable `id` (InfluxDB's `ReplaceVariable`): an existing one
    /// is overwritten (its `createdAt` kept), a missing one is created with this ID. Errors as
    /// [`MetaStore::create_variable`] and [`MetaStore::update_variable`].
    pub fn replace_variable(&self, id: Id, req: VariableCreate) -> Result<Variable> {
        validate(&req.name, req.arguments.as_ref())?;
        let org_id = req
            .org_id
            .ok_or_else(|| Error::Invalid("orgID is required".into()))?;
        self.update(|t| {
            let old = match tx_get_variable(t, id) {
                Ok(old) => old,
                Err(Error::NotFound { .. }) => return tx_create(t, id, org_id, req, Time::now()),
                Err(e) => return Err(e),
            };
            if t.get(schema::ORGS, &org_id.encode()).is_none() {
                return Err(Error::not_found(Kind::Organization));
            }
            let v = Variable {
                id,
                org_id,
                name: req.name,
                description: req.description,
                selected: req.selected,
                arguments: req.arguments,
                created_at: old.created_at,
                updated_at: Time::now(),
            };
            tx_check_update(t, &old, &v)?;
            tx_put_variable(t, &v);
            Ok(v)
        })
    }

    /// Deletes a variable with its index entries. [`Error::NotFound`] if there is none.
    pub fn delete_variable(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let v = tx_get_variable(t, id)?;
            t.delete(schema::VARIABLE_ORGS, &variable_org_key(v.org_id, id));
            let key = variable_index_key(v.org_id, &v.name);
            if t.get(schema::VARIABLE_INDEX, &key) == Some(&id.encode()[..]) {
                t.delete(schema::VARIABLE_INDEX, &key);
            }
            t.delete(schema::VARIABLES, &id.encode());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_json_is_influxdb_json() {
        let t = Time::from_unix_nanos(1_700_000_000_123_000_000).unwrap();
        let mut v = Variable {
            id: Id::new(0x0b).unwrap(),
            org_id: Id::new(0x0a).unwrap(),
            name: "host".into(),
            description: String::new(),
            selected: None,
            arguments: Some(VariableArguments::Constant(vec!["a".into(), "b".into()])),
            created_at: t,
            updated_at: t,
        };
        assert_eq!(
            String::from_utf8(to_go_json(&v)).unwrap(),
            r#"{"id":"000000000000000b","orgID":"000000000000000a","name":"host","description":"","selected":null,"arguments":{"type":"constant","values":["a","b"]},"createdAt":"2023-11-14T22:13:20.123Z","updatedAt":"2023-11-14T22:13:20.123Z"}"#
        );
        v.arguments = Some(VariableArguments::Map(BTreeMap::from([
            ("z".into(), "1".into()),
            ("a".into(), "2".into()),
        ])));
        v.selected = Some(vec!["a".into()]);
        let s = String::from_utf8(to_go_json(&v)).unwrap();
        assert!(
            s.contains(r#""selected":["a"],"arguments":{"type":"map","values":{"a":"2","z":"1"}}"#),
            "{s}"
        );
        v.arguments = Some(VariableArguments::Query(VariableQueryValues {
            query: "buckets()".into(),
            language: "flux".into(),
        }));
        let s = String::from_utf8(to_go_json(&v)).unwrap();
        assert!(
            s.contains(
                r#""arguments":{"type":"query","values":{"query":"buckets()","language":"flux"}}"#
            ),
            "{s}"
        );
        let back: Variable = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn records_written_by_influxdb_are_read_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        let org = s.create_org("o", "", None).unwrap().id;
        let id = Id::new(0x0c).unwrap();
        let gone = Id::new(0x0d).unwrap();
        let raw = format!(
            r#"{{"id":"{id}","orgID":"{org}","name":"Env","description":"","selected":null,"arguments":{{"type":"map","values":{{"b":"2","a":"1"}}}},"createdAt":"2021-09-28T08:55:25.75109-04:00","updatedAt":"2021-09-28T08:55:25.75109-04:00"}}"#
        );
        s.update(|t| {
            t.put(
                schema::VARIABLES,
                id.encode().to_vec(),
                raw.as_bytes().to_vec(),
            );
            t.put(
                schema::VARIABLE_INDEX,
                variable_index_key(org, "Env"),
                id.encode().to_vec(),
            );
            t.put(schema::VARIABLE_ORGS, variable_org_key(org, id), Vec::new());
            // An index entry InfluxDB left behind for a variable that is gone.
            t.put(
                schema::VARIABLE_ORGS,
                variable_org_key(org, gone),
                Vec::new(),
            );
            Ok(())
        })
        .unwrap();
        let listed = s.list_variables(Some(org)).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "Env");
        assert_eq!(
            listed[0].arguments,
            Some(VariableArguments::Map(BTreeMap::from([
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
            ])))
        );
        // The name is taken regardless of case.
        let dup = VariableCreate {
            org_id: Some(org),
            name: "ENV".into(),
            arguments: Some(VariableArguments::Constant(vec![])),
            ..VariableCreate::default()
        };
        assert!(matches!(s.create_variable(dup), Err(Error::Conflict(_))));
        // An update keeps createdAt as InfluxDB wrote it.
        s.update_variable(
            id,
            VariableUpdate {
                description: "d".into(),
                ..VariableUpdate::default()
            },
        )
        .unwrap();
        let stored = String::from_utf8(
            s.view()
                .get(schema::VARIABLES, &id.encode())
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            stored.contains(r#""description":"d","selected":null"#)
                && stored.contains(r#""createdAt":"2021-09-28T08:55:25.75109-04:00""#),
            "{stored}"
        );
    }

    #[test]
    fn index_keys() {
        let org = Id::new(0x0a).unwrap();
        assert_eq!(
            variable_index_key(org, "HoSt"),
            b"000000000000000ahost".to_vec()
        );
        assert_eq!(
            variable_org_key(org, Id::new(0x0b).unwrap()),
            b"000000000000000a000000000000000b".to_vec()
        );
    }
}
