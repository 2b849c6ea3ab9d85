//! `ironflux setup`: onboards a fresh server over HTTP as `influx setup` does. Values come from
//! flags; missing ones are asked for when stdin is a terminal. Prints the created user,
//! organization, bucket and the operator token.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use crate::duration;

/// Flags of `ironflux setup` (those of `influx setup`).
#[derive(Args, Debug)]
pub struct SetupArgs {
    /// HTTP address of the server.
    #[arg(long, env = "INFLUX_HOST", default_value = "http://localhost:8086")]
    host: String,
    /// Name of the initial user.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password of the initial user (at least 8 characters).
    #[arg(short = 'p', long, allow_hyphen_values = true)]
    password: Option<String>,
    /// Name of the initial organization.
    #[arg(short = 'o', long)]
    org: Option<String>,
    /// Name of the initial bucket.
    #[arg(short = 'b', long)]
    bucket: Option<String>,
    /// Retention of the initial bucket, e.g. 1w, 72h; 0 for infinite.
    #[arg(short = 'r', long)]
    retention: Option<String>,
    /// Operator token to create instead of a generated one.
    #[arg(short = 't', long, env = "INFLUX_TOKEN", allow_hyphen_values = true)]
    token: Option<String>,
    /// Skip the confirmation prompt.
    #[arg(short = 'f', long)]
    force: bool,
}

#[derive(Debug)]
struct Request {
    username: String,
    password: Option<String>,
    org: String,
    bucket: String,
    retention: Duration,
    token: Option<String>,
}

pub fn run(args: SetupArgs) -> anyhow::Result<()> {
    let host = args.host.trim_end_matches('/').to_string();
    if !host.starts_with("http://") {
        bail!("--host must be an http:// URL, got {host:?}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client = reqwest::Client::new();
    let allowed: Allowed = rt.block_on(async {
        let resp = client
            .get(format!("{host}/api/v2/setup"))
            .send()
            .await
            .with_context(|| format!("connecting to {host}"))?;
        read_json(resp).await
    })?;
    if !allowed.allowed {
        bail!("instance at {host:?} has already been set up");
    }
    let interactive = std::io::stdin().is_terminal();
    let req = gather(&args, interactive)?;
    if interactive && !args.force && !confirm(&req)? {
        bail!("setup was canceled");
    }
    let mut body = json!({
        "username": req.username,
        "org": req.org,
        "bucket": req.bucket,
        "retentionPeriodSeconds": req.retention.as_secs(),
    });
    if let Some(p) = &req.password {
        body["password"] = json!(p);
    }
    if let Some(t) = &req.token {
        body["token"] = json!(t);
    }
    let res: SetupResponse = rt.block_on(async {
        let resp = client
            .post(format!("{host}/api/v2/setup"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("connecting to {host}"))?;
        read_json(resp).await
    })?;
    print_table(&res);
    Ok(())
}

#[derive(Deserialize)]
struct Allowed {
    allowed: bool,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Auth {
    token: String,
}

#[derive(Deserialize)]
struct SetupResponse {
    user: Named,
    org: Named,
    bucket: Named,
    auth: Auth,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

async fn read_json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> anyhow::Result<T> {
    let status = resp.status();
    let bytes = resp.bytes().await.context("reading the response")?;
    if !status.is_success() {
        let msg = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|e| e.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        bail!("{status}: {msg}");
    }
    serde_json::from_slice(&bytes).context("decoding the response")
}

fn print_table(res: &SetupResponse) {
    let rows = [
        ["User", "Organization", "Bucket", "Token"],
        [
            res.user.name.as_str(),
            res.org.name.as_str(),
            res.bucket.name.as_str(),
            res.auth.token.as_str(),
        ],
    ];
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// Takes values from flags and asks for the missing ones when interactive.
fn gather(args: &SetupArgs, interactive: bool) -> anyhow::Result<Request> {
    let need = |v: &Option<String>, what: &str, prompt: &str| -> anyhow::Result<String> {
        match v {
            Some(s) if !s.is_empty() => Ok(s.clone()),
            _ if interactive => ask(prompt),
            _ => bail!("{what} is required (pass --{what}, or run in a terminal to be asked)"),
        }
    };
    let username = need(
        &args.username,
        "username",
        "Please type your primary username",
    )?;
    let password = match &args.password {
        Some(p) => Some(p.clone()),
        None if interactive => {
            let p = rpassword::prompt_password("> Please type your password: ")
                .context("reading the password")?;
            let again = rpassword::prompt_password("> Please type your password again: ")
                .context("reading the password")?;
            if p != again {
                bail!("passwords do not match");
            }
            Some(p)
        }
        None => None,
    };
    if let Some(p) = &password
        && p.chars().count() < 8
    {
        bail!("password is too short: it must be at least 8 characters");
    }
    let org = need(
        &args.org,
        "org",
        "Please type your primary organization name",
    )?;
    let bucket = need(
        &args.bucket,
        "bucket",
        "Please type your primary bucket name",
    )?;
    let retention = match &args.retention {
        Some(r) => duration::parse(r).map_err(anyhow::Error::msg)?,
        None if interactive => {
            let r = ask("Please type your retention period (e.g. 72h, 1w), or 0 for infinite")?;
            duration::parse(&r).map_err(anyhow::Error::msg)?
        }
        None => Duration::ZERO,
    };
    Ok(Request {
        username,
        password,
        org,
        bucket,
        retention,
        token: args.token.clone().filter(|t| !t.is_empty()),
    })
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    let mut out = std::io::stdout();
    write!(out, "> {prompt}: ")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_string();
    if line.is_empty() {
        bail!("{prompt}: a value is required");
    }
    Ok(line)
}

fn confirm(req: &Request) -> anyhow::Result<bool> {
    let retention = if req.retention.is_zero() {
        "infinite".to_string()
    } else {
        format!("{}s", req.retention.as_secs())
    };
    println!("You have entered:");
    println!("  Username:          {}", req.username);
    println!("  Organization:      {}", req.org);
    println!("  Bucket:            {}", req.bucket);
    println!("  Retention Period:  {retention}");
    let a = ask("Confirm? (y/n)")?;
    Ok(matches!(a.as_str(), "y" | "Y" | "yes"))
}
