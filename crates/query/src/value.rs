//! Flux values: the scalars that fill table cells and the composite values (arrays, records,
//! functions, table streams) that the interpreter passes around.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::exec::{Function, Stream};
use crate::time::{Duration, format_rfc3339};

/// The type of a table column, named as annotated CSV names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    String,
    Int,
    UInt,
    Float,
    Bool,
    Time,
}

impl DataType {
    /// The `#datatype` annotation word.
    pub fn csv_name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Int => "long",
            DataType::UInt => "unsignedLong",
            DataType::Float => "double",
            DataType::Bool => "boolean",
            DataType::Time => "dateTime:RFC3339",
        }
    }

    /// The Flux type name used in error messages.
    pub fn flux_name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Int => "int",
            DataType::UInt => "uint",
            DataType::Float => "float",
            DataType::Bool => "bool",
            DataType::Time => "time",
        }
    }
}

/// A record: ordered labelled values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    pub fields: Vec<(String, Value)>,
}

impl Record {
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    /// Sets `k`, replacing an existing field in place or appending.
    pub fn set(&mut self, k: &str, v: Value) {
        if let Some(slot) = self.fields.iter_mut().find(|(n, _)| n == k) {
            slot.1 = v;
        } else {
            self.fields.push((k.to_string(), v));
        }
    }
}

/// Any Flux value.
#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Time(i64),
    Duration(Duration),
    Regex(Arc<regex::Regex>),
    Array(Arc<Vec<Value>>),
    Record(Arc<Record>),
    Function(Arc<Function>),
    Stream(Arc<Stream>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}u"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Time(t) => f.write_str(&format_rfc3339(*t)),
            Value::Duration(d) => write!(f, "{d}"),
            Value::Regex(r) => write!(f, "/{}/", r.as_str()),
            Value::Array(a) => f.debug_list().entries(a.iter()).finish(),
            Value::Record(r) => {
                let mut m = f.debug_map();
                for (k, v) in &r.fields {
                    m.entry(k, v);
                }
                m.finish()
            }
            Value::Function(_) => f.write_str("<function>"),
            Value::Stream(_) => f.write_str("<stream>"),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::UInt(a), Value::UInt(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Regex(a), Value::Regex(b)) => a.as_str() == b.as_str(),
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Record(a), Value::Record(b)) => a == b,
            (Value::Function(a), Value::Function(b)) => Arc::ptr_eq(a, b),
            (Value::Stream(a), Value::Stream(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The column type of a scalar, `None` for null and non-column values.
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Value::Bool(_) => DataType::Bool,
            Value::Int(_) => DataType::Int,
            Value::UInt(_) => DataType::UInt,
            Value::Float(_) => DataType::Float,
            Value::String(_) => DataType::String,
            Value::Time(_) => DataType::Time,
            _ => return None,
        })
    }

    /// The Flux type name of the value, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Duration(_) => "duration",
            Value::Regex(_) => "regexp",
            Value::Array(_) => "array",
            Value::Record(_) => "record",
            Value::Function(_) => "function",
            Value::Stream(_) => "stream",
            v => v.data_type().map_or("null", DataType::flux_name),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Orders two cells of one column type; nulls sort first, NaN after numbers.
    pub fn cmp_cells(a: &Value, b: &Value) -> Ordering {
        match (a, b) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Int(x), Value::Int(y)) => x.cmp(y),
            (Value::UInt(x), Value::UInt(y)) => x.cmp(y),
            (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
            (Value::String(x), Value::String(y)) => x.cmp(y),
            (Value::Time(x), Value::Time(y)) => x.cmp(y),
            _ => type_rank(a).cmp(&type_rank(b)),
        }
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::UInt(_) => 3,
        Value::Float(_) => 4,
        Value::String(_) => 5,
        Value::Time(_) => 6,
        _ => 7,
    }
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that
/// reads back to the same value, never in exponent form; `NaN`, `+Inf`, `-Inf`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // Rust's Display for f64 prints the shortest round-trip digits without an exponent.
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(0.000001), "0.000001");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(-1.5), "-1.5");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::MAX).len(), 309);
        assert_eq!(format_float(5e-324), format!("0.{}5", "0".repeat(323)));
    }
}
