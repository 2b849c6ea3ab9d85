//! Org secrets: `GET|PATCH /api/v2/orgs/{id}/secrets`, `POST /api/v2/orgs/{id}/secrets/delete`
//! and `DELETE /api/v2/orgs/{id}/secrets/{secretID}`, answered as InfluxDB 2.7's secret handler
//! answers them. Values are write-only: a list carries the keys alone
//! (`{"links": {"org", "self"}, "secrets": [...]}`); a patch sets the given keys (a JSON object of
//! strings) and deletes answer 204, also for keys that do not exist.
//!
//! Permissions as InfluxDB's secret authorizer: listing needs `read:orgs/<org>/secrets`, patching
//! and deleting `write:orgs/<org>/secrets`. Where ironflux checks more than InfluxDB: the org must
//! exist (404 `organization not found`).
//!
//! [`OrgSecrets`] is the lookup Flux's `secrets.get` uses in queries and task runs: the secrets
//! of the org the query runs in, readable with `read:orgs/<org>/secrets`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use meta::{Action, Id, MetaStore, ResourceType};
use query::secrets::{SecretError, SecretStore};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::routes::paging::{IdPath, parse_id};

/// `{"links": {"org": "/api/v2/orgs/<id>", "self": "/api/v2/orgs/<id>/secrets"}, "secrets": [...]}`.
#[derive(Debug, Serialize)]
pub struct SecretsResponse {
    links: BTreeMap<&'static str, String>,
    secrets: Vec<String>,
}

/// Checks `action` on the org's secrets, then that the org exists.
async fn authorize(app: &App, auth: &Auth, org: Id, action: Action) -> Result<(), ApiError> {
    auth.require(&Perm::in_org(action, ResourceType::Secrets, org))?;
    app.meta(move |m| m.get_org(org)).await?;
    Ok(())
}

/// `GET /api/v2/orgs/{id}/secrets`: the keys of the org's secrets, never their values.
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    IdPath(org): IdPath,
) -> Result<Json<SecretsResponse>, ApiError> {
    authorize(&app, &auth, org, Action::Read).await?;
    let secrets = app.meta(move |m| m.list_secret_keys(org)).await?;
    let links = BTreeMap::from([
        ("org", format!("/api/v2/orgs/{org}")),
        ("self", format!("/api/v2/orgs/{org}/secrets")),
    ]);
    Ok(Json(SecretsResponse { links, secrets }))
}

/// `PATCH /api/v2/orgs/{id}/secrets`: sets each key of the body (a `null` value is the empty
/// string, as Go decodes it); 204.
pub async fn patch(
    State(app): State<App>,
    auth: Auth,
    IdPath(org): IdPath,
    JsonBody(body): JsonBody<BTreeMap<String, Option<String>>>,
) -> Result<StatusCode, ApiError> {
    authorize(&app, &auth, org, Action::Write).await?;
    let body: BTreeMap<String, String> = body
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    app.meta(move |m| m.patch_secrets(org, &body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /api/v2/orgs/{id}/secrets/delete`.
#[derive(Debug, Deserialize)]
pub struct DeleteBody {
    #[serde(default)]
    secrets: Vec<String>,
}

/// `POST /api/v2/orgs/{id}/secrets/delete` (deprecated in InfluxDB, still answered): deletes
/// the listed keys; 204.
pub async fn delete_many(
    State(app): State<App>,
    auth: Auth,
    IdPath(org): IdPath,
    JsonBody(body): JsonBody<DeleteBody>,
) -> Result<StatusCode, ApiError> {
    authorize(&app, &auth, org, Action::Write).await?;
    app.meta(move |m| m.delete_secrets(org, &body.secrets))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v2/orgs/{id}/secrets/{secretID}`: deletes one key; 204.
pub async fn delete_one(
    State(app): State<App>,
    auth: Auth,
    Path((org, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let org = parse_id(&org)?;
    authorize(&app, &auth, org, Action::Write).await?;
    app.meta(move |m| m.delete_secrets(org, &[key])).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The secrets of one org as the caller `auth` may read them, for Flux's `secrets.get`. Its
/// lookups block (call them where queries run, off the async workers).
pub struct OrgSecrets {
    pub meta: Arc<MetaStore>,
    pub org_id: Id,
    pub auth: Auth,
}

impl OrgSecrets {
    /// The lookup for [`query::Options::secrets`].
    pub fn lookup(meta: &Arc<MetaStore>, org_id: Id, auth: &Auth) -> query::secrets::Secrets {
        Some(Arc::new(OrgSecrets {
            meta: Arc::clone(meta),
            org_id,
            auth: auth.clone(),
        }))
    }
}

impl std::fmt::Debug for OrgSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgSecrets")
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

impl SecretStore for OrgSecrets {
    fn load(&self, key: &str) -> Result<String, SecretError> {
        let want = Perm::in_org(Action::Read, ResourceType::Secrets, self.org_id);
        if let Err(e) = self.auth.require(&want) {
            return Err(SecretError::Forbidden(e.message));
        }
        match self.meta.get_secret(self.org_id, key) {
            Ok(v) => Ok(v),
            Err(meta::Error::NotFound { .. }) => Err(SecretError::NotFound),
            Err(e) => Err(SecretError::Other(e.to_string())),
        }
    }
}
