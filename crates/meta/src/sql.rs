//! The SQL store (`influxd.sqlite`): SQLite through `rusqlite` (bundled), with InfluxDB 2.x's
//! schema (notebooks, annotation streams and annotations, remotes, replications) built by the
//! same eight migration scripts InfluxDB runs, and its `migrations` table recording them by name
//! (file name up to the first `.`). On open, the recorded names (ordered by name) must be a
//! prefix of the known list, else the store is refused as InfluxDB does; missing ones are
//! applied, each in its own transaction together with its bookkeeping row.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The migrations of InfluxDB 2.x (no new one through 2.9), in order: `(name, up script)`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_create_migrations_table",
        "CREATE TABLE migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL
);",
    ),
    (
        "0002_create_notebooks_table",
        "CREATE TABLE notebooks (
  id TEXT NOT NULL PRIMARY KEY,
  org_id TEXT NOT NULL,
  name TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at TIMESTAMP,
  updated_at TIMESTAMP
);",
    ),
    (
        "0003_create_annotations_tables",
        "CREATE TABLE streams (
  id VARCHAR(16) PRIMARY KEY,
  org_id VARCHAR(16) NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL,

  CONSTRAINT streams_uniq_orgid_name UNIQUE (org_id, name)
);

CREATE TABLE annotations (
  id VARCHAR(16) PRIMARY KEY,
  org_id VARCHAR(16) NOT NULL,
  stream_id VARCHAR(16) NOT NULL,
  summary TEXT NOT NULL,
  message TEXT NOT NULL,
  stickers TEXT NOT NULL,
  duration TEXT NOT NULL,
  lower TIMESTAMP NOT NULL,
  upper TIMESTAMP NOT NULL,

  FOREIGN KEY (stream_id) REFERENCES streams(id) ON DELETE CASCADE
);

CREATE INDEX idx_annotations_stream ON annotations (stream_id);
CREATE INDEX idx_annotations_stickers ON annotations (stickers);",
    ),
    (
        "0004_create_remotes_table",
        "CREATE TABLE remotes (
    id VARCHAR(16) NOT NULL PRIMARY KEY,
    org_id VARCHAR(16) NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    remote_url TEXT NOT NULL,
    remote_api_token TEXT NOT NULL,
    remote_org_id VARCHAR(16) NOT NULL,
    allow_insecure_tls BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,

    CONSTRAINT remotes_uniq_orgid_name UNIQUE (org_id, name)
);

