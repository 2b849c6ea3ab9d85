//! Telegraf configurations: InfluxDB's rules (org required, update keeps ID and org, metadata
//! from the TOML), the org index and plugin counts kept in step, reopening, and the records as
//! Go bbolt reads them in a copy of a real InfluxDB file.

mod common;

use meta::*;
use serde_json::{Map, Value, json};

const CPU_TO_B: &str = "[agent]\n  interval = \"10s\"\n[[inputs.cpu]]\n  percpu = true\n\
                        [[inputs.cpu]]\n[[outputs.influxdb_v2]]\n  urls = [\"http://127.0.0.1:8086\"]\n  bucket = \"b\"\n";

fn open(dir: &std::path::Path) -> MetaStore {
    MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap()
}

fn req(org: Id, name: &str, config: &str) -> TelegrafCreate {
    TelegrafCreate {
        org_id: Some(org),
        name: name.into(),
        config: config.into(),
        ..TelegrafCreate::default()
    }
}

fn buckets(tc: &TelegrafConfig) -> Value {
    tc.metadata.get("buckets").cloned().unwrap_or(Value::Null)
}

#[test]
fn crud_follows_influxdb_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let a = s.create_org("a", "", None).unwrap();
    let b = s.create_org("b", "", None).unwrap();

    // The org is required and must exist.
    match s.create_telegraf(TelegrafCreate::default()) {
        Err(Error::Invalid(m)) => assert_eq!(
            m,
            "provided telegraf configuration organization ID is missing or invalid"
        ),
        other => panic!("{other:?}"),
    }
    let nowhere = Id::new(0x99).unwrap();
    assert!(matches!(
        s.create_telegraf(req(nowhere, "x", "")),
        Err(Error::NotFound {
            kind: Kind::Organization
        })
    ));
    // TOML whose buckets cannot be read is refused when no metadata is given ...
    assert!(matches!(
        s.create_telegraf(req(a.id, "bad", "[[outputs.influxdb_v2]\n")),
        Err(Error::Invalid(_))
    ));
    // ... and kept as given when metadata is.
    let given = s
        .create_telegraf(TelegrafCreate {
            metadata: Map::from_iter([("buckets".into(), json!(["x"]))]),
            ..req(a.id, "given", "not toml [")
        })
        .unwrap();
    assert_eq!(buckets(&given), json!(["x"]));

    let t1 = s.create_telegraf(req(a.id, "one", CPU_TO_B)).unwrap();
    assert_eq!(buckets(&t1), json!(["b"]));
    // Names are free: a second config of the same name is fine.
    let t2 = s.create_telegraf(req(a.id, "one", "")).unwrap();
    assert_eq!(buckets(&t2), json!([]));
    let t3 = s.create_telegraf(req(b.id, "three", "")).unwrap();
    assert_eq!(s.get_telegraf(t1.id).unwrap(), t1);

    let mut of_a: Vec<Id> = vec![given.id, t1.id, t2.id];
    of_a.sort();
    let ids = |v: Vec<TelegrafConfig>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_telegrafs(Some(a.id)).unwrap()), of_a);
    assert_eq!(ids(s.list_telegrafs(Some(b.id)).unwrap()), vec![t3.id]);
    assert_eq!(s.list_telegrafs(None).unwrap().len(), 4);

    // An update replaces everything but ID and org.
    let up = s
        .update_telegraf(
            t1.id,
            TelegrafCreate {
                org_id: Some(b.id),
                description: "d".into(),
                ..req(b.id, "renamed", "[[inputs.mem]]\n")
            },
        )
        .unwrap();
    assert_eq!(up.org_id, a.id);
    assert_eq!(up.name, "renamed");
    assert_eq!(up.description, "d");
    assert_eq!(up.config, "[[inputs.mem]]\n");
    assert_eq!(buckets(&up), json!([]));
    assert_eq!(s.get_telegraf(t1.id).unwrap(), up);
    assert_eq!(ids(s.list_telegrafs(Some(a.id)).unwrap()), of_a);
    assert!(matches!(
        s.update_telegraf(nowhere, req(a.id, "x", "")),
        Err(Error::NotFound {
            kind: Kind::Telegraf
        })
    ));

    s.delete_telegraf(t2.id).unwrap();
    match s.delete_telegraf(t2.id) {
        Err(e @ Error::NotFound { .. }) => {
            assert_eq!(e.to_string(), "telegraf configuration not found")
        }
        other => panic!("{other:?}"),
    }
    assert!(s.get_telegraf(t2.id).is_err());
    assert_eq!(s.list_telegrafs(Some(a.id)).unwrap().len(), 2);

    // All of it survives a reopen.
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.get_telegraf(t1.id).unwrap(), up);
    assert_eq!(s.list_telegrafs(None).unwrap().len(), 3);
}

#[test]
fn bbolt_reads_telegrafs_as_influxdb_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let org = "dd7cd2292f6e974a";
    let org_id: Id = org.parse().unwrap();
    let (t, bare, gone) = {
        let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
        let t = s
            .create_telegraf(TelegrafCreate {
                description: "a<b".into(),
                ..req(org_id, "agent", CPU_TO_B)
            })
            .unwrap();
        let bare = s.create_telegraf(req(org_id, "", "")).unwrap();
        let gone = s.create_telegraf(req(org_id, "gone", CPU_TO_B)).unwrap();
        s.delete_telegraf(gone.id).unwrap();
        (t, bare, gone)
    };
    let dump = common::boltdump(&bolt);
    let cfgs = dump["telegrafv1"].as_object().unwrap();
    assert_eq!(cfgs.len(), 2, "{cfgs:?}");
    assert_eq!(
        cfgs[&t.id.to_string()],
        json!({
            "id": t.id.to_string(), "orgID": org, "name": "agent", "description": "a<b",
            "config": CPU_TO_B, "metadata": {"buckets": ["b"]},
        })
    );
    // Empty fields are left out, as Go's omitempty does.
    assert_eq!(
        cfgs[&bare.id.to_string()],
        json!({"id": bare.id.to_string(), "orgID": org, "metadata": {"buckets": []}})
    );
    let idx = dump["telegrafbyorgindexv1"].as_object().unwrap();
    assert_eq!(idx.len(), 2, "{idx:?}");
    assert_eq!(idx[&format!("{org}/{}", t.id)], t.id.to_string());
    assert_eq!(idx[&format!("{org}/{}", bare.id)], bare.id.to_string());
    let plugins = dump["telegrafPluginsv1"].as_object().unwrap();
    assert_eq!(plugins.len(), 2, "{plugins:?}");
    assert_eq!(
        plugins[&t.id.to_string()],
        json!({"inputs.cpu": 2, "outputs.influxdb_v2": 1})
    );
    assert_eq!(plugins[&bare.id.to_string()], json!({}));
    assert!(!plugins.contains_key(&gone.id.to_string()));
}
