//! Errors of the backup formats.

/// What went wrong reading or writing a backup format. Each variant names the part at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid manifest: {0}")]
    Manifest(String),
    #[error("unsupported manifest version {0}")]
    UnsupportedVersion(i64),
    #[error("invalid time {text:?}: {reason}")]
    Time { text: String, reason: String },
    #[error("tar entry {entry:?}: {reason}")]
    TarEntry { entry: String, reason: String },
    #[error("reading tar: {0}")]
    Tar(#[source] std::io::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}
