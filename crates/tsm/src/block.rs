//! Blocks: the unit of compression in a TSM file.
//!
//! A block record in a file is `crc32 u32 BE | block data`, where the CRC (IEEE, as Go's
//! `crc32.ChecksumIEEE`) covers the block data only, and
//!
//! ```text
//! block data = type u8 | uvarint(len(tsBytes)) | tsBytes | valueBytes
//! ```
//!
//! `type` is 0 float, 1 integer, 2 boolean, 3 string, 4 unsigned; `valueBytes` runs to the
//! end of the block. The number of points is the number of timestamps; the value column
//! must decode to the same count, otherwise the block is corrupt.
//!
//! Encoder choice. InfluxDB has two encoder families: the streaming `*Encoder` types (cache
//! snapshots; in 1.x also compactions) and, in 2.x, the batch `*ArrayEncodeAll` functions
//! (compactions). Their output differs only in rare choices (the integer raw fallback looks
//! at `z[0]` in the streaming encoder but not in the batch one; simple8b selectors 0/1 for
//! runs of 120 or more ones, see [`crate::encoding::simple8b::OnesRule`]; a boolean column of
//! zero values). This crate reproduces the streaming family,
//! which is what every block of the reference files under `../shared/testdata` was written
//! with (the test `reencode_testdata` checks every block byte for byte). Both families decode
//! identically, so either choice yields files InfluxDB reads.

use std::cell::RefCell;

use crate::encoding::{
    CodecError, StringValues, boolean, float, integer, put_uvarint, string, timestamp, uvarint,
};

/// Block (and index) type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BlockType {
    /// `f64` values.
    Float = 0,
    /// `i64` values.
    Integer = 1,
    /// `bool` values.
    Boolean = 2,
    /// Byte-string values.
    String = 3,
    /// `u64` values.
    Unsigned = 4,
}

impl BlockType {
    /// The type for a type byte, if valid.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Float,
            1 => Self::Integer,
            2 => Self::Boolean,
            3 => Self::String,
            4 => Self::Unsigned,
            _ => return None,
        })
    }

    /// Lower-case name (`float`, `integer`, `boolean`, `string`, `unsigned`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Float => "float",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Unsigned => "unsigned",
        }
    }
}

/// A column of typed values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Floats (never NaN).
    Float(Vec<f64>),
    /// Signed integers.
    Integer(Vec<i64>),
    /// Unsigned integers.
    Unsigned(Vec<u64>),
    /// Booleans.
    Boolean(Vec<bool>),
    /// Byte strings.
    String(StringValues),
}

/// A borrowed column of typed values, for encoding without copying.
#[derive(Debug, Clone, Copy)]
pub enum ValuesRef<'a> {
    /// Floats (never NaN).
    Float(&'a [f64]),
    /// Signed integers.
    Integer(&'a [i64]),
    /// Unsigned integers.
    Unsigned(&'a [u64]),
    /// Booleans.
    Boolean(&'a [bool]),
    /// Byte strings.
    String(&'a StringValues),
}

impl Values {
    /// An empty column of type `t`.
    pub fn empty(t: BlockType) -> Self {
        match t {
            BlockType::Float => Self::Float(Vec::new()),
            BlockType::Integer => Self::Integer(Vec::new()),
            BlockType::Unsigned => Self::Unsigned(Vec::new()),
            BlockType::Boolean => Self::Boolean(Vec::new()),
            BlockType::String => Self::String(StringValues::new()),
        }
    }

    /// The block type of this column.
    pub fn block_type(&self) -> BlockType {
        self.as_ref().block_type()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// True if there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every value, keeping the type and allocation.
    pub fn clear(&mut self) {
        match self {
            Self::Float(v) => v.clear(),
            Self::Integer(v) => v.clear(),
            Self::Unsigned(v) => v.clear(),
            Self::Boolean(v) => v.clear(),
            Self::String(v) => v.clear(),
        }
    }

    /// Borrows the column.
    pub fn as_ref(&self) -> ValuesRef<'_> {
        match self {
            Self::Float(v) => ValuesRef::Float(v),
            Self::Integer(v) => ValuesRef::Integer(v),
            Self::Unsigned(v) => ValuesRef::Unsigned(v),
            Self::Boolean(v) => ValuesRef::Boolean(v),
            Self::String(v) => ValuesRef::String(v),
        }
    }

    /// Keeps only the values whose index passes `keep` (used to filter by time).
    pub fn retain_indices(&mut self, keep: &[bool]) {
        fn go<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                let k = keep.get(i).copied().unwrap_or(false);
                i += 1;
                k
            });
        }
        match self {
            Self::Float(v) => go(v, keep),
            Self::Integer(v) => go(v, keep),
            Self::Unsigned(v) => go(v, keep),
            Self::Boolean(v) => go(v, keep),
            Self::String(v) => {
                let mut out = StringValues::new();
                for (s, &k) in v.iter().zip(keep) {
                    if k {
                        out.push(s);
                    }
                }
                *v = out;
            }
        }
    }
}

impl ValuesRef<'_> {
    /// The block type of this column.
    pub fn block_type(&self) -> BlockType {
        match self {
            Self::Float(_) => BlockType::Float,
            Self::Integer(_) => BlockType::Integer,
            Self::Unsigned(_) => BlockType::Unsigned,
            Self::Boolean(_) => BlockType::Boolean,
            Self::String(_) => BlockType::String,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::Float(v) => v.len(),
            Self::Integer(v) => v.len(),
            Self::Unsigned(v) => v.len(),
            Self::Boolean(v) => v.len(),
            Self::String(v) => v.len(),
        }
    }

    /// True if there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded block: timestamps and the values at them.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Timestamps, nanoseconds since the epoch.
    pub timestamps: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Values,
}

