//! `/api/v2/dashboards` (list, create), `/api/v2/dashboards/{id}` (get, update, delete),
//! `/api/v2/dashboards/{id}/cells` (add one, replace all), `…/cells/{cellID}` (move or resize,
//! remove) and `…/cells/{cellID}/view` (get, update), answered as InfluxDB 2.7's dashboard
//! handler answers them.
//!
//! A dashboard is `{"id","orgID","name","description","meta","cells","labels","links"}` with
//! links `self`, `members`, `owners`, `cells`, `labels`, `org`; each cell is
//! `{"id","x","y","w","h","links":{"self","view"}}`, and with `GET …/{id}?include=properties`
//! also the `properties` and `name` of its view. A view is
//! `{"id","name","links":{"self"},"properties"}` (InfluxDB's `self` link of a view names the
//! cell). Creating a dashboard and adding or replacing cells answer 201, deleting 204.
//! Replacing the cells answers the whole dashboard, as the API contract says and its clients
//! (the Python client) decode it; InfluxDB's handler answers only `{"cells","links"}`, which
//! the dashboard's answer holds too.
//!
//! The list: `id` (repeatable) selects dashboards by ID, otherwise `owner` (or `ownerID`),
//! `orgID` or `org` (an org's name); a list of one org holds all of its dashboards, any other is
//! paged (`offset`, `limit` (default 20), `descending`) in ID order; `sortBy` (`ID`,
//! `CreatedAt`, `UpdatedAt`, `Name`) then orders the page.
//!
//! View properties are kept as sent; their `shape` must be `chronograf-v2` or `empty`
//! (otherwise 400 `unknown shape <shape>`).
//!
//! Permissions as InfluxDB's dashboard authorizer: creating needs
//! `write:orgs/<org>/dashboards`; reading a dashboard or a cell view
//! `read:orgs/<org>/dashboards/<id>` (lists keep only the readable ones); any change
//! `write:orgs/<org>/dashboards/<id>`. A missing dashboard is 404 before any permission check.
//! Where ironflux differs: an unknown `org` is 404 `organization not found` (InfluxDB answers
//! 500), a malformed view update is 400 (InfluxDB answers 500), and a list is paged after the
//! unreadable dashboards are left out (InfluxDB pages first).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use meta::{
    Action, Cell, CellCreate, CellUpdate, Dashboard, DashboardCreate, DashboardFilter,
    DashboardUpdate, Id, Label, ResourceType, View, ViewUpdate,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::routes::labels::{labels_of, readable_labels};
use crate::routes::paging::{IdPath, PagingLinks, Params, page, paging_links, parse_id};

const BASE: &str = "/api/v2/dashboards";

/// `{id}` and `{cellID}` of a cell's path.
#[derive(Debug, Clone, Copy)]
pub struct CellPath(pub Id, pub Id);

impl<S: Send + Sync> FromRequestParts<S> for CellPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<CellPath, ApiError> {
        let Path((id, cell)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        Ok(CellPath(parse_id(&id)?, parse_id(&cell)?))
    }
}

/// A cell as the API answers it.
#[derive(Debug, Serialize)]
pub struct CellResponse {
    #[serde(flatten)]
    cell: Cell,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    links: BTreeMap<&'static str, String>,
}

impl CellResponse {
    fn new(dash: Id, cell: Cell, view: Option<View>) -> Self {
        let links = BTreeMap::from([
            ("self", format!("{BASE}/{dash}/cells/{}", cell.id)),
            ("view", format!("{BASE}/{dash}/cells/{}/view", cell.id)),
        ]);
        let (properties, name) = match view {
            Some(v) => (Some(v.properties), v.name),
            None => (None, String::new()),
        };
        CellResponse {
            cell,
            properties,
            name,
            links,
        }
    }
}

/// Links of a dashboard.
#[derive(Debug, Serialize)]
struct DashboardLinks {
    #[serde(rename = "self")]
    this: String,
    members: String,
    owners: String,
    cells: String,
    labels: String,
    org: String,
}

