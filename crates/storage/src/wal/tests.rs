use super::*;

fn sample_entries() -> Vec<WalEntry> {
    vec![
        WalEntry::Write(vec![
            (
                b"cpu,host=a#!~#v".to_vec(),
                Values::Float(vec![(1, 1.5), (2, -0.0)]),
            ),
            (
                b"cpu,host=a#!~#i".to_vec(),
                Values::Integer(vec![(i64::MIN + 2, i64::MIN)]),
            ),
            (
                b"cpu,host=a#!~#u".to_vec(),
                Values::Unsigned(vec![(3, u64::MAX)]),
            ),
            (
                b"cpu,host=a#!~#b".to_vec(),
                Values::Boolean(vec![(4, true), (5, false)]),
            ),
            (
                b"cpu,host=a#!~#s".to_vec(),
                Values::String(vec![(6, "he said \"hi\" ☃".into()), (7, String::new())]),
            ),
        ]),
        WalEntry::Delete(vec![b"cpu,host=a#!~#v".to_vec(), b"m#!~#x".to_vec()]),
        WalEntry::DeleteRange {
            min: -5,
            max: 10,
            keys: vec![b"cpu,host=a#!~#i".to_vec()],
        },
        WalEntry::Write(vec![(b"m#!~#x".to_vec(), Values::Float(vec![(9, 9.0)]))]),
    ]
}

#[test]
fn payload_layout_matches_influxdb() {
    let e = WalEntry::Write(vec![(b"k".to_vec(), Values::Integer(vec![(1, 2)]))]);
    let p = e.encode_payload().unwrap();
    let want: Vec<u8> = [
        &[2u8, 0, 1, b'k', 0, 0, 0, 1][..],
        &1i64.to_be_bytes(),
        &2i64.to_be_bytes(),
    ]
    .concat();
    assert_eq!(p, want);
    let framed = e.encode().unwrap();
    assert_eq!(framed[0], WRITE_ENTRY);
    let len = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
    assert_eq!(len, framed.len() - 5);
    assert_eq!(
        snap::raw::Decoder::new()
            .decompress_vec(&framed[5..])
            .unwrap(),
        want
    );
    let d = WalEntry::DeleteRange {
        min: 1,
        max: 2,
        keys: vec![b"ab".to_vec()],
    };
    let want: Vec<u8> = [
        &1i64.to_be_bytes()[..],
        &2i64.to_be_bytes(),
        &[0, 0, 0, 2, b'a', b'b'],
    ]
    .concat();
    assert_eq!(d.encode_payload().unwrap(), want);
}

#[test]
fn entries_round_trip_through_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, replayed) = Wal::open(dir.path()).unwrap();
    assert!(replayed.is_empty());
    for e in sample_entries() {
        wal.write(&e).unwrap();
    }
    drop(wal);
    let (_wal, replayed) = Wal::open(dir.path()).unwrap();
    assert_eq!(replayed, sample_entries());
}

#[test]
fn every_torn_tail_keeps_every_entry_before_the_cut() {
    let entries = sample_entries();
    let framed: Vec<Vec<u8>> = entries.iter().map(|e| e.encode().unwrap()).collect();
    let image: Vec<u8> = framed.concat();
    let mut ends = Vec::new();
    let mut at = 0;
    for f in &framed {
        at += f.len();
        ends.push(at);
    }
    for cut in 0..=image.len() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(segment_name(1)), &image[..cut]).unwrap();
        let (wal, replayed) = Wal::open(dir.path()).unwrap();
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(replayed, entries[..complete].to_vec(), "cut at {cut}");
        // The torn tail is truncated away, so new entries follow the good prefix.
        let good = if complete == 0 { 0 } else { ends[complete - 1] };
        assert_eq!(
            std::fs::metadata(dir.path().join(segment_name(1)))
                .unwrap()
                .len() as usize,
            good
        );
        wal.write(&entries[0]).unwrap();
        drop(wal);
        let (_w, again) = Wal::open(dir.path()).unwrap();
        assert_eq!(again.len(), complete + 1, "cut at {cut}");
    }
}

