//! The KV file written by a real InfluxDB 2.x opens as ironflux's store and serves its org, user,
//! buckets and tokens; records re-serialize byte for byte as InfluxDB wrote them.

mod common;

use meta::*;

const OPERATOR_TOKEN: &str =
    "A9Ovdl8SmP-rfp8wQ2vJoPUsZoQQJ3EochD88SlJcgrcLw4HBwgUqpSHQxc9N9Drg0_aY6Lp1jutBRcKhbV7aQ==";
const READ_TOKEN: &str =
    "4-pZrlm84u9uiMVrPBeITe46KxfdEnvTX5H2CZh38BtAsXX4O47b8QwZ9jHL_Cek2w-VbVfRxDpo0Mu8ORiqyQ==";

fn open_real() -> (tempfile::TempDir, MetaStore) {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let store = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
    (dir, store)
}

#[test]
fn real_influxdb_file_serves_its_org_user_and_tokens() {
    let (_dir, s) = open_real();
    assert!(!s.setup_allowed().unwrap());
    let org = s.find_org_by_name("myorg").unwrap();
    assert_eq!(org.id.to_string(), "dd7cd2292f6e974a");
    let user = s.find_user_by_name("testuser").unwrap();
    assert_eq!(user.id.to_string(), "08371db1dd8c8000");
    assert_eq!(user.status, Status::Active);

    let op = s.find_authorization_by_token(OPERATOR_TOKEN).unwrap();
    assert_eq!(op.id.to_string(), "08371db24dcc8000");
    assert_eq!(op.description, "testuser's Token");
    assert_eq!(op.user_id, Some(user.id));
    let want = Permission::new(Action::Write, ResourceType::Buckets);
    assert!(op.allows(&want));

    let ro = s.find_authorization_by_token(READ_TOKEN).unwrap();
    assert_eq!(ro.id.to_string(), "08371deae98c8000");
    let read_buckets = Permission {
        action: Action::Read,
        resource: Resource {
            resource_type: ResourceType::Buckets,
            id: None,
            org_id: Some(org.id),
        },
    };
    assert!(ro.allows(&read_buckets));
    assert!(!ro.allows(&Permission {
        action: Action::Write,
        ..read_buckets.clone()
    }));
    assert!(matches!(
        s.find_authorization_by_token("nope"),
        Err(Error::NotFound {
            kind: Kind::Authorization
        })
    ));

    let buckets = s
        .list_buckets(
            &BucketFilter {
                org_id: Some(org.id),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap();
    let names: Vec<&str> = buckets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["_monitoring", "mybucket", "_tasks"]);
    let mine = s.find_bucket_by_name(org.id, "mybucket").unwrap();
    assert_eq!(mine.shard_group_duration_ns, 7 * 86_400_000_000_000);
    assert_eq!(mine.bucket_type, BucketType::User);

    // The catalogue InfluxDB wrote is read, and extends with shard groups.
    let db = s.database_info(mine.id).unwrap();
    assert_eq!(db.default_retention_policy, "autogen");
    let g = s
        .shard_group_for(mine.id, 1_632_909_600_000_000_000)
        .unwrap();
    assert_eq!((g.id, g.shards[0].id), (1, 1));
    assert_eq!(g.start_time, 1_632_700_800_000_000_000);
    assert_eq!(s.catalog().unwrap().index, 5);
}

#[test]
fn real_records_reserialize_byte_for_byte() {
    let (_dir, s) = open_real();
    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(s: &MetaStore, bucket: &str) {
        let raw = s.raw_entries(bucket);
        assert!(!raw.is_empty(), "{bucket} is empty in the real file");
        for (_, v) in raw {
            let rec: T = serde_json::from_slice(&v).unwrap();
            let again = schema::to_go_json(&rec);
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&v),
                "{bucket}"
            );
        }
    }
    check::<Organization>(&s, "organizationsv1");
    check::<Bucket>(&s, "bucketsv1");
    check::<User>(&s, "usersv1");
    check::<Authorization>(&s, "authorizationsv1");
    check::<UserResourceMapping>(&s, "userresourcemappingsv1");
    check::<schema::Migration>(&s, "migrationsv1");
}

