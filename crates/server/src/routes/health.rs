//! `/health`, `/ping` and `/ready`: unauthenticated liveness routes, with InfluxDB's bodies.
//!
//! The influx CLI reads `version` from `/health` to pick its backup API (2.x.y with x >= 1 means
//! the current one), so it must parse as such.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::{App, COMMIT, VERSION};

pub async fn health() -> impl IntoResponse {
    Json(json!({
        "name": "influxdb",
        "message": "ready for queries and writes",
        "status": "pass",
        "checks": [],
        "version": VERSION,
        "commit": COMMIT,
    }))
}

/// `GET|HEAD /ping`: 204; the version headers are added to every response by a layer.
pub async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

pub async fn ready(State(app): State<App>) -> impl IntoResponse {
    let up = app.started.elapsed();
    Json(json!({
        "status": "ready",
        "started": app.started_at,
        "up": go_duration(up),
    }))
}

/// Formats a duration as Go's `time.Duration.String()` does for values over a second
/// (`1h2m3.5s`), which is what InfluxDB's `/ready` answers in `up`.
fn go_duration(d: std::time::Duration) -> String {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    let frac = d.subsec_nanos();
    let mut secs = s.to_string();
    if frac > 0 {
        let f = format!("{frac:09}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn go_duration_format() {
        assert_eq!(go_duration(Duration::from_secs(0)), "0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::from_secs(65)), "1m5s");
    }
}