#[test]
fn corrupt_entry_ends_the_segment() {
    let entries = sample_entries();
    let mut image: Vec<u8> = entries.iter().flat_map(|e| e.encode().unwrap()).collect();
    let first = entries[0].encode().unwrap().len();
    image[first + 7] ^= 0xff; // inside the second entry's snappy block
    image[first] = 9; // and an unknown type
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(segment_name(1)), &image).unwrap();
    let (_wal, replayed) = Wal::open(dir.path()).unwrap();
    assert_eq!(replayed, entries[..1].to_vec());
}

#[test]
fn rollover_and_segment_removal() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open_with_segment_size(dir.path(), 200).unwrap();
    for e in sample_entries().iter().cycle().take(12) {
        wal.write(e).unwrap();
    }
    let ids = segment_ids(dir.path()).unwrap();
    assert!(ids.len() > 3, "{ids:?}");
    let closed = wal.roll().unwrap();
    wal.remove_segments_upto(closed).unwrap();
    assert_eq!(segment_ids(dir.path()).unwrap(), vec![closed + 1]);
    drop(wal);
    let (_wal, replayed) = Wal::open(dir.path()).unwrap();
    assert!(replayed.is_empty());
}

#[test]
fn group_commit_acknowledges_all_writers_with_fewer_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path()).unwrap();
    let wal = std::sync::Arc::new(wal);
    let threads = 8;
    let per = 50;
    std::thread::scope(|s| {
        for t in 0..threads {
            let wal = &wal;
            s.spawn(move || {
                for i in 0..per {
                    let e = WalEntry::Write(vec![(
                        format!("m,t={t}#!~#v").into_bytes(),
                        Values::Integer(vec![(i, i)]),
                    )]);
                    wal.write(&e).unwrap();
                }
            });
        }
    });
    let n = wal.fsync_count();
    assert!(n >= 1 && n <= (threads * per) as u64, "{n}");
    println!("{} writes, {n} fsyncs", threads * per);
    drop(wal);
    let (_w, replayed) = Wal::open(dir.path()).unwrap();
    assert_eq!(replayed.len(), (threads * per) as usize);
}

proptest::proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let (entries, good) = decode_segment(&bytes);
        proptest::prop_assert!(good <= bytes.len());
        // The good prefix decodes to the same entries on its own.
        proptest::prop_assert_eq!(decode_segment(&bytes[..good]).0, entries);
    }

    #[test]
    fn mutated_segments_keep_the_prefix_before_the_damage(at in 0usize..400, byte in proptest::prelude::any::<u8>()) {
        let entries = sample_entries();
        let framed: Vec<Vec<u8>> = entries.iter().map(|e| e.encode().unwrap()).collect();
        let mut image: Vec<u8> = framed.concat();
        let at = at % image.len();
        image[at] = byte;
        let (got, _) = decode_segment(&image);
        // Every entry that ends before the damaged byte survives, in order.
        let mut end = 0;
        let intact = framed.iter().take_while(|f| { end += f.len(); end <= at }).count();
        proptest::prop_assert!(got.len() >= intact);
        proptest::prop_assert_eq!(&got[..intact], &entries[..intact]);
    }
}

/// `encode_write` (pooled buffers, size computed up front) frames exactly what `encode` does,
/// also when the pool hands back buffers that held other entries.
#[test]
fn pooled_write_encoding_matches_encode() {
    for _ in 0..3 {
        for e in sample_entries() {
            if let WalEntry::Write(batch) = &e {
                assert_eq!(payload_len(batch), e.encode_payload().unwrap().len());
                let framed = WalEntry::encode_write(batch).unwrap();
                assert_eq!(framed, e.encode().unwrap());
                recycle(framed);
            }
        }
    }
}
