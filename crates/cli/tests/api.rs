//! The HTTP API of the real binary: health, onboarding, tenancy routes, auth, permissions,
//! paging and every error path, with status, `code` and `X-Platform-Error-Code` asserted.

mod common;

use common::TestServer;
use serde_json::json;

#[tokio::test]
async fn health_ping_ready_and_headers() {
    let srv = TestServer::start().await;
    let r = srv.call("GET", "/health", None, None).await;
    r.status(200);
    let h = r.json();
    assert_eq!(h["name"], "influxdb");
    assert_eq!(h["status"], "pass");
    let v = h["version"].as_str().unwrap_or_default();
    let nums: Vec<u32> = v
        .trim_start_matches('v')
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(
        nums.len() == 3 && nums[0] == 2 && nums[1] >= 1,
        "version {v}"
    );
    assert!(h["commit"].is_string());
    assert_eq!(r.header("x-influxdb-build"), Some("OSS"));
    assert_eq!(r.header("x-influxdb-version"), Some(v));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    let r = srv.call("GET", "/ping", None, None).await;
    r.status(204);
    assert_eq!(r.header("x-influxdb-build"), Some("OSS"));
    assert!(r.header("x-influxdb-version").is_some());
    srv.call("HEAD", "/ping", None, None).await.status(204);

    let r = srv.call("GET", "/ready", None, None).await;
    r.status(200);
    assert_eq!(r.json()["status"], "ready");

    // Error responses carry the version headers too.
    let r = srv.call("GET", "/api/v2/nope", None, None).await;
    r.error(404, "not found");
    assert_eq!(r.header("x-influxdb-build"), Some("OSS"));
}

#[tokio::test]
async fn unknown_route_wrong_method_and_not_implemented() {
    let srv = TestServer::start().await;
    srv.call("GET", "/no/such/path", None, None)
        .await
        .error(404, "not found");
    let r = srv.call("DELETE", "/health", None, None).await;
    r.error(405, "method not allowed")
        .message("allow: GET, HEAD");
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")));
    srv.call("PUT", "/api/v2/buckets", None, None)
        .await
        .error(405, "method not allowed");

    let s = srv.setup().await;
    let routes: Vec<(String, String)> = server::routes::NOT_IMPLEMENTED
        .iter()
        .flat_map(|(methods, path)| {
            let path = with_ids(path);
            methods
                .split('|')
                .map(move |m| (m.to_string(), path.clone()))
        })
        .collect();
    assert!(!routes.is_empty(), "the table lists no operation");
    for (method, path) in routes.iter().map(|(m, p)| (m.as_str(), p.as_str())) {
        // Authentication comes first (InfluxDB serves /metrics and /debug/pprof publicly) ...
        if path.starts_with("/api/") || path == "/query" {
            srv.call(method, path, None, None)
                .await
                .error(401, "unauthorized");
        }
        // ... then the route says it is not built yet.
        srv.call(method, path, Some(&s.token), None)
            .await
            .error(501, "not implemented");
    }
}

/// A path with every `{param}` replaced by an ID-shaped value.
fn with_ids(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        out.push_str("0000000000000001");
        rest = rest[i..].split_once('}').map_or("", |(_, r)| r);
    }
    out.push_str(rest);
    out
}

/// The operations of InfluxDB OSS v2's API contract (`openapi/oss.yml`): method and full path
/// (`/api/v2` prefixed unless the operation names the root server, as `/ping` does).
fn contract_operations() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(testdata::dir().join("openapi/oss.yml")).expect("the API contract");
    let mut ops: Vec<(String, String, bool)> = Vec::new();
    let mut path: Option<String> = None;
    let mut in_paths = false;
    for line in text.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() {
            break;
        }
        if let Some(p) = line
            .strip_prefix("  ")
            .and_then(|p| p.strip_suffix(':'))
            .map(|p| p.trim_matches('\''))
            .filter(|p| p.starts_with('/'))
        {
            path = Some(p.to_string());
        } else if let Some(m) = line
            .strip_prefix("    ")
            .and_then(|m| m.strip_suffix(':'))
            .filter(|m| ["get", "post", "put", "patch", "delete"].contains(m))
        {
            if let Some(p) = &path {
                ops.push((m.to_uppercase(), p.clone(), false));
            }
        } else if line.trim() == "- url: ''"
            && let Some(op) = ops.last_mut()
        {
            op.2 = true;
        }
    }
    ops.into_iter()
        .map(|(m, p, root)| {
            let p = if root {
                p
            } else if p == "/" {
                "/api/v2".to_string()
            } else {
                format!("/api/v2{p}")
            };
            (m, p)
        })
        .collect()
}

