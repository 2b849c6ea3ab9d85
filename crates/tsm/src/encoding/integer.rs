//! Integer and unsigned column codec (block types 1 and 4), bit-exact with InfluxDB's
//! `IntegerEncoder`.
//!
//! Transform: `d[0] = v[0]`, `d[i] = v[i] - v[i-1]` (wrapping), `z[i] = zigzag(d[i])`.
//! Unsigned values are reinterpreted as `i64` (two's complement) first.
//!
//! | encoding (high nibble) | layout after the header byte (low nibble 0) |
//! |---|---|
//! | 0 raw | `N x u64 BE` of `z[i]` |
//! | 1 simple8b | `u64 BE z[0]`, then simple8b words of `z[1..]` |
//! | 2 RLE | `u64 BE z[0]`, `uvarint(z[1])`, `uvarint(N - 1)` |
//!
//! Selection (as InfluxDB's streaming encoder): RLE if `N > 2` and `z[1..]` are all equal;
//! else raw if some `z` (including `z[0]`) exceeds `2^60 - 1`; else simple8b with the
//! `EncodeAll` rule for selectors 0/1 ([`simple8b::OnesRule::ToEnd`]). An empty column
//! encodes to no bytes.

use std::cell::RefCell;

use super::simple8b::{self, Lane, OnesRule};
use super::{
    CodecError, MAX_DECODED_VALUES, be_u64, put_uvarint, uvarint, zigzag_decode, zigzag_encode,
};

const CODEC: &str = "integer";
const RAW: u8 = 0;
const PACKED: u8 = 1;
const RLE: u8 = 2;

thread_local! {
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A 64-bit integer type stored in integer columns.
pub trait IntValue: Lane {
    /// Two's complement reinterpretation as `i64`.
    fn to_i64(self) -> i64;
    /// Two's complement reinterpretation from `i64`.
    fn from_i64(v: i64) -> Self;
}

impl IntValue for i64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v
    }
}

impl IntValue for u64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as u64
    }
}

/// Encodes signed integers, appending the bytes to `out`.
pub fn encode(src: &[i64], out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_any(src, out)
}

/// Encodes unsigned integers (block type 4), appending the bytes to `out`.
pub fn encode_unsigned(src: &[u64], out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_any(src, out)
}

/// Decodes signed integers, appending them to `dst`.
pub fn decode(src: &[u8], dst: &mut Vec<i64>) -> Result<(), CodecError> {
    decode_any(src, dst)
}

/// Decodes unsigned integers, appending them to `dst`.
pub fn decode_unsigned(src: &[u8], dst: &mut Vec<u64>) -> Result<(), CodecError> {
    decode_any(src, dst)
}

/// Encodes any [`IntValue`] column.
pub fn encode_any<T: IntValue>(src: &[T], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let Some(&first) = src.first() else {
        return Ok(());
    };
    let z0 = zigzag_encode(first.to_i64());
    let z_at = |w: &[T]| zigzag_encode(w[1].to_i64().wrapping_sub(w[0].to_i64()));
    if src.len() > 2 {
        let z1 = z_at(&src[..2]);
        if src.windows(2).all(|w| z_at(w) == z1) {
            out.push(RLE << 4);
            out.extend_from_slice(&z0.to_be_bytes());
            put_uvarint(out, z1);
            put_uvarint(out, (src.len() - 1) as u64);
            return Ok(());
        }
    }
    SCRATCH.with(|s| {
        let mut z = s.borrow_mut();
        z.clear();
        z.extend(src.windows(2).map(z_at));
        if z0 > simple8b::MAX_VALUE || z.iter().any(|&v| v > simple8b::MAX_VALUE) {
            out.reserve(1 + src.len() * 8);
            out.push(RAW << 4);
            out.extend_from_slice(&z0.to_be_bytes());
            for v in z.iter() {
                out.extend_from_slice(&v.to_be_bytes());
            }
            return Ok(());
        }
        out.push(PACKED << 4);
        out.extend_from_slice(&z0.to_be_bytes());
        simple8b::encode_with(&z, OnesRule::ToEnd, out)
    })
}

