//! `/api/v2/tasks`: tasks (list with `org`, `orgID`, `user`, `name`, `status`, `after`,
//! `limit`; create, get, update, delete), their runs (list, run now,
//! get, cancel, retry) and logs, answered as InfluxDB 2.7's task handlers answer them.
//!
//! Bodies: a task is InfluxDB's API form of the stored [`meta::Task`]: `links`, `labels: []`,
//! `id`, `orgID`, `org`, `ownerID`, `name`, `description`, `status`, `flux`, `every`/`cron`,
//! `offset` (`1h5m`, left out when zero), `latestCompleted`, `lastRunStatus`, `lastRunError`,
//! `createdAt`, `updatedAt` (times to the second, left out when unset); a list is
//! `{"links", "tasks"}`; a run is `{"links", "id", "taskID", "status", "scheduledFor",
//! "startedAt", "finishedAt", "requestedAt", "log"}` with unset times left out; runs are
//! `{"links", "runs"}` (runs in progress and queued first, then finished ones, newest scheduled
//! first); logs are `{"events": [...]}`. Errors are worded as InfluxDB's handlers wrap them
//! (`failed to find task: task not found`, `failed to decode request: ...`). The API creates
//! and lists tasks of type `system`, as InfluxDB's does.
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
use crate::error::{ApiError, Code};
use crate::routes::JsonBody;
use crate::routes::labels::{labels_of, readable_labels, with_labels};
use crate::routes::paging::{IdPath, Params, parse_id};
use crate::tasks::{
    self, RunQuery, go_duration_ns, parse_go_duration, parse_options, rfc3339_nano,
};

const DEFAULT_LIMIT: usize = 100;
/// The type of the tasks this API creates and lists.
const SYSTEM: &str = "system";
const MAX_LIMIT: usize = 500;

fn read_perm(t: &Task) -> meta::Permission {
    Perm::at(Action::Read, ResourceType::Tasks, t.org_id, t.id)
}

fn write_perm(t: &Task) -> meta::Permission {
    Perm::at(Action::Write, ResourceType::Tasks, t.org_id, t.id)
}

/// RFC 3339 to the second, as Go's `time.RFC3339` prints a time.
fn rfc3339_secs(t: &Time) -> String {
    let ns = i64::try_from(t.unix_nanos()).unwrap_or(i64::MIN);
    crate::rfc3339(ns.div_euclid(1_000_000_000), 0)
}

/// A duration as InfluxDB's task API prints an offset: hours, minutes and seconds, zero parts
/// left out (`1h`, `5m30s`, `-10s`).
fn offset_text(ns: i64) -> String {
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let secs = (ns.unsigned_abs() / 1_000_000_000) as i64;
    let (h, m, sec) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h != 0 {
        out.push_str(&format!("{h}h"));
    }
    if m != 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec != 0 {
        out.push_str(&format!("{sec}s"));
    }
    out
}

