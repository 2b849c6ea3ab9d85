//! End-to-end tests: Flux scripts over an in-memory source, checked on the annotated CSV or on
//! the result tables. Expected values are computed by hand or independently in the test.

use std::cell::RefCell;

use query::csv::{Annotation, Dialect, encode_results};
use query::source::{
    BucketInfo, MemSeries, MemSource, ReadRequest, SeriesValues, Source, SourceError,
};
use query::time::parse_rfc3339;
use query::{Options, QueryError, ResultSet, Table, Value, execute};
use testdata::Rng;

const T0: &str = "2024-01-01T00:00:00Z";

fn t0() -> i64 {
    parse_rfc3339(T0).unwrap()
}

const SEC: i64 = 1_000_000_000;

fn tags(m: &str, f: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut t = vec![
        ("_measurement".to_string(), m.to_string()),
        ("_field".to_string(), f.to_string()),
    ];
    t.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    t
}

/// cpu,host=a usage=0..29 every 10 s; cpu,host=b usage=100+i every 20 s;
/// mem used (int) every 30 s; a bool and a string series.
fn source() -> MemSource {
    let a_times: Vec<i64> = (0..30).map(|i| t0() + i * 10 * SEC).collect();
    let b_times: Vec<i64> = (0..15).map(|i| t0() + i * 20 * SEC).collect();
    let m_times: Vec<i64> = (0..10).map(|i| t0() + i * 30 * SEC).collect();
    let series = vec![
        MemSeries {
            tags: tags("cpu", "usage", &[("host", "a")]),
            values: SeriesValues::Float((0..30).map(|i| i as f64).collect()),
            times: a_times,
        },
        MemSeries {
            tags: tags("cpu", "usage", &[("host", "b")]),
            values: SeriesValues::Float((0..15).map(|i| 100.0 + i as f64).collect()),
            times: b_times,
        },
        MemSeries {
            tags: tags("mem", "used", &[("host", "a")]),
            values: SeriesValues::Int((0..10).map(|i| 1000 * i).collect()),
            times: m_times.clone(),
        },
        MemSeries {
            tags: tags("state", "up", &[]),
            values: SeriesValues::Bool((0..10).map(|i| i % 3 == 0).collect()),
            times: m_times.clone(),
        },
        MemSeries {
            tags: tags("log", "msg", &[("app", "x, y")]),
            values: SeriesValues::String((0..10).map(|i| format!("line \"{i}\"")).collect()),
            times: m_times,
        },
    ];
    MemSource {
        buckets: vec![(
            BucketInfo {
                name: "b".into(),
                id: "0123456789abcdef".into(),
                organization_id: "fedcba9876543210".into(),
                retention_period: 0,
                retention_policy: "infinite".into(),
            },
            series,
        )],
    }
}

/// A source that records the requests it answers.
struct Recording {
    inner: MemSource,
    reqs: RefCell<Vec<ReadRequest>>,
}

impl Source for Recording {
    fn buckets(&self) -> Result<Vec<BucketInfo>, SourceError> {
        self.inner.buckets()
    }
    fn read(&self, req: &ReadRequest) -> Result<Vec<Table>, SourceError> {
        self.reqs.borrow_mut().push(req.clone());
        self.inner.read(req)
    }
}

fn opts() -> Options {
    Options {
        now: t0() + 3600 * SEC,
        ..Options::default()
    }
}

