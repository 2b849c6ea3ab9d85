//! Float column codec (block type 0): InfluxDB's variant of Gorilla XOR compression,
//! bit-exact with its `FloatEncoder`.
//!
//! Header byte `0x10`, then an MSB-first bit stream:
//! 1. the first value's 64 IEEE-754 bits;
//! 2. for every later value, and finally for the terminator, `x = bits(v) ^ bits(prev)`:
//!    `x == 0` writes bit `0`; otherwise bit `1`, then with `lead = clz(x) & 0x1f` (masked,
//!    not clamped, as InfluxDB does) and `trail = ctz(x)`: if a window exists and
//!    `lead >= prev_lead && trail >= prev_trail`, bit `0` and the `64 - prev_lead -
//!    prev_trail` bits of `x >> prev_trail`; else bit `1`, `lead` in 5 bits, `sig = 64 -
//!    lead - trail` in 6 bits (64 written as 0), the `sig` bits of `x >> trail`, and the
//!    window becomes `(lead, trail)`;
//! 3. the terminator is the value with bits `0x7FF8000000000001` (Go's `math.NaN()`),
//!    encoded by step 2; then zero bits up to a byte boundary.
//!
//! Decoding stops at the terminator. NaN values cannot be stored and are rejected.
//! The bit reader and writer work on 64-bit words rather than bit by bit.

use super::CodecError;

const CODEC: &str = "float";
const HEADER: u8 = 0x10;
/// Bits of the terminator value.
pub const TERMINATOR: u64 = 0x7FF8_0000_0000_0001;

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter<'_> {
    /// Writes the low `k` (1..=64) bits of `v`; bits above `k` must be zero.
    #[inline(always)]
    fn write(&mut self, v: u64, k: u32) {
        let free = 64 - self.n;
        if k < free {
            self.acc |= v << (free - k);
            self.n += k;
        } else {
            let rem = k - free;
            self.acc |= v >> rem;
            self.out.extend_from_slice(&self.acc.to_be_bytes());
            self.acc = if rem == 0 { 0 } else { v << (64 - rem) };
            self.n = rem;
        }
    }

    fn finish(self) {
        let bytes = self.n.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_be_bytes()[..bytes]);
    }
}

/// Encodes `src`, appending the bytes to `out`. Fails on NaN.
pub fn encode(src: &[f64], out: &mut Vec<u8>) -> Result<(), CodecError> {
    if src.iter().any(|v| v.is_nan()) {
        return Err(CodecError::Unencodable {
            codec: CODEC,
            what: "NaN",
        });
    }
    out.reserve(src.len() * 4 + 12);
    out.push(HEADER);
    let mut w = BitWriter { out, acc: 0, n: 0 };
    let mut iter = src
        .iter()
        .map(|v| v.to_bits())
        .chain(std::iter::once(TERMINATOR));
    let Some(mut prev) = iter.next() else {
        return Ok(());
    };
    w.write(prev, 64);
    // (lead, trail) of the current window; lead 64 marks "no window yet".
    let mut lead_w = 64u32;
    let mut trail_w = 0u32;
    for v in iter {
        let x = v ^ prev;
        prev = v;
        if x == 0 {
            w.write(0, 1);
            continue;
        }
        let lead = x.leading_zeros() & 0x1f;
        let trail = x.trailing_zeros();
        if lead_w != 64 && lead >= lead_w && trail >= trail_w {
            let sig = 64 - lead_w - trail_w;
            // control bits "10" then the meaningful bits.
            if sig <= 62 {
                w.write((0b10 << sig) | (x >> trail_w), sig + 2);
            } else {
                w.write(0b10, 2);
                w.write(x >> trail_w, sig);
            }
        } else {
            lead_w = lead;
            trail_w = trail;
            let sig = 64 - lead - trail;
            // "11", 5 bits lead, 6 bits sig: 13 bits of header.
            let head = (0b11 << 11) | (u64::from(lead) << 6) | u64::from(sig & 0x3f);
            if sig <= 51 {
                w.write((head << sig) | (x >> trail), sig + 13);
            } else {
                w.write(head, 13);
                w.write(x >> trail, sig);
            }
        }
    }
    w.finish();
    Ok(())
}

/// The 64 bits starting at bit `bitpos` of `data` (MSB first), zero past the end. At least
/// the top 57 bits are exact.
#[inline(always)]
fn peek(data: &[u8], bitpos: usize) -> u64 {
    let i = bitpos >> 3;
    let w = match data.get(i..i + 8) {
        Some(c) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_be_bytes(a)
        }
        None => {
            let mut a = [0u8; 8];
            let tail = data.get(i..).unwrap_or(&[]);
            a[..tail.len()].copy_from_slice(tail);
            u64::from_be_bytes(a)
        }
    };
    w << (bitpos & 7)
}

