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

#[tokio::test]
async fn setup_prompts_in_a_terminal() {
    use std::io::Write;
    let srv = TestServer::start().await;
    // `script` runs the command on a pseudo-terminal, so stdin is a terminal and the missing
    // values are asked for (the password without echo).
    let cmd = format!("{BIN} setup --host {}", srv.url);
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) is needed to give setup a terminal");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 1024];
            while let Ok(n) = stdout_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = seen.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        })
    };
    // Answer each prompt once it is on the screen.
    for (prompt, answer) in [
        ("primary username", "alice"),
        ("your password: ", "password123"),
        ("password again", "password123"),
        ("organization name", "acme"),
        ("bucket name", "metrics"),
        ("retention period", "1w"),
        ("Confirm? (y/n)", "y"),
    ] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !seen.lock().map(|s| s.contains(prompt)).unwrap_or(false) {
            assert!(
                std::time::Instant::now() < deadline,
                "no prompt {prompt:?}; screen: {}",
                seen.lock().map(|s| s.clone()).unwrap_or_default()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stdin
            .write_all(format!("{answer}\n").as_bytes())
            .expect("type");
        stdin.flush().expect("flush");
    }
    let status = child.wait().expect("wait");
    drop(stdin);
    let _ = reader.join();
    let stdout = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(status.success(), "{stdout}");
    for prompt in [
        "Please type your primary username",
        "Please type your password",
        "Please type your primary organization name",
        "Please type your primary bucket name",
        "Please type your retention period",
        "Confirm? (y/n)",
    ] {
        assert!(stdout.contains(prompt), "no {prompt:?} in {stdout}");
    }
    let row = stdout
        .lines()
        .find(|l| l.starts_with("alice"))
        .unwrap_or_else(|| panic!("no result row in {stdout}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[..3], ["alice", "acme", "metrics"]);
    let token = cols.get(3).copied().unwrap_or_default();
    let r = srv
        .call("GET", "/api/v2/buckets?name=metrics", Some(token), None)
        .await;
    r.status(200);
    assert_eq!(
        r.json()["buckets"][0]["retentionRules"][0]["everySeconds"],
        604_800
    );
    // The password works for signing in.
    let r = srv
        .req(reqwest::Method::POST, "/api/v2/signin")
        .basic_auth("alice", Some("password123"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 204);
}
