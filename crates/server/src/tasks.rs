//! Tasks: the `option task` record, schedules, the scheduler that runs active tasks, and the
//! run history in the `_tasks` bucket.
//!
//! * [`parse_options`] reads `option task = {name, every | cron, offset}` from a script with the
//!   query crate's parser, as InfluxDB's `options.FromScript` does (name required; exactly one
//!   of `every` and `cron`; `every`/`offset` durations without calendar units).
//! * [`Schedule`]: `every` runs fall on multiples of the period counted from the Unix epoch;
//!   `cron` takes 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first)
//!   with `*`, lists, ranges and steps, and the descriptors `@yearly`, `@monthly`, `@weekly`,
//!   `@daily`, `@hourly` and `@every <duration>`, evaluated in UTC as InfluxDB's cron does
//!   (day-of-month and day-of-week are ORed when both are restricted). The cron reader is kept
//!   here because it is small and only needs "the next matching second after t", which a
//!   minute/second scan over a few fields answers without another dependency.
//! * [`Scheduler`] (started by [`crate::serve`]): a run is due once `scheduledFor + offset` has
//!   passed, where `scheduledFor` is the next schedule time after the task's
//!   `latestCompleted`. Runs missed while the server runs (a run slower than the period) are
//!   caught up one after another; on start every active task resumes from now, so the time the
//!   server was down is not caught up, as InfluxDB's `NotifyCoordinatorOfExisting` does (so
//!   does a task first seen later with an old `latestCompleted`, e.g. from a KV restore); a
//!   task set inactive or deleted is skipped on the next pass; manual runs (`POST .../runs`,
//!   retries) queued in `taskRunsv1` run first. At most [`MAX_CONCURRENT_RUNS`] runs execute
//!   at once, one per task at a time.
//! * A run executes the task's Flux with `now()` = `scheduledFor` (and `tasks.lastSuccess` =
//!   the task's `latestSuccess`), as the task's owner (the permissions the owner user holds),
//!   `to()` writing through [`EngineSink`]. While it runs it is kept in `taskRunsv1`. When it
//!   ends, as InfluxDB's `FinishRun`: the task's `latestCompleted`,
//!   `latestSuccess`/`latestFailure`, `lastRunStatus` and `lastRunError` (the second to last
//!   log line of a failed run) are updated, the run leaves `taskRunsv1`, and it is written as
//!   a point of measurement `runs` into the org's `_tasks` bucket (tags `status`, `taskID`;
//!   string fields `runID`, `startedAt`, `finishedAt`, `scheduledFor`, `requestedAt`, `logs`
//!   as JSON; time = `startedAt`), as InfluxDB's analytical storage writes it.
//!   [`finished_runs`] reads them back for `GET .../runs` and `.../logs`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use meta::{BucketFilter, BucketType, FindOptions, Id, MetaStore, Run, RunLog, Task, Time};
use query::flux::ast::{DurationUnit, ExprKind, Statement, StringPart};
use query::source::WritePoint;
use query::value::Value;

use crate::auth::{Auth, Credential};
use crate::source::{EngineSink, EngineSource};

/// Runs executing at once, over all tasks.
pub const MAX_CONCURRENT_RUNS: usize = 4;

const NS: i64 = 1_000_000_000;

/// The `option task` record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOptions {
    pub name: String,
    /// `every` as written (`1h30m`), or empty.
    pub every: String,
    pub cron: String,
    /// `offset` as a Go duration string (`0s`, `5m0s`).
    pub offset: String,
}

fn duration_ns(parts: &[(i64, DurationUnit)], negative: bool) -> Result<i64, String> {
    let mut ns: i64 = 0;
    for (n, u) in parts {
        let unit = match u {
            DurationUnit::Nanosecond => 1,
            DurationUnit::Microsecond => 1_000,
            DurationUnit::Millisecond => 1_000_000,
            DurationUnit::Second => NS,
            DurationUnit::Minute => 60 * NS,
            DurationUnit::Hour => 3600 * NS,
            DurationUnit::Day => 86_400 * NS,
            DurationUnit::Week => 7 * 86_400 * NS,
            DurationUnit::Month | DurationUnit::Year => {
                return Err("duration with months or years is not supported".into());
            }
        };
        ns = n
            .checked_mul(unit)
            .and_then(|x| ns.checked_add(x))
            .ok_or("duration out of range")?;
    }
    Ok(if negative { -ns } else { ns })
}

