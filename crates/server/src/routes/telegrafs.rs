//! `/api/v2/telegrafs` (list, create), `/api/v2/telegrafs/{id}` (get, replace, delete) and
//! `/api/v2/telegraf/plugins`, answered as InfluxDB 2.7's Telegraf handler answers them.
//!
//! A config is its stored record (`id`, `orgID`, `name`, `description`, `config`, `metadata`,
//! each left out when empty) plus `labels` and `links` (`self`, `labels`, `members`,
//! `owners`); a list is `{"configurations": [...]}` (not paged); 201 on create, 204 on delete.
//! `GET /api/v2/telegrafs/{id}` negotiates its answer from `Accept` as InfluxDB does (gddo's
//! `NegotiateContentType` over `application/toml`, `application/json`,
//! `application/octet-stream`, default `application/toml`): TOML is the bare config with
//! `Content-Type: application/toml; charset=utf-8` (what `telegraf --config <url>` fetches),
//! octet-stream the same bytes as an attachment `<name>.toml`, JSON the record. A request
//! without `Accept`, or with `*/*`, gets TOML.
//!
//! Permissions as InfluxDB's Telegraf authorizer: creating needs `write:orgs/<org>/telegrafs`;
//! reading one `read:orgs/<org>/telegrafs/<id>` (lists keep only the readable ones); replacing
//! or deleting it read and `write:orgs/<org>/telegrafs/<id>`; 404 comes before 401. Lists
//! filter by `orgID` (400 `orgID is invalid` when malformed) or else `org` (a name).
//!
//! `GET /api/v2/telegraf/plugins?type=bundle` answers InfluxDB's System Bundle as is, in its
//! shape. InfluxDB's catalogue of single plugins (`input`, `output`, `processor`, `aggregator`,
//! or no type) is a large set of sample configs that ironflux does not carry: those answer
//! 501 `not implemented` rather than a partial list; an unknown type is 400.
//!
//! Where ironflux differs: an unknown `org` is 404 `organization not found` (InfluxDB ignores
//! the name and lists everything readable); a config's org must exist; a body that does not
//! decode, TOML whose buckets cannot be read (without `metadata`), and an unknown plugin type
//! are 400 `invalid` (InfluxDB answers 500); the legacy `plugins` array of pre-2.0 clients is
//! refused (400).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meta::{Action, Id, Label, ResourceType, TelegrafConfig, TelegrafCreate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::{ApiError, Code};
use crate::routes::JsonBody;
use crate::routes::paging::{IdPath, Params, parse_id};

const BASE: &str = "/api/v2/telegrafs";

/// A config as the API answers it.
#[derive(Debug, Serialize)]
pub struct TelegrafResponse {
    #[serde(flatten)]
    config: TelegrafConfig,
    labels: Vec<Label>,
    links: BTreeMap<&'static str, String>,
}

impl TelegrafResponse {
    fn new(config: TelegrafConfig, labels: Vec<Label>) -> Self {
        let id = config.id;
        let links = BTreeMap::from([
            ("self", format!("{BASE}/{id}")),
            ("labels", format!("{BASE}/{id}/labels")),
            ("members", format!("{BASE}/{id}/members")),
            ("owners", format!("{BASE}/{id}/owners")),
        ]);
        TelegrafResponse {
            config,
            labels,
            links,
        }
    }
}

/// `{"configurations": [...]}`.
#[derive(Debug, Serialize)]
pub struct TelegrafsResponse {
    configurations: Vec<TelegrafResponse>,
}

fn read_perm(t: &TelegrafConfig) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Telegrafs, t.org_id, t.id)
}

fn write_perm(t: &TelegrafConfig) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Telegrafs, t.org_id, t.id)
}

/// The config with the labels on it that the caller may read.
async fn respond(app: &App, auth: &Auth, t: TelegrafConfig) -> Result<TelegrafResponse, ApiError> {
    let labels = crate::routes::labels::readable_labels(app, auth, t.id).await?;
    Ok(TelegrafResponse::new(t, labels))
}

/// Finds a config the caller may read (404 before 401, as InfluxDB's authorizer).
async fn find_readable(app: &App, auth: &Auth, id: Id) -> Result<TelegrafConfig, ApiError> {
    let t = app.meta(move |m| m.get_telegraf(id)).await?;
    auth.require(&read_perm(&t))?;
    Ok(t)
}

/// InfluxDB's `TelegrafConfig` as a request body (`id` is ignored).
#[derive(Debug, Deserialize)]
pub struct TelegrafBody {
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(rename = "organizationID", default)]
    organization_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    config: String,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    plugins: Option<Value>,
}

impl TelegrafBody {
    fn into_create(self) -> Result<TelegrafCreate, ApiError> {
        if self.plugins.is_some() {
            return Err(ApiError::invalid(
                "the legacy plugins array is not supported: send the TOML as config",
            ));
        }
        let org = self
            .org_id
            .filter(|s| !s.is_empty())
            .or(self.organization_id.filter(|s| !s.is_empty()));
        let org_id = org.as_deref().map(parse_id).transpose()?;
        Ok(TelegrafCreate {
            org_id,
            name: self.name,
            description: self.description,
            config: self.config,
            metadata: self.metadata.unwrap_or_default(),
        })
    }
}