/// Every operation of the API contract is routed: it answers as built, or 501 `not
/// implemented`, never the router's 404 `path not found` or a 405.
#[tokio::test]
async fn every_contract_operation_is_routed() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let ops = contract_operations();
    assert_eq!(ops.len(), 224, "operations in the contract");
    assert!(ops.contains(&("GET".into(), "/ping".into())));
    assert!(ops.contains(&("POST".into(), "/api/v2/restore/shards/{shardID}".into())));
    let mut unrouted = Vec::new();
    for (method, path) in &ops {
        let body = matches!(method.as_str(), "POST" | "PUT" | "PATCH").then(|| json!({}));
        let r = srv
            .call(method, &with_ids(path), Some(&s.token), body)
            .await;
        if r.status == 405 || (r.status == 404 && r.text.contains("path not found")) {
            unrouted.push(format!("{method} {path}: {} {}", r.status, r.text));
        }
    }
    assert!(unrouted.is_empty(), "not routed:\n{}", unrouted.join("\n"));
}

#[tokio::test]
async fn onboarding_once() {
    let srv = TestServer::start().await;
    let r = srv.call("GET", "/api/v2/setup", None, None).await;
    r.status(200);
    assert_eq!(r.json()["allowed"], true);

    // Missing names are `unprocessable entity`, as InfluxDB answers.
    srv.call(
        "POST",
        "/api/v2/setup",
        None,
        Some(json!({"username": "u"})),
    )
    .await
    .error(422, "unprocessable entity")
    .message("onboarding failed: missing required fields [org,bucket]");
    srv.call(
        "POST",
        "/api/v2/setup",
        None,
        Some(json!({"username": "u", "org": "o", "bucket": "b", "password": "short"})),
    )
    .await
    .error(400, "invalid");
    srv.call("POST", "/api/v2/setup", None, None)
        .await
        .error(400, "invalid");

    let r = srv
        .call(
            "POST",
            "/api/v2/setup",
            None,
            Some(
                json!({"username": "admin", "password": "password123", "org": "org",
                        "bucket": "bucket", "retentionPeriodSeconds": 7200,
                        "token": "my-operator-token"}),
            ),
        )
        .await;
    r.status(201);
    let j = r.json();
    assert_eq!(j["user"]["name"], "admin");
    assert_eq!(j["user"]["status"], "active");
    assert_eq!(j["org"]["name"], "org");
    assert_eq!(j["bucket"]["name"], "bucket");
    assert_eq!(j["bucket"]["type"], "user");
    assert_eq!(j["bucket"]["retentionRules"][0]["type"], "expire");
    assert_eq!(j["bucket"]["retentionRules"][0]["everySeconds"], 7200);
    assert_eq!(j["auth"]["token"], "my-operator-token");
    assert_eq!(j["auth"]["status"], "active");
    assert_eq!(j["auth"]["userID"], j["user"]["id"]);
    assert_eq!(j["auth"]["orgID"], j["org"]["id"]);
    assert_eq!(j["auth"]["user"], "admin");
    assert_eq!(j["auth"]["org"], "org");
    // The operator token: read and write on every type but `instance`, instance-wide.
    let perms = j["auth"]["permissions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(perms.len(), 44);
    assert!(perms.iter().all(|p| p["resource"].get("orgID").is_none()
        && p["resource"].get("id").is_none()
        && p["resource"]["type"] != "instance"));

    let r = srv.call("GET", "/api/v2/setup", None, None).await;
    assert_eq!(r.json()["allowed"], false);
    srv.call(
        "POST",
        "/api/v2/setup",
        None,
        Some(json!({"username": "b", "password": "password123", "org": "o2", "bucket": "b2"})),
    )
    .await
    .error(422, "conflict")
    .message("onboarding has already been completed");

    // The token works.
    srv.call("GET", "/api/v2/orgs", Some("my-operator-token"), None)
        .await
        .status(200);
}

#[tokio::test]
async fn authentication_schemes() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    // Missing, malformed and unknown tokens.
    srv.call("GET", "/api/v2/buckets", None, None)
        .await
        .error(401, "unauthorized")
        .message("unauthorized access");
    srv.call("GET", "/api/v2/buckets", Some("not-a-token"), None)
        .await
        .error(401, "unauthorized");
    let r = srv
        .req(reqwest::Method::GET, "/api/v2/buckets")
        .header("Authorization", "Basic YWRtaW46cGFzc3dvcmQxMjM=")
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.error(401, "unauthorized");
    let r = srv
        .req(reqwest::Method::GET, "/api/v2/buckets")
        .header("Authorization", &s.token)
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.error(401, "unauthorized");
    // Token and Bearer both work.
    srv.call("GET", "/api/v2/buckets", Some(&s.token), None)
        .await
        .status(200);
    let r = srv
        .req(reqwest::Method::GET, "/api/v2/buckets")
        .header("Authorization", format!("Bearer {}", s.token))
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.status(200);

    // Sign-in: wrong password, then right one; the cookie authenticates; sign-out ends it.
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("admin", Some("wrong-password"))
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.error(401, "unauthorized");
    srv.call("POST", "/api/v2/signin", None, None)
        .await
        .error(401, "unauthorized");
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("admin", Some("password123"))
        .send()
        .await
        .expect("send");
    let r = common::Resp::from(r).await;
    r.status(204);
    let cookie = r.header("set-cookie").unwrap_or_default().to_string();
    assert!(cookie.starts_with("influxdb-oss-session="), "{cookie}");
    let pair = cookie.split(';').next().unwrap_or_default().to_string();
    let with_cookie = |m: reqwest::Method, p: &str| srv.req(m, p).header("Cookie", pair.clone());
    let r = common::Resp::from(
        with_cookie(reqwest::Method::GET, "/api/v2/me")
            .send()
            .await
            .expect("send"),
    )
    .await;
    r.status(200);
    assert_eq!(r.json()["name"], "admin");
    assert_eq!(r.json()["id"], s.user_id.as_str());
    let r = common::Resp::from(
        with_cookie(reqwest::Method::GET, "/api/v2/buckets")
            .send()
            .await
            .expect("send"),
    )
    .await;
    r.status(200);
    assert_eq!(r.json()["buckets"].as_array().map(Vec::len), Some(3));
    common::Resp::from(
        with_cookie(reqwest::Method::POST, "/api/v2/signout")
            .send()
            .await
            .expect("send"),
    )
    .await
    .status(204);
    common::Resp::from(
        with_cookie(reqwest::Method::GET, "/api/v2/me")
            .send()
            .await
            .expect("send"),
    )
    .await
    .error(401, "unauthorized");

    // Deactivating a token.
    let r = srv
        .call(
            "POST",
            "/api/v2/authorizations",
            Some(&s.token),
            Some(json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}}]})),
        )
        .await;
    r.status(201);
    let (id, tok) = (r.str("/id"), r.str("/token"));
    srv.call("GET", "/api/v2/buckets", Some(&tok), None)
        .await
        .status(200);
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/authorizations/{id}"),
            Some(&s.token),
            Some(json!({"status": "inactive", "description": "off"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["status"], "inactive");
    assert_eq!(r.json()["description"], "off");
    // As InfluxDB: an inactive token authenticates but holds nothing, so lists come back
    // empty and every permission check fails.
    let r = srv.call("GET", "/api/v2/buckets", Some(&tok), None).await;
    r.status(200);
    assert_eq!(r.json()["buckets"], json!([]));
    srv.call(
        "GET",
        &format!("/api/v2/buckets/{}", s.bucket_id),
        Some(&tok),
        None,
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "read:orgs/{}/buckets/{} is unauthorized",
        s.org_id, s.bucket_id
    ));
}

