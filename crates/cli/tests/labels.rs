//! Labels over HTTP against the real binary: `/api/v2/labels` CRUD, the labels of a bucket, the
//! 400/401/404/422 answers, permissions of a read-only token, and labels surviving a restart and
//! a KV backup/restore.

mod common;

use common::{Resp, TestServer};
use serde_json::{Value, json};

async fn create(srv: &TestServer, token: &str, body: Value) -> Resp {
    srv.call("POST", "/api/v2/labels", Some(token), Some(body))
        .await
}

fn names(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r.json()["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("no labels in {}", r.text))
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn label_crud_with_influxdb_answers() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());

    let r = create(
        &srv,
        &s.token,
        json!({"orgID": s.org_id, "name": "prod",
               "properties": {"color": "#ff0000", "description": "live"}}),
    )
    .await;
    r.status(201);
    let id = r.str("/label/id");
    assert_eq!(
        r.json(),
        json!({
            "links": {"self": format!("/api/v2/labels/{id}")},
            "label": {"id": id, "orgID": s.org_id, "name": "prod",
                      "properties": {"color": "#ff0000", "description": "live"}},
        })
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    // Without properties there is no `properties` key, as InfluxDB's omitempty.
    let r = create(&srv, &s.token, json!({"orgID": s.org_id, "name": "dev"})).await;
    r.status(201);
    let dev = r.str("/label/id");
    assert_eq!(
        r.json()["label"],
        json!({"id": dev, "orgID": s.org_id, "name": "dev"})
    );

    // Errors: duplicate name in any case (422), no name / no org / bad org (400), unknown org
    // (404), bad body (400).
    create(&srv, &s.token, json!({"orgID": s.org_id, "name": "PROD"}))
        .await
        .error(422, "conflict")
        .message("label with name PROD already exists");
    create(&srv, &s.token, json!({"orgID": s.org_id, "name": " "}))
        .await
        .error(400, "invalid")
        .message("label name is required");
    create(&srv, &s.token, json!({"name": "x"}))
        .await
        .error(400, "invalid")
        .message("orgID is required");
    create(&srv, &s.token, json!({"orgID": "nope", "name": "x"}))
        .await
        .error(400, "invalid");
    create(
        &srv,
        &s.token,
        json!({"orgID": "00000000000000ff", "name": "x"}),
    )
    .await
    .error(404, "not found")
    .message("organization not found");
    create(
        &srv,
        &s.token,
        json!({"orgID": s.org_id, "name": "x", "properties": {"n": 1}}),
    )
    .await
    .error(400, "invalid");

    // Get, list and its filters.
    let r = srv
        .call("GET", &format!("/api/v2/labels/{id}"), t, None)
        .await;
    r.status(200);
    assert_eq!(r.json()["label"]["name"], "prod");
    let r = srv.call("GET", "/api/v2/labels", t, None).await;
    r.status(200);
    assert_eq!(r.json()["links"], json!({"self": "/api/v2/labels"}));
    assert_eq!(names(&r), ["dev", "prod"]);
    let r = srv.call("GET", "/api/v2/labels?name=PROD", t, None).await;
    assert_eq!(names(&r), ["prod"]);
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/labels?orgID={}", s.org_id),
            t,
            None,
        )
        .await;
    assert_eq!(names(&r), ["dev", "prod"]);
    let r = srv
        .call("GET", "/api/v2/labels?orgID=00000000000000ff", t, None)
        .await;
    assert_eq!(names(&r), Vec::<String>::new());
    srv.call("GET", "/api/v2/labels/00000000000000ff", t, None)
        .await
        .error(404, "not found")
        .message("label not found");
    srv.call("GET", "/api/v2/labels/xyz", t, None)
        .await
        .error(400, "invalid");

    // PATCH: properties merge (empty value removes), rename, conflicts.
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/labels/{id}"),
            t,
            Some(json!({"properties": {"color": "#00ff00", "description": ""}})),
        )
        .await;
    r.status(200);
    assert_eq!(
        r.json()["label"],
        json!({"id": id, "orgID": s.org_id, "name": "prod",
               "properties": {"color": "#00ff00"}})
    );
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/labels/{id}"),
            t,
            Some(json!({"name": "production"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["label"]["name"], "production");
    assert_eq!(r.json()["label"]["properties"], json!({"color": "#00ff00"}));
    srv.call(
        "PATCH",
        &format!("/api/v2/labels/{id}"),
        t,
        Some(json!({"name": "Dev"})),
    )
    .await
    .error(422, "conflict")
    .message("label with name Dev already exists");
    srv.call(
        "PATCH",
        "/api/v2/labels/00000000000000ff",
        t,
        Some(json!({"name": "z"})),
    )
    .await
    .error(404, "not found");

    // DELETE: 204, then 404.
    srv.call("DELETE", &format!("/api/v2/labels/{dev}"), t, None)
        .await
        .status(204);
    srv.call("DELETE", &format!("/api/v2/labels/{dev}"), t, None)
        .await
        .error(404, "not found")
        .message("label not found");
    let r = srv.call("GET", "/api/v2/labels", t, None).await;
    assert_eq!(names(&r), ["production"]);

    // A method the route does not have.
    srv.call("PUT", "/api/v2/labels", t, None)
        .await
        .error(405, "method not allowed");

    // Without a token: 401 before anything else.
    srv.call("GET", "/api/v2/labels", None, None)
        .await
        .error(401, "unauthorized");
}

#[tokio::test]
async fn bucket_labels_and_permissions() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let b = &s.bucket_id;
    let path = format!("/api/v2/buckets/{b}/labels");

    let a = create(&srv, &s.token, json!({"orgID": s.org_id, "name": "a"}))
        .await
        .str("/label/id");
    let z = create(&srv, &s.token, json!({"orgID": s.org_id, "name": "z"}))
        .await
        .str("/label/id");
    let r = srv.call("GET", &path, t, None).await;
    r.status(200);
    assert_eq!(
        r.json(),
        json!({"links": {"self": "/api/v2/labels"}, "labels": []})
    );

    // Adding: 201 with the label; twice is a conflict; bad bodies and unknown IDs.
    let r = srv
        .call("POST", &path, t, Some(json!({"labelID": a})))
        .await;
    r.status(201);
    assert_eq!(
        r.json(),
        json!({"links": {"self": format!("/api/v2/labels/{a}")},
               "label": {"id": a, "orgID": s.org_id, "name": "a"}})
    );
    srv.call("POST", &path, t, Some(json!({"labelID": z})))
        .await
        .status(201);
    srv.call("POST", &path, t, Some(json!({"labelID": a})))
        .await
        .error(422, "conflict")
        .message("Cannot add label, label already exists on resource");
    srv.call("POST", &path, t, Some(json!({})))
        .await
        .error(400, "invalid")
        .message("label id is required");
    let r = srv
        .req(reqwest::Method::POST, &path)
        .header("Authorization", format!("Token {}", s.token))
        .body("{not json")
        .send()
        .await
        .unwrap();
    Resp::from(r)
        .await
        .error(400, "invalid")
        .message("Invalid post label map request");
    srv.call(
        "POST",
        &path,
        t,
        Some(json!({"labelID": "00000000000000ff"})),
    )
    .await
    .error(404, "not found")
    .message("label not found");
    srv.call(
        "POST",
        "/api/v2/buckets/00000000000000ff/labels",
        t,
        Some(json!({"labelID": a})),
    )
    .await
    .error(404, "not found")
    .message("bucket not found");
    srv.call("GET", "/api/v2/buckets/00000000000000ff/labels", t, None)
        .await
        .error(404, "not found")
        .message("bucket not found");

    let r = srv.call("GET", &path, t, None).await;
    r.status(200);
    assert_eq!(names(&r), ["a", "z"]);

    // A token that reads buckets and labels of the org, and writes nothing.
    let r = srv
        .call(
            "POST",
            "/api/v2/authorizations",
            t,
            Some(json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "labels", "orgID": s.org_id}}]})),
        )
        .await;
    r.status(201);
    let ro_token = r.str("/token");
    let ro = Some(ro_token.as_str());
    assert_eq!(names(&srv.call("GET", &path, ro, None).await), ["a", "z"]);
    assert_eq!(
        names(&srv.call("GET", "/api/v2/labels", ro, None).await),
        ["a", "z"]
    );
    srv.call("GET", &format!("/api/v2/labels/{a}"), ro, None)
        .await
        .status(200);
    create(&srv, &ro_token, json!({"orgID": s.org_id, "name": "nope"}))
        .await
        .error(401, "unauthorized")
        .message(&format!("write:orgs/{}/labels is unauthorized", s.org_id));
    srv.call(
        "PATCH",
        &format!("/api/v2/labels/{a}"),
        ro,
        Some(json!({"name": "b"})),
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "write:orgs/{}/labels/{a} is unauthorized",
        s.org_id
    ));
    srv.call("DELETE", &format!("/api/v2/labels/{a}"), ro, None)
        .await
        .error(401, "unauthorized");
    srv.call("DELETE", &format!("{path}/{a}"), ro, None)
        .await
        .error(401, "unauthorized");
    srv.call("POST", &path, ro, Some(json!({"labelID": a})))
        .await
        .error(401, "unauthorized");

    // A token that reads buckets only sees no labels, on the bucket or in the list.
    let r = srv
        .call(
            "POST",
            "/api/v2/authorizations",
            t,
            Some(json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}}]})),
        )
        .await;
    let bo = r.str("/token");
    let bo = Some(bo.as_str());
    assert_eq!(
        names(&srv.call("GET", &path, bo, None).await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&srv.call("GET", "/api/v2/labels", bo, None).await),
        Vec::<String>::new()
    );
    srv.call("GET", &format!("/api/v2/labels/{a}"), bo, None)
        .await
        .error(401, "unauthorized")
        .message(&format!(
            "read:orgs/{}/labels/{a} is unauthorized",
            s.org_id
        ));

    // A token that reads labels only may not list a bucket's labels.
    let r = srv
        .call(
            "POST",
            "/api/v2/authorizations",
            t,
            Some(json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "labels", "orgID": s.org_id}}]})),
        )
        .await;
    let lo = r.str("/token");
    srv.call("GET", &path, Some(&lo), None)
        .await
        .error(401, "unauthorized")
        .message(&format!(
            "read:orgs/{}/buckets/{b} is unauthorized",
            s.org_id
        ));

    // Taking a label off: 204, also when it is not there; unknown label or bucket: 404.
    srv.call("DELETE", &format!("{path}/{a}"), t, None)
        .await
        .status(204);
    srv.call("DELETE", &format!("{path}/{a}"), t, None)
        .await
        .status(204);
    assert_eq!(names(&srv.call("GET", &path, t, None).await), ["z"]);
    srv.call("DELETE", &format!("{path}/00000000000000ff"), t, None)
        .await
        .error(404, "not found")
        .message("label not found");
    srv.call(
        "DELETE",
        &format!("/api/v2/buckets/00000000000000ff/labels/{a}"),
        t,
        None,
    )
    .await
    .error(404, "not found")
    .message("bucket not found");
    srv.call("DELETE", &format!("{path}/xyz"), t, None)
        .await
        .error(400, "invalid");

    // Deleting a label takes it off the bucket.
    srv.call("DELETE", &format!("/api/v2/labels/{z}"), t, None)
        .await
        .status(204);
    assert_eq!(
        names(&srv.call("GET", &path, t, None).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn labels_survive_restart_and_kv_backup_restore() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let path = format!("/api/v2/buckets/{}/labels", s.bucket_id);
    let l = create(
        &srv,
        &s.token,
        json!({"orgID": s.org_id, "name": "kept", "properties": {"color": "#326BBA"}}),
    )
    .await
    .str("/label/id");
    srv.call("POST", &path, t, Some(json!({"labelID": l})))
        .await
        .status(201);
    let want = json!({"id": l, "orgID": s.org_id, "name": "kept",
                      "properties": {"color": "#326BBA"}});

    // Restart on the same data directory.
    let dir = srv.stop();
    let srv = TestServer::start_in(dir, &[]).await;
    let r = srv.call("GET", &path, t, None).await;
    r.status(200);
    assert_eq!(r.json()["labels"], json!([want.clone()]));

    // The KV backup carries the labels into another server.
    let kv = srv.backup_kv(&s.token).await;
    let other = TestServer::start().await;
    let o = other.setup().await;
    other.restore_kv(&o.token, kv).await;
    let r = other.call("GET", "/api/v2/labels", t, None).await;
    r.status(200);
    assert_eq!(r.json()["labels"], json!([want.clone()]));
    let r = other.call("GET", &path, t, None).await;
    assert_eq!(r.json()["labels"], json!([want]));
}

/// Tasks, variables, Telegraf configs and dashboards carry labels as buckets do: the label
/// routes, and the labels in the resource's own answers (single and listed); write on the
/// resource is needed to label it.
#[tokio::test]
async fn labels_of_tasks_variables_telegrafs_and_dashboards() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let label = create(&srv, &s.token, json!({"orgID": s.org_id, "name": "team"}))
        .await
        .str("/label/id");
    let r = srv
        .call(
            "POST",
            "/api/v2/tasks",
            t,
            Some(json!({"orgID": s.org_id,
                        "flux": "option task = {name: \"t\", every: 1h}\nfrom(bucket: \"bucket\") |> range(start: -1h)"})),
        )
        .await;
    r.status(201);
    let task = r.str("/id");
    let r = srv
        .call(
            "POST",
            "/api/v2/variables",
            t,
            Some(json!({"orgID": s.org_id, "name": "host",
                        "arguments": {"type": "constant", "values": ["a", "b"]}})),
        )
        .await;
    r.status(201);
    let var = r.str("/id");
    let r = srv
        .call(
            "POST",
            "/api/v2/telegrafs",
            t,
            Some(json!({"orgID": s.org_id, "name": "agent",
                        "config": "[[inputs.cpu]]\n[[outputs.influxdb_v2]]\n  bucket = \"bucket\"\n"})),
        )
        .await;
    r.status(201);
    let telegraf = r.str("/id");
    let r = srv
        .call(
            "POST",
            "/api/v2/dashboards",
            t,
            Some(json!({"orgID": s.org_id, "name": "board"})),
        )
        .await;
    r.status(201);
    let dashboard = r.str("/id");
    let reader = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "tasks", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "telegrafs", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "dashboards", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "variables", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "labels", "orgID": s.org_id}},
                {"action": "write", "resource": {"type": "labels", "orgID": s.org_id}}]}),
        )
        .await;

    for (base, id, list_key) in [
        ("/api/v2/tasks", &task, "tasks"),
        ("/api/v2/variables", &var, "variables"),
        ("/api/v2/telegrafs", &telegraf, "configurations"),
        ("/api/v2/dashboards", &dashboard, "dashboards"),
    ] {
        let path = format!("{base}/{id}/labels");
        // Labelling needs write on the resource, not only on the label.
        srv.call(
            "POST",
            &path,
            Some(&reader),
            Some(json!({"labelID": label})),
        )
        .await
        .error(401, "unauthorized");
        let r = srv
            .call("POST", &path, t, Some(json!({"labelID": label})))
            .await;
        r.status(201);
        assert_eq!(r.str("/label/name"), "team");
        srv.call("POST", &path, t, Some(json!({"labelID": label})))
            .await
            .error(422, "conflict");
        let r = srv.call("GET", &path, Some(&reader), None).await;
        r.status(200);
        assert_eq!(r.json()["labels"][0]["id"], label.as_str(), "{base}");
        // The resource's own answers carry the label (a Telegraf config answers JSON when asked).
        let one = Resp::from(
            srv.req(reqwest::Method::GET, &format!("{base}/{id}"))
                .header("Authorization", format!("Token {}", s.token))
                .header("Accept", "application/json")
                .send()
                .await
                .expect("send"),
        )
        .await;
        one.status(200);
        assert_eq!(
            one.json()["labels"][0]["name"],
            "team",
            "{base}: {}",
            one.text
        );
        let all = srv
            .call("GET", &format!("{base}?orgID={}", s.org_id), t, None)
            .await;
        all.status(200);
        let listed = all.json()[list_key]
            .as_array()
            .expect("list")
            .iter()
            .find(|x| x["id"] == id.as_str())
            .cloned()
            .expect("listed");
        assert_eq!(listed["labels"][0]["id"], label.as_str(), "{base} list");
        // Unknown resources are 404 in their own words; taking the label off is 204.
        srv.call("GET", &format!("{base}/00000000000000ff/labels"), t, None)
            .await
            .error(404, "not found");
        srv.call("DELETE", &format!("{path}/{label}"), t, None)
            .await
            .status(204);
        let r = srv.call("GET", &path, t, None).await;
        assert_eq!(r.json()["labels"], json!([]), "{base}");
    }

    // A bucket's answers carry its labels too.
    let b = &s.bucket_id;
    srv.call(
        "POST",
        &format!("/api/v2/buckets/{b}/labels"),
        t,
        Some(json!({"labelID": label})),
    )
    .await
    .status(201);
    let r = srv
        .call("GET", &format!("/api/v2/buckets/{b}"), t, None)
        .await;
    assert_eq!(r.json()["labels"][0]["name"], "team");
    let r = srv
        .call("GET", "/api/v2/buckets?name=bucket", t, None)
        .await;
    assert_eq!(r.json()["buckets"][0]["labels"][0]["name"], "team");
}

