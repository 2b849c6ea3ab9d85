//! Crash safety: a child process creating buckets in a burst is killed with SIGKILL, again and
//! again; the store must always reopen, consistent (every bucket indexed and catalogued), with no
//! committed bucket lost. The child is this same test binary, re-executed with an env var.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use meta::*;

mod common;

const CHILD_ENV: &str = "IRONFLUX_META_CRASH_CHILD_DIR";

fn open(dir: &Path) -> MetaStore {
    MetaStore::open(dir.join("influxd.bolt"), dir.join("influxd.sqlite")).unwrap()
}

/// Runs in the child: create buckets as fast as possible until killed, printing each committed
/// name.
fn child(dir: &Path) -> ! {
    use std::io::Write;
    let s = open(dir);
    let org = s.find_org_by_name("crash").unwrap();
    let mut out = std::io::stdout();
    for i in 0u64.. {
        let name = format!("b{}-{i}", std::process::id());
        let b = s
            .create_bucket(BucketCreate {
                org_id: Some(org.id),
                name: name.clone(),
                ..Default::default()
            })
            .unwrap();
        s.shard_group_for(b.id, (i as i64) * 3_600_000_000_000)
            .unwrap();
        writeln!(out, "{name}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

fn check_consistent(s: &MetaStore, org: Id) -> Vec<String> {
    let buckets = s
        .list_buckets(
            &BucketFilter {
                org_id: Some(org),
                ..Default::default()
            },
            &FindOptions::default(),
        )
        .unwrap();
    let catalog = s.catalog().unwrap();
    for b in &buckets {
        assert_eq!(s.find_bucket_by_name(org, &b.name).unwrap().id, b.id);
        assert!(
            catalog.database(&b.id.to_string()).is_some(),
            "{} not catalogued",
            b.name
        );
    }
    assert_eq!(s.raw_entries("bucketindexv1").len(), buckets.len());
    assert_eq!(catalog.databases.len(), buckets.len());
    buckets.into_iter().map(|b| b.name).collect()
}

#[test]
fn sigkill_during_a_burst_of_bucket_creations_never_breaks_the_store() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let org = {
        let s = open(dir.path());
        s.create_org("crash", "", None).unwrap().id
    };
    let exe = std::env::current_exe().unwrap();
    let mut total_committed = 0usize;
    for round in 0..8u64 {
        let mut c = Command::new(&exe)
            .args([
                "--exact",
                "sigkill_during_a_burst_of_bucket_creations_never_breaks_the_store",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + 60 * round));
        c.kill().unwrap();
        let out = c.wait_with_output().unwrap();
        let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('b'))
            .map(str::to_string)
            .collect();
        let s = open(dir.path());
        let names = check_consistent(&s, org);
        // Everything the child reported as committed is there (it may have committed one more).
        for n in &printed {
            assert!(
                names.contains(n),
                "round {round}: committed bucket {n} lost"
            );
        }
        total_committed += printed.len();
        // The store still takes writes after the crash.
        let b = s
            .create_bucket(BucketCreate {
                org_id: Some(org),
                name: format!("after-{round}"),
                ..Default::default()
            })
            .unwrap();
        s.delete_bucket(b.id).unwrap();
    }
    assert!(
        total_committed > 8,
        "children committed too little to test anything"
    );
    eprintln!("{total_committed} commits acknowledged across the killed children");
    // Go's bbolt reads the file that survived the kills.
    let dump = common::boltdump(&dir.path().join("influxd.bolt"));
    assert_eq!(
        dump["bucketsv1"].as_object().unwrap().len(),
        dump["bucketindexv1"].as_object().unwrap().len()
    );
}
