//! InfluxQL execution over a `MemSource`: each answer is compared with series computed here
//! from the same points.

use query::influxql::{self, Context, Resolved, Series, StatementResult};
use query::source::{BucketInfo, BucketRef, MemSeries, MemSource, SeriesValues};
use query::value::Value;

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;

fn series(m: &str, tags: &[(&str, &str)], field: &str, points: &[(i64, f64)]) -> MemSeries {
    let mut t: Vec<(String, String)> = vec![
        ("_measurement".into(), m.into()),
        ("_field".into(), field.into()),
    ];
    t.extend(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    MemSeries {
        tags: t,
        times: points.iter().map(|p| p.0).collect(),
        values: SeriesValues::Float(points.iter().map(|p| p.1).collect()),
    }
}

fn typed(
    m: &str,
    tags: &[(&str, &str)],
    field: &str,
    times: Vec<i64>,
    values: SeriesValues,
) -> MemSeries {
    let mut s = series(m, tags, field, &[]);
    s.times = times;
    s.values = values;
    s
}

/// cpu: host a (region x) and b (region y), fields usage (float) and n (int), one point a
/// minute for 10 minutes; host b lacks minutes 3 and 4. mem: one series without tags.
fn source() -> MemSource {
    let a: Vec<(i64, f64)> = (0..10).map(|i| (i * M, i as f64)).collect();
    let b: Vec<(i64, f64)> = (0..10)
        .filter(|i| *i != 3 && *i != 4)
        .map(|i| (i * M, 100.0 + 2.0 * i as f64))
        .collect();
    let n_times: Vec<i64> = (0..10).map(|i| i * M).collect();
    MemSource {
        buckets: vec![(
            BucketInfo {
                name: "b".into(),
                id: "0000000000000001".into(),
                organization_id: "0000000000000002".into(),
                retention_period: 0,
                retention_policy: "infinite".into(),
            },
            vec![
                series("cpu", &[("host", "a"), ("region", "x")], "usage", &a),
                series("cpu", &[("host", "b"), ("region", "y")], "usage", &b),
                typed(
                    "cpu",
                    &[("host", "a"), ("region", "x")],
                    "n",
                    n_times,
                    SeriesValues::Int((0..10).map(|i| i % 3).collect()),
                ),
                typed(
                    "mem",
                    &[],
                    "s",
                    vec![-5 * S, 0],
                    SeriesValues::String(vec!["old".into(), "new".into()]),
                ),
            ],
        )],
    }
}

fn run(src: &MemSource, q: &str) -> Vec<StatementResult> {
    let statements = influxql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let ctx = Context {
        source: src,
        database: Some("db".into()),
        retention_policy: None,
        resolved: vec![Resolved {
            database: "db".into(),
            retention_policy: None,
            bucket: Ok(BucketRef::Name("b".into())),
        }],
        dbrps: vec![],
        now: 20 * M,
        memory_limit: None,
        cancel: None,
    };
    influxql::execute(&statements, &ctx)
}

fn one(src: &MemSource, q: &str) -> Vec<Series> {
    let mut r = run(src, q);
    assert_eq!(r.len(), 1);
    let r = r.remove(0);
    assert_eq!(r.error, None, "{q}");
    r.series
}

fn t(v: i64) -> Value {
    Value::Time(v)
}
fn f(v: f64) -> Value {
    Value::Float(v)
}
fn i(v: i64) -> Value {
    Value::Int(v)
}
fn s(v: &str) -> Value {
    Value::String(v.into())
}
fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|c| c.to_string()).collect()
}
fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
    t.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn raw_rows_join_fields_on_time() {
    let src = source();
    let got = one(
        &src,
        "SELECT usage, n, host FROM cpu WHERE host = 'a' AND time >= 8m",
    );
    assert_eq!(
        got,
        vec![Series {
            name: Some("cpu".into()),
            tags: vec![],
            columns: cols(&["time", "usage", "n", "host"]),
            values: vec![
                vec![t(8 * M), f(8.0), i(2), s("a")],
                vec![t(9 * M), f(9.0), i(0), s("a")],
            ],
        }]
    );
    // Rows of both hosts in one series, in time order (a before b at equal times).
    let got = one(&src, "SELECT usage FROM cpu WHERE time <= 1m");
    assert_eq!(
        got[0].values,
        vec![
            vec![t(0), f(0.0)],
            vec![t(0), f(100.0)],
            vec![t(M), f(1.0)],
            vec![t(M), f(102.0)],
        ]
    );
    // A point without the selected field is not a row; `*` lists fields and tags by name.
    let got = one(&src, "SELECT * FROM cpu WHERE host = 'b' LIMIT 1");
    assert_eq!(
        got[0].columns,
        cols(&["time", "host", "n", "region", "usage"])
    );
    assert_eq!(
        got[0].values,
        vec![vec![t(0), s("b"), Value::Null, s("y"), f(100.0)]]
    );
}