/// A dashboard as the API answers it.
#[derive(Debug, Serialize)]
pub struct DashboardResponse {
    id: Id,
    #[serde(rename = "orgID")]
    org_id: Id,
    name: String,
    description: String,
    meta: meta::DashboardMeta,
    cells: Vec<CellResponse>,
    labels: Vec<Label>,
    links: DashboardLinks,
}

impl DashboardResponse {
    fn new(d: Dashboard, views: Option<Vec<View>>, labels: Vec<Label>) -> Self {
        let id = d.id;
        let links = DashboardLinks {
            this: format!("{BASE}/{id}"),
            members: format!("{BASE}/{id}/members"),
            owners: format!("{BASE}/{id}/owners"),
            cells: format!("{BASE}/{id}/cells"),
            labels: format!("{BASE}/{id}/labels"),
            org: format!("/api/v2/orgs/{}", d.org_id),
        };
        let mut views = views.map(Vec::into_iter);
        let cells = d
            .cells
            .unwrap_or_default()
            .into_iter()
            .map(|c| CellResponse::new(id, c, views.as_mut().and_then(Iterator::next)))
            .collect();
        DashboardResponse {
            id,
            org_id: d.org_id,
            name: d.name,
            description: d.description,
            meta: d.meta,
            cells,
            labels,
            links,
        }
    }
}

/// `{"dashboards": [...], "links": {...}}`.
#[derive(Debug, Serialize)]
pub struct DashboardsResponse {
    links: PagingLinks,
    dashboards: Vec<DashboardResponse>,
}

/// A view as the API answers it.
#[derive(Debug, Serialize)]
pub struct ViewResponse {
    id: Id,
    name: String,
    links: BTreeMap<&'static str, String>,
    properties: Value,
}

impl ViewResponse {
    fn new(dash: Id, cell: Id, v: View) -> Self {
        ViewResponse {
            id: v.id,
            name: v.name,
            links: BTreeMap::from([("self", format!("{BASE}/{dash}/cells/{cell}"))]),
            properties: v.properties,
        }
    }
}

fn read_perm(d: &Dashboard) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Dashboards, d.org_id, d.id)
}

fn write_perm(d: &Dashboard) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Dashboards, d.org_id, d.id)
}

/// Finds a dashboard and checks the caller may `action` it (404 before 401).
async fn find(app: &App, auth: &Auth, id: Id, action: Action) -> Result<Dashboard, ApiError> {
    let d = app.meta(move |m| m.get_dashboard(id)).await?;
    auth.require(&match action {
        Action::Read => read_perm(&d),
        Action::Write => write_perm(&d),
    })?;
    Ok(d)
}

/// Checks view properties as InfluxDB's `UnmarshalViewPropertiesJSON` does: an object whose
/// `shape` is `chronograf-v2` or `empty`. `null` is no properties.
fn check_properties(p: Option<Value>) -> Result<Option<Value>, ApiError> {
    match p {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let shape = m.get("shape").and_then(Value::as_str).unwrap_or_default();
            if shape == "chronograf-v2" || shape == "empty" {
                Ok(Some(Value::Object(m)))
            } else {
                Err(ApiError::invalid(format!("unknown shape {shape}")))
            }
        }
        Some(other) => Err(ApiError::invalid(format!(
            "view properties must be an object, not {other}"
        ))),
    }
}

/// A cell of a request body (InfluxDB's `Cell`: its place, and its view's name and
/// properties).
#[derive(Debug, Default, Deserialize)]
pub struct CellBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    x: i32,
    #[serde(default)]
    y: i32,
    #[serde(default)]
    w: i32,
    #[serde(default)]
    h: i32,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    properties: Option<Value>,
}

impl CellBody {
    fn into_create(self) -> Result<CellCreate, ApiError> {
        let id = match self.id.as_deref() {
            None | Some("") => None,
            Some(s) => Some(parse_id(s)?),
        };
        Ok(CellCreate {
            id,
            x: self.x,
            y: self.y,
            w: self.w,
            h: self.h,
            name: self.name.filter(|n| !n.is_empty()),
            properties: check_properties(self.properties)?,
            using_view: None,
        })
    }
}

