use std::collections::BTreeMap;

use super::*;
use crate::catalog::MemoryCatalog;
use crate::points::FieldValue;
use crate::points::tests::{ground_truth, points_lp};
use crate::predicate::parse_delete_predicate;
use crate::values::Values;

const BUCKET: BucketId = 0x0837_1db1_dd8c_8000;
const NOW: i64 = 1_705_000_000_000_000_000;

type Model = BTreeMap<(String, Vec<(String, String)>, String), Vec<(i64, FieldValue)>>;

fn test_config(path: &Path) -> EngineConfig {
    EngineConfig {
        maintenance_interval: None,
        ..EngineConfig::new(path)
    }
}

fn catalog() -> Arc<MemoryCatalog> {
    let c = Arc::new(MemoryCatalog::new());
    c.add_bucket(BUCKET, 0, 0);
    c
}

fn open(path: &Path, cat: &Arc<MemoryCatalog>) -> Engine {
    Engine::open(test_config(path), Arc::clone(cat) as Arc<dyn ShardCatalog>).unwrap()
}

fn expected() -> Model {
    let mut m = Model::new();
    for (meas, tags, fields, t) in ground_truth() {
        for (f, v) in fields {
            m.entry((meas.clone(), tags.clone(), f))
                .or_default()
                .push((t, v));
        }
    }
    for v in m.values_mut() {
        v.sort_by_key(|p| p.0);
    }
    m
}

fn read_all(e: &Engine, bucket: BucketId) -> Model {
    let mut m = Model::new();
    for s in e.read(&ReadRequest::all(bucket, i64::MIN, i64::MAX)) {
        let s = s.unwrap();
        let mut tags = s.tags.clone();
        tags.sort();
        let vals: Vec<(i64, FieldValue)> = (0..s.values.len()).map(|i| s.values.get(i)).collect();
        assert!(
            vals.windows(2).all(|w| w[0].0 < w[1].0),
            "time order in {}",
            s.series_key
        );
        assert!(
            m.insert((s.measurement.clone(), tags, s.field.clone()), vals)
                .is_none()
        );
    }
    m
}

