use super::*;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000_123_456_789;

fn one(lp: &str) -> Result<Point, ParseError> {
    let mut it = parse_lines(lp.as_bytes(), Precision::Nanoseconds, NOW);
    let r = it.next().expect("one point");
    assert!(it.next().is_none(), "more than one record in {lp:?}");
    r
}

#[track_caller]
fn check(lp: &str, key: &str, fields: &[(&str, FieldValue)], time: i64) {
    let p = one(lp).unwrap_or_else(|e| panic!("{lp:?}: {e}"));
    assert_eq!(p.series_key, key, "{lp:?}");
    let want: Vec<(String, FieldValue)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(p.fields, want, "{lp:?}");
    assert_eq!(p.time, time, "{lp:?}");
}

#[track_caller]
fn check_err(lp: &str, reason: &str) {
    match one(lp) {
        Ok(p) => panic!("{lp:?} parsed as {p:?}, wanted error {reason:?}"),
        Err(e) => {
            assert_eq!(e.reason, reason, "{lp:?}");
            assert_eq!(
                e.to_string(),
                format!("unable to parse '{}': {reason}", lp.trim_start())
            );
        }
    }
}

use FieldValue::{Boolean, Float, Integer, Unsigned};

#[test]
fn simple_types() {
    check("m v=1 5", "m", &[("v", Float(1.0))], 5);
    check("m v=-1.5e3 5", "m", &[("v", Float(-1500.0))], 5);
    check("m v=1E-300 5", "m", &[("v", Float(1e-300))], 5);
    check("m v=.5 5", "m", &[("v", Float(0.5))], 5);
    check("m v=5. 5", "m", &[("v", Float(5.0))], 5);
    check(
        "m v=-9223372036854775808i 5",
        "m",
        &[("v", Integer(i64::MIN))],
        5,
    );
    check(
        "m v=18446744073709551615u 5",
        "m",
        &[("v", Unsigned(u64::MAX))],
        5,
    );
    check(
        r#"m v="a \"q\" \\ \n" 5"#,
        "m",
        &[("v", FieldValue::String(r#"a "q" \ \n"#.into()))],
        5,
    );
    check(
        r#"m v="" 5"#,
        "m",
        &[("v", FieldValue::String(String::new()))],
        5,
    );
    for t in ["t", "T", "true", "True", "TRUE"] {
        check(&format!("m v={t} 5"), "m", &[("v", Boolean(true))], 5);
    }
    for f in ["f", "F", "false", "False", "FALSE"] {
        check(&format!("m v={f} 5"), "m", &[("v", Boolean(false))], 5);
    }
}

#[test]
fn escapes_and_tag_sorting() {
    check(
        r"my\ m\,x,z=1,k\=eq=a\,b\=c,tag\ key=va\ lue field\ key=1.5 7",
        r"my\ m\,x,k\=eq=a\,b\=c,tag\ key=va\ lue,z=1",
        &[("field key", Float(1.5))],
        7,
    );
    let p = one(r"my\ m\,x,k\=eq=a\,b\=c f=1i 1").unwrap();
    assert_eq!(p.measurement(), "my m,x");
    assert_eq!(p.tags(), vec![("k=eq".to_string(), "a,b=c".to_string())]);
    assert_eq!(p.tsm_key("f"), b"my\\ m\\,x,k\\=eq=a\\,b\\=c#!~#f".to_vec());
    check(r"m f\,x\=y=1i 1", "m", &[("f,x=y", Integer(1))], 1);
    check("m,b=2,a=1 v=1 1", "m,a=1,b=2", &[("v", Float(1.0))], 1);
    check(
        "unicode_ünï,city=Zürich v=\"naïve\" 1",
        "unicode_ünï,city=Zürich",
        &[("v", FieldValue::String("naïve".into()))],
        1,
    );
}

#[test]
fn timestamps_and_precision() {
    check("m v=1", "m", &[("v", Float(1.0))], NOW);
    check(
        "m v=1 -86399876543211",
        "m",
        &[("v", Float(1.0))],
        -86_399_876_543_211,
    );
    let p = parse_lines(b"m v=1 3", Precision::Seconds, NOW)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(p.time, 3_000_000_000);
    let p = parse_lines(b"m v=1 3", Precision::Microseconds, NOW)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(p.time, 3_000);
    let p = parse_lines(b"m v=1 3", Precision::Milliseconds, NOW)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(p.time, 3_000_000);
    let p = parse_lines(b"m v=1", Precision::Seconds, NOW)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        p.time, 1_700_000_000_000_000_000,
        "missing time truncated to precision"
    );
    check_err(
        "m v=1 9223372036854775807",
        "time outside range -9223372036854775806 - 9223372036854775806",
    );
    let e = parse_lines(b"m v=1 9223372036854775", Precision::Seconds, NOW)
        .next()
        .unwrap();
    assert!(e.is_err());
}

#[test]
fn errors_carry_go_reasons() {
    check_err("m", "missing fields");
    check_err("m ", "missing fields");
    check_err("m,t=a", "missing fields");
    check_err(",t=a v=1", "missing measurement");
    check_err("m,=a v=1", "missing tag key");
    check_err("m,t v=1", "missing tag value");
    check_err("m,t= v=1", "missing tag value");
    check_err("m,t=a=b v=1", "invalid tag format");
    check_err("m,t=a,t=b v=1", "duplicate tags");
    check_err("m,u=1,t=a,t=b v=1", "duplicate tags");
    check_err("m v=", "missing field value");
    check_err("m v=,w=1", "missing field value");
    check_err("m =1", "missing field key");
    check_err("m v=1,=2", "missing field key");
    check_err("m v", "invalid field format");
    check_err("m v=1,w", "invalid field format");
    check_err(r#"m v="abc"#, "unbalanced quotes");
    check_err("m v=1.1.1", "invalid number");
    check_err("m v=1i5", "invalid number");
    check_err("m v=1.5i", "invalid number");
    check_err("m v=-", "invalid number");
    check_err("m v=NaN", "invalid number");
    check_err("m v=nan", "invalid number");
    check_err("m v=Inf", "invalid boolean");
    check_err("m v=-Inf", "invalid number");
    check_err("m v=1e400", "invalid float");
    check_err("m v=yes", "invalid boolean");
    check_err("m v=tru", "invalid boolean");
    check_err("m v=1 12a", "bad timestamp");
    check_err("m v=1 - ", "bad timestamp");
    check_err("m v=1 1 2", "point is invalid");
    check_err(
        "m v=99999999999999999999i",
        "unable to parse integer 99999999999999999999: strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
    );
    check_err("m v=-1u", "invalid number");
    check_err("m v=+1i", "invalid boolean");
}

#[test]
fn comments_blank_lines_and_line_numbers() {
    let body = b"# comment\n\n   \nm v=1 1\n  # indented comment\nbad\nm v=\"multi\nline\" 2\nm v=2 3\nworse v=\n";
    let res: Vec<_> = parse_lines(body, Precision::Nanoseconds, NOW).collect();
    assert_eq!(res.len(), 5);
    assert!(res[0].is_ok());
    let e = res[1].as_ref().unwrap_err();
    assert_eq!((e.line, e.reason.as_str()), (6, "missing fields"));
    let p = res[2].as_ref().unwrap();
    assert_eq!(p.fields[0].1, FieldValue::String("multi\nline".into()));
    assert_eq!(res[3].as_ref().unwrap().time, 3);
    let e = res[4].as_ref().unwrap_err();
    assert_eq!((e.line, e.text.as_str()), (10, "worse v="));
}

#[test]
fn duplicate_fields_kept_in_order() {
    check(
        "m v=1,v=2 1",
        "m",
        &[("v", Float(1.0)), ("v", Float(2.0))],
        1,
    );
}

/// One expected point: measurement, sorted tags, fields sorted by key, time.
pub(crate) type Expected = (
    String,
    Vec<(String, String)>,
    Vec<(String, FieldValue)>,
    i64,
);

/// The ground truth (`points.json.gz`) with the engine's field values.
pub(crate) fn ground_truth() -> Vec<Expected> {
    testdata::points()
        .into_iter()
        .map(|p| {
            let fields = p
                .fields
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        testdata::Value::Float(x) => Float(x),
                        testdata::Value::Integer(x) => Integer(x),
                        testdata::Value::Unsigned(x) => Unsigned(x),
                        testdata::Value::Boolean(x) => Boolean(x),
                        testdata::Value::String(x) => FieldValue::String(x),
                    };
                    (k, v)
                })
                .collect();
            (p.measurement, p.tags, fields, p.time)
        })
        .collect()
}

