//! `secrets.get(key:)` of package `influxdata/influxdb/secrets`: the value of one secret of the
//! organization the query runs in. The query crate knows no store: the caller puts a
//! [`SecretStore`] into [`crate::Options::secrets`] (the server's looks the key up in the org's
//! secrets and checks the caller may read them). Without one, every lookup fails as a missing
//! secret does.

use std::sync::Arc;

use crate::QueryError;
use crate::exec::{Args, Interp};
use crate::source::SourceError;
use crate::value::Value;

/// Why a secret could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The org has no secret of this key (InfluxDB: `secret not found`).
    #[error("secret not found")]
    NotFound,
    /// The caller may not read the org's secrets; the message names the permission.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed.
    #[error("{0}")]
    Other(String),
}

/// Where `secrets.get` loads secrets from: the secrets of one organization.
pub trait SecretStore: Send + Sync + std::fmt::Debug {
    /// The value of the secret `key`.
    fn load(&self, key: &str) -> Result<String, SecretError>;
}

/// A fixed set of secrets (tests, embedding).
#[derive(Debug, Clone, Default)]
pub struct MemSecrets(pub std::collections::BTreeMap<String, String>);

impl SecretStore for MemSecrets {
    fn load(&self, key: &str) -> Result<String, SecretError> {
        self.0.get(key).cloned().ok_or(SecretError::NotFound)
    }
}

/// The lookup a query carries (see [`crate::Options::secrets`]).
pub type Secrets = Option<Arc<dyn SecretStore>>;

/// The parameters of `secrets.get`.
pub const PARAMS: &[&str] = &["key"];

/// Calls `secrets.get(key)`: a missing secret is an `invalid` query error
/// (`secrets.get: secret not found`), a refused read `forbidden`, a failing store `internal`.
pub fn get(it: &Interp<'_>, a: &Args) -> Result<Value, QueryError> {
    let key = a.required_string("key")?;
    let res = match &it.secrets {
        Some(s) => s.load(&key),
        None => Err(SecretError::NotFound),
    };
    match res {
        Ok(v) => Ok(Value::String(v)),
        Err(SecretError::NotFound) => Err(a.err(SecretError::NotFound)),
        Err(SecretError::Forbidden(m)) => Err(QueryError::Source(SourceError::Forbidden(m))),
        Err(SecretError::Other(m)) => Err(QueryError::Source(SourceError::Other(m))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemSource;
    use crate::{Options, execute};

    fn run(script: &str, secrets: Secrets) -> Result<Vec<crate::ResultSet>, QueryError> {
        let options = Options {
            secrets,
            ..Options::default()
        };
        execute(script, &MemSource { buckets: vec![] }, &options)
    }

    const SCRIPT: &str = "import \"array\"\nimport \"influxdata/influxdb/secrets\"\n\
        t = secrets.get(key: \"token\")\narray.from(rows: [{v: t + \"!\"}])";

    #[test]
    fn get_returns_the_secret() {
        let store = MemSecrets([("token".to_string(), "s3cr3t".to_string())].into());
        let res = run(SCRIPT, Some(Arc::new(store))).unwrap();
        let col = &res[0].tables[0].columns[0];
        assert_eq!(col.name, "v");
        assert_eq!(col.values, vec![Value::String("s3cr3t!".into())]);
    }

    #[test]
    fn missing_secret_and_refusal_are_errors() {
        let e = run(SCRIPT, Some(Arc::new(MemSecrets::default()))).unwrap_err();
        assert_eq!(e.code(), "invalid");
        assert!(
            e.to_string().ends_with("secrets.get: secret not found"),
            "{e}"
        );
        // No store at all: every key is missing.
        let e = run(SCRIPT, None).unwrap_err();
        assert!(e.to_string().contains("secret not found"), "{e}");

        #[derive(Debug)]
        struct Refuse;
        impl SecretStore for Refuse {
            fn load(&self, _: &str) -> Result<String, SecretError> {
                Err(SecretError::Forbidden(
                    "read:orgs/000000000000000a/secrets is unauthorized".into(),
                ))
            }
        }
        let e = run(SCRIPT, Some(Arc::new(Refuse))).unwrap_err();
        assert_eq!(e.code(), "forbidden");
        // Without the import the package is not in scope.
        let e = run("secrets.get(key: \"token\")", None).unwrap_err();
        assert_eq!(e.code(), "invalid");
        // key is required and must be a string.
        let e = run(
            "import \"influxdata/influxdb/secrets\"\nsecrets.get(key: 1)",
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("argument key must be a string"),
            "{e}"
        );
    }
}
