//! Tasks and their run state, kept as InfluxDB 2.x keeps them (its `kv` task service).
//!
//! KV layout (byte-compatible with InfluxDB 2.7):
//! * `tasksv1`: task ID (16 hex) → task JSON, keys in this order: `id`, `type` (left out when
//!   empty), `orgID`, `org`, `ownerID`, `name`, `description` (left out when empty), `status`,
//!   `flux`, `every` / `cron` (each left out when empty), `lastRunStatus` / `lastRunError`
//!   (left out when empty), `offset` (always, a Go duration string such as `"0s"` or `"5m0s"`),
//!   `latestCompleted`, `latestScheduled`, `latestSuccess`, `latestFailure`, `createdAt`,
//!   `updatedAt` (Go `time.Time` text; never left out, the zero time is
//!   `0001-01-01T00:00:00Z`);
//! * `taskIndexsv1`: org ID (16 hex) ‖ task ID (16 hex) → task ID (16 hex);
//! * `taskRunsv1`: `<taskID>/<runID>` → run JSON of a run in progress (`id`, `taskID`,
//!   `status`, `scheduledFor`, `runAt`, `startedAt`, `finishedAt`, `requestedAt`, `log` left
//!   out when empty) and `<taskID>/manualRuns` → JSON array of runs queued by hand. Finished
//!   runs leave this bucket: they are kept as points in the org's `_tasks` bucket.
//!
//! The `option task` record is parsed by the caller (the server, with the Flux parser); this
//! store keeps what it is given. A lookup of a missing task answers `None` rather than an error,
//! so the HTTP layer words InfluxDB's `task not found`.

use serde::{Deserialize, Serialize};

use super::*;

/// `tasksv1`.
pub const TASKS: &str = "tasksv1";
/// `taskIndexsv1`.
pub const TASK_INDEX: &str = "taskIndexsv1";
/// `taskRunsv1`.
pub const TASK_RUNS: &str = "taskRunsv1";

/// Go's zero `time.Time`, which InfluxDB writes for times not set yet.
pub fn zero_time() -> Time {
    Time::from_unix_nanos(-62_135_596_800 * 1_000_000_000).unwrap_or_else(|_| Time::now())
}

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

/// A task (`tasksv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: Id,
    #[serde(rename = "type", default, skip_serializing_if = "is_empty")]
    pub task_type: String,
    #[serde(rename = "orgID")]
    pub org_id: Id,
    /// The org's name when the task was created.
    #[serde(default)]
    pub org: String,
    #[serde(rename = "ownerID")]
    pub owner_id: Id,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub description: String,
    /// `active` or `inactive`.
    pub status: String,
    pub flux: String,
    /// The `every` option as written in the script (`1h`), or empty.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub every: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub cron: String,
    #[serde(rename = "lastRunStatus", default, skip_serializing_if = "is_empty")]
    pub last_run_status: String,
    #[serde(rename = "lastRunError", default, skip_serializing_if = "is_empty")]
    pub last_run_error: String,
    /// A Go duration string (`0s`, `5m0s`).
    #[serde(default = "zero_offset")]
    pub offset: String,
    #[serde(rename = "latestCompleted", default = "zero_time")]
    pub latest_completed: Time,
    #[serde(rename = "latestScheduled", default = "zero_time")]
    pub latest_scheduled: Time,
    #[serde(rename = "latestSuccess", default = "zero_time")]
    pub latest_success: Time,
    #[serde(rename = "latestFailure", default = "zero_time")]
    pub latest_failure: Time,
    #[serde(rename = "createdAt", default = "zero_time")]
    pub created_at: Time,
    #[serde(rename = "updatedAt", default = "zero_time")]
    pub updated_at: Time,
}

fn zero_offset() -> String {
    "0s".into()
}

/// What [`MetaStore::create_task`] needs; the schedule fields come from the script's
/// `option task`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCreate {
    pub org_id: Id,
    pub owner_id: Id,
    pub task_type: String,
    pub flux: String,
    pub description: String,
    /// `active` when empty.
    pub status: String,
    pub name: String,
    pub every: String,
    pub cron: String,
    /// Go duration string; empty means `0s`.
    pub offset: String,
}

