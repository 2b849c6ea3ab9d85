//! `GET|POST /query`: InfluxQL on InfluxDB's 1.x compatibility API.
//!
//! Parameters come from the query string and, for `POST` with an
//! `application/x-www-form-urlencoded` body, from the body (which wins): `q` (required), `db`,
//! `rp`, `epoch` (`u ms s m h`, nanoseconds for any other value: integer times instead of
//! RFC3339), `pretty`, `chunked` and `chunk_size` (default 10000 rows per chunk). A `POST` with
//! `Content-Type: application/vnd.influxql` carries the query as its body. Bound parameters
//! (`params`) are not supported. Credentials as [`V1Auth`] takes them (as for
//! `/write`). Each statement's database resolves through the DBRP mappings with
//! [`find_dbrp_bucket`] (the `db` parameter or the statement's `ON db` / `"db"."rp"."m"`).
//!
//! Answers as InfluxDB: 200 with `{"results":[...]}` (a statement's failure is that result's
//! `error`), 400 with InfluxDB's error body `{"code":"invalid","message":"failed to parse
//! query: ..."}` for a syntax error (as 2.x answers; 1.x wrote `{"error":"error parsing
//! query: ..."}`), 400 `{"error":"missing required parameter \"q\""}` without a query,
//! CSV for `Accept: application/csv` or `text/csv`. The statements run one at a time on the
//! blocking thread that writes the body, each result written as soon as it is known, so only
//! one statement's answer is held at once (see `query::influxql` for its bounds);
//! `chunked=true` splits each into lines of at most `chunk_size` rows. A client that goes away
//! cancels the statements. `pretty=true` answers are indented whole at the end.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use meta::DbrpFilter;
use query::influxql::encode::{self, Epoch};
use query::influxql::{Context, Dbrp, Resolved, Statement};
use query::source::{BucketRef, MemSource, Source};

use crate::App;
use crate::auth::V1Auth;
use crate::error::{ApiError, Code};
use crate::routes::paging::Params;
use crate::routes::stream::stream_body;
use crate::routes::write::{find_dbrp_bucket, read_body};
use crate::source::{EngineSource, bucket_read_perm};

