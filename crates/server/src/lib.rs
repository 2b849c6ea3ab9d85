//! The HTTP server: InfluxDB OSS v2's API over the metadata store and the storage engine.
//!
//! [`serve`] takes an already-bound listener, a plain [`ServeConfig`] and a shutdown future; the
//! binary parses flags and signals and calls it. The route table is in [`routes`]; every error
//! is an [`error::ApiError`]; authentication and permission checks are in [`auth`]; the
//! `Zap-Trace-Span` header is handled in [`trace_span`]; [`tasks`] schedules and runs tasks.

pub mod auth;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod source;
pub mod tasks;
pub mod trace_span;

use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::{ApiError, Code};

/// The InfluxDB version this server answers as (`/health`, `X-Influxdb-Version`). The influx CLI
/// picks its APIs from it, so it must read as 2.x.y with x >= 1.
pub const VERSION: &str = "v2.7.0";
/// The build identifier answered in `/health`'s `commit`.
pub const COMMIT: &str = concat!("ironflux-", env!("CARGO_PKG_VERSION"));

/// Where the server keeps its data. Paths are used as given; the binary fills in the defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The BoltDB KV file (`influxd.bolt`).
    pub bolt_path: PathBuf,
    /// The SQLite file (`influxd.sqlite`).
    pub sqlite_path: PathBuf,
    /// The storage engine's directory (`engine/`).
    pub engine_path: PathBuf,
    /// Bound on the storage caches in bytes (`--storage-cache-max-memory-size`); writes past it
    /// answer 503. 0 = unbounded.
    pub cache_max_memory_bytes: u64,
    /// Largest write body accepted, after decompression; larger ones answer 413.
    pub max_write_body_bytes: usize,
    /// Memory one query may hold (`--query-memory-bytes`); past it the query fails with 429
    /// `too many requests`. 0 = unlimited.
    pub query_memory_bytes: usize,
    /// A shard's cache is snapshotted to a TSM file at this size
    /// (`--storage-cache-snapshot-memory-size`).
    pub cache_snapshot_memory_bytes: u64,
    /// A shard's cache is snapshotted after this long without writes
    /// (`--storage-cache-snapshot-write-cold-duration`).
    pub cache_snapshot_write_cold: std::time::Duration,
    /// A shard is fully compacted after this long without writes
    /// (`--storage-compact-full-write-cold-duration`).
    pub compact_full_write_cold: std::time::Duration,
    /// How often shard groups past their bucket's retention are dropped
    /// (`--storage-retention-check-interval`).
    pub retention_check_interval: std::time::Duration,
}

impl ServeConfig {
    /// A configuration with InfluxDB's defaults for everything but the paths (the storage
    /// settings of [`storage::EngineConfig::new`]) and [`DEFAULT_MAX_WRITE_BODY_BYTES`].
    pub fn new(bolt_path: PathBuf, sqlite_path: PathBuf, engine_path: PathBuf) -> ServeConfig {
        let engine = storage::EngineConfig::new(&engine_path);
        ServeConfig {
            bolt_path,
            sqlite_path,
            engine_path,
            cache_max_memory_bytes: engine.cache_max_memory_bytes,
            max_write_body_bytes: DEFAULT_MAX_WRITE_BODY_BYTES,
            query_memory_bytes: 0,
            cache_snapshot_memory_bytes: engine.cache_snapshot_memory_bytes,
            cache_snapshot_write_cold: engine.cache_snapshot_write_cold,
            compact_full_write_cold: engine.compact_full_write_cold,
            retention_check_interval: engine.retention_check_interval,
        }
    }