CREATE INDEX idx_remote_url_per_org ON remotes (org_id, remote_url);",
    ),
    (
        "0005_create_replications_table",
        "CREATE TABLE replications
(
    id                       VARCHAR(16) NOT NULL PRIMARY KEY,
    org_id                   VARCHAR(16) NOT NULL,
    name                     TEXT        NOT NULL,
    description              TEXT,
    remote_id                VARCHAR(16) NOT NULL,
    local_bucket_id          VARCHAR(16) NOT NULL,
    remote_bucket_id         VARCHAR(16) NOT NULL,
    max_queue_size_bytes     INTEGER     NOT NULL,
    max_age_seconds          INTEGER     NOT NULL,
    latest_response_code     INTEGER,
    latest_error_message     TEXT,
    drop_non_retryable_data  BOOLEAN     NOT NULL,
    created_at               TIMESTAMP   NOT NULL,
    updated_at               TIMESTAMP   NOT NULL,

    CONSTRAINT replications_uniq_orgid_name UNIQUE (org_id, name),
    FOREIGN KEY (remote_id) REFERENCES remotes (id) ON DELETE CASCADE
);

CREATE INDEX idx_local_bucket_id_per_org ON replications (org_id, local_bucket_id);
CREATE INDEX idx_remote_id_per_org ON replications (org_id, remote_id);",
    ),
    (
        "0006_migrate_replications_foreign_key",
        "ALTER TABLE replications RENAME TO _replications_old;

CREATE TABLE replications
(
    id                       VARCHAR(16) NOT NULL PRIMARY KEY,
    org_id                   VARCHAR(16) NOT NULL,
    name                     TEXT        NOT NULL,
    description              TEXT,
    remote_id                VARCHAR(16) NOT NULL,
    local_bucket_id          VARCHAR(16) NOT NULL,
    remote_bucket_id         VARCHAR(16) NOT NULL,
    max_queue_size_bytes     INTEGER     NOT NULL,
    max_age_seconds          INTEGER     NOT NULL,
    latest_response_code     INTEGER,
    latest_error_message     TEXT,
    drop_non_retryable_data  BOOLEAN     NOT NULL,
    created_at               TIMESTAMP   NOT NULL,
    updated_at               TIMESTAMP   NOT NULL,

    CONSTRAINT replications_uniq_orgid_name UNIQUE (org_id, name),
    FOREIGN KEY (remote_id) REFERENCES remotes (id)
);

INSERT INTO replications SELECT * FROM _replications_old;
DROP TABLE _replications_old;

CREATE INDEX idx_local_bucket_id_per_org ON replications (org_id, local_bucket_id);
CREATE INDEX idx_remote_id_per_org ON replications (org_id, remote_id);",
    ),
    (
        "0007_migrate_replications_add_bucket_name",
        "ALTER TABLE replications RENAME TO _replications_old;

CREATE TABLE replications
(
    id                       VARCHAR(16) NOT NULL PRIMARY KEY,
    org_id                   VARCHAR(16) NOT NULL,
    name                     TEXT        NOT NULL,
    description              TEXT,
    remote_id                VARCHAR(16) NOT NULL,
    local_bucket_id          VARCHAR(16) NOT NULL,
    remote_bucket_id         VARCHAR(16),
    remote_bucket_name       TEXT DEFAULT '',
    max_queue_size_bytes     INTEGER     NOT NULL,
    max_age_seconds          INTEGER     NOT NULL,
    latest_response_code     INTEGER,
    latest_error_message     TEXT,
    drop_non_retryable_data  BOOLEAN     NOT NULL,
    created_at               TIMESTAMP   NOT NULL,
    updated_at               TIMESTAMP   NOT NULL,

    CONSTRAINT replications_uniq_orgid_name UNIQUE (org_id, name),
    CONSTRAINT replications_one_of_id_name CHECK (remote_bucket_id IS NOT NULL OR remote_bucket_name != ''),
    FOREIGN KEY (remote_id) REFERENCES remotes (id)
);

INSERT INTO replications (
    id, org_id, name, description, remote_id, local_bucket_id, remote_bucket_id,
    max_queue_size_bytes, max_age_seconds, latest_response_code, latest_error_message,
    drop_non_retryable_data, created_at, updated_at
) SELECT * FROM _replications_old;
DROP TABLE _replications_old;

CREATE INDEX idx_local_bucket_id_per_org ON replications (org_id, local_bucket_id);
CREATE INDEX idx_remote_id_per_org ON replications (org_id, remote_id);",
    ),
    (
        "0008_migrate_remotes_null_remote_org",
        "ALTER TABLE remotes RENAME TO _remotes_old;
DROP INDEX idx_remote_url_per_org;

CREATE TABLE remotes (
    id VARCHAR(16) NOT NULL PRIMARY KEY,
    org_id VARCHAR(16) NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    remote_url TEXT NOT NULL,
    remote_api_token TEXT NOT NULL,
    remote_org_id VARCHAR(16),
    allow_insecure_tls BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,

    CONSTRAINT remotes_uniq_orgid_name UNIQUE (org_id, name)
);

INSERT INTO remotes (
    id, org_id, name, description, remote_url, remote_api_token, remote_org_id,
    allow_insecure_tls, created_at, updated_at
) SELECT * FROM _remotes_old;
CREATE INDEX idx_remote_url_per_org ON remotes (org_id, remote_url);

ALTER TABLE replications RENAME TO _replications_old;

CREATE TABLE replications
(
    id                       VARCHAR(16) NOT NULL PRIMARY KEY,
    org_id                   VARCHAR(16) NOT NULL,
    name                     TEXT        NOT NULL,
    description              TEXT,
    remote_id                VARCHAR(16) NOT NULL,
    local_bucket_id          VARCHAR(16) NOT NULL,
    remote_bucket_id         VARCHAR(16),
    remote_bucket_name       TEXT DEFAULT '',
    max_queue_size_bytes     INTEGER     NOT NULL,
    max_age_seconds          INTEGER     NOT NULL,
    latest_response_code     INTEGER,
    latest_error_message     TEXT,
    drop_non_retryable_data  BOOLEAN     NOT NULL,
    created_at               TIMESTAMP   NOT NULL,
    updated_at               TIMESTAMP   NOT NULL,

    CONSTRAINT replications_uniq_orgid_name UNIQUE (org_id, name),
    CONSTRAINT replications_one_of_id_name CHECK (remote_bucket_id IS NOT NULL OR remote_bucket_name != ''),
    FOREIGN KEY (remote_id) REFERENCES remotes (id)
 );

INSERT INTO replications (
    id, org_id, name, description, remote_id, local_bucket_id, remote_bucket_id,
    remote_bucket_name, max_queue_size_bytes, max_age_seconds, latest_response_code,
    latest_error_message, drop_non_retryable_data, created_at, updated_at
) SELECT * FROM _replications_old;
DROP TABLE _replications_old;
DROP TABLE _remotes_old;

CREATE INDEX idx_local_bucket_id_per_org ON replications (org_id, local_bucket_id);",
    ),
];

/// The open SQL store.
pub struct SqlStore {
    conn: Connection,
}

