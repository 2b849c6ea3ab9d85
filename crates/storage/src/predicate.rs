//! Series predicates for reads and deletes: comparisons of `_measurement`, `_field` and tag
//! values combined with AND / OR / NOT, and the parser for `/api/v2/delete` predicates.
//!
//! Delete predicate grammar (InfluxDB 2.x accepts only `=`/`!=` joined by `AND`):
//!
//! ```text
//! predicate = term { "AND" term }          (keyword case-insensitive)
//! term      = key ("=" | "!=") value | "(" predicate ")"
//! key       = identifier | '"' chars '"'   (e.g. _measurement, host, "tag key")
//! value     = '"' chars '"' | "'" chars "'" (backslash escapes the next char)
//! ```
//!
//! An empty predicate matches everything. A tag missing from a series compares as `""`.

/// A predicate over one series and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// Always true.
    True,
    /// `key == value`.
    Eq(String, String),
    /// `key != value`.
    Ne(String, String),
    /// All hold.
    And(Vec<Predicate>),
    /// Any holds.
    Or(Vec<Predicate>),
    /// Negation.
    Not(Box<Predicate>),
}

/// Key naming the measurement.
pub const MEASUREMENT_KEY: &str = "_measurement";
/// Key naming the field.
pub const FIELD_KEY: &str = "_field";

impl Predicate {
    /// Evaluates against a series (unescaped measurement and tags) and a field key.
    pub fn matches(&self, measurement: &str, tags: &[(String, String)], field: &str) -> bool {
        let lookup = |k: &str| -> &str {
            match k {
                MEASUREMENT_KEY => measurement,
                FIELD_KEY => field,
                _ => tags
                    .iter()
                    .find(|(tk, _)| tk == k)
                    .map_or("", |(_, v)| v.as_str()),
            }
        };
        match self {
            Predicate::True => true,
            Predicate::Eq(k, v) => lookup(k) == v,
            Predicate::Ne(k, v) => lookup(k) != v,
            Predicate::And(ps) => ps.iter().all(|p| p.matches(measurement, tags, field)),
            Predicate::Or(ps) => ps.iter().any(|p| p.matches(measurement, tags, field)),
            Predicate::Not(p) => !p.matches(measurement, tags, field),
        }
    }

    /// The measurement this predicate requires, if it pins one (`_measurement = "x"` at the top
    /// level or inside a top-level AND), which lets callers skip other measurements.
    pub fn measurement(&self) -> Option<&str> {
        match self {
            Predicate::Eq(k, v) if k == MEASUREMENT_KEY => Some(v),
            Predicate::And(ps) => ps.iter().find_map(|p| p.measurement()),
            _ => None,
        }
    }
}

/// A delete predicate that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid delete predicate: {0}")]
pub struct PredicateError(pub String);