fn write_ground_truth(e: &Engine) {
    let body = points_lp();
    // Several bodies, as a client would send them.
    let mut n = 0;
    for chunk in body
        .split_inclusive(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .chunks(2000)
    {
        let part: Vec<u8> = chunk.concat();
        let st = e
            .write_lines(BUCKET, &part, Precision::Nanoseconds, NOW)
            .unwrap();
        n += st.points;
    }
    assert_eq!(n, 10_942);
}

#[track_caller]
fn assert_model_eq(got: &Model, want: &Model) {
    assert_eq!(got.len(), want.len(), "number of series/fields");
    for (k, v) in want {
        assert_eq!(got.get(k), Some(v), "{k:?}");
    }
}

fn oracle_dump(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let dir = std::env::var("IRONFLUX_ORACLES")
        .expect("IRONFLUX_ORACLES must name the directory holding the tsmdump oracle");
    let out = std::process::Command::new(Path::new(&dir).join("tsmdump"))
        .args(files)
        .output()
        .expect("run tsmdump");
    assert!(
        out.status.success(),
        "tsmdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tsm_files(e: &Engine) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (b, id) in e.shards() {
        for f in fs::read_dir(e.shard_data_dir(b, id)).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|x| x == "tsm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn ground_truth_survives_reopen_snapshot_compaction_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let want = expected();
    {
        let e = open(dir.path(), &cat);
        write_ground_truth(&e);
        assert_model_eq(&read_all(&e, BUCKET), &want);
    }
    // Reopen: everything comes back from the WAL.
    let e = open(dir.path(), &cat);
    assert_model_eq(&read_all(&e, BUCKET), &want);
    assert!(tsm_files(&e).is_empty());
    // Snapshot to TSM: WAL segments go, files appear in InfluxDB's layout.
    e.flush().unwrap();
    let files = tsm_files(&e);
    assert!(!files.is_empty());
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            name.ends_with("-000000001.tsm") && name.len() == 23,
            "{name}"
        );
        let rel = f
            .strip_prefix(dir.path())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(rel.starts_with("data/08371db1dd8c8000/autogen/"), "{rel}");
    }
    assert_model_eq(&read_all(&e, BUCKET), &want);
    // A second snapshot of rewritten points, then compaction merges levels.
    write_ground_truth(&e);
    e.flush().unwrap();
    assert!(e.compact(true).unwrap() > 0);
    for (b, id) in e.shards() {
        assert_eq!(e.shard(b, id).unwrap().files().len(), 1);
    }
    drop(e);
    let e = open(dir.path(), &cat);
    assert_model_eq(&read_all(&e, BUCKET), &want);
    // The oracle reads every file and finds exactly the points.
    let dump = oracle_dump(&tsm_files(&e));
    let points: u64 = dump
        .iter()
        .filter_map(|r| r["blocks"].as_array())
        .flatten()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    let want_values: usize = want.values().map(Vec::len).sum();
    assert!(
        dump.iter()
            .any(|r| r["key"] == r"my\ measurement\,x,k\=eq=a\,b\=c,tag\ key=va\ lue#!~#str")
    );
    assert_eq!(points as usize, want_values);

    // Delete one series in a time range and a whole measurement.
    let start = 1_704_067_200_000_000_000;
    let stop = 1_704_067_260_000_000_000;
    let pred =
        parse_delete_predicate(r#"_measurement="cpu" AND host="serverA" AND region="us-west""#)
            .unwrap();
    assert!(e.delete(BUCKET, start, stop, &pred).unwrap() > 0);
    let pred = parse_delete_predicate(r#"_measurement="my measurement,x""#).unwrap();
    assert!(e.delete(BUCKET, i64::MIN, i64::MAX, &pred).unwrap() > 0);
    let mut want_after = want.clone();
    want_after.retain(|k, _| k.0 != "my measurement,x");
    for (k, v) in want_after.iter_mut() {
        if k.0 == "cpu"
            && k.1.contains(&("host".into(), "serverA".into()))
            && k.1.contains(&("region".into(), "us-west".into()))
        {
            v.retain(|p| p.0 < start || p.0 > stop);
        }
    }
    assert_model_eq(&read_all(&e, BUCKET), &want_after);
    // InfluxDB's reader applies our v4 tombstones: a key deleted over its whole range leaves
    // its index, a partly deleted key lists the range.
    let dump = oracle_dump(&tsm_files(&e));
    let tomb = |key: &str| {
        dump.iter()
            .find(|r| r["key"] == key)
            .map(|r| r["tombstones"].as_array().map_or(0, Vec::len))
    };
    assert_eq!(
        tomb(r"my\ measurement\,x,k\=eq=a\,b\=c,tag\ key=va\ lue#!~#str"),
        None
    );
    assert_eq!(
        tomb("cpu,host=serverA,region=us-west#!~#usage_user"),
        Some(1)
    );
    assert_eq!(
        tomb("cpu,host=serverB,region=us-west#!~#usage_user").unwrap_or(0),
        0
    );
    assert!(
        !e.measurements(BUCKET)
            .contains(&"my measurement,x".to_string())
    );
    drop(e);
    let e = open(dir.path(), &cat);
    assert_model_eq(&read_all(&e, BUCKET), &want_after);
    e.compact(true).unwrap();
    assert_model_eq(&read_all(&e, BUCKET), &want_after);
    drop(e);
    let e = open(dir.path(), &cat);
    assert_model_eq(&read_all(&e, BUCKET), &want_after);
    assert!(
        !e.measurements(BUCKET)
            .contains(&"my measurement,x".to_string())
    );
}

#[test]
fn delete_of_cached_points_survives_replay() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    {
        let e = open(dir.path(), &cat);
        e.write_lines(
            BUCKET,
            b"m,h=a v=1 10\nm,h=a v=2 20\nm,h=b v=3 10",
            Precision::Nanoseconds,
            NOW,
        )
        .unwrap();
        e.delete(BUCKET, 0, 15, &parse_delete_predicate(r#"h="a""#).unwrap())
            .unwrap();
        e.write_lines(BUCKET, b"m,h=a v=4 10", Precision::Nanoseconds, NOW)
            .unwrap();
    }
    let e = open(dir.path(), &cat);
    let got: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, 0, 100))
        .map(|s| s.unwrap())
        .map(|s| (s.series_key, s.values))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "m,h=a".to_string(),
                Values::Float(vec![(10, 4.0), (20, 2.0)])
            ),
            ("m,h=b".to_string(), Values::Float(vec![(10, 3.0)]))
        ]
    );
}

#[test]
fn engine_is_shareable_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Engine>();
    shareable::<Arc<Engine>>();
    shareable::<WriteError>();
}

