//! Labels and label mappings: InfluxDB's rules (unique names per org regardless of case, the
//! PATCH merge of properties, duplicate mappings), their indexes kept in step, reopening, and the
//! records as Go bbolt reads them.

mod common;

use std::collections::BTreeMap;

use meta::*;

struct Env {
    dir: tempfile::TempDir,
    s: MetaStore,
}

fn open(dir: &std::path::Path) -> MetaStore {
    MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap()
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    Env { dir, s }
}

fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn label(org: Id, name: &str, kv: &[(&str, &str)]) -> LabelCreate {
    LabelCreate {
        org_id: Some(org),
        name: name.into(),
        properties: props(kv),
    }
}

fn mapping(label: Id, bucket: Id) -> LabelMapping {
    LabelMapping {
        label_id: label,
        resource_id: bucket,
        resource_type: ResourceType::Buckets,
    }
}

fn names(ls: &[Label]) -> Vec<&str> {
    ls.iter().map(|l| l.name.as_str()).collect()
}

#[test]
fn create_find_list_with_influxdb_rules() {
    let e = env();
    let a = e.s.create_org("a", "", None).unwrap();
    let b = e.s.create_org("b", "", None).unwrap();
    let l1 =
        e.s.create_label(label(a.id, "  Prod ", &[("color", "#ff0000")]))
            .unwrap();
    assert_eq!(l1.name, "Prod");
    assert_eq!(l1.org_id, a.id);
    assert_eq!(l1.properties, props(&[("color", "#ff0000")]));
    assert_eq!(e.s.get_label(l1.id).unwrap(), l1);

    // Names are unique per org regardless of case; another org may reuse them.
    match e.s.create_label(label(a.id, "PROD", &[])) {
        Err(Error::Conflict(m)) => assert_eq!(m, "label with name PROD already exists"),
        other => panic!("{other:?}"),
    }
    let l2 = e.s.create_label(label(b.id, "prod", &[])).unwrap();
    let l3 = e.s.create_label(label(a.id, "dev", &[])).unwrap();

    // Validation and the org's existence.
    match e.s.create_label(label(a.id, "   ", &[])) {
        Err(Error::Invalid(m)) => assert_eq!(m, "label name is required"),
        other => panic!("{other:?}"),
    }
    match e.s.create_label(LabelCreate {
        org_id: None,
        name: "x".into(),
        properties: BTreeMap::new(),
    }) {
        Err(Error::Invalid(m)) => assert_eq!(m, "orgID is required"),
        other => panic!("{other:?}"),
    }
    let nowhere = Id::new(0x0bad).unwrap();
    assert!(matches!(
        e.s.create_label(label(nowhere, "x", &[])),
        Err(Error::NotFound {
            kind: Kind::Organization
        })
    ));

    // Listing: ID order, by org, by name regardless of case.
    let all = e.s.list_labels(&LabelFilter::default()).unwrap();
    let mut ids: Vec<Id> = vec![l1.id, l2.id, l3.id];
    ids.sort();
    assert_eq!(all.iter().map(|l| l.id).collect::<Vec<_>>(), ids);
    let in_a = e.s.list_labels(&LabelFilter {
        org_id: Some(a.id),
        name: None,
    });
    assert_eq!(in_a.unwrap().len(), 2);
    let prods = e.s.list_labels(&LabelFilter {
        org_id: None,
        name: Some("pRoD".into()),
    });
    let mut got = names(&prods.unwrap()).join(",");
    if l2.id < l1.id {
        got = got.split(',').rev().collect::<Vec<_>>().join(",");
    }
    assert_eq!(got, "Prod,prod");
    let prod_b = e.s.list_labels(&LabelFilter {
        org_id: Some(b.id),
        name: Some("PROD".into()),
    });
    assert_eq!(prod_b.unwrap(), vec![l2.clone()]);

    match e.s.get_label(nowhere) {
        Err(e @ Error::NotFound { kind: Kind::Label }) => {
            assert_eq!(e.to_string(), "label not found")
        }
        other => panic!("{other:?}"),
    }

    // Everything survives reopening.
    let Env { dir, s } = e;
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.get_label(l1.id).unwrap(), l1);
    assert_eq!(s.list_labels(&LabelFilter::default()).unwrap().len(), 3);
}

