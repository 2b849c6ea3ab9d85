//! The write and query paths of the real binary: the 10,942 points InfluxDB itself was given
//! (`../shared/testdata/influxdb1/ground_truth/points.lp`) go in through the 1.x `/write`
//! (database and retention policy mapped to a bucket) and through `/api/v2/write` (gzipped)
//! into another bucket; after a restart Flux (`POST /api/v2/query`, annotated CSV decoded by
//! the query crate) reads every point back exactly as `points.json.gz` lists it, also after a
//! delete and another restart. Then the error answers of the write, delete and query routes,
//! and a SIGKILL during concurrent writes that must lose no acknowledged point.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Points, Resp, Setup, TestServer, WIDE_RANGE};
use query::{ResultSet, Value};
use serde_json::json;
use testdata::{Column, Value as V};

fn truth() -> Points {
    testdata::series()
}

fn lines() -> Vec<u8> {
    testdata::line_protocol()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

#[track_caller]
fn assert_points(got: &Points, want: &Points, what: &str) {
    for (k, w) in want {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{what}: series {k:?} missing"));
        assert_eq!(g, w, "{what}: series {k:?}");
    }
    assert_eq!(got.len(), want.len(), "{what}: series count");
}

async fn read_bucket(srv: &TestServer, s: &Setup, bucket: &str) -> Points {
    srv.bucket_points(&s.token, "org", bucket).await
}

async fn restart(mut srv: TestServer) -> TestServer {
    assert!(srv.terminate().success(), "log:\n{}", srv.log());
    let dir = srv.stop();
    TestServer::start_in(dir, &[]).await
}

async fn create_bucket(srv: &TestServer, s: &Setup, name: &str) -> String {
    let r = srv
        .call(
            "POST",
            "/api/v2/buckets",
            Some(&s.token),
            Some(json!({"orgID": s.org_id, "name": name})),
        )
        .await;
    r.status(201);
    r.str("/id")
}

#[tokio::test]
async fn ground_truth_written_both_ways_reads_back_exactly() {
    let want = truth();
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let v1_bucket = create_bucket(&srv, &s, "v1-bucket").await;
    srv.create_dbrp(&s, "truthdb", &v1_bucket).await;

    let body = lines();
    // 1.x: the database and retention policy resolve through the mapping.
    let r = srv
        .req(
            reqwest::Method::POST,
            "/write?db=truthdb&rp=autogen&precision=ns",
        )
        .header("Authorization", format!("Token {}", s.token))
        .body(body.clone())
        .send()
        .await
        .expect("v1 write");
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    // 2.x, gzipped.
    let r = srv
        .req(
            reqwest::Method::POST,
            "/api/v2/write?org=org&bucket=bucket&precision=ns",
        )
        .header("Authorization", format!("Token {}", s.token))
        .header("Content-Encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .expect("v2 write");
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());

    // Before and after a restart (WAL replay), through both buckets.
    assert_points(&read_bucket(&srv, &s, "bucket").await, &want, "v2 bucket");
    let srv = restart(srv).await;
    assert_points(
        &read_bucket(&srv, &s, "v1-bucket").await,
        &want,
        "v1 bucket after restart",
    );
    assert_points(
        &read_bucket(&srv, &s, "bucket").await,
        &want,
        "v2 bucket after restart",
    );

    // Shard directories as InfluxDB lays them out: engine/data/<bucket>/autogen/<shard>.
    let data = srv
        .data_dir()
        .join("engine/data")
        .join(&s.bucket_id)
        .join("autogen");
    assert!(
        std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0) >= 2,
        "no shards under {}",
        data.display()
    );

    // Aggregates agree with values computed here.
    let res = srv.flux(&s.token,
        "org",
        &format!(
            "from(bucket: \"bucket\") |> {WIDE_RANGE} |> filter(fn: (r) => r._measurement == \"cpu\" and r._field == \"usage_user\") |> mean()"
        ),
    )
    .await;
    let mut tables = 0;
    for t in &res[0].tables {
        let mut tags: Vec<(String, String)> = t
            .key
            .columns
            .iter()
            .filter(|c| !c.name.starts_with('_'))
            .map(|c| (c.name.clone(), c.value.as_str().expect("tag").to_string()))
            .collect();
        tags.sort();
        let k = ("cpu".to_string(), tags, "usage_user".to_string());
        let pts = want.get(&k).unwrap_or_else(|| panic!("series {k:?}"));
        let nums: Vec<f64> = pts
            .iter()
            .map(|(_, v)| match v {
                V::Float(x) => *x,
                other => panic!("{other:?}"),
            })
            .collect();
        let mean = nums.iter().sum::<f64>() / nums.len() as f64;
        let Value::Float(g) = t.column("_value").expect("_value").values[0] else {
            panic!("mean of {k:?}")
        };
        assert!((g - mean).abs() < 1e-9, "mean of {k:?}: {g} vs {mean}");
        tables += 1;
    }
    assert!(tables >= 2, "cpu hosts: {tables}");

    aggregates_match_the_query_crate(&srv, &s, &want).await;

    // Delete one host's cpu series in the 2.x bucket; the rest stays.
    srv.call(
        "POST",
        "/api/v2/delete?org=org&bucket=bucket",
        Some(&s.token),
        Some(
            json!({"start": "1900-01-01T00:00:00Z", "stop": "2100-01-01T00:00:00Z",
                    "predicate": "_measurement=\"cpu\" AND host=\"serverA\""}),
        ),
    )
    .await
    .status(204);
    let mut after = want.clone();
    after.retain(|(m, tags, _), _| {
        !(m == "cpu" && tags.iter().any(|(k, v)| k == "host" && v == "serverA"))
    });
    assert!(after.len() < want.len(), "the predicate names real series");
    assert_points(
        &read_bucket(&srv, &s, "bucket").await,
        &after,
        "after delete",
    );
    let srv = restart(srv).await;
    assert_points(
        &read_bucket(&srv, &s, "bucket").await,
        &after,
        "after delete and restart",
    );
    assert_points(
        &read_bucket(&srv, &s, "v1-bucket").await,
        &want,
        "other bucket untouched by the delete",
    );
}

