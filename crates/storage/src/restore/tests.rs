use super::*;
use crate::catalog::{MemoryCatalog, ShardCatalog};
use crate::engine::{EngineConfig, ReadRequest};
use crate::points::Precision;
use crate::snapshot::snapshot_shard;

const SRC: BucketId = 0x0837_1db1_dd8c_8000;
const DST: BucketId = 0x0a0b_0c0d_0e0f_1011;

fn engine(dir: &Path) -> Engine {
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.add_bucket(SRC, 0, 0);
    catalog.add_bucket(DST, 0, 0);
    let mut cfg = EngineConfig::new(dir);
    cfg.maintenance_interval = None;
    Engine::open(cfg, catalog as Arc<dyn ShardCatalog>).unwrap()
}

/// Every (series, field, time, value) of a bucket, as text.
fn dump(e: &Engine, bucket: BucketId) -> Vec<String> {
    let mut out = Vec::new();
    for s in e.read(&ReadRequest::all(bucket, i64::MIN, i64::MAX)) {
        let s = s.unwrap();
        out.push(format!("{} {} {:?}", s.series_key, s.field, s.values));
    }
    out.sort();
    out
}

/// A shard tar of `shard` of `bucket`, as the backup endpoint streams it.
fn backup_tar(e: &Engine, id: ShardId) -> Vec<u8> {
    let snap = snapshot_shard(e, id, None).unwrap();
    let mut w = shard_tar::Writer::new(Vec::new(), &format!("{:016x}", snap.bucket), "autogen", id);
    for f in snap.files() {
        w.append_file(f).unwrap();
    }
    w.finish().unwrap()
}

/// Creates the shard of `bucket` covering `t` (seconds) by writing one point, returns its ID.
fn shard_with_point(e: &Engine, bucket: BucketId, line: &str) -> ShardId {
    e.write_lines(bucket, line.as_bytes(), Precision::Seconds, 0)
        .unwrap();
    e.shards()
        .into_iter()
        .find(|(b, _)| *b == bucket)
        .map(|(_, s)| s)
        .unwrap()
}

fn shard_files(e: &Engine, bucket: BucketId, id: ShardId) -> Vec<(String, Vec<u8>)> {
    let dir = e.shard_data_dir(bucket, id);
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn round_trip_keeps_data_tombstones_and_live_writes() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let src = shard_with_point(
        &e,
        SRC,
        "cpu,host=a v=1 1700000000\ncpu,host=b v=2 1700000001\nmem free=3i 1700000002",
    );
    e.flush().unwrap();
    e.delete(
        SRC,
        1_700_000_001_000_000_000,
        1_700_000_001_000_000_000,
        &crate::Predicate::True,
    )
    .unwrap();
    let want = dump(&e, SRC);
    assert_eq!(want.len(), 2, "{want:?}");
    let tar = backup_tar(&e, src);

    // The target shard already holds a point, written before the restore.
    let dst = shard_with_point(&e, DST, "disk used=9 1700000003");
    let s = restore_shard(&e, dst, &tar[..], &RestoreOptions::default()).unwrap();
    assert_eq!(s.bucket, DST);
    assert_eq!(
        s.installed,
        ["000000002-000000001.tsm", "000000002-000000001.tombstone"]
    );
    let mut got = dump(&e, DST);
    assert!(got.iter().any(|l| l.starts_with("disk used")), "{got:?}");
    got.retain(|l| !l.starts_with("disk"));
    assert_eq!(got, want);
    // The index knows the restored series; the deleted one stays deleted.
    let shard = e.shard(DST, dst).unwrap();
    assert!(shard.index().has_series("cpu,host=a"));
    assert!(!shard.index().has_series("cpu,host=b"));
    drop(shard);
    // Nothing is left beside the shard.
    let parent = e.shard_data_dir(DST, dst).parent().unwrap().to_path_buf();
    let names: Vec<_> = fs::read_dir(&parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [dst.to_string()]);
    // And the restored shard survives a reopen.
    drop(e);
    let e = engine(dir.path());
    assert_eq!(dump(&e, DST).len(), 3);
}