fn run(q: &str) -> Vec<ResultSet> {
    execute(q, &source(), &opts()).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn run_err(q: &str) -> QueryError {
    match execute(q, &source(), &opts()) {
        Ok(_) => panic!("{q}: expected an error"),
        Err(e) => e,
    }
}

fn csv(q: &str) -> String {
    let d = Dialect {
        annotations: vec![Annotation::Datatype, Annotation::Group, Annotation::Default],
        ..Dialect::default()
    };
    String::from_utf8(encode_results(&run(q), &d)).unwrap()
}

fn col(t: &Table, name: &str) -> Vec<Value> {
    t.column(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", t.schema()))
        .values
        .clone()
}

fn floats(t: &Table, name: &str) -> Vec<f64> {
    col(t, name)
        .into_iter()
        .map(|v| match v {
            Value::Float(f) => f,
            v => panic!("not a float: {v:?}"),
        })
        .collect()
}

fn names(t: &Table) -> Vec<String> {
    t.columns.iter().map(|c| c.name.clone()).collect()
}

const HEAD: &str =
    "from(bucket: \"b\") |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:05:00Z)";

#[test]
fn raw_read_csv_is_exact() {
    let out = csv(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r.host == \"b\") |> limit(n: 2)"
    ));
    let want = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\r\n\
#group,false,false,true,true,false,false,true,true,true\r\n\
#default,_result,,,,,,,,\r\n\
,result,table,_start,_stop,_time,_value,_field,_measurement,host\r\n\
,,0,2024-01-01T00:00:00Z,2024-01-01T00:05:00Z,2024-01-01T00:00:00Z,100,usage,cpu,b\r\n\
,,0,2024-01-01T00:00:00Z,2024-01-01T00:05:00Z,2024-01-01T00:00:20Z,101,usage,cpu,b\r\n\
\r\n";
    assert_eq!(out, want);
}

#[test]
fn dashboard_aggregate_window_is_pushed_down_and_exact() {
    let src = Recording {
        inner: source(),
        reqs: RefCell::new(Vec::new()),
    };
    let q = r#"from(bucket: "b")
  |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:02:30Z)
  |> filter(fn: (r) => r["_measurement"] == "cpu")
  |> filter(fn: (r) => r["host"] == "a")
  |> aggregateWindow(every: 1m, fn: mean, createEmpty: false)
  |> yield(name: "mean")"#;
    let res = execute(q, &src, &opts()).unwrap();
    let reqs = src.reqs.borrow();
    assert_eq!(reqs.len(), 1);
    assert!(
        reqs[0].aggregate.is_some(),
        "aggregateWindow must be pushed down"
    );
    assert!(reqs[0].predicate.is_some());
    let d = Dialect {
        annotations: vec![Annotation::Datatype, Annotation::Group, Annotation::Default],
        ..Dialect::default()
    };
    let out = String::from_utf8(encode_results(&res, &d)).unwrap();
    // Windows [0,60) mean 2.5, [60,120) mean 8.5, [120,150) mean 13 (clipped stop 150s).
    let want = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string\r\n\
#group,false,false,true,true,false,false,true,true,true\r\n\
#default,mean,,,,,,,,\r\n\
,result,table,_start,_stop,_time,_value,_field,_measurement,host\r\n\
,,0,2024-01-01T00:00:00Z,2024-01-01T00:02:30Z,2024-01-01T00:01:00Z,2.5,usage,cpu,a\r\n\
,,0,2024-01-01T00:00:00Z,2024-01-01T00:02:30Z,2024-01-01T00:02:00Z,8.5,usage,cpu,a\r\n\
,,0,2024-01-01T00:00:00Z,2024-01-01T00:02:30Z,2024-01-01T00:02:30Z,13,usage,cpu,a\r\n\
\r\n";
    assert_eq!(out, want);
}

#[test]
fn aggregate_window_in_memory_matches_pushdown_values() {
    // A filter on _value cannot be pushed down, so the window aggregate runs in memory.
    for f in ["mean", "sum", "count", "min", "max", "first", "last"] {
        let pushed = run(&format!(
            "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> aggregateWindow(every: 1m, fn: {f})"
        ));
        let mem = run(&format!(
            "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r._value > -1.0) |> aggregateWindow(every: 1m, fn: {f})"
        ));
        let (p, m) = (&pushed[0].tables, &mem[0].tables);
        assert_eq!(p.len(), 2, "{f}");
        assert_eq!(m.len(), 2, "{f}");
        for (x, y) in p.iter().zip(m) {
            assert_eq!(col(x, "_value"), col(y, "_value"), "{f}");
            assert_eq!(col(x, "_time"), col(y, "_time"), "{f}");
            assert_eq!(col(x, "_start"), col(y, "_start"), "{f}");
            assert_eq!(x.key, y.key, "{f}");
        }
    }
}

#[test]
fn aggregate_window_create_empty_gives_null_and_zero_count() {
    let q = |f: &str| {
        format!(
            "from(bucket: \"b\") |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:08:00Z) \
             |> filter(fn: (r) => r._measurement == \"cpu\" and r.host == \"a\") |> aggregateWindow(every: 2m, fn: {f})"
        )
    };
    let r = run(&q("mean"));
    let t = &r[0].tables[0];
    assert_eq!(
        col(t, "_value"),
        vec![
            Value::Float(5.5),
            Value::Float(17.5),
            Value::Float(26.5),
            Value::Null
        ]
    );
    let r = run(&q("count"));
    assert_eq!(
        col(&r[0].tables[0], "_value"),
        vec![Value::Int(12), Value::Int(12), Value::Int(6), Value::Int(0)]
    );
    let r = run(&q("sum"));
    assert_eq!(col(&r[0].tables[0], "_value")[3], Value::Null);
    let stops: Vec<Value> = ["00:02:00", "00:04:00", "00:06:00", "00:08:00"]
        .iter()
        .map(|s| Value::Time(parse_rfc3339(&format!("2024-01-01T{s}Z")).unwrap()))
        .collect();
    assert_eq!(col(&r[0].tables[0], "_time"), stops);
    // timeSrc: "_start" stamps rows with the window start.
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> aggregateWindow(every: 2m, fn: last, timeSrc: \"_start\")"
    ));
    let t = &r[0].tables[0];
    assert_eq!(col(t, "_time")[0], Value::Time(t0()));
    assert_eq!(floats(t, "_value"), vec![105.0, 111.0, 114.0]);
}

