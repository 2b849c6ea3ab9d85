//! Backup and restore endpoints of the real binary: InfluxDB 1.x shard tars and InfluxDB 2.x's
//! KV file restored, our own backups read back, and every failure leaving the prior data intact.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use common::{Points, Resp, Setup, TestServer};
use serde_json::{Value, json};

fn shard_tar_gz(n: u64) -> Vec<u8> {
    let p = testdata::dir().join(format!(
        "influxdb1/backup_portable/stateA/20261124T134818Z.s{n}.tar.gz"
    ));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// The bucket manifest of the InfluxDB 1.x portable backup (database `holdout`, shards 1-4,
/// weekly groups), for the org `org_id` under the name `name`.
fn holdout_manifest(org_id: &str, name: &str) -> Value {
    let groups = [
        (4, "1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z"),
        (2, "2023-12-25T00:00:00Z", "2024-01-01T00:00:00Z"),
        (1, "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"),
        (3, "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z"),
    ];
    json!({
        "organizationID": org_id,
        "organizationName": "org",
        "bucketID": "00000000000000aa",
        "bucketName": name,
        "defaultRetentionPolicy": "autogen",
        "retentionPolicies": [{
            "name": "autogen",
            "replicaN": 1,
            "duration": 0,
            "shardGroupDuration": 604_800_000_000_000_i64,
            "shardGroups": groups.iter().map(|(id, s, e)| json!({
                "id": id, "startTime": s, "endTime": e,
                "shards": [{"id": id, "shardOwners": []}],
            })).collect::<Vec<_>>(),
            "subscriptions": [],
        }],
    })
}

async fn post_raw(srv: &TestServer, path: &str, token: &str, body: Vec<u8>, gzip: bool) -> Resp {
    let mut rb = srv
        .req(reqwest::Method::POST, path)
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", "application/octet-stream")
        .body(body);
    if gzip {
        rb = rb.header("Content-Encoding", "gzip");
    }
    Resp::from(rb.send().await.expect("request")).await
}

async fn get_bytes(
    srv: &TestServer,
    path: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = srv
        .req(reqwest::Method::GET, path)
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

/// Restores the 1.x backup into a new bucket `name`: returns the bucket ID and old->new map.
async fn restore_holdout(srv: &TestServer, s: &Setup, name: &str) -> (String, Vec<(u64, u64)>) {
    let r = srv
        .call(
            "POST",
            "/api/v2/restore/bucketMetadata",
            Some(&s.token),
            Some(holdout_manifest(&s.org_id, name)),
        )
        .await;
    r.status(201);
    let j = r.json();
    assert_eq!(j["name"], name);
    let map: Vec<(u64, u64)> = j["shardMappings"]
        .as_array()
        .expect("shardMappings")
        .iter()
        .map(|m| (m["oldId"].as_u64().unwrap(), m["newId"].as_u64().unwrap()))
        .collect();
    assert_eq!(map.len(), 4, "{}", r.text);
    for &(old, new) in &map {
        post_raw(
            srv,
            &format!("/api/v2/restore/shards/{new}"),
            &s.token,
            shard_tar_gz(old),
            true,
        )
        .await
        .status(204);
    }
    (j["id"].as_str().unwrap().to_string(), map)
}

/// Every point of a bucket, read through the storage engine of a stopped server's data dir.
fn stored_points(data: &Path, bucket: &str) -> Points {
    use storage::values::Values;
    use testdata::Value as V;
    let meta = Arc::new(
        meta::MetaStore::open(data.join("influxd.bolt"), data.join("influxd.sqlite")).unwrap(),
    );
    let mut cfg = storage::EngineConfig::new(data.join("engine"));
    cfg.maintenance_interval = None;
    let engine = storage::Engine::open(cfg, meta as Arc<dyn storage::ShardCatalog>).unwrap();
    let bucket = u64::from_str_radix(bucket, 16).unwrap();
    let mut out = Points::new();
    for s in engine.read(&storage::ReadRequest::all(bucket, i64::MIN, i64::MAX)) {
        let s = s.unwrap();
        let mut tags = s.tags.clone();
        tags.sort();
        let vals: Vec<(i64, V)> = match &s.values {
            Values::Float(v) => v.iter().map(|(t, x)| (*t, V::Float(*x))).collect(),
            Values::Integer(v) => v.iter().map(|(t, x)| (*t, V::Integer(*x))).collect(),
            Values::Unsigned(v) => v.iter().map(|(t, x)| (*t, V::Unsigned(*x))).collect(),
            Values::Boolean(v) => v.iter().map(|(t, x)| (*t, V::Boolean(*x))).collect(),
            Values::String(v) => v.iter().map(|(t, x)| (*t, V::String(x.clone()))).collect(),
        };
        out.entry((s.measurement.clone(), tags, s.field.clone()))
            .or_default()
            .extend(vals);
    }
    out
}

/// Name and bytes of every file of the shard directories of a bucket.
fn bucket_files(data: &Path, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let root = data.join("engine/data").join(bucket).join("autogen");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&root) else {
        return out;
    };
    for shard in rd.flatten() {
        let shard_name = shard.file_name().to_string_lossy().into_owned();
        if shard.path().is_dir() {
            out.push((format!("{shard_name}/"), Vec::new()));
            for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
                if f.path().is_file() {
                    out.push((
                        format!("{shard_name}/{}", f.file_name().to_string_lossy()),
                        std::fs::read(f.path()).unwrap(),
                    ));
                }
            }
        } else {
            out.push((shard_name, Vec::new()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn influxdb_1x_shards_restore_into_a_new_bucket() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let (bucket, _) = restore_holdout(&srv, &s, "holdout").await;
    // The restored bucket is an ordinary bucket.
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/buckets/{bucket}"),
            Some(&s.token),
            None,
        )
        .await;
    r.status(200);
    assert_eq!(r.json()["name"], "holdout");
    // Flux reads back exactly the points InfluxDB was given.
    assert!(
        srv.bucket_points(&s.token, "org", "holdout").await == testdata::series(),
        "Flux reads differ from the ground truth"
    );
    let dir = srv.stop();
    let got = stored_points(&dir.path().join("data"), &bucket);
    let want = testdata::series();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "restored points differ from the ground truth");
}

#[tokio::test]
async fn backup_endpoints_round_trip_into_another_bucket() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let (bucket, map) = restore_holdout(&srv, &s, "holdout").await;

    // Metadata: kv, sql, buckets in that order, with our bucket and its shards.
    let (status, headers, body) = get_bytes(&srv, "/api/v2/backup/metadata", &s.token).await;
    assert_eq!(status, 200);
    let ct = headers["content-type"].to_str().unwrap().to_string();
    let boundary = ct
        .strip_prefix("multipart/mixed; boundary=")
        .unwrap_or_else(|| panic!("content type {ct}"));
    let parts = parse_multipart(&body, boundary);
    let names: Vec<&str> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["kv", "sql", "buckets"]);
    assert!(parts[1].1.starts_with(b"SQLite format 3\0"));
    let buckets: Vec<backup::manifest::BucketManifest> =
        serde_json::from_slice(&parts[2].1).expect("buckets JSON");
    let m = buckets
        .iter()
        .find(|b| b.bucket_id == bucket)
        .expect("restored bucket in the metadata");
    assert_eq!(m.bucket_name, "holdout");
    assert_eq!(m.organization_name, "org");
    let ids: BTreeSet<u64> = m.retention_policies[0]
        .shard_groups
        .iter()
        .flat_map(|g| g.shards.iter().map(|s| s.id))
        .collect();
    assert_eq!(ids, map.iter().map(|m| m.1).collect());
    assert!(buckets.iter().any(|b| b.bucket_name == "_monitoring"));

    // Shards: a tar of TSM files named as InfluxDB names them; restore them elsewhere.
    let mut manifest = serde_json::to_value(m).unwrap();
    manifest["bucketName"] = json!("copy");
    let r = srv
        .call(
            "POST",
            "/api/v2/restore/bucketMetadata",
            Some(&s.token),
            Some(manifest),
        )
        .await;
    r.status(201);
    let copy = r.str("/id");
    for m in r.json()["shardMappings"].as_array().unwrap() {
        let (old, new) = (m["oldId"].as_u64().unwrap(), m["newId"].as_u64().unwrap());
        let (status, headers, body) =
            get_bytes(&srv, &format!("/api/v2/backup/shards/{old}"), &s.token).await;
        assert_eq!(status, 200);
        let tar = if headers.get("content-encoding").is_some() {
            gunzip(&body)
        } else {
            body
        };
        let mut a = tar::Archive::new(&tar[..]);
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            assert!(
                p.starts_with(&format!("{bucket}/autogen/{old}/")) && p.ends_with(".tsm"),
                "{p}"
            );
        }
        post_raw(
            &srv,
            &format!("/api/v2/restore/shards/{new}"),
            &s.token,
            tar,
            false,
        )
        .await
        .status(204);
    }
    // `since` after every file leaves an empty tar.
    let old = map[0].1;
    let (status, _, body) = get_bytes(
        &srv,
        &format!("/api/v2/backup/shards/{old}?since=2100-01-01T00:00:00Z"),
        &s.token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tar::Archive::new(&body[..]).entries().unwrap().count(), 0);
    let r = srv
        .call("GET", "/api/v2/backup/shards/987654", Some(&s.token), None)
        .await;
    r.error(404, "not found").message("shard 987654 not found");

    // InfluxDB 2.9's compression levels; an unknown one is refused before any output.
    let r = srv
        .req(
            reqwest::Method::GET,
            &format!("/api/v2/backup/shards/{old}"),
        )
        .header("Authorization", format!("Token {}", s.token))
        .header("Accept-Encoding", "gzip")
        .header("Gzip-Compression-Level", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
    let r = srv
        .req(reqwest::Method::GET, "/api/v2/backup/metadata")
        .header("Authorization", format!("Token {}", s.token))
        .header("Gzip-Compression-Level", "extreme")
        .send()
        .await
        .unwrap();
    Resp::from(r).await.error(400, "invalid");

    // The deprecated KV download is the bolt file.
    let (status, _, kv) = get_bytes(&srv, "/api/v2/backup/kv", &s.token).await;
    assert_eq!(status, 200);
    assert!(kv.len() > 4096);

    let dir = srv.stop();
    assert!(stored_points(&dir.path().join("data"), &copy) == testdata::series());
}