    /// The settings as `GET /api/v2/config` answers them: by influxd flag name, sizes as
    /// numbers, durations as Go writes them (`10m0s`), as influxd's config handler does.
    pub fn runtime_options(
        &self,
        http_bind_address: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let path = |p: &std::path::Path| Value::from(p.display().to_string());
        [
            ("bolt-path", path(&self.bolt_path)),
            ("engine-path", path(&self.engine_path)),
            ("http-bind-address", Value::from(http_bind_address)),
            (
                "max-write-body-size",
                Value::from(self.max_write_body_bytes),
            ),
            ("query-memory-bytes", Value::from(self.query_memory_bytes)),
            ("sqlite-path", path(&self.sqlite_path)),
            (
                "storage-cache-max-memory-size",
                Value::from(self.cache_max_memory_bytes),
            ),
            (
                "storage-cache-snapshot-memory-size",
                Value::from(self.cache_snapshot_memory_bytes),
            ),
            (
                "storage-cache-snapshot-write-cold-duration",
                Value::from(go_duration(self.cache_snapshot_write_cold)),
            ),
            (
                "storage-compact-full-write-cold-duration",
                Value::from(go_duration(self.compact_full_write_cold)),
            ),
            (
                "storage-retention-check-interval",
                Value::from(go_duration(self.retention_check_interval)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// A duration as Go's `time.Duration.String` writes it: `0s`, `1.5s`, `10m0s`, `4h0m0s`, and
/// `ms`/`µs`/`ns` below a second.
pub fn go_duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    let frac = |value: u128, unit: u128| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let width = unit.ilog10() as usize;
        let digits = format!("{rest:0width$}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let seconds = format!("{}s", frac(ns % 60_000_000_000, 1_000_000_000));
    let (hours, minutes) = (secs / 3600, (secs / 60) % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}")
    } else {
        seconds
    }
}

/// The default bound on a (decompressed) write body: 256 MiB.
pub const DEFAULT_MAX_WRITE_BODY_BYTES: usize = 256 << 20;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening the metadata store")]
    Meta(#[from] meta::Error),
    #[error("creating directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the metadata store: {0}")]
    OpenTask(String),
    #[error("opening the storage engine")]
    Engine(#[from] storage::engine::EngineError),
    #[error("serving HTTP")]
    Http(#[source] std::io::Error),
}

/// How long in-flight requests may run on after the shutdown signal before the server stops
/// without them.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// Shared state of all handlers.
#[derive(Clone)]
pub struct App {
    pub meta: Arc<meta::MetaStore>,
    /// The storage engine; its shard catalogue is `meta`.
    pub engine: Arc<storage::Engine>,
    /// Largest write body accepted, after decompression.
    pub max_write_body_bytes: usize,
    /// Memory one query may hold; 0 = unlimited.
    pub query_memory_bytes: usize,
    pub sessions: Arc<auth::Sessions>,
    pub started: Instant,
    /// Start time as RFC 3339, for `/ready`.
    pub started_at: String,
    /// Request counts and durations for `/metrics`.
    pub http_metrics: Arc<metrics::HttpMetrics>,
    /// The settings the server runs with, by influxd flag name, for `GET /api/v2/config`.
    pub runtime_config: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The task scheduler's state (see [`tasks`]); [`serve`] runs its loop.
    pub tasks: Arc<tasks::Scheduler>,
}

impl App {
    pub fn new(meta: Arc<meta::MetaStore>, engine: Arc<storage::Engine>) -> App {
        App {
            meta,
            engine,
            max_write_body_bytes: DEFAULT_MAX_WRITE_BODY_BYTES,
            query_memory_bytes: 0,
            sessions: Arc::new(auth::Sessions::default()),
            started: Instant::now(),
            started_at: now_rfc3339(),
            http_metrics: Arc::default(),
            runtime_config: Arc::default(),
            tasks: Arc::default(),
        }
    }

    /// Runs a blocking metadata-store call on the blocking pool, inside the request's span.
    pub async fn meta<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&meta::MetaStore) -> Result<T, meta::Error> + Send + 'static,
    {
        let m = Arc::clone(&self.meta);
        // The blocking thread logs under the request's span (and so its trace).
        let span = tracing::Span::current();
        match tokio::task::spawn_blocking(move || span.in_scope(|| f(&m))).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal_msg(&format!(
                "metadata store task failed: {e}"
            ))),
        }
    }

    /// Runs a blocking storage-engine call on the blocking pool, inside the request's span.
    pub async fn storage<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&storage::Engine) -> T + Send + 'static,
    {
        let e = Arc::clone(&self.engine);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&e)))
            .await
            .map_err(|e| ApiError::internal_msg(&format!("storage task failed: {e}")))
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    cfg: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    for dir in [
        cfg.bolt_path.parent(),
        cfg.sqlite_path.parent(),
        Some(cfg.engine_path.as_path()),
    ]
    .into_iter()
    .flatten()
    {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| ServeError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    let (bolt, sqlite) = (cfg.bolt_path.clone(), cfg.sqlite_path.clone());
    let store = tokio::task::spawn_blocking(move || meta::MetaStore::open(&bolt, &sqlite))
        .await
        .map_err(|e| ServeError::OpenTask(e.to_string()))??;
    let meta = Arc::new(store);
    let catalog: Arc<dyn storage::ShardCatalog> = Arc::clone(&meta) as _;
    let engine_cfg = storage::EngineConfig {
        cache_max_memory_bytes: cfg.cache_max_memory_bytes,
        cache_snapshot_memory_bytes: cfg.cache_snapshot_memory_bytes,
        cache_snapshot_write_cold: cfg.cache_snapshot_write_cold,
        compact_full_write_cold: cfg.compact_full_write_cold,
        retention_check_interval: cfg.retention_check_interval,
        ..storage::EngineConfig::new(cfg.engine_path.clone())
    };
    let engine = tokio::task::spawn_blocking(move || storage::Engine::open(engine_cfg, catalog))
        .await
        .map_err(|e| ServeError::OpenTask(e.to_string()))??;
    let engine = Arc::new(engine);
    let mut app = App::new(meta, Arc::clone(&engine));
    app.max_write_body_bytes = cfg.max_write_body_bytes;
    app.query_memory_bytes = cfg.query_memory_bytes;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    app.runtime_config = Arc::new(cfg.runtime_options(&bound));
    // Stop accepting on the signal, let in-flight requests finish, but not for ever.
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping_tx.send(());
    };
    // Streamed answers go out in several writes; without TCP_NODELAY the last small one can
    // wait for the client's delayed ACK (40 ms on Linux).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let scheduler = Arc::clone(&app.tasks);
    let scheduling = tasks::Scheduler::start(app.clone());
    let server = axum::serve(listener, app_router(app))
        .with_graceful_shutdown(signal)
        .into_future();
    let grace = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = server => r.map_err(ServeError::Http)?,
        _ = grace => tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "in-flight requests did not finish in time; stopping without them"
        ),
    }
    scheduler.stop(scheduling).await;
    close_engine(engine).await;
    tracing::info!("server stopped");
    Ok(())
}

