//! `/private/legacy/authorizations`: the legacy (1.x) authorizations behind `influx v1 auth`
//! (InfluxDB's `v1/authorization/http_server.go`): list (filters `userID`, `user`, `orgID`,
//! `org`, `token` (the username), `authID` or `id`), create, get, update (status, description),
//! delete, and `POST /{id}/password`.
//!
//! The JSON is a 2.x authorization's with `token` holding the 1.x username, `links.self` under
//! this prefix, and `user`/`userID` always present. Permission checks are the 2.x
//! authorizations' (InfluxDB wraps this service in the same `AuthedAuthorizationService`):
//! seeing one needs `read:orgs/<org>/authorizations/<id>` and `read:users/<user>`, changing it
//! the same with `write`, creating one `write:orgs/<org>/authorizations`, `write:users/<user>`
//! and every permission it grants (403 otherwise); setting a password needs
//! `write:users/<user>`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meta::{Action, Authorization, AuthorizationFilter, Id, ResourceType};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::authorizations::{allowed, names, parse_status, require_grant, validate_create};
use crate::routes::paging::{IdPath, Params, parse_id};
use crate::routes::{JsonBody, views};

/// Where the routes live.
pub const PREFIX: &str = "/private/legacy/authorizations";

/// The JSON of one legacy authorization (`authResponse`); InfluxDB cannot build it when the
/// org or the user is gone: `organization not found` / `user not found`.
fn view(a: &Authorization, names: &views::Names) -> Result<Value, ApiError> {
    if !names.orgs.contains_key(&a.org_id) {
        return Err(ApiError::not_found("organization not found"));
    }
    if a.user_id.is_none_or(|u| !names.users.contains_key(&u)) {
        return Err(ApiError::not_found("user not found"));
    }
    let mut v = views::authorization(a, names);
    v["links"]["self"] = json!(format!("{PREFIX}/{}", a.id));
    Ok(v)
}

pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let filter = AuthorizationFilter {
        id: match params.id("authID")? {
            Some(id) => Some(id),
            None => params.id("id")?,
        },
        token: params.get("token").map(str::to_string),
        user_id: params.id("userID")?,
        user: params.get("user").map(str::to_string),
        org_id: params.id("orgID")?,
        org: params.get("org").map(str::to_string),
    };
    let all = app
        .meta(move |m| m.list_legacy_authorizations(&filter))
        .await?;
    let names = names(&app).await?;
    // Unreadable ones are left out; so are those whose org or user is gone.
    let visible: Vec<Value> = all
        .iter()
        .filter(|a| allowed(&auth, a, Action::Read).is_ok())
        .filter_map(|a| view(a, &names).ok())
        .collect();
    Ok(Json(json!({
        "links": { "self": PREFIX },
        "authorizations": visible,
    })))
}

/// InfluxDB's `postAuthorizationRequest` (`token` is the username).
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    token: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(rename = "userID", default)]
    user_id: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<Value>,
}

pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // `Validate`, in InfluxDB's order: permissions, org, status, token.
    let (perms, org_id, status) = validate_create(
        &body.permissions,
        body.org_id.as_deref(),
        body.status.as_deref(),
    )?;
    if body.token.is_empty() {
        return Err(ApiError::invalid(
            "token required for v1 user authorization type",
        ));
    }
    // The caller must be a user; the new authorization acts for it unless another is named.
    let unable = || ApiError::invalid("unable to create token");
    let caller = auth.user_id.ok_or_else(unable)?;
    app.meta(move |m| m.get_user(caller))
        .await
        .map_err(|_| unable())?;
    let user_id = match body.user_id.as_deref().filter(|s| !s.is_empty()) {
        Some(u) => parse_id(u)?,
        None => caller,
    };
    require_grant(&auth, org_id, Some(user_id), &perms)?;
    let create = meta::AuthorizationCreate {
        org_id: Some(org_id),
        user_id: Some(user_id),
        description: body.description,
        status,
        permissions: perms,
        token: Some(body.token),
    };
    let a = app
        .meta(move |m| m.create_legacy_authorization(create))
        .await?;
    let names = names(&app).await?;
    Ok((StatusCode::CREATED, Json(view(&a, &names)?)))
}

async fn find(app: &App, id: Id) -> Result<Authorization, ApiError> {
    app.meta(move |m| m.get_legacy_authorization(id)).await
}

pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let a = find(&app, id).await?;
    allowed(&auth, &a, Action::Read)?;
    let names = names(&app).await?;
    Ok(Json(view(&a, &names)?))
}

/// InfluxDB's `AuthorizationUpdate`.
#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    status: Option<String>,
    description: Option<String>,
}

pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    let a = find(&app, id).await?;
    allowed(&auth, &a, Action::Read)?;
    allowed(&auth, &a, Action::Write)?;
    // InfluxDB stores the update first and rejects an unknown status when encoding it.
    let status = match body.status.as_deref() {
        None => None,
        Some(s) => Some(
            parse_status(Some(s))
                .ok()
                .flatten()
                .ok_or_else(|| ApiError::invalid("unknown authorization status"))?,
        ),
    };
    let upd = meta::AuthorizationUpdate {
        status,
        description: body.description,
    };
    let a = app
        .meta(move |m| m.update_legacy_authorization(id, upd))
        .await?;
    let names = names(&app).await?;
    Ok(Json(view(&a, &names)?))
}

pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let a = find(&app, id).await?;
    allowed(&auth, &a, Action::Write)?;
    app.meta(move |m| m.delete_legacy_authorization(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"password": "..."}`.
#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    #[serde(default)]
    password: String,
}

/// `POST /{id}/password`: 204; the authorization must exist (404), the caller may write its
/// user (401), the password has at least 8 characters (400).
pub async fn set_password(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let a = find(&app, id).await?;
    if let Some(u) = a.user_id {
        auth.require(&Perm::resource(Action::Write, ResourceType::Users, u))?;
    }
    app.meta(move |m| m.set_legacy_password(id, &body.password))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
