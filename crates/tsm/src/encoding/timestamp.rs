//! Timestamp column codec (`tsBytes` of a block), bit-exact with InfluxDB's `TimeEncoder`.
//!
//! Header byte: high nibble = encoding, low nibble = `log10(divisor)`. Deltas use wrapping
//! unsigned arithmetic: `d[0] = t[0]`, `d[i] = t[i] - t[i-1]`. The divisor is the largest
//! power of ten `<= 10^12` dividing every `d[i]` for `i >= 1`.
//!
//! | encoding | layout after the header |
//! |---|---|
//! | 0 raw | `N x u64 BE`: `t[0]`, then the undivided deltas (low nibble 0) |
//! | 1 simple8b | `u64 BE t[0]`, then simple8b words of `d[i] / divisor` for `i >= 1` |
//! | 2 RLE | `u64 BE t[0]`, `uvarint(d[1] / divisor)`, `uvarint(N)` (total count) |
//!
//! Selection (as InfluxDB): RLE if `N >= 2` and all `d[i]` (`i >= 1`) are equal; else raw if
//! some `d[i]` (`i >= 1`) exceeds `2^60 - 1`; else simple8b, whose selectors 0/1 follow the
//! streaming encoder's window rule ([`simple8b::OnesRule::Window`]). A single timestamp is
//! `1C` + 8 bytes. An empty column encodes to no bytes.

use std::cell::RefCell;

use super::simple8b::{self, OnesRule};
use super::{CodecError, MAX_DECODED_VALUES, be_u64, put_uvarint, uvarint};

const CODEC: &str = "timestamp";
const RAW: u8 = 0;
const PACKED: u8 = 1;
const RLE: u8 = 2;

thread_local! {
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

const POW10: [u64; 16] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
];

/// Encodes `src` (normally sorted, unique) and appends the bytes to `out`.
pub fn encode(src: &[i64], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let Some(&first) = src.first() else {
        return Ok(());
    };
    let mut max = 0u64;
    let mut exp = 12usize;
    let mut rle = true;
    let d1 = src
        .get(1)
        .map_or(0, |&t| (t as u64).wrapping_sub(first as u64));
    for w in src.windows(2) {
        let d = (w[1] as u64).wrapping_sub(w[0] as u64);
        max = max.max(d);
        rle &= d == d1;
        while !divisible(d, exp) {
            exp -= 1;
        }
    }
    let div = POW10[exp];
    if rle && src.len() > 1 {
        out.push((RLE << 4) | exp as u8);
        out.extend_from_slice(&(first as u64).to_be_bytes());
        put_uvarint(out, d1 / div);
        put_uvarint(out, src.len() as u64);
        return Ok(());
    }
    if max > simple8b::MAX_VALUE {
        out.reserve(1 + src.len() * 8);
        out.push(RAW << 4);
        out.extend_from_slice(&(first as u64).to_be_bytes());
        for w in src.windows(2) {
            let d = (w[1] as u64).wrapping_sub(w[0] as u64);
            out.extend_from_slice(&d.to_be_bytes());
        }
        return Ok(());
    }
    out.push((PACKED << 4) | exp as u8);
    out.extend_from_slice(&(first as u64).to_be_bytes());
    SCRATCH.with(|s| {
        let mut deltas = s.borrow_mut();
        deltas.clear();
        push_scaled(src, exp, &mut deltas);
        simple8b::encode_with(&deltas, OnesRule::Window, out)
    })
}

/// `5^k` for `k <= 12`.
const POW5: [u64; 13] = {
    let mut t = [1u64; 13];
    let mut k = 1;
    while k < 13 {
        t[k] = t[k - 1] * 5;
        k += 1;
    }
    t
};

/// Multiplicative inverses of `5^k` modulo `2^64` (Newton iteration).
const INV5: [u64; 13] = {
    let mut t = [1u64; 13];
    let mut k = 0;
    while k < 13 {
        let m = POW5[k];
        let mut x = m;
        let mut i = 0;
        while i < 5 {
            x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
            i += 1;
        }
        t[k] = x;
        k += 1;
    }
    t
};

/// `u64::MAX / 5^k`: `x` is a multiple of `5^k` iff `x * INV5[k] <= LIM5[k]` (mod 2^64).
const LIM5: [u64; 13] = {
    let mut t = [0u64; 13];
    let mut k = 0;
    while k < 13 {
        t[k] = u64::MAX / POW5[k];
        k += 1;
    }
    t
};

/// True if `d` is a multiple of `10^exp` (`exp <= 12`), without a division: the power of
/// two part is a trailing-zero count, the power of five part a multiply by its inverse.
#[inline(always)]
fn divisible(d: u64, exp: usize) -> bool {
    d.trailing_zeros() as usize >= exp && (d >> exp).wrapping_mul(INV5[exp]) <= LIM5[exp]
}

/// Appends the deltas of `src` divided by `10^exp`, each known to be a multiple of it:
/// exact division is a shift and a multiply by the inverse of `5^exp`.
fn push_scaled(src: &[i64], exp: usize, out: &mut Vec<u64>) {
    let inv = INV5[exp];
    out.extend(
        src.windows(2)
            .map(|w| ((w[1] as u64).wrapping_sub(w[0] as u64) >> exp).wrapping_mul(inv)),
    );
}