/// Filter of [`MetaStore::list_tasks`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub org_id: Option<Id>,
    pub name: Option<String>,
    pub status: Option<String>,
    /// Only tasks with a greater ID.
    pub after: Option<Id>,
    /// `None`: `""` (plain tasks); `Some("*")` any type.
    pub task_type: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// One log line of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLog {
    #[serde(rename = "runID", default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Id>,
    /// RFC 3339 with nanoseconds.
    pub time: String,
    pub message: String,
}

/// A run (`taskRunsv1` while in progress or queued).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: Id,
    #[serde(rename = "taskID")]
    pub task_id: Id,
    /// `scheduled`, `started`, `success`, `failed` or `canceled`.
    pub status: String,
    #[serde(rename = "scheduledFor")]
    pub scheduled_for: Time,
    #[serde(rename = "runAt", default = "zero_time")]
    pub run_at: Time,
    #[serde(rename = "startedAt", default = "zero_time")]
    pub started_at: Time,
    #[serde(rename = "finishedAt", default = "zero_time")]
    pub finished_at: Time,
    #[serde(rename = "requestedAt", default = "zero_time")]
    pub requested_at: Time,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<RunLog>,
}

fn task_org_key(org: Id, task: Id) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(&task.encode());
    k
}

fn run_key(task: Id, run: Id) -> Vec<u8> {
    let mut k = task.encode().to_vec();
    k.push(b'/');
    k.extend_from_slice(&run.encode());
    k
}

fn manual_key(task: Id) -> Vec<u8> {
    let mut k = task.encode().to_vec();
    k.extend_from_slice(b"/manualRuns");
    k
}

fn tx_get_task(t: &Tree, id: Id) -> Result<Option<Task>> {
    match t.get(TASKS, &id.encode()) {
        Some(v) => from_json(TASKS, v).map(Some),
        None => Ok(None),
    }
}

impl MetaStore {
    /// Creates a task in `tasksv1` and `taskIndexsv1`. [`Error::NotFound`] if the org does not
    /// exist.
    pub fn create_task(&self, req: TaskCreate) -> Result<Task> {
        self.update(|t| {
            let org: Organization =
                get_json(t, schema::ORGS, &req.org_id.encode(), Kind::Organization)?;
            let mut id = Id::generate();
            while t.get(TASKS, &id.encode()).is_some() {
                id = Id::generate();
            }
            // InfluxDB keeps creation times to the second.
            let now =
                Time::from_unix_nanos(Time::now().unix_nanos() / 1_000_000_000 * 1_000_000_000)?;
            let task = Task {
                id,
                task_type: req.task_type,
                org_id: org.id,
                org: org.name,
                owner_id: req.owner_id,
                name: req.name,
                description: req.description,
                status: if req.status.is_empty() {
                    "active".into()
                } else {
                    req.status
                },
                flux: req.flux,
                every: req.every,
                cron: req.cron,
                last_run_status: String::new(),
                last_run_error: String::new(),
                offset: if req.offset.is_empty() {
                    zero_offset()
                } else {
                    req.offset
                },
                latest_completed: now,
                latest_scheduled: zero_time(),
                latest_success: zero_time(),
                latest_failure: zero_time(),
                created_at: now,
                updated_at: zero_time(),
            };
            t.put(TASKS, id.encode().to_vec(), to_go_json(&task));
            t.put(TASK_INDEX, task_org_key(org.id, id), id.encode().to_vec());
            Ok(task)
        })
    }

    /// The task with this ID, if any.
    pub fn get_task(&self, id: Id) -> Result<Option<Task>> {
        tx_get_task(&self.view(), id)
    }

