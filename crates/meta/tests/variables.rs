//! Variables: InfluxDB's rules (names unique per org regardless of case, protected names, the
//! update and replace semantics), their two indexes kept in step, reopening, and the records as
//! Go bbolt reads them in a copy of a real InfluxDB file.

mod common;

use std::collections::BTreeMap;

use meta::*;

fn open(dir: &std::path::Path) -> MetaStore {
    MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap()
}

fn constant(vals: &[&str]) -> Option<VariableArguments> {
    Some(VariableArguments::Constant(
        vals.iter().map(|s| s.to_string()).collect(),
    ))
}

fn var(org: Id, name: &str, args: Option<VariableArguments>) -> VariableCreate {
    VariableCreate {
        org_id: Some(org),
        name: name.into(),
        arguments: args,
        ..VariableCreate::default()
    }
}

fn names(vs: &[Variable]) -> Vec<&str> {
    vs.iter().map(|v| v.name.as_str()).collect()
}

#[track_caller]
fn invalid<T: std::fmt::Debug>(r: Result<T>, want: &str) {
    match r {
        Err(Error::Invalid(m)) => assert_eq!(m, want),
        other => panic!("{other:?}"),
    }
}

#[track_caller]
fn conflict<T: std::fmt::Debug>(r: Result<T>, want: &str) {
    match r {
        Err(Error::Conflict(m)) => assert_eq!(m, want),
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_list_update_replace_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let a = s.create_org("a", "", None).unwrap();
    let b = s.create_org("b", "", None).unwrap();

    let host = s
        .create_variable(var(a.id, " Host ", constant(&["h1", "h2"])))
        .unwrap();
    assert_eq!(host.name, "Host");
    assert_eq!(host.selected, None);
    assert_eq!(host.created_at, host.updated_at);
    assert_eq!(s.get_variable(host.id).unwrap(), host);
    conflict(
        s.create_variable(var(a.id, "HOST", constant(&[]))),
        &format!("variable is not unique for key {}host", a.id),
    );
    let other = s
        .create_variable(var(b.id, "host", constant(&["x"])))
        .unwrap();
    let region = s
        .create_variable(var(
            a.id,
            "region",
            Some(VariableArguments::Map(BTreeMap::from([(
                "EU".to_string(),
                "eu-west-1".to_string(),
            )]))),
        ))
        .unwrap();

    invalid(
        s.create_variable(var(a.id, "", constant(&[]))),
        "missing variable name",
    );
    invalid(
        s.create_variable(var(a.id, "x", None)),
        "invalid arguments type",
    );
    invalid(
        s.create_variable(var(a.id, "import", constant(&[]))),
        "Protected variable name, invalid variable name",
    );
    invalid(
        s.create_variable(VariableCreate {
            org_id: None,
            ..var(a.id, "x", constant(&[]))
        }),
        "orgID is required",
    );
    assert!(matches!(
        s.create_variable(var(Id::new(0x77).unwrap(), "x", constant(&[]))),
        Err(Error::NotFound {
            kind: Kind::Organization
        })
    ));

    let mut ids = vec![host.id, region.id];
    ids.sort();
    let of_a = s.list_variables(Some(a.id)).unwrap();
    assert_eq!(of_a.iter().map(|v| v.id).collect::<Vec<_>>(), ids);
    assert_eq!(names(&s.list_variables(Some(b.id)).unwrap()), vec!["host"]);
    assert_eq!(s.list_variables(None).unwrap().len(), 3);

    // Update: only what is set; a rename onto another variable's name is a conflict.
    invalid(
        s.update_variable(host.id, VariableUpdate::default()),
        "no fields supplied in update",
    );
    conflict(
        s.update_variable(
            host.id,
            VariableUpdate {
                name: "REGION".into(),
                ..VariableUpdate::default()
            },
        ),
        &format!(
            "variable entity update conflicts with an existing entity for key {}region",
            a.id
        ),
    );
    let up = s
        .update_variable(
            host.id,
            VariableUpdate {
                name: " server ".into(),
                selected: Some(vec!["h2".into()]),
                ..VariableUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(up.name, "server");
    assert_eq!(up.selected, Some(vec!["h2".into()]));
    assert_eq!(up.arguments, host.arguments);
    assert_eq!(up.created_at, host.created_at);
    assert!(up.updated_at.unix_nanos() >= host.updated_at.unix_nanos());
    // The old name is free again, the new one taken.
    let again = s.create_variable(var(a.id, "host", constant(&[]))).unwrap();
    conflict(
        s.create_variable(var(a.id, "Server", constant(&[]))),
        &format!("variable is not unique for key {}server", a.id),
    );

    // Replace keeps the ID and createdAt, takes everything else from the request.
    let q = Some(VariableArguments::Query(VariableQueryValues {
        query: "buckets()".into(),
        language: "flux".into(),
    }));
    let rep = s
        .replace_variable(
            region.id,
            VariableCreate {
                description: "where".into(),
                ..var(a.id, "zone", q.clone())
            },
        )
        .unwrap();
    assert_eq!(
        (
            rep.id,
            rep.created_at,
            rep.name.as_str(),
            rep.description.as_str()
        ),
        (region.id, region.created_at, "zone", "where")
    );
    assert_eq!(rep.arguments, q);
    conflict(
        s.replace_variable(region.id, var(a.id, "HOST", constant(&[]))),
        &format!(
            "variable entity update conflicts with an existing entity for key {}host",
            a.id
        ),
    );

    drop(s);
    let s = open(dir.path());
    assert_eq!(s.get_variable(region.id).unwrap(), rep);
    s.delete_variable(again.id).unwrap();
    assert!(matches!(
        s.get_variable(again.id),
        Err(Error::NotFound {
            kind: Kind::Variable
        })
    ));
    assert!(matches!(
        s.delete_variable(again.id),
        Err(Error::NotFound { .. })
    ));
    // Its name is free again.
    s.create_variable(var(a.id, "HOST", constant(&[]))).unwrap();
    assert_eq!(s.list_variables(Some(a.id)).unwrap().len(), 3);
    assert_eq!(s.get_variable(other.id).unwrap(), other);
}

#[test]
fn bbolt_reads_variables_as_influxdb_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let org = "dd7cd2292f6e974a";
    let org_id: Id = org.parse().unwrap();
    let (c, m, gone) = {
        let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
        let c = s
            .create_variable(VariableCreate {
                description: "a<b".into(),
                selected: Some(vec!["h1".into()]),
                ..var(org_id, "Hosts", constant(&["h1", "h2"]))
            })
            .unwrap();
        let m = s
            .create_variable(var(
                org_id,
                "q",
                Some(VariableArguments::Query(VariableQueryValues {
                    query: "buckets()".into(),
                    language: "flux".into(),
                })),
            ))
            .unwrap();
        let gone = s
            .create_variable(var(org_id, "gone", constant(&[])))
            .unwrap();
        s.delete_variable(gone.id).unwrap();
        (c, m, gone)
    };
    let dump = common::boltdump(&bolt);
    let vars = dump["variablesv1"].as_object().unwrap();
    assert_eq!(vars.len(), 2, "{vars:?}");
    let t = |v: &Variable| serde_json::to_value(v.created_at).unwrap();
    assert_eq!(
        vars[&c.id.to_string()],
        serde_json::json!({
            "id": c.id.to_string(), "orgID": org, "name": "Hosts", "description": "a<b",
            "selected": ["h1"],
            "arguments": {"type": "constant", "values": ["h1", "h2"]},
            "createdAt": t(&c), "updatedAt": t(&c),
        })
    );
    assert_eq!(
        vars[&m.id.to_string()],
        serde_json::json!({
            "id": m.id.to_string(), "orgID": org, "name": "q", "description": "",
            "selected": null,
            "arguments": {"type": "query", "values": {"query": "buckets()", "language": "flux"}},
            "createdAt": t(&m), "updatedAt": t(&m),
        })
    );
    let idx = dump["variablesindexv1"].as_object().unwrap();
    assert_eq!(idx.len(), 2, "{idx:?}");
    assert_eq!(idx[&format!("{org}hosts")], c.id.to_string());
    assert_eq!(idx[&format!("{org}q")], m.id.to_string());
    let orgs = dump["variableorgsv1"].as_object().unwrap();
    assert_eq!(orgs.len(), 2, "{orgs:?}");
    assert_eq!(orgs[&format!("{org}{}", c.id)], "");
    assert!(!orgs.contains_key(&format!("{org}{}", gone.id)));
}
