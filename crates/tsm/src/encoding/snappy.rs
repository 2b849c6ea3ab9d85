//! Snappy block-format compressor that produces the same bytes as Go's `golang/snappy`
//! `Encode` (which InfluxDB uses for string blocks), so that re-encoded string blocks are
//! byte-identical to InfluxDB's. Decompression uses the `snap` crate.
//!
//! Written here because snappy output is not unique: the `snap` crate's compressor (a port of
//! the C++ library) picks different matches than Go's, so blocks would differ.
//!
//! Stream: `uvarint(len(src))`, then for each 64 KiB chunk either one literal (chunks shorter
//! than 17 bytes) or the output of the greedy hash-table matcher below (tags: literal `00`,
//! copy with 1-byte offset `01`, copy with 2-byte offset `10`).

use super::{CodecError, put_uvarint};

const MAX_BLOCK_SIZE: usize = 65536;
const INPUT_MARGIN: usize = 16 - 1;
const MIN_NON_LITERAL_BLOCK_SIZE: usize = 1 + 1 + INPUT_MARGIN;
const MAX_TABLE_SIZE: usize = 1 << 14;
const TABLE_MASK: usize = MAX_TABLE_SIZE - 1;

/// Compresses `src` exactly as Go's `snappy.Encode`, appending to `out`.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(32 + src.len() + src.len() / 6);
    put_uvarint(out, src.len() as u64);
    let mut table = [0u16; MAX_TABLE_SIZE];
    for p in src.chunks(MAX_BLOCK_SIZE) {
        if p.len() < MIN_NON_LITERAL_BLOCK_SIZE {
            emit_literal(out, p);
        } else {
            encode_block(out, p, &mut table);
        }
    }
}

/// Decompresses a snappy block, replacing the contents of `out`.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let bad = |what| CodecError::Invalid {
        codec: "snappy",
        what,
    };
    let len = snap::raw::decompress_len(src).map_err(|_| bad("bad length header"))?;
    // A copy element expands at most 64 bytes from 2 bytes of input.
    if len > src.len().saturating_mul(32).saturating_add(64) {
        return Err(bad("length header larger than the data can expand to"));
    }
    out.clear();
    out.resize(len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(src, out)
        .map_err(|_| bad("corrupt snappy block"))?;
    out.truncate(n);
    Ok(())
}

#[inline(always)]
fn load32(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a)
}

#[inline(always)]
fn load64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
fn hash(u: u32, shift: u32) -> u32 {
    u.wrapping_mul(0x1e35_a7bd) >> shift
}

fn emit_literal(out: &mut Vec<u8>, lit: &[u8]) {
    let n = lit.len() - 1;
    if n < 60 {
        out.push((n as u8) << 2);
    } else if n < 1 << 8 {
        out.push(60 << 2);
        out.push(n as u8);
    } else {
        out.push(61 << 2);
        out.push(n as u8);
        out.push((n >> 8) as u8);
    }
    out.extend_from_slice(lit);
}

fn emit_copy(out: &mut Vec<u8>, offset: usize, mut length: usize) {
    while length >= 68 {
        out.extend_from_slice(&[(63 << 2) | 2, offset as u8, (offset >> 8) as u8]);
        length -= 64;
    }
    if length > 64 {
        out.extend_from_slice(&[(59 << 2) | 2, offset as u8, (offset >> 8) as u8]);
        length -= 60;
    }
    if length >= 12 || offset >= 2048 {
        out.extend_from_slice(&[
            (((length - 1) as u8) << 2) | 2,
            offset as u8,
            (offset >> 8) as u8,
        ]);
        return;
    }
    out.push((((offset >> 8) as u8) << 5) | (((length - 4) as u8) << 2) | 1);
    out.push(offset as u8);
}

/// Go's `encodeBlock` (len(src) >= 17 and <= 64 KiB).
fn encode_block(out: &mut Vec<u8>, src: &[u8], table: &mut [u16; MAX_TABLE_SIZE]) {
    let mut shift: u32 = 32 - 8;
    let mut table_size = 1 << 8;
    while table_size < MAX_TABLE_SIZE && table_size < src.len() {
        shift -= 1;
        table_size *= 2;
    }
    table.fill(0);
    let s_limit = src.len() - INPUT_MARGIN;
    let mut next_emit = 0usize;
    let mut s = 1usize;
    let mut next_hash = hash(load32(src, s), shift);
    'outer: loop {
        let mut skip = 32usize;
        let mut next_s = s;
        let mut candidate;
        loop {
            s = next_s;
            let between = skip >> 5;
            next_s = s + between;
            skip += between;
            if next_s > s_limit {
                break 'outer;
            }
            let h = next_hash as usize & TABLE_MASK;
            candidate = usize::from(table[h]);
            table[h] = s as u16;
            next_hash = hash(load32(src, next_s), shift);
            if load32(src, s) == load32(src, candidate) {
                break;
            }
        }
        emit_literal(out, &src[next_emit..s]);
        loop {
            let base = s;
            s += 4;
            let mut i = candidate + 4;
            while s < src.len() && src[i] == src[s] {
                i += 1;
                s += 1;
            }
            emit_copy(out, base - candidate, s - base);
            next_emit = s;
            if s >= s_limit {
                break 'outer;
            }
            let x = load64(src, s - 1);
            let prev_hash = hash(x as u32, shift) as usize & TABLE_MASK;
            table[prev_hash] = (s - 1) as u16;
            let curr_hash = hash((x >> 8) as u32, shift) as usize & TABLE_MASK;
            candidate = usize::from(table[curr_hash]);
            table[curr_hash] = s as u16;
            if (x >> 8) as u32 != load32(src, candidate) {
                next_hash = hash((x >> 16) as u32, shift);
                s += 1;
                break;
            }
        }
    }
    if next_emit < src.len() {
        emit_literal(out, &src[next_emit..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_snap() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            b"hello hello hello hello hello hello".to_vec(),
            (0..100_000u32).map(|i| (i % 251) as u8).collect(),
            (0..70_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ];
        inputs.push(vec![7u8; 200_000]);
        for src in inputs {
            let mut c = Vec::new();
            encode(&src, &mut c);
            let mut d = Vec::new();
            decode(&c, &mut d).unwrap();
            assert_eq!(d, src);
            assert_eq!(snap::raw::Decoder::new().decompress_vec(&c).unwrap(), src);
        }
    }
}
