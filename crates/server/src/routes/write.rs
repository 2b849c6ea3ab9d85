//! Writes: `POST /api/v2/write` (`org`/`orgID`, `bucket`/`bucketID`, `precision` ns/us/ms/s)
//! and the 1.x `POST /write` (`db`, `rp`, `precision`; the token as password, see
//! [`crate::auth::V1Auth`]), which finds its bucket through the DBRP mappings (virtual ones included). Both end in
//! [`write_body`]: read the body (gunzipped for `Content-Encoding: gzip`) up to the server's
//! limit, then parse and write it in the storage engine on the blocking pool.
//!
//! Answers as InfluxDB 2.x's write handlers: 204 once every point is fsynced in the WAL; 400
//! `invalid` with the parser's message and the first bad `line`; 413 past the body limit; 422
//! `unprocessable entity` when points were dropped (field type conflict, retention); 503
//! `unavailable` while the cache is full; 401 without credentials, 403 `insufficient permissions
//! for write` without write permission on the bucket, 404 for an unknown org, bucket or
//! mapping.

use std::io::Read as _;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meta::{Action, Bucket, DbrpFilter, Id, Organization, ResourceType};
use storage::{Precision, WriteError};

use crate::App;
use crate::auth::{Auth, Perm, V1Auth};
use crate::error::{ApiError, Code};
use crate::routes::paging::{Params, parse_id};

/// The org named by `org` (an ID or a name) or `orgID`, as InfluxDB's `queryOrganization`.
pub async fn find_org(app: &App, params: &Params) -> Result<Organization, ApiError> {
    if let Some(org) = params.get("org") {
        let org = org.to_string();
        return app
            .meta(move |m| {
                if let Ok(id) = parse_id(&org)
                    && let Ok(o) = m.get_org(id)
                {
                    return Ok(Some(o));
                }
                match m.find_org_by_name(&org) {
                    Ok(o) => Ok(Some(o)),
                    Err(meta::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "organization name \"{}\" not found",
                    params.get("org").unwrap_or_default()
                ))
            });
    }
    if let Some(id) = params.id("orgID")? {
        return app.meta(move |m| m.get_org(id)).await;
    }
    Err(ApiError::invalid("Please provide either orgID or org"))
}

/// The bucket of `org` named by `bucket` (an ID or a name) or `bucketID`.
pub async fn find_bucket(app: &App, org: Id, params: &Params) -> Result<Bucket, ApiError> {
    if let Some(name) = params.get("bucket") {
        let name = name.to_string();
        let shown = name.clone();
        return app
            .meta(move |m| {
                if let Ok(id) = parse_id(&name)
                    && let Ok(b) = m.get_bucket(id)
                    && b.org_id == org
                {
                    return Ok(Some(b));
                }
                match m.find_bucket_by_name(org, &name) {
                    Ok(b) => Ok(Some(b)),
                    Err(meta::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?
            .ok_or_else(|| ApiError::not_found(format!("bucket \"{shown}\" not found")));
    }
    if let Some(id) = params.id("bucketID")? {
        let b = app.meta(move |m| m.get_bucket(id)).await?;
        if b.org_id != org {
            return Err(ApiError::not_found("bucket not found"));
        }
        return Ok(b);
    }
    Err(ApiError::not_found("bucket not found"))
}

/// `Ok` when the caller may write into the bucket, else InfluxDB's 403.
pub fn require_bucket_write(auth: &Auth, b: &Bucket, message: &str) -> Result<(), ApiError> {
    if auth.allowed(&Perm::at(
        Action::Write,
        ResourceType::Buckets,
        b.org_id,
        b.id,
    )) {
        Ok(())
    } else {
        Err(ApiError::forbidden(message))
    }
}

const MSG_PRECISION: &str = "invalid precision; valid precision units are ns, us, ms, and s";

/// `POST /api/v2/write`.
pub async fn write_v2(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let precision = match params.get("precision").unwrap_or("ns") {
        "ns" => Precision::Nanoseconds,
        "us" => Precision::Microseconds,
        "ms" => Precision::Milliseconds,
        "s" => Precision::Seconds,
        _ => return Err(ApiError::invalid(MSG_PRECISION)),
    };
    if params.get("bucket").is_none() && params.get("bucketID").is_none() {
        return Err(ApiError::not_found("bucket not found"));
    }
    let org = find_org(&app, &params).await?;
    let bucket = find_bucket(&app, org.id, &params).await?;
    require_bucket_write(&auth, &bucket, "insufficient permissions for write")?;
    write_body(
        &app,
        &bucket,
        req.headers().clone(),
        req.into_body(),
        precision,
    )
    .await
}

/// `POST /write` (InfluxDB 1.x compatibility); credentials as [`V1Auth`] takes them.
pub async fn write_v1(
    State(app): State<App>,
    V1Auth(auth): V1Auth,
    params: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let Some(db) = params.get("db").map(str::to_string) else {
        return Err(ApiError::invalid("missing db"));
    };
    let precision = Precision::parse(params.get("precision").unwrap_or("ns"))
        .ok_or_else(|| ApiError::invalid(MSG_PRECISION))?;
    let bucket = find_dbrp_bucket(&app, auth.org_id, db, params.get("rp")).await?;
    require_bucket_write(&auth, &bucket, "insufficient permissions for write")?;
    write_body(
        &app,
        &bucket,
        req.headers().clone(),
        req.into_body(),
        precision,
    )
    .await
}

/// The bucket a 1.x database and retention policy map to in `org`: the mapping with that
/// retention policy, or the database's default mapping when `rp` is absent.
pub async fn find_dbrp_bucket(
    app: &App,
    org: Option<Id>,
    db: String,
    rp: Option<&str>,
) -> Result<Bucket, ApiError> {
    let Some(org) = org else {
        return Err(ApiError::not_found("no dbrp mapping found"));
    };
    let filter = DbrpFilter {
        org_id: Some(org),
        database: Some(db),
        retention_policy: rp.map(str::to_string),
        default: if rp.is_none() { Some(true) } else { None },
        ..DbrpFilter::default()
    };
    app.meta(move |m| {
        let Some(mapping) = m.list_dbrps(&filter)?.into_iter().next() else {
            return Ok(None);
        };
        m.get_bucket(mapping.bucket_id).map(Some)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("no dbrp mapping found"))
}

/// Why a body could not be read.
enum BodyError {
    TooLarge,
    Gzip(String),
    Io(String),
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        match e {
            BodyError::TooLarge => ApiError::new(
                Code::RequestTooLarge,
                "unable to read data: points batch is too large",
            ),
            BodyError::Gzip(m) => ApiError::invalid(format!("unable to read data: gzip: {m}")),
            BodyError::Io(m) => ApiError::invalid(format!("unable to read data: {m}")),
        }
    }
}

/// Reads a request body of at most `limit` bytes; past it, 413 as InfluxDB words it.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge.into()),
        Err(e) => Err(BodyError::Io(e.to_string()).into()),
    }
}

/// Whether the request's `Content-Encoding` is gzip.
pub fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "gzip" | "x-gzip"))
}

