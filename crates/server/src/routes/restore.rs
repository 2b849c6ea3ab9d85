//! Restore endpoints, as InfluxDB 2.x serves them to `influx restore`, made safe:
//!
//! * `POST /api/v2/restore/kv`: a BoltDB KV snapshot (ours or InfluxDB's). It is checked before
//!   the live store is touched: it must open as a store and hold an authorization with the
//!   operator's permissions (InfluxDB swaps it in anyway and then fails, leaving a server nobody
//!   can administer). Then it replaces the KV store, every shard of the engine is emptied (the
//!   restored `meta.db` catalogue describes the shards now), and the answer is 200
//!   `{"token": "<the restored operator token>"}` (empty when the snapshot keeps only hashes).
//!   The body is streamed to a file beside the live KV file and fsynced; that very file is
//!   checked and then renamed over the live one ([`meta::MetaStore::restore_kv_file`]), so the
//!   upload never sits in memory whole and a crash leaves the old or the new store.
//! * `POST /api/v2/restore/sql`: a SQLite snapshot, checked (it opens, passes `quick_check`,
//!   its migrations are known; the missing ones are applied to it) and then copied into the
//!   live database in one transaction by the metadata store; 204.
//! * `POST /api/v2/restore/bucketMetadata` (and `/restore/bucket-metadata`): a bucket manifest;
//!   the bucket is created with its shard groups under new IDs; 201
//!   `{id, name, shardMappings: [{oldId, newId}]}`; 422 `conflict` if the name exists; on any
//!   failure the new bucket is deleted again.
//! * `POST /api/v2/restore/buckets/{bucketID}` (and the documented singular `/restore/bucket/`):
//!   a protobuf `DatabaseInfo` replacing the bucket's shard layout; 200 with the JSON map of old
//!   to new shard IDs (`{"3":17}`).
//! * `POST /api/v2/restore/shards/{shardID}`: a shard tar, see [`storage::restore`]: staged,
//!   validated completely, switched atomically; 204; 404 `not found` for an unknown shard; 400
//!   `invalid` naming the entry and reason, with the shard unchanged.
//!
//! Operator only. Bodies are gunzipped when `Content-Encoding: gzip` and streamed: the async
//! body becomes a blocking reader (`StreamReader` + `SyncIoBridge`) consumed on the blocking
//! pool. The decompressed size of an upload is capped by the environment variable
//! `IRONFLUX_RESTORE_MAX_BYTES` (default 1 TiB) against gzip bombs.

use std::io::{self, Read};
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt as _;
use meta::{Id, Permission};
use serde_json::{Value, json};

use crate::App;
use crate::auth::Auth;
use crate::error::{ApiError, Code};
use crate::routes::backup::{engine, parse_shard_id};
use crate::routes::paging::parse_id;

/// Largest body of `/restore/buckets/{id}` (protobuf) and `/restore/bucketMetadata` (JSON).
const MAX_DBI_BYTES: usize = 64 << 20;

/// The restore options, from `IRONFLUX_RESTORE_MAX_BYTES`.
fn restore_options() -> &'static storage::restore::RestoreOptions {
    static OPTS: OnceLock<storage::restore::RestoreOptions> = OnceLock::new();
    OPTS.get_or_init(|| {
        let mut o = storage::restore::RestoreOptions::default();
        if let Some(n) = std::env::var("IRONFLUX_RESTORE_MAX_BYTES")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            o.max_bytes = n;
        }
        o
    })
}

/// The request body, to be read on the blocking pool: create it in the handler (the bridge
/// needs the runtime's handle), call [`BodyReader::open`] on the blocking thread (a gzip
/// decoder reads its header as soon as it is made).
struct BodyReader {
    bridge: Box<dyn Read + Send>,
    gzip: bool,
}

impl BodyReader {
    fn new(body: Body, headers: &HeaderMap) -> BodyReader {
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let stream = body.into_data_stream().map_err(io::Error::other);
        let bridge = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        BodyReader {
            bridge: Box::new(bridge),
            gzip,
        }
    }

    /// The (gunzipped) body; call on the blocking pool only.
    fn open(self) -> Box<dyn Read + Send> {
        if self.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(self.bridge))
        } else {
            self.bridge
        }
    }
}

/// Runs blocking work on the pool inside the request's span.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::internal_msg(&format!("restore task failed: {e}")))?
}

/// A file a restore uploads into, removed on drop unless it was renamed away.
struct Upload(std::path::PathBuf);

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Streams the body into `path` through a fixed buffer, at most `max` bytes (gzip bombs), and
/// fsyncs it. Memory does not depend on the body's size.
fn body_to_file(
    r: Box<dyn Read + Send>,
    path: &std::path::Path,
    max: u64,
) -> Result<u64, ApiError> {
    let mut f = std::fs::File::create(path).map_err(|e| ApiError::internal(&e))?;
    let mut limited = r.take(max.saturating_add(1));
    let n = io::copy(&mut limited, &mut f)
        .map_err(|e| ApiError::invalid(format!("failed to read request body: {e}")))?;
    if n > max {
        return Err(ApiError::new(
            Code::RequestTooLarge,
            format!("snapshot larger than the limit of {max} bytes"),
        ));
    }
    f.sync_all().map_err(|e| ApiError::internal(&e))?;
    Ok(n)
}