fn duration_text(parts: &[(i64, DurationUnit)]) -> String {
    let mut s = String::new();
    for (n, u) in parts {
        let unit = match u {
            DurationUnit::Nanosecond => "ns",
            DurationUnit::Microsecond => "us",
            DurationUnit::Millisecond => "ms",
            DurationUnit::Second => "s",
            DurationUnit::Minute => "m",
            DurationUnit::Hour => "h",
            DurationUnit::Day => "d",
            DurationUnit::Week => "w",
            DurationUnit::Month => "mo",
            DurationUnit::Year => "y",
        };
        s.push_str(&format!("{n}{unit}"));
    }
    s
}

/// A duration as Go prints it (`0s`, `1m30s`, `-5s`).
pub fn go_duration_ns(ns: i64) -> String {
    let d = std::time::Duration::from_nanos(ns.unsigned_abs());
    let s = crate::go_duration(d);
    if ns < 0 { format!("-{s}") } else { s }
}

/// Reads a Go duration string (`5m0s`, `1h`, `-30s`, `0s`) to ns.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let uend = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..uend] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[uend..];
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// Parses the `option task` record of a script; errors word what is wrong as InfluxDB's
/// options parser does.
pub fn parse_options(flux: &str) -> Result<TaskOptions, String> {
    let prog = query::flux::parse(flux).map_err(|e| e.to_string())?;
    let record = prog.body.iter().find_map(|st| match st {
        Statement::Option {
            package: None,
            name,
            value,
            ..
        } if name == "task" => Some(value),
        _ => None,
    });
    let Some(record) = record else {
        return Err("no task options defined".into());
    };
    let ExprKind::Record { properties, .. } = &record.kind else {
        return Err("task options must be a record".into());
    };
    let mut opts = TaskOptions {
        offset: "0s".into(),
        ..TaskOptions::default()
    };
    let string = |e: &query::flux::ast::Expr, k: &str| -> Result<String, String> {
        match &e.kind {
            ExprKind::String(parts) => parts
                .iter()
                .map(|p| match p {
                    StringPart::Text(t) => Ok(t.as_str()),
                    StringPart::Interpolated(_) => Err(format!("{k} must be a plain string")),
                })
                .collect(),
            _ => Err(format!("{k} must be a string")),
        }
    };
    for p in properties {
        match p.key.as_str() {
            "name" => opts.name = string(&p.value, "name")?,
            "cron" => opts.cron = string(&p.value, "cron")?,
            "every" => match &p.value.kind {
                ExprKind::Duration { parts, negative } => {
                    let ns = duration_ns(parts, *negative)?;
                    if ns < NS {
                        return Err("every option must be at least 1 second".into());
                    }
                    if ns % NS != 0 {
                        return Err("every option must be expressible as whole seconds".into());
                    }
                    opts.every = duration_text(parts);
                }
                _ => return Err("every must be a duration".into()),
            },
            "offset" => match &p.value.kind {
                ExprKind::Duration { parts, negative } => {
                    let ns = duration_ns(parts, *negative)?;
                    if ns % NS != 0 {
                        return Err("offset option must be expressible as whole seconds".into());
                    }
                    opts.offset = go_duration_ns(ns);
                }
                _ => return Err("offset must be a duration".into()),
            },
            // `concurrency`, `retry` and anything else are not used here.
            _ => {}
        }
    }
    if opts.name.is_empty() {
        return Err("missing name in task options".into());
    }
    match (opts.every.is_empty(), opts.cron.is_empty()) {
        (false, false) => return Err("cannot use both cron and every in task options".into()),
        (true, true) => return Err("must specify exactly one of either cron or every".into()),
        (true, false) => {
            Cron::parse(&opts.cron)?;
        }
        (false, true) => {}
    }
    Ok(opts)
}

/// When a task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every this many ns, aligned to the epoch.
    Every(i64),
    Cron(Cron),
}

impl Schedule {
    /// The schedule of a stored task (`every` or `cron`).
    pub fn of(task: &Task) -> Result<Schedule, String> {
        if !task.cron.is_empty() {
            return Cron::parse(&task.cron).map(|c| match c.every {
                Some(e) => Schedule::Every(e),
                None => Schedule::Cron(c),
            });
        }
        let flux = format!("x = {}", task.every);
        let prog = query::flux::parse(&flux).map_err(|e| e.to_string())?;
        match prog.body.first() {
            Some(Statement::Assign { value, .. }) => match &value.kind {
                ExprKind::Duration { parts, negative } => {
                    let ns = duration_ns(parts, *negative)?;
                    if ns <= 0 {
                        return Err("every option must be positive".into());
                    }
                    Ok(Schedule::Every(ns))
                }
                _ => Err(format!("invalid every {:?}", task.every)),
            },
            _ => Err(format!("invalid every {:?}", task.every)),
        }
    }