#[tokio::test]
async fn read_only_token_is_denied_writes() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let r = srv
        .call(
            "POST",
            "/api/v2/authorizations",
            Some(&s.token),
            Some(
                json!({"orgID": s.org_id, "description": "ro", "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "orgs", "id": s.org_id}}]}),
            ),
        )
        .await;
    r.status(201);
    assert_eq!(r.json()["permissions"][0]["resource"]["org"], "org");
    let ro = r.str("/token");

    // Reads work, and the bucket list shows what the token may see.
    let r = srv.call("GET", "/api/v2/buckets", Some(&ro), None).await;
    r.status(200);
    assert_eq!(r.json()["buckets"].as_array().map(Vec::len), Some(3));
    srv.call(
        "GET",
        &format!("/api/v2/buckets/{}", s.bucket_id),
        Some(&ro),
        None,
    )
    .await
    .status(200);
    srv.call(
        "GET",
        &format!("/api/v2/orgs/{}", s.org_id),
        Some(&ro),
        None,
    )
    .await
    .status(200);

    // Writes are refused with InfluxDB's text.
    srv.call(
        "POST",
        "/api/v2/buckets",
        Some(&ro),
        Some(json!({"orgID": s.org_id, "name": "nope"})),
    )
    .await
    .error(401, "unauthorized")
    .message(&format!("write:orgs/{}/buckets is unauthorized", s.org_id));
    srv.call(
        "DELETE",
        &format!("/api/v2/buckets/{}", s.bucket_id),
        Some(&ro),
        None,
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "write:orgs/{}/buckets/{} is unauthorized",
        s.org_id, s.bucket_id
    ));
    srv.call(
        "POST",
        "/api/v2/orgs",
        Some(&ro),
        Some(json!({"name": "o2"})),
    )
    .await
    .error(401, "unauthorized")
    .message("write:orgs is unauthorized");
    srv.call(
        "POST",
        "/api/v2/users",
        Some(&ro),
        Some(json!({"name": "x"})),
    )
    .await
    .error(401, "unauthorized")
    .message("write:users is unauthorized");
    let r = srv.call("GET", "/api/v2/users", Some(&ro), None).await;
    r.status(200);
    assert_eq!(r.json()["users"], json!([]));
    // As InfluxDB, a token reads its own user only if it lists that permission.
    srv.call("GET", "/api/v2/me", Some(&ro), None)
        .await
        .error(401, "unauthorized")
        .message(&format!("read:users/{} is unauthorized", s.user_id));
    // It cannot mint a token with more than it holds.
    srv.call(
        "POST",
        "/api/v2/authorizations",
        Some(&ro),
        Some(json!({"orgID": s.org_id, "permissions": [
            {"action": "write", "resource": {"type": "buckets", "orgID": s.org_id}}]})),
    )
    .await
    .error(401, "unauthorized");
    // It does not see the operator token.
    let r = srv
        .call("GET", "/api/v2/authorizations", Some(&ro), None)
        .await;
    r.status(200);
    assert_eq!(r.json()["authorizations"].as_array().map(Vec::len), Some(0));
    // Backups need the operator's permissions.
    srv.call("GET", "/api/v2/backup/metadata", Some(&ro), None)
        .await
        .error(401, "unauthorized")
        .message("read:authorizations is unauthorized");
}

