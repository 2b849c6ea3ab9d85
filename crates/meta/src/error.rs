//! Typed errors of the metadata store. The server maps each variant to one InfluxDB error code:
//! `NotFound` → `not found` (404), `Conflict` → `conflict` (422), `Invalid` → `invalid` (400),
//! `Unauthorized` → `unauthorized` (401), `Forbidden` → `forbidden` (403), everything else →
//! `internal error` (500).

use std::fmt;

/// What kind of record was not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An organization.
    Organization,
    /// A bucket.
    Bucket,
    /// A user.
    User,
    /// A user's password.
    Password,
    /// An authorization (token).
    Authorization,
    /// A user-resource mapping.
    UserResourceMapping,
    /// A DBRP mapping.
    Dbrp,
    /// A database (bucket) in the shard catalogue.
    Database,
    /// A shard group in the shard catalogue.
    ShardGroup,
    /// A label.
    Label,
    /// An org secret.
    Secret,
    /// A variable.
    Variable,
    /// A Telegraf configuration.
    Telegraf,
    /// A dashboard.
    Dashboard,
    /// A cell of a dashboard.
    Cell,
    /// The view of a dashboard cell.
    View,
    /// A task.
    Task,
}

impl Kind {
    /// InfluxDB's message for a missing record of this kind.
    pub fn not_found_message(self) -> &'static str {
        match self {
            Kind::Organization => "organization not found",
            Kind::Bucket => "bucket not found",
            Kind::User => "user not found",
            Kind::Password => "your username or password is incorrect",
            Kind::Authorization => "authorization not found",
            Kind::UserResourceMapping => "user to resource mapping not found",
            Kind::Dbrp => "unable to find DBRP",
            Kind::Database => "database not found",
            Kind::ShardGroup => "shard group not found",
            Kind::Label => "label not found",
            Kind::Secret => "secret not found",
            Kind::Variable => "variable not found",
            Kind::Telegraf => "telegraf configuration not found",
            Kind::Dashboard => "dashboard not found",
            Kind::Cell => "cell not found",
            Kind::View => "view not found",
            Kind::Task => "task not found",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.not_found_message())
    }
}

/// An error of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record does not exist. Display is InfluxDB's message, e.g. `organization not found`.
    #[error("{kind}")]
    NotFound {
        /// What was looked for.
        kind: Kind,
    },
    /// A record with the same unique name/key exists, or onboarding was already done
    /// (InfluxDB code `conflict`, HTTP 422).
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid (bad name, bad ID, password too short, ...): code `invalid`, 400.
    #[error("{0}")]
    Invalid(String),
    /// Wrong password or inactive user: code `unauthorized`, 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The store file is damaged or not an InfluxDB store (bad page, bad JSON, unknown migration).
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// Filesystem error.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite error.
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl Error {
    pub(crate) fn not_found(kind: Kind) -> Error {
        Error::NotFound { kind }
    }
    pub(crate) fn corrupt(msg: impl Into<String>) -> Error {
        Error::Corrupt(msg.into())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
