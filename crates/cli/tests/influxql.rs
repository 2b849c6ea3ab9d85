//! InfluxQL on the 1.x `/query` route of the real binary. The 10,942 points InfluxDB itself was
//! given go in through `/write?db=` (a DBRP mapping to the setup bucket); then:
//! * the answers InfluxDB 1.x gave for the same points (`stateA_query.json`: `SELECT * FROM m
//!   GROUP BY *` per measurement, `SELECT count(*) FROM /.*/ GROUP BY *` and the SHOW
//!   statements) must come back equal, number for number;
//! * `mean/count/sum/min/max` with `GROUP BY time(1h), host` and each fill must match values
//!   computed here from the ground truth;
//! * `epoch=`, CSV, several statements, POST forms, a parse error (400) and statement errors.

mod common;

use std::collections::BTreeMap;

use common::{Resp, Setup, TestServer};
use serde_json::{Value, json};
use testdata::Value as V;

async fn q(srv: &TestServer, s: &Setup, query: &str, extra: &str) -> Resp {
    let r = srv
        .req(reqwest::Method::GET, &format!("/query?db=truthdb{extra}"))
        .query(&[("q", query)])
        .header("Authorization", format!("Token {}", s.token))
        .send()
        .await
        .expect("query");
    Resp::from(r).await
}

async fn q_json(srv: &TestServer, s: &Setup, query: &str, extra: &str) -> Value {
    let r = q(srv, s, query, extra).await;
    r.status(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.header("content-type")
    );
    serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("{e}: {}", r.text))
}

