//! Dashboards over HTTP against the real binary: CRUD, cells (add, replace, move, delete),
//! cell views (get, update), `include=properties`, the 400/401/404/422 answers, permissions of
//! a read-only token, and dashboards surviving a restart and a KV backup/restore.

mod common;

use common::{Resp, TestServer};
use serde_json::{Value, json};

fn xy() -> Value {
    json!({"shape": "chronograf-v2", "type": "xy", "geom": "line", "colors": [],
           "queries": [{"text": "from(bucket: \"b\") |> range(start: -1h)", "editMode": "advanced",
                        "name": "", "builderConfig": {"buckets": [], "tags": [], "functions": []}}],
           "note": "", "showNoteWhenEmpty": false, "position": "overlaid"})
}

#[tokio::test]
async fn dashboard_crud_cells_and_views() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());

    // Create, with one cell.
    let r = srv
        .call(
            "POST",
            "/api/v2/dashboards",
            t,
            Some(
                json!({"orgID": s.org_id, "name": "System", "description": "hosts",
                        "cells": [{"x": 0, "y": 0, "w": 4, "h": 3}]}),
            ),
        )
        .await;
    r.status(201);
    let d = r.json();
    let id = r.str("/id");
    let c0 = r.str("/cells/0/id");
    assert_eq!(d["orgID"], s.org_id);
    assert_eq!(d["name"], "System");
    assert_eq!(d["description"], "hosts");
    assert_eq!(d["labels"], json!([]));
    assert_eq!(
        d["links"],
        json!({"self": format!("/api/v2/dashboards/{id}"),
               "members": format!("/api/v2/dashboards/{id}/members"),
               "owners": format!("/api/v2/dashboards/{id}/owners"),
               "cells": format!("/api/v2/dashboards/{id}/cells"),
               "labels": format!("/api/v2/dashboards/{id}/labels"),
               "org": format!("/api/v2/orgs/{}", s.org_id)})
    );
    assert_eq!(
        d["cells"],
        json!([{"id": c0, "x": 0, "y": 0, "w": 4, "h": 3, "links": {
            "self": format!("/api/v2/dashboards/{id}/cells/{c0}"),
            "view": format!("/api/v2/dashboards/{id}/cells/{c0}/view")}}])
    );
    assert_eq!(d["meta"]["createdAt"], d["meta"]["updatedAt"]);
    let base = format!("/api/v2/dashboards/{id}");

    // The new cell has an empty view.
    let r = srv
        .call("GET", &format!("{base}/cells/{c0}/view"), t, None)
        .await;
    r.status(200);
    assert_eq!(
        r.json(),
        json!({"id": c0, "name": "",
               "links": {"self": format!("/api/v2/dashboards/{id}/cells/{c0}")},
               "properties": {"shape": "empty"}})
    );

    // Add a cell, give it a view.
    let r = srv
        .call(
            "POST",
            &format!("{base}/cells"),
            t,
            Some(json!({"x": 4, "y": 0, "w": 4, "h": 3})),
        )
        .await;
    r.status(201);
    let c1 = r.str("/id");
    assert_eq!(r.json()["w"], 4);
    assert!(r.json().get("properties").is_none(), "{}", r.text);
    let r = srv
        .call(
            "PATCH",
            &format!("{base}/cells/{c1}/view"),
            t,
            Some(json!({"name": "CPU", "properties": xy()})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["name"], "CPU");
    assert_eq!(r.json()["properties"], xy());
    // A rename keeps the properties.
    let r = srv
        .call(
            "PATCH",
            &format!("{base}/cells/{c1}/view"),
            t,
            Some(json!({"name": "cpu"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["properties"], xy());
    // A cell can copy another's view.
    let r = srv
        .call(
            "POST",
            &format!("{base}/cells"),
            t,
            Some(json!({"usingView": c1, "name": "cpu copy", "x": 8, "w": 4, "h": 3})),
        )
        .await;
    r.status(201);
    let c2 = r.str("/id");
    let r = srv
        .call("GET", &format!("{base}/cells/{c2}/view"), t, None)
        .await;
    assert_eq!(r.json()["name"], "cpu copy");
    assert_eq!(r.json()["properties"], xy());

    // include=properties embeds each cell's view.
    let r = srv
        .call("GET", &format!("{base}?include=properties"), t, None)
        .await;
    r.status(200);
    let cells = r.json()["cells"].clone();
    assert_eq!(cells.as_array().unwrap().len(), 3, "{}", r.text);
    assert_eq!(cells[0]["properties"], json!({"shape": "empty"}));
    assert!(cells[0].get("name").is_none());
    assert_eq!(cells[1]["name"], "cpu");
    assert_eq!(cells[1]["properties"], xy());
    assert_eq!(cells[2]["name"], "cpu copy");
    // Without it, cells are only places.
    let r = srv.call("GET", &base, t, None).await;
    r.status(200);
    assert!(r.json()["cells"][1].get("properties").is_none());

    // Move a cell.
    let r = srv
        .call(
            "PATCH",
            &format!("{base}/cells/{c1}"),
            t,
            Some(json!({"y": 3, "h": 6})),
        )
        .await;
    r.status(200);
    assert_eq!(
        (
            r.json()["x"].clone(),
            r.json()["y"].clone(),
            r.json()["h"].clone()
        ),
        (json!(4), json!(3), json!(6))
    );
    srv.call("PATCH", &format!("{base}/cells/{c1}"), t, Some(json!({})))
        .await
        .error(400, "invalid")
        .message("must update at least one attribute");

    // Replace all cells: only existing ones, views kept.
    let r = srv
        .call(
            "PUT",
            &format!("{base}/cells"),
            t,
            Some(json!([{"id": c1, "x": 0, "y": 0, "w": 12, "h": 4},
                        {"id": c2, "x": 0, "y": 4, "w": 12, "h": 4}])),
        )
        .await;
    r.status(201);
    // The answer is the dashboard (as the API contract has it), holding the new cells.
    assert_eq!(r.json()["id"], id);
    assert_eq!(r.json()["links"]["cells"], format!("{base}/cells"));
    assert_eq!(r.json()["cells"][0]["id"], c1);
    assert_eq!(r.json()["cells"][0]["w"], 12);
    assert_eq!(r.json()["cells"][1]["y"], 4);
    srv.call(
        "PUT",
        &format!("{base}/cells"),
        t,
        Some(json!([{"id": "0000000000000abc", "x": 0, "y": 0, "w": 1, "h": 1}])),
    )
    .await
    .error(422, "conflict")
    .message("cannot replace cells that were not already present");
    srv.call(
        "PUT",
        &format!("{base}/cells"),
        t,
        Some(json!([{"x": 0, "y": 0, "w": 1, "h": 1}])),
    )
    .await
    .error(400, "invalid")
    .message("cannot provide empty cell id");
    let r = srv.call("GET", &base, t, None).await;
    let cells: Vec<String> = r.json()["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cells, vec![c1.clone(), c2.clone()]);
    let r = srv
        .call("GET", &format!("{base}/cells/{c1}/view"), t, None)
        .await;
    assert_eq!(r.json()["name"], "cpu");

    // Delete a cell and its view.
    srv.call("DELETE", &format!("{base}/cells/{c2}"), t, None)
        .await
        .status(204);
    srv.call("GET", &format!("{base}/cells/{c2}/view"), t, None)
        .await
        .error(404, "not found")
        .message("view not found");
    srv.call("DELETE", &format!("{base}/cells/{c2}"), t, None)
        .await
        .error(404, "not found")
        .message("cell not found");

    // Update name and description.
    let r = srv
        .call(
            "PATCH",
            &base,
            t,
            Some(json!({"name": "Hosts", "description": ""})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["name"], "Hosts");
    assert_eq!(r.json()["description"], "");
    assert_eq!(r.json()["meta"]["createdAt"], d["meta"]["createdAt"]);
    srv.call("PATCH", &base, t, Some(json!({})))
        .await
        .error(400, "invalid")
        .message("must update at least one attribute");
    // Cells alone are not an update; with a name they replace the cells and their views.
    srv.call("PATCH", &base, t, Some(json!({"cells": []})))
        .await
        .error(400, "invalid")
        .message("must update at least one attribute");
    let r = srv
        .call(
            "PATCH",
            &base,
            t,
            Some(json!({"name": "Hosts", "cells": [
                {"x": 0, "y": 0, "w": 12, "h": 5, "name": "all", "properties": xy()}]})),
        )
        .await;
    r.status(200);
    let cells = r.json()["cells"].clone();
    assert_eq!(cells.as_array().map(Vec::len), Some(1), "{}", r.text);
    let fresh = cells[0]["id"].as_str().unwrap().to_string();
    assert_ne!(fresh, c1);
    srv.call("GET", &format!("{base}/cells/{c1}/view"), t, None)
        .await
        .error(404, "not found");
    let r = srv
        .call("GET", &format!("{base}?include=properties"), t, None)
        .await;
    assert_eq!(r.json()["cells"][0]["name"], "all");
    assert_eq!(r.json()["cells"][0]["properties"], xy());
    assert_eq!(r.json()["cells"][0]["h"], 5);

    // Delete.
    srv.call("DELETE", &base, t, None).await.status(204);
    srv.call("GET", &base, t, None)
        .await
        .error(404, "not found")
        .message("dashboard not found");
    srv.call("DELETE", &base, t, None)
        .await
        .error(404, "not found");
}

#[tokio::test]
async fn list_filters_paging_and_sorting() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let other = srv
        .call("POST", "/api/v2/orgs", t, Some(json!({"name": "other"})))
        .await
        .str("/id");
    let mut made = Vec::new();
    for (org, name) in [
        (&s.org_id, "c"),
        (&s.org_id, "a"),
        (&other, "b"),
        (&s.org_id, "d"),
    ] {
        let r = srv
            .call(
                "POST",
                "/api/v2/dashboards",
                t,
                Some(json!({"orgID": org, "name": name})),
            )
            .await;
        r.status(201);
        made.push(r.str("/id"));
    }
    let mut all = made.clone();
    all.sort();

    let r = srv.call("GET", "/api/v2/dashboards", t, None).await;
    r.status(200);
    assert_eq!(common::ids(&r, "dashboards"), all);
    assert_eq!(
        r.json()["links"]["self"],
        "/api/v2/dashboards?descending=false&limit=20&offset=0"
    );
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/dashboards?orgID={}&sortBy=Name", s.org_id),
            t,
            None,
        )
        .await;
    let names: Vec<Value> = r.json()["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("a"), json!("c"), json!("d")]);
    let r = srv
        .call("GET", "/api/v2/dashboards?org=other", t, None)
        .await;
    assert_eq!(common::ids(&r, "dashboards"), vec![made[2].clone()]);
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/dashboards?id={}&id={}", made[0], made[3]),
            t,
            None,
        )
        .await;
    let mut want = vec![made[0].clone(), made[3].clone()];
    want.sort();
    assert_eq!(common::ids(&r, "dashboards"), want);
    let r = srv
        .call(
            "GET",
            "/api/v2/dashboards?limit=2&offset=1&descending=true",
            t,
            None,
        )
        .await;
    let mut desc = all.clone();
    desc.reverse();
    assert_eq!(common::ids(&r, "dashboards"), desc[1..3].to_vec());
    assert!(r.json()["links"]["next"].is_string(), "{}", r.text);
    assert!(r.json()["links"]["prev"].is_string(), "{}", r.text);

    // sortBy orders the page; the owner filter keeps the dashboards a user owns.
    let r = srv
        .call("GET", "/api/v2/dashboards?sortBy=CreatedAt", t, None)
        .await;
    assert_eq!(common::ids(&r, "dashboards"), made);
    let r = srv
        .call(
            "POST",
            "/api/v2/dashboards",
            t,
            Some(json!({"orgID": s.org_id, "name": "mine", "owner": s.user_id})),
        )
        .await;
    r.status(201);
    let mine = r.str("/id");
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/dashboards?owner={}", s.user_id),
            t,
            None,
        )
        .await;
    assert_eq!(common::ids(&r, "dashboards"), vec![mine]);

    srv.call("GET", "/api/v2/dashboards?orgID=zz", t, None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/dashboards?org=nope", t, None)
        .await
        .error(404, "not found");
    srv.call("GET", "/api/v2/dashboards?limit=0", t, None)
        .await
        .error(400, "invalid");
}

#[tokio::test]
async fn errors_and_permissions() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let r = srv
        .call(
            "POST",
            "/api/v2/dashboards",
            t,
            Some(json!({"orgID": s.org_id, "name": "d", "cells": [{"x": 1, "w": 2, "h": 2}]})),
        )
        .await;
    let id = r.str("/id");
    let cell = r.str("/cells/0/id");
    let base = format!("/api/v2/dashboards/{id}");
    let missing = "/api/v2/dashboards/0000000000000abc";

    // 401 without a token.
    srv.call("GET", "/api/v2/dashboards", None, None)
        .await
        .error(401, "unauthorized");
    srv.call("GET", &base, None, None)
        .await
        .error(401, "unauthorized");

    // 400s.
    srv.call("GET", "/api/v2/dashboards/xyz", t, None)
        .await
        .error(400, "invalid")
        .message("id must have a length of 16 bytes");
    srv.call(
        "POST",
        "/api/v2/dashboards",
        t,
        Some(json!({"name": "no org"})),
    )
    .await
    .error(400, "invalid")
    .message("orgID is required");
    srv.call("POST", &format!("{base}/cells"), t, Some(json!({})))
        .await
        .error(400, "invalid")
        .message("req body is empty");
    srv.call(
        "PATCH",
        &format!("{base}/cells/{cell}/view"),
        t,
        Some(json!({})),
    )
    .await
    .error(400, "invalid")
    .message("expected at least one attribute to be updated");
    srv.call(
        "PATCH",
        &format!("{base}/cells/{cell}/view"),
        t,
        Some(json!({"properties": {"shape": "square"}})),
    )
    .await
    .error(400, "invalid")
    .message("unknown shape square");
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/dashboards")
        .header("Authorization", format!("Token {}", s.token))
        .body("{not json")
        .send()
        .await
        .unwrap();
    Resp::from(r).await.error(400, "invalid");

    // 404s.
    srv.call("GET", missing, t, None)
        .await
        .error(404, "not found")
        .message("dashboard not found");
    srv.call(
        "POST",
        &format!("{missing}/cells"),
        t,
        Some(json!({"x": 1})),
    )
    .await
    .error(404, "not found")
    .message("dashboard not found");
    srv.call(
        "PATCH",
        &format!("{base}/cells/0000000000000abc"),
        t,
        Some(json!({"x": 1})),
    )
    .await
    .error(404, "not found")
    .message("cell not found");
    srv.call(
        "GET",
        &format!("{base}/cells/0000000000000abc/view"),
        t,
        None,
    )
    .await
    .error(404, "not found")
    .message("view not found");
    srv.call(
        "POST",
        "/api/v2/dashboards",
        t,
        Some(json!({"orgID": "0000000000000abc", "name": "x"})),
    )
    .await
    .error(404, "not found");

    // A read-only token reads but does not change; a token without dashboards sees none.
    let reader = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "dashboards", "orgID": s.org_id}}]}),
        )
        .await;
    let rt = Some(reader.as_str());
    srv.call("GET", &base, rt, None).await.status(200);
    srv.call("GET", &format!("{base}/cells/{cell}/view"), rt, None)
        .await
        .status(200);
    let r = srv.call("GET", "/api/v2/dashboards", rt, None).await;
    assert_eq!(common::ids(&r, "dashboards"), vec![id.clone()]);
    srv.call("PATCH", &base, rt, Some(json!({"name": "x"})))
        .await
        .error(401, "unauthorized");
    srv.call("DELETE", &base, rt, None)
        .await
        .error(401, "unauthorized");
    srv.call(
        "POST",
        "/api/v2/dashboards",
        rt,
        Some(json!({"orgID": s.org_id, "name": "x"})),
    )
    .await
    .error(401, "unauthorized");
    srv.call(
        "PATCH",
        &format!("{base}/cells/{cell}/view"),
        rt,
        Some(json!({"name": "x"})),
    )
    .await
    .error(401, "unauthorized");
    // 404 comes before 401.
    srv.call("DELETE", missing, rt, None)
        .await
        .error(404, "not found");
    let stranger = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}}]}),
        )
        .await;
    let r = srv
        .call("GET", "/api/v2/dashboards", Some(stranger.as_str()), None)
        .await;
    r.status(200);
    assert_eq!(common::ids(&r, "dashboards"), Vec::<String>::new());
    srv.call("GET", &base, Some(stranger.as_str()), None)
        .await
        .error(401, "unauthorized");

    // A dashboard's labels answer (the label routes are tested with the other resources').
    let r = srv.call("GET", &format!("{base}/labels"), t, None).await;
    r.status(200);
    assert_eq!(r.json()["labels"], json!([]));
}