/// `GET /api/v2/telegrafs`: filters `orgID` or `org` (by name).
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<TelegrafsResponse>, ApiError> {
    let mut org_id = match params.get("orgID").filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_id(s).map_err(|_| ApiError::invalid("orgID is invalid"))?),
        None => None,
    };
    if org_id.is_none()
        && let Some(name) = params
            .get("org")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    {
        org_id = Some(app.meta(move |m| m.find_org_by_name(&name)).await?.id);
    }
    let all = app.meta(move |m| m.list_telegrafs(org_id)).await?;
    let mut configurations = Vec::new();
    for t in all.into_iter().filter(|t| auth.allowed(&read_perm(t))) {
        configurations.push(respond(&app, &auth, t).await?);
    }
    Ok(Json(TelegrafsResponse { configurations }))
}

/// `POST /api/v2/telegrafs`: 201 with the config.
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<TelegrafBody>,
) -> Result<(StatusCode, Json<TelegrafResponse>), ApiError> {
    let req = body.into_create()?;
    let Some(org_id) = req.org_id else {
        return Err(ApiError::new(
            Code::EmptyValue,
            "provided telegraf configuration organization ID is missing or invalid",
        ));
    };
    auth.require(&Perm::in_org(
        Action::Write,
        ResourceType::Telegrafs,
        org_id,
    ))?;
    let t = app.meta(move |m| m.create_telegraf(req)).await?;
    Ok((StatusCode::CREATED, Json(TelegrafResponse::new(t, vec![]))))
}

/// One `Accept` media range: its value and quality.
struct AcceptSpec {
    value: String,
    q: f64,
}

/// The media ranges of every `Accept` header (gddo's `header.ParseAccept`, leniently).
fn parse_accept(headers: &HeaderMap) -> Vec<AcceptSpec> {
    let mut out = Vec::new();
    for h in headers.get_all(header::ACCEPT) {
        let Ok(h) = h.to_str() else { continue };
        for part in h.split(',') {
            let mut pieces = part.split(';');
            let value = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if value.is_empty() {
                continue;
            }
            let mut q = 1.0;
            for p in pieces {
                if let Some((k, v)) = p.split_once('=')
                    && k.trim() == "q"
                {
                    q = v.trim().parse().unwrap_or(1.0);
                }
            }
            out.push(AcceptSpec { value, q });
        }
    }
    out
}

/// gddo's `httputil.NegotiateContentType`: the offer of highest quality, exact matches before
/// `type/*` before `*/*`, the earlier offer on a tie; `default` when nothing matches.
fn negotiate<'a>(headers: &HeaderMap, offers: &[&'a str], default: &'a str) -> &'a str {
    let specs = parse_accept(headers);
    let mut best = default;
    let mut best_q = -1.0;
    let mut best_wild = 3;
    for offer in offers {
        for spec in &specs {
            if spec.q == 0.0 || spec.q < best_q {
                continue;
            }
            if spec.value == "*/*" {
                if spec.q > best_q || best_wild > 2 {
                    (best_q, best_wild, best) = (spec.q, 2, offer);
                }
            } else if let Some(prefix) = spec.value.strip_suffix('*') {
                if prefix.ends_with('/')
                    && offer.starts_with(prefix)
                    && (spec.q > best_q || best_wild > 1)
                {
                    (best_q, best_wild, best) = (spec.q, 1, offer);
                }
            } else if spec.value == *offer && (spec.q > best_q || best_wild > 0) {
                (best_q, best_wild, best) = (spec.q, 0, offer);
            }
        }
    }
    best
}

const TOML: &str = "application/toml";
const JSON: &str = "application/json";
const OCTETS: &str = "application/octet-stream";

/// `GET /api/v2/telegrafs/{id}`: TOML, JSON or an attachment, as `Accept` asks.
pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let t = find_readable(&app, &auth, id).await?;
    match negotiate(&headers, &[TOML, JSON, OCTETS], TOML) {
        JSON => Ok(Json(respond(&app, &auth, t).await?).into_response()),
        OCTETS => {
            let file = t.name.trim().replace(' ', "_");
            let disposition =
                HeaderValue::from_str(&format!("attachment; filename=\"{file}.toml\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
            Ok((
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(OCTETS)),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                t.config,
            )
                .into_response())
        }
        _ => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/toml; charset=utf-8"),
            )],
            t.config,
        )
            .into_response()),
    }
}

/// `PUT /api/v2/telegrafs/{id}`: replaces name, description, config and metadata.
pub async fn replace(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<TelegrafBody>,
) -> Result<Json<TelegrafResponse>, ApiError> {
    let req = body.into_create()?;
    let old = find_readable(&app, &auth, id).await?;
    auth.require(&write_perm(&old))?;
    let t = app.meta(move |m| m.update_telegraf(id, req)).await?;
    Ok(Json(respond(&app, &auth, t).await?))
}

