//! `/api/v2/tasks`: tasks (list, create, get, update, delete), their runs (list, run now,
//! get, cancel, retry) and logs, answered as InfluxDB 2.7's task handlers answer them.
//!
//! Bodies: a task is its stored record (see [`meta::Task`]) plus `labels: []` and `links`
//! (`self`, `owners`, `members`, `labels`, `runs`, `logs`); a list is `{"links", "tasks"}`; a
//! run is `{"links", "id", "taskID", "status", "scheduledFor", "startedAt", "finishedAt",
//! "requestedAt", "log"}` with unset times left out; runs are `{"links", "runs"}` (runs in
//! progress first, then finished ones, newest scheduled first); logs are `{"events": [...]}`.
//!
//! Permissions as InfluxDB's task authorizer: reading a task, its runs or logs needs
//! `read:orgs/<org>/tasks/<id>` (lists keep the readable tasks); creating needs
//! `write:orgs/<org>/tasks` and a token with a user (the task's owner, whose permissions its
//! runs get); updating, deleting, running, retrying and canceling need
//! `write:orgs/<org>/tasks/<id>`. Missing permissions answer 401 as InfluxDB does.
//!
//! Updates: `status` (a task made active again resumes from now, without catching up),
//! `description`, `flux` (its `option task` is read again), and `name`/`every`/`cron`/`offset`,
//! which rewrite the script's `option task` record as InfluxDB does.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use meta::{Action, Id, ResourceType, Run, Task, TaskCreate, TaskFilter, Time};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::auth::{Auth, Perm};
use crate::error::ApiError;
use crate::routes::JsonBody;
use crate::routes::paging::{IdPath, Params, parse_id};
use crate::routes::write::find_org;
use crate::tasks::{self, go_duration_ns, parse_go_duration, parse_options, rfc3339_nano};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

fn read_perm(t: &Task) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Tasks, t.org_id, t.id)
}

fn write_perm(t: &Task) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Tasks, t.org_id, t.id)
}

fn task_json(t: &Task, basic: bool) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        if basic {
            m.remove("flux");
        }
        let id = t.id;
        m.insert("labels".into(), json!([]));
        m.insert(
            "links".into(),
            json!({
                "self": format!("/api/v2/tasks/{id}"),
                "owners": format!("/api/v2/tasks/{id}/owners"),
                "members": format!("/api/v2/tasks/{id}/members"),
                "labels": format!("/api/v2/tasks/{id}/labels"),
                "runs": format!("/api/v2/tasks/{id}/runs"),
                "logs": format!("/api/v2/tasks/{id}/logs"),
            }),
        );
    }
    v
}

fn zero(t: &Time) -> bool {
    *t == meta::zero_time()
}

fn run_json(r: &Run) -> Value {
    let (tid, rid) = (r.task_id, r.id);
    let mut m = serde_json::Map::new();
    m.insert(
        "links".into(),
        json!({
            "self": format!("/api/v2/tasks/{tid}/runs/{rid}"),
            "task": format!("/api/v2/tasks/{tid}"),
            "logs": format!("/api/v2/tasks/{tid}/runs/{rid}/logs"),
            "retry": format!("/api/v2/tasks/{tid}/runs/{rid}/retry"),
        }),
    );
    m.insert("id".into(), json!(rid.to_string()));
    m.insert("taskID".into(), json!(tid.to_string()));
    m.insert("status".into(), json!(r.status));
    m.insert("scheduledFor".into(), json!(rfc3339_nano(&r.scheduled_for)));
    for (k, t) in [
        ("startedAt", &r.started_at),
        ("finishedAt", &r.finished_at),
        ("requestedAt", &r.requested_at),
    ] {
        if !zero(t) {
            m.insert(k.into(), json!(rfc3339_nano(t)));
        }
    }
    if !r.log.is_empty() {
        m.insert(
            "log".into(),
            serde_json::to_value(&r.log).unwrap_or(Value::Null),
        );
    }
    Value::Object(m)
}

fn task_not_found() -> ApiError {
    ApiError::not_found("task not found")
}