fn tempdir() -> Result<tempfile::TempDir, ApiError> {
    tempfile::tempdir().map_err(|e| ApiError::internal(&e))
}

/// True when `a` grants every permission backup and restore demand.
fn is_operator(a: &meta::Authorization) -> bool {
    Permission::operator_set().iter().all(|p| a.allows(p))
}

/// `POST /api/v2/restore/kv`.
pub async fn kv(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth.require_operator()?;
    let reader = BodyReader::new(body, &headers);
    let meta = Arc::clone(&app.meta);
    let engine = engine(&app);
    let token = blocking(move || {
        // The upload goes beside the live KV file, so that it can be renamed over it.
        let upload = Upload(meta.kv_restore_path());
        body_to_file(reader.open(), &upload.0, restore_options().max_bytes)?;
        // Validate before the live store is touched: it opens as a store (every page, the
        // migration list) and holds an operator authorization.
        let probe_dir = tempdir()?;
        let probe = meta::MetaStore::open(&upload.0, probe_dir.path().join("probe.sqlite"))
            .map_err(|e| ApiError::invalid(format!("invalid KV snapshot: {e}")))?;
        let auths = probe
            .list_authorizations(&meta::AuthorizationFilter::default())
            .map_err(|e| ApiError::invalid(format!("invalid KV snapshot: {e}")))?;
        drop(probe);
        let Some(op) = auths.iter().find(|a| is_operator(a)) else {
            return Err(ApiError::invalid(
                "invalid backup without an operator token: no authorization in the KV snapshot \
                 holds the operator's permissions, so the restored server could not be \
                 administered; nothing was restored",
            ));
        };
        let token = op.token.clone();
        drop(auths);
        let mut buckets = engine.catalog().buckets().unwrap_or_default();
        meta.restore_kv_file(&upload.0).map_err(|e| match e {
            meta::Error::Corrupt(m) | meta::Error::Invalid(m) => {
                ApiError::invalid(format!("invalid KV snapshot: {m}"))
            }
            other => ApiError::from(other),
        })?;
        buckets.extend(engine.catalog().buckets().unwrap_or_default());
        storage::restore::reset_shards(&engine, &buckets).map_err(|e| ApiError::internal(&e))?;
        Ok(token)
    })
    .await?;
    Ok((StatusCode::OK, Json(json!({ "token": token }))).into_response())
}

