//! Block codecs of the TSM format, bit-exact with InfluxDB's `tsdb/engine/tsm1` encoders.
//!
//! Every codec has the same batch shape: `encode(&[T], &mut Vec<u8>)` appends the encoded
//! bytes of a whole column to the output buffer, and `decode(&[u8], &mut Vec<T>)` appends the
//! decoded values to the output vector. Buffers are reused by the caller; no codec allocates
//! per value. Decoders validate everything they read and return [`CodecError`] on malformed
//! input; they never panic and never allocate more than a small multiple of their input.
//!
//! Each encoded column starts with one header byte whose high nibble names the encoding.
//! The byte layouts are described in the module of each codec.

pub mod boolean;
pub mod float;
pub mod integer;
pub mod simple8b;
pub mod snappy;
pub mod string;
pub mod timestamp;

pub use string::StringValues;

/// Largest number of values a decoder produces from one run-length encoded column.
///
/// InfluxDB writes at most 1,000 (snapshots) or 10,000 (aggressive compactions) points per
/// block; run-length headers claiming more than this are treated as corrupt so that a
/// few bytes of garbage cannot make a decoder allocate gigabytes.
pub const MAX_DECODED_VALUES: usize = 1 << 22;

/// Error of an encoder or decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended before the encoded data did.
    #[error("{codec}: truncated input ({what})")]
    Truncated {
        /// Codec that failed.
        codec: &'static str,
        /// What was being read.
        what: &'static str,
    },
    /// The header nibble names an encoding this codec does not know.
    #[error("{codec}: unknown encoding {encoding}")]
    UnknownEncoding {
        /// Codec that failed.
        codec: &'static str,
        /// The high nibble of the header byte.
        encoding: u8,
    },
    /// The encoded data is structurally invalid.
    #[error("{codec}: invalid data: {what}")]
    Invalid {
        /// Codec that failed.
        codec: &'static str,
        /// What is wrong.
        what: &'static str,
    },
    /// A value cannot be encoded (NaN float, simple8b value above 2^60-1).
    #[error("{codec}: value cannot be encoded: {what}")]
    Unencodable {
        /// Codec that failed.
        codec: &'static str,
        /// Why.
        what: &'static str,
    },
}

/// Appends `v` as a Go `binary.PutUvarint` (LEB128) to `out`.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a Go `binary.Uvarint` from the start of `b`: the value and the number of bytes used.
/// Returns `None` when `b` ends inside the varint or the value overflows 64 bits.
#[inline]
pub fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    let mut s: u32 = 0;
    for (i, &byte) in b.iter().enumerate() {
        if i == 10 {
            return None;
        }
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            return Some((x | (u64::from(byte) << s), i + 1));
        }
        x |= u64::from(byte & 0x7f) << s;
        s += 7;
    }
    None
}

/// ZigZag-encodes a signed integer: 0, -1, 1, -2 become 0, 1, 2, 3.
#[inline(always)]
pub fn zigzag_encode(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// Inverse of [`zigzag_encode`].
#[inline(always)]
pub fn zigzag_decode(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads the big-endian u64 at `b[at..at + 8]`, if present.
#[inline(always)]
pub(crate) fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let arr: [u8; 8] = s.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_round_trip_and_limits() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(uvarint(&b), Some((v, b.len())));
        }
        assert_eq!(uvarint(&[]), None);
        assert_eq!(uvarint(&[0x80]), None);
        assert_eq!(uvarint(&[0xff; 10]), None);
        assert_eq!(
            uvarint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            None
        );
    }

    #[test]
    fn zigzag_matches_go() {
        assert_eq!(zigzag_encode(0), 0);
        assert_eq!(zigzag_encode(-1), 1);
        assert_eq!(zigzag_encode(1), 2);
        assert_eq!(zigzag_encode(i64::MIN), u64::MAX);
        assert_eq!(zigzag_encode(i64::MAX), u64::MAX - 1);
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 12345, -98765] {
            assert_eq!(zigzag_decode(zigzag_encode(v)), v);
        }
    }
}