/// Stops the engine's background work once no request holds it any more. Every acknowledged
/// write is already fsynced in its shard's WAL, so nothing else needs flushing; the WAL is
/// replayed on the next start.
async fn close_engine(engine: Arc<storage::Engine>) {
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    let mut engine = engine;
    loop {
        match Arc::try_unwrap(engine) {
            Ok(e) => {
                if let Err(err) = tokio::task::spawn_blocking(move || e.close()).await {
                    tracing::warn!(error = %err, "closing the storage engine failed");
                }
                tracing::info!("storage engine closed");
                return;
            }
            Err(shared) if Instant::now() < deadline => {
                engine = shared;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(_) => {
                tracing::warn!("requests still hold the storage engine; leaving it open");
                return;
            }
        }
    }
}

/// The router with all middleware: trace span, panic catcher, InfluxDB headers, 405 bodies.
pub fn app_router(app: App) -> Router {
    let track = axum::middleware::from_fn_with_state(app.clone(), metrics::track);
    with_middleware(routes::router().route_layer(track).with_state(app))
}

/// Wraps the routes in the middleware. The routes sit inside an outer router as its fallback so
/// that the 405 rewrite sees the `Allow` header axum adds when the inner routing finishes.
fn with_middleware(router: Router) -> Router {
    Router::new()
        .fallback_service(router.layer(CatchPanicLayer::custom(panic_response)))
        .layer(axum::middleware::map_response(method_not_allowed_body))
        .layer(axum::middleware::map_response(json_charset))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-influxdb-version"),
            HeaderValue::from_static(VERSION),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-influxdb-build"),
            HeaderValue::from_static("OSS"),
        ))
        .layer(TraceLayer::new_for_http().make_span_with(trace_span::make_span))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    axum::response::IntoResponse::into_response(ApiError::new(Code::Internal, "internal error"))
}

/// InfluxDB labels every JSON body `application/json; charset=utf-8`; axum's `Json` says
/// `application/json`.
async fn json_charset(mut resp: Response<Body>) -> Response<Body> {
    if resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json")
    {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    resp
}

/// axum answers a wrong method with an empty 405; give it InfluxDB's body (`allow: GET, POST`).
async fn method_not_allowed_body(resp: Response<Body>) -> Response<Body> {
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.headers().contains_key("x-platform-error-code")
    {
        return resp;
    }
    let allow = resp
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(',').map(str::trim).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let mut out = axum::response::IntoResponse::into_response(ApiError::new(
        Code::MethodNotAllowed,
        format!("allow: {allow}"),
    ));
    if let Some(v) = resp.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, v.clone());
    }
    out
}