#[test]
fn bare_aggregates_and_selectors() {
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> mean()"
    ));
    assert_eq!(r[0].tables.len(), 2);
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![14.5]);
    assert_eq!(floats(&r[0].tables[1], "_value"), vec![107.0]);
    assert!(r[0].tables[0].column("_time").is_none());
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> last()"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![29.0]);
    assert_eq!(
        col(&r[0].tables[0], "_time"),
        vec![Value::Time(t0() + 290 * SEC)]
    );
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"mem\") |> sum()"
    ));
    assert_eq!(col(&r[0].tables[0], "_value"), vec![Value::Int(45_000)]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"mem\") |> count()"
    ));
    assert_eq!(col(&r[0].tables[0], "_value"), vec![Value::Int(10)]);
    // In memory (after a _value filter) the same aggregates give the same numbers.
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r._value >= 0.0) |> mean()"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![14.5]);
    assert_eq!(
        names(&r[0].tables[0]),
        [
            "_start",
            "_stop",
            "_field",
            "_measurement",
            "host",
            "_value"
        ]
    );
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"a\") |> spread()"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![29.0]);
    assert_eq!(col(&r[0].tables[1], "_value"), vec![Value::Int(9000)]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r.host == \"a\") |> min() |> yield(name: \"lo\")"
    ));
    assert_eq!(r[0].name, "lo");
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![0.0]);
}

#[test]
fn stddev_median_quantile() {
    let base =
        format!("{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r.host == \"a\")");
    let r = run(&format!("{base} |> stddev()"));
    let xs: Vec<f64> = (0..30).map(|i| i as f64).collect();
    let mean = xs.iter().sum::<f64>() / 30.0;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 29.0;
    assert!((floats(&r[0].tables[0], "_value")[0] - var.sqrt()).abs() < 1e-9);
    let r = run(&format!("{base} |> stddev(mode: \"population\")"));
    let pvar = var * 29.0 / 30.0;
    assert!((floats(&r[0].tables[0], "_value")[0] - pvar.sqrt()).abs() < 1e-9);
    let r = run(&format!("{base} |> median()"));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![14.5]);
    let r = run(&format!(
        "{base} |> quantile(q: 0.99, method: \"exact_mean\")"
    ));
    assert!((floats(&r[0].tables[0], "_value")[0] - 28.71).abs() < 1e-9);
    let r = run(&format!(
        "{base} |> quantile(q: 0.5, method: \"exact_selector\")"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![14.0]);
    assert!(r[0].tables[0].column("_time").is_some());
}

#[test]
fn group_sort_limit_top_bottom_tail() {
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> group() |> sort(columns: [\"_value\"], desc: true) |> limit(n: 3)"
    ));
    assert_eq!(r[0].tables.len(), 1);
    assert!(r[0].tables[0].key.columns.is_empty());
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![114.0, 113.0, 112.0]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> group(columns: [\"_measurement\"]) |> bottom(n: 2)"
    ));
    assert_eq!(r[0].tables[0].key.columns.len(), 1);
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![0.0, 1.0]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> top(n: 1)"
    ));
    assert_eq!(floats(&r[0].tables[1], "_value"), vec![114.0]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> tail(n: 2, offset: 1)"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![112.0, 113.0]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> limit(n: 2, offset: 13)"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![113.0, 114.0]);
    let r = run(&format!(
        "{HEAD} |> group(columns: [\"host\"], mode: \"except\") |> keep(columns: [\"_measurement\"]) |> distinct(column: \"_measurement\")"
    ));
    assert!(!r[0].tables.is_empty());
}

#[test]
fn map_keep_drop_rename_duplicate_set_fill() {
    let base = format!("{HEAD} |> filter(fn: (r) => r.host == \"b\") |> limit(n: 2)");
    let r = run(&format!(
        "{base} |> map(fn: (r) => ({{r with _value: r._value * 2.0, label: \"${{r.host}}-x\", big: if r._value > 100.0 then \"y\" else \"n\"}}))"
    ));
    let t = &r[0].tables[0];
    assert_eq!(floats(t, "_value"), vec![200.0, 202.0]);
    assert_eq!(col(t, "label")[0], Value::String("b-x".into()));
    assert_eq!(
        col(t, "big"),
        vec![Value::String("n".into()), Value::String("y".into())]
    );
    let r = run(&format!(
        "{base} |> map(fn: (r) => ({{v: r._value, host: r.host}}))"
    ));
    let t = &r[0].tables[0];
    // Columns come out in sorted label order, as Flux's map writes them.
    assert_eq!(names(t), ["host", "v"]);
    assert_eq!(t.key.columns.len(), 1);
    let r = run(&format!(
        "{base} |> map(fn: (r) => ({{r with Zed: 1, _value: 0.0}}))"
    ));
    assert_eq!(
        names(&r[0].tables[0]),
        [
            "Zed",
            "_field",
            "_measurement",
            "_start",
            "_stop",
            "_time",
            "_value",
            "host"
        ]
    );
    let r = run(&format!(
        "{base} |> keep(columns: [\"_time\", \"_value\", \"host\", \"nope\"]) |> drop(columns: [\"_time\"]) |> rename(columns: {{host: \"server\"}})"
    ));
    let t = &r[0].tables[0];
    assert_eq!(names(t), ["_value", "server"]);
    assert_eq!(t.key.columns[0].name, "server");
    let r = run(&format!(
        "{base} |> duplicate(column: \"host\", as: \"h2\") |> set(key: \"_field\", value: \"f\")"
    ));
    let t = &r[0].tables[0];
    assert!(!t.key.contains("h2"));
    assert_eq!(t.key.get("_field"), Some(&Value::String("f".into())));
    let r = run(&format!(
        "{base} |> map(fn: (r) => ({{r with _value: if r._value > 100.0 then r._value else 0.0}})) |> toInt() |> toString()"
    ));
    assert_eq!(
        col(&r[0].tables[0], "_value"),
        vec![Value::String("0".into()), Value::String("101".into())]
    );
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"a\" and r._measurement == \"cpu\") |> aggregateWindow(every: 2m, fn: mean, createEmpty: true) |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T01:00:00Z) |> fill(value: -1.0)"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value").len(), 3);
}