/// Number of timestamps in an encoded column (like InfluxDB's `CountTimestamps`).
pub fn count(src: &[u8]) -> Result<usize, CodecError> {
    let Some(&h) = src.first() else {
        return Ok(0);
    };
    match h >> 4 {
        RAW => {
            if !(src.len() - 1).is_multiple_of(8) {
                return Err(truncated("raw timestamp"));
            }
            Ok((src.len() - 1) / 8)
        }
        PACKED => {
            if src.len() < 9 {
                return Err(truncated("first timestamp"));
            }
            Ok(1 + simple8b::count(&src[9..])?)
        }
        RLE => Ok(rle_header(src)?.2),
        e => Err(CodecError::UnknownEncoding {
            codec: CODEC,
            encoding: e,
        }),
    }
}

fn truncated(what: &'static str) -> CodecError {
    CodecError::Truncated { codec: CODEC, what }
}

/// Parses an RLE column: (first, scaled delta, count).
fn rle_header(src: &[u8]) -> Result<(u64, u64, usize), CodecError> {
    let first = be_u64(src, 1).ok_or_else(|| truncated("first timestamp"))?;
    let div = POW10[usize::from(src[0] & 0xf)];
    let (delta, n1) = uvarint(&src[9..]).ok_or_else(|| truncated("RLE delta"))?;
    let (count, _) = uvarint(&src[9 + n1..]).ok_or_else(|| truncated("RLE count"))?;
    if count > MAX_DECODED_VALUES as u64 {
        return Err(CodecError::Invalid {
            codec: CODEC,
            what: "RLE count too large",
        });
    }
    Ok((first, delta.wrapping_mul(div), count as usize))
}

/// Decodes a column, appending the timestamps to `dst`.
pub fn decode(src: &[u8], dst: &mut Vec<i64>) -> Result<(), CodecError> {
    let Some(&h) = src.first() else {
        return Ok(());
    };
    match h >> 4 {
        RAW => {
            let body = &src[1..];
            if !body.len().is_multiple_of(8) {
                return Err(truncated("raw timestamp"));
            }
            dst.reserve(body.len() / 8);
            let mut acc = 0u64;
            for (i, c) in body.chunks_exact(8).enumerate() {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                let v = u64::from_be_bytes(a);
                acc = if i == 0 { v } else { acc.wrapping_add(v) };
                dst.push(acc as i64);
            }
            Ok(())
        }
        PACKED => {
            let first = be_u64(src, 1).ok_or_else(|| truncated("first timestamp"))?;
            let div = POW10[usize::from(h & 0xf)];
            let start = dst.len();
            dst.push(first as i64);
            simple8b::decode_lanes::<i64>(&src[9..], dst)?;
            let tail = &mut dst[start..];
            let mut last = first;
            if div > 1 {
                for v in tail.iter_mut().skip(1) {
                    last = last.wrapping_add((*v as u64).wrapping_mul(div));
                    *v = last as i64;
                }
            } else {
                for v in tail.iter_mut().skip(1) {
                    last = last.wrapping_add(*v as u64);
                    *v = last as i64;
                }
            }
            Ok(())
        }
        RLE => {
            let (first, delta, count) = rle_header(src)?;
            dst.reserve(count);
            let mut v = first;
            for _ in 0..count {
                dst.push(v as i64);
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
        assert_eq!(count(&b).unwrap(), v.len());
        b
    }

    #[test]
    fn reference_vectors() {
        assert_eq!(
            enc(&[1_000_000_000, 2_000_000_000, 3_000_000_000]),
            [0x29, 0, 0, 0, 0, 0x3B, 0x9A, 0xCA, 0, 0x01, 0x03]
        );
        assert_eq!(
            enc(&[1_000_000_000]),
            [0x1C, 0, 0, 0, 0, 0x3B, 0x9A, 0xCA, 0]
        );
        assert!(enc(&[]).is_empty());
    }

    #[test]
    fn divisibility_without_division() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let samples = [
                x,
                x % 1_000_000 * 1000,
                i * 10_000_000,
                (x >> 20) * 5,
                u64::MAX - i,
                i,
            ];
            for d in samples {
                for exp in 0..=12 {
                    assert_eq!(divisible(d, exp), d % POW10[exp] == 0, "{d} {exp}");
                    if d % POW10[exp] == 0 {
                        assert_eq!((d >> exp).wrapping_mul(INV5[exp]), d / POW10[exp]);
                    }
                }
            }
        }
    }

    #[test]
    fn picks_each_encoding() {
        assert_eq!(enc(&[1, 3, 4, 10])[0], 0x10);
        assert_eq!(enc(&[10, 30, 40, 100])[0], 0x11);
        assert_eq!(enc(&[i64::MIN, 0])[0] >> 4, 2);
        assert_eq!(enc(&[i64::MIN, 0, 5, i64::MAX])[0], 0x00);
        assert_eq!(enc(&[5, 3, 1, 2])[0], 0x00);
    }
}
