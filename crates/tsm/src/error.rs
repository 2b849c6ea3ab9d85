//! The error type of TSM file operations: what went wrong, in which file, for which key and
//! at which byte offset.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::block::BlockError;
use crate::tombstone::TombstoneError;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// An I/O operation failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The file is shorter than a header plus a footer.
    #[error("file too small ({0} bytes)")]
    TooSmall(u64),
    /// The first four bytes are not `16 D1 16 D1`.
    #[error("bad magic number {0:#010x}")]
    BadMagic(u32),
    /// The version byte is not 1.
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// The footer points outside the file.
    #[error("invalid index start {0}")]
    BadIndexStart(u64),
    /// The index ends in the middle of an entry.
    #[error("index truncated")]
    IndexTruncated,
    /// Index keys are not strictly increasing.
    #[error("index keys not sorted or not unique")]
    KeysUnsorted,
    /// A key section has no entries.
    #[error("key has no index entries")]
    NoEntries,
    /// An index entry's type byte is not a known block type.
    #[error("unknown block type {0}")]
    BadBlockType(u8),
    /// An index entry points outside the block area.
    #[error("index entry (offset {offset}, size {size}) outside the block area")]
    EntryOutOfBounds {
        /// The entry's offset.
        offset: i64,
        /// The entry's size.
        size: u32,
    },
    /// An index entry's min time is after its max time.
    #[error("index entry min time {min} after max time {max}")]
    BadTimeRange {
        /// Min time.
        min: i64,
        /// Max time.
        max: i64,
    },
    /// A block's CRC does not match its data.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the data.
        computed: u32,
    },
    /// A block is malformed.
    #[error("block: {0}")]
    Block(#[from] BlockError),
    /// A block's type disagrees with its index entry.
    #[error("block type {found} but index says {expected}")]
    TypeMismatch {
        /// Type in the index.
        expected: u8,
        /// Type in the block.
        found: u8,
    },
    /// Keys were added out of order to a writer.
    #[error("keys must be written in ascending order")]
    KeyOrder,
    /// A key is longer than 65535 bytes (or empty).
    #[error("key length {0} not in 1..=65535")]
    KeyLength(usize),
    /// A key already has 65535 blocks in this file.
    #[error("max blocks per key exceeded")]
    TooManyBlocks,
    /// A writer was finished without any block.
    #[error("no values written")]
    NoValues,
    /// A tombstone file is malformed.
    #[error("tombstone: {0}")]
    Tombstone(#[from] TombstoneError),
    /// The data is too large for the format (a block over 4 GiB).
    #[error("too large: {0}")]
    TooLarge(&'static str),
}

/// An error of a TSM file operation.
#[derive(Debug)]
pub struct Error {
    /// The file.
    pub path: PathBuf,
    /// The key concerned, if any.
    pub key: Option<Vec<u8>>,
    /// The byte offset concerned, if any.
    pub offset: Option<u64>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// An error about `path`.
    pub fn new(path: &Path, kind: impl Into<ErrorKind>) -> Self {
        Error {
            path: path.to_path_buf(),
            key: None,
            offset: None,
            kind: kind.into(),
        }
    }

    /// Adds the key concerned.
    pub fn with_key(mut self, key: &[u8]) -> Self {
        self.key = Some(key.to_vec());
        self
    }

    /// Adds the byte offset concerned.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(k) = &self.key {
            write!(f, ": key {:?}", String::from_utf8_lossy(k))?;
        }
        if let Some(o) = self.offset {
            write!(f, ": offset {o}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// Result of TSM file operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