#[test]
fn influxdb_1x_portable_backups_restore() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let mut total = 0;
    for n in 1..=4 {
        let id = shard_with_point(&e, DST, &format!("marker v={n} {}", 100 * n));
        let path = testdata::dir().join(format!(
            "influxdb1/backup_portable/stateA/20261124T134818Z.s{n}.tar.gz"
        ));
        let gz = fs::File::open(&path).expect("shared testdata beside the checkout");
        let s = restore_shard(
            &e,
            id,
            flate2::read::MultiGzDecoder::new(gz),
            &RestoreOptions::default(),
        )
        .unwrap();
        assert!(!s.installed.is_empty());
        total += 1;
        let _ = e.delete(DST, 0, 1000 * 1_000_000_000, &crate::Predicate::True);
    }
    assert_eq!(total, 4);
    let mut points = 0;
    for s in e.read(&ReadRequest::all(DST, i64::MIN, i64::MAX)) {
        points += s.unwrap().values.len();
    }
    let want: usize = testdata::points().iter().map(|p| p.fields.len()).sum();
    assert_eq!(points, want);
}

fn broken(e: &Engine, id: ShardId, tar: &[u8]) -> RestoreError {
    let before = shard_files(e, DST, id);
    let data_before = dump(e, DST);
    let err = restore_shard(e, id, tar, &RestoreOptions { max_bytes: 1 << 20 }).unwrap_err();
    assert_eq!(shard_files(e, DST, id), before, "shard changed after {err}");
    assert_eq!(dump(e, DST), data_before);
    let parent = e.shard_data_dir(DST, id).parent().unwrap().to_path_buf();
    assert_eq!(
        fs::read_dir(&parent).unwrap().count(),
        1,
        "staging left behind"
    );
    err
}

#[test]
fn failures_leave_the_shard_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let src = shard_with_point(&e, SRC, "cpu v=1 1700000000\ncpu v=2 1700000100");
    let good = backup_tar(&e, src);
    let dst = shard_with_point(&e, DST, "disk used=9 1700000003");
    e.flush().unwrap();

    // Truncated inside the TSM file.
    let err = broken(&e, dst, &good[..512 + 50]);
    assert!(
        matches!(&err, RestoreError::Invalid { entry, reason }
            if entry == "000000001-000000001.tsm" && reason.contains("truncated")),
        "{err}"
    );
    // Truncated between entries: no end-of-archive marker.
    let err = broken(&e, dst, &good[..good.len() - 1024]);
    assert!(
        matches!(&err, RestoreError::Invalid { entry, reason }
            if entry.ends_with("000000001-000000001.tsm") && reason.contains("end-of-archive")),
        "{err}"
    );

    // A flipped byte inside the first block: CRC mismatch.
    let mut bad = good.clone();
    let data_start = 512; // after the single tar header
    bad[data_start + 5 + 4 + 2] ^= 0xff;
    let err = broken(&e, dst, &bad);
    assert!(
        matches!(&err, RestoreError::Invalid { entry, reason }
            if entry == "000000001-000000001.tsm" && reason.contains("invalid TSM")),
        "{err}"
    );

    // Garbage instead of a tar.
    let err = broken(&e, dst, &[0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8].repeat(100));
    assert!(matches!(err, RestoreError::Invalid { .. }), "{err}");

    // A tombstone without its TSM file.
    let mut w = shard_tar::Writer::new(Vec::new(), "db", "autogen", 1);
    w.append_bytes("000000003-000000001.tombstone", b"", 0)
        .unwrap();
    let err = broken(&e, dst, &w.finish().unwrap());
    assert!(
        matches!(&err, RestoreError::Invalid { entry, .. } if entry == "000000003-000000001.tombstone"),
        "{err}"
    );

    // Over the size cap.
    let mut w = shard_tar::Writer::new(Vec::new(), "db", "autogen", 1);
    w.append_bytes("000000003-000000001.tsm", &vec![0u8; 2 << 20], 0)
        .unwrap();
    let err = broken(&e, dst, &w.finish().unwrap());
    assert!(matches!(err, RestoreError::TooLarge(_)), "{err}");

    // Unknown shard.
    assert!(matches!(
        restore_shard(&e, 4242, &good[..], &RestoreOptions::default()),
        Err(RestoreError::NotFound(4242))
    ));

    // The good tar still restores afterwards.
    restore_shard(&e, dst, &good[..], &RestoreOptions::default()).unwrap();
    assert_eq!(dump(&e, DST).len(), 2);
}

