//! Function semantics in the style of Flux's own `stdlib/universe/*_test.flux`: input tables
//! given as annotated CSV (`csv.from`), a pipeline, and the expected tables, compared the way
//! `testing.diff` compares them (tables matched by group key, columns by name and type, rows in
//! order, floats within 1e-6, empty tables absent). The data is written for these tests.

use query::csv::decode;
use query::source::MemSource;
use query::{Options, Table, Value, execute};

const INPUT: &str = "#datatype,string,long,dateTime:RFC3339,double,string,string,string
#group,false,false,false,false,true,true,true
#default,_result,,,,,,
,result,table,_time,_value,_field,_measurement,host
,,0,2021-03-01T10:00:00Z,4.5,temp,room,h1
,,0,2021-03-01T10:00:10Z,,temp,room,h1
,,0,2021-03-01T10:00:20Z,1.5,temp,room,h1
,,0,2021-03-01T10:00:30Z,9,temp,room,h1
,,0,2021-03-01T10:00:40Z,1.5,temp,room,h1
,,1,2021-03-01T10:00:00Z,20,temp,room,h2
,,1,2021-03-01T10:00:20Z,22,temp,room,h2
,,1,2021-03-01T10:00:50Z,21,temp,room,h2
";

fn run(pipeline: &str) -> Vec<Table> {
    let script = format!(
        "import \"csv\"\ninput = \"{}\"\ncsv.from(csv: input)\n  |> range(start: 2021-03-01T10:00:00Z, stop: 2021-03-01T10:01:00Z)\n{pipeline}",
        INPUT.replace('"', "\\\"")
    );
    let res = execute(&script, &MemSource::default(), &Options::default())
        .unwrap_or_else(|e| panic!("{pipeline}: {e}"));
    assert_eq!(res.len(), 1);
    res.into_iter().next().map(|r| r.tables).unwrap_or_default()
}

fn cells_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() < 1e-6
        }
        _ => a == b,
    }
}

/// `testing.diff`: fails with a description of the first difference.
fn diff(got: &[Table], want_csv: &str) {
    let want: Vec<Table> = decode(want_csv)
        .expect("want parses")
        .into_iter()
        .flat_map(|r| r.tables)
        .filter(|t| !t.is_empty())
        .collect();
    let got: Vec<&Table> = got.iter().filter(|t| !t.is_empty()).collect();
    assert_eq!(
        got.len(),
        want.len(),
        "table count; got keys {:?}",
        got.iter().map(|t| &t.key).collect::<Vec<_>>()
    );
    for w in &want {
        let mut wk: Vec<_> = w.key.columns.iter().map(|c| (&c.name, &c.value)).collect();
        wk.sort_by(|a, b| a.0.cmp(b.0));
        let g = got
            .iter()
            .find(|g| {
                let mut gk: Vec<_> = g.key.columns.iter().map(|c| (&c.name, &c.value)).collect();
                gk.sort_by(|a, b| a.0.cmp(b.0));
                gk == wk
            })
            .unwrap_or_else(|| panic!("no table with key {wk:?}"));
        let mut gn: Vec<_> = g.columns.iter().map(|c| (&c.name, c.ty)).collect();
        let mut wn: Vec<_> = w.columns.iter().map(|c| (&c.name, c.ty)).collect();
        gn.sort();
        wn.sort();
        assert_eq!(gn, wn, "columns of table {wk:?}");
        assert_eq!(g.nrows(), w.nrows(), "rows of table {wk:?}: got {g:?}");
        for wc in &w.columns {
            let gc = g.column(&wc.name).expect("column present");
            for (i, (x, y)) in gc.values.iter().zip(&wc.values).enumerate() {
                assert!(
                    cells_equal(x, y),
                    "table {wk:?} column {} row {i}: got {x:?}, want {y:?}",
                    wc.name
                );
            }
        }
    }
}

const HDR_RAW: &str = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string
#group,false,false,true,true,false,false,true,true,true
#default,_result,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,host
";

