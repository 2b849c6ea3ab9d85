//! Durations as the influx CLI takes them for retention (`1w`, `72h`, `1h30m`, `0` = infinite):
//! a sequence of integer-unit pairs with units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`, `w`.
//! humantime is not used: it accepts fractions and years, which the influx CLI does not.

use std::time::Duration;

/// Parses a retention duration; `0` alone means infinite and yields `Duration::ZERO`.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {s:?}: expected a number"));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "w" => 7 * 86_400 * 1_000_000_000,
            "" => return Err(format!("invalid duration {s:?}: missing unit")),
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?}")),
        };
        total = total
            .checked_add(n.checked_mul(nanos).ok_or("duration too large")?)
            .ok_or("duration too large")?;
    }
    let nanos = u64::try_from(total).map_err(|_| "duration too large".to_string())?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[track_caller]
    fn check(s: &str, secs: u64) {
        assert_eq!(parse(s), Ok(Duration::from_secs(secs)), "{s}");
    }

    #[test]
    fn influx_durations() {
        check("0", 0);
        check("1w", 604_800);
        check("72h", 259_200);
        check("1h30m", 5_400);
        check("2d", 172_800);
        check("90s", 90);
        assert!(parse("").is_err());
        assert!(parse("12").is_err());
        assert!(parse("1y").is_err());
        assert!(parse("1.5h").is_err());
        assert!(parse("h").is_err());
    }
}
