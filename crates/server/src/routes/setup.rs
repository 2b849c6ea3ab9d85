//! Onboarding: `GET /api/v2/setup` (`{"allowed": bool}`) and `POST /api/v2/setup`, which creates
//! the first user, org, bucket and the operator token, once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::error::{ApiError, Code};
use crate::routes::{JsonBody, views};

pub async fn allowed(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let allowed = app.meta(|m| m.setup_allowed()).await?;
    Ok(Json(json!({ "allowed": allowed })))
}

/// InfluxDB's `onboardingRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    retention_period_seconds: i64,
    /// Deprecated: retention in hours.
    #[serde(default)]
    retention_period_hrs: i64,
    #[serde(default)]
    token: String,
}

pub async fn setup(
    State(app): State<App>,
    JsonBody(body): JsonBody<SetupBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !app.meta(|m| m.setup_allowed()).await? {
        return Err(ApiError::new(
            Code::Conflict,
            "onboarding has already been completed",
        ));
    }
    let missing: Vec<&str> = [
        ("username", &body.username),
        ("org", &body.org),
        ("bucket", &body.bucket),
    ]
    .iter()
    .filter(|(_, v)| v.is_empty())
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            Code::UnprocessableEntity,
            format!(
                "onboarding failed: missing required fields [{}]",
                missing.join(",")
            ),
        ));
    }
    if !body.password.is_empty() && body.password.chars().count() < 8 {
        return Err(ApiError::invalid(
            "passwords must be at least 8 characters long",
        ));
    }
    let retention_ns = if body.retention_period_seconds != 0 {
        body.retention_period_seconds.saturating_mul(1_000_000_000)
    } else {
        body.retention_period_hrs.saturating_mul(3_600_000_000_000)
    };
    if retention_ns < 0 {
        return Err(ApiError::new(
            Code::UnprocessableEntity,
            "expiration seconds cannot be negative",
        ));
    }
    let req = meta::SetupRequest {
        username: body.username,
        password: Some(body.password).filter(|p| !p.is_empty()),
        org: body.org,
        bucket: body.bucket,
        retention_period_ns: retention_ns,
        token: Some(body.token).filter(|t| !t.is_empty()),
    };
    let res = app.meta(move |m| m.setup(req)).await?;
    let mut names = views::Names::default();
    names.orgs.insert(res.org.id, res.org.name.clone());
    names.users.insert(res.user.id, res.user.name.clone());
    names.buckets.insert(res.bucket.id, res.bucket.name.clone());
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "user": views::user(&res.user),
            "org": views::org(&res.org),
            "bucket": views::bucket(&res.bucket),
            "auth": views::authorization(&res.auth, &names),
        })),
    ))
}