#[test]
fn fill_use_previous_and_window() {
    let q = "from(bucket: \"b\") |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:08:00Z) \
             |> filter(fn: (r) => r.host == \"a\" and r._measurement == \"cpu\") \
             |> aggregateWindow(every: 2m, fn: max) |> fill(usePrevious: true)";
    let r = run(q);
    assert_eq!(
        floats(&r[0].tables[0], "_value"),
        vec![11.0, 23.0, 29.0, 29.0]
    );
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> window(every: 2m) |> count()"
    ));
    assert_eq!(r[0].tables.len(), 3);
    let counts: Vec<Value> = r[0]
        .tables
        .iter()
        .map(|t| col(t, "_value")[0].clone())
        .collect();
    assert_eq!(counts, vec![Value::Int(6), Value::Int(6), Value::Int(3)]);
    assert_eq!(
        r[0].tables[2].key.get("_stop"),
        Some(&Value::Time(t0() + 300 * SEC)),
        "last window clipped to the range stop"
    );
}

#[test]
fn pivot_fields_into_columns() {
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"a\") |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")"
    ));
    // cpu/usage and mem/used are different measurements, so two tables.
    assert_eq!(r[0].tables.len(), 2);
    let t = &r[0].tables[0];
    assert_eq!(
        names(t),
        ["_start", "_stop", "_time", "_measurement", "host", "usage"]
    );
    assert_eq!(t.nrows(), 30);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"a\") |> drop(columns: [\"_measurement\"]) |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")"
    ));
    let t = &r[0].tables[0];
    assert_eq!(t.nrows(), 30);
    assert_eq!(col(t, "used")[0], Value::Int(0));
    assert_eq!(col(t, "used")[1], Value::Null);
    assert_eq!(col(t, "used")[3], Value::Int(1000));
}

#[test]
fn several_yields_and_variables() {
    let q = format!(
        "data = {HEAD} |> filter(fn: (r) => r._measurement == \"cpu\")\n\
         data |> max() |> yield(name: \"max\")\n\
         data |> min() |> yield(name: \"min\")"
    );
    let r = run(&q);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].name, "max");
    assert_eq!(r[1].name, "min");
    assert_eq!(floats(&r[1].tables[1], "_value"), vec![100.0]);
}

#[test]
fn options_now_and_relative_range() {
    let q = "option now = () => 2024-01-01T00:01:00Z\n\
             from(bucket: \"b\") |> range(start: -30s) |> filter(fn: (r) => r.host == \"a\" and r._measurement == \"cpu\")";
    let r = run(q);
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![3.0, 4.0, 5.0]);
    let q = "option v = {timeRangeStart: 2024-01-01T00:00:00Z, timeRangeStop: 2024-01-01T00:00:15Z}\n\
             from(bucket: \"b\") |> range(start: v.timeRangeStart, stop: v.timeRangeStop) |> filter(fn: (r) => r.host == \"a\") |> count()";
    let r = run(q);
    assert_eq!(col(&r[0].tables[0], "_value"), vec![Value::Int(2)]);
}

#[test]
fn predicates_regex_not_exists_and_null_semantics() {
    let count_tables = |f: &str| run(&format!("{HEAD} |> filter(fn: {f})"))[0].tables.len();
    assert_eq!(count_tables("(r) => r._measurement =~ /^(cpu|mem)$/"), 3);
    assert_eq!(count_tables("(r) => r._measurement !~ /^c/"), 3);
    assert_eq!(count_tables("(r) => not (r.host == \"a\")"), 1);
    assert_eq!(count_tables("(r) => exists r.host"), 3);
    assert_eq!(count_tables("(r) => not exists r.host"), 2);
    assert_eq!(count_tables("(r) => r.host != \"a\""), 1);
    assert_eq!(
        count_tables("(r) => r.host == \"a\" or r._field == \"up\""),
        3
    );
    // Not pushable (value predicate): evaluated row by row.
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"state\" and r._value == true)"
    ));
    assert_eq!(r[0].tables[0].nrows(), 4);
}

#[test]
fn csv_of_strings_bools_ints() {
    let out = csv(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"log\" or r._measurement == \"state\") |> first()"
    ));
    assert!(out.contains("#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,string,string\r\n"), "{out}");
    assert!(out.contains(",,0,2024-01-01T00:00:00Z,2024-01-01T00:05:00Z,2024-01-01T00:00:00Z,\"line \"\"0\"\"\",msg,log,\"x, y\"\r\n"), "{out}");
    assert!(
        out.contains(
            ",,1,2024-01-01T00:00:00Z,2024-01-01T00:05:00Z,2024-01-01T00:00:00Z,true,up,state\r\n"
        ),
        "{out}"
    );
    assert_eq!(out.matches("\r\n\r\n").count(), 2, "{out}");
}

