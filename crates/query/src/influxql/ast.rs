//! The InfluxQL syntax tree: statements, sources and expressions as the parser builds them.

use std::fmt;

/// One statement of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select(Box<Select>),
    ShowDatabases,
    ShowRetentionPolicies {
        database: Option<String>,
    },
    ShowMeasurements {
        database: Option<String>,
        with: Option<NameMatch>,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowTagKeys {
        database: Option<String>,
        from: Vec<Source>,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowTagValues {
        database: Option<String>,
        from: Vec<Source>,
        key: KeyMatch,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowFieldKeys {
        database: Option<String>,
        from: Vec<Source>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    ShowSeries {
        database: Option<String>,
        from: Vec<Source>,
        condition: Option<Expr>,
        limit: Option<u64>,
        offset: Option<u64>,
    },
    /// A statement InfluxQL has but ironflux does not run (`CREATE DATABASE`, `DROP ...`,
    /// `SHOW USERS`, ...): it parses, and its result carries an error naming it.
    Unsupported(String),
}

impl Statement {
    /// The database named by the statement itself (`ON db`, or the first `"db"."rp"."m"`
    /// source), if any.
    pub fn database(&self) -> Option<&str> {
        fn from_sources(from: &[Source]) -> Option<&str> {
            from.iter().find_map(|s| s.database.as_deref())
        }
        match self {
            Statement::Select(s) => from_sources(&s.from),
            Statement::ShowRetentionPolicies { database }
            | Statement::ShowMeasurements { database, .. } => database.as_deref(),
            Statement::ShowTagKeys { database, from, .. }
            | Statement::ShowTagValues { database, from, .. }
            | Statement::ShowFieldKeys { database, from, .. }
            | Statement::ShowSeries { database, from, .. } => {
                database.as_deref().or_else(|| from_sources(from))
            }
            Statement::ShowDatabases | Statement::Unsupported(_) => None,
        }
    }

    /// The retention policies named by the statement's sources.
    pub fn retention_policies(&self) -> Vec<&str> {
        let from = match self {
            Statement::Select(s) => &s.from[..],
            Statement::ShowTagKeys { from, .. }
            | Statement::ShowTagValues { from, .. }
            | Statement::ShowFieldKeys { from, .. }
            | Statement::ShowSeries { from, .. } => &from[..],
            _ => &[],
        };
        from.iter()
            .filter_map(|s| s.retention_policy.as_deref())
            .collect()
    }
}

/// A measurement name or a regex over names.
#[derive(Debug, Clone)]
pub enum NameMatch {
    Name(String),
    Regex(regex::Regex),
}

impl PartialEq for NameMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (NameMatch::Name(a), NameMatch::Name(b)) => a == b,
            (NameMatch::Regex(a), NameMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl NameMatch {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Name(n) => n == name,
            NameMatch::Regex(r) => r.is_match(name),
        }
    }
}

/// `WITH KEY ...` of `SHOW TAG VALUES`.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMatch {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    Regex(NameMatch),
    NotRegex(NameMatch),
}

impl KeyMatch {
    pub fn matches(&self, key: &str) -> bool {
        match self {
            KeyMatch::Eq(k) => k == key,
            KeyMatch::NotEq(k) => k != key,
            KeyMatch::In(keys) => keys.iter().any(|k| k == key),
            KeyMatch::Regex(m) => m.matches(key),
            KeyMatch::NotRegex(m) => !m.matches(key),
        }
    }
}

/// One source of a `FROM` clause: `[[db.]rp.]measurement` or a regex over measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub measurement: NameMatch,
}

/// A `SELECT` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub fields: Vec<Field>,
    pub from: Vec<Source>,
    pub condition: Option<Expr>,
    /// `GROUP BY time(interval, offset)` in ns.
    pub interval: Option<(i64, i64)>,
    pub group_tags: Vec<String>,
    /// `GROUP BY *`.
    pub group_all: bool,
    pub fill: Fill,
    pub descending: bool,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub slimit: Option<u64>,
    pub soffset: Option<u64>,
}

/// One projection of a `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// `fill(...)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    Null,
    None,
    Previous,
    Linear,
    Number(f64),
}

/// Binary operators, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Match,
    NotMatch,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl Op {
    pub fn precedence(self) -> u8 {
        match self {
            Op::Or => 1,
            Op::And => 2,
            Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::Match | Op::NotMatch => 4,
            Op::Add | Op::Sub => 5,
            Op::Mul | Op::Div | Op::Mod => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Or => "OR",
            Op::And => "AND",
            Op::Eq => "=",
            Op::Neq => "!=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Match => "=~",
            Op::NotMatch => "!~",
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Mod => "%",
        }
    }
}

/// An expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// An identifier (a field, a tag or `time`).
    Var(String),
    Wildcard,
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Str(String),
    Int(i64),
    Num(f64),
    /// A duration literal in ns.
    Duration(i64),
    Bool(bool),
    Regex(regex::Regex),
    Binary(Box<Expr>, Op, Box<Expr>),
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

fn quote_ident(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        write!(f, "{s}")
    } else {
        write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Var(v) => quote_ident(f, v),
            Expr::Wildcard => write!(f, "*"),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            Expr::Str(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Num(n) => write!(f, "{n:?}"),
            Expr::Duration(d) => write!(f, "{}", format_duration(*d)),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Regex(r) => write!(f, "/{}/", r.as_str().replace('/', "\\/")),
            Expr::Binary(l, op, r) => write!(f, "{l} {} {r}", op.as_str()),
        }
    }
}

/// A duration as InfluxQL writes it (largest exact unit).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    for (unit, n) in [
        ("w", 604_800_000_000_000i64),
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("u", 1_000),
    ] {
        if ns % n == 0 {
            return format!("{}{unit}", ns / n);
        }
    }
    format!("{ns}ns")
}
