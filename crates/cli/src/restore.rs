//! `ironflux restore DIR`: restores a backup directory written by `ironflux backup` or
//! `influx backup` (manifest version 2) into a server, with the `influx` CLI's algorithm.
//!
//! Every `*.manifest` of the directory is read in name order (version 2, or the version-less
//! manifest of InfluxDB 2.0's built-in CLI, converted by reading its BoltDB file); the KV and SQL files come from the
//! last one, and buckets are merged by `<org name>/<bucket name>`, later manifests winning.
//! Before anything is sent, every file the restore needs is checked: present, of the manifest's
//! size, and of its SHA-256 where the manifest records one. `--verify-only` goes further and
//! stops there: it also decompresses every shard tar and checks every block of every TSM file
//! in it.
//!
//! * `--full` replaces the server's KV store (`POST /api/v2/restore/kv`; the server answers the
//!   restored operator token, used for every later call), its SQL store, then every shard under
//!   its original ID.
//! * Otherwise each bucket (system buckets excepted, and only those matching `--org`/`--org-id`/
//!   `--bucket`/`--bucket-id`) is created anew in its organization or `--new-org` (created if
//!   missing), under its name or `--new-bucket`, with `POST /api/v2/restore/bucketMetadata`;
//!   its shards are then uploaded to the shard IDs the server answered.
//!
//! The filters are taken from flags only, not from `INFLUX_ORG`: an environment variable should
//! not silently narrow a restore.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use backup::manifest::{AnyManifest, BucketManifest, Compression, FileEntry, Manifest};
use clap::Args;
use futures::TryStreamExt as _;
use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::client::{Client, ServerArgs, is_not_found};
use crate::transfer::{Progress, hex, human_bytes};

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Backup directory to restore.
    path: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
    /// Replace all of the server's data and metadata with the backup.
    #[arg(long)]
    full: bool,
    /// Only restore buckets of the organization with this ID in the backup.
    #[arg(long, conflicts_with = "org")]
    org_id: Option<String>,
    /// Only restore buckets of the organization with this name in the backup.
    #[arg(short = 'o', long)]
    org: Option<String>,
    /// Only restore the bucket with this ID in the backup.
    #[arg(long, conflicts_with = "bucket")]
    bucket_id: Option<String>,
    /// Only restore the bucket with this name in the backup.
    #[arg(short = 'b', long)]
    bucket: Option<String>,
    /// Restore into the organization with this name (created if missing).
    #[arg(long)]
    new_org: Option<String>,
    /// Restore the bucket under this name.
    #[arg(long)]
    new_bucket: Option<String>,
    /// Operator token to use after a full restore when the backup holds no plaintext token.
    #[arg(long, allow_hyphen_values = true)]
    operator_token: Option<String>,
    /// Check every file of the backup (sizes, checksums, every TSM block) and restore nothing.
    #[arg(long)]
    verify_only: bool,
}

pub fn run(args: RestoreArgs) -> anyhow::Result<()> {
    if args.full
        && (args.org.is_some()
            || args.org_id.is_some()
            || args.bucket.is_some()
            || args.bucket_id.is_some()
            || args.new_org.is_some()
            || args.new_bucket.is_some())
    {
        bail!("--full restores everything and cannot be combined with filters or new names");
    }
    if args.new_org.is_some() && args.org.is_none() && args.org_id.is_none() {
        bail!("--new-org needs --org or --org-id");
    }
    if args.new_bucket.is_some() && args.bucket.is_none() && args.bucket_id.is_none() {
        bail!("--new-bucket needs --bucket or --bucket-id");
    }
    let manifest = load_manifests(&args.path)?;
    if args.verify_only {
        return verify_all(&args.path, &manifest);
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(restore(args, manifest))
}

/// Reads and merges every manifest of `dir`, as the `influx` CLI does.
fn load_manifests(dir: &Path) -> anyhow::Result<Manifest> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "manifest"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no backup manifests found in {}", dir.display());
    }
    let mut merged: Option<Manifest> = None;
    for path in names {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let m = match backup::manifest::read_manifest(&bytes)
            .with_context(|| format!("reading {}", path.display()))?
        {
            AnyManifest::V2(m) => m,
            AnyManifest::Legacy(l) => from_legacy(dir, &l)
                .with_context(|| format!("converting the legacy manifest {}", path.display()))?,
        };
        merged = Some(match merged {
            None => m,
            Some(mut acc) => {
                acc.kv = m.kv;
                acc.sql = m.sql;
                for b in m.buckets {
                    match acc
                        .buckets
                        .iter_mut()
                        .find(|x| x.merge_key() == b.merge_key())
                    {
                        Some(slot) => *slot = b,
                        None => acc.buckets.push(b),
                    }
                }
                acc
            }
        });
    }
    merged.context("no manifest read")
}

