//! InfluxDB's 1.x Python client (`influxdb`) against the real binary: `tests/python/influxql.py`
//! writes through the 1.x `/write` and reads with InfluxQL on `/query` (raw and aggregated
//! selects, the SHOW statements, several statements, `epoch`, errors), authenticating with the
//! token as the 1.x password. The database maps to the bucket through a DBRP mapping made here.
//! The interpreter comes from `IRONFLUX_PYTHON` (see `tests/python/requirements.txt`).

mod common;

use common::TestServer;

#[tokio::test]
async fn python_influxdb_1x_client_writes_and_selects() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    srv.create_dbrp(&s, "pydb", &s.bucket_id).await;
    common::run_python_checks(&srv, "influxql.py", &[&srv.url, &s.token, "pydb"]);
}