#[test]
fn buckets_and_schema() {
    let r = run("buckets()");
    let t = &r[0].tables[0];
    assert_eq!(
        names(t),
        [
            "name",
            "id",
            "organizationID",
            "retentionPolicy",
            "retentionPeriod"
        ]
    );
    assert_eq!(col(t, "name"), vec![Value::String("b".into())]);
    let vals = |q: &str| -> Vec<String> {
        let r = run(&format!("import \"influxdata/influxdb/schema\"\n{q}"));
        col(&r[0].tables[0], "_value")
            .into_iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let opts = "start: 2024-01-01T00:00:00Z, stop: 2024-01-02T00:00:00Z";
    assert_eq!(
        vals(&format!("schema.measurements(bucket: \"b\", {opts})")),
        ["cpu", "log", "mem", "state"]
    );
    assert_eq!(
        vals(&format!(
            "schema.tagValues(bucket: \"b\", tag: \"host\", {opts})"
        )),
        ["a", "b"]
    );
    assert_eq!(
        vals(&format!(
            "schema.measurementTagValues(bucket: \"b\", measurement: \"mem\", tag: \"host\", {opts})"
        )),
        ["a"]
    );
    assert_eq!(
        vals(&format!(
            "schema.tagKeys(bucket: \"b\", predicate: (r) => r._measurement == \"cpu\", {opts})"
        )),
        ["_start", "_stop", "_measurement", "host", "_field"]
    );
    assert_eq!(
        vals(&format!("schema.fieldKeys(bucket: \"b\", {opts})")),
        ["msg", "up", "usage", "used"]
    );
    assert_eq!(
        vals(&format!(
            "schema.measurementFieldKeys(bucket: \"b\", measurement: \"cpu\", {opts})"
        )),
        ["usage"]
    );
    // Default range is the last 30 days before now.
    assert_eq!(vals("schema.measurements(bucket: \"b\")").len(), 4);
}

#[test]
fn errors_are_typed_and_name_the_construct() {
    let e = run_err("from(bucket: \"b\") |> holtWintersX(n: 1)");
    assert_eq!(e.code(), "invalid");
    assert!(
        e.to_string().contains("undefined identifier holtWintersX"),
        "{e}"
    );
    assert!(e.to_string().starts_with("error @1:"), "{e}");
    let e = run_err("from(bucket: \"b\") |> range(start: -1h");
    assert_eq!(e.code(), "invalid");
    assert!(e.to_string().contains("call arguments"), "{e}");
    let e = run_err("from(bucket: \"b\") |> filter(fn: (r) => true) |> count()");
    assert!(
        e.to_string().contains("cannot submit unbounded read"),
        "{e}"
    );
    let e = run_err("from(bucket: \"nope\") |> range(start: -1h)");
    assert_eq!(e.code(), "not found");
    assert!(e.to_string().contains("could not find bucket"), "{e}");
    let e = run_err(&format!("{HEAD} |> filter(fn: (r) => r._value > 10)"));
    assert!(e.to_string().contains("float and int"), "{e}");
    let e = run_err(&format!("{HEAD} |> map(fn: (r) => ({{r with x: 1 / 0}}))"));
    assert!(e.to_string().contains("divide by zero"), "{e}");
    let e = run_err(&format!(
        "{HEAD} |> aggregateWindow(every: 1m, fn: mean, location: 1)"
    ));
    assert!(
        e.to_string()
            .contains("aggregateWindow: unsupported argument location"),
        "{e}"
    );
    let e = run_err("from(bucket: \"b\", host: \"http://x\") |> range(start: -1h)");
    assert!(
        e.to_string().contains("from: unsupported argument host"),
        "{e}"
    );
    let e = run_err(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"state\") |> mean()"
    ));
    assert_eq!(e.code(), "invalid");
    assert!(e.to_string().contains("bool"), "{e}");
    let e = run_err(&format!("data = {HEAD}"));
    assert!(matches!(e, QueryError::NoStreamingData), "{e}");
    assert_eq!(e.code(), "invalid");
    let e = run_err("import \"experimental\"\nx = 1");
    assert!(e.to_string().contains("experimental"), "{e}");
    let e = run_err(&format!(
        "{HEAD} |> yield(name: \"a\")\n{HEAD} |> yield(name: \"a\")"
    ));
    assert!(e.to_string().contains("duplicate"), "{e}");
}

#[test]
fn empty_answer_is_one_line() {
    let d = Dialect {
        annotations: vec![Annotation::Datatype, Annotation::Group, Annotation::Default],
        ..Dialect::default()
    };
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"none\")"
    ));
    assert_eq!(encode_results(&r, &d), b"\r\n");
}

#[test]
fn user_functions_and_blocks() {
    let q = format!(
        "double = (tables=<-, k=2.0) => tables |> map(fn: (r) => {{\n  v = r._value * k\n  return {{r with _value: v}}\n}})\n\
         {HEAD} |> filter(fn: (r) => r.host == \"b\") |> limit(n: 1) |> double(k: 3.0)"
    );
    let r = run(&q);
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![300.0]);
}

