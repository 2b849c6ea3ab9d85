//! `GET /metrics`: the server's metrics in the Prometheus text exposition format (version
//! 0.0.4), under InfluxDB's own metric names so that dashboards and scrapers made for influxd
//! read them unchanged:
//!
//! * `influxdb_info`, `influxdb_uptime_seconds`;
//! * `influxdb_{organizations,buckets,users,tokens,dashboards,scrapers,telegrafs,remotes,
//!   replications}_total`: the keys of the matching KV buckets, as influxd counts them, and
//!   `boltdb_reads_total` / `boltdb_writes_total`: the metadata store's read views and commits;
//! * `http_api_requests_total` and the histogram `http_api_request_duration_seconds`, labelled
//!   `handler`, `method`, `path` (the route, IDs as `:id`), `status` (`2XX`…), `user_agent` (the
//!   first product of the header) and `response_code`. The duration runs until the response's
//!   head is ready; a streamed body may go on after it;
//! * per shard (`bucket`, `engine`, `id`, `path`, `walPath`): `storage_shard_disk_size` (bytes
//!   of its TSM files), `storage_tsm_files_total` and `storage_cache_inuse_bytes`.
//!
//! The format is written here rather than with `prometheus-client`: that crate writes
//! OpenMetrics, whose rules (counters always suffixed `_total` by the library, `# EOF`, another
//! content type) differ from the text format influxd serves, and the few families above are a
//! page of code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::error::ApiError;

/// The upper bounds of the request-duration histogram: Prometheus's default buckets, as influxd
/// uses them.
const DURATION_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The KV buckets influxd counts, with the metric and help text of each.
const KV_COUNTS: [(&str, &str, &str); 9] = [
    (
        "organizationsv1",
        "influxdb_organizations_total",
        "Number of total organizations on the server",
    ),
    (
        "bucketsv1",
        "influxdb_buckets_total",
        "Number of total buckets on the server",
    ),
    (
        "usersv1",
        "influxdb_users_total",
        "Number of total users on the server",
    ),
    (
        "authorizationsv1",
        "influxdb_tokens_total",
        "Number of total tokens on the server",
    ),
    (
        "dashboardsv2",
        "influxdb_dashboards_total",
        "Number of total dashboards on the server",
    ),
    (
        "scraperv2",
        "influxdb_scrapers_total",
        "Number of total scrapers on the server",
    ),
    (
        "telegrafv1",
        "influxdb_telegrafs_total",
        "Number of total telegraf configurations on the server",
    ),
    (
        "remotesv2",
        "influxdb_remotes_total",
        "Number of total remote connections configured on the server",
    ),
    (
        "replicationsv2",
        "influxdb_replications_total",
        "Number of total replication configurations on the server",
    ),
];

/// The labels of one HTTP request series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestLabels {
    method: String,
    path: String,
    response_code: u16,
    user_agent: String,
}

/// Counts and durations of one request series.
#[derive(Debug, Default, Clone)]
struct RequestStats {
    /// Requests per duration bucket (not cumulative); the last is `+Inf`.
    buckets: [u64; DURATION_BOUNDS.len() + 1],
    count: u64,
    seconds: f64,
}

/// The HTTP request metrics, shared by every request.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<RequestLabels, RequestStats>>,
}

impl HttpMetrics {
    fn record(&self, labels: RequestLabels, took: Duration) {
        let secs = took.as_secs_f64();
        let slot = DURATION_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BOUNDS.len());
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = series.entry(labels).or_default();
        s.buckets[slot] += 1;
        s.count += 1;
        s.seconds += secs;
    }

    fn snapshot(&self) -> Vec<(RequestLabels, RequestStats)> {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series.iter().map(|(l, s)| (l.clone(), s.clone())).collect()
    }
}

/// Middleware (on the routes, where the matched route is known) that counts and times every
/// request.
pub async fn track(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| route_label(p.as_str()))
        .unwrap_or_else(|| "unknown".to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(agent_name)
        .unwrap_or_default();
    let resp = next.run(req).await;
    app.http_metrics.record(
        RequestLabels {
            method,
            path,
            response_code: resp.status().as_u16(),
            user_agent,
        },
        started.elapsed(),
    );
    resp
}

