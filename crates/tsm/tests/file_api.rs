//! Writer and reader behaviour seen by the storage engine: multi-call writes, key order and
//! type rules, range reads, tombstones, checksum checking on read, and directory verify.

use std::path::PathBuf;

use tsm::{
    Block, BlockType, ErrorKind, StringValues, TsmReader, TsmWriter, Values, ValuesRef, block,
    file_name, verify_dir,
};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tsm-api-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sample(dir: &TempDir, generation: u64) -> PathBuf {
    let path = dir.0.join(file_name(generation, 1));
    let mut w = TsmWriter::create(&path).unwrap();
    let ts: Vec<i64> = (0..2500).map(|i| i * 10).collect();
    let vals: Vec<i64> = (0..2500).collect();
    // One key written in two calls; blocks of 1000 by default.
    w.write(
        b"cpu,host=a#!~#usage",
        &ts[..1200],
        ValuesRef::Integer(&vals[..1200]),
    )
    .unwrap();
    w.write(
        b"cpu,host=a#!~#usage",
        &ts[1200..],
        ValuesRef::Integer(&vals[1200..]),
    )
    .unwrap();
    let s: StringValues = ["x", "y"].into_iter().collect();
    w.write(b"cpu,host=b#!~#msg", &[-5, 7], ValuesRef::String(&s))
        .unwrap();
    w.write(b"mem#!~#free", &[3], ValuesRef::Unsigned(&[u64::MAX]))
        .unwrap();
    w.finish().unwrap();
    path
}

#[test]
fn write_then_read() {
    let dir = TempDir::new("rw");
    let path = sample(&dir, 7);
    assert_eq!(path.file_name().unwrap(), "000000007-000000001.tsm");
    let r = TsmReader::open(&path).unwrap();
    assert_eq!(r.key_count(), 3);
    assert_eq!(
        r.key_range(),
        (&b"cpu,host=a#!~#usage"[..], &b"mem#!~#free"[..])
    );
    assert_eq!(r.time_range(), (-5, 24_990));
    let e = r.entries(b"cpu,host=a#!~#usage");
    // 1000 + 200 from the first call, 1000 + 300 from the second.
    let sizes: Vec<i64> = e
        .iter()
        .map(|e| (e.max_time - e.min_time) / 10 + 1)
        .collect();
    assert_eq!(sizes, [1000, 200, 1000, 300]);
    assert!(e.windows(2).all(|w| w[0].max_time < w[1].min_time));
    assert_eq!(r.block_type(b"mem#!~#free"), Some(BlockType::Unsigned));
    assert_eq!(r.block_type(b"nope"), None);
    assert!(r.entries(b"cpu").is_empty());
    let b = r
        .read_range(b"cpu,host=a#!~#usage", 9_995, 10_030)
        .unwrap()
        .unwrap();
    assert_eq!(b.timestamps, [10_000, 10_010, 10_020, 10_030]);
    assert_eq!(b.values, Values::Integer(vec![1000, 1001, 1002, 1003]));
    assert!(r.read_range(b"zzz", 0, 1).unwrap().is_none());
    let b = r.read_all(b"cpu,host=b#!~#msg").unwrap().unwrap();
    assert_eq!(b.values, Values::String(["x", "y"].into_iter().collect()));
    assert_eq!(r.verify().unwrap(), 6);
}

#[test]
fn writer_rules() {
    let dir = TempDir::new("rules");
    let mut w = TsmWriter::create(dir.0.join(file_name(1, 1))).unwrap();
    w.write(b"b", &[1], ValuesRef::Float(&[1.0])).unwrap();
    let e = w.write(b"b", &[2], ValuesRef::Integer(&[1])).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TypeMismatch { .. }), "{e}");
    let e = w.write(b"a", &[2], ValuesRef::Float(&[1.0])).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::KeyOrder), "{e}");
    let e = w
        .write(b"c", &[2], ValuesRef::Float(&[f64::NAN]))
        .unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    let e = w
        .write(b"c", &[1, 2], ValuesRef::Float(&[1.0]))
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Block(_)), "{e}");
    let e = w
        .write(&vec![b'k'; 70_000], &[1], ValuesRef::Float(&[1.0]))
        .unwrap_err();
    assert!(matches!(e.kind, ErrorKind::KeyLength(70_000)), "{e}");
    // Pre-encoded blocks, as a compaction copies them.
    let mut data = Vec::new();
    block::encode(&[5, 6], ValuesRef::Boolean(&[true, false]), &mut data).unwrap();
    w.write_block(b"d", 5, 6, &data).unwrap();
    let path = w.finish().unwrap();
    let r = TsmReader::open(&path).unwrap();
    let keys: Vec<&[u8]> = r.keys().map(|(k, _)| k).collect();
    assert_eq!(keys, [&b"b"[..], b"d"]);
    assert_eq!(
        r.read_all(b"d").unwrap().unwrap().values,
        Values::Boolean(vec![true, false])
    );
}