/// Parses a `/api/v2/delete` predicate.
pub fn parse_delete_predicate(s: &str) -> Result<Predicate, PredicateError> {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
    };
    p.ws();
    if p.at >= p.s.len() {
        return Ok(Predicate::True);
    }
    let pred = p.and()?;
    p.ws();
    if p.at < p.s.len() {
        return Err(PredicateError(format!(
            "unexpected input at offset {}",
            p.at
        )));
    }
    Ok(pred)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn and(&mut self) -> Result<Predicate, PredicateError> {
        let mut terms = vec![self.term()?];
        loop {
            self.ws();
            let rest = &self.s[self.at..];
            if rest.len() >= 3
                && rest[..3].eq_ignore_ascii_case(b"and")
                && rest.get(3).is_none_or(|c| !is_ident(*c))
            {
                self.at += 3;
                terms.push(self.term()?);
            } else if rest.len() >= 2
                && rest[..2].eq_ignore_ascii_case(b"or")
                && rest.get(2).is_none_or(|c| !is_ident(*c))
            {
                return Err(PredicateError(
                    "the OR operator is not supported in delete predicates".into(),
                ));
            } else {
                break;
            }
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Predicate::And(terms)
        })
    }

    fn term(&mut self) -> Result<Predicate, PredicateError> {
        self.ws();
        if self.s.get(self.at) == Some(&b'(') {
            self.at += 1;
            let p = self.and()?;
            self.ws();
            if self.s.get(self.at) != Some(&b')') {
                return Err(PredicateError("missing ')'".into()));
            }
            self.at += 1;
            return Ok(p);
        }
        let key = self.key()?;
        self.ws();
        let ne = if self.s[self.at..].starts_with(b"!=") {
            self.at += 2;
            true
        } else if self.s.get(self.at) == Some(&b'=') {
            self.at += 1;
            false
        } else {
            return Err(PredicateError(format!("expected = or != after {key:?}")));
        };
        self.ws();
        let value = match self.s.get(self.at) {
            Some(&q @ (b'"' | b'\'')) => self.quoted(q)?,
            _ => {
                return Err(PredicateError(format!(
                    "expected a quoted value for {key:?}"
                )));
            }
        };
        Ok(if ne {
            Predicate::Ne(key, value)
        } else {
            Predicate::Eq(key, value)
        })
    }

    fn key(&mut self) -> Result<String, PredicateError> {
        if self.s.get(self.at) == Some(&b'"') {
            return self.quoted(b'"');
        }
        let start = self.at;
        while self.at < self.s.len() && is_ident(self.s[self.at]) {
            self.at += 1;
        }
        if start == self.at {
            return Err(PredicateError(format!("expected a key at offset {start}")));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    fn quoted(&mut self, q: u8) -> Result<String, PredicateError> {
        self.at += 1;
        let mut out = Vec::new();
        while self.at < self.s.len() {
            let c = self.s[self.at];
            if c == b'\\' && self.at + 1 < self.s.len() {
                out.push(self.s[self.at + 1]);
                self.at += 2;
                continue;
            }
            if c == q {
                self.at += 1;
                return String::from_utf8(out).map_err(|_| PredicateError("invalid UTF-8".into()));
            }
            out.push(c);
            self.at += 1;
        }
        Err(PredicateError("unterminated string".into()))
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
        t.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_influxdb_delete_predicates() {
        let p = parse_delete_predicate(r#"_measurement="cpu" AND host="a""#).unwrap();
        assert_eq!(
            p,
            Predicate::And(vec![
                Predicate::Eq("_measurement".into(), "cpu".into()),
                Predicate::Eq("host".into(), "a".into())
            ])
        );
        assert_eq!(p.measurement(), Some("cpu"));
        assert!(p.matches("cpu", &tags(&[("host", "a")]), "v"));
        assert!(!p.matches("cpu", &tags(&[("host", "b")]), "v"));
        assert!(!p.matches("mem", &tags(&[("host", "a")]), "v"));
        assert_eq!(parse_delete_predicate("  ").unwrap(), Predicate::True);
        let p = parse_delete_predicate(r#"("tag key"='va lue' and _field!="x")"#).unwrap();
        assert!(p.matches("m", &tags(&[("tag key", "va lue")]), "y"));
        assert!(!p.matches("m", &tags(&[("tag key", "va lue")]), "x"));
        assert!(parse_delete_predicate(r#"a="1" OR b="2""#).is_err());
        assert!(parse_delete_predicate(r#"a=1"#).is_err());
        assert!(parse_delete_predicate(r#"a="1" b"#).is_err());
        assert!(parse_delete_predicate(r#"a="1"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "[a-z_=!\"' ()ANDOR\\\\]{0,40}") {
            match parse_delete_predicate(&s) {
                // Whatever parses can be evaluated.
                Ok(p) => { let _ = p.matches("m", &[("a".into(), "b".into())], "f"); }
                Err(e) => proptest::prop_assert!(!e.0.is_empty()),
            }
        }
    }
}
