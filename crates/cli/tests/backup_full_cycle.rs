//! The whole cycle against the real binary with data written over HTTP: points of every field
//! type in several buckets of two organizations, a second user with its own token; `ironflux
//! backup`; `ironflux restore --full` into a server wiped clean (every point, bucket, org, user
//! and token back, the old operator token working, the new server's own token gone); then
//! partial restores under `--new-bucket` / `--new-org` into a server with data of its own,
//! which stays as it was.

mod common;

use std::collections::BTreeSet;

use common::{Points, Resp, TestServer};
use serde_json::{Value, json};
use testdata::Value as V;

fn ironflux(args: &[&str]) {
    let out = std::process::Command::new(common::BIN)
        .args(args)
        .env_remove("INFLUX_HOST")
        .env_remove("INFLUX_TOKEN")
        .env_remove("INFLUX_ORG")
        .output()
        .expect("run ironflux");
    assert!(
        out.status.success(),
        "ironflux {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Points of every field type, in two shard groups (2024-01-01 and 2024-02-01), tagged `tag`.
fn lines(tag: &str) -> String {
    let mut s = String::new();
    for (day, base) in [
        (0, 1_704_067_200_000_000_000_i64),
        (1, 1_706_745_600_000_000_000),
    ] {
        for i in 0..50_i64 {
            let t = base + i * 60_000_000_000;
            s.push_str(&format!(
                "m,src={tag},day=d{day} f={}.25,i={}i,u={}u,s=\"v {i} \\\"q\\\"\",b={} {t}\n",
                i - 20,
                i * -3,
                i * 7,
                i % 2 == 0
            ));
        }
        s.push_str(&format!("other,src={tag} only=1i {}\n", base + 1));
    }
    s
}

async fn write(srv: &TestServer, token: &str, org: &str, bucket: &str, body: String) {
    let r = srv
        .req(
            reqwest::Method::POST,
            &format!("/api/v2/write?org={org}&bucket={bucket}&precision=ns"),
        )
        .header("Authorization", format!("Token {token}"))
        .body(body)
        .send()
        .await
        .expect("write");
    Resp::from(r).await.status(204);
}

/// Every point of a bucket as Flux reads it.
async fn points(srv: &TestServer, token: &str, org: &str, bucket: &str) -> Points {
    srv.bucket_points(token, org, bucket).await
}

/// Names listed under `field` of `GET path`.
async fn names(srv: &TestServer, token: &str, path: &str, field: &str) -> BTreeSet<String> {
    let r = srv.call("GET", path, Some(token), None).await;
    r.status(200);
    r.json()[field]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .map(|o| o["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn written_data_of_two_orgs_survives_backup_wipe_and_restore() {
    // Server A: two orgs, three buckets, a second user with a token of its own.
    let a = TestServer::start().await;
    let s = a.setup().await;
    let r = a
        .call(
            "POST",
            "/api/v2/orgs",
            Some(&s.token),
            Some(json!({"name": "org2"})),
        )
        .await;
    r.status(201);
    let org2 = r.str("/id");
    for (org_id, name) in [(&s.org_id, "b2"), (&org2, "b3")] {
        a.call(
            "POST",
            "/api/v2/buckets",
            Some(&s.token),
            Some(json!({"orgID": org_id, "name": name, "retentionRules": []})),
        )
        .await
        .status(201);
    }
    let r = a
        .call(
            "POST",
            "/api/v2/users",
            Some(&s.token),
            Some(json!({"name": "alice"})),
        )
        .await;
    r.status(201);
    let alice = r.str("/id");
    let alice_token = a
        .create_token(
            &s.token,
            json!({"orgID": org2, "userID": alice, "description": "alice's", "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": org2}},
                {"action": "write", "resource": {"type": "buckets", "orgID": org2}},
            ]}),
        )
        .await;
    write(&a, &s.token, "org", "bucket", lines("one")).await;
    write(&a, &s.token, "org", "b2", lines("two")).await;
    write(&a, &alice_token, "org2", "b3", lines("three")).await;
    let want = [
        ("org", "bucket", points(&a, &s.token, "org", "bucket").await),
        ("org", "b2", points(&a, &s.token, "org", "b2").await),
        ("org2", "b3", points(&a, &alice_token, "org2", "b3").await),
    ];
    for (_, b, p) in &want {
        // 2 days x 50 points x 5 fields + 2 single points, each value of its own type.
        assert_eq!(p.values().map(Vec::len).sum::<usize>(), 502, "bucket {b}");
        let kinds: BTreeSet<&str> = p
            .values()
            .flatten()
            .map(|(_, v)| match v {
                V::Float(_) => "float",
                V::Integer(_) => "integer",
                V::Unsigned(_) => "unsigned",
                V::String(_) => "string",
                V::Boolean(_) => "boolean",
            })
            .collect();
        assert_eq!(kinds.len(), 5, "bucket {b} has every type: {kinds:?}");
    }

    // Backup: the writes above are acknowledged but not yet in TSM files; the backup has them.
    let backup = tempfile::tempdir().unwrap();
    let dir = backup.path().to_str().unwrap();
    ironflux(&["backup", dir, "--host", &a.url, "--token", &s.token]);
    drop(a);

    // Server B, wiped clean (a new data directory, set up by someone else): full restore.
    let b = TestServer::start().await;
    let r = b
        .call(
            "POST",
            "/api/v2/setup",
            None,
            Some(
                json!({"username": "root", "password": "password456", "org": "borg",
                        "bucket": "bbucket", "token": "b-operator-token"}),
            ),
        )
        .await;
    r.status(201);
    ironflux(&[
        "restore",
        dir,
        "--full",
        "--host",
        &b.url,
        "--token",
        "b-operator-token",
    ]);
    b.call("GET", "/api/v2/orgs", Some("b-operator-token"), None)
        .await
        .error(401, "unauthorized");
    assert_eq!(
        names(&b, &s.token, "/api/v2/orgs", "orgs").await,
        set(&["org", "org2"])
    );
    let buckets = names(&b, &s.token, "/api/v2/buckets", "buckets").await;
    for name in ["bucket", "b2", "b3"] {
        assert!(buckets.contains(name), "{buckets:?}");
    }
    assert_eq!(
        names(&b, &s.token, "/api/v2/users", "users").await,
        set(&["admin", "alice"])
    );
    let r = b
        .call("GET", "/api/v2/authorizations", Some(&s.token), None)
        .await;
    r.status(200);
    let tokens: BTreeSet<String> = r.json()["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["token"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(tokens, set(&[&s.token, &alice_token]));
    // The password came back with the user.
    let r = b
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("admin", Some("password123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for (org, bucket, p) in &want {
        let token = if *org == "org2" {
            &alice_token
        } else {
            &s.token
        };
        assert!(
            points(&b, token, org, bucket).await == *p,
            "points of {org}/{bucket} differ after the full restore"
        );
    }
    drop(b);

    // Server C has data of its own; two partial restores under new names leave it alone.
    let c = TestServer::start().await;
    let sc = c.setup().await;
    write(&c, &sc.token, "org", "bucket", lines("own")).await;
    let own = points(&c, &sc.token, "org", "bucket").await;
    ironflux(&[
        "restore",
        dir,
        "--host",
        &c.url,
        "--token",
        &sc.token,
        "--org",
        "org2",
        "--bucket",
        "b3",
        "--new-org",
        "neworg",
        "--new-bucket",
        "nb3",
    ]);
    ironflux(&[
        "restore",
        dir,
        "--host",
        &c.url,
        "--token",
        &sc.token,
        "--org",
        "org",
        "--bucket",
        "b2",
        "--new-bucket",
        "nb2",
    ]);
    assert!(points(&c, &sc.token, "neworg", "nb3").await == want[2].2);
    assert!(points(&c, &sc.token, "org", "nb2").await == want[1].2);
    assert!(
        points(&c, &sc.token, "org", "bucket").await == own,
        "the server's own data changed"
    );
    assert_eq!(
        names(&c, &sc.token, "/api/v2/orgs", "orgs").await,
        set(&["org", "neworg"])
    );
    let r = c.call("GET", "/api/v2/me", Some(&sc.token), None).await;
    let me: Value = r.json();
    assert_eq!(me["name"], "admin");
}
