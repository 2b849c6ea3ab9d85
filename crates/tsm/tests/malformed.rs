//! Random and mutated bytes fed to every decoder, the block decoder, the tombstone parser and
//! the file reader: the result may be an error (or, for bytes that happen to be valid, data),
//! but never a panic, an out-of-bounds read or a huge allocation. Corruption that InfluxDB's
//! format can detect (header, footer, CRC) must be reported as an error.

use proptest::collection::vec;
use proptest::prelude::*;
use tsm::encoding::{StringValues, boolean, float, integer, simple8b, string, timestamp};
use tsm::{Block, BlockType, TsmReader, TsmWriter, ValuesRef, block, tombstone};

fn decode_everything(b: &[u8]) {
    let _ = simple8b::decode(b, &mut Vec::new());
    let _ = simple8b::count(b);
    let _ = timestamp::decode(b, &mut Vec::new());
    let _ = timestamp::count(b);
    let _ = integer::decode(b, &mut Vec::new());
    let _ = integer::decode_unsigned(b, &mut Vec::new());
    let _ = float::decode(b, &mut Vec::new());
    let _ = boolean::decode(b, &mut Vec::new());
    let _ = string::decode(b, &mut StringValues::new());
    let _ = block::decode(b, &mut Block::new(BlockType::Float));
    let _ = block::count(b);
    let _ = tombstone::parse(b);
    for t in 0..5u8 {
        let mut with_type = vec![t];
        with_type.extend_from_slice(b);
        let _ = block::decode_new(&with_type);
    }
}