/// A crash at each step of the switch leaves, after [`recover`], the old or the new shard.
#[test]
fn interrupted_switch_is_finished_by_recover() {
    for step in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(dir.path());
        let src = shard_with_point(&e, SRC, "cpu v=1 1700000000");
        let tar = backup_tar(&e, src);
        let dst = shard_with_point(&e, DST, "disk used=9 1700000003");
        e.flush().unwrap();
        let shard_dir = e.shard_data_dir(DST, dst);
        let parent = shard_dir.parent().unwrap().to_path_buf();
        // Restore fully into a copy of the engine directory, then rebuild the intermediate
        // states from it: staging = new shard contents.
        restore_shard(&e, dst, &tar[..], &RestoreOptions::default()).unwrap();
        let new_files = shard_files(&e, DST, dst);
        drop(e);
        let staging = parent.join(format!("{dst}.restore-1-1.tmp"));
        fs::create_dir_all(&staging).unwrap();
        for (n, b) in &new_files {
            fs::write(staging.join(n), b).unwrap();
        }
        let old = parent.join(format!("{dst}{OLD_SUFFIX}"));
        fs::rename(&shard_dir, &old).unwrap();
        fs::create_dir_all(&shard_dir).unwrap();
        fs::write(shard_dir.join("000000001-000000001.tsm"), b"old").unwrap();
        match step {
            // Marker written, nothing renamed yet.
            0 => {
                fs::remove_dir_all(&shard_dir).unwrap();
                fs::rename(&old, &shard_dir).unwrap();
            }
            // Old directory moved aside, staging not yet in place.
            1 => fs::remove_dir_all(&shard_dir).unwrap(),
            // Staging in place, old directory not yet removed.
            _ => {
                fs::remove_dir_all(&shard_dir).unwrap();
                fs::rename(&staging, &shard_dir).unwrap();
            }
        }
        fs::write(
            parent.join(format!("{dst}{SWITCH_SUFFIX}")),
            format!("{dst}.restore-1-1.tmp"),
        )
        .unwrap();
        // A staging directory of a restore that died before its switch.
        fs::create_dir_all(parent.join(format!("{dst}.restore-1-2.tmp/incoming"))).unwrap();
        assert_eq!(recover(dir.path()).unwrap(), [dst], "step {step}");
        let names: Vec<_> = fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [dst.to_string()], "step {step}");
        let e = engine(dir.path());
        assert_eq!(shard_files(&e, DST, dst), new_files, "step {step}");
        assert_eq!(dump(&e, DST).len(), 2, "step {step}");
    }
}

#[test]
fn reset_shards_empties_the_engine_but_not_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let id = shard_with_point(&e, SRC, "cpu v=1 1700000000");
    e.flush().unwrap();
    let removed = reset_shards(&e, &[SRC]).unwrap();
    assert_eq!(removed, [(SRC, id)]);
    assert!(dump(&e, SRC).is_empty());
    assert!(!e.shard_data_dir(SRC, id).exists());
    // The catalogue still has the shard group: the next write lands in the same shard, empty.
    assert_eq!(shard_with_point(&e, SRC, "cpu v=2 1700000001"), id);
    assert_eq!(dump(&e, SRC).len(), 1);
}

