//! Legacy (1.x) authorizations: create, find, list with filters, update, delete, the unique
//! username, passwords (bcrypt, compared once then remembered), and the three `legacy/...`
//! buckets as Go's bbolt reads them, in the shape of a real InfluxDB store's authorizations.

mod common;

use std::collections::BTreeSet;

use meta::*;
use serde_json::Value;

fn setup(dir: &std::path::Path) -> (MetaStore, SetupResult) {
    let s = MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap();
    let r = s
        .setup(SetupRequest {
            username: "admin".into(),
            password: Some("password123".into()),
            org: "acme".into(),
            bucket: "metrics".into(),
            retention_period_ns: 0,
            token: Some("admin-token".into()),
        })
        .unwrap();
    (s, r)
}

fn bucket_perm(action: Action, org: Id, bucket: Id) -> Permission {
    Permission {
        action,
        resource: Resource {
            resource_type: ResourceType::Buckets,
            id: Some(bucket),
            org_id: Some(org),
        },
    }
}

fn legacy(r: &SetupResult, username: &str) -> AuthorizationCreate {
    AuthorizationCreate {
        org_id: Some(r.org.id),
        user_id: Some(r.user.id),
        description: format!("{username}'s 1.x login"),
        status: Status::Active,
        permissions: vec![
            bucket_perm(Action::Read, r.org.id, r.bucket.id),
            bucket_perm(Action::Write, r.org.id, r.bucket.id),
        ],
        token: Some(username.into()),
    }
}

