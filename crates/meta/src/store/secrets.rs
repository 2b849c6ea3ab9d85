//! Org secrets, kept as InfluxDB 2.x keeps them (its `secret` service).
//!
//! KV layout (byte-compatible with InfluxDB):
//! * `secretsv1`: org ID (16 hex) ‖ secret key (its UTF-8 bytes, no separator) → the value in
//!   standard base64 with padding (InfluxDB stores it so "marginally better than plaintext").
//!
//! Rules as InfluxDB's: a patch sets every given key (new or not) in one commit; deleting a key
//! that does not exist is not an error; the keys of an org are listed in byte order. The org
//! itself is not looked up here (InfluxDB does not either): callers check it.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;

use super::*;

/// `orgID ‖ key`, as InfluxDB's `encodeSecretKey`.
fn secret_key(org: Id, key: &str) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(key.as_bytes());
    k
}

impl MetaStore {
    /// The keys of the org's secrets, in byte order (values are never listed).
    pub fn list_secret_keys(&self, org_id: Id) -> Result<Vec<String>> {
        let t = self.view();
        let prefix = org_id.encode();
        Ok(t.prefix(schema::SECRETS, &prefix)
            .map(|(k, _)| String::from_utf8_lossy(&k[16..]).into_owned())
            .collect())
    }

    /// The value of one secret of the org. [`Error::NotFound`] (`secret not found`) if the org
    /// has no secret of that key; [`Error::Corrupt`] if the stored value is not base64.
    pub fn get_secret(&self, org_id: Id, key: &str) -> Result<String> {
        let t = self.view();
        let v = t
            .get(schema::SECRETS, &secret_key(org_id, key))
            .ok_or(Error::not_found(Kind::Secret))?;
        let raw = STANDARD
            .decode(v)
            .map_err(|e| Error::corrupt(format!("{}: {e}", schema::SECRETS)))?;
        Ok(String::from_utf8_lossy(&raw).into_owned())
    }

    /// Sets every secret of `secrets` (new keys are added, existing ones overwritten), in one
    /// commit.
    pub fn patch_secrets(&self, org_id: Id, secrets: &BTreeMap<String, String>) -> Result<()> {
        self.update(|t| {
            for (k, v) in secrets {
                t.put(
                    schema::SECRETS,
                    secret_key(org_id, k),
                    STANDARD.encode(v.as_bytes()),
                );
            }
            Ok(())
        })
    }

    /// Replaces all the org's secrets by `secrets` (InfluxDB's `PutSecrets`).
    pub fn put_secrets(&self, org_id: Id, secrets: &BTreeMap<String, String>) -> Result<()> {
        self.update(|t| {
            let prefix = org_id.encode();
            let old: Vec<Vec<u8>> = t
                .prefix(schema::SECRETS, &prefix)
                .map(|(k, _)| k.to_vec())
                .collect();
            for k in old {
                t.delete(schema::SECRETS, &k);
            }
            for (k, v) in secrets {
                t.put(
                    schema::SECRETS,
                    secret_key(org_id, k),
                    STANDARD.encode(v.as_bytes()),
                );
            }
            Ok(())
        })
    }

    /// Deletes the given secrets of the org in one commit; keys that do not exist are skipped.
    pub fn delete_secrets(&self, org_id: Id, keys: &[String]) -> Result<()> {
        self.update(|t| {
            for k in keys {
                t.delete(schema::SECRETS, &secret_key(org_id, k));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, MetaStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        (dir, s)
    }

    #[test]
    fn secrets_are_stored_as_influxdb_stores_them() {
        let (_d, s) = store();
        let org = Id::new(0x0a).unwrap();
        let other = Id::new(0x0b).unwrap();
        let m = BTreeMap::from([
            ("token".to_string(), "s3cr3t".to_string()),
            ("a key".to_string(), String::new()),
        ]);
        s.patch_secrets(org, &m).unwrap();
        s.patch_secrets(other, &BTreeMap::from([("x".into(), "y".into())]))
            .unwrap();
        let t = s.view();
        assert_eq!(
            t.get(schema::SECRETS, b"000000000000000atoken"),
            Some(&b"czNjcjN0"[..])
        );
        assert_eq!(
            t.get(schema::SECRETS, b"000000000000000aa key"),
            Some(&b""[..])
        );
        assert_eq!(s.list_secret_keys(org).unwrap(), vec!["a key", "token"]);
        assert_eq!(s.get_secret(org, "token").unwrap(), "s3cr3t");
        assert!(matches!(
            s.get_secret(other, "token"),
            Err(Error::NotFound { kind: Kind::Secret })
        ));
        s.delete_secrets(org, &["token".into(), "missing".into()])
            .unwrap();
        assert_eq!(s.list_secret_keys(org).unwrap(), vec!["a key"]);
        s.put_secrets(org, &BTreeMap::from([("n".into(), "v".into())]))
            .unwrap();
        assert_eq!(s.list_secret_keys(org).unwrap(), vec!["n"]);
        assert_eq!(s.list_secret_keys(other).unwrap(), vec!["x"]);
    }

    #[test]
    fn damaged_value_is_corrupt() {
        let (_d, s) = store();
        let org = Id::new(0x0a).unwrap();
        s.update(|t| {
            t.put(
                schema::SECRETS,
                secret_key(org, "k"),
                b"not base64!".to_vec(),
            );
            Ok(())
        })
        .unwrap();
        assert!(matches!(s.get_secret(org, "k"), Err(Error::Corrupt(_))));
    }
}
