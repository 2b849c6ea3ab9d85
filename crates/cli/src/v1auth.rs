//! `ironflux v1 auth`: legacy (1.x) authorizations over `/private/legacy/authorizations`, with
//! the `influx v1 auth` flags and output (`create`, `list`, `delete`, `set-password`,
//! `set-active`, `set-inactive`).
//!
//! A legacy authorization is a 1.x username and password that may read and/or write given
//! buckets; 1.x clients send them as `u`/`p` or basic auth on `/write` and `/query`. `create`
//! makes it, then sets its password (prompted for on a terminal when `--password` is absent;
//! `--no-password` leaves it unset), removing it again if the password is refused. Buckets are
//! named by ID. The others find the authorization by `--id` or `--username`. Output is a table
//! (`ID`, `Description`, `Username`, `v2 User Name`, `v2 User ID`, `Permissions`) or, with
//! `--json`, InfluxDB's objects (`id`, `description`, `token`, `status`, `userName`, `userID`,
//! `permissions`).

use std::io::IsTerminal as _;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs, is_not_found};

/// `ironflux v1`: commands for the InfluxDB 1.x compatibility API.
#[derive(Args, Debug)]
pub struct V1Args {
    #[command(subcommand)]
    command: V1Command,
}

#[derive(Subcommand, Debug)]
enum V1Command {
    /// Authorization management commands for v1 APIs.
    #[command(visible_alias = "authorization")]
    Auth(AuthArgs),
}

#[derive(Args, Debug)]
struct AuthArgs {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Subcommand, Debug)]
enum AuthCommand {
    /// Create authorization.
    Create(CreateArgs),
    /// List authorizations.
    #[command(visible_aliases = ["ls", "find"])]
    List(ListArgs),
    /// Delete authorization.
    Delete(LookupArgs),
    /// Set a password for an existing authorization.
    SetPassword(SetPasswordArgs),
    /// Change the status of an authorization to active.
    SetActive(LookupArgs),
    /// Change the status of an authorization to inactive.
    SetInactive(LookupArgs),
}

/// Flags every subcommand has.
#[derive(Args, Debug)]
struct Common {
    #[command(flatten)]
    server: ServerArgs,
    /// Output data as JSON.
    #[arg(long)]
    json: bool,
}

/// The org, by name or ID.
#[derive(Args, Debug)]
struct OrgArgs {
    /// The name of the organization.
    #[arg(short = 'o', long, env = "INFLUX_ORG")]
    org: Option<String>,
    /// The ID of the organization.
    #[arg(long, env = "INFLUX_ORG_ID")]
    org_id: Option<String>,
}

/// The authorization, by ID or by username.
#[derive(Args, Debug)]
struct Lookup {
    /// The ID of the authorization.
    #[arg(long)]
    id: Option<String>,
    /// The username of the authorization.
    #[arg(long)]
    username: Option<String>,
}

#[derive(Args, Debug)]
struct CreateArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    org: OrgArgs,
    /// Token description.
    #[arg(short = 'd', long, default_value = "")]
    description: String,
    /// The username to identify this token.
    #[arg(long)]
    username: String,
    /// The password to set on this token.
    #[arg(long, allow_hyphen_values = true)]
    password: Option<String>,
    /// Don't prompt for a password. You must use v1 auth set-password command before using the
    /// token.
    #[arg(long)]
    no_password: bool,
    /// The bucket id (may repeat).
    #[arg(long = "read-bucket")]
    read_bucket: Vec<String>,
    /// The bucket id (may repeat).
    #[arg(long = "write-bucket")]
    write_bucket: Vec<String>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    org: OrgArgs,
    #[command(flatten)]
    lookup: Lookup,
    /// The user.
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// The user ID.
    #[arg(long)]
    user_id: Option<String>,
}

#[derive(Args, Debug)]
struct LookupArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    lookup: Lookup,
}

#[derive(Args, Debug)]
struct SetPasswordArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    lookup: Lookup,
    /// Password to set on the authorization.
    #[arg(long, allow_hyphen_values = true)]
    password: Option<String>,
}

