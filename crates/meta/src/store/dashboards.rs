//! Dashboards, their cells and the cells' views, kept as InfluxDB 2.x keeps them (its
//! `dashboards` KV service).
//!
//! KV layout (byte-compatible with InfluxDB):
//! * `dashboardsv2`: dashboard ID (16 hex) → dashboard JSON
//!   `{"id","orgID","name","description","cells":[{"id","x","y","w","h"},…],
//!   "meta":{"createdAt","updatedAt"},"owner"}`, in Go's field order; `owner` is left out when
//!   unset, `cells` is `null` for a dashboard created without any (Go's nil slice);
//! * `orgsdashboardsv1`: org ID (16 hex) ‖ dashboard ID (16 hex) → empty value; the dashboards
//!   of one org are found by walking it;
//! * `dashboardcellviewsv1`: dashboard ID (16 hex) ‖ cell ID (16 hex) → view JSON
//!   `{"id","name","properties"}`, `id` being the cell's ID. `properties` has many shapes (one
//!   per visualization, each tagged by `shape` and `type`); they are kept as given, as one JSON
//!   value, not modelled. A view without properties has `{"shape":"empty"}`.
//!
//! Rules as InfluxDB's: every cell of a new dashboard, and every added cell, gets a new ID and
//! a view (an empty one unless the cell carries a name or properties); an update needs a name or
//! a description (`must update at least one attribute`), and when it carries cells they replace
//! the old ones and their views; replacing the cells (`PUT …/cells`) takes only cells that the
//! dashboard has (`cannot provide empty cell id`, `cannot replace cells that were not already
//! present`) and keeps their views; a cell update needs one of `x`, `y`, `w`, `h`; a view update
//! needs a name or non-empty properties (`expected at least one attribute to be updated`); every
//! change sets `meta.updatedAt`. InfluxDB also appends each change to an operation log
//! (`keyvaluelogv1`); ironflux does not write that log.
//!
//! Where ironflux is stricter or kinder: a dashboard's org must exist; a dashboard's cells may
//! carry `name` and `properties` directly (InfluxDB looks for them one level deeper and so drops
//! them), and they become the cells' views; a view stored as `null` (which InfluxDB writes when
//! an update's cells carry no view) reads as an empty view of that cell.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// A cell's place on its dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Cell ID (also the ID of its view).
    pub id: Id,
    /// Column.
    #[serde(default)]
    pub x: i32,
    /// Row.
    #[serde(default)]
    pub y: i32,
    /// Width.
    #[serde(default)]
    pub w: i32,
    /// Height.
    #[serde(default)]
    pub h: i32,
}

/// Creation and change times of a dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardMeta {
    /// Creation time.
    #[serde(rename = "createdAt", default = "zero_time")]
    pub created_at: Time,
    /// Last change.
    #[serde(rename = "updatedAt", default = "zero_time")]
    pub updated_at: Time,
}

impl Default for DashboardMeta {
    fn default() -> Self {
        DashboardMeta {
            created_at: zero_time(),
            updated_at: zero_time(),
        }
    }
}

/// A dashboard (`dashboardsv2`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    /// ID.
    pub id: Id,
    /// Owning organization.
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// Name (not unique).
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Cells, in the order they were added; `None` is Go's nil slice (`null`).
    #[serde(default)]
    pub cells: Option<Vec<Cell>>,
    /// Times.
    #[serde(default)]
    pub meta: DashboardMeta,
    /// The user who owns it, when known.
    #[serde(rename = "owner", default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Id>,
}

impl Dashboard {
    /// The cells (none for a nil list).
    pub fn cells(&self) -> &[Cell] {
        self.cells.as_deref().unwrap_or_default()
    }
}

/// `{"shape":"empty"}`: the properties of a view that shows nothing.
pub fn empty_view_properties() -> Value {
    serde_json::json!({"shape": "empty"})
}

fn is_empty_properties(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.get("shape").and_then(Value::as_str) == Some("empty"),
        _ => false,
    }
}

/// The view of a cell (`dashboardcellviewsv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The cell's ID.
    pub id: Id,
    /// Name shown on the cell.
    #[serde(default)]
    pub name: String,
    /// The visualization, verbatim (`{"shape":"chronograf-v2","type":"xy",…}`).
    #[serde(default = "empty_view_properties")]
    pub properties: Value,
}

