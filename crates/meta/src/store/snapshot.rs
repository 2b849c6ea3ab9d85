//! Raw KV access, and the stores' backup and restore: consistent snapshots out, checked files
//! switched in.

use super::*;

impl MetaStore {
    /// The raw `(key, value)` pairs of a top-level KV bucket, in key order (empty if the bucket
    /// does not exist): for diagnostics, backups and tests.
    pub fn raw_entries(&self, bucket: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.view()
            .iter(bucket)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    /// Low-level write: sets raw `(key, value)` pairs in a top-level KV bucket (created if
    /// missing), in one commit, bypassing every rule and index of this store. For importing
    /// records of features this crate does not model and for tests.
    pub fn put_raw_entries(&self, bucket: &str, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        self.update(|t| {
            t.bucket_mut(bucket);
            for (k, v) in entries {
                if k.is_empty() {
                    return Err(Error::Invalid("empty KV key".into()));
                }
                t.put(bucket, k.clone(), v.clone());
            }
            Ok(())
        })
    }

    /// Low-level delete of raw keys of a top-level KV bucket, in one commit, bypassing every rule
    /// and index of this store (missing keys are ignored).
    pub fn delete_raw_entries(&self, bucket: &str, keys: &[Vec<u8>]) -> Result<()> {
        self.update(|t| {
            if t.bucket(bucket).is_some() {
                for k in keys {
                    t.delete(bucket, k);
                }
            }
            Ok(())
        })
    }

    /// Names of the top-level KV buckets, in order.
    pub fn raw_bucket_names(&self) -> Vec<String> {
        self.view()
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, crate::bolt::Entry::Bucket(_)))
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    // ------------------------------------------------------------------ backup

    /// Writes a consistent copy of the KV store as a bolt file (what bbolt's `Tx.WriteTo` gives
    /// InfluxDB's `/api/v2/backup/kv`): meta pages with the current txid and txid−1, then the
    /// tree.
    pub fn backup_kv(&self, mut w: impl std::io::Write) -> Result<()> {
        let img = {
            let kv = lock(&self.inner.kv);
            kv.image(&self.view().tree)?
        };
        w.write_all(&img)?;
        Ok(())
    }

    /// Writes a consistent copy of the SQL store to the file `dest` (SQLite online backup).
    pub fn backup_sql(&self, dest: &Path) -> Result<()> {
        lock(&self.inner.sql).backup_to(dest)
    }

    /// Replaces the whole KV store with the bolt file `bytes` (as `/api/v2/restore/kv`): it must
    /// decode and carry a known migration list; it is then committed as the next version.
    pub fn restore_kv(&self, bytes: &[u8]) -> Result<()> {
        let mut root = crate::bolt::read(bytes)?.root;
        check_migrations(&mut root)?;
        self.update(|t| {
            *t = root;
            Ok(())
        })
    }

    /// Replaces the SQL store with the SQLite file at `src` (as `/api/v2/restore/sql`), checked
    /// first and completed with the missing migrations (which change `src`); a file that fails
    /// the check leaves the store as it was. Upload it to [`MetaStore::sql_restore_path`].
    pub fn restore_sql(&self, src: &Path) -> Result<()> {
        lock(&self.inner.sql).restore_from(src)
    }

    /// A fresh path beside the KV file, `<KV file>.restore-<pid>-<n>.tmp`, to receive a snapshot
    /// for [`MetaStore::restore_kv_file`]. Whatever a crash leaves there is removed by the next
    /// [`MetaStore::open`].
    pub fn kv_restore_path(&self) -> PathBuf {
        restore_temp_path(&self.inner.bolt_path)
    }

    /// A fresh path beside the SQLite file, as [`MetaStore::kv_restore_path`], for
    /// [`MetaStore::restore_sql`].
    pub fn sql_restore_path(&self) -> PathBuf {
        restore_temp_path(&self.inner.sqlite_path)
    }

    /// Replaces the whole KV store with the bolt file at `path` (as `/api/v2/restore/kv`),
    /// switching files rather than copying trees: `path` must be in the KV file's directory
    /// (see [`MetaStore::kv_restore_path`]) and already fsynced. It is opened and checked like
    /// any KV file at [`MetaStore::open`] (every page, the migration list; missing migrations
    /// are committed to it), then renamed over the KV file and the directory fsynced, while no
    /// other change can be committed. Before the rename nothing live is touched: on error the
    /// store is as it was and `path` is the caller's to remove. A crash leaves the old or the
    /// new file in place.
    pub fn restore_kv_file(&self, path: &Path) -> Result<()> {
        let mut kv = lock(&self.inner.kv);
        let (mut next, mut root) = KvFile::open(path)?;
        let opened = root.clone();
        if check_migrations(&mut root)? {
            next.commit(&opened, &root)?;
        }
        drop(opened);
        std::fs::rename(path, &self.inner.bolt_path)?;
        sync_parent(&self.inner.bolt_path)?;
        // The old handle (and its lock on the replaced file) goes with the old version.
        *kv = next;
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(State::new(root));
        Ok(())
    }

    /// Runs `f` with the SQLite connection (for features stored there: notebooks, annotations,
    /// remotes, replications).
    pub fn with_sql<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        f(lock(&self.inner.sql).connection())
    }
}