#[test]
fn update_merges_properties_and_renames() {
    let e = env();
    let a = e.s.create_org("a", "", None).unwrap();
    let l =
        e.s.create_label(label(
            a.id,
            "prod",
            &[("color", "#ff0000"), ("description", "live")],
        ))
        .unwrap();
    let other = e.s.create_label(label(a.id, "dev", &[])).unwrap();

    // A non-empty value sets, an empty one removes, the rest is kept; no name keeps the name.
    let u =
        e.s.update_label(
            l.id,
            LabelUpdate {
                name: None,
                properties: props(&[("color", "#00ff00"), ("description", ""), ("x", "y")]),
            },
        )
        .unwrap();
    assert_eq!(u.name, "prod");
    assert_eq!(u.properties, props(&[("color", "#00ff00"), ("x", "y")]));
    assert_eq!(e.s.get_label(l.id).unwrap(), u);

    // Renaming: to another case of its own name is fine, to another label's name is not.
    let u =
        e.s.update_label(
            l.id,
            LabelUpdate {
                name: Some(" PROD ".into()),
                properties: BTreeMap::new(),
            },
        )
        .unwrap();
    assert_eq!(u.name, "PROD");
    assert_eq!(u.properties, props(&[("color", "#00ff00"), ("x", "y")]));
    match e.s.update_label(
        l.id,
        LabelUpdate {
            name: Some("Dev".into()),
            properties: props(&[("color", "#000000")]),
        },
    ) {
        Err(Error::Conflict(m)) => assert_eq!(m, "label with name Dev already exists"),
        other => panic!("{other:?}"),
    }
    // The failed update changed nothing, and the old name is still taken.
    assert_eq!(e.s.get_label(l.id).unwrap(), u);
    assert!(matches!(
        e.s.create_label(label(a.id, "prod", &[])),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        e.s.update_label(
            l.id,
            LabelUpdate {
                name: Some("  ".into()),
                properties: BTreeMap::new(),
            },
        ),
        Err(Error::Invalid(_))
    ));

    // A real rename frees the old name.
    e.s.update_label(
        l.id,
        LabelUpdate {
            name: Some("staging".into()),
            properties: BTreeMap::new(),
        },
    )
    .unwrap();
    e.s.create_label(label(a.id, "prod", &[])).unwrap();
    assert!(matches!(
        e.s.create_label(label(a.id, "Staging", &[])),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        e.s.update_label(Id::new(0x0bad).unwrap(), LabelUpdate::default()),
        Err(Error::NotFound { kind: Kind::Label })
    ));
    assert_eq!(e.s.get_label(other.id).unwrap(), other);
}

#[test]
fn mappings_list_conflict_and_delete() {
    let e = env();
    let a = e.s.create_org("a", "", None).unwrap();
    let b1 =
        e.s.create_bucket(BucketCreate {
            org_id: Some(a.id),
            name: "b1".into(),
            ..Default::default()
        })
        .unwrap();
    let b2 =
        e.s.create_bucket(BucketCreate {
            org_id: Some(a.id),
            name: "b2".into(),
            ..Default::default()
        })
        .unwrap();
    let x = e.s.create_label(label(a.id, "x", &[])).unwrap();
    let y = e.s.create_label(label(a.id, "y", &[])).unwrap();
    assert!(e.s.list_resource_labels(b1.id).unwrap().is_empty());

    e.s.create_label_mapping(&mapping(y.id, b1.id)).unwrap();
    e.s.create_label_mapping(&mapping(x.id, b1.id)).unwrap();
    e.s.create_label_mapping(&mapping(x.id, b2.id)).unwrap();
    match e.s.create_label_mapping(&mapping(x.id, b1.id)) {
        Err(Error::Conflict(m)) => {
            assert_eq!(m, "Cannot add label, label already exists on resource")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        e.s.create_label_mapping(&mapping(Id::new(0x0bad).unwrap(), b1.id)),
        Err(Error::NotFound { kind: Kind::Label })
    ));
    // In label ID order (IDs made in one millisecond are not in creation order); a label
    // update shows through.
    let x2 =
        e.s.update_label(
            x.id,
            LabelUpdate {
                name: None,
                properties: props(&[("color", "#123456")]),
            },
        )
        .unwrap();
    let mut both = vec![x2.clone(), y.clone()];
    both.sort_by_key(|l| l.id);
    assert_eq!(e.s.list_resource_labels(b1.id).unwrap(), both);
    assert_eq!(e.s.list_resource_labels(b2.id).unwrap(), vec![x2.clone()]);

    // Taking a label off; a missing mapping is not an error.
    e.s.delete_label_mapping(b1.id, y.id).unwrap();
    e.s.delete_label_mapping(b1.id, y.id).unwrap();
    assert_eq!(e.s.list_resource_labels(b1.id).unwrap(), vec![x2.clone()]);

    // Deleting a label deletes its mappings and frees its name.
    e.s.delete_label(x.id).unwrap();
    assert!(e.s.list_resource_labels(b1.id).unwrap().is_empty());
    assert!(e.s.list_resource_labels(b2.id).unwrap().is_empty());
    assert!(matches!(
        e.s.delete_label(x.id),
        Err(Error::NotFound { kind: Kind::Label })
    ));
    let x3 = e.s.create_label(label(a.id, "X", &[])).unwrap();
    // The new label is not on the buckets the old one was on.
    assert!(e.s.list_resource_labels(b1.id).unwrap().is_empty());
    e.s.create_label_mapping(&mapping(x3.id, b1.id)).unwrap();

    // As InfluxDB, deleting a bucket or an org leaves labels alone.
    e.s.delete_bucket(b1.id).unwrap();
    assert_eq!(e.s.get_label(x3.id).unwrap(), x3);
    e.s.delete_org(a.id).unwrap();
    assert_eq!(e.s.list_labels(&LabelFilter::default()).unwrap().len(), 2);
}

