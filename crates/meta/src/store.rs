//! [`MetaStore`]: InfluxDB 2.x's tenancy and auth services (onboarding, orgs, buckets, users,
//! passwords, authorizations, legacy 1.x authorizations, user-resource mappings, DBRP mappings)
//! and the shard catalogue, on top of the KV file ([`crate::kv`]) and the SQL store
//! ([`crate::sql`]), with InfluxDB's records, indexes and rules.
//!
//! Every method is blocking (file I/O, fsync, bcrypt): call it from `spawn_blocking`. Reads work
//! on an immutable snapshot and never wait for writers; writes are serialized and each call is
//! one atomic, durable commit.
//!
//! The methods are grouped by service in submodules (`orgs`, `buckets`, `users`, `auth`,
//! `legacy_auth`, `dbrp`, `shards`, `snapshot`); this file holds the store itself, onboarding,
//! the KV migrations and the in-transaction helpers the services share.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use base64::Engine as _;
use sha2::Digest as _;

use crate::bolt::Bucket as Tree;
use crate::catalog::{self, Data, DatabaseInfo, ShardGroupInfo, ShardInfo};
use crate::error::{Error, Kind, Result};
use crate::id::Id;
use crate::kv::{KvFile, Tree as _, TreeMut as _};
use crate::model::*;
use crate::schema::{self, from_json, to_go_json};
use crate::sql::SqlStore;
use crate::time::Time;

mod auth;
mod buckets;
mod dashboards;
mod dbrp;
mod labels;
mod legacy_auth;
mod orgs;
mod secrets;
mod shards;
mod snapshot;
mod tasks;
mod telegrafs;
mod users;
mod variables;

pub use dashboards::{
    Cell, CellCreate, CellUpdate, Dashboard, DashboardCreate, DashboardFilter, DashboardMeta,
    DashboardUpdate, View, ViewUpdate, empty_view_properties,
};
pub use labels::{Label, LabelCreate, LabelFilter, LabelMapping, LabelUpdate};
pub use tasks::{Run, RunLog, Task, TaskCreate, TaskFilter, zero_time};
pub use telegrafs::{TelegrafConfig, TelegrafCreate, buckets_of, count_plugins};
pub use variables::{
    Variable, VariableArguments, VariableCreate, VariableQueryValues, VariableUpdate,
};

const HOUR_NS: i64 = 3_600_000_000_000;
const DAY_NS: i64 = 24 * HOUR_NS;
/// InfluxDB's minimum password length.
pub const MIN_PASSWORD_LEN: usize = 8;
/// bcrypt cost InfluxDB uses.
pub const BCRYPT_COST: u32 = 10;

/// The metadata store. Cheap to clone (all clones share one store); `Send + Sync`.
#[derive(Clone)]
pub struct MetaStore {
    inner: Arc<Inner>,
}

struct Inner {
    snapshot: RwLock<Arc<State>>,
    kv: Mutex<KvFile>,
    sql: Mutex<SqlStore>,
    bolt_path: PathBuf,
    sqlite_path: PathBuf,
    /// Read views taken and KV commits made since the store opened (`/metrics`).
    reads: AtomicU64,
    writes: AtomicU64,
}

/// One committed version of the KV tree, with lazily built read caches.
struct State {
    tree: Tree,
    catalog: OnceLock<Option<Arc<Data>>>,
    tokens: OnceLock<TokenCache>,
}

/// Authorizations of a version by clear token, and those stored only hashed.
#[derive(Default)]
struct TokenCache {
    by_token: HashMap<String, Authorization>,
    hashed: Vec<Authorization>,
}

impl State {
    fn new(tree: Tree) -> State {
        State {
            tree,
            catalog: OnceLock::new(),
            tokens: OnceLock::new(),
        }
    }

    fn catalog(&self) -> Result<Arc<Data>> {
        match self
            .catalog
            .get_or_init(|| tx_catalog(&self.tree).ok().map(Arc::new))
        {
            Some(d) => Ok(d.clone()),
            None => tx_catalog(&self.tree).map(Arc::new),
        }
    }

    fn tokens(&self) -> &TokenCache {
        self.tokens.get_or_init(|| {
            let mut c = TokenCache::default();
            for (_, v) in self.tree.iter(schema::AUTHS) {
                if let Ok(a) = from_json::<Authorization>(schema::AUTHS, v) {
                    if !a.token.is_empty() {
                        c.by_token.insert(a.token.clone(), a);
                    } else if !a.hashed_token.is_empty() {
                        c.hashed.push(a);
                    }
                }
            }
            c
        })
    }
}