/// Splits a multipart body into (name, bytes) parts.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d && (i == 0 || body[i - 2..i] == *b"\r\n") {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    assert!(starts.len() >= 2, "no parts");
    let last = *starts.last().unwrap();
    assert_eq!(
        &body[last + d.len()..last + d.len() + 2],
        b"--",
        "closing delimiter"
    );
    let mut out = Vec::new();
    for w in starts.windows(2) {
        let part = &body[w[0] + d.len() + 2..w[1] - 2];
        let split = part
            .windows(4)
            .position(|x| x == b"\r\n\r\n")
            .expect("part headers");
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("part name")
            .to_string();
        out.push((name, part[split + 4..].to_vec()));
    }
    out
}

#[tokio::test]
async fn real_influxdb_kv_restores_and_its_token_works() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let bolt = std::fs::read(testdata::dir().join("influxdb2/influxd.bolt")).unwrap();
    let r = post_raw(&srv, "/api/v2/restore/kv", &s.token, gzip(&bolt), true).await;
    r.status(200);
    let token = r.str("/token");
    let dump: Value = serde_json::from_slice(
        &std::fs::read(testdata::dir().join("influxdb2/influxd.bolt.dump.json")).unwrap(),
    )
    .unwrap();
    assert!(
        dump.to_string().contains(&token),
        "answered token is not one of the snapshot's"
    );
    let r = srv.call("GET", "/api/v2/orgs", Some(&token), None).await;
    r.status(200);
    let orgs: Vec<String> = r.json()["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(orgs, ["myorg"]);
    // Our setup is gone with the old KV.
    srv.call("GET", "/api/v2/orgs", Some(&s.token), None)
        .await
        .error(401, "unauthorized");
}

