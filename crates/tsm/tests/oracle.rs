//! Files written by this crate are read by InfluxDB's own Go reader (the `tsmdump` oracle in
//! `$IRONFLUX_ORACLES`): it must decode exactly the values written, for all five value types,
//! and its JSON dump must equal this crate's `dump` output byte for byte.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tsm::{StringValues, TsmReader, TsmWriter, ValuesRef, dump, file_name};

fn oracle() -> PathBuf {
    let dir = std::env::var_os("IRONFLUX_ORACLES").expect(
        "IRONFLUX_ORACLES is not set: it must name the directory holding the tsmdump oracle \
         (build it with ../shared/oracles/build.sh DIR)",
    );
    let p = PathBuf::from(dir).join("tsmdump");
    assert!(p.exists(), "oracle {p:?} missing");
    p
}

struct Series {
    key: &'static str,
    times: Vec<i64>,
    values: Col,
}

enum Col {
    F(Vec<f64>),
    I(Vec<i64>),
    U(Vec<u64>),
    B(Vec<bool>),
    S(StringValues),
}

fn series() -> Vec<Series> {
    let base = 1_704_067_200_000_000_000i64;
    let irregular: Vec<i64> = (0..2500)
        .map(|i| base + i * 1_000_000_007 + (i * i) % 997)
        .collect();
    let strings: StringValues = (0..1200)
        .map(|i| match i % 6 {
            0 => String::new(),
            1 => format!("plain {i}"),
            2 => "quote \" backslash \\ tab\t nl\n ctl\u{1} <&>".to_string(),
            3 => "unicode ☃ 日本語 \u{2028} 😀".to_string(),
            4 => "x".repeat(3000 + i),
            _ => format!("repeat repeat repeat repeat {}", i % 3),
        })
        .collect();
    vec![
        Series {
            key: "a,host=x#!~#bool",
            times: (0..1001).map(|i| -5_000 + i * 10).collect(),
            values: Col::B((0..1001).map(|i| i % 3 == 0).collect()),
        },
        Series {
            key: "a,host=x#!~#float",
            times: irregular.clone(),
            values: Col::F(
                (0..2500)
                    .map(|i| match i % 7 {
                        0 => 0.1 * i as f64,
                        1 => -1e300,
                        2 => 1.5e-9,
                        3 => f64::MAX,
                        4 => -0.0,
                        5 => 12345.0,
                        _ => (i as f64).sqrt(),
                    })
                    .collect(),
            ),
        },
        Series {
            key: "a,host=x#!~#int",
            times: irregular[..2000].to_vec(),
            values: Col::I(
                (0..2000)
                    .map(|i| match i % 5 {
                        0 => i64::MIN,
                        1 => i64::MAX,
                        2 => -i,
                        _ => i * 1000,
                    })
                    .collect(),
            ),
        },
        Series {
            key: "a,host=x#!~#int_rle",
            times: (0..1500).map(|i| i * 10_000_000_000).collect(),
            values: Col::I((0..1500).map(|i| 7 - 3 * i).collect()),
        },
        Series {
            key: "a,host=x#!~#str",
            times: irregular[..1200].to_vec(),
            values: Col::S(strings),
        },
        Series {
            key: "a,host=x#!~#uint",
            times: irregular[..1500].to_vec(),
            values: Col::U(
                (0..1500u64)
                    .map(|i| match i % 4 {
                        0 => u64::MAX,
                        1 => 0,
                        2 => 1 << 63,
                        _ => i * i,
                    })
                    .collect(),
            ),
        },
        Series {
            key: "b\\ space,t\\=k=v\\,w#!~#odd field",
            times: vec![i64::MIN + 1, -1, 0, 1, i64::MAX],
            values: Col::I(vec![1, 2, 3, 4, 5]),
        },
    ]
}

fn check_value(col: &Col, i: usize, v: &Value) {
    match col {
        Col::F(x) => assert_eq!(v.as_f64(), Some(x[i]), "float {i}"),
        Col::I(x) => assert_eq!(v.as_i64(), Some(x[i]), "int {i}"),
        Col::U(x) => assert_eq!(v.as_u64(), Some(x[i]), "uint {i}"),
        Col::B(x) => assert_eq!(v.as_bool(), Some(x[i]), "bool {i}"),
        Col::S(x) => assert_eq!(v.as_str().map(str::as_bytes), x.get(i), "string {i}"),
    }
}

