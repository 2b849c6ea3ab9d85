//! The live KV file: an `influxd.bolt` kept fully in memory (see [`crate::bolt`]) with
//! crash-safe commits, an exclusive file lock (as bbolt's `flock`), and the helpers the store
//! uses to read and change top-level buckets.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::bolt::{self, Alloc, Bucket, Entry, Tops};
use crate::error::{Error, Result};

/// Page size of new files (bbolt uses the OS page size; 4096 on x86-64 Linux).
pub(crate) const DEFAULT_PAGE_SIZE: usize = 4096;

/// An open bolt file.
pub(crate) struct KvFile {
    file: File,
    page_size: usize,
    txid: u64,
    hwm: u64,
    used: BTreeSet<u64>,
    tops: Tops,
    /// Set when a commit failed after it began writing: the file may hold a meta page this
    /// handle does not know about, so no further commit is safe until the file is reopened.
    broken: bool,
}

impl KvFile {
    /// Opens an existing file and returns it with its tree.
    pub fn open(path: &Path) -> Result<(KvFile, Bucket)> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        lock(&file, path)?;
        let data = std::fs::read(path)?;
        let l = bolt::read(&data)?;
        Ok((
            KvFile {
                file,
                page_size: l.page_size,
                txid: l.txid,
                hwm: l.hwm,
                used: l.used,
                tops: l.tops,
                broken: false,
            },
            l.root,
        ))
    }

    /// Creates a new file holding `root` (written to a temporary file, fsynced, then renamed).
    pub fn create(path: &Path, root: &Bucket) -> Result<KvFile> {
        let img = bolt::image(root, DEFAULT_PAGE_SIZE, 1)?;
        let tmp = path.with_extension("bolt.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&img)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let (kv, _) = KvFile::open(path)?;
        Ok(kv)
    }

    /// Commits `root` as the next version on top of `current` (the version last committed or
    /// opened): top-level buckets equal in both keep their pages; all other pages go only where
    /// the current version has none, and are fsynced before the meta page that points to them is
    /// written and fsynced.
    pub fn commit(&mut self, current: &Bucket, root: &Bucket) -> Result<()> {
        let mut alloc = Alloc::new(&self.used, self.hwm);
        let built = bolt::build_from(
            root,
            Some((current, &self.tops)),
            self.page_size,
            &mut alloc,
        )?;
        if self.broken {
            return Err(Error::Io(std::io::Error::other(
                "an earlier commit failed while writing; reopen the store",
            )));
        }
        let txid = self.txid + 1;
        let res = self.write_version(&built, txid);
        if res.is_err() {
            self.broken = true;
        }
        res?;
        self.txid = txid;
        self.hwm = built.hwm;
        self.used = built.used;
        self.tops = built.tops;
        Ok(())
    }

    fn write_version(&self, built: &bolt::Built, txid: u64) -> Result<()> {
        let len = built.hwm * self.page_size as u64;
        if self.file.metadata()?.len() < len {
            self.file.set_len(len)?;
        }
        for (id, page) in &built.pages {
            self.file.write_all_at(page, id * self.page_size as u64)?;
        }
        self.file.sync_data()?;
        let slot = txid % 2;
        let meta = built.meta_page(slot, txid, self.page_size);
        self.file
            .write_all_at(&meta, slot * self.page_size as u64)?;
        self.file.sync_data()?;
        Ok(())
    }

    /// A standalone consistent copy of `root` in this file's page size and txid.
    pub fn image(&self, root: &Bucket) -> Result<Vec<u8>> {
        bolt::image(root, self.page_size, self.txid)
    }
}

/// How long opening waits for another holder of the file lock to let go, as InfluxDB opens its
/// bolt file (`bolt.Options{Timeout: 1s}`). A lock can be held for a moment by a process that
/// merely inherited the descriptor: a child forked by this process, before it execs.
const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

fn lock(file: &File, path: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + LOCK_TIMEOUT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!("{} is locked by another process", path.display()),
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
    }
}

/// Read helpers over a tree whose top-level entries are InfluxDB's buckets.
pub(crate) trait Tree {
    /// The top-level bucket `name`, if present.
    fn bucket(&self, name: &str) -> Option<&Bucket>;
    /// A value of a top-level bucket.
    fn get(&self, bucket: &str, key: &[u8]) -> Option<&[u8]> {
        match self.bucket(bucket)?.entries.get(key)? {
            Entry::Value(v) => Some(v),
            Entry::Bucket(_) => None,
        }
    }
    /// All `(key, value)` pairs of a top-level bucket, in key order.
    fn iter<'a>(&'a self, bucket: &str) -> Box<dyn Iterator<Item = (&'a [u8], &'a [u8])> + 'a> {
        match self.bucket(bucket) {
            Some(b) => Box::new(b.entries.iter().filter_map(|(k, e)| match e {
                Entry::Value(v) => Some((k.as_slice(), v.as_slice())),
                Entry::Bucket(_) => None,
            })),
            None => Box::new(std::iter::empty()),
        }
    }
    /// Pairs whose key starts with `prefix`.
    fn prefix<'a>(
        &'a self,
        bucket: &str,
        prefix: &'a [u8],
    ) -> Box<dyn Iterator<Item = (&'a [u8], &'a [u8])> + 'a> {
        match self.bucket(bucket) {
            Some(b) => Box::new(
                b.entries
                    .range(prefix.to_vec()..)
                    .take_while(move |(k, _)| k.starts_with(prefix))
                    .filter_map(|(k, e)| match e {
                        Entry::Value(v) => Some((k.as_slice(), v.as_slice())),
                        Entry::Bucket(_) => None,
                    }),
            ),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl Tree for Bucket {
    fn bucket(&self, name: &str) -> Option<&Bucket> {
        match self.entries.get(name.as_bytes())? {
            Entry::Bucket(b) => Some(b),
            Entry::Value(_) => None,
        }
    }
}

/// Write helpers.
pub(crate) trait TreeMut {
    /// The top-level bucket `name`, created if missing.
    fn bucket_mut(&mut self, name: &str) -> &mut Bucket;
    /// Sets a value.
    fn put(&mut self, bucket: &str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.bucket_mut(bucket)
            .entries
            .insert(key.into(), Entry::Value(value.into()));
    }
    /// Removes a key.
    fn delete(&mut self, bucket: &str, key: &[u8]) {
        self.bucket_mut(bucket).entries.remove(key);
    }
}

impl TreeMut for Bucket {
    fn bucket_mut(&mut self, name: &str) -> &mut Bucket {
        let e = self
            .entries
            .entry(name.as_bytes().to_vec())
            .or_insert_with(|| Entry::Bucket(Bucket::default()));
        if let Entry::Value(_) = e {
            *e = Entry::Bucket(Bucket::default());
        }
        match e {
            Entry::Bucket(b) => b,
            Entry::Value(_) => unreachable!("replaced above"),
        }
    }
}