#[test]
fn mixed_filter_pushes_key_conjuncts_and_keeps_the_rest() {
    let src = Recording {
        inner: source(),
        reqs: RefCell::new(Vec::new()),
    };
    let q = format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r._value > 110.0 and r.host =~ /b/)"
    );
    let res = execute(&q, &src, &opts()).unwrap();
    let reqs = src.reqs.borrow();
    assert_eq!(reqs.len(), 1);
    let p = reqs[0]
        .predicate
        .as_ref()
        .expect("key conjuncts pushed down");
    let tag = |k: &str| match k {
        "_measurement" => Some("cpu"),
        "host" => Some("a"),
        _ => None,
    };
    assert!(
        !p.matches(&tag),
        "host a must be excluded by the pushed predicate"
    );
    assert_eq!(res[0].tables.len(), 1);
    assert_eq!(
        floats(&res[0].tables[0], "_value"),
        vec![111.0, 112.0, 113.0, 114.0]
    );
}

#[test]
fn group_of_different_types_is_a_schema_collision() {
    let e = run_err(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"a\") |> group()"
    ));
    assert!(e.to_string().contains("schema collision"), "{e}");
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"a\") |> toFloat() |> group() |> count()"
    ));
    assert_eq!(col(&r[0].tables[0], "_value"), vec![Value::Int(40)]);
}

#[test]
fn limits_memory_deadline_and_cancel() {
    let q = format!("{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\")");
    let small = Options {
        memory_limit: Some(1000),
        ..opts()
    };
    let e = execute(&q, &source(), &small).unwrap_err();
    assert!(matches!(e, QueryError::MemoryLimit { limit: 1000 }), "{e}");
    assert_eq!(e.code(), "too many requests");
    let big = Options {
        memory_limit: Some(10_000_000),
        ..opts()
    };
    assert!(execute(&q, &source(), &big).is_ok());
    let past = Options {
        deadline: Some(std::time::Instant::now()),
        ..opts()
    };
    let e = execute(&q, &source(), &past).unwrap_err();
    assert!(matches!(e, QueryError::Timeout), "{e}");
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let canceled = Options {
        cancel: Some(flag),
        ..opts()
    };
    let e = execute(&q, &source(), &canceled).unwrap_err();
    assert!(matches!(e, QueryError::Canceled), "{e}");
}

#[test]
fn deep_but_allowed_nesting_evaluates() {
    let q = format!(
        "import \"array\"\nx = {}1{}\ny = \"${{\"${{string(v: x)}}\"}}\"\narray.from(rows: [{{v: y}}])",
        "(".repeat(60),
        ")".repeat(60)
    );
    let r = execute(&q, &source(), &opts()).unwrap();
    assert_eq!(col(&r[0].tables[0], "v"), vec![Value::String("1".into())]);
    let q = format!("x = {}1{}", "(".repeat(70), ")".repeat(70));
    assert_eq!(run_err(&q).code(), "invalid");
}

#[test]
fn filter_before_range_is_pushed_with_it() {
    let r = run(
        "from(bucket: \"b\") |> filter(fn: (r) => r.host == \"b\") |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:01:00Z)",
    );
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![100.0, 101.0, 102.0]);
    let e =
        run_err("from(bucket: \"b\") |> filter(fn: (r) => r._value > 1.0) |> range(start: -1h)");
    assert!(e.to_string().contains("unbounded"), "{e}");
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn results_and_errors_cross_threads() {
    assert_send_sync::<Vec<ResultSet>>();
    assert_send_sync::<QueryError>();
    assert_send_sync::<MemSource>();
    let handle = std::thread::spawn(|| run(&format!("{HEAD} |> count()")));
    let r = handle.join().expect("thread");
    assert_eq!(r[0].tables.len(), 5);
}

#[test]
fn extern_options_drive_the_query() {
    let ext = serde_json::json!({"type": "File", "body": [{"type": "OptionStatement", "assignment": {
    "type": "VariableAssignment", "id": {"type": "Identifier", "name": "v"},
    "init": {"type": "ObjectExpression", "properties": [
        {"type": "Property", "key": {"type": "Identifier", "name": "bucket"}, "value": {"type": "StringLiteral", "value": "b"}},
        {"type": "Property", "key": {"type": "Identifier", "name": "timeRangeStart"},
         "value": {"type": "UnaryExpression", "operator": "-", "argument": {"type": "DurationLiteral", "values": [{"magnitude": 1, "unit": "h"}]}}},
        {"type": "Property", "key": {"type": "Identifier", "name": "windowPeriod"},
         "value": {"type": "DurationLiteral", "values": [{"magnitude": 2, "unit": "m"}]}}
    ]}}}]});
    let prelude = query::flux::extern_ast::to_source(&ext).unwrap();
    let q = "from(bucket: v.bucket) |> range(start: v.timeRangeStart) |> filter(fn: (r) => r.host == \"b\") |> aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: false)";
    let o = Options {
        prelude: prelude.clone(),
        ..opts()
    };
    let r = execute(q, &source(), &o).unwrap();
    let e = execute("x = 1\ny = nope", &source(), &o).unwrap_err();
    assert!(e.to_string().starts_with("error @2:5-2:9"), "{e}");
    assert_eq!(
        col(&r[0].tables[0], "_value"),
        vec![Value::Int(6), Value::Int(6), Value::Int(3)]
    );
}

