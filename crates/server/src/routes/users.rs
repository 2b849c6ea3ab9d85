//! `/api/v2/users` (list, create, get, update, delete), `/api/v2/users/{id}/password`,
//! `/api/v2/me` and `/api/v2/me/password`.
//!
//! Users belong to no org: reading one needs `read:users/<id>`, changing it
//! `write:users/<id>`, creating one instance-wide `write:users`. As in InfluxDB this holds for
//! `/me` too: a session carries read and write on its own user, a token only what it lists.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use meta::{Action, FindOptions, Id, ResourceType, Status, User, UserFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::paging::{IdPath, Params, page};
use crate::routes::{JsonBody, views};

fn read_perm(id: Id) -> meta::Permission {
    Perm::resource(Action::Read, ResourceType::Users, id)
}

fn write_perm(id: Id) -> meta::Permission {
    Perm::resource(Action::Write, ResourceType::Users, id)
}

pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let opts = params.find_options()?;
    let filter = UserFilter {
        id: params.id("id")?,
        name: params.get("name").map(str::to_string),
    };
    let all = app
        .meta(move |m| m.list_users(&filter, &FindOptions::default()))
        .await?;
    let visible: Vec<User> = all
        .into_iter()
        .filter(|u| auth.allowed(&read_perm(u.id)))
        .collect();
    let users = page(visible, &opts, |u| u.id);
    Ok(Json(json!({
        "links": { "self": "/api/v2/users" },
        "users": users.iter().map(views::user).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: Option<String>,
}

fn parse_status(s: Option<&str>) -> Result<Option<Status>, ApiError> {
    match s {
        None => Ok(None),
        Some("active") => Ok(Some(Status::Active)),
        Some("inactive") => Ok(Some(Status::Inactive)),
        Some(other) => Err(ApiError::invalid(format!("invalid status {other:?}"))),
    }
}

pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth.require(&Perm::global(Action::Write, ResourceType::Users))?;
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("user name is empty"));
    }
    let status = parse_status(body.status.as_deref())?.unwrap_or(Status::Active);
    let u = app
        .meta(move |m| {
            let u = m.create_user(&body.name)?;
            if status == Status::Inactive {
                return m.update_user(u.id, None, Some(status));
            }
            Ok(u)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(views::user(&u))))
}

pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    auth.require(&read_perm(id))?;
    let u = app.meta(move |m| m.get_user(id)).await?;
    Ok(Json(views::user(&u)))
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    status: Option<String>,
}

pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require(&write_perm(id))?;
    if body.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid("user name is empty"));
    }
    let status = parse_status(body.status.as_deref())?;
    let u = app
        .meta(move |m| m.update_user(id, body.name.as_deref(), status))
        .await?;
    Ok(Json(views::user(&u)))
}

pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    auth.require(&write_perm(id))?;
    app.meta(move |m| m.delete_user(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    #[serde(default)]
    password: String,
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if p.chars().count() < 8 {
        return Err(ApiError::invalid(
            "passwords must be at least 8 characters long",
        ));
    }
    Ok(())
}

/// `POST /api/v2/users/{id}/password`: sets the password (needs `write:users/<id>`).
pub async fn set_password(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    auth.require(&write_perm(id))?;
    check_password(&body.password)?;
    app.meta(move |m| {
        m.get_user(id)?;
        m.set_password(id, &body.password)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v2/users/{id}/password`: changes the password given the old one in basic auth.
pub async fn put_password(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    auth.require(&write_perm(id))?;
    change_password(&app, id, &headers, body.password).await
}

/// `GET /api/v2/users/{id}/permissions`: what the user holds through its resource mappings.
pub async fn permissions(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    auth.require(&read_perm(id))?;
    let perms = app
        .meta(move |m| {
            m.get_user(id)?;
            crate::auth::user_permissions(m, id)
        })
        .await?;
    Ok(Json(json!(perms)))
}

/// `GET /api/v2/me`: the calling user.
pub async fn me(State(app): State<App>, auth: Auth) -> Result<Json<Value>, ApiError> {
    let Some(id) = auth.user_id else {
        return Err(ApiError::unauthorized_access());
    };
    auth.require(&read_perm(id))?;
    let u = app.meta(move |m| m.get_user(id)).await?;
    Ok(Json(views::user(&u)))
}

/// `PUT /api/v2/me/password`: changes one's password; the old one comes as basic auth.
pub async fn put_me_password(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let Some(id) = auth.user_id else {
        return Err(ApiError::unauthorized_access());
    };
    change_password(&app, id, &headers, body.password).await
}

async fn change_password(
    app: &App,
    id: Id,
    headers: &HeaderMap,
    new: String,
) -> Result<StatusCode, ApiError> {
    let Some((_, old)) = basic_auth(headers) else {
        return Err(ApiError::unauthorized("invalid basic auth"));
    };
    check_password(&new)?;
    app.meta(move |m| {
        m.verify_password(id, &old)?;
        m.set_password(id, &new)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `(user, password)` of an `Authorization: Basic` header.
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    for v in headers.get_all(header::AUTHORIZATION) {
        let Ok(v) = v.to_str() else { continue };
        let Some(b64) = v.strip_prefix("Basic ") else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        return Some((u.to_string(), p.to_string()));
    }
    None
}
