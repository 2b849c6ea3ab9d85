//! `/api/v2/variables` (list, create) and `/api/v2/variables/{id}` (get, replace, update,
//! delete), answered as InfluxDB 2.7's variable handler answers them: a variable is its stored
//! record plus `labels` and `links` (`self`, `labels`, `org`); a list is
//! `{"variables": [...], "links": <paging links>}`; 201 on create, 204 on delete.
//!
//! `arguments` are checked as InfluxDB's `VariableArguments.UnmarshalJSON` checks them, with its
//! messages: `type` is `constant` (`values` an array of strings), `map` (an object of strings)
//! or `query` (`{"query", "language"}`, both strings).
//!
//! Permissions as InfluxDB's variable authorizer: creating needs `write:orgs/<org>/variables`;
//! reading one `read:orgs/<org>/variables/<id>` (lists keep only the readable ones); replacing,
//! changing or deleting it read and `write:orgs/<org>/variables/<id>`. A list filtered by `orgID`
//! or `org` holds every variable of that org; an unfiltered one is paged (`offset`, `limit`,
//! `descending`, default limit 20). Where ironflux differs: an unknown `org` is 404
//! `organization not found` (InfluxDB answers 500), and a variable's org must exist.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use meta::{
    Action, Id, Label, ResourceType, Variable, VariableArguments, VariableCreate,
    VariableQueryValues, VariableUpdate,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::routes::labels::readable_labels;
use crate::routes::paging::{IdPath, PagingLinks, Params, page, paging_links, parse_id};

const BASE: &str = "/api/v2/variables";

/// A variable as the API answers it.
#[derive(Debug, Serialize)]
pub struct VariableResponse {
    #[serde(flatten)]
    variable: Variable,
    labels: Vec<Label>,
    links: BTreeMap<&'static str, String>,
}

impl VariableResponse {
    fn new(variable: Variable, labels: Vec<Label>) -> Self {
        let links = BTreeMap::from([
            ("self", format!("{BASE}/{}", variable.id)),
            ("labels", format!("{BASE}/{}/labels", variable.id)),
            ("org", format!("/api/v2/orgs/{}", variable.org_id)),
        ]);
        VariableResponse {
            variable,
            labels,
            links,
        }
    }
}

/// `{"variables": [...], "links": {...}}`.
#[derive(Debug, Serialize)]
pub struct VariablesResponse {
    variables: Vec<VariableResponse>,
    links: PagingLinks,
}

fn read_perm(v: &Variable) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Variables, v.org_id, v.id)
}

fn write_perm(v: &Variable) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Variables, v.org_id, v.id)
}

/// The variable with the labels on it that the caller may read.
async fn respond(app: &App, auth: &Auth, v: Variable) -> Result<VariableResponse, ApiError> {
    let labels = readable_labels(app, auth, v.id).await?;
    Ok(VariableResponse::new(v, labels))
}

/// Finds a variable the caller may read (404 before 401, as InfluxDB's authorizer).
async fn find_readable(app: &App, auth: &Auth, id: Id) -> Result<Variable, ApiError> {
    let v = app.meta(move |m| m.get_variable(id)).await?;
    auth.require(&read_perm(&v))?;
    Ok(v)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// InfluxDB's `VariableArguments.UnmarshalJSON`.
fn parse_arguments(v: &Value) -> Result<VariableArguments, ApiError> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let values = v.get("values").unwrap_or(&Value::Null);
    let string = |x: &Value, what: &str| -> Result<String, ApiError> {
        x.as_str().map(str::to_string).ok_or_else(|| {
            ApiError::invalid(format!(
                "expected {what} to be string but received {}",
                type_name(x)
            ))
        })
    };
    match ty {
        "constant" => {
            let Some(arr) = values.as_array() else {
                return Err(ApiError::invalid(format!(
                    "error parsing {values} as VariableConstantArguments"
                )));
            };
            let vals = arr
                .iter()
                .map(|x| string(x, "variable constant value"))
                .collect::<Result<_, _>>()?;
            Ok(VariableArguments::Constant(vals))
        }
        "map" => {
            let Some(obj) = values.as_object() else {
                return Err(ApiError::invalid(format!(
                    "error parsing {values} as VariableMapArguments"
                )));
            };
            let vals = obj
                .iter()
                .map(|(k, x)| Ok((k.clone(), string(x, "variable map value")?)))
                .collect::<Result<_, ApiError>>()?;
            Ok(VariableArguments::Map(vals))
        }
        "query" => {
            let Some(obj) = values.as_object() else {
                return Err(ApiError::invalid(format!(
                    "error parsing {values} as VariableQueryArguments"
                )));
            };
            let field = |k: &str| -> Result<String, ApiError> {
                let x = obj.get(k).ok_or_else(|| {
                    ApiError::invalid(format!("\"{k}\" key not present in VariableQueryArguments"))
                })?;
                string(x, &format!("\"{k}\""))
            };
            Ok(VariableArguments::Query(VariableQueryValues {
                query: field("query")?,
                language: field("language")?,
            }))
        }
        other => Err(ApiError::invalid(format!(
            "unknown VariableArguments type {other}"
        ))),
    }
}

fn arguments(v: Option<&Value>) -> Result<Option<VariableArguments>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse_arguments(v).map(Some),
    }
}