#[test]
fn sort_puts_nulls_first() {
    let got = run("|> sort()");
    diff(
        &got,
        &format!(
            "{HDR_RAW},,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:10Z,,temp,room,h1
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:20Z,1.5,temp,room,h1
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:40Z,1.5,temp,room,h1
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:00Z,4.5,temp,room,h1
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:30Z,9,temp,room,h1
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:00Z,20,temp,room,h2
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:50Z,21,temp,room,h2
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:20Z,22,temp,room,h2
"
        ),
    );
}

#[test]
fn aggregates_skip_nulls_count_does_not() {
    let want = |ty: &str, a: &str, b: &str| {
        format!(
            "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,string,string,string,{ty}
#group,false,false,true,true,true,true,true,false
#default,_result,,,,,,,
,result,table,_start,_stop,_field,_measurement,host,_value
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,temp,room,h1,{a}
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,temp,room,h2,{b}
"
        )
    };
    diff(&run("|> count()"), &want("long", "5", "3"));
    diff(&run("|> sum()"), &want("double", "16.5", "63"));
    diff(&run("|> mean()"), &want("double", "4.125", "21"));
    diff(&run("|> spread()"), &want("double", "7.5", "2"));
    diff(
        &run("|> quantile(q: 0.5, method: \"exact_mean\")"),
        &want("double", "3", "21"),
    );
    // t-digest with few points: interpolation between centroid midpoints.
    diff(
        &run("|> quantile(q: 0.25)"),
        &want("double", "1.5", "20.25"),
    );
}

#[test]
fn selectors_keep_rows_and_skip_nulls() {
    diff(
        &run("|> last()"),
        &format!(
            "{HDR_RAW},,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:40Z,1.5,temp,room,h1
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:50Z,21,temp,room,h2
"
        ),
    );
    diff(
        &run("|> min()"),
        &format!(
            "{HDR_RAW},,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:20Z,1.5,temp,room,h1
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:00Z,20,temp,room,h2
"
        ),
    );
    diff(
        &run("|> top(n: 1) |> group() |> bottom(n: 1)"),
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string
#group,false,false,false,false,false,false,false,false,false
#default,_result,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,host
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:30Z,9,temp,room,h1
",
    );
}

#[test]
fn fill_previous_keeps_leading_nulls_and_value_fills() {
    let got = run(
        "|> filter(fn: (r) => r.host == \"h1\") |> fill(usePrevious: true) |> keep(columns: [\"_time\", \"_value\", \"host\"])",
    );
    diff(
        &got,
        "#datatype,string,long,dateTime:RFC3339,double,string
#group,false,false,false,false,true
#default,_result,,,,
,result,table,_time,_value,host
,,0,2021-03-01T10:00:00Z,4.5,h1
,,0,2021-03-01T10:00:10Z,4.5,h1
,,0,2021-03-01T10:00:20Z,1.5,h1
,,0,2021-03-01T10:00:30Z,9,h1
,,0,2021-03-01T10:00:40Z,1.5,h1
",
    );
    let got = run(
        "|> filter(fn: (r) => r.host == \"h1\") |> fill(value: 0.0) |> keep(columns: [\"_value\", \"host\"]) |> limit(n: 2, offset: 1)",
    );
    diff(
        &got,
        "#datatype,string,long,double,string
#group,false,false,false,true
#default,_result,,,
,result,table,_value,host
,,0,0,h1
,,0,1.5,h1
",
    );
}

#[test]
fn window_create_empty_then_count() {
    let got = run(
        "|> filter(fn: (r) => r.host == \"h2\") |> window(every: 20s, createEmpty: true) |> count() |> drop(columns: [\"_field\", \"_measurement\"])",
    );
    diff(
        &got,
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,string,long
#group,false,false,true,true,true,false
#default,_result,,,,,
,result,table,_start,_stop,host,_value
,,0,2021-03-01T10:00:00Z,2021-03-01T10:00:20Z,h2,1
,,1,2021-03-01T10:00:20Z,2021-03-01T10:00:40Z,h2,1
,,2,2021-03-01T10:00:40Z,2021-03-01T10:01:00Z,h2,1
",
    );
    let got = run("|> filter(fn: (r) => r.host == \"h2\") |> window(every: 15s) |> count()");
    assert_eq!(got.len(), 3, "windows without rows are not emitted");
}