#[test]
fn field_and_tag_conditions() {
    let src = source();
    // Field comparisons per row, OR across tags, regexes; a missing tag reads as ''.
    let got = one(
        &src,
        "SELECT usage FROM cpu WHERE (usage > 7 AND host = 'a') OR (host =~ /^b$/ AND usage < 101)",
    );
    let want: Vec<Vec<Value>> = vec![
        vec![t(0), f(100.0)],
        vec![t(8 * M), f(8.0)],
        vec![t(9 * M), f(9.0)],
    ];
    assert_eq!(got[0].values, want);
    let got = one(&src, "SELECT s FROM mem WHERE host = ''");
    assert_eq!(
        got[0].values,
        vec![vec![t(-5 * S), s("old")], vec![t(0), s("new")]]
    );
    // Conditions on an integer field compare with floats.
    let got = one(&src, "SELECT n FROM cpu WHERE n >= 1.5");
    assert_eq!(got[0].values.len(), 3);
    assert!(got[0].values.iter().all(|r| r[1] == i(2)));
    // Measurements that do not exist answer no series.
    for q in [
        "SELECT * FROM nope",
        "SELECT count(*) FROM nope",
        "SELECT v FROM nope",
    ] {
        assert_eq!(one(&src, q), vec![], "{q}");
    }
    // A regex FROM, ORDER BY time DESC, LIMIT and OFFSET.
    let got = one(
        &src,
        "SELECT s FROM /^me/ ORDER BY time DESC LIMIT 1 OFFSET 1",
    );
    assert_eq!(got[0].values, vec![vec![t(-5 * S), s("old")]]);
}

