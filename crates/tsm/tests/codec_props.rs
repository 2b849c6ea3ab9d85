//! Property tests: every codec round-trips edge cases (empty, one value, 1000 and 10,000
//! values, i64/u64 extremes, huge and negative deltas, repeated values, long and unicode
//! strings), and whole blocks and files round-trip through the writer and reader.

use proptest::collection::vec;
use proptest::prelude::*;
use tsm::encoding::{StringValues, boolean, float, integer, simple8b, string, timestamp};
use tsm::{Block, TsmReader, TsmWriter, Values, ValuesRef, block};

/// Integers biased towards edge cases.
fn edge_i64() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![
        4 => any::<i64>(),
        2 => -1000i64..1000,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0i64),
        1 => (0i64..4).prop_map(|k| 1i64 << (59 + k)),
    ]
}

/// Vectors with runs of repeated values, of length `len`.
fn runs<T: Clone + std::fmt::Debug>(
    elem: impl Strategy<Value = T>,
    len: impl Into<proptest::collection::SizeRange>,
) -> impl Strategy<Value = Vec<T>> {
    vec((elem, 1usize..300), len).prop_map(|v| {
        v.into_iter()
            .flat_map(|(x, n)| std::iter::repeat_n(x, n))
            .collect()
    })
}

/// Sizes that matter: empty, one, small, 1000 and 10,000.
fn sized<T: Clone + std::fmt::Debug + 'static>(
    elem: impl Strategy<Value = T> + Clone + 'static,
) -> impl Strategy<Value = Vec<T>> {
    prop_oneof![
        vec(elem.clone(), 0..=1),
        vec(elem.clone(), 2..300),
        vec(elem.clone(), 1000),
        vec(elem, 10_000),
    ]
}

/// Timestamps: regular with noise, huge jumps, negative, unsorted.
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        (any::<i64>(), 1i64..1_000_000_000_000, 0usize..3000).prop_map(|(s, step, n)| {
            (0..n as i64)
                .map(|i| s.wrapping_add(i.wrapping_mul(step)))
                .collect()
        }),
        (any::<i64>(), vec(0u64..100_000, 0..3000), 0u32..13).prop_map(|(s, d, e)| {
            let mut t = s;
            d.iter()
                .map(|&x| {
                    t = t.wrapping_add((x * 10u64.pow(e)) as i64);
                    t
                })
                .collect()
        }),
        sized(edge_i64()),
        vec(any::<i64>(), 10_000),
    ]
}

