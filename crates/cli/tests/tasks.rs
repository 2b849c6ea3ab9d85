//! Tasks against the real binary: a task aggregating a bucket into another with `to()` on a
//! 1 s schedule, its runs and logs, a failing task, inactive and deleted tasks stopping,
//! `to()` in `POST /api/v2/query`, the 400/401/404 answers, and tasks surviving a restart.

mod common;

use std::time::{Duration, Instant};

use common::{Resp, TestServer, points_of};
use serde_json::{Value, json};

const T0: i64 = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z
const SEC: i64 = 1_000_000_000;

const AGG: &str = r#"option task = {name: "downsample", every: 1s}

from(bucket: "bucket")
    |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:10:00Z)
    |> filter(fn: (r) => r._measurement == "cpu")
    |> aggregateWindow(every: 1m, fn: mean)
    |> to(bucket: "ds")"#;

const FAILING: &str = r#"option task = {name: "broken", every: 1s}

from(bucket: "no-such-bucket") |> range(start: -1m) |> to(bucket: "ds")"#;

async fn write(srv: &TestServer, token: &str, bucket: &str, body: String) {
    let r = srv
        .req(
            reqwest::Method::POST,
            &format!("/api/v2/write?org=org&bucket={bucket}"),
        )
        .header("Authorization", format!("Token {token}"))
        .body(body)
        .send()
        .await
        .expect("write");
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
}

async fn create_bucket(srv: &TestServer, token: &str, org_id: &str, name: &str) {
    srv.call(
        "POST",
        "/api/v2/buckets",
        Some(token),
        Some(json!({"orgID": org_id, "name": name, "retentionRules": []})),
    )
    .await
    .status(201);
}

async fn runs(srv: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/tasks/{id}/runs"),
            Some(token),
            None,
        )
        .await;
    r.status(200);
    r.json()["runs"].as_array().cloned().unwrap_or_default()
}

