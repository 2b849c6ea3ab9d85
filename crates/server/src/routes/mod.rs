//! The route table: every path the server answers, in one place.
//!
//! Public routes (no token): `/health`, `/ping`, `/ready`, `GET|POST /api/v2/setup`,
//! `POST /api/v2/signin`. Every other `/api/v2` route requires a token or a session cookie.
//! Routes of the InfluxDB API that are not built yet are listed in [`NOT_IMPLEMENTED`]; they
//! authenticate the caller and then answer 501 `not implemented`.

pub mod authorizations;
pub mod backup;
pub mod buckets;
pub mod config;
pub mod dashboards;
pub mod dbrps;
pub mod delete;
pub mod health;
pub mod influxql;
pub mod labels;
pub mod legacy;
pub mod members;
pub mod orgs;
pub mod paging;
pub mod query;
pub mod restore;
pub mod secrets;
pub mod setup;
pub mod signin;
pub mod stream;
pub mod tasks;
pub mod telegrafs;
pub mod users;
pub mod variables;
pub mod views;
pub mod write;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::routing::{MethodFilter, MethodRouter, any, get, post};
use meta::{ResourceType, UserType};
use serde::de::DeserializeOwned;

use crate::App;
use crate::auth::Auth;
use crate::error::{ApiError, Code};

/// Operations of InfluxDB OSS v2's API contract that are not built:
/// they answer 501 `not implemented`, after authenticating the caller as the built routes
/// would (`/api/v2` with a token or session;
/// `/debug/pprof`, public in InfluxDB, without). Methods, and the path as the
/// router spells it (the first ID of a resource is `{id}` throughout). README lists them.
pub const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("GET", "/api/v2"),
    ("GET|POST", "/api/v2/checks"),
    ("GET|PUT|PATCH|DELETE", "/api/v2/checks/{id}"),
    ("GET|POST", "/api/v2/checks/{id}/labels"),
    ("DELETE", "/api/v2/checks/{id}/labels/{labelID}"),
    ("GET", "/api/v2/checks/{id}/query"),
    ("GET", "/debug/pprof/all"),
    ("GET", "/debug/pprof/allocs"),
    ("GET", "/debug/pprof/block"),
    ("GET", "/debug/pprof/cmdline"),
    ("GET", "/debug/pprof/goroutine"),
    ("GET", "/debug/pprof/heap"),
    ("GET", "/debug/pprof/mutex"),
    ("GET", "/debug/pprof/profile"),
    ("GET", "/debug/pprof/threadcreate"),
    ("GET", "/debug/pprof/trace"),
    ("GET", "/api/v2/flags"),
    ("GET|POST", "/api/v2/notificationEndpoints"),
    ("GET|PUT|PATCH|DELETE", "/api/v2/notificationEndpoints/{id}"),
    ("GET|POST", "/api/v2/notificationEndpoints/{id}/labels"),
    (
        "DELETE",
        "/api/v2/notificationEndpoints/{id}/labels/{labelID}",
    ),
    ("GET|POST", "/api/v2/notificationRules"),
    ("GET|PUT|PATCH|DELETE", "/api/v2/notificationRules/{id}"),
    ("GET|POST", "/api/v2/notificationRules/{id}/labels"),
    ("DELETE", "/api/v2/notificationRules/{id}/labels/{labelID}"),
    ("GET", "/api/v2/notificationRules/{id}/query"),
    ("POST", "/api/v2/query/analyze"),
    ("POST", "/api/v2/query/ast"),
    ("GET", "/api/v2/query/suggestions"),
    ("GET", "/api/v2/query/suggestions/{id}"),
    ("GET|POST", "/api/v2/remotes"),
    ("GET|PATCH|DELETE", "/api/v2/remotes/{id}"),
    ("GET|POST", "/api/v2/replications"),
    ("GET|PATCH|DELETE", "/api/v2/replications/{id}"),
    ("POST", "/api/v2/replications/{id}/validate"),
    ("GET", "/api/v2/resources"),
    ("GET|POST", "/api/v2/scrapers"),
    ("GET|PATCH|DELETE", "/api/v2/scrapers/{id}"),
    ("GET|POST", "/api/v2/scrapers/{id}/labels"),
    ("DELETE", "/api/v2/scrapers/{id}/labels/{labelID}"),
    ("GET|POST", "/api/v2/scrapers/{id}/members"),
    ("DELETE", "/api/v2/scrapers/{id}/members/{userID}"),
    ("GET|POST", "/api/v2/scrapers/{id}/owners"),
    ("DELETE", "/api/v2/scrapers/{id}/owners/{userID}"),
    ("GET|POST", "/api/v2/sources"),
    ("GET|PATCH|DELETE", "/api/v2/sources/{id}"),
    ("GET", "/api/v2/sources/{id}/buckets"),
    ("GET", "/api/v2/sources/{id}/health"),
    ("GET|POST", "/api/v2/stacks"),
    ("GET|PATCH|DELETE", "/api/v2/stacks/{id}"),
    ("POST", "/api/v2/stacks/{id}/uninstall"),
    ("POST", "/api/v2/templates/apply"),
    ("POST", "/api/v2/templates/export"),
];