/// A raw value as the dump shows it: bbolt's dumper parses values as JSON when they are JSON,
/// so an all-digit ID comes out as a number.
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn bbolt_reads_labels_as_influxdb_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let (l, keep, b) = {
        let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
        let org = s.find_org_by_name("myorg").unwrap();
        let b = s
            .list_buckets(
                &BucketFilter {
                    name: Some("mybucket".into()),
                    org_id: Some(org.id),
                    ..Default::default()
                },
                &FindOptions::default(),
            )
            .unwrap()
            .remove(0);
        let l = s
            .create_label(label(
                org.id,
                "Air <Sensors>",
                &[("description", "a&b"), ("color", "#326BBA")],
            ))
            .unwrap();
        let gone = s.create_label(label(org.id, "gone", &[])).unwrap();
        let keep = s.create_label(label(org.id, "plain", &[])).unwrap();
        s.create_label_mapping(&mapping(l.id, b.id)).unwrap();
        s.create_label_mapping(&mapping(gone.id, b.id)).unwrap();
        s.delete_label(gone.id).unwrap();
        (l, keep, b)
    };
    let dump = common::boltdump(&bolt);
    let org = "dd7cd2292f6e974a";
    assert_eq!(
        dump["labelsv1"][l.id.to_string()],
        serde_json::json!({
            "id": l.id.to_string(),
            "orgID": org,
            "name": "Air <Sensors>",
            "properties": {"color": "#326BBA", "description": "a&b"},
        })
    );
    // No properties: no `properties` key, as Go's omitempty.
    assert_eq!(
        dump["labelsv1"][keep.id.to_string()],
        serde_json::json!({"id": keep.id.to_string(), "orgID": org, "name": "plain"})
    );
    assert_eq!(dump["labelsv1"].as_object().unwrap().len(), 2);
    let idx = dump["labelindexv1"].as_object().unwrap();
    assert_eq!(idx.len(), 2);
    assert_eq!(text(&idx[&format!("{org}air <sensors>")]), l.id.to_string());
    assert_eq!(text(&idx[&format!("{org}plain")]), keep.id.to_string());
    let maps = dump["labelmappingsv1"].as_object().unwrap();
    assert_eq!(maps.len(), 1, "{maps:?}");
    assert_eq!(
        maps[&format!("{}{}", b.id, l.id)],
        serde_json::json!({
            "labelID": l.id.to_string(),
            "resourceID": b.id.to_string(),
            "resourceType": "buckets",
        })
    );
    // The exact bytes Go writes: `<`, `>` and `&` escaped.
    let raw = std::fs::read(&bolt).unwrap();
    let want = format!(
        r##"{{"id":"{}","orgID":"{org}","name":"Air \u003cSensors\u003e","properties":{{"color":"#326BBA","description":"a\u0026b"}}}}"##,
        l.id
    );
    assert!(
        raw.windows(want.len()).any(|w| w == want.as_bytes()),
        "{want} not in the file"
    );
}
