//! TSM: the on-disk file format of InfluxDB's storage engine (time-structured merge tree),
//! byte-compatible with InfluxDB 1.x and 2.x.
//!
//! * [`encoding`]: the column codecs (timestamps, floats, integers, unsigned, booleans,
//!   strings), bit-exact with InfluxDB, with the batch shape `encode(&[T], &mut Vec<u8>)` /
//!   `decode(&[u8], &mut Vec<T>)`.
//! * [`block`]: block records (CRC, type, timestamps, values) and the typed [`Values`].
//! * [`writer`]: the streaming [`TsmWriter`] and the file layout.
//! * [`reader`]: the validating, memory-mapped [`TsmReader`].
//! * [`tombstone`]: `.tombstone` files (read v1-v4, write v4).
//! * [`dump`] and [`verify`]: the `inspect tsm` and `inspect verify` commands as functions
//!   writing to any `impl Write`.
//!
//! Writing and reading a file:
//!
//! ```
//! use tsm::{TsmReader, TsmWriter, Values, ValuesRef, file_name};
//! # fn main() -> tsm::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("tsm-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join(file_name(1, 1)); // 000000001-000000001.tsm
//! let mut w = TsmWriter::create(&path)?; // writes 000000001-000000001.tsm.tmp
//! w.write(b"cpu,host=a#!~#usage", &[10, 20, 30], ValuesRef::Float(&[0.5, 0.25, 1.0]))?;
//! w.finish()?; // index, footer, fsync, rename, fsync dir
//!
//! let r = TsmReader::open(&path)?;
//! let b = r.read_range(b"cpu,host=a#!~#usage", 15, 30)?.expect("key present");
//! assert_eq!(b.timestamps, [20, 30]);
//! assert_eq!(b.values, Values::Float(vec![0.25, 1.0]));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

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