/// The task, if it exists and the caller may read it (else 404 / 401).
async fn readable(app: &App, auth: &Auth, id: Id) -> Result<Task, ApiError> {
    let t = app
        .meta(move |m| m.get_task(id))
        .await?
        .ok_or_else(task_not_found)?;
    auth.require(&read_perm(&t))?;
    Ok(t)
}

async fn writable(app: &App, auth: &Auth, id: Id) -> Result<Task, ApiError> {
    let t = app
        .meta(move |m| m.get_task(id))
        .await?
        .ok_or_else(task_not_found)?;
    auth.require(&write_perm(&t))?;
    Ok(t)
}

fn limit_of(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => {
            let l: i64 = v
                .parse()
                .map_err(|_| ApiError::invalid("limit is invalid"))?;
            if !(1..=MAX_LIMIT as i64).contains(&l) {
                return Err(ApiError::invalid(format!(
                    "limit must be between 1 and {MAX_LIMIT}"
                )));
            }
            Ok(l as usize)
        }
    }
}

/// `GET /api/v2/tasks`.
pub async fn list(
    State(app): State<App>,
    auth: Auth,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let limit = limit_of(&params)?;
    let org_id = if params.get("org").is_some() || params.get("orgID").is_some() {
        Some(find_org(&app, &params).await?.id)
    } else {
        None
    };
    let kind = params.get("type").map(str::to_string);
    let basic = kind.as_deref() == Some("basic");
    let status = params.get("status").map(str::to_string);
    if let Some(s) = &status
        && s != "active"
        && s != "inactive"
    {
        return Err(ApiError::invalid(format!("invalid task status: {s:?}")));
    }
    let filter = TaskFilter {
        org_id,
        name: params.get("name").map(str::to_string),
        status,
        after: params.id("after")?,
        task_type: match kind.as_deref() {
            Some("basic") => Some("*".into()),
            Some(t) => Some(t.to_string()),
            None => None,
        },
        limit: 0,
    };
    let all = app.meta(move |m| m.list_tasks(&filter)).await?;
    let tasks: Vec<Value> = all
        .iter()
        .filter(|t| auth.allowed(&read_perm(t)))
        .take(limit)
        .map(|t| task_json(t, basic))
        .collect();
    let mut links = BTreeMap::from([("self", format!("/api/v2/tasks?limit={limit}"))]);
    if tasks.len() == limit
        && let Some(last) = tasks.last().and_then(|t| t["id"].as_str())
    {
        links.insert("next", format!("/api/v2/tasks?after={last}&limit={limit}"));
    }
    Ok(Json(json!({"links": links, "tasks": tasks})))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct CreateBody {
    flux: String,
    description: String,
    status: String,
    #[serde(rename = "orgID")]
    org_id: String,
    org: String,
    #[serde(rename = "type")]
    task_type: String,
}

/// `POST /api/v2/tasks`.
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.flux.is_empty() {
        return Err(ApiError::invalid("missing flux"));
    }
    if !body.status.is_empty() && body.status != "active" && body.status != "inactive" {
        return Err(ApiError::invalid(format!(
            "invalid task status: {:?}",
            body.status
        )));
    }
    let org_id = if !body.org_id.is_empty() {
        let id = parse_id(&body.org_id)?;
        app.meta(move |m| m.get_org(id)).await?.id
    } else if !body.org.is_empty() {
        let mut p = Params::default();
        p.0.insert("org".into(), body.org.clone());
        find_org(&app, &p).await?.id
    } else if let Some(o) = auth.org_id {
        o
    } else {
        return Err(ApiError::invalid("missing orgID and org"));
    };
    auth.require(&Perm::in_org(Action::Write, ResourceType::Tasks, org_id))?;
    let Some(owner) = auth.user_id else {
        return Err(ApiError::invalid(
            "a task needs a token that belongs to a user",
        ));
    };
    let opts = parse_options(&body.flux)
        .map_err(|e| ApiError::invalid(format!("invalid options: {e}")))?;
    let req = TaskCreate {
        org_id,
        owner_id: owner,
        task_type: body.task_type,
        flux: body.flux,
        description: body.description,
        status: body.status,
        name: opts.name,
        every: opts.every,
        cron: opts.cron,
        offset: opts.offset,
    };
    let t = app.meta(move |m| m.create_task(req)).await?;
    app.tasks.wake();
    Ok((StatusCode::CREATED, Json(task_json(&t, false))))
}