/// One valid encoded column per codec, and one block per type.
fn valid_samples() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let ts: Vec<i64> = (0..300).map(|i| 1_000_000_000 * i + (i % 7)).collect();
    let ints: Vec<i64> = (0..300).map(|i| i * i - 5000).collect();
    let floats: Vec<f64> = (0..300).map(|i| i as f64 / 3.0).collect();
    let bools: Vec<bool> = (0..300).map(|i| i % 3 == 0).collect();
    let strs: StringValues = (0..300).map(|i| format!("s{i}☃")).collect();
    let mut b = Vec::new();
    timestamp::encode(&ts, &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    timestamp::encode(&[5, 10, 15, 20], &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    timestamp::encode(&[i64::MIN, 0, 1, i64::MAX], &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    integer::encode(&ints, &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    integer::encode(&[3, 6, 9, 12], &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    float::encode(&floats, &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    boolean::encode(&bools, &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    string::encode_values(&strs, &mut b).unwrap();
    out.push(std::mem::take(&mut b));
    for v in [
        ValuesRef::Float(&floats),
        ValuesRef::Integer(&ints),
        ValuesRef::Boolean(&bools),
        ValuesRef::String(&strs),
    ] {
        block::encode(&ts, v, &mut b).unwrap();
        out.push(std::mem::take(&mut b));
    }
    out
}

#[test]
fn every_single_byte_mutation_of_valid_columns() {
    for sample in valid_samples() {
        decode_everything(&sample);
        // Every position near the start (headers), then a stride through the payload.
        let positions = (0..sample.len()).filter(|&i| i < 48 || i % 13 == 0);
        for cut in positions.clone() {
            decode_everything(&sample[..cut]);
        }
        for i in positions {
            for x in [0x00u8, 0xff, 0x80, 0x01, 0x10, 0x20] {
                let mut m = sample.clone();
                m[i] = x;
                decode_everything(&m);
                m[i] ^= sample[i] ^ 0x55;
                decode_everything(&m);
            }
        }
    }
}

#[test]
fn hostile_headers_do_not_allocate() {
    // RLE timestamps claiming 2^63 values, RLE integers likewise, snappy claiming 4 GiB.
    let mut ts = vec![0x20];
    ts.extend_from_slice(&[0; 8]);
    ts.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(timestamp::decode(&ts, &mut Vec::new()).is_err());
    let mut ints = vec![0x20];
    ints.extend_from_slice(&[0; 8]);
    ints.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(integer::decode(&ints, &mut Vec::new()).is_err());
    assert!(
        string::decode(
            &[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0],
            &mut StringValues::new()
        )
        .is_err()
    );
    // A boolean count larger than the payload is clamped to the payload, as InfluxDB does.
    let mut bools = Vec::new();
    boolean::decode(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f], &mut bools).unwrap();
    assert!(bools.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(b in vec(any::<u8>(), 0..200)) {
        decode_everything(&b);
        let _ = TsmReader::from_vec("random.tsm", b.clone());
        let mut framed = vec![0x16, 0xd1, 0x16, 0xd1, 1];
        framed.extend_from_slice(&b);
        if let Ok(r) = TsmReader::from_vec("framed.tsm", framed) {
            let _ = r.verify();
            for i in 0..r.key_count() {
                let key = r.key_at(i).unwrap().0.to_vec();
                let _ = r.read_all(&key);
            }
        }
    }
}

fn sample_file() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("tsm-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("000000001-000000001.tsm");
    let mut w = TsmWriter::create(&path)
        .unwrap()
        .with_max_points_per_block(50);
    let ts: Vec<i64> = (0..120).map(|i| i * 1_000_000_000).collect();
    let f: Vec<f64> = (0..120).map(|i| i as f64 * 1.25).collect();
    let n: Vec<i64> = (0..120).map(|i| (i * 37) % 11).collect();
    let s: StringValues = (0..120).map(|i| format!("v{i}")).collect();
    w.write(b"a#!~#f", &ts, ValuesRef::Float(&f)).unwrap();
    w.write(b"b#!~#i", &ts, ValuesRef::Integer(&n)).unwrap();
    w.write(b"c#!~#s", &ts, ValuesRef::String(&s)).unwrap();
    w.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    bytes
}

/// Opens and fully reads a file image; `Err` if anything reports corruption.
fn read_everything(bytes: Vec<u8>) -> Result<(), tsm::Error> {
    let r = TsmReader::from_vec("mutated.tsm", bytes)?;
    r.verify()?;
    for i in 0..r.key_count() {
        let key = r.key_at(i).unwrap().0.to_vec();
        r.read_all(&key)?;
    }
    Ok(())
}

#[test]
fn mutated_files_are_errors() {
    let good = sample_file();
    read_everything(good.clone()).unwrap();
    let r = TsmReader::from_vec("good.tsm", good.clone()).unwrap();
    let index_start = good.len() - 8 - r.index_size() as usize;
    // Every byte of the header and of every block record: an error (magic, version or CRC).
    for i in 0..index_start {
        let mut m = good.clone();
        m[i] ^= 0x41;
        let e = read_everything(m);
        assert!(e.is_err(), "mutation at {i} not detected");
    }
    // Index and footer: never a panic; footer changes are errors.
    for i in index_start..good.len() {
        for x in [0x00u8, 0xff, 0x01, 0x80] {
            let mut m = good.clone();
            m[i] = x;
            let res = read_everything(m);
            if i >= good.len() - 8 && x != good[i] {
                assert!(res.is_err(), "footer mutation at {i} not detected");
            }
        }
    }
    // Truncation anywhere: an error.
    for cut in 0..good.len() {
        assert!(
            read_everything(good[..cut].to_vec()).is_err(),
            "truncation at {cut}"
        );
    }
    // Errors name the file, key and offset.
    let mut m = good.clone();
    let e0 = r.entries(b"b#!~#i")[1];
    m[e0.offset as usize + 10] ^= 1;
    let err = read_everything(m).unwrap_err();
    assert_eq!(err.key.as_deref(), Some(&b"b#!~#i"[..]));
    assert_eq!(err.offset, Some(e0.offset));
    let text = err.to_string();
    assert!(
        text.starts_with("mutated.tsm: key \"b#!~#i\": offset "),
        "{text}"
    );
    assert!(text.contains("checksum mismatch"), "{text}");
}

#[test]
fn open_rejects_bad_files_on_disk() {
    let dir = std::env::temp_dir().join(format!("tsm-badopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("x.tsm");
    for bytes in [
        vec![],
        vec![0x16, 0xd1, 0x16, 0xd1, 1],
        b"not a tsm file at all, definitely".to_vec(),
    ] {
        std::fs::write(&p, &bytes).unwrap();
        assert!(TsmReader::open(&p).is_err());
    }
    let mut good = sample_file();
    good[4] = 2;
    std::fs::write(&p, &good).unwrap();
    let e = TsmReader::open(&p).unwrap_err();
    assert!(matches!(e.kind, tsm::ErrorKind::BadVersion(2)));
    std::fs::remove_dir_all(&dir).unwrap();
}
