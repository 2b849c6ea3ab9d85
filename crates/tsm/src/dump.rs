//! `inspect tsm`: JSON-lines dump of TSM files, in the shape of the `tsmdump` oracle (InfluxDB's
//! own reader): per file one header object, then per key one object with every block's index
//! entry, CRC, point count, timestamps and raw decoded values (no tombstone filtering), and
//! the key's tombstone ranges.
//!
//! ```text
//! {"file":P,"has_tombstones":B,"index_size":N,"key_count":N,"max_key":S,"max_time":T,"min_key":S,"min_time":T,"size":N}
//! {"key":S,"series":S,"field":S,"type":N,"blocks":[{"min_time":T,"max_time":T,"offset":N,"size":N,
//!   "block_type":N,"count":N,"crc32":N,"times":[T...],"values":[V...]}...],"tombstones":null|[{"Min":T,"Max":T}...]}
//! ```
//!
//! Output matches Go's `encoding/json` byte for byte where it matters to diff two dumps:
//! same key order, floats in Go's format (`1`, `0.1`, `1e+21`, `1e-7`), strings escaped as Go
//! does without HTML escaping (invalid UTF-8 becomes `\ufffd`), and `max_time` of the header
//! computed as InfluxDB does (its scan starts at 0, so a file with only negative times says 0);
//! keys deleted entirely by tombstones are left out, as InfluxDB's reader forgets them.

use std::io::Write;
use std::path::Path;

use crate::block::{self, Block, BlockType, Values};
use crate::error::{Error, Result};
use crate::reader::TsmReader;

/// Separator between series key and field in a TSM key.
pub const FIELD_SEPARATOR: &[u8] = b"#!~#";

/// Splits a TSM key at the first `#!~#` into (series key, field); the field is empty if
/// there is no separator.
pub fn series_and_field(key: &[u8]) -> (&[u8], &[u8]) {
    match key.windows(4).position(|w| w == FIELD_SEPARATOR) {
        Some(i) => (&key[..i], &key[i + 4..]),
        None => (key, &[]),
    }
}

/// Appends `s` as a JSON string, escaped as Go's encoder with HTML escaping off.
pub fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c if (c as u32) < 0x20 => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// Appends a float as Go's `encoding/json` formats it (`null` for values JSON cannot hold).
pub fn write_json_float(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => {
                out.extend_from_slice(m.as_bytes());
                out.extend_from_slice(b"e+");
                out.extend_from_slice(e.as_bytes());
            }
            _ => out.extend_from_slice(s.as_bytes()),
        }
    } else {
        out.extend_from_slice(format!("{v}").as_bytes());
    }
}

fn num(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    out.extend_from_slice(v.to_string().as_bytes());
}

fn push_values(out: &mut Vec<u8>, b: &Block) {
    out.push(b'[');
    let n = b.values.len();
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        match &b.values {
            Values::Float(v) => write_json_float(out, v[i]),
            Values::Integer(v) => num(out, v[i]),
            Values::Unsigned(v) => num(out, v[i]),
            Values::Boolean(v) => out.extend_from_slice(if v[i] { b"true" } else { b"false" }),
            Values::String(v) => write_json_string(out, v.get(i).unwrap_or_default()),
        }
    }
    out.push(b']');
}

