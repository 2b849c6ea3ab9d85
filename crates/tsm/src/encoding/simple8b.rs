//! simple8b: packs runs of small unsigned integers into 64-bit words (shared by the timestamp
//! and integer codecs).
//!
//! Each word is stored big-endian. Its top 4 bits are a selector; the other 60 bits hold `n`
//! values of `b` bits each, value `i` at bit offset `i * b` (first value in the least
//! significant bits):
//!
//! | selector | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 |
//! |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
//! | values n | 240 | 120 | 60 | 30 | 20 | 15 | 12 | 10 | 8 | 7 | 6 | 5 | 4 | 3 | 2 | 1 |
//! | bits b | 0 | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 10 | 12 | 15 | 20 | 30 | 60 |
//!
//! Selectors 0 and 1 carry no payload and mean 240 (resp. 120) values **equal to 1**. Words
//! are always full, so the number of values in a stream is the sum of `n` over its words.
//! Only values up to `2^60 - 1` can be encoded.
//!
//! The encoder takes, word by word, the first selector in table order whose `n` next values
//! all fit in `b` bits. InfluxDB has two rules for the payload-free selectors 0 and 1, and
//! both are reproduced here because both appear in real files (see [`OnesRule`]).
//!
//! Written here rather than taken from the `simple8b` crate, which packs zeros (not ones) in
//! selectors 0/1 and panics on them.

use super::CodecError;

const CODEC: &str = "simple8b";

/// Largest value simple8b can store.
pub const MAX_VALUE: u64 = (1 << 60) - 1;

/// Values per word, by selector.
pub const N: [usize; 16] = [240, 120, 60, 30, 20, 15, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1];
/// Bits per value, by selector.
pub const BITS: [u32; 16] = [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60];

/// When the payload-free selectors 0 (240 ones) and 1 (120 ones) may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnesRule {
    /// InfluxDB's streaming encoder (`simple8b.Encoder`, used for timestamps): it looks at a
    /// window of the next `min(240, remaining)` values and uses selector 0/1 only if at least
    /// `n` values remain and the *whole window* is ones.
    Window,
    /// InfluxDB 1.x's `simple8b.EncodeAll` (used for integer values): selector 0/1 only if
    /// at least `n` values remain and *every remaining value* is one. (InfluxDB 2.x's
    /// rewritten `EncodeAll` looks only at the next 240 or 120 values; streams differ only
    /// for runs of at least 120 ones that are followed by other values, and decode the same.)
    ToEnd,
}

/// An integer lane simple8b can decode into (the bits are reinterpreted, never converted).
pub trait Lane: Copy + Default {
    /// The lane holding the 64 bits of `v`.
    fn from_u64(v: u64) -> Self;
}

impl Lane for u64 {
    #[inline(always)]
    fn from_u64(v: u64) -> Self {
        v
    }
}

impl Lane for i64 {
    #[inline(always)]
    fn from_u64(v: u64) -> Self {
        v as i64
    }
}

/// Encodes `src` with InfluxDB's `EncodeAll` rule and appends the big-endian words to `out`.
pub fn encode(src: &[u64], out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_with(src, OnesRule::ToEnd, out)
}

/// Encodes `src` choosing selectors 0/1 by `rule`, appending big-endian words to `out`.
pub fn encode_with(src: &[u64], rule: OnesRule, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // Start of the trailing run of ones (for `OnesRule::ToEnd`).
    let ones_tail = src.iter().rposition(|&v| v != 1).map_or(0, |p| p + 1);
    out.reserve(src.len() + 8);
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        let sel = pick(rest, i >= ones_tail, rule)?;
        let word = pack(sel, rest);
        out.extend_from_slice(&word.to_be_bytes());
        i += N[sel];
    }
    Ok(())
}

/// Chooses the selector for the next word of `rest` (non-empty).
#[inline]
fn pick(rest: &[u64], all_rest_ones: bool, rule: OnesRule) -> Result<usize, CodecError> {
    if rest[0] == 1 && rest.len() >= 120 {
        let ones = match rule {
            OnesRule::ToEnd => all_rest_ones,
            OnesRule::Window => {
                let w = rest.len().min(240);
                rest[..w].iter().all(|&v| v == 1)
            }
        };
        if ones {
            return Ok(if rest.len() >= 240 { 0 } else { 1 });
        }
    }
    // Validity is monotonic: if selector `s` fits, every later selector (fewer, wider values)
    // fits too. So walk from selector 15 (one value) towards 2, widening the prefix whose
    // OR is tracked, and keep the last selector that still fits. One loop exit per word.
    let mut or = 0u64;
    let mut k = 0;
    let mut best = None;
    for sel in (2..16).rev() {
        let n = N[sel];
        let Some(prefix) = rest.get(k..n) else {
            break;
        };
        for &v in prefix {
            or |= v;
        }
        k = n;
        if or >> BITS[sel] != 0 {
            break;
        }
        best = Some(sel);
    }
    best.ok_or(CodecError::Unencodable {
        codec: CODEC,
        what: "value above 2^60-1",
    })
}

#[inline(always)]
fn pack_n<const C: usize, const B: u32>(sel: u64, src: &[u64]) -> u64 {
    let mut w = sel << 60;
    if let Some(vals) = src.first_chunk::<C>() {
        for (k, &v) in vals.iter().enumerate() {
            w |= v << (k as u32 * B);
        }
    }
    w
}