/// A cell to create: its place and, optionally, its view's name and properties.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellCreate {
    /// An existing cell ID to keep (dashboard updates keep the IDs they are given); a new one
    /// is made when `None`.
    pub id: Option<Id>,
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
    /// The view's name.
    pub name: Option<String>,
    /// The view's properties.
    pub properties: Option<Value>,
    /// Copy the view of this cell of the same dashboard (`usingView`); `name` still applies.
    pub using_view: Option<Id>,
}

/// What [`MetaStore::create_dashboard`] needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DashboardCreate {
    /// Owning organization (required).
    pub org_id: Option<Id>,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Cells (each gets a new ID).
    pub cells: Vec<CellCreate>,
    /// Owner.
    pub owner_id: Option<Id>,
}

/// A change of a dashboard (InfluxDB's `DashboardUpdate`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DashboardUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New cells, replacing the old ones and their views.
    pub cells: Option<Vec<CellCreate>>,
}

/// A change of a cell's place (InfluxDB's `CellUpdate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CellUpdate {
    /// New column.
    pub x: Option<i32>,
    /// New row.
    pub y: Option<i32>,
    /// New width.
    pub w: Option<i32>,
    /// New height.
    pub h: Option<i32>,
}

/// A change of a view (InfluxDB's `ViewUpdate`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewUpdate {
    /// New name.
    pub name: Option<String>,
    /// New properties (`{"shape":"empty"}` counts as none).
    pub properties: Option<Value>,
}

/// Which dashboards [`MetaStore::list_dashboards`] returns (InfluxDB's `DashboardFilter`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DashboardFilter {
    /// Only these IDs (when not empty).
    pub ids: Vec<Id>,
    /// Only this org's.
    pub org_id: Option<Id>,
    /// Only those this user owns.
    pub owner_id: Option<Id>,
}

/// `orgID ‖ dashboardID`: the key of `orgsdashboardsv1`.
fn org_key(org: Id, id: Id) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(&id.encode());
    k
}

/// `dashboardID ‖ cellID`: the key of `dashboardcellviewsv1`.
fn view_key(dash: Id, cell: Id) -> Vec<u8> {
    let mut k = dash.encode().to_vec();
    k.extend_from_slice(&cell.encode());
    k
}

fn tx_get(t: &Tree, id: Id) -> Result<Dashboard> {
    get_json(t, schema::DASHBOARDS, &id.encode(), Kind::Dashboard)
}

fn tx_put(t: &mut Tree, d: &Dashboard) {
    t.put(schema::ORG_DASHBOARDS, org_key(d.org_id, d.id), Vec::new());
    t.put(schema::DASHBOARDS, d.id.encode().to_vec(), to_go_json(d));
}

fn tx_get_view(t: &Tree, dash: Id, cell: Id) -> Result<View> {
    let raw = t
        .get(schema::DASHBOARD_CELL_VIEWS, &view_key(dash, cell))
        .ok_or(Error::not_found(Kind::View))?;
    let v: Option<View> = from_json(schema::DASHBOARD_CELL_VIEWS, raw)?;
    Ok(v.unwrap_or_else(|| View {
        id: cell,
        name: String::new(),
        properties: empty_view_properties(),
    }))
}

fn tx_put_view(t: &mut Tree, dash: Id, v: &View) {
    t.put(
        schema::DASHBOARD_CELL_VIEWS,
        view_key(dash, v.id),
        to_go_json(v),
    );
}

fn new_cell_id(t: &Tree, dash: Id) -> Id {
    let mut id = Id::generate();
    while t
        .get(schema::DASHBOARD_CELL_VIEWS, &view_key(dash, id))
        .is_some()
    {
        id = Id::generate();
    }
    id
}