#[tokio::test]
async fn bucket_errors_and_crud() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let r = srv
        .call(
            "POST",
            "/api/v2/buckets",
            t,
            Some(
                json!({"orgID": s.org_id, "name": "b1", "description": "first",
                        "retentionRules": [{"type": "expire", "everySeconds": 86400,
                                            "shardGroupDurationSeconds": 3600}]}),
            ),
        )
        .await;
    r.status(201);
    let b = r.json();
    let id = r.str("/id");
    assert_eq!(b["name"], "b1");
    assert_eq!(b["orgID"], s.org_id.as_str());
    assert_eq!(b["description"], "first");
    assert_eq!(b["type"], "user");
    assert_eq!(
        b["retentionRules"],
        json!([{"type": "expire", "everySeconds": 86400, "shardGroupDurationSeconds": 3600}])
    );
    assert_eq!(b["labels"], json!([]));
    assert_eq!(b["links"]["self"], format!("/api/v2/buckets/{id}"));
    assert_eq!(b["links"]["org"], format!("/api/v2/orgs/{}", s.org_id));
    assert!(b["createdAt"].is_string() && b["updatedAt"].is_string());

    // Duplicate name: 422 conflict.
    srv.call(
        "POST",
        "/api/v2/buckets",
        t,
        Some(json!({"orgID": s.org_id, "name": "b1"})),
    )
    .await
    .error(422, "conflict");
    // No org: 400 invalid.
    srv.call("POST", "/api/v2/buckets", t, Some(json!({"name": "b9"})))
        .await
        .error(400, "invalid")
        .message("organization id must be provided");
    // Negative retention, two rules: 422 unprocessable entity.
    srv.call(
        "POST",
        "/api/v2/buckets",
        t,
        Some(json!({"orgID": s.org_id, "name": "b9",
                    "retentionRules": [{"type": "expire", "everySeconds": -1}]})),
    )
    .await
    .error(422, "unprocessable entity");
    srv.call(
        "POST",
        "/api/v2/buckets",
        t,
        Some(json!({"orgID": s.org_id, "name": "b9", "retentionRules": [
            {"type": "expire", "everySeconds": 3600}, {"type": "expire", "everySeconds": 7200}]})),
    )
    .await
    .error(422, "unprocessable entity");
    // Malformed JSON: 400 invalid.
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/buckets")
        .header("Authorization", format!("Token {}", s.token))
        .body("{not json")
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.error(400, "invalid");
    // Malformed and unknown IDs.
    srv.call("GET", "/api/v2/buckets/123", t, None)
        .await
        .error(400, "invalid")
        .message("id must have a length of 16 bytes");
    srv.call("GET", "/api/v2/buckets/zzzzzzzzzzzzzzzz", t, None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/buckets/0000000000000abc", t, None)
        .await
        .error(404, "not found");
    srv.call("DELETE", "/api/v2/buckets/0000000000000abc", t, None)
        .await
        .error(404, "not found");
    srv.call("GET", "/api/v2/buckets?orgID=12", t, None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/buckets?org=nope", t, None)
        .await
        .error(404, "not found");
    srv.call("GET", "/api/v2/buckets?id=0000000000000abc", t, None)
        .await
        .error(404, "not found");
    srv.call(
        "GET",
        &format!("/api/v2/buckets?orgID={}&name=nope", s.org_id),
        t,
        None,
    )
    .await
    .error(404, "not found")
    .message(r#"bucket "nope" not found"#);
    // Without an org, an unknown name is an empty list (as the Python client relies on).
    let r = srv.call("GET", "/api/v2/buckets?name=nope", t, None).await;
    r.status(200);
    assert_eq!(r.json()["buckets"], json!([]));

    // Update: rename, describe, change retention.
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/buckets/{id}"),
            t,
            Some(json!({"name": "b1-renamed", "description": "d2",
                        "retentionRules": [{"type": "expire", "everySeconds": 7200}]})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["name"], "b1-renamed");
    assert_eq!(r.json()["description"], "d2");
    assert_eq!(r.json()["retentionRules"][0]["everySeconds"], 7200);
    let r = srv
        .call("GET", "/api/v2/buckets?name=b1-renamed", t, None)
        .await;
    r.status(200);
    assert_eq!(r.json()["buckets"][0]["id"], id.as_str());

    // System buckets exist per org and cannot be deleted.
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/buckets?orgID={}", s.org_id),
            t,
            None,
        )
        .await;
    let names: Vec<String> = r.json()["buckets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for n in ["_monitoring", "_tasks", "bucket", "b1-renamed"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let sys = r.json()["buckets"]
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == "_tasks").cloned())
        .unwrap_or_default();
    assert_eq!(sys["type"], "system");
    srv.call(
        "DELETE",
        &format!("/api/v2/buckets/{}", sys["id"].as_str().unwrap_or_default()),
        t,
        None,
    )
    .await
    .error(400, "invalid");

    // Delete: 204, then 404.
    srv.call("DELETE", &format!("/api/v2/buckets/{id}"), t, None)
        .await
        .status(204);
    srv.call("GET", &format!("/api/v2/buckets/{id}"), t, None)
        .await
        .error(404, "not found");
}