#[test]
fn shard_snapshot_lists_files_and_reload_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let e = open(dir.path(), &cat);
    e.write_lines(
        BUCKET,
        b"m,h=a v=1 1\nm,h=b v=2 2",
        Precision::Nanoseconds,
        NOW,
    )
    .unwrap();
    let (b, id) = e.shards()[0];
    e.delete(b, 2, 2, &parse_delete_predicate(r#"h="b""#).unwrap())
        .unwrap();
    e.write_lines(BUCKET, b"m,h=c v=3 3", Precision::Nanoseconds, NOW)
        .unwrap();
    let files = e.shard_snapshot(b, id).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|x| x == "tsm"));
    e.reload_shard(b, id).unwrap();
    let keys: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().series_key)
        .collect();
    assert_eq!(keys, vec!["m,h=a".to_string(), "m,h=c".to_string()]);
}

#[test]
fn parse_errors_reject_the_body_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &catalog());
    let err = e
        .write_lines(
            BUCKET,
            b"m v=1 1\nm\n# c\nm v=\n",
            Precision::Nanoseconds,
            NOW,
        )
        .unwrap_err();
    let WriteError::Parse(pe) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(pe.first_line(), Some(2));
    assert_eq!(
        err.to_string(),
        "unable to parse 'm': missing fields\nunable to parse 'm v=': missing field value"
    );
    assert_eq!(
        e.read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
            .count(),
        0
    );
}

#[test]
fn field_type_conflicts_drop_points_and_keep_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &catalog());
    e.write_lines(BUCKET, b"m v=1 1", Precision::Nanoseconds, NOW)
        .unwrap();
    let err = e
        .write_lines(
            BUCKET,
            b"m v=2i 2\nm v=3 3\nn v=true 3",
            Precision::Nanoseconds,
            NOW,
        )
        .unwrap_err();
    match &err {
        WriteError::PartialWrite { kind, stats, .. } => {
            assert_eq!(*kind, DropReason::FieldTypeConflict);
            assert_eq!(
                *stats,
                WriteStats {
                    points: 2,
                    values: 2,
                    dropped: 1
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "partial write: field type conflict: input field \"v\" on measurement \"m\" is type integer, already exists as type float dropped=1"
    );
    // A conflict inside one body is caught too.
    let err = e
        .write_lines(
            BUCKET,
            b"k a=1i 1\nk a=\"s\" 2",
            Precision::Nanoseconds,
            NOW,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        WriteError::PartialWrite {
            stats: WriteStats {
                points: 1,
                dropped: 1,
                ..
            },
            ..
        }
    ));
    let got: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().values)
        .collect();
    assert_eq!(
        got,
        vec![
            Values::Integer(vec![(1, 1)]),
            Values::Float(vec![(1, 1.0), (3, 3.0)]),
            Values::Boolean(vec![(3, true)])
        ]
    );
    assert_eq!(e.fields(BUCKET, "m").get("v"), Some(&FieldType::Float));
}

#[test]
fn time_as_tag_or_only_field_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &catalog());
    let err = e
        .write_lines(
            BUCKET,
            b"m,time=x v=1 1\nm time=1,v=2 2\nm time=3 3\nm,b\\,time=y v=4 4",
            Precision::Nanoseconds,
            NOW,
        )
        .unwrap_err();
    match &err {
        WriteError::PartialWrite {
            kind: DropReason::InvalidName,
            stats,
            reason,
        } => {
            assert_eq!(
                *stats,
                WriteStats {
                    points: 2,
                    values: 2,
                    dropped: 2
                }
            );
            assert_eq!(
                reason,
                "invalid tag key: input tag \"time\" on measurement \"m\" is invalid"
            );
        }
        other => panic!("{other:?}"),
    }
    let got: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| (s.as_ref().unwrap().series_key.clone(), s.unwrap().values))
        .collect();
    assert_eq!(
        got,
        vec![
            ("m".into(), Values::Float(vec![(2, 2.0)])),
            (r"m,b\,time=y".into(), Values::Float(vec![(4, 4.0)]))
        ]
    );
}

