//! InfluxDB's Python client (`influxdb-client`) managing org secrets and variables in the real
//! binary: `tests/python/secrets_variables.py` drives `SecretsService`, `secrets.get` through the
//! query API, and `VariablesService` with each argument type. The interpreter comes from
//! `IRONFLUX_PYTHON` (a venv with `tests/python/requirements.txt`).

mod common;

use common::TestServer;

#[tokio::test]
async fn python_influxdb_client_manages_secrets_and_variables() {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    common::run_python_checks(
        &srv,
        "secrets_variables.py",
        &[&srv.url, &s.token, "org", &s.org_id],
    );
}