#[tokio::test]
async fn kv_without_operator_token_is_refused_and_nothing_changes() {
    // A store whose only operator authorization was deleted.
    let dir = tempfile::tempdir().unwrap();
    let m = meta::MetaStore::open(dir.path().join("b.bolt"), dir.path().join("s.sqlite")).unwrap();
    let done = m
        .setup(meta::SetupRequest {
            username: "u".into(),
            password: Some("password123".into()),
            org: "o".into(),
            bucket: "b".into(),
            retention_period_ns: 0,
            token: None,
        })
        .unwrap();
    m.delete_authorization(done.auth.id).unwrap();
    let mut kv = Vec::new();
    m.backup_kv(&mut kv).unwrap();

    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let r = post_raw(&srv, "/api/v2/restore/kv", &s.token, kv, false).await;
    r.error(400, "invalid");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("operator token")
    );
    // A body that is no BoltDB file at all.
    post_raw(&srv, "/api/v2/restore/kv", &s.token, vec![7; 10_000], false)
        .await
        .error(400, "invalid");
    srv.call("GET", "/api/v2/orgs", Some(&s.token), None)
        .await
        .status(200);
}

#[tokio::test]
async fn failed_restores_leave_prior_data_intact() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let (bucket, map) = restore_holdout(&srv, &s, "holdout").await;
    let data = srv.data_dir();
    let before = bucket_files(&data, &bucket);
    assert!(before.iter().any(|(n, _)| n.ends_with(".tsm")));
    // Shard 1 holds most points: the target of every failure below.
    let target = map.iter().find(|m| m.0 == 1).unwrap().1;
    let path = format!("/api/v2/restore/shards/{target}");
    let good = gunzip(&shard_tar_gz(1));

    // Truncated tar.
    let r = post_raw(
        &srv,
        &path,
        &s.token,
        good[..good.len() / 2].to_vec(),
        false,
    )
    .await;
    r.error(400, "invalid");
    assert!(r.text.contains("000000001-000000001.tsm"), "{}", r.text);
    // Truncated gzip.
    let gz = shard_tar_gz(1);
    post_raw(&srv, &path, &s.token, gz[..gz.len() / 2].to_vec(), true)
        .await
        .error(400, "invalid");
    // Not gzip at all.
    post_raw(&srv, &path, &s.token, good.clone(), true)
        .await
        .error(400, "invalid");
    // A corrupted TSM block: flip a byte of the first block's data (after its CRC).
    let mut bad = good.clone();
    bad[512 + 5 + 4 + 8] ^= 0x55;
    let r = post_raw(&srv, &path, &s.token, bad, false).await;
    r.error(400, "invalid");
    assert!(
        r.text.contains("000000001-000000001.tsm") && r.text.contains("invalid TSM"),
        "{}",
        r.text
    );
    // Unknown shard.
    post_raw(
        &srv,
        "/api/v2/restore/shards/99999",
        &s.token,
        good.clone(),
        false,
    )
    .await
    .error(404, "not found")
    .message("shard 99999 not found");
    // Bucket name conflict: 422, and no second bucket.
    let r = srv
        .call(
            "POST",
            "/api/v2/restore/bucketMetadata",
            Some(&s.token),
            Some(holdout_manifest(&s.org_id, "holdout")),
        )
        .await;
    r.error(422, "conflict");
    let r = srv
        .call("GET", "/api/v2/buckets?name=holdout", Some(&s.token), None)
        .await;
    assert_eq!(r.json()["buckets"].as_array().unwrap().len(), 1);
    // Non-operator token: an all-access token of the org.
    let weak = srv
        .create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "authorizations", "orgID": s.org_id}},
                {"action": "write", "resource": {"type": "buckets", "orgID": s.org_id}},
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}},
            ]}),
        )
        .await;
    for (method, p) in [
        ("GET", "/api/v2/backup/metadata".to_string()),
        ("GET", "/api/v2/backup/kv".to_string()),
        ("GET", format!("/api/v2/backup/shards/{target}")),
        ("POST", "/api/v2/restore/kv".to_string()),
        ("POST", "/api/v2/restore/sql".to_string()),
        ("POST", "/api/v2/restore/bucketMetadata".to_string()),
        ("POST", "/api/v2/restore/bucket-metadata".to_string()),
        ("POST", format!("/api/v2/restore/buckets/{bucket}")),
        ("POST", format!("/api/v2/restore/bucket/{bucket}")),
        ("POST", path.clone()),
    ] {
        srv.call(method, &p, Some(&weak), Some(json!({})))
            .await
            .error(401, "unauthorized")
            .message("read:authorizations is unauthorized");
    }

    assert!(
        bucket_files(&data, &bucket) == before,
        "shard files changed"
    );
    let dir = srv.stop();
    assert!(stored_points(&dir.path().join("data"), &bucket) == testdata::series());
}

