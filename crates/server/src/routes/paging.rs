//! Query parameters shared by the list routes: InfluxDB's paging (`offset`, `limit`, `after`,
//! `descending`; `DecodeFindOptions`), its `links` object (`NewPagingLinks`), and IDs taken
//! from paths and query strings with InfluxDB's error texts.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use meta::{FindOptions, Id};
use serde::Serialize;

use crate::error::ApiError;
use crate::routes::views::query_escape;

/// InfluxDB's default page size.
pub const DEFAULT_LIMIT: usize = 20;
/// InfluxDB's largest page size.
pub const MAX_LIMIT: usize = 100;

/// The query string as name → first value.
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
        Ok(Params(map))
    }
}

impl Params {
    /// A non-empty parameter.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A parameter holding an ID.
    pub fn id(&self, k: &str) -> Result<Option<Id>, ApiError> {
        self.get(k).map(parse_id).transpose()
    }

    /// InfluxDB's `DecodeFindOptions`.
    pub fn find_options(&self) -> Result<FindOptions, ApiError> {
        let mut o = FindOptions {
            limit: DEFAULT_LIMIT,
            ..FindOptions::default()
        };
        if let Some(v) = self.get("offset") {
            o.offset = v
                .parse::<usize>()
                .map_err(|_| ApiError::invalid("offset is invalid"))?;
        }
        if let Some(v) = self.get("after") {
            o.after = Some(parse_id(v)?);
        }
        if let Some(v) = self.get("limit") {
            let l: i64 = v
                .parse()
                .map_err(|_| ApiError::invalid("limit is invalid"))?;
            if !(1..=MAX_LIMIT as i64).contains(&l) {
                return Err(ApiError::invalid(format!(
                    "limit must be between 1 and {MAX_LIMIT}"
                )));
            }
            o.limit = l as usize;
        }
        if let Some(v) = self.get("descending") {
            o.descending =
                parse_bool(v).ok_or_else(|| ApiError::invalid("descending is invalid"))?;
        }
        Ok(o)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The `{id}` of a route's path, parsed as an InfluxDB ID (400 `invalid` with InfluxDB's text
/// when malformed).
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<IdPath, ApiError> {
        let Path(s) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        parse_id(&s).map(IdPath)
    }
}

/// Parses a 16-hex-character ID with InfluxDB's messages.
pub fn parse_id(s: &str) -> Result<Id, ApiError> {
    if s.len() != 16 {
        return Err(ApiError::invalid("id must have a length of 16 bytes"));
    }
    let v = u64::from_str_radix(s, 16).map_err(|_| ApiError::invalid("invalid ID"))?;
    Id::new(v).ok_or_else(|| ApiError::invalid("invalid ID"))
}

/// Applies paging to an ID-ordered list (after permission filtering).
pub fn page<T>(mut items: Vec<T>, o: &FindOptions, id: impl Fn(&T) -> Id) -> Vec<T> {
    items.sort_by_key(|t| id(t));
    if o.descending {
        items.reverse();
    }
    if let Some(a) = o.after {
        items.retain(|t| if o.descending { id(t) < a } else { id(t) > a });
    }
    let it = items.into_iter().skip(o.offset);
    if o.limit > 0 {
        it.take(o.limit).collect()
    } else {
        it.collect()
    }
}

/// `links` of a paged list (`self`, and `next`/`prev` when there are more).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PagingLinks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(rename = "self")]
    pub this: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// InfluxDB's `NewPagingLinks`: query keys sorted, `next` when the page is full, `prev` when
/// the offset is positive.
pub fn paging_links(
    base: &str,
    o: &FindOptions,
    filter: &[(&str, String)],
    returned: usize,
) -> PagingLinks {
    let mut q: BTreeMap<&str, String> = filter
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    q.insert("descending", o.descending.to_string());
    q.insert("limit", o.limit.to_string());
    q.insert("offset", o.offset.to_string());
    if let Some(a) = o.after {
        q.insert("after", a.to_string());
    }
    let render = |q: &BTreeMap<&str, String>| {
        let parts: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        format!("{base}?{}", parts.join("&"))
    };
    let this = render(&q);
    let next = (returned >= o.limit && o.limit > 0).then(|| {
        let mut n = q.clone();
        n.insert("offset", (o.offset + o.limit).to_string());
        render(&n)
    });
    let prev = (o.offset > 0).then(|| {
        let mut p = q.clone();
        p.insert("offset", o.offset.saturating_sub(o.limit).to_string());
        render(&p)
    });
    PagingLinks { prev, this, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Params {
        Params(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn find_options_like_influxdb() {
        let o = params(&[]).find_options().ok();
        assert_eq!(o.map(|o| (o.offset, o.limit)), Some((0, 20)));
        let o = params(&[("offset", "3"), ("limit", "5"), ("descending", "true")])
            .find_options()
            .ok();
        assert_eq!(
            o.map(|o| (o.offset, o.limit, o.descending)),
            Some((3, 5, true))
        );
        for (k, v, msg) in [
            ("limit", "0", "limit must be between 1 and 100"),
            ("limit", "101", "limit must be between 1 and 100"),
            ("limit", "x", "limit is invalid"),
            ("offset", "-1", "offset is invalid"),
            ("after", "123", "id must have a length of 16 bytes"),
            ("after", "zzzzzzzzzzzzzzzz", "invalid ID"),
        ] {
            let e = params(&[(k, v)]).find_options().err().map(|e| e.message);
            assert_eq!(e.as_deref(), Some(msg), "{k}={v}");
        }
    }

    #[test]
    fn links_like_influxdb() {
        let o = FindOptions {
            offset: 2,
            limit: 2,
            after: None,
            descending: false,
        };
        let l = paging_links("/api/v2/buckets", &o, &[("org", "my org".into())], 2);
        assert_eq!(
            l.this,
            "/api/v2/buckets?descending=false&limit=2&offset=2&org=my+org"
        );
        assert_eq!(
            l.next.as_deref(),
            Some("/api/v2/buckets?descending=false&limit=2&offset=4&org=my+org")
        );
        assert_eq!(
            l.prev.as_deref(),
            Some("/api/v2/buckets?descending=false&limit=2&offset=0&org=my+org")
        );
        let l = paging_links("/api/v2/buckets", &FindOptions { limit: 20, ..o }, &[], 3);
        assert!(l.next.is_none());
    }
}