pub(crate) fn points_lp() -> Vec<u8> {
    testdata::line_protocol()
}

#[test]
fn ground_truth_points_parse_exactly() {
    let want = ground_truth();
    let body = points_lp();
    let got: Vec<Point> = parse_lines(&body, Precision::Nanoseconds, NOW)
        .collect::<Result<_, _>>()
        .expect("every line parses");
    assert_eq!(got.len(), 10_942);
    assert_eq!(got.len(), want.len());
    for (p, (m, tags, fields, t)) in got.iter().zip(want) {
        assert_eq!(p.measurement(), m);
        let mut pt = p.tags();
        pt.sort();
        assert_eq!(pt, tags);
        let mut pf = p.fields.clone();
        pf.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(pf, fields, "{}", p.series_key);
        assert_eq!(p.time, t);
    }
}

#[test]
fn throughput_is_reported() {
    // Not a benchmark: a debug-build sanity figure printed with --nocapture.
    let body = points_lp();
    let start = std::time::Instant::now();
    let n = parse_lines(&body, Precision::Nanoseconds, NOW)
        .filter(|r| r.is_ok())
        .count();
    let dt = start.elapsed();
    assert_eq!(n, 10_942);
    println!(
        "parsed {n} points in {dt:?} ({:.0} points/s)",
        n as f64 / dt.as_secs_f64()
    );
}

