//! Flux queries for ironflux: the language, the table model, the executor and the
//! annotated-CSV encoder that `POST /api/v2/query` answers with.
//!
//! Entry points: [`execute`] runs a script against a [`source::Source`] and returns its
//! results; [`csv::write_results`] encodes them. Errors carry an InfluxDB error code
//! ([`QueryError::code`]) so a server can map them to HTTP statuses.

pub mod csv;
pub mod exec;
pub mod flux;
pub mod functions;
pub mod pretty;
pub mod source;
pub mod table;
pub mod tdigest;
pub mod time;
pub mod value;

pub use exec::{Options, execute};
pub use table::{Column, GroupKey, KeyColumn, ResultSet, Table};
pub use value::{DataType, Value};

use flux::ast::Span;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The script does not parse.
    #[error(transparent)]
    Parse(#[from] flux::ParseError),
    /// The script is not valid or uses something outside the supported subset; the message
    /// names the function or construct.
    #[error("error @{span}: {message}")]
    Invalid { span: Span, message: String },
    /// The data source failed (e.g. an unknown bucket).
    #[error(transparent)]
    Source(#[from] source::SourceError),
    /// The script yields nothing (every stream was only assigned).
    #[error(
        "error in query specification while starting program: this Flux script returns no streaming data. Consider adding a \"yield\" or invoking streaming functions directly, without performing an assignment"
    )]
    NoStreamingData,
    /// The query needed more memory than [`Options::memory_limit`] allows.
    #[error("query exceeded its memory limit of {limit} bytes")]
    MemoryLimit { limit: usize },
    /// The query ran past [`Options::deadline`].
    #[error("query timed out")]
    Timeout,
    /// The query was canceled through [`Options::cancel`].
    #[error("query canceled")]
    Canceled,
}

impl QueryError {
    /// InfluxDB's error code: `invalid` (HTTP 400), `not found` (404), `too many requests`
    /// (429, memory limit), `unavailable` (503, timeout) or `internal error` (500).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Parse(_) | QueryError::Invalid { .. } | QueryError::NoStreamingData => {
                "invalid"
            }
            QueryError::Source(source::SourceError::BucketNotFound(_)) => "not found",
            QueryError::MemoryLimit { .. } => "too many requests",
            QueryError::Timeout => "unavailable",
            QueryError::Source(_) | QueryError::Canceled => "internal error",
        }
    }
}
