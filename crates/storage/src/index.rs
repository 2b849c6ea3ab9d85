//! Series index of one shard: series keys, measurements, tag keys and values, field types.
//!
//! InfluxDB keeps this in TSI files and `fields.idx`, both caches it rebuilds from TSM keys when
//! missing (storage-formats 4.4). This index lives in memory only and is rebuilt the same way
//! whenever a shard opens: from every TSM key (type from the index entry) and every key in the
//! cache after WAL replay. So a shard restored from a tar of TSM files alone is fully usable.
//!
//! Measurements are keyed by their *escaped* form (the prefix of the series key), which makes
//! the write path's lookups allocation-free; unescaped names are kept beside them for readers.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashSet};

use crate::points::{FieldType, parse_series_key, split_tsm_key};

/// What the index knows about one measurement.
#[derive(Debug, Clone, Default)]
pub struct MeasurementInfo {
    /// Unescaped name.
    pub name: String,
    /// Field types by (unescaped) field key.
    pub fields: HashMap<String, FieldType>,
    /// Series keys of this measurement.
    pub series: BTreeSet<String>,
    /// Tag keys and their values (unescaped).
    pub tags: BTreeMap<String, BTreeSet<String>>,
}

/// A field whose type differs from the one already in the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// Unescaped measurement.
    pub measurement: String,
    /// Field key.
    pub field: String,
    /// Type written.
    pub input: FieldType,
    /// Type already in the shard.
    pub existing: FieldType,
}

impl std::fmt::Display for FieldConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "field type conflict: input field \"{}\" on measurement \"{}\" is type {}, already exists as type {}",
            self.field, self.measurement, self.input, self.existing
        )
    }
}

/// Series index of a shard.
#[derive(Debug, Default)]
pub struct SeriesIndex {
    /// Escaped measurement -> info.
    measurements: HashMap<String, MeasurementInfo>,
    series: HashSet<String>,
}

/// The escaped measurement at the start of a series key.
pub fn escaped_measurement(series_key: &str) -> &str {
    let b = series_key.as_bytes();
    for i in 0..b.len() {
        if b[i] == b',' && (i == 0 || b[i - 1] != b'\\') {
            return &series_key[..i];
        }
    }
    series_key
}

impl SeriesIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Field type of `field` in the measurement whose escaped name is `measurement`.
    pub fn field_type(&self, measurement: &str, field: &str) -> Option<FieldType> {
        self.measurements
            .get(measurement)?
            .fields
            .get(field)
            .copied()
    }

    /// Checks a field against the shard and records it when new.
    pub fn check_field(
        &mut self,
        measurement: &str,
        field: &str,
        t: FieldType,
    ) -> Result<(), FieldConflict> {
        if let Some(m) = self.measurements.get_mut(measurement) {
            match m.fields.get(field) {
                Some(&existing) if existing == t => return Ok(()),
                Some(&existing) => {
                    return Err(FieldConflict {
                        measurement: m.name.clone(),
                        field: field.to_string(),
                        input: t,
                        existing,
                    });
                }
                None => {
                    m.fields.insert(field.to_string(), t);
                    return Ok(());
                }
            }
        }
        let mut m = MeasurementInfo {
            name: parse_series_key(measurement).0,
            ..Default::default()
        };
        m.fields.insert(field.to_string(), t);
        self.measurements.insert(measurement.to_string(), m);
        Ok(())
    }

    /// Field keys of the measurement whose escaped name is `measurement`.
    pub fn field_keys(&self, measurement: &str) -> Vec<String> {
        self.measurements
            .get(measurement)
            .map(|m| m.fields.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// True when the series is known.
    pub fn has_series(&self, series_key: &str) -> bool {
        self.series.contains(series_key)
    }

    /// Records a series (its measurement must exist or is created).
    pub fn add_series(&mut self, series_key: &str) {
        if self.series.contains(series_key) {
            return;
        }
        let em = escaped_measurement(series_key);
        let (name, tags) = parse_series_key(series_key);
        let m = self
            .measurements
            .entry(em.to_string())
            .or_insert_with(|| MeasurementInfo {
                name,
                ..Default::default()
            });
        m.series.insert(series_key.to_string());
        for (k, v) in tags {
            m.tags.entry(k).or_default().insert(v);
        }
        self.series.insert(series_key.to_string());
    }

    /// Records a TSM key with its type (rebuild path). Keys that do not split are ignored.
    pub fn add_tsm_key(&mut self, key: &[u8], t: FieldType) {
        let Some((series, field)) = split_tsm_key(key) else {
            return;
        };
        let (Ok(series), Ok(field)) = (std::str::from_utf8(series), std::str::from_utf8(field))
        else {
            return;
        };
        self.add_series(series);
        let em = escaped_measurement(series).to_string();
        // On rebuild the first type seen stays; a conflicting file cannot be fixed here.
        let _ = self.check_field(&em, field, t);
    }

    /// Removes a series (after a delete removed all its data).
    pub fn remove_series(&mut self, series_key: &str) {
        if !self.series.remove(series_key) {
            return;
        }
        let em = escaped_measurement(series_key).to_string();
        if let Some(m) = self.measurements.get_mut(&em) {
            m.series.remove(series_key);
            if m.series.is_empty() {
                self.measurements.remove(&em);
            } else {
                // Recompute tag values from the remaining series.
                let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for s in &m.series {
                    for (k, v) in parse_series_key(s).1 {
                        tags.entry(k).or_default().insert(v);
                    }
                }
                m.tags = tags;
            }
        }
    }

    /// The measurement with this unescaped name.
    pub fn measurement(&self, name: &str) -> Option<&MeasurementInfo> {
        self.measurements.values().find(|m| m.name == name)
    }

    /// Every measurement.
    pub fn measurements(&self) -> impl Iterator<Item = &MeasurementInfo> {
        self.measurements.values()
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuild_from_tsm_keys() {
        let mut ix = SeriesIndex::new();
        ix.add_tsm_key(
            br"my\ m\,x,k\=eq=a\,b\=c,t=1#!~#field key",
            FieldType::Float,
        );
        ix.add_tsm_key(br"my\ m\,x,k\=eq=a\,b\=c,t=2#!~#s", FieldType::String);
        let m = ix.measurement("my m,x").unwrap();
        assert_eq!(m.series.len(), 2);
        assert_eq!(m.fields["field key"], FieldType::Float);
        assert_eq!(m.tags["k=eq"].iter().collect::<Vec<_>>(), vec!["a,b=c"]);
        assert_eq!(m.tags["t"].len(), 2);
        let err = ix
            .check_field(r"my\ m\,x", "s", FieldType::Integer)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field type conflict: input field \"s\" on measurement \"my m,x\" is type integer, already exists as type string"
        );
        ix.remove_series(r"my\ m\,x,k\=eq=a\,b\=c,t=1");
        assert_eq!(ix.measurement("my m,x").unwrap().tags["t"].len(), 1);
    }
}