/// Flags that make the background service snapshot every cache and fully compact every
/// shard within a few seconds of the last write.
const EAGER_COMPACTION: &[&str] = &[
    "--storage-cache-snapshot-memory-size",
    "1",
    "--storage-cache-snapshot-write-cold-duration",
    "1s",
    "--storage-compact-full-write-cold-duration",
    "2s",
];

/// TSM and tombstone file names of every shard of a bucket, by shard directory.
fn shard_files(srv: &TestServer, bucket_id: &str) -> BTreeMap<String, Vec<String>> {
    let dir = srv
        .data_dir()
        .join("engine/data")
        .join(bucket_id)
        .join("autogen");
    let mut out = BTreeMap::new();
    for shard in std::fs::read_dir(&dir)
        .expect("shard directories")
        .flatten()
    {
        let mut names: Vec<String> = std::fs::read_dir(shard.path())
            .expect("shard directory")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tsm") || n.ends_with(".tombstone"))
            .collect();
        names.sort();
        out.insert(shard.file_name().to_string_lossy().into_owned(), names);
    }
    out
}

/// Waits (up to a minute) until `ok` holds for the bucket's shard files; returns them.
async fn wait_for_files(
    srv: &TestServer,
    bucket_id: &str,
    what: &str,
    ok: impl Fn(&BTreeMap<String, Vec<String>>) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = shard_files(srv, bucket_id);
        if ok(&files) {
            return files;
        }
        assert!(Instant::now() < deadline, "{what}: files {files:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The highest generation (`%09d` before the dash) among the files.
fn max_generation(files: &BTreeMap<String, Vec<String>>) -> u64 {
    files
        .values()
        .flatten()
        .filter_map(|n| n.split('-').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Every shard holds one TSM file and no tombstone.
fn fully_compacted(files: &BTreeMap<String, Vec<String>>) -> bool {
    !files.is_empty()
        && files
            .values()
            .all(|n| n.len() == 1 && n[0].ends_with(".tsm"))
}

/// The ground truth written in three parts, each snapshotted to its own TSM files, then read
/// back after the background service fully compacted every shard, after a delete that the
/// next full compaction applies to the files, and after a restart.
#[tokio::test]
async fn ground_truth_reads_back_after_snapshots_and_full_compaction() {
    let want = truth();
    let dir = tempfile::tempdir().expect("temp dir");
    let srv = TestServer::start_in(dir, EAGER_COMPACTION).await;
    let s = srv.setup().await;
    let body = lines();
    let text = String::from_utf8(body).expect("utf-8 line protocol");
    let all: Vec<&str> = text.lines().collect();
    let mut snapshots = 0;
    // Every third line per part, so each part reaches every shard.
    for i in 0..3 {
        let part: Vec<&str> = all.iter().skip(i).step_by(3).copied().collect();
        let r = srv
            .req(
                reqwest::Method::POST,
                "/api/v2/write?org=org&bucket=bucket&precision=ns",
            )
            .header("Authorization", format!("Token {}", s.token))
            .body(part.join("\n"))
            .send()
            .await
            .expect("write");
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
        // Wait for this part's snapshot: a TSM file of a new generation (compactions keep
        // the highest generation of their inputs).
        let files = wait_for_files(&srv, &s.bucket_id, "snapshot of a part", |f| {
            max_generation(f) > snapshots
        })
        .await;
        snapshots = max_generation(&files);
    }
    let files = wait_for_files(&srv, &s.bucket_id, "full compaction", fully_compacted).await;
    // Some shard got more than one snapshot, so a compaction (sequence above 1) ran.
    assert!(
        files.values().any(|n| !n[0].ends_with("000000001.tsm")),
        "no compacted file: {files:?}"
    );
    assert_points(
        &read_bucket(&srv, &s, "bucket").await,
        &want,
        "after full compaction",
    );

    srv.call(
        "POST",
        "/api/v2/delete?org=org&bucket=bucket",
        Some(&s.token),
        Some(
            json!({"start": "1900-01-01T00:00:00Z", "stop": "2100-01-01T00:00:00Z",
                    "predicate": "_measurement=\"cpu\" AND host=\"serverA\""}),
        ),
    )
    .await
    .status(204);
    let mut after = want.clone();
    after.retain(|(m, tags, _), _| {
        !(m == "cpu" && tags.iter().any(|(k, v)| k == "host" && v == "serverA"))
    });
    assert!(after.len() < want.len(), "the predicate names real series");
    // The delete tombstones files; the next full compaction rewrites them without the data.
    let compacted = wait_for_files(&srv, &s.bucket_id, "compaction after delete", |f| {
        fully_compacted(f) && *f != files
    })
    .await;
    assert_points(
        &read_bucket(&srv, &s, "bucket").await,
        &after,
        "after delete and compaction",
    );
    let mut srv = srv;
    assert!(srv.terminate().success(), "log:\n{}", srv.log());
    let srv = TestServer::start_in(srv.stop(), EAGER_COMPACTION).await;
    assert_eq!(shard_files(&srv, &s.bucket_id), compacted);
    assert_points(
        &read_bucket(&srv, &s, "bucket").await,
        &after,
        "after compaction and restart",
    );
}

/// The ground truth in the query crate's in-memory source.
fn memory_source(data: &Points) -> query::source::MemSource {
    use query::source::{BucketInfo, MemSeries, MemSource, SeriesValues};
    let mut series = Vec::new();
    for ((m, tags, field), pts) in data {
        let mut all = vec![
            ("_measurement".to_string(), m.clone()),
            ("_field".to_string(), field.clone()),
        ];
        all.extend(tags.iter().cloned());
        let (times, values) = testdata::column(pts);
        let values = match values {
            Column::Float(v) => SeriesValues::Float(v),
            Column::Integer(v) => SeriesValues::Int(v),
            Column::Unsigned(v) => SeriesValues::UInt(v),
            Column::Boolean(v) => SeriesValues::Bool(v),
            Column::String(v) => SeriesValues::String(v),
        };
        series.push(MemSeries {
            tags: all,
            times,
            values,
        });
    }
    MemSource {
        buckets: vec![(
            BucketInfo {
                name: "bucket".into(),
                id: "0000000000000001".into(),
                organization_id: "0000000000000002".into(),
                retention_period: 0,
                retention_policy: String::new(),
            },
            series,
        )],
    }
}

/// Tables by group key, for comparing answers whose table order may differ.
fn by_key(results: &[ResultSet]) -> BTreeMap<String, query::Table> {
    results
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| (t.key.identity(), t.clone()))
        .collect()
}

/// Aggregates computed by the server (pushed down to the engine where it can) equal the
/// query crate's over the same points held in memory, table for table.
async fn aggregates_match_the_query_crate(srv: &TestServer, s: &Setup, data: &Points) {
    const DAYS: &str = "range(start: 2023-12-31T00:00:00Z, stop: 2024-01-13T00:00:00Z)";
    const NUMERIC: &str = "filter(fn: (r) => r._measurement == \"cpu\" or r._measurement == \"dense\" and (r._field == \"f\" or r._field == \"i\") or r._measurement == \"edge\" and r._field != \"empty_str\" and r._field != \"yes\" and r._field != \"no\")";
    let src = memory_source(data);
    let now = 1_705_000_000_000_000_000i64;
    let queries = [
        format!("{DAYS} |> {NUMERIC} |> aggregateWindow(every: 1h, fn: mean)"),
        format!(
            "{DAYS} |> {NUMERIC} |> aggregateWindow(every: 1d, offset: 2h, fn: sum, createEmpty: false)"
        ),
        format!("{DAYS} |> aggregateWindow(every: 6h, fn: count)"),
        format!("{DAYS} |> aggregateWindow(every: 1h, fn: last, timeSrc: \"_start\")"),
        format!("{DAYS} |> {NUMERIC} |> aggregateWindow(every: 3h, fn: min, createEmpty: false)"),
        format!("{DAYS} |> aggregateWindow(every: 1mo, fn: count)"),
        format!("{WIDE_RANGE} |> {NUMERIC} |> max()"),
        format!("{WIDE_RANGE} |> first()"),
        format!("{WIDE_RANGE} |> count()"),
        format!("{WIDE_RANGE} |> {NUMERIC} |> mean()"),
        format!(
            "{WIDE_RANGE} |> filter(fn: (r) => r._field == \"b\" or r._field == \"s\") |> max()"
        ),
    ];
    for q in queries {
        let script = format!("from(bucket: \"bucket\") |> {q}");
        let local = query::execute(
            &script,
            &src,
            &query::Options {
                now,
                ..query::Options::default()
            },
        );
        let body = json!({
            "query": script,
            "now": "2024-01-11T19:06:40Z",
            "dialect": {"annotations": ["datatype", "group", "default"]},
        });
        let r = srv
            .req(reqwest::Method::POST, "/api/v2/query?org=org")
            .header("Authorization", format!("Token {}", s.token))
            .json(&body)
            .send()
            .await
            .expect("query");
        let r = Resp::from(r).await;
        match local {
            Err(e) => {
                r.error(400, e.code());
            }
            Ok(local) => {
                r.status(200);
                let text = query::csv::encode_results(
                    &local,
                    &query::csv::Dialect {
                        annotations: vec![
                            query::csv::Annotation::Datatype,
                            query::csv::Annotation::Group,
                            query::csv::Annotation::Default,
                        ],
                        ..query::csv::Dialect::default()
                    },
                );
                let want =
                    by_key(&query::csv::decode(&String::from_utf8_lossy(&text)).expect("decode"));
                let got = by_key(&query::csv::decode(&r.text).expect("decode"));
                assert!(!want.is_empty(), "{q}: no tables");
                assert_eq!(
                    got.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>(),
                    "{q}: group keys"
                );
                for (k, w) in &want {
                    assert_eq!(&got[k], w, "{q}: table {k}");
                }
            }
        }
    }
}

async fn write(
    srv: &TestServer,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Resp {
    write_with(&srv.client, srv, path, auth, headers, body).await
}

/// [`write`] through a given client: a 413 leaves its connection unusable (the server does not
/// read the rest of the body), so oversized bodies go through a client of their own.
async fn write_with(
    client: &reqwest::Client,
    srv: &TestServer,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Resp {
    let mut rb = client.post(format!("{}{}", srv.url, path)).body(body);
    if let Some(a) = auth {
        rb = rb.header("Authorization", a);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    Resp::from(rb.send().await.expect("write request")).await
}

#[tokio::test]
async fn write_errors_as_influxdb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let srv = TestServer::start_in(dir, &["--max-write-body-size", "4k"]).await;
    let s = srv.setup().await;
    let tok = format!("Token {}", s.token);
    let t = Some(tok.as_str());
    let w = "/api/v2/write?org=org&bucket=bucket";

    write(&srv, w, t, &[], "m v=1 1\nm v=2 2\n")
        .await
        .status(204);
    // A bad line: 400 naming it, with its line number; nothing of the body is written.
    let r = write(&srv, w, t, &[], "m v=3 3\n\nm,t=x\nm v=4 4\n").await;
    r.error(400, "invalid");
    assert_eq!(r.json()["line"], 3, "{}", r.text);
    assert!(
        r.str("/message").contains("unable to parse 'm,t=x'"),
        "{}",
        r.text
    );
    // A field type conflict: 422, the other points written.
    let r = write(&srv, w, t, &[], "m v=5i 5\nm v=6 6\n").await;
    r.error(422, "unprocessable entity");
    assert!(
        r.str("/message").contains("field type conflict"),
        "{}",
        r.text
    );
    let res = srv
        .flux(
            &s.token,
            "org",
            "from(bucket: \"bucket\") |> range(start: 0, stop: 100) |> count()",
        )
        .await;
    assert_eq!(
        res[0].tables[0].column("_value").map(|c| c.values.clone()),
        Some(vec![Value::Int(3)])
    );
    // Empty body, bad precision, bad gzip, too large.
    write(&srv, w, t, &[], "")
        .await
        .error(400, "invalid")
        .message("writing requires points");
    write(&srv, &format!("{w}&precision=m"), t, &[], "m v=1 1")
        .await
        .error(400, "invalid");
    write(&srv, w, t, &[("Content-Encoding", "gzip")], "not gzip")
        .await
        .error(400, "invalid");
    let big = "m v=1 1\n".repeat(1000);
    write_with(&reqwest::Client::new(), &srv, w, t, &[], big.clone())
        .await
        .error(413, "request too large")
        .message("unable to read data: points batch is too large");
    write(
        &srv,
        w,
        t,
        &[("Content-Encoding", "gzip")],
        gzip(big.as_bytes()),
    )
    .await
    .error(413, "request too large");
    // A gzipped body that fits.
    write(
        &srv,
        w,
        t,
        &[("Content-Encoding", "gzip")],
        gzip(b"m v=7 7\n"),
    )
    .await
    .status(204);
    // Unknown bucket and org, no bucket, no token, a bad token.
    write(&srv, "/api/v2/write?org=org&bucket=nope", t, &[], "m v=1 1")
        .await
        .error(404, "not found")
        .message("bucket \"nope\" not found");
    write(
        &srv,
        "/api/v2/write?org=nope&bucket=bucket",
        t,
        &[],
        "m v=1 1",
    )
    .await
    .error(404, "not found");
    write(&srv, "/api/v2/write?org=org", t, &[], "m v=1 1")
        .await
        .error(404, "not found");
    write(&srv, w, None, &[], "m v=1 1")
        .await
        .error(401, "unauthorized");
    write(&srv, w, Some("Token nope"), &[], "m v=1 1")
        .await
        .error(401, "unauthorized");
    // By IDs, and through the bucket ID in `bucket`.
    let by_id = format!("/api/v2/write?orgID={}&bucketID={}", s.org_id, s.bucket_id);
    write(&srv, &by_id, t, &[], "m v=8 8").await.status(204);
    let by_id = format!("/api/v2/write?org={}&bucket={}", s.org_id, s.bucket_id);
    write(&srv, &by_id, t, &[], "m v=9 9").await.status(204);

    // A token that may only read the bucket: 403.
    let ro = format!(
        "Token {}",
        srv.create_token(
            &s.token,
            json!({"orgID": s.org_id, "permissions": [
                {"action": "read", "resource": {"type": "buckets", "orgID": s.org_id}}]})
        )
        .await
    );
    write(&srv, w, Some(&ro), &[], "m v=1 1")
        .await
        .error(403, "forbidden")
        .message("insufficient permissions for write");

    // 1.x: the bucket's virtual mapping (database = bucket name), credentials as u/p, Basic
    // and Token; a missing db, an unknown db.
    write(
        &srv,
        &format!("/write?db=bucket&u=admin&p={}", s.token),
        None,
        &[],
        "m v=10 10",
    )
    .await
    .status(204);
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", s.token))
    );
    write(
        &srv,
        "/write?db=bucket&precision=s",
        Some(&basic),
        &[],
        "m v=11 11",
    )
    .await
    .status(204);
    write(&srv, "/write?db=bucket&rp=autogen", t, &[], "m v=12 12")
        .await
        .status(204);
    write(&srv, "/write", t, &[], "m v=1 1")
        .await
        .error(400, "invalid")
        .message("missing db");
    write(&srv, "/write?db=nope", t, &[], "m v=1 1")
        .await
        .error(404, "not found")
        .message("no dbrp mapping found");
    write(&srv, "/write?db=bucket", None, &[], "m v=1 1")
        .await
        .error(401, "unauthorized");
    write(&srv, "/write?db=bucket&u=x&p=wrong", None, &[], "m v=1 1")
        .await
        .error(401, "unauthorized");
    let r = write(&srv, "/write?db=bucket", t, &[], "m v=1 1\nbad").await;
    r.error(400, "invalid");
    assert_eq!(r.json()["line"], 2);

    let res = srv.flux(&s.token,
        "org",
        "from(bucket: \"bucket\") |> range(start: 0, stop: 2000-01-01T00:00:00Z) |> keep(columns: [\"_time\", \"_value\"])",
    )
    .await;
    let times: Vec<Value> = res[0].tables[0]
        .column("_time")
        .expect("_time")
        .values
        .clone();
    let want: Vec<Value> = [1, 2, 6, 7, 8, 9, 10, 12, 11_000_000_000]
        .into_iter()
        .map(Value::Time)
        .collect();
    assert_eq!(times, want);
}

#[tokio::test]
async fn delete_and_query_errors_as_influxdb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let srv = TestServer::start_in(dir, &["--query-memory-bytes", "64k"]).await;
    let s = srv.setup().await;
    let t = Some(s.token.as_str());
    let d = "/api/v2/delete?org=org&bucket=bucket";
    let range = json!({"start": "1970-01-01T00:00:00Z", "stop": "2000-01-01T00:00:00Z"});
    srv.call("POST", d, None, Some(range.clone()))
        .await
        .error(401, "unauthorized");
    srv.call("POST", d, t, Some(json!({})))
        .await
        .error(400, "invalid")
        .message("invalid request; error parsing request json: invalid RFC3339Nano for field start, please format your time with RFC3339Nano format, example: 2009-01-02T23:00:00Z");
    let mut bad = range.clone();
    bad["predicate"] = json!("host=\"a\" OR host=\"b\"");
    srv.call("POST", d, t, Some(bad))
        .await
        .error(400, "invalid");
    srv.call(
        "POST",
        "/api/v2/delete?org=org&bucket=nope",
        t,
        Some(range.clone()),
    )
    .await
    .error(404, "not found");
    srv.call(
        "POST",
        "/api/v2/delete?bucket=bucket",
        t,
        Some(range.clone()),
    )
    .await
    .error(400, "invalid")
    .message("Please provide either orgID or org");
    srv.call("POST", d, t, Some(range)).await.status(204);

    // Queries: syntax errors and unsupported functions are 400 naming them.
    let r = srv
        .flux_raw(
            &s.token,
            "org",
            "from(bucket: \"bucket\" |> range(start: 0)",
        )
        .await;
    r.error(400, "invalid");
    let r = srv
        .flux_raw(
            &s.token,
            "org",
            "from(bucket: \"bucket\") |> range(start: 0) |> holtWinters(n: 3)",
        )
        .await;
    r.error(400, "invalid");
    assert!(r.str("/message").contains("holtWinters"), "{}", r.text);
    srv.flux_raw(&s.token, "org", "from(bucket: \"nope\") |> range(start: 0)")
        .await
        .error(404, "not found");
    srv.flux_raw(&s.token, "nope", "buckets()")
        .await
        .error(404, "not found");
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/query?org=org")
        .header("Content-Type", "application/vnd.flux")
        .body("buckets()")
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 401);
    // The raw Flux body, and a gzipped answer.
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/query?org=org")
        .header("Authorization", format!("Token {}", s.token))
        .header("Content-Type", "application/vnd.flux")
        .body("buckets() |> filter(fn: (r) => r.name == \"bucket\") |> keep(columns: [\"name\"])")
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.expect("body"),
        ",result,table,name\r\n,_result,0,bucket\r\n\r\n"
    );
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client")
        .post(format!("{}/api/v2/query?org=org", srv.url))
        .header("Authorization", format!("Token {}", s.token))
        .header("Content-Type", "application/vnd.flux")
        .header("Accept-Encoding", "gzip")
        .body("buckets() |> keep(columns: [\"name\"])")
        .send()
        .await
        .expect("query");
    assert_eq!(
        raw.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let gz = raw.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gunzip answer");
    assert!(text.contains(",_result,0,bucket\r\n"), "{text}");

    // A query holding more than --query-memory-bytes: 429.
    let body: String = (0..5000)
        .map(|i| format!("big,i={i} v={i} {i}\n"))
        .collect();
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/write?org=org&bucket=bucket")
        .header("Authorization", format!("Token {}", s.token))
        .body(body)
        .send()
        .await
        .expect("write");
    assert_eq!(r.status(), 204);
    srv.flux_raw(
        &s.token,
        "org",
        "from(bucket: \"bucket\") |> range(start: 0, stop: 1h)",
    )
    .await
    .error(429, "too many requests");
}

#[tokio::test]
async fn sigkill_during_concurrent_writes_loses_no_acknowledged_point() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let acked: Arc<Mutex<BTreeSet<(usize, i64)>>> = Arc::default();
    let url = format!(
        "{}/api/v2/write?org=org&bucket=bucket&precision=ns",
        srv.url
    );
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut writers = Vec::new();
    for w in 0..4usize {
        let (url, token, acked) = (url.clone(), s.token.clone(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut batch = 0i64;
            loop {
                let times: Vec<i64> = (0..200).map(|i| 1_000_000 + batch * 200 + i).collect();
                let body: String = times
                    .iter()
                    .map(|t| format!("kill,writer=w{w} v={t}i {t}\n"))
                    .collect();
                match client
                    .post(&url)
                    .header("Authorization", format!("Token {token}"))
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 204 => {
                        let mut a = acked.lock().expect("lock");
                        a.extend(times.iter().map(|t| (w, *t)));
                    }
                    Ok(r) => panic!("write answered {}", r.status()),
                    // The server died under the request.
                    Err(_) => return,
                }
                batch += 1;
                if Instant::now() > stop_at + Duration::from_secs(30) {
                    return;
                }
            }
        }));
    }
    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = std::process::Command::new("kill")
        .args(["-KILL", &srv.pid().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    for w in writers {
        w.await.expect("writer");
    }
    let dir = srv.stop();
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 200,
        "some writes were acknowledged: {}",
        acked.len()
    );

    let srv = TestServer::start_in(dir, &[]).await;
    let res = srv.flux(&s.token,
        "org",
        "from(bucket: \"bucket\") |> range(start: 0, stop: 1970-01-02T00:00:00Z) |> filter(fn: (r) => r._measurement == \"kill\")",
    )
    .await;
    let mut found: BTreeSet<(usize, i64)> = BTreeSet::new();
    for t in &res[0].tables {
        let writer = t.key.get("writer").and_then(Value::as_str).expect("writer");
        let w: usize = writer
            .trim_start_matches('w')
            .parse()
            .expect("writer number");
        let times = &t.column("_time").expect("_time").values;
        let vals = &t.column("_value").expect("_value").values;
        for (tv, v) in times.iter().zip(vals) {
            let (Value::Time(tm), Value::Int(x)) = (tv, v) else {
                panic!("row {tv:?} {v:?}")
            };
            assert_eq!(tm, x, "value written with its point");
            found.insert((w, *tm));
        }
    }
    let lost: Vec<_> = acked.difference(&found).take(5).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged points lost, e.g. {lost:?}",
        acked.difference(&found).count()
    );
}