#[tokio::test]
async fn paging_offset_limit_after() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    for i in 0..5 {
        srv.call(
            "POST",
            "/api/v2/buckets",
            t,
            Some(json!({"orgID": s.org_id, "name": format!("p{i}")})),
        )
        .await
        .status(201);
    }
    let list = |q: String| {
        let srv = &srv;
        async move {
            let r = srv
                .call("GET", &format!("/api/v2/buckets?{q}"), t, None)
                .await;
            r.status(200);
            r.json()
        }
    };
    let all = list(format!("orgID={}", s.org_id)).await;
    let ids: Vec<String> = all["buckets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids.len(), 8);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "buckets are listed in ID order");

    let page = list(format!("orgID={}&limit=3&offset=2", s.org_id)).await;
    let got: Vec<&str> = page["buckets"]
        .as_array()
        .map(|a| a.iter().filter_map(|b| b["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        got,
        ids[2..5].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        page["links"]["self"],
        format!(
            "/api/v2/buckets?descending=false&limit=3&offset=2&orgID={}",
            s.org_id
        )
    );
    assert_eq!(
        page["links"]["next"],
        format!(
            "/api/v2/buckets?descending=false&limit=3&offset=5&orgID={}",
            s.org_id
        )
    );
    assert_eq!(
        page["links"]["prev"],
        format!(
            "/api/v2/buckets?descending=false&limit=3&offset=0&orgID={}",
            s.org_id
        )
    );
    let after = list(format!("orgID={}&after={}&limit=2", s.org_id, ids[5])).await;
    let got: Vec<&str> = after["buckets"]
        .as_array()
        .map(|a| a.iter().filter_map(|b| b["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        got,
        ids[6..8].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let last = list(format!("orgID={}&offset=7", s.org_id)).await;
    assert_eq!(last["buckets"].as_array().map(Vec::len), Some(1));
    assert!(last["links"].get("next").is_none());

    for (q, msg) in [
        ("limit=0", "limit must be between 1 and 100"),
        ("limit=101", "limit must be between 1 and 100"),
        ("offset=x", "offset is invalid"),
        ("after=xyz", "id must have a length of 16 bytes"),
    ] {
        srv.call("GET", &format!("/api/v2/buckets?{q}"), t, None)
            .await
            .error(400, "invalid")
            .message(msg);
    }
}

#[tokio::test]
async fn orgs_users_authorizations_dbrps() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());

    // Orgs.
    let r = srv
        .call(
            "POST",
            "/api/v2/orgs",
            t,
            Some(json!({"name": "o2", "description": "second"})),
        )
        .await;
    r.status(201);
    let o2 = r.str("/id");
    assert_eq!(r.json()["links"]["self"], format!("/api/v2/orgs/{o2}"));
    srv.call("POST", "/api/v2/orgs", t, Some(json!({"name": "o2"})))
        .await
        .error(422, "conflict");
    let r = srv.call("GET", "/api/v2/orgs", t, None).await;
    r.status(200);
    assert_eq!(r.json()["orgs"].as_array().map(Vec::len), Some(2));
    let r = srv.call("GET", "/api/v2/orgs?org=o2", t, None).await;
    assert_eq!(r.json()["orgs"][0]["id"], o2.as_str());
    // Each new org gets its system buckets.
    let r = srv
        .call("GET", &format!("/api/v2/buckets?orgID={o2}"), t, None)
        .await;
    assert_eq!(r.json()["buckets"].as_array().map(Vec::len), Some(2));
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/orgs/{o2}"),
            t,
            Some(json!({"name": "o3"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["name"], "o3");
    srv.call("DELETE", &format!("/api/v2/orgs/{o2}"), t, None)
        .await
        .status(204);
    srv.call("GET", &format!("/api/v2/orgs/{o2}"), t, None)
        .await
        .error(404, "not found");

    // Users and passwords.
    let r = srv
        .call("POST", "/api/v2/users", t, Some(json!({"name": "bob"})))
        .await;
    r.status(201);
    let bob = r.str("/id");
    assert_eq!(r.json()["status"], "active");
    srv.call("POST", "/api/v2/users", t, Some(json!({"name": "bob"})))
        .await
        .error(422, "conflict");
    srv.call(
        "POST",
        &format!("/api/v2/users/{bob}/password"),
        t,
        Some(json!({"password": "short"})),
    )
    .await
    .error(400, "invalid");
    srv.call(
        "POST",
        &format!("/api/v2/users/{bob}/password"),
        t,
        Some(json!({"password": "bobs-password"})),
    )
    .await
    .status(204);
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("bob", Some("bobs-password"))
        .send()
        .await
        .expect("send");
    common::Resp::from(r).await.status(204);
    // Bob owns nothing: he holds read and write on himself only. Admin owns the instance.
    let r = srv
        .call("GET", &format!("/api/v2/users/{bob}/permissions"), t, None)
        .await;
    r.status(200);
    assert_eq!(
        r.json(),
        json!([{"action": "read", "resource": {"type": "users", "id": bob}},
               {"action": "write", "resource": {"type": "users", "id": bob}}])
    );
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/users/{}/permissions", s.user_id),
            t,
            None,
        )
        .await;
    assert!(r.json().as_array().is_some_and(|a| {
        a.contains(&json!({"action": "write", "resource": {"type": "authorizations"}}))
    }));
    // Memberships: admin owns the org; bob joins as a member, reads through a session, leaves.
    let r = srv
        .call("GET", &format!("/api/v2/orgs/{}/owners", s.org_id), t, None)
        .await;
    r.status(200);
    assert_eq!(r.json()["users"][0]["name"], "admin");
    assert_eq!(r.json()["users"][0]["role"], "owner");
    assert_eq!(
        r.json()["links"]["self"],
        format!("/api/v2/orgs/{}/owners", s.org_id)
    );
    let r = srv
        .call(
            "POST",
            &format!("/api/v2/orgs/{}/members", s.org_id),
            t,
            Some(json!({"id": bob})),
        )
        .await;
    r.status(201);
    assert_eq!(r.json()["role"], "member");
    assert_eq!(r.json()["name"], "bob");
    srv.call(
        "POST",
        &format!("/api/v2/orgs/{}/members", s.org_id),
        t,
        Some(json!({"id": bob})),
    )
    .await
    .error(422, "conflict");
    srv.call(
        "POST",
        &format!("/api/v2/orgs/{}/members", s.org_id),
        t,
        Some(json!({})),
    )
    .await
    .error(400, "invalid")
    .message("user id missing or invalid");
    srv.call("GET", "/api/v2/orgs/0000000000000abc/members", t, None)
        .await
        .error(404, "not found");
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/orgs/{}/members", s.org_id),
            t,
            None,
        )
        .await;
    assert_eq!(r.json()["users"][0]["id"], bob.as_str());
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("bob", Some("bobs-password"))
        .send()
        .await
        .expect("send");
    let r = common::Resp::from(r).await;
    let bob_cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string();
    let r = common::Resp::from(
        srv.req(reqwest::Method::GET, "/api/v2/buckets")
            .header("Cookie", bob_cookie.clone())
            .send()
            .await
            .expect("send"),
    )
    .await;
    r.status(200);
    assert_eq!(r.json()["buckets"].as_array().map(Vec::len), Some(3));
    common::Resp::from(
        srv.req(reqwest::Method::POST, "/api/v2/buckets")
            .header("Cookie", bob_cookie)
            .json(&json!({"orgID": s.org_id, "name": "bobs"}))
            .send()
            .await
            .expect("send"),
    )
    .await
    .error(401, "unauthorized");
    srv.call(
        "DELETE",
        &format!("/api/v2/orgs/{}/members/{bob}", s.org_id),
        t,
        None,
    )
    .await
    .status(204);
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/orgs/{}/members", s.org_id),
            t,
            None,
        )
        .await;
    assert_eq!(r.json()["users"], json!([]));

    let r = srv.call("GET", "/api/v2/users?name=bob", t, None).await;
    assert_eq!(r.json()["users"][0]["id"], bob.as_str());
    let r = srv.call("GET", "/api/v2/me", t, None).await;
    r.status(200);
    assert_eq!(r.json()["name"], "admin");
    srv.call("DELETE", &format!("/api/v2/users/{bob}"), t, None)
        .await
        .status(204);
    srv.call("GET", &format!("/api/v2/users/{bob}"), t, None)
        .await
        .error(404, "not found");

    // Authorizations.
    srv.call(
        "POST",
        "/api/v2/authorizations",
        t,
        Some(json!({"orgID": s.org_id, "permissions": []})),
    )
    .await
    .error(400, "invalid");
    srv.call(
        "POST",
        "/api/v2/authorizations",
        t,
        Some(json!({"orgID": s.org_id, "permissions": [
            {"action": "read", "resource": {"type": "bogus"}}]})),
    )
    .await
    .error(400, "invalid");
    let r = srv
        .call(
            "POST",
            "/api/v2/authorizations",
            t,
            Some(json!({"orgID": s.org_id, "permissions": [
                {"action": "write", "resource": {"type": "buckets", "id": s.bucket_id,
                                                 "orgID": s.org_id}}]})),
        )
        .await;
    r.status(201);
    let aid = r.str("/id");
    assert_eq!(r.json()["permissions"][0]["resource"]["name"], "bucket");
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/authorizations?orgID={}", s.org_id),
            t,
            None,
        )
        .await;
    assert_eq!(r.json()["authorizations"].as_array().map(Vec::len), Some(2));
    srv.call("GET", &format!("/api/v2/authorizations/{aid}"), t, None)
        .await
        .status(200);
    srv.call("DELETE", &format!("/api/v2/authorizations/{aid}"), t, None)
        .await
        .status(204);
    srv.call("DELETE", &format!("/api/v2/authorizations/{aid}"), t, None)
        .await
        .error(404, "not found");

    // DBRP mappings.
    srv.call("GET", "/api/v2/dbrps", t, None)
        .await
        .error(400, "invalid")
        .message("either 'org' or 'orgID' must be provided");
    srv.call("GET", "/api/v2/dbrps?orgID=12", t, None)
        .await
        .error(400, "invalid")
        .message(r#"invalid org ID "12": id must have a length of 16 bytes"#);
    srv.call("GET", "/api/v2/dbrps?org=nope", t, None)
        .await
        .error(404, "not found")
        .message(r#"invalid org "nope": organization not found"#);
    srv.call(
        "GET",
        &format!("/api/v2/dbrps?orgID={}&default=maybe", s.org_id),
        t,
        None,
    )
    .await
    .error(400, "invalid")
    .message("invalid default parameter");
    srv.call(
        "POST",
        "/api/v2/dbrps",
        t,
        Some(json!({"orgID": s.org_id, "database": "db", "retention_policy": "rp"})),
    )
    .await
    .error(400, "invalid")
    .message(r#"invalid bucket ID "": id must have a length of 16 bytes"#);
    let r = srv
        .call(
            "POST",
            "/api/v2/dbrps",
            t,
            Some(
                json!({"orgID": s.org_id, "bucketID": s.bucket_id, "database": "db",
                        "retention_policy": "rp", "default": true}),
            ),
        )
        .await;
    r.status(201);
    let did = r.str("/id");
    assert_eq!(r.json()["database"], "db");
    srv.call(
        "POST",
        "/api/v2/dbrps",
        t,
        Some(
            json!({"org": "org", "bucketID": s.bucket_id, "database": "db",
                    "retention_policy": "rp"}),
        ),
    )
    .await
    .error(422, "conflict");
    let r = srv
        .call("GET", &format!("/api/v2/dbrps?orgID={}", s.org_id), t, None)
        .await;
    r.status(200);
    assert_eq!(r.json()["content"][0]["id"], did.as_str());
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/dbrps/{did}?orgID={}", s.org_id),
            t,
            Some(json!({"retention_policy": "rp2"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["content"]["retention_policy"], "rp2");
    srv.call(
        "DELETE",
        &format!("/api/v2/dbrps/{did}?orgID={}", s.org_id),
        t,
        None,
    )
    .await
    .status(204);
    srv.call(
        "GET",
        &format!("/api/v2/dbrps/{did}?orgID={}", s.org_id),
        t,
        None,
    )
    .await
    .error(404, "not found");
}

#[tokio::test]
async fn trace_span_is_logged() {
    let srv = TestServer::start().await;
    let r = srv
        .req(reqwest::Method::GET, "/api/v2/setup")
        .header(
            "Zap-Trace-Span",
            r#"{"trace_id":"7d3c1a2b","span_id":"5e6f","baggage":{"k":"v"}}"#,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    // The request's log lines carry the trace.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = srv.log();
        if log
            .lines()
            .any(|l| l.contains("trace_id=7d3c1a2b") && l.contains("span_id=5e6f"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trace not logged:\n{log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigterm_stops_gracefully_and_data_persists() {
    let mut srv = TestServer::start().await;
    let s = srv.setup().await;
    let st = srv.terminate();
    assert!(st.success(), "exit status {st}");
    let data = srv.data_dir();
    assert!(data.join("influxd.bolt").exists());
    assert!(data.join("engine").is_dir());
    let dir = srv.stop();
    let srv = TestServer::start_in(dir, &[]).await;
    let r = srv.call("GET", "/api/v2/setup", None, None).await;
    assert_eq!(r.json()["allowed"], false);
    srv.call("GET", "/api/v2/buckets", Some(&s.token), None)
        .await
        .status(200);
}

#[tokio::test]
async fn passwords_me_and_sessions() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let signin = |user: &'static str, pw: &'static str| {
        let srv = &srv;
        async move {
            let r = srv
                .req(reqwest::Method::POST, "/api/v2/signin")
                .basic_auth(user, Some(pw))
                .send()
                .await
                .expect("send");
            common::Resp::from(r).await
        }
    };
    let r = signin("admin", "password123").await;
    r.status(204);
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string();
    let put_me = |old: &'static str, new: &'static str| {
        let (srv, cookie) = (&srv, cookie.clone());
        async move {
            let r = srv
                .req(reqwest::Method::PUT, "/api/v2/me/password")
                .header("Cookie", cookie)
                .basic_auth("admin", Some(old))
                .json(&json!({ "password": new }))
                .send()
                .await
                .expect("send");
            common::Resp::from(r).await
        }
    };
    put_me("wrong-password", "new-password-1")
        .await
        .error(401, "unauthorized");
    put_me("password123", "short")
        .await
        .error(400, "invalid")
        .message("passwords must be at least 8 characters long");
    put_me("password123", "new-password-1").await.status(204);
    signin("admin", "password123")
        .await
        .error(401, "unauthorized");
    signin("admin", "new-password-1").await.status(204);
    signin("nobody", "new-password-1")
        .await
        .error(401, "unauthorized")
        .message("unauthorized access");

    // With a token and no basic auth there is no old password to check.
    srv.call(
        "PUT",
        "/api/v2/me/password",
        Some(&s.token),
        Some(json!({"password": "another-password"})),
    )
    .await
    .error(401, "unauthorized");

    // An inactive user can no longer sign in, and its session stops working.
    let r = srv
        .call(
            "POST",
            "/api/v2/users",
            Some(&s.token),
            Some(json!({"name": "carol"})),
        )
        .await;
    let carol = r.str("/id");
    srv.call(
        "POST",
        &format!("/api/v2/users/{carol}/password"),
        Some(&s.token),
        Some(json!({"password": "carols-password"})),
    )
    .await
    .status(204);
    let r = signin("carol", "carols-password").await;
    r.status(204);
    let carol_cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string();
    let me = |c: String| {
        let srv = &srv;
        async move {
            let r = srv
                .req(reqwest::Method::GET, "/api/v2/me")
                .header("Cookie", c)
                .send()
                .await
                .expect("send");
            common::Resp::from(r).await
        }
    };
    let r = me(carol_cookie.clone()).await;
    r.status(200);
    assert_eq!(r.json()["name"], "carol");
    // Carol owns no org: she sees herself but no buckets, and cannot create any.
    let r = srv
        .req(reqwest::Method::GET, "/api/v2/buckets")
        .header("Cookie", carol_cookie.clone())
        .send()
        .await
        .expect("send");
    let r = common::Resp::from(r).await;
    r.status(200);
    assert_eq!(r.json()["buckets"].as_array().map(Vec::len), Some(0));
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/users/{carol}"),
            Some(&s.token),
            Some(json!({"status": "inactive"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["status"], "inactive");
    me(carol_cookie)
        .await
        .error(403, "forbidden")
        .message("User is inactive");
    signin("carol", "carols-password")
        .await
        .error(401, "unauthorized");
}

#[tokio::test]
async fn sigint_stops_gracefully() {
    let mut srv = TestServer::start().await;
    let st = std::process::Command::new("kill")
        .args(["-INT", &srv.pid().to_string()])
        .status()
        .expect("kill -INT");
    assert!(st.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(st) = srv.try_wait() {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "no exit on SIGINT");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    assert!(srv.log().contains("received SIGINT"), "{}", srv.log());
}

#[tokio::test]
async fn v1_routes_take_the_token_as_password() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let enc = |t: &str| t.replace('=', "%3D").replace('+', "%2B");
    let call = |path: String, auth: Option<String>| {
        let srv = &srv;
        async move {
            let mut rb = srv.req(reqwest::Method::POST, &path);
            if let Some(a) = auth {
                rb = rb.header("Authorization", a);
            }
            common::Resp::from(rb.send().await.expect("send")).await
        }
    };
    // Accepted forms reach the route (`/write` looks the database up). With `u`/`p` or basic
    // auth, a username that no legacy authorization has leaves the password to be a token,
    // whoever the username names; `Token user:token` ignores the user.
    for (path, auth) in [
        (format!("/write?db=x&u=admin&p={}", enc(&s.token)), None),
        (format!("/write?db=x&u=nobody&p={}", enc(&s.token)), None),
        (
            "/write?db=x".to_string(),
            Some(format!("Token {}", s.token)),
        ),
        (
            "/write?db=x".to_string(),
            Some(format!("Token nobody:{}", s.token)),
        ),
    ] {
        call(path, auth)
            .await
            .error(404, "not found")
            .message("no dbrp mapping found");
    }
    call(
        "/query?q=SHOW+DATABASES".to_string(),
        Some(format!("Token {}", s.token)),
    )
    .await
    .status(200);
    let r = srv
        .req(reqwest::Method::POST, "/write?db=x")
        .basic_auth("admin", Some(&s.token))
        .send()
        .await
        .expect("send");
    common::Resp::from(r)
        .await
        .error(404, "not found")
        .message("no dbrp mapping found");
    // Refused forms: no credentials InfluxDB's 1.x routes read (`Bearer` is not one of
    // them), then credentials that do not hold.
    for auth in [None, Some(format!("Bearer {}", s.token))] {
        call("/write?db=x".to_string(), auth)
            .await
            .error(401, "unauthorized")
            .message("unauthorized access");
    }
    call("/write?db=x&u=admin&p=wrong".to_string(), None)
        .await
        .error(401, "unauthorized")
        .message("Unauthorized");
    // A token whose user is inactive.
    srv.call(
        "PATCH",
        &format!("/api/v2/users/{}", s.user_id),
        Some(&s.token),
        Some(json!({"status": "inactive"})),
    )
    .await
    .status(200);
    call(format!("/write?db=x&u=admin&p={}", enc(&s.token)), None)
        .await
        .error(401, "unauthorized")
        .message("Unauthorized");
}
