//! `/api/v2/orgs`: list (filters `org`, `orgID`, `userID`; paging; `links.self` only, as
//! InfluxDB answers), create, get, update, delete.
//! Reading an org needs `read:orgs/<id>`; creating one needs instance-wide `write:orgs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meta::{Action, FindOptions, Id, OrgFilter, Organization, ResourceType};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::paging::{IdPath, Params, page};
use crate::routes::{JsonBody, views};

fn read_perm(id: Id) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Orgs, id, id)
}

fn write_perm(id: Id) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Orgs, id, id)
}

pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let opts = params.find_options()?;
    // As InfluxDB, malformed `orgID`/`userID` filters are ignored rather than refused.
    let mut filter = OrgFilter {
        id: params.id("orgID").ok().flatten(),
        name: params.get("org").map(str::to_string),
        user_id: params.id("userID").ok().flatten(),
    };
    // Without a filter, a caller that may not read every org sees the orgs its user belongs to.
    if filter.id.is_none()
        && filter.name.is_none()
        && filter.user_id.is_none()
        && !auth.allowed(&Perm::global(Action::Read, ResourceType::Orgs))
    {
        filter.user_id = auth.user_id;
    }
    let name = filter.name.clone();
    let all = app
        .meta(move |m| m.list_orgs(&filter, &FindOptions::default()))
        .await?;
    if all.is_empty()
        && let Some(n) = name
    {
        return Err(ApiError::not_found(format!(
            "organization name \"{n}\" not found"
        )));
    }
    let visible: Vec<Organization> = all
        .into_iter()
        .filter(|o| auth.allowed(&read_perm(o.id)))
        .collect();
    let orgs = page(visible, &opts, |o| o.id);
    Ok(Json(json!({
        "links": { "self": "/api/v2/orgs" },
        "orgs": orgs.iter().map(views::org).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    auth.require(&Perm::global(Action::Write, ResourceType::Orgs))?;
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("org name is empty"));
    }
    let owner = auth.user_id;
    let org = app
        .meta(move |m| m.create_org(&body.name, &body.description, owner))
        .await?;
    Ok((StatusCode::CREATED, Json(views::org(&org))))
}

pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    auth.require(&read_perm(id))?;
    let org = app.meta(move |m| m.get_org(id)).await?;
    Ok(Json(views::org(&org)))
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
}

pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    auth.require(&write_perm(id))?;
    if body.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::invalid("org name is empty"));
    }
    let org = app
        .meta(move |m| m.update_org(id, body.name.as_deref(), body.description.as_deref()))
        .await?;
    Ok(Json(views::org(&org)))
}

pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    auth.require(&write_perm(id))?;
    app.meta(move |m| m.delete_org(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