/// `GET /api/v2/tasks/{id}`.
pub async fn get_one(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let t = readable(&app, &auth, id).await?;
    Ok(Json(task_json(&t, false)))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct UpdateBody {
    flux: Option<String>,
    status: Option<String>,
    description: Option<String>,
    name: Option<String>,
    every: Option<String>,
    cron: Option<String>,
    offset: Option<String>,
}

/// Byte offset of a 1-based line and column (in chars) in `src`.
fn offset_of(src: &str, line: u32, column: u32) -> usize {
    let mut off = 0;
    for (i, l) in src.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            return off
                + l.char_indices()
                    .nth(column.saturating_sub(1) as usize)
                    .map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    src.len()
}

/// The script with its `option task` record rewritten to these options.
fn rewrite_options(flux: &str, o: &tasks::TaskOptions) -> Result<String, String> {
    let prog = query::flux::parse(flux).map_err(|e| e.to_string())?;
    let span = prog
        .body
        .iter()
        .find_map(|st| match st {
            query::flux::ast::Statement::Option {
                package: None,
                name,
                span,
                ..
            } if name == "task" => Some(*span),
            _ => None,
        })
        .ok_or("no task options defined")?;
    let mut rec = format!("option task = {{name: {}", tasks::go_quote(&o.name));
    if !o.every.is_empty() {
        rec.push_str(&format!(", every: {}", o.every));
    }
    if !o.cron.is_empty() {
        rec.push_str(&format!(", cron: {}", tasks::go_quote(&o.cron)));
    }
    if let Some(ns) = parse_go_duration(&o.offset).filter(|n| *n != 0) {
        rec.push_str(&format!(", offset: {}", flux_duration(ns)));
    }
    rec.push('}');
    let a = offset_of(flux, span.start.line, span.start.column);
    let b = offset_of(flux, span.end.line, span.end.column);
    Ok(format!("{}{rec}{}", &flux[..a], &flux[b..]))
}

/// A duration literal for Flux (`5m30s`, `-10s`).
fn flux_duration(ns: i64) -> String {
    let go = go_duration_ns(ns);
    // Go writes `1h0m0s`; Flux reads that too, but drop the zero parts for readability.
    let mut out = go.replace("h0m0s", "h").replace("m0s", "m");
    if out.ends_with("h0m") {
        out.truncate(out.len() - 2);
    }
    out
}

/// `PATCH /api/v2/tasks/{id}`.
pub async fn update(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    let has_options =
        body.name.is_some() || body.every.is_some() || body.cron.is_some() || body.offset.is_some();
    if body.flux.is_none() && body.status.is_none() && body.description.is_none() && !has_options {
        return Err(ApiError::invalid("cannot update task without content"));
    }
    if body.every.as_deref().is_some_and(|e| !e.is_empty())
        && body.cron.as_deref().is_some_and(|c| !c.is_empty())
    {
        return Err(ApiError::invalid("cannot specify both every and cron"));
    }
    if let Some(s) = &body.status
        && s != "active"
        && s != "inactive"
    {
        return Err(ApiError::invalid(format!("invalid task status: {s:?}")));
    }
    let old = writable(&app, &auth, id).await?;
    let mut flux = body.flux.clone().filter(|f| !f.is_empty());
    let mut opts = None;
    if flux.is_some() || has_options {
        let src = flux.clone().unwrap_or_else(|| old.flux.clone());
        let mut o =
            parse_options(&src).map_err(|e| ApiError::invalid(format!("invalid options: {e}")))?;
        if has_options {
            if let Some(n) = body.name.clone().filter(|n| !n.is_empty()) {
                o.name = n;
            }
            if let Some(e) = body.every.clone().filter(|e| !e.is_empty()) {
                o.every = e;
                o.cron.clear();
            }
            if let Some(c) = body.cron.clone().filter(|c| !c.is_empty()) {
                o.cron = c;
                o.every.clear();
            }
            if let Some(off) = body.offset.clone() {
                let ns = if off.is_empty() {
                    0
                } else {
                    parse_go_duration(&off).ok_or_else(|| {
                        ApiError::invalid(format!(
                            "offset: {off} is invalid, the largest unit supported is h"
                        ))
                    })?
                };
                o.offset = go_duration_ns(ns);
            }
            let rewritten = rewrite_options(&src, &o).map_err(ApiError::invalid)?;
            o = parse_options(&rewritten)
                .map_err(|e| ApiError::invalid(format!("invalid options: {e}")))?;
            flux = Some(rewritten);
        }
        opts = Some(o);
    }
    let status = body.status.clone();
    let description = body.description.clone();
    let t = app
        .meta(move |m| {
            m.update_task(id, move |t| {
                if let Some(f) = flux {
                    t.flux = f;
                }
                if let Some(o) = opts {
                    t.name = o.name;
                    t.every = o.every;
                    t.cron = o.cron;
                    t.offset = o.offset;
                }
                if let Some(d) = description {
                    t.description = d;
                }
                let now = Time::now();
                if let Some(s) = status {
                    if s == "active" && t.status != "active" {
                        // Resume from now rather than catch up the inactive time.
                        t.latest_completed = now;
                    }
                    t.status = s;
                }
                t.updated_at = now;
                Ok(())
            })
        })
        .await?
        .ok_or_else(task_not_found)?;
    app.tasks.wake();
    Ok(Json(task_json(&t, false)))
}

/// `DELETE /api/v2/tasks/{id}`.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    writable(&app, &auth, id).await?;
    if !app.meta(move |m| m.delete_task(id)).await? {
        return Err(task_not_found());
    }
    app.tasks.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Runs in progress (and queued) followed by finished runs.
async fn all_runs(app: &App, task: &Task) -> Result<Vec<Run>, ApiError> {
    let id = task.id;
    let mut runs = app
        .meta(move |m| {
            let mut r = m.task_runs_in_progress(id)?;
            r.extend(m.manual_runs(id)?);
            Ok(r)
        })
        .await?;
    let (a, t) = (app.clone(), task.clone());
    let finished = app
        .storage(move |_| tasks::finished_runs(&a, &t))
        .await?
        .map_err(|e| ApiError::internal_msg(&e))?;
    runs.extend(finished);
    Ok(runs)
}

fn time_param(params: &Params, k: &str) -> Result<Option<i128>, ApiError> {
    params
        .get(k)
        .map(|v| {
            v.parse::<Time>()
                .map(|t| t.unix_nanos())
                .map_err(|_| ApiError::invalid(format!("{k} is not a valid RFC 3339 time")))
        })
        .transpose()
}

/// `GET /api/v2/tasks/{id}/runs`.
pub async fn list_runs(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let task = readable(&app, &auth, id).await?;
    let limit = limit_of(&params)?;
    let after = params.id("after")?;
    let after_time = time_param(&params, "afterTime")?;
    let before_time = time_param(&params, "beforeTime")?;
    let runs: Vec<Value> = all_runs(&app, &task)
        .await?
        .iter()
        .filter(|r| after.is_none_or(|a| r.id > a))
        .filter(|r| after_time.is_none_or(|t| r.scheduled_for.unix_nanos() > t))
        .filter(|r| before_time.is_none_or(|t| r.scheduled_for.unix_nanos() < t))
        .take(limit)
        .map(run_json)
        .collect();
    Ok(Json(json!({
        "links": {"self": format!("/api/v2/tasks/{id}/runs"), "task": format!("/api/v2/tasks/{id}")},
        "runs": runs,
    })))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RunBody {
    #[serde(rename = "scheduledFor")]
    scheduled_for: Option<String>,
}

async fn queue(app: &App, task: &Task, scheduled_for: Time) -> Result<Run, ApiError> {
    let run = Run {
        id: Id::generate(),
        task_id: task.id,
        status: "scheduled".into(),
        scheduled_for,
        run_at: scheduled_for,
        started_at: meta::zero_time(),
        finished_at: meta::zero_time(),
        requested_at: Time::now(),
        log: Vec::new(),
    };
    let r = run.clone();
    app.meta(move |m| m.queue_manual_run(&r)).await?;
    app.tasks.wake();
    Ok(run)
}

/// `POST /api/v2/tasks/{id}/runs`: run now, or at `scheduledFor`.
pub async fn run_now(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let task = writable(&app, &auth, id).await?;
    let body: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("failed to decode request body: {e}")))?
    };
    let scheduled_for = match body.scheduled_for {
        Some(s) if !s.is_empty() => s
            .parse::<Time>()
            .map_err(|_| ApiError::invalid("scheduledFor is not a valid RFC 3339 time"))?,
        _ => {
            let now = Time::now().unix_nanos();
            Time::from_unix_nanos(now - now.rem_euclid(1_000_000_000))?
        }
    };
    let run = queue(&app, &task, scheduled_for).await?;
    Ok((StatusCode::CREATED, Json(run_json(&run))))
}