impl std::ops::Deref for State {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.tree
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `<file>.restore-`: the prefix of the temporary files restores upload beside `file`.
fn restore_temp_prefix(file: &Path) -> String {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    format!("{name}.restore-")
}

fn restore_temp_path(file: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    file.with_file_name(format!(
        "{}{}-{n}.tmp",
        restore_temp_prefix(file),
        std::process::id()
    ))
}

/// Removes the restore uploads a crash left beside `file` (and SQLite's journals of them).
fn remove_restore_leftovers(file: &Path) {
    let prefix = restore_temp_prefix(file);
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.contains(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Fsyncs the directory holding `file`.
fn sync_parent(file: &Path) -> Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// InfluxDB's default shard group duration for a retention period (ns): infinite or more than
/// six months → 7 days; more than two days → 1 day; otherwise 1 hour.
pub fn default_shard_group_duration(retention_ns: i64) -> i64 {
    const SIX_MONTHS: i64 = 180 * DAY_NS;
    if retention_ns == 0 || retention_ns > SIX_MONTHS {
        7 * DAY_NS
    } else if retention_ns > 2 * DAY_NS {
        DAY_NS
    } else {
        HOUR_NS
    }
}

/// A fresh token as InfluxDB makes them: 64 random bytes, base64 URL alphabet with padding.
pub fn generate_token() -> String {
    let mut b = [0u8; 64];
    for chunk in b.chunks_mut(8) {
        chunk.copy_from_slice(&rand::random::<u64>().to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE.encode(b)
}

/// `$influxdb2-sha256$…` form of a token (InfluxDB ≥ 2.8 hashed tokens).
pub fn hash_token(token: &str) -> String {
    let d = sha2::Sha256::digest(token.as_bytes());
    format!(
        "$influxdb2-sha256${}",
        base64::engine::general_purpose::URL_SAFE.encode(d)
    )
}

fn hashed_token_matches(hashed: &str, token: &str) -> bool {
    let (digest, rest): (Vec<u8>, &str) = if let Some(r) = hashed.strip_prefix("$influxdb2-sha256$")
    {
        (sha2::Sha256::digest(token.as_bytes()).to_vec(), r)
    } else if let Some(r) = hashed.strip_prefix("$influxdb2-sha512$") {
        (sha2::Sha512::digest(token.as_bytes()).to_vec(), r)
    } else {
        return false;
    };
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
        .iter()
        .any(|e| e.decode(rest).map(|d| d == digest).unwrap_or(false))
}

fn get_json<T: serde::de::DeserializeOwned>(
    t: &Tree,
    bucket: &str,
    key: &[u8],
    kind: Kind,
) -> Result<T> {
    let v = t.get(bucket, key).ok_or(Error::not_found(kind))?;
    from_json(bucket, v)
}

fn all_json<T: serde::de::DeserializeOwned>(t: &Tree, bucket: &str) -> Result<Vec<T>> {
    t.iter(bucket).map(|(_, v)| from_json(bucket, v)).collect()
}

/// Moves `id` from `old_key` to `new_key` of a unique name index; a taken `new_key` is a
/// conflict, `<what> with name <name> already exists` as InfluxDB words it.
fn rename_in_index(
    t: &mut Tree,
    index: &str,
    old_key: &[u8],
    new_key: Vec<u8>,
    id: Id,
    what: &str,
    name: &str,
) -> Result<()> {
    if t.get(index, &new_key).is_some() {
        return Err(Error::Conflict(format!(
            "{what} with name {name} already exists"
        )));
    }
    t.delete(index, old_key);
    t.put(index, new_key, id.encode().to_vec());
    Ok(())
}

fn id_from(b: &[u8]) -> Result<Id> {
    Id::decode(b).map_err(|_| Error::corrupt("bad ID in index"))
}

fn urm_key(resource: Id, user: Id) -> Vec<u8> {
    let mut k = resource.encode().to_vec();
    k.extend_from_slice(&user.encode());
    k
}

fn urm_by_user_key(resource: Id, user: Id) -> Vec<u8> {
    let mut k = user.encode().to_vec();
    k.push(b'/');
    k.extend_from_slice(&urm_key(resource, user));
    k
}

fn bucket_index_key(org: Id, name: &str) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn dbrp_fk(org: Id, db: &str) -> Vec<u8> {
    let mut k = org.encode().to_vec();
    k.extend_from_slice(db.as_bytes());
    k
}

fn validate_bucket_name(name: &str, system: bool) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::Invalid("bucket name is empty".into()));
    }
    if !system && name.starts_with('_') {
        return Err(Error::Invalid(format!(
            "bucket name {name} is invalid. Buckets may not start with underscore"
        )));
    }
    if name.contains('"') {
        return Err(Error::Invalid(format!(
            "bucket name {name} is invalid. Bucket names may not include quotation marks"
        )));
    }
    Ok(())
}

fn validate_retention(retention: i64, sgd: i64) -> Result<()> {
    if retention < 0 {
        return Err(Error::Invalid(
            "expiration seconds cannot be negative".into(),
        ));
    }
    if retention != 0 && retention < HOUR_NS {
        return Err(Error::Invalid(
            "expiration seconds must be greater than or equal to one hour".into(),
        ));
    }
    if sgd < 0 {
        return Err(Error::Invalid(
            "shard-group duration cannot be negative".into(),
        ));
    }
    if sgd != 0 && sgd < HOUR_NS {
        return Err(Error::Invalid(
            "shard-group duration must be at least 1 hour".into(),
        ));
    }
    if retention != 0 && sgd > retention {
        return Err(Error::Invalid(
            "shard-group duration must also be less than or equal to retention period".into(),
        ));
    }
    Ok(())
}

fn validate_password(pw: &str) -> Result<()> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "passwords must be at least {MIN_PASSWORD_LEN} characters long"
        )));
    }
    Ok(())
}

