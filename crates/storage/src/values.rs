//! Typed time/value runs: the unit the WAL, the cache and the read path exchange for one TSM key.
//!
//! A run holds `(time, value)` pairs of one type. Runs are appended unsorted by writers and
//! normalised with [`Values::sort_dedup`]: stable sort by time, and for equal timestamps the
//! value appended last wins (InfluxDB's cache `Deduplicate`).

use crate::points::{FieldType, FieldValue};

/// One typed run of `(time, value)` pairs.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// float
    Float(Vec<(i64, f64)>),
    /// integer
    Integer(Vec<(i64, i64)>),
    /// unsigned
    Unsigned(Vec<(i64, u64)>),
    /// boolean
    Boolean(Vec<(i64, bool)>),
    /// string
    String(Vec<(i64, String)>),
}

/// A single typed value at a time.
pub type TimedValue = (i64, FieldValue);

macro_rules! each {
    ($v:expr, $x:ident => $e:expr) => {
        match $v {
            Values::Float($x) => $e,
            Values::Integer($x) => $e,
            Values::Unsigned($x) => $e,
            Values::Boolean($x) => $e,
            Values::String($x) => $e,
        }
    };
}

impl Values {
    /// An empty run of the given type.
    pub fn empty(t: FieldType) -> Self {
        match t {
            FieldType::Float => Values::Float(Vec::new()),
            FieldType::Integer => Values::Integer(Vec::new()),
            FieldType::Unsigned => Values::Unsigned(Vec::new()),
            FieldType::Boolean => Values::Boolean(Vec::new()),
            FieldType::String => Values::String(Vec::new()),
        }
    }

    /// A run of one value.
    pub fn single(t: i64, v: &FieldValue) -> Self {
        match v {
            FieldValue::Float(x) => Values::Float(vec![(t, *x)]),
            FieldValue::Integer(x) => Values::Integer(vec![(t, *x)]),
            FieldValue::Unsigned(x) => Values::Unsigned(vec![(t, *x)]),
            FieldValue::Boolean(x) => Values::Boolean(vec![(t, *x)]),
            FieldValue::String(x) => Values::String(vec![(t, x.clone())]),
        }
    }

    /// The run's type.
    pub fn field_type(&self) -> FieldType {
        match self {
            Values::Float(_) => FieldType::Float,
            Values::Integer(_) => FieldType::Integer,
            Values::Unsigned(_) => FieldType::Unsigned,
            Values::Boolean(_) => FieldType::Boolean,
            Values::String(_) => FieldType::String,
        }
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    /// True when the run holds no pair.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Time of pair `i`.
    pub fn time(&self, i: usize) -> i64 {
        each!(self, v => v[i].0)
    }

    /// Smallest and largest time, if any (meaningful after `sort_dedup`).
    pub fn time_range(&self) -> Option<(i64, i64)> {
        if self.is_empty() {
            None
        } else {
            Some((self.time(0), self.time(self.len() - 1)))
        }
    }

    /// Pair `i` as a typed value.
    pub fn get(&self, i: usize) -> TimedValue {
        match self {
            Values::Float(v) => (v[i].0, FieldValue::Float(v[i].1)),
            Values::Integer(v) => (v[i].0, FieldValue::Integer(v[i].1)),
            Values::Unsigned(v) => (v[i].0, FieldValue::Unsigned(v[i].1)),
            Values::Boolean(v) => (v[i].0, FieldValue::Boolean(v[i].1)),
            Values::String(v) => (v[i].0, FieldValue::String(v[i].1.clone())),
        }
    }

    /// Appends one value; `false` (nothing appended) when its type differs from the run's.
    pub fn push(&mut self, t: i64, v: &FieldValue) -> bool {
        match (self, v) {
            (Values::Float(a), FieldValue::Float(x)) => a.push((t, *x)),
            (Values::Integer(a), FieldValue::Integer(x)) => a.push((t, *x)),
            (Values::Unsigned(a), FieldValue::Unsigned(x)) => a.push((t, *x)),
            (Values::Boolean(a), FieldValue::Boolean(x)) => a.push((t, *x)),
            (Values::String(a), FieldValue::String(x)) => a.push((t, x.clone())),
            _ => return false,
        }
        true
    }

    /// Appends another run; `false` (nothing appended) when the types differ.
    pub fn extend(&mut self, other: &Values) -> bool {
        match (self, other) {
            (Values::Float(a), Values::Float(b)) => a.extend_from_slice(b),
            (Values::Integer(a), Values::Integer(b)) => a.extend_from_slice(b),
            (Values::Unsigned(a), Values::Unsigned(b)) => a.extend_from_slice(b),
            (Values::Boolean(a), Values::Boolean(b)) => a.extend_from_slice(b),
            (Values::String(a), Values::String(b)) => a.extend_from_slice(b),
            _ => return false,
        }
        true
    }

    /// True when times are strictly increasing.
    pub fn is_sorted_unique(&self) -> bool {
        each!(self, v => v.windows(2).all(|w| w[0].0 < w[1].0))
    }

    /// Stable sort by time; among equal times the last appended wins.
    pub fn sort_dedup(&mut self) {
        if self.is_sorted_unique() {
            return;
        }
        each!(self, v => sort_dedup(v))
    }

    /// Removes pairs with `min <= t <= max`.
    pub fn exclude(&mut self, min: i64, max: i64) {
        each!(self, v => v.retain(|p| p.0 < min || p.0 > max))
    }

    /// Keeps only pairs with `min <= t <= max`.
    pub fn retain_range(&mut self, min: i64, max: i64) {
        each!(self, v => v.retain(|p| p.0 >= min && p.0 <= max))
    }

    /// Approximate heap bytes used, for cache accounting (InfluxDB counts 16 B per numeric
    /// pair; strings add their length).
    pub fn size(&self) -> usize {
        match self {
            Values::String(v) => v.iter().map(|p| 24 + p.1.len()).sum(),
            Values::Boolean(v) => v.len() * 16,
            other => other.len() * 16,
        }
    }

    /// Merges `newer` into `self` (both sorted and deduplicated); on equal times `newer` wins.
    /// Returns `false` when the types differ.
    pub fn merge(&mut self, newer: &Values) -> bool {
        if !self.extend(newer) {
            return false;
        }
        self.sort_dedup();
        true
    }
}

/// Stable sort by time keeping the last of equal times.
fn sort_dedup<T>(v: &mut Vec<(i64, T)>) {
    v.sort_by_key(|p| p.0);
    let mut out: Vec<(i64, T)> = Vec::with_capacity(v.len());
    for p in v.drain(..) {
        match out.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => out.push(p),
        }
    }
    *v = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_dedup_keeps_last_written() {
        let mut v = Values::Integer(vec![(3, 1), (1, 2), (3, 3), (2, 4), (1, 5)]);
        v.sort_dedup();
        assert_eq!(v, Values::Integer(vec![(1, 5), (2, 4), (3, 3)]));
    }

    #[test]
    fn merge_newer_wins_and_types_checked() {
        let mut a = Values::Float(vec![(1, 1.0), (2, 2.0)]);
        assert!(a.merge(&Values::Float(vec![(2, 20.0), (3, 30.0)])));
        assert_eq!(a, Values::Float(vec![(1, 1.0), (2, 20.0), (3, 30.0)]));
        assert!(!a.merge(&Values::Integer(vec![(5, 1)])));
        assert_eq!(a.len(), 3);
    }
}