#[test]
fn changes_to_the_real_file_are_read_by_bbolt() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    {
        let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
        let org = s.find_org_by_name("myorg").unwrap();
        s.create_bucket(BucketCreate {
            org_id: Some(org.id),
            name: "added".into(),
            ..Default::default()
        })
        .unwrap();
        let u = s.find_user_by_name("testuser").unwrap();
        s.set_password(u.id, "a-new-password").unwrap();
    }
    let dump = common::boltdump(&bolt);
    let idx = dump["bucketindexv1"].as_object().unwrap();
    assert!(idx.contains_key("dd7cd2292f6e974aadded"));
    assert_eq!(dump["organizationindexv1"]["myorg"], "dd7cd2292f6e974a");
    assert_eq!(
        dump["authorizationindexv1"][OPERATOR_TOKEN],
        "08371db24dcc8000"
    );
    assert_eq!(dump["migrationsv1"].as_object().unwrap().len(), 21);
    // Reopens, and the change is there.
    let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
    let u = s.find_user_by_name("testuser").unwrap();
    s.verify_password(u.id, "a-new-password").unwrap();
}

#[test]
fn missing_trailing_migrations_are_applied_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let sqlite = dir.path().join("influxd.sqlite");
    let newer = [
        ResourceType::Annotations,
        ResourceType::Notebooks,
        ResourceType::Remotes,
        ResourceType::Replications,
    ];
    {
        // Turn the file back into what InfluxDB 2.0 left: 14 migrations, operator token
        // without the newer types, a bucket without shard group duration.
        let s = MetaStore::open(&bolt, &sqlite).unwrap();
        let keys: Vec<Vec<u8>> = (15..=21)
            .map(|i| format!("{i:016x}").into_bytes())
            .collect();
        s.delete_raw_entries("migrationsv1", &keys).unwrap();
        let mut op = s.find_authorization_by_token(OPERATOR_TOKEN).unwrap();
        op.permissions
            .retain(|p| !newer.contains(&p.resource.resource_type));
        let mut tasks = s
            .find_bucket_by_name(s.find_org_by_name("myorg").unwrap().id, "_tasks")
            .unwrap();
        tasks.shard_group_duration_ns = 0;
        s.put_raw_entries(
            "authorizationsv1",
            &[(op.id.to_string().into_bytes(), schema::to_go_json(&op))],
        )
        .unwrap();
        s.put_raw_entries(
            "bucketsv1",
            &[(
                tasks.id.to_string().into_bytes(),
                schema::to_go_json(&tasks),
            )],
        )
        .unwrap();
        assert_eq!(s.raw_entries("migrationsv1").len(), 14);
        let org = s.find_org_by_name("myorg").unwrap();
        let mut perms = Permission::owner_set(org.id);
        perms.retain(|p| !newer.contains(&p.resource.resource_type));
        s.create_authorization(AuthorizationCreate {
            org_id: Some(org.id),
            permissions: perms,
            token: Some("all-access".into()),
            ..Default::default()
        })
        .unwrap();
    }
    let s = MetaStore::open(&bolt, &sqlite).unwrap();
    assert_eq!(s.raw_entries("migrationsv1").len(), 20);
    let op = s.find_authorization_by_token(OPERATOR_TOKEN).unwrap();
    for t in newer {
        for a in [Action::Read, Action::Write] {
            assert!(op.allows(&Permission::new(a, t)), "{t:?} {a:?}");
        }
    }
    let all = s.find_authorization_by_token("all-access").unwrap();
    let got: std::collections::HashSet<Permission> = all.permissions.iter().cloned().collect();
    let want: std::collections::HashSet<Permission> =
        Permission::owner_set(all.org_id).into_iter().collect();
    assert_eq!(got, want);
    assert_eq!(all.permissions.len(), want.len());
    // The read-only token is neither operator nor all-access: untouched.
    let ro = s.find_authorization_by_token(READ_TOKEN).unwrap();
    assert_eq!(ro.permissions.len(), 1);
    let org = s.find_org_by_name("myorg").unwrap();
    let tasks = s.find_bucket_by_name(org.id, "_tasks").unwrap();
    assert_eq!(tasks.shard_group_duration_ns, 86_400_000_000_000);
}