/// A task as InfluxDB's API shows it: times to the second and left out when unset, the offset
/// left out when zero, plus `links` and `labels`.
fn task_json(t: &Task, basic: bool) -> Value {
    let mut m = serde_json::Map::new();
    let id = t.id;
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
    m.insert("labels".into(), json!([]));
    m.insert("id".into(), json!(id.to_string()));
    m.insert("orgID".into(), json!(t.org_id.to_string()));
    m.insert("org".into(), json!(t.org));
    m.insert("ownerID".into(), json!(t.owner_id.to_string()));
    m.insert("name".into(), json!(t.name));
    if !t.description.is_empty() {
        m.insert("description".into(), json!(t.description));
    }
    m.insert("status".into(), json!(t.status));
    if !basic {
        m.insert("flux".into(), json!(t.flux));
    }
    for (k, v) in [("every", &t.every), ("cron", &t.cron)] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(ns) = parse_go_duration(&t.offset).filter(|n| *n != 0) {
        m.insert("offset".into(), json!(offset_text(ns)));
    }
    if !zero(&t.latest_completed) {
        m.insert(
            "latestCompleted".into(),
            json!(rfc3339_secs(&t.latest_completed)),
        );
    }
    for (k, v) in [
        ("lastRunStatus", &t.last_run_status),
        ("lastRunError", &t.last_run_error),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [("createdAt", &t.created_at), ("updatedAt", &t.updated_at)] {
        if !zero(v) {
            m.insert(k.into(), json!(rfc3339_secs(v)));
        }
    }
    Value::Object(m)
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

/// InfluxDB's handler wrapping of a service error: `"<msg>: <cause>"`, with the cause's code
/// unless the handler sets one. Internal errors keep their generic text.
fn wrap(msg: &'static str, code: Option<Code>) -> impl FnOnce(ApiError) -> ApiError {
    move |e| {
        if e.code == Code::Internal {
            return e;
        }
        ApiError::new(code.unwrap_or(e.code), format!("{msg}: {}", e.message))
    }
}

/// A request that does not decode: 400 `failed to decode request: <cause>`.
fn decode_err(e: ApiError) -> ApiError {
    ApiError::invalid(format!("failed to decode request: {}", e.message))
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

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn limit_of(params: &Params, out_of_bounds: &str) -> Result<usize, ApiError> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => {
            let l: i64 = v
                .parse()
                .map_err(|_| ApiError::invalid("limit is invalid"))?;
            if !(1..=MAX_LIMIT as i64).contains(&l) {
                return Err(ApiError::invalid(out_of_bounds));
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
    let limit = limit_of(&params, "limit must be between 1 and 500").map_err(decode_err)?;
    let after = params.id("after").map_err(decode_err)?;
    let org_id = if let Some(name) = params.get("org") {
        let n = name.to_string();
        match app.meta(move |m| m.find_org_by_name(&n)).await {
            Ok(o) => Some(o.id),
            Err(e) if e.code == Code::NotFound => {
                return Err(ApiError::invalid(format!(
                    "failed to decode request: org {name} not found or unauthorized: org not found or unauthorized"
                )));
            }
            Err(e) => return Err(e),
        }
    } else if let Some(id) = params.id("orgID").map_err(decode_err)? {
        Some(app.meta(move |m| m.get_org(id)).await?.id)
    } else {
        None
    };
    let basic = params.get("type") == Some("basic");
    // `user`: only the tasks this user owns.
    let user = params.id("user").map_err(decode_err)?;
    // As InfluxDB: only `active`/`inactive` filter; the API lists the tasks it creates (type
    // `system`).
    let status = params
        .get("status")
        .filter(|s| *s == "active" || *s == "inactive")
        .map(str::to_string);
    let filter = TaskFilter {
        org_id,
        name: params.get("name").map(str::to_string),
        status,
        after,
        task_type: Some(SYSTEM.into()),
        limit: 0,
    };
    let all = app.meta(move |m| m.list_tasks(&filter)).await?;
    let shown: Vec<&Task> = all
        .iter()
        .filter(|t| user.is_none_or(|u| t.owner_id == u))
        .filter(|t| auth.allowed(&read_perm(t)))
        .take(limit)
        .collect();
    let labels = labels_of(&app, &auth, shown.iter().map(|t| t.id).collect()).await?;
    let tasks: Vec<Value> = shown
        .into_iter()
        .zip(labels)
        .map(|(t, l)| with_labels(task_json(t, basic), l))
        .collect();
    // Paging links as InfluxDB's: the filter's query parameters in key order, `next` when the
    // page is full.
    let mut query = BTreeMap::new();
    if let Some(a) = after {
        query.insert("after", a.to_string());
    }
    query.insert("limit", limit.to_string());
    if let Some(name) = params.get("org") {
        query.insert("org", name.to_string());
    }
    if let Some(o) = org_id {
        query.insert("orgID", o.to_string());
    }
    if let Some(u) = user {
        query.insert("user", u.to_string());
    }
    let link = |q: &BTreeMap<&str, String>| {
        let pairs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", query_escape(v)))
            .collect();
        format!("/api/v2/tasks?{}", pairs.join("&"))
    };
    let mut links = BTreeMap::from([("self", link(&query))]);
    if tasks.len() >= limit
        && let Some(last) = tasks.last().and_then(|t| t["id"].as_str())
    {
        query.insert("after", last.to_string());
        links.insert("next", link(&query));
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
}

/// `POST /api/v2/tasks`.
pub async fn create(
    State(app): State<App>,
    auth: Auth,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let decode = |m: String| decode_err(ApiError::invalid(m));
    if body.flux.is_empty() {
        return Err(decode("missing flux".into()));
    }
    let org_given = parse_id(&body.org_id).ok();
    if org_given.is_none() && body.org.is_empty() {
        return Err(decode("missing orgID and org".into()));
    }
    if !body.status.is_empty() && body.status != "active" && body.status != "inactive" {
        return Err(decode(format!("invalid task status: {:?}", body.status)));
    }
    let org_id = match org_given {
        Some(id) => {
            app.meta(move |m| m.get_org(id))
                .await
                .map_err(wrap("could not identify organization", None))?
                .id
        }
        None => {
            let name = body.org.clone();
            app.meta(move |m| m.find_org_by_name(&name))
                .await
                .map_err(wrap("could not identify organization", None))?
                .id
        }
    };
    auth.require(&Perm::in_org(Action::Write, ResourceType::Tasks, org_id))?;
    let Some(owner) = auth.user_id else {
        return Err(ApiError::invalid("cannot create task with invalid ownerID"));
    };
    let opts = parse_options(&body.flux)
        .map_err(|e| ApiError::invalid(format!("invalid options: {e}")))?;
    let req = TaskCreate {
        org_id,
        owner_id: owner,
        task_type: SYSTEM.into(),
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
    let t = readable(&app, &auth, id)
        .await
        .map_err(wrap("failed to find task", Some(Code::NotFound)))?;
    let labels = readable_labels(&app, &auth, id).await?;
    Ok(Json(with_labels(task_json(&t, false), labels)))
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
        return Err(decode_err(ApiError::invalid(
            "cannot update task without content",
        )));
    }
    if body.every.as_deref().is_some_and(|e| !e.is_empty())
        && body.cron.as_deref().is_some_and(|c| !c.is_empty())
    {
        return Err(decode_err(ApiError::invalid(
            "cannot specify both every and cron",
        )));
    }
    if let Some(s) = &body.status
        && s != "active"
        && s != "inactive"
    {
        return Err(decode_err(ApiError::invalid(format!(
            "invalid task status: {s:?}"
        ))));
    }
    let old = writable(&app, &auth, id)
        .await
        .map_err(wrap("failed to update task", None))?;
    let mut flux = body.flux.clone().filter(|f| !f.is_empty());
    let mut opts = None;
    if flux.is_some() || has_options {
        let src = flux.clone().unwrap_or_else(|| old.flux.clone());
        let mut o = parse_options(&src).map_err(|e| {
            ApiError::invalid(format!("failed to update task: invalid options: {e}"))
        })?;
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
            o = parse_options(&rewritten).map_err(|e| {
                ApiError::invalid(format!("failed to update task: invalid options: {e}"))
            })?;
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
                        // Resume from now (to the second) rather than catch up the
                        // inactive time, as InfluxDB does.
                        let ns = now.unix_nanos();
                        let secs = Time::from_unix_nanos(ns - ns.rem_euclid(1_000_000_000))?;
                        t.latest_completed = secs;
                        t.latest_scheduled = secs;
                    }
                    t.status = s;
                }
                t.updated_at = now;
                Ok(())
            })
        })
        .await?
        .ok_or_else(|| wrap("failed to update task", None)(task_not_found()))?;
    app.tasks.wake();
    let labels = readable_labels(&app, &auth, id).await?;
    Ok(Json(with_labels(task_json(&t, false), labels)))
}

