//! `ironflux setup` end to end, non-interactive: flags only, stdin not a terminal.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, TestServer};

fn setup_cmd(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("setup")
        .args(["--host", url])
        .args(args)
        .env_remove("INFLUX_HOST")
        .env_remove("INFLUX_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run ironflux setup")
}

#[tokio::test]
async fn setup_with_flags_prints_token_and_refuses_twice() {
    let srv = TestServer::start().await;

    // A missing value without a terminal is an error naming the flag; nothing is created.
    let out = setup_cmd(&srv.url, &["-u", "admin", "-p", "password123", "-b", "b"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("org is required"), "{err}");
    let r = srv.call("GET", "/api/v2/setup", None, None).await;
    assert_eq!(r.json()["allowed"], true);

    // A short password is refused before any request.
    let out = setup_cmd(
        &srv.url,
        &["-u", "admin", "-p", "short", "-o", "o", "-b", "b", "-f"],
    );
    assert!(!out.status.success());

    let out = setup_cmd(
        &srv.url,
        &[
            "--username",
            "admin",
            "--password",
            "password123",
            "--org",
            "my-org",
            "--bucket",
            "my-bucket",
            "--retention",
            "72h",
            "--token",
            "cli-token-123",
            "--force",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["User", "Organization", "Bucket", "Token"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row, ["admin", "my-org", "my-bucket", "cli-token-123"]);

    // The server holds what the CLI asked for, and the printed token is the operator's.
    let r = srv
        .call(
            "GET",
            "/api/v2/buckets?name=my-bucket",
            Some("cli-token-123"),
            None,
        )
        .await;
    r.status(200);
    assert_eq!(
        r.json()["buckets"][0]["retentionRules"][0]["everySeconds"],
        259_200
    );
    srv.call(
        "POST",
        "/api/v2/orgs",
        Some("cli-token-123"),
        Some(serde_json::json!({"name": "x"})),
    )
    .await
    .status(201);

    // A second setup is refused.
    let out = setup_cmd(
        &srv.url,
        &["-u", "b", "-p", "password123", "-o", "o", "-b", "b", "-f"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has already been set up"), "{err}");
}

#[tokio::test]
async fn setup_reports_an_unreachable_server() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let out = setup_cmd(
        &format!("http://127.0.0.1:{port}"),
        &["-u", "a", "-p", "password123", "-o", "o", "-b", "b", "-f"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connecting to"), "{err}");
}