/// Converts a manifest of InfluxDB 2.0's built-in CLI (no version, one entry per shard file) as
/// the `influx` CLI does: the buckets and their shard layout are read from the backup's BoltDB
/// file (a copy of it is opened as a store), and each shard gets the file the manifest lists
/// for it (always a gzipped tar); shards without a file and system buckets are left out.
fn from_legacy(dir: &Path, l: &backup::manifest::LegacyManifest) -> anyhow::Result<Manifest> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let bolt = tmp.path().join("kv.bolt");
    std::fs::copy(dir.join(&l.kv.file_name), &bolt)
        .with_context(|| format!("reading {}", l.kv.file_name))?;
    let store = meta::MetaStore::open(&bolt, tmp.path().join("kv.sqlite"))
        .with_context(|| format!("opening {}", l.kv.file_name))?;
    let mut buckets = server::routes::backup::bucket_manifests(&store)
        .with_context(|| format!("reading the buckets of {}", l.kv.file_name))?;
    buckets.retain(|b| !b.bucket_name.starts_with('_'));
    for b in &mut buckets {
        for rp in &mut b.retention_policies {
            for g in &mut rp.shard_groups {
                g.shards.retain_mut(|s| {
                    s.file = l
                        .files
                        .iter()
                        .find(|f| f.shard_id == s.id && f.bucket_id == b.bucket_id)
                        .map(|f| FileEntry {
                            file_name: f.file_name.clone(),
                            size: f.size,
                            compression: Compression::Gzip,
                            sha256: None,
                        });
                    s.file.is_some()
                });
            }
        }
    }
    Ok(Manifest {
        manifest_version: backup::manifest::MANIFEST_VERSION,
        kv: FileEntry {
            file_name: l.kv.file_name.clone(),
            size: l.kv.size,
            compression: Compression::None,
            sha256: None,
        },
        sql: None,
        buckets,
    })
}

/// Checks that `entry` is in `dir` with its recorded size and checksum.
fn check_file(dir: &Path, entry: &FileEntry) -> anyhow::Result<()> {
    if entry.file_name.contains('/') || entry.file_name.contains('\\') {
        bail!(
            "manifest names a file outside the backup: {:?}",
            entry.file_name
        );
    }
    let path = dir.join(&entry.file_name);
    let mut f =
        std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    if size != entry.size as u64 {
        bail!(
            "{}: {} bytes, the manifest says {}",
            entry.file_name,
            size,
            entry.size
        );
    }
    if let Some(want) = &entry.sha256 {
        let got = hex(&hasher.finalize());
        if !got.eq_ignore_ascii_case(want) {
            bail!(
                "{}: SHA-256 {got}, the manifest says {want}",
                entry.file_name
            );
        }
    }
    Ok(())
}