/// A route as a label: each `{param}` becomes `:id`, as influxd writes the IDs of its paths.
fn route_label(route: &str) -> String {
    route
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                ":id"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The first product of a `User-Agent` header (`influxdb-client-python/1.50.0 …` →
/// `influxdb-client-python`), so that versions do not multiply the series.
fn agent_name(ua: &str) -> String {
    let first = ua.split_whitespace().next().unwrap_or_default();
    first.split('/').next().unwrap_or_default().to_string()
}

/// `GET /metrics`: public, as in influxd.
pub async fn metrics(State(app): State<App>) -> Result<Response, ApiError> {
    let kv_names: Vec<&'static str> = KV_COUNTS.iter().map(|(b, _, _)| *b).collect();
    let (counts, transactions) = app
        .meta(move |m| Ok((m.key_counts(&kv_names), m.transaction_counts())))
        .await?;
    let shards = app.storage(shard_stats).await?;
    let mut out = String::new();
    family(
        &mut out,
        "influxdb_info",
        "Information about the influxdb environment.",
        "gauge",
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    sample(
        &mut out,
        "influxdb_info",
        &[
            ("arch", std::env::consts::ARCH),
            ("build_date", ""),
            ("commit", crate::COMMIT),
            ("cpus", &cpus.to_string()),
            ("os", std::env::consts::OS),
            ("version", crate::VERSION),
        ],
        1.0,
    );
    family(
        &mut out,
        "influxdb_uptime_seconds",
        "influxdb process uptime in seconds",
        "gauge",
    );
    sample(
        &mut out,
        "influxdb_uptime_seconds",
        &[],
        app.started.elapsed().as_secs_f64(),
    );
    for ((_, name, help), n) in KV_COUNTS.iter().zip(&counts) {
        family(&mut out, name, help, "counter");
        sample(&mut out, name, &[], *n as f64);
    }
    let (reads, writes) = transactions;
    family(
        &mut out,
        "boltdb_reads_total",
        "Total number of boltdb reads",
        "counter",
    );
    sample(&mut out, "boltdb_reads_total", &[], reads as f64);
    family(
        &mut out,
        "boltdb_writes_total",
        "Total number of boltdb writes",
        "counter",
    );
    sample(&mut out, "boltdb_writes_total", &[], writes as f64);
    write_http(&mut out, &app.http_metrics.snapshot());
    write_shards(&mut out, &shards);
    let mut resp = out.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}

fn write_http(out: &mut String, series: &[(RequestLabels, RequestStats)]) {
    let labels = |l: &RequestLabels| -> Vec<(&'static str, String)> {
        vec![
            ("handler", "platform".to_string()),
            ("method", l.method.clone()),
            ("path", l.path.clone()),
            ("response_code", l.response_code.to_string()),
            ("status", format!("{}XX", l.response_code / 100)),
            ("user_agent", l.user_agent.clone()),
        ]
    };
    family(
        out,
        "http_api_requests_total",
        "Number of http requests received",
        "counter",
    );
    for (l, s) in series {
        let v = labels(l);
        sample_owned(out, "http_api_requests_total", &v, s.count as f64);
    }
    family(
        out,
        "http_api_request_duration_seconds",
        "Time taken to respond to HTTP request",
        "histogram",
    );
    for (l, s) in series {
        let base = labels(l);
        let mut cumulative = 0;
        for (i, n) in s.buckets.iter().enumerate() {
            cumulative += n;
            let le = DURATION_BOUNDS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let mut v = base.clone();
            v.push(("le", le));
            sample_owned(
                out,
                "http_api_request_duration_seconds_bucket",
                &v,
                cumulative as f64,
            );
        }
        sample_owned(
            out,
            "http_api_request_duration_seconds_sum",
            &base,
            s.seconds,
        );
        sample_owned(
            out,
            "http_api_request_duration_seconds_count",
            &base,
            s.count as f64,
        );
    }
}

/// What `/metrics` reports of one shard.
struct ShardStats {
    bucket: String,
    id: String,
    path: String,
    wal_path: String,
    disk_bytes: u64,
    files: usize,
    cache_bytes: u64,
}

fn shard_stats(engine: &storage::Engine) -> Vec<ShardStats> {
    let mut out = Vec::new();
    for (bucket, id) in engine.shards() {
        let Some(shard) = engine.shard(bucket, id) else {
            continue;
        };
        let files = shard.files();
        out.push(ShardStats {
            bucket: format!("{bucket:016x}"),
            id: id.to_string(),
            path: shard.data_dir().display().to_string(),
            wal_path: shard.wal_dir().display().to_string(),
            disk_bytes: files.iter().map(|f| f.size()).sum(),
            files: files.len(),
            cache_bytes: shard.cache_size(),
        });
    }
    out.sort_by(|a, b| (&a.bucket, &a.id).cmp(&(&b.bucket, &b.id)));
    out
}

/// A per-shard metric family: name, help, type and how to read its value.
type ShardFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ShardStats) -> f64,
);

fn write_shards(out: &mut String, shards: &[ShardStats]) {
    let families: [ShardFamily; 3] = [
        (
            "storage_shard_disk_size",
            "Gauge of the disk size for the shard",
            "gauge",
            |s| s.disk_bytes as f64,
        ),
        (
            "storage_tsm_files_total",
            "Gauge of number of files per shard",
            "gauge",
            |s| s.files as f64,
        ),
        (
            "storage_cache_inuse_bytes",
            "Gauge of current memory consumption of cache",
            "gauge",
            |s| s.cache_bytes as f64,
        ),
    ];
    for (name, help, kind, value) in families {
        family(out, name, help, kind);
        for s in shards {
            let labels = [
                ("bucket", s.bucket.clone()),
                ("engine", "tsm1".to_string()),
                ("id", s.id.clone()),
                ("path", s.path.clone()),
                ("walPath", s.wal_path.clone()),
            ];
            sample_owned(out, name, &labels, value(s));
        }
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_value(value));
}

fn sample_owned(out: &mut String, name: &str, labels: &[(&'static str, String)], value: f64) {
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sample(out, name, &refs, value);
}

/// A label value with `\`, `"` and newlines escaped, as the text format requires.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as Go's Prometheus client writes it: integers without a fraction.
fn format_value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_agents_become_bounded_labels() {
        assert_eq!(
            route_label("/api/v2/buckets/{id}/labels/{labelID}"),
            "/api/v2/buckets/:id/labels/:id"
        );
        assert_eq!(route_label("/api/v2/write"), "/api/v2/write");
        assert_eq!(
            agent_name("influxdb-client-python/1.50.0 (linux)"),
            "influxdb-client-python"
        );
        assert_eq!(agent_name("curl/8.5.0"), "curl");
        assert_eq!(agent_name(""), "");
    }

    #[test]
    fn durations_fall_in_cumulative_buckets() {
        let m = HttpMetrics::default();
        let l = RequestLabels {
            method: "GET".into(),
            path: "/ping".into(),
            response_code: 204,
            user_agent: "x\"y".into(),
        };
        m.record(l.clone(), Duration::from_millis(3));
        m.record(l.clone(), Duration::from_millis(300));
        m.record(l, Duration::from_secs(60));
        let mut out = String::new();
        write_http(&mut out, &m.snapshot());
        let labels = r#"handler="platform",method="GET",path="/ping",response_code="204",status="2XX",user_agent="x\"y""#;
        for (le, n) in [
            ("0.005", 1),
            ("0.25", 1),
            ("0.5", 2),
            ("10", 2),
            ("+Inf", 3),
        ] {
            let line =
                format!("http_api_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n");
            assert!(out.contains(&line), "{line} in\n{out}");
        }
        assert!(out.contains(&format!("http_api_requests_total{{{labels}}} 3\n")));
        assert!(out.contains(&format!(
            "http_api_request_duration_seconds_count{{{labels}}} 3\n"
        )));
        let sum = 0.003 + 0.3 + 60.0;
        assert!(out.contains(&format!(
            "http_api_request_duration_seconds_sum{{{labels}}} {sum}\n"
        )));
    }

    #[test]
    fn values_print_as_go_does() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(0.0), "0");
    }
}
