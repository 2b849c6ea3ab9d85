//! A store ironflux creates: InfluxDB's bucket names and JSON shapes as seen by Go's bbolt, the
//! migration lists, setup, and snapshots.

mod common;

use std::collections::BTreeSet;

use meta::*;
use serde_json::Value;

fn field_names(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn setup_store(dir: &std::path::Path) -> (MetaStore, SetupResult) {
    let s = MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap();
    assert!(s.setup_allowed().unwrap());
    let r = s
        .setup(SetupRequest {
            username: "testuser".into(),
            password: Some("password123".into()),
            org: "myorg".into(),
            bucket: "mybucket".into(),
            retention_period_ns: 0,
            token: Some("my-token".into()),
        })
        .unwrap();
    (s, r)
}

#[test]
fn bbolt_reads_our_file_with_influxdb_buckets_and_json_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup_store(dir.path());
    let other = s.create_user("other").unwrap();
    let auth = s
        .create_authorization(AuthorizationCreate {
            org_id: Some(r.org.id),
            user_id: Some(other.id),
            description: "read buckets".into(),
            permissions: vec![Permission {
                action: Action::Read,
                resource: Resource {
                    resource_type: ResourceType::Buckets,
                    id: None,
                    org_id: Some(r.org.id),
                },
            }],
            ..Default::default()
        })
        .unwrap();
    s.create_dbrp(DbrpCreate {
        org_id: Some(r.org.id),
        bucket_id: Some(r.bucket.id),
        database: "db".into(),
        retention_policy: "rp".into(),
        default: false,
    })
    .unwrap();
    drop(s);

    let ours = common::boltdump(&dir.path().join("influxd.bolt"));
    let real: Value = serde_json::from_slice(
        &std::fs::read(testdata::dir().join("influxdb2/influxd.bolt.dump.json")).unwrap(),
    )
    .unwrap();

    // Same bucket names as a real store, minus the 2.8-only hashed-token index.
    let ours_names: BTreeSet<&String> = ours.as_object().unwrap().keys().collect();
    let real_names: BTreeSet<&String> = real
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "authorizationhashedindexv1")
        .collect();
    assert_eq!(ours_names, real_names);

    // Every record has the field set of the real file's records of the same bucket.
    for bucket in [
        "organizationsv1",
        "bucketsv1",
        "usersv1",
        "authorizationsv1",
        "userresourcemappingsv1",
        "migrationsv1",
        "sourcesv1",
    ] {
        let want = field_names(real[bucket].as_object().unwrap().values().next().unwrap());
        for (k, v) in ours[bucket].as_object().unwrap() {
            let mut got = field_names(v);
            // The instance-owner URM and the org URM share the shape.
            got.remove("oauthID");
            assert_eq!(got, want, "{bucket}/{k}");
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    for b in [
        "organizationsv1",
        "bucketsv1",
        "usersv1",
        "authorizationsv1",
        "userresourcemappingsv1",
    ] {
        counts.insert(b, ours[b].as_object().unwrap().len());
    }
    assert_eq!(counts["organizationsv1"], 1);
    assert_eq!(counts["bucketsv1"], 3);
    assert_eq!(counts["usersv1"], 2);
    assert_eq!(counts["authorizationsv1"], 2);
    // Org owner + instance owner.
    assert_eq!(counts["userresourcemappingsv1"], 2);

    // Indexes have InfluxDB's key forms.
    let org = r.org.id.to_string();
    let user = r.user.id.to_string();
    assert_eq!(ours["organizationindexv1"]["myorg"], org);
    assert_eq!(ours["userindexv1"]["testuser"], user);
    assert_eq!(
        ours["bucketindexv1"][format!("{org}mybucket")],
        r.bucket.id.to_string()
    );
    assert_eq!(
        ours["bucketindexv1"][format!("{org}_tasks")]
            .as_str()
            .unwrap()
            .len(),
        16
    );
    assert_eq!(
        ours["authorizationindexv1"]["my-token"],
        r.auth.id.to_string()
    );
    assert_eq!(
        ours["authorizationindexv1"][auth.token.as_str()],
        auth.id.to_string()
    );
    assert_eq!(
        ours["userresourcemappingsbyuserindexv1"][format!("{user}/0000000000000001{user}")],
        format!("0000000000000001{user}")
    );
    assert_eq!(
        ours["userresourcemappingsv1"][format!("0000000000000001{user}")]["resourceType"],
        "instance"
    );
    assert!(
        ours["userspasswordv1"][&user]
            .as_str()
            .unwrap()
            .starts_with("$2a$10$")
            || ours["userspasswordv1"][&user]
                .as_str()
                .unwrap()
                .starts_with("$2b$10$")
    );
    let dbrps = ours["dbrpv1"].as_object().unwrap();
    assert_eq!(dbrps.len(), 1);
    let (dbrp_id, dbrp) = dbrps.iter().next().unwrap();
    assert_eq!(
        field_names(dbrp),
        [
            "bucketID",
            "database",
            "default",
            "id",
            "orgID",
            "retention_policy",
            "virtual"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    assert_eq!(ours["dbrpdefaultv1"][format!("{org}db")], *dbrp_id);
    assert_eq!(ours["dbrpbyorgv1"][format!("{org}/{dbrp_id}")], *dbrp_id);
    assert_eq!(
        ours["dbrpbyorganddbindexv1"][format!("{org}db/{dbrp_id}")],
        *dbrp_id
    );

    // Migrations: the 20 of v2.7, in order, finished.
    let migs = ours["migrationsv1"].as_object().unwrap();
    assert_eq!(migs.len(), 20);
    for (i, (k, m)) in migs.iter().enumerate() {
        assert_eq!(*k, format!("{:016x}", i + 1));
        assert_eq!(m["name"], real["migrationsv1"][k]["name"]);
        assert!(m["finished_at"].is_string());
    }

    // meta.db decoded by the oracle: one database per bucket, autogen.
    let md = &ours["v1_tsm1_metadata"]["meta.db"];
    let dbs = md["Databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 3);
    let mine = dbs
        .iter()
        .find(|d| d["Name"] == r.bucket.id.to_string())
        .unwrap();
    assert_eq!(mine["DefaultRetentionPolicy"], "autogen");
    assert_eq!(mine["RetentionPolicies"][0]["Name"], "autogen");
    assert_eq!(mine["RetentionPolicies"][0]["ReplicaN"], 1);
    assert_eq!(
        mine["RetentionPolicies"][0]["ShardGroupDuration"],
        604_800_000_000_000u64
    );
}

#[test]
fn setup_creates_what_influxdb_onboarding_creates() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup_store(dir.path());
    assert!(!s.setup_allowed().unwrap());
    assert_eq!(r.auth.description, "testuser's Token");
    assert_eq!(r.auth.token, "my-token");
    assert_eq!(r.auth.permissions, Permission::operator_set());
    assert_eq!(r.auth.permissions.len(), 44);
    assert!(
        !r.auth
            .permissions
            .iter()
            .any(|p| p.resource.resource_type == ResourceType::Instance)
    );
    assert_eq!(r.bucket.retention_period_ns, 0);
    assert_eq!(r.bucket.shard_group_duration_ns, 7 * 86_400_000_000_000);
    let names: Vec<String> = s
        .list_buckets(
            &BucketFilter {
                org: Some("myorg".into()),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["_monitoring", "_tasks", "mybucket"]);
    let tasks = s.find_bucket_by_name(r.org.id, "_tasks").unwrap();
    assert_eq!(tasks.bucket_type, BucketType::System);
    assert_eq!(tasks.retention_period_ns, 72 * 3_600_000_000_000);
    assert_eq!(tasks.shard_group_duration_ns, 86_400_000_000_000);
    let mon = s.find_bucket_by_name(r.org.id, "_monitoring").unwrap();
    assert_eq!(mon.retention_period_ns, 7 * 86_400_000_000_000);
    let urms = s.list_urms(&UrmFilter::default()).unwrap();
    assert_eq!(urms.len(), 2);
    assert!(
        urms.iter()
            .any(|m| m.resource_type == ResourceType::Instance
                && m.resource_id == Id::INSTANCE
                && m.user_type == UserType::Owner)
    );
    assert!(
        urms.iter()
            .any(|m| m.resource_type == ResourceType::Orgs && m.resource_id == r.org.id)
    );
    s.verify_password(r.user.id, "password123").unwrap();
    assert!(matches!(
        s.verify_password(r.user.id, "password124"),
        Err(Error::Unauthorized(_))
    ));
    assert_eq!(
        s.authenticate("testuser", "password123").unwrap().id,
        r.user.id
    );
    assert!(matches!(
        s.authenticate("nobody", "password123"),
        Err(Error::Unauthorized(_))
    ));
    let again = s.setup(SetupRequest {
        username: "u2".into(),
        org: "o2".into(),
        bucket: "b2".into(),
        ..Default::default()
    });
    assert!(matches!(again, Err(Error::Conflict(_))));

    // Survives reopening.
    drop(s);
    let s = MetaStore::open(
        dir.path().join("influxd.bolt"),
        dir.path().join("influxd.sqlite"),
    )
    .unwrap();
    assert!(!s.setup_allowed().unwrap());
    assert_eq!(
        s.find_authorization_by_token("my-token").unwrap().id,
        r.auth.id
    );
}

#[test]
fn setup_rejects_bad_input_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(dir.path().join("a.bolt"), dir.path().join("a.sqlite")).unwrap();
    let base = SetupRequest {
        username: "u".into(),
        password: Some("short".into()),
        org: "o".into(),
        bucket: "b".into(),
        ..Default::default()
    };
    assert!(matches!(s.setup(base.clone()), Err(Error::Invalid(_))));
    let r = SetupRequest {
        password: None,
        retention_period_ns: 60_000_000_000,
        ..base.clone()
    };
    assert!(matches!(s.setup(r), Err(Error::Invalid(_))));
    let r = SetupRequest {
        password: None,
        org: " ".into(),
        ..base.clone()
    };
    assert!(matches!(s.setup(r), Err(Error::Invalid(_))));
    assert!(s.setup_allowed().unwrap());
    // Without a password it works (no password stored).
    let r = s
        .setup(SetupRequest {
            password: None,
            ..base
        })
        .unwrap();
    assert!(matches!(
        s.verify_password(r.user.id, "anything-long"),
        Err(Error::Unauthorized(_))
    ));
    assert!(r.auth.token.len() == 88 && r.auth.token.ends_with("=="));
}

#[test]
fn kv_backup_is_a_bolt_file_that_reopens_and_bbolt_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (s, r) = setup_store(dir.path());
    let mut buf = Vec::new();
    s.backup_kv(&mut buf).unwrap();
    assert_eq!(buf.len() % 4096, 0);
    let copy = dir.path().join("backup.bolt");
    std::fs::write(&copy, &buf).unwrap();
    let dump = common::boltdump(&copy);
    assert_eq!(
        dump["authorizationindexv1"]["my-token"],
        r.auth.id.to_string()
    );
    let s2 = MetaStore::open(&copy, dir.path().join("b.sqlite")).unwrap();
    assert_eq!(s2.get_org(r.org.id).unwrap(), r.org);
    drop(s2);

    // Restore the snapshot into another store.
    let other = MetaStore::open(dir.path().join("o.bolt"), dir.path().join("o.sqlite")).unwrap();
    assert!(other.setup_allowed().unwrap());
    other.restore_kv(&buf).unwrap();
    assert_eq!(
        other.find_authorization_by_token("my-token").unwrap().id,
        r.auth.id
    );
    assert!(other.restore_kv(&buf[..4096]).is_err());

    let sqlcopy = dir.path().join("backup.sqlite");
    s.backup_sql(&sqlcopy).unwrap();
    let s3 = meta::sql::SqlStore::open(&sqlcopy).unwrap();
    assert_eq!(s3.applied().unwrap().len(), meta::sql::MIGRATIONS.len());
    other.restore_sql(&sqlcopy).unwrap();
}

#[test]
fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("a/b");
    let s = MetaStore::open(d.join("influxd.bolt"), d.join("sql/influxd.sqlite")).unwrap();
    assert!(s.setup_allowed().unwrap());
    assert!(d.join("influxd.bolt").is_file());
    assert!(d.join("sql/influxd.sqlite").is_file());
}

#[test]
fn second_open_of_a_locked_store_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_s, _) = setup_store(dir.path());
    let again = MetaStore::open(dir.path().join("influxd.bolt"), dir.path().join("x.sqlite"));
    assert!(matches!(again, Err(Error::Io(_))));
}