/// Dumps one open file. `name` is what the `file` field shows.
pub fn dump_reader(r: &TsmReader, name: &str, w: &mut impl Write) -> Result<()> {
    let io = |e| Error::new(r.path(), e);
    let mut out = Vec::with_capacity(1 << 16);
    let (kmin, kmax) = r.key_range();
    let (tmin, tmax) = r.time_range();
    out.extend_from_slice(b"{\"file\":");
    write_json_string(&mut out, name.as_bytes());
    out.extend_from_slice(
        format!(
            ",\"has_tombstones\":{},\"index_size\":{},\"key_count\":{},\"max_key\":",
            r.has_tombstones(),
            r.index_size(),
            r.live_key_count()
        )
        .as_bytes(),
    );
    write_json_string(&mut out, kmax);
    out.extend_from_slice(format!(",\"max_time\":{},\"min_key\":", tmax.max(0)).as_bytes());
    write_json_string(&mut out, kmin);
    out.extend_from_slice(format!(",\"min_time\":{},\"size\":{}}}\n", tmin, r.size()).as_bytes());
    w.write_all(&out).map_err(io)?;
    let mut b = Block::new(BlockType::Float);
    for i in 0..r.key_count() {
        let Some((key, typ)) = r.key_at(i) else { break };
        // InfluxDB forgets keys whose data tombstones deleted entirely.
        if r.is_deleted(key) {
            continue;
        }
        out.clear();
        let (series, field) = series_and_field(key);
        out.extend_from_slice(b"{\"key\":");
        write_json_string(&mut out, key);
        out.extend_from_slice(b",\"series\":");
        write_json_string(&mut out, series);
        out.extend_from_slice(b",\"field\":");
        write_json_string(&mut out, field);
        out.extend_from_slice(format!(",\"type\":{},\"blocks\":", typ as u8).as_bytes());
        let entries: Vec<_> = r.entries_at(i).collect();
        if entries.is_empty() {
            out.extend_from_slice(b"null");
        } else {
            out.push(b'[');
        }
        for (k, e) in entries.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            let (crc, data) = r.block_bytes(e).map_err(|x| x.with_key(key))?;
            let count = block::count(data)
                .map_err(|x| Error::new(r.path(), x).with_key(key).at(e.offset))?;
            let bt = block::block_type(data)
                .map_err(|x| Error::new(r.path(), x).with_key(key).at(e.offset))?;
            r.read_block_into(e, &mut b).map_err(|x| x.with_key(key))?;
            out.extend_from_slice(
                format!(
                    "{{\"min_time\":{},\"max_time\":{},\"offset\":{},\"size\":{},\"block_type\":{},\"count\":{},\"crc32\":{},\"times\":",
                    e.min_time, e.max_time, e.offset, e.size, bt as u8, count, crc
                )
                .as_bytes(),
            );
            if b.timestamps.is_empty() {
                out.extend_from_slice(b"null,\"values\":null}");
            } else {
                out.push(b'[');
                for (j, t) in b.timestamps.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    num(&mut out, t);
                }
                out.extend_from_slice(b"],\"values\":");
                push_values(&mut out, &b);
                out.push(b'}');
            }
        }
        if !entries.is_empty() {
            out.push(b']');
        }
        out.extend_from_slice(b",\"tombstones\":");
        let ts = r.tombstones(key);
        if ts.is_empty() {
            out.extend_from_slice(b"null");
        } else {
            out.push(b'[');
            for (j, t) in ts.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(
                    format!("{{\"Min\":{},\"Max\":{}}}", t.min, t.max).as_bytes(),
                );
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}\n");
        w.write_all(&out).map_err(io)?;
    }
    Ok(())
}

/// Dumps the files at `paths` in order (the `file` field shows each path as given).
pub fn dump_files<P: AsRef<Path>>(paths: &[P], w: &mut impl Write) -> Result<()> {
    for p in paths {
        let p = p.as_ref();
        let r = TsmReader::open(p)?;
        dump_reader(&r, &p.to_string_lossy(), w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(s: &[u8]) -> String {
        let mut o = Vec::new();
        write_json_string(&mut o, s);
        String::from_utf8(o).unwrap()
    }

    fn jf(v: f64) -> String {
        let mut o = Vec::new();
        write_json_float(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn go_json_formats() {
        assert_eq!(js(b"a\"b\\c\n\x01<>&"), r#""a\"b\\c\n\u0001<>&""#);
        assert_eq!(
            js(b"\xff\xe2\x82x \xe2\x80\xa8"),
            "\"\\ufffd\\ufffd\\ufffdx \\u2028\""
        );
        assert_eq!(js("☃".as_bytes()), "\"☃\"");
        assert_eq!(jf(1.0), "1");
        assert_eq!(jf(0.1), "0.1");
        assert_eq!(jf(-0.0), "-0");
        assert_eq!(jf(1e21), "1e+21");
        assert_eq!(jf(1.5e-7), "1.5e-7");
        assert_eq!(jf(123456789.125), "123456789.125");
        assert_eq!(jf(1e20), "100000000000000000000");
        assert_eq!(
            series_and_field(b"cpu,a=b#!~#f#!~#g"),
            (&b"cpu,a=b"[..], &b"f#!~#g"[..])
        );
        assert_eq!(series_and_field(b"cpu"), (&b"cpu"[..], &b""[..]));
    }
}
