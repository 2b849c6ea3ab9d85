//! `ironflux restore --verify-only`: a backup directory is checked without a server, down to
//! every block of every TSM file, and each kind of damage is found and named.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ironflux(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ironflux"))
        .args(args)
        .env_remove("INFLUX_HOST")
        .env_remove("INFLUX_TOKEN")
        .output()
        .expect("run ironflux");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A backup directory in the `influx backup` layout: the real InfluxDB KV file and InfluxDB
/// 1.x's four shard tars, described by a version-2 manifest with checksums.
fn make_backup(dir: &Path, with_sha: bool) {
    let ts = "20261124T134818Z";
    let kv = std::fs::read(testdata::dir().join("influxdb2/influxd.bolt")).expect("kv");
    std::fs::write(dir.join(format!("{ts}.bolt")), &kv).expect("write kv");
    let mut groups = Vec::new();
    for id in 1..=4u64 {
        let src = testdata::dir().join(format!(
            "influxdb1/backup_portable/stateA/{ts}.s{id}.tar.gz"
        ));
        let bytes = std::fs::read(src).expect("shard tar");
        let name = format!("{ts}.{id}.tar.gz");
        std::fs::write(dir.join(&name), &bytes).expect("write shard");
        let mut shard = serde_json::json!({
            "id": id, "shardOwners": [], "fileName": name, "size": bytes.len(), "compression": 1
        });
        if with_sha {
            shard["sha256"] = sha256_hex(&bytes).into();
        }
        groups.push(serde_json::json!({
            "id": id, "startTime": "2026-11-23T00:00:00Z", "endTime": "2026-11-30T00:00:00Z",
            "shards": [shard]
        }));
    }
    let mut kv_entry = serde_json::json!({
        "fileName": format!("{ts}.bolt"), "size": kv.len(), "compression": 0
    });
    if with_sha {
        kv_entry["sha256"] = sha256_hex(&kv).into();
    }
    let manifest = serde_json::json!({
        "manifestVersion": 2,
        "kv": kv_entry,
        "buckets": [{
            "organizationID": "dd7cd2292f6e974a", "organizationName": "myorg",
            "bucketID": "7451ab8b9b7df592", "bucketName": "holdout",
            "defaultRetentionPolicy": "autogen",
            "retentionPolicies": [{
                "name": "autogen", "replicaN": 1, "duration": 0,
                "shardGroupDuration": 604800000000000u64,
                "shardGroups": groups, "subscriptions": []
            }]
        }]
    });
    std::fs::write(
        dir.join(format!("{ts}.manifest")),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_sound_backup_verifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_backup(tmp.path(), true);
    let (ok, err) = ironflux(&["restore", "--verify-only", path(tmp.path())]);
    assert!(ok, "{err}");
    assert!(err.contains("verified: 5 files, 1 buckets"), "{err}");
}

#[test]
fn a_changed_byte_fails_the_checksum() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_backup(tmp.path(), true);
    let f = tmp.path().join("20261124T134818Z.2.tar.gz");
    let mut bytes = std::fs::read(&f).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&f, &bytes).expect("write");
    let (ok, err) = ironflux(&["restore", "--verify-only", path(tmp.path())]);
    assert!(!ok);
    assert!(err.contains("20261124T134818Z.2.tar.gz: SHA-256"), "{err}");
}

#[test]
fn a_truncated_file_fails_the_size_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    make_backup(tmp.path(), true);
    let f = tmp.path().join("20261124T134818Z.1.tar.gz");
    let bytes = std::fs::read(&f).expect("read");
    std::fs::write(&f, &bytes[..bytes.len() - 10]).expect("write");
    let (ok, err) = ironflux(&["restore", "--verify-only", path(tmp.path())]);
    assert!(!ok);
    assert!(err.contains("the manifest says"), "{err}");
}

#[test]
fn a_damaged_tsm_block_is_found_inside_the_tar() {
    // Without checksums in the manifest (as InfluxDB writes it), the damage is only visible in
    // the TSM file itself: rebuild shard 1's tar with one byte of a block flipped.
    let tmp = tempfile::tempdir().expect("tempdir");
    make_backup(tmp.path(), false);
    let f = tmp.path().join("20261124T134818Z.1.tar.gz");
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&f).expect("open"))
        .read_to_end(&mut tar_bytes)
        .expect("gunzip");
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut entry = archive
        .entries()
        .expect("entries")
        .next()
        .expect("one")
        .expect("entry");
    let name = entry.path().expect("path").into_owned();
    let mut tsm = Vec::new();
    entry.read_to_end(&mut tsm).expect("read tsm");
    tsm[100] ^= 0xff;
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(tsm.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, &name, &tsm[..])
        .expect("append");
    let rebuilt = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&rebuilt).expect("gzip");
    let gz = gz.finish().expect("gzip");
    std::fs::write(&f, &gz).expect("write");
    // Keep the manifest's size true so only the TSM check can catch it.
    let mpath = tmp.path().join("20261124T134818Z.manifest");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).expect("manifest")).expect("json");
    m["buckets"][0]["retentionPolicies"][0]["shardGroups"][0]["shards"][0]["size"] =
        gz.len().into();
    std::fs::write(&mpath, serde_json::to_vec(&m).expect("json")).expect("write manifest");

    let (ok, err) = ironflux(&["restore", "--verify-only", path(tmp.path())]);
    assert!(!ok, "a damaged block must fail verification");
    assert!(
        err.contains("000000001-000000001.tsm") && err.contains("20261124T134818Z.1.tar.gz"),
        "{err}"
    );
}

#[test]
fn flags_are_checked_before_anything_else() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = path(tmp.path());
    let (ok, err) = ironflux(&["restore", "--full", "--org", "o", dir]);
    assert!(!ok);
    assert!(err.contains("--full"), "{err}");
    let (ok, err) = ironflux(&["restore", "--new-org", "x", dir]);
    assert!(!ok);
    assert!(err.contains("--new-org needs --org"), "{err}");
    let (ok, err) = ironflux(&["restore", "--new-bucket", "x", dir]);
    assert!(!ok);
    assert!(err.contains("--new-bucket needs --bucket"), "{err}");
    let (ok, err) = ironflux(&["restore", "--verify-only", dir]);
    assert!(!ok);
    assert!(err.contains("no backup manifests found"), "{err}");
}