#[test]
fn windows_fill_and_group_by_tag() {
    let src = source();
    let q = "SELECT mean(usage), count(usage) FROM cpu WHERE time >= 0 AND time < 6m GROUP BY time(2m), host";
    let got = one(&src, q);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].tags, tags(&[("host", "a")]));
    assert_eq!(
        got[0].values,
        vec![
            vec![t(0), f(mean(&[0.0, 1.0])), i(2)],
            vec![t(2 * M), f(mean(&[2.0, 3.0])), i(2)],
            vec![t(4 * M), f(mean(&[4.0, 5.0])), i(2)],
        ]
    );
    // Host b has one point in [2m, 4m) and one in [4m, 6m).
    assert_eq!(got[1].values[1], vec![t(2 * M), f(104.0), i(1)]);
    assert_eq!(got[1].values[2], vec![t(4 * M), f(110.0), i(1)]);

    // 1m windows for b over [2m, 6m): 3m and 4m are empty.
    let base = "FROM cpu WHERE host = 'b' AND time >= 2m AND time < 6m GROUP BY time(1m)";
    let values = |fill: &str| {
        one(&src, &format!("SELECT max(usage) {base} fill({fill})"))[0]
            .values
            .clone()
    };
    assert_eq!(
        values("null"),
        vec![
            vec![t(2 * M), f(104.0)],
            vec![t(3 * M), Value::Null],
            vec![t(4 * M), Value::Null],
            vec![t(5 * M), f(110.0)],
        ]
    );
    assert_eq!(values("none").len(), 2);
    assert_eq!(values("previous")[2], vec![t(4 * M), f(104.0)]);
    assert_eq!(values("-1")[1], vec![t(3 * M), f(-1.0)]);
    let lin = values("linear");
    assert_eq!(lin[1], vec![t(3 * M), f(106.0)]);
    assert_eq!(lin[2], vec![t(4 * M), f(108.0)]);
    // An offset shifts the windows; the first window may start before the range. Points at
    // 1m and 2m fall in [30s, 150s), 3m and 4m in [150s, 270s); [270s, 390s) is empty.
    let got = one(
        &src,
        "SELECT count(usage) FROM cpu WHERE host = 'a' AND time >= 1m AND time < 5m GROUP BY time(2m, 30s)",
    );
    assert_eq!(
        got[0].values,
        vec![
            vec![t(30 * S), i(2)],
            vec![t(150 * S), i(2)],
            vec![t(270 * S), i(0)],
        ]
    );
    // Unbounded upper time is now(); windows past the last point count 0.
    let got = one(
        &src,
        "SELECT count(n) FROM cpu WHERE time >= 8m GROUP BY time(5m)",
    );
    assert_eq!(
        got[0].values,
        vec![
            vec![t(5 * M), i(2)],
            vec![t(10 * M), i(0)],
            vec![t(15 * M), i(0)],
            vec![t(20 * M), i(0)]
        ]
    );
    // GROUP BY * splits by every tag.
    let got = one(&src, "SELECT sum(usage) FROM cpu GROUP BY *");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].tags, tags(&[("host", "b"), ("region", "y")]));
    let b_sum: f64 = (0..10)
        .filter(|i| *i != 3 && *i != 4)
        .map(|i| 100.0 + 2.0 * i as f64)
        .sum();
    assert_eq!(got[1].values, vec![vec![t(0), f(b_sum)]]);
}

#[test]
fn aggregate_functions() {
    let src = source();
    let a: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let n: Vec<i64> = (0..10).map(|i| i % 3).collect();
    let row = |q: &str| {
        let got = one(&src, q);
        assert_eq!(got.len(), 1, "{q}");
        got[0].values.clone()
    };
    let w = "FROM cpu WHERE host = 'a'";
    // Without GROUP BY time the row's time is the range start (0 when unbounded).
    assert_eq!(
        row(&format!("SELECT median(usage) {w}")),
        vec![vec![t(0), f(4.5)]]
    );
    assert_eq!(
        row(&format!("SELECT spread(usage), spread(n) {w}")),
        vec![vec![t(0), f(9.0), i(2)]]
    );
    let mean = a.iter().sum::<f64>() / 10.0;
    let sd = (a.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 9.0).sqrt();
    assert_eq!(
        row(&format!("SELECT stddev(usage) {w}")),
        vec![vec![t(0), f(sd)]]
    );
    // Mode: the most frequent value, the smallest among ties (0 appears 4 times).
    assert_eq!(n.iter().filter(|x| **x == 0).count(), 4);
    assert_eq!(row(&format!("SELECT mode(n) {w}")), vec![vec![t(0), i(0)]]);
    assert_eq!(
        row(&format!("SELECT sum(n) {w}")),
        vec![vec![t(0), i(n.iter().sum())]]
    );
    // A lone selector reports its point's time.
    assert_eq!(
        row(&format!("SELECT max(usage) {w}")),
        vec![vec![t(9 * M), f(9.0)]]
    );
    assert_eq!(
        row(&format!("SELECT first(usage) {w} AND time >= 2m")),
        vec![vec![t(2 * M), f(2.0)]]
    );
    assert_eq!(
        row(&format!("SELECT last(n) {w}")),
        vec![vec![t(9 * M), i(0)]]
    );
    // percentile: the value at floor(n * p / 100 + 0.5) - 1 of the sorted values.
    assert_eq!(
        row(&format!("SELECT percentile(usage, 90) {w}")),
        vec![vec![t(8 * M), f(8.0)]]
    );
    // Two selectors: the range start again.
    assert_eq!(
        row(&format!("SELECT min(usage), max(usage) {w} AND time >= 1m")),
        vec![vec![t(M), f(1.0), f(9.0)]]
    );
    // distinct: one row per value, sorted.
    assert_eq!(
        row(&format!("SELECT distinct(n) {w}")),
        vec![vec![t(0), i(0)], vec![t(0), i(1)], vec![t(0), i(2)]]
    );
    // Aliases and duplicate names.
    let got = one(
        &src,
        &format!("SELECT mean(usage) AS avg, count(usage), count(n) {w}"),
    );
    assert_eq!(got[0].columns, cols(&["time", "avg", "count", "count_1"]));
    // count(*) counts every field, named count_<field>.
    let got = one(&src, &format!("SELECT count(*) {w}"));
    assert_eq!(got[0].columns, cols(&["time", "count_n", "count_usage"]));
    assert_eq!(got[0].values, vec![vec![t(0), i(10), i(10)]]);
}

