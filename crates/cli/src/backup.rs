//! `ironflux backup DIR`: backs a server up into a directory, as `influx backup` does, so that
//! either `ironflux restore` or `influx restore` can restore it.
//!
//! One `GET /api/v2/backup/metadata` gives the KV store, the SQL store and every bucket's
//! manifest; the KV and SQL parts become `<ts>.bolt[.gz]` and `<ts>.sqlite[.gz]`. Then every
//! shard of every bucket matching the filters is downloaded to `<ts>.<shardID>.tar[.gz]`
//! (a shard that the server no longer has, 404 `not found`, is left out with a warning). The
//! manifest `<ts>.manifest` is written last, through a temporary file, so that an interrupted
//! backup has none and restore ignores it. Each file entry of the manifest also carries the
//! SHA-256 of the file as stored, which `ironflux restore` checks before it sends anything.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use backup::manifest::{BucketManifest, Compression, FileEntry, MANIFEST_VERSION, Manifest};
use clap::{Args, ValueEnum};
use futures::TryStreamExt as _;
use reqwest::Method;
use tokio_util::io::StreamReader;

use crate::client::{Client, ServerArgs, is_not_found};
use crate::transfer::{Progress, human_bytes, store, write_atomically};

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Directory to write the backup into; created if missing.
    path: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
    /// Only back up buckets of the organization with this ID.
    #[arg(long, env = "INFLUX_ORG_ID", conflicts_with = "org")]
    org_id: Option<String>,
    /// Only back up buckets of the organization with this name.
    #[arg(short = 'o', long, env = "INFLUX_ORG")]
    org: Option<String>,
    /// Only back up the bucket with this ID.
    #[arg(long, conflicts_with = "bucket")]
    bucket_id: Option<String>,
    /// Only back up the bucket with this name.
    #[arg(short = 'b', long)]
    bucket: Option<String>,
    /// How to store the files.
    #[arg(long, value_enum, default_value = "gzip")]
    compression: CompressionArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CompressionArg {
    Gzip,
    None,
}

pub fn run(args: BackupArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(backup(args))
}

fn is_gzip(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
}

fn body_reader(resp: reqwest::Response) -> impl tokio::io::AsyncRead + Unpin {
    StreamReader::new(resp.bytes_stream().map_err(std::io::Error::other))
}

fn matches(args: &BackupArgs, b: &BucketManifest) -> bool {
    args.org_id.as_ref().is_none_or(|v| *v == b.organization_id)
        && args.org.as_ref().is_none_or(|v| *v == b.organization_name)
        && args.bucket_id.as_ref().is_none_or(|v| *v == b.bucket_id)
        && args.bucket.as_ref().is_none_or(|v| *v == b.bucket_name)
}

async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    client.check_version().await?;
    let dir = &args.path;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ts = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let (compression, ext) = match args.compression {
        CompressionArg::Gzip => (Compression::Gzip, ".gz"),
        CompressionArg::None => (Compression::None, ""),
    };

    let resp = client
        .send(
            client
                .request(Method::GET, "/api/v2/backup/metadata")
                .header(reqwest::header::ACCEPT_ENCODING, "gzip"),
            "downloading metadata",
        )
        .await?;
    let boundary = multipart_boundary(&resp)?;
    let gzip = is_gzip(&resp);
    let body = body_reader(resp);
    let body: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if gzip {
        let mut d =
            async_compression::tokio::bufread::GzipDecoder::new(tokio::io::BufReader::new(body));
        d.multiple_members(true);
        Box::new(d)
    } else {
        Box::new(body)
    };
    let mut parts = multer::Multipart::new(tokio_util::io::ReaderStream::new(body), boundary);
    let (mut kv, mut sql, mut buckets) = (None, None, None::<Vec<BucketManifest>>);
    while let Some(field) = parts.next_field().await.context("reading metadata")? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "kv" | "sql" => {
                let file = if name == "kv" {
                    format!("{ts}.bolt{ext}")
                } else {
                    format!("{ts}.sqlite{ext}")
                };
                let progress = Progress::new(format!("{name} -> {file}"), None);
                let reader = StreamReader::new(field.map_err(std::io::Error::other));
                let entry = store(reader, false, compression, dir, &file, &progress).await?;
                if name == "kv" {
                    kv = Some(entry);
                } else {
                    sql = Some(entry);
                }
            }
            "buckets" => {
                let bytes = field.bytes().await.context("reading bucket manifests")?;
                buckets =
                    Some(serde_json::from_slice(&bytes).context("decoding bucket manifests")?);
            }
            other => bail!("metadata contained an unexpected part {other:?}"),
        }
    }
    let kv = kv.context("metadata had no kv part")?;
    let buckets = buckets.context("metadata had no buckets part")?;

    let mut kept = Vec::new();
    let mut shard_bytes = 0u64;
    let mut shard_files = 0usize;
    for mut bucket in buckets.into_iter().filter(|b| matches(&args, b)) {
        for rp in &mut bucket.retention_policies {
            for group in &mut rp.shard_groups {
                let mut shards = Vec::new();
                for mut shard in std::mem::take(&mut group.shards) {
                    let name = format!("{ts}.{}.tar{ext}", shard.id);
                    match download_shard(&client, shard.id, compression, &args.path, &name).await {
                        Ok(entry) => {
                            shard_bytes += entry.size as u64;
                            shard_files += 1;
                            shard.file = Some(entry);
                            shards.push(shard);
                        }
                        Err(e) if is_not_found(&e) => {
                            eprintln!("WARN: shard {} removed during backup, skipped", shard.id)
                        }
                        Err(e) => return Err(e),
                    }
                }
                group.shards = shards;
            }
        }
        kept.push(bucket);
    }

    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        kv,
        sql,
        buckets: kept,
    };
    let manifest_name = format!("{ts}.manifest");
    write_atomically(dir, &manifest_name, &manifest.to_json())?;
    let total: u64 = manifest.files().map(|f: &FileEntry| f.size as u64).sum();
    eprintln!(
        "backup {} complete: {} buckets, {} shard files, {} in all ({} of shard data)",
        dir.join(&manifest_name).display(),
        manifest.buckets.len(),
        shard_files,
        human_bytes(total),
        human_bytes(shard_bytes)
    );
    Ok(())
}

async fn download_shard(
    client: &Client,
    id: u64,
    compression: Compression,
    dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<FileEntry> {
    let resp = client
        .send(
            client
                .request(Method::GET, &format!("/api/v2/backup/shards/{id}"))
                .header(reqwest::header::ACCEPT_ENCODING, "gzip"),
            &format!("downloading shard {id}"),
        )
        .await?;
    let gzip = is_gzip(&resp);
    let progress = Progress::new(format!("shard {id} -> {name}"), None);
    store(body_reader(resp), gzip, compression, dir, name, &progress).await
}

/// The boundary of a `multipart/mixed` answer (multer's own parser accepts only form-data).
fn multipart_boundary(resp: &reqwest::Response) -> anyhow::Result<String> {
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (essence, params) = ct.split_once(';').unwrap_or((ct, ""));
    if !essence.trim().eq_ignore_ascii_case("multipart/mixed") {
        bail!("metadata answer is {ct:?}, not multipart/mixed");
    }
    params
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .context("multipart answer has no boundary")
}
