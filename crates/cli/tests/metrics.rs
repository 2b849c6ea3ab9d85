//! `/metrics` and `/api/v2/config` of the real binary: the Prometheus text answers with
//! influxd's metric names, counts that follow what the store holds, request counters by route
//! and status, per-shard storage gauges; the runtime configuration for operators only.

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use serde_json::json;

/// The samples of a Prometheus text answer: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_string(), v.parse::<f64>().expect("sample value"))
        })
        .collect()
}

async fn scrape(srv: &TestServer) -> (String, BTreeMap<String, f64>) {
    let r = srv.call("GET", "/metrics", None, None).await;
    r.status(200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let s = samples(&r.text);
    (r.text.clone(), s)
}

#[tokio::test]
async fn metrics_follow_the_store_the_requests_and_the_shards() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let (text, before) = scrape(&srv).await;
    for family in [
        "# TYPE influxdb_info gauge",
        "# TYPE influxdb_uptime_seconds gauge",
        "# TYPE influxdb_buckets_total counter",
        "# TYPE http_api_requests_total counter",
        "# TYPE http_api_request_duration_seconds histogram",
        "# TYPE storage_shard_disk_size gauge",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    // Onboarding made one org, one user, one operator token and the bucket beside the system
    // buckets; the counts are what the API lists.
    let listed = srv
        .call("GET", "/api/v2/buckets?limit=100", Some(&s.token), None)
        .await
        .json()["buckets"]
        .as_array()
        .expect("buckets")
        .len() as f64;
    assert_eq!(before["influxdb_buckets_total"], listed);
    assert_eq!(before["influxdb_organizations_total"], 1.0);
    assert_eq!(before["influxdb_users_total"], 1.0);
    assert_eq!(before["influxdb_tokens_total"], 1.0);
    assert!(before["boltdb_writes_total"] >= 1.0);
    assert!(before["influxdb_uptime_seconds"] > 0.0);

    srv.call(
        "POST",
        "/api/v2/buckets",
        Some(&s.token),
        Some(json!({"orgID": s.org_id, "name": "more"})),
    )
    .await
    .status(201);
    srv.call(
        "GET",
        "/api/v2/buckets/0000000000000abc",
        Some(&s.token),
        None,
    )
    .await
    .status(404);
    let r = srv
        .req(
            reqwest::Method::POST,
            "/api/v2/write?org=org&bucket=bucket&precision=s",
        )
        .header("Authorization", format!("Token {}", s.token))
        .header("User-Agent", "metrics-test/1.0 (linux)")
        .body("m,host=a v=1 1700000000\nm,host=b v=2 1700000000\n")
        .send()
        .await
        .expect("write");
    assert_eq!(r.status(), 204);

    let (_, after) = scrape(&srv).await;
    assert_eq!(after["influxdb_buckets_total"], listed + 1.0);
    assert!(after["boltdb_writes_total"] > before["boltdb_writes_total"]);
    let key = |method: &str, path: &str, code: u16, agent: &str| {
        format!(
            "http_api_requests_total{{handler=\"platform\",method=\"{method}\",path=\"{path}\",response_code=\"{code}\",status=\"{}XX\",user_agent=\"{agent}\"}}",
            code / 100
        )
    };
    // The test's client sends no User-Agent.
    assert_eq!(
        after.get(&key("POST", "/api/v2/buckets", 201, "")),
        Some(&1.0),
        "one bucket created: {after:?}"
    );
    assert_eq!(
        after.get(&key("POST", "/api/v2/write", 204, "metrics-test")),
        Some(&1.0)
    );
    assert_eq!(
        after.get(&key("GET", "/api/v2/buckets/:id", 404, "")),
        Some(&1.0),
        "the 404 is counted under the route"
    );
    // The histogram's +Inf bucket and count agree with the counter.
    let write_count = after
        .iter()
        .find(|(k, _)| {
            k.starts_with("http_api_request_duration_seconds_count{")
                && k.contains("path=\"/api/v2/write\"")
        })
        .map(|(_, v)| *v);
    assert_eq!(write_count, Some(1.0));

    // The write landed in one shard of the bucket: its cache holds the points.
    let cache: Vec<(&String, &f64)> = after
        .iter()
        .filter(|(k, _)| {
            k.starts_with("storage_cache_inuse_bytes{")
                && k.contains(&format!("bucket=\"{}\"", s.bucket_id))
        })
        .collect();
    assert_eq!(cache.len(), 1, "{after:?}");
    assert!(*cache[0].1 > 0.0);
}

#[tokio::test]
async fn config_is_for_operators() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let r = srv
        .call("GET", "/api/v2/config", Some(&s.token), None)
        .await;
    r.status(200);
    let c = &r.json()["config"];
    assert!(
        c["bolt-path"]
            .as_str()
            .is_some_and(|p| p.ends_with("influxd.bolt")),
        "{c}"
    );
    assert_eq!(c["storage-cache-snapshot-write-cold-duration"], "10m0s");
    assert_eq!(c["storage-compact-full-write-cold-duration"], "4h0m0s");
    assert_eq!(c["storage-retention-check-interval"], "30m0s");
    assert_eq!(c["storage-cache-max-memory-size"], 1_073_741_824);
    assert_eq!(c["http-bind-address"], srv.addr.as_str());

    let reader = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}}]}),
        )
        .await;
    srv.call("GET", "/api/v2/config", Some(&reader), None)
        .await
        .error(401, "unauthorized")
        .message("access to /api/v2/config requires operator permissions");
    srv.call("GET", "/api/v2/config", None, None)
        .await
        .error(401, "unauthorized");
}