    /// Tasks matching `filter` in ID order (by org through `taskIndexsv1` when an org is
    /// given), at most `filter.limit` of them (0 = no limit).
    pub fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let t = self.view();
        let ids: Vec<Id> = match filter.org_id {
            Some(org) => t
                .prefix(TASK_INDEX, &org.encode())
                .filter_map(|(_, v)| id_from(v).ok())
                .collect(),
            None => t.iter(TASKS).filter_map(|(k, _)| id_from(k).ok()).collect(),
        };
        let mut ids = ids;
        ids.sort();
        let want_type = filter.task_type.clone().unwrap_or_default();
        let mut out = Vec::new();
        for id in ids {
            if filter.after.is_some_and(|a| id <= a) {
                continue;
            }
            let Some(task) = tx_get_task(&t, id)? else {
                continue;
            };
            if want_type != "*" && task.task_type != want_type {
                continue;
            }
            if filter.status.as_deref().is_some_and(|s| s != task.status) {
                continue;
            }
            if filter.name.as_deref().is_some_and(|n| n != task.name) {
                continue;
            }
            out.push(task);
            if filter.limit > 0 && out.len() >= filter.limit {
                break;
            }
        }
        Ok(out)
    }

    /// Changes a task with `f` and stores it (the org index follows the task). `None` if there
    /// is no such task. `f` may refuse the change with an error, which leaves the store as it
    /// was.
    pub fn update_task(
        &self,
        id: Id,
        f: impl FnOnce(&mut Task) -> Result<()>,
    ) -> Result<Option<Task>> {
        self.update(|t| {
            let Some(mut task) = tx_get_task(t, id)? else {
                return Ok(None);
            };
            f(&mut task)?;
            task.id = id;
            t.put(TASKS, id.encode().to_vec(), to_go_json(&task));
            Ok(Some(task))
        })
    }

    /// Deletes a task, its index entry, its run state and its members and owners. `false` if
    /// there was no such task.
    pub fn delete_task(&self, id: Id) -> Result<bool> {
        self.update(|t| {
            let Some(task) = tx_get_task(t, id)? else {
                return Ok(false);
            };
            t.delete(TASKS, &id.encode());
            t.delete(TASK_INDEX, &task_org_key(task.org_id, id));
            let mut prefix = id.encode().to_vec();
            prefix.push(b'/');
            let keys: Vec<Vec<u8>> = t
                .prefix(TASK_RUNS, &prefix)
                .map(|(k, _)| k.to_vec())
                .collect();
            for k in keys {
                t.delete(TASK_RUNS, &k);
            }
            tx_delete_resource_urms(t, id)?;
            Ok(true)
        })
    }

    /// Records a run in progress under `<taskID>/<runID>`.
    pub fn put_task_run(&self, run: &Run) -> Result<()> {
        self.update(|t| {
            t.put(TASK_RUNS, run_key(run.task_id, run.id), to_go_json(run));
            Ok(())
        })
    }

    /// Removes a run in progress; `false` if it was not there.
    pub fn delete_task_run(&self, task: Id, run: Id) -> Result<bool> {
        self.update(|t| {
            let k = run_key(task, run);
            let found = t.get(TASK_RUNS, &k).is_some();
            t.delete(TASK_RUNS, &k);
            Ok(found)
        })
    }

    /// The runs of a task in progress (not the queued manual runs), in run ID order.
    pub fn task_runs_in_progress(&self, task: Id) -> Result<Vec<Run>> {
        let t = self.view();
        let mut prefix = task.encode().to_vec();
        prefix.push(b'/');
        let manual = manual_key(task);
        t.prefix(TASK_RUNS, &prefix)
            .filter(|(k, _)| *k != manual.as_slice())
            .map(|(_, v)| from_json(TASK_RUNS, v))
            .collect()
    }

    /// The manual runs queued for a task.
    pub fn manual_runs(&self, task: Id) -> Result<Vec<Run>> {
        match self.view().get(TASK_RUNS, &manual_key(task)) {
            Some(v) => from_json(TASK_RUNS, v),
            None => Ok(Vec::new()),
        }
    }

    /// Queues a manual run (InfluxDB's `ForceRun`/`RetryRun`).
    pub fn queue_manual_run(&self, run: &Run) -> Result<()> {
        self.update(|t| {
            let k = manual_key(run.task_id);
            let mut runs: Vec<Run> = match t.get(TASK_RUNS, &k) {
                Some(v) => from_json(TASK_RUNS, v)?,
                None => Vec::new(),
            };
            runs.push(run.clone());
            t.put(TASK_RUNS, k, to_go_json(&runs));
            Ok(())
        })
    }

    /// Takes every queued manual run of a task (the queue is left empty).
    pub fn take_manual_runs(&self, task: Id) -> Result<Vec<Run>> {
        self.update(|t| {
            let k = manual_key(task);
            let runs: Vec<Run> = match t.get(TASK_RUNS, &k) {
                Some(v) => from_json(TASK_RUNS, v)?,
                None => return Ok(Vec::new()),
            };
            t.delete(TASK_RUNS, &k);
            Ok(runs)
        })
    }
}
