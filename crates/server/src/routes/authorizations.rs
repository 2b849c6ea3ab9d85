//! `/api/v2/authorizations`: list (filters `id`, `userID`, `user`, `orgID`, `org`), create, get,
//! update (status, description), delete.
//!
//! As InfluxDB's authorizer: seeing a token needs `read:orgs/<org>/authorizations/<id>` and
//! `read:users/<user>`; changing it the same with `write`; creating one needs
//! `write:orgs/<org>/authorizations`, `write:users/<user>`, and every permission it grants
//! (403 `forbidden` otherwise).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meta::{
    Action, Authorization, AuthorizationFilter, BucketFilter, FindOptions, Id, OrgFilter,
    Permission, Resource, ResourceType, Status, UserFilter,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm, display};
use crate::error::ApiError;
use crate::routes::paging::{IdPath, Params, parse_id};
use crate::routes::{JsonBody, views};

pub(crate) fn allowed(auth: &Auth, a: &Authorization, action: Action) -> Result<(), ApiError> {
    auth.require(&Perm::at(
        action,
        ResourceType::Authorizations,
        a.org_id,
        a.id,
    ))?;
    if let Some(u) = a.user_id {
        auth.require(&Perm::resource(action, ResourceType::Users, u))?;
    }
    Ok(())
}

/// Resolves the names an authorization's JSON shows.
pub(crate) async fn names(app: &App) -> Result<views::Names, ApiError> {
    app.meta(|m| {
        let mut n = views::Names::default();
        let all = FindOptions::default();
        for o in m.list_orgs(&OrgFilter::default(), &all)? {
            n.orgs.insert(o.id, o.name);
        }
        for u in m.list_users(&UserFilter::default(), &all)? {
            n.users.insert(u.id, u.name);
        }
        for b in m.list_buckets(&BucketFilter::default(), &all)? {
            n.buckets.insert(b.id, b.name);
        }
        Ok(n)
    })
    .await
}

pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let filter = AuthorizationFilter {
        id: params.id("id")?,
        token: None,
        user_id: params.id("userID")?,
        user: params.get("user").map(str::to_string),
        org_id: params.id("orgID")?,
        org: params.get("org").map(str::to_string),
    };
    let all = app.meta(move |m| m.list_authorizations(&filter)).await?;
    let names = names(&app).await?;
    let visible: Vec<Value> = all
        .iter()
        .filter(|a| allowed(&auth, a, Action::Read).is_ok())
        .map(|a| views::authorization(a, &names))
        .collect();
    Ok(Json(json!({
        "links": { "self": "/api/v2/authorizations" },
        "authorizations": visible,
    })))
}

/// InfluxDB's `postAuthorizationRequest`; permissions are checked by hand for its messages.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
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

pub(crate) fn parse_status(s: Option<&str>) -> Result<Option<Status>, ApiError> {
    match s {
        None | Some("") => Ok(None),
        Some("active") => Ok(Some(Status::Active)),
        Some("inactive") => Ok(Some(Status::Inactive)),
        Some(_) => Err(ApiError::invalid("status must be one of active, inactive")),
    }
}

fn opt_id(v: Option<&Value>, msg: &str) -> Result<Option<Id>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_id(s).map(Some).map_err(|_| ApiError::invalid(msg)),
        Some(_) => Err(ApiError::invalid(msg)),
    }
}

/// Parses one permission with InfluxDB's validation messages (`Permission.Valid`).
fn parse_permission(v: &Value) -> Result<Permission, ApiError> {
    let action = match v.get("action").and_then(Value::as_str) {
        Some("read") => Action::Read,
        Some("write") => Action::Write,
        _ => return Err(ApiError::invalid("invalid action type for permission")),
    };
    let res = v.get("resource");
    let rtype: ResourceType = res
        .and_then(|r| r.get("type"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ApiError::invalid("invalid resource type for permission"))?;
    let id = opt_id(res.and_then(|r| r.get("id")), "invalid id for permission")?;
    let org_id = opt_id(
        res.and_then(|r| r.get("orgID")),
        "invalid org id for permission",
    )?;
    Ok(Permission {
        action,
        resource: Resource {
            resource_type: rtype,
            id,
            org_id,
        },
    })
}

/// InfluxDB's `Validate` of a new authorization (2.x or legacy), in its order: the permissions,
/// then the org, then the status (active when absent).
pub(crate) fn validate_create(
    permissions: &[Value],
    org_id: Option<&str>,
    status: Option<&str>,
) -> Result<(Vec<Permission>, Id, Status), ApiError> {
    if permissions.is_empty() {
        return Err(ApiError::invalid("authorization must include permissions"));
    }
    let perms = permissions
        .iter()
        .map(parse_permission)
        .collect::<Result<Vec<_>, _>>()?;
    let org_id = org_id
        .filter(|s| !s.is_empty())
        .and_then(|s| parse_id(s).ok())
        .ok_or_else(|| ApiError::invalid("org id required"))?;
    let status = parse_status(status)?.unwrap_or(Status::Active);
    Ok((perms, org_id, status))
}

/// What creating an authorization asks of the caller: write on the org's authorizations and on
/// the user it acts for, and every permission it grants (403 naming the first one missing).
pub(crate) fn require_grant(
    auth: &Auth,
    org_id: Id,
    user_id: Option<Id>,
    perms: &[Permission],
) -> Result<(), ApiError> {
    auth.require(&Perm::in_org(
        Action::Write,
        ResourceType::Authorizations,
        org_id,
    ))?;
    if let Some(u) = user_id {
        auth.require(&Perm::resource(Action::Write, ResourceType::Users, u))?;
    }
    match perms.iter().find(|p| !auth.allowed(p)) {
        Some(p) => Err(ApiError::forbidden(format!(
            "permission {} is not allowed",
            display(p)
        ))),
        None => Ok(()),
    }
}

pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (perms, org_id, status) = validate_create(
        &body.permissions,
        body.org_id.as_deref(),
        body.status.as_deref(),
    )?;
    let user_id = match body.user_id.as_deref().filter(|s| !s.is_empty()) {
        Some(u) => Some(parse_id(u)?),
        None => auth.user_id,
    };
    require_grant(&auth, org_id, user_id, &perms)?;
    let create = meta::AuthorizationCreate {
        org_id: Some(org_id),
        user_id,
        description: body.description,
        status,
        permissions: perms,
        token: None,
    };
    let a = app
        .meta(move |m| {
            m.get_org(org_id)?;
            if let Some(u) = user_id {
                m.get_user(u)?;
            }
            m.create_authorization(create)
        })
        .await?;
    let names = names(&app).await?;
    Ok((StatusCode::CREATED, Json(views::authorization(&a, &names))))
}

async fn find(app: &App, id: Id) -> Result<Authorization, ApiError> {
    app.meta(move |m| m.get_authorization(id)).await
}

pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let a = find(&app, id).await?;
    allowed(&auth, &a, Action::Read)?;
    let names = names(&app).await?;
    Ok(Json(views::authorization(&a, &names)))
}

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
    let status = parse_status(body.status.as_deref())?;
    let a = find(&app, id).await?;
    allowed(&auth, &a, Action::Write)?;
    let upd = meta::AuthorizationUpdate {
        status,
        description: body.description,
    };
    let a = app.meta(move |m| m.update_authorization(id, upd)).await?;
    let names = names(&app).await?;
    Ok(Json(views::authorization(&a, &names)))
}

pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let a = find(&app, id).await?;
    allowed(&auth, &a, Action::Write)?;
    app.meta(move |m| m.delete_authorization(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