#[test]
fn aggregate_window_in_memory_with_off_grid_range() {
    let script = format!(
        "import \"csv\"\ncsv.from(csv: \"{}\")\n  |> range(start: 2021-03-01T10:00:05Z, stop: 2021-03-01T10:00:45Z)\n  |> aggregateWindow(every: 20s, fn: max)",
        INPUT.replace('"', "\\\"")
    );
    let got = execute(&script, &MemSource::default(), &Options::default()).unwrap();
    diff(
        &got[0].tables,
        &format!(
            "{HDR_RAW},,0,2021-03-01T10:00:05Z,2021-03-01T10:00:45Z,2021-03-01T10:00:20Z,,temp,room,h1
,,0,2021-03-01T10:00:05Z,2021-03-01T10:00:45Z,2021-03-01T10:00:40Z,9,temp,room,h1
,,0,2021-03-01T10:00:05Z,2021-03-01T10:00:45Z,2021-03-01T10:00:45Z,1.5,temp,room,h1
,,1,2021-03-01T10:00:05Z,2021-03-01T10:00:45Z,2021-03-01T10:00:20Z,,temp,room,h2
,,1,2021-03-01T10:00:05Z,2021-03-01T10:00:45Z,2021-03-01T10:00:40Z,22,temp,room,h2
,,1,2021-03-01T10:00:05Z,2021-03-01T10:00:45Z,2021-03-01T10:00:45Z,,temp,room,h2
"
        ),
    );
}

#[test]
fn map_and_set_regroup_rows() {
    let got = run(
        "|> map(fn: (r) => ({r with host: if r._value > 5.0 then \"hot\" else \"cold\"})) |> keep(columns: [\"_time\", \"_value\", \"host\"]) |> sort(columns: [\"_time\", \"_value\"])",
    );
    diff(
        &got,
        "#datatype,string,long,dateTime:RFC3339,double,string
#group,false,false,false,false,true
#default,_result,,,,
,result,table,_time,_value,host
,,0,2021-03-01T10:00:00Z,4.5,cold
,,0,2021-03-01T10:00:10Z,,cold
,,0,2021-03-01T10:00:20Z,1.5,cold
,,0,2021-03-01T10:00:40Z,1.5,cold
,,1,2021-03-01T10:00:00Z,20,hot
,,1,2021-03-01T10:00:20Z,22,hot
,,1,2021-03-01T10:00:30Z,9,hot
,,1,2021-03-01T10:00:50Z,21,hot
",
    );
    let got = run("|> set(key: \"host\", value: \"all\") |> count()");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].column("_value").unwrap().values, vec![Value::Int(8)]);
}

#[test]
fn pivot_rename_duplicate_group_except() {
    let got = run(
        "|> drop(columns: [\"_start\", \"_stop\"]) |> pivot(rowKey: [\"_time\"], columnKey: [\"host\"], valueColumn: \"_value\") |> limit(n: 3)",
    );
    diff(
        &got,
        "#datatype,string,long,string,string,dateTime:RFC3339,double,double
#group,false,false,true,true,false,false,false
#default,_result,,,,,,
,result,table,_field,_measurement,_time,h1,h2
,,0,temp,room,2021-03-01T10:00:00Z,4.5,20
,,0,temp,room,2021-03-01T10:00:10Z,,
,,0,temp,room,2021-03-01T10:00:20Z,1.5,22
",
    );
    let got = run(
        "|> rename(columns: {host: \"node\"}) |> duplicate(column: \"node\", as: \"n2\") |> group(columns: [\"_start\", \"_stop\", \"_time\", \"_value\", \"n2\"], mode: \"except\") |> first()",
    );
    diff(
        &got,
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string
#group,false,false,false,false,false,false,true,true,true,false
#default,_result,,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,node,n2
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:00Z,4.5,temp,room,h1,h1
,,1,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,2021-03-01T10:00:00Z,20,temp,room,h2,h2
",
    );
}

