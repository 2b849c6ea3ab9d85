//! InfluxDB's Python client (`influxdb-client`) managing Telegraf configurations in the real
//! binary: `tests/python/telegrafs.py` drives `TelegrafsService` (create, list, get as JSON and
//! as TOML, put, delete) and `TelegrafPluginsService`. The interpreter comes from
//! `IRONFLUX_PYTHON` (a venv with `tests/python/requirements.txt`).

mod common;

use common::TestServer;

#[tokio::test]
async fn python_influxdb_client_manages_telegrafs() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    common::run_python_checks(&srv, "telegrafs.py", &[&srv.url, &s.token, &s.org_id]);
}