/// Stores the view of a new cell and returns the cell.
fn tx_create_cell(t: &mut Tree, dash: Id, c: CellCreate) -> Result<Cell> {
    let id = match c.id {
        Some(id) => id,
        None => new_cell_id(t, dash),
    };
    let mut view = match c.using_view {
        Some(from) => tx_get_view(t, dash, from)?,
        None => View {
            id,
            name: String::new(),
            properties: empty_view_properties(),
        },
    };
    view.id = id;
    if let Some(name) = c.name {
        view.name = name;
    }
    if let Some(p) = c.properties
        && !p.is_null()
    {
        view.properties = p;
    }
    tx_put_view(t, dash, &view);
    Ok(Cell {
        id,
        x: c.x,
        y: c.y,
        w: c.w,
        h: c.h,
    })
}

impl MetaStore {
    /// Creates a dashboard with a new ID, a new ID for each cell and a view for each cell.
    /// [`Error::Invalid`] without an org (`orgID is required`); [`Error::NotFound`] if the org
    /// does not exist.
    pub fn create_dashboard(&self, req: DashboardCreate) -> Result<Dashboard> {
        let org_id = req
            .org_id
            .ok_or_else(|| Error::Invalid("orgID is required".into()))?;
        self.update(|t| {
            if t.get(schema::ORGS, &org_id.encode()).is_none() {
                return Err(Error::not_found(Kind::Organization));
            }
            let mut id = Id::generate();
            while t.get(schema::DASHBOARDS, &id.encode()).is_some() {
                id = Id::generate();
            }
            let mut cells = Vec::with_capacity(req.cells.len());
            for c in req.cells {
                cells.push(tx_create_cell(t, id, CellCreate { id: None, ..c })?);
            }
            let now = Time::now();
            let d = Dashboard {
                id,
                org_id,
                name: req.name,
                description: req.description,
                cells: (!cells.is_empty()).then_some(cells),
                meta: DashboardMeta {
                    created_at: now,
                    updated_at: now,
                },
                owner_id: req.owner_id,
            };
            tx_put(t, &d);
            Ok(d)
        })
    }

    /// The dashboard with this ID ([`Error::NotFound`]: `dashboard not found`).
    pub fn get_dashboard(&self, id: Id) -> Result<Dashboard> {
        tx_get(&self.view(), id)
    }