async fn not_implemented(_auth: Auth) -> ApiError {
    ApiError::not_implemented("not implemented")
}

async fn not_implemented_public() -> ApiError {
    ApiError::not_implemented("not implemented")
}

fn method_router(methods: &str, path: &str) -> MethodRouter<App> {
    let mut r = MethodRouter::new();
    for m in methods.split('|') {
        let filter = match m {
            "GET" => MethodFilter::GET,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            _ => MethodFilter::POST,
        };
        r = if path.starts_with("/api/") {
            r.on(filter, not_implemented)
        } else {
            r.on(filter, not_implemented_public)
        };
    }
    r
}

/// The full router, without middleware (see [`crate::app_router`]).
pub fn router() -> Router<App> {
    let mut r = Router::new()
        .route("/health", get(health::health))
        .route("/ping", get(health::ping).head(health::ping))
        .route("/ready", get(health::ready))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/api/v2/config", get(config::get))
        .route("/api/v2/setup", get(setup::allowed).post(setup::setup))
        .route("/api/v2/signin", post(signin::signin))
        .route("/api/v2/signout", post(signin::signout))
        .route("/api/v2/me", get(users::me))
        .route(
            "/api/v2/me/password",
            axum::routing::put(users::put_me_password),
        )
        .route("/api/v2/orgs", get(orgs::list).post(orgs::create))
        .route(
            "/api/v2/orgs/{id}",
            get(orgs::get_one).patch(orgs::update).delete(orgs::delete),
        )
        .route(
            "/api/v2/orgs/{id}/secrets",
            get(secrets::list).patch(secrets::patch),
        )
        .route(
            "/api/v2/orgs/{id}/secrets/delete",
            post(secrets::delete_many),
        )
        .route(
            "/api/v2/orgs/{id}/secrets/{secretID}",
            axum::routing::delete(secrets::delete_one),
        )
        .route("/api/v2/buckets", get(buckets::list).post(buckets::create))
        .route(
            "/api/v2/buckets/{id}",
            get(buckets::get_one)
                .patch(buckets::update)
                .delete(buckets::delete),
        )
        .route("/api/v2/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/api/v2/tasks/{id}",
            get(tasks::get_one)
                .patch(tasks::update)
                .delete(tasks::delete),
        )
        .route("/api/v2/tasks/{id}/logs", get(tasks::task_logs))
        .route(
            "/api/v2/tasks/{id}/runs",
            get(tasks::list_runs).post(tasks::run_now),
        )
        .route(
            "/api/v2/tasks/{id}/runs/{runID}",
            get(tasks::get_run).delete(tasks::cancel_run),
        )
        .route("/api/v2/tasks/{id}/runs/{runID}/logs", get(tasks::run_logs))
        .route(
            "/api/v2/tasks/{id}/runs/{runID}/retry",
            post(tasks::retry_run),
        )
        .route("/api/v2/labels", get(labels::list).post(labels::create))
        .route(
            "/api/v2/labels/{id}",
            get(labels::get_one)
                .patch(labels::update)
                .delete(labels::delete),
        )
        .route(
            "/api/v2/variables",
            get(variables::list).post(variables::create),
        )
        .route(
            "/api/v2/variables/{id}",
            get(variables::get_one)
                .put(variables::replace)
                .patch(variables::update)
                .delete(variables::delete),
        )
        .route("/api/v2/telegraf/plugins", get(telegrafs::plugins))
        .route(
            "/api/v2/telegrafs",
            get(telegrafs::list).post(telegrafs::create),
        )
        .route(
            "/api/v2/telegrafs/{id}",
            get(telegrafs::get_one)
                .put(telegrafs::replace)
                .delete(telegrafs::delete),
        )
        .route(
            "/api/v2/dashboards",
            get(dashboards::list).post(dashboards::create),
        )
        .route(
            "/api/v2/dashboards/{id}",
            get(dashboards::get_one)
                .patch(dashboards::update)
                .delete(dashboards::delete),
        )
        .route(
            "/api/v2/dashboards/{id}/cells",
            post(dashboards::add_cell).put(dashboards::replace_cells),
        )
        .route(
            "/api/v2/dashboards/{id}/cells/{cellID}",
            axum::routing::patch(dashboards::update_cell).delete(dashboards::delete_cell),
        )
        .route(
            "/api/v2/dashboards/{id}/cells/{cellID}/view",
            get(dashboards::get_view).patch(dashboards::update_view),
        )
        .route("/api/v2/users", get(users::list).post(users::create))
        .route(
            "/api/v2/users/{id}",
            get(users::get_one)
                .patch(users::update)
                .delete(users::delete),
        )
        .route("/api/v2/users/{id}/permissions", get(users::permissions))
        .route(
            "/api/v2/users/{id}/password",
            post(users::set_password).put(users::put_password),
        )
        .route(
            "/api/v2/authorizations",
            get(authorizations::list).post(authorizations::create),
        )
        .route(
            "/api/v2/authorizations/{id}",
            get(authorizations::get_one)
                .patch(authorizations::update)
                .delete(authorizations::delete),
        )
        .route(legacy::PREFIX, get(legacy::list).post(legacy::create))
        .route(
            "/private/legacy/authorizations/{id}",
            get(legacy::get_one)
                .patch(legacy::update)
                .delete(legacy::delete),
        )
        .route(
            "/private/legacy/authorizations/{id}/password",
            post(legacy::set_password),
        )
        .route("/api/v2/write", post(write::write_v2))
        .route("/write", post(write::write_v1))
        .route("/query", get(influxql::query_v1).post(influxql::query_v1))
        .route("/api/v2/query", post(query::query))
        .route("/api/v2/delete", post(delete::delete))
        .route("/api/v2/dbrps", get(dbrps::list).post(dbrps::create))
        .route(
            "/api/v2/dbrps/{id}",
            get(dbrps::get_one)
                .patch(dbrps::update)
                .delete(dbrps::delete),
        );
    r = r
        .route("/api/v2/backup/metadata", get(backup::metadata))
        .route("/api/v2/backup/kv", get(backup::kv))
        .route("/api/v2/backup/shards/{shardID}", get(backup::shard))
        .route("/api/v2/restore/kv", post(restore::kv))
        .route("/api/v2/restore/sql", post(restore::sql))
        .route(
            "/api/v2/restore/bucketMetadata",
            post(restore::bucket_metadata),
        )
        .route(
            "/api/v2/restore/bucket-metadata",
            post(restore::bucket_metadata),
        )
        .route(
            "/api/v2/restore/buckets/{bucketID}",
            post(restore::bucket_dbi),
        )
        .route(
            "/api/v2/restore/bucket/{bucketID}",
            post(restore::bucket_dbi),
        )
        .route("/api/v2/restore/shards/{shardID}", post(restore::shard));
    for (base, rtype) in [
        ("/api/v2/orgs", ResourceType::Orgs),
        ("/api/v2/buckets", ResourceType::Buckets),
        ("/api/v2/tasks", ResourceType::Tasks),
        ("/api/v2/telegrafs", ResourceType::Telegrafs),
        ("/api/v2/dashboards", ResourceType::Dashboards),
    ] {
        for (role, user_type) in [("members", UserType::Member), ("owners", UserType::Owner)] {
            let (list_add, del) = members::routes(members::Kind::new(rtype, user_type));
            let path = format!("{base}/{{id}}/{role}");
            r = r
                .route(&path, list_add)
                .route(&format!("{path}/{{userID}}"), del);
        }
    }
    for (base, rtype) in [
        ("/api/v2/buckets", ResourceType::Buckets),
        ("/api/v2/tasks", ResourceType::Tasks),
        ("/api/v2/variables", ResourceType::Variables),
        ("/api/v2/telegrafs", ResourceType::Telegrafs),
        ("/api/v2/dashboards", ResourceType::Dashboards),
    ] {
        let (list_add, remove) = labels::routes(rtype);
        r = r
            .route(&format!("{base}/{{id}}/labels"), list_add)
            .route(&format!("{base}/{{id}}/labels/{{labelID}}"), remove);
    }
    for (methods, path) in NOT_IMPLEMENTED {
        r = r.route(path, method_router(methods, path));
    }
    r.fallback(any(path_not_found))
}

/// A JSON request body. Unlike `axum::Json` it does not insist on a `Content-Type` header
/// (InfluxDB does not), and every failure is an InfluxDB error: 400 `invalid` for a body that
/// does not decode, 413 `request too large` past the body limit.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(Code::RequestTooLarge, e.body_text())
            } else {
                ApiError::invalid(e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::invalid(format!("failed to decode request body: {e}")))
    }
}

async fn path_not_found() -> ApiError {
    ApiError::not_found("path not found")
}