#[test]
fn shows() {
    let src = source();
    let r = run(
        &src,
        "SHOW MEASUREMENTS; SHOW TAG KEYS; SHOW TAG VALUES WITH KEY =~ /o/ WHERE region = 'y'; SHOW FIELD KEYS FROM cpu; SHOW SERIES WHERE host = 'a'",
    );
    assert!(r.iter().all(|r| r.error.is_none()), "{r:?}");
    assert_eq!(r[0].series[0].values, vec![vec![s("cpu")], vec![s("mem")]]);
    assert_eq!(r[1].series.len(), 1, "mem has no tags");
    assert_eq!(
        r[1].series[0].values,
        vec![vec![s("host")], vec![s("region")]]
    );
    assert_eq!(
        r[2].series[0].values,
        vec![vec![s("host"), s("b")], vec![s("region"), s("y")]]
    );
    assert_eq!(
        r[3].series[0].values,
        vec![vec![s("n"), s("integer")], vec![s("usage"), s("float")]]
    );
    assert_eq!(r[4].series[0].values, vec![vec![s("cpu,host=a,region=x")]]);
}

#[test]
fn statement_errors_name_the_construct() {
    let src = source();
    let errors: Vec<Option<String>> = run(
        &src,
        "SELECT mean(usage), usage FROM cpu; SELECT usage > 1 FROM cpu; SELECT mean(usage) FROM cpu WHERE time > 1m OR host = 'a'; SELECT holt_winters(usage, 1, 1) FROM cpu; SELECT nope(usage) FROM cpu; SELECT mean(s) FROM mem; SELECT v FROM other.autogen.m; SELECT usage FROM cpu WHERE time != 0; SELECT host FROM cpu",
    )
    .into_iter()
    .map(|r| r.error)
    .collect();
    assert_eq!(
        errors,
        vec![
            Some("mixing aggregate and non-aggregate queries is not supported".into()),
            Some("unsupported expression in SELECT: usage > 1".into()),
            Some("invalid time condition: time > 1m OR host = 'a' (time may only be compared in top-level AND terms)".into()),
            Some("function holt_winters() is not supported".into()),
            Some("undefined function nope()".into()),
            Some("unsupported mean() on a string field: s".into()),
            Some("database not found: other".into()),
            Some("invalid time comparison operator: != (use =, <, <=, >, >=)".into()),
            Some("at least 1 non-time field must be queried".into()),
        ]
    );
}

