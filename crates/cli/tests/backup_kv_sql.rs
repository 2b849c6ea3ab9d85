//! `POST /api/v2/restore/kv` and `/restore/sql` of the real binary with large and damaged
//! snapshots: a KV snapshot of tens of MiB streams in and becomes the live store (also after a
//! restart); a damaged KV or SQL snapshot is refused and leaves the live files byte for byte as
//! they were, with no upload left behind; a server killed during a KV upload restarts with the
//! old store and removes the partial upload.

mod common;

use std::path::Path;

use common::{Resp, TestServer};

/// A KV snapshot of `pad` + about 12 MiB: a store with three buckets whose descriptions are
/// 4 MiB each, followed by `pad` bytes past its last page (a bolt file may be longer than its
/// pages, as bbolt grows files in steps). Returns the image and the store's operator token.
fn big_kv(pad: usize) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let m = meta::MetaStore::open(dir.path().join("b.bolt"), dir.path().join("s.sqlite")).unwrap();
    let done = m
        .setup(meta::SetupRequest {
            username: "big".into(),
            password: Some("password123".into()),
            org: "bigorg".into(),
            bucket: "bigbucket".into(),
            retention_period_ns: 0,
            token: None,
        })
        .unwrap();
    for i in 0..3u8 {
        m.create_bucket(meta::BucketCreate {
            org_id: Some(done.org.id),
            name: format!("big{i}"),
            description: description(i),
            retention_period_ns: 0,
            shard_group_duration_ns: 0,
            rp: String::new(),
            bucket_type: meta::BucketType::User,
        })
        .unwrap();
    }
    let mut img = Vec::new();
    m.backup_kv(&mut img).unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    img.extend((0..pad).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    (img, done.auth.token)
}

/// 4 MiB of text, different for each bucket.
fn description(i: u8) -> String {
    let line = format!("bucket {i}: the quick brown fox jumps over the lazy dog\n");
    line.repeat((4 << 20) / line.len())
}

fn sha256(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// Names of restore uploads left in the data directory.
fn leftovers(data: &Path) -> Vec<String> {
    std::fs::read_dir(data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".restore-"))
        .collect()
}

/// POSTs `body` as a chunked stream of 1 MiB pieces.
async fn post_chunked(srv: &TestServer, path: &str, token: &str, body: Vec<u8>) -> Resp {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(1 << 20).map(|c| Ok(c.to_vec())).collect();
    let stream = futures::stream::iter(chunks);
    let r = srv
        .req(reqwest::Method::POST, path)
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request");
    Resp::from(r).await
}