/// Now as RFC 3339 in UTC with nanoseconds trimmed as Go prints them.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Splits a Unix time into (year, month, day, hour, minute, second, days since epoch).
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem / 60) % 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, h, m, s, days)
}

/// Formats a time as an HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT`), for cookies.
pub fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (year, month, day, h, m, s, days) = civil(secs);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WD[days.rem_euclid(7) as usize];
    let mo = MO[(month - 1).clamp(0, 11) as usize];
    format!("{wd}, {day:02} {mo} {year:04} {h:02}:{m:02}:{s:02} GMT")
}

/// Formats a Unix time as Go's `time.RFC3339Nano` in UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let (year, month, day, h, m, s, _) = civil(secs);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if nanos > 0 {
        let f = format!("{nanos:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use axum::routing::{get, post};
    use tower::ServiceExt as _;

    async fn call(router: axum::Router, method: &str, path: &str) -> (u16, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap_or_default();
        let Ok(resp) = router.oneshot(req).await;
        let status = resp.status().as_u16();
        let code = resp
            .headers()
            .get("x-platform-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, code, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        use std::time::Duration;
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(15), "15ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(2_500), "2.5µs"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(600), "10m0s"),
            (Duration::from_secs(30 * 60), "30m0s"),
            (Duration::from_secs(4 * 3600), "4h0m0s"),
            (Duration::from_secs(3600 + 61), "1h1m1s"),
        ] {
            assert_eq!(super::go_duration(d), want, "{d:?}");
        }
    }

    #[tokio::test]
    async fn panics_become_internal_errors() {
        async fn boom() -> &'static str {
            panic!("handler bug")
        }
        let router = super::with_middleware(axum::Router::new().route("/boom", get(boom)));
        let (status, code, body) = call(router, "GET", "/boom").await;
        assert_eq!((status, code.as_str()), (500, "internal error"));
        assert_eq!(
            body,
            r#"{"code":"internal error","message":"internal error"}"#
        );
    }

    #[tokio::test]
    async fn oversized_and_malformed_json_bodies() {
        async fn echo(
            crate::routes::JsonBody(v): crate::routes::JsonBody<serde_json::Value>,
        ) -> String {
            v.to_string()
        }
        let router = super::with_middleware(axum::Router::new().route("/j", post(echo)));
        let send = |body: Vec<u8>| {
            let router = router.clone();
            async move {
                let req = Request::builder()
                    .method("POST")
                    .uri("/j")
                    .body(Body::from(body))
                    .unwrap_or_default();
                let Ok(resp) = router.oneshot(req).await;
                let code = resp
                    .headers()
                    .get("x-platform-error-code")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                (resp.status().as_u16(), code)
            }
        };
        let big = format!(r#"{{"x":"{}"}}"#, "x".repeat(3 << 20)).into_bytes();
        assert_eq!(send(big).await, (413, "request too large".to_string()));
        assert_eq!(send(b"{nope".to_vec()).await, (400, "invalid".to_string()));
        assert_eq!(send(br#"{"a":1}"#.to_vec()).await, (200, String::new()));
    }

    #[tokio::test]
    async fn wrong_method_gets_influxdb_body() {
        async fn ok() -> &'static str {
            "ok"
        }
        let router = super::with_middleware(axum::Router::new().route("/x", get(ok)));
        let (status, code, body) = call(router, "POST", "/x").await;
        assert_eq!((status, code.as_str()), (405, "method not allowed"));
        assert_eq!(
            body,
            r#"{"code":"method not allowed","message":"allow: GET, HEAD"}"#
        );
    }

    #[test]
    fn rfc3339_like_go() {
        assert_eq!(super::rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            super::rfc3339(1_632_833_725, 442_475_000),
            "2021-09-28T12:55:25.442475Z"
        );
    }

    #[test]
    fn http_date_like_go() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_632_833_725);
        assert_eq!(super::http_date(t), "Tue, 28 Sep 2021 12:55:25 GMT");
        assert_eq!(
            super::http_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
