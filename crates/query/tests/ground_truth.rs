//! The points InfluxDB itself was given (`../shared/testdata/influxdb1/ground_truth`) go into an
//! in-memory source; Flux reads every one back through the annotated CSV (encoded, then decoded)
//! and aggregates are compared with values computed here from the JSON.

use std::collections::{BTreeMap, HashMap};

use query::csv::{Annotation, Dialect, decode, encode_results};
use query::source::{BucketInfo, MemSeries, MemSource, SeriesValues};
use query::{Options, Value, execute};
use testdata::{Column, SeriesKey, Value as V};

fn load() -> BTreeMap<SeriesKey, Vec<(i64, V)>> {
    testdata::series()
}

fn source(data: &BTreeMap<SeriesKey, Vec<(i64, V)>>) -> MemSource {
    let mut series = Vec::new();
    for ((m, tags, field), pts) in data {
        let mut all = vec![
            ("_measurement".to_string(), m.clone()),
            ("_field".to_string(), field.clone()),
        ];
        all.extend(tags.iter().cloned());
        let (times, values) = testdata::column(pts);
        let values = match values {
            Column::Float(v) => SeriesValues::Float(v),
            Column::Integer(v) => SeriesValues::Int(v),
            Column::Unsigned(v) => SeriesValues::UInt(v),
            Column::Boolean(v) => SeriesValues::Bool(v),
            Column::String(v) => SeriesValues::String(v),
        };
        series.push(MemSeries {
            tags: all,
            times,
            values,
        });
    }
    MemSource {
        buckets: vec![(
            BucketInfo {
                name: "truth".into(),
                id: "0000000000000001".into(),
                organization_id: "0000000000000002".into(),
                retention_period: 0,
                retention_policy: "autogen".into(),
            },
            series,
        )],
    }
}

fn all_annotations() -> Dialect {
    Dialect {
        annotations: vec![Annotation::Datatype, Annotation::Group, Annotation::Default],
        ..Dialect::default()
    }
}

const RANGE: &str = "range(start: 1960-01-01T00:00:00Z, stop: 2030-01-01T00:00:00Z)";

#[test]
fn every_point_comes_back_exactly_through_csv() {
    let data = load();
    let src = source(&data);
    let res = execute(
        &format!("from(bucket: \"truth\") |> {RANGE}"),
        &src,
        &Options::default(),
    )
    .expect("query");
    let text = encode_results(&res, &all_annotations());
    let back = decode(std::str::from_utf8(&text).expect("utf8")).expect("decode");
    assert_eq!(back.len(), 1);
    let mut got: BTreeMap<SeriesKey, Vec<(i64, V)>> = BTreeMap::new();
    for t in &back[0].tables {
        let key: HashMap<&str, &str> = t
            .key
            .columns
            .iter()
            .filter_map(|k| k.value.as_str().map(|v| (k.name.as_str(), v)))
            .collect();
        let mut tags: Vec<(String, String)> = key
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tags.sort();
        let sk = (
            key["_measurement"].to_string(),
            tags,
            key["_field"].to_string(),
        );
        let times = &t.column("_time").expect("_time").values;
        let vals = &t.column("_value").expect("_value").values;
        let pts = got.entry(sk).or_default();
        for (tv, v) in times.iter().zip(vals) {
            let Value::Time(tm) = tv else {
                panic!("time {tv:?}")
            };
            let v = match v {
                Value::Float(x) => V::Float(*x),
                Value::Int(x) => V::Integer(*x),
                Value::String(x) => V::String(x.clone()),
                Value::Bool(x) => V::Boolean(*x),
                // An empty string and a null are the same cell in annotated CSV.
                Value::Null => V::String(String::new()),
                other => panic!("value {other:?}"),
            };
            pts.push((*tm, v));
        }
    }
    assert_eq!(got.len(), data.len(), "series count");
    for (k, want) in &data {
        let g = got.get(k).unwrap_or_else(|| panic!("series {k:?} missing"));
        assert_eq!(g, want, "series {k:?}");
    }
    let total: usize = data.values().map(Vec::len).sum();
    assert!(total > 25_000, "all fields of the 10,942 points: {total}");
}

#[test]
fn aggregates_match_independent_computation() {
    let data = load();
    let src = source(&data);
    for (agg, f) in [
        ("count", 0),
        ("sum", 1),
        ("mean", 2),
        ("min", 3),
        ("max", 4),
    ] {
        let res = execute(
            &format!(
                "from(bucket: \"truth\") |> {RANGE} |> filter(fn: (r) => r._measurement == \"cpu\" or (r._measurement == \"dense\" and (r._field == \"f\" or r._field == \"i\"))) |> {agg}()"
            ),
            &src,
            &Options::default(),
        )
        .expect("query");
        for t in &res[0].tables {
            let m = t
                .key
                .get("_measurement")
                .and_then(Value::as_str)
                .expect("m");
            let field = t.key.get("_field").and_then(Value::as_str).expect("f");
            let mut tags: Vec<(String, String)> = t
                .key
                .columns
                .iter()
                .filter(|k| !k.name.starts_with('_'))
                .map(|k| (k.name.clone(), k.value.as_str().expect("tag").to_string()))
                .collect();
            tags.sort();
            let pts = &data[&(m.to_string(), tags, field.to_string())];
            let got = &t.column("_value").expect("_value").values[0];
            let nums: Vec<f64> = pts
                .iter()
                .filter_map(|(_, v)| match v {
                    V::Float(x) => Some(*x),
                    V::Integer(x) => Some(*x as f64),
                    _ => None,
                })
                .collect();
            if nums.is_empty() {
                continue;
            }
            let want = match f {
                0 => pts.len() as f64,
                1 => nums.iter().sum(),
                2 => nums.iter().sum::<f64>() / nums.len() as f64,
                3 => nums.iter().cloned().fold(f64::INFINITY, f64::min),
                _ => nums.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            };
            let g = match got {
                Value::Float(x) => *x,
                Value::Int(x) => *x as f64,
                other => panic!("{agg}: {other:?}"),
            };
            assert!(
                (g - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{agg} of {m}/{field}: got {g}, want {want}"
            );
        }
    }
}