#[test]
fn retention_drops_old_points_and_expired_shard_groups() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Arc::new(MemoryCatalog::new());
    let hour = 3_600_000_000_000i64;
    cat.add_bucket(BUCKET, 24 * hour, 0);
    let e = open(dir.path(), &cat);
    let now = 1_000 * hour;
    let body = format!(
        "m v=1 {}\nm v=2 {}\nm v=3 {}",
        now - 30 * hour,
        now - 2 * hour,
        now
    );
    let err = e
        .write_lines(BUCKET, body.as_bytes(), Precision::Nanoseconds, now)
        .unwrap_err();
    match err {
        WriteError::PartialWrite {
            kind: DropReason::BeyondRetention,
            stats,
            reason,
        } => {
            assert_eq!(stats.dropped, 1);
            assert_eq!(reason, "points beyond retention policy");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cat.shards(BUCKET).unwrap().len(),
        2,
        "1-hour groups for a 1-day retention"
    );
    let dropped = e.enforce_retention(now + 23 * hour).unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(cat.shards(BUCKET).unwrap().len(), 1);
    let got: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().values)
        .collect();
    assert_eq!(got, vec![Values::Float(vec![(now, 3.0)])]);
    assert_eq!(e.shards().len(), 1);
}

#[test]
fn cache_bound_refuses_writes_until_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        cache_max_memory_bytes: 4096,
        ..test_config(dir.path())
    };
    let e = Engine::open(cfg, catalog() as Arc<dyn ShardCatalog>).unwrap();
    let mut refused = None;
    for i in 0..1000 {
        match e.write_lines(
            BUCKET,
            format!("m,t=x v={i} {i}").as_bytes(),
            Precision::Nanoseconds,
            NOW,
        ) {
            Ok(_) => {}
            Err(WriteError::CacheFull(c)) => {
                refused = Some((i, c));
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let (i, c) = refused.expect("writes refused before 1000 points");
    assert!(c.used > 4096 && i > 10);
    assert!(e.cache_bytes() <= 4096);
    e.flush().unwrap();
    assert_eq!(e.cache_bytes(), 0);
    e.write_lines(
        BUCKET,
        format!("m,t=x v={i} {i}").as_bytes(),
        Precision::Nanoseconds,
        NOW,
    )
    .unwrap();
    let n: usize = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().values.len())
        .sum();
    assert_eq!(n, i + 1);
}

#[test]
fn reads_filter_by_measurement_field_tags_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &catalog());
    e.write_lines(
        BUCKET,
        b"cpu,host=a u=1,s=2 10\ncpu,host=b u=3 20\nmem,host=a u=4 10\ncpu,host=a u=5 30",
        Precision::Nanoseconds,
        NOW,
    )
    .unwrap();
    e.flush().unwrap();
    e.write_lines(
        BUCKET,
        b"cpu,host=a u=6 30\ncpu,host=a u=7 40",
        Precision::Nanoseconds,
        NOW,
    )
    .unwrap();
    let req = ReadRequest {
        measurement: Some("cpu".into()),
        field: Some("u".into()),
        predicate: parse_delete_predicate(r#"host="a""#).unwrap(),
        ..ReadRequest::all(BUCKET, 10, 40)
    };
    let got: Vec<_> = e.read(&req).map(|s| s.unwrap()).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].tags, vec![("host".to_string(), "a".to_string())]);
    // Cache value at 30 overrides the file's; stop is exclusive.
    assert_eq!(got[0].values, Values::Float(vec![(10, 1.0), (30, 6.0)]));
    assert_eq!(
        e.measurements(BUCKET),
        vec!["cpu".to_string(), "mem".to_string()]
    );
    assert_eq!(e.tags(BUCKET, "cpu")["host"].len(), 2);
}

