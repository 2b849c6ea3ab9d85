//! Dashboards: creating, listing, changing and deleting them, their cells and the cells'
//! views, InfluxDB's rules and messages, reopening, and the records as Go bbolt reads them in a
//! copy of a real InfluxDB file.

mod common;

use meta::*;
use serde_json::json;

fn open(dir: &std::path::Path) -> MetaStore {
    MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap()
}

fn cell(x: i32, y: i32, w: i32, h: i32) -> CellCreate {
    CellCreate {
        x,
        y,
        w,
        h,
        ..CellCreate::default()
    }
}

fn dash(org: Id, name: &str) -> DashboardCreate {
    DashboardCreate {
        org_id: Some(org),
        name: name.into(),
        ..DashboardCreate::default()
    }
}

#[track_caller]
fn invalid<T: std::fmt::Debug>(r: Result<T>, want: &str) {
    match r {
        Err(Error::Invalid(m)) => assert_eq!(m, want),
        other => panic!("{other:?}"),
    }
}

#[track_caller]
fn not_found<T: std::fmt::Debug>(r: Result<T>, want: Kind) {
    match r {
        Err(Error::NotFound { kind }) => assert_eq!(kind, want),
        other => panic!("{other:?}"),
    }
}

fn xy() -> serde_json::Value {
    json!({"shape": "chronograf-v2", "type": "xy", "queries": [{"text": "from(bucket: \"b\")"}],
           "colors": [], "geom": "line", "note": "", "showNoteWhenEmpty": false})
}

#[test]
fn create_list_update_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let org = s.create_org("o", "", None).unwrap().id;
    let other = s.create_org("p", "", None).unwrap().id;

    invalid(
        s.create_dashboard(DashboardCreate::default()),
        "orgID is required",
    );
    not_found(
        s.create_dashboard(dash(Id::new(0x77).unwrap(), "x")),
        Kind::Organization,
    );
    let empty = s.create_dashboard(dash(org, "empty")).unwrap();
    assert_eq!(empty.cells, None);
    assert_eq!(empty.meta.created_at, empty.meta.updated_at);
    let a = s
        .create_dashboard(DashboardCreate {
            description: "two cells".into(),
            cells: vec![
                cell(0, 0, 4, 3),
                CellCreate {
                    name: Some("cpu".into()),
                    properties: Some(xy()),
                    ..cell(4, 0, 4, 3)
                },
            ],
            owner_id: Some(org),
            ..dash(org, "a")
        })
        .unwrap();
    assert_eq!(a.cells().len(), 2);
    assert_ne!(a.cells()[0].id, a.cells()[1].id);
    let v0 = s.get_dashboard_cell_view(a.id, a.cells()[0].id).unwrap();
    assert_eq!(v0.id, a.cells()[0].id);
    assert_eq!(v0.properties, empty_view_properties());
    let v1 = s.get_dashboard_cell_view(a.id, a.cells()[1].id).unwrap();
    assert_eq!((v1.name.as_str(), &v1.properties), ("cpu", &xy()));
    let b = s.create_dashboard(dash(other, "b")).unwrap();

    assert_eq!(s.get_dashboard(a.id).unwrap(), a);
    not_found(s.get_dashboard(Id::new(0x55).unwrap()), Kind::Dashboard);
    let ids = |f: DashboardFilter| -> Vec<Id> {
        s.list_dashboards(&f)
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect()
    };
    let mut all = vec![empty.id, a.id, b.id];
    all.sort();
    assert_eq!(ids(DashboardFilter::default()), all);
    let mut of_org = vec![empty.id, a.id];
    of_org.sort();
    assert_eq!(
        ids(DashboardFilter {
            org_id: Some(org),
            ..DashboardFilter::default()
        }),
        of_org
    );
    assert_eq!(
        ids(DashboardFilter {
            owner_id: Some(org),
            ..DashboardFilter::default()
        }),
        vec![a.id]
    );
    assert_eq!(
        ids(DashboardFilter {
            ids: vec![b.id, Id::new(0x55).unwrap()],
            ..DashboardFilter::default()
        }),
        vec![b.id]
    );

    invalid(
        s.update_dashboard(a.id, DashboardUpdate::default()),
        "must update at least one attribute",
    );
    not_found(
        s.update_dashboard(
            Id::new(0x55).unwrap(),
            DashboardUpdate {
                name: Some("n".into()),
                ..DashboardUpdate::default()
            },
        ),
        Kind::Dashboard,
    );
    let renamed = s
        .update_dashboard(
            a.id,
            DashboardUpdate {
                name: Some("renamed".into()),
                description: Some(String::new()),
                ..DashboardUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_str()),
        ("renamed", "")
    );
    assert_eq!(renamed.cells, a.cells);
    assert_eq!(renamed.meta.created_at, a.meta.created_at);
    assert!(renamed.meta.updated_at >= a.meta.updated_at);

    // An update carrying cells replaces them and their views.
    let recelled = s
        .update_dashboard(
            a.id,
            DashboardUpdate {
                name: Some("recelled".into()),
                cells: Some(vec![CellCreate {
                    name: Some("mem".into()),
                    ..cell(1, 1, 1, 1)
                }]),
                ..DashboardUpdate::default()
            },
        )
        .unwrap();
    assert_eq!(recelled.cells().len(), 1);
    let c = recelled.cells()[0].clone();
    assert_eq!((c.x, c.y, c.w, c.h), (1, 1, 1, 1));
    for old in a.cells() {
        not_found(s.get_dashboard_cell_view(a.id, old.id), Kind::View);
    }
    assert_eq!(s.get_dashboard_cell_view(a.id, c.id).unwrap().name, "mem");

    s.delete_dashboard(a.id).unwrap();
    not_found(s.get_dashboard(a.id), Kind::Dashboard);
    not_found(s.get_dashboard_cell_view(a.id, c.id), Kind::View);
    not_found(s.delete_dashboard(a.id), Kind::Dashboard);
    assert_eq!(
        ids(DashboardFilter {
            org_id: Some(org),
            ..DashboardFilter::default()
        }),
        vec![empty.id]
    );
    drop(s);
    let s = open(dir.path());
    assert_eq!(s.get_dashboard(b.id).unwrap(), b);
}