#[test]
fn distinct_unique_and_key_changes() {
    let got = run("|> filter(fn: (r) => r.host == \"h1\") |> distinct()");
    diff(
        &got,
        "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,string,string,string,double
#group,false,false,true,true,true,true,true,false
#default,_result,,,,,,,
,result,table,_start,_stop,_field,_measurement,host,_value
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,temp,room,h1,4.5
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,temp,room,h1,
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,temp,room,h1,1.5
,,0,2021-03-01T10:00:00Z,2021-03-01T10:01:00Z,temp,room,h1,9
",
    );
    let got = run("|> filter(fn: (r) => r.host == \"h1\") |> unique() |> count()");
    assert_eq!(got[0].column("_value").unwrap().values, vec![Value::Int(4)]);
    let got = run("|> distinct(column: \"host\")");
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].column("_value").unwrap().values,
        vec![Value::String("h2".into())]
    );
    // keep/drop of a key column take it out of the key; naming a missing column is fine.
    let got = run(
        "|> drop(columns: [\"host\", \"nope\"]) |> keep(columns: [\"_value\", \"_field\", \"missing\"])",
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].key.columns.len(), 1);
    let got = run("|> keep(fn: (column) => column =~ /^_(time|value)$/)");
    assert_eq!(got[0].columns.len(), 2);
}

#[test]
fn range_with_unix_seconds_and_conversions() {
    // 1614592820 = 2021-03-01T10:00:20Z
    let got = run(
        "|> range(start: 1614592820, stop: 2021-03-01T10:01:00Z) |> filter(fn: (r) => r.host == \"h2\") |> toInt()",
    );
    assert_eq!(
        got[0].column("_value").unwrap().values,
        vec![Value::Int(22), Value::Int(21)]
    );
    let got = run(
        "|> filter(fn: (r) => r.host == \"h1\") |> map(fn: (r) => ({_value: string(v: r._value) + \"!\", t: int(v: r._time), ok: exists r._value}))",
    );
    let t = &got[0];
    assert_eq!(
        t.column("_value").unwrap().values[0],
        Value::String("4.5!".into())
    );
    assert_eq!(t.column("_value").unwrap().values[1], Value::Null);
    assert_eq!(t.column("ok").unwrap().values[1], Value::Bool(false));
    assert_eq!(
        t.column("t").unwrap().values[0],
        Value::Int(1_614_592_800_000_000_000)
    );
}