fn float_edge() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        4 => any::<u64>().prop_map(f64::from_bits),
        2 => -100.0f64..100.0,
        1 => Just(0.0f64),
        1 => Just(-0.0f64),
        1 => Just(f64::INFINITY),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(f64::MAX),
        1 => (0u64..64).prop_map(|k| f64::from_bits(1 << k)),
    ]
    .prop_filter("NaN cannot be stored", |v| !v.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn simple8b_round_trip(v in prop_oneof![sized(0u64..=simple8b::MAX_VALUE), runs(0u64..4, 0..20), sized(0u64..3)]) {
        for rule in [simple8b::OnesRule::Window, simple8b::OnesRule::ToEnd] {
            let mut b = Vec::new();
            simple8b::encode_with(&v, rule, &mut b).unwrap();
            prop_assert_eq!(simple8b::count(&b).unwrap(), v.len());
            let mut d = Vec::new();
            simple8b::decode(&b, &mut d).unwrap();
            prop_assert_eq!(&d, &v);
        }
    }

    #[test]
    fn timestamp_round_trip(v in timestamps()) {
        let mut b = Vec::new();
        timestamp::encode(&v, &mut b).unwrap();
        prop_assert_eq!(timestamp::count(&b).unwrap(), v.len());
        let mut d = vec![42];
        timestamp::decode(&b, &mut d).unwrap();
        prop_assert_eq!(&d[1..], &v[..]);
    }

    #[test]
    fn integer_round_trip(v in prop_oneof![sized(edge_i64()), runs(edge_i64(), 0..40)]) {
        let mut b = Vec::new();
        integer::encode(&v, &mut b).unwrap();
        let mut d = Vec::new();
        integer::decode(&b, &mut d).unwrap();
        prop_assert_eq!(&d, &v);
    }

    #[test]
    fn unsigned_round_trip(v in prop_oneof![sized(any::<u64>()), runs(prop_oneof![Just(u64::MAX), Just(0u64), 0u64..100], 0..40)]) {
        let mut b = Vec::new();
        integer::encode_unsigned(&v, &mut b).unwrap();
        let mut d = Vec::new();
        integer::decode_unsigned(&b, &mut d).unwrap();
        prop_assert_eq!(&d, &v);
    }

    #[test]
    fn float_round_trip(v in prop_oneof![sized(float_edge()), runs(float_edge(), 0..40)]) {
        let mut b = Vec::new();
        float::encode(&v, &mut b).unwrap();
        let mut d = Vec::new();
        float::decode(&b, &mut d).unwrap();
        prop_assert_eq!(d.len(), v.len());
        for (a, x) in d.iter().zip(&v) {
            prop_assert_eq!(a.to_bits(), x.to_bits());
        }
    }

    #[test]
    fn boolean_round_trip(v in prop_oneof![sized(any::<bool>()), runs(any::<bool>(), 0..40)]) {
        let mut b = Vec::new();
        boolean::encode(&v, &mut b).unwrap();
        let mut d = Vec::new();
        boolean::decode(&b, &mut d).unwrap();
        prop_assert_eq!(&d, &v);
    }

    #[test]
    fn string_round_trip(v in prop_oneof![
        vec(".*", 0..50).prop_map(|v| v.into_iter().map(String::into_bytes).collect::<Vec<_>>()),
        vec(vec(any::<u8>(), 0..100), 0..1000),
        vec("[a-c☃日]{0,5}", 1000).prop_map(|v| v.into_iter().map(String::into_bytes).collect()),
        (1usize..200_000, any::<u8>()).prop_map(|(n, c)| vec![vec![c; n], vec![], vec![c; n / 3]]),
    ]) {
        let mut b = Vec::new();
        string::encode(&v, &mut b).unwrap();
        let mut d = StringValues::new();
        string::decode(&b, &mut d).unwrap();
        prop_assert_eq!(d.to_vecs(), v.clone());
        // And through the `snap` crate's decoder, as a second independent snappy reader.
        let raw = snap::raw::Decoder::new().decompress_vec(&b[1..]).unwrap();
        let want: usize = v.iter().map(|s| s.len() + tsm_varint_len(s.len())).sum();
        prop_assert_eq!(raw.len(), want);
    }
}

fn tsm_varint_len(n: usize) -> usize {
    let mut b = Vec::new();
    tsm::encoding::put_uvarint(&mut b, n as u64);
    b.len()
}

fn values_strategy() -> impl Strategy<Value = Values> {
    prop_oneof![
        vec(float_edge(), 1..1500).prop_map(Values::Float),
        vec(edge_i64(), 1..1500).prop_map(Values::Integer),
        vec(any::<u64>(), 1..1500).prop_map(Values::Unsigned),
        vec(any::<bool>(), 1..1500).prop_map(Values::Boolean),
        vec(".{0,40}", 1..1500).prop_map(|v| Values::String(v.into_iter().collect())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn block_and_file_round_trip(values in values_strategy(), start in any::<i32>(), step in 1i64..1_000_000) {
        let n = values.len();
        let ts: Vec<i64> = (0..n as i64).map(|i| i64::from(start) * 1000 + i * step).collect();
        let mut data = Vec::new();
        block::encode(&ts, values.as_ref(), &mut data).unwrap();
        let b = block::decode_new(&data).unwrap();
        prop_assert_eq!(&b.timestamps, &ts);
        prop_assert!(same_values(&b.values, &values));

        let dir = std::env::temp_dir().join(format!("tsm-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("000000001-000000001.tsm");
        let mut w = TsmWriter::create(&path).unwrap().with_max_points_per_block(400);
        w.write(b"k#!~#f", &ts, values.as_ref()).unwrap();
        w.write(b"l#!~#f", &ts[..1], ValuesRef::Boolean(&[true])).unwrap();
        w.finish().unwrap();
        let r = TsmReader::open(&path).unwrap();
        prop_assert_eq!(r.verify().unwrap(), n.div_ceil(400) + 1);
        let all: Block = r.read_all(b"k#!~#f").unwrap().unwrap();
        prop_assert_eq!(&all.timestamps, &ts);
        prop_assert!(same_values(&all.values, &values));
        // A time range in the middle.
        let (lo, hi) = (ts[n / 3], ts[(2 * n) / 3]);
        let part = r.read_range(b"k#!~#f", lo, hi).unwrap().unwrap();
        prop_assert_eq!(part.timestamps, ts[n / 3..=(2 * n) / 3].to_vec());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn same_values(a: &Values, b: &Values) -> bool {
    match (a, b) {
        (Values::Float(x), Values::Float(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}
