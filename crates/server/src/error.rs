//! The one error type of the HTTP API: InfluxDB's body `{"code", "message", "op"?, "err"?}`, its
//! `X-Platform-Error-Code` header and its status for each of the 14 codes.
//!
//! Every handler returns `Result<_, ApiError>`. Library errors turn into `ApiError` through one
//! `From` each, with an exhaustive match so that a new variant cannot silently become a 500.
//! Internal failures are logged (with the request's trace span) and answered with a generic text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// InfluxDB's error codes (`kit/platform/errors`), with their wire strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Internal,
    NotImplemented,
    Invalid,
    UnprocessableEntity,
    EmptyValue,
    Conflict,
    NotFound,
    Unavailable,
    Forbidden,
    TooManyRequests,
    Unauthorized,
    MethodNotAllowed,
    RequestTooLarge,
    UnsupportedMediaType,
}

impl Code {
    /// Every code, in InfluxDB's order.
    pub const ALL: [Code; 14] = [
        Code::Internal,
        Code::NotImplemented,
        Code::Invalid,
        Code::UnprocessableEntity,
        Code::EmptyValue,
        Code::Conflict,
        Code::NotFound,
        Code::Unavailable,
        Code::Forbidden,
        Code::TooManyRequests,
        Code::Unauthorized,
        Code::MethodNotAllowed,
        Code::RequestTooLarge,
        Code::UnsupportedMediaType,
    ];

    /// The string clients match on (`code` in the body and `X-Platform-Error-Code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Internal => "internal error",
            Code::NotImplemented => "not implemented",
            Code::Invalid => "invalid",
            Code::UnprocessableEntity => "unprocessable entity",
            Code::EmptyValue => "empty value",
            Code::Conflict => "conflict",
            Code::NotFound => "not found",
            Code::Unavailable => "unavailable",
            Code::Forbidden => "forbidden",
            Code::TooManyRequests => "too many requests",
            Code::Unauthorized => "unauthorized",
            Code::MethodNotAllowed => "method not allowed",
            Code::RequestTooLarge => "request too large",
            Code::UnsupportedMediaType => "unsupported media type",
        }
    }

    /// InfluxDB 2.x's status for the code (`conflict` is 422, not 409).
    pub fn status(self) -> StatusCode {
        match self {
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Invalid => StatusCode::BAD_REQUEST,
            Code::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
            Code::EmptyValue => StatusCode::BAD_REQUEST,
            Code::Conflict => StatusCode::UNPROCESSABLE_ENTITY,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(serialize_with = "ser_code")]
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
}

fn ser_code<S: serde::Serializer>(c: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

/// The text InfluxDB answers for internal failures; the real cause goes to the log only.
pub const INTERNAL_MESSAGE: &str = "An internal error has occurred - check server logs";

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            op: None,
            err: None,
        }
    }

    pub fn with_op(mut self, op: impl Into<String>) -> Self {
        self.op = Some(op.into());
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, message)
    }

    /// 401 as InfluxDB's authentication middleware answers it.
    pub fn unauthorized_access() -> Self {
        Self::unauthorized("unauthorized access")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(Code::NotImplemented, message)
    }

    /// An internal failure: logs the full cause, answers InfluxDB's generic text.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut src = cause.source();
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::new(Code::Internal, INTERNAL_MESSAGE)
    }

    /// A failure of our own plumbing (a blocking task that did not finish) described in text.
    pub fn internal_msg(what: &str) -> Self {
        tracing::error!(error = %what, "internal error");
        Self::new(Code::Internal, INTERNAL_MESSAGE)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match serde_json::to_vec(&self) {
            Ok(b) => b,
            Err(_) => br#"{"code":"internal error","message":"An internal error has occurred - check server logs"}"#.to_vec(),
        };
        let mut resp = (self.code.status(), body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(
            "x-platform-error-code",
            HeaderValue::from_static(self.code.as_str()),
        );
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::invalid(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                // Unreachable with our own extractor (it does not require the header), kept for
                // completeness.
                ApiError::new(
                    Code::UnsupportedMediaType,
                    "expected request with `Content-Type: application/json`",
                )
            }
            JsonRejection::BytesRejection(e) => {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(Code::RequestTooLarge, e.body_text())
                } else {
                    ApiError::invalid(e.body_text())
                }
            }
            other => ApiError::invalid(other.body_text()),
        }
    }
}

impl From<meta::Error> for ApiError {
    fn from(e: meta::Error) -> Self {
        match &e {
            meta::Error::NotFound { kind } => ApiError::not_found(kind.not_found_message()),
            meta::Error::Conflict(m) => ApiError::new(Code::Conflict, m.clone()),
            meta::Error::Invalid(m) => ApiError::invalid(m.clone()),
            meta::Error::Unauthorized(m) => ApiError::unauthorized(m.clone()),
            meta::Error::Corrupt(_) | meta::Error::Io(_) | meta::Error::Sqlite(_) => {
                ApiError::internal(&e)
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid(r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_match_influxdb() {
        let want = [
            ("internal error", 500),
            ("not implemented", 501),
            ("invalid", 400),
            ("unprocessable entity", 422),
            ("empty value", 400),
            ("conflict", 422),
            ("not found", 404),
            ("unavailable", 503),
            ("forbidden", 403),
            ("too many requests", 429),
            ("unauthorized", 401),
            ("method not allowed", 405),
            ("request too large", 413),
            ("unsupported media type", 415),
        ];
        for (c, (s, st)) in Code::ALL.iter().zip(want) {
            assert_eq!(c.as_str(), s);
            assert_eq!(c.status().as_u16(), st, "{s}");
        }
    }

    #[test]
    fn body_and_headers() {
        let r = ApiError::new(Code::Conflict, "bucket with name b already exists").into_response();
        assert_eq!(r.status(), 422);
        assert_eq!(r.headers()["x-platform-error-code"], "conflict");
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        let e = ApiError::new(Code::Invalid, "x").with_op("op");
        assert_eq!(
            serde_json::to_string(&e).ok().as_deref(),
            Some(r#"{"code":"invalid","message":"x","op":"op"}"#)
        );
    }
}