#[test]
fn influxdb_reads_files_written_here() {
    let tsmdump = oracle();
    let dir = std::env::temp_dir().join(format!("tsm-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file_name(3, 1));
    let all = series();
    let mut w = TsmWriter::create(&path).unwrap();
    for s in &all {
        let v = match &s.values {
            Col::F(x) => ValuesRef::Float(x),
            Col::I(x) => ValuesRef::Integer(x),
            Col::U(x) => ValuesRef::Unsigned(x),
            Col::B(x) => ValuesRef::Boolean(x),
            Col::S(x) => ValuesRef::String(x),
        };
        w.write(s.key.as_bytes(), &s.times, v).unwrap();
    }
    w.finish().unwrap();
    // A partial delete, so that tombstones show in both dumps.
    let mut r = TsmReader::open(&path).unwrap();
    r.delete_range(&[b"a,host=x#!~#int_rle"], 10_000_000_000, 30_000_000_000)
        .unwrap();
    r.verify().unwrap();

    let out = Command::new(&tsmdump).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "tsmdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), all.len() + 1);
    assert_eq!(lines[0]["key_count"].as_u64(), Some(all.len() as u64));
    assert_eq!(lines[0]["has_tombstones"].as_bool(), Some(true));
    assert_eq!(
        lines[4]["tombstones"],
        serde_json::json!([{"Min": 10_000_000_000i64, "Max": 30_000_000_000i64}])
    );
    for (s, rec) in all.iter().zip(&lines[1..]) {
        assert_eq!(rec["key"].as_str(), Some(s.key));
        let mut i = 0;
        for b in rec["blocks"].as_array().unwrap() {
            let times = b["times"].as_array().unwrap();
            assert!(times.len() <= 1000);
            for (t, v) in times.iter().zip(b["values"].as_array().unwrap()) {
                assert_eq!(t.as_i64(), Some(s.times[i]), "{} time {i}", s.key);
                check_value(&s.values, i, v);
                i += 1;
            }
        }
        assert_eq!(i, s.times.len(), "{}", s.key);
    }
    let types: Vec<u64> = lines[1..]
        .iter()
        .map(|l| l["type"].as_u64().unwrap())
        .collect();
    assert_eq!(types, [2, 0, 1, 1, 3, 4, 1]);

    // Our dump of the same file is byte-identical to InfluxDB's.
    let mut ours = Vec::new();
    dump::dump_files(&[&path], &mut ours).unwrap();
    let ours = String::from_utf8(ours).unwrap();
    for (a, b) in ours.lines().zip(text.lines()) {
        assert_eq!(a, b);
    }
    assert_eq!(ours.lines().count(), text.lines().count());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dump_of_testdata_matches_oracle() {
    let tsmdump = oracle();
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/influxdb1/tsm"
    );
    for rel in [
        "stateA/shard1/000000001-000000001.tsm",
        "stateA/shard4/000000001-000000001.tsm",
        "encodings/shard12/000000001-000000001.tsm",
    ] {
        let p = format!("{base}/{rel}");
        let out = Command::new(&tsmdump).arg(&p).output().unwrap();
        assert!(out.status.success());
        let mut ours = Vec::new();
        dump::dump_files(&[&p], &mut ours).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            "{rel}"
        );
    }
}

#[test]
fn influxdb_reads_10000_point_blocks() {
    // InfluxDB 2.9's aggressive compaction writes blocks of up to 10,000 points.
    let tsmdump = oracle();
    let dir = std::env::temp_dir().join(format!("tsm-oracle10k-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file_name(4, 2));
    let ts: Vec<i64> = (0..25_000).map(|i| i * 1_000_000_000 + (i % 3)).collect();
    let v: Vec<f64> = (0..25_000).map(|i| f64::from(i) * 0.5).collect();
    let mut w = TsmWriter::create(&path)
        .unwrap()
        .with_max_points_per_block(10_000);
    w.write(b"big#!~#v", &ts, ValuesRef::Float(&v)).unwrap();
    w.finish().unwrap();
    let out = Command::new(&tsmdump).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rec: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    let counts: Vec<u64> = rec["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [10_000, 10_000, 5_000]);
    let mut ours = Vec::new();
    dump::dump_files(&[&path], &mut ours).unwrap();
    assert_eq!(String::from_utf8(ours).unwrap(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tombstones_apply_as_in_influxdb() {
    // Full deletes, covering sets of ranges, ignored ranges and partial ranges: InfluxDB's
    // reader and this crate's must agree on every key, count and range.
    let tsmdump = oracle();
    let dir = std::env::temp_dir().join(format!("tsm-oracle-tomb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file_name(5, 1));
    let ts: Vec<i64> = (0..50).map(|i| i * 10).collect();
    let v: Vec<i64> = (0..50).collect();
    let keys: Vec<String> = (0..6).map(|k| format!("m,k={k}#!~#v")).collect();
    let mut w = TsmWriter::create(&path).unwrap();
    for k in &keys {
        w.write(k.as_bytes(), &ts, ValuesRef::Integer(&v)).unwrap();
    }
    w.finish().unwrap();
    let mut r = TsmReader::open(&path).unwrap();
    let k = |i: usize| keys[i].as_bytes();
    r.delete_range(&[k(0)], i64::MIN, i64::MAX).unwrap();
    r.delete_range(&[k(1)], 0, 240).unwrap();
    r.delete_range(&[k(1)], 241, 490).unwrap();
    r.delete_range(&[k(2)], 0, 100).unwrap();
    r.delete_range(&[k(2)], 300, 490).unwrap();
    r.delete_range(&[k(3)], 1000, 2000).unwrap();
    r.delete_range(&[k(4)], -100, 490).unwrap();
    r.delete_range(&[k(5)], 35, 35).unwrap();
    assert_eq!(r.live_key_count(), 3);
    drop(r);
    let out = Command::new(&tsmdump).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut ours = Vec::new();
    dump::dump_files(&[&path], &mut ours).unwrap();
    assert_eq!(String::from_utf8(ours).unwrap(), text);
    let head: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(head["key_count"].as_u64(), Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}
