//! `/api/v2/labels` (list, create, get, update, delete) and the label routes of the resources
//! that carry labels ([`routes`]: buckets, tasks, variables, Telegraf configs, dashboards; `GET|POST
//! /api/v2/<resource>/{id}/labels`, `DELETE /api/v2/<resource>/{id}/labels/{labelID}`),
//! answered as InfluxDB 2.7's label handlers answer them: `{"links", "label"}` and
//! `{"links", "labels"}` bodies, 201 on create, 204 on delete.
//!
//! Permissions as InfluxDB's label authorizer: creating needs `write:orgs/<org>/labels`; reading
//! a label `read:orgs/<org>/labels/<id>` (lists keep only the readable ones); changing or deleting
//! it `write:orgs/<org>/labels/<id>`. A resource's labels need read on the resource (e.g.
//! `read:orgs/<org>/buckets/<id>`); putting a label on a resource or taking it off needs write on
//! both the label and the resource. Where ironflux checks more than InfluxDB: the resource of a
//! label route must exist (404 in its own words, e.g. `bucket not found`), as the API contract
//! says.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get};
use meta::{Action, Id, Label, LabelCreate, LabelFilter, LabelMapping, ResourceType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::routes::paging::{IdPath, Params, parse_id};

/// `{"links": {"self": "/api/v2/labels/<id>"}, "label": {...}}`.
#[derive(Debug, Serialize)]
pub struct LabelResponse {
    links: BTreeMap<&'static str, String>,
    label: Label,
}

impl LabelResponse {
    fn new(label: Label) -> Self {
        let links = BTreeMap::from([("self", format!("/api/v2/labels/{}", label.id))]);
        LabelResponse { links, label }
    }
}

/// `{"links": {"self": "/api/v2/labels"}, "labels": [...]}` (the same `self` on a bucket's
/// labels, as InfluxDB).
#[derive(Debug, Serialize)]
pub struct LabelsResponse {
    links: BTreeMap<&'static str, String>,
    labels: Vec<Label>,
}

impl LabelsResponse {
    fn new(labels: Vec<Label>) -> Self {
        let links = BTreeMap::from([("self", "/api/v2/labels".to_string())]);
        LabelsResponse { links, labels }
    }
}

fn read_perm(l: &Label) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Labels, l.org_id, l.id)
}

fn write_perm(l: &Label) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Labels, l.org_id, l.id)
}

async fn find(app: &App, id: Id) -> Result<Label, ApiError> {
    app.meta(move |m| m.get_label(id)).await
}

/// `GET /api/v2/labels`: filters `orgID` (ignored when it is not an ID, as InfluxDB) and `name`
/// (regardless of case); only the labels the caller may read.
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<LabelsResponse>, ApiError> {
    let filter = LabelFilter {
        org_id: params.get("orgID").and_then(|s| parse_id(s).ok()),
        name: params.get("name").map(str::to_string),
    };
    let all = app.meta(move |m| m.list_labels(&filter)).await?;
    let visible = all.into_iter().filter(|l| auth.allowed(&read_perm(l)));
    Ok(Json(LabelsResponse::new(visible.collect())))
}

/// InfluxDB's `Label` as a create body (`id` is ignored).
#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    properties: Option<BTreeMap<String, String>>,
}

/// `POST /api/v2/labels`: 201 with the label.
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<LabelResponse>), ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::invalid("label name is required"));
    }
    let Some(org_id) = body.org_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::invalid("orgID is required"));
    };
    let org_id = parse_id(org_id)?;
    auth.require(&Perm::in_org(Action::Write, ResourceType::Labels, org_id))?;
    let req = LabelCreate {
        org_id: Some(org_id),
        name: body.name,
        properties: body.properties.unwrap_or_default(),
    };
    let l = app.meta(move |m| m.create_label(req)).await?;
    Ok((StatusCode::CREATED, Json(LabelResponse::new(l))))
}

/// `GET /api/v2/labels/{id}`.
pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<LabelResponse>, ApiError> {
    let l = find(&app, id).await?;
    auth.require(&read_perm(&l))?;
    Ok(Json(LabelResponse::new(l)))
}

/// InfluxDB's `LabelUpdate`.
#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    properties: Option<BTreeMap<String, String>>,
}

/// `PATCH /api/v2/labels/{id}`: renames with a non-empty `name`; each property with a value is
/// set, with an empty value removed.
pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<LabelResponse>, ApiError> {
    let l = find(&app, id).await?;
    auth.require(&write_perm(&l))?;
    let upd = meta::LabelUpdate {
        name: body.name,
        properties: body.properties.unwrap_or_default(),
    };
    let l = app.meta(move |m| m.update_label(id, upd)).await?;
    Ok(Json(LabelResponse::new(l)))
}

