//! `POST /api/v2/signin` (basic auth → session cookie) and `POST /api/v2/signout`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::auth::{Auth, Credential, SESSION_COOKIE, SESSION_LENGTH};
use crate::error::ApiError;
use crate::routes::users::basic_auth;

pub async fn signin(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let Some((name, password)) = basic_auth(&headers) else {
        return Err(ApiError::unauthorized_access());
    };
    // Unknown user, wrong password and inactive user all answer InfluxDB's one text.
    let user = app
        .meta(move |m| m.authenticate(&name, &password))
        .await
        .map_err(|e| match e.code {
            crate::error::Code::NotFound | crate::error::Code::Unauthorized => {
                ApiError::unauthorized_access()
            }
            _ => e,
        })?;
    let key = app.sessions.create(user.id);
    let expires = std::time::SystemTime::now() + SESSION_LENGTH;
    let cookie = format!(
        "{SESSION_COOKIE}={key}; Path=/api/; Expires={}; SameSite=Strict",
        crate::http_date(expires)
    );
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let v = HeaderValue::from_str(&cookie)
        .map_err(|e| ApiError::internal_msg(&format!("session cookie: {e}")))?;
    resp.headers_mut().insert(header::SET_COOKIE, v);
    Ok(resp)
}

pub async fn signout(State(app): State<App>, auth: Auth) -> Result<Response, ApiError> {
    let Credential::Session { key } = &auth.credential else {
        return Err(ApiError::unauthorized_access());
    };
    app.sessions.remove(key);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "influxdb-oss-session=; Path=/api/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
        ),
    );
    Ok(resp)
}