#[test]
fn cells_and_views() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let org = s.create_org("o", "", None).unwrap().id;
    let d = s.create_dashboard(dash(org, "d")).unwrap();
    let nobody = Id::new(0x55).unwrap();

    not_found(
        s.add_dashboard_cell(nobody, cell(0, 0, 1, 1)),
        Kind::Dashboard,
    );
    let c1 = s.add_dashboard_cell(d.id, cell(0, 0, 4, 4)).unwrap();
    let v1 = s
        .update_dashboard_cell_view(
            d.id,
            c1.id,
            ViewUpdate {
                name: Some("cpu".into()),
                properties: Some(xy()),
            },
        )
        .unwrap();
    assert_eq!(
        (v1.id, v1.name.as_str(), &v1.properties),
        (c1.id, "cpu", &xy())
    );
    invalid(
        s.update_dashboard_cell_view(d.id, c1.id, ViewUpdate::default()),
        "expected at least one attribute to be updated",
    );
    invalid(
        s.update_dashboard_cell_view(
            d.id,
            c1.id,
            ViewUpdate {
                name: None,
                properties: Some(empty_view_properties()),
            },
        ),
        "expected at least one attribute to be updated",
    );
    // A rename keeps the properties.
    let v1 = s
        .update_dashboard_cell_view(
            d.id,
            c1.id,
            ViewUpdate {
                name: Some("CPU".into()),
                properties: None,
            },
        )
        .unwrap();
    assert_eq!(v1.properties, xy());
    not_found(
        s.update_dashboard_cell_view(
            d.id,
            nobody,
            ViewUpdate {
                name: Some("x".into()),
                properties: None,
            },
        ),
        Kind::View,
    );

    // A cell using another's view gets a copy of it, renamed when asked.
    let c2 = s
        .add_dashboard_cell(
            d.id,
            CellCreate {
                using_view: Some(c1.id),
                name: Some("copy".into()),
                ..cell(4, 0, 4, 4)
            },
        )
        .unwrap();
    let v2 = s.get_dashboard_cell_view(d.id, c2.id).unwrap();
    assert_eq!(
        (v2.id, v2.name.as_str(), &v2.properties),
        (c2.id, "copy", &xy())
    );
    not_found(
        s.add_dashboard_cell(
            d.id,
            CellCreate {
                using_view: Some(nobody),
                ..cell(0, 0, 1, 1)
            },
        ),
        Kind::View,
    );
    assert_eq!(s.get_dashboard(d.id).unwrap().cells().len(), 2);

    invalid(
        s.update_dashboard_cell(d.id, c1.id, CellUpdate::default()),
        "must update at least one attribute",
    );
    let moved = s
        .update_dashboard_cell(
            d.id,
            c1.id,
            CellUpdate {
                y: Some(7),
                w: Some(2),
                ..CellUpdate::default()
            },
        )
        .unwrap();
    assert_eq!((moved.x, moved.y, moved.w, moved.h), (0, 7, 2, 4));
    not_found(
        s.update_dashboard_cell(
            d.id,
            nobody,
            CellUpdate {
                x: Some(1),
                ..CellUpdate::default()
            },
        ),
        Kind::Cell,
    );

    // Replacing takes only cells the dashboard has, and keeps their views.
    invalid(
        s.replace_dashboard_cells(d.id, vec![cell(0, 0, 1, 1)]),
        "cannot provide empty cell id",
    );
    match s.replace_dashboard_cells(
        d.id,
        vec![CellCreate {
            id: Some(nobody),
            ..cell(0, 0, 1, 1)
        }],
    ) {
        Err(Error::Conflict(m)) => {
            assert_eq!(m, "cannot replace cells that were not already present")
        }
        other => panic!("{other:?}"),
    }
    let replaced = s
        .replace_dashboard_cells(
            d.id,
            vec![CellCreate {
                id: Some(c2.id),
                ..cell(9, 9, 9, 9)
            }],
        )
        .unwrap();
    assert_eq!(s.get_dashboard(d.id).unwrap().cells.unwrap(), replaced);
    assert_eq!(replaced[0].x, 9);
    assert_eq!(s.get_dashboard_cell_view(d.id, c2.id).unwrap().name, "copy");

    not_found(s.remove_dashboard_cell(d.id, c1.id), Kind::Cell);
    s.remove_dashboard_cell(d.id, c2.id).unwrap();
    not_found(s.get_dashboard_cell_view(d.id, c2.id), Kind::View);
    assert_eq!(s.get_dashboard(d.id).unwrap().cells, Some(vec![]));
}