#[tokio::test]
async fn sql_snapshot_and_protobuf_bucket_layout_restore() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    // Our own SQL snapshot restores; garbage does not.
    let (status, headers, body) = get_bytes(&srv, "/api/v2/backup/metadata", &s.token).await;
    assert_eq!(status, 200);
    let ct = headers["content-type"].to_str().unwrap().to_string();
    let parts = parse_multipart(&body, ct.split("boundary=").nth(1).unwrap());
    post_raw(
        &srv,
        "/api/v2/restore/sql",
        &s.token,
        gzip(&parts[1].1),
        true,
    )
    .await
    .status(204);
    post_raw(&srv, "/api/v2/restore/sql", &s.token, vec![1; 5000], false)
        .await
        .error(400, "invalid");

    // A DatabaseInfo replaces the layout of an existing bucket: old -> new shard IDs.
    let dbi = meta::DatabaseInfo {
        name: "whatever".into(),
        default_retention_policy: "autogen".into(),
        retention_policies: vec![meta::RetentionPolicyInfo {
            name: "autogen".into(),
            duration: 0,
            shard_group_duration: 604_800_000_000_000,
            replica_n: 1,
            shard_groups: vec![meta::ShardGroupInfo {
                id: 9,
                start_time: 1_704_067_200_000_000_000,
                end_time: 1_704_672_000_000_000_000,
                deleted_at: 0,
                shards: vec![meta::ShardInfo {
                    id: 1,
                    owner_ids: vec![],
                    owners: vec![],
                }],
                truncated_at: Some(0),
            }],
            subscriptions: vec![],
        }],
        continuous_queries: vec![],
    };
    let bytes = prost::Message::encode_to_vec(&dbi);
    for path in ["buckets", "bucket"] {
        let r = post_raw(
            &srv,
            &format!("/api/v2/restore/{path}/{}", s.bucket_id),
            &s.token,
            bytes.clone(),
            false,
        )
        .await;
        r.status(200);
        let map = r.json();
        let new = map["1"].as_u64().unwrap_or_else(|| panic!("{}", r.text));
        post_raw(
            &srv,
            &format!("/api/v2/restore/shards/{new}"),
            &s.token,
            shard_tar_gz(1),
            true,
        )
        .await
        .status(204);
    }
    post_raw(
        &srv,
        "/api/v2/restore/buckets/0000000000000abc",
        &s.token,
        bytes,
        false,
    )
    .await
    .error(404, "not found");
    post_raw(
        &srv,
        &format!("/api/v2/restore/buckets/{}", s.bucket_id),
        &s.token,
        vec![0xff; 10],
        false,
    )
    .await
    .error(400, "invalid");
}

