//! InfluxQL, as InfluxDB 2.x answers it on the 1.x compatibility route `/query`.
//!
//! * [`parse`] reads a query (statements separated by `;`) into [`ast::Statement`]s; a syntax
//!   error is a [`ParseError`] whose text InfluxDB 2.x prefixes with `failed to parse query: `
//!   (1.x with `error parsing query: `).
//! * [`execute`] runs the statements against a [`Source`](crate::source::Source) and answers one [`StatementResult`]
//!   per statement (an error in one statement is that result's `error`, as InfluxDB does).
//! * [`encode`] writes results as InfluxDB's JSON (optionally chunked, times as RFC3339 or epoch
//!   integers) or its v1 CSV.
//!
//! Supported: `SELECT` of fields, tags, `*`, the aggregates `count mean median mode spread
//! stddev sum min max first last percentile distinct` (with `AS`, `*` and `/regex/` arguments)
//! and arithmetic over them (`+ - * / %`); the transformations `derivative
//! non_negative_derivative difference non_negative_difference cumulative_sum moving_average`
//! (of a field, or of an aggregate under `GROUP BY time`); `FROM` names, regexes and `"db"."rp"."m"`; `WHERE`
//! on time (RFC3339 strings, epoch integers, durations, `now()`), tags and fields with
//! `= != <> < <= > >= =~ !~ AND OR` and parentheses; `GROUP BY time(i[, offset])`, tags and
//! `*`; `fill(null|none|previous|linear|<number>)`; `ORDER BY time [ASC|DESC]`;
//! `LIMIT/OFFSET/SLIMIT/SOFFSET`; `tz('UTC')`. `SHOW DATABASES`, `RETENTION POLICIES`,
//! `MEASUREMENTS`, `TAG KEYS`, `TAG VALUES`, `FIELD KEYS`, `SERIES`. Other statements parse and
//! answer `not implemented: <statement>`; other functions, subqueries, `GROUP BY /regex/`,
//! other time zones and bound parameters are errors that name them.
//!
//! Execution reads through the same [`Source`](crate::source::Source) as Flux, with the range and the measurement,
//! field and tag predicates pushed down, and the common aggregates computed by storage per
//! series (see `exec`); the InfluxQL semantics (series per tag set, windows aligned to the
//! epoch, fill, selectors' times) are applied here. A statement's error names the construct
//! outside the supported subset.

pub mod ast;
pub mod encode;
mod exec;
pub mod parser;

pub use ast::Statement;
pub use exec::{Context, Dbrp, Resolved, execute, execute_statement};
pub use parser::{ParseError, parse_query as parse};

use crate::value::Value;

/// One series of a statement's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The measurement (or `measurements`, `databases`...); `None` is omitted from JSON.
    pub name: Option<String>,
    /// The series' group-by tags, sorted by key; empty is omitted from JSON.
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    /// Rows; cells are `Value::Time` for times, `Value::Null` for nulls.
    pub values: Vec<Vec<Value>>,
}

/// The answer to one statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatementResult {
    pub statement_id: usize,
    pub series: Vec<Series>,
    pub error: Option<String>,
}
