//! Flux queries for ironflux: the language, the table model, the executor and the
//! annotated-CSV encoder that `POST /api/v2/query` answers with.
//!
//! * [`execute`] parses and runs a script against a [`source::Source`] (the storage edge) and
//!   returns its results, one [`ResultSet`] per `yield`.
//! * [`csv::write_results`] writes them as InfluxDB's annotated CSV for a [`csv::Dialect`];
//!   [`csv::write_error`] writes an error that happens after the body began.
//! * [`flux::extern_ast::to_source`] turns a request's `extern` AST into Flux for
//!   [`Options::prelude`]; [`pretty::write_results`] prints results as `influx query` does.
//! * `to()` writes through a [`source::Sink`] given to [`execute_with_sink`] (see [`to`]).
//! * `secrets.get` loads the org's secrets through [`Options::secrets`] (see [`secrets`]).
//! * [`influxql`] parses and runs InfluxQL for the 1.x `/query` route and encodes its answers.
//! * Errors carry InfluxDB's code ([`QueryError::code`]) for the HTTP status.
//!
//! ```
//! use query::csv::{Annotation, Dialect, write_results};
//! use query::source::{BucketInfo, MemSeries, MemSource, SeriesValues};
//! use query::{Options, execute};
//!
//! let source = MemSource {
//!     buckets: vec![(
//!         BucketInfo {
//!             name: "b".into(),
//!             id: "0000000000000001".into(),
//!             organization_id: "0000000000000002".into(),
//!             retention_period: 0,
//!             retention_policy: "infinite".into(),
//!         },
//!         vec![MemSeries {
//!             tags: vec![("_measurement".into(), "cpu".into()), ("_field".into(), "v".into())],
//!             times: vec![1_000_000_000, 2_000_000_000],
//!             values: SeriesValues::Float(vec![1.5, 2.5]),
//!         }],
//!     )],
//! };
//! let options = Options { now: 10_000_000_000, ..Options::default() };
//! let results = execute("from(bucket: \"b\") |> range(start: 0) |> mean()", &source, &options)?;
//! let dialect = Dialect {
//!     annotations: vec![Annotation::Datatype, Annotation::Group, Annotation::Default],
//!     ..Dialect::default()
//! };
//! let mut body = Vec::new();
//! write_results(&mut body, &results, &dialect)?;
//! assert!(String::from_utf8(body)?.contains(",,0,1970-01-01T00:00:00Z,1970-01-01T00:00:10Z,2,v,cpu\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod csv;
pub mod exec;
pub mod flux;
pub mod functions;
pub mod influxql;
pub mod pretty;
pub mod secrets;
pub mod source;
pub mod table;
pub mod tdigest;
pub mod time;
pub mod to;
pub mod value;

pub use exec::{Options, execute, execute_with_sink};
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
    /// InfluxDB's error code: `invalid` (HTTP 400), `forbidden` (403), `not found` (404), `too many requests`
    /// (429, memory limit), `unavailable` (503, timeout) or `internal error` (500).
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Parse(_) | QueryError::Invalid { .. } | QueryError::NoStreamingData => {
                "invalid"
            }
            QueryError::Source(source::SourceError::BucketNotFound(_)) => "not found",
            QueryError::Source(source::SourceError::Invalid(_)) => "invalid",
            QueryError::Source(source::SourceError::Forbidden(_)) => "forbidden",
            QueryError::Source(source::SourceError::MemoryLimit { .. }) => "too many requests",
            QueryError::MemoryLimit { .. } => "too many requests",
            QueryError::Timeout => "unavailable",
            QueryError::Source(_) | QueryError::Canceled => "internal error",
        }
    }
}