/// Gunzips (all members) up to `limit` bytes of output.
fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(limit as u64 + 1);
    match dec.read_to_end(&mut out) {
        Ok(_) if out.len() > limit => Err(BodyError::TooLarge),
        Ok(_) => Ok(out),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            Err(BodyError::Gzip("invalid header".into()))
        }
        Err(e) => Err(BodyError::Gzip(e.to_string())),
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The write both APIs share: reads the body (gunzipping it if so encoded), parses it and
/// writes it into `bucket`. Answers 204, or the error as InfluxDB words it.
pub async fn write_body(
    app: &App,
    bucket: &Bucket,
    headers: HeaderMap,
    body: Body,
    precision: Precision,
) -> Result<Response, ApiError> {
    let limit = app.max_write_body_bytes;
    let raw = read_body(body, limit).await?;
    let gzip = is_gzip(&headers);
    let bucket_id = bucket.id.get();
    let result = app
        .storage(move |engine| -> Result<_, BodyError> {
            let data = if gzip {
                std::borrow::Cow::Owned(gunzip(&raw, limit)?)
            } else {
                std::borrow::Cow::Borrowed(&raw[..])
            };
            if data.is_empty() {
                return Ok(Err(WriteOutcome::Empty));
            }
            Ok(engine
                .write_lines(bucket_id, &data, precision, now_ns())
                .map_err(WriteOutcome::Engine))
        })
        .await?
        .map_err(ApiError::from)?;
    match result {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(WriteOutcome::Empty) => Err(ApiError::invalid("writing requires points")),
        Err(WriteOutcome::Engine(e)) => Ok(write_error(e)),
    }
}

enum WriteOutcome {
    Empty,
    Engine(WriteError),
}

/// InfluxDB's answer to a failed write.
pub fn write_error(e: WriteError) -> Response {
    match e {
        WriteError::Parse(errs) => {
            let mut body = serde_json::json!({
                "code": Code::Invalid.as_str(),
                "message": errs.to_string(),
            });
            if let Some(line) = errs.first_line() {
                body["line"] = serde_json::json!(line);
            }
            let mut resp = (
                StatusCode::BAD_REQUEST,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            h.insert(
                "x-platform-error-code",
                HeaderValue::from_static(Code::Invalid.as_str()),
            );
            resp
        }
        e @ WriteError::PartialWrite { .. } => ApiError::new(
            Code::UnprocessableEntity,
            format!("failure writing points to database: {e}"),
        )
        .into_response(),
        WriteError::CacheFull(c) => ApiError::new(
            Code::Unavailable,
            format!("unexpected error writing points to database: {c}"),
        )
        .into_response(),
        WriteError::BucketNotFound(_) => ApiError::not_found("bucket not found").into_response(),
        e @ (WriteError::Catalog(_) | WriteError::Storage(_)) => {
            ApiError::internal(&e).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunzip_bounds_and_errors() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"m v=1 1\n").unwrap_or_default();
        let gz = enc.finish().unwrap_or_default();
        assert_eq!(gunzip(&gz, 100).ok().as_deref(), Some(&b"m v=1 1\n"[..]));
        assert!(matches!(gunzip(&gz, 4), Err(BodyError::TooLarge)));
        assert!(matches!(gunzip(b"not gzip", 100), Err(BodyError::Gzip(_))));
    }

    #[test]
    fn gzip_header_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_gzip(&h));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(is_gzip(&h));
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(!is_gzip(&h));
    }
}
