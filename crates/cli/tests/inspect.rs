//! `ironflux inspect`: the real binary dumps InfluxDB-written TSM files exactly as InfluxDB's own
//! reader does, and `verify` tells a healthy directory from one with a damaged block.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const TSM_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/influxdb1/tsm/stateA"
);

fn ironflux(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ironflux"))
        .args(args)
        .output()
        .expect("run ironflux")
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Every line but the file path of the first record, which names where the file was read.
fn without_path(mut lines: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    lines[0]
        .as_object_mut()
        .expect("file record")
        .remove("file");
    lines
}

#[test]
fn dump_matches_influxdb_reader_for_every_shard() {
    for shard in ["shard1", "shard2", "shard3", "shard4"] {
        let dir = Path::new(TSM_DIR).join(shard);
        let tsm = dir.join("000000001-000000001.tsm");
        let out = ironflux(&["inspect", "tsm", tsm.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut want = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(dir.join("000000001-000000001.dump.jsonl.gz")).expect("dump"),
        )
        .read_to_string(&mut want)
        .expect("gunzip dump");
        let got = without_path(json_lines(&String::from_utf8_lossy(&out.stdout)));
        let want = without_path(json_lines(&want));
        assert_eq!(got.len(), want.len(), "{shard}: record count");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{shard}");
        }
    }
}

fn copy_shards(to: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for shard in ["shard1", "shard2"] {
        std::fs::create_dir_all(to.join(shard)).expect("mkdir");
        let dst = to.join(shard).join("000000001-000000001.tsm");
        std::fs::copy(
            Path::new(TSM_DIR)
                .join(shard)
                .join("000000001-000000001.tsm"),
            &dst,
        )
        .expect("copy");
        files.push(dst);
    }
    files
}

#[test]
fn verify_reports_healthy_files_and_a_damaged_block() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = copy_shards(tmp.path());
    let dir = tmp.path().to_str().expect("utf-8 path");

    let out = ironflux(&["inspect", "verify", "--dir", dir]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.matches(": healthy").count(), 2, "{report}");
    assert!(report.contains("Broken Blocks: 0 /"), "{report}");

    // Flip one byte inside the first block of shard2's file (blocks start after the 5-byte header
    // and the 4-byte CRC).
    let mut bytes = std::fs::read(&files[1]).expect("read");
    bytes[20] ^= 0xff;
    std::fs::write(&files[1], &bytes).expect("write");

    let out = ironflux(&["inspect", "verify", dir]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a broken block must fail: {report}");
    assert_eq!(report.matches(": healthy").count(), 1, "{report}");
    assert!(report.contains("Broken Blocks: 1 /"), "{report}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 broken blocks"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