#[test]
fn contains_filters_and_pushes_down() {
    let src = Recording {
        inner: source(),
        reqs: RefCell::new(Vec::new()),
    };
    let q = format!(
        "hosts = [\"b\", \"zz\"]\n{HEAD} |> filter(fn: (r) => contains(value: r.host, set: hosts)) |> count()"
    );
    let res = execute(&q, &src, &opts()).unwrap();
    assert!(src.reqs.borrow()[0].predicate.is_some());
    assert_eq!(res[0].tables.len(), 1);
    assert_eq!(col(&res[0].tables[0], "_value"), vec![Value::Int(15)]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\" and contains(value: r._value, set: [100.0, 102.0]))"
    ));
    assert_eq!(floats(&r[0].tables[0], "_value"), vec![100.0, 102.0]);
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => contains(value: r.host, set: []))"
    ));
    assert!(r[0].tables.is_empty());
}

#[test]
fn window_then_aggregate_is_pushed_down_with_storage_shape() {
    let src = Recording {
        inner: source(),
        reqs: RefCell::new(Vec::new()),
    };
    let q = format!("{HEAD} |> filter(fn: (r) => r.host == \"b\") |> window(every: 2m) |> mean()");
    let res = execute(&q, &src, &opts()).unwrap();
    assert!(src.reqs.borrow()[0].aggregate.is_some());
    let t = &res[0].tables;
    assert_eq!(t.len(), 3);
    assert_eq!(
        names(&t[0]),
        [
            "_start",
            "_stop",
            "_value",
            "_field",
            "_measurement",
            "host"
        ]
    );
    assert_eq!(floats(&t[0], "_value"), vec![102.5]);
    assert_eq!(t[2].key.get("_start"), Some(&Value::Time(t0() + 240 * SEC)));
    assert_eq!(t[2].key.get("_stop"), Some(&Value::Time(t0() + 300 * SEC)));
    // The same in memory (a value filter stops the pushdown) gives the same numbers and keys.
    let mem = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\" and r._value > 0.0) |> window(every: 2m) |> mean()"
    ));
    for (x, y) in t.iter().zip(&mem[0].tables) {
        assert_eq!(col(x, "_value"), col(y, "_value"));
        assert_eq!(x.key, y.key);
    }
    // createEmpty windows count 0; selectors after window stay in memory but agree.
    let r = run(
        "from(bucket: \"b\") |> range(start: 2024-01-01T00:00:00Z, stop: 2024-01-01T00:08:00Z) |> filter(fn: (r) => r.host == \"b\") |> window(every: 2m, createEmpty: true) |> count()",
    );
    let counts: Vec<Value> = r[0]
        .tables
        .iter()
        .map(|t| col(t, "_value")[0].clone())
        .collect();
    assert_eq!(counts, [6, 6, 3, 0].map(Value::Int).to_vec());
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> window(every: 2m) |> max()"
    ));
    assert_eq!(r[0].tables.len(), 3);
    assert_eq!(floats(&r[0].tables[1], "_value"), vec![111.0]);
    // A pending window with no aggregate is applied in memory.
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> window(every: 2m)"
    ));
    assert_eq!(r[0].tables.len(), 3);
    assert_eq!(r[0].tables[0].nrows(), 6);
}

#[test]
fn truncated_and_garbled_scripts_never_panic() {
    let scripts = [
        format!("{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\" and r._value > 1.5) |> aggregateWindow(every: 1m, fn: mean) |> yield(name: \"m\")"),
        "import \"influxdata/influxdb/schema\"\noption now = () => 2024-01-01T00:01:00Z\nschema.tagValues(bucket: \"b\", tag: \"host\")".to_string(),
        "x = \"a ${\"b\" + \"c\"} d\\n\" \ny = /^a\\/b$/\nz = if true then -1h30m else 2w\narray.from(rows: [{a: 1.5e}])".to_string(),
        format!("f = (tables=<-, n=2) => {{\n v = n * 2\n return tables |> limit(n: v)\n}}\n{HEAD} |> f() |> map(fn: (r) => ({{r with µ: \"é\" + r.host}}))"),
    ];
    for s in &scripts {
        let chars: Vec<char> = s.chars().collect();
        for n in 0..=chars.len() {
            let prefix: String = chars[..n].iter().collect();
            let _ = execute(&prefix, &source(), &opts());
            // Also with a character dropped from the middle.
            if n > 0 && n < chars.len() {
                let mut garbled = chars.clone();
                garbled.remove(n);
                let g: String = garbled.into_iter().collect();
                let _ = execute(&g, &source(), &opts());
            }
        }
    }
}

#[test]
fn group_key_follows_table_column_order() {
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r._measurement == \"cpu\") |> group(columns: [\"host\", \"_measurement\"]) |> mean()"
    ));
    assert_eq!(names(&r[0].tables[0]), ["_measurement", "host", "_value"]);
    assert_eq!(floats(&r[0].tables[1], "_value"), vec![107.0]);
}

