//! Telegraf configurations against the real binary: CRUD through `/api/v2/telegrafs`, the config
//! served as TOML (what `telegraf --config <url>` fetches) or JSON or an attachment as `Accept`
//! asks, the plugin catalogue, permissions, the 400/401/404 answers, and the configs surviving a
//! restart.

mod common;

use common::{Resp, TestServer};
use serde_json::json;

const CONFIG: &str = "[agent]\n  interval = \"10s\"\n\n[[inputs.cpu]]\n  percpu = true\n\n\
                      [[outputs.influxdb_v2]]\n  urls = [\"http://127.0.0.1:8086\"]\n  \
                      token = \"$INFLUX_TOKEN\"\n  organization = \"org\"\n  bucket = \"bucket\"\n";

async fn get_as(srv: &TestServer, token: &str, id: &str, accept: Option<&str>) -> Resp {
    let mut rb = srv
        .req(reqwest::Method::GET, &format!("/api/v2/telegrafs/{id}"))
        .header("Authorization", format!("Token {token}"));
    if let Some(a) = accept {
        rb = rb.header("Accept", a);
    }
    Resp::from(rb.send().await.expect("request")).await
}

#[tokio::test]
async fn telegrafs_crud_toml_and_permissions() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());

    let r = srv.call("GET", "/api/v2/telegrafs", t, None).await;
    r.status(200);
    assert_eq!(r.json(), json!({"configurations": []}));

    let r = srv
        .call(
            "POST",
            "/api/v2/telegrafs",
            t,
            Some(
                json!({"name": "my agent", "description": "d", "config": CONFIG,
                        "orgID": s.org_id}),
            ),
        )
        .await;
    r.status(201);
    let id = r.str("/id");
    assert_eq!(
        r.json(),
        json!({
            "id": id, "orgID": s.org_id, "name": "my agent", "description": "d",
            "config": CONFIG, "metadata": {"buckets": ["bucket"]}, "labels": [],
            "links": {
                "self": format!("/api/v2/telegrafs/{id}"),
                "labels": format!("/api/v2/telegrafs/{id}/labels"),
                "members": format!("/api/v2/telegrafs/{id}/members"),
                "owners": format!("/api/v2/telegrafs/{id}/owners"),
            },
        })
    );
    let created = r.json();

    // TOML by default and for `*/*` and `application/toml`, with InfluxDB's content type.
    for accept in [None, Some("*/*"), Some("application/toml")] {
        let r = get_as(&srv, &s.token, &id, accept).await;
        r.status(200);
        assert_eq!(
            r.header("content-type"),
            Some("application/toml; charset=utf-8"),
            "{accept:?}"
        );
        assert_eq!(r.text, CONFIG);
    }
    let r = get_as(&srv, &s.token, &id, Some("application/json")).await;
    r.status(200);
    assert_eq!(r.json(), created);
    let r = get_as(&srv, &s.token, &id, Some("application/octet-stream")).await;
    r.status(200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"my_agent.toml\"")
    );
    assert_eq!(r.text, CONFIG);

    // A second config; lists by orgID and by org name.
    let r = srv
        .call(
            "POST",
            "/api/v2/telegrafs",
            t,
            Some(
                json!({"name": "two", "config": "[[inputs.mem]]\n", "orgID": s.org_id,
                        "metadata": {"buckets": ["x"]}}),
            ),
        )
        .await;
    r.status(201);
    let two = r.str("/id");
    assert_eq!(r.json()["metadata"], json!({"buckets": ["x"]}));
    assert!(r.json().get("description").is_none(), "{}", r.text);
    let mut both = vec![id.clone(), two.clone()];
    both.sort();
    for q in [
        String::new(),
        format!("?orgID={}", s.org_id),
        "?org=org".to_string(),
    ] {
        let r = srv
            .call("GET", &format!("/api/v2/telegrafs{q}"), t, None)
            .await;
        r.status(200);
        assert_eq!(common::ids(&r, "configurations"), both, "{q}");
    }

    // PUT replaces all but ID and org.
    let r = srv
        .call(
            "PUT",
            &format!("/api/v2/telegrafs/{two}"),
            t,
            Some(json!({"name": "renamed", "config": CONFIG, "orgID": s.org_id})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["name"], "renamed");
    assert_eq!(r.json()["metadata"], json!({"buckets": ["bucket"]}));
    assert_eq!(r.json()["orgID"], s.org_id.as_str());
    assert_eq!(get_as(&srv, &s.token, &two, None).await.text, CONFIG);

    // 400s.
    srv.call("GET", "/api/v2/telegrafs/xyz", t, None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/telegrafs?orgID=zz", t, None)
        .await
        .error(400, "invalid")
        .message("orgID is invalid");
    srv.call(
        "POST",
        "/api/v2/telegrafs",
        t,
        Some(json!({"name": "no org", "config": ""})),
    )
    .await
    .error(400, "empty value")
    .message("provided telegraf configuration organization ID is missing or invalid");
    srv.call(
        "POST",
        "/api/v2/telegrafs",
        t,
        Some(json!({"config": "[[outputs.influxdb_v2]\n", "orgID": s.org_id})),
    )
    .await
    .error(400, "invalid");
    srv.call("GET", "/api/v2/telegraf/plugins?type=nope", t, None)
        .await
        .error(400, "invalid")
        .message("unknown plugin type 'nope'");

    // 404s.
    let missing = "0000000000000abc";
    srv.call("GET", &format!("/api/v2/telegrafs/{missing}"), t, None)
        .await
        .error(404, "not found")
        .message("telegraf configuration not found");
    srv.call(
        "PUT",
        &format!("/api/v2/telegrafs/{missing}"),
        t,
        Some(json!({"name": "x", "orgID": s.org_id})),
    )
    .await
    .error(404, "not found");
    srv.call("DELETE", &format!("/api/v2/telegrafs/{missing}"), t, None)
        .await
        .error(404, "not found");
    srv.call("GET", "/api/v2/telegrafs?org=nope", t, None)
        .await
        .error(404, "not found");

    // 401s: no token; a read-only token reads and lists but may not create, change or delete.
    srv.call("GET", "/api/v2/telegrafs", None, None)
        .await
        .error(401, "unauthorized");
    let r = get_as(&srv, "not-a-token", &id, None).await;
    r.error(401, "unauthorized");
    let reader = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "telegrafs", "orgID": s.org_id}}]}),
        )
        .await;
    let rt = Some(reader.as_str());
    let r = get_as(&srv, &reader, &id, None).await;
    r.status(200);
    assert_eq!(r.text, CONFIG);
    let r = srv.call("GET", "/api/v2/telegrafs", rt, None).await;
    assert_eq!(common::ids(&r, "configurations"), both);
    srv.call(
        "POST",
        "/api/v2/telegrafs",
        rt,
        Some(json!({"name": "x", "orgID": s.org_id})),
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "write:orgs/{}/telegrafs is unauthorized",
        s.org_id
    ));
    srv.call("DELETE", &format!("/api/v2/telegrafs/{id}"), rt, None)
        .await
        .error(401, "unauthorized")
        .message(&format!(
            "write:orgs/{}/telegrafs/{id} is unauthorized",
            s.org_id
        ));
    // A token without telegraf rights sees none of them.
    let other = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}}]}),
        )
        .await;
    let r = srv
        .call("GET", "/api/v2/telegrafs", Some(&other), None)
        .await;
    assert_eq!(common::ids(&r, "configurations"), Vec::<String>::new());
    get_as(&srv, &other, &id, None)
        .await
        .error(401, "unauthorized");

    // The plugin catalogue.
    let r = srv
        .call("GET", "/api/v2/telegraf/plugins?type=bundle", t, None)
        .await;
    r.status(200);
    assert_eq!(r.json()["plugins"][0]["name"], "System Bundle");
    assert_eq!(r.json()["version"], "1.13.0");
    // The catalogue of single plugins is not carried: 501, never a partial list.
    for kind in ["", "?type=input", "?type=output"] {
        srv.call("GET", &format!("/api/v2/telegraf/plugins{kind}"), t, None)
            .await
            .error(501, "not implemented");
    }

    // Delete; the configs left survive a restart.
    srv.call("DELETE", &format!("/api/v2/telegrafs/{two}"), t, None)
        .await
        .status(204);
    get_as(&srv, &s.token, &two, None)
        .await
        .error(404, "not found");
    let dir = srv.stop();
    let srv = TestServer::start_in(dir, &[]).await;
    let r = srv.call("GET", "/api/v2/telegrafs", t, None).await;
    r.status(200);
    assert_eq!(common::ids(&r, "configurations"), vec![id.clone()]);
    assert_eq!(get_as(&srv, &s.token, &id, None).await.text, CONFIG);
    let r = get_as(&srv, &s.token, &id, Some("application/json")).await;
    assert_eq!(r.json(), created);
}