fn cells_of(body: Option<Vec<CellBody>>) -> Result<Option<Vec<CellCreate>>, ApiError> {
    body.map(|cs| cs.into_iter().map(CellBody::into_create).collect())
        .transpose()
}

/// InfluxDB's `Dashboard` as a create body (`id` and `meta` are ignored).
#[derive(Debug, Deserialize)]
pub struct DashboardBody {
    #[serde(rename = "orgID", default)]
    org_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    cells: Option<Vec<CellBody>>,
    #[serde(default)]
    owner: Option<String>,
}

/// The `sortBy` orders of InfluxDB's `SortDashboards`.
fn sort(ds: &mut [Dashboard], by: Option<&str>, descending: bool) {
    match by {
        Some("CreatedAt") => ds.sort_by_key(|d| d.meta.created_at.unix_nanos()),
        Some("UpdatedAt") => ds.sort_by_key(|d| d.meta.updated_at.unix_nanos()),
        Some("Name") => ds.sort_by(|a, b| a.name.cmp(&b.name)),
        _ if descending => ds.sort_by_key(|d| std::cmp::Reverse(d.id)),
        _ => ds.sort_by_key(|d| d.id),
    }
}

/// `GET /api/v2/dashboards`.
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<DashboardsResponse>, ApiError> {
    let opts = params.find_options()?;
    let mut filter = DashboardFilter::default();
    let mut link_filter: Vec<(&str, String)> = Vec::new();
    let ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .collect();
    if !ids.is_empty() {
        for id in &ids {
            filter.ids.push(parse_id(id)?);
            link_filter.push(("id", id.to_string()));
        }
    } else if let Some(owner) = params.get("owner").or(params.get("ownerID")) {
        filter.owner_id = Some(parse_id(owner)?);
        link_filter.push(("owner", owner.to_string()));
    } else if let Some(org) = params.get("orgID") {
        filter.org_id = Some(parse_id(org)?);
        link_filter.push(("orgID", org.to_string()));
    } else if let Some(name) = params.get("org").map(str::to_string) {
        link_filter.push(("org", name.clone()));
        filter.org_id = Some(app.meta(move |m| m.find_org_by_name(&name)).await?.id);
    }
    let sort_by = params.get("sortBy").map(str::to_string);
    if let Some(s) = &sort_by {
        link_filter.push(("sortBy", s.clone()));
    }
    let whole_org = filter.org_id.is_some();
    let all = app.meta(move |m| m.list_dashboards(&filter)).await?;
    let visible: Vec<Dashboard> = all
        .into_iter()
        .filter(|d| auth.allowed(&read_perm(d)))
        .collect();
    let mut visible = if whole_org {
        visible
    } else {
        page(visible, &opts, |d| d.id)
    };
    sort(&mut visible, sort_by.as_deref(), opts.descending);
    let links = paging_links(BASE, &opts, &link_filter, visible.len());
    let labels = labels_of(&app, &auth, visible.iter().map(|d| d.id).collect()).await?;
    let dashboards = visible
        .into_iter()
        .zip(labels)
        .map(|(d, labels)| DashboardResponse::new(d, None, labels))
        .collect();
    Ok(Json(DashboardsResponse { links, dashboards }))
}

/// `POST /api/v2/dashboards`: 201 with the dashboard.
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<DashboardBody>,
) -> Result<(StatusCode, Json<DashboardResponse>), ApiError> {
    let Some(org) = body.org_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::invalid("orgID is required"));
    };
    let org_id = parse_id(org)?;
    let owner_id = match body.owner.as_deref() {
        None | Some("") => None,
        Some(s) => Some(parse_id(s)?),
    };
    let req = DashboardCreate {
        org_id: Some(org_id),
        name: body.name,
        description: body.description,
        cells: cells_of(body.cells)?.unwrap_or_default(),
        owner_id,
    };
    auth.require(&Perm::in_org(
        Action::Write,
        ResourceType::Dashboards,
        org_id,
    ))?;
    let d = app.meta(move |m| m.create_dashboard(req)).await?;
    Ok((
        StatusCode::CREATED,
        Json(DashboardResponse::new(d, None, vec![])),
    ))
}

