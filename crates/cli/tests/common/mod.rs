//! `TestServer`: the real `ironflux` binary serving on 127.0.0.1:0 with a temporary data
//! directory, killed on drop; plus small HTTP helpers for the API tests, and Flux reads of a
//! bucket's points in the ground truth's form ([`Points`]).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_ironflux");

/// A Flux range wide enough for the ground truth's pre-1970 point and every other one.
pub const WIDE_RANGE: &str = "range(start: 1960-01-01T00:00:00Z, stop: 2030-01-01T00:00:00Z)";

/// Points by series, in the form of [`testdata::series`].
pub type Points = BTreeMap<testdata::SeriesKey, Vec<(i64, testdata::Value)>>;

/// The points of raw-read Flux results (tables of `_time` and `_value` with the series' tags
/// in the group key). An empty string and a null are the same cell in annotated CSV: a null
/// reads as an empty string.
pub fn points_of(results: &[query::ResultSet]) -> Points {
    use query::Value as Q;
    use testdata::Value as V;
    let mut got = Points::new();
    for t in results.iter().flat_map(|r| &r.tables) {
        let key = |name: &str| {
            t.key
                .get(name)
                .and_then(Q::as_str)
                .unwrap_or_else(|| panic!("group key lacks {name}"))
                .to_string()
        };
        let mut tags: Vec<(String, String)> = t
            .key
            .columns
            .iter()
            .filter(|k| !k.name.starts_with('_'))
            .filter_map(|k| k.value.as_str().map(|v| (k.name.clone(), v.to_string())))
            .collect();
        tags.sort();
        let pts = got
            .entry((key("_measurement"), tags, key("_field")))
            .or_default();
        let times = &t.column("_time").expect("_time").values;
        let vals = &t.column("_value").expect("_value").values;
        for (tv, v) in times.iter().zip(vals) {
            let Q::Time(tm) = tv else {
                panic!("time {tv:?}")
            };
            let v = match v {
                Q::Float(x) => V::Float(*x),
                Q::Int(x) => V::Integer(*x),
                Q::UInt(x) => V::Unsigned(*x),
                Q::String(x) => V::String(x.clone()),
                Q::Bool(x) => V::Boolean(*x),
                Q::Null => V::String(String::new()),
                other => panic!("value {other:?}"),
            };
            pts.push((*tm, v));
        }
    }
    got
}

pub struct TestServer {
    child: Child,
    pub addr: String,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl TestServer {
    /// Starts `ironflux serve` and waits until `/health` answers.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, &[]).await
    }