impl SqlStore {
    /// Opens (creating if missing) the SQLite file, checks its `migrations` rows against
    /// [`MIGRATIONS`] and applies the missing ones.
    pub fn open(path: &Path) -> Result<SqlStore> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(SqlStore { conn })
    }

    /// The applied migration names, in order.
    pub fn applied(&self) -> Result<Vec<String>> {
        applied(&self.conn)
    }

    /// Writes a consistent copy of the database to `dest` with SQLite's online backup API
    /// (what InfluxDB's `/api/v2/backup/sql` streams).
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        self.conn
            .backup(
                rusqlite::MAIN_DB,
                dest,
                None::<fn(rusqlite::backup::Progress)>,
            )
            .map_err(Error::from)
    }

    /// Replaces the database with the content of the SQLite file `src` (online backup from
    /// `src` into the live database), then checks and completes its migrations.
    ///
    /// `src` is checked before the live database is touched, and is changed by the check: it
    /// must be a SQLite database that passes `PRAGMA quick_check`, its `migrations` rows must be
    /// a prefix of [`MIGRATIONS`], and the missing ones are applied to it. The online backup then
    /// replaces the live database in one transaction, so a bad snapshot leaves it as it was.
    pub fn restore_from(&mut self, src: &Path) -> Result<()> {
        {
            let mut check = Connection::open_with_flags(
                src,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            let verdict: String = check.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            if verdict != "ok" {
                return Err(Error::corrupt(format!("sqlite: quick_check: {verdict}")));
            }
            migrate(&mut check)?;
        }
        let source = Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        {
            let backup = rusqlite::backup::Backup::new(&source, &mut self.conn)?;
            backup.run_to_completion(256, std::time::Duration::ZERO, None)?;
        }
        migrate(&mut self.conn)
    }

    /// The connection, for the features built on these tables.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn applied(conn: &Connection) -> Result<Vec<String>> {
    let exists: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare("SELECT name FROM migrations ORDER BY name")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r?);
    }
    Ok(out)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let done = applied(conn)?;
    if done.len() > MIGRATIONS.len() {
        return Err(Error::corrupt(format!(
            "sqlite: {} migrations recorded but only {} are known",
            done.len(),
            MIGRATIONS.len()
        )));
    }
    for (i, name) in done.iter().enumerate() {
        if name != MIGRATIONS[i].0 {
            return Err(Error::corrupt(format!(
                "sqlite: invalid migration {name:?} at position {}, expected {:?}",
                i + 1,
                MIGRATIONS[i].0
            )));
        }
    }
    for (name, script) in &MIGRATIONS[done.len()..] {
        let tx = conn.transaction()?;
        tx.execute_batch(script)?;
        tx.execute("INSERT INTO migrations (name) VALUES (?1)", [name])?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_schema_and_rejects_unknown_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("influxd.sqlite");
        let s = SqlStore::open(&p).unwrap();
        let names: Vec<String> = MIGRATIONS.iter().map(|m| m.0.to_string()).collect();
        assert_eq!(s.applied().unwrap(), names);
        let cols: Vec<String> = s
            .connection()
            .prepare("SELECT name FROM pragma_table_info('replications')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(cols.contains(&"remote_bucket_name".to_string()));
        let nullable: i64 = s
            .connection()
            .query_row(
                "SELECT \"notnull\" FROM pragma_table_info('remotes') WHERE name='remote_org_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(nullable, 0);
        let idx: Vec<String> = s
            .connection()
            .prepare("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'idx_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            idx,
            [
                "idx_annotations_stickers",
                "idx_annotations_stream",
                "idx_local_bucket_id_per_org",
                "idx_remote_url_per_org"
            ]
        );
        drop(s);
        // Reopen: nothing applied twice.
        let s = SqlStore::open(&p).unwrap();
        assert_eq!(s.applied().unwrap().len(), 8);
        s.connection()
            .execute(
                "INSERT INTO migrations (name) VALUES ('0009_from_the_future')",
                [],
            )
            .unwrap();
        drop(s);
        assert!(matches!(SqlStore::open(&p), Err(Error::Corrupt(_))));

        // A wrong name in the list is refused too.
        let p2 = dir.path().join("b.sqlite");
        drop(SqlStore::open(&p2).unwrap());
        let c = Connection::open(&p2).unwrap();
        c.execute(
            "UPDATE migrations SET name = '0002_something_else' WHERE name = '0002_create_notebooks_table'",
            [],
        )
        .unwrap();
        drop(c);
        assert!(matches!(SqlStore::open(&p2), Err(Error::Corrupt(_))));
    }

    #[test]
    fn applies_missing_trailing_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("influxd.sqlite");
        {
            let mut c = Connection::open(&p).unwrap();
            for (name, script) in &MIGRATIONS[..4] {
                let tx = c.transaction().unwrap();
                tx.execute_batch(script).unwrap();
                tx.execute("INSERT INTO migrations (name) VALUES (?1)", [name])
                    .unwrap();
                tx.commit().unwrap();
            }
            c.execute(
                "INSERT INTO remotes VALUES ('0000000000000abc','0000000000000def','r','', 'http://x','tok','0000000000000123',0,'t','t')",
                [],
            )
            .unwrap();
        }
        let s = SqlStore::open(&p).unwrap();
        assert_eq!(s.applied().unwrap().len(), 8);
        let n: i64 = s
            .connection()
            .query_row("SELECT count(*) FROM remotes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let b = dir.path().join("copy.sqlite");
        s.backup_to(&b).unwrap();
        let s2 = SqlStore::open(&b).unwrap();
        assert_eq!(s2.applied().unwrap().len(), 8);
    }
}
