//! Randomized commits of raw KV entries (small and large values, buckets growing past the inline
//! limit and past one page, shrinking back): after every few commits Go's bbolt must read exactly
//! the expected content, and so must a reopened store.

mod common;

use std::collections::BTreeMap;

use meta::MetaStore;

use testdata::Rng;

type Model = BTreeMap<String, BTreeMap<String, String>>;

fn value(rng: &mut Rng) -> String {
    let len = match rng.below(10) {
        0 => 5000 + rng.below(20_000),
        1..=3 => 200 + rng.below(1500),
        _ => 1 + rng.below(60),
    } as usize;
    let c = (b'a' + rng.below(26) as u8) as char;
    format!("v{}", c.to_string().repeat(len))
}

fn check_with_bbolt(path: &std::path::Path, model: &Model) {
    let dump = common::boltdump(path);
    for (bucket, entries) in model {
        let got = dump[bucket]
            .as_object()
            .unwrap_or_else(|| panic!("bucket {bucket} missing"));
        assert_eq!(got.len(), entries.len(), "{bucket}");
        for (k, v) in entries {
            assert_eq!(got[k].as_str(), Some(v.as_str()), "{bucket}/{k}");
        }
    }
}

#[test]
fn random_commits_stay_readable_by_bbolt() {
    let dir = tempfile::tempdir().unwrap();
    let bolt = dir.path().join("influxd.bolt");
    let sqlite = dir.path().join("influxd.sqlite");
    let mut s = MetaStore::open(&bolt, &sqlite).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut model: Model = BTreeMap::new();
    let buckets = ["rand-a", "rand-b", "rand-c", "organizationsv1"];
    for round in 0..60 {
        let bucket = buckets[rng.below(buckets.len() as u64) as usize];
        let entries = model.entry(bucket.to_string()).or_default();
        if rng.below(4) == 0 && !entries.is_empty() {
            // Delete about half of the bucket.
            let keys: Vec<String> = entries
                .keys()
                .filter(|_| rng.below(2) == 0)
                .cloned()
                .collect();
            for k in &keys {
                entries.remove(k);
            }
            let raw: Vec<Vec<u8>> = keys.into_iter().map(String::into_bytes).collect();
            s.delete_raw_entries(bucket, &raw).unwrap();
        } else {
            let big = rng.below(3) == 0;
            let n = 1 + rng.below(if big { 400 } else { 8 });
            let mut batch = Vec::new();
            for _ in 0..n {
                let k = format!("k{:08x}", rng.below(5000));
                let v = value(&mut rng);
                entries.insert(k.clone(), v.clone());
                batch.push((k.into_bytes(), v.into_bytes()));
            }
            s.put_raw_entries(bucket, &batch).unwrap();
        }
        if round % 10 == 9 {
            drop(s);
            check_with_bbolt(&bolt, &model);
            s = MetaStore::open(&bolt, &sqlite).unwrap();
            for (b, entries) in &model {
                let raw = s.raw_entries(b);
                assert_eq!(raw.len(), entries.len(), "{b} after reopen");
                for ((k, v), (mk, mv)) in raw.iter().zip(entries) {
                    assert_eq!((k.as_slice(), v.as_slice()), (mk.as_bytes(), mv.as_bytes()));
                }
            }
        }
    }
}
