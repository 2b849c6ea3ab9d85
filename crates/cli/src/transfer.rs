//! Moving backup files between the server and a directory: streaming a download into a file
//! (gunzipping or gzipping on the way when the stored form differs from the transferred one)
//! while hashing what is stored, and progress on a terminal (bytes, rate, ETA) or plain log
//! lines elsewhere.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use async_compression::tokio::bufread::GzipDecoder;
use backup::manifest::{Compression, FileEntry};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};

/// Progress of one transfer: a bar on a terminal, one line when done elsewhere.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
}

impl Progress {
    pub fn new(label: String, total: Option<u64>) -> Self {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => ProgressBar::new_spinner().with_style(
                    ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                ),
            };
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { bar, label }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn finish(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{}: {}", self.label, human_bytes(bytes));
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A writer that counts and hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hex SHA-256 of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

async fn pump(
    mut input: impl AsyncRead + Unpin,
    out: &mut impl Write,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf).await.context("reading the download")?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).context("writing the file")?;
        progress.inc(n as u64);
    }
}

/// Stores `input` as `dir/name` in the form `want`, `input_gzip` telling whether the transferred
/// bytes are gzip. The file is fsynced; the entry gives its stored size and SHA-256.
pub async fn store(
    input: impl AsyncRead + Unpin,
    input_gzip: bool,
    want: Compression,
    dir: &Path,
    name: &str,
    progress: &Progress,
) -> anyhow::Result<FileEntry> {
    let path = dir.join(name);
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = Hashing {
        inner: file,
        hasher: Sha256::new(),
        bytes: 0,
    };
    match (input_gzip, want) {
        (true, Compression::Gzip) | (false, Compression::None) => {
            pump(input, &mut out, progress).await?
        }
        (true, Compression::None) => {
            let mut decoder = GzipDecoder::new(BufReader::new(input));
            decoder.multiple_members(true);
            pump(decoder, &mut out, progress).await?
        }
        (false, Compression::Gzip) => {
            let mut gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
            pump(input, &mut gz, progress).await?;
            gz.finish().context("finishing gzip")?;
        }
    }
    out.flush()
        .and_then(|()| out.inner.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    progress.finish(out.bytes);
    Ok(FileEntry {
        file_name: name.to_string(),
        size: out.bytes as i64,
        compression: want,
        sha256: Some(hex(&out.hasher.finalize())),
    })
}

/// Writes `bytes` to `dir/name` through a temporary file, fsynced, renamed into place, and the
/// directory fsynced: the file appears whole or not at all.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}
