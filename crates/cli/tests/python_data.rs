//! InfluxDB's Python client (`influxdb-client`) writing, querying and deleting data in the real
//! binary: `tests/python/data.py` drives the client's write API, `query`, `query_csv`,
//! `query_stream` (with query parameters), `query_data_frame` (pandas) and the delete API. The
//! interpreter comes from `IRONFLUX_PYTHON` (with `pandas`, as `tests/python/requirements.txt`).

mod common;

use std::process::{Command, Stdio};

use common::TestServer;

#[tokio::test]
async fn python_influxdb_client_writes_and_queries() {
    let python = std::env::var("IRONFLUX_PYTHON").unwrap_or_else(|_| {
        panic!(
            "IRONFLUX_PYTHON is not set: point it at a Python with `influxdb-client` installed \
             (python3 -m venv VENV && VENV/bin/pip install -r crates/cli/tests/python/requirements.txt; \
             IRONFLUX_PYTHON=VENV/bin/python)"
        )
    });
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/data.py");
    let out = Command::new(&python)
        .arg(script)
        .args([&srv.url, &s.token, "org", "bucket"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "data.py failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        srv.log()
    );
    assert!(stdout.contains("data.py: all checks passed"), "{stdout}");
}