#[test]
fn window_aggregates() {
    let v = Values::Integer(vec![(0, 5), (3, 1), (9, 7), (10, 2), (25, -4)]);
    let vals = |a| {
        window_aggregate(&v, 10, 0, a)
            .unwrap()
            .into_iter()
            .map(|w| (w.start, w.time, w.value))
            .collect::<Vec<_>>()
    };
    use FieldValue::{Float, Integer};
    assert_eq!(
        vals(Aggregate::Count),
        vec![
            (0, 0, Integer(3)),
            (10, 10, Integer(1)),
            (20, 20, Integer(1))
        ]
    );
    assert_eq!(
        vals(Aggregate::Sum),
        vec![
            (0, 0, Integer(13)),
            (10, 10, Integer(2)),
            (20, 20, Integer(-4))
        ]
    );
    assert_eq!(vals(Aggregate::Min)[0], (0, 3, Integer(1)));
    assert_eq!(vals(Aggregate::Max)[0], (0, 9, Integer(7)));
    assert_eq!(vals(Aggregate::First)[0], (0, 0, Integer(5)));
    assert_eq!(vals(Aggregate::Last)[0], (0, 9, Integer(7)));
    assert_eq!(vals(Aggregate::Mean)[0], (0, 0, Float(13.0 / 3.0)));
    let neg = Values::Float(vec![(-15, 1.0), (-5, 2.0)]);
    let w = window_aggregate(&neg, 10, 3, Aggregate::Count).unwrap();
    assert_eq!(
        w.iter().map(|w| (w.start, w.stop)).collect::<Vec<_>>(),
        vec![(-17, -7), (-7, 3)]
    );
    assert!(
        window_aggregate(
            &Values::String(vec![(1, "x".into())]),
            10,
            0,
            Aggregate::Sum
        )
        .is_err()
    );

    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &catalog());
    e.write_lines(
        BUCKET,
        b"m v=1 1\nm v=3 2\nm v=5 11",
        Precision::Nanoseconds,
        NOW,
    )
    .unwrap();
    let r = e
        .read_window_aggregate(&ReadRequest::all(BUCKET, 0, 100), 10, 0, Aggregate::Mean)
        .unwrap();
    assert_eq!(
        r[0].windows
            .iter()
            .map(|w| w.value.clone())
            .collect::<Vec<_>>(),
        vec![Float(2.0), Float(5.0)]
    );
}

#[test]
fn concurrent_writers_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    {
        let e = open(dir.path(), &cat);
        std::thread::scope(|s| {
            for t in 0..4 {
                let e = &e;
                s.spawn(move || {
                    for i in 0..50 {
                        let body = format!("m,w={t} v={i}i {i}");
                        e.write_lines(BUCKET, body.as_bytes(), Precision::Nanoseconds, NOW)
                            .unwrap();
                    }
                });
            }
        });
    }
    let e = open(dir.path(), &cat);
    let n: usize = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().values.len())
        .sum();
    assert_eq!(n, 200);
}

#[test]
fn torn_wal_tail_keeps_earlier_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    {
        let e = open(dir.path(), &cat);
        for i in 0..5 {
            e.write_lines(
                BUCKET,
                format!("m v={i} {i}").as_bytes(),
                Precision::Nanoseconds,
                NOW,
            )
            .unwrap();
        }
    }
    let (b, id) = (BUCKET, cat.shard_for(BUCKET, 0).unwrap().id);
    let wal_dir = dir
        .path()
        .join(WAL_DIR)
        .join(format!("{b:016x}"))
        .join(RETENTION_POLICY)
        .join(id.to_string());
    let seg = wal_dir.join(crate::wal::segment_name(1));
    let len = fs::metadata(&seg).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let e = open(dir.path(), &cat);
    let got: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().values)
        .collect();
    assert_eq!(
        got,
        vec![Values::Float((0..4).map(|i| (i, i as f64)).collect())]
    );
}

#[test]
fn background_thread_snapshots_cold_caches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        maintenance_interval: Some(Duration::from_millis(20)),
        cache_snapshot_write_cold: Duration::from_millis(50),
        ..EngineConfig::new(dir.path())
    };
    let e = Engine::open(cfg, catalog() as Arc<dyn ShardCatalog>).unwrap();
    e.write_lines(BUCKET, b"m v=1 1", Precision::Nanoseconds, NOW)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The file appears before the snapshot's bytes are released: wait for both.
    while tsm_files(&e).is_empty() || e.cache_bytes() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let got: Vec<_> = e
        .read(&ReadRequest::all(BUCKET, 0, 10))
        .map(|s| s.unwrap().values)
        .collect();
    assert_eq!(got, vec![Values::Float(vec![(1, 1.0)])]);
    e.close();
}

const CRASH_CHILD: &str = "STORAGE_CRASH_CHILD_DIR";

