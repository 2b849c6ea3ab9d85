//! InfluxDB's Python client (`influxdb-client`) writing, querying and deleting data in the real
//! binary: `tests/python/data.py` drives the client's write API, `query`, `query_csv`,
//! `query_stream` (with query parameters), `query_data_frame` (pandas) and the delete API. The
//! interpreter comes from `IRONFLUX_PYTHON` (with `pandas`, as `tests/python/requirements.txt`).

mod common;

use common::TestServer;

#[tokio::test]
async fn python_influxdb_client_writes_and_queries() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    common::run_python_checks(&srv, "data.py", &[&srv.url, &s.token, "org", "bucket"]);
}