/// `DELETE /api/v2/tasks/{id}`.
pub async fn delete(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    writable(&app, &auth, id)
        .await
        .map_err(wrap("failed to delete task", None))?;
    if !app.meta(move |m| m.delete_task(id)).await? {
        return Err(wrap("failed to delete task", None)(task_not_found()));
    }
    app.tasks.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Runs in progress (and queued) followed by finished runs, those matching `q`, at most
/// `q.limit` of them.
async fn all_runs(app: &App, task: &Task, q: RunQuery) -> Result<Vec<Run>, ApiError> {
    let id = task.id;
    let mut runs: Vec<Run> = app
        .meta(move |m| {
            let mut r = m.task_runs_in_progress(id)?;
            r.extend(m.manual_runs(id)?);
            Ok(r)
        })
        .await?
        .into_iter()
        .filter(|r| {
            let sf = i64::try_from(r.scheduled_for.unix_nanos()).unwrap_or(i64::MIN);
            q.run_id.is_none_or(|x| r.id == x)
                && q.after.is_none_or(|a| r.id > a)
                && q.after_time.is_none_or(|t| sf > t)
                && q.before_time.is_none_or(|t| sf < t)
        })
        .collect();
    if q.limit > 0 && runs.len() >= q.limit {
        runs.truncate(q.limit);
        return Ok(runs);
    }
    let mut q = q;
    if q.limit > 0 {
        q.limit -= runs.len();
    }
    let (a, t) = (app.clone(), task.clone());
    let finished = app
        .storage(move |_| tasks::finished_runs(&a, &t, &q))
        .await?
        .map_err(|e| ApiError::internal_msg(&e))?;
    runs.extend(finished);
    Ok(runs)
}

fn time_param(params: &Params, k: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(k)
        .map(|v| {
            v.parse::<Time>()
                .map(|t| i64::try_from(t.unix_nanos()).unwrap_or(i64::MIN))
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
    let limit = limit_of(
        &params,
        "run limit is out of bounds, must be between 1 and 500",
    )
    .map_err(decode_err)?;
    let after = params.id("after").map_err(decode_err)?;
    let after_time = time_param(&params, "afterTime").map_err(decode_err)?;
    let before_time = time_param(&params, "beforeTime").map_err(decode_err)?;
    if let (Some(a), Some(b)) = (after_time, before_time)
        && b <= a
    {
        return Err(decode_err(ApiError::invalid(
            "beforeTime must be later than afterTime",
        )));
    }
    let task = readable(&app, &auth, id)
        .await
        .map_err(wrap("failed to find runs", None))?;
    let q = RunQuery {
        run_id: None,
        after,
        after_time,
        before_time,
        limit,
    };
    let runs: Vec<Value> = all_runs(&app, &task, q)
        .await?
        .iter()
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
    let queued = app
        .meta(move |m| {
            if m.manual_runs(r.task_id)?
                .iter()
                .any(|q| q.scheduled_for == r.scheduled_for)
            {
                return Ok(false);
            }
            m.queue_manual_run(&r)?;
            Ok(true)
        })
        .await?;
    if !queued {
        return Err(ApiError::new(Code::Conflict, "run already queued"));
    }
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
    let task = writable(&app, &auth, id)
        .await
        .map_err(wrap("failed to force run", None))?;
    let body: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| decode_err(ApiError::invalid(e.to_string())))?
    };
    let scheduled_for = match body.scheduled_for {
        Some(s) if !s.is_empty() => s
            .parse::<Time>()
            .map_err(|_| decode_err(ApiError::invalid("scheduledFor is not an RFC 3339 time")))?,
        _ => {
            let now = Time::now().unix_nanos();
            Time::from_unix_nanos(now - now.rem_euclid(1_000_000_000))?
        }
    };
    let run = queue(&app, &task, scheduled_for)
        .await
        .map_err(wrap("failed to force run", None))?;
    Ok((StatusCode::CREATED, Json(run_json(&run))))
}

async fn find_run(app: &App, task: &Task, run: Id) -> Result<Run, ApiError> {
    let q = RunQuery {
        run_id: Some(run),
        limit: 1,
        ..RunQuery::default()
    };
    all_runs(app, task, q)
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
    let task = readable(&app, &auth, tid)
        .await
        .map_err(wrap("failed to find run", None))?;
    Ok(Json(run_json(
        &find_run(&app, &task, rid)
            .await
            .map_err(wrap("failed to find run", None))?,
    )))
}

/// `DELETE /api/v2/tasks/{id}/runs/{runID}`: cancels a run in progress.
pub async fn cancel_run(
    State(app): State<App>,
    auth: Auth,
    Path((tid, rid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (tid, rid) = ids(&tid, &rid)?;
    writable(&app, &auth, tid)
        .await
        .map_err(wrap("failed to cancel run", None))?;
    if app.tasks.cancel(rid) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(wrap("failed to cancel run", None)(ApiError::not_found(
            "run not found",
        )))
    }
}

/// `POST /api/v2/tasks/{id}/runs/{runID}/retry`: queues a new run for the same time.
pub async fn retry_run(
    State(app): State<App>,
    auth: Auth,
    Path((tid, rid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (tid, rid) = ids(&tid, &rid)?;
    let task = writable(&app, &auth, tid)
        .await
        .map_err(wrap("failed to retry run", None))?;
    let old = find_run(&app, &task, rid)
        .await
        .map_err(wrap("failed to retry run", None))?;
    let run = queue(&app, &task, old.scheduled_for)
        .await
        .map_err(wrap("failed to retry run", None))?;
    Ok(Json(run_json(&run)))
}

/// `GET /api/v2/tasks/{id}/logs`: every run's log lines, runs in the order they are listed.
pub async fn task_logs(
    State(app): State<App>,
    auth: Auth,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let task = readable(&app, &auth, id)
        .await
        .map_err(wrap("failed to find task logs", None))?;
    // The runs a default run list shows, in its order, as InfluxDB's FindLogs.
    let q = RunQuery {
        limit: DEFAULT_LIMIT,
        ..RunQuery::default()
    };
    let runs = all_runs(&app, &task, q).await?;
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
    let task = readable(&app, &auth, tid)
        .await
        .map_err(wrap("failed to find task logs", None))?;
    let run = find_run(&app, &task, rid)
        .await
        .map_err(wrap("failed to find task logs", None))?;
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