#[inline]
fn pack(sel: usize, src: &[u64]) -> u64 {
    match sel {
        0 => 0,
        1 => 1 << 60,
        2 => pack_n::<60, 1>(2, src),
        3 => pack_n::<30, 2>(3, src),
        4 => pack_n::<20, 3>(4, src),
        5 => pack_n::<15, 4>(5, src),
        6 => pack_n::<12, 5>(6, src),
        7 => pack_n::<10, 6>(7, src),
        8 => pack_n::<8, 7>(8, src),
        9 => pack_n::<7, 8>(9, src),
        10 => pack_n::<6, 10>(10, src),
        11 => pack_n::<5, 12>(11, src),
        12 => pack_n::<4, 15>(12, src),
        13 => pack_n::<3, 20>(13, src),
        14 => pack_n::<2, 30>(14, src),
        _ => pack_n::<1, 60>(15, src),
    }
}

/// Number of values encoded in `src` (a whole number of words).
pub fn count(src: &[u8]) -> Result<usize, CodecError> {
    if !src.len().is_multiple_of(8) {
        return Err(CodecError::Truncated {
            codec: CODEC,
            what: "partial word",
        });
    }
    Ok(src.chunks_exact(8).map(|w| N[usize::from(w[0] >> 4)]).sum())
}

/// Decodes the words in `src` (a whole number of them), appending the values to `dst`.
pub fn decode(src: &[u8], dst: &mut Vec<u64>) -> Result<(), CodecError> {
    decode_lanes(src, dst).map(|_| ())
}

#[inline(always)]
fn unpack_n<L: Lane, const C: usize, const B: u32>(w: u64, dst: &mut [L]) -> usize {
    if let Some(d) = dst.first_chunk_mut::<C>() {
        let mask = (1u64 << B) - 1;
        for (k, slot) in d.iter_mut().enumerate() {
            *slot = L::from_u64((w >> (k as u32 * B)) & mask);
        }
    }
    C
}

#[inline(always)]
fn fill_ones<L: Lane, const C: usize>(dst: &mut [L]) -> usize {
    if let Some(d) = dst.first_chunk_mut::<C>() {
        d.fill(L::from_u64(1));
    }
    C
}

/// Decodes the words in `src`, appending the values to `dst` reinterpreted as lanes `L`.
/// Returns the number of values appended.
pub fn decode_lanes<L: Lane>(src: &[u8], dst: &mut Vec<L>) -> Result<usize, CodecError> {
    let total = count(src)?;
    let start = dst.len();
    dst.resize(start + total, L::default());
    let mut out = &mut dst[start..];
    for chunk in src.chunks_exact(8) {
        let mut arr = [0u8; 8];
        arr.copy_from_slice(chunk);
        let w = u64::from_be_bytes(arr);
        let n = match w >> 60 {
            0 => fill_ones::<L, 240>(out),
            1 => fill_ones::<L, 120>(out),
            2 => unpack_n::<L, 60, 1>(w, out),
            3 => unpack_n::<L, 30, 2>(w, out),
            4 => unpack_n::<L, 20, 3>(w, out),
            5 => unpack_n::<L, 15, 4>(w, out),
            6 => unpack_n::<L, 12, 5>(w, out),
            7 => unpack_n::<L, 10, 6>(w, out),
            8 => unpack_n::<L, 8, 7>(w, out),
            9 => unpack_n::<L, 7, 8>(w, out),
            10 => unpack_n::<L, 6, 10>(w, out),
            11 => unpack_n::<L, 5, 12>(w, out),
            12 => unpack_n::<L, 4, 15>(w, out),
            13 => unpack_n::<L, 3, 20>(w, out),
            14 => unpack_n::<L, 2, 30>(w, out),
            _ => unpack_n::<L, 1, 60>(w, out),
        };
        out = &mut out[n..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &[u64], rule: OnesRule) -> Vec<u8> {
        let mut b = Vec::new();
        encode_with(v, rule, &mut b).unwrap();
        let mut d = Vec::new();
        decode(&b, &mut d).unwrap();
        assert_eq!(d, v);
        b
    }

    #[test]
    fn selectors_for_ones() {
        let b = round_trip(&[1; 240], OnesRule::Window);
        assert_eq!(b, 0u64.to_be_bytes());
        let b = round_trip(&[1; 120], OnesRule::ToEnd);
        assert_eq!(b, (1u64 << 60).to_be_bytes());
        // 300 ones then a 5: the window rule packs 240 ones first, ToEnd does not.
        let mut v = vec![1u64; 300];
        v.push(5);
        let w = round_trip(&v, OnesRule::Window);
        assert_eq!(&w[..8], &[0u8; 8]);
        let t = round_trip(&v, OnesRule::ToEnd);
        assert_eq!(t[0] >> 4, 2);
    }

    #[test]
    fn never_pads() {
        // 9 small values: one 8-value word and one 1-value word.
        let b = round_trip(&[3; 9], OnesRule::ToEnd);
        assert_eq!(b.len(), 16);
        assert_eq!(b[0] >> 4, 8);
        assert_eq!(b[8] >> 4, 15);
    }

    #[test]
    fn every_width() {
        for bits in 0..=60u32 {
            let v: Vec<u64> = (0..500u64)
                .map(|i| (i * 7919) & ((1u64 << bits) - 1))
                .collect();
            round_trip(&v, OnesRule::ToEnd);
            round_trip(&v, OnesRule::Window);
        }
        assert!(encode(&[MAX_VALUE + 1], &mut Vec::new()).is_err());
    }

    #[test]
    fn partial_word_is_an_error() {
        assert!(decode(&[0; 7], &mut Vec::new()).is_err());
    }
}