/// The `k` (1..=64) bits starting at bit `bitpos`.
#[inline(always)]
fn bits_at(data: &[u8], bitpos: usize, k: u32) -> u64 {
    if k <= 57 {
        peek(data, bitpos) >> (64 - k)
    } else {
        let hi = peek(data, bitpos) >> 32;
        let lo = peek(data, bitpos + 32) >> (96 - k);
        (hi << (k - 32)) | lo
    }
}

/// Decodes a column, appending the values to `dst`.
///
/// The decoder keeps a bit position and loads an unaligned 64-bit big-endian window for each
/// value, so a value costs one load and a few shifts; reading past the end (into implicit
/// zero bits) is detected by comparing the position with the stream length.
pub fn decode(src: &[u8], dst: &mut Vec<f64>) -> Result<(), CodecError> {
    let Some(&h) = src.first() else {
        return Ok(());
    };
    if h >> 4 != 1 {
        return Err(CodecError::UnknownEncoding {
            codec: CODEC,
            encoding: h >> 4,
        });
    }
    let data = &src[1..];
    let end = data.len() * 8;
    let truncated = CodecError::Truncated {
        codec: CODEC,
        what: "bit stream ended before the terminator",
    };
    if end < 64 {
        return Err(truncated);
    }
    let mut val = bits_at(data, 0, 64);
    let mut pos = 64usize;
    if val == TERMINATOR {
        return Ok(());
    }
    dst.reserve(data.len());
    dst.push(f64::from_bits(val));
    let mut trail = 0u32;
    let mut sig = 64u32;
    loop {
        let w = peek(data, pos);
        if w >> 63 == 0 {
            pos += 1;
            if pos > end {
                return Err(truncated);
            }
            dst.push(f64::from_bits(val));
            continue;
        }
        let bits;
        if (w >> 62) & 1 == 0 {
            // Same window: "10" then `sig` bits.
            if sig <= 55 {
                bits = (w << 2) >> (64 - sig);
            } else {
                bits = bits_at(data, pos + 2, sig);
            }
            pos += 2 + sig as usize;
        } else {
            // New window: "11", 5 bits leading zeros, 6 bits significant bits.
            let lead = ((w >> 57) & 0x1f) as u32;
            sig = match ((w >> 51) & 0x3f) as u32 {
                0 => 64,
                s => s,
            };
            trail = match 64u32.checked_sub(lead + sig) {
                Some(t) => t,
                None => {
                    return Err(CodecError::Invalid {
                        codec: CODEC,
                        what: "leading plus significant bits exceed 64",
                    });
                }
            };
            if sig <= 44 {
                bits = (w << 13) >> (64 - sig);
            } else {
                bits = bits_at(data, pos + 13, sig);
            }
            pos += 13 + sig as usize;
        }
        if pos > end {
            return Err(truncated);
        }
        val ^= bits << trail;
        if val == TERMINATOR {
            return Ok(());
        }
        dst.push(f64::from_bits(val));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &[f64]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(v, &mut b).unwrap();
        let mut d = Vec::new();
        decode(&b, &mut d).unwrap();
        assert_eq!(d.len(), v.len());
        for (a, b) in d.iter().zip(v) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        b
    }

    #[test]
    fn reference_vectors() {
        // Worked example of the format reference: one value 1.0.
        assert_eq!(
            enc(&[1.0]),
            [
                0x10, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc3, 0xfc, 0, 0x80, 0, 0, 0, 0, 0, 0x10
            ]
        );
        // 507 x 0.0, from Go (recorded in IOx tests).
        let b = enc(&[0.0; 507]);
        let mut want = vec![0x10];
        want.extend([0u8; 71]);
        want.extend([0x30, 0xFF, 0xFF, 0xE0, 0, 0, 0, 0, 0, 0x04]);
        assert_eq!(b, want);
        assert!(encode(&[f64::NAN], &mut Vec::new()).is_err());
        assert_eq!(enc(&[]), [0x10, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn awkward_values() {
        enc(&[
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.5,
            1.5,
            1e-300,
            f64::from_bits(1),
            f64::from_bits(u64::MAX >> 1 ^ 0x7ff0_0000_0000_0000),
        ]);
        let v: Vec<f64> = (0..10_000).map(|i| (i as f64 * 0.37).sin() * 1e6).collect();
        enc(&v);
    }
}