fn hash_password(pw: &str) -> Result<String> {
    validate_password(pw)?;
    bcrypt::hash(pw, BCRYPT_COST)
        .map_err(|e| Error::Invalid(format!("unable to hash password: {e}")))
}

/// Splits a bucket name into a virtual DBRP's database and retention policy: `db/rp`, or the
/// whole name with `autogen`.
fn parse_dbrp(bucket_name: &str) -> (String, String) {
    match bucket_name.split_once('/') {
        Some((db, rp)) => (db.to_string(), rp.to_string()),
        None => (bucket_name.to_string(), catalog::AUTOGEN.to_string()),
    }
}

fn new_root() -> Tree {
    let mut t = Tree::default();
    for b in schema::ALL_BUCKETS {
        t.bucket_mut(b);
    }
    t.put(
        schema::SOURCES,
        schema::DEFAULT_SOURCE.0,
        schema::DEFAULT_SOURCE.1,
    );
    t.put(schema::IDS, "id", Id::generate().to_string());
    for (i, name) in schema::MIGRATION_NAMES[..schema::V27_MIGRATIONS]
        .iter()
        .enumerate()
    {
        record_migration(&mut t, i, name);
    }
    let data = Data {
        index: 1,
        cluster_id: rand::random::<u64>() >> 1,
        ..Default::default()
    };
    t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
    t
}

fn record_migration(t: &mut Tree, i: usize, name: &str) {
    let id = format!("{:016x}", i + 1);
    let now = Time::now();
    let m = schema::Migration {
        id: id.clone(),
        name: name.to_string(),
        started_at: Some(now),
        finished_at: Some(now),
    };
    t.put(schema::MIGRATIONS, id, to_go_json(&m));
}

/// The data changes of InfluxDB's KV migration `n` (1-based) that matter to a store made by an
/// older InfluxDB: dropping `sessionsv1` (6), filling in shard group durations (15, 18) and
/// adding the newer resource types to operator and all-access tokens (16, 17, 19). The bucket
/// creations of the others are covered by creating every bucket of [`schema::ALL_BUCKETS`].
fn apply_data_migration(t: &mut Tree, n: usize) -> Result<()> {
    use ResourceType::*;
    match n {
        6 => {
            t.entries.remove(&b"sessionsv1"[..]);
        }
        15 | 18 => {
            let data = tx_catalog(t)?;
            let buckets: Vec<Bucket> = all_json(t, schema::BUCKETS)?;
            for mut b in buckets {
                if b.shard_group_duration_ns != 0 {
                    continue;
                }
                let from_rp = data
                    .database(&b.id.to_string())
                    .and_then(|db| db.default_rp())
                    .map(|rp| rp.shard_group_duration)
                    .unwrap_or(0);
                b.shard_group_duration_ns = if from_rp > 0 {
                    from_rp
                } else {
                    default_shard_group_duration(b.retention_period_ns)
                };
                t.put(schema::BUCKETS, b.id.encode().to_vec(), to_go_json(&b));
            }
        }
        16 => add_token_types(t, &[Annotations, Notebooks], true, false)?,
        17 => add_token_types(t, &[Annotations, Notebooks], false, true)?,
        19 => add_token_types(t, &[Remotes, Replications], true, true)?,
        _ => {}
    }
    Ok(())
}

