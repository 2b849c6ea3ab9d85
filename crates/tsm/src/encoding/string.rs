//! String column codec (block type 3), byte-identical with InfluxDB's `StringEncoder`.
//!
//! Layout: `0x10` | snappy block (not the framed format) of the concatenation of
//! `uvarint(len(s)) || s` for every string. An empty column is `10 00`.
//!
//! Decoded strings live in [`StringValues`]: one byte buffer plus a span per value, so that
//! decoding a column does not allocate per value (strings are arbitrary bytes, usually UTF-8).

use std::cell::RefCell;

use super::{CodecError, put_uvarint, snappy, uvarint};

const CODEC: &str = "string";
const HEADER: u8 = 0x10;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A column of byte strings stored in one buffer. Two columns are equal when they hold the
/// same strings in the same order.
#[derive(Debug, Clone, Default)]
pub struct StringValues {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl StringValues {
    /// An empty column.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True if there are no strings.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th string, if present.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let &(a, b) = self.spans.get(i)?;
        self.data.get(a..b)
    }

    /// Appends a string.
    pub fn push(&mut self, s: &[u8]) {
        let a = self.data.len();
        self.data.extend_from_slice(s);
        self.spans.push((a, self.data.len()));
    }

    /// Removes every string, keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.spans.clear();
    }

    /// Keeps the first `n` strings.
    pub fn truncate(&mut self, n: usize) {
        self.spans.truncate(n);
    }

    /// Iterates the strings in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans.iter().map(|&(a, b)| &self.data[a..b])
    }

    /// Copies the strings into owned vectors.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(<[u8]>::to_vec).collect()
    }
}

impl PartialEq for StringValues {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for StringValues {}

impl<S: AsRef<[u8]>> FromIterator<S> for StringValues {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut v = StringValues::new();
        for s in iter {
            v.push(s.as_ref());
        }
        v
    }
}

/// Encodes the strings of any slice of byte strings, appending the bytes to `out`.
pub fn encode<S: AsRef<[u8]>>(src: &[S], out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_iter(src.iter().map(AsRef::as_ref), out)
}

/// Encodes a [`StringValues`] column, appending the bytes to `out`.
pub fn encode_values(src: &StringValues, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode_iter(src.iter(), out)
}

fn encode_iter<'a>(
    src: impl Iterator<Item = &'a [u8]>,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    SCRATCH.with(|s| {
        let mut raw = s.borrow_mut();
        raw.clear();
        for v in src {
            put_uvarint(&mut raw, v.len() as u64);
            raw.extend_from_slice(v);
        }
        out.push(HEADER);
        snappy::encode(&raw, out);
    });
    Ok(())
}

/// Decodes a column, appending the strings to `dst`.
pub fn decode(src: &[u8], dst: &mut StringValues) -> Result<(), CodecError> {
    let Some(&h) = src.first() else {
        return Ok(());
    };
    if h >> 4 != 1 {
        return Err(CodecError::UnknownEncoding {
            codec: CODEC,
            encoding: h >> 4,
        });
    }
    // Decompress straight into the value buffer, then record spans over it; the length
    // prefixes stay in the buffer between the strings.
    let base = dst.data.len();
    SCRATCH.with(|s| -> Result<(), CodecError> {
        let mut raw = s.borrow_mut();
        snappy::decode(&src[1..], &mut raw)?;
        dst.data.extend_from_slice(&raw);
        Ok(())
    })?;
    let end = dst.data.len();
    let mut i = base;
    while i < end {
        let (len, k) = uvarint(&dst.data[i..end]).ok_or(CodecError::Invalid {
            codec: CODEC,
            what: "bad string length",
        })?;
        let a = i + k;
        let b = usize::try_from(len)
            .ok()
            .and_then(|l| a.checked_add(l))
            .filter(|&b| b <= end)
            .ok_or(CodecError::Truncated {
                codec: CODEC,
                what: "string longer than the block",
            })?;
        dst.spans.push((a, b));
        i = b;
    }
    Ok(())
}

/// Decodes a column into owned strings (convenience; allocates per value).
pub fn decode_to_vecs(src: &[u8], dst: &mut Vec<Vec<u8>>) -> Result<(), CodecError> {
    let mut v = StringValues::new();
    decode(src, &mut v)?;
    dst.extend(v.iter().map(<[u8]>::to_vec));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trip() {
        let mut b = Vec::new();
        encode::<&[u8]>(&[], &mut b).unwrap();
        assert_eq!(b, [0x10, 0x00]);
        let v: StringValues = ["", "a", "héllo ☃", &"x".repeat(100_000)]
            .into_iter()
            .collect();
        let mut b = Vec::new();
        encode_values(&v, &mut b).unwrap();
        let mut d = StringValues::new();
        d.push(b"keep");
        decode(&b, &mut d).unwrap();
        assert_eq!(d.len(), 5);
        assert_eq!(d.get(0), Some(&b"keep"[..]));
        assert_eq!(
            d.iter().skip(1).collect::<Vec<_>>(),
            v.iter().collect::<Vec<_>>()
        );
    }
}
