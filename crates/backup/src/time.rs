//! Times as InfluxDB's JSON carries them: Go's `time.RFC3339Nano` in UTC, with trailing zeros of
//! the fraction trimmed (`2024-01-02T03:04:05.5Z`, `2024-01-02T03:04:05Z`), held here as signed
//! nanoseconds since the Unix epoch.

use crate::Error;

/// Formats nanoseconds since the epoch as Go's RFC3339Nano in UTC.
pub fn format_rfc3339_nano(ns: i64) -> String {
    // Every i64 of nanoseconds (years 1677..2262) is a valid timestamp.
    let t = jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut s = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ns.rem_euclid(1_000_000_000);
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses an RFC 3339 time (any offset, any fraction up to nanoseconds) into nanoseconds since the
/// epoch. Times outside the `i64` nanosecond range (years 1677..2262) are an error.
pub fn parse_rfc3339(text: &str) -> Result<i64, Error> {
    let t: jiff::Timestamp = text.parse().map_err(|e: jiff::Error| Error::Time {
        text: text.to_string(),
        reason: e.to_string(),
    })?;
    i64::try_from(t.as_nanosecond()).map_err(|_| Error::Time {
        text: text.to_string(),
        reason: "outside the range of nanosecond timestamps".to_string(),
    })
}

/// Serde adapter for a required time field.
pub mod serde_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339_nano(*ns))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for an optional time field, omitted when `None`.
pub mod serde_rfc3339_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ns: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ns {
            Some(ns) => s.serialize_str(&super::format_rfc3339_nano(*ns)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => super::parse_rfc3339(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(ns: i64, text: &str) {
        assert_eq!(format_rfc3339_nano(ns), text);
        assert_eq!(parse_rfc3339(text).unwrap(), ns);
    }

    #[test]
    fn formats_as_go_rfc3339_nano() {
        check(0, "1970-01-01T00:00:00Z");
        check(1_500_000_000, "1970-01-01T00:00:01.5Z");
        check(1_704_164_645_000_000_001, "2024-01-02T03:04:05.000000001Z");
        check(-1, "1969-12-31T23:59:59.999999999Z");
        check(i64::MIN, "1677-09-21T00:12:43.145224192Z");
        check(i64::MAX, "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert!(matches!(
            parse_rfc3339("yesterday"),
            Err(Error::Time { .. })
        ));
        assert!(matches!(
            parse_rfc3339("3000-01-01T00:00:00Z"),
            Err(Error::Time { .. })
        ));
    }
}