/// `POST /api/v2/restore/sql`.
pub async fn sql(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    auth.require_operator()?;
    let reader = BodyReader::new(body, &headers);
    let meta = Arc::clone(&app.meta);
    blocking(move || {
        let upload = Upload(meta.sql_restore_path());
        body_to_file(reader.open(), &upload.0, restore_options().max_bytes)?;
        meta.restore_sql(&upload.0).map_err(|e| match e {
            meta::Error::Sqlite(_) | meta::Error::Corrupt(_) | meta::Error::Invalid(_) => {
                ApiError::invalid(format!("invalid SQL snapshot: {e}"))
            }
            other => ApiError::from(other),
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The one retention policy of a restored bucket, named `autogen` (the only policy directory
/// the engine keeps), with owners cleared.
fn single_rp(mut db: meta::DatabaseInfo) -> Result<meta::DatabaseInfo, ApiError> {
    if db.retention_policies.len() != 1 {
        return Err(ApiError::invalid(format!(
            "bucket must have 1 retention policy; attempting to restore {} retention policies",
            db.retention_policies.len()
        )));
    }
    db.default_retention_policy = meta::catalog::AUTOGEN.to_string();
    db.continuous_queries.clear();
    for rp in &mut db.retention_policies {
        rp.name = meta::catalog::AUTOGEN.to_string();
        for g in &mut rp.shard_groups {
            for s in &mut g.shards {
                s.owners.clear();
                s.owner_ids.clear();
            }
        }
    }
    Ok(db)
}

fn manifest_to_dbi(m: &backup::manifest::BucketManifest) -> meta::DatabaseInfo {
    meta::DatabaseInfo {
        name: m.bucket_name.clone(),
        default_retention_policy: m.default_retention_policy.clone(),
        retention_policies: m
            .retention_policies
            .iter()
            .map(|rp| meta::RetentionPolicyInfo {
                name: rp.name.clone(),
                duration: rp.duration,
                shard_group_duration: rp.shard_group_duration,
                replica_n: u32::try_from(rp.replica_n).unwrap_or(1),
                shard_groups: rp
                    .shard_groups
                    .iter()
                    .map(|g| meta::ShardGroupInfo {
                        id: g.id,
                        start_time: g.start_time,
                        end_time: g.end_time,
                        deleted_at: g.deleted_at.unwrap_or(0),
                        shards: g
                            .shards
                            .iter()
                            .map(|s| meta::ShardInfo {
                                id: s.id,
                                owner_ids: Vec::new(),
                                owners: Vec::new(),
                            })
                            .collect(),
                        truncated_at: g.truncated_at,
                    })
                    .collect(),
                subscriptions: rp
                    .subscriptions
                    .iter()
                    .map(|s| meta::catalog::SubscriptionInfo {
                        name: s.name.clone(),
                        mode: s.mode.clone(),
                        destinations: s.destinations.clone(),
                    })
                    .collect(),
            })
            .collect(),
        continuous_queries: Vec::new(),
    }
}

/// `POST /api/v2/restore/bucketMetadata` and `/restore/bucket-metadata`.
pub async fn bucket_metadata(
    State(app): State<App>,
    auth: Auth,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Operator first, then the body (InfluxDB's 401 comes before any decoding error).
    auth.require_operator()?;
    let bytes = axum::body::to_bytes(body, MAX_DBI_BYTES)
        .await
        .map_err(|e| ApiError::new(Code::RequestTooLarge, e.to_string()))?;
    let m: backup::manifest::BucketManifest = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("failed to unmarshal json: {e}")))?;
    let org_id = parse_id(&m.organization_id)?;
    let dbi = single_rp(manifest_to_dbi(&m))?;
    let rp = &dbi.retention_policies[0];
    let create = meta::BucketCreate {
        org_id: Some(org_id),
        name: m.bucket_name.clone(),
        description: m.description.clone().unwrap_or_default(),
        retention_period_ns: rp.duration,
        shard_group_duration_ns: rp.shard_group_duration,
        rp: String::new(),
        bucket_type: meta::BucketType::User,
    };
    let meta = Arc::clone(&app.meta);
    let engine = engine(&app);
    let (bucket, map) = blocking(move || {
        meta.get_org(org_id)?;
        let bucket = meta.create_bucket(create)?;
        match meta.replace_database_info(bucket.id, dbi) {
            Ok(map) => {
                engine.forget_bucket_groups(bucket.id.get());
                Ok((bucket, map))
            }
            Err(e) => {
                // Nothing left behind.
                if let Err(d) = meta.delete_bucket(bucket.id) {
                    tracing::error!(error = %d, bucket = %bucket.id, "removing a half-restored bucket");
                }
                Err(ApiError::from(e))
            }
        }
    })
    .await?;
    let mappings: Vec<Value> = map
        .iter()
        .map(|(old, new)| json!({"oldId": old, "newId": new}))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": bucket.id.to_string(),
            "name": bucket.name,
            "shardMappings": mappings,
        })),
    ))
}

/// `POST /api/v2/restore/buckets/{bucketID}` and `/restore/bucket/{bucketID}`.
pub async fn bucket_dbi(
    State(app): State<App>,
    auth: Auth,
    UrlPath(id): UrlPath<String>,
    body: Body,
) -> Result<Response, ApiError> {
    auth.require_operator()?;
    let id: Id = parse_id(&id)?;
    let bytes = axum::body::to_bytes(body, MAX_DBI_BYTES)
        .await
        .map_err(|e| ApiError::new(Code::RequestTooLarge, e.to_string()))?;
    let dbi = <meta::DatabaseInfo as prost::Message>::decode(bytes.as_ref())
        .map_err(|e| ApiError::invalid(format!("invalid DatabaseInfo: {e}")))?;
    let dbi = single_rp(dbi)?;
    let meta = Arc::clone(&app.meta);
    let engine = engine(&app);
    let map = blocking(move || {
        meta.get_bucket(id)?;
        meta.database_info(id)?;
        let map = meta.replace_database_info(id, dbi)?;
        engine.forget_bucket_groups(id.get());
        Ok(map)
    })
    .await?;
    let mut obj = serde_json::Map::new();
    for (old, new) in map {
        obj.insert(old.to_string(), json!(new));
    }
    let mut resp = (StatusCode::OK, Value::Object(obj).to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

/// `POST /api/v2/restore/shards/{shardID}`.
pub async fn shard(
    State(app): State<App>,
    auth: Auth,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    auth.require_operator()?;
    let id = parse_shard_id(&id)?;
    let reader = BodyReader::new(body, &headers);
    let engine = engine(&app);
    blocking(move || {
        use storage::restore::RestoreError as E;
        match storage::restore::restore_shard(&engine, id, reader.open(), restore_options()) {
            Ok(s) => {
                tracing::info!(shard = id, files = ?s.installed, bytes = s.tar_bytes, "shard restored");
                Ok(())
            }
            Err(E::NotFound(id)) => Err(ApiError::not_found(format!("shard {id} not found"))),
            Err(e @ E::Invalid { .. }) => Err(ApiError::invalid(e.to_string())),
            Err(e @ E::TooLarge(_)) => Err(ApiError::new(Code::RequestTooLarge, e.to_string())),
            Err(e) => Err(ApiError::internal(&e)),
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