/// The members and owners of a task, a Telegraf config and a dashboard are user-resource
/// mappings, as an org's or a bucket's.
#[tokio::test]
async fn task_telegraf_and_dashboard_members_and_owners() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let r = srv
        .call(
            "POST",
            "/api/v2/tasks",
            t,
            Some(json!({"orgID": s.org_id,
                        "flux": "option task = {name: \"t\", every: 1h}\nfrom(bucket: \"bucket\") |> range(start: -1h)"})),
        )
        .await;
    r.status(201);
    let task = r.str("/id");
    let r = srv
        .call("POST", "/api/v2/users", t, Some(json!({"name": "bob"})))
        .await;
    r.status(201);
    let bob = r.str("/id");
    let r = srv
        .call(
            "POST",
            "/api/v2/telegrafs",
            t,
            Some(
                json!({"orgID": s.org_id, "name": "agent", "config": "[[inputs.mem]]\n",
                        "metadata": {"buckets": ["bucket"]}}),
            ),
        )
        .await;
    r.status(201);
    let telegraf = r.str("/id");
    let r = srv
        .call(
            "POST",
            "/api/v2/dashboards",
            t,
            Some(json!({"orgID": s.org_id, "name": "board"})),
        )
        .await;
    r.status(201);
    let dashboard = r.str("/id");
    for (role, path) in [
        ("member", format!("/api/v2/tasks/{task}/members")),
        ("owner", format!("/api/v2/tasks/{task}/owners")),
        ("member", format!("/api/v2/telegrafs/{telegraf}/members")),
        ("owner", format!("/api/v2/telegrafs/{telegraf}/owners")),
        ("member", format!("/api/v2/dashboards/{dashboard}/members")),
        ("owner", format!("/api/v2/dashboards/{dashboard}/owners")),
    ] {
        let r = srv.call("POST", &path, t, Some(json!({"id": bob}))).await;
        r.status(201);
        assert_eq!(r.json()["role"], role);
        assert_eq!(r.json()["name"], "bob");
        srv.call("POST", &path, t, Some(json!({"id": bob})))
            .await
            .error(422, "conflict");
        let r = srv.call("GET", &path, t, None).await;
        r.status(200);
        let users = r.json()["users"].clone();
        assert!(
            users
                .as_array()
                .is_some_and(|u| u.iter().any(|x| x["id"] == bob.as_str())),
            "{users}"
        );
        srv.call("DELETE", &format!("{path}/{bob}"), t, None)
            .await
            .status(204);
        let r = srv.call("GET", &path, t, None).await;
        assert!(
            !r.json()["users"]
                .as_array()
                .is_some_and(|u| u.iter().any(|x| x["id"] == bob.as_str())),
            "{}",
            r.text
        );
    }
    srv.call("GET", "/api/v2/tasks/00000000000000ff/members", t, None)
        .await
        .error(404, "not found")
        .message("task not found");
    // Deleting the task, the config and the dashboard takes their mappings along: bob maps to
    // nothing any more.
    for resource in [
        format!("/api/v2/tasks/{task}"),
        format!("/api/v2/telegrafs/{telegraf}"),
        format!("/api/v2/dashboards/{dashboard}"),
    ] {
        srv.call(
            "POST",
            &format!("{resource}/members"),
            t,
            Some(json!({"id": bob})),
        )
        .await
        .status(201);
        srv.call("DELETE", &resource, t, None).await.status(204);
    }
    let dir = srv.stop();
    let data = dir.path().join("data");
    let m = meta::MetaStore::open(data.join("influxd.bolt"), data.join("influxd.sqlite"))
        .expect("open the store");
    let bob = bob.parse::<meta::Id>().expect("id");
    let left = m
        .list_urms(&meta::UrmFilter {
            user_id: Some(bob),
            ..meta::UrmFilter::default()
        })
        .expect("urms");
    assert!(left.is_empty(), "{left:?}");
}
