//! Writes the TSM files of one shard of about `BYTES` bytes into `DIR`, for the backup/restore
//! benchmark: `backup-restore-gen DIR BYTES START_NS`.
//!
//! Four files, each holding 16 series: 8 float series (a random
//! walk with noise, so the XOR float encoding keeps most bits) and 8 integer series (random
//! values, so the simple8b/delta encoding cannot shrink them much), 1000 points per block, one
//! point per millisecond from `START_NS` on, each file covering a later time span than the one
//! before. The data barely compresses, as real TSM data, so gzip has real work to do. The files
//! are named as a shard's files after some compactions, one per level from the oldest
//! (`000000001-000000004.tsm`, level 4) to the newest (`000000004-000000001.tsm`, level 1), so
//! the server has no level compaction to start while the benchmark measures.
//! Prints the total size of the files written.

use std::path::PathBuf;

use tsm::block::ValuesRef;
use tsm::writer::TsmWriter;

const FILES: u64 = 4;
const SERIES: usize = 16;
const BLOCK: usize = 1000;
const STEP_NS: i64 = 1_000_000;

/// xorshift64*: deterministic, fast, good enough to defeat the codecs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        return Err("usage: backup-restore-gen DIR BYTES START_NS".into());
    }
    let dir = PathBuf::from(&args[1]);
    let total: u64 = args[2].parse()?;
    let start: i64 = args[3].parse()?;
    std::fs::create_dir_all(&dir)?;
    let per_file = total.div_ceil(FILES);
    let per_series = per_file / SERIES as u64;
    let mut keys: Vec<(Vec<u8>, bool)> = (0..SERIES)
        .map(|i| {
            if i % 2 == 0 {
                (format!("cpu,host=h{i:02}#!~#usage").into_bytes(), true)
            } else {
                (format!("mem,host=h{i:02}#!~#used").into_bytes(), false)
            }
        })
        .collect();
    keys.sort();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0u64;
    // Next timestamp and random-walk level of each series, carried from file to file.
    let mut next_ts = vec![start; SERIES];
    let mut level = vec![50.0f64; SERIES];
    let mut ts = vec![0i64; BLOCK];
    let mut floats = vec![0f64; BLOCK];
    let mut ints = vec![0i64; BLOCK];
    for f in 1..=FILES {
        let path = dir.join(tsm::writer::file_name(f, FILES + 1 - f));
        let mut w = TsmWriter::create(&path)?;
        for (s, (key, is_float)) in keys.iter().enumerate() {
            let target = per_series * (s as u64 + 1);
            while w.size() < target {
                for (i, t) in ts.iter_mut().enumerate() {
                    *t = next_ts[s] + i as i64 * STEP_NS;
                }
                next_ts[s] += BLOCK as i64 * STEP_NS;
                if *is_float {
                    for v in floats.iter_mut() {
                        level[s] += rng.unit() - 0.5;
                        *v = level[s] + rng.unit() * 1e-3;
                    }
                    w.write(key, &ts, ValuesRef::Float(&floats))?;
                } else {
                    for v in ints.iter_mut() {
                        *v = (rng.next() >> 8) as i64 - (1 << 55);
                    }
                    w.write(key, &ts, ValuesRef::Integer(&ints))?;
                }
            }
        }
        w.finish()?;
        written += std::fs::metadata(&path)?.len();
    }
    println!("{written}");
    Ok(())
}