fn truncated(what: &'static str) -> CodecError {
    CodecError::Truncated { codec: CODEC, what }
}

/// Decodes any [`IntValue`] column, appending to `dst`.
pub fn decode_any<T: IntValue>(src: &[u8], dst: &mut Vec<T>) -> Result<(), CodecError> {
    let Some(&h) = src.first() else {
        return Ok(());
    };
    let body = &src[1..];
    match h >> 4 {
        RAW => {
            if !body.len().is_multiple_of(8) {
                return Err(truncated("raw value"));
            }
            dst.reserve(body.len() / 8);
            let mut prev = 0i64;
            for c in body.chunks_exact(8) {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                prev = prev.wrapping_add(zigzag_decode(u64::from_be_bytes(a)));
                dst.push(T::from_i64(prev));
            }
            Ok(())
        }
        PACKED => {
            let z0 = be_u64(body, 0).ok_or_else(|| truncated("first value"))?;
            let start = dst.len();
            dst.push(T::from_u64(z0));
            simple8b::decode_lanes::<T>(&body[8..], dst)?;
            let mut prev = 0i64;
            for v in dst[start..].iter_mut() {
                prev = prev.wrapping_add(zigzag_decode(v.to_i64() as u64));
                *v = T::from_i64(prev);
            }
            Ok(())
        }
        RLE => {
            let z0 = be_u64(body, 0).ok_or_else(|| truncated("first value"))?;
            let (delta, n1) = uvarint(&body[8..]).ok_or_else(|| truncated("RLE delta"))?;
            let (count, _) = uvarint(&body[8 + n1..]).ok_or_else(|| truncated("RLE count"))?;
            if count >= MAX_DECODED_VALUES as u64 {
                return Err(CodecError::Invalid {
                    codec: CODEC,
                    what: "RLE count too large",
                });
            }
            let first = zigzag_decode(z0);
            let delta = zigzag_decode(delta);
            dst.reserve(count as usize + 1);
            let mut v = first;
            for _ in 0..=count {
                dst.push(T::from_i64(v));
                v = v.wrapping_add(delta);
            }
            Ok(())
        }
        e => Err(CodecError::UnknownEncoding {
            codec: CODEC,
            encoding: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &[i64]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(v, &mut b).unwrap();
        let mut d = Vec::new();
        decode(&b, &mut d).unwrap();
        assert_eq!(d, v);
        b
    }

    #[test]
    fn reference_vectors() {
        assert_eq!(enc(&[346]), [0x10, 0, 0, 0, 0, 0, 0, 0x02, 0xB4]);
        assert_eq!(
            enc(&[809_201_799_168; 509]),
            [0x20, 0, 0, 0x01, 0x78, 0xD0, 0x5F, 0x20, 0, 0, 0xFC, 0x03]
        );
        let mut b = Vec::new();
        encode_unsigned(&[1_232_342_341_234; 1000], &mut b).unwrap();
        assert_eq!(
            b,
            [
                0x20, 0, 0, 0x02, 0x3D, 0xDA, 0xA7, 0xAC, 0xE4, 0x00, 0xE7, 0x07
            ]
        );
        assert!(enc(&[]).is_empty());
    }

    #[test]
    fn picks_each_encoding() {
        assert_eq!(enc(&[1, 2, 3])[0], 0x20);
        assert_eq!(enc(&[1, 5, 3])[0], 0x10);
        assert_eq!(enc(&[i64::MIN, i64::MAX, 0])[0], 0x00);
        // z[0] alone above 2^60-1 also forces raw (streaming encoder rule).
        assert_eq!(enc(&[i64::MAX, i64::MAX - 1])[0], 0x00);
        let mut b = Vec::new();
        encode_unsigned(&[u64::MAX, 0, 7], &mut b).unwrap();
        let mut d = Vec::new();
        decode_unsigned(&b, &mut d).unwrap();
        assert_eq!(d, [u64::MAX, 0, 7]);
    }
}