/// `--verify-only`: every file checked, every shard tar read and every TSM block verified.
fn verify_all(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let mut files = 0;
    let mut blocks = 0;
    // Removed on drop, on every path out of this function.
    let scratch = tempfile::Builder::new()
        .prefix("ironflux-verify")
        .tempdir()
        .context("creating a scratch directory")?;
    let scratch = scratch.path();
    for entry in manifest.files() {
        check_file(dir, entry)?;
        files += 1;
    }
    for bucket in &manifest.buckets {
        for entry in bucket.shard_files() {
            let f = std::fs::File::open(dir.join(&entry.file_name))?;
            let reader: Box<dyn Read> = match entry.compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
                Compression::None => Box::new(f),
            };
            backup::shard_tar::read(reader, |e, r| {
                if e.file.kind != backup::shard_tar::FileKind::Tsm {
                    return Ok(());
                }
                let path = scratch.join(&e.name);
                let mut out = std::fs::File::create(&path).map_err(|source| backup::Error::Io {
                    context: format!("staging {}", e.name),
                    source,
                })?;
                std::io::copy(r, &mut out).map_err(backup::Error::Tar)?;
                let checked = tsm::TsmReader::open(&path).and_then(|t| t.verify());
                let _ = std::fs::remove_file(&path);
                match checked {
                    Ok(n) => {
                        blocks += n;
                        Ok(())
                    }
                    Err(err) => Err(backup::Error::TarEntry {
                        entry: e.name.clone(),
                        reason: err.to_string(),
                    }),
                }
            })
            .with_context(|| format!("verifying {}", entry.file_name))?;
        }
    }
    eprintln!(
        "backup {} verified: {files} files, {} buckets, {blocks} TSM blocks",
        dir.display(),
        manifest.buckets.len()
    );
    Ok(())
}

fn selected(args: &RestoreArgs, b: &BucketManifest) -> bool {
    !b.bucket_name.starts_with('_')
        && args.org_id.as_ref().is_none_or(|v| *v == b.organization_id)
        && args.org.as_ref().is_none_or(|v| *v == b.organization_name)
        && args.bucket_id.as_ref().is_none_or(|v| *v == b.bucket_id)
        && args.bucket.as_ref().is_none_or(|v| *v == b.bucket_name)
}

/// Bytes read from a backup file per chunk of an upload.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// Sends a backup file as the body of `path`, gzip-encoded when it is stored gzipped.
async fn upload(
    client: &Client,
    dir: &Path,
    entry: &FileEntry,
    path: &str,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    let file_path = dir.join(&entry.file_name);
    let file = tokio::fs::File::open(&file_path)
        .await
        .with_context(|| format!("opening {}", file_path.display()))?;
    let progress = std::sync::Arc::new(Progress::new(
        format!("{what} <- {}", entry.file_name),
        Some(entry.size as u64),
    ));
    let p = progress.clone();
    // Large reads: each read of a `tokio::fs::File` is a trip to the blocking pool, and the
    // default 4 KiB chunks held a shard upload to a third of the server's speed.
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK).inspect_ok(move |chunk| {
            p.inc(chunk.len() as u64);
        });
    let mut req = client
        .request(Method::POST, path)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream));
    if entry.compression == Compression::Gzip {
        req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
    }
    let resp = client.send(req, what).await?;
    progress.finish(entry.size as u64);
    Ok(resp)
}

