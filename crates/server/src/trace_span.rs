//! The `Zap-Trace-Span` request header (an OpenTracing span context as JSON:
//! `{"trace_id": "...", "span_id": "...", "baggage": {...}}`) and the per-request tracing span that
//! carries it, so every log line of a request names the caller's trace.
//!
//! A header that does not parse is ignored (InfluxDB does the same: the header is optional and
//! only used for tracing), but noted on the span as `trace_span_invalid`.

use std::collections::BTreeMap;

use axum::http::Request;
use serde::Deserialize;
use tracing::Span;

/// The request header InfluxDB clients send.
pub const HEADER: &str = "zap-trace-span";

/// A parsed `Zap-Trace-Span` value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TraceSpan {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default)]
    pub baggage: BTreeMap<String, String>,
}

impl TraceSpan {
    /// Parses the header value; `None` if it is not the JSON InfluxDB's tracer writes.
    pub fn parse(value: &[u8]) -> Option<TraceSpan> {
        serde_json::from_slice(value).ok()
    }
}

/// Builds the tracing span of one request (used as tower-http's `MakeSpan`).
pub fn make_span<B>(req: &Request<B>) -> Span {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        baggage = tracing::field::Empty,
        trace_span_invalid = tracing::field::Empty,
    );
    if let Some(v) = req.headers().get(HEADER) {
        match TraceSpan::parse(v.as_bytes()) {
            Some(ts) => {
                span.record("trace_id", tracing::field::display(&ts.trace_id));
                span.record("span_id", tracing::field::display(&ts.span_id));
                if !ts.baggage.is_empty() {
                    span.record("baggage", tracing::field::debug(&ts.baggage));
                }
            }
            None => {
                span.record("trace_span_invalid", true);
            }
        }
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_influx_trace_span() {
        let ts = TraceSpan::parse(br#"{"trace_id":"1","span_id":"2","baggage":{"key":"value"}}"#);
        let want = TraceSpan {
            trace_id: "1".into(),
            span_id: "2".into(),
            baggage: [("key".to_string(), "value".to_string())].into(),
        };
        assert_eq!(ts, Some(want));
    }

    #[test]
    fn baggage_is_optional_and_garbage_is_none() {
        assert_eq!(
            TraceSpan::parse(br#"{"trace_id":"a","span_id":"b"}"#).map(|t| t.baggage.len()),
            Some(0)
        );
        assert_eq!(TraceSpan::parse(b"not json"), None);
        assert_eq!(TraceSpan::parse(br#"{"span_id":"b"}"#), None);
    }
}