/// A legacy authorization as the server answers it (the fields used here).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct LegacyAuth {
    id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    description: String,
    #[serde(rename = "userID", default)]
    user_id: String,
    #[serde(default)]
    permissions: Vec<Value>,
}

#[derive(Deserialize)]
struct LegacyAuths {
    #[serde(default)]
    authorizations: Vec<LegacyAuth>,
}

/// One printed authorization (`influx`'s `v1Token`).
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct V1Token {
    id: String,
    description: String,
    token: String,
    status: String,
    user_name: String,
    #[serde(rename = "userID")]
    user_id: String,
    permissions: Vec<String>,
}

const PREFIX: &str = "/private/legacy/authorizations";

pub fn run(args: V1Args) -> anyhow::Result<()> {
    let V1Command::Auth(auth) = args.command;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(dispatch(auth.command))
}

async fn dispatch(cmd: AuthCommand) -> anyhow::Result<()> {
    match cmd {
        AuthCommand::Create(a) => create(a).await,
        AuthCommand::List(a) => list(a).await,
        AuthCommand::Delete(a) => delete(a).await,
        AuthCommand::SetPassword(a) => set_password(a).await,
        AuthCommand::SetActive(a) => set_active(a, true).await,
        AuthCommand::SetInactive(a) => set_active(a, false).await,
    }
}

/// `read:orgs/<org>/buckets/<id>`, as `influx` prints a permission.
fn permission_string(p: &Value) -> String {
    let action = p["action"].as_str().unwrap_or_default();
    let r = &p["resource"];
    let mut parts = Vec::new();
    if let Some(o) = r["orgID"].as_str() {
        parts.extend(["orgs", o]);
    }
    parts.push(r["type"].as_str().unwrap_or_default());
    if let Some(i) = r["id"].as_str() {
        parts.push(i);
    }
    format!("{action}:{}", parts.join("/"))
}

/// The name of user `id`.
async fn user_name(c: &Client, id: &str) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct User {
        name: String,
    }
    let what = format!("could not find user with ID {id:?}");
    let resp = c
        .send(
            c.request(Method::GET, &format!("/api/v2/users/{id}")),
            &what,
        )
        .await?;
    Ok(resp.json::<User>().await.context(what)?.name)
}

async fn token_of(c: &Client, a: LegacyAuth) -> anyhow::Result<V1Token> {
    let user_name = user_name(c, &a.user_id).await?;
    Ok(V1Token {
        permissions: a.permissions.iter().map(permission_string).collect(),
        id: a.id,
        description: a.description,
        token: a.token,
        status: a.status,
        user_name,
        user_id: a.user_id,
    })
}

/// Prints one authorization (`one`) or a list, as a table or JSON (tab-indented, as `influx`).
fn print(common: &Common, tokens: &[V1Token], one: bool, deleted: bool) -> anyhow::Result<()> {
    if common.json {
        let v = match (one, tokens.first()) {
            (true, Some(t)) => serde_json::to_value(t)?,
            _ => serde_json::to_value(tokens)?,
        };
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        v.serialize(&mut ser)?;
        println!("{}", String::from_utf8_lossy(&out));
        return Ok(());
    }
    let mut header = vec![
        "ID",
        "Description",
        "Username",
        "v2 User Name",
        "v2 User ID",
        "Permissions",
    ];
    if deleted {
        header.push("Deleted");
    }
    let mut rows = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for t in tokens {
        let mut row = vec![
            t.id.clone(),
            t.description.clone(),
            t.token.clone(),
            t.user_name.clone(),
            t.user_id.clone(),
            format!("[{}]", t.permissions.join(" ")),
        ];
        if deleted {
            row.push("true".into());
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("\t").trim_end());
    }
    Ok(())
}

