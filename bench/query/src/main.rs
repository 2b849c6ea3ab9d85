//! Data loader and query timer for `bench/query/run.sh`.
//!
//! `load` writes the data set as line protocol over two keep-alive HTTP connections:
//! * `dash`: `--series` series (`host=h00000..`, `rack=r0..r9` so each rack holds a tenth of
//!   them), one float field `v`, one point every 10 s for `--points` rounds from
//!   2026-01-01T00:00:00Z; batches hold whole rounds' slices, as agents write;
//! * `day`: one series (`sensor=s1`) with a float field `v` every second for a day.
//!
//! With `--v1-db DB` the load goes to the 1.x `/write?db=DB` instead, which InfluxDB 1.x also
//! takes, so that both servers hold the same points.
//!
//! `time` sends each Flux query (as the InfluxDB UI does: JSON body, annotated CSV with all
//! annotations) `--warmup` times, then `--runs` times, reading the whole answer each time, and
//! prints one line per query: name, median ms, min ms, max ms, the first (cold) run's ms,
//! answer rows and bytes, and a hash of the answer (FNV-1a, its top 32 bits). `time-influxql` does the same for InfluxQL queries sent as Grafana
//! sends them (`GET /query?db=..&epoch=ms&q=..`, JSON answer), rows being the values of every
//! series.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the data set.
    Load {
        /// Server URL, e.g. http://127.0.0.1:18090
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value = "bench")]
        org: String,
        #[arg(long, default_value = "bench")]
        bucket: String,
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        /// Points per `dash` series.
        #[arg(long, default_value_t = 1_000)]
        points: usize,
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        /// Write through the 1.x `/write?db=` into this database instead.
        #[arg(long)]
        v1_db: Option<String>,
    },
    /// Time queries: each argument is NAME=FLUX.
    Time {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value = "bench")]
        org: String,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 9)]
        runs: usize,
        queries: Vec<String>,
    },
    /// Time InfluxQL queries: each argument is NAME=INFLUXQL.
    TimeInfluxql {
        #[arg(long)]
        url: String,
        /// Sent as `Authorization: Token ..` when given.
        #[arg(long)]
        token: Option<String>,
        #[arg(long, default_value = "bench")]
        db: String,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 9)]
        runs: usize,
        queries: Vec<String>,
    },
}

fn value(i: u64) -> f64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (x % 100_000) as f64 / 100.0
}

fn bodies(series: usize, points: usize, batch: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut body = String::with_capacity(batch * 64);
    let mut n = 0;
    let mut flush = |body: &mut String, n: &mut usize, force: bool| {
        if *n > 0 && (force || *n >= batch) {
            out.push(std::mem::replace(body, String::with_capacity(batch * 64)));
            *n = 0;
        }
    };
    for round in 0..points {
        let t = T0 + round as u64 * 10;
        for s in 0..series {
            let _ = writeln!(
                body,
                "dash,host=h{s:05},rack=r{} v={} {t}",
                s % 10,
                value((round * series + s) as u64)
            );
            n += 1;
            flush(&mut body, &mut n, false);
        }
    }
    for i in 0..86_400u64 {
        let _ = writeln!(body, "day,sensor=s1 v={} {}", value(i), T0 + i);
        n += 1;
        flush(&mut body, &mut n, false);
    }
    flush(&mut body, &mut n, true);
    out
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .into()
}

struct Target<'a> {
    url: &'a str,
    token: &'a str,
    org: &'a str,
    bucket: &'a str,
    v1_db: Option<&'a str>,
}