/// Child side of the SIGKILL test: writes forever from 4 threads with aggressive snapshots
/// and compactions, printing each acknowledged batch.
fn crash_child(dir: &str) {
    use std::io::Write;
    let cfg = EngineConfig {
        maintenance_interval: Some(Duration::from_millis(5)),
        cache_snapshot_memory_bytes: 16 << 10,
        compact_threshold: 3,
        ..EngineConfig::new(dir)
    };
    let e = Engine::open(cfg, catalog() as Arc<dyn ShardCatalog>).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let e = &e;
            s.spawn(move || {
                for batch in 0i64.. {
                    let body: String = (0..10)
                        .map(|j| format!("m,w={t} v={}i {}\n", batch * 10 + j, batch * 10 + j))
                        .collect();
                    e.write_lines(BUCKET, body.as_bytes(), Precision::Nanoseconds, NOW)
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {t} {batch}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn sigkill_during_concurrent_writes_loses_no_acknowledged_point() {
    use std::io::BufRead;
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "engine::tests::sigkill_during_concurrent_writes_loses_no_acknowledged_point",
                "--nocapture",
            ])
            .env(CRASH_CHILD, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked: BTreeMap<i64, i64> = BTreeMap::new();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let target = 200 * (round + 1);
        let mut n = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ack ") {
                let (t, b) = rest.split_once(' ').unwrap();
                let (t, b): (i64, i64) = (t.parse().unwrap(), b.parse().unwrap());
                let e = acked.entry(t).or_insert(-1);
                *e = (*e).max(b);
                n += 1;
                if n == target {
                    child.kill().unwrap();
                }
            }
        }
        child.wait().unwrap();
        assert!(n >= target, "child stopped early after {n} acks");
        // Reopen and find every acknowledged point.
        let e = open(dir.path(), &catalog());
        let mut got: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for s in e.read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX)) {
            let s = s.unwrap();
            let Values::Integer(v) = &s.values else {
                panic!("type")
            };
            assert!(v.iter().all(|(t, x)| t == x));
            got.insert(s.series_key.clone(), v.iter().map(|p| p.0).collect());
        }
        for (t, last_batch) in acked {
            let have = got
                .get(&format!("m,w={t}"))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let want = (last_batch + 1) * 10;
            // Acknowledged points are a prefix 0..want; later unacknowledged ones may exist.
            assert!(
                have.len() as i64 >= want,
                "writer {t}: {} points, {want} acknowledged",
                have.len()
            );
            assert!(
                have.iter()
                    .take(want as usize)
                    .enumerate()
                    .all(|(i, &x)| x == i as i64),
                "writer {t}: gap"
            );
        }
        assert!(e.last_background_error().is_none());
    }
}

#[test]
fn readers_never_lose_points_during_snapshots_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        maintenance_interval: Some(Duration::from_millis(1)),
        cache_snapshot_memory_bytes: 2 << 10,
        compact_threshold: 2,
        ..EngineConfig::new(dir.path())
    };
    let e = Engine::open(cfg, catalog() as Arc<dyn ShardCatalog>).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..400 {
                e.write_lines(
                    BUCKET,
                    format!("m v={i}i {i}").as_bytes(),
                    Precision::Nanoseconds,
                    NOW,
                )
                .unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        s.spawn(|| {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let n: usize = e
                    .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
                    .map(|s| s.unwrap().values.len())
                    .sum();
                assert!(n >= seen, "a read saw {n} points after one saw {seen}");
                seen = n;
            }
        });
    });
    let n: usize = e
        .read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
        .map(|s| s.unwrap().values.len())
        .sum();
    assert_eq!(n, 400);
    assert!(!tsm_files(&e).is_empty(), "snapshots ran");
    assert!(e.last_background_error().is_none());
}

