//! The JSON bodies the API answers, shaped as InfluxDB 2.7's HTTP handlers write them
//! (`tenant/http_server_*.go`, `authorization/http_server.go`): store records plus `links`,
//! `labels`, names resolved for authorizations, and retention as `retentionRules`.

use std::collections::BTreeMap;

use meta::{Authorization, Bucket, BucketType, DbrpMapping, Organization, Permission, User};
use serde::Serialize;
use serde_json::{Value, json};

/// One retention rule of a bucket.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionRule {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub every_seconds: i64,
    pub shard_group_duration_seconds: i64,
}

/// Nanoseconds to whole seconds, rounded as Go's `Duration.Round(time.Second)`.
fn round_secs(ns: i64) -> i64 {
    let (q, r) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if r.abs() >= 500_000_000 {
        q + r.signum()
    } else {
        q
    }
}

/// A rule is shown when the retention or the shard group duration is set (InfluxDB's
/// `newBucket`); an empty list means infinite retention with the default shard groups.
pub fn retention_rules(b: &Bucket) -> Vec<RetentionRule> {
    if b.retention_period_ns > 0 || b.shard_group_duration_ns > 0 {
        vec![RetentionRule {
            kind: "expire",
            every_seconds: round_secs(b.retention_period_ns),
            shard_group_duration_seconds: round_secs(b.shard_group_duration_ns),
        }]
    } else {
        Vec::new()
    }
}

pub fn bucket(b: &Bucket) -> Value {
    let (id, org) = (b.id.to_string(), b.org_id.to_string());
    let mut v = json!({
        "id": id,
        "orgID": org,
        "type": match b.bucket_type { BucketType::User => "user", BucketType::System => "system" },
        "name": b.name,
        "retentionRules": retention_rules(b),
        "createdAt": b.created_at,
        "updatedAt": b.updated_at,
        "links": {
            "labels": format!("/api/v2/buckets/{id}/labels"),
            "members": format!("/api/v2/buckets/{id}/members"),
            "org": format!("/api/v2/orgs/{org}"),
            "owners": format!("/api/v2/buckets/{id}/owners"),
            "self": format!("/api/v2/buckets/{id}"),
            "write": format!("/api/v2/write?org={org}&bucket={id}"),
        },
        "labels": [],
    });
    if !b.description.is_empty() {
        v["description"] = json!(b.description);
    }
    if !b.retention_policy_name.is_empty() {
        v["rp"] = json!(b.retention_policy_name);
    }
    v
}

pub fn org(o: &Organization) -> Value {
    let id = o.id.to_string();
    let name = &o.name;
    json!({
        "links": {
            "logs": format!("/api/v2/orgs/{id}/logs"),
            "buckets": format!("/api/v2/buckets?org={name}"),
            "dashboards": format!("/api/v2/dashboards?org={name}"),
            "labels": format!("/api/v2/orgs/{id}/labels"),
            "members": format!("/api/v2/orgs/{id}/members"),
            "owners": format!("/api/v2/orgs/{id}/owners"),
            "secrets": format!("/api/v2/orgs/{id}/secrets"),
            "self": format!("/api/v2/orgs/{id}"),
            "tasks": format!("/api/v2/tasks?org={name}"),
        },
        "id": id,
        "name": o.name,
        "description": o.description,
        "createdAt": o.created_at,
        "updatedAt": o.updated_at,
    })
}

pub fn user(u: &User) -> Value {
    let mut v = json!({
        "links": { "self": format!("/api/v2/users/{}", u.id) },
        "id": u.id,
        "name": u.name,
        "status": u.status.as_str(),
    });
    if !u.oauth_id.is_empty() {
        v["oauthID"] = json!(u.oauth_id);
    }
    v
}

/// Names of the orgs, buckets and users an authorization mentions, for its `org`, `user` and
/// each permission's `name`/`org`.
#[derive(Debug, Default)]
pub struct Names {
    pub orgs: BTreeMap<meta::Id, String>,
    pub buckets: BTreeMap<meta::Id, String>,
    pub users: BTreeMap<meta::Id, String>,
}

fn permission(p: &Permission, names: &Names) -> Value {
    let mut res = json!({ "type": p.resource.resource_type.as_str() });
    if let Some(id) = p.resource.id {
        res["id"] = json!(id);
        let name = match p.resource.resource_type {
            meta::ResourceType::Buckets => names.buckets.get(&id),
            meta::ResourceType::Orgs => names.orgs.get(&id),
            meta::ResourceType::Users => names.users.get(&id),
            _ => None,
        };
        if let Some(n) = name {
            res["name"] = json!(n);
        }
    }
    if let Some(o) = p.resource.org_id {
        res["orgID"] = json!(o);
        if let Some(n) = names.orgs.get(&o) {
            res["org"] = json!(n);
        }
    }
    json!({ "action": p.action, "resource": res })
}

pub fn authorization(a: &Authorization, names: &Names) -> Value {
    let perms: Vec<Value> = a.permissions.iter().map(|p| permission(p, names)).collect();
    let mut v = json!({
        "id": a.id,
        "token": a.token,
        "status": a.status.as_str(),
        "description": a.description,
        "orgID": a.org_id,
        "org": names.orgs.get(&a.org_id).cloned().unwrap_or_default(),
        "permissions": perms,
        "links": { "self": format!("/api/v2/authorizations/{}", a.id) },
        "createdAt": a.created_at,
        "updatedAt": a.updated_at,
    });
    if let Some(u) = a.user_id {
        v["userID"] = json!(u);
        v["user"] = json!(names.users.get(&u).cloned().unwrap_or_default());
        v["links"]["user"] = json!(format!("/api/v2/users/{u}"));
    }
    v
}

pub fn dbrp(d: &DbrpMapping) -> Value {
    json!({
        "id": d.id,
        "database": d.database,
        "retention_policy": d.retention_policy,
        "default": d.default,
        "orgID": d.org_id,
        "bucketID": d.bucket_id,
        "virtual": d.r#virtual,
    })
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_like_go() {
        assert_eq!(round_secs(3_600_000_000_000), 3600);
        assert_eq!(round_secs(1_499_999_999), 1);
        assert_eq!(round_secs(1_500_000_000), 2);
        assert_eq!(round_secs(0), 0);
    }

    #[test]
    fn escape() {
        assert_eq!(query_escape("my org/x"), "my+org%2Fx");
    }
}
