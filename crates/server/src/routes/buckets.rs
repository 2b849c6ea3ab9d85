//! `/api/v2/buckets`: list (filters `org`, `orgID`, `name`, `id`; paging), create, get, update
//! (name, description, retention) and delete (with the bucket's stored data).
//!
//! Permissions as InfluxDB's bucket authorizer: reading a user bucket needs
//! `read:orgs/<org>/buckets/<id>`, a system bucket `read:orgs/<org>/orgs/<org>`; creating needs
//! `write:orgs/<org>/buckets`; updating and deleting `write:orgs/<org>/buckets/<id>`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meta::{Action, Bucket, BucketFilter, BucketType, FindOptions, Id, OrgFilter, ResourceType};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::{ApiError, Code};
use crate::routes::labels::{labels_of, readable_labels, with_labels};
use crate::routes::paging::{IdPath, Params, page, paging_links, parse_id};
use crate::routes::{JsonBody, views};

const NS: i64 = 1_000_000_000;

fn read_perm(b: &Bucket) -> meta::Permission {
    match b.bucket_type {
        BucketType::System => Perm::at(Action::Read, ResourceType::Orgs, b.org_id, b.org_id),
        BucketType::User => Perm::at(Action::Read, ResourceType::Buckets, b.org_id, b.id),
    }
}

fn write_perm(b: &Bucket) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Buckets, b.org_id, b.id)
}

pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let opts = params.find_options()?;
    let mut filter = BucketFilter {
        id: params.id("id")?,
        name: params.get("name").map(str::to_string),
        org_id: params.id("orgID")?,
        org: None,
    };
    if let Some(org) = params.get("org") {
        let name = org.to_string();
        let f = OrgFilter {
            name: Some(name.clone()),
            ..OrgFilter::default()
        };
        let found = app
            .meta(move |m| m.list_orgs(&f, &FindOptions::default()))
            .await?;
        let Some(o) = found.first() else {
            return Err(ApiError::not_found(format!(
                "organization name \"{name}\" not found"
            )));
        };
        filter.org_id = Some(o.id);
    }
    let name_and_org = filter.name.clone().filter(|_| filter.org_id.is_some());
    let by_id = filter.id.is_some();
    let all = app
        .meta(move |m| m.list_buckets(&filter, &FindOptions::default()))
        .await?;
    // As InfluxDB: an `id` filter, or `name` with an org, looks one bucket up and 404s.
    if all.is_empty() {
        if by_id {
            return Err(ApiError::not_found("bucket not found"));
        }
        if let Some(n) = name_and_org {
            return Err(ApiError::not_found(format!("bucket \"{n}\" not found")));
        }
    }
    let visible: Vec<Bucket> = all
        .into_iter()
        .filter(|b| auth.allowed(&read_perm(b)))
        .collect();
    let buckets = page(visible, &opts, |b| b.id);
    let filter_q: Vec<(&str, String)> = ["id", "name", "org", "orgID"]
        .iter()
        .filter_map(|k| params.get(k).map(|v| (*k, v.to_string())))
        .collect();
    let links = paging_links("/api/v2/buckets", &opts, &filter_q, buckets.len());
    let labels = labels_of(&app, &auth, buckets.iter().map(|b| b.id).collect()).await?;
    Ok(Json(json!({
        "links": links,
        "buckets": buckets
            .iter()
            .zip(labels)
            .map(|(b, l)| with_labels(views::bucket(b), l))
            .collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(rename = "type", default)]
    _kind: Option<String>,
    every_seconds: Option<i64>,
    shard_group_duration_seconds: Option<i64>,
}

fn check_rules(rules: &[Rule]) -> Result<(), ApiError> {
    if rules.len() > 1 {
        return Err(ApiError::new(
            Code::UnprocessableEntity,
            "buckets cannot have more than one retention rule at this time",
        ));
    }
    if let Some(r) = rules.first() {
        if r.every_seconds.is_some_and(|s| s < 0) {
            return Err(ApiError::new(
                Code::UnprocessableEntity,
                "expiration seconds cannot be negative",
            ));
        }
        if r.shard_group_duration_seconds.is_some_and(|s| s < 0) {
            return Err(ApiError::new(
                Code::UnprocessableEntity,
                "shard-group duration seconds cannot be negative",
            ));
        }
    }
    Ok(())
}

/// InfluxDB's `postBucketRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    rp: String,
    #[serde(default)]
    retention_rules: Vec<Rule>,
}

pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Some(org_id) = body.org_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::invalid("organization id must be provided"));
    };
    let org_id = parse_id(org_id)?;
    check_rules(&body.retention_rules)?;
    auth.require(&Perm::in_org(Action::Write, ResourceType::Buckets, org_id))?;
    let rule = body.retention_rules.first();
    let create = meta::BucketCreate {
        org_id: Some(org_id),
        name: body.name,
        description: body.description,
        retention_period_ns: rule
            .and_then(|r| r.every_seconds)
            .unwrap_or(0)
            .saturating_mul(NS),
        shard_group_duration_ns: rule
            .and_then(|r| r.shard_group_duration_seconds)
            .unwrap_or(0)
            .saturating_mul(NS),
        rp: body.rp,
        bucket_type: BucketType::User,
    };
    let b = app.meta(move |m| m.create_bucket(create)).await?;
    Ok((StatusCode::CREATED, Json(views::bucket(&b))))
}

async fn find(app: &App, id: Id) -> Result<Bucket, ApiError> {
    app.meta(move |m| m.get_bucket(id)).await
}

pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let b = find(&app, id).await?;
    auth.require(&read_perm(&b))?;
    let labels = readable_labels(&app, &auth, id).await?;
    Ok(Json(with_labels(views::bucket(&b), labels)))
}

/// InfluxDB's `bucketUpdate`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    retention_rules: Vec<Rule>,
}

pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    check_rules(&body.retention_rules)?;
    let b = find(&app, id).await?;
    auth.require(&write_perm(&b))?;
    if b.bucket_type == BucketType::System && body.name.as_ref().is_some_and(|n| *n != b.name) {
        return Err(ApiError::invalid("system buckets cannot be renamed"));
    }
    let rule = body.retention_rules.first();
    let upd = meta::BucketUpdate {
        name: body.name,
        description: body.description,
        retention_period_ns: rule
            .and_then(|r| r.every_seconds)
            .map(|s| s.saturating_mul(NS)),
        shard_group_duration_ns: rule
            .and_then(|r| r.shard_group_duration_seconds)
            .map(|s| s.saturating_mul(NS)),
    };
    let b = app.meta(move |m| m.update_bucket(id, upd)).await?;
    let labels = readable_labels(&app, &auth, id).await?;
    Ok(Json(with_labels(views::bucket(&b), labels)))
}

pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let b = find(&app, id).await?;
    auth.require(&write_perm(&b))?;
    if b.bucket_type == BucketType::System {
        return Err(ApiError::invalid("system buckets cannot be deleted"));
    }
    app.meta(move |m| m.delete_bucket(id)).await?;
    crate::routes::delete::drop_bucket_data(&app, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