/// Writes acknowledged while a restore switches the shard, with background snapshots and
/// compactions running, are all readable afterwards.
#[test]
fn writes_during_a_restore_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(MemoryCatalog::new());
    catalog.add_bucket(SRC, 0, 0);
    catalog.add_bucket(DST, 0, 0);
    let mut cfg = EngineConfig::new(dir.path());
    cfg.maintenance_interval = Some(std::time::Duration::from_millis(1));
    cfg.cache_snapshot_memory_bytes = 1;
    cfg.compact_threshold = 2;
    let e = Arc::new(Engine::open(cfg, catalog as Arc<dyn ShardCatalog>).unwrap());
    let src = shard_with_point(&e, SRC, "restored v=1 1700000000");
    let tar = backup_tar(&e, src);
    let dst = shard_with_point(&e, DST, "live v=0 1700000000");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (e, stop) = (Arc::clone(&e), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let line = format!("live v={n} {}", 1_700_000_000 + n);
                e.write_lines(DST, line.as_bytes(), Precision::Seconds, 0)
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    for _ in 0..5 {
        restore_shard(&e, dst, &tar[..], &RestoreOptions::default()).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let mut live = 0;
    let mut restored = 0;
    for s in e.read(&ReadRequest::all(DST, i64::MIN, i64::MAX)) {
        let s = s.unwrap();
        match s.series_key.as_str() {
            "live" => live += s.values.len() as u64,
            "restored" => restored += s.values.len(),
            other => panic!("{other}"),
        }
    }
    assert_eq!(live, written, "acknowledged writes lost");
    assert_eq!(restored, 1);
}

/// A one-block TSM file of `cpu v` floats, and the offset of its index.
fn one_block_tsm(dir: &Path) -> (Vec<u8>, usize) {
    let path = dir.join("000000001-000000001.tsm");
    let mut w = tsm::TsmWriter::create(&path).unwrap();
    w.write(
        b"cpu#!~#v",
        &[1_700_000_000_000_000_000, 1_700_000_001_000_000_000],
        tsm::ValuesRef::Float(&[1.5, 2.5]),
    )
    .unwrap();
    w.finish().unwrap();
    let bytes = fs::read(&path).unwrap();
    fs::remove_file(&path).unwrap();
    let n = bytes.len();
    let mut footer = [0u8; 8];
    footer.copy_from_slice(&bytes[n - 8..]);
    (bytes, u64::from_be_bytes(footer) as usize)
}

fn tar_of(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut w = shard_tar::Writer::new(Vec::new(), "db", "autogen", 1);
    w.append_bytes(name, bytes, 0).unwrap();
    w.finish().unwrap()
}

#[test]
fn blocks_with_a_good_crc_are_still_decoded_and_typed() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let dst = shard_with_point(&e, DST, "disk used=9 1700000003");
    e.flush().unwrap();
    let (good, index) = one_block_tsm(dir.path());
    let name = "000000001-000000001.tsm";
    // Sanity: the file as written restores.
    let other = tempfile::tempdir().unwrap();
    let e2 = engine(other.path());
    let id2 = shard_with_point(&e2, DST, "disk used=9 1700000003");
    restore_shard(
        &e2,
        id2,
        &tar_of(name, &good)[..],
        &RestoreOptions::default(),
    )
    .unwrap();

    // The index says integer, the block holds floats.
    let mut typed = good.clone();
    let type_at = index + 2 + b"cpu#!~#v".len();
    assert_eq!(typed[type_at], 0, "float type byte");
    typed[type_at] = 1;
    let err = broken(&e, dst, &tar_of(name, &typed));
    assert!(
        matches!(&err, RestoreError::Invalid { entry, reason }
            if entry == name && reason.contains("block type") && !reason.contains(dir.path().to_str().unwrap())),
        "{err}"
    );

    // A block that does not decode, under a CRC computed over it.
    let mut garbled = good.clone();
    let block = 5 + 4..index;
    garbled[block.start] = 9; // no such block type
    let crc = tsm::block::checksum(&garbled[block.clone()]);
    garbled[5..9].copy_from_slice(&crc.to_be_bytes());
    let err = broken(&e, dst, &tar_of(name, &garbled));
    assert!(
        matches!(&err, RestoreError::Invalid { entry, reason }
            if entry == name && reason.contains("invalid TSM file") && reason.contains("block")),
        "{err}"
    );
}
