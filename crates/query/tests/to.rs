//! `to()` over an in-memory source and sink: which points it writes, where, and what it
//! passes on; its errors; the line protocol a sink sends.

use std::cell::RefCell;

use query::source::{
    BucketInfo, BucketRef, MemSeries, MemSource, OrgRef, SeriesValues, Sink, SourceError,
    WritePoint, WriteTarget,
};
use query::to::line_protocol;
use query::{Options, QueryError, Value, execute, execute_with_sink};

const SEC: i64 = 1_000_000_000;

#[derive(Default)]
struct MemSink {
    writes: RefCell<Vec<(WriteTarget, Vec<WritePoint>)>>,
}

impl Sink for MemSink {
    fn write(&self, target: &WriteTarget, points: &[WritePoint]) -> Result<(), SourceError> {
        if target.bucket == BucketRef::Name("missing".into()) {
            return Err(SourceError::BucketNotFound("missing".into()));
        }
        self.writes
            .borrow_mut()
            .push((target.clone(), points.to_vec()));
        Ok(())
    }
}

impl MemSink {
    fn points(&self) -> Vec<WritePoint> {
        self.writes
            .borrow()
            .iter()
            .flat_map(|(_, p)| p.clone())
            .collect()
    }
}

fn series(m: &str, f: &str, host: &str, values: Vec<f64>) -> MemSeries {
    MemSeries {
        tags: vec![
            ("_measurement".into(), m.into()),
            ("_field".into(), f.into()),
            ("host".into(), host.into()),
        ],
        times: (0..values.len() as i64).map(|i| i * 10 * SEC).collect(),
        values: SeriesValues::Float(values),
    }
}

fn source() -> MemSource {
    MemSource {
        buckets: vec![(
            BucketInfo {
                name: "raw".into(),
                id: "0000000000000001".into(),
                organization_id: "0000000000000002".into(),
                retention_period: 0,
                retention_policy: "infinite".into(),
            },
            vec![
                // 12 points every 10 s: two 1-minute windows.
                series("cpu", "usage", "a", (0..12).map(f64::from).collect()),
                series("cpu", "usage", "b", vec![100.0; 12]),
            ],
        )],
    }
}

fn opts() -> Options {
    Options {
        now: 120 * SEC,
        ..Options::default()
    }
}

fn point(host: &str, time: i64, value: f64) -> WritePoint {
    WritePoint {
        measurement: "cpu".into(),
        tags: vec![("host".into(), host.into())],
        field: "usage".into(),
        value: Value::Float(value),
        time,
    }
}

#[test]
fn aggregates_are_written_and_passed_through() {
    let sink = MemSink::default();
    let q = r#"from(bucket: "raw") |> range(start: 0) |> aggregateWindow(every: 1m, fn: mean) |> to(bucket: "ds")"#;
    let results = execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    // Means of 0..5 and 6..11 for host a (windows end at 1m and 2m), 100 for b.
    let mut got = sink.points();
    got.sort_by(|a, b| (&a.tags, a.time).cmp(&(&b.tags, b.time)));
    assert_eq!(
        got,
        vec![
            point("a", 60 * SEC, 2.5),
            point("a", 120 * SEC, 8.5),
            point("b", 60 * SEC, 100.0),
            point("b", 120 * SEC, 100.0),
        ]
    );
    let writes = sink.writes.borrow();
    assert!(writes.iter().all(|(t, _)| t
        == &WriteTarget {
            bucket: BucketRef::Name("ds".into()),
            org: None
        }));
    // The tables go on unchanged as the result.
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].tables.len(), 2);
    assert_eq!(results[0].tables[0].nrows(), 2);
}

#[test]
fn import_form_ids_and_explicit_tag_columns() {
    let sink = MemSink::default();
    let q = r#"import "influxdata/influxdb"
from(bucket: "raw") |> range(start: 0) |> filter(fn: (r) => r.host == "a") |> last()
  |> set(key: "region", value: "eu")
  |> influxdb.to(bucketID: "00000000000000aa", orgID: "0000000000000002", tagColumns: ["region"])"#;
    execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    let writes = sink.writes.borrow();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes[0].0,
        WriteTarget {
            bucket: BucketRef::Id("00000000000000aa".into()),
            org: Some(OrgRef::Id("0000000000000002".into())),
        }
    );
    assert_eq!(
        writes[0].1,
        vec![WritePoint {
            measurement: "cpu".into(),
            tags: vec![("region".into(), "eu".into())],
            field: "usage".into(),
            value: Value::Float(11.0),
            time: 110 * SEC,
        }]
    );
}