#[test]
fn a_second_range_intersects_the_bounds() {
    let r = run(&format!(
        "{HEAD} |> filter(fn: (r) => r.host == \"b\") |> range(start: 2024-01-01T00:01:00Z, stop: 2024-01-01T01:00:00Z)"
    ));
    let t = &r[0].tables[0];
    assert_eq!(t.key.get("_start"), Some(&Value::Time(t0() + 60 * SEC)));
    assert_eq!(t.key.get("_stop"), Some(&Value::Time(t0() + 300 * SEC)));
    assert_eq!(floats(t, "_value")[0], 103.0);
}

#[test]
fn pushdown_and_in_memory_window_aggregates_agree_on_random_data() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let base = parse_rfc3339("1969-12-31T22:00:00Z").unwrap();
    let mut series = Vec::new();
    for s in 0..4 {
        let n = 1 + rng.below(60) as usize;
        let mut times: Vec<i64> = (0..n)
            .map(|_| base + rng.below(6 * 3600) as i64 * SEC + rng.below(1000) as i64)
            .collect();
        times.sort();
        times.dedup();
        let values = SeriesValues::Float(
            times
                .iter()
                .map(|_| (rng.below(2000) as f64 - 1000.0) / 8.0)
                .collect(),
        );
        series.push(MemSeries {
            tags: tags("m", "f", &[("s", &s.to_string())]),
            times,
            values,
        });
    }
    let src = MemSource {
        buckets: vec![(
            BucketInfo {
                name: "r".into(),
                id: "0000000000000003".into(),
                organization_id: "0000000000000002".into(),
                retention_period: 0,
                retention_policy: String::new(),
            },
            series,
        )],
    };
    let everies = ["7s", "1m", "17m", "1h", "1mo"];
    let offsets = ["0s", "3s", "-20s"];
    let fns = ["mean", "sum", "count", "min", "max", "first", "last"];
    for round in 0..40 {
        let start = base + rng.below(3 * 3600) as i64 * SEC - 600 * SEC;
        let stop = start + (1 + rng.below(5 * 3600) as i64) * SEC;
        let every = everies[rng.below(everies.len() as u64) as usize];
        let offset = offsets[rng.below(offsets.len() as u64) as usize];
        let f = fns[rng.below(fns.len() as u64) as usize];
        let create_empty = rng.below(2) == 0;
        let time_src = if rng.below(2) == 0 { "_stop" } else { "_start" };
        let head = format!(
            "from(bucket: \"r\") |> range(start: {}, stop: {})",
            query::time::format_rfc3339(start),
            query::time::format_rfc3339(stop)
        );
        let agg = format!(
            "aggregateWindow(every: {every}, offset: {offset}, fn: {f}, createEmpty: {create_empty}, timeSrc: \"{time_src}\")"
        );
        let pushed = execute(&format!("{head} |> {agg}"), &src, &opts())
            .unwrap_or_else(|e| panic!("round {round} {agg}: {e}"));
        let mem = execute(
            &format!("{head} |> filter(fn: (r) => r._value > -1000000.0) |> {agg}"),
            &src,
            &opts(),
        )
        .unwrap_or_else(|e| panic!("round {round} {agg}: {e}"));
        let (p, m) = (&pushed[0].tables, &mem[0].tables);
        assert_eq!(p.len(), m.len(), "round {round} {head} {agg}");
        for (x, y) in p.iter().zip(m) {
            assert_eq!(x.key, y.key, "round {round} {agg}");
            assert_eq!(
                col(x, "_time"),
                col(y, "_time"),
                "round {round} {head} {agg}"
            );
            assert_eq!(
                col(x, "_value"),
                col(y, "_value"),
                "round {round} {head} {agg}"
            );
        }
        // window() |> aggregate, pushed down for count/sum/mean.
        let w = format!("window(every: {every}, offset: {offset}, createEmpty: {create_empty})");
        if matches!(f, "count" | "sum" | "mean") {
            let pw = execute(&format!("{head} |> {w} |> {f}()"), &src, &opts()).unwrap();
            let mw = execute(
                &format!("{head} |> filter(fn: (r) => r._value > -1000000.0) |> {w} |> {f}()"),
                &src,
                &opts(),
            )
            .unwrap();
            assert_eq!(
                pw[0].tables.len(),
                mw[0].tables.len(),
                "round {round} {w} {f}"
            );
            for (x, y) in pw[0].tables.iter().zip(&mw[0].tables) {
                assert_eq!(x.key, y.key, "round {round} {w} {f}");
                assert_eq!(col(x, "_value"), col(y, "_value"), "round {round} {w} {f}");
            }
        }
        // Bare aggregates too.
        let bare = execute(&format!("{head} |> {f}()"), &src, &opts()).unwrap();
        let bare_mem = execute(
            &format!("{head} |> filter(fn: (r) => r._value > -1000000.0) |> {f}()"),
            &src,
            &opts(),
        )
        .unwrap();
        assert_eq!(
            bare[0].tables.len(),
            bare_mem[0].tables.len(),
            "round {round} {f}"
        );
        for (x, y) in bare[0].tables.iter().zip(&bare_mem[0].tables) {
            assert_eq!(col(x, "_value"), col(y, "_value"), "round {round} bare {f}");
        }
    }
}