    /// The first schedule time strictly after `t` (ns).
    pub fn next_after(&self, t: i64) -> Option<i64> {
        match self {
            Schedule::Every(e) => t.div_euclid(*e).checked_add(1)?.checked_mul(*e),
            Schedule::Cron(c) => c.next_after(t),
        }
    }
}

/// A parsed cron expression (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    dom: Vec<bool>,
    months: Vec<bool>,
    dow: Vec<bool>,
    dom_star: bool,
    dow_star: bool,
    /// `@every d`.
    every: Option<i64>,
}

fn cron_field(text: &str, min: u32, max: u32) -> Result<(Vec<bool>, bool), String> {
    let mut set = vec![false; max as usize + 1];
    let star = text == "*" || text == "?";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("invalid cron step {part:?}"))?,
            ),
            None => (part, 1),
        };
        let num = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| format!("invalid cron value {s:?} (allowed {min}-{max})"))
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a)?, num(b)?)
        } else {
            let a = num(range)?;
            (a, if part.contains('/') { max } else { a })
        };
        if lo > hi {
            return Err(format!("invalid cron range {range:?}"));
        }
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok((set, star))
}

impl Cron {
    /// Parses 5 or 6 fields, or a descriptor.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            "@monthly" => "0 0 0 1 * *",
            "@weekly" => "0 0 0 * * 0",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@hourly" => "0 0 * * * *",
            t => t,
        };
        if let Some(d) = expanded.strip_prefix("@every ") {
            let ns = parse_go_duration(d.trim())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("invalid duration in cron {text:?}"))?;
            let all = |n: usize| vec![true; n];
            return Ok(Cron {
                seconds: all(60),
                minutes: all(60),
                hours: all(24),
                dom: all(32),
                months: all(13),
                dow: all(8),
                dom_star: true,
                dow_star: true,
                every: Some(ns),
            });
        }
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let fields: Vec<&str> = match fields.len() {
            5 => std::iter::once("0").chain(fields).collect(),
            6 => fields,
            n => return Err(format!("expected 5 or 6 cron fields, found {n}: {text:?}")),
        };
        let (seconds, _) = cron_field(fields[0], 0, 59)?;
        let (minutes, _) = cron_field(fields[1], 0, 59)?;
        let (hours, _) = cron_field(fields[2], 0, 23)?;
        let (dom, dom_star) = cron_field(fields[3], 1, 31)?;
        let (months, _) = cron_field(fields[4], 1, 12)?;
        let (mut dow, dow_star) = cron_field(fields[5], 0, 7)?;
        if dow[7] {
            dow[0] = true;
        }
        Ok(Cron {
            seconds,
            minutes,
            hours,
            dom,
            months,
            dow,
            dom_star,
            dow_star,
            every: None,
        })
    }

    fn day_matches(&self, dom: u32, dow: u32) -> bool {
        let d = self.dom[dom as usize];
        let w = self.dow[dow as usize];
        if self.dom_star || self.dow_star {
            d && w
        } else {
            d || w
        }
    }

    /// The first matching second strictly after `t` (ns), within five years.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        if let Some(e) = self.every {
            return t.div_euclid(e).checked_add(1)?.checked_mul(e);
        }
        let mut s = t.div_euclid(NS) + 1;
        let limit = s + 5 * 366 * 86_400;
        while s < limit {
            let days = s.div_euclid(86_400);
            let (_, month, day) = civil_from_days(days);
            let dow = (days + 4).rem_euclid(7) as u32;
            if !self.months[month as usize] || !self.day_matches(day, dow) {
                s = (days + 1) * 86_400;
                continue;
            }
            let rem = s.rem_euclid(86_400);
            let (h, m, sec) = (
                (rem / 3600) as usize,
                ((rem / 60) % 60) as usize,
                (rem % 60) as usize,
            );
            if !self.hours[h] {
                s = days * 86_400 + (h as i64 + 1) * 3600;
                continue;
            }
            if !self.minutes[m] {
                s = days * 86_400 + h as i64 * 3600 + (m as i64 + 1) * 60;
                continue;
            }
            if !self.seconds[sec] {
                s += 1;
                continue;
            }
            return s.checked_mul(NS);
        }
        None
    }
}

/// (year, month 1-12, day 1-31) of a day count since the epoch.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Go's `%q` of a string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn time_ns(t: &Time) -> i64 {
    i64::try_from(t.unix_nanos()).unwrap_or(i64::MIN)
}

fn time_of(ns: i64) -> Time {
    Time::from_unix_nanos(i128::from(ns)).unwrap_or_else(|_| meta::zero_time())
}

fn is_zero(t: &Time) -> bool {
    *t == meta::zero_time()
}

