//! TSM: the on-disk file format of InfluxDB's storage engine (time-structured merge tree),
//! byte-compatible with InfluxDB 1.x and 2.x.
//!
//! * [`encoding`]: the column codecs (timestamps, floats, integers, unsigned, booleans,
//!   strings), bit-exact with InfluxDB.

pub mod block;
pub mod encoding;

pub use block::{Block, BlockError, BlockType, Values, ValuesRef};
pub use encoding::StringValues;
