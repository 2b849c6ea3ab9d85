//! `/api/v2/{orgs,buckets,tasks,telegrafs,dashboards}/{id}/{members,owners}`: the users mapped
//! to an org, a bucket, a task, a Telegraf config or a dashboard (InfluxDB's user-resource
//! mappings), listed, added and removed.
//!
//! As InfluxDB: the resource must exist (404), listing needs read on it and read on each user,
//! adding and removing need write on it; org permissions are `orgs/<id>/orgs/<id>`, bucket
//! ones `orgs/<org>/buckets/<id>`, task ones `orgs/<org>/tasks/<id>`, Telegraf ones
//! `orgs/<org>/telegrafs/<id>`, dashboard ones `orgs/<org>/dashboards/<id>`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, delete, get};
use meta::{
    Action, Id, MappingType, Permission, ResourceType, UrmFilter, User, UserResourceMapping,
    UserType,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::paging::parse_id;
use crate::routes::{JsonBody, views};

/// Which resource, which role.
#[derive(Clone, Copy)]
pub struct Kind {
    rtype: ResourceType,
    user_type: UserType,
}

impl Kind {
    /// The `user_type` mappings of resources of type `rtype`.
    pub const fn new(rtype: ResourceType, user_type: UserType) -> Kind {
        Kind { rtype, user_type }
    }

    fn role(self) -> &'static str {
        match self.user_type {
            UserType::Owner => "owner",
            UserType::Member => "member",
        }
    }
}

/// The permission `action` on the resource; 404 if it does not exist.
async fn resource_perm(
    app: &App,
    kind: Kind,
    id: Id,
    action: Action,
) -> Result<Permission, ApiError> {
    let rtype = kind.rtype;
    let org = app.meta(move |m| m.resource_org(rtype, id)).await?;
    Ok(Perm::at(action, rtype, org, id))
}

fn user_json(u: &User, kind: Kind) -> Value {
    let mut v = views::user(u);
    v["role"] = json!(kind.role());
    v
}

async fn list(app: App, auth: Auth, id: String, kind: Kind) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    auth.require(&resource_perm(&app, kind, id, Action::Read).await?)?;
    let f = UrmFilter {
        resource_id: Some(id),
        resource_type: Some(kind.rtype),
        user_type: Some(kind.user_type),
        user_id: None,
    };
    let urms = app.meta(move |m| m.list_urms(&f)).await?;
    let mut users = Vec::new();
    for urm in urms.iter().filter(|u| u.mapping_type == MappingType::User) {
        auth.require(&Perm::resource(
            Action::Read,
            ResourceType::Users,
            urm.user_id,
        ))?;
        let uid = urm.user_id;
        users.push(app.meta(move |m| m.get_user(uid)).await?);
    }
    let plural = format!("{}s", kind.role());
    Ok(Json(json!({
        "links": { "self": format!("/api/v2/{}/{id}/{plural}", kind.rtype.as_str()) },
        "users": users.iter().map(|u| user_json(u, kind)).collect::<Vec<_>>(),
    })))
}

/// `{"id": "<user id>"}` (InfluxDB decodes a whole user and uses its ID).
#[derive(Debug, Deserialize)]
pub struct AddBody {
    #[serde(default)]
    id: Option<String>,
}

async fn add(
    app: App,
    auth: Auth,
    id: String,
    kind: Kind,
    body: AddBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let user_id = body
        .id
        .as_deref()
        .and_then(|s| parse_id(s).ok())
        .ok_or_else(|| ApiError::invalid("user id missing or invalid"))?;
    let perm = resource_perm(&app, kind, id, Action::Write).await?;
    auth.require(&Perm::resource(Action::Read, ResourceType::Users, user_id))?;
    let user = app.meta(move |m| m.get_user(user_id)).await?;
    auth.require(&perm)?;
    let urm = UserResourceMapping {
        user_id,
        user_type: kind.user_type,
        mapping_type: MappingType::User,
        resource_type: kind.rtype,
        resource_id: id,
    };
    app.meta(move |m| m.create_urm(urm)).await?;
    Ok((StatusCode::CREATED, Json(user_json(&user, kind))))
}

async fn remove(
    app: App,
    auth: Auth,
    (id, user): (String, String),
    kind: Kind,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let user_id = parse_id(&user)?;
    auth.require(&resource_perm(&app, kind, id, Action::Write).await?)?;
    app.meta(move |m| m.delete_urm(id, user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of one kind: (`GET`/`POST` on the list path, `DELETE` on `/{userID}`).
pub fn routes(kind: Kind) -> (MethodRouter<App>, MethodRouter<App>) {
    let list_add = get(
        move |State(app): State<App>, auth: Auth, Path(id): Path<String>| list(app, auth, id, kind),
    )
    .post(
        move |State(app): State<App>,
              auth: Auth,
              Path(id): Path<String>,
              JsonBody(body): JsonBody<AddBody>| add(app, auth, id, kind, body),
    );
    let del = delete(
        move |State(app): State<App>, auth: Auth, Path(ids): Path<(String, String)>| {
            remove(app, auth, ids, kind)
        },
    );
    (list_add, del)
}
