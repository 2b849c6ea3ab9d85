//! `POST /api/v2/delete`: deletes the points of a bucket in `[start, stop]` (both inclusive)
//! whose series match the predicate (`_measurement="cpu" AND host="a"`), through the storage
//! engine's tombstones. Org and bucket come from `org`/`orgID` and `bucket`/`bucketID` as for
//! writes; the body is `{"start", "stop", "predicate"}` with RFC 3339 times. Answers 204, or
//! InfluxDB's errors: 400 `invalid request; error parsing request json: ...`, 403
//! `insufficient permissions to delete`, 404 for an unknown org or bucket.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::App;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::routes::paging::Params;
use crate::routes::write::{find_bucket, find_org, read_body, require_bucket_write};

/// Largest delete body accepted.
const MAX_DELETE_BODY: usize = 1 << 20;

#[derive(Debug, Deserialize)]
struct DeleteBody {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    stop: Option<String>,
    #[serde(default)]
    predicate: String,
}

fn parse_error(msg: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!(
        "invalid request; error parsing request json: {msg}"
    ))
}

fn time_field(v: Option<&str>, name: &str, example: &str) -> Result<i64, ApiError> {
    v.and_then(query::time::parse_rfc3339).ok_or_else(|| {
        parse_error(format!(
            "invalid RFC3339Nano for field {name}, please format your time with RFC3339Nano format, example: {example}"
        ))
    })
}

/// `POST /api/v2/delete`.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let raw = read_body(req.into_body(), MAX_DELETE_BODY).await?;
    let body: DeleteBody = serde_json::from_slice(&raw).map_err(parse_error)?;
    let start = time_field(body.start.as_deref(), "start", "2009-01-02T23:00:00Z")?;
    let stop = time_field(body.stop.as_deref(), "stop", "2009-01-01T23:00:00Z")?;
    if start < storage::points::MIN_NANO_TIME {
        return Err(parse_error("invalid start time, start time is too soon"));
    }
    if stop > storage::points::MAX_NANO_TIME {
        return Err(parse_error("invalid stop time, stop time is too late"));
    }
    if stop < start {
        return Err(parse_error(
            "invalid request, start time must be before stop time",
        ));
    }
    let predicate = storage::parse_delete_predicate(&body.predicate).map_err(parse_error)?;
    let org = find_org(&app, &params).await?;
    if params.get("bucket").is_none() && params.get("bucketID").is_none() {
        return Err(ApiError::invalid(
            "Please provide either bucketID or bucket",
        ));
    }
    let bucket = find_bucket(&app, org.id, &params).await?;
    require_bucket_write(&auth, &bucket, "insufficient permissions to delete")?;
    let id = bucket.id.get();
    app.storage(move |e| e.delete(id, start, stop, &predicate))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the stored data of a bucket that was just deleted from the metadata store (as
/// InfluxDB drops a deleted bucket's shards): every shard's files, WAL and cache. The bucket's
/// shard groups left the catalogue with the bucket, so the engine's attempt to unregister each
/// group finds nothing, which is expected here.
pub async fn drop_bucket_data(app: &App, bucket: meta::Id) -> Result<(), ApiError> {
    let b = bucket.get();
    app.storage(move |e| {
        for (owner, id) in e.shards() {
            if owner != b {
                continue;
            }
            let spec = storage::catalog::ShardSpec {
                id,
                group_id: u64::MAX,
                start: 0,
                end: 0,
            };
            match e.drop_shard(b, &spec) {
                Ok(()) | Err(storage::engine::EngineError::Catalog(_)) => {}
                Err(err) => return Err(err),
            }
        }
        e.forget_bucket_groups(b);
        Ok(())
    })
    .await?
    .map_err(|e| ApiError::internal(&e))
}