#[test]
fn array_from_builds_a_table() {
    let res = execute(
        "import \"array\"\narray.from(rows: [{a: 1, b: \"x\"}, {a: 2, b: \"y\"}]) |> sum(column: \"a\")",
        &MemSource::default(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        res[0].tables[0].column("a").unwrap().values,
        vec![Value::Int(3)]
    );
}

#[test]
fn calendar_month_windows() {
    let script = "import \"array\"\n\
        array.from(rows: [\n\
          {_time: 2021-01-15T00:00:00Z, _value: 1.0},\n\
          {_time: 2021-01-31T23:00:00Z, _value: 3.0},\n\
          {_time: 2021-02-01T00:00:00Z, _value: 10.0},\n\
          {_time: 2021-03-31T12:00:00Z, _value: 20.0},\n\
        ])\n\
          |> range(start: 2021-01-10T00:00:00Z, stop: 2021-04-01T00:00:00Z)\n\
          |> aggregateWindow(every: 1mo, fn: sum)";
    let res = execute(script, &MemSource::default(), &Options::default()).unwrap();
    let t = &res[0].tables[0];
    assert_eq!(
        t.column("_value").unwrap().values,
        vec![Value::Float(4.0), Value::Float(10.0), Value::Float(20.0)]
    );
    let stops: Vec<Value> = [
        "2021-02-01T00:00:00Z",
        "2021-03-01T00:00:00Z",
        "2021-04-01T00:00:00Z",
    ]
    .iter()
    .map(|s| Value::Time(query::time::parse_rfc3339(s).unwrap()))
    .collect();
    assert_eq!(t.column("_time").unwrap().values, stops);
    // Weeks start on Thursday (the epoch's weekday): 2021-01-14 was a Thursday.
    let script = "import \"array\"\n\
        array.from(rows: [{_time: 2021-01-13T23:00:00Z, _value: 1}, {_time: 2021-01-14T00:00:00Z, _value: 1}])\n\
          |> range(start: 2021-01-01T00:00:00Z, stop: 2021-02-01T00:00:00Z)\n\
          |> window(every: 1w) |> count()";
    let res = execute(script, &MemSource::default(), &Options::default()).unwrap();
    assert_eq!(res[0].tables.len(), 2);
    assert_eq!(
        res[0].tables[1].key.get("_start"),
        Some(&Value::Time(
            query::time::parse_rfc3339("2021-01-14T00:00:00Z").unwrap()
        ))
    );
}

#[test]
fn windows_before_1970_and_window_limits() {
    let script = "import \"array\"\n\
        array.from(rows: [{_time: 1969-11-15T00:00:00Z, _value: 1.0}, {_time: 1969-12-31T23:59:59Z, _value: 2.0}, {_time: 1970-01-01T00:00:00Z, _value: 4.0}])\n\
          |> range(start: 1969-11-01T00:00:00Z, stop: 1970-02-01T00:00:00Z)\n\
          |> aggregateWindow(every: 1mo, fn: sum, createEmpty: false, timeSrc: \"_start\")";
    let res = execute(script, &MemSource::default(), &Options::default()).unwrap();
    let t = &res[0].tables[0];
    assert_eq!(
        t.column("_value").unwrap().values,
        vec![Value::Float(1.0), Value::Float(2.0), Value::Float(4.0)]
    );
    assert_eq!(
        t.column("_time").unwrap().values[1],
        Value::Time(query::time::parse_rfc3339("1969-12-01T00:00:00Z").unwrap())
    );
    let script = "import \"array\"\n\
        array.from(rows: [{_time: 2021-01-01T00:00:00Z, _value: 1.0}])\n\
          |> range(start: 2000-01-01T00:00:00Z, stop: 2021-02-01T00:00:00Z)\n\
          |> aggregateWindow(every: 1ms, fn: sum)";
    let e = execute(script, &MemSource::default(), &Options::default()).unwrap_err();
    assert!(e.to_string().contains("windows"), "{e}");
}

#[test]
fn sparse_points_over_a_long_range_without_empty_windows() {
    use query::source::{BucketInfo, MemSeries, SeriesValues};
    let t = |s: &str| query::time::parse_rfc3339(s).unwrap();
    let src = MemSource {
        buckets: vec![(
            BucketInfo {
                name: "b".into(),
                id: "1".into(),
                organization_id: "2".into(),
                retention_period: 0,
                retention_policy: String::new(),
            },
            vec![MemSeries {
                tags: vec![
                    ("_measurement".into(), "m".into()),
                    ("_field".into(), "f".into()),
                ],
                times: vec![
                    t("2001-01-01T00:00:00.5Z"),
                    t("2001-01-01T00:00:00.7Z"),
                    t("2020-06-01T00:00:00Z"),
                ],
                values: SeriesValues::Int(vec![1, 2, 3]),
            }],
        )],
    };
    let res = execute(
        "from(bucket: \"b\") |> range(start: 2000-01-01T00:00:00Z, stop: 2021-01-01T00:00:00Z) |> aggregateWindow(every: 1ms, fn: sum, createEmpty: false)",
        &src,
        &Options::default(),
    )
    .unwrap();
    let tb = &res[0].tables[0];
    assert_eq!(
        tb.column("_value").unwrap().values,
        vec![Value::Int(1), Value::Int(2), Value::Int(3)]
    );
    assert_eq!(
        tb.column("_time").unwrap().values[0],
        Value::Time(t("2001-01-01T00:00:00.501Z"))
    );
}