async fn restore(args: RestoreArgs, manifest: Manifest) -> anyhow::Result<()> {
    let dir = args.path.clone();
    let mut client = Client::new(&args.server)?;
    let buckets: Vec<&BucketManifest> = if args.full {
        manifest.buckets.iter().collect()
    } else {
        manifest
            .buckets
            .iter()
            .filter(|b| selected(&args, b))
            .collect()
    };
    // Fail before touching the server if any needed file is missing or damaged.
    if args.full {
        check_file(&dir, &manifest.kv)?;
        if let Some(sql) = &manifest.sql {
            check_file(&dir, sql)?;
        }
    }
    for b in &buckets {
        for f in b.shard_files() {
            check_file(&dir, f)?;
        }
    }
    client.check_version().await?;

    let mut shards = 0usize;
    let mut bytes = 0u64;
    if args.full {
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
        }
        let resp = upload(
            &client,
            &dir,
            &manifest.kv,
            "/api/v2/restore/kv",
            "KV store",
        )
        .await?;
        let token: Token = resp.json().await.context("reading the restore/kv answer")?;
        let new = Some(token.token)
            .filter(|t| !t.is_empty())
            .or(args.operator_token.clone());
        match new {
            Some(t) if t != client.token() => {
                eprintln!(
                    "WARN: Restoring KV snapshot overwrote the operator token, ensure following commands use the correct token"
                );
                client.set_token(t);
            }
            Some(_) => {}
            None => bail!(
                "the restored KV store has no plaintext operator token: pass --operator-token"
            ),
        }
        if let Some(sql) = &manifest.sql {
            upload(&client, &dir, sql, "/api/v2/restore/sql", "SQL store").await?;
        }
        for b in &buckets {
            for shard in b.shards() {
                if let Some(f) = &shard.file {
                    let what = format!("shard {}", shard.id);
                    let path = format!("/api/v2/restore/shards/{}", shard.id);
                    upload(&client, &dir, f, &path, &what).await?;
                    shards += 1;
                    bytes += f.size as u64;
                }
            }
        }
    } else {
        let mut org_ids: HashMap<String, String> = HashMap::new();
        for b in &buckets {
            let org_name = args.new_org.clone().unwrap_or(b.organization_name.clone());
            let org_id = match org_ids.get(&org_name) {
                Some(id) => id.clone(),
                None => {
                    let id = find_or_create_org(&client, &org_name).await?;
                    org_ids.insert(org_name.clone(), id.clone());
                    id
                }
            };
            let mut request = (*b).clone();
            request.organization_id = org_id;
            request.organization_name = org_name.clone();
            if let Some(name) = &args.new_bucket {
                request.bucket_name = name.clone();
            }
            for rp in &mut request.retention_policies {
                for g in &mut rp.shard_groups {
                    for s in &mut g.shards {
                        s.file = None;
                    }
                }
            }
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Mapping {
                old_id: u64,
                new_id: u64,
            }
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Restored {
                id: String,
                #[serde(default)]
                shard_mappings: Vec<Mapping>,
            }
            let what = format!("creating bucket {org_name}/{}", request.bucket_name);
            let restored: Restored = client
                .send(
                    client
                        .request(Method::POST, "/api/v2/restore/bucketMetadata")
                        .json(&request),
                    &what,
                )
                .await?
                .json()
                .await
                .with_context(|| what.clone())?;
            let map: HashMap<u64, u64> = restored
                .shard_mappings
                .iter()
                .map(|m| (m.old_id, m.new_id))
                .collect();
            for shard in b.shards() {
                let Some(f) = &shard.file else { continue };
                let Some(new_id) = map.get(&shard.id) else {
                    eprintln!(
                        "WARN: Server didn't map ID for shard {}, skipping",
                        shard.id
                    );
                    continue;
                };
                let what = format!("shard {} as {new_id}", shard.id);
                let path = format!("/api/v2/restore/shards/{new_id}");
                upload(&client, &dir, f, &path, &what).await?;
                shards += 1;
                bytes += f.size as u64;
            }
            eprintln!(
                "restored bucket {org_name}/{} as {}",
                request.bucket_name, restored.id
            );
        }
    }
    eprintln!(
        "restore of {} complete: {} buckets, {shards} shards, {} of shard data",
        dir.display(),
        buckets.len(),
        human_bytes(bytes)
    );
    Ok(())
}

async fn find_or_create_org(client: &Client, name: &str) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Org {
        id: String,
    }
    #[derive(serde::Deserialize)]
    struct Orgs {
        #[serde(default)]
        orgs: Vec<Org>,
    }
    let found = client
        .send(
            client
                .request(Method::GET, "/api/v2/orgs")
                .query(&[("org", name)]),
            "looking up the organization",
        )
        .await;
    match found {
        Ok(resp) => {
            let orgs: Orgs = resp.json().await.context("reading organizations")?;
            if let Some(org) = orgs.orgs.into_iter().next() {
                return Ok(org.id);
            }
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let created: Org = client
        .send(
            client
                .request(Method::POST, "/api/v2/orgs")
                .json(&serde_json::json!({ "name": name })),
            &format!("creating organization {name}"),
        )
        .await?
        .json()
        .await
        .context("reading the created organization")?;
    Ok(created.id)
}
