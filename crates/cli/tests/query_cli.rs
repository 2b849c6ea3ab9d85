//! `ironflux query` against the real binary: the script as argument, from a file and from
//! standard input; the table output of `influx query` and the raw annotated CSV of `--raw`;
//! host, token and org from `INFLUX_*` environment variables; and the errors (a syntax error and
//! an unsupported function fail with the server's message naming them, an unknown bucket, a
//! missing org, a missing token).

mod common;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use common::{BIN, Setup, TestServer};

const RANGE: &str = "range(start: 2021-01-01T00:00:00Z, stop: 2021-01-01T00:01:00Z)";

async fn server_with_data() -> (TestServer, Setup) {
    let srv = TestServer::start().await;
    let s = srv.setup().await;
    let lines = "cpu,host=a usage=1.5 1609459201000000000\n\
                 cpu,host=a usage=2.25 1609459202000000000\n\
                 cpu,host=b usage=10 1609459201000000000\n\
                 mem,host=a used=7i 1609459203000000000\n";
    let r = srv
        .req(
            reqwest::Method::POST,
            "/api/v2/write?org=org&bucket=bucket&precision=ns",
        )
        .header("Authorization", format!("Token {}", s.token))
        .body(lines)
        .send()
        .await
        .expect("write");
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
    (srv, s)
}

fn ironflux(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("INFLUX_HOST")
        .env_remove("INFLUX_TOKEN")
        .env_remove("INFLUX_ORG")
        .env_remove("INFLUX_ORG_ID")
        .envs(envs.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ironflux query");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for ironflux query")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "stderr: {}", stderr(o));
    stdout(o)
}

/// The table `influx query` prints for one `cpu` series (widths from influx-cli's printer).
fn cpu_table(host: &str, rows: &[(&str, &str)]) -> String {
    let mut s = String::from("Table: keys: [_start, _stop, _field, _measurement, host]\n");
    s += &format!(
        "{:>30}  {:>30}  {:>22}  {:>22}  {:>22}  {:>30}  {:>28}\n",
        "_start:time",
        "_stop:time",
        "_field:string",
        "_measurement:string",
        "host:string",
        "_time:time",
        "_value:float"
    );
    s += &format!(
        "{}  {}  {}  {}  {}  {}  {}\n",
        "-".repeat(30),
        "-".repeat(30),
        "-".repeat(22),
        "-".repeat(22),
        "-".repeat(22),
        "-".repeat(30),
        "-".repeat(28)
    );
    for (time, value) in rows {
        s += &format!(
            "{:>30}  {:>30}  {:>22}  {:>22}  {:>22}  {:>30}  {:>28}\n",
            "2021-01-01T00:00:00.000000000Z",
            "2021-01-01T00:01:00.000000000Z",
            "usage",
            "cpu",
            host,
            time,
            value
        );
    }
    s
}

