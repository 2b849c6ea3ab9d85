//! Line-protocol load generator for `bench/ingest/run.sh`: sends batches of line protocol over a
//! few keep-alive HTTP connections to one write URL and prints points per second.
//!
//! The data set is `--series` series of one measurement with two tags and four fields (float,
//! integer, float, boolean), each series written once per round, rounds 10 s apart in time, so
//! every batch holds `--batch` distinct series at one timestamp. All batches are generated before
//! the clock starts, so the generator's own cost stays out of the measurement.

use clap::Parser;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Full write URL, e.g. http://127.0.0.1:8086/api/v2/write?org=o&bucket=b&precision=s
    #[arg(long)]
    url: String,
    /// Value of the Authorization header, if any (e.g. "Token abc").
    #[arg(long)]
    auth: Option<String>,
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// Total points (lines) to send; each line carries four field values.
    #[arg(long, default_value_t = 2_000_000)]
    lines: usize,
    #[arg(long, default_value_t = 2)]
    connections: usize,
}

fn batches(args: &Args) -> Vec<String> {
    let start_s: u64 = 1_700_000_000;
    let mut out = Vec::new();
    let mut line = 0usize;
    while line < args.lines {
        let mut body = String::with_capacity(args.batch * 96);
        for _ in 0..args.batch.min(args.lines - line) {
            let s = line % args.series;
            let round = (line / args.series) as u64;
            let x = (line as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            let _ = writeln!(
                body,
                "bench,host=host-{s:05},region=r{} usage={}.{:02},count={}i,load={},up={} {}",
                s % 16,
                x % 100,
                x % 97,
                x % 10_000,
                (x % 1000) as f64 / 7.0,
                x % 3 != 0,
                start_s + round * 10
            );
            line += 1;
        }
        out.push(body);
    }
    out
}

fn main() {
    let args = Args::parse();
    let bodies = batches(&args);
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let errors = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..args.connections {
            scope.spawn(|| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(120)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let mut req = agent.post(&args.url).header("Content-Type", "text/plain");
                    if let Some(auth) = &args.auth {
                        req = req.header("Authorization", auth);
                    }
                    match req.send(body.as_bytes()) {
                        Ok(resp) if resp.status().is_success() => {}
                        Ok(mut resp) => {
                            let status = resp.status();
                            let text = resp.body_mut().read_to_string().unwrap_or_default();
                            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("batch {i}: HTTP {status}: {text}");
                            }
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("batch {i}: {e}");
                            }
                        }
                    }
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "lines={} values={} seconds={:.3} lines_per_s={:.0} values_per_s={:.0} failed_batches={}",
        args.lines,
        args.lines * 4,
        secs,
        args.lines as f64 / secs,
        args.lines as f64 * 4.0 / secs,
        errors
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