/// Largest form body accepted.
const MAX_FORM_BODY: usize = 16 << 20;
/// Rows per chunk when `chunked=true` comes without `chunk_size`.
const DEFAULT_CHUNK_SIZE: usize = 10_000;

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_pairs(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let h = (b[i + 1] as char).to_digit(16);
                    let l = (b[i + 2] as char).to_digit(16);
                    match (h, l) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// InfluxDB's answer to a request that fails as a whole.
fn request_error(status: StatusCode, message: &str) -> Response {
    json_response(status, format!("{}\n", encode::json_error(message)))
}

/// `GET|POST /query`.
pub async fn query_v1(
    State(app): State<App>,
    V1Auth(auth): V1Auth,
    Params(query_params): Params,
    req: Request,
) -> Result<Response, ApiError> {
    let mut params: BTreeMap<String, String> = query_params;
    let headers = req.headers().clone();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let is_influxql = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/vnd.influxql"));
    if req.method() == Method::POST && is_form {
        let body = read_body(req.into_body(), MAX_FORM_BODY).await?;
        for (k, v) in form_pairs(&String::from_utf8_lossy(&body)) {
            params.insert(k, v);
        }
    } else if req.method() == Method::POST && is_influxql && !params.contains_key("q") {
        // The body is the query itself.
        let body = read_body(req.into_body(), MAX_FORM_BODY).await?;
        params.insert("q".into(), String::from_utf8_lossy(&body).into_owned());
    }
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(q) = get("q") else {
        return Ok(request_error(
            StatusCode::BAD_REQUEST,
            "missing required parameter \"q\"",
        ));
    };
    let statements = match query::influxql::parse(q) {
        Ok(s) => s,
        // InfluxDB 2.x's answer (its `ProxyExecutor`), not 1.x's `{"error": ...}`.
        Err(e) => return Err(ApiError::invalid(format!("failed to parse query: {e}"))),
    };
    let db = get("db").map(str::to_string);
    let rp = get("rp").map(str::to_string);
    let epoch = get("epoch").map(Epoch::parse);
    let chunk_size = if get("chunked") == Some("true") {
        Some(
            get("chunk_size")
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_CHUNK_SIZE),
        )
    } else {
        None
    };
    let is_pretty = get("pretty") == Some("true");
    let csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/csv") || v.contains("text/csv"));

    // Resolve the databases the statements read.
    let mut resolved = Vec::new();
    for (d, r) in Context::needed(&statements, db.as_deref(), rp.as_deref()) {
        let bucket = match find_dbrp_bucket(&app, auth.org_id, d.clone(), r.as_deref()).await {
            Ok(b) => Ok(BucketRef::Id(b.id.to_string())),
            Err(e) if e.code == Code::NotFound => Err(format!("database not found: {d}")),
            Err(e) => Err(e.message),
        };
        resolved.push(Resolved {
            database: d,
            retention_policy: r,
            bucket,
        });
    }
    let wants_dbrps = statements.iter().any(|s| {
        matches!(
            s,
            Statement::ShowDatabases | Statement::ShowRetentionPolicies { .. }
        )
    });
    let mut dbrps = Vec::new();
    if wants_dbrps && let Some(org) = auth.org_id {
        // Only the mappings of buckets the caller may read, as InfluxDB lists them.
        let reader = auth.clone();
        dbrps = app
            .meta(move |m| {
                let filter = DbrpFilter {
                    org_id: Some(org),
                    ..DbrpFilter::default()
                };
                let mut out = Vec::new();
                for d in m.list_dbrps(&filter)? {
                    let Ok(b) = m.get_bucket(d.bucket_id) else {
                        continue;
                    };
                    if !reader.allowed(&bucket_read_perm(&b)) {
                        continue;
                    }
                    out.push(Dbrp {
                        database: d.database,
                        retention_policy: d.retention_policy,
                        default: d.default,
                        retention_period: b.retention_period_ns,
                    });
                }
                Ok(out)
            })
            .await?;
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let memory_limit = (app.query_memory_bytes > 0).then_some(app.query_memory_bytes);
    let engine_source = auth.org_id.map(|org_id| EngineSource {
        meta: Arc::clone(&app.meta),
        engine: Arc::clone(&app.engine),
        org_id,
        auth,
    });
    let format = if csv {
        Format::Csv
    } else if let Some(n) = chunk_size {
        Format::Chunked(n)
    } else if is_pretty {
        Format::Pretty
    } else {
        Format::Json
    };
    // The statements run on the blocking thread that writes the body, one at a time: only
    // one statement's answer is held at once. A client that goes away cancels the rest.
    let cancel = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(Arc::clone(&cancel));
    let body = stream_body(None, move |w| {
        let empty = MemSource::default();
        let source: &dyn Source = match &engine_source {
            Some(s) => s,
            None => &empty,
        };
        let ctx = Context {
            source,
            database: db,
            retention_policy: rp,
            resolved,
            dbrps,
            now,
            memory_limit,
            cancel: Some(cancel),
        };
        write_results(w, &statements, &ctx, format, epoch).map_err(|e| e.to_string())
    });
    // The guard lives as long as the body: dropped with it when the client goes away.
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        let _ = &guard;
        chunk
    }));
    let content_type = if csv { "text/csv" } else { "application/json" };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// How the answer is written.
#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Pretty,
    /// JSON lines of at most this many rows.
    Chunked(usize),
    Csv,
}

/// Sets the flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs each statement and writes its result as soon as it is known.
fn write_results(
    w: &mut dyn Write,
    statements: &[Statement],
    ctx: &Context<'_>,
    format: Format,
    epoch: Option<Epoch>,
) -> std::io::Result<()> {
    let mut csv = encode::CsvWriter::default();
    let mut pretty = String::from("{\"results\":[");
    if let Format::Json = format {
        w.write_all(b"{\"results\":[")?;
    }
    for (i, stmt) in statements.iter().enumerate() {
        let r = query::influxql::execute_statement(i, stmt, ctx);
        let mut out = String::new();
        match format {
            Format::Json | Format::Pretty => {
                if i > 0 {
                    out.push(',');
                }
                encode::json_result(&mut out, &r, epoch);
            }
            Format::Chunked(n) => {
                for line in encode::json_chunks(&r, epoch, n) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            Format::Csv => csv.write(&mut out, &r, epoch),
        }
        if let Format::Pretty = format {
            pretty.push_str(&out);
        } else {
            w.write_all(out.as_bytes())?;
        }
    }
    match format {
        Format::Json => w.write_all(b"]}\n"),
        Format::Pretty => {
            pretty.push_str("]}");
            w.write_all(encode::indent(&pretty).as_bytes())?;
            w.write_all(b"\n")
        }
        Format::Chunked(_) | Format::Csv => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode() {
        let p = form_pairs("q=SELECT+%2A+FROM+%22m%22&db=d%20b&x");
        assert_eq!(
            p,
            vec![
                ("q".to_string(), "SELECT * FROM \"m\"".to_string()),
                ("db".to_string(), "d b".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(form_pairs("q=100%")[0].1, "100%");
    }
}