/// `DELETE /api/v2/labels/{id}`: 204; the label's mappings go with it.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let l = find(&app, id).await?;
    auth.require(&write_perm(&l))?;
    app.meta(move |m| m.delete_label(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The permission `action` on resource `id` of type `rt`, found with its org
/// ([`meta::MetaStore::resource_org`]: 404 in the resource's own words when it is missing).
async fn resource_perm(
    app: &App,
    rt: ResourceType,
    id: Id,
    action: Action,
) -> Result<meta::Permission, ApiError> {
    let org = app.meta(move |m| m.resource_org(rt, id)).await?;
    Ok(Perm::at(action, rt, org, id))
}

/// The label routes of resources of type `rt` (`{base}/{id}/labels` and
/// `{base}/{id}/labels/{labelID}`), as [`crate::routes::router`] mounts them.
pub fn routes(rt: ResourceType) -> (MethodRouter<App>, MethodRouter<App>) {
    let list_add = get(
        move |State(app): State<App>, auth: Auth, IdPath(id): IdPath| {
            resource_list(app, auth, id, rt)
        },
    )
    .post(
        move |State(app): State<App>, auth: Auth, IdPath(id): IdPath, body: Bytes| {
            resource_add(app, auth, id, body, rt)
        },
    );
    let remove = axum::routing::delete(
        move |State(app): State<App>, auth: Auth, Path(ids): Path<(String, String)>| {
            resource_remove(app, auth, ids, rt)
        },
    );
    (list_add, remove)
}

/// The labels on a resource that `auth` may read.
pub async fn readable_labels(app: &App, auth: &Auth, id: Id) -> Result<Vec<Label>, ApiError> {
    let mut all = labels_of(app, auth, vec![id]).await?;
    Ok(all.pop().unwrap_or_default())
}

/// A resource's JSON answer with its `labels`.
pub fn with_labels(mut v: Value, labels: Vec<Label>) -> Value {
    v["labels"] = serde_json::to_value(labels).unwrap_or_else(|_| Value::Array(Vec::new()));
    v
}

/// The labels `auth` may read on each of the resources `ids`, in one read of the store: what
/// InfluxDB's bucket, task and variable answers carry in `labels`.
pub async fn labels_of(app: &App, auth: &Auth, ids: Vec<Id>) -> Result<Vec<Vec<Label>>, ApiError> {
    let all = app
        .meta(move |m| {
            ids.iter()
                .map(|id| m.list_resource_labels(*id))
                .collect::<meta::Result<Vec<_>>>()
        })
        .await?;
    Ok(all
        .into_iter()
        .map(|ls| {
            ls.into_iter()
                .filter(|l| auth.allowed(&read_perm(l)))
                .collect()
        })
        .collect())
}

/// `GET /api/v2/<resource>/{id}/labels`: the labels on the resource that the caller may read;
/// needs read on the resource.
async fn resource_list(
    app: App,
    auth: Auth,
    id: Id,
    rt: ResourceType,
) -> Result<Json<LabelsResponse>, ApiError> {
    auth.require(&resource_perm(&app, rt, id, Action::Read).await?)?;
    Ok(Json(LabelsResponse::new(
        readable_labels(&app, &auth, id).await?,
    )))
}

/// Write on the label and on the resource (`resource_write`), as InfluxDB's
/// `CreateLabelMapping` and `DeleteLabelMapping` ask.
fn require_mapping_write(
    auth: &Auth,
    l: &Label,
    resource_write: &meta::Permission,
) -> Result<(), ApiError> {
    auth.require(&write_perm(l))?;
    auth.require(resource_write)
}

/// `POST /api/v2/<resource>/{id}/labels` with `{"labelID": "..."}`: 201 with the label; 422
/// `conflict` if the resource has it already.
async fn resource_add(
    app: App,
    auth: Auth,
    id: Id,
    body: Bytes,
    rt: ResourceType,
) -> Result<(StatusCode, Json<LabelResponse>), ApiError> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::invalid("Invalid post label map request"))?;
    let label_id = match body.get("labelID") {
        None | Some(Value::Null) => return Err(ApiError::invalid("label id is required")),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(ApiError::invalid("label id is required"));
        }
        Some(Value::String(s)) => parse_id(s)?,
        Some(_) => return Err(ApiError::invalid("Invalid post label map request")),
    };
    let resource_write = resource_perm(&app, rt, id, Action::Write).await?;
    let l = find(&app, label_id).await?;
    auth.require(&read_perm(&l))?;
    require_mapping_write(&auth, &l, &resource_write)?;
    let m = LabelMapping {
        label_id,
        resource_id: id,
        resource_type: rt,
    };
    app.meta(move |s| s.create_label_mapping(&m)).await?;
    Ok((StatusCode::CREATED, Json(LabelResponse::new(l))))
}

/// `DELETE /api/v2/<resource>/{id}/labels/{labelID}`: 204, also when the resource did not have
/// the label (as InfluxDB); 404 when the resource or the label does not exist.
async fn resource_remove(
    app: App,
    auth: Auth,
    (id, label_id): (String, String),
    rt: ResourceType,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let label_id = parse_id(&label_id)?;
    let resource_write = resource_perm(&app, rt, id, Action::Write).await?;
    let l = find(&app, label_id).await?;
    require_mapping_write(&auth, &l, &resource_write)?;
    app.meta(move |m| m.delete_label_mapping(id, label_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