/// Adds read/write on `new` types to tokens holding every permission of the types that existed
/// before them: operator tokens (unscoped) and/or all-access tokens (scoped to their org).
fn add_token_types(t: &mut Tree, new: &[ResourceType], operator: bool, owner: bool) -> Result<()> {
    use ResourceType::*;
    let later = [Annotations, Notebooks, Remotes, Replications, Instance];
    let old: Vec<ResourceType> = ResourceType::ALL
        .iter()
        .copied()
        .filter(|r| !later.contains(r))
        .collect();
    let auths: Vec<Authorization> = all_json(t, schema::AUTHS)?;
    for mut a in auths {
        let has_all = |scope: &dyn Fn(ResourceType) -> Resource| {
            old.iter().all(|&rt| {
                [Action::Read, Action::Write].iter().all(|&action| {
                    a.permissions.contains(&Permission {
                        action,
                        resource: scope(rt),
                    })
                })
            })
        };
        let unscoped = |rt| Resource {
            resource_type: rt,
            id: None,
            org_id: None,
        };
        let org = a.org_id;
        let scoped = move |rt| {
            if rt == Orgs {
                Resource {
                    resource_type: rt,
                    id: Some(org),
                    org_id: None,
                }
            } else {
                Resource {
                    resource_type: rt,
                    id: None,
                    org_id: Some(org),
                }
            }
        };
        let add: Option<&dyn Fn(ResourceType) -> Resource> = if operator && has_all(&unscoped) {
            Some(&unscoped)
        } else if owner && has_all(&scoped) {
            Some(&scoped)
        } else {
            None
        };
        let Some(scope) = add else { continue };
        let mut changed = false;
        for &rt in new {
            for action in [Action::Read, Action::Write] {
                let p = Permission {
                    action,
                    resource: scope(rt),
                };
                if !a.permissions.contains(&p) {
                    a.permissions.push(p);
                    changed = true;
                }
            }
        }
        if changed {
            t.put(schema::AUTHS, a.id.encode().to_vec(), to_go_json(&a));
        }
    }
    Ok(())
}

/// Checks `migrationsv1` against the known list; applies and records missing v2.7 entries (after
/// making sure every bucket exists). Fails on unknown or extra migrations, as InfluxDB does.
fn check_migrations(t: &mut Tree) -> Result<bool> {
    let recorded: Vec<schema::Migration> = all_json(t, schema::MIGRATIONS)?;
    if recorded.len() > schema::MIGRATION_NAMES.len() {
        return Err(Error::corrupt(format!(
            "invalid migration: {} KV migrations recorded, {} known",
            recorded.len(),
            schema::MIGRATION_NAMES.len()
        )));
    }
    for (i, m) in recorded.iter().enumerate() {
        if m.name != schema::MIGRATION_NAMES[i] {
            return Err(Error::corrupt(format!(
                "invalid migration: entry {} is {:?}, expected {:?}",
                i + 1,
                m.name,
                schema::MIGRATION_NAMES[i]
            )));
        }
    }
    let mut changed = false;
    if recorded.len() < schema::V27_MIGRATIONS {
        for b in schema::ALL_BUCKETS {
            t.bucket_mut(b);
        }
        for i in recorded.len()..schema::V27_MIGRATIONS {
            apply_data_migration(t, i + 1)?;
            record_migration(t, i, schema::MIGRATION_NAMES[i]);
        }
        changed = true;
    }
    if t.get(catalog::BUCKET, catalog::KEY).is_none() {
        let data = Data {
            index: 1,
            cluster_id: rand::random::<u64>() >> 1,
            ..Default::default()
        };
        t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
        changed = true;
    }
    Ok(changed)
}

impl MetaStore {
    /// Opens the KV file at `bolt_path` and the SQLite file at `sqlite_path`, creating each if
    /// missing (a new KV file gets every InfluxDB 2.7 bucket, the default source, an instance ID,
    /// the 20 `migrationsv1` entries and an empty `meta.db`; a new SQLite file gets the schema and
    /// its 8 `migrations` rows). An existing file (also one written by real InfluxDB) is opened
    /// as is, after checking its migration lists: unknown or extra migrations are refused with
    /// [`Error::Corrupt`]. Missing parent directories are created. The KV file is locked
    /// exclusively while open (`WouldBlock` I/O error if another process holds it for a second,
    /// as InfluxDB waits).
    pub fn open(bolt_path: impl AsRef<Path>, sqlite_path: impl AsRef<Path>) -> Result<MetaStore> {
        let bolt_path = bolt_path.as_ref().to_path_buf();
        let sqlite_path = sqlite_path.as_ref().to_path_buf();
        for p in [&bolt_path, &sqlite_path] {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
        }
        let (kv, root) = if bolt_path.exists() {
            let (mut kv, mut root) = KvFile::open(&bolt_path)?;
            let opened = root.clone();
            if check_migrations(&mut root)? {
                kv.commit(&opened, &root)?;
            }
            (kv, root)
        } else {
            let root = new_root();
            (KvFile::create(&bolt_path, &root)?, root)
        };
        let sql = SqlStore::open(&sqlite_path)?;
        // Only now that the KV file is locked: another process's uploads are never touched.
        remove_restore_leftovers(&bolt_path);
        remove_restore_leftovers(&sqlite_path);
        Ok(MetaStore {
            inner: Arc::new(Inner {
                snapshot: RwLock::new(Arc::new(State::new(root))),
                kv: Mutex::new(kv),
                sql: Mutex::new(sql),
                bolt_path,
                sqlite_path,
                reads: AtomicU64::new(0),
                writes: AtomicU64::new(0),
            }),
        })
    }

