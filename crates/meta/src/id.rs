//! `platform.ID`: InfluxDB's 64-bit identifiers, written everywhere (KV keys, JSON, SQLite columns,
//! database names in `meta.db`) as exactly 16 lowercase hex characters of the big-endian bytes.
//! The value 0 is invalid.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// An InfluxDB identifier (`platform.ID`). Never 0.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u64);

impl Id {
    /// The resource ID InfluxDB uses for the instance-owner URM (`0000000000000001`).
    pub const INSTANCE: Id = Id(1);

    /// Wraps a raw value; `None` for 0.
    pub fn new(v: u64) -> Option<Id> {
        (v != 0).then_some(Id(v))
    }

    /// The raw value.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The 16-hex-character form as bytes (the KV key form).
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let hex = b"0123456789abcdef";
        for (i, b) in self.0.to_be_bytes().iter().enumerate() {
            out[2 * i] = hex[(b >> 4) as usize];
            out[2 * i + 1] = hex[(b & 15) as usize];
        }
        out
    }

    /// Parses the 16-hex-character form from bytes.
    pub fn decode(b: &[u8]) -> Result<Id, Error> {
        if b.len() != 16 {
            return Err(Error::Invalid(format!(
                "id must have a length of 16 bytes, got {}",
                b.len()
            )));
        }
        let mut v = 0u64;
        for &c in b {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| Error::Invalid("invalid ID: not a hex string".into()))?;
            v = (v << 4) | u64::from(d);
        }
        Id::new(v).ok_or_else(|| Error::Invalid("invalid ID".into()))
    }

    /// A fresh ID for users, authorizations, DBRP mappings and the like: milliseconds since the
    /// Unix epoch in the high bits, a process-wide counter and random bits in the low ones, like
    /// InfluxDB's snowflake generator (IDs grow with time and sort by creation).
    pub fn generate() -> Id {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed) & 0xfff;
        let rnd = rand::random::<u64>() & 0x3ff;
        let v = (ms << 22) | (rnd << 12) | seq;
        Id::new(v).unwrap_or(Id(1 << 22))
    }

    /// A fresh random ID, as InfluxDB uses for organizations and buckets.
    pub fn random() -> Id {
        loop {
            // InfluxDB avoids IDs below 0x1000 (reserved for system resources).
            let v: u64 = rand::random();
            if v >= 0x1000 {
                return Id(v);
            }
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({:016x})", self.0)
    }
}

impl FromStr for Id {
    type Err = Error;
    fn from_str(s: &str) -> Result<Id, Error> {
        Id::decode(s.as_bytes())
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id: Id = "08371db1dd8c8000".parse().unwrap();
        assert_eq!(id.get(), 0x08371db1dd8c8000);
        assert_eq!(id.to_string(), "08371db1dd8c8000");
        assert_eq!(&id.encode(), b"08371db1dd8c8000");
        assert!("0000000000000000".parse::<Id>().is_err());
        assert!("123".parse::<Id>().is_err());
        assert!("zz371db1dd8c8000".parse::<Id>().is_err());
        assert_ne!(Id::generate(), Id::generate());
    }
}
