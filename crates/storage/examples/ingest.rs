//! Ingest measurement of `Engine::write_lines`: N client threads send bodies of 5,000 lines
//! (10,000 series, 4 float fields each), every write fsynced in the WAL; prints points/s and
//! the bytes on disk per point after a full compaction.
//!
//! `cargo run --release -p storage --example ingest -- [points] [threads]`

use std::sync::Arc;
use std::time::Instant;

use storage::{Engine, EngineConfig, MemoryCatalog, Precision, ShardCatalog};

fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let dir = tempfile_dir();
    let cat = Arc::new(MemoryCatalog::new());
    cat.add_bucket(1, 0, 0);
    let e = Engine::open(EngineConfig::new(&dir), cat as Arc<dyn ShardCatalog>).expect("open");
    let batches = total / 5000;
    let base: i64 = 1_700_000_000_000_000_000;
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| {
            let mut s = String::with_capacity(5000 * 100);
            for j in 0..5000 {
                let n = b * 5000 + j;
                let series = n % 10_000;
                let t = base + (n / 10_000) as i64 * 10_000_000_000;
                s.push_str(&format!(
                    "cpu,host=h{series},region=r{} user={}.5,system={},idle={}.25,iowait={} {t}\n",
                    series % 7,
                    n % 100,
                    n % 13,
                    n % 50,
                    n % 3
                ));
            }
            s.into_bytes()
        })
        .collect();
    let parse_start = Instant::now();
    let parsed: usize = bodies
        .iter()
        .map(|b| {
            storage::points::parse_lines(b, Precision::Nanoseconds, base)
                .filter(|r| r.is_ok())
                .count()
        })
        .sum();
    let pdt = parse_start.elapsed();
    println!(
        "parse only (1 thread): {parsed} points in {pdt:.2?}: {:.0} points/s",
        parsed as f64 / pdt.as_secs_f64()
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    e.write_lines(1, body, Precision::Nanoseconds, base)
                        .expect("write");
                }
            });
        }
    });
    let dt = start.elapsed();
    let points = batches * 5000;
    println!(
        "{points} points ({} values) in {dt:.2?}: {:.0} points/s",
        points * 4,
        points as f64 / dt.as_secs_f64()
    );
    e.flush().expect("flush");
    e.compact(true).expect("compact");
    let bytes = dir_size(&dir.join("data"));
    println!(
        "{bytes} bytes of TSM after full compaction: {:.2} bytes/point",
        bytes as f64 / points as f64
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ironflux-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().expect("metadata");
            n += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}