/// RFC 3339 with nanoseconds (Go's `RFC3339Nano`), in UTC.
pub fn rfc3339_nano(t: &Time) -> String {
    let ns = time_ns(t);
    crate::rfc3339(ns.div_euclid(NS), ns.rem_euclid(NS) as u32)
}

/// The scheduler's shared state: which tasks are running, the runs' cancel flags, and the
/// wake-up and stop signals.
pub struct Scheduler {
    wake: tokio::sync::Notify,
    stop: AtomicBool,
    running: Mutex<HashSet<Id>>,
    /// Active tasks the scheduler has seen since it started.
    seen: Mutex<HashSet<Id>>,
    cancels: Mutex<HashMap<Id, Arc<AtomicBool>>>,
    slots: Arc<tokio::sync::Semaphore>,
    done: tokio::sync::Notify,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            wake: tokio::sync::Notify::new(),
            stop: AtomicBool::new(false),
            running: Mutex::new(HashSet::new()),
            seen: Mutex::new(HashSet::new()),
            cancels: Mutex::new(HashMap::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_RUNS)),
            done: tokio::sync::Notify::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    /// Makes the scheduler look at the tasks again now (after a change).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks a run in progress to stop; `false` if it is not running here.
    pub fn cancel(&self, run: Id) -> bool {
        match lock(&self.cancels).get(&run) {
            Some(c) => {
                c.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Starts the scheduling loop over `app`'s tasks.
    pub fn start(app: crate::App) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { run_loop(app).await })
    }

    /// Stops scheduling and waits (bounded) for the runs in progress.
    pub async fn stop(&self, handle: tokio::task::JoinHandle<()>) {
        self.stop.store(true, Ordering::Relaxed);
        for c in lock(&self.cancels).values() {
            c.store(true, Ordering::Relaxed);
        }
        self.wake.notify_one();
        let _ = handle.await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !lock(&self.running).is_empty() && tokio::time::Instant::now() < deadline {
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(50), self.done.notified())
                    .await;
        }
    }
}

/// A run to execute.
struct Job {
    task: Task,
    scheduled_for: i64,
    requested_at: Option<i64>,
    run_id: Id,
}

/// As InfluxDB on start (`NotifyCoordinatorOfExisting`): every active task resumes from now,
/// so the time the server was down is not caught up.
fn resume_from_now(meta: &MetaStore, sched: &Scheduler) -> Result<(), meta::Error> {
    let now = Time::now();
    let active = meta.list_tasks(&meta::TaskFilter {
        status: Some("active".into()),
        task_type: Some("*".into()),
        ..meta::TaskFilter::default()
    })?;
    for t in active {
        lock(&sched.seen).insert(t.id);
        meta.update_task(t.id, |t| {
            if time_ns(&now) > time_ns(&t.latest_completed) {
                t.latest_completed = now;
            }
            t.latest_scheduled = now;
            Ok(())
        })?;
    }
    Ok(())
}

/// Puts a manual run not started before shutdown back in its queue (a scheduled one is simply
/// due again after the restart).
fn requeue(meta: &MetaStore, job: &Job) {
    let Some(requested) = job.requested_at else {
        return;
    };
    let run = Run {
        id: job.run_id,
        task_id: job.task.id,
        status: "scheduled".into(),
        scheduled_for: time_of(job.scheduled_for),
        run_at: time_of(job.scheduled_for),
        started_at: meta::zero_time(),
        finished_at: meta::zero_time(),
        requested_at: time_of(requested),
        log: Vec::new(),
    };
    if let Err(e) = meta.queue_manual_run(&run) {
        tracing::warn!(task = %job.task.id, error = %e, "requeueing a manual run failed");
    }
}