    /// Starts the server on an existing data directory with extra flags.
    pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestServer {
        let listener_file = dir.path().join("listener");
        let _ = std::fs::remove_file(&listener_file);
        let data = dir.path().join("data");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(BIN)
            .arg("serve")
            .args(["--http-bind-address", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--listener-file")
            .arg(&listener_file)
            .args(["--log-level", "debug"])
            .args(extra)
            .env_remove("INFLUXD_BOLT_PATH")
            .env_remove("INFLUXD_SQLITE_PATH")
            .env_remove("INFLUXD_ENGINE_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ironflux serve");
        let mut srv = TestServer {
            child,
            addr: String::new(),
            url: String::new(),
            dir,
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(a) = std::fs::read_to_string(&listener_file)
                && !a.is_empty()
            {
                srv.addr = a.trim().to_string();
                break;
            }
            if let Ok(Some(st)) = srv.child.try_wait() {
                panic!("server exited early ({st}); log:\n{}", srv.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start; log:\n{}",
                srv.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        srv.url = format!("http://{}", srv.addr);
        loop {
            if let Ok(r) = srv.client.get(format!("{}/health", srv.url)).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "no /health; log:\n{}", srv.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        srv
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the server has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and hands back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{}", self.url, path))
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.req(m, path);
        if let Some(t) = token {
            rb = rb.header("Authorization", format!("Token {t}"));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Resp::from(rb.send().await.expect("request")).await
    }

    /// Creates a token with `operator`'s rights (`POST /api/v2/authorizations`, `body` naming
    /// `orgID` and `permissions`) and returns it.
    pub async fn create_token(&self, operator: &str, body: Value) -> String {
        let r = self
            .call("POST", "/api/v2/authorizations", Some(operator), Some(body))
            .await;
        r.status(201);
        r.str("/token")
    }

    /// Maps 1.x database `db` (retention policy `autogen`, the default) to `bucket_id` of the
    /// set-up org (`POST /api/v2/dbrps`).
    pub async fn create_dbrp(&self, s: &Setup, db: &str, bucket_id: &str) {
        self.call(
            "POST",
            "/api/v2/dbrps",
            Some(&s.token),
            Some(
                json!({"orgID": s.org_id, "bucketID": bucket_id, "database": db,
                        "retention_policy": "autogen", "default": true}),
            ),
        )
        .await
        .status(201);
    }

    /// The server's KV store, as `GET /api/v2/backup/kv` answers it (must succeed).
    pub async fn backup_kv(&self, token: &str) -> Vec<u8> {
        let r = self
            .req(reqwest::Method::GET, "/api/v2/backup/kv")
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .expect("backup request");
        assert_eq!(r.status(), 200, "GET /api/v2/backup/kv");
        r.bytes().await.expect("backup body").to_vec()
    }

    /// Replaces the server's KV store with `kv` (`POST /api/v2/restore/kv`, must succeed).
    pub async fn restore_kv(&self, token: &str, kv: Vec<u8>) {
        let r = self
            .req(reqwest::Method::POST, "/api/v2/restore/kv")
            .header("Authorization", format!("Token {token}"))
            .header("Content-Type", "application/octet-stream")
            .body(kv)
            .send()
            .await
            .expect("restore request");
        Resp::from(r).await.status(200);
    }

    /// Runs a Flux script (`POST /api/v2/query`) with every annotation; the raw answer.
    pub async fn flux_raw(&self, token: &str, org: &str, script: &str) -> Resp {
        let body = json!({
            "query": script,
            "type": "flux",
            "dialect": {"annotations": ["datatype", "group", "default"]},
        });
        let rb = self
            .req(reqwest::Method::POST, &format!("/api/v2/query?org={org}"))
            .header("Authorization", format!("Token {token}"))
            .json(&body);
        Resp::from(rb.send().await.expect("query request")).await
    }

    /// Runs a Flux script that must succeed and decodes its annotated CSV.
    pub async fn flux(&self, token: &str, org: &str, script: &str) -> Vec<query::ResultSet> {
        let r = self.flux_raw(token, org, script).await;
        r.status(200);
        assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
        query::csv::decode(&r.text).unwrap_or_else(|e| panic!("decode: {e:?}\n{}", r.text))
    }

    /// Every point of a bucket as Flux reads it, from 1960 to 2030 (the ground truth's span).
    pub async fn bucket_points(&self, token: &str, org: &str, bucket: &str) -> Points {
        let script = format!("from(bucket: \"{bucket}\") |> {WIDE_RANGE}");
        points_of(&self.flux(token, org, &script).await)
    }

    /// Onboards with user `admin`/`password123`, org `org`, bucket `bucket`.
    pub async fn setup(&self) -> Setup {
        let r = self
            .call(
                "POST",
                "/api/v2/setup",
                None,
                Some(
                    json!({"username": "admin", "password": "password123", "org": "org",
                            "bucket": "bucket", "retentionPeriodSeconds": 0}),
                ),
            )
            .await;
        r.status(201);
        Setup {
            token: r.str("/auth/token"),
            org_id: r.str("/org/id"),
            user_id: r.str("/user/id"),
            bucket_id: r.str("/bucket/id"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Setup {
    pub token: String,
    pub org_id: String,
    pub user_id: String,
    pub bucket_id: String,
}

/// The `id`s of the objects a JSON answer lists under `key`.
pub fn ids(r: &Resp, key: &str) -> Vec<String> {
    r.json()[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {}", r.text))
        .iter()
        .map(|x| x["id"].as_str().expect("id").to_string())
        .collect()
}

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        Resp {
            status,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn status(&self, want: u16) -> &Resp {
        assert_eq!(self.status, want, "body: {}", self.text);
        self
    }

    /// Asserts an InfluxDB error: status, `code` in the body and header, JSON content type.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> &Resp {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.json()["code"], code, "body: {}", self.text);
        assert_eq!(self.header("x-platform-error-code"), Some(code));
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert!(self.json()["message"].is_string(), "body: {}", self.text);
        self
    }

    #[track_caller]
    pub fn message(&self, want: &str) -> &Resp {
        assert_eq!(self.json()["message"], want, "body: {}", self.text);
        self
    }

    #[track_caller]
    pub fn str(&self, pointer: &str) -> String {
        match self.json().pointer(pointer) {
            Some(Value::String(s)) => s.clone(),
            other => panic!("{pointer} is {other:?} in {}", self.text),
        }
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Runs `tests/python/<script>` with `args` under the Python of `IRONFLUX_PYTHON` (a venv with
/// `tests/python/requirements.txt`) and asserts that it exits successfully after printing
/// `<script>: all checks passed`; failures show its output and the server's log.
pub fn run_python_checks(srv: &TestServer, script: &str, args: &[&str]) {
    let python = std::env::var("IRONFLUX_PYTHON").unwrap_or_else(|_| {
        panic!(
            "IRONFLUX_PYTHON is not set: point it at a Python with `influxdb-client` installed \
             (python3 -m venv VENV && VENV/bin/pip install -r crates/cli/tests/python/requirements.txt; \
             IRONFLUX_PYTHON=VENV/bin/python)"
        )
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(&python)
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        srv.log()
    );
    assert!(
        stdout.contains(&format!("{script}: all checks passed")),
        "{stdout}"
    );
}
