//! Org secrets: patch, list, load and delete with InfluxDB's rules, kept across a reopen, and
//! the `secretsv1` records as Go bbolt reads them in a copy of a real InfluxDB file.

mod common;

use std::collections::BTreeMap;

use meta::*;

fn open(dir: &std::path::Path) -> MetaStore {
    MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap()
}

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn patch_list_load_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let a = s.create_org("a", "", None).unwrap();
    let b = s.create_org("b", "", None).unwrap();
    assert!(s.list_secret_keys(a.id).unwrap().is_empty());
    s.patch_secrets(a.id, &map(&[("db_pass", "p1"), ("api", "k<&>")]))
        .unwrap();
    s.patch_secrets(b.id, &map(&[("db_pass", "other")]))
        .unwrap();
    // A patch overwrites the keys it names and keeps the others.
    s.patch_secrets(a.id, &map(&[("db_pass", "p2")])).unwrap();
    assert_eq!(s.list_secret_keys(a.id).unwrap(), vec!["api", "db_pass"]);
    assert_eq!(s.get_secret(a.id, "db_pass").unwrap(), "p2");
    assert_eq!(s.get_secret(a.id, "api").unwrap(), "k<&>");
    assert_eq!(s.get_secret(b.id, "db_pass").unwrap(), "other");
    match s.get_secret(b.id, "api") {
        Err(e @ Error::NotFound { .. }) => assert_eq!(e.to_string(), "secret not found"),
        other => panic!("{other:?}"),
    }
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.get_secret(a.id, "db_pass").unwrap(), "p2");
    // Deleting keys that do not exist is not an error.
    s.delete_secrets(a.id, &["db_pass".into(), "nope".into()])
        .unwrap();
    assert_eq!(s.list_secret_keys(a.id).unwrap(), vec!["api"]);
    assert_eq!(s.list_secret_keys(b.id).unwrap(), vec!["db_pass"]);
}

#[test]
fn bbolt_reads_secrets_as_influxdb_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let org: Id = "dd7cd2292f6e974a".parse().unwrap();
    {
        let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
        s.patch_secrets(org, &map(&[("token", "s3cr3t"), ("gone", "x"), ("ü", "")]))
            .unwrap();
        s.delete_secrets(org, &["gone".into()]).unwrap();
    }
    let dump = common::boltdump(&bolt);
    let secrets = dump["secretsv1"].as_object().unwrap();
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    // Standard base64 of the value, under orgID ‖ key.
    assert_eq!(secrets["dd7cd2292f6e974atoken"], "czNjcjN0");
    assert_eq!(secrets["dd7cd2292f6e974aü"], "");
}