#[test]
fn implicit_tags_are_all_string_columns_but_field_and_value() {
    let sink = MemSink::default();
    let q = r#"from(bucket: "raw") |> range(start: 0) |> filter(fn: (r) => r.host == "b") |> first()
  |> map(fn: (r) => ({r with dc: "x y", empty: ""}))
  |> to(bucket: "ds", org: "o")"#;
    execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    let p = sink.points();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].tags,
        vec![
            ("dc".to_string(), "x y".to_string()),
            ("host".into(), "b".into())
        ]
    );
    assert_eq!(
        sink.writes.borrow()[0].0.org,
        Some(OrgRef::Name("o".into()))
    );
    assert_eq!(line_protocol(&p), "cpu,dc=x\\ y,host=b usage=100.0 0\n");
}

#[test]
fn errors_as_influxdb_words_them() {
    let sink = MemSink::default();
    let run = |q: &str| execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap_err();
    let msg = |e: QueryError| e.to_string();
    assert!(
        msg(run(r#"from(bucket: "raw") |> range(start: 0) |> drop(columns: ["_field"]) |> to(bucket: "ds")"#))
            .contains("table has no _field column")
    );
    assert!(
        msg(run(r#"from(bucket: "raw") |> range(start: 0) |> drop(columns: ["_time"]) |> to(bucket: "ds")"#))
            .contains("no time column detected")
    );
    assert!(
        msg(run(r#"from(bucket: "raw") |> range(start: 0) |> drop(columns: ["_measurement"]) |> to(bucket: "ds")"#))
            .contains("no column with label _measurement exists")
    );
    assert!(
        msg(run(r#"from(bucket: "raw") |> range(start: 0) |> to()"#))
            .contains("must specify one of bucket or bucketID")
    );
    assert!(
        msg(run(r#"from(bucket: "raw") |> range(start: 0) |> to(bucket: "ds", host: "http://elsewhere")"#))
            .contains("unsupported argument host")
    );
    let e = run(r#"from(bucket: "raw") |> range(start: 0) |> to(bucket: "missing")"#);
    assert_eq!(e.code(), "not found");
    assert!(sink.points().is_empty(), "nothing written on errors");
    // Without a sink, `to()` fails instead of dropping the points.
    let e = execute(
        r#"from(bucket: "raw") |> range(start: 0) |> to(bucket: "ds")"#,
        &source(),
        &opts(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no write destination"), "{e}");
}

#[test]
fn line_protocol_escapes_and_types() {
    let p = vec![
        WritePoint {
            measurement: "m ,x".into(),
            tags: vec![("t=k".into(), "v,1".into())],
            field: "f v".into(),
            value: Value::String("say \"hi\" \\".into()),
            time: -5,
        },
        WritePoint {
            measurement: "m".into(),
            tags: vec![],
            field: "i".into(),
            value: Value::Int(-3),
            time: 1,
        },
        WritePoint {
            measurement: "m".into(),
            tags: vec![],
            field: "u".into(),
            value: Value::UInt(7),
            time: 2,
        },
        WritePoint {
            measurement: "m".into(),
            tags: vec![],
            field: "b".into(),
            value: Value::Bool(true),
            time: 3,
        },
        WritePoint {
            measurement: "m".into(),
            tags: vec![],
            field: "f".into(),
            value: Value::Float(0.1),
            time: 4,
        },
    ];
    assert_eq!(
        line_protocol(&p),
        "m\\ \\,x,t\\=k=v\\,1 f\\ v=\"say \\\"hi\\\" \\\\\" -5\nm i=-3i 1\nm u=7u 2\nm b=true 3\nm f=0.1 4\n"
    );
}

#[test]
fn columns_by_name_nulls_and_type_errors() {
    let sink = MemSink::default();
    // measurementColumn and timeColumn pick other columns.
    let q = r#"import "array"
array.from(rows: [
    {m: "weather", at: 1970-01-01T00:00:01Z, _field: "temp", _value: 21.5, city: "Oslo"},
    {m: "weather", at: 1970-01-01T00:00:02Z, _field: "temp", _value: 22.5, city: "Oslo"},
])
  |> to(bucket: "ds", measurementColumn: "m", timeColumn: "at")"#;
    execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    let p = sink.points();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[0].measurement, "weather");
    assert_eq!(p[0].time, SEC);
    assert_eq!(p[0].tags, vec![("city".to_string(), "Oslo".to_string())]);

    let run = |q: &str| execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap_err();
    let e = run(r#"import "array"
array.from(rows: [{_measurement: "m", _time: 1970-01-01T00:00:01Z, _field: "f", _value: 1, n: 2}])
  |> to(bucket: "ds", tagColumns: ["n"])"#);
    assert!(e.to_string().contains("invalid type for tag column"), "{e}");
    let e = run(r#"import "array"
array.from(rows: [{_measurement: "m", _time: 1, _field: "f", _value: 1}])
  |> to(bucket: "ds")"#);
    assert!(
        e.to_string()
            .contains("column _time of type int is not of type time"),
        "{e}"
    );
}

#[test]
fn null_values_are_skipped() {
    let sink = MemSink::default();
    let q = r#"from(bucket: "raw") |> range(start: 0) |> filter(fn: (r) => r.host == "a")
  |> aggregateWindow(every: 30s, fn: mean, createEmpty: true)
  |> to(bucket: "ds")"#;
    // Windows up to now (120 s) in 30 s steps: four with points; the range is [0, 120 s).
    execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    let times: Vec<i64> = sink.points().iter().map(|p| p.time).collect();
    assert_eq!(times, vec![30 * SEC, 60 * SEC, 90 * SEC, 120 * SEC]);

    // Empty windows (null means) write nothing.
    let sink = MemSink::default();
    let q = r#"from(bucket: "raw") |> range(start: 0, stop: 1970-01-01T00:03:00Z) |> filter(fn: (r) => r.host == "a")
  |> aggregateWindow(every: 30s, fn: mean, createEmpty: true)
  |> to(bucket: "ds")"#;
    let results = execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    assert_eq!(
        results[0].tables[0].nrows(),
        6,
        "the empty windows pass through"
    );
    assert_eq!(sink.points().len(), 4);
}

#[test]
fn tasks_last_success_or_default() {
    let q = r#"import "influxdata/influxdb/tasks"
from(bucket: "raw") |> range(start: tasks.lastSuccess(orDefault: -30s)) |> filter(fn: (r) => r.host == "a") |> count()"#;
    let count = |o: &Options| {
        let r = execute(q, &source(), o).unwrap();
        r[0].tables[0].column("_value").unwrap().values[0].clone()
    };
    // No latest success: the default, the last 30 s of [0, 120 s) holds points at 90..110 s.
    assert_eq!(count(&opts()), Value::Int(3));
    // With one at 60 s: points at 60..110 s.
    let o = Options {
        latest_success: Some(60 * SEC),
        ..opts()
    };
    assert_eq!(count(&o), Value::Int(6));
}

#[test]
fn field_fn_writes_the_fields_of_its_record() {
    let sink = MemSink::default();
    // After a pivot each row holds several fields; fieldFn names them. Tags: the string columns
    // the function does not read (`host`, and `_field`/`_value` are gone after the pivot).
    let q = r#"import "array"
array.from(rows: [
    {_measurement: "air", _time: 1970-01-01T00:00:01Z, room: "a", temp: 21.5, hum: 40, note: "ok"},
    {_measurement: "air", _time: 1970-01-01T00:00:02Z, room: "b", temp: 22.5, hum: 41, note: "hi"},
])
  |> to(bucket: "ds", fieldFn: (r) => ({"temp": r.temp, "humidity": r["hum"], "label": r.note + "!"}))"#;
    let results = execute_with_sink(q, &source(), Some(&sink), &opts()).unwrap();
    assert_eq!(results[0].tables[0].nrows(), 2, "the input passes through");
    let p = sink.points();
    type Row = (String, Vec<(String, String)>, String, Value, i64);
    let got: Vec<Row> = p
        .into_iter()
        .map(|p| (p.measurement, p.tags, p.field, p.value, p.time))
        .collect();
    let room = |r: &str| vec![("room".to_string(), r.to_string())];
    assert_eq!(
        got,
        vec![
            (
                "air".into(),
                room("a"),
                "humidity".into(),
                Value::Int(40),
                SEC
            ),
            (
                "air".into(),
                room("a"),
                "label".into(),
                Value::String("ok!".into()),
                SEC
            ),
            (
                "air".into(),
                room("a"),
                "temp".into(),
                Value::Float(21.5),
                SEC
            ),
            (
                "air".into(),
                room("b"),
                "humidity".into(),
                Value::Int(41),
                2 * SEC
            ),
            (
                "air".into(),
                room("b"),
                "label".into(),
                Value::String("hi!".into()),
                2 * SEC
            ),
            (
                "air".into(),
                room("b"),
                "temp".into(),
                Value::Float(22.5),
                2 * SEC
            ),
        ]
    );
    let e = execute_with_sink(
        r#"import "array"
array.from(rows: [{_measurement: "m", _time: 1970-01-01T00:00:01Z, v: 1}])
  |> to(bucket: "ds", fieldFn: (r) => r.v)"#,
        &source(),
        Some(&sink),
        &opts(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("fieldFn must return a record, got int"),
        "{e}"
    );
}
