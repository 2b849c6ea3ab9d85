//! `ironflux serve` configuration: influxd's environment variables, the default data directory
//! under `$HOME/.ironflux`, and explicit store paths.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for the listener file and `/health`, returning the base URL.
async fn wait_ready(listener_file: &std::path::Path, child: &mut Proc) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(listener_file)
            && !a.is_empty()
        {
            break a;
        }
        if let Ok(Some(st)) = child.0.try_wait() {
            panic!("server exited early: {st}");
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let url = format!("http://{}", addr.trim());
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{url}/health")).send().await
            && r.status() == 200
        {
            return url;
        }
        assert!(Instant::now() < deadline, "no /health");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn base_cmd() -> Command {
    let mut c = Command::new(BIN);
    c.arg("serve");
    for v in [
        "INFLUXD_HTTP_BIND_ADDRESS",
        "INFLUXD_BOLT_PATH",
        "INFLUXD_SQLITE_PATH",
        "INFLUXD_ENGINE_PATH",
        "INFLUXD_LOG_LEVEL",
        "IRONFLUX_DATA_DIR",
        "IRONFLUX_LISTENER_FILE",
    ] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[tokio::test]
async fn settings_from_influxd_environment_variables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (bolt, sqlite, engine, lf) = (
        dir.path().join("kv/my.bolt"),
        dir.path().join("sql/my.sqlite"),
        dir.path().join("tsm"),
        dir.path().join("addr"),
    );
    let mut child = Proc(
        base_cmd()
            .env("INFLUXD_HTTP_BIND_ADDRESS", "127.0.0.1:0")
            .env("INFLUXD_BOLT_PATH", &bolt)
            .env("INFLUXD_SQLITE_PATH", &sqlite)
            .env("INFLUXD_ENGINE_PATH", &engine)
            .env("INFLUXD_LOG_LEVEL", "error")
            .env("IRONFLUX_LISTENER_FILE", &lf)
            .env("HOME", dir.path().join("home"))
            .spawn()
            .expect("spawn"),
    );
    let url = wait_ready(&lf, &mut child).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(bolt.is_file(), "bolt file at INFLUXD_BOLT_PATH");
    assert!(sqlite.is_file(), "sqlite file at INFLUXD_SQLITE_PATH");
    assert!(engine.is_dir(), "engine dir at INFLUXD_ENGINE_PATH");
    assert!(!dir.path().join("home/.ironflux").exists());
}

#[tokio::test]
async fn default_data_dir_is_home_dot_ironflux() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lf = dir.path().join("addr");
    let home = dir.path().join("home");
    let mut child = Proc(
        base_cmd()
            .args(["--http-bind-address", "127.0.0.1:0"])
            .arg("--listener-file")
            .arg(&lf)
            .env("HOME", &home)
            .spawn()
            .expect("spawn"),
    );
    wait_ready(&lf, &mut child).await;
    let data = home.join(".ironflux");
    assert!(data.join("influxd.bolt").is_file());
    assert!(data.join("influxd.sqlite").is_file());
    assert!(data.join("engine").is_dir());
}

#[tokio::test]
async fn bad_flags_fail_with_a_message() {
    let out = base_cmd()
        .args(["--http-bind-address", "not-an-address"])
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-bind-address"));
    let out = base_cmd()
        .args(["--log-level", "chatty"])
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_damaged_store_stops_startup_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bolt = dir.path().join("influxd.bolt");
    std::fs::write(&bolt, vec![0x5a; 8192]).expect("write garbage");
    let out = base_cmd()
        .args(["--http-bind-address", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opening the metadata store"), "{err}");
}