#[tokio::test]
async fn prints_tables_and_raw_csv() {
    let (srv, s) = server_with_data().await;
    let flux = format!(
        r#"from(bucket: "bucket") |> {RANGE} |> filter(fn: (r) => r._measurement == "cpu")"#
    );
    let common = ["--host", srv.url.as_str(), "--token", s.token.as_str()];

    let out = ok(&ironflux(
        &[&["query", flux.as_str(), "--org", "org"], &common[..]].concat(),
        &[],
        None,
    ));
    let want = format!(
        "Result: _result\n{}{}",
        cpu_table(
            "a",
            &[
                ("2021-01-01T00:00:01.000000000Z", "1.5"),
                ("2021-01-01T00:00:02.000000000Z", "2.25")
            ]
        ),
        cpu_table("b", &[("2021-01-01T00:00:01.000000000Z", "10")])
    );
    assert_eq!(out, want);

    // --raw: the annotated CSV exactly as the server answers the influx CLI's request.
    let raw = ok(&ironflux(
        &[
            &["query", "-r", flux.as_str(), "--org-id", s.org_id.as_str()],
            &common[..],
        ]
        .concat(),
        &[],
        None,
    ));
    let body = serde_json::json!({
        "query": flux,
        "type": "flux",
        "dialect": {"annotations": ["group", "datatype", "default"], "delimiter": ",", "header": true},
    });
    let direct = srv
        .req(reqwest::Method::POST, "/api/v2/query?org=org")
        .header("Authorization", format!("Token {}", s.token))
        .json(&body)
        .send()
        .await
        .expect("query")
        .text()
        .await
        .expect("body");
    assert_eq!(raw, direct);
    assert!(
        raw.starts_with("#group,false,false,true,true,false,false,true,true,true\r\n#datatype,string,long,dateTime:RFC3339,"),
        "{raw}"
    );
    assert!(
        raw.contains(
            ",,1,2021-01-01T00:00:00Z,2021-01-01T00:01:00Z,2021-01-01T00:00:01Z,10,usage,cpu,b\r\n"
        ),
        "{raw}"
    );

    // The script from a file and from standard input, host/token/org from the environment;
    // two yields print two results, an integer column its own minimum width.
    let two = format!(
        "from(bucket: \"bucket\") |> {RANGE} |> filter(fn: (r) => r._measurement == \"mem\") \
         |> keep(columns: [\"_time\", \"_value\"]) |> yield(name: \"m\")\n\
         from(bucket: \"bucket\") |> {RANGE} |> filter(fn: (r) => r._measurement == \"cpu\") \
         |> group() |> count() |> yield(name: \"n\")\n"
    );
    let env = [
        ("INFLUX_HOST", srv.url.as_str()),
        ("INFLUX_TOKEN", s.token.as_str()),
        ("INFLUX_ORG", "org"),
    ];
    let want = format!(
        "Result: m\nTable: keys: []\n{:>30}  {:>26}\n{}  {}\n{:>30}  {:>26}\n\
         Result: n\nTable: keys: []\n{:>26}\n{}\n{:>26}\n",
        "_time:time",
        "_value:int",
        "-".repeat(30),
        "-".repeat(26),
        "2021-01-01T00:00:03.000000000Z",
        "7",
        "_value:int",
        "-".repeat(26),
        "3"
    );
    let file = srv.dir.path().join("q.flux");
    std::fs::write(&file, &two).expect("write q.flux");
    let from_file = ok(&ironflux(
        &["query", "-f", file.to_str().expect("utf-8 path")],
        &env,
        None,
    ));
    assert_eq!(from_file, want);
    let from_stdin = ok(&ironflux(&["query", "--file", "-"], &env, Some(&two)));
    assert_eq!(from_stdin, want);

    // An empty answer prints nothing.
    let none = ok(&ironflux(
        &[
            "query",
            &format!(
                r#"from(bucket: "bucket") |> {RANGE} |> filter(fn: (r) => r._measurement == "nope")"#
            ),
        ],
        &env,
        None,
    ));
    assert_eq!(none, "");
}

#[tokio::test]
async fn errors_fail_with_the_servers_message() {
    let (srv, s) = server_with_data().await;
    let env = [
        ("INFLUX_HOST", srv.url.as_str()),
        ("INFLUX_TOKEN", s.token.as_str()),
        ("INFLUX_ORG", "org"),
    ];

    // A syntax error: non-zero exit, the server's 400 message, nothing on stdout.
    let o = ironflux(
        &["query", r#"from(bucket: "bucket") |> range(start: -1h"#],
        &env,
        None,
    );
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.starts_with("Error: failed to execute query: 400 Bad Request: "),
        "{err}"
    );
    let direct = srv
        .call(
            "POST",
            "/api/v2/query?org=org",
            Some(&s.token),
            Some(serde_json::json!({"query": r#"from(bucket: "bucket") |> range(start: -1h"#})),
        )
        .await;
    direct.error(400, "invalid");
    let message = direct.json()["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(err.contains(&message), "{err} lacks {message}");

    // An unsupported function is named.
    let o = ironflux(
        &[
            "query",
            &format!(r#"from(bucket: "bucket") |> {RANGE} |> holtWinters(n: 1)"#),
        ],
        &env,
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("400 Bad Request"), "{}", stderr(&o));
    assert!(stderr(&o).contains("holtWinters"), "{}", stderr(&o));

    // An unknown bucket, in raw mode too.
    let o = ironflux(
        &[
            "query",
            "-r",
            &format!(r#"from(bucket: "nope") |> {RANGE}"#),
        ],
        &env,
        None,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("404 Not Found"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));

    // No org, no token, a bad token, no query.
    let q = format!(r#"from(bucket: "bucket") |> {RANGE}"#);
    let o = ironflux(
        &["query", &q, "--host", &srv.url, "--token", &s.token],
        &[],
        None,
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("must specify org ID or org name"),
        "{}",
        stderr(&o)
    );
    let o = ironflux(&["query", &q, "--host", &srv.url, "-o", "org"], &[], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("token is required"), "{}", stderr(&o));
    let o = ironflux(&["query", &q, "-t", "wrong"], &env, None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("401 Unauthorized"), "{}", stderr(&o));
    let o = ironflux(&["query"], &env, None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("a query is required"), "{}", stderr(&o));
}