#[tokio::test]
async fn full_cache_answers_503_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let srv = TestServer::start_in(dir, &["--storage-cache-max-memory-size", "16k"]).await;
    let s = srv.setup().await;
    let tok = format!("Token {}", s.token);
    let w = "/api/v2/write?org=org&bucket=bucket";
    let big: String = (0..2000).map(|i| format!("m,i={i} v={i} {i}\n")).collect();
    let r = write(&srv, w, Some(&tok), &[], big).await;
    r.error(503, "unavailable");
    assert!(
        r.str("/message").contains("cache-max-memory-size exceeded"),
        "{}",
        r.text
    );
    // Nothing of the refused body was written; a small write still goes through.
    write(&srv, w, Some(&tok), &[], "m v=1 1").await.status(204);
    let res = srv
        .flux(
            &s.token,
            "org",
            "from(bucket: \"bucket\") |> range(start: 0, stop: 1h) |> count()",
        )
        .await;
    assert_eq!(res[0].tables.len(), 1);
    assert_eq!(
        res[0].tables[0].column("_value").map(|c| c.values.clone()),
        Some(vec![Value::Int(1)])
    );
}

#[tokio::test]
async fn deleting_a_bucket_drops_its_data() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let tok = format!("Token {}", s.token);
    let id = create_bucket(&srv, &s, "gone").await;
    write(
        &srv,
        "/api/v2/write?org=org&bucket=gone",
        Some(&tok),
        &[],
        "m v=1 1\nm v=2 1000000000000000000",
    )
    .await
    .status(204);
    let data = srv.data_dir().join("engine/data").join(&id);
    let wal = srv.data_dir().join("engine/wal").join(&id);
    assert!(
        data.exists() && wal.exists(),
        "shards of the bucket on disk"
    );
    srv.call(
        "DELETE",
        &format!("/api/v2/buckets/{id}"),
        Some(&s.token),
        None,
    )
    .await
    .status(204);
    let shard_dirs = |p: &std::path::Path| {
        std::fs::read_dir(p.join("autogen"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(shard_dirs(&data), 0, "data of the deleted bucket removed");
    assert_eq!(shard_dirs(&wal), 0, "WAL of the deleted bucket removed");
    // A new bucket of the same name starts empty, also after a restart.
    create_bucket(&srv, &s, "gone").await;
    let srv = restart(srv).await;
    let res = srv
        .flux(&s.token, "org", "from(bucket: \"gone\") |> range(start: 0)")
        .await;
    assert!(res.iter().all(|r| r.tables.is_empty()), "{res:?}");
}

/// A query answer streams out as it is encoded: a client that reads a little of a large answer
/// and hangs up leaves the server answering, and the whole answer, read to the end, holds
/// every point.
#[tokio::test]
async fn large_answers_stream_and_survive_a_client_hanging_up() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let points = 60_000;
    let mut body = String::new();
    for i in 0..points {
        body.push_str(&format!(
            "stream,host=h{} v={i}i {}\n",
            i % 100,
            1_700_000_000_000_000_000i64 + i as i64 * 1_000_000
        ));
    }
    write(
        &srv,
        "/api/v2/write?org=org&bucket=bucket&precision=ns",
        Some(&format!("Token {}", s.token)),
        &[],
        body,
    )
    .await
    .status(204);
    let script = "from(bucket: \"bucket\") |> range(start: 2023-01-01T00:00:00Z, stop: 2024-01-01T00:00:00Z) |> filter(fn: (r) => r._measurement == \"stream\")";
    let request = || {
        srv.req(reqwest::Method::POST, "/api/v2/query?org=org")
            .header("Authorization", format!("Token {}", s.token))
            .json(&json!({
                "query": script,
                "type": "flux",
                "dialect": {"annotations": ["datatype", "group", "default"]},
            }))
    };
    // Read the first chunk of the answer, then hang up, several times over.
    for _ in 0..3 {
        let client = reqwest::Client::new();
        let mut r = client
            .execute(request().build().expect("request"))
            .await
            .expect("query");
        assert_eq!(r.status(), 200);
        assert_eq!(r.content_length(), None, "answer not streamed");
        let first = r.chunk().await.expect("first chunk").expect("a chunk");
        assert!(!first.is_empty());
        drop(r);
        drop(client);
    }
    srv.call("GET", "/health", None, None).await.status(200);
    // Read whole, the answer has every point.
    let r = request().send().await.expect("query");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("answer");
    assert!(text.len() > 1 << 20, "a large answer: {} bytes", text.len());
    let results = query::csv::decode(&text).expect("annotated CSV");
    let rows: usize = results
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| t.nrows())
        .sum();
    assert_eq!(rows, points);
}