/// `GET /api/v2/dashboards/{id}`; `include=properties` adds each cell's view.
pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    params: Params,
) -> Result<Json<DashboardResponse>, ApiError> {
    let d = find(&app, &auth, id, Action::Read).await?;
    let views = if params.get("include") == Some("properties") {
        let cells: Vec<Id> = d.cells().iter().map(|c| c.id).collect();
        Some(
            app.meta(move |m| {
                cells
                    .into_iter()
                    .map(|c| m.get_dashboard_cell_view(id, c))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?,
        )
    } else {
        None
    };
    let labels = readable_labels(&app, &auth, id).await?;
    Ok(Json(DashboardResponse::new(d, views, labels)))
}

/// InfluxDB's `DashboardUpdate`.
#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    cells: Option<Vec<CellBody>>,
}

/// `PATCH /api/v2/dashboards/{id}`: name, description, and (with one of them) cells.
pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<DashboardResponse>, ApiError> {
    if body.name.is_none() && body.description.is_none() {
        return Err(ApiError::invalid("must update at least one attribute"));
    }
    let upd = DashboardUpdate {
        name: body.name,
        description: body.description,
        cells: cells_of(body.cells)?,
    };
    find(&app, &auth, id, Action::Write).await?;
    let d = app.meta(move |m| m.update_dashboard(id, upd)).await?;
    let labels = readable_labels(&app, &auth, id).await?;
    Ok(Json(DashboardResponse::new(d, None, labels)))
}

/// `DELETE /api/v2/dashboards/{id}`: 204.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    find(&app, &auth, id, Action::Write).await?;
    app.meta(move |m| m.delete_dashboard(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST …/cells`: a place, and optionally `usingView` and `name`.
#[derive(Debug, Deserialize)]
pub struct AddCellBody {
    x: Option<i32>,
    y: Option<i32>,
    w: Option<i32>,
    h: Option<i32>,
    #[serde(rename = "usingView")]
    using_view: Option<String>,
    name: Option<String>,
}

/// `POST /api/v2/dashboards/{id}/cells`: 201 with the new cell.
pub async fn add_cell(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CellResponse>), ApiError> {
    let body: AddCellBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("bad request json body: {e}")))?;
    let has_place = body.x.is_some() || body.y.is_some() || body.w.is_some() || body.h.is_some();
    if body.using_view.is_none() && body.name.is_none() && !has_place {
        return Err(ApiError::invalid("req body is empty"));
    }
    let using_view = body.using_view.as_deref().map(parse_id).transpose()?;
    let req = CellCreate {
        id: None,
        x: body.x.unwrap_or_default(),
        y: body.y.unwrap_or_default(),
        w: body.w.unwrap_or_default(),
        h: body.h.unwrap_or_default(),
        name: body.name,
        properties: None,
        using_view,
    };
    find(&app, &auth, id, Action::Write).await?;
    let c = app.meta(move |m| m.add_dashboard_cell(id, req)).await?;
    Ok((StatusCode::CREATED, Json(CellResponse::new(id, c, None))))
}

/// `PUT /api/v2/dashboards/{id}/cells`: 201 with the dashboard holding the new cells.
pub async fn replace_cells(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<Vec<CellBody>>,
) -> Result<(StatusCode, Json<DashboardResponse>), ApiError> {
    let cells = cells_of(Some(body))?.unwrap_or_default();
    find(&app, &auth, id, Action::Write).await?;
    let d = app
        .meta(move |m| {
            m.replace_dashboard_cells(id, cells)?;
            m.get_dashboard(id)
        })
        .await?;
    let labels = readable_labels(&app, &auth, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(DashboardResponse::new(d, None, labels)),
    ))
}

/// InfluxDB's `CellUpdate`.
#[derive(Debug, Deserialize)]
pub struct CellUpdateBody {
    x: Option<i32>,
    y: Option<i32>,
    w: Option<i32>,
    h: Option<i32>,
}

/// `PATCH /api/v2/dashboards/{id}/cells/{cellID}`: moves or resizes a cell.
pub async fn update_cell(
    State(app): State<App>,
    auth: Auth,
    CellPath(id, cell): CellPath,
    JsonBody(body): JsonBody<CellUpdateBody>,
) -> Result<Json<CellResponse>, ApiError> {
    let upd = CellUpdate {
        x: body.x,
        y: body.y,
        w: body.w,
        h: body.h,
    };
    if upd == CellUpdate::default() {
        return Err(ApiError::invalid("must update at least one attribute"));
    }
    find(&app, &auth, id, Action::Write).await?;
    let c = app
        .meta(move |m| m.update_dashboard_cell(id, cell, upd))
        .await?;
    Ok(Json(CellResponse::new(id, c, None)))
}

/// `DELETE /api/v2/dashboards/{id}/cells/{cellID}`: 204.
pub async fn delete_cell(
    State(app): State<App>,
    auth: Auth,
    CellPath(id, cell): CellPath,
) -> Result<StatusCode, ApiError> {
    find(&app, &auth, id, Action::Write).await?;
    app.meta(move |m| m.remove_dashboard_cell(id, cell)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v2/dashboards/{id}/cells/{cellID}/view`.
pub async fn get_view(
    State(app): State<App>,
    auth: Auth,
    CellPath(id, cell): CellPath,
) -> Result<Json<ViewResponse>, ApiError> {
    find(&app, &auth, id, Action::Read).await?;
    let v = app
        .meta(move |m| m.get_dashboard_cell_view(id, cell))
        .await?;
    Ok(Json(ViewResponse::new(id, cell, v)))
}

/// InfluxDB's `ViewUpdate`.
#[derive(Debug, Deserialize)]
pub struct ViewUpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    properties: Option<Value>,
}

/// `PATCH /api/v2/dashboards/{id}/cells/{cellID}/view`: renames a view or sets its
/// properties.
pub async fn update_view(
    State(app): State<App>,
    auth: Auth,
    CellPath(id, cell): CellPath,
    JsonBody(body): JsonBody<ViewUpdateBody>,
) -> Result<Json<ViewResponse>, ApiError> {
    let upd = ViewUpdate {
        name: body.name,
        properties: check_properties(body.properties)?,
    };
    find(&app, &auth, id, Action::Write).await?;
    let v = app
        .meta(move |m| m.update_dashboard_cell_view(id, cell, upd))
        .await?;
    Ok(Json(ViewResponse::new(id, cell, v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn properties_are_checked_by_shape() {
        assert_eq!(check_properties(None).ok(), Some(None));
        assert_eq!(check_properties(Some(Value::Null)).ok(), Some(None));
        let xy = json!({"shape": "chronograf-v2", "type": "xy"});
        assert_eq!(check_properties(Some(xy.clone())).ok(), Some(Some(xy)));
        assert_eq!(
            check_properties(Some(json!({"type": "xy"})))
                .err()
                .map(|e| e.message),
            Some("unknown shape ".to_string())
        );
        assert!(check_properties(Some(json!([1]))).is_err());
    }

    #[test]
    fn cell_json_is_influxdb_json() {
        let dash = Id::new(0x0a).unwrap();
        let cell = Cell {
            id: Id::new(0x0b).unwrap(),
            x: 1,
            y: 2,
            w: 3,
            h: 4,
        };
        let plain = serde_json::to_value(CellResponse::new(dash, cell.clone(), None)).unwrap();
        assert_eq!(
            plain,
            json!({"id": "000000000000000b", "x": 1, "y": 2, "w": 3, "h": 4, "links": {
                "self": "/api/v2/dashboards/000000000000000a/cells/000000000000000b",
                "view": "/api/v2/dashboards/000000000000000a/cells/000000000000000b/view"}})
        );
        let view = View {
            id: cell.id,
            name: "cpu".into(),
            properties: json!({"shape": "empty"}),
        };
        let with = serde_json::to_value(CellResponse::new(dash, cell, Some(view))).unwrap();
        assert_eq!(with["name"], "cpu");
        assert_eq!(with["properties"], json!({"shape": "empty"}));
    }
}