async fn find_run(app: &App, task: &Task, run: Id) -> Result<Run, ApiError> {
    all_runs(app, task)
        .await?
        .into_iter()
        .find(|r| r.id == run)
        .ok_or_else(|| ApiError::not_found("run not found"))
}

fn ids(task: &str, run: &str) -> Result<(Id, Id), ApiError> {
    Ok((parse_id(task)?, parse_id(run)?))
}

/// `GET /api/v2/tasks/{id}/runs/{runID}`.
pub async fn get_run(
    State(app): State<App>,
    auth: Auth,
    Path((tid, rid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (tid, rid) = ids(&tid, &rid)?;
    let task = readable(&app, &auth, tid).await?;
    Ok(Json(run_json(&find_run(&app, &task, rid).await?)))
}

/// `DELETE /api/v2/tasks/{id}/runs/{runID}`: cancels a run in progress.
pub async fn cancel_run(
    State(app): State<App>,
    auth: Auth,
    Path((tid, rid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (tid, rid) = ids(&tid, &rid)?;
    writable(&app, &auth, tid).await?;
    if app.tasks.cancel(rid) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("run not found"))
    }
}

/// `POST /api/v2/tasks/{id}/runs/{runID}/retry`: queues a new run for the same time.
pub async fn retry_run(
    State(app): State<App>,
    auth: Auth,
    Path((tid, rid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (tid, rid) = ids(&tid, &rid)?;
    let task = writable(&app, &auth, tid).await?;
    let old = find_run(&app, &task, rid).await?;
    let run = queue(&app, &task, old.scheduled_for).await?;
    Ok(Json(run_json(&run)))
}

/// `GET /api/v2/tasks/{id}/logs`: every run's log lines, oldest run first.
pub async fn task_logs(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let task = readable(&app, &auth, id).await?;
    let mut runs = all_runs(&app, &task).await?;
    runs.reverse();
    let events: Vec<Value> = runs
        .iter()
        .flat_map(|r| r.log.iter())
        .map(|l| serde_json::to_value(l).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({ "events": events })))
}

/// `GET /api/v2/tasks/{id}/runs/{runID}/logs`.
pub async fn run_logs(
    State(app): State<App>,
    auth: Auth,
    Path((tid, rid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (tid, rid) = ids(&tid, &rid)?;
    let task = readable(&app, &auth, tid).await?;
    let run = find_run(&app, &task, rid).await?;
    Ok(Json(json!({ "events": run.log })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_rewritten_in_place() {
        let src = "// ds\noption task = {name: \"a\", every: 1h}\n\nfrom(bucket: \"b\") |> range(start: -1h)";
        let o = tasks::TaskOptions {
            name: "b \"q\"".into(),
            every: String::new(),
            cron: "*/5 * * * *".into(),
            offset: "90s".into(),
        };
        let out = rewrite_options(src, &o).unwrap_or_default();
        assert_eq!(
            out,
            "// ds\noption task = {name: \"b \\\"q\\\"\", cron: \"*/5 * * * *\", offset: 1m30s}\n\nfrom(bucket: \"b\") |> range(start: -1h)"
        );
        assert_eq!(
            parse_options(&out).map(|o| o.offset),
            Ok("1m30s".to_string())
        );
        assert_eq!(flux_duration(3600 * 1_000_000_000), "1h");
        assert_eq!(flux_duration(300 * 1_000_000_000), "5m");
    }
}
