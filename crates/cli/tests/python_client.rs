//! InfluxDB's Python client (`influxdb-client`, installed in the tests' venv) against the real
//! binary: `ironflux setup` onboards, then `tests/python/tenancy.py` drives ping, health, orgs,
//! buckets with paging, labels, users and authorizations. The interpreter comes from
//! `IRONFLUX_PYTHON`.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, TestServer};

#[tokio::test]
async fn python_influxdb_client_tenancy() {
    let srv = TestServer::start().await;
    let out = Command::new(BIN)
        .args([
            "setup",
            "--host",
            &srv.url,
            "-u",
            "pyadmin",
            "-p",
            "password123",
        ])
        .args(["-o", "pyorg", "-b", "pybucket", "-r", "0", "-f"])
        .stdin(Stdio::null())
        .output()
        .expect("run ironflux setup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap_or_else(|| panic!("no token in setup output: {stdout}"))
        .to_string();

    common::run_python_checks(&srv, "tenancy.py", &[&srv.url, &token, "pyorg"]);
}