#[test]
fn shards_written_by_influxdb_read_back_exactly() {
    // InfluxDB 1.6's four shards of the ground truth, laid out as a 2.x engine directory.
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/influxdb1/tsm/stateA"
    ));
    for n in 1..=4 {
        let shard_dir = dir
            .path()
            .join(DATA_DIR)
            .join(format!("{BUCKET:016x}"))
            .join(RETENTION_POLICY)
            .join(n.to_string());
        fs::create_dir_all(&shard_dir).unwrap();
        for f in fs::read_dir(src.join(format!("shard{n}"))).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|x| x == "tsm") {
                fs::copy(&p, shard_dir.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let e = open(dir.path(), &catalog());
    assert_eq!(e.shards().len(), 4);
    assert_model_eq(&read_all(&e, BUCKET), &expected());
    // The index was rebuilt from the TSM keys alone.
    assert!(
        e.measurements(BUCKET)
            .contains(&"my measurement,x".to_string())
    );
    assert_eq!(
        e.fields(BUCKET, "edge").get("big"),
        Some(&FieldType::Integer)
    );
    assert_eq!(
        e.tags(BUCKET, "my measurement,x")["k=eq"]
            .iter()
            .collect::<Vec<_>>(),
        vec!["a,b=c"]
    );
}

#[test]
fn count_from_block_headers_equals_counting_points() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), &catalog());
    write_ground_truth(&e);
    let all = ReadRequest::all(BUCKET, i64::MIN, i64::MAX);
    let generic =
        |e: &Engine, req: &ReadRequest, every: i64, offset: i64| -> Vec<SeriesAggregate> {
            e.read(req)
                .map(|s| {
                    let s = s.unwrap();
                    SeriesAggregate {
                        windows: window_aggregate(&s.values, every, offset, Aggregate::Count)
                            .unwrap(),
                        series_key: s.series_key,
                        measurement: s.measurement,
                        tags: s.tags,
                        field: s.field,
                    }
                })
                .collect()
        };
    let hour = 3_600_000_000_000;
    let ranged = ReadRequest::all(
        BUCKET,
        1_704_067_200_000_000_000 + 7 * 60_000_000_000,
        1_704_100_000_000_000_000,
    );
    let check = |e: &Engine| {
        for req in [&all, &ranged] {
            for (every, offset) in [(hour, 0), (7 * 24 * hour, 3 * hour), (1_000, 17)] {
                let fast = e
                    .read_window_aggregate(req, every, offset, Aggregate::Count)
                    .unwrap();
                assert_eq!(
                    fast,
                    generic(e, req, every, offset),
                    "every {every} offset {offset}"
                );
            }
        }
    };
    check(&e); // cache only
    e.flush().unwrap();
    check(&e); // one file per shard: block headers
    write_ground_truth(&e);
    e.flush().unwrap();
    check(&e); // overlapping files: points
    e.compact(true).unwrap();
    e.delete(
        BUCKET,
        i64::MIN,
        1_704_067_500_000_000_000,
        &parse_delete_predicate(r#"host="serverA""#).unwrap(),
    )
    .unwrap();
    check(&e); // tombstones: points
    let n: i64 = e
        .read_window_aggregate(&all, i64::MAX / 4, 0, Aggregate::Count)
        .unwrap()
        .iter()
        .flat_map(|s| s.windows.iter())
        .map(|w| match w.value {
            FieldValue::Integer(n) => n,
            _ => 0,
        })
        .sum();
    let want: usize = expected().values().map(Vec::len).sum();
    assert!(n > 0 && (n as usize) < want);
}

/// A body past `LARGE_BODY_BYTES` is checked whole (one bad line anywhere and nothing is
/// written), then written in batches whose results add up to the body's.
#[test]
fn large_bodies_are_checked_whole_then_written_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let e = open(dir.path(), &cat);
    let pad = "p".repeat(120);
    let lines = WRITE_BATCH_POINTS + 10_000;
    let mut body = String::new();
    for i in 0..lines {
        body.push_str(&format!(
            "m,host=h{:03},pad={pad} v={i}i {}\n",
            i % 1000,
            1_700_000_000_000_000_000 + i as i64
        ));
    }
    assert!(body.len() > LARGE_BODY_BYTES);
    let count = |e: &Engine| -> usize {
        e.read(&ReadRequest::all(BUCKET, i64::MIN, i64::MAX))
            .map(|s| s.unwrap().values.len())
            .sum()
    };

    // A bad last line: nothing at all is written, and the error names its line.
    let bad = format!("{body}m,host=x v=\n");
    match e.write_lines(BUCKET, bad.as_bytes(), Precision::Nanoseconds, NOW) {
        Err(WriteError::Parse(errs)) => assert_eq!(errs.first_line(), Some(lines + 1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&e), 0);

    // A field type conflict in the last batch: the rest is written, the counts add up.
    let conflict = format!("{body}m,host=h000,pad={pad} v=\"text\" 1700000000000000005\n");
    match e.write_lines(BUCKET, conflict.as_bytes(), Precision::Nanoseconds, NOW) {
        Err(WriteError::PartialWrite { kind, stats, .. }) => {
            assert_eq!(kind, DropReason::FieldTypeConflict);
            assert_eq!(
                (stats.points, stats.values, stats.dropped),
                (lines, lines, 1)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&e), lines);
    // The same body again: every point is there once.
    let stats = e
        .write_lines(BUCKET, body.as_bytes(), Precision::Nanoseconds, NOW)
        .unwrap();
    assert_eq!((stats.points, stats.dropped), (lines, 0));
    assert_eq!(count(&e), lines);
}