    /// The dashboards the filter selects, in ID order: those of one org walk
    /// `orgsdashboardsv1` (entries whose dashboard is gone are skipped), the others walk
    /// `dashboardsv2`.
    pub fn list_dashboards(&self, f: &DashboardFilter) -> Result<Vec<Dashboard>> {
        let t = self.view();
        let keep = |d: &Dashboard| {
            (f.ids.is_empty() || f.ids.contains(&d.id))
                && f.org_id.is_none_or(|o| o == d.org_id)
                && f.owner_id.is_none_or(|o| d.owner_id == Some(o))
        };
        let mut out = Vec::new();
        match f.org_id {
            Some(org) if f.ids.is_empty() => {
                for (k, _) in t.prefix(schema::ORG_DASHBOARDS, &org.encode()) {
                    if k.len() != 32 {
                        return Err(Error::corrupt("malformed org dashboard index key"));
                    }
                    match tx_get(&t, id_from(&k[16..])?) {
                        Ok(d) if keep(&d) => out.push(d),
                        Ok(_) | Err(Error::NotFound { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
            _ => {
                for d in all_json::<Dashboard>(&t, schema::DASHBOARDS)? {
                    if keep(&d) {
                        out.push(d);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Applies `upd` (see [`DashboardUpdate`]). [`Error::Invalid`] without a name or a
    /// description; [`Error::NotFound`] for a missing dashboard.
    pub fn update_dashboard(&self, id: Id, upd: DashboardUpdate) -> Result<Dashboard> {
        if upd.name.is_none() && upd.description.is_none() {
            return Err(Error::Invalid("must update at least one attribute".into()));
        }
        self.update(|t| {
            let mut d = tx_get(t, id)?;
            if let Some(name) = upd.name {
                d.name = name;
            }
            if let Some(desc) = upd.description {
                d.description = desc;
            }
            if let Some(cells) = upd.cells {
                for c in d.cells() {
                    t.delete(schema::DASHBOARD_CELL_VIEWS, &view_key(id, c.id));
                }
                let mut new = Vec::with_capacity(cells.len());
                for c in cells {
                    new.push(tx_create_cell(
                        t,
                        id,
                        CellCreate {
                            using_view: None,
                            ..c
                        },
                    )?);
                }
                d.cells = Some(new);
            }
            d.meta.updated_at = Time::now();
            tx_put(t, &d);
            Ok(d)
        })
    }

    /// Deletes a dashboard, its org index entry and its cells' views. [`Error::NotFound`] if
    /// there is none.
    pub fn delete_dashboard(&self, id: Id) -> Result<()> {
        self.update(|t| {
            let d = tx_get(t, id)?;
            for c in d.cells() {
                t.delete(schema::DASHBOARD_CELL_VIEWS, &view_key(id, c.id));
            }
            t.delete(schema::ORG_DASHBOARDS, &org_key(d.org_id, id));
            t.delete(schema::DASHBOARDS, &id.encode());
            tx_delete_resource_urms(t, id)?;
            Ok(())
        })
    }

    /// Adds a cell (new ID, given place) with its view: empty, or a copy of the view of cell
    /// `using_view`, renamed to `name` when given. [`Error::NotFound`] for a missing dashboard
    /// or (with `using_view`) a missing view.
    pub fn add_dashboard_cell(&self, id: Id, cell: CellCreate) -> Result<Cell> {
        self.update(|t| {
            let mut d = tx_get(t, id)?;
            let c = tx_create_cell(t, id, CellCreate { id: None, ..cell })?;
            d.cells.get_or_insert_with(Vec::new).push(c.clone());
            d.meta.updated_at = Time::now();
            tx_put(t, &d);
            Ok(c)
        })
    }

    /// Replaces the cells of a dashboard by `cells`, each of which must be one of its cells
    /// ([`Error::Invalid`] `cannot provide empty cell id` for a cell without ID,
    /// [`Error::Conflict`] `cannot replace cells that were not already present`); the cells'
    /// names and properties are ignored and their views kept. Returns the new cells.
    pub fn replace_dashboard_cells(&self, id: Id, cells: Vec<CellCreate>) -> Result<Vec<Cell>> {
        self.update(|t| {
            let mut d = tx_get(t, id)?;
            let mut new = Vec::with_capacity(cells.len());
            for c in cells {
                let Some(cid) = c.id else {
                    return Err(Error::Invalid("cannot provide empty cell id".into()));
                };
                if !d.cells().iter().any(|old| old.id == cid) {
                    return Err(Error::Conflict(
                        "cannot replace cells that were not already present".into(),
                    ));
                }
                new.push(Cell {
                    id: cid,
                    x: c.x,
                    y: c.y,
                    w: c.w,
                    h: c.h,
                });
            }
            d.cells = Some(new.clone());
            d.meta.updated_at = Time::now();
            tx_put(t, &d);
            Ok(new)
        })
    }

    /// Moves or resizes a cell. [`Error::Invalid`] when `upd` sets nothing (`must update at
    /// least one attribute`); [`Error::NotFound`] for a missing dashboard or cell.
    pub fn update_dashboard_cell(&self, id: Id, cell_id: Id, upd: CellUpdate) -> Result<Cell> {
        if upd == CellUpdate::default() {
            return Err(Error::Invalid("must update at least one attribute".into()));
        }
        self.update(|t| {
            let mut d = tx_get(t, id)?;
            let cells = d.cells.get_or_insert_with(Vec::new);
            let c = cells
                .iter_mut()
                .find(|c| c.id == cell_id)
                .ok_or(Error::not_found(Kind::Cell))?;
            c.x = upd.x.unwrap_or(c.x);
            c.y = upd.y.unwrap_or(c.y);
            c.w = upd.w.unwrap_or(c.w);
            c.h = upd.h.unwrap_or(c.h);
            let c = c.clone();
            d.meta.updated_at = Time::now();
            tx_put(t, &d);
            Ok(c)
        })
    }

    /// Removes a cell and its view. [`Error::NotFound`] for a missing dashboard or cell.
    pub fn remove_dashboard_cell(&self, id: Id, cell_id: Id) -> Result<()> {
        self.update(|t| {
            let mut d = tx_get(t, id)?;
            let cells = d.cells.get_or_insert_with(Vec::new);
            let i = cells
                .iter()
                .position(|c| c.id == cell_id)
                .ok_or(Error::not_found(Kind::Cell))?;
            cells.remove(i);
            t.delete(schema::DASHBOARD_CELL_VIEWS, &view_key(id, cell_id));
            d.meta.updated_at = Time::now();
            tx_put(t, &d);
            Ok(())
        })
    }

    /// The view of a cell ([`Error::NotFound`]: `view not found`).
    pub fn get_dashboard_cell_view(&self, id: Id, cell_id: Id) -> Result<View> {
        tx_get_view(&self.view(), id, cell_id)
    }

    /// Renames a view or sets its properties. [`Error::Invalid`] when `upd` has no name and no
    /// or empty properties (`expected at least one attribute to be updated`),
    /// [`Error::NotFound`] for a missing view.
    pub fn update_dashboard_cell_view(&self, id: Id, cell_id: Id, upd: ViewUpdate) -> Result<View> {
        let props = upd.properties.filter(|p| !is_empty_properties(p));
        if upd.name.is_none() && props.is_none() {
            return Err(Error::Invalid(
                "expected at least one attribute to be updated".into(),
            ));
        }
        self.update(|t| {
            let mut v = tx_get_view(t, id, cell_id)?;
            v.id = cell_id;
            if let Some(name) = upd.name {
                v.name = name;
            }
            if let Some(p) = props {
                v.properties = p;
            }
            tx_put_view(t, id, &v);
            Ok(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_and_view_json_is_influxdb_json() {
        let t = Time::from_unix_nanos(1_700_000_000_123_000_000).unwrap();
        let mut d = Dashboard {
            id: Id::new(0x0b).unwrap(),
            org_id: Id::new(0x0a).unwrap(),
            name: "d".into(),
            description: String::new(),
            cells: None,
            meta: DashboardMeta {
                created_at: t,
                updated_at: t,
            },
            owner_id: None,
        };
        assert_eq!(
            String::from_utf8(to_go_json(&d)).unwrap(),
            r#"{"id":"000000000000000b","orgID":"000000000000000a","name":"d","description":"","cells":null,"meta":{"createdAt":"2023-11-14T22:13:20.123Z","updatedAt":"2023-11-14T22:13:20.123Z"}}"#
        );
        d.cells = Some(vec![Cell {
            id: Id::new(0x0c).unwrap(),
            x: 1,
            y: 2,
            w: 3,
            h: 4,
        }]);
        d.owner_id = Some(Id::new(0x0d).unwrap());
        let s = String::from_utf8(to_go_json(&d)).unwrap();
        assert!(
            s.contains(r#""cells":[{"id":"000000000000000c","x":1,"y":2,"w":3,"h":4}],"meta":{"#)
                && s.ends_with(r#"},"owner":"000000000000000d"}"#),
            "{s}"
        );
        let back: Dashboard = serde_json::from_str(&s).unwrap();
        assert_eq!(back, d);
        let v = View {
            id: Id::new(0x0c).unwrap(),
            name: "cpu <1>".into(),
            properties: empty_view_properties(),
        };
        assert_eq!(
            String::from_utf8(to_go_json(&v)).unwrap(),
            r#"{"id":"000000000000000c","name":"cpu \u003c1\u003e","properties":{"shape":"empty"}}"#
        );
    }

    #[test]
    fn keys() {
        let a = Id::new(0x0a).unwrap();
        let b = Id::new(0x0b).unwrap();
        assert_eq!(org_key(a, b), b"000000000000000a000000000000000b".to_vec());
        assert_eq!(view_key(b, a), b"000000000000000b000000000000000a".to_vec());
    }

    #[test]
    fn empty_properties() {
        assert!(is_empty_properties(&Value::Null));
        assert!(is_empty_properties(&empty_view_properties()));
        assert!(!is_empty_properties(
            &serde_json::json!({"shape": "chronograf-v2", "type": "markdown", "note": "x"})
        ));
    }

    #[test]
    fn records_written_by_influxdb_are_read_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetaStore::open(
            dir.path().join("influxd.bolt"),
            dir.path().join("influxd.sqlite"),
        )
        .unwrap();
        let org = s.create_org("o", "", None).unwrap().id;
        let id = Id::new(0x0d).unwrap();
        let c1 = Id::new(0x0e).unwrap();
        let c2 = Id::new(0x0f).unwrap();
        // As InfluxDB 2.7 writes them: a cell carrying its view's name and properties, an
        // owner, times with an offset; one view typed, one stored as `null`.
        let raw = format!(
            r#"{{"id":"{id}","orgID":"{org}","name":"System","description":"","cells":[{{"id":"{c1}","name":"CPU","properties":{{"shape":"empty"}},"x":0,"y":0,"w":4,"h":3}},{{"id":"{c2}","x":4,"y":0,"w":4,"h":3}}],"meta":{{"createdAt":"2021-09-28T08:55:25.75109-04:00","updatedAt":"2021-09-28T08:55:25.75109-04:00"}},"owner":"{org}"}}"#
        );
        let view = format!(
            r#"{{"id":"{c1}","name":"CPU","properties":{{"shape":"chronograf-v2","queries":[{{"text":"from(bucket: \"b\")","editMode":"advanced","name":"","builderConfig":{{"buckets":[],"tags":[],"functions":[],"aggregateWindow":{{"period":"","fillValues":false}}}}}}],"type":"markdown","note":"hi","showNoteWhenEmpty":false}}}}"#
        );
        s.update(|t| {
            t.put(
                schema::DASHBOARDS,
                id.encode().to_vec(),
                raw.as_bytes().to_vec(),
            );
            t.put(schema::ORG_DASHBOARDS, org_key(org, id), Vec::new());
            t.put(
                schema::DASHBOARD_CELL_VIEWS,
                view_key(id, c1),
                view.into_bytes(),
            );
            t.put(
                schema::DASHBOARD_CELL_VIEWS,
                view_key(id, c2),
                b"null".to_vec(),
            );
            // An index entry left behind for a dashboard that is gone.
            t.put(
                schema::ORG_DASHBOARDS,
                org_key(org, Id::new(0x99).unwrap()),
                Vec::new(),
            );
            Ok(())
        })
        .unwrap();
        let listed = s
            .list_dashboards(&DashboardFilter {
                org_id: Some(org),
                ..DashboardFilter::default()
            })
            .unwrap();
        assert_eq!(listed.len(), 1);
        let d = &listed[0];
        assert_eq!((d.name.as_str(), d.owner_id), ("System", Some(org)));
        assert_eq!(d.cells().len(), 2);
        assert_eq!((d.cells()[1].x, d.cells()[1].w), (4, 4));
        let v = s.get_dashboard_cell_view(id, c1).unwrap();
        assert_eq!(v.name, "CPU");
        assert_eq!(v.properties["type"], "markdown");
        assert_eq!(v.properties["queries"][0]["text"], "from(bucket: \"b\")");
        let empty = s.get_dashboard_cell_view(id, c2).unwrap();
        assert_eq!((empty.id, empty.name.as_str()), (c2, ""));
        assert_eq!(empty.properties, empty_view_properties());
        // A change keeps createdAt as InfluxDB wrote it, and the owner.
        s.update_dashboard_cell(
            id,
            c2,
            CellUpdate {
                h: Some(5),
                ..CellUpdate::default()
            },
        )
        .unwrap();
        let stored = String::from_utf8(
            s.view()
                .get(schema::DASHBOARDS, &id.encode())
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            stored.contains(r#""createdAt":"2021-09-28T08:55:25.75109-04:00""#)
                && stored.contains(&format!(r#"{{"id":"{c2}","x":4,"y":0,"w":4,"h":5}}"#))
                && stored.ends_with(&format!(r#","owner":"{org}"}}"#)),
            "{stored}"
        );
        s.delete_dashboard(id).unwrap();
        let t = s.view();
        assert!(
            t.get(schema::DASHBOARD_CELL_VIEWS, &view_key(id, c1))
                .is_none()
        );
        assert!(
            t.get(schema::DASHBOARD_CELL_VIEWS, &view_key(id, c2))
                .is_none()
        );
        assert!(t.get(schema::ORG_DASHBOARDS, &org_key(org, id)).is_none());
    }
}
