//! The shared test data for the workspace's tests (a dev-dependency only): where the folder
//! `../shared/testdata` is, and its ground truth, the 10,942 points InfluxDB 1.x was given
//! (`influxdb1/ground_truth/points.lp`) as InfluxDB itself read them back
//! (`influxdb1/ground_truth/points.json.gz`: one object per point with `measurement`, `tags`,
//! `fields` as `{type, value}` and `time_ns`).
//!
//! It also holds [`Rng`], the one small deterministic generator of the randomized tests.
//!
//! Every loader panics with the path when the data is missing or malformed: a test without
//! its data must fail, never pass vacuously.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The shared test data folder (beside the checkout).
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
}

/// The ground truth folder.
pub fn ground_truth_dir() -> PathBuf {
    dir().join("influxdb1/ground_truth")
}

/// A field value as InfluxDB typed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `float`
    Float(f64),
    /// `integer`
    Integer(i64),
    /// `unsigned`
    Unsigned(u64),
    /// `boolean`
    Boolean(bool),
    /// `string`
    String(String),
}

/// One point of the ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Measurement, unescaped.
    pub measurement: String,
    /// Tags, unescaped, sorted by key.
    pub tags: Vec<(String, String)>,
    /// Fields, sorted by key.
    pub fields: Vec<(String, Value)>,
    /// Nanoseconds since the epoch.
    pub time: i64,
}

/// (measurement, sorted tags, field): one series of one field.
pub type SeriesKey = (String, Vec<(String, String)>, String);

/// The line protocol InfluxDB was given (`points.lp`), as bytes.
pub fn line_protocol() -> Vec<u8> {
    let path = ground_truth_dir().join("points.lp");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every point, in the file's order.
pub fn points() -> Vec<Point> {
    let path = ground_truth_dir().join("points.json.gz");
    let fail = |what: &str| -> ! { panic!("{}: {what}", path.display()) };
    let f = std::fs::File::open(&path).unwrap_or_else(|e| fail(&e.to_string()));
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(f)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| fail(&format!("gunzip: {e}")));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("json: {e}")));
    let Some(items) = json.as_array() else {
        fail("not an array")
    };
    items
        .iter()
        .map(|p| {
            let text = |v: &serde_json::Value| -> String {
                v.as_str()
                    .unwrap_or_else(|| fail(&format!("{v} is not a string")))
                    .to_string()
            };
            let mut tags: Vec<(String, String)> = p["tags"]
                .as_object()
                .unwrap_or_else(|| fail("tags"))
                .iter()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect();
            tags.sort();
            let mut fields: Vec<(String, Value)> = p["fields"]
                .as_object()
                .unwrap_or_else(|| fail("fields"))
                .iter()
                .map(|(k, f)| {
                    let v = &f["value"];
                    let value = match f["type"].as_str() {
                        Some("float") => v.as_f64().map(Value::Float),
                        Some("integer") => v.as_i64().map(Value::Integer),
                        Some("unsigned") => v.as_u64().map(Value::Unsigned),
                        Some("boolean") => v.as_bool().map(Value::Boolean),
                        Some("string") => v.as_str().map(|s| Value::String(s.to_string())),
                        _ => None,
                    };
                    (
                        k.clone(),
                        value.unwrap_or_else(|| fail(&format!("field {f}"))),
                    )
                })
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Point {
                measurement: text(&p["measurement"]),
                tags,
                fields,
                time: p["time_ns"].as_i64().unwrap_or_else(|| fail("time_ns")),
            }
        })
        .collect()
}

/// Every value by series and field, in time order.
pub fn series() -> BTreeMap<SeriesKey, Vec<(i64, Value)>> {
    let mut out: BTreeMap<SeriesKey, Vec<(i64, Value)>> = BTreeMap::new();
    for p in points() {
        for (field, v) in p.fields {
            out.entry((p.measurement.clone(), p.tags.clone(), field))
                .or_default()
                .push((p.time, v));
        }
    }
    for values in out.values_mut() {
        values.sort_by_key(|(t, _)| *t);
    }
    out
}

/// One series' values as a typed column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// `float`
    Float(Vec<f64>),
    /// `integer`
    Integer(Vec<i64>),
    /// `unsigned`
    Unsigned(Vec<u64>),
    /// `boolean`
    Boolean(Vec<bool>),
    /// `string`
    String(Vec<String>),
}

/// Splits one series' values into times and a typed column. Every series of the ground truth
/// holds one type; a series of mixed types panics.
pub fn column(values: &[(i64, Value)]) -> (Vec<i64>, Column) {
    fn all<T>(values: &[(i64, Value)], get: impl Fn(&Value) -> Option<T>) -> Vec<T> {
        values
            .iter()
            .map(|(t, v)| get(v).unwrap_or_else(|| panic!("mixed types at {t}: {v:?}")))
            .collect()
    }
    let times = values.iter().map(|(t, _)| *t).collect();
    let column = match values.first().map(|(_, v)| v) {
        Some(Value::Integer(_)) => Column::Integer(all(values, |v| match v {
            Value::Integer(x) => Some(*x),
            _ => None,
        })),
        Some(Value::Unsigned(_)) => Column::Unsigned(all(values, |v| match v {
            Value::Unsigned(x) => Some(*x),
            _ => None,
        })),
        Some(Value::Boolean(_)) => Column::Boolean(all(values, |v| match v {
            Value::Boolean(x) => Some(*x),
            _ => None,
        })),
        Some(Value::String(_)) => Column::String(all(values, |v| match v {
            Value::String(x) => Some(x.clone()),
            _ => None,
        })),
        Some(Value::Float(_)) | None => Column::Float(all(values, |v| match v {
            Value::Float(x) => Some(*x),
            _ => None,
        })),
    };
    (times, column)
}

/// xorshift64: a deterministic generator for randomized tests, so that a failing case repeats
/// from its seed. The seed must not be zero.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ground_truth_loads_whole() {
        let points = points();
        assert_eq!(points.len(), 10_942);
        let values: usize = points.iter().map(|p| p.fields.len()).sum();
        assert_eq!(series().values().map(Vec::len).sum::<usize>(), values);
        for kind in ["float", "integer", "boolean", "string"] {
            assert!(
                points.iter().flat_map(|p| &p.fields).any(|(_, v)| matches!(
                    (kind, v),
                    ("float", Value::Float(_))
                        | ("integer", Value::Integer(_))
                        | ("boolean", Value::Boolean(_))
                        | ("string", Value::String(_))
                )),
                "no {kind} value"
            );
        }
        assert!(points.iter().any(|p| p.time < 0), "the pre-1970 point");
        assert!(!line_protocol().is_empty());
    }

    #[test]
    fn columns_keep_times_and_values() {
        let v = [(1, Value::Integer(5)), (2, Value::Integer(-1))];
        assert_eq!(column(&v), (vec![1, 2], Column::Integer(vec![5, -1])));
        let s = [(3, Value::String("a".into()))];
        assert_eq!(column(&s), (vec![3], Column::String(vec!["a".into()])));
    }

    #[test]
    #[should_panic(expected = "mixed types")]
    fn mixed_columns_panic() {
        column(&[(1, Value::Float(1.0)), (2, Value::Boolean(true))]);
    }
}