#[test]
fn bbolt_reads_dashboards_as_influxdb_stores_them() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = common::copy_real_bolt(dir.path());
    let org = "dd7cd2292f6e974a";
    let org_id: Id = org.parse().unwrap();
    let (d, gone) = {
        let s = MetaStore::open(&bolt, dir.path().join("influxd.sqlite")).unwrap();
        let d = s
            .create_dashboard(DashboardCreate {
                description: "a<b".into(),
                cells: vec![CellCreate {
                    name: Some("cpu".into()),
                    properties: Some(xy()),
                    ..cell(0, 1, 4, 3)
                }],
                ..dash(org_id, "System")
            })
            .unwrap();
        let gone = s.create_dashboard(dash(org_id, "gone")).unwrap();
        s.add_dashboard_cell(gone.id, cell(0, 0, 1, 1)).unwrap();
        s.delete_dashboard(gone.id).unwrap();
        (d, gone)
    };
    let dump = common::boltdump(&bolt);
    let dashes = dump["dashboardsv2"].as_object().unwrap();
    assert_eq!(dashes.len(), 1, "{dashes:?}");
    let t = serde_json::to_value(d.meta.created_at).unwrap();
    let c = d.cells()[0].id.to_string();
    assert_eq!(
        dashes[&d.id.to_string()],
        json!({
            "id": d.id.to_string(), "orgID": org, "name": "System", "description": "a<b",
            "cells": [{"id": c, "x": 0, "y": 1, "w": 4, "h": 3}],
            "meta": {"createdAt": t, "updatedAt": t},
        })
    );
    let idx = dump["orgsdashboardsv1"].as_object().unwrap();
    assert_eq!(idx.len(), 1, "{idx:?}");
    assert_eq!(idx[&format!("{org}{}", d.id)], "");
    assert!(!idx.contains_key(&format!("{org}{}", gone.id)));
    let views = dump["dashboardcellviewsv1"].as_object().unwrap();
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(
        views[&format!("{}{c}", d.id)],
        json!({"id": c, "name": "cpu", "properties": xy()})
    );
}