/// The runs due now, grouped by task (manual runs first), each task marked running; and when
/// to look again at the latest.
fn due_jobs(
    meta: &MetaStore,
    sched: &Scheduler,
    now: i64,
) -> Result<(Vec<Vec<Job>>, i64), meta::Error> {
    let tasks = meta.list_tasks(&meta::TaskFilter {
        status: Some("active".into()),
        task_type: Some("*".into()),
        ..meta::TaskFilter::default()
    })?;
    let mut next_wake = now + NS;
    let mut due = Vec::new();
    for mut task in tasks {
        if lock(&sched.running).contains(&task.id) {
            continue;
        }
        // A task first seen while running (e.g. one a KV restore brought) resumes from now
        // unless it is new, as InfluxDB schedules the tasks it is told about.
        if lock(&sched.seen).insert(task.id) && time_ns(&task.latest_completed) < now - NS {
            let at = time_of(now);
            if let Some(t) = meta.update_task(task.id, |t| {
                t.latest_completed = at;
                t.latest_scheduled = at;
                Ok(())
            })? {
                task = t;
            }
        }
        let mut jobs = Vec::new();
        if !meta.manual_runs(task.id)?.is_empty() {
            for r in meta.take_manual_runs(task.id)? {
                jobs.push(Job {
                    task: task.clone(),
                    scheduled_for: time_ns(&r.scheduled_for),
                    requested_at: Some(time_ns(&r.requested_at)),
                    run_id: r.id,
                });
            }
        }
        if let Ok(schedule) = Schedule::of(&task) {
            let offset = parse_go_duration(&task.offset).unwrap_or(0);
            if let Some(next) = schedule.next_after(time_ns(&task.latest_completed)) {
                let at = next.saturating_add(offset);
                if at <= now {
                    jobs.push(Job {
                        task: task.clone(),
                        scheduled_for: next,
                        requested_at: None,
                        run_id: Id::generate(),
                    });
                } else {
                    next_wake = next_wake.min(at);
                }
            }
        }
        if !jobs.is_empty() {
            lock(&sched.running).insert(task.id);
            due.push(jobs);
        }
    }
    Ok((due, next_wake))
}

async fn run_loop(app: crate::App) {
    let sched = Arc::clone(&app.tasks);
    let meta = Arc::clone(&app.meta);
    let s2 = Arc::clone(&sched);
    match tokio::task::spawn_blocking(move || resume_from_now(&meta, &s2)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "resuming tasks from now failed"),
        Err(e) => tracing::warn!(error = %e, "resuming tasks from now failed"),
    }
    loop {
        if sched.stop.load(Ordering::Relaxed) {
            return;
        }
        let (meta, s2) = (Arc::clone(&app.meta), Arc::clone(&sched));
        let scan = tokio::task::spawn_blocking(move || due_jobs(&meta, &s2, now_ns())).await;
        let (due, next_wake) = match scan {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "listing tasks to run failed");
                (Vec::new(), now_ns() + NS)
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing tasks to run failed");
                (Vec::new(), now_ns() + NS)
            }
        };
        for jobs in due {
            let Some(task_id) = jobs.first().map(|j| j.task.id) else {
                continue;
            };
            let app = app.clone();
            let slots = Arc::clone(&sched.slots);
            tokio::spawn(async move {
                let _permit = slots.acquire_owned().await;
                let sched = Arc::clone(&app.tasks);
                let a = app.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for job in jobs {
                        if a.tasks.stop.load(Ordering::Relaxed) {
                            requeue(&a.meta, &job);
                            continue;
                        }
                        execute(&a, job);
                    }
                })
                .await;
                lock(&sched.running).remove(&task_id);
                sched.done.notify_waiters();
                sched.wake();
            });
        }
        let wait = std::time::Duration::from_nanos(
            next_wake.saturating_sub(now_ns()).max(1_000_000) as u64,
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = sched.wake.notified() => {}
        }
    }
}

fn log_line(run: Id, message: String) -> RunLog {
    RunLog {
        run_id: Some(run),
        time: rfc3339_nano(&Time::now()),
        message,
    }
}

