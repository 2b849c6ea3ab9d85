//! Timestamps as Go's `time.Time` JSON encoding writes them: RFC 3339 with up to nine fractional
//! digits, trailing zeros trimmed, and the original UTC offset (`Z` for UTC). Values read from a
//! real store keep their offset so that rewriting a record does not change its text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A point in time with the UTC offset it was written with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Time {
    ts: jiff::Timestamp,
    offset_secs: i32,
}

impl Time {
    /// The current time, in UTC.
    pub fn now() -> Time {
        Time {
            ts: jiff::Timestamp::now(),
            offset_secs: 0,
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> i128 {
        self.ts.as_nanosecond()
    }

    /// From nanoseconds since the Unix epoch (UTC).
    pub fn from_unix_nanos(ns: i128) -> Result<Time, Error> {
        let ts = jiff::Timestamp::from_nanosecond(ns)
            .map_err(|e| Error::Invalid(format!("time out of range: {e}")))?;
        Ok(Time { ts, offset_secs: 0 })
    }

    /// The underlying UTC instant.
    pub fn timestamp(&self) -> jiff::Timestamp {
        self.ts
    }
}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.ts.cmp(&other.ts))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let off = jiff::tz::Offset::from_seconds(self.offset_secs).unwrap_or(jiff::tz::Offset::UTC);
        let dt = off.to_datetime(self.ts);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )?;
        let ns = dt.subsec_nanosecond();
        if ns != 0 {
            let s = format!("{ns:09}");
            write!(f, ".{}", s.trim_end_matches('0'))?;
        }
        if self.offset_secs == 0 {
            f.write_str("Z")
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let a = self.offset_secs.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
        }
    }
}

impl FromStr for Time {
    type Err = Error;
    fn from_str(s: &str) -> Result<Time, Error> {
        let ts: jiff::Timestamp = s
            .parse()
            .map_err(|e| Error::Invalid(format!("invalid time {s:?}: {e}")))?;
        let b = s.as_bytes();
        let tail = b.len().checked_sub(6).and_then(|i| b.get(i..));
        let offset_secs = match tail {
            Some(&[sign @ (b'+' | b'-'), h1, h2, b':', m1, m2])
                if [h1, h2, m1, m2].iter().all(u8::is_ascii_digit) =>
            {
                let d = |c: u8| i32::from(c - b'0');
                let v = (d(h1) * 10 + d(h2)) * 3600 + (d(m1) * 10 + d(m2)) * 60;
                if sign == b'-' { -v } else { v }
            }
            _ => 0,
        };
        Ok(Time { ts, offset_secs })
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_rfc3339nano_text_round_trips() {
        for s in [
            "2021-09-28T12:55:25.442475Z",
            "2021-09-28T08:55:25.75109-04:00",
            "2025-02-05T21:01:39.324723948Z",
            "2021-09-28T12:55:25Z",
        ] {
            let t: Time = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        let a: Time = "2021-09-28T08:55:25.75109-04:00".parse().unwrap();
        let b: Time = "2021-09-28T12:55:25.75109Z".parse().unwrap();
        assert_eq!(a.unix_nanos(), b.unix_nanos());
    }
}