/// The org's ID: `--org-id`, else `--org` looked up.
async fn org_id(c: &Client, org: &OrgArgs) -> anyhow::Result<String> {
    if let Some(id) = org.org_id.as_deref().filter(|s| !s.is_empty()) {
        return Ok(id.to_string());
    }
    let Some(name) = org.org.as_deref().filter(|s| !s.is_empty()) else {
        bail!("must specify org ID or org name");
    };
    let what = format!("failed to find org {name:?}");
    let resp = c
        .send(
            c.request(Method::GET, "/api/v2/orgs")
                .query(&[("org", name)]),
            &what,
        )
        .await?;
    let body: Value = resp.json().await.context(what.clone())?;
    body["orgs"]
        .as_array()
        .and_then(|o| o.first())
        .and_then(|o| o["id"].as_str())
        .map(str::to_string)
        .with_context(|| what)
}

/// The legacy authorizations matching `query`; a filter the server finds nothing for is empty.
async fn find(c: &Client, query: &[(&str, &str)], what: &str) -> anyhow::Result<Vec<LegacyAuth>> {
    match c
        .send(c.request(Method::GET, PREFIX).query(query), what)
        .await
    {
        Ok(resp) => Ok(resp
            .json::<LegacyAuths>()
            .await
            .context(what.to_string())?
            .authorizations),
        Err(e) if is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The ID `--id` names, or that of the authorization with `--username`.
async fn lookup_id(c: &Client, l: &Lookup) -> anyhow::Result<String> {
    match (l.id.as_deref(), l.username.as_deref()) {
        (Some(_), Some(_)) => bail!("specify id or username, not both"),
        (Some(id), None) if !id.is_empty() => Ok(id.to_string()),
        (None, Some(u)) if !u.is_empty() => {
            let what = format!("could not find v1 auth with token (username) {u:?}");
            find(c, &[("token", u)], &what)
                .await?
                .into_iter()
                .next()
                .map(|a| a.id)
                .with_context(|| what)
        }
        _ => bail!("id or username required"),
    }
}

/// A password from the flag, else asked for on a terminal.
fn password_or_prompt(flag: Option<String>, prompt: &str) -> anyhow::Result<String> {
    match flag.filter(|p| !p.is_empty()) {
        Some(p) => Ok(p),
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("? {prompt}: ")).context("reading the password")
        }
        None => bail!("a password is required: pass --password, or run in a terminal to be asked"),
    }
}

/// Whether `s` is a valid ID: 16 hex digits, not all zero.
fn valid_id(s: &str) -> bool {
    s.len() == 16 && u64::from_str_radix(s, 16).is_ok_and(|v| v != 0)
}