/// JSON equality where numbers compare by value (`0` equals `0.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[track_caller]
fn assert_same(got: &Value, want: &Value, what: &str) {
    if !same(got, want) {
        let g = got.to_string();
        let w = want.to_string();
        let at = g
            .bytes()
            .zip(w.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let from = at.saturating_sub(200);
        panic!(
            "{what}: differs at byte {at}\n got: ...{}\nwant: ...{}",
            &g[from..(at + 200).min(g.len())],
            &w[from..(at + 200).min(w.len())]
        );
    }
}

/// Percent-encodes a form value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const H: i64 = 3_600_000_000_000;

#[tokio::test]
async fn influxql_over_the_ground_truth() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    srv.create_dbrp(&s, "truthdb", &s.bucket_id).await;
    let r = srv
        .req(reqwest::Method::POST, "/write?db=truthdb&precision=ns")
        .header("Authorization", format!("Token {}", s.token))
        .body(testdata::line_protocol())
        .send()
        .await
        .expect("write");
    Resp::from(r).await.status(204);

    // What InfluxDB answered for the same points.
    let path = testdata::ground_truth_dir().join("stateA_query.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let upstream: BTreeMap<String, Value> = serde_json::from_str(&text).expect("stateA json");
    let mut checked = 0;
    for (query, want) in &upstream {
        if query == "SHOW SHARDS" {
            continue;
        }
        let got = q_json(&srv, &s, query, "&epoch=ns").await;
        assert_same(&got, want, query);
        checked += 1;
    }
    assert_eq!(checked, 12, "every upstream answer but SHOW SHARDS");

    // RFC3339 times (trailing zeros stripped) for the pre-1970 and nanosecond points.
    let got = q_json(
        &srv,
        &s,
        r#"SELECT "v" FROM "edge" WHERE "t" = 'old' OR t = 'ns'"#,
        "",
    )
    .await;
    assert_same(
        &got,
        &json!({"results":[{"statement_id":0,"series":[{"name":"edge","columns":["time","v"],
            "values":[["1969-12-31T00:00:00.123456789Z",1],["2024-01-01T00:00:00.123456789Z",2]]}]}]}),
        "rfc3339",
    );
    // epoch units truncate toward zero, as Go's division does.
    let got = q_json(
        &srv,
        &s,
        r#"SELECT v FROM edge WHERE t = 'old'"#,
        "&epoch=ms",
    )
    .await;
    assert_eq!(
        got["results"][0]["series"][0]["values"][0][0],
        json!(-86399876)
    );
    let got = q_json(&srv, &s, r#"SELECT v FROM edge WHERE t = 'ns'"#, "&epoch=s").await;
    assert_eq!(
        got["results"][0]["series"][0]["values"][0][0],
        json!(1704067200)
    );

    aggregates(&srv, &s).await;
    shows_and_errors(&srv, &s).await;
}

/// `(host, window start) → values` of one cpu field in `[lo, hi)`.
fn cpu_windows(field: &str, lo: i64, hi: i64) -> BTreeMap<(String, i64), Vec<f64>> {
    let mut out: BTreeMap<(String, i64), Vec<f64>> = BTreeMap::new();
    for p in testdata::points() {
        if p.measurement != "cpu" || p.time < lo || p.time >= hi {
            continue;
        }
        let host = p
            .tags
            .iter()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for (f, v) in &p.fields {
            if f == field {
                let x = match v {
                    V::Float(x) => *x,
                    V::Integer(i) => *i as f64,
                    other => panic!("{other:?}"),
                };
                out.entry((host.clone(), p.time - p.time.rem_euclid(H)))
                    .or_default()
                    .push(x);
            }
        }
    }
    out
}

async fn aggregates(srv: &TestServer, s: &Setup) {
    // Two empty hours before the data, then five hours of it.
    let lo = 1_704_067_200_000_000_000 - 2 * H;
    let hi = lo + 7 * H;
    let windows = cpu_windows("usage_user", lo, hi);
    let range = "time >= '2023-12-31T22:00:00Z' AND time < '2024-01-01T05:00:00Z'";
    for fill in ["none", "null", "0"] {
        let query = format!(
            "SELECT mean(usage_user), count(usage_user), sum(usage_user), min(usage_user), max(usage_user) AS top FROM cpu WHERE {range} GROUP BY time(1h), host fill({fill})"
        );
        let got = q_json(srv, s, &query, "&epoch=ns").await;
        let series = got["results"][0]["series"].as_array().expect("series");
        assert_eq!(series.len(), 2, "{got}");
        for (si, host) in ["serverA", "serverB"].iter().enumerate() {
            let sr = &series[si];
            assert_eq!(sr["name"], "cpu");
            assert_eq!(sr["tags"], json!({"host": host}));
            assert_eq!(
                sr["columns"],
                json!(["time", "mean", "count", "sum", "min", "top"])
            );
            let rows = sr["values"].as_array().expect("values");
            let mut want_rows = Vec::new();
            for w in 0..7 {
                let t = lo + w * H;
                match windows.get(&(host.to_string(), t)) {
                    Some(v) => {
                        let sum: f64 = v.iter().sum();
                        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        want_rows.push((t, Some((sum / v.len() as f64, v.len(), sum, min, max))));
                    }
                    None if fill == "none" => {}
                    None => want_rows.push((t, None)),
                }
            }
            assert_eq!(rows.len(), want_rows.len(), "fill({fill}) {host}: {sr}");
            for (row, (t, want)) in rows.iter().zip(&want_rows) {
                assert_eq!(row[0], json!(t));
                match want {
                    Some((mean, count, sum, min, max)) => {
                        assert!(close(row[1].as_f64().unwrap_or(f64::NAN), *mean), "{row}");
                        assert_eq!(row[2], json!(count));
                        assert!(close(row[3].as_f64().unwrap_or(f64::NAN), *sum), "{row}");
                        assert_eq!(row[4].as_f64(), Some(*min));
                        assert_eq!(row[5].as_f64(), Some(*max));
                    }
                    None if fill == "0" => {
                        assert_eq!(row, &json!([t, 0, 0, 0, 0, 0]), "fill(0)");
                    }
                    // count reports 0 for an empty window, the others null.
                    None => assert_eq!(row, &json!([t, null, 0, null, null, null])),
                }
            }
        }
    }

    // As Grafana asks: POST form, epoch=ms, casts, a regex on a tag, times in ms.
    let (from_ms, to_ms) = (lo / 1_000_000, (lo + 7 * H) / 1_000_000 - 1);
    let form = format!(
        "q={}&db=truthdb&epoch=ms",
        urlencode(&format!(
            r#"SELECT mean("usage_user") FROM "autogen"."cpu" WHERE ("region"::tag =~ /^(eu-central|us-west)$/) AND time >= {from_ms}ms and time <= {to_ms}ms GROUP BY time(1h), "host"::tag fill(null)"#
        ))
    );
    let r = srv
        .req(reqwest::Method::POST, "/query")
        .header("Authorization", format!("Token {}", s.token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("grafana query");
    let r = Resp::from(r).await;
    r.status(200);
    let got = r.json();
    for (si, host) in ["serverA", "serverB"].iter().enumerate() {
        let sr = &got["results"][0]["series"][si];
        assert_eq!(sr["tags"], json!({"host": host}), "{}", r.text);
        let rows = sr["values"].as_array().expect("values");
        assert_eq!(rows.len(), 7, "{}", r.text);
        for (w, row) in rows.iter().enumerate() {
            let t = lo + w as i64 * H;
            assert_eq!(row[0], json!(t / 1_000_000));
            match windows.get(&(host.to_string(), t)) {
                Some(v) => assert!(close(
                    row[1].as_f64().unwrap_or(f64::NAN),
                    v.iter().sum::<f64>() / v.len() as f64
                )),
                None => assert_eq!(row[1], Value::Null),
            }
        }
    }

    // A transformation over windows, as dashboards ask for rates.
    let query = format!(
        "SELECT derivative(sum(usage_user), 1h) FROM cpu WHERE {range} GROUP BY time(1h), host"
    );
    let got = q_json(srv, s, &query, "&epoch=ns").await;
    for (si, host) in ["serverA", "serverB"].iter().enumerate() {
        let sums: Vec<(i64, f64)> = windows
            .iter()
            .filter(|((h, _), _)| h == host)
            .map(|((_, t), v)| (*t, v.iter().sum()))
            .collect();
        let want: Vec<(i64, f64)> = sums
            .windows(2)
            .map(|p| {
                (
                    p[1].0,
                    (p[1].1 - p[0].1) / ((p[1].0 - p[0].0) as f64 / H as f64),
                )
            })
            .collect();
        let rows = got["results"][0]["series"][si]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(rows.len(), want.len(), "{got}");
        for (row, (t, d)) in rows.iter().zip(&want) {
            assert_eq!(row[0], json!(t));
            assert!(
                close(row[1].as_f64().unwrap_or(f64::NAN), *d),
                "{row} != {d}"
            );
        }
    }

    // Without GROUP BY time: one row at the range's start; a lone selector at its point.
    let got = q_json(
        srv,
        s,
        "SELECT count(cores), sum(cores) FROM cpu WHERE host = 'serverB' AND region = 'us-west'",
        "",
    )
    .await;
    let want_sum: i64 = 1500 * 16;
    assert_same(
        &got,
        &json!({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","count","sum"],
            "values":[["1970-01-01T00:00:00Z",1500,want_sum]]}]}]}),
        "count and sum of an integer field",
    );
    let truth = cpu_windows("usage_system", i64::MIN, i64::MAX);
    let (best_host, best) = truth
        .iter()
        .flat_map(|((h, _), v)| v.iter().map(move |x| (h.clone(), *x)))
        .fold((String::new(), f64::NEG_INFINITY), |a, b| {
            if b.1 > a.1 { b } else { a }
        });
    let got = q_json(
        srv,
        s,
        "SELECT max(usage_system) FROM cpu GROUP BY host",
        "&epoch=ns",
    )
    .await;
    let series = got["results"][0]["series"].as_array().expect("series");
    let top = series
        .iter()
        .find(|sr| sr["tags"]["host"] == json!(best_host))
        .expect("host series");
    assert_eq!(top["values"][0][1].as_f64(), Some(best));
    assert!(
        top["values"][0][0]
            .as_i64()
            .is_some_and(|t| t > 1_704_067_200_000_000_000)
    );
}