fn load(target: &Target<'_>, series: usize, points: usize, batch: usize) {
    let Target { url, token, org, bucket, v1_db } = *target;
    let bodies = bodies(series, points, batch);
    let lines = series * points + 86_400;
    let write = match v1_db {
        Some(db) => format!("{url}/write?db={db}&precision=s"),
        None => format!("{url}/api/v2/write?org={org}&bucket={bucket}&precision=s"),
    };
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let agent = agent();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let resp = agent
                        .post(&write)
                        .header("Authorization", &format!("Token {token}"))
                        .send(body.as_str())
                        .unwrap_or_else(|e| panic!("write: {e}"));
                    assert_eq!(resp.status(), 204, "write answered {}", resp.status());
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!("loaded {lines} points in {secs:.1} s ({:.0} points/s)", lines as f64 / secs);
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The whole body of a query's answer, which must be a 200.
fn answer(name: &str, sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> String {
    let mut resp = sent.unwrap_or_else(|e| panic!("query {name}: {e}"));
    let status = resp.status();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap_or_else(|e| panic!("query {name}: {e}"));
    assert_eq!(status, 200, "query {name} answered {status}: {text}");
    text
}

/// FNV-1a of an answer, so that tables can show whether two servers answered alike.
fn fnv(text: &str) -> u64 {
    text.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// What one run of a query took and answered: time, rows, bytes, answer hash.
type Run = (Duration, usize, usize, u64);

/// Runs `once` `warmup` then `runs` times and prints the line of one query.
fn report(name: &str, warmup: usize, runs: usize, once: impl Fn() -> Run) {
    let mut first = None;
    for _ in 0..warmup {
        first.get_or_insert(once().0.as_secs_f64() * 1000.0);
    }
    let mut times = Vec::new();
    let (mut rows, mut bytes, mut hash) = (0, 0, 0);
    for _ in 0..runs {
        let (t, r, b, h) = once();
        times.push(t.as_secs_f64() * 1000.0);
        (rows, bytes, hash) = (r, b, h);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{name}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{rows}\t{bytes}\t{:08x}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        first.unwrap_or(f64::NAN),
        hash >> 32,
    );
}

fn time_influxql(url: &str, token: Option<&str>, db: &str, warmup: usize, runs: usize, queries: &[String]) {
    let agent = agent();
    let endpoint = format!("{url}/query");
    for q in queries {
        let (name, ql) = q.split_once('=').expect("NAME=INFLUXQL");
        report(name, warmup, runs, || {
            let start = Instant::now();
            let mut req = agent.get(&endpoint).query("db", db).query("epoch", "ms").query("q", ql);
            if let Some(t) = token {
                req = req.header("Authorization", &format!("Token {t}"));
            }
            let text = answer(name, req.call());
            let took = start.elapsed();
            let v: serde_json::Value = serde_json::from_str(&text).expect("JSON answer");
            let mut rows = 0;
            for r in v["results"].as_array().expect("results") {
                assert!(r.get("error").is_none(), "query {name}: {r}");
                for s in r["series"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    rows += s["values"].as_array().map_or(0, Vec::len);
                }
            }
            (took, rows, text.len(), fnv(&text))
        });
    }
}

fn time(url: &str, token: &str, org: &str, warmup: usize, runs: usize, queries: &[String]) {
    let agent = agent();
    let endpoint = format!("{url}/api/v2/query?org={org}");
    for q in queries {
        let (name, flux) = q.split_once('=').expect("NAME=FLUX");
        let body = format!(
            "{{\"query\":{},\"type\":\"flux\",\"dialect\":{{\"annotations\":[\"group\",\"datatype\",\"default\"],\"header\":true,\"delimiter\":\",\"}}}}",
            json_string(flux)
        );
        report(name, warmup, runs, || {
            let start = Instant::now();
            let sent = agent
                .post(&endpoint)
                .header("Authorization", &format!("Token {token}"))
                .header("Content-Type", "application/json")
                .send(body.as_str());
            let text = answer(name, sent);
            let took = start.elapsed();
            let rows = text
                .lines()
                .filter(|l| l.starts_with(",,") || l.starts_with(",_result,"))
                .count();
            (took, rows, text.len(), fnv(&text))
        });
    }
}

fn main() {
    match Cli::parse().command {
        Cmd::Load { url, token, org, bucket, series, points, batch, v1_db } => {
            let target = Target { url: &url, token: &token, org: &org, bucket: &bucket, v1_db: v1_db.as_deref() };
            load(&target, series, points, batch)
        }
        Cmd::TimeInfluxql { url, token, db, warmup, runs, queries } => {
            time_influxql(&url, token.as_deref(), &db, warmup, runs, &queries)
        }
        Cmd::Time { url, token, org, warmup, runs, queries } => {
            time(&url, &token, &org, warmup, runs, &queries)
        }
    }
}
