//! Boolean column codec (block type 2), bit-exact with InfluxDB's `BooleanEncoder`.
//!
//! Layout: `0x10` | `uvarint(N)` | `ceil(N / 8)` bytes, first value in the most significant
//! bit of the first byte, 1 = true, trailing bits zero. As InfluxDB's streaming encoder, an
//! empty column still carries one `00` byte. Decoders read `min(N, 8 * remaining bytes)`
//! values, as InfluxDB does.

use super::{CodecError, put_uvarint, uvarint};

const CODEC: &str = "boolean";
const HEADER: u8 = 0x10;

/// Encodes `src`, appending the bytes to `out`.
pub fn encode(src: &[bool], out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.reserve(11 + src.len() / 8 + 1);
    out.push(HEADER);
    put_uvarint(out, src.len() as u64);
    let chunks = src.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        let mut b = 0u8;
        for &v in c {
            b = (b << 1) | u8::from(v);
        }
        out.push(b);
    }
    if !rest.is_empty() || src.is_empty() {
        let mut b = 0u8;
        for &v in rest {
            b = (b << 1) | u8::from(v);
        }
        out.push(b << ((8 - rest.len()) % 8));
    }
    Ok(())
}

/// Decodes a column, appending the values to `dst`.
pub fn decode(src: &[u8], dst: &mut Vec<bool>) -> Result<(), CodecError> {
    let Some(&h) = src.first() else {
        return Ok(());
    };
    if h >> 4 != 1 {
        return Err(CodecError::UnknownEncoding {
            codec: CODEC,
            encoding: h >> 4,
        });
    }
    let (count, k) = uvarint(&src[1..]).ok_or(CodecError::Truncated {
        codec: CODEC,
        what: "count",
    })?;
    let bytes = &src[1 + k..];
    let n = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(bytes.len().saturating_mul(8));
    let start = dst.len();
    dst.resize(start + n, false);
    let out = &mut dst[start..];
    let mut chunks = out.chunks_exact_mut(8);
    for (c, &b) in (&mut chunks).zip(bytes) {
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = (b >> (7 - k)) & 1 == 1;
        }
    }
    let rem = chunks.into_remainder();
    if let Some(&b) = bytes.get(n / 8) {
        for (k, slot) in rem.iter_mut().enumerate() {
            *slot = (b >> (7 - k)) & 1 == 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trip() {
        let v = [true, false, true, true, false, false, false, false, true];
        let mut b = Vec::new();
        encode(&v, &mut b).unwrap();
        assert_eq!(b, [0x10, 9, 0b1011_0000, 0b1000_0000]);
        let mut d = Vec::new();
        decode(&b, &mut d).unwrap();
        assert_eq!(d, v);
        let mut e = Vec::new();
        encode(&[], &mut e).unwrap();
        assert_eq!(e, [0x10, 0, 0]);
        // Count larger than the payload: clamp like InfluxDB.
        let mut d = Vec::new();
        decode(&[0x10, 100, 0xff], &mut d).unwrap();
        assert_eq!(d, [true; 8]);
    }
}
