//! Hostile uploads to the restore endpoints of the real binary: gzip bombs stop at the size
//! limit (`IRONFLUX_RESTORE_MAX_BYTES`) for shard, KV and SQL restores, and shard tars with
//! unsafe entries (absolute paths, `..`, links, devices) are refused naming the entry; after
//! each, the shard and the store are as they were.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Resp;
use serde_json::json;

/// Limit given to the server: 4 MiB of decompressed body.
const LIMIT: u64 = 4 << 20;

/// `ironflux serve` with the restore size limit set (an environment variable, which
/// `common::TestServer` does not pass), killed on drop.
struct Limited {
    child: Child,
    url: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Limited {
    async fn start() -> Limited {
        let dir = tempfile::tempdir().unwrap();
        let listener = dir.path().join("listener");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(common::BIN)
            .arg("serve")
            .args(["--http-bind-address", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listener-file")
            .arg(&listener)
            .env("IRONFLUX_RESTORE_MAX_BYTES", LIMIT.to_string())
            .env_remove("INFLUXD_BOLT_PATH")
            .env_remove("INFLUXD_SQLITE_PATH")
            .env_remove("INFLUXD_ENGINE_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ironflux serve");
        let mut srv = Limited {
            child,
            url: String::new(),
            client: reqwest::Client::new(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(a) = std::fs::read_to_string(&listener)
                && !a.is_empty()
            {
                srv.url = format!("http://{}", a.trim());
                break;
            }
            assert!(srv.child.try_wait().unwrap().is_none(), "server exited");
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        loop {
            if let Ok(r) = srv.client.get(format!("{}/health", srv.url)).send().await
                && r.status() == 200
            {
                return srv;
            }
            assert!(Instant::now() < deadline, "no /health");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    async fn send(&self, rb: reqwest::RequestBuilder, token: &str) -> Resp {
        let rb = rb.header("Authorization", format!("Token {token}"));
        Resp::from(rb.send().await.expect("request")).await
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{}", self.url, path))
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

async fn upload(srv: &Limited, path: &str, token: &str, body: Vec<u8>, gz: bool) -> Resp {
    let mut rb = srv
        .post(path)
        .header("Content-Type", "application/octet-stream")
        .body(body);
    if gz {
        rb = rb.header("Content-Encoding", "gzip");
    }
    srv.send(rb, token).await
}

async fn query(srv: &Limited, token: &str) -> String {
    let rb = srv.post("/api/v2/query?org=org").json(&json!({
        "query": "from(bucket: \"bucket\") |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-02T00:00:00Z)",
        "type": "flux",
    }));
    let r = srv.send(rb, token).await;
    r.status(200);
    r.text
}

/// The files of a directory tree with their bytes, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A tar holding one entry of `kind` at `path` (raw header bytes, so any path can be written).
fn tar_with(path: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    {
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("../../etc/passwd").unwrap();
    }
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

#[tokio::test]
async fn gzip_bombs_and_unsafe_entries_are_refused_and_change_nothing() {
    let srv = Limited::start().await;
    let r = srv
        .client
        .post(format!("{}/api/v2/setup", srv.url))
        .json(
            &json!({"username": "admin", "password": "password123", "org": "org",
                      "bucket": "bucket", "token": "op-token"}),
        )
        .send()
        .await
        .unwrap();
    Resp::from(r).await.status(201);
    let token = "op-token";
    // A shard to aim at, holding a point.
    let w = srv
        .post("/api/v2/write?org=org&bucket=bucket&precision=s")
        .body("cpu v=1 1704067200");
    srv.send(w, token).await.status(204);
    let points = query(&srv, token).await;
    assert!(points.contains("cpu"), "{points}");
    // Its ID: the one shard directory of the WAL.
    let wal = srv.data_dir().join("engine/wal");
    let bucket_dir = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let id: u64 = std::fs::read_dir(bucket_dir.join("autogen"))
        .unwrap()
        .flatten()
        .find_map(|e| e.file_name().to_str()?.parse().ok())
        .expect("shard directory");
    let data = srv.data_dir();
    let before = files(&data.join("engine"));
    assert!(before.iter().any(|(n, _)| n.ends_with(".wal")));
    let kv_before = std::fs::read(data.join("influxd.bolt")).unwrap();

    // Bombs: little gzip inflating to 64 MiB, 16 times the limit. For a shard, a tar whose one
    // TSM entry is 64 MiB of zeros (zeros alone would read as an empty tar).
    let zeros = vec![0u8; 64 << 20];
    let tar_bomb = gzip(&tar_with(
        "db/rp/1/000000001-000000001.tsm",
        tar::EntryType::Regular,
        &zeros,
    ));
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 1 << 20 && tar_bomb.len() < 1 << 20);
    for (path, body) in [
        (format!("/api/v2/restore/shards/{id}"), tar_bomb),
        ("/api/v2/restore/kv".to_string(), bomb.clone()),
        ("/api/v2/restore/sql".to_string(), bomb),
    ] {
        let r = upload(&srv, &path, token, body, true).await;
        r.error(413, "request too large");
        assert!(r.text.contains(&LIMIT.to_string()), "{path}: {}", r.text);
    }

    // Unsafe entries, each named in the answer.
    let tsm_name = "000000001-000000001.tsm";
    for (path, kind, why) in [
        (
            format!("/tmp/{tsm_name}"),
            tar::EntryType::Regular,
            "absolute",
        ),
        (
            format!("db/../../{tsm_name}"),
            tar::EntryType::Regular,
            "..",
        ),
        (
            format!("db/rp/1/{tsm_name}"),
            tar::EntryType::Symlink,
            "link",
        ),
        (
            format!("db/rp/1/{tsm_name}"),
            tar::EntryType::Char,
            "device",
        ),
    ] {
        let r = upload(
            &srv,
            &format!("/api/v2/restore/shards/{id}"),
            token,
            tar_with(&path, kind, b""),
            false,
        )
        .await;
        r.error(400, "invalid");
        assert!(
            r.text.contains(&path) && r.text.contains(why),
            "{path}: {}",
            r.text
        );
    }

    assert!(files(&data.join("engine")) == before, "shard files changed");
    assert!(std::fs::read(data.join("influxd.bolt")).unwrap() == kv_before);
    let leftovers: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restore-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The point is still there.
    assert_eq!(query(&srv, token).await, points);
}
