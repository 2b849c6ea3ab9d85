//! Times and durations as Flux sees them.
//!
//! A time is `i64` nanoseconds since the Unix epoch, UTC. Text forms are RFC3339: parsing
//! accepts `Z` or a `±HH:MM` offset and up to nine fraction digits; formatting writes UTC with
//! `Z` and the fraction with trailing zeros removed, as Go's `time.RFC3339Nano` layout does.
//! A [`Duration`] keeps months (for `mo`/`y`) apart from nanoseconds, because a month has no fixed
//! length: adding months moves along the calendar, clamping the day to the month's end like Flux.
//! Civil-date conversion is the days-from-civil algorithm (proleptic Gregorian), written here to
//! avoid a calendar dependency for these few functions.

use std::fmt::Write as _;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

/// A Flux duration: calendar months plus nanoseconds, either of which may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration {
    pub months: i64,
    pub nanos: i64,
}

impl Duration {
    pub fn from_nanos(nanos: i64) -> Duration {
        Duration { months: 0, nanos }
    }

    pub fn is_zero(&self) -> bool {
        self.months == 0 && self.nanos == 0
    }

    pub fn is_negative(&self) -> bool {
        self.months < 0 || (self.months == 0 && self.nanos < 0)
    }

    pub fn negated(self) -> Duration {
        Duration {
            months: -self.months,
            nanos: -self.nanos,
        }
    }

    /// Multiplies by an integer (saturating).
    pub fn times(self, k: i64) -> Duration {
        Duration {
            months: self.months.saturating_mul(k),
            nanos: self.nanos.saturating_mul(k),
        }
    }

    /// `t + self`, moving months along the calendar.
    pub fn add_to(self, t: i64) -> i64 {
        let t = if self.months != 0 {
            add_months(t, self.months)
        } else {
            t
        };
        t.saturating_add(self.nanos)
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_zero() {
            return f.write_str("0ns");
        }
        let mut out = String::new();
        if self.is_negative() {
            out.push('-');
        }
        let mut months = self.months.unsigned_abs();
        if months >= 12 {
            let _ = write!(out, "{}y", months / 12);
            months %= 12;
        }
        if months > 0 {
            let _ = write!(out, "{months}mo");
        }
        let mut n = self.nanos.unsigned_abs();
        for (unit, len) in [
            ("w", 7 * 86_400 * 1_000_000_000u64),
            ("d", 86_400 * 1_000_000_000),
            ("h", 3_600 * 1_000_000_000),
            ("m", 60 * 1_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ] {
            if n >= len {
                let _ = write!(out, "{}{unit}", n / len);
                n %= len;
            }
        }
        f.write_str(&out)
    }
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `t` moved by `months` calendar months, the day clamped to the target month's length.
pub fn add_months(t: i64, months: i64) -> i64 {
    let days = t.div_euclid(NANOS_PER_DAY);
    let rem = t.rem_euclid(NANOS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + i64::from(m) - 1 + months;
    let ny = total.div_euclid(12);
    let nm = (total.rem_euclid(12) + 1) as u32;
    let nd = d.min(days_in_month(ny, nm));
    days_from_civil(ny, nm, nd)
        .saturating_mul(NANOS_PER_DAY)
        .saturating_add(rem)
}

/// Index of the calendar month holding `t`, counted from 1970-01.
pub fn month_index(t: i64) -> i64 {
    let (y, m, _) = civil_from_days(t.div_euclid(NANOS_PER_DAY));
    (y - 1970) * 12 + i64::from(m) - 1
}

/// Parses an RFC3339 time (`2006-01-02T15:04:05.999999999Z07:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = num(0..4)?;
    let month = num(5..7)? as u32;
    let day = num(8..10)? as u32;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let hour = num(11..13)?;
    let min = num(14..16)?;
    let sec = num(17..19)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        frac = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    i64::try_from(i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(frac)).ok()
}

/// Formats `t` as Go's RFC3339Nano does in UTC: `2018-05-22T19:53:26.04Z`.
pub fn format_rfc3339(t: i64) -> String {
    let mut s = String::with_capacity(30);
    write_rfc3339(&mut s, t);
    s
}

/// Appends `t` in RFC3339Nano form to `out`.
pub fn write_rfc3339(out: &mut String, t: i64) {
    let secs = t.div_euclid(NANOS_PER_SEC);
    let nanos = t.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // Digits pushed by hand, no formatting machinery: this runs for every time cell of every
    // answer. Years of i64 nanoseconds are 1677 to 2262, always four digits.
    let mut buf = [0u8; 32];
    let mut n = 0;
    push_digits(&mut buf, &mut n, y.rem_euclid(10_000), 4);
    for (sep, v) in [
        (b'-', i64::from(m)),
        (b'-', i64::from(d)),
        (b'T', sod / 3600),
        (b':', (sod / 60) % 60),
        (b':', sod % 60),
    ] {
        buf[n] = sep;
        n += 1;
        push_digits(&mut buf, &mut n, v, 2);
    }
    if nanos != 0 {
        buf[n] = b'.';
        n += 1;
        let (mut frac, mut digits) = (nanos, 9);
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        push_digits(&mut buf, &mut n, frac, digits);
    }
    buf[n] = b'Z';
    n += 1;
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
}

/// Writes `v` (non-negative) as exactly `width` decimal digits at `buf[*n..]`.
fn push_digits(buf: &mut [u8; 32], n: &mut usize, mut v: i64, width: usize) {
    for i in (0..width).rev() {
        buf[*n + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    *n += width;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_times() {
        for (s, t) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2018-05-22T19:53:26Z", 1_527_018_806_000_000_000),
            ("2018-05-22T19:53:26.04Z", 1_527_018_806_040_000_000),
            ("1969-12-31T23:59:59.999999999Z", -1),
            ("1677-09-21T00:12:43.145224192Z", i64::MIN),
            ("2262-04-11T23:47:16.854775807Z", i64::MAX),
        ] {
            assert_eq!(parse_rfc3339(s), Some(t), "{s}");
            assert_eq!(format_rfc3339(t), s);
        }
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        assert_eq!(
            parse_rfc3339("2020-01-01T02:00:00+02:00"),
            parse_rfc3339("2020-01-01T00:00:00Z")
        );
        assert_eq!(parse_rfc3339("2020-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2020-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2020-01-01T00:00:00"), None);
        assert_eq!(parse_rfc3339("2020-01-01T00:00:00.Z"), None);
    }

    #[test]
    fn months_clamp_to_month_end() {
        let jan31 = parse_rfc3339("2021-01-31T12:00:00Z").unwrap();
        assert_eq!(format_rfc3339(add_months(jan31, 1)), "2021-02-28T12:00:00Z");
        assert_eq!(
            format_rfc3339(add_months(jan31, -13)),
            "2019-12-31T12:00:00Z"
        );
        assert_eq!(month_index(jan31), 51 * 12);
    }

    #[test]
    fn durations_display() {
        assert_eq!(
            Duration::from_nanos(5_400 * NANOS_PER_SEC).to_string(),
            "1h30m"
        );
        assert_eq!(
            Duration {
                months: -14,
                nanos: 0
            }
            .to_string(),
            "-1y2mo"
        );
    }
}