#[tokio::test]
async fn dashboards_survive_restart_and_kv_backup_restore() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let r = srv
        .call(
            "POST",
            "/api/v2/dashboards",
            t,
            Some(json!({"orgID": s.org_id, "name": "kept",
                        "cells": [{"x": 0, "y": 0, "w": 6, "h": 4}]})),
        )
        .await;
    r.status(201);
    let id = r.str("/id");
    let cell = r.str("/cells/0/id");
    let base = format!("/api/v2/dashboards/{id}");
    srv.call(
        "PATCH",
        &format!("{base}/cells/{cell}/view"),
        t,
        Some(json!({"name": "CPU", "properties": xy()})),
    )
    .await
    .status(200);
    let path = format!("{base}?include=properties");
    let want = srv.call("GET", &path, t, None).await.json();
    assert_eq!(want["cells"][0]["properties"], xy());

    // Restart on the same data directory.
    let dir = srv.stop();
    let srv = TestServer::start_in(dir, &[]).await;
    let r = srv.call("GET", &path, t, None).await;
    r.status(200);
    assert_eq!(r.json(), want);

    // The KV backup carries the dashboard into another server.
    let kv = srv.backup_kv(&s.token).await;
    let other = TestServer::start().await;
    let o = other.setup().await;
    other.restore_kv(&o.token, kv).await;
    let r = other.call("GET", &path, t, None).await;
    r.status(200);
    assert_eq!(r.json(), want);
    let r = other.call("GET", "/api/v2/dashboards", t, None).await;
    assert_eq!(common::ids(&r, "dashboards"), vec![id]);
}