/// `DELETE /api/v2/telegrafs/{id}`: 204.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let old = find_readable(&app, &auth, id).await?;
    auth.require(&write_perm(&old))?;
    app.meta(move |m| m.delete_telegraf(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One plugin of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Plugin {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    description: &'static str,
    config: &'static str,
}

/// `{"version", "os", "plugins"}`, each left out when empty.
#[derive(Debug, Serialize)]
pub struct TelegrafPlugins {
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    os: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    plugins: Vec<Plugin>,
}

const CPU: &str = "# Read metrics about cpu usage\n[[inputs.cpu]]\n  # alias=\"cpu\"\n  ## Whether to report per-cpu stats or not\n  percpu = true\n  ## Whether to report total system cpu stats or not\n  totalcpu = true\n  ## If true, collect raw CPU time metrics.\n  collect_cpu_time = false\n  ## If true, compute and report the sum of all non-idle CPU states.\n  report_active = false\n";
const SWAP: &str = "# Read metrics about swap memory usage\n[[inputs.swap]]\n  # alias=\"swap\"\n";
const DISK: &str = "# Read metrics about disk usage by mount point\n[[inputs.disk]]\n  # alias=\"disk\"\n  ## By default stats will be gathered for all mount points.\n  ## Set mount_points will restrict the stats to only the specified mount points.\n  # mount_points = [\"/\"]\n\n  ## Ignore mount points by filesystem type.\n  ignore_fs = [\"tmpfs\", \"devtmpfs\", \"devfs\", \"iso9660\", \"overlay\", \"aufs\", \"squashfs\"]\n";
const MEM: &str = "# Read metrics about memory usage\n[[inputs.mem]]\n  # alias=\"mem\"\n";

/// InfluxDB's `ListAvailablePlugins` / `AvailablePlugins`.
pub fn available_plugins(kind: &str) -> Result<TelegrafPlugins, ApiError> {
    let of = |os, plugins| TelegrafPlugins {
        version: "1.13.0",
        os,
        plugins,
    };
    match kind {
        "" | "input" | "output" | "processor" | "aggregator" => Err(ApiError::not_implemented(
            "not implemented: the catalogue of single Telegraf plugins (type=bundle is served)",
        )),
        "bundle" => Ok(of(
            "unix",
            vec![Plugin {
                kind: "bundle",
                name: "System Bundle",
                description: "Collection of system related inputs",
                config: bundle_config(),
            }],
        )),
        other => Err(ApiError::invalid(format!("unknown plugin type '{other}'"))),
    }
}

/// The System Bundle: the configs of cpu, swap, disk and mem, in that order.
fn bundle_config() -> &'static str {
    static BUNDLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUNDLE.get_or_init(|| [CPU, SWAP, DISK, MEM].concat())
}

/// `GET /api/v2/telegraf/plugins`: the catalogue, filtered by `type`.
pub async fn plugins(_auth: Auth, params: Params) -> Result<Json<TelegrafPlugins>, ApiError> {
    available_plugins(params.get("type").unwrap_or_default()).map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &[&str]) -> &'static str {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        negotiate(&h, &[TOML, JSON, OCTETS], TOML)
    }

    #[test]
    fn content_is_negotiated_as_influxdb() {
        assert_eq!(pick(&[]), TOML);
        assert_eq!(pick(&["*/*"]), TOML);
        assert_eq!(pick(&["application/json"]), JSON);
        assert_eq!(pick(&["application/toml"]), TOML);
        assert_eq!(pick(&["application/octet-stream"]), OCTETS);
        assert_eq!(pick(&["text/plain"]), TOML);
        assert_eq!(pick(&["application/json, */*;q=0.5"]), JSON);
        assert_eq!(pick(&["application/toml;q=0.2, application/json"]), JSON);
        assert_eq!(pick(&["application/*"]), TOML);
        assert_eq!(
            pick(&["application/toml;q=0", "application/octet-stream"]),
            OCTETS
        );
    }

    #[test]
    fn plugins_catalogue_keeps_influxdb_shape() {
        for kind in ["", "input", "output", "processor", "aggregator"] {
            assert!(available_plugins(kind).is_err(), "{kind}");
        }
        let bundle = serde_json::to_value(available_plugins("bundle").unwrap()).unwrap();
        assert_eq!(bundle["os"], "unix");
        let cfg = bundle["plugins"][0]["config"].as_str().unwrap();
        assert!(cfg.starts_with("# Read metrics about cpu usage\n[[inputs.cpu]]"));
        assert_eq!(meta::count_plugins(cfg).len(), 4);
        assert_eq!(
            available_plugins("x").err().map(|e| e.message),
            Some("unknown plugin type 'x'".to_string())
        );
    }
}
