"""InfluxDB's own Python client (`influxdb-client`) managing dashboards.

Usage: dashboards.py URL TOKEN ORG_ID. The server must be set up with operator TOKEN and org
ORG_ID. Drives `DashboardsService`: create a dashboard with a cell, list and get it (also with
`include=properties`), add a cell, give it a markdown view, read the view back, move it,
replace the cells, delete a cell, rename the dashboard, delete it, and the 404 that follows;
exits non-zero on the first mismatch.
"""

import sys

from influxdb_client import (
    CellUpdate,
    CreateCell,
    CreateDashboardRequest,
    DashboardsService,
    InfluxDBClient,
    MarkdownViewProperties,
    PatchDashboardRequest,
    View,
)
from influxdb_client.domain.cell import Cell
from influxdb_client.rest import ApiException


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def props(p):
    """View properties as a dict (the client leaves them undecoded)."""
    return p if isinstance(p, dict) else p.to_dict()


def main(url, token, org_id):
    with InfluxDBClient(url=url, token=token, org=org_id) as client:
        svc = DashboardsService(client.api_client)
        d = svc.post_dashboards(
            create_dashboard_request=CreateDashboardRequest(
                org_id=org_id, name="System", description="hosts"
            )
        )
        check(d.name == "System" and d.org_id == org_id, f"created: {d.id}")
        check(d.cells == [], "a new dashboard has no cells")

        listed = svc.get_dashboards(org_id=org_id)
        check([x.id for x in listed.dashboards] == [d.id], "listed by orgID")
        # The client sends a list unexpanded; one ID goes as a plain string.
        listed = svc.get_dashboards(id=d.id)
        check([x.id for x in listed.dashboards] == [d.id], "listed by id")

        cell = svc.post_dashboards_id_cells(
            dashboard_id=d.id, create_cell=CreateCell(x=0, y=0, w=6, h=4, name="notes")
        )
        check(cell.w == 6 and cell.h == 4, f"added cell {cell.id}")
        markdown = MarkdownViewProperties(type="markdown", shape="chronograf-v2", note="# hello")
        view = svc.patch_dashboards_id_cells_id_view(
            dashboard_id=d.id, cell_id=cell.id, view=View(name="Notes", properties=markdown)
        )
        check(view.name == "Notes", "view renamed")
        view = svc.get_dashboards_id_cells_id_view(dashboard_id=d.id, cell_id=cell.id)
        p = props(view.properties)
        check(p["note"] == "# hello" and p["type"] == "markdown", f"view read back: {p}")

        full = svc.get_dashboards_id(dashboard_id=d.id, include="properties")
        check(len(full.cells) == 1, "get with include=properties")
        check(props(full.cells[0].properties)["note"] == "# hello", "cell properties embedded")

        moved = svc.patch_dashboards_id_cells_id(
            dashboard_id=d.id, cell_id=cell.id, cell_update=CellUpdate(x=2)
        )
        check(moved.x == 2 and moved.w == 6, "cell moved")
        second = svc.post_dashboards_id_cells(
            dashboard_id=d.id, create_cell=CreateCell(x=6, y=0, w=6, h=4)
        )
        svc.put_dashboards_id_cells(
            dashboard_id=d.id,
            cell=[
                Cell(id=second.id, x=0, y=0, w=12, h=2),
                Cell(id=cell.id, x=0, y=2, w=12, h=4),
            ],
        )
        got = svc.get_dashboards_id(dashboard_id=d.id)
        check([c.id for c in got.cells] == [second.id, cell.id], "cells replaced")
        svc.delete_dashboards_id_cells_id(dashboard_id=d.id, cell_id=second.id)
        got = svc.get_dashboards_id(dashboard_id=d.id)
        check([c.id for c in got.cells] == [cell.id], "cell deleted")

        renamed = svc.patch_dashboards_id(
            dashboard_id=d.id,
            patch_dashboard_request=PatchDashboardRequest(name="Hosts"),
        )
        check(renamed.name == "Hosts", "dashboard renamed")

        svc.delete_dashboards_id(dashboard_id=d.id)
        try:
            svc.get_dashboards_id(dashboard_id=d.id)
            check(False, "a deleted dashboard is gone")
        except ApiException as e:
            check(e.status == 404, "a deleted dashboard is gone")
    print("dashboards.py: all checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