/// Sends the head of a chunked upload and half its body, then leaves the connection open.
async fn start_upload(addr: &str, path: &str, token: &str, body: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {token}\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let half = &body[..body.len() / 2];
    s.write_all(format!("{:x}\r\n", half.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(half).await.unwrap();
    s.write_all(b"\r\n").await.unwrap();
    s.flush().await.unwrap();
    s
}

#[tokio::test]
async fn kill_9_during_a_shard_restore_keeps_the_old_shard() {
    let mut srv = TestServer::start().await;
    let s = srv.setup().await;
    let (bucket, map) = restore_holdout(&srv, &s, "holdout").await;
    let target = map.iter().find(|m| m.0 == 1).unwrap().1;
    let before = bucket_files(&srv.data_dir(), &bucket);
    // A restore of the same shard, killed while the body streams in.
    let tar = gunzip(&shard_tar_gz(1));
    let _conn = start_upload(
        &srv.addr,
        &format!("/api/v2/restore/shards/{target}"),
        &s.token,
        &tar,
    )
    .await;
    // Wait until the server staged part of it.
    let autogen = srv
        .data_dir()
        .join("engine/data")
        .join(&bucket)
        .join("autogen");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let staging = std::fs::read_dir(&autogen)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".restore-"));
        if staging {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no staging directory appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let st = std::process::Command::new("kill")
        .args(["-KILL", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    while srv.try_wait().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let dir = srv.stop();
    // Restart: the half-staged restore is gone, the shard is as it was.
    let srv = TestServer::start_in(dir, &[]).await;
    assert_eq!(bucket_files(&srv.data_dir(), &bucket), before);
    let dir = srv.stop();
    assert!(stored_points(&dir.path().join("data"), &bucket) == testdata::series());
}

/// Runs the `ironflux` binary with `INFLUX_*` cleared.
fn ironflux(args: &[&str]) -> std::process::Output {
    std::process::Command::new(common::BIN)
        .args(args)
        .env_remove("INFLUX_HOST")
        .env_remove("INFLUX_TOKEN")
        .env_remove("INFLUX_ORG")
        .env_remove("INFLUX_ORG_ID")
        .output()
        .expect("run ironflux")
}

#[track_caller]
fn succeeds(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn bucket_id(srv: &TestServer, token: &str, name: &str) -> String {
    let r = srv
        .call(
            "GET",
            &format!("/api/v2/buckets?name={name}"),
            Some(token),
            None,
        )
        .await;
    r.status(200);
    r.str("/buckets/0/id")
}

#[tokio::test]
async fn cli_backup_directory_then_full_and_partial_restore() {
    let a = TestServer::start().await;
    let sa = a.setup().await;
    restore_holdout(&a, &sa, "holdout").await;
    let backup_dir = tempfile::tempdir().unwrap();
    let dir = backup_dir.path().to_str().unwrap();
    succeeds(&ironflux(&[
        "backup", dir, "--host", &a.url, "--token", &sa.token,
    ]));
    drop(a);

    // The influx CLI's directory: <ts>.bolt.gz, <ts>.sqlite.gz, <ts>.<id>.tar.gz, <ts>.manifest.
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let manifests: Vec<&String> = names.iter().filter(|n| n.ends_with(".manifest")).collect();
    assert_eq!(manifests.len(), 1, "{names:?}");
    let ts = manifests[0].trim_end_matches(".manifest").to_string();
    assert!(
        ts.len() == 16
            && ts.as_bytes()[8] == b'T'
            && ts.ends_with('Z')
            && ts[..8]
                .bytes()
                .chain(ts[9..15].bytes())
                .all(|b| b.is_ascii_digit()),
        "{ts}"
    );
    let m: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.path().join(manifests[0])).unwrap())
            .unwrap();
    assert_eq!(m["manifestVersion"], 2);
    let check_file = |f: &Value, want_name: &str| {
        assert_eq!(f["fileName"], want_name);
        assert_eq!(f["compression"], 1, "compression is a number");
        let size = std::fs::metadata(backup_dir.path().join(want_name))
            .unwrap()
            .len();
        assert_eq!(f["size"].as_u64(), Some(size));
        let sha = f["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
    };
    check_file(&m["kv"], &format!("{ts}.bolt.gz"));
    check_file(&m["sql"], &format!("{ts}.sqlite.gz"));
    let buckets = m["buckets"].as_array().unwrap();
    let holdout = buckets
        .iter()
        .find(|b| b["bucketName"] == "holdout")
        .unwrap();
    assert_eq!(holdout["organizationName"], "org");
    assert!(holdout["bucketID"].as_str().unwrap().len() == 16);
    let rp = &holdout["retentionPolicies"][0];
    assert_eq!(rp["name"], "autogen");
    assert!(rp["duration"].is_i64() && rp["shardGroupDuration"].is_i64());
    assert!(rp["subscriptions"].is_array());
    let mut shards = 0;
    for g in rp["shardGroups"].as_array().unwrap() {
        assert!(g["startTime"].as_str().unwrap().ends_with('Z'));
        assert!(g.get("deletedAt").is_none());
        for s in g["shards"].as_array().unwrap() {
            let id = s["id"].as_u64().unwrap();
            assert!(s["shardOwners"].is_array());
            check_file(s, &format!("{ts}.{id}.tar.gz"));
            shards += 1;
        }
    }
    assert_eq!(shards, 4);
    assert!(buckets.iter().any(|b| b["bucketName"] == "_monitoring"));

    // --verify-only checks every file; a flipped byte is caught.
    succeeds(&ironflux(&["restore", dir, "--verify-only"]));
    let copy = tempfile::tempdir().unwrap();
    for n in &names {
        std::fs::copy(backup_dir.path().join(n), copy.path().join(n)).unwrap();
    }
    let victim = copy
        .path()
        .join(names.iter().find(|n| n.ends_with(".tar.gz")).unwrap());
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&victim, bytes).unwrap();
    let out = ironflux(&["restore", copy.path().to_str().unwrap(), "--verify-only"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHA-256"));

    // Full restore into a fresh server: the old operator token works there, the new one not.
    let b = TestServer::start().await;
    let sb = b.setup().await;
    succeeds(&ironflux(&[
        "restore", dir, "--full", "--host", &b.url, "--token", &sb.token,
    ]));
    let holdout_b = bucket_id(&b, &sa.token, "holdout").await;
    b.call("GET", "/api/v2/orgs", Some(&sb.token), None)
        .await
        .error(401, "unauthorized");
    let dir_b = b.stop();
    assert!(stored_points(&dir_b.path().join("data"), &holdout_b) == testdata::series());

    // Partial restore under a new name, next to the server's own data.
    let c = TestServer::start().await;
    let sc = c.setup().await;
    succeeds(&ironflux(&[
        "restore",
        dir,
        "--host",
        &c.url,
        "--token",
        &sc.token,
        "--bucket",
        "holdout",
        "--new-bucket",
        "h2",
        "--new-org",
        "other",
        "--org",
        "org",
    ]));
    let h2 = bucket_id(&c, &sc.token, "h2").await;
    let r = c
        .call(
            "GET",
            &format!("/api/v2/buckets/{h2}"),
            Some(&sc.token),
            None,
        )
        .await;
    let org = r.str("/orgID");
    assert_ne!(org, sc.org_id);
    // The server's own bucket is still there; restoring again conflicts.
    bucket_id(&c, &sc.token, "bucket").await;
    let out = ironflux(&[
        "restore",
        dir,
        "--host",
        &c.url,
        "--token",
        &sc.token,
        "--bucket",
        "holdout",
        "--new-bucket",
        "h2",
        "--new-org",
        "other",
        "--org",
        "org",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let dir_c = c.stop();
    assert!(stored_points(&dir_c.path().join("data"), &h2) == testdata::series());
}

#[tokio::test]
async fn legacy_2_0_manifest_restores() {
    let a = TestServer::start().await;
    let sa = a.setup().await;
    restore_holdout(&a, &sa, "holdout").await;
    let plain = tempfile::tempdir().unwrap();
    let dir = plain.path().to_str().unwrap();
    succeeds(&ironflux(&[
        "backup",
        dir,
        "--host",
        &a.url,
        "--token",
        &sa.token,
        "--compression",
        "none",
    ]));
    drop(a);
    // Rewrite it as InfluxDB 2.0's CLI did: an uncompressed bolt, `<ts>.s<id>.tar.gz` files and
    // a manifest without version listing them.
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let manifest_name = names.iter().find(|n| n.ends_with(".manifest")).unwrap();
    let ts = manifest_name.trim_end_matches(".manifest");
    let m: Value =
        serde_json::from_slice(&std::fs::read(plain.path().join(manifest_name)).unwrap()).unwrap();
    let legacy = tempfile::tempdir().unwrap();
    let bolt = format!("{ts}.bolt");
    std::fs::copy(plain.path().join(&bolt), legacy.path().join(&bolt)).unwrap();
    let mut files = Vec::new();
    for b in m["buckets"].as_array().unwrap() {
        for g in b["retentionPolicies"][0]["shardGroups"].as_array().unwrap() {
            for s in g["shards"].as_array().unwrap() {
                let id = s["id"].as_u64().unwrap();
                let tar =
                    std::fs::read(plain.path().join(s["fileName"].as_str().unwrap())).unwrap();
                let name = format!("{ts}.s{id}.tar.gz");
                let gz = gzip(&tar);
                std::fs::write(legacy.path().join(&name), &gz).unwrap();
                files.push(json!({
                    "organizationID": b["organizationID"], "organizationName": b["organizationName"],
                    "bucketID": b["bucketID"], "bucketName": b["bucketName"], "shardID": id,
                    "fileName": name, "size": gz.len(), "lastModified": "2024-01-01T00:00:00Z",
                }));
            }
        }
    }
    assert_eq!(files.len(), 4);
    let size = std::fs::metadata(legacy.path().join(&bolt)).unwrap().len();
    std::fs::write(
        legacy.path().join(manifest_name),
        serde_json::to_vec_pretty(&json!({"kv": {"fileName": bolt, "size": size}, "files": files}))
            .unwrap(),
    )
    .unwrap();

    let c = TestServer::start().await;
    let sc = c.setup().await;
    succeeds(&ironflux(&[
        "restore",
        legacy.path().to_str().unwrap(),
        "--host",
        &c.url,
        "--token",
        &sc.token,
        "--bucket",
        "holdout",
    ]));
    let id = bucket_id(&c, &sc.token, "holdout").await;
    let dir_c = c.stop();
    assert!(stored_points(&dir_c.path().join("data"), &id) == testdata::series());
}
