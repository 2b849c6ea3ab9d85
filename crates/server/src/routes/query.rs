//! `POST /api/v2/query`: runs a Flux script against the storage engine and answers annotated
//! CSV (`text/csv; charset=utf-8`).
//!
//! The body is either the script itself (`Content-Type: application/vnd.flux`) or JSON
//! `{"query", "type": "flux", "dialect": {...}, "now", "extern"}`; the dialect's `header`,
//! `delimiter`, `annotations`, `commentPrefix` and `dateTimeFormat` are honoured or refused as
//! InfluxDB does. The org comes from `org`/`orgID` (else the token's org). Errors before any
//! output are InfluxDB's JSON errors with the query crate's code: 400 `invalid` for syntax errors
//! and functions outside the supported subset (the message names them), 404 for an unknown
//! bucket. The script runs on the blocking pool; a client that goes away cancels it.
//! The answer's CSV streams out as it is encoded (see [`stream_body`]); `Accept-Encoding: gzip`
//! compresses it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use query::csv::Dialect;
use serde::Deserialize;

use crate::App;
use crate::auth::Auth;
use crate::error::{ApiError, Code};
use crate::routes::paging::Params;
use crate::routes::stream::stream_body;
use crate::routes::write::{find_org, read_body};
use crate::source::{EngineSink, EngineSource};

/// Largest query body accepted.
const MAX_QUERY_BODY: usize = 16 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DialectBody {
    header: Option<bool>,
    delimiter: Option<String>,
    #[serde(default)]
    annotations: Vec<String>,
    comment_prefix: Option<String>,
    date_time_format: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QueryBody {
    #[serde(default)]
    query: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    dialect: Option<DialectBody>,
    now: Option<String>,
    #[serde(default, rename = "extern")]
    ext: serde_json::Value,
}

/// What a request asks to run.
struct Parsed {
    query: String,
    dialect: Dialect,
    now: Option<i64>,
    prelude: String,
}

fn parse_request(headers: &HeaderMap, body: &[u8]) -> Result<Parsed, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type == "application/vnd.flux" {
        let query = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::invalid("failed to decode request body: invalid UTF-8"))?;
        return Ok(Parsed {
            query,
            dialect: Dialect::default(),
            now: None,
            prelude: String::new(),
        });
    }
    let req: QueryBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("failed to decode request body: {e}")))?;
    match req.kind.as_deref() {
        None | Some("") | Some("flux") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "unsupported query type {other:?}: only flux is supported"
            )));
        }
    }
    if req.query.trim().is_empty() {
        return Err(ApiError::invalid("query cannot be empty"));
    }
    let d = req.dialect.unwrap_or_default();
    let dialect = Dialect::from_request(
        d.header,
        d.delimiter.as_deref(),
        &d.annotations,
        d.comment_prefix.as_deref(),
        d.date_time_format.as_deref(),
    )
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    let now = match req.now.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            query::time::parse_rfc3339(s)
                .ok_or_else(|| ApiError::invalid(format!("invalid now time {s:?}")))?,
        ),
    };
    let prelude = query::flux::extern_ast::to_source(&req.ext)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Parsed {
        query: req.query,
        dialect,
        now,
        prelude,
    })
}

/// Sets the flag when dropped: the request future is dropped when the client goes away.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
        })
}

fn code_of(s: &str) -> Code {
    Code::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .unwrap_or(Code::Internal)
}

/// `POST /api/v2/query`.
pub async fn query(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let org_id = if params.get("org").is_some() || params.get("orgID").is_some() {
        find_org(&app, &params).await?.id
    } else {
        match auth.org_id {
            Some(o) => o,
            None => return Err(ApiError::invalid("Please provide either orgID or org")),
        }
    };
    let headers = req.headers().clone();
    let body = read_body(req.into_body(), MAX_QUERY_BODY).await?;
    let parsed = parse_request(&headers, &body)?;
    let sink = EngineSink {
        meta: Arc::clone(&app.meta),
        engine: Arc::clone(&app.engine),
        org_id,
        auth: auth.clone(),
    };
    let secrets = crate::routes::secrets::OrgSecrets::lookup(&app.meta, org_id, &auth);
    let source = EngineSource {
        meta: Arc::clone(&app.meta),
        engine: Arc::clone(&app.engine),
        org_id,
        auth,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(Arc::clone(&cancel));
    let now = parsed.now.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    });
    let options = query::Options {
        now,
        prelude: parsed.prelude,
        cancel: Some(cancel),
        memory_limit: (app.query_memory_bytes > 0).then_some(app.query_memory_bytes),
        secrets,
        ..query::Options::default()
    };
    let dialect = parsed.dialect;
    let script = parsed.query;
    let results = app
        .storage(move |_| query::execute_with_sink(&script, &source, Some(&sink), &options))
        .await?;
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            let code = code_of(e.code());
            if code == Code::Internal {
                return Err(ApiError::internal(&e));
            }
            return Err(ApiError::new(code, e.to_string()));
        }
    };
    // The tables are complete; their CSV streams out as it is encoded, each result dropped
    // once written, so the answer is never held twice (tables and text) nor whole as text.
    let gzip = accepts_gzip(&headers);
    let body = stream_body(gzip.then(Compression::fast), move |mut w| {
        for result in results {
            query::csv::write_result(&mut w, &result, &dialect).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    let mut resp = (StatusCode::OK, body).into_response();
    if gzip {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(ct) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h
    }

    #[test]
    fn flux_and_json_bodies() {
        let p = parse_request(&headers("application/vnd.flux"), b"buckets()").ok();
        assert_eq!(p.as_ref().map(|p| p.query.as_str()), Some("buckets()"));
        let body = br#"{"query":"buckets()","type":"flux","now":"2024-01-01T00:00:00Z",
            "dialect":{"annotations":["datatype","group","default"],"delimiter":";"}}"#;
        let p = parse_request(&headers("application/json"), body).ok();
        assert_eq!(
            p.as_ref().and_then(|p| p.now),
            Some(1_704_067_200_000_000_000)
        );
        assert_eq!(p.as_ref().map(|p| p.dialect.delimiter), Some(';'));
        assert_eq!(p.as_ref().map(|p| p.dialect.annotations.len()), Some(3));
        let bad = parse_request(&headers(""), br#"{"query":"x","type":"influxql"}"#);
        assert_eq!(bad.err().map(|e| e.code), Some(Code::Invalid));
        let bad = parse_request(
            &headers(""),
            br#"{"query":"x","dialect":{"annotations":["nope"]}}"#,
        );
        assert_eq!(bad.err().map(|e| e.code), Some(Code::Invalid));
        let bad = parse_request(&headers(""), b"not json");
        assert_eq!(bad.err().map(|e| e.code), Some(Code::Invalid));
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
    }
}
