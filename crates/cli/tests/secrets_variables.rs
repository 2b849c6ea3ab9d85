//! Org secrets and variables against the real binary: secrets CRUD (keys listed, values never),
//! their permissions, `secrets.get` in `POST /api/v2/query` and in a task run; variables CRUD
//! with each argument type, the duplicate-name conflict, and the 400/401/404 answers.

mod common;

use std::time::{Duration, Instant};

use common::{Resp, TestServer};
use serde_json::{Value, json};

fn secret_keys(r: &Resp) -> Vec<String> {
    r.json()["secrets"]
        .as_array()
        .unwrap_or_else(|| panic!("no secrets in {}", r.text))
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// A token of the set-up org holding exactly `perms` (`[(action, type)]` in that org).
async fn token_with(srv: &TestServer, s: &common::Setup, perms: &[(&str, &str)]) -> String {
    let permissions: Vec<Value> = perms
        .iter()
        .map(|(a, t)| json!({"action": a, "resource": {"type": t, "orgID": s.org_id}}))
        .collect();
    srv.create_token(
        &s.token,
        json!({"orgID": s.org_id, "permissions": permissions}),
    )
    .await
}

#[tokio::test]
async fn secrets_crud_permissions_and_flux() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let base = format!("/api/v2/orgs/{}/secrets", s.org_id);

    let r = srv.call("GET", &base, t, None).await;
    r.status(200);
    assert_eq!(
        r.json(),
        json!({
            "links": {"org": format!("/api/v2/orgs/{}", s.org_id), "self": base},
            "secrets": [],
        })
    );
    srv.call(
        "PATCH",
        &base,
        t,
        Some(json!({"db_pass": "hunter2", "api_key": "k1", "old": "x"})),
    )
    .await
    .status(204);
    // A patch overwrites what it names and keeps the rest.
    srv.call("PATCH", &base, t, Some(json!({"api_key": "k2"})))
        .await
        .status(204);
    let r = srv.call("GET", &base, t, None).await;
    r.status(200);
    assert_eq!(secret_keys(&r), vec!["api_key", "db_pass", "old"]);
    assert!(
        !r.text.contains("hunter2") && !r.text.contains("k2"),
        "{}",
        r.text
    );

    // Deleting one (also one that does not exist) and several.
    srv.call("DELETE", &format!("{base}/old"), t, None)
        .await
        .status(204);
    srv.call("DELETE", &format!("{base}/never-was"), t, None)
        .await
        .status(204);
    srv.call("PATCH", &base, t, Some(json!({"a": "1", "b": null})))
        .await
        .status(204);
    // The values are as patched (null is the empty string).
    let r = srv
        .flux(
            &s.token,
            "org",
            "import \"array\"\nimport \"influxdata/influxdb/secrets\"\n\
             array.from(rows: [{k: secrets.get(key: \"api_key\"), b: secrets.get(key: \"b\") == \"\"}])",
        )
        .await;
    let col = |n: &str| {
        r[0].tables[0]
            .columns
            .iter()
            .find(|c| c.name == n)
            .map(|c| c.values.clone())
    };
    assert_eq!(col("k"), Some(vec![query::Value::String("k2".into())]));
    assert_eq!(col("b"), Some(vec![query::Value::Bool(true)]));
    srv.call(
        "POST",
        &format!("{base}/delete"),
        t,
        Some(json!({"secrets": ["a", "b"]})),
    )
    .await
    .status(204);
    let r = srv.call("GET", &base, t, None).await;
    assert_eq!(secret_keys(&r), vec!["api_key", "db_pass"]);

    // 400: values must be strings, the org ID well formed; 404: unknown org; 401: no token.
    srv.call("PATCH", &base, t, Some(json!({"n": 1})))
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/orgs/nope/secrets", t, None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/orgs/0000000000000001/secrets", t, None)
        .await
        .error(404, "not found")
        .message("organization not found");
    srv.call("GET", &base, None, None)
        .await
        .error(401, "unauthorized");

    // Permissions: read lists but may not change; write changes but may not list.
    let reader = token_with(&srv, &s, &[("read", "secrets")]).await;
    srv.call("GET", &base, Some(&reader), None)
        .await
        .status(200);
    srv.call("PATCH", &base, Some(&reader), Some(json!({"x": "y"})))
        .await
        .error(401, "unauthorized")
        .message(&format!("write:orgs/{}/secrets is unauthorized", s.org_id));
    srv.call("DELETE", &format!("{base}/db_pass"), Some(&reader), None)
        .await
        .error(401, "unauthorized");
    let writer = token_with(&srv, &s, &[("write", "secrets")]).await;
    srv.call("PATCH", &base, Some(&writer), Some(json!({"w": "v"})))
        .await
        .status(204);
    srv.call("GET", &base, Some(&writer), None)
        .await
        .error(401, "unauthorized")
        .message(&format!("read:orgs/{}/secrets is unauthorized", s.org_id));

    // Flux: secrets.get answers the org's secret; a missing key and a caller who may not read
    // secrets fail.
    let script = "import \"array\"\nimport \"influxdata/influxdb/secrets\"\n\
                  array.from(rows: [{v: secrets.get(key: \"db_pass\")}])";
    let res = srv.flux(&s.token, "org", script).await;
    assert_eq!(
        res[0].tables[0]
            .columns
            .iter()
            .find(|c| c.name == "v")
            .map(|c| &c.values),
        Some(&vec![query::Value::String("hunter2".into())])
    );
    let r = srv
        .flux_raw(&s.token, "org", &script.replace("db_pass", "nope"))
        .await;
    r.error(400, "invalid");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("secret not found"),
        "{}",
        r.text
    );
    let no_secrets = token_with(&srv, &s, &[("read", "buckets")]).await;
    srv.flux_raw(&no_secrets, "org", script)
        .await
        .error(403, "forbidden");

    // A task reads the secret as its owner and writes it with to().
    srv.call(
        "POST",
        "/api/v2/buckets",
        t,
        Some(json!({"orgID": s.org_id, "name": "ds", "retentionRules": []})),
    )
    .await
    .status(201);
    let flux = "import \"array\"\nimport \"influxdata/influxdb/secrets\"\n\
                option task = {name: \"sec\", every: 1s}\n\
                array.from(rows: [{_time: 2024-01-01T00:00:00Z, _measurement: \"m\", \
                _field: \"f\", _value: secrets.get(key: \"api_key\")}])\n    |> to(bucket: \"ds\")";
    let r = srv
        .call(
            "POST",
            "/api/v2/tasks",
            t,
            Some(json!({"orgID": s.org_id, "flux": flux})),
        )
        .await;
    r.status(201);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = srv
            .flux(
                &s.token,
                "org",
                "from(bucket: \"ds\") |> range(start: 2023-01-01T00:00:00Z)",
            )
            .await;
        let vals: Vec<query::Value> = res
            .iter()
            .flat_map(|r| &r.tables)
            .flat_map(|t| t.columns.iter().filter(|c| c.name == "_value"))
            .flat_map(|c| c.values.clone())
            .collect();
        if !vals.is_empty() {
            assert_eq!(vals, vec![query::Value::String("k2".into())]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the task wrote nothing in 10 s\n{}",
            srv.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Secrets survive a restart.
    let srv = TestServer::start_in(srv.stop(), &[]).await;
    let r = srv.call("GET", &base, t, None).await;
    assert_eq!(secret_keys(&r), vec!["api_key", "db_pass", "w"]);
    let res = srv.flux(&s.token, "org", script).await;
    assert_eq!(
        res[0].tables[0].columns[0].values,
        vec![query::Value::String("hunter2".into())]
    );
}

async fn create_var(srv: &TestServer, token: &str, body: Value) -> Resp {
    srv.call("POST", "/api/v2/variables", Some(token), Some(body))
        .await
}

fn var_names(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r.json()["variables"]
        .as_array()
        .unwrap_or_else(|| panic!("no variables in {}", r.text))
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn variables_crud_conflicts_and_permissions() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let tok = s.token.as_str();
    let t = Some(tok);

    // One variable of each argument type.
    let r = create_var(
        &srv,
        tok,
        json!({"orgID": s.org_id, "name": "host", "description": "hosts",
               "arguments": {"type": "constant", "values": ["h1", "h2"]},
               "selected": ["h1"]}),
    )
    .await;
    r.status(201);
    let host = r.str("/id");
    let j = r.json();
    assert_eq!(j["orgID"], s.org_id.as_str());
    assert_eq!(j["name"], "host");
    assert_eq!(j["description"], "hosts");
    assert_eq!(j["selected"], json!(["h1"]));
    assert_eq!(
        j["arguments"],
        json!({"type": "constant", "values": ["h1", "h2"]})
    );
    assert_eq!(j["labels"], json!([]));
    assert_eq!(
        j["links"],
        json!({"self": format!("/api/v2/variables/{host}"),
               "labels": format!("/api/v2/variables/{host}/labels"),
               "org": format!("/api/v2/orgs/{}", s.org_id)})
    );
    assert!(
        j["createdAt"].is_string() && j["createdAt"] == j["updatedAt"],
        "{j}"
    );
    let r = create_var(
        &srv,
        tok,
        json!({"orgID": s.org_id, "name": "region",
               "arguments": {"type": "map", "values": {"Europe": "eu", "Asia": "ap"}}}),
    )
    .await;
    r.status(201);
    let region = r.str("/id");
    assert_eq!(r.json()["selected"], Value::Null);
    assert_eq!(
        r.json()["arguments"],
        json!({"type": "map", "values": {"Asia": "ap", "Europe": "eu"}})
    );
    let r = create_var(
        &srv,
        tok,
        json!({"orgID": s.org_id, "name": "buckets",
               "arguments": {"type": "query",
                             "values": {"query": "buckets()", "language": "flux"}}}),
    )
    .await;
    r.status(201);
    let buckets = r.str("/id");

    // Get and list (by orgID, by org name, unfiltered).
    let r = srv
        .call("GET", &format!("/api/v2/variables/{region}"), t, None)
        .await;
    r.status(200);
    assert_eq!(r.json()["arguments"]["values"]["Europe"], "eu");
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/variables?orgID={}", s.org_id),
            t,
            None,
        )
        .await;
    r.status(200);
    assert_eq!(var_names(&r), vec!["buckets", "host", "region"]);
    let r = srv.call("GET", "/api/v2/variables?org=org", t, None).await;
    assert_eq!(var_names(&r), vec!["buckets", "host", "region"]);
    let r = srv.call("GET", "/api/v2/variables", t, None).await;
    r.status(200);
    assert_eq!(var_names(&r), vec!["buckets", "host", "region"]);
    assert_eq!(
        r.json()["links"]["self"],
        "/api/v2/variables?descending=false&limit=20&offset=0"
    );

    // Duplicate names (any case) conflict, on create and on rename.
    create_var(
        &srv,
        tok,
        json!({"orgID": s.org_id, "name": "HOST",
               "arguments": {"type": "constant", "values": []}}),
    )
    .await
    .error(422, "conflict")
    .message(&format!("variable is not unique for key {}host", s.org_id));
    srv.call(
        "PATCH",
        &format!("/api/v2/variables/{buckets}"),
        t,
        Some(json!({"name": "Region"})),
    )
    .await
    .error(422, "conflict");

    // PATCH sets what it carries; PUT replaces everything.
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/variables/{host}"),
            t,
            Some(json!({"selected": ["h2"], "description": "servers"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["selected"], json!(["h2"]));
    assert_eq!(r.json()["description"], "servers");
    assert_eq!(r.json()["name"], "host");
    let r = srv
        .call(
            "PUT",
            &format!("/api/v2/variables/{buckets}"),
            t,
            Some(json!({"orgID": s.org_id, "name": "bucket_names",
                        "arguments": {"type": "constant", "values": ["bucket"]}})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["id"], buckets.as_str());
    assert_eq!(r.json()["name"], "bucket_names");
    assert_eq!(
        r.json()["arguments"],
        json!({"type": "constant", "values": ["bucket"]})
    );

    // 400s: bad arguments, protected or missing name, empty update, bad IDs.
    for (body, msg) in [
        (
            json!({"orgID": s.org_id, "name": "x", "arguments": {"type": "chart", "values": []}}),
            "unknown VariableArguments type chart",
        ),
        (
            json!({"orgID": s.org_id, "name": "x",
                   "arguments": {"type": "constant", "values": [1]}}),
            "expected variable constant value to be string but received float64",
        ),
        (
            json!({"orgID": s.org_id, "name": "x"}),
            "invalid arguments type",
        ),
        (
            json!({"orgID": s.org_id, "name": "",
                   "arguments": {"type": "constant", "values": []}}),
            "missing variable name",
        ),
        (
            json!({"orgID": s.org_id, "name": "and",
                   "arguments": {"type": "constant", "values": []}}),
            "Protected variable name, invalid variable name",
        ),
        (
            json!({"name": "x", "arguments": {"type": "constant", "values": []}}),
            "orgID is required",
        ),
    ] {
        create_var(&srv, tok, body)
            .await
            .error(400, "invalid")
            .message(msg);
    }
    srv.call(
        "PATCH",
        &format!("/api/v2/variables/{host}"),
        t,
        Some(json!({})),
    )
    .await
    .error(400, "invalid")
    .message("no fields supplied in update");
    srv.call("GET", "/api/v2/variables/nope", t, None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/variables?orgID=nope", t, None)
        .await
        .error(400, "invalid");

    // 404s: unknown variable (every method), unknown org.
    let missing = "/api/v2/variables/0000000000000001";
    for m in ["GET", "DELETE"] {
        srv.call(m, missing, t, None)
            .await
            .error(404, "not found")
            .message("variable not found");
    }
    srv.call("PATCH", missing, t, Some(json!({"name": "y"})))
        .await
        .error(404, "not found");
    srv.call(
        "PUT",
        missing,
        t,
        Some(json!({"orgID": s.org_id, "name": "y",
                    "arguments": {"type": "constant", "values": []}})),
    )
    .await
    .error(404, "not found");
    create_var(
        &srv,
        tok,
        json!({"orgID": "0000000000000001", "name": "y",
               "arguments": {"type": "constant", "values": []}}),
    )
    .await
    .error(404, "not found")
    .message("organization not found");
    srv.call("GET", "/api/v2/variables?org=nope", t, None)
        .await
        .error(404, "not found");

    // 401s: no token; a read-only token lists and reads but may not create, change or delete.
    srv.call("GET", "/api/v2/variables", None, None)
        .await
        .error(401, "unauthorized");
    let reader = token_with(&srv, &s, &[("read", "variables")]).await;
    let r = srv
        .call("GET", "/api/v2/variables", Some(&reader), None)
        .await;
    assert_eq!(var_names(&r), vec!["bucket_names", "host", "region"]);
    create_var(
        &srv,
        &reader,
        json!({"orgID": s.org_id, "name": "z",
               "arguments": {"type": "constant", "values": []}}),
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "write:orgs/{}/variables is unauthorized",
        s.org_id
    ));
    srv.call(
        "DELETE",
        &format!("/api/v2/variables/{host}"),
        Some(&reader),
        None,
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "write:orgs/{}/variables/{host} is unauthorized",
        s.org_id
    ));
    let nobody = token_with(&srv, &s, &[("read", "buckets")]).await;
    let r = srv
        .call("GET", "/api/v2/variables", Some(&nobody), None)
        .await;
    r.status(200);
    assert_eq!(var_names(&r), Vec::<String>::new());
    srv.call(
        "GET",
        &format!("/api/v2/variables/{host}"),
        Some(&nobody),
        None,
    )
    .await
    .error(401, "unauthorized");

    // Delete: 204, then gone; the name is free again; the labels route answers.
    srv.call("DELETE", &format!("/api/v2/variables/{host}"), t, None)
        .await
        .status(204);
    srv.call("GET", &format!("/api/v2/variables/{host}"), t, None)
        .await
        .error(404, "not found");
    create_var(
        &srv,
        tok,
        json!({"orgID": s.org_id, "name": "Host",
               "arguments": {"type": "constant", "values": []}}),
    )
    .await
    .status(201);
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/variables/{region}/labels"),
            t,
            None,
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["labels"], json!([]));

    // Variables survive a restart.
    let srv = TestServer::start_in(srv.stop(), &[]).await;
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/variables?orgID={}", s.org_id),
            t,
            None,
        )
        .await;
    assert_eq!(var_names(&r), vec!["Host", "bucket_names", "region"]);
    let r = srv
        .call("GET", &format!("/api/v2/variables/{region}"), t, None)
        .await;
    r.status(200);
    assert_eq!(
        r.json()["arguments"],
        json!({"type": "map", "values": {"Asia": "ap", "Europe": "eu"}})
    );
}