#[test]
fn create_find_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup(dir.path());
    let a = s
        .create_legacy_authorization(legacy(&r, "grafana"))
        .unwrap();
    assert_eq!(a.token, "grafana");
    assert_eq!(a.user_id, Some(r.user.id));
    assert_eq!(a.org_id, r.org.id);
    assert_eq!(a.status, Status::Active);
    assert_eq!(s.get_legacy_authorization(a.id).unwrap(), a);
    assert_eq!(
        s.find_legacy_authorization_by_username("grafana").unwrap(),
        a
    );
    // Legacy and 2.x authorizations live apart.
    assert!(matches!(
        s.find_authorization_by_token("grafana"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.get_legacy_authorization(r.auth.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.find_legacy_authorization_by_username("admin-token"),
        Err(Error::NotFound { .. })
    ));

    let upd = s
        .update_legacy_authorization(
            a.id,
            AuthorizationUpdate {
                status: Some(Status::Inactive),
                description: Some("off".into()),
            },
        )
        .unwrap();
    assert_eq!(upd.status, Status::Inactive);
    assert_eq!(upd.description, "off");
    assert_eq!(upd.token, "grafana");
    assert!(upd.updated_at >= a.updated_at);
    assert_eq!(upd.created_at, a.created_at);
    assert_eq!(
        s.find_legacy_authorization_by_username("grafana").unwrap(),
        upd
    );

    // Survives a reopen.
    drop(s);
    let s = MetaStore::open(
        dir.path().join("influxd.bolt"),
        dir.path().join("influxd.sqlite"),
    )
    .unwrap();
    assert_eq!(s.get_legacy_authorization(a.id).unwrap(), upd);

    s.delete_legacy_authorization(a.id).unwrap();
    assert!(matches!(
        s.get_legacy_authorization(a.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.find_legacy_authorization_by_username("grafana"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_legacy_authorization(a.id),
        Err(Error::NotFound { .. })
    ));
    // The username is free again.
    s.create_legacy_authorization(legacy(&r, "grafana"))
        .unwrap();
}

#[test]
fn creation_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup(dir.path());
    s.create_legacy_authorization(legacy(&r, "telegraf"))
        .unwrap();
    match s.create_legacy_authorization(legacy(&r, "telegraf")) {
        Err(Error::Conflict(m)) => assert_eq!(m, "token already exists"),
        other => panic!("{other:?}"),
    }
    let unable = |req: AuthorizationCreate| match s.create_legacy_authorization(req) {
        Err(Error::Invalid(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        unable(AuthorizationCreate {
            token: Some(String::new()),
            ..legacy(&r, "x")
        }),
        "unable to create token"
    );
    assert_eq!(
        unable(AuthorizationCreate {
            user_id: Some(r.bucket.id),
            ..legacy(&r, "x")
        }),
        "unable to create token"
    );
    assert_eq!(
        unable(AuthorizationCreate {
            org_id: Some(r.bucket.id),
            ..legacy(&r, "x")
        }),
        "unable to create token"
    );
    assert_eq!(
        unable(AuthorizationCreate {
            permissions: vec![],
            ..legacy(&r, "x")
        }),
        "authorization must include permissions"
    );
    // Nothing of the refused ones was stored.
    let all = s
        .list_legacy_authorizations(&AuthorizationFilter::default())
        .unwrap();
    assert_eq!(
        all.iter().map(|a| a.token.as_str()).collect::<Vec<_>>(),
        ["telegraf"]
    );
}

#[test]
fn list_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup(dir.path());
    let bob = s.create_user("bob").unwrap();
    let other = s.create_org("other", "", None).unwrap();
    let a1 = s.create_legacy_authorization(legacy(&r, "one")).unwrap();
    let a2 = s
        .create_legacy_authorization(AuthorizationCreate {
            user_id: Some(bob.id),
            ..legacy(&r, "two")
        })
        .unwrap();
    let a3 = s
        .create_legacy_authorization(AuthorizationCreate {
            org_id: Some(other.id),
            ..legacy(&r, "three")
        })
        .unwrap();
    let names = |f: AuthorizationFilter| -> Vec<String> {
        s.list_legacy_authorizations(&f)
            .unwrap()
            .into_iter()
            .map(|a| a.token)
            .collect()
    };
    let mut all = [&a1, &a2, &a3];
    all.sort_by_key(|a| a.id);
    assert_eq!(
        names(AuthorizationFilter::default()),
        all.iter().map(|a| a.token.clone()).collect::<Vec<_>>()
    );
    let by_id = AuthorizationFilter {
        id: Some(a2.id),
        ..Default::default()
    };
    assert_eq!(names(by_id), ["two"]);
    let by_name = AuthorizationFilter {
        token: Some("three".into()),
        ..Default::default()
    };
    assert_eq!(names(by_name), ["three"]);
    let by_user = AuthorizationFilter {
        user: Some("bob".into()),
        ..Default::default()
    };
    assert_eq!(names(by_user), ["two"]);
    let by_user_id = AuthorizationFilter {
        user_id: Some(r.user.id),
        org_id: Some(r.org.id),
        ..Default::default()
    };
    assert_eq!(names(by_user_id), ["one"]);
    let by_org = AuthorizationFilter {
        org: Some("other".into()),
        ..Default::default()
    };
    assert_eq!(names(by_org), ["three"]);
    // A missing ID, username, user or org is not found; an org without any is empty.
    for f in [
        AuthorizationFilter {
            id: Some(r.auth.id),
            ..Default::default()
        },
        AuthorizationFilter {
            token: Some("nobody".into()),
            ..Default::default()
        },
        AuthorizationFilter {
            user: Some("nobody".into()),
            ..Default::default()
        },
        AuthorizationFilter {
            org: Some("nowhere".into()),
            ..Default::default()
        },
    ] {
        assert!(
            matches!(
                s.list_legacy_authorizations(&f),
                Err(Error::NotFound { .. })
            ),
            "{f:?}"
        );
    }
    let empty = AuthorizationFilter {
        org_id: Some(r.bucket.id),
        ..Default::default()
    };
    assert!(names(empty).is_empty());
}

#[test]
fn passwords() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup(dir.path());
    let a = s
        .create_legacy_authorization(legacy(&r, "grafana"))
        .unwrap();
    let incorrect = |res: Result<()>| match res {
        Err(Error::Unauthorized(m)) => assert_eq!(m, "your username or password is incorrect"),
        other => panic!("{other:?}"),
    };
    // No password yet: nothing matches.
    incorrect(s.compare_legacy_password(a.id, "anything1"));
    match s.set_legacy_password(a.id, "short") {
        Err(Error::Invalid(m)) => assert_eq!(m, "passwords must be at least 8 characters long"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.set_legacy_password(r.auth.id, "long enough"),
        Err(Error::NotFound { .. })
    ));
    s.set_legacy_password(a.id, "first-secret").unwrap();
    s.compare_legacy_password(a.id, "first-secret").unwrap();
    // Remembered now, and still exact.
    s.compare_legacy_password(a.id, "first-secret").unwrap();
    incorrect(s.compare_legacy_password(a.id, "first-secreT"));
    incorrect(s.compare_legacy_password(a.id, ""));
    // A new password replaces the remembered one.
    s.set_legacy_password(a.id, "second-secret").unwrap();
    incorrect(s.compare_legacy_password(a.id, "first-secret"));
    s.compare_legacy_password(a.id, "second-secret").unwrap();
    // The status is the caller's business, the password check does not look at it.
    s.update_legacy_authorization(
        a.id,
        AuthorizationUpdate {
            status: Some(Status::Inactive),
            description: None,
        },
    )
    .unwrap();
    s.compare_legacy_password(a.id, "second-secret").unwrap();
    // The user's own password is another thing.
    incorrect(s.compare_legacy_password(a.id, "password123"));
    assert!(matches!(
        s.compare_legacy_password(r.auth.id, "second-secret"),
        Err(Error::NotFound { .. })
    ));

    // A bcrypt hash carried over from 1.x (any cost, `$2b$` too) works as is; others are refused.
    let hash = bcrypt::hash("from-1x-days", 4).unwrap();
    s.set_legacy_password_hash(a.id, &hash).unwrap();
    s.compare_legacy_password(a.id, "from-1x-days").unwrap();
    incorrect(s.compare_legacy_password(a.id, "second-secret"));
    match s.set_legacy_password_hash(a.id, "from-1x-days") {
        Err(Error::Invalid(m)) => assert_eq!(m, "invalid bcrypt hash"),
        other => panic!("{other:?}"),
    }

    // Deleting the authorization deletes its password.
    s.delete_legacy_authorization(a.id).unwrap();
    assert!(matches!(
        s.compare_legacy_password(a.id, "from-1x-days"),
        Err(Error::NotFound { .. })
    ));
}

fn field_names(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn bbolt_reads_the_legacy_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup(dir.path());
    let a = s
        .create_legacy_authorization(legacy(&r, "grafana"))
        .unwrap();
    s.set_legacy_password(a.id, "grafana-pw").unwrap();
    let b = s
        .create_legacy_authorization(AuthorizationCreate {
            status: Status::Inactive,
            description: String::new(),
            ..legacy(&r, "telegraf <&>")
        })
        .unwrap();
    drop(s);

    let dump = common::boltdump(&dir.path().join("influxd.bolt"));
    let id = |i: Id| i.to_string();
    let auths = dump["legacy/authorizationsv1"].as_object().unwrap();
    assert_eq!(auths.len(), 2);
    let ja = &auths[&id(a.id)];
    assert_eq!(ja["id"], id(a.id));
    assert_eq!(ja["token"], "grafana");
    assert_eq!(ja["status"], "active");
    assert_eq!(ja["description"], "grafana's 1.x login");
    assert_eq!(ja["orgID"], id(r.org.id));
    assert_eq!(ja["userID"], id(r.user.id));
    assert_eq!(
        ja["permissions"],
        serde_json::json!([
            {"action": "read", "resource": {"type": "buckets", "id": id(r.bucket.id), "orgID": id(r.org.id)}},
            {"action": "write", "resource": {"type": "buckets", "id": id(r.bucket.id), "orgID": id(r.org.id)}},
        ])
    );
    let jb = &auths[&id(b.id)];
    assert_eq!(jb["token"], "telegraf <&>");
    assert_eq!(jb["status"], "inactive");

    // The same fields as the 2.x authorizations a real InfluxDB wrote.
    let real: Value = serde_json::from_slice(
        &std::fs::read(testdata::dir().join("influxdb2/influxd.bolt.dump.json")).unwrap(),
    )
    .unwrap();
    let want = field_names(
        real["authorizationsv1"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap(),
    );
    assert_eq!(field_names(ja), want);
    assert_eq!(field_names(jb), want);

    let index = &dump["legacy/authorizationindexv1"];
    assert_eq!(index.as_object().unwrap().len(), 2);
    assert_eq!(index["grafana"], id(a.id));
    assert_eq!(index["telegraf <&>"], id(b.id));

    let pw = dump["legacy/authorizationPasswordv1"].as_object().unwrap();
    assert_eq!(pw.len(), 1);
    let hash = pw[&id(a.id)].as_str().unwrap();
    assert!(hash.starts_with("$2a$10$"), "{hash}");
    assert!(bcrypt::verify("grafana-pw", hash).unwrap());

    // The raw JSON is Go's: no spaces, `<`, `&`, `>` escaped.
    let raw = std::fs::read(dir.path().join("influxd.bolt")).unwrap();
    let want = br#""token":"telegraf \u003c\u0026\u003e","status":"inactive","description":"""#;
    assert!(raw.windows(want.len()).any(|w| w == want));
}

/// Records in the bytes InfluxDB writes (`json.Marshal` of `influxdb.Authorization`, Go's field
/// order, a `$2a$` bcrypt hash) are read as written, and ours are written in those bytes; a KV
/// backup carries them to another store.
#[test]
fn influxdb_bytes_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup(dir.path());
    let (org, user, bucket) = (r.org.id, r.user.id, r.bucket.id);
    let id = "0a1b2c3d4e5f6071";
    let theirs = format!(
        r#"{{"id":"{id}","token":"from-go","status":"active","description":"made by influx v1 auth","orgID":"{org}","userID":"{user}","permissions":[{{"action":"write","resource":{{"type":"buckets","id":"{bucket}","orgID":"{org}"}}}}],"createdAt":"2024-05-06T07:08:09.123456789Z","updatedAt":"2024-05-06T07:08:09.123456789Z"}}"#
    );
    let hash = bcrypt::hash_with_result("go-password", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoA);
    s.put_raw_entries(
        "legacy/authorizationsv1",
        &[(id.as_bytes().to_vec(), theirs.clone().into_bytes())],
    )
    .unwrap();
    s.put_raw_entries(
        "legacy/authorizationindexv1",
        &[(b"from-go".to_vec(), id.as_bytes().to_vec())],
    )
    .unwrap();
    s.put_raw_entries(
        "legacy/authorizationPasswordv1",
        &[(id.as_bytes().to_vec(), hash.into_bytes())],
    )
    .unwrap();
    let a = s.find_legacy_authorization_by_username("from-go").unwrap();
    assert_eq!(a.id.to_string(), id);
    assert_eq!(a.description, "made by influx v1 auth");
    s.compare_legacy_password(a.id, "go-password").unwrap();
    assert!(s.compare_legacy_password(a.id, "go-passwor").is_err());

    // Ours, byte for byte in Go's form.
    let ours = s.create_legacy_authorization(legacy(&r, "ours")).unwrap();
    let raw = s.raw_entries("legacy/authorizationsv1");
    let (_, v) = raw
        .iter()
        .find(|(k, _)| k == ours.id.to_string().as_bytes())
        .expect("our record");
    let v = String::from_utf8(v.clone()).unwrap();
    let parsed: Value = serde_json::from_str(&v).unwrap();
    let want = format!(
        r#"{{"id":"{}","token":"ours","status":"active","description":"ours's 1.x login","orgID":"{org}","userID":"{user}","permissions":[{{"action":"read","resource":{{"type":"buckets","id":"{bucket}","orgID":"{org}"}}}},{{"action":"write","resource":{{"type":"buckets","id":"{bucket}","orgID":"{org}"}}}}],"createdAt":"{}","updatedAt":"{}"}}"#,
        ours.id,
        parsed["createdAt"].as_str().unwrap(),
        parsed["updatedAt"].as_str().unwrap(),
    );
    assert_eq!(v, want);
    // An update of theirs keeps Go's form too.
    s.update_legacy_authorization(
        a.id,
        AuthorizationUpdate {
            status: Some(Status::Inactive),
            description: None,
        },
    )
    .unwrap();
    let raw = s.raw_entries("legacy/authorizationsv1");
    let (_, v) = raw.iter().find(|(k, _)| k == id.as_bytes()).unwrap();
    let v = String::from_utf8(v.clone()).unwrap();
    assert!(
        v.starts_with(&format!(
            r#"{{"id":"{id}","token":"from-go","status":"inactive","#
        )),
        "{v}"
    );
    assert!(
        v.contains(r#""createdAt":"2024-05-06T07:08:09.123456789Z""#),
        "{v}"
    );

    // A KV backup restored into another store brings them along.
    let mut buf = Vec::new();
    s.backup_kv(&mut buf).unwrap();
    let other = MetaStore::open(dir.path().join("o.bolt"), dir.path().join("o.sqlite")).unwrap();
    other.restore_kv(&buf).unwrap();
    let back = other
        .find_legacy_authorization_by_username("from-go")
        .unwrap();
    assert_eq!(back.status, Status::Inactive);
    other
        .compare_legacy_password(back.id, "go-password")
        .unwrap();
    assert_eq!(
        other.find_legacy_authorization_by_username("ours").unwrap(),
        ours
    );
}
