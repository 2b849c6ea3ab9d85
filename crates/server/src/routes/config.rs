//! `GET /api/v2/config`: the settings the server runs with, by influxd flag name
//! (`{"config": {"bolt-path": ..., "storage-cache-snapshot-write-cold-duration": "10m0s", ...}}`),
//! for operators only, as influxd's config handler answers.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::App;
use crate::auth::Auth;
use crate::error::ApiError;

/// `GET /api/v2/config`.
pub async fn get(State(app): State<App>, auth: Auth) -> Result<Json<Value>, ApiError> {
    if !auth.is_operator() {
        return Err(ApiError::unauthorized(
            "access to /api/v2/config requires operator permissions",
        ));
    }
    Ok(Json(json!({ "config": *app.runtime_config })))
}