    /// Path of the KV file.
    pub fn bolt_path(&self) -> &Path {
        &self.inner.bolt_path
    }

    /// Path of the SQLite file.
    pub fn sqlite_path(&self) -> &Path {
        &self.inner.sqlite_path
    }

    fn view(&self) -> Arc<State> {
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` on a copy of the current tree and commits the result durably; nothing changes if
    /// `f` or the commit fails.
    fn update<T>(&self, f: impl FnOnce(&mut Tree) -> Result<T>) -> Result<T> {
        let mut kv = lock(&self.inner.kv);
        let cur = self.view();
        let mut next = cur.tree.clone();
        let out = f(&mut next)?;
        kv.commit(&cur.tree, &next)?;
        self.inner.writes.fetch_add(1, Ordering::Relaxed);
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(State::new(next));
        Ok(out)
    }

    /// Read views taken and KV commits made since the store opened: InfluxDB's
    /// `boltdb_reads_total` and `boltdb_writes_total`.
    pub fn transaction_counts(&self) -> (u64, u64) {
        (
            self.inner.reads.load(Ordering::Relaxed),
            self.inner.writes.load(Ordering::Relaxed),
        )
    }

    /// The org a resource belongs to (an org's is itself): what permissions on it are scoped
    /// to. [`Error::NotFound`] of the resource's kind when it does not exist; resource types
    /// that are not records of this store are [`Error::Invalid`].
    pub fn resource_org(&self, resource_type: ResourceType, id: Id) -> Result<Id> {
        match resource_type {
            ResourceType::Orgs => Ok(self.get_org(id)?.id),
            ResourceType::Buckets => Ok(self.get_bucket(id)?.org_id),
            ResourceType::Tasks => self
                .get_task(id)?
                .map(|t| t.org_id)
                .ok_or(Error::NotFound { kind: Kind::Task }),
            ResourceType::Variables => Ok(self.get_variable(id)?.org_id),
            ResourceType::Telegrafs => Ok(self.get_telegraf(id)?.org_id),
            ResourceType::Dashboards => Ok(self.get_dashboard(id)?.org_id),
            other => Err(Error::Invalid(format!(
                "{} are not kept in the metadata store",
                other.as_str()
            ))),
        }
    }

    /// The number of keys in each named KV bucket (0 for one that does not exist), from one
    /// version of the store: what InfluxDB's `influxdb_*_total` metrics count.
    pub fn key_counts(&self, buckets: &[&str]) -> Vec<u64> {
        let t = self.view();
        buckets.iter().map(|b| t.iter(b).count() as u64).collect()
    }

    // ------------------------------------------------------------------ onboarding

    /// Whether onboarding is still possible: true iff there is no user and no organization
    /// (InfluxDB keeps no flag).
    pub fn setup_allowed(&self) -> Result<bool> {
        let t = self.view();
        Ok(t.iter(schema::USERS).next().is_none() && t.iter(schema::ORGS).next().is_none())
    }

    /// Onboarding, in one commit: the user (with a bcrypt password if given, at least 8 chars),
    /// the org with its `_tasks`/`_monitoring` system buckets and the user's owner URM, the
    /// instance-owner URM, the bucket (retention in ns, default shard group duration), and an
    /// operator authorization (every type but `instance`, read+write) described as
    /// `"<user>'s Token"` using `req.token` when given. [`Error::Conflict`]
    /// (`onboarding has already been completed`) once set up; [`Error::Invalid`] on empty names,
    /// short password or bad retention.
    pub fn setup(&self, req: SetupRequest) -> Result<SetupResult> {
        if req.username.trim().is_empty() {
            return Err(Error::Invalid("username is empty".into()));
        }
        if req.org.trim().is_empty() {
            return Err(Error::Invalid("org name is empty".into()));
        }
        validate_bucket_name(&req.bucket, false)?;
        validate_retention(req.retention_period_ns, 0)?;
        let hash = match &req.password {
            Some(p) => Some(hash_password(p)?),
            None => None,
        };
        self.update(|t| {
            if t.iter(schema::USERS).next().is_some() || t.iter(schema::ORGS).next().is_some() {
                return Err(Error::Conflict(
                    "onboarding has already been completed".into(),
                ));
            }
            let user = tx_create_user(t, &req.username, Status::Active)?;
            if let Some(h) = &hash {
                t.put(
                    schema::PASSWORDS,
                    user.id.encode().to_vec(),
                    h.as_bytes().to_vec(),
                );
            }
            let org = tx_create_org(t, &req.org, "", Some(user.id))?;
            tx_create_urm(
                t,
                &UserResourceMapping {
                    user_id: user.id,
                    user_type: UserType::Owner,
                    mapping_type: MappingType::User,
                    resource_type: ResourceType::Instance,
                    resource_id: Id::INSTANCE,
                },
            )?;
            let bucket = tx_create_bucket(
                t,
                BucketCreate {
                    org_id: Some(org.id),
                    name: req.bucket.clone(),
                    retention_period_ns: req.retention_period_ns,
                    ..Default::default()
                },
            )?;
            let auth = tx_create_auth(
                t,
                AuthorizationCreate {
                    org_id: Some(org.id),
                    user_id: Some(user.id),
                    description: format!("{}'s Token", user.name),
                    status: Status::Active,
                    permissions: Permission::operator_set(),
                    token: req.token.clone(),
                },
            )?;
            Ok(SetupResult {
                user,
                org,
                bucket,
                auth,
            })
        })
    }
}

// ---------------------------------------------------------------------- in-transaction helpers

fn tx_catalog(t: &Tree) -> Result<Data> {
    match t.get(catalog::BUCKET, catalog::KEY) {
        Some(b) => Data::decode_bytes(b),
        None => Ok(Data {
            index: 1,
            ..Default::default()
        }),
    }
}

fn tx_add_database(data: &mut Data, b: &Bucket) -> DatabaseInfo {
    let name = b.id.to_string();
    data.databases.retain(|d| d.name != name);
    let db = DatabaseInfo::for_bucket(name, b.retention_period_ns, b.shard_group_duration_ns);
    data.databases.push(db.clone());
    data.index += 1;
    db
}

fn tx_create_user(t: &mut Tree, name: &str, status: Status) -> Result<User> {
    if name.trim().is_empty() {
        return Err(Error::Invalid("username is empty".into()));
    }
    if t.get(schema::USER_INDEX, name.as_bytes()).is_some() {
        return Err(Error::Conflict(format!(
            "user with name {name} already exists"
        )));
    }
    let mut id = Id::generate();
    while t.get(schema::USERS, &id.encode()).is_some() {
        id = Id::generate();
    }
    let u = User {
        id,
        name: name.to_string(),
        oauth_id: String::new(),
        status,
    };
    t.put(schema::USERS, id.encode().to_vec(), to_go_json(&u));
    t.put(
        schema::USER_INDEX,
        name.as_bytes().to_vec(),
        id.encode().to_vec(),
    );
    Ok(u)
}

fn tx_create_org(
    t: &mut Tree,
    name: &str,
    description: &str,
    creator: Option<Id>,
) -> Result<Organization> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("org name is empty".into()));
    }
    if t.get(schema::ORG_INDEX, name.as_bytes()).is_some() {
        return Err(Error::Conflict(format!(
            "organization with name {name} already exists"
        )));
    }
    let mut id = Id::random();
    while t.get(schema::ORGS, &id.encode()).is_some() {
        id = Id::random();
    }
    let now = Time::now();
    let org = Organization {
        id,
        name: name.to_string(),
        description: description.to_string(),
        created_at: now,
        updated_at: now,
    };
    t.put(schema::ORGS, id.encode().to_vec(), to_go_json(&org));
    t.put(
        schema::ORG_INDEX,
        name.as_bytes().to_vec(),
        id.encode().to_vec(),
    );
    for (bname, desc, retention) in [
        ("_tasks", "System bucket for task logs", 72 * HOUR_NS),
        (
            "_monitoring",
            "System bucket for monitoring logs",
            7 * DAY_NS,
        ),
    ] {
        tx_create_bucket(
            t,
            BucketCreate {
                org_id: Some(id),
                name: bname.to_string(),
                description: desc.to_string(),
                retention_period_ns: retention,
                shard_group_duration_ns: DAY_NS,
                rp: String::new(),
                bucket_type: BucketType::System,
            },
        )?;
    }
    if let Some(user) = creator {
        tx_create_urm(
            t,
            &UserResourceMapping {
                user_id: user,
                user_type: UserType::Owner,
                mapping_type: MappingType::User,
                resource_type: ResourceType::Orgs,
                resource_id: id,
            },
        )?;
    }
    Ok(org)
}

fn tx_create_bucket(t: &mut Tree, req: BucketCreate) -> Result<Bucket> {
    let org_id = req
        .org_id
        .ok_or_else(|| Error::Invalid("organization ID is required".into()))?;
    if t.get(schema::ORGS, &org_id.encode()).is_none() {
        return Err(Error::not_found(Kind::Organization));
    }
    validate_bucket_name(&req.name, req.bucket_type == BucketType::System)?;
    let sgd = if req.shard_group_duration_ns == 0 {
        default_shard_group_duration(req.retention_period_ns)
    } else {
        req.shard_group_duration_ns
    };
    validate_retention(req.retention_period_ns, req.shard_group_duration_ns)?;
    let ik = bucket_index_key(org_id, &req.name);
    if t.get(schema::BUCKET_INDEX, &ik).is_some() {
        return Err(Error::Conflict(format!(
            "bucket with name {} already exists",
            req.name
        )));
    }
    let mut id = Id::random();
    while t.get(schema::BUCKETS, &id.encode()).is_some() {
        id = Id::random();
    }
    let now = Time::now();
    let b = Bucket {
        id,
        org_id,
        bucket_type: req.bucket_type,
        name: req.name,
        description: req.description,
        retention_policy_name: req.rp,
        retention_period_ns: req.retention_period_ns,
        shard_group_duration_ns: sgd,
        created_at: now,
        updated_at: now,
    };
    t.put(schema::BUCKETS, id.encode().to_vec(), to_go_json(&b));
    t.put(schema::BUCKET_INDEX, ik, id.encode().to_vec());
    let mut data = tx_catalog(t)?;
    tx_add_database(&mut data, &b);
    t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
    Ok(b)
}

fn tx_delete_bucket(t: &mut Tree, id: Id) -> Result<()> {
    let b: Bucket = get_json(t, schema::BUCKETS, &id.encode(), Kind::Bucket)?;
    t.delete(schema::BUCKET_INDEX, &bucket_index_key(b.org_id, &b.name));
    t.delete(schema::BUCKETS, &id.encode());
    tx_delete_resource_urms(t, id)?;
    let dbrps: Vec<DbrpMapping> = all_json(t, schema::DBRPS)?;
    for d in dbrps.iter().filter(|d| d.bucket_id == id) {
        tx_delete_dbrp(t, d)?;
    }
    let mut data = tx_catalog(t)?;
    let name = id.to_string();
    let before = data.databases.len();
    data.databases.retain(|d| d.name != name);
    if data.databases.len() != before {
        data.index += 1;
        t.put(catalog::BUCKET, catalog::KEY, data.encode_bytes());
    }
    Ok(())
}

fn tx_create_urm(t: &mut Tree, m: &UserResourceMapping) -> Result<()> {
    let k = urm_key(m.resource_id, m.user_id);
    if t.get(schema::URMS, &k).is_some() {
        return Err(Error::Conflict(format!(
            "Unexpected error when assigning user to a resource: mapping for user {} already exists",
            m.user_id
        )));
    }
    t.put(schema::URMS, k.clone(), to_go_json(m));
    t.put(
        schema::URM_BY_USER,
        urm_by_user_key(m.resource_id, m.user_id),
        k,
    );
    Ok(())
}

fn tx_delete_urm(t: &mut Tree, resource: Id, user: Id) {
    t.delete(schema::URMS, &urm_key(resource, user));
    t.delete(schema::URM_BY_USER, &urm_by_user_key(resource, user));
}

fn tx_urms(t: &Tree, f: &UrmFilter) -> Result<Vec<UserResourceMapping>> {
    let all: Vec<UserResourceMapping> = match f.resource_id {
        Some(r) => t
            .prefix(schema::URMS, &r.encode())
            .map(|(_, v)| from_json(schema::URMS, v))
            .collect::<Result<_>>()?,
        None => all_json(t, schema::URMS)?,
    };
    Ok(all
        .into_iter()
        .filter(|m| {
            f.resource_id.is_none_or(|r| r == m.resource_id)
                && f.resource_type.is_none_or(|r| r == m.resource_type)
                && f.user_id.is_none_or(|u| u == m.user_id)
                && f.user_type.is_none_or(|u| u == m.user_type)
        })
        .collect())
}

/// Deletes every URM `f` matches.
/// Deletes the members and owners of a resource that is being deleted.
fn tx_delete_resource_urms(t: &mut Tree, resource_id: Id) -> Result<()> {
    tx_delete_urms(
        t,
        &UrmFilter {
            resource_id: Some(resource_id),
            ..UrmFilter::default()
        },
    )
}

fn tx_delete_urms(t: &mut Tree, f: &UrmFilter) -> Result<()> {
    for m in tx_urms(t, f)? {
        tx_delete_urm(t, m.resource_id, m.user_id);
    }
    Ok(())
}

fn tx_create_auth(t: &mut Tree, req: AuthorizationCreate) -> Result<Authorization> {
    let org_id = req
        .org_id
        .ok_or_else(|| Error::Invalid("org ID is required".into()))?;
    if t.get(schema::ORGS, &org_id.encode()).is_none() {
        return Err(Error::not_found(Kind::Organization));
    }
    if let Some(u) = req.user_id
        && t.get(schema::USERS, &u.encode()).is_none()
    {
        return Err(Error::not_found(Kind::User));
    }
    if req.permissions.is_empty() {
        return Err(Error::Invalid(
            "authorization must have at least one permission".into(),
        ));
    }
    let token = match req.token {
        Some(tok) if !tok.is_empty() => tok,
        _ => generate_token(),
    };
    if t.get(schema::AUTH_INDEX, token.as_bytes()).is_some() {
        return Err(Error::Conflict("token already exists".into()));
    }
    let mut id = Id::generate();
    while t.get(schema::AUTHS, &id.encode()).is_some() {
        id = Id::generate();
    }
    let now = Time::now();
    let a = Authorization {
        id,
        token: token.clone(),
        hashed_token: String::new(),
        status: req.status,
        description: req.description,
        org_id,
        user_id: req.user_id,
        permissions: req.permissions,
        created_at: now,
        updated_at: now,
    };
    t.put(schema::AUTHS, id.encode().to_vec(), to_go_json(&a));
    t.put(schema::AUTH_INDEX, token.into_bytes(), id.encode().to_vec());
    Ok(a)
}

fn tx_delete_auth(t: &mut Tree, id: Id) -> Result<()> {
    let a: Authorization = get_json(t, schema::AUTHS, &id.encode(), Kind::Authorization)?;
    if !a.token.is_empty() {
        t.delete(schema::AUTH_INDEX, a.token.as_bytes());
    }
    if !a.hashed_token.is_empty() && t.bucket(schema::AUTH_HASHED_INDEX).is_some() {
        t.delete(schema::AUTH_HASHED_INDEX, a.hashed_token.as_bytes());
    }
    t.delete(schema::AUTHS, &id.encode());
    Ok(())
}

fn tx_set_default_dbrp(t: &mut Tree, fk: &[u8], id: Id) -> Result<()> {
    if let Some(old) = t.get(schema::DBRP_DEFAULT, fk).map(|v| v.to_vec())
        && old != id.encode()
        && let Some(v) = t.get(schema::DBRPS, &old)
    {
        let mut m: DbrpMapping = from_json(schema::DBRPS, v)?;
        m.default = false;
        t.put(schema::DBRPS, old, to_go_json(&m));
    }
    t.put(schema::DBRP_DEFAULT, fk.to_vec(), id.encode().to_vec());
    Ok(())
}

fn tx_first_dbrp_but(t: &Tree, fk: &[u8], but: Id) -> Option<Id> {
    let prefix = [fk, b"/"].concat();
    t.prefix(schema::DBRP_BY_ORG_DB, &prefix)
        .filter_map(|(_, v)| Id::decode(v).ok())
        .find(|i| *i != but)
}

fn tx_delete_dbrp(t: &mut Tree, m: &DbrpMapping) -> Result<()> {
    let fk = dbrp_fk(m.org_id, &m.database);
    let was_default = t.get(schema::DBRP_DEFAULT, &fk) == Some(&m.id.encode()[..]);
    t.delete(schema::DBRPS, &m.id.encode());
    t.delete(
        schema::DBRP_BY_ORG_DB,
        &[fk.as_slice(), b"/", &m.id.encode()].concat(),
    );
    t.delete(
        schema::DBRP_BY_ORG,
        &[&m.org_id.encode()[..], b"/", &m.id.encode()].concat(),
    );
    if was_default {
        match tx_first_dbrp_but(t, &fk, m.id) {
            Some(first) => {
                t.put(schema::DBRP_DEFAULT, fk, first.encode().to_vec());
                if let Some(v) = t.get(schema::DBRPS, &first.encode()) {
                    let mut o: DbrpMapping = from_json(schema::DBRPS, v)?;
                    o.default = true;
                    t.put(schema::DBRPS, first.encode().to_vec(), to_go_json(&o));
                }
            }
            None => t.delete(schema::DBRP_DEFAULT, &fk),
        }
    }
    Ok(())
}