#[test]
fn tombstones_filter_reads_and_survive_reopen() {
    let dir = TempDir::new("tomb");
    let path = sample(&dir, 2);
    let mut r = TsmReader::open(&path).unwrap();
    assert!(!r.has_tombstones());
    r.delete_range(&[b"cpu,host=a#!~#usage", b"absent"], 100, 19_990)
        .unwrap();
    let check = |r: &TsmReader| {
        let b = r.read_all(b"cpu,host=a#!~#usage").unwrap().unwrap();
        assert_eq!(b.len(), 10 + 500);
        assert_eq!(b.timestamps[9], 90);
        assert_eq!(b.timestamps[10], 20_000);
        assert_eq!(r.tombstones(b"cpu,host=a#!~#usage").len(), 1);
        assert!(r.tombstones(b"absent").is_empty());
        // Raw block reads are not filtered.
        let e = r.entries(b"cpu,host=a#!~#usage")[0];
        assert_eq!(r.read_block(&e).unwrap().len(), 1000);
    };
    check(&r);
    let r2 = TsmReader::open(&path).unwrap();
    assert!(r2.has_tombstones());
    check(&r2);
    assert!(dir.0.join("000000002-000000001.tombstone").exists());

    // Ranges outside the key's data are ignored; ranges that touch without a gap and cover
    // the whole key delete it: it then reads as empty and `is_deleted` says so (InfluxDB's
    // own reader drops it from its key list; `live_key_count` counts like InfluxDB).
    let mut r = r2;
    r.delete_range(&[b"cpu,host=b#!~#msg"], 100, 200).unwrap();
    assert!(r.tombstones(b"cpu,host=b#!~#msg").is_empty());
    r.delete_range(&[b"cpu,host=b#!~#msg"], -10, 0).unwrap();
    assert!(!r.is_deleted(b"cpu,host=b#!~#msg"));
    r.delete_range(&[b"cpu,host=b#!~#msg"], 1, 7).unwrap();
    assert_eq!((r.key_count(), r.live_key_count()), (3, 2));
    assert!(r.is_deleted(b"cpu,host=b#!~#msg"));
    assert_eq!(
        r.tombstones(b"cpu,host=b#!~#msg"),
        [tsm::TimeRange {
            min: i64::MIN,
            max: i64::MAX
        }]
    );
    let gone = r.read_all(b"cpu,host=b#!~#msg").unwrap().unwrap();
    assert!(gone.is_empty());
    assert_eq!(gone.values.block_type(), BlockType::String);
    assert!(r.read_all(b"never there").unwrap().is_none());
    r.delete_range(&[b"mem#!~#free"], i64::MIN, i64::MAX)
        .unwrap();
    let live: Vec<&[u8]> = r
        .keys()
        .map(|(k, _)| k)
        .filter(|k| !r.is_deleted(k))
        .collect();
    assert_eq!(live, [&b"cpu,host=a#!~#usage"[..]]);
    // The key range is the file's, as opened.
    assert_eq!(r.key_range().1, b"mem#!~#free");
    let again = TsmReader::open(&path).unwrap();
    assert_eq!((again.key_count(), again.live_key_count()), (3, 1));
    assert!(again.read_all(b"mem#!~#free").unwrap().unwrap().is_empty());
}

#[test]
fn checksums_on_read_and_verify_dir() {
    let dir = TempDir::new("verify");
    let good = sample(&dir, 1);
    let bad = sample(&dir, 2);
    let mut bytes = std::fs::read(&bad).unwrap();
    let off = {
        let r = TsmReader::open(&bad).unwrap();
        r.entries(b"mem#!~#free")[0].offset as usize
    };
    // Flip a bit of the value section (the last byte of the block): CRC no longer matches.
    let r = TsmReader::from_vec("x", bytes.clone()).unwrap();
    let e = r.entries(b"mem#!~#free")[0];
    bytes[off + e.size as usize - 1] ^= 0x01;
    std::fs::write(&bad, &bytes).unwrap();

    let mut r = TsmReader::open(&bad).unwrap();
    // Without checking, the read succeeds (as in InfluxDB) but returns other data.
    let mut b = Block::new(BlockType::Unsigned);
    let read = r.read_block_into(&e, &mut b);
    assert!(read.is_err() || b.values != Values::Unsigned(vec![u64::MAX]));
    r.set_verify_checksums(true);
    let err = r.read_block(&e).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Checksum { .. }), "{err}");
    assert!(r.verify().is_err());
    assert!(TsmReader::open(&good).unwrap().verify().is_ok());

    std::fs::write(dir.0.join("000000009-000000001.tsm"), b"garbage").unwrap();
    let mut out = Vec::new();
    let s = verify_dir(&dir.0, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        (s.files, s.unreadable_files, s.blocks, s.broken_blocks),
        (3, 1, 12, 1)
    );
    assert!(!s.is_healthy());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].ends_with("000000001-000000001.tsm: healthy"),
        "{text}"
    );
    assert!(
        lines[1].contains("000000002-000000001.tsm: key \"mem#!~#free\": offset"),
        "{text}"
    );
    assert!(lines[1].contains("checksum mismatch"), "{text}");
    assert!(
        lines[2].contains("000000009-000000001.tsm: could not open"),
        "{text}"
    );
    assert!(lines[3].starts_with("Broken Blocks: 1 / 12, in "), "{text}");
}
