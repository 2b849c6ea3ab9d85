//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn real_bolt() -> PathBuf {
    testdata::dir().join("influxdb2/influxd.bolt")
}

/// A writable copy of the real InfluxDB KV file in `dir`.
pub fn copy_real_bolt(dir: &Path) -> PathBuf {
    let dst = dir.join("influxd.bolt");
    std::fs::copy(real_bolt(), &dst).expect("copy influxd.bolt");
    let mut perm = std::fs::metadata(&dst).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&dst, perm).unwrap();
    dst
}

/// The bbolt oracle's JSON dump of a bolt file. Fails when `IRONFLUX_ORACLES` is unset.
pub fn boltdump(path: &Path) -> serde_json::Value {
    let dir = std::env::var("IRONFLUX_ORACLES").expect(
        "IRONFLUX_ORACLES must name the directory holding the `boltdump` oracle \
         (built by ../shared/oracles/build.sh)",
    );
    let out = std::process::Command::new(Path::new(&dir).join("boltdump"))
        .arg("bolt")
        .arg(path)
        .output()
        .expect("run boltdump");
    assert!(
        out.status.success(),
        "boltdump failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("boltdump output is JSON")
}