/// InfluxDB's `Variable` as a request body (`id`, `createdAt`, `updatedAt` are ignored).
#[derive(Debug, Deserialize)]
pub struct VariableBody {
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    selected: Option<Vec<String>>,
    #[serde(default)]
    arguments: Option<Value>,
}

impl VariableBody {
    fn into_create(self) -> Result<(Id, VariableCreate), ApiError> {
        let args = arguments(self.arguments.as_ref())?;
        let Some(org) = self.org_id.as_deref().filter(|s| !s.is_empty()) else {
            return Err(ApiError::invalid("orgID is required"));
        };
        let org_id = parse_id(org)?;
        Ok((
            org_id,
            VariableCreate {
                org_id: Some(org_id),
                name: self.name,
                description: self.description,
                selected: self.selected,
                arguments: args,
            },
        ))
    }
}

/// `GET /api/v2/variables`: filters `orgID` (400 when malformed) or `org` (by name).
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<VariablesResponse>, ApiError> {
    let opts = params.find_options()?;
    let mut org_id = params.id("orgID")?;
    if org_id.is_none()
        && let Some(name) = params.get("org").map(str::to_string)
    {
        org_id = Some(app.meta(move |m| m.find_org_by_name(&name)).await?.id);
    }
    let all = app.meta(move |m| m.list_variables(org_id)).await?;
    let visible: Vec<Variable> = all
        .into_iter()
        .filter(|v| auth.allowed(&read_perm(v)))
        .collect();
    let visible = if org_id.is_some() {
        visible
    } else {
        page(visible, &opts, |v| v.id)
    };
    let filter: Vec<(&str, String)> = [("orgID", params.get("orgID")), ("org", params.get("org"))]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v.to_string())))
        .collect();
    let links = paging_links(BASE, &opts, &filter, visible.len());
    let mut variables = Vec::with_capacity(visible.len());
    for v in visible {
        variables.push(respond(&app, &auth, v).await?);
    }
    Ok(Json(VariablesResponse { variables, links }))
}

/// `POST /api/v2/variables`: 201 with the variable.
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<VariableBody>,
) -> Result<(StatusCode, Json<VariableResponse>), ApiError> {
    let (org_id, req) = body.into_create()?;
    auth.require(&Perm::in_org(
        Action::Write,
        ResourceType::Variables,
        org_id,
    ))?;
    let v = app.meta(move |m| m.create_variable(req)).await?;
    Ok((StatusCode::CREATED, Json(VariableResponse::new(v, vec![]))))
}

/// `GET /api/v2/variables/{id}`.
pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<VariableResponse>, ApiError> {
    let v = find_readable(&app, &auth, id).await?;
    Ok(Json(respond(&app, &auth, v).await?))
}

/// `PUT /api/v2/variables/{id}`: replaces the whole variable (which must exist).
pub async fn replace(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<VariableBody>,
) -> Result<Json<VariableResponse>, ApiError> {
    let (_, req) = body.into_create()?;
    let old = find_readable(&app, &auth, id).await?;
    auth.require(&write_perm(&old))?;
    let v = app.meta(move |m| m.replace_variable(id, req)).await?;
    Ok(Json(respond(&app, &auth, v).await?))
}

/// InfluxDB's `VariableUpdate`.
#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    selected: Option<Vec<String>>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// `PATCH /api/v2/variables/{id}`: sets the fields the body carries.
pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<VariableResponse>, ApiError> {
    let upd = VariableUpdate {
        name: body.name,
        selected: body.selected,
        description: body.description,
        arguments: arguments(body.arguments.as_ref())?,
    };
    if upd == VariableUpdate::default() {
        return Err(ApiError::invalid("no fields supplied in update"));
    }
    let old = find_readable(&app, &auth, id).await?;
    auth.require(&write_perm(&old))?;
    let v = app.meta(move |m| m.update_variable(id, upd)).await?;
    Ok(Json(respond(&app, &auth, v).await?))
}

/// `DELETE /api/v2/variables/{id}`: 204.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let old = find_readable(&app, &auth, id).await?;
    auth.require(&write_perm(&old))?;
    app.meta(move |m| m.delete_variable(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        parse_arguments(&v)
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
    }

    #[test]
    fn arguments_are_checked_as_influxdb() {
        assert_eq!(
            parse_arguments(&json!({"type": "constant", "values": ["a", "b"]})).ok(),
            Some(VariableArguments::Constant(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parse_arguments(&json!({"type": "query",
                "values": {"query": "buckets()", "language": "flux"}}))
            .ok(),
            Some(VariableArguments::Query(VariableQueryValues {
                query: "buckets()".into(),
                language: "flux".into(),
            }))
        );
        assert_eq!(
            msg(json!({"type": "chart", "values": []})),
            "unknown VariableArguments type chart"
        );
        assert_eq!(
            msg(json!({"type": "constant", "values": [1]})),
            "expected variable constant value to be string but received float64"
        );
        assert_eq!(
            msg(json!({"type": "map", "values": {"k": true}})),
            "expected variable map value to be string but received bool"
        );
        assert_eq!(
            msg(json!({"type": "map", "values": "x"})),
            "error parsing \"x\" as VariableMapArguments"
        );
        assert_eq!(
            msg(json!({"type": "query", "values": {"query": "q"}})),
            "\"language\" key not present in VariableQueryArguments"
        );
    }
}