/// Waits (at most 10 s) until the task has a finished run with `status`.
async fn wait_for_run(srv: &TestServer, token: &str, id: &str, status: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rs = runs(srv, token, id).await;
        if rs.iter().any(|r| r["status"] == status) {
            return rs;
        }
        assert!(
            Instant::now() < deadline,
            "no {status} run of {id} within 10 s: {rs:?}\n{}",
            srv.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn finished(rs: &[Value]) -> usize {
    rs.iter()
        .filter(|r| r["status"] == "success" || r["status"] == "failed")
        .count()
}

async fn create_task(srv: &TestServer, token: &str, org_id: &str, flux: &str) -> Resp {
    srv.call(
        "POST",
        "/api/v2/tasks",
        Some(token),
        Some(json!({"orgID": org_id, "flux": flux})),
    )
    .await
}

#[tokio::test]
async fn tasks_run_aggregate_fail_stop_and_survive_restart() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let tok = s.token.as_str();
    create_bucket(&srv, tok, &s.org_id, "ds").await;
    // cpu,host=a usage=i every 10 s for 10 minutes; mem is filtered out by the task.
    let mut lines = String::new();
    for i in 0..60i64 {
        lines.push_str(&format!("cpu,host=a usage={i} {}\n", T0 + i * 10 * SEC));
        lines.push_str(&format!("mem,host=a used={i} {}\n", T0 + i * 10 * SEC));
    }
    write(&srv, tok, "bucket", lines).await;

    // Create: 201 with the options read from the script.
    let r = create_task(&srv, tok, &s.org_id, AGG).await;
    r.status(201);
    let id = r.str("/id");
    let t = r.json();
    assert_eq!(t["name"], "downsample");
    assert_eq!(t["every"], "1s");
    assert_eq!(t["status"], "active");
    assert_eq!(t["orgID"], s.org_id.as_str());
    assert_eq!(t["org"], "org");
    assert_eq!(t["ownerID"], s.user_id.as_str());
    assert_eq!(t["flux"], AGG);
    assert!(t.get("offset").is_none(), "a zero offset is left out: {t}");
    assert!(t.get("type").is_none());
    assert_eq!(t["labels"], json!([]));
    assert_eq!(t["links"]["runs"], format!("/api/v2/tasks/{id}/runs"));

    // Runs appear and succeed; the target holds exactly the per-minute means.
    let rs = wait_for_run(&srv, tok, &id, "success").await;
    let got = points_of(
        &srv.flux(
            tok,
            "org",
            "from(bucket: \"ds\") |> range(start: 2023-01-01T00:00:00Z, stop: 2025-01-01T00:00:00Z)",
        )
        .await,
    );
    let key = (
        "cpu".to_string(),
        vec![("host".to_string(), "a".to_string())],
        "usage".to_string(),
    );
    let want: Vec<(i64, testdata::Value)> = (0..10i64)
        .map(|k| {
            let mean = (6 * k..6 * k + 6).sum::<i64>() as f64 / 6.0;
            (T0 + (k + 1) * 60 * SEC, testdata::Value::Float(mean))
        })
        .collect();
    assert_eq!(got.len(), 1, "only the cpu series: {got:?}");
    assert_eq!(got.get(&key), Some(&want));

    // A successful run: its times, links and log lines, also through the log routes.
    let run = rs.iter().find(|r| r["status"] == "success").unwrap();
    let run_id = run["id"].as_str().unwrap().to_string();
    assert_eq!(run["taskID"], id.as_str());
    for k in ["scheduledFor", "startedAt", "finishedAt"] {
        assert!(
            run[k].as_str().is_some_and(|v| v.ends_with('Z')),
            "{k}: {run}"
        );
    }
    let scheduled = run["scheduledFor"].as_str().unwrap();
    assert!(
        !scheduled.contains('.'),
        "scheduled on a whole second: {scheduled}"
    );
    let log = run["log"].as_array().unwrap();
    assert!(
        log[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Started task from script: \"option task = {name: \\\"downsample\\\""),
        "{log:?}"
    );
    assert_eq!(log.last().unwrap()["message"], "Completed(success)");
    assert_eq!(log[0]["runID"], run_id.as_str());
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/tasks/{id}/runs/{run_id}"),
            Some(tok),
            None,
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["id"], run_id.as_str());
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/tasks/{id}/runs/{run_id}/logs"),
            Some(tok),
            None,
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), log.len());
    let r = srv
        .call("GET", &format!("/api/v2/tasks/{id}/logs"), Some(tok), None)
        .await;
    r.status(200);
    assert!(r.json()["events"].as_array().unwrap().len() >= log.len());
    let r = srv
        .call("GET", &format!("/api/v2/tasks/{id}"), Some(tok), None)
        .await;
    r.status(200);
    assert_eq!(r.json()["lastRunStatus"], "success");
    assert!(r.json()["latestCompleted"].as_str().unwrap() >= scheduled);

    // Retrying a finished run queues a new run for the same time (200); canceling a run that
    // is not running is a 404.
    let r = srv
        .call(
            "POST",
            &format!("/api/v2/tasks/{id}/runs/{run_id}/retry"),
            Some(tok),
            None,
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["status"], "scheduled");
    assert_eq!(r.json()["scheduledFor"], scheduled);
    assert_ne!(r.json()["id"], run_id.as_str());
    assert!(r.json()["requestedAt"].as_str().is_some());
    srv.call(
        "DELETE",
        &format!("/api/v2/tasks/{id}/runs/{run_id}"),
        Some(tok),
        None,
    )
    .await
    .error(404, "not found")
    .message("failed to cancel run: run not found");
    srv.call(
        "POST",
        &format!("/api/v2/tasks/{id}/runs/0000000000000001/retry"),
        Some(tok),
        None,
    )
    .await
    .error(404, "not found")
    .message("failed to retry run: run not found");

    // A manual run is queued (201, status scheduled) and then runs at its scheduledFor.
    let r = srv
        .call(
            "POST",
            &format!("/api/v2/tasks/{id}/runs"),
            Some(tok),
            Some(json!({"scheduledFor": "2024-06-01T00:00:00Z"})),
        )
        .await;
    r.status(201);
    assert_eq!(r.json()["status"], "scheduled");
    assert_eq!(r.json()["scheduledFor"], "2024-06-01T00:00:00Z");
    let manual = r.str("/id");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rs = runs(&srv, tok, &id).await;
        if rs
            .iter()
            .any(|r| r["id"] == manual.as_str() && r["status"] == "success")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "manual run did not finish: {rs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Run list filters: limit, scheduled time bounds, after a run ID.
    let list = |q: &'static str| {
        let (srv, id) = (&srv, id.clone());
        async move {
            let r = srv
                .call(
                    "GET",
                    &format!("/api/v2/tasks/{id}/runs?{q}"),
                    Some(tok),
                    None,
                )
                .await;
            r.status(200);
            r.json()["runs"].as_array().cloned().unwrap_or_default()
        }
    };
    assert_eq!(list("limit=1").await.len(), 1);
    let old = list("beforeTime=2025-01-01T00:00:00Z").await;
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["id"], manual.as_str());
    assert!(list("afterTime=2100-01-01T00:00:00Z").await.is_empty());
    let all = list("").await;
    assert!(all.len() >= 3, "{all:?}");
    let newest_first: Vec<i64> = all.iter().map(scheduled_ns).collect();
    let mut sorted = newest_first.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, sorted, "newest scheduled first");
    srv.call(
        "GET",
        &format!(
            "/api/v2/tasks/{id}/runs?afterTime=2025-01-01T00:00:00Z&beforeTime=2024-01-01T00:00:00Z"
        ),
        Some(tok),
        None,
    )
    .await
    .error(400, "invalid")
    .message("failed to decode request: beforeTime must be later than afterTime");

    // A failing task records failed runs with the error.
    let r = create_task(&srv, tok, &s.org_id, FAILING).await;
    r.status(201);
    let bad = r.str("/id");
    let rs = wait_for_run(&srv, tok, &bad, "failed").await;
    let failed = rs.iter().find(|r| r["status"] == "failed").unwrap();
    let msgs: Vec<&str> = failed["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    // As InfluxDB's executor: the status line, then the error.
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(msgs[1], "Completed(failed)");
    assert!(
        msgs[2].contains("could not find bucket \"no-such-bucket\""),
        "{msgs:?}"
    );
    let r = srv
        .call("GET", &format!("/api/v2/tasks/{bad}"), Some(tok), None)
        .await;
    assert_eq!(r.json()["lastRunStatus"], "failed");
    // InfluxDB's FinishRun keeps the second to last log line of a failed run.
    assert_eq!(r.json()["lastRunError"], "Completed(failed)", "{}", r.text);

    // Inactive: no more runs.
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/tasks/{bad}"),
            Some(tok),
            Some(json!({"status": "inactive"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["status"], "inactive");
    // A run already under way may still finish: wait until none is in progress and the count
    // holds still, then no run follows for more than two periods.
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = loop {
        let a = runs(&srv, tok, &bad).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = runs(&srv, tok, &bad).await;
        if finished(&a) == finished(&b) && b.iter().all(|r| r["status"] != "started") {
            break finished(&b);
        }
        assert!(Instant::now() < deadline, "runs keep coming: {b:?}");
    };
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(finished(&runs(&srv, tok, &bad).await), before);

    // Listing and filters.
    let r = srv
        .call("GET", "/api/v2/tasks?org=org", Some(tok), None)
        .await;
    r.status(200);
    assert_eq!(r.json()["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.json()["links"],
        json!({"self": format!("/api/v2/tasks?limit=100&org=org&orgID={}", s.org_id)})
    );
    let r = srv
        .call("GET", "/api/v2/tasks?limit=1", Some(tok), None)
        .await;
    let first = r.str("/tasks/0/id");
    assert_eq!(
        r.json()["links"],
        json!({"self": "/api/v2/tasks?limit=1",
               "next": format!("/api/v2/tasks?after={first}&limit=1")})
    );
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/tasks?limit=1&after={first}"),
            Some(tok),
            None,
        )
        .await;
    assert_ne!(r.str("/tasks/0/id"), first);
    let r = srv
        .call("GET", "/api/v2/tasks?status=inactive", Some(tok), None)
        .await;
    let list = r.json()["tasks"].as_array().cloned().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], bad.as_str());
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/tasks?user={}", s.user_id),
            Some(tok),
            None,
        )
        .await;
    assert_eq!(r.json()["tasks"].as_array().unwrap().len(), 2);
    let r = srv
        .call(
            "GET",
            "/api/v2/tasks?user=0000000000000001",
            Some(tok),
            None,
        )
        .await;
    assert_eq!(r.json()["tasks"], json!([]));
    let r = srv
        .call(
            "GET",
            "/api/v2/tasks?name=downsample&limit=1",
            Some(tok),
            None,
        )
        .await;
    assert_eq!(r.json()["tasks"][0]["id"], id.as_str());

    // Deleted: gone, with its runs.
    srv.call("DELETE", &format!("/api/v2/tasks/{id}"), Some(tok), None)
        .await
        .status(204);
    srv.call("GET", &format!("/api/v2/tasks/{id}"), Some(tok), None)
        .await
        .error(404, "not found");
    srv.call("GET", &format!("/api/v2/tasks/{id}/runs"), Some(tok), None)
        .await
        .error(404, "not found");

    // A clean shutdown with the scheduler running, then a restart keeps the remaining task,
    // still inactive.
    let mut srv = srv;
    let started = Instant::now();
    let status = srv.terminate();
    assert!(status.success(), "{status:?}\n{}", srv.log());
    assert!(started.elapsed() < Duration::from_secs(10));
    let dir = srv.stop();
    let srv = TestServer::start_in(dir, &[]).await;
    let r = srv.call("GET", "/api/v2/tasks", Some(tok), None).await;
    r.status(200);
    let list = r.json()["tasks"].as_array().cloned().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], bad.as_str());
    assert_eq!(list[0]["status"], "inactive");
    assert_eq!(list[0]["flux"], FAILING);
    assert!(finished(&runs(&srv, tok, &bad).await) >= before);
}