fn escape(s: &str, chars: &[char]) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if chars.contains(&c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn name() -> impl Strategy<Value = String> {
    // No backslash (it does not round-trip through InfluxDB's escaping either), no leading '#'.
    "[a-zA-Z0-9_ ,=\"üé☃.-]{1,8}".prop_filter("no leading #/space", |s| {
        !s.starts_with('#') && !s.starts_with(' ') && !s.ends_with(' ')
    })
}

fn value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Float),
        any::<i64>().prop_map(Integer),
        any::<u64>().prop_map(Unsigned),
        any::<bool>().prop_map(Boolean),
        "[a-z \"\\\\,=\n]{0,10}".prop_map(FieldValue::String),
    ]
}

fn render(v: &FieldValue) -> String {
    match v {
        Float(f) => format!("{f:?}"),
        Integer(i) => format!("{i}i"),
        Unsigned(u) => format!("{u}u"),
        Boolean(b) => b.to_string(),
        FieldValue::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

proptest! {
    #[test]
    fn round_trip(
        m in name(),
        tags in proptest::collection::btree_map(name(), name(), 0..4),
        fields in proptest::collection::btree_map(name(), value(), 1..4),
        t in MIN_NANO_TIME..MAX_NANO_TIME,
    ) {
        let mut lp = escape(&m, &[',', ' ']);
        let mut tag_parts: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (escape(k, &[',', ' ', '=']), escape(v, &[',', ' ', '='])))
            .collect();
        for (k, v) in &tag_parts {
            lp.push_str(&format!(",{k}={v}"));
        }
        lp.push(' ');
        let fs: Vec<_> = fields.iter().map(|(k, v)| format!("{}={}", escape(k, &[',', ' ', '=']), render(v))).collect();
        lp.push_str(&fs.join(","));
        lp.push_str(&format!(" {t}"));
        let p = one(&lp).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(p.measurement(), m.clone());
        let want_tags: Vec<_> = tags.into_iter().collect();
        let mut got_tags = p.tags();
        got_tags.sort();
        let mut want_sorted = want_tags.clone();
        want_sorted.sort();
        prop_assert_eq!(got_tags, want_sorted);
        // Series key: tags ordered by escaped key bytes.
        tag_parts.sort();
        let mut key = escape(&m, &[',', ' ']);
        for (k, v) in &tag_parts { key.push_str(&format!(",{k}={v}")); }
        prop_assert_eq!(&p.series_key, &key);
        let want_fields: Vec<_> = fields.into_iter().collect();
        prop_assert_eq!(p.fields, want_fields);
        prop_assert_eq!(p.time, t);
    }

    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        for r in parse_lines(&body, Precision::Nanoseconds, NOW) {
            let _ = r;
        }
    }

    #[test]
    fn never_panics_on_lp_like_bytes(body in "[a-z,= \"\\\\0-9.\n#-]{0,60}") {
        for p in parse_lines(body.as_bytes(), Precision::Seconds, NOW).flatten() {
            prop_assert!(!p.fields.is_empty());
        }
    }
}