async fn shows_and_errors(srv: &TestServer, s: &Setup) {
    // Several statements, each its own result; an unsupported one answers an error in its slot.
    // The buckets without a mapping are listed through their virtual mappings.
    let got = q_json(
        srv,
        s,
        "SHOW DATABASES; SHOW MEASUREMENTS WITH MEASUREMENT =~ /^(cpu|edge)$/; DROP MEASUREMENT cpu; SHOW TAG VALUES FROM cpu WITH KEY = host; SHOW FIELD KEYS FROM weather; SHOW RETENTION POLICIES",
        "",
    )
    .await;
    assert_same(
        &got,
        &json!({"results":[
            {"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_monitoring"],["_tasks"],["bucket"],["truthdb"]]}]},
            {"statement_id":1,"series":[{"name":"measurements","columns":["name"],"values":[["cpu"],["edge"]]}]},
            {"statement_id":2,"error":"not implemented: DROP MEASUREMENT"},
            {"statement_id":3,"series":[{"name":"cpu","columns":["key","value"],"values":[["host","serverA"],["host","serverB"]]}]},
            {"statement_id":4,"series":[{"name":"weather","columns":["fieldKey","fieldType"],"values":[["humidity","integer"],["raining","boolean"],["temp_c","float"]]}]},
            {"statement_id":5,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,true]]}]}
        ]}),
        "several statements",
    );

    // POST with a form body; the database named in FROM.
    let r = srv
        .req(reqwest::Method::POST, "/query?epoch=s")
        .header("Authorization", format!("Token {}", s.token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("q=SELECT+%22field+key%22%2Cstr+FROM+%22truthdb%22.%22autogen%22.%22my+measurement%2Cx%22+LIMIT+1")
        .send()
        .await
        .expect("post");
    let r = Resp::from(r).await;
    r.status(200);
    assert_same(
        &r.json(),
        &json!({"results":[{"statement_id":0,"series":[{"name":"my measurement,x",
            "columns":["time","field key","str"],"values":[[1704092400,1.5,"he said \"hi\" \\o/"]]}]}]}),
        "post form",
    );

    // The query as the body; an unknown epoch unit means nanoseconds, as in InfluxDB 2.x.
    let r = srv
        .req(reqwest::Method::POST, "/query?db=truthdb&epoch=x")
        .header("Authorization", format!("Token {}", s.token))
        .header("Content-Type", "application/vnd.influxql")
        .body("SELECT v FROM edge WHERE t = 'ns'")
        .send()
        .await
        .expect("vnd.influxql");
    let r = Resp::from(r).await;
    r.status(200);
    assert_eq!(
        r.json()["results"][0]["series"][0]["values"],
        json!([[1_704_067_200_123_456_789_i64, 2]])
    );

    // CSV.
    let r = srv
        .req(reqwest::Method::GET, "/query?db=truthdb")
        .query(&[(
            "q",
            "SELECT up, state FROM status WHERE service = 'db' LIMIT 2; SHOW TAG KEYS FROM weather",
        )])
        .header("Authorization", format!("Token {}", s.token))
        .header("Accept", "application/csv")
        .send()
        .await
        .expect("csv");
    let r = Resp::from(r).await;
    r.status(200);
    let truth: Vec<_> = testdata::points()
        .into_iter()
        .filter(|p| {
            p.measurement == "status" && p.tags.iter().any(|(k, v)| k == "service" && v == "db")
        })
        .collect();
    let mut truth = truth;
    truth.sort_by_key(|p| p.time);
    let mut want = String::from("name,tags,time,up,state\n");
    for p in truth.iter().take(2) {
        let field = |k: &str| {
            p.fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.clone())
        };
        let up = match field("up") {
            Some(V::Boolean(b)) => b.to_string(),
            other => panic!("{other:?}"),
        };
        let state = match field("state") {
            Some(V::String(s)) => s,
            other => panic!("{other:?}"),
        };
        want.push_str(&format!("status,,{},{up},{state}\n", p.time));
    }
    want.push_str("\nname,tags,tagKey\nweather,,station\n");
    assert_eq!(r.text, want);

    // pretty=true indents as Go's MarshalIndent.
    let r = q(srv, s, "SHOW TAG KEYS FROM weather", "&pretty=true").await;
    r.status(200);
    assert_eq!(
        r.text,
        "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"series\": [\n                {\n                    \"name\": \"weather\",\n                    \"columns\": [\n                        \"tagKey\"\n                    ],\n                    \"values\": [\n                        [\n                            \"station\"\n                        ]\n                    ]\n                }\n            ]\n        }\n    ]\n}\n"
    );
    // chunked=true: lines of at most chunk_size rows that add up to the whole answer.
    let query = "SELECT usage_user FROM cpu WHERE host = 'serverA' AND region = 'us-west' LIMIT 5";
    let whole = q_json(srv, s, query, "").await;
    let r = q(srv, s, query, "&chunked=true&chunk_size=2").await;
    r.status(200);
    let chunks: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(chunks.len(), 3, "{}", r.text);
    let mut rows = Vec::new();
    for (k, c) in chunks.iter().enumerate() {
        let partial = k < 2;
        assert_eq!(
            c["results"][0]["partial"].as_bool().unwrap_or(false),
            partial,
            "{c}"
        );
        assert_eq!(
            c["results"][0]["series"][0]["partial"]
                .as_bool()
                .unwrap_or(false),
            partial,
            "{c}"
        );
        rows.extend(
            c["results"][0]["series"][0]["values"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    assert_eq!(
        Value::Array(rows),
        whole["results"][0]["series"][0]["values"]
    );

    // A syntax error is a 400 with InfluxDB 2.x's error body, text and position.
    q(srv, s, "SELECT * FROM", "")
        .await
        .error(400, "invalid")
        .message("failed to parse query: found EOF, expected identifier at line 1, char 14");
    let r = q(srv, s, "SELEC 1", "").await;
    r.error(400, "invalid");
    assert!(
        r.str("/message")
            .starts_with("failed to parse query: found SELEC, expected SELECT"),
        "{}",
        r.text
    );
    // Unknown database and an unsupported function: errors in the result.
    let got = q_json(
        srv,
        s,
        "SELECT v FROM nodb..m; SELECT top(v, 3) FROM edge",
        "",
    )
    .await;
    assert_eq!(got["results"][0]["error"], "database not found: nodb");
    assert_eq!(
        got["results"][1]["error"],
        "function top() is not supported"
    );
    // Credentials as for /write.
    let r = srv
        .req(reqwest::Method::GET, "/query?db=truthdb&q=SHOW+DATABASES")
        .send()
        .await
        .expect("anon");
    assert_eq!(Resp::from(r).await.status, 401);
    let r = srv
        .req(
            reqwest::Method::GET,
            &format!("/query?db=truthdb&u=admin&p={}&q=SHOW+DATABASES", s.token),
        )
        .send()
        .await
        .expect("u/p");
    Resp::from(r).await.status(200);
}
