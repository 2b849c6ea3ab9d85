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

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Buffered bits, MSB-aligned.
    acc: u64,
    /// Number of valid bits in `acc`.
    n: u32,
}

impl BitReader<'_> {
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            let word = u64::from_be_bytes(a);
            // n < 64 here; take as many whole bytes as fit.
            self.acc |= word >> self.n;
            let bytes = (63 - self.n) / 8;
            self.pos += bytes as usize;
            self.n += bytes * 8;
            // Bits taken beyond `n` must not stay in acc: mask them off.
            self.acc &= !(u64::MAX.checked_shr(self.n).unwrap_or(0));
        } else {
            while self.n <= 56 {
                let Some(&b) = self.data.get(self.pos) else {
                    break;
                };
                self.acc |= u64::from(b) << (56 - self.n);
                self.pos += 1;
                self.n += 8;
            }
        }
    }

    /// Reads `k` (0..=57) bits.
    #[inline(always)]
    fn read_small(&mut self, k: u32) -> Result<u64, CodecError> {
        if self.n < k {
            self.refill();
            if self.n < k {
                return Err(CodecError::Truncated {
                    codec: CODEC,
                    what: "bit stream ended before the terminator",
                });
            }
        }
        if k == 0 {
            return Ok(0);
        }
        let v = self.acc >> (64 - k);
        self.acc = self.acc.checked_shl(k).unwrap_or(0);
        self.n -= k;
        Ok(v)
    }

    /// Reads `k` (0..=64) bits.
    #[inline(always)]
    fn read(&mut self, k: u32) -> Result<u64, CodecError> {
        if k <= 57 {
            self.read_small(k)
        } else {
            let hi = self.read_small(k - 32)?;
            let lo = self.read_small(32)?;
            Ok((hi << 32) | lo)
        }
    }
}

/// Decodes a column, appending the values to `dst`.
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
    let mut r = BitReader {
        data: &src[1..],
        pos: 0,
        acc: 0,
        n: 0,
    };
    let mut val = r.read(64)?;
    if val == TERMINATOR {
        return Ok(());
    }
    dst.reserve(src.len());
    dst.push(f64::from_bits(val));
    let mut lead = 0u32;
    let mut trail = 0u32;
    loop {
        if r.n < 2 {
            r.refill();
        }
        let c = r.read_small(1)?;
        if c == 0 {
            dst.push(f64::from_bits(val));
            continue;
        }
        if r.read_small(1)? == 1 {
            let hdr = r.read_small(11)? as u32;
            lead = hdr >> 6;
            let sig = match hdr & 0x3f {
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
        }
        let sig = 64 - lead - trail;
        let bits = r.read(sig)?;
        val ^= bits << trail;
        if val == TERMINATOR {
            return Ok(());
        }
        dst.push(f64::from_bits(val));
        if dst.len() > super::MAX_DECODED_VALUES {
            return Err(CodecError::Invalid {
                codec: CODEC,
                what: "too many values",
            });
        }
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
