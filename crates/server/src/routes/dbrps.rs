//! `/api/v2/dbrps`: the InfluxDB 1.x database/retention-policy → bucket mappings used by the v1
//! `/write` and `/query`. Every call names the org (`orgID` or `org`); reading needs
//! `read:orgs/<org>/dbrp`, changing `write:orgs/<org>/dbrp`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meta::{Action, DbrpFilter, Id, ResourceType};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::paging::{IdPath, Params, parse_id};
use crate::routes::{JsonBody, views};

/// An ID from the query string or body, with InfluxDB's DBRP error text
/// (`invalid org ID "x": id must have a length of 16 bytes`).
fn id_param(what: &str, raw: Option<&str>) -> Result<Option<Id>, ApiError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse_id(s)
            .map(Some)
            .map_err(|e| ApiError::invalid(format!("invalid {what} {s:?}: {}", e.message))),
    }
}

/// The org named by `orgID` or `org` (ID first, as InfluxDB).
async fn org_of(app: &App, org_id: Option<&str>, org: Option<&str>) -> Result<Id, ApiError> {
    if let Some(id) = id_param("org ID", org_id)? {
        return Ok(id);
    }
    let Some(name) = org.filter(|s| !s.is_empty()).map(str::to_string) else {
        return Err(ApiError::invalid(
            "either 'org' or 'orgID' must be provided",
        ));
    };
    let n = name.clone();
    app.meta(move |m| m.find_org_by_name(&n))
        .await
        .map(|o| o.id)
        .map_err(|e| match e.code {
            crate::error::Code::NotFound => {
                ApiError::not_found(format!("invalid org {name:?}: organization not found"))
            }
            _ => e,
        })
}

fn parse_bool(s: &str) -> Result<bool, ApiError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(ApiError::invalid("invalid default parameter")),
    }
}

pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let org_id = org_of(&app, params.get("orgID"), params.get("org")).await?;
    auth.require(&Perm::in_org(Action::Read, ResourceType::Dbrp, org_id))?;
    let filter = DbrpFilter {
        id: id_param("DBRP ID", params.get("id"))?,
        org_id: Some(org_id),
        bucket_id: id_param("bucket ID", params.get("bucketID"))?,
        database: params.get("db").map(str::to_string),
        retention_policy: params.get("rp").map(str::to_string),
        default: params.get("default").map(parse_bool).transpose()?,
        r#virtual: None,
    };
    let all = app.meta(move |m| m.list_dbrps(&filter)).await?;
    Ok(Json(json!({
        "content": all.iter().map(views::dbrp).collect::<Vec<_>>(),
    })))
}

/// InfluxDB's `createDBRPRequest`.
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    database: String,
    #[serde(default)]
    retention_policy: String,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    org: Option<String>,
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(rename = "bucketID", default)]
    bucket_id: Option<String>,
}

pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let org_id = org_of(&app, body.org_id.as_deref(), body.org.as_deref()).await?;
    let bucket = body.bucket_id.as_deref().unwrap_or_default();
    let bucket_id = parse_id(bucket)
        .map_err(|e| ApiError::invalid(format!("invalid bucket ID {bucket:?}: {}", e.message)))?;
    auth.require(&Perm::in_org(Action::Write, ResourceType::Dbrp, org_id))?;
    let create = meta::DbrpCreate {
        org_id: Some(org_id),
        bucket_id: Some(bucket_id),
        database: body.database,
        retention_policy: body.retention_policy,
        default: body.default,
    };
    let d = app.meta(move |m| m.create_dbrp(create)).await?;
    Ok((StatusCode::CREATED, Json(views::dbrp(&d))))
}

/// The mapping `id` of the org named in the query string, checking `action` on it.
async fn find(
    app: &App,
    auth: &Auth,
    params: &Params,
    id: Id,
    action: Action,
) -> Result<meta::DbrpMapping, ApiError> {
    let org_id = org_of(app, params.get("orgID"), params.get("org")).await?;
    auth.require(&Perm::at(action, ResourceType::Dbrp, org_id, id))?;
    app.meta(move |m| m.get_dbrp(Some(org_id), id)).await
}

pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let d = find(&app, &auth, &params, id, Action::Read).await?;
    Ok(Json(json!({ "content": views::dbrp(&d) })))
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    retention_policy: Option<String>,
    default: Option<bool>,
}

pub async fn update(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    let d = find(&app, &auth, &params, id, Action::Write).await?;
    let upd = meta::DbrpUpdate {
        retention_policy: body.retention_policy,
        default: body.default,
    };
    let (org, id) = (d.org_id, d.id);
    let d = app.meta(move |m| m.update_dbrp(org, id, upd)).await?;
    Ok(Json(json!({ "content": views::dbrp(&d) })))
}

pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let d = find(&app, &auth, &params, id, Action::Write).await?;
    let (org, id) = (d.org_id, d.id);
    app.meta(move |m| m.delete_dbrp(org, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
