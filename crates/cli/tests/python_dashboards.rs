//! InfluxDB's Python client (`influxdb-client`) managing dashboards in the real binary:
//! `tests/python/dashboards.py` drives `DashboardsService` (dashboards, cells, cell views). The
//! interpreter comes from `IRONFLUX_PYTHON` (a venv with `tests/python/requirements.txt`).

mod common;

use common::TestServer;

#[tokio::test]
async fn python_influxdb_client_manages_dashboards() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    common::run_python_checks(&srv, "dashboards.py", &[&srv.url, &s.token, &s.org_id]);
}