/// Aggregates that storage computes per series (no field in the condition) must equal those
/// computed here from the rows (a condition on a field that every point passes).
#[test]
fn pushed_and_row_aggregates_agree() {
    let src = source();
    let close = |a: &Value, b: &Value| match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => a == b,
    };
    let mut checked = 0;
    for func in ["count", "sum", "mean", "min", "max", "first", "last"] {
        for group in [
            "",
            "GROUP BY host",
            "GROUP BY time(3m)",
            "GROUP BY time(2m, 1m), *",
        ] {
            for fill in ["", "fill(none)", "fill(previous)", "fill(7)"] {
                // A lone float field lets a mean over one series per group be storage's mean.
                for (range, fields) in [
                    ("time >= 1m AND time < 9m", format!("{func}(usage)")),
                    (
                        "time >= 1m AND time < 9m",
                        format!("{func}(usage), {func}(n)"),
                    ),
                    ("time < 20m", format!("{func}(usage)")),
                    ("time >= -1m", format!("{func}(usage), {func}(n)")),
                ] {
                    let q = |extra: &str| {
                        format!("SELECT {fields} FROM cpu WHERE {range}{extra} {group} {fill}")
                    };
                    let pushed = one(&src, &q(""));
                    let rows = one(&src, &q(" AND usage > -1000"));
                    assert_eq!(pushed.len(), rows.len(), "{}", q(""));
                    for (a, b) in pushed.iter().zip(&rows) {
                        assert_eq!(
                            (&a.name, &a.tags, &a.columns),
                            (&b.name, &b.tags, &b.columns)
                        );
                        assert_eq!(a.values.len(), b.values.len(), "{}", q(""));
                        for (ra, rb) in a.values.iter().zip(&b.values) {
                            assert!(
                                ra.iter().zip(rb).all(|(x, y)| close(x, y)),
                                "{}: {ra:?} != {rb:?}",
                                q("")
                            );
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 7 * 4 * 4 * 4);
}

#[test]
fn canceled_statements_answer_an_error() {
    let src = source();
    let statements =
        influxql::parse("SHOW MEASUREMENTS; SELECT usage FROM cpu").unwrap_or_default();
    assert_eq!(statements.len(), 2);
    let ctx = Context {
        source: &src,
        database: Some("db".into()),
        retention_policy: None,
        resolved: vec![Resolved {
            database: "db".into(),
            retention_policy: None,
            bucket: Ok(BucketRef::Name("b".into())),
        }],
        dbrps: vec![],
        now: 0,
        memory_limit: None,
        cancel: Some(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        ))),
    };
    let r = influxql::execute(&statements, &ctx);
    assert!(
        r.iter()
            .all(|r| r.error.as_deref() == Some("query canceled")),
        "{r:?}"
    );
}

#[test]
fn arithmetic_in_projections() {
    let src = source();
    // Raw fields: integers divided give floats; a missing operand gives null.
    let got = one(
        &src,
        "SELECT usage * 2, n / 4, n % 2 FROM cpu WHERE host = 'a' AND time >= 8m",
    );
    assert_eq!(got[0].columns, cols(&["time", "usage", "n", "n_1"]));
    assert_eq!(
        got[0].values,
        vec![
            vec![t(8 * M), f(16.0), f(0.5), i(0)],
            vec![t(9 * M), f(18.0), f(0.0), i(0)],
        ]
    );
    let got = one(
        &src,
        "SELECT usage + n, usage / 0 FROM cpu WHERE host = 'b' LIMIT 1",
    );
    assert_eq!(got[0].columns, cols(&["time", "usage_n", "usage"]));
    assert_eq!(got[0].values, vec![vec![t(0), Value::Null, f(0.0)]]);
    // Aggregates: the calls are computed (and filled) first, then the arithmetic.
    let n_sum: i64 = (0..10).map(|i| i % 3).sum();
    let got = one(
        &src,
        "SELECT mean(usage) * 100 AS pct, sum(n) - count(n) FROM cpu WHERE host = 'a'",
    );
    assert_eq!(got[0].columns, cols(&["time", "pct", "sum_count"]));
    assert_eq!(got[0].values, vec![vec![t(0), f(450.0), i(n_sum - 10)]]);
    let got = one(
        &src,
        "SELECT max(usage) / 2 FROM cpu WHERE host = 'b' AND time >= 2m AND time < 5m GROUP BY time(1m) fill(0)",
    );
    assert_eq!(
        got[0].values,
        vec![
            vec![t(2 * M), f(52.0)],
            vec![t(3 * M), f(0.0)],
            vec![t(4 * M), f(0.0)],
        ]
    );
}

#[test]
fn databases_a_query_reads() {
    let q = influxql::parse(
        r#"SELECT v FROM m; SELECT v FROM "other"."rp1"."m", "rp2"."m"; SHOW TAG KEYS ON third; SHOW DATABASES; SHOW MEASUREMENTS"#,
    )
    .unwrap_or_default();
    assert_eq!(q.len(), 5);
    let pair = |d: &str, r: Option<&str>| (d.to_string(), r.map(str::to_string));
    assert_eq!(
        Context::needed(&q, Some("db"), None),
        vec![
            pair("db", None),
            pair("other", Some("rp1")),
            pair("db", Some("rp2")),
            pair("third", None),
        ]
    );
    // Without a db parameter only the databases the statements name.
    assert_eq!(
        Context::needed(&q, None, Some("autogen")),
        vec![pair("other", Some("rp1")), pair("third", Some("autogen"))]
    );
}

#[test]
fn transformations() {
    let src = source();
    let values = |q: &str| {
        let got = one(&src, q);
        assert_eq!(got.len(), 1, "{q}");
        got[0].values.clone()
    };
    // Host a's usage grows by 1 a minute.
    assert_eq!(
        values("SELECT derivative(usage, 1m) FROM cpu WHERE host = 'a' AND time < 3m"),
        vec![vec![t(M), f(1.0)], vec![t(2 * M), f(1.0)]]
    );
    assert_eq!(
        values("SELECT derivative(usage) FROM cpu WHERE host = 'a' AND time < 2m")[0][1],
        f(1.0 / 60.0)
    );
    // Over windows: empty ones are skipped, the change is per unit of the time between values.
    let got = one(
        &src,
        "SELECT non_negative_derivative(max(usage), 1m) AS rate FROM cpu WHERE host = 'b' AND time >= 2m AND time < 6m GROUP BY time(1m)",
    );
    assert_eq!(got[0].columns, cols(&["time", "rate"]));
    assert_eq!(
        got[0].values,
        vec![vec![t(5 * M), f((110.0 - 104.0) / 3.0)]]
    );
    // n of host a: 0 1 2 0.
    let w = "FROM cpu WHERE host = 'a' AND time < 4m";
    assert_eq!(
        values(&format!("SELECT difference(n) {w}")),
        vec![
            vec![t(M), i(1)],
            vec![t(2 * M), i(1)],
            vec![t(3 * M), i(-2)]
        ]
    );
    assert_eq!(
        values(&format!("SELECT non_negative_difference(n) {w}")),
        vec![vec![t(M), i(1)], vec![t(2 * M), i(1)]]
    );
    assert_eq!(
        values(&format!("SELECT cumulative_sum(n) {w}")),
        vec![
            vec![t(0), i(0)],
            vec![t(M), i(1)],
            vec![t(2 * M), i(3)],
            vec![t(3 * M), i(3)]
        ]
    );
    assert_eq!(
        values("SELECT moving_average(usage, 3) FROM cpu WHERE host = 'a' AND time < 5m"),
        vec![
            vec![t(2 * M), f(1.0)],
            vec![t(3 * M), f(2.0)],
            vec![t(4 * M), f(3.0)]
        ]
    );
    let errors: Vec<Option<String>> = run(
        &src,
        "SELECT derivative(usage) FROM cpu GROUP BY time(1m); SELECT derivative(mean(usage)) FROM cpu; SELECT derivative(usage), usage FROM cpu; SELECT moving_average(usage, 1) FROM cpu",
    )
    .into_iter()
    .map(|r| r.error)
    .collect();
    assert_eq!(
        errors,
        vec![
            Some("aggregate function required inside the call to derivative: derivative(usage)".into()),
            Some("derivative(mean(...)) requires a GROUP BY time interval".into()),
            Some("mixing transformations (derivative, difference, ...) with other fields is not supported".into()),
            Some("moving_average() needs a field and a window of more than one point".into()),
        ]
    );
}