impl Block {
    /// An empty block of type `t`.
    pub fn new(t: BlockType) -> Self {
        Block {
            timestamps: Vec::new(),
            values: Values::empty(t),
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True if there are no points.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Encodes this block's data (no CRC), appending to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), BlockError> {
        encode(&self.timestamps, self.values.as_ref(), out)
    }

    /// Keeps only the points with `min <= t <= max`.
    pub fn retain_time_range(&mut self, min: i64, max: i64) {
        if self.timestamps.iter().all(|&t| t >= min && t <= max) {
            return;
        }
        let keep: Vec<bool> = self
            .timestamps
            .iter()
            .map(|&t| t >= min && t <= max)
            .collect();
        self.filter(&keep);
    }

    /// Keeps only the points whose index is marked in `keep`.
    pub fn filter(&mut self, keep: &[bool]) {
        let mut i = 0;
        self.timestamps.retain(|_| {
            let k = keep.get(i).copied().unwrap_or(false);
            i += 1;
            k
        });
        self.values.retain_indices(keep);
    }
}

/// Error encoding or decoding a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block data is empty.
    #[error("empty block")]
    Empty,
    /// The type byte is not 0..=4.
    #[error("unknown block type {0}")]
    UnknownType(u8),
    /// The block is not of the type the caller expected.
    #[error("block type {found} where {expected} was expected")]
    WrongType {
        /// Type expected (from the index).
        expected: u8,
        /// Type in the block.
        found: u8,
    },
    /// The timestamp length prefix is unreadable or longer than the block.
    #[error("timestamp section length invalid or past the end of the block")]
    BadTimestampLength,
    /// A column failed to decode or encode.
    #[error("{section}: {source}")]
    Codec {
        /// `timestamps` or `values`.
        section: &'static str,
        /// The codec's error.
        source: CodecError,
    },
    /// The value column holds a different number of values than there are timestamps.
    #[error("block declares {timestamps} timestamps but holds {values} values")]
    CountMismatch {
        /// Number of timestamps.
        timestamps: usize,
        /// Number of values.
        values: usize,
    },
    /// Nothing to encode: a block needs at least one point.
    #[error("a block needs at least one point")]
    NoPoints,
}

fn ts_err(source: CodecError) -> BlockError {
    BlockError::Codec {
        section: "timestamps",
        source,
    }
}

fn val_err(source: CodecError) -> BlockError {
    BlockError::Codec {
        section: "values",
        source,
    }
}