/// Runs one job to its end and records it.
fn execute(app: &crate::App, job: Job) {
    let Job {
        task,
        scheduled_for,
        requested_at,
        run_id,
    } = job;
    let meta = &app.meta;
    let cancel = Arc::new(AtomicBool::new(false));
    lock(&app.tasks.cancels).insert(run_id, Arc::clone(&cancel));
    let mut run = Run {
        id: run_id,
        task_id: task.id,
        status: "started".into(),
        scheduled_for: time_of(scheduled_for),
        run_at: time_of(scheduled_for.saturating_add(parse_go_duration(&task.offset).unwrap_or(0))),
        started_at: Time::now(),
        finished_at: meta::zero_time(),
        requested_at: requested_at.map_or_else(meta::zero_time, time_of),
        log: Vec::new(),
    };
    run.log.push(log_line(
        run_id,
        format!("Started task from script: {}", go_quote(&task.flux)),
    ));
    if let Err(e) = meta.put_task_run(&run) {
        tracing::warn!(task = %task.id, error = %e, "recording a task run failed");
    }
    let outcome = run_flux(app, &task, scheduled_for, &cancel);
    lock(&app.tasks.cancels).remove(&run_id);
    let status = match &outcome {
        Ok(()) => "success",
        Err(_) if cancel.load(Ordering::Relaxed) => "canceled",
        Err(_) => "failed",
    };
    // As InfluxDB's executor: the status line, then the error.
    run.log
        .push(log_line(run_id, format!("Completed({status})")));
    if let Err(e) = &outcome {
        run.log.push(log_line(run_id, e.clone()));
    }
    run.status = status.into();
    run.finished_at = Time::now();
    // As InfluxDB's FinishRun: the task is updated and the run leaves `taskRunsv1`, then the
    // run is written into `_tasks`.
    let sf = run.scheduled_for;
    // As InfluxDB's `FinishRun`: the second to last log line of a failed run.
    let err_msg = if status == "failed" {
        let n = run.log.len();
        run.log
            .get(n.saturating_sub(2))
            .map(|l| l.message.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let res = meta.update_task(task.id, |t| {
        if time_ns(&sf) > time_ns(&t.latest_completed) {
            t.latest_completed = sf;
        }
        if time_ns(&sf) > time_ns(&t.latest_scheduled) {
            t.latest_scheduled = sf;
        }
        if status == "failed" {
            t.latest_failure = sf;
        } else {
            t.latest_success = sf;
        }
        t.last_run_status = status.into();
        t.last_run_error = err_msg;
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(task = %task.id, error = %e, "updating a task after its run failed");
    }
    let _ = meta.delete_task_run(task.id, run_id);
    if let Err(e) = write_run_point(app, &task, &run) {
        tracing::warn!(task = %task.id, error = %e, "writing a task run into _tasks failed");
    }
}

/// The permissions a task runs with: those of its owner.
pub fn owner_auth(meta: &MetaStore, task: &Task) -> Result<Auth, String> {
    let perms = crate::auth::user_permissions(meta, task.owner_id).map_err(|e| e.to_string())?;
    Ok(Auth {
        credential: Credential::Token {
            auth_id: task.owner_id,
        },
        user_id: Some(task.owner_id),
        org_id: Some(task.org_id),
        perms,
    })
}

fn run_flux(
    app: &crate::App,
    task: &Task,
    now: i64,
    cancel: &Arc<AtomicBool>,
) -> Result<(), String> {
    let auth = owner_auth(&app.meta, task)?;
    let secrets = crate::routes::secrets::OrgSecrets::lookup(&app.meta, task.org_id, &auth);
    let source = EngineSource {
        meta: Arc::clone(&app.meta),
        engine: Arc::clone(&app.engine),
        org_id: task.org_id,
        auth: auth.clone(),
    };
    let sink = EngineSink {
        meta: Arc::clone(&app.meta),
        engine: Arc::clone(&app.engine),
        org_id: task.org_id,
        auth,
    };
    let options = query::Options {
        now,
        latest_success: (!is_zero(&task.latest_success)).then(|| time_ns(&task.latest_success)),
        cancel: Some(Arc::clone(cancel)),
        memory_limit: (app.query_memory_bytes > 0).then_some(app.query_memory_bytes),
        secrets,
        ..query::Options::default()
    };
    // Worded as InfluxDB's executor words a failed run: a script that does not parse, one the
    // query service refuses, and errors met while reading the results.
    query::execute_with_sink(&task.flux, &source, Some(&sink), &options)
        .map(|_| ())
        .map_err(|e| match e {
            query::QueryError::Parse(_) => format!("could not parse Flux script: {e}"),
            query::QueryError::NoStreamingData => format!("unexpected error from queryd: {e}"),
            e => format!("error exhausting result iterator: {e}"),
        })
}

/// The org's `_tasks` bucket.
pub fn tasks_bucket(meta: &MetaStore, org: Id) -> Result<Option<meta::Bucket>, meta::Error> {
    let f = BucketFilter {
        org_id: Some(org),
        name: Some("_tasks".into()),
        ..BucketFilter::default()
    };
    Ok(meta
        .list_buckets(&f, &FindOptions::default())?
        .into_iter()
        .find(|b| b.bucket_type == BucketType::System))
}

fn write_run_point(app: &crate::App, task: &Task, run: &Run) -> Result<(), String> {
    let Some(bucket) = tasks_bucket(&app.meta, task.org_id).map_err(|e| e.to_string())? else {
        return Err("the org has no _tasks bucket".into());
    };
    let logs = serde_json::to_string(&run.log).map_err(|e| e.to_string())?;
    let requested = if is_zero(&run.requested_at) {
        "0001-01-01T00:00:00Z".to_string()
    } else {
        rfc3339_nano(&run.requested_at)
    };
    let started = time_ns(&run.started_at);
    let tags = vec![
        ("status".to_string(), run.status.clone()),
        ("taskID".to_string(), task.id.to_string()),
    ];
    let fields = [
        ("finishedAt", rfc3339_nano(&run.finished_at)),
        ("logs", logs),
        ("requestedAt", requested),
        ("runID", run.id.to_string()),
        ("scheduledFor", rfc3339_nano(&run.scheduled_for)),
        ("startedAt", rfc3339_nano(&run.started_at)),
    ];
    let points: Vec<WritePoint> = fields
        .into_iter()
        .map(|(k, v)| WritePoint {
            measurement: "runs".into(),
            tags: tags.clone(),
            field: k.into(),
            value: Value::String(v),
            time: started,
        })
        .collect();
    let body = query::to::line_protocol(&points);
    app.engine
        .write_lines(
            bucket.id.get(),
            body.as_bytes(),
            storage::Precision::Nanoseconds,
            now_ns(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Which finished runs to read.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only the run with this ID.
    pub run_id: Option<Id>,
    /// Only runs with a greater ID.
    pub after: Option<Id>,
    /// Only runs scheduled strictly after / before these times (ns).
    pub after_time: Option<i64>,
    pub before_time: Option<i64>,
    /// At most this many (0: all).
    pub limit: usize,
}

/// A finished run's key in `_tasks`: its point time and status tag.
type RunKey = (i64, String);

fn read_run_fields(
    app: &crate::App,
    bucket: u64,
    task: Id,
    start: i64,
    stop: i64,
    fields: &[&str],
) -> Result<std::collections::BTreeMap<RunKey, HashMap<String, String>>, String> {
    let mut req = storage::ReadRequest::all(bucket, start, stop);
    req.measurement = Some("runs".into());
    let mut p = vec![storage::Predicate::Eq("taskID".into(), task.to_string())];
    if !fields.is_empty() {
        p.push(storage::Predicate::Or(
            fields
                .iter()
                .map(|f| storage::Predicate::Eq("_field".into(), (*f).into()))
                .collect(),
        ));
    }
    req.predicate = storage::Predicate::And(p);
    let mut rows: std::collections::BTreeMap<RunKey, HashMap<String, String>> =
        std::collections::BTreeMap::new();
    for s in app.engine.read(&req) {
        let s = s.map_err(|e| e.to_string())?;
        let status = s
            .tags
            .iter()
            .find(|(k, _)| k == "status")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if let storage::values::Values::String(v) = s.values {
            for (t, val) in v {
                rows.entry((t, status.clone()))
                    .or_default()
                    .insert(s.field.clone(), val);
            }
        }
    }
    Ok(rows)
}

/// The finished runs of a task, read from the org's `_tasks` bucket, newest scheduled first.
///
/// Two reads: the `runID` and `scheduledFor` of every run pick the runs wanted, then only the
/// time span of those is read whole (logs are the bulk of the data).
pub fn finished_runs(app: &crate::App, task: &Task, q: &RunQuery) -> Result<Vec<Run>, String> {
    let Some(bucket) = tasks_bucket(&app.meta, task.org_id).map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    let b = bucket.id.get();
    let keys = read_run_fields(
        app,
        b,
        task.id,
        i64::MIN + 1,
        i64::MAX,
        &["runID", "scheduledFor"],
    )?;
    let mut picked: Vec<(i64, Id, RunKey)> = keys
        .into_iter()
        .filter_map(|(k, f)| {
            let id = f.get("runID")?.parse::<Id>().ok()?;
            let sf = f
                .get("scheduledFor")
                .and_then(|v| v.parse::<Time>().ok())
                .map_or(i64::MIN, |t| time_ns(&t));
            Some((sf, id, k))
        })
        .filter(|(sf, id, _)| {
            q.run_id.is_none_or(|r| r == *id)
                && q.after.is_none_or(|a| *id > a)
                && q.after_time.is_none_or(|t| *sf > t)
                && q.before_time.is_none_or(|t| *sf < t)
        })
        .collect();
    picked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    if q.limit > 0 {
        picked.truncate(q.limit);
    }
    let (Some(lo), Some(hi)) = (
        picked.iter().map(|p| p.2.0).min(),
        picked.iter().map(|p| p.2.0).max(),
    ) else {
        return Ok(Vec::new());
    };
    let mut full = read_run_fields(app, b, task.id, lo, hi.saturating_add(1), &[])?;
    let mut out = Vec::with_capacity(picked.len());
    for (_, id, key) in picked {
        let Some(f) = full.remove(&key) else {
            continue;
        };
        let parse_t = |k: &str| -> Time {
            f.get(k)
                .and_then(|v| v.parse::<Time>().ok())
                .unwrap_or_else(meta::zero_time)
        };
        let log: Vec<RunLog> = f
            .get("logs")
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_default();
        let scheduled_for = parse_t("scheduledFor");
        out.push(Run {
            id,
            task_id: task.id,
            status: key.1,
            run_at: scheduled_for,
            scheduled_for,
            started_at: parse_t("startedAt"),
            finished_at: parse_t("finishedAt"),
            requested_at: parse_t("requestedAt"),
            log,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        time_ns(&s.parse::<Time>().unwrap_or_else(|_| meta::zero_time()))
    }

    #[test]
    fn options_as_influxdb_reads_them() {
        let o = parse_options(
            "option task = {name: \"ds\", every: 1h30m, offset: 5m}\nfrom(bucket: \"b\") |> range(start: -1h)",
        );
        assert_eq!(
            o,
            Ok(TaskOptions {
                name: "ds".into(),
                every: "1h30m".into(),
                cron: String::new(),
                offset: "5m0s".into(),
            })
        );
        let c = parse_options("option task = {name: \"c\", cron: \"*/5 * * * *\"}\n1");
        assert_eq!(c.map(|o| o.cron), Ok("*/5 * * * *".to_string()));
        assert_eq!(
            parse_options("from(bucket: \"b\")"),
            Err("no task options defined".into())
        );
        assert_eq!(
            parse_options("option task = {every: 1h}"),
            Err("missing name in task options".into())
        );
        assert_eq!(
            parse_options("option task = {name: \"x\", every: 1h, cron: \"* * * * *\"}"),
            Err("cannot use both cron and every in task options".into())
        );
        assert!(parse_options("option task = {name: \"x\"}").is_err());
        assert!(parse_options("option task = {name: \"x\", cron: \"61 * * * *\"}").is_err());
        assert!(parse_options("option task = {name: \"x\", every: 1mo}").is_err());
        assert_eq!(
            parse_options("option task = {name: \"x\", every: 500ms}"),
            Err("every option must be at least 1 second".into())
        );
        assert_eq!(
            parse_options("option task = {name: \"x\", every: 1500ms}"),
            Err("every option must be expressible as whole seconds".into())
        );
        assert_eq!(
            parse_options("option task = {name: \"x\", every: 1m, offset: 10ms}"),
            Err("offset option must be expressible as whole seconds".into())
        );
        assert!(parse_options("option task = {name: \"x\", every: 1m, concurrency: 2}").is_ok());
        assert!(parse_options("option task = {name: \"x\", every: 1h").is_err());
    }

    #[test]
    fn every_aligns_to_the_epoch() {
        let s = Schedule::Every(3600 * NS);
        assert_eq!(
            s.next_after(at("2024-01-01T10:20:00Z")),
            Some(at("2024-01-01T11:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2024-01-01T11:00:00Z")),
            Some(at("2024-01-01T12:00:00Z"))
        );
        let s = Schedule::Every(NS);
        assert_eq!(s.next_after(5 * NS + 1), Some(6 * NS));
    }

    #[test]
    fn cron_next_times() {
        let c = Cron::parse("*/15 * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2024-01-01T10:20:00Z")),
            Some(at("2024-01-01T10:30:00Z"))
        );
        let c = Cron::parse("0 9 * * 1-5").unwrap_or_else(|e| panic!("{e}"));
        // 2024-01-06 is a Saturday: next is Monday the 8th.
        assert_eq!(
            c.next_after(at("2024-01-05T09:00:00Z")),
            Some(at("2024-01-08T09:00:00Z"))
        );
        let c = Cron::parse("30 0 0 1 * *").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2024-01-15T00:00:00Z")),
            Some(at("2024-02-01T00:00:30Z"))
        );
        // Both day fields restricted: either matches (the 13th, or any Friday).
        let c = Cron::parse("0 0 13 * 5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2024-01-01T00:00:00Z")),
            Some(at("2024-01-05T00:00:00Z"))
        );
        let c = Cron::parse("@hourly").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.next_after(at("2024-01-01T10:59:59Z")),
            Some(at("2024-01-01T11:00:00Z"))
        );
        assert!(Cron::parse("* * *").is_err());
        assert!(Cron::parse("0 0 32 * *").is_err());
    }

    #[test]
    fn go_forms() {
        assert_eq!(go_quote("a \"b\"\n\tc\\"), "\"a \\\"b\\\"\\n\\tc\\\\\"");
        assert_eq!(go_duration_ns(0), "0s");
        assert_eq!(go_duration_ns(-30 * NS), "-30s");
        assert_eq!(parse_go_duration("5m0s"), Some(300 * NS));
        assert_eq!(parse_go_duration("1h"), Some(3600 * NS));
        assert_eq!(parse_go_duration("-1.5s"), Some(-1_500_000_000));
        assert_eq!(parse_go_duration("x"), None);
    }
}
