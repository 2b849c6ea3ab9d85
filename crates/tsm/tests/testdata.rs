//! Reads every TSM file written by real InfluxDB under `../shared/testdata/influxdb1/tsm/`
//! and checks it against the oracle dump beside it, then re-encodes every block and checks
//! the bytes are identical to InfluxDB's.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tsm::{Block, TsmReader, Values, block};

fn tsm_files() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "tsm") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&testdata::dir().join("influxdb1/tsm"), &mut v);
    v.sort();
    assert!(
        v.len() >= 5,
        "expected the reference TSM files, found {v:?}"
    );
    v
}

fn dump_of(tsm: &Path) -> Vec<Value> {
    let p = tsm.with_extension("dump.jsonl.gz");
    let f = std::fs::File::open(&p).unwrap();
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(f)
        .read_to_string(&mut s)
        .unwrap();
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn value_matches(got: &Values, i: usize, want: &Value) -> bool {
    match got {
        Values::Float(v) => want.as_f64() == Some(v[i]),
        Values::Integer(v) => want.as_i64() == Some(v[i]),
        Values::Unsigned(v) => want.as_u64() == Some(v[i]),
        Values::Boolean(v) => want.as_bool() == Some(v[i]),
        Values::String(v) => want.as_str().map(str::as_bytes) == v.get(i),
    }
}

#[test]
fn reader_matches_influxdb_dump() {
    let mut blocks = 0;
    for path in tsm_files() {
        let r = TsmReader::open(&path).unwrap();
        r.verify().unwrap();
        let dump = dump_of(&path);
        let head = &dump[0];
        assert_eq!(head["size"].as_u64(), Some(r.size()), "{path:?}");
        assert_eq!(head["index_size"].as_u64(), Some(r.index_size()));
        assert_eq!(head["key_count"].as_u64(), Some(r.key_count() as u64));
        let (kmin, kmax) = r.key_range();
        assert_eq!(head["min_key"].as_str().unwrap().as_bytes(), kmin);
        assert_eq!(head["max_key"].as_str().unwrap().as_bytes(), kmax);
        let (tmin, tmax) = r.time_range();
        assert_eq!(head["min_time"].as_i64(), Some(tmin));
        // InfluxDB starts its max-time scan at 0.
        assert_eq!(head["max_time"].as_i64(), Some(tmax.max(0)));
        assert_eq!(dump.len() - 1, r.key_count());
        for (i, rec) in dump[1..].iter().enumerate() {
            let (key, typ) = r.key_at(i).unwrap();
            assert_eq!(rec["key"].as_str().unwrap().as_bytes(), key);
            assert_eq!(rec["type"].as_u64(), Some(typ as u64));
            let want_blocks = rec["blocks"].as_array().unwrap();
            let entries: Vec<_> = r.entries_at(i).collect();
            assert_eq!(entries.len(), want_blocks.len());
            let mut all = Block::new(typ);
            for (e, wb) in entries.iter().zip(want_blocks) {
                blocks += 1;
                assert_eq!(wb["min_time"].as_i64(), Some(e.min_time));
                assert_eq!(wb["max_time"].as_i64(), Some(e.max_time));
                assert_eq!(wb["offset"].as_u64(), Some(e.offset));
                assert_eq!(wb["size"].as_u64(), Some(u64::from(e.size)));
                let (crc, data) = r.block_bytes(e).unwrap();
                assert_eq!(wb["crc32"].as_u64(), Some(u64::from(crc)));
                assert_eq!(wb["block_type"].as_u64(), Some(typ as u64));
                assert_eq!(
                    wb["count"].as_u64(),
                    Some(block::count(data).unwrap() as u64)
                );
                let b = r.read_block(e).unwrap();
                let times: Vec<i64> = wb["times"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_i64().unwrap())
                    .collect();
                assert_eq!(b.timestamps, times, "{key:?}");
                let vals = wb["values"].as_array().unwrap();
                assert_eq!(b.values.len(), vals.len());
                for (k, v) in vals.iter().enumerate() {
                    assert!(
                        value_matches(&b.values, k, v),
                        "{key:?} value {k}: {v} vs {:?}",
                        b.values
                    );
                }
                all.timestamps.extend_from_slice(&b.timestamps);
            }
            let whole = r.read_all(key).unwrap().unwrap();
            assert_eq!(whole.timestamps, all.timestamps);
        }
    }
    assert!(blocks > 40, "only {blocks} blocks");
}

#[test]
fn reencode_testdata() {
    let mut n = 0;
    for path in tsm_files() {
        let r = TsmReader::open(&path).unwrap();
        for i in 0..r.key_count() {
            let (key, _) = r.key_at(i).unwrap();
            for e in r.entries_at(i) {
                let (_, data) = r.block_bytes(&e).unwrap();
                let b = r.read_block(&e).unwrap();
                let mut out = Vec::new();
                b.encode(&mut out).unwrap();
                assert_eq!(
                    out,
                    data,
                    "{path:?} key {:?} block at {}",
                    String::from_utf8_lossy(key),
                    e.offset
                );
                n += 1;
            }
        }
    }
    assert!(n > 40);
}