thread_local! {
    static TS_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Encodes block data (type byte through values; no CRC), appending to `out`.
pub fn encode(
    timestamps: &[i64],
    values: ValuesRef<'_>,
    out: &mut Vec<u8>,
) -> Result<(), BlockError> {
    if timestamps.len() != values.len() {
        return Err(BlockError::CountMismatch {
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    if timestamps.is_empty() {
        return Err(BlockError::NoPoints);
    }
    out.push(values.block_type() as u8);
    TS_SCRATCH.with(|s| {
        let mut ts = s.borrow_mut();
        ts.clear();
        timestamp::encode(timestamps, &mut ts).map_err(ts_err)?;
        put_uvarint(out, ts.len() as u64);
        out.extend_from_slice(&ts);
        Ok::<(), BlockError>(())
    })?;
    match values {
        ValuesRef::Float(v) => float::encode(v, out),
        ValuesRef::Integer(v) => integer::encode(v, out),
        ValuesRef::Unsigned(v) => integer::encode_unsigned(v, out),
        ValuesRef::Boolean(v) => boolean::encode(v, out),
        ValuesRef::String(v) => string::encode_values(v, out),
    }
    .map_err(val_err)
}

/// Splits block data into (type, timestamp bytes, value bytes).
pub fn split(data: &[u8]) -> Result<(BlockType, &[u8], &[u8]), BlockError> {
    let (&t, rest) = data.split_first().ok_or(BlockError::Empty)?;
    let bt = BlockType::from_u8(t).ok_or(BlockError::UnknownType(t))?;
    let (len, k) = uvarint(rest).ok_or(BlockError::BadTimestampLength)?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(k))
        .filter(|&e| e <= rest.len())
        .ok_or(BlockError::BadTimestampLength)?;
    Ok((bt, &rest[k..end], &rest[end..]))
}

/// The type of a block.
pub fn block_type(data: &[u8]) -> Result<BlockType, BlockError> {
    let &t = data.first().ok_or(BlockError::Empty)?;
    BlockType::from_u8(t).ok_or(BlockError::UnknownType(t))
}

/// Number of points in a block, from its timestamp column (like InfluxDB's `BlockCount`).
pub fn count(data: &[u8]) -> Result<usize, BlockError> {
    let (_, ts, _) = split(data)?;
    timestamp::count(ts).map_err(ts_err)
}

/// Decodes block data into `block`, reusing its vectors when the type matches.
pub fn decode(data: &[u8], block: &mut Block) -> Result<(), BlockError> {
    let (bt, ts, vs) = split(data)?;
    block.timestamps.clear();
    if block.values.block_type() == bt {
        block.values.clear();
    } else {
        block.values = Values::empty(bt);
    }
    timestamp::decode(ts, &mut block.timestamps).map_err(ts_err)?;
    match &mut block.values {
        Values::Float(v) => float::decode(vs, v),
        Values::Integer(v) => integer::decode(vs, v),
        Values::Unsigned(v) => integer::decode_unsigned(vs, v),
        Values::Boolean(v) => boolean::decode(vs, v),
        Values::String(v) => string::decode(vs, v),
    }
    .map_err(val_err)?;
    if block.values.len() != block.timestamps.len() {
        return Err(BlockError::CountMismatch {
            timestamps: block.timestamps.len(),
            values: block.values.len(),
        });
    }
    Ok(())
}

/// Decodes block data into a new [`Block`].
pub fn decode_new(data: &[u8]) -> Result<Block, BlockError> {
    let mut b = Block::new(block_type(data)?);
    decode(data, &mut b)?;
    Ok(b)
}

/// CRC32 (IEEE) of block data, as stored in front of each block record.
pub fn checksum(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_block() {
        let mut out = Vec::new();
        encode(&[1_000_000_000], ValuesRef::Float(&[1.0]), &mut out).unwrap();
        assert_eq!(out.len(), 30);
        assert_eq!(checksum(&out), 0xe055_228c);
        let b = decode_new(&out).unwrap();
        assert_eq!(b.timestamps, [1_000_000_000]);
        assert_eq!(b.values, Values::Float(vec![1.0]));
        assert_eq!(count(&out).unwrap(), 1);
    }

    #[test]
    fn count_mismatch_is_an_error() {
        let mut out = Vec::new();
        encode(&[1, 2, 3], ValuesRef::Integer(&[1, 2, 3]), &mut out).unwrap();
        // Replace the value column with one holding two values.
        let (_, ts, _) = split(&out).unwrap();
        let mut bad = vec![1u8];
        put_uvarint(&mut bad, ts.len() as u64);
        bad.extend_from_slice(ts);
        integer::encode(&[1, 2], &mut bad).unwrap();
        assert!(matches!(
            decode_new(&bad),
            Err(BlockError::CountMismatch {
                timestamps: 3,
                values: 2
            })
        ));
        assert!(encode(&[], ValuesRef::Boolean(&[]), &mut out).is_err());
    }
}