async fn create(a: CreateArgs) -> anyhow::Result<()> {
    if a.password.is_some() && a.no_password {
        bail!("only one of --password and --no-password may be specified");
    }
    let c = Client::new(&a.common.server)?;
    let org_id = org_id(&c, &a.org).await?;
    let what = format!("failed to verify username {:?} has no auth", a.username);
    if !find(&c, &[("token", &a.username)], &what).await?.is_empty() {
        bail!(
            "authorization with username {:?} already exists",
            a.username
        );
    }
    let password = if a.no_password {
        None
    } else {
        Some(password_or_prompt(
            a.password.clone(),
            "Please type your password",
        )?)
    };
    let mut permissions = Vec::new();
    for (action, ids) in [("read", &a.read_bucket), ("write", &a.write_bucket)] {
        for id in ids {
            if !valid_id(id) {
                bail!(
                    "invalid bucket ID '{id}': invalid ID (did you pass a bucket name instead of an ID?)"
                );
            }
            permissions.push(json!({
                "action": action,
                "resource": {"type": "buckets", "id": id, "orgID": org_id},
            }));
        }
    }
    let body = json!({
        "description": a.description,
        "orgID": org_id,
        "permissions": permissions,
        "token": a.username,
    });
    let created: LegacyAuth = c
        .send(
            c.request(Method::POST, PREFIX).json(&body),
            "failed to create new authorization",
        )
        .await?
        .json()
        .await
        .context("failed to create new authorization")?;
    if let Some(p) = password {
        let path = format!("{PREFIX}/{}/password", created.id);
        let what = format!("failed to set password for {:?}", a.username);
        if let Err(e) = c
            .send(
                c.request(Method::POST, &path).json(&json!({"password": p})),
                &what,
            )
            .await
        {
            let del = c.request(Method::DELETE, &format!("{PREFIX}/{}", created.id));
            let _ = c.send(del, "removing the new authorization").await;
            return Err(e);
        }
    }
    let t = token_of(&c, created).await?;
    print(&a.common, &[t], true, false)
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let c = Client::new(&a.common.server)?;
    let mut q: Vec<(&str, &str)> = Vec::new();
    let pairs = [
        ("user", &a.user),
        ("userID", &a.user_id),
        ("orgID", &a.org.org_id),
        ("org", &a.org.org),
        ("token", &a.lookup.username),
        ("authID", &a.lookup.id),
    ];
    for (k, v) in &pairs {
        if let Some(v) = v.as_deref().filter(|s| !s.is_empty()) {
            q.push((k, v));
        }
    }
    let what = "could not find Authorizations for specified arguments";
    let resp = c
        .send(c.request(Method::GET, PREFIX).query(&q), what)
        .await?;
    let auths = resp.json::<LegacyAuths>().await.context(what)?;
    let mut tokens = Vec::new();
    for a in auths.authorizations {
        tokens.push(token_of(&c, a).await?);
    }
    print(&a.common, &tokens, false, false)
}

async fn delete(a: LookupArgs) -> anyhow::Result<()> {
    let c = Client::new(&a.common.server)?;
    let id = lookup_id(&c, &a.lookup).await?;
    let path = format!("{PREFIX}/{id}");
    let auth: LegacyAuth = c
        .send(
            c.request(Method::GET, &path),
            &format!("could not find Authorization from ID {id:?}"),
        )
        .await?
        .json()
        .await
        .context("reading the authorization")?;
    c.send(
        c.request(Method::DELETE, &path),
        &format!("could not remove Authorization with ID {id:?}"),
    )
    .await?;
    let t = token_of(&c, auth).await?;
    print(&a.common, &[t], true, true)
}

async fn set_password(a: SetPasswordArgs) -> anyhow::Result<()> {
    let c = Client::new(&a.common.server)?;
    let id = lookup_id(&c, &a.lookup).await?;
    let password = password_or_prompt(a.password, "Please type new password")?;
    c.send(
        c.request(Method::POST, &format!("{PREFIX}/{id}/password"))
            .json(&json!({"password": password})),
        "error setting password",
    )
    .await?;
    Ok(())
}

async fn set_active(a: LookupArgs, active: bool) -> anyhow::Result<()> {
    let c = Client::new(&a.common.server)?;
    let id = lookup_id(&c, &a.lookup).await?;
    let status = if active { "active" } else { "inactive" };
    let auth: LegacyAuth = c
        .send(
            c.request(Method::PATCH, &format!("{PREFIX}/{id}"))
                .json(&json!({"status": status})),
            &format!("failed to update status of authorization with ID {id:?}"),
        )
        .await?
        .json()
        .await
        .context("reading the authorization")?;
    let t = token_of(&c, auth).await?;
    print(&a.common, &[t], true, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_print_as_influx_prints_them() {
        let p = json!({"action": "write", "resource": {"type": "buckets", "id": "00000000000000aa", "orgID": "00000000000000bb"}});
        assert_eq!(
            permission_string(&p),
            "write:orgs/00000000000000bb/buckets/00000000000000aa"
        );
        let p = json!({"action": "read", "resource": {"type": "users"}});
        assert_eq!(permission_string(&p), "read:users");
    }

    #[test]
    fn bucket_ids() {
        assert!(valid_id("0123456789abcdef"));
        assert!(!valid_id("0000000000000000"));
        assert!(!valid_id("metrics"));
        assert!(!valid_id("0123456789abcdeg"));
    }
}
