//! Every call of the public API round-trips through the store (and survives reopening), with
//! InfluxDB's rules for names, paging, cascades, DBRP defaults and shard groups.

use meta::*;

const HOUR: i64 = 3_600_000_000_000;
const DAY: i64 = 24 * HOUR;

struct Env {
    dir: tempfile::TempDir,
    s: MetaStore,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let s = MetaStore::open(
        dir.path().join("influxd.bolt"),
        dir.path().join("influxd.sqlite"),
    )
    .unwrap();
    Env { dir, s }
}

impl Env {
    fn reopen(self) -> Env {
        let Env { dir, s } = self;
        drop(s);
        let s = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        Env { dir, s }
    }
}

fn bucket(org: Id, name: &str, retention: i64) -> BucketCreate {
    BucketCreate {
        org_id: Some(org),
        name: name.into(),
        retention_period_ns: retention,
        ..Default::default()
    }
}

#[test]
fn orgs_round_trip_with_paging_filters_and_cascade() {
    let e = env();
    let u = e.s.create_user("alice").unwrap();
    let a = e.s.create_org("a", "first", Some(u.id)).unwrap();
    let b = e.s.create_org("b", "", None).unwrap();
    let c = e.s.create_org("c", "", None).unwrap();
    assert!(matches!(
        e.s.create_org("a", "", None),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        e.s.create_org("  ", "", None),
        Err(Error::Invalid(_))
    ));
    let e = e.reopen();
    assert_eq!(e.s.get_org(a.id).unwrap(), a);
    assert_eq!(e.s.find_org_by_name("b").unwrap(), b);
    assert!(matches!(
        e.s.find_org_by_name("zz"),
        Err(Error::NotFound {
            kind: Kind::Organization
        })
    ));
    let mut ids = vec![a.id, b.id, c.id];
    ids.sort();
    let all =
        e.s.list_orgs(&OrgFilter::default(), &FindOptions::default())
            .unwrap();
    assert_eq!(all.iter().map(|o| o.id).collect::<Vec<_>>(), ids);
    let page =
        e.s.list_orgs(
            &OrgFilter::default(),
            &FindOptions {
                offset: 1,
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page.iter().map(|o| o.id).collect::<Vec<_>>(), vec![ids[1]]);
    let after =
        e.s.list_orgs(
            &OrgFilter::default(),
            &FindOptions {
                after: Some(ids[0]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(after.len(), 2);
    let desc =
        e.s.list_orgs(
            &OrgFilter::default(),
            &FindOptions {
                descending: true,
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(desc[0].id, ids[2]);
    let of_alice =
        e.s.list_orgs(
            &OrgFilter {
                user_id: Some(u.id),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap();
    assert_eq!(of_alice, vec![a.clone()]);
    let by_name =
        e.s.list_orgs(
            &OrgFilter {
                name: Some("c".into()),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap();
    assert_eq!(by_name, vec![c.clone()]);

    let upd = e.s.update_org(a.id, Some("a2"), Some("renamed")).unwrap();
    assert_eq!(
        (upd.name.as_str(), upd.description.as_str()),
        ("a2", "renamed")
    );
    assert!(upd.updated_at >= upd.created_at);
    assert!(e.s.find_org_by_name("a").is_err());
    assert!(matches!(
        e.s.update_org(a.id, Some("b"), None),
        Err(Error::Conflict(_))
    ));

    // Cascade: buckets, auths, URMs, dbrps, catalogue.
    let bk = e.s.create_bucket(bucket(a.id, "data", 0)).unwrap();
    e.s.create_authorization(AuthorizationCreate {
        org_id: Some(a.id),
        user_id: Some(u.id),
        permissions: Permission::owner_set(a.id),
        ..Default::default()
    })
    .unwrap();
    e.s.create_dbrp(DbrpCreate {
        org_id: Some(a.id),
        bucket_id: Some(bk.id),
        database: "db".into(),
        retention_policy: "autogen".into(),
        default: true,
    })
    .unwrap();
    assert_eq!(e.s.catalog().unwrap().databases.len(), 3 * 2 + 1);
    e.s.delete_org(a.id).unwrap();
    let e = e.reopen();
    assert!(e.s.get_org(a.id).is_err());
    assert!(e.s.get_bucket(bk.id).is_err());
    assert!(
        e.s.list_authorizations(&AuthorizationFilter::default())
            .unwrap()
            .is_empty()
    );
    assert!(e.s.list_urms(&UrmFilter::default()).unwrap().is_empty());
    assert!(e.s.raw_entries("dbrpv1").is_empty());
    assert!(e.s.raw_entries("dbrpdefaultv1").is_empty());
    assert_eq!(e.s.catalog().unwrap().databases.len(), 2 * 2);
    assert_eq!(e.s.raw_entries("bucketindexv1").len(), 4);
    assert!(matches!(e.s.delete_org(a.id), Err(Error::NotFound { .. })));
}

#[test]
fn buckets_round_trip_with_influxdb_rules() {
    let e = env();
    let org = e.s.create_org("o", "", None).unwrap();
    let other = e.s.create_org("p", "", None).unwrap();
    // Default shard group durations.
    for (ret, sgd) in [
        (0, 7 * DAY),
        (181 * DAY, 7 * DAY),
        (180 * DAY, DAY),
        (2 * DAY + 1, DAY),
        (2 * DAY, HOUR),
        (HOUR, HOUR),
    ] {
        let b =
            e.s.create_bucket(bucket(org.id, &format!("r{ret}"), ret))
                .unwrap();
        assert_eq!(b.shard_group_duration_ns, sgd, "retention {ret}");
        assert_eq!(default_shard_group_duration(ret), sgd);
        let rp = e.s.database_info(b.id).unwrap().retention_policies[0].clone();
        assert_eq!((rp.duration, rp.shard_group_duration), (ret, sgd));
    }
    let b =
        e.s.create_bucket(BucketCreate {
            shard_group_duration_ns: 2 * HOUR,
            description: "d".into(),
            ..bucket(org.id, "x", DAY)
        })
        .unwrap();
    assert_eq!(b.shard_group_duration_ns, 2 * HOUR);
    assert!(matches!(
        e.s.create_bucket(bucket(org.id, "x", 0)),
        Err(Error::Conflict(_))
    ));
    // Same name in another org is fine.
    e.s.create_bucket(bucket(other.id, "x", 0)).unwrap();
    for bad in [
        bucket(org.id, "_mine", 0),
        bucket(org.id, "", 0),
        bucket(org.id, "a\"b", 0),
        bucket(org.id, "short", 60_000_000_000),
        BucketCreate {
            shard_group_duration_ns: 2 * DAY,
            ..bucket(org.id, "sgd", DAY)
        },
    ] {
        assert!(matches!(e.s.create_bucket(bad), Err(Error::Invalid(_))));
    }
    assert!(matches!(
        e.s.create_bucket(bucket(Id::new(12345).unwrap(), "y", 0)),
        Err(Error::NotFound {
            kind: Kind::Organization
        })
    ));
    let e = e.reopen();
    assert_eq!(e.s.get_bucket(b.id).unwrap(), b);
    assert_eq!(e.s.find_bucket_by_name(org.id, "x").unwrap(), b);
    let in_org =
        e.s.list_buckets(
            &BucketFilter {
                org_id: Some(org.id),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap();
    assert_eq!(in_org.len(), 2 + 6 + 1);
    let paged =
        e.s.list_buckets(
            &BucketFilter {
                org: Some("o".into()),
                ..Default::default()
            },
            &FindOptions {
                offset: 2,
                limit: 3,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(paged, in_org[2..5].to_vec());
    let named =
        e.s.list_buckets(
            &BucketFilter {
                name: Some("x".into()),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap();
    assert_eq!(named.len(), 2);
    assert!(matches!(
        e.s.list_buckets(
            &BucketFilter {
                org: Some("nope".into()),
                ..Default::default()
            },
            &FindOptions::default()
        ),
        Err(Error::NotFound {
            kind: Kind::Organization
        })
    ));

    let u =
        e.s.update_bucket(
            b.id,
            BucketUpdate {
                name: Some("x2".into()),
                description: Some("new".into()),
                retention_period_ns: Some(30 * DAY),
                shard_group_duration_ns: Some(0),
            },
        )
        .unwrap();
    assert_eq!(u.name, "x2");
    assert_eq!(u.shard_group_duration_ns, DAY);
    let rp = e.s.database_info(b.id).unwrap().retention_policies[0].clone();
    assert_eq!((rp.duration, rp.shard_group_duration), (30 * DAY, DAY));
    assert!(e.s.find_bucket_by_name(org.id, "x").is_err());
    assert_eq!(e.s.find_bucket_by_name(org.id, "x2").unwrap().id, b.id);
    let tasks = e.s.find_bucket_by_name(org.id, "_tasks").unwrap();
    assert!(matches!(
        e.s.update_bucket(
            tasks.id,
            BucketUpdate {
                name: Some("t".into()),
                ..Default::default()
            }
        ),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        e.s.delete_bucket(tasks.id),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        e.s.update_bucket(
            b.id,
            BucketUpdate {
                name: Some("r0".into()),
                ..Default::default()
            }
        ),
        Err(Error::Conflict(_))
    ));
    e.s.delete_bucket(b.id).unwrap();
    let e = e.reopen();
    assert!(matches!(
        e.s.get_bucket(b.id),
        Err(Error::NotFound { kind: Kind::Bucket })
    ));
    assert!(e.s.database_info(b.id).is_err());
    assert!(matches!(
        e.s.delete_bucket(b.id),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn users_and_passwords_round_trip() {
    let e = env();
    let a = e.s.create_user("alice").unwrap();
    let b = e.s.create_user("bob").unwrap();
    assert!(matches!(e.s.create_user("alice"), Err(Error::Conflict(_))));
    assert!(matches!(e.s.create_user(""), Err(Error::Invalid(_))));
    e.s.set_password(a.id, "correct horse").unwrap();
    assert!(matches!(
        e.s.set_password(a.id, "1234567"),
        Err(Error::Invalid(_))
    ));
    let e = e.reopen();
    assert_eq!(e.s.get_user(a.id).unwrap(), a);
    assert_eq!(e.s.find_user_by_name("bob").unwrap(), b);
    let all =
        e.s.list_users(&UserFilter::default(), &FindOptions::default())
            .unwrap();
    assert_eq!(all.len(), 2);
    let one =
        e.s.list_users(
            &UserFilter::default(),
            &FindOptions {
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(one.len(), 1);
    e.s.verify_password(a.id, "correct horse").unwrap();
    assert!(matches!(
        e.s.verify_password(b.id, "correct horse"),
        Err(Error::Unauthorized(_))
    ));
    let u =
        e.s.update_user(a.id, Some("alice2"), Some(Status::Inactive))
            .unwrap();
    assert_eq!(u.status, Status::Inactive);
    assert!(e.s.find_user_by_name("alice").is_err());
    assert!(matches!(
        e.s.authenticate("alice2", "correct horse"),
        Err(Error::Unauthorized(_))
    ));
    assert!(matches!(
        e.s.update_user(a.id, Some("bob"), None),
        Err(Error::Conflict(_))
    ));
    let org = e.s.create_org("o", "", Some(a.id)).unwrap();
    e.s.create_authorization(AuthorizationCreate {
        org_id: Some(org.id),
        user_id: Some(a.id),
        permissions: Permission::owner_set(org.id),
        ..Default::default()
    })
    .unwrap();
    e.s.delete_user(a.id).unwrap();
    let e = e.reopen();
    assert!(e.s.get_user(a.id).is_err());
    assert!(e.s.raw_entries("userspasswordv1").is_empty());
    assert!(e.s.list_urms(&UrmFilter::default()).unwrap().is_empty());
    assert!(
        e.s.raw_entries("userresourcemappingsbyuserindexv1")
            .is_empty()
    );
    assert!(e.s.raw_entries("authorizationindexv1").is_empty());
}

#[test]
fn authorizations_round_trip() {
    let e = env();
    let u = e.s.create_user("u").unwrap();
    let v = e.s.create_user("v").unwrap();
    let o = e.s.create_org("o", "", Some(u.id)).unwrap();
    let p = e.s.create_org("p", "", None).unwrap();
    let a1 =
        e.s.create_authorization(AuthorizationCreate {
            org_id: Some(o.id),
            user_id: Some(u.id),
            description: "all".into(),
            permissions: Permission::owner_set(o.id),
            ..Default::default()
        })
        .unwrap();
    let a2 =
        e.s.create_authorization(AuthorizationCreate {
            org_id: Some(p.id),
            user_id: Some(v.id),
            permissions: vec![Permission::new(Action::Read, ResourceType::Buckets)],
            token: Some("fixed".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(a1.token.len(), 88);
    assert_ne!(a1.token, generate_token());
    assert!(matches!(
        e.s.create_authorization(AuthorizationCreate {
            org_id: Some(p.id),
            permissions: vec![Permission::new(Action::Read, ResourceType::Buckets)],
            token: Some("fixed".into()),
            ..Default::default()
        }),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        e.s.create_authorization(AuthorizationCreate {
            org_id: Some(p.id),
            ..Default::default()
        }),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        e.s.create_authorization(AuthorizationCreate {
            org_id: Some(p.id),
            user_id: Some(Id::new(77).unwrap()),
            permissions: vec![Permission::new(Action::Read, ResourceType::Buckets)],
            ..Default::default()
        }),
        Err(Error::NotFound { kind: Kind::User })
    ));
    let e = e.reopen();
    assert_eq!(e.s.find_authorization_by_token(&a1.token).unwrap(), a1);
    assert_eq!(e.s.get_authorization(a2.id).unwrap(), a2);
    let f = |f: AuthorizationFilter| {
        e.s.list_authorizations(&f)
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    let mut both = vec![a1.id, a2.id];
    both.sort();
    assert_eq!(f(AuthorizationFilter::default()), both);
    assert_eq!(
        f(AuthorizationFilter {
            user: Some("v".into()),
            ..Default::default()
        }),
        vec![a2.id]
    );
    assert_eq!(
        f(AuthorizationFilter {
            user_id: Some(u.id),
            ..Default::default()
        }),
        vec![a1.id]
    );
    assert_eq!(
        f(AuthorizationFilter {
            org: Some("p".into()),
            ..Default::default()
        }),
        vec![a2.id]
    );
    assert_eq!(
        f(AuthorizationFilter {
            org_id: Some(o.id),
            ..Default::default()
        }),
        vec![a1.id]
    );
    assert_eq!(
        f(AuthorizationFilter {
            token: Some("fixed".into()),
            ..Default::default()
        }),
        vec![a2.id]
    );
    // Owner set: orgs scoped by id, others by orgID.
    let own_org = Permission {
        action: Action::Write,
        resource: Resource {
            resource_type: ResourceType::Orgs,
            id: Some(o.id),
            org_id: None,
        },
    };
    assert!(a1.allows(&own_org));
    let bucket_in_o = Permission {
        action: Action::Write,
        resource: Resource {
            resource_type: ResourceType::Buckets,
            id: Some(Id::new(5).unwrap()),
            org_id: Some(o.id),
        },
    };
    assert!(a1.allows(&bucket_in_o));
    assert!(!a1.allows(&Permission {
        resource: Resource {
            org_id: Some(p.id),
            ..bucket_in_o.resource.clone()
        },
        ..bucket_in_o.clone()
    }));
    let upd =
        e.s.update_authorization(
            a1.id,
            AuthorizationUpdate {
                status: Some(Status::Inactive),
                description: Some("off".into()),
            },
        )
        .unwrap();
    assert_eq!(upd.status, Status::Inactive);
    assert!(!upd.allows(&own_org));
    let e = e.reopen();
    assert_eq!(e.s.get_authorization(a1.id).unwrap().description, "off");
    e.s.delete_authorization(a1.id).unwrap();
    assert!(e.s.find_authorization_by_token(&a1.token).is_err());
    assert!(matches!(
        e.s.delete_authorization(a1.id),
        Err(Error::NotFound {
            kind: Kind::Authorization
        })
    ));
}

#[test]
fn hashed_tokens_of_newer_stores_are_found() {
    let e = env();
    let o = e.s.create_org("o", "", None).unwrap();
    let a =
        e.s.create_authorization(AuthorizationCreate {
            org_id: Some(o.id),
            permissions: vec![Permission::new(Action::Read, ResourceType::Buckets)],
            ..Default::default()
        })
        .unwrap();
    // Rewrite the record the way a 2.8 store with token hashing keeps it: no clear token.
    let hashed = hash_token("secret-token");
    assert!(hashed.starts_with("$influxdb2-sha256$"));
    let rec = Authorization {
        token: String::new(),
        hashed_token: hashed.clone(),
        ..a.clone()
    };
    let json = schema::to_go_json(&rec);
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(!text.contains("\"token\""));
    assert!(text.contains("\"hashedToken\""));
    e.s.put_raw_entries("authorizationsv1", &[(a.id.to_string().into_bytes(), json)])
        .unwrap();
    e.s.put_raw_entries(
        "authorizationhashedindexv1",
        &[(hashed.into_bytes(), a.id.to_string().into_bytes())],
    )
    .unwrap();
    let e = e.reopen();
    assert_eq!(
        e.s.find_authorization_by_token("secret-token").unwrap(),
        rec
    );
    assert!(e.s.find_authorization_by_token("secret-tokeN").is_err());
    assert!(e.s.find_authorization_by_token("").is_err());
    e.s.delete_authorization(a.id).unwrap();
    assert!(e.s.raw_entries("authorizationhashedindexv1").is_empty());
    assert!(e.s.find_authorization_by_token("secret-token").is_err());
}

#[test]
fn urms_round_trip() {
    let e = env();
    let u = e.s.create_user("u").unwrap();
    let o = e.s.create_org("o", "", None).unwrap();
    let m = UserResourceMapping {
        user_id: u.id,
        user_type: UserType::Member,
        mapping_type: MappingType::User,
        resource_type: ResourceType::Orgs,
        resource_id: o.id,
    };
    e.s.create_urm(m.clone()).unwrap();
    assert!(matches!(e.s.create_urm(m.clone()), Err(Error::Conflict(_))));
    assert!(matches!(
        e.s.create_urm(UserResourceMapping {
            user_id: Id::new(99).unwrap(),
            ..m.clone()
        }),
        Err(Error::NotFound { kind: Kind::User })
    ));
    let e = e.reopen();
    assert_eq!(
        e.s.list_urms(&UrmFilter {
            resource_id: Some(o.id),
            ..Default::default()
        })
        .unwrap(),
        vec![m.clone()]
    );
    assert_eq!(
        e.s.list_urms(&UrmFilter {
            user_type: Some(UserType::Owner),
            ..Default::default()
        })
        .unwrap(),
        vec![]
    );
    e.s.delete_urm(o.id, u.id).unwrap();
    assert!(e.s.list_urms(&UrmFilter::default()).unwrap().is_empty());
    assert!(matches!(
        e.s.delete_urm(o.id, u.id),
        Err(Error::NotFound {
            kind: Kind::UserResourceMapping
        })
    ));
}

#[test]
fn dbrps_follow_influxdb_default_rules() {
    let e = env();
    let o = e.s.create_org("o", "", None).unwrap();
    let b1 = e.s.create_bucket(bucket(o.id, "b1", 0)).unwrap();
    let b2 = e.s.create_bucket(bucket(o.id, "db/rp9", 0)).unwrap();
    let mk = |db: &str, rp: &str, default: bool, b: Id| DbrpCreate {
        org_id: Some(o.id),
        bucket_id: Some(b),
        database: db.into(),
        retention_policy: rp.into(),
        default,
    };
    // First mapping of a database is the default even if not asked.
    let m1 = e.s.create_dbrp(mk("db", "one", false, b1.id)).unwrap();
    assert!(m1.default);
    let m2 = e.s.create_dbrp(mk("db", "two", false, b1.id)).unwrap();
    assert!(!m2.default);
    assert!(matches!(
        e.s.create_dbrp(mk("db", "two", false, b1.id)),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        e.s.create_dbrp(mk("db", "x", false, Id::new(5).unwrap())),
        Err(Error::NotFound { kind: Kind::Bucket })
    ));
    assert!(matches!(
        e.s.create_dbrp(mk("", "x", false, b1.id)),
        Err(Error::Invalid(_))
    ));
    let m3 = e.s.create_dbrp(mk("db", "three", true, b1.id)).unwrap();
    assert!(m3.default);
    let e = e.reopen();
    let phys = |f: DbrpFilter| {
        e.s.list_dbrps(&DbrpFilter {
            r#virtual: Some(false),
            ..f
        })
        .unwrap()
    };
    let defaults = phys(DbrpFilter {
        default: Some(true),
        ..Default::default()
    });
    assert_eq!(
        defaults.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![m3.id]
    );
    assert!(!e.s.get_dbrp(Some(o.id), m1.id).unwrap().default);
    // Unsetting the default moves it to the first other mapping.
    let u =
        e.s.update_dbrp(
            o.id,
            m3.id,
            DbrpUpdate {
                default: Some(false),
                retention_policy: Some("three-b".into()),
            },
        )
        .unwrap();
    assert!(!u.default);
    assert_eq!(u.retention_policy, "three-b");
    let d = phys(DbrpFilter {
        default: Some(true),
        ..Default::default()
    });
    assert_eq!(d.len(), 1);
    assert_ne!(d[0].id, m3.id);
    assert!(matches!(
        e.s.update_dbrp(
            o.id,
            m3.id,
            DbrpUpdate {
                retention_policy: Some("one".into()),
                ..Default::default()
            }
        ),
        Err(Error::Conflict(_))
    ));
    // Deleting the default moves it again; deleting all clears it.
    e.s.delete_dbrp(o.id, d[0].id).unwrap();
    let d2 = phys(DbrpFilter {
        default: Some(true),
        ..Default::default()
    });
    assert_eq!(d2.len(), 1);
    for m in phys(DbrpFilter::default()) {
        e.s.delete_dbrp(o.id, m.id).unwrap();
    }
    assert!(phys(DbrpFilter::default()).is_empty());
    assert!(e.s.raw_entries("dbrpdefaultv1").is_empty());
    assert!(e.s.raw_entries("dbrpbyorgv1").is_empty());
    assert!(e.s.raw_entries("dbrpbyorganddbindexv1").is_empty());
    e.s.delete_dbrp(o.id, m1.id).unwrap();

    // Virtual mappings: one per bucket, name split at '/'.
    let virt =
        e.s.list_dbrps(&DbrpFilter {
            bucket_id: Some(b2.id),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(virt.len(), 1);
    assert_eq!(
        (virt[0].database.as_str(), virt[0].retention_policy.as_str()),
        ("db", "rp9")
    );
    assert!(virt[0].r#virtual && virt[0].default);
    assert_eq!(virt[0].id, b2.id);
    let v1 = e.s.get_dbrp(None, b1.id).unwrap();
    assert_eq!(
        (v1.database.as_str(), v1.retention_policy.as_str()),
        ("b1", "autogen")
    );
}

#[test]
fn shard_catalogue_assigns_groups_and_ids_like_influxdb() {
    let e = env();
    let o = e.s.create_org("o", "", None).unwrap();
    let week = e.s.create_bucket(bucket(o.id, "week", 0)).unwrap();
    let hourly = e.s.create_bucket(bucket(o.id, "hourly", HOUR)).unwrap();
    let idx0 = e.s.catalog().unwrap().index;
    // 2021-09-29T10:00:00Z, a Wednesday: 7-day groups start on Monday.
    let t = 1_632_909_600_000_000_000;
    let g1 = e.s.shard_group_for(week.id, t).unwrap();
    assert_eq!(g1.id, 1);
    assert_eq!(g1.shards.len(), 1);
    assert_eq!(g1.shards[0].id, 1);
    assert_eq!(g1.start_time, 1_632_700_800_000_000_000);
    assert_eq!(g1.end_time, g1.start_time + 7 * DAY);
    // Same group for another point in range; no new commit.
    assert_eq!(e.s.shard_group_for(week.id, t + DAY).unwrap(), g1);
    let g2 = e.s.shard_group_for(hourly.id, t + 90_000_000_000).unwrap();
    assert_eq!((g2.id, g2.shards[0].id), (2, 2));
    assert_eq!(g2.start_time, t);
    let g0 = e.s.shard_group_for(week.id, t - 7 * DAY).unwrap();
    assert_eq!(g0.id, 3);
    let before_1970 = e.s.shard_group_for(hourly.id, -1).unwrap();
    assert_eq!(before_1970.start_time, -HOUR);
    let e = e.reopen();
    let data = e.s.catalog().unwrap();
    assert_eq!((data.max_shard_group_id, data.max_shard_id), (4, 4));
    assert_eq!(data.index, idx0 + 4);
    let groups = e.s.shard_groups(week.id).unwrap();
    assert_eq!(groups.iter().map(|g| g.id).collect::<Vec<_>>(), vec![3, 1]);
    e.s.delete_shard_group(week.id, 1).unwrap();
    assert_eq!(
        e.s.shard_groups(week.id)
            .unwrap()
            .iter()
            .map(|g| g.id)
            .collect::<Vec<_>>(),
        vec![3]
    );
    assert!(matches!(
        e.s.delete_shard_group(week.id, 1),
        Err(Error::NotFound {
            kind: Kind::ShardGroup
        })
    ));
    // A deleted group is replaced by a new one with new IDs.
    let g5 = e.s.shard_group_for(week.id, t).unwrap();
    assert_eq!((g5.id, g5.shards[0].id), (5, 5));

    // Restore-style replacement renumbers shards.
    let mut info = e.s.database_info(week.id).unwrap();
    info.name = "whatever".into();
    let map = e.s.replace_database_info(hourly.id, info).unwrap();
    assert_eq!(map.len(), 3);
    assert!(map.iter().all(|(_, new)| *new > 5));
    let db = e.s.database_info(hourly.id).unwrap();
    assert_eq!(db.name, hourly.id.to_string());
    assert!(matches!(
        e.s.shard_group_for(Id::new(42).unwrap(), t),
        Err(Error::NotFound {
            kind: Kind::Database
        })
    ));
    let created = e.s.create_bucket_database(&week).unwrap();
    assert_eq!(created.name, week.id.to_string());
}

#[test]
fn json_is_escaped_like_go() {
    let e = env();
    let o = e.s.create_org("a<b>&c", "x\u{2028}", None).unwrap();
    let raw = e.s.raw_entries("organizationsv1");
    let text = String::from_utf8(raw[0].1.clone()).unwrap();
    assert!(text.contains(r#""name":"a\u003cb\u003e\u0026c""#), "{text}");
    assert!(text.contains(r#""description":"x\u2028""#), "{text}");
    assert_eq!(e.s.get_org(o.id).unwrap().name, "a<b>&c");
}

#[test]
fn store_is_shared_across_threads() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<MetaStore>();
    let e = env();
    let org = e.s.create_org("o", "", None).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = e.s.clone();
            std::thread::spawn(move || {
                for j in 0..5 {
                    s.create_bucket(bucket(org.id, &format!("t{i}-{j}"), 0))
                        .unwrap();
                    s.list_buckets(&BucketFilter::default(), &FindOptions::default())
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let e = e.reopen();
    let n =
        e.s.list_buckets(
            &BucketFilter {
                org_id: Some(org.id),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap()
        .len();
    assert_eq!(n, 2 + 20);
    assert_eq!(e.s.catalog().unwrap().databases.len(), 22);
}

#[test]
fn oversized_keys_are_refused_without_changing_anything() {
    let e = env();
    let long = "x".repeat(40_000);
    assert!(matches!(e.s.create_user(&long), Err(Error::Invalid(_))));
    assert!(e.s.find_user_by_name(&long).is_err());
    // The store still works and the file still opens.
    e.s.create_user("short").unwrap();
    let e = e.reopen();
    assert!(e.s.find_user_by_name("short").is_ok());
}
