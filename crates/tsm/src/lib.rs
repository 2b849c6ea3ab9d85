//! TSM: the on-disk file format of InfluxDB's storage engine (time-structured merge tree),
//! byte-compatible with InfluxDB 1.x and 2.x.
//!
//! * [`encoding`]: the column codecs (timestamps, floats, integers, unsigned, booleans,
//!   strings), bit-exact with InfluxDB.
//! * [`block`]: block records (CRC, type, timestamps, values) and the typed [`Values`].
//! * [`writer`]: the streaming [`TsmWriter`] and the file layout.
//! * [`reader`]: the validating, memory-mapped [`TsmReader`].
//! * [`tombstone`]: `.tombstone` files (read v1-v4, write v4).
//! * [`dump`] and [`verify`]: the `inspect tsm` and `inspect verify` commands as functions
//!   writing to any `impl Write`.

pub mod block;
pub mod dump;
pub mod encoding;
pub mod error;
pub mod reader;
pub mod tombstone;
pub mod verify;
pub mod writer;

pub use block::{Block, BlockError, BlockType, Values, ValuesRef};
pub use encoding::StringValues;
pub use error::{Error, ErrorKind, Result};
pub use reader::{TimeRange, TsmReader};
pub use tombstone::Tombstone;
pub use verify::{VerifySummary, verify_dir};
pub use writer::{DEFAULT_MAX_POINTS_PER_BLOCK, IndexEntry, TsmWriter, file_name, parse_file_name};
