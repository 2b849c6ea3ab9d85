//! The server over real stores: InfluxDB's own `influxd.bolt` serves as ironflux's KV store, and
//! a `kill -9` in the middle of a burst of bucket creations leaves a store that opens with every
//! acknowledged bucket in it.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;

/// Tokens of the real file (`influxd.bolt.dump.json`).
const OPERATOR: &str =
    "A9Ovdl8SmP-rfp8wQ2vJoPUsZoQQJ3EochD88SlJcgrcLw4HBwgUqpSHQxc9N9Drg0_aY6Lp1jutBRcKhbV7aQ==";
const READ_BUCKETS: &str =
    "4-pZrlm84u9uiMVrPBeITe46KxfdEnvTX5H2CZh38BtAsXX4O47b8QwZ9jHL_Cek2w-VbVfRxDpo0Mu8ORiqyQ==";

#[tokio::test]
async fn influxdb_bolt_file_serves_as_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bolt = dir.path().join("influxd.bolt");
    std::fs::copy(testdata::dir().join("influxdb2/influxd.bolt"), &bolt).expect("copy bolt");
    let bolt_arg = bolt.to_string_lossy().into_owned();
    let srv = TestServer::start_in(dir, &["--bolt-path", &bolt_arg]).await;

    let r = srv.call("GET", "/api/v2/setup", None, None).await;
    assert_eq!(r.json()["allowed"], false);
    // Its operator token works.
    let r = srv.call("GET", "/api/v2/orgs", Some(OPERATOR), None).await;
    r.status(200);
    assert_eq!(r.json()["orgs"][0]["name"], "myorg");
    assert_eq!(r.json()["orgs"][0]["id"], "dd7cd2292f6e974a");
    let r = srv.call("GET", "/api/v2/me", Some(OPERATOR), None).await;
    r.status(200);
    assert_eq!(r.json()["name"], "testuser");
    let r = srv
        .call("GET", "/api/v2/buckets", Some(OPERATOR), None)
        .await;
    r.status(200);
    let mut names: Vec<String> = r.json()["buckets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["_monitoring", "_tasks", "mybucket"]);
    let r = srv
        .call(
            "GET",
            "/api/v2/buckets/7451ab8b9b7df592",
            Some(OPERATOR),
            None,
        )
        .await;
    r.status(200);
    // Infinite retention with a 7-day shard group duration.
    assert_eq!(
        r.json()["retentionRules"],
        json!([{"type": "expire", "everySeconds": 0, "shardGroupDurationSeconds": 604800}])
    );
    let r = srv
        .call("GET", "/api/v2/authorizations", Some(OPERATOR), None)
        .await;
    assert_eq!(r.json()["authorizations"].as_array().map(Vec::len), Some(2));

    // Its read-buckets token reads user buckets only, and cannot write.
    let r = srv
        .call("GET", "/api/v2/buckets", Some(READ_BUCKETS), None)
        .await;
    r.status(200);
    let names: Vec<String> = r.json()["buckets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["mybucket"]);
    srv.call(
        "POST",
        "/api/v2/buckets",
        Some(READ_BUCKETS),
        Some(json!({"orgID": "dd7cd2292f6e974a", "name": "new"})),
    )
    .await
    .error(401, "unauthorized");

    // The file stores no password for its user, so signing in fails cleanly.
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("testuser", Some("whatever-password"))
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.error(401, "unauthorized");

    // And writes through the operator token land in the file.
    srv.call(
        "POST",
        "/api/v2/buckets",
        Some(OPERATOR),
        Some(json!({"orgID": "dd7cd2292f6e974a", "name": "added"})),
    )
    .await
    .status(201);
}

#[tokio::test]
async fn kill_9_during_bucket_burst_leaves_an_openable_store() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (client, url, token, org, acked) = (
            srv.client.clone(),
            srv.url.clone(),
            s.token.clone(),
            s.org_id.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let r = client
                    .post(format!("{url}/api/v2/buckets"))
                    .header("Authorization", format!("Token {token}"))
                    .json(&json!({"orgID": org, "name": format!("w{w}-{i}")}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        if let Ok(mut a) = acked.lock() {
                            a.push(format!("w{w}-{i}"));
                        }
                    }
                    _ => break,
                }
            }
        }));
    }
    // Let the burst run, then kill the server without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().map(|a| a.len()).unwrap_or(0) < 40 {
        assert!(std::time::Instant::now() < deadline, "burst too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let st = std::process::Command::new("kill")
        .args(["-9", &srv.pid().to_string()])
        .status()
        .expect("kill -9");
    assert!(st.success());
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let dir = srv.stop();

    // The store opens, and every acknowledged bucket is there.
    let srv = TestServer::start_in(dir, &[]).await;
    let mut have = Vec::new();
    let mut offset = 0;
    loop {
        let r = srv
            .call(
                "GET",
                &format!(
                    "/api/v2/buckets?orgID={}&limit=100&offset={offset}",
                    s.org_id
                ),
                Some(&s.token),
                None,
            )
            .await;
        r.status(200);
        let page: Vec<String> = r.json()["buckets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if page.is_empty() {
            break;
        }
        offset += page.len();
        have.extend(page);
    }
    for name in &acked {
        assert!(have.contains(name), "acknowledged bucket {name} lost");
    }
    // And it still takes writes.
    srv.call(
        "POST",
        "/api/v2/buckets",
        Some(&s.token),
        Some(json!({"orgID": s.org_id, "name": "after-crash"})),
    )
    .await
    .status(201);
}