/// The three buckets of [`big_kv`] are there, descriptions whole.
async fn has_big_buckets(srv: &TestServer, token: &str) {
    for i in 0..3u8 {
        let r = srv
            .call(
                "GET",
                &format!("/api/v2/buckets?name=big{i}"),
                Some(token),
                None,
            )
            .await;
        r.status(200);
        let got = r.json()["buckets"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(got == description(i), "bucket big{i} lost its description");
    }
}

#[tokio::test]
async fn large_kv_snapshot_streams_in_and_damaged_ones_change_nothing() {
    let (img, token) = big_kv(30 << 20);
    assert!(img.len() > 40 << 20);
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let data = srv.data_dir();
    let bolt = data.join("influxd.bolt");
    let before = sha256(&bolt);

    // Damaged: cut in the middle of the tree; meta pages wiped; not bolt at all.
    let mut no_meta = img.clone();
    no_meta[..8192].fill(0);
    for bad in [img[..img.len() / 5].to_vec(), no_meta, vec![0x42; 3 << 20]] {
        let r = post_chunked(&srv, "/api/v2/restore/kv", &s.token, bad).await;
        r.error(400, "invalid");
        assert!(r.text.contains("invalid KV snapshot"), "{}", r.text);
        assert!(sha256(&bolt) == before, "live KV file changed");
        assert_eq!(leftovers(&data), Vec::<String>::new());
        srv.call("GET", "/api/v2/orgs", Some(&s.token), None)
            .await
            .status(200);
    }

    // The large one: streamed in, answered with its operator token, live at once.
    let r = post_chunked(&srv, "/api/v2/restore/kv", &s.token, img).await;
    r.status(200);
    assert_eq!(r.str("/token"), token);
    assert_eq!(leftovers(&data), Vec::<String>::new());
    has_big_buckets(&srv, &token).await;
    srv.call("GET", "/api/v2/orgs", Some(&s.token), None)
        .await
        .error(401, "unauthorized");

    // Durable: a restarted server has the restored store.
    let dir = srv.stop();
    let srv = TestServer::start_in(dir, &[]).await;
    has_big_buckets(&srv, &token).await;
}

#[tokio::test]
async fn damaged_sql_snapshots_leave_the_live_database_intact() {
    // A SQLite file recording a migration this server does not know.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("s.sqlite");
    {
        let m = meta::MetaStore::open(dir.path().join("b.bolt"), &sqlite).unwrap();
        m.with_sql(|c| {
            c.execute(
                "INSERT INTO migrations (name) VALUES ('9999_from_the_future')",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    }
    let future = std::fs::read(&sqlite).unwrap();

    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let data = srv.data_dir();
    for bad in [
        future.clone(),
        future[..future.len() / 2].to_vec(),
        vec![3; 50_000],
    ] {
        let r = post_chunked(&srv, "/api/v2/restore/sql", &s.token, bad).await;
        r.error(400, "invalid");
        assert!(r.text.contains("invalid SQL snapshot"), "{}", r.text);
        assert_eq!(leftovers(&data), Vec::<String>::new());
    }
    // The live database still has exactly the known migrations: the store opens again.
    let dir = srv.stop();
    let data = dir.path().join("data");
    let m = meta::MetaStore::open(data.join("influxd.bolt"), data.join("influxd.sqlite"))
        .expect("store opens after the refused restores");
    let n: i64 = m
        .with_sql(|c| {
            Ok(c.query_row("SELECT count(*) FROM migrations", [], |r| {
                r.get::<_, i64>(0)
            })?)
        })
        .unwrap();
    assert_eq!(n as usize, meta::sql::MIGRATIONS.len());
}

#[tokio::test]
async fn kill_9_during_a_kv_restore_keeps_the_old_store() {
    use tokio::io::AsyncWriteExt as _;
    let (img, _) = big_kv(8 << 20);
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let data = srv.data_dir();
    let before = sha256(&data.join("influxd.bolt"));
    // Half the snapshot sent as a chunked body, the rest never comes.
    let mut conn = tokio::net::TcpStream::connect(&srv.addr).await.unwrap();
    let head = format!(
        "POST /api/v2/restore/kv HTTP/1.1\r\nHost: {}\r\nAuthorization: Token {}\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n",
        srv.addr, s.token
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let half = &img[..img.len() / 2];
    conn.write_all(format!("{:x}\r\n", half.len()).as_bytes())
        .await
        .unwrap();
    conn.write_all(half).await.unwrap();
    conn.write_all(b"\r\n").await.unwrap();
    conn.flush().await.unwrap();
    // Wait until the upload file holds some of it, then kill the server.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let written: u64 = std::fs::read_dir(&data)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".restore-"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        if written > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no upload file appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let dir = srv.stop(); // SIGKILL
    drop(conn);
    assert!(sha256(&dir.path().join("data/influxd.bolt")) == before);
    assert!(
        !leftovers(&dir.path().join("data")).is_empty(),
        "the partial upload is there"
    );
    // Restart: the old store, the partial upload removed.
    let srv = TestServer::start_in(dir, &[]).await;
    assert_eq!(leftovers(&srv.data_dir()), Vec::<String>::new());
    srv.call("GET", "/api/v2/orgs", Some(&s.token), None)
        .await
        .status(200);
    let r = srv
        .call("GET", "/api/v2/buckets?name=big0", Some(&s.token), None)
        .await;
    r.status(200);
    assert_eq!(r.json()["buckets"], serde_json::json!([]));
}
