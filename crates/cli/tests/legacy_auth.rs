//! Legacy (1.x) usernames and passwords against the real binary: `ironflux v1 auth` makes,
//! lists, disables, re-enables, re-passwords and deletes them; 1.x clients then write and query
//! with `u`/`p` and basic auth within the authorization's buckets and are refused as InfluxDB
//! refuses them (401 `Unauthorized` for a wrong password, an inactive or deleted one; 403 for a
//! bucket it may not write); a 2.x token as the password keeps working. The
//! `/private/legacy/authorizations` routes answer InfluxDB's JSON, errors and permission checks.

mod common;

use std::process::{Command, Output, Stdio};

use common::{BIN, Resp, Setup, TestServer};
use serde_json::{Value, json};

fn ironflux(srv: &TestServer, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--host", &srv.url, "--token", token])
        .env_remove("INFLUX_HOST")
        .env_remove("INFLUX_TOKEN")
        .env_remove("INFLUX_ORG")
        .env_remove("INFLUX_ORG_ID")
        .stdin(Stdio::null())
        .output()
        .expect("run ironflux")
}

#[track_caller]
fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[track_caller]
fn failed(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Query-string escaping of a value.
fn esc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /write?db=<db>&u=..&p=..` (`user` given) or with basic auth (`basic`).
async fn write(srv: &TestServer, db: &str, user: &str, pw: &str, basic: bool, line: &str) -> Resp {
    let rb = if basic {
        srv.req(reqwest::Method::POST, &format!("/write?db={db}"))
            .basic_auth(user, Some(pw))
    } else {
        srv.req(
            reqwest::Method::POST,
            &format!("/write?db={db}&u={}&p={}", esc(user), esc(pw)),
        )
    };
    Resp::from(rb.body(line.to_string()).send().await.expect("write")).await
}

async fn query(srv: &TestServer, db: &str, user: &str, pw: &str, q: &str) -> Resp {
    let r = srv
        .req(reqwest::Method::GET, "/query")
        .query(&[("db", db), ("u", user), ("p", pw), ("q", q)])
        .send()
        .await
        .expect("query");
    Resp::from(r).await
}

#[track_caller]
fn unauthorized(r: &Resp) {
    r.error(401, "unauthorized").message("Unauthorized");
}

async fn other_bucket(srv: &TestServer, s: &Setup) -> String {
    let r = srv
        .call(
            "POST",
            "/api/v2/buckets",
            Some(&s.token),
            Some(json!({"orgID": s.org_id, "name": "other"})),
        )
        .await;
    r.status(201);
    r.str("/id")
}

#[tokio::test]
async fn v1_auth_cli_and_1x_clients() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let other = other_bucket(&srv, &s).await;
    let b = s.bucket_id.as_str();

    // Create: read and write the setup bucket; the password is set in the same command.
    let created = ok_json(&ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org",
            "org",
            "--username",
            "grafana",
            "--password",
            "grafana-pw",
            "--read-bucket",
            b,
            "--write-bucket",
            b,
            "-d",
            "dashboards",
            "--json",
        ],
    ));
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(
        created,
        json!({
            "id": id, "description": "dashboards", "token": "grafana", "status": "active",
            "userName": "admin", "userID": s.user_id,
            "permissions": [
                format!("read:orgs/{}/buckets/{b}", s.org_id),
                format!("write:orgs/{}/buckets/{b}", s.org_id),
            ],
        })
    );
    // The username is taken; a bucket name is not an ID; no password without a terminal.
    let dup = ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org-id",
            &s.org_id,
            "--username",
            "grafana",
            "--password",
            "x-password",
        ],
    );
    assert!(failed(&dup).contains("already exists"));
    let by_name = ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org",
            "org",
            "--username",
            "n",
            "--password",
            "x-password",
            "--read-bucket",
            "bucket",
        ],
    );
    assert!(failed(&by_name).contains("did you pass a bucket name instead of an ID?"));
    let no_pw = ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org",
            "org",
            "--username",
            "n",
            "--write-bucket",
            b,
        ],
    );
    assert!(failed(&no_pw).contains("password is required"));
    let short = ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org",
            "org",
            "--username",
            "n",
            "--password",
            "short",
            "--write-bucket",
            b,
        ],
    );
    assert!(failed(&short).contains("passwords must be at least 8 characters long"));
    // ... and the refused password left no authorization behind.
    let listed = ok_json(&ironflux(&srv, &s.token, &["v1", "auth", "list", "--json"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    // 1.x writes and queries with u/p and basic auth.
    write(&srv, "bucket", "grafana", "grafana-pw", false, "m v=1 1")
        .await
        .status(204);
    write(&srv, "bucket", "grafana", "grafana-pw", true, "m v=2 2")
        .await
        .status(204);
    let r = query(&srv, "bucket", "grafana", "grafana-pw", "SELECT v FROM m").await;
    r.status(200);
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([
            ["1970-01-01T00:00:00.000000001Z", 1],
            ["1970-01-01T00:00:00.000000002Z", 2]
        ]),
        "{}",
        r.text
    );
    // Refused: a wrong password (either form), a bucket it may not write, the password as a
    // token (`Token` takes 2.x tokens only).
    unauthorized(
        &write(
            &srv,
            "bucket",
            "grafana",
            "wrong-password",
            false,
            "m v=3 3",
        )
        .await,
    );
    unauthorized(&write(&srv, "bucket", "grafana", "wrong-password", true, "m v=3 3").await);
    unauthorized(
        &query(
            &srv,
            "bucket",
            "grafana",
            "wrong-password",
            "SELECT v FROM m",
        )
        .await,
    );
    write(&srv, "other", "grafana", "grafana-pw", false, "m v=3 3")
        .await
        .error(403, "forbidden")
        .message("insufficient permissions for write");
    let r = srv
        .req(reqwest::Method::POST, "/write?db=bucket")
        .header("Authorization", "Token grafana:grafana-pw")
        .body("m v=3 3")
        .send()
        .await
        .expect("write");
    unauthorized(&Resp::from(r).await);
    // A 2.x token as the password, whatever the username, still works.
    for user in ["admin", "anyone"] {
        write(&srv, "other", user, &s.token, false, "m v=4 4")
            .await
            .status(204);
        write(&srv, "other", user, &s.token, true, "m v=5 5")
            .await
            .status(204);
    }

    // Inactive: refused; active again: accepted.
    let off = ok_json(&ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "set-inactive",
            "--username",
            "grafana",
            "--json",
        ],
    ));
    assert_eq!(off["status"], "inactive");
    unauthorized(&write(&srv, "bucket", "grafana", "grafana-pw", false, "m v=6 6").await);
    unauthorized(&write(&srv, "bucket", "grafana", "grafana-pw", true, "m v=6 6").await);
    let on = ok_json(&ironflux(
        &srv,
        &s.token,
        &["v1", "auth", "set-active", "--id", &id, "--json"],
    ));
    assert_eq!(on["status"], "active");
    write(&srv, "bucket", "grafana", "grafana-pw", false, "m v=7 7")
        .await
        .status(204);

    // A new password replaces the old one (the old one was remembered as matching).
    let set = ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "set-password",
            "--username",
            "grafana",
            "--password",
            "second-pw",
        ],
    );
    ok_or_panic(&set);
    unauthorized(&write(&srv, "bucket", "grafana", "grafana-pw", false, "m v=8 8").await);
    write(&srv, "bucket", "grafana", "second-pw", true, "m v=9 9")
        .await
        .status(204);

    // Without a password one cannot log in, until set-password.
    ok_json(&ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org",
            "org",
            "--username",
            "telegraf",
            "--no-password",
            "--write-bucket",
            &other,
            "--json",
        ],
    ));
    unauthorized(
        &write(
            &srv,
            "other",
            "telegraf",
            "anything-at-all",
            false,
            "m v=1 1",
        )
        .await,
    );
    ok_or_panic(&ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "set-password",
            "--username",
            "telegraf",
            "--password",
            "telegraf-pw",
        ],
    ));
    write(&srv, "other", "telegraf", "telegraf-pw", false, "m v=1 1")
        .await
        .status(204);

    // Write-only: the query route does not read the bucket for it.
    let r = query(&srv, "other", "telegraf", "telegraf-pw", "SELECT v FROM m").await;
    let res = &r.json()["results"][0];
    assert!(
        res.get("series").is_none() && res["error"].is_string(),
        "{}",
        r.text
    );

    // List, with filters; the table names the columns influx prints.
    let all = ok_json(&ironflux(&srv, &s.token, &["v1", "auth", "list", "--json"]));
    let names: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["token"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"grafana") && names.contains(&"telegraf"));
    let one = ok_json(&ironflux(
        &srv,
        &s.token,
        &["v1", "auth", "list", "--username", "telegraf", "--json"],
    ));
    assert_eq!(
        one[0]["permissions"],
        json!([format!("write:orgs/{}/buckets/{other}", s.org_id)])
    );
    let by_id = ok_json(&ironflux(
        &srv,
        &s.token,
        &["v1", "auth", "list", "--id", &id, "--json"],
    ));
    assert_eq!(by_id.as_array().map(Vec::len), Some(1));
    assert_eq!(by_id[0]["token"], "grafana");
    let table = ironflux(&srv, &s.token, &["v1", "auth", "list", "--user", "admin"]);
    let text = String::from_utf8_lossy(&table.stdout).into_owned();
    let header: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split('\t')
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "ID",
            "Description",
            "Username",
            "v2 User Name",
            "v2 User ID",
            "Permissions"
        ]
    );
    assert_eq!(text.lines().count(), 3, "{text}");

    // Delete: the username is gone, and its password is no token either.
    let gone = ironflux(
        &srv,
        &s.token,
        &["v1", "auth", "delete", "--username", "grafana"],
    );
    let text = String::from_utf8_lossy(&gone.stdout).into_owned();
    assert!(
        gone.status.success() && text.contains("Deleted") && text.contains("grafana"),
        "{text}"
    );
    unauthorized(&write(&srv, "bucket", "grafana", "second-pw", false, "m v=10 10").await);
    let missing = ironflux(
        &srv,
        &s.token,
        &["v1", "auth", "delete", "--username", "grafana"],
    );
    assert!(failed(&missing).contains("could not find v1 auth"));
    let neither = ironflux(&srv, &s.token, &["v1", "auth", "set-active"]);
    assert!(failed(&neither).contains("id or username required"));

    // What was written, and only that.
    let pts = srv.bucket_points(&s.token, "org", "bucket").await;
    let vals: Vec<String> = pts
        .values()
        .flatten()
        .map(|(_, v)| format!("{v:?}"))
        .collect();
    assert_eq!(vals.len(), 4, "{vals:?}");
}

#[track_caller]
fn ok_or_panic(o: &Output) {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test]
async fn legacy_routes_as_influxdb() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let other = other_bucket(&srv, &s).await;
    let t = Some(s.token.as_str());
    let perm = |action: &str, bucket: &str| json!({"action": action, "resource": {"type": "buckets", "id": bucket, "orgID": s.org_id}});
    let body = json!({
        "token": "reader", "orgID": s.org_id, "description": "read only",
        "permissions": [perm("read", &s.bucket_id)],
    });
    let r = srv
        .call(
            "POST",
            "/private/legacy/authorizations",
            t,
            Some(body.clone()),
        )
        .await;
    r.status(201);
    let id = r.str("/id");
    let v = r.json();
    assert_eq!(v["token"], "reader");
    assert_eq!(v["status"], "active");
    assert_eq!(v["description"], "read only");
    assert_eq!(v["orgID"], s.org_id);
    assert_eq!(v["org"], "org");
    assert_eq!(v["userID"], s.user_id);
    assert_eq!(v["user"], "admin");
    assert_eq!(
        v["links"],
        json!({"self": format!("/private/legacy/authorizations/{id}"),
               "user": format!("/api/v2/users/{}", s.user_id)})
    );
    assert_eq!(
        v["permissions"],
        json!([{"action": "read", "resource": {"type": "buckets", "id": s.bucket_id,
            "name": "bucket", "orgID": s.org_id, "org": "org"}}])
    );
    assert!(v["createdAt"].is_string() && v["updatedAt"].is_string());
    // A legacy authorization is no 2.x token.
    srv.call("GET", "/api/v2/me", Some("reader"), None)
        .await
        .error(401, "unauthorized");

    // Creation errors in InfluxDB's order and words.
    let post = |b: Value| srv.call("POST", "/private/legacy/authorizations", t, Some(b));
    post(json!({"token": "x", "orgID": s.org_id}))
        .await
        .error(400, "invalid")
        .message("authorization must include permissions");
    post(json!({"token": "x", "permissions": [perm("read", &s.bucket_id)]}))
        .await
        .error(400, "invalid")
        .message("org id required");
    post(json!({"orgID": s.org_id, "permissions": [perm("read", &s.bucket_id)]}))
        .await
        .error(400, "invalid")
        .message("token required for v1 user authorization type");
    post(json!({"token": "x", "orgID": s.org_id, "status": "paused", "permissions": [perm("read", &s.bucket_id)]}))
        .await
        .error(400, "invalid");
    post(body.clone())
        .await
        .error(422, "conflict")
        .message("token already exists");

    // Passwords.
    let pw = |id: &str, p: &str| {
        let path = format!("/private/legacy/authorizations/{id}/password");
        let body = json!({"password": p});
        let srv = &srv;
        async move { srv.call("POST", &path, t, Some(body)).await }
    };
    pw(&id, "short")
        .await
        .error(400, "invalid")
        .message("passwords must be at least 8 characters long");
    pw("0000000000000fff", "long enough")
        .await
        .error(404, "not found")
        .message("authorization not found");
    pw(&id, "reader-pw").await.status(204);
    // Reads only.
    let r = srv
        .req(reqwest::Method::GET, "/query")
        .basic_auth("reader", Some("reader-pw"))
        .query(&[("db", "bucket"), ("q", "SHOW DATABASES")])
        .send()
        .await
        .expect("query");
    let r = Resp::from(r).await;
    r.status(200);
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([["bucket"]]),
        "{}",
        r.text
    );
    write(&srv, "bucket", "reader", "reader-pw", false, "m v=1 1")
        .await
        .error(403, "forbidden");

    // A user's authorization stops working when the user is made inactive.
    let eve = srv
        .call("POST", "/api/v2/users", t, Some(json!({"name": "eve"})))
        .await;
    eve.status(201);
    let eve_id = eve.str("/id");
    let r = post(
        json!({"token": "eve-1x", "orgID": s.org_id, "userID": eve_id,
        "permissions": [perm("write", &other)]}),
    )
    .await;
    r.status(201);
    assert_eq!(r.json()["user"], "eve");
    pw(&r.str("/id"), "eve-password").await.status(204);
    write(&srv, "other", "eve-1x", "eve-password", false, "m v=1 1")
        .await
        .status(204);
    srv.call(
        "PATCH",
        &format!("/api/v2/users/{eve_id}"),
        t,
        Some(json!({"status": "inactive"})),
    )
    .await
    .status(200);
    unauthorized(&write(&srv, "other", "eve-1x", "eve-password", true, "m v=2 2").await);

    // List and filters; a missing username or ID is 404, as in InfluxDB.
    let list = |q: &str| {
        let path = format!("/private/legacy/authorizations{q}");
        let srv = &srv;
        async move { srv.call("GET", &path, t, None).await }
    };
    let all = list("").await;
    all.status(200);
    assert_eq!(
        all.json()["links"],
        json!({"self": "/private/legacy/authorizations"})
    );
    assert_eq!(
        all.json()["authorizations"].as_array().map(Vec::len),
        Some(2)
    );
    let r = list("?token=eve-1x").await;
    assert_eq!(r.json()["authorizations"][0]["user"], "eve");
    let r = list(&format!("?userID={}", s.user_id)).await;
    assert_eq!(r.json()["authorizations"].as_array().map(Vec::len), Some(1));
    let r = list("?user=eve").await;
    assert_eq!(r.json()["authorizations"][0]["token"], "eve-1x");
    let r = list(&format!("?authID={id}")).await;
    assert_eq!(r.json()["authorizations"][0]["token"], "reader");
    let r = list("?org=org").await;
    assert_eq!(r.json()["authorizations"].as_array().map(Vec::len), Some(2));
    list("?token=nobody").await.error(404, "not found");
    list("?org=nowhere").await.error(404, "not found");

    // Permission checks: a token that may only read buckets sees none and may create none.
    let ro = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [perm("read", &s.bucket_id)]}),
        )
        .await;
    let r = srv
        .call("GET", "/private/legacy/authorizations", Some(&ro), None)
        .await;
    r.status(200);
    assert_eq!(r.json()["authorizations"], json!([]));
    srv.call(
        "GET",
        &format!("/private/legacy/authorizations/{id}"),
        Some(&ro),
        None,
    )
    .await
    .error(401, "unauthorized");
    srv.call(
        "POST",
        "/private/legacy/authorizations",
        Some(&ro),
        Some(json!({"token": "y", "orgID": s.org_id, "permissions": [perm("read", &s.bucket_id)]})),
    )
    .await
    .error(401, "unauthorized")
    .message(&format!(
        "write:orgs/{}/authorizations is unauthorized",
        s.org_id
    ));
    srv.call(
        "POST",
        &format!("/private/legacy/authorizations/{id}/password"),
        Some(&ro),
        Some(json!({"password": "long enough"})),
    )
    .await
    .error(401, "unauthorized")
    .message(&format!("write:users/{} is unauthorized", s.user_id));
    srv.call("GET", "/private/legacy/authorizations", None, None)
        .await
        .error(401, "unauthorized");

    // Update and delete.
    let path = format!("/private/legacy/authorizations/{id}");
    let r = srv
        .call("PATCH", &path, t, Some(json!({"description": "renamed"})))
        .await;
    r.status(200);
    assert_eq!(r.json()["description"], "renamed");
    assert_eq!(r.json()["status"], "active");
    srv.call("PATCH", &path, t, Some(json!({"status": "paused"})))
        .await
        .error(400, "invalid");
    let r = srv.call("GET", &path, t, None).await;
    assert_eq!(r.json()["description"], "renamed");
    srv.call("DELETE", &path, t, None).await.status(204);
    srv.call("GET", &path, t, None)
        .await
        .error(404, "not found")
        .message("authorization not found");
    srv.call("DELETE", &path, t, None)
        .await
        .error(404, "not found");
}

/// InfluxDB's 1.x Python client (`influxdb`, basic auth) with a legacy username and password.
const PYTHON_1X_CLIENT: &str = r#"
import sys
from urllib.parse import urlparse

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

url, user, password, db = sys.argv[1:5]
u = urlparse(url)


def client(pw):
    return InfluxDBClient(host=u.hostname, port=u.port, username=user, password=pw, database=db)


point = [{"measurement": "py", "tags": {"host": "a"}, "time": 1700000000, "fields": {"v": 1.5}}]
c = client(password)
assert c.write_points(point, time_precision="s")
got = list(c.query("SELECT v FROM py", epoch="s").get_points(measurement="py"))
assert got == [{"time": 1700000000, "v": 1.5}], got
try:
    client("wrong-password").write_points(point, time_precision="s")
    raise AssertionError("a wrong password was accepted")
except InfluxDBClientError as e:
    assert e.code == 401, e.code
print("1.x client: all checks passed")
"#;

#[tokio::test]
async fn python_1x_client_with_a_legacy_login() {
    let python = std::env::var("IRONFLUX_PYTHON").unwrap_or_else(|_| {
        panic!(
            "IRONFLUX_PYTHON is not set: point it at a Python with the packages of \
             crates/cli/tests/python/requirements.txt (the 1.x `influxdb` client among them)"
        )
    });
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    ok_json(&ironflux(
        &srv,
        &s.token,
        &[
            "v1",
            "auth",
            "create",
            "--org",
            "org",
            "--username",
            "py-user",
            "--password",
            "py-password",
            "--read-bucket",
            &s.bucket_id,
            "--write-bucket",
            &s.bucket_id,
            "--json",
        ],
    ));
    let out = Command::new(&python)
        .args([
            "-c",
            PYTHON_1X_CLIENT,
            &srv.url,
            "py-user",
            "py-password",
            "bucket",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1.x client: all checks passed"),
        "stdout:\n{stdout}\nstderr:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.log()
    );
}
