//! `ironflux serve`: parses influxd-style flags (each also read from an environment variable),
//! sets up logging, binds the listener and runs [`server::serve`] until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

/// Flags of `ironflux serve`. Names and environment variables follow `influxd`
/// (`--http-bind-address` / `INFLUXD_HTTP_BIND_ADDRESS`, ...); the two ironflux-only flags use
/// `IRONFLUX_*`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on for HTTP; port 0 picks a free port (see --listener-file).
    #[arg(
        long,
        env = "INFLUXD_HTTP_BIND_ADDRESS",
        default_value = "127.0.0.1:8086"
    )]
    http_bind_address: SocketAddr,

    /// Directory holding the data when the paths below are not given
    /// [default: ~/.ironflux].
    #[arg(long, env = "IRONFLUX_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Path to the BoltDB KV file [default: DATA_DIR/influxd.bolt].
    #[arg(long, env = "INFLUXD_BOLT_PATH")]
    bolt_path: Option<PathBuf>,

    /// Path to the SQLite file [default: DATA_DIR/influxd.sqlite].
    #[arg(long, env = "INFLUXD_SQLITE_PATH")]
    sqlite_path: Option<PathBuf>,

    /// Directory of the storage engine [default: DATA_DIR/engine].
    #[arg(long, env = "INFLUXD_ENGINE_PATH")]
    engine_path: Option<PathBuf>,

    /// Bound on the storage engine's in-memory cache, in bytes (suffixes k, m, g: KiB, MiB,
    /// GiB); past it, writes answer 503 until the cache is snapshotted to disk.
    #[arg(
        long,
        env = "INFLUXD_STORAGE_CACHE_MAX_MEMORY_SIZE",
        default_value = "1073741824",
        value_parser = parse_size
    )]
    storage_cache_max_memory_size: u64,

    /// A shard's cache is written to a TSM file once it holds this many bytes (suffixes k, m,
    /// g).
    #[arg(
        long,
        env = "INFLUXD_STORAGE_CACHE_SNAPSHOT_MEMORY_SIZE",
        default_value = "26214400",
        value_parser = parse_size
    )]
    storage_cache_snapshot_memory_size: u64,

    /// A shard's cache is written to a TSM file after this long without writes.
    #[arg(
        long,
        env = "INFLUXD_STORAGE_CACHE_SNAPSHOT_WRITE_COLD_DURATION",
        default_value = "10m0s",
        value_parser = parse_duration
    )]
    storage_cache_snapshot_write_cold_duration: std::time::Duration,

    /// A shard is compacted into as few files as possible after this long without writes.
    #[arg(
        long,
        env = "INFLUXD_STORAGE_COMPACT_FULL_WRITE_COLD_DURATION",
        default_value = "4h0m0s",
        value_parser = parse_duration
    )]
    storage_compact_full_write_cold_duration: std::time::Duration,

    /// How often shard groups past their bucket's retention period are dropped.
    #[arg(
        long,
        env = "INFLUXD_STORAGE_RETENTION_CHECK_INTERVAL",
        default_value = "30m0s",
        value_parser = parse_duration
    )]
    storage_retention_check_interval: std::time::Duration,

    /// Largest write body accepted after decompression, in bytes (suffixes k, m, g); larger
    /// ones answer 413.
    #[arg(
        long,
        env = "IRONFLUX_MAX_WRITE_BODY_SIZE",
        default_value = "268435456",
        value_parser = parse_size
    )]
    max_write_body_size: u64,

    /// Memory one query may hold, in bytes (suffixes k, m, g); past it the query fails with
    /// 429. 0 = unlimited.
    #[arg(
        long,
        env = "INFLUXD_QUERY_MEMORY_BYTES",
        default_value = "0",
        value_parser = parse_size
    )]
    query_memory_bytes: u64,

    /// Log level.
    #[arg(long, env = "INFLUXD_LOG_LEVEL", value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,

    /// Once listening, write the bound address (`127.0.0.1:PORT`) into this file.
    #[arg(long, env = "IRONFLUX_LISTENER_FILE")]
    listener_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl ServeArgs {
    /// Fills in the default paths under the data directory.
    fn config(&self) -> anyhow::Result<server::ServeConfig> {
        let data_dir = match &self.data_dir {
            Some(d) => d.clone(),
            None => default_data_dir()?,
        };
        let mut cfg = server::ServeConfig::new(
            self.bolt_path
                .clone()
                .unwrap_or_else(|| data_dir.join("influxd.bolt")),
            self.sqlite_path
                .clone()
                .unwrap_or_else(|| data_dir.join("influxd.sqlite")),
            self.engine_path
                .clone()
                .unwrap_or_else(|| data_dir.join("engine")),
        );
        cfg.cache_max_memory_bytes = self.storage_cache_max_memory_size;
        cfg.max_write_body_bytes = usize::try_from(self.max_write_body_size).unwrap_or(usize::MAX);
        cfg.query_memory_bytes = usize::try_from(self.query_memory_bytes).unwrap_or(usize::MAX);
        cfg.cache_snapshot_memory_bytes = self.storage_cache_snapshot_memory_size;
        cfg.cache_snapshot_write_cold = self.storage_cache_snapshot_write_cold_duration;
        cfg.compact_full_write_cold = self.storage_compact_full_write_cold_duration;
        cfg.retention_check_interval = self.storage_retention_check_interval;
        Ok(cfg)
    }
}

/// Parses a duration as influxd's flags take it (Go's `10m0s`, `4h`, `30s`, `500ms`); it must
/// not be zero.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    match crate::duration::parse(s)? {
        d if d.is_zero() => Err(format!("invalid duration {s:?}: must be above zero")),
        d => Ok(d),
    }
}

/// Parses a byte size as influxd's flags take it: a number with an optional `k`, `m` or `g`
/// suffix (binary multiples, case-insensitive, optional trailing `b`).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {s:?}: expected bytes, e.g. 1073741824 or 1g"))
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".ironflux"))
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{lvl},tower_http={lvl}",
        lvl = args.log_level.directive()
    ));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = args.config()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let shutdown = shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(args.http_bind_address)
            .await
            .with_context(|| format!("binding {}", args.http_bind_address))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        tracing::info!(
            address = %addr,
            bolt_path = %cfg.bolt_path.display(),
            sqlite_path = %cfg.sqlite_path.display(),
            engine_path = %cfg.engine_path.display(),
            "listening"
        );
        if let Some(path) = &args.listener_file {
            write_listener_file(path, addr)?;
        }
        server::serve(listener, cfg, shutdown)
            .await
            .map_err(anyhow::Error::from)
    })
}

/// Writes the address atomically (temp file + rename) so a reader never sees half of it.
fn write_listener_file(path: &std::path::Path, addr: SocketAddr) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string()).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Completes on SIGINT or SIGTERM. The handlers are registered here, before the caller announces
/// the listening address, so a signal sent as soon as the server is reachable is never missed.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("received SIGINT, shutting down"),
            _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_duration, parse_size};

    #[test]
    fn sizes_as_influxd() {
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn durations_as_influxd() {
        assert_eq!(parse_duration("10m0s"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("4h0m0s"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