#[tokio::test]
async fn task_errors_and_permissions() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let tok = s.token.as_str();
    // 401 without a token.
    srv.call("GET", "/api/v2/tasks", None, None)
        .await
        .error(401, "unauthorized");
    // 400s.
    create_task(&srv, tok, &s.org_id, "")
        .await
        .error(400, "invalid")
        .message("failed to decode request: missing flux");
    srv.call(
        "POST",
        "/api/v2/tasks",
        Some(tok),
        Some(json!({"flux": AGG})),
    )
    .await
    .error(400, "invalid")
    .message("failed to decode request: missing orgID and org");
    srv.call(
        "POST",
        "/api/v2/tasks",
        Some(tok),
        Some(json!({"flux": AGG, "org": "nobody"})),
    )
    .await
    .error(404, "not found")
    .message("could not identify organization: organization not found");
    create_task(
        &srv,
        tok,
        &s.org_id,
        "from(bucket: \"b\") |> range(start: -1h)",
    )
    .await
    .error(400, "invalid")
    .message("invalid options: no task options defined");
    create_task(
        &srv,
        tok,
        &s.org_id,
        "option task = {name: \"x\", every: 1h, cron: \"* * * * *\"}\n1",
    )
    .await
    .error(400, "invalid")
    .message("invalid options: cannot use both cron and every in task options");
    srv.call("GET", "/api/v2/tasks/nope", Some(tok), None)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/tasks?limit=0", Some(tok), None)
        .await
        .error(400, "invalid")
        .message("failed to decode request: limit must be between 1 and 500");
    // 404s.
    srv.call("GET", "/api/v2/tasks/0000000000000001", Some(tok), None)
        .await
        .error(404, "not found")
        .message("failed to find task: task not found");
    srv.call("DELETE", "/api/v2/tasks/0000000000000001", Some(tok), None)
        .await
        .error(404, "not found")
        .message("failed to delete task: task not found");
    srv.call(
        "PATCH",
        "/api/v2/tasks/0000000000000001",
        Some(tok),
        Some(json!({"status": "active"})),
    )
    .await
    .error(404, "not found")
    .message("failed to update task: task not found");
    srv.call(
        "GET",
        "/api/v2/tasks/0000000000000001/runs",
        Some(tok),
        None,
    )
    .await
    .error(404, "not found")
    .message("failed to find runs: task not found");
    srv.call("GET", "/api/v2/tasks?org=nobody", Some(tok), None)
        .await
        .error(400, "invalid")
        .message(
            "failed to decode request: org nobody not found or unauthorized: org not found or unauthorized",
        );

    let flux = "option task = {name: \"hourly\", cron: \"0 * * * *\", offset: 5m}\nfrom(bucket: \"bucket\") |> range(start: -1h) |> to(bucket: \"bucket\")";
    let r = create_task(&srv, tok, &s.org_id, flux).await;
    r.status(201);
    let id = r.str("/id");
    assert_eq!(r.json()["cron"], "0 * * * *");
    assert_eq!(r.json()["offset"], "5m");
    assert!(r.json().get("every").is_none());
    srv.call(
        "PATCH",
        &format!("/api/v2/tasks/{id}"),
        Some(tok),
        Some(json!({})),
    )
    .await
    .error(400, "invalid")
    .message("failed to decode request: cannot update task without content");
    srv.call(
        "PATCH",
        &format!("/api/v2/tasks/{id}"),
        Some(tok),
        Some(json!({"flux": "from(bucket: \"bucket\") |> range(start: -1h)"})),
    )
    .await
    .error(400, "invalid")
    .message("failed to update task: invalid options: no task options defined");
    srv.call(
        "PATCH",
        &format!("/api/v2/tasks/{id}"),
        Some(tok),
        Some(json!({"status": "paused"})),
    )
    .await
    .error(400, "invalid");
    // Options in the body rewrite the script's option record.
    let r = srv
        .call(
            "PATCH",
            &format!("/api/v2/tasks/{id}"),
            Some(tok),
            Some(json!({"every": "2h", "name": "renamed", "description": "d"})),
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["every"], "2h");
    assert_eq!(r.json()["name"], "renamed");
    assert_eq!(r.json()["description"], "d");
    assert!(r.json().get("cron").is_none());
    let f = r.json()["flux"].as_str().unwrap().to_string();
    assert!(
        f.starts_with("option task = {name: \"renamed\", every: 2h, offset: 5m}\n"),
        "{f}"
    );
    srv.call(
        "GET",
        &format!("/api/v2/tasks/{id}/runs/0000000000000001"),
        Some(tok),
        None,
    )
    .await
    .error(404, "not found")
    .message("failed to find run: run not found");
    srv.call(
        "GET",
        &format!("/api/v2/tasks/{id}/runs?limit=501"),
        Some(tok),
        None,
    )
    .await
    .error(400, "invalid")
    .message("failed to decode request: run limit is out of bounds, must be between 1 and 500");
    // A manual run for a time already queued is a conflict (the task is inactive, so the
    // queue is not drained meanwhile).
    srv.call(
        "PATCH",
        &format!("/api/v2/tasks/{id}"),
        Some(tok),
        Some(json!({"status": "inactive"})),
    )
    .await
    .status(200);
    let at = json!({"scheduledFor": "2024-01-01T00:00:00Z"});
    srv.call(
        "POST",
        &format!("/api/v2/tasks/{id}/runs"),
        Some(tok),
        Some(at.clone()),
    )
    .await
    .status(201);
    srv.call(
        "POST",
        &format!("/api/v2/tasks/{id}/runs"),
        Some(tok),
        Some(at),
    )
    .await
    .error(422, "conflict")
    .message("failed to force run: run already queued");

    // A token that may only read tasks: reads, but cannot create, change or run.
    let reader = srv
        .create_token(
            tok,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "tasks", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}},
            ]}),
        )
        .await;
    let rd = Some(reader.as_str());
    srv.call("GET", &format!("/api/v2/tasks/{id}"), rd, None)
        .await
        .status(200);
    // Without read on tasks: InfluxDB answers 404 naming the missing permission.
    let other = srv
        .create_token(
            tok,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}},
            ]}),
        )
        .await;
    srv.call("GET", &format!("/api/v2/tasks/{id}"), Some(&other), None)
        .await
        .error(404, "not found")
        .message(&format!(
            "failed to find task: read:orgs/{}/tasks/{id} is unauthorized",
            s.org_id
        ));
    assert_eq!(
        srv.call("GET", "/api/v2/tasks", Some(&other), None)
            .await
            .json()["tasks"],
        json!([])
    );
    assert_eq!(
        srv.call("GET", "/api/v2/tasks", rd, None).await.json()["tasks"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    create_task(&srv, &reader, &s.org_id, flux)
        .await
        .error(401, "unauthorized");
    srv.call("DELETE", &format!("/api/v2/tasks/{id}"), rd, None)
        .await
        .error(401, "unauthorized")
        .message(&format!(
            "failed to delete task: write:orgs/{}/tasks/{id} is unauthorized",
            s.org_id
        ));
    srv.call("POST", &format!("/api/v2/tasks/{id}/runs"), rd, None)
        .await
        .error(401, "unauthorized");

    // to() in a query writes (as the caller) and needs write permission on the target.
    write(&srv, tok, "bucket", format!("m,t=x f=1.5 {T0}\n")).await;
    create_bucket(&srv, tok, &s.org_id, "copy").await;
    let q = "from(bucket: \"bucket\") |> range(start: 2023-01-01T00:00:00Z, stop: 2025-01-01T00:00:00Z) |> to(bucket: \"copy\")";
    let got = points_of(&srv.flux(tok, "org", q).await);
    assert_eq!(got.len(), 1, "to() passes its input on: {got:?}");
    let copied = points_of(
        &srv.flux(
            tok,
            "org",
            "from(bucket: \"copy\") |> range(start: 2023-01-01T00:00:00Z, stop: 2025-01-01T00:00:00Z)",
        )
        .await,
    );
    assert_eq!(copied, got);
    srv.flux_raw(&reader, "org", q)
        .await
        .error(403, "forbidden")
        .message("insufficient permissions for write");
}

fn scheduled_ns(run: &Value) -> i64 {
    let t = run["scheduledFor"].as_str().unwrap_or_default();
    query::time::parse_rfc3339(t).unwrap_or_else(|| panic!("scheduledFor {t:?}"))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_restart_resumes_tasks_from_now_without_catching_up() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let tok = s.token.as_str();
    let flux = "option task = {name: \"tick\", every: 1s}\nfrom(bucket: \"bucket\") |> range(start: -task.every)";
    let r = create_task(&srv, tok, &s.org_id, flux).await;
    r.status(201);
    let id = r.str("/id");
    wait_for_run(&srv, tok, &id, "success").await;

    let dir = srv.stop();
    let down = now_ns();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let up = now_ns();
    let srv = TestServer::start_in(dir, &[]).await;
    // Wait for a run scheduled after the restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    let rs = loop {
        let rs = runs(&srv, tok, &id).await;
        if rs
            .iter()
            .any(|r| r["status"] == "success" && scheduled_ns(r) >= up)
        {
            break rs;
        }
        assert!(
            Instant::now() < deadline,
            "no run after the restart: {rs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Nothing was scheduled for the seconds the server was down.
    let gap: Vec<&Value> = rs
        .iter()
        .filter(|r| {
            let t = scheduled_ns(r);
            t > down && t < up
        })
        .collect();
    assert!(gap.is_empty(), "runs caught up over the downtime: {gap:?}");
}

/// The official Python client's tasks API (`influxdb-client`, from `IRONFLUX_PYTHON`).
const PYTHON_TASKS: &str = r#"
import sys, time
from influxdb_client import InfluxDBClient, Organization

url, token, org_id = sys.argv[1:4]
client = InfluxDBClient(url=url, token=token, org="org")
tasks = client.tasks_api()
flux = 'from(bucket: "bucket") |> range(start: -1m) |> to(bucket: "bucket")'
t = tasks.create_task_every("py", flux, "1s", Organization(id=org_id, name="org"))
assert t.name == "py" and t.every == "1s" and t.status == "active", t
assert 'option task = {name: "py", every: 1s}' in t.flux, t.flux
deadline = time.time() + 10
while True:
    runs = tasks.get_runs(t.id)
    if any(r.status == "success" for r in runs):
        break
    assert time.time() < deadline, runs
    time.sleep(0.1)
run = next(r for r in runs if r.status == "success")
assert run.scheduled_for is not None and run.started_at is not None, run
logs = tasks.get_run_logs(t.id, run.id)
assert logs[0].message.startswith("Started task from script:"), logs
assert logs[-1].message == "Completed(success)", logs
assert any(l.message == "Completed(success)" for l in tasks.get_logs(t.id))
assert tasks.get_run(t.id, run.id).id == run.id
t.description = "described"
assert tasks.update_task(t).description == "described"
manual = tasks.run_manually(t.id)
assert manual.status == "scheduled", manual
assert [x.name for x in tasks.find_tasks()] == ["py"]
tasks.delete_task(t.id)
assert tasks.find_tasks() == []
print("tasks.py: all checks passed")
"#;

#[tokio::test]
async fn official_python_client_manages_tasks() {
    let python = std::env::var("IRONFLUX_PYTHON").unwrap_or_else(|_| {
        panic!(
            "IRONFLUX_PYTHON is not set: point it at a Python with `influxdb-client` installed \
             (see crates/cli/tests/python/requirements.txt)"
        )
    });
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let url = srv.url.clone();
    let (token, org_id) = (s.token.clone(), s.org_id.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .args(["-c", PYTHON_TASKS, &url, &token, &org_id])
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .expect("join")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("tasks.py: all checks passed"),
        "stdout:\n{stdout}\nstderr:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.log()
    );
}

#[tokio::test]
async fn tasks_brought_by_a_kv_restore_resume_from_now() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let tok = s.token.as_str();
    let flux = "option task = {name: \"tick\", every: 1s}\nfrom(bucket: \"bucket\") |> range(start: -task.every)";
    let r = create_task(&srv, tok, &s.org_id, flux).await;
    r.status(201);
    let id = r.str("/id");
    wait_for_run(&srv, tok, &id, "success").await;
    let kv = srv.backup_kv(tok).await;
    drop(srv);

    let other = TestServer::start().await;
    let o = other.setup().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let restored = now_ns();
    other.restore_kv(&o.token, kv).await;
    // The restored task runs on the new server, from the restore on: nothing is caught up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = other
            .call("GET", &format!("/api/v2/tasks/{id}/runs"), Some(tok), None)
            .await;
        r.status(200);
        let rs = r.json()["runs"].as_array().cloned().unwrap_or_default();
        if rs.iter().any(|r| r["status"] == "success") {
            let early: Vec<&Value> = rs
                .iter()
                .filter(|r| scheduled_ns(r) < restored - SEC)
                .collect();
            assert!(early.is_empty(), "caught up before the restore: {early:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no run after the restore: {rs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
