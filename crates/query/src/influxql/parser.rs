//! The InfluxQL scanner and recursive-descent parser.
//!
//! The scanner works on demand because InfluxQL's `/` is a regex delimiter only where the
//! grammar expects a regex (after `=~`, in `FROM`, in `WITH MEASUREMENT`), a division elsewhere.
//! Keywords are case-insensitive; identifiers are bare (`[A-Za-z_][A-Za-z0-9_]*`, unicode letters
//! too) or double-quoted with `\"` and `\\` escapes; strings are single-quoted. Durations are an
//! integer with a unit (`ns u µ ms s m h d w`). Errors read as InfluxDB's:
//! `found X, expected Y at line L, char C` (1-based).

use super::ast::{Expr, Field, Fill, KeyMatch, NameMatch, Op, Select, Source, Statement};

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at line {line}, char {col}")]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare identifier or keyword.
    Ident(String),
    /// A double-quoted identifier (never a keyword).
    Quoted(String),
    Str(String),
    Int(i64),
    Num(f64),
    Duration(i64),
    /// An operator or punctuation.
    Punct(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => {
                if is_keyword(s) {
                    s.to_ascii_uppercase()
                } else {
                    s.clone()
                }
            }
            Tok::Quoted(s) => s.clone(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Int(i) => i.to_string(),
            Tok::Num(n) => n.to_string(),
            Tok::Duration(d) => super::ast::format_duration(*d),
            Tok::Punct(p) => (*p).to_string(),
            Tok::Eof => "EOF".into(),
        }
    }
}

const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CREATE",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "OR",
    "ON",
    "ORDER",
    "PASSWORD",
    "POLICIES",
    "POLICY",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "USER",
    "USERS",
    "VALUES",
    "WHERE",
    "WITH",
    "WRITE",
];

fn is_keyword(s: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

const STATEMENT_STARTS: &str =
    "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL";

/// Parses a query: statements separated by `;`.
pub fn parse_query(q: &str) -> Result<Vec<Statement>, ParseError> {
    let mut p = Parser::new(q);
    let mut out = Vec::new();
    loop {
        while p.eat_punct(";") {}
        if p.peek()?.0 == Tok::Eof {
            break;
        }
        out.push(p.statement()?);
        let (t, pos) = p.peek()?;
        match t {
            Tok::Eof => break,
            Tok::Punct(";") => {}
            other => return Err(p.err_at(pos, &other.describe(), ";")),
        }
    }
    Ok(out)
}

/// Parses one expression (for tests and tools).
pub fn parse_expr(s: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(s);
    let e = p.expr(0)?;
    let (t, pos) = p.peek()?;
    if t != Tok::Eof {
        return Err(p.err_at(pos, &t.describe(), "EOF"));
    }
    Ok(e)
}

struct Parser {
    src: Vec<char>,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Parser {
    fn new(s: &str) -> Parser {
        Parser {
            src: s.chars().collect(),
            pos: 0,
        }
    }

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let mut line = 1;
        let mut col = 1;
        for &c in self.src.iter().take(pos) {
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn err_msg(&self, pos: usize, message: String) -> ParseError {
        let (line, col) = self.line_col(pos);
        ParseError { message, line, col }
    }

    fn err_at(&self, pos: usize, found: &str, expected: &str) -> ParseError {
        self.err_msg(pos, format!("found {found}, expected {expected}"))
    }

    fn skip_space(&mut self) {
        loop {
            while self.pos < self.src.len() && self.src[self.pos].is_whitespace() {
                self.pos += 1;
            }
            let rest = &self.src[self.pos..];
            if rest.starts_with(&['-', '-']) {
                while self.pos < self.src.len() && self.src[self.pos] != '\n' {
                    self.pos += 1;
                }
            } else if rest.starts_with(&['/', '*']) {
                self.pos += 2;
                while self.pos < self.src.len() && !self.src[self.pos..].starts_with(&['*', '/']) {
                    self.pos += 1;
                }
                self.pos = (self.pos + 2).min(self.src.len());
            } else {
                return;
            }
        }
    }

    /// Scans the next token from `self.pos`; returns it with its start and end.
    fn scan(&mut self) -> Result<(Tok, usize, usize), ParseError> {
        self.skip_space();
        let start = self.pos;
        let Some(&c) = self.src.get(start) else {
            return Ok((Tok::Eof, start, start));
        };
        let at = |i: usize| self.src.get(i).copied();
        if is_ident_start(c) {
            let mut end = start;
            while at(end).is_some_and(is_ident_char) {
                end += 1;
            }
            let s: String = self.src[start..end].iter().collect();
            return Ok((Tok::Ident(s), start, end));
        }
        if c == '"' || c == '\'' {
            let mut out = String::new();
            let mut i = start + 1;
            loop {
                match at(i) {
                    None | Some('\n') => {
                        let what = if c == '"' { "identifier" } else { "string" };
                        return Err(self.err_msg(start, format!("unterminated quoted {what}")));
                    }
                    Some('\\') => {
                        match at(i + 1) {
                            Some('n') => out.push('\n'),
                            Some('\\') => out.push('\\'),
                            Some('"') => out.push('"'),
                            Some('\'') => out.push('\''),
                            Some(o) => {
                                return Err(self.err_msg(i, format!("bad escape sequence: \\{o}")));
                            }
                            None => {
                                return Err(self.err_msg(start, "unterminated string".into()));
                            }
                        }
                        i += 2;
                    }
                    Some(q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(o) => {
                        out.push(o);
                        i += 1;
                    }
                }
            }
            let tok = if c == '"' {
                Tok::Quoted(out)
            } else {
                Tok::Str(out)
            };
            return Ok((tok, start, i));
        }
        if c.is_ascii_digit() || (c == '.' && at(start + 1).is_some_and(|d| d.is_ascii_digit())) {
            let mut end = start;
            while at(end).is_some_and(|d| d.is_ascii_digit()) {
                end += 1;
            }
            let mut is_float = false;
            if at(end) == Some('.') && at(end + 1).is_some_and(|d| d.is_ascii_digit()) {
                is_float = true;
                end += 1;
                while at(end).is_some_and(|d| d.is_ascii_digit()) {
                    end += 1;
                }
            }
            let digits: String = self.src[start..end].iter().collect();
            if !is_float {
                // A duration: digits immediately followed by a unit.
                let mut uend = end;
                while at(uend).is_some_and(|d| d.is_alphabetic()) {
                    uend += 1;
                }
                if uend > end {
                    let unit: String = self.src[end..uend].iter().collect();
                    let mult: i64 = match unit.as_str() {
                        "ns" => 1,
                        "u" | "µ" => 1_000,
                        "ms" => 1_000_000,
                        "s" => 1_000_000_000,
                        "m" => 60_000_000_000,
                        "h" => 3_600_000_000_000,
                        "d" => 86_400_000_000_000,
                        "w" => 604_800_000_000_000,
                        _ => {
                            let text: String = self.src[start..uend].iter().collect();
                            return Err(self.err_msg(start, format!("invalid duration {text}")));
                        }
                    };
                    let n: i64 = digits
                        .parse()
                        .map_err(|_| self.err_msg(start, "duration out of range".into()))?;
                    let d = n
                        .checked_mul(mult)
                        .ok_or_else(|| self.err_msg(start, "overflowed duration".into()))?;
                    return Ok((Tok::Duration(d), start, uend));
                }
                if let Ok(i) = digits.parse::<i64>() {
                    return Ok((Tok::Int(i), start, end));
                }
                return Err(self.err_msg(start, format!("unable to parse integer {digits}")));
            }
            let n: f64 = digits
                .parse()
                .map_err(|_| self.err_msg(start, format!("unable to parse number {digits}")))?;
            return Ok((Tok::Num(n), start, end));
        }
        const PUNCT: &[&str] = &[
            "=~", "!~", "!=", "<>", "<=", ">=", "::", "=", "<", ">", "+", "-", "*", "/", "%", "(",
            ")", ",", ";", ".", ":", "|", "&", "^",
        ];
        for p in PUNCT {
            let pc: Vec<char> = p.chars().collect();
            if self.src[start..].starts_with(&pc) {
                let tok = if *p == "<>" { "!=" } else { p };
                return Ok((Tok::Punct(tok), start, start + pc.len()));
            }
        }
        Err(self.err_msg(start, format!("found {c}, expected a token")))
    }

    fn peek(&mut self) -> Result<(Tok, usize), ParseError> {
        let save = self.pos;
        let r = self.scan();
        self.pos = save;
        r.map(|(t, s, _)| (t, s))
    }

    fn next(&mut self) -> Result<(Tok, usize), ParseError> {
        let (t, s, e) = self.scan()?;
        self.pos = e;
        Ok((t, s))
    }

    fn peek_keyword(&mut self, kw: &str) -> bool {
        matches!(self.peek(), Ok((Tok::Ident(s), _)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek_keyword(kw) {
            let _ = self.next();
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Ident(s) if s.eq_ignore_ascii_case(kw) => Ok(()),
            other => Err(self.err_at(pos, &other.describe(), kw)),
        }
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Ok((Tok::Punct(q), _)) if q == p) {
            let _ = self.next();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: &str) -> Result<(), ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Punct(q) if q == p => Ok(()),
            other => Err(self.err_at(pos, &other.describe(), p)),
        }
    }

    /// An identifier (bare non-keyword or quoted).
    fn ident(&mut self) -> Result<String, ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Ident(s) if !is_keyword(&s) => Ok(s),
            Tok::Quoted(s) => Ok(s),
            other => Err(self.err_at(pos, &other.describe(), "identifier")),
        }
    }

    /// A regex literal `/.../` starting at the next token, if there is one.
    fn maybe_regex(&mut self) -> Result<Option<regex::Regex>, ParseError> {
        self.skip_space();
        if self.src.get(self.pos) != Some(&'/') {
            return Ok(None);
        }
        let start = self.pos;
        let mut i = start + 1;
        let mut pattern = String::new();
        loop {
            match self.src.get(i) {
                None | Some('\n') => {
                    return Err(self.err_msg(start, "unterminated regex".into()));
                }
                Some('\\') if self.src.get(i + 1) == Some(&'/') => {
                    pattern.push('/');
                    i += 2;
                }
                Some('\\') => {
                    pattern.push('\\');
                    if let Some(&n) = self.src.get(i + 1) {
                        pattern.push(n);
                    }
                    i += 2;
                }
                Some('/') => {
                    i += 1;
                    break;
                }
                Some(&c) => {
                    pattern.push(c);
                    i += 1;
                }
            }
        }
        let re = regex::Regex::new(&pattern)
            .map_err(|e| self.err_msg(start, format!("invalid regex /{pattern}/: {e}")))?;
        self.pos = i;
        Ok(Some(re))
    }

    fn uint(&mut self, what: &str) -> Result<u64, ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Int(i) if i >= 0 => Ok(i as u64),
            other => Err(self.err_at(pos, &other.describe(), what)),
        }
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let (t, pos) = self.peek()?;
        let word = match &t {
            Tok::Ident(s) => s.to_ascii_uppercase(),
            _ => String::new(),
        };
        match word.as_str() {
            "SELECT" => {
                self.next()?;
                self.select()
            }
            "SHOW" => {
                self.next()?;
                self.show()
            }
            "DELETE" | "CREATE" | "DROP" | "EXPLAIN" | "GRANT" | "REVOKE" | "ALTER" | "SET"
            | "KILL" => Ok(Statement::Unsupported(self.rest_of_statement())),
            _ => Err(self.err_at(pos, &t.describe(), STATEMENT_STARTS)),
        }
    }

    /// Skips to the end of the statement; returns its first words (for messages).
    fn rest_of_statement(&mut self) -> String {
        // The statement's name: its leading keywords, up to the first clause or argument.
        const CLAUSES: &[&str] = &["FROM", "ON", "WHERE", "WITH", "LIMIT", "OFFSET", "TO"];
        let mut words = Vec::new();
        let mut naming = true;
        while let Ok((t, _)) = self.peek() {
            match t {
                Tok::Eof | Tok::Punct(";") => break,
                Tok::Ident(s)
                    if naming
                        && is_keyword(&s)
                        && !CLAUSES.iter().any(|c| c.eq_ignore_ascii_case(&s)) =>
                {
                    words.push(s.to_ascii_uppercase());
                }
                _ => naming = false,
            }
            if self.next().is_err() {
                self.pos = self.src.len();
                break;
            }
        }
        words.join(" ")
    }

    /// Whether a keyword comes before the end of the statement (looking ahead only).
    fn statement_has_keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        let mut found = false;
        while let Ok((t, _)) = self.next() {
            match t {
                Tok::Eof | Tok::Punct(";") => break,
                Tok::Ident(w) if w.eq_ignore_ascii_case(kw) => {
                    found = true;
                    break;
                }
                _ => {}
            }
        }
        self.pos = save;
        found
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        let (t, pos) = self.next()?;
        let word = match &t {
            Tok::Ident(s) => s.to_ascii_uppercase(),
            _ => String::new(),
        };
        if self.statement_has_keyword("CARDINALITY") {
            let rest = self.rest_of_statement();
            return Ok(Statement::Unsupported(format!("SHOW {word} {rest}")));
        }
        match word.as_str() {
            "DATABASES" => Ok(Statement::ShowDatabases),
            "RETENTION" => {
                self.expect_keyword("POLICIES")?;
                let database = self.on_clause()?;
                Ok(Statement::ShowRetentionPolicies { database })
            }
            "MEASUREMENTS" => {
                let database = self.on_clause()?;
                let with = if self.eat_keyword("WITH") {
                    self.expect_keyword("MEASUREMENT")?;
                    let (t, pos) = self.next()?;
                    match t {
                        Tok::Punct("=") => Some(match self.maybe_regex()? {
                            Some(r) => NameMatch::Regex(r),
                            None => NameMatch::Name(self.ident()?),
                        }),
                        Tok::Punct("=~") => match self.maybe_regex()? {
                            Some(r) => Some(NameMatch::Regex(r)),
                            None => {
                                let (t, pos) = self.peek()?;
                                return Err(self.err_at(pos, &t.describe(), "regex"));
                            }
                        },
                        other => return Err(self.err_at(pos, &other.describe(), "=, =~")),
                    }
                } else {
                    None
                };
                let condition = self.where_clause()?;
                let (limit, offset) = self.limit_offset()?;
                Ok(Statement::ShowMeasurements {
                    database,
                    with,
                    condition,
                    limit,
                    offset,
                })
            }
            "TAG" => {
                let (t, pos) = self.next()?;
                match t {
                    Tok::Ident(s) if s.eq_ignore_ascii_case("KEYS") => {
                        let database = self.on_clause()?;
                        let from = self.sources_clause(false)?;
                        let condition = self.where_clause()?;
                        let (limit, offset) = self.limit_offset()?;
                        Ok(Statement::ShowTagKeys {
                            database,
                            from,
                            condition,
                            limit,
                            offset,
                        })
                    }
                    Tok::Ident(s) if s.eq_ignore_ascii_case("VALUES") => {
                        let database = self.on_clause()?;
                        let from = self.sources_clause(false)?;
                        self.expect_keyword("WITH")?;
                        self.expect_keyword("KEY")?;
                        let key = self.key_match()?;
                        let condition = self.where_clause()?;
                        let (limit, offset) = self.limit_offset()?;
                        Ok(Statement::ShowTagValues {
                            database,
                            from,
                            key,
                            condition,
                            limit,
                            offset,
                        })
                    }
                    other => Err(self.err_at(pos, &other.describe(), "KEYS, VALUES")),
                }
            }
            "FIELD" => {
                self.expect_keyword("KEYS")?;
                let database = self.on_clause()?;
                let from = self.sources_clause(false)?;
                let (limit, offset) = self.limit_offset()?;
                Ok(Statement::ShowFieldKeys {
                    database,
                    from,
                    limit,
                    offset,
                })
            }
            "SERIES" => {
                let database = self.on_clause()?;
                let from = self.sources_clause(false)?;
                let condition = self.where_clause()?;
                let (limit, offset) = self.limit_offset()?;
                Ok(Statement::ShowSeries {
                    database,
                    from,
                    condition,
                    limit,
                    offset,
                })
            }
            "CONTINUOUS" | "DIAGNOSTICS" | "GRANTS" | "QUERIES" | "SHARD" | "SHARDS" | "STATS"
            | "SUBSCRIPTIONS" | "USERS" => {
                let rest = self.rest_of_statement();
                Ok(Statement::Unsupported(
                    format!("SHOW {word} {rest}").trim().to_string(),
                ))
            }
            _ => Err(self.err_at(
                pos,
                &t.describe(),
                "CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS",
            )),
        }
    }

    fn key_match(&mut self) -> Result<KeyMatch, ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Punct("=") => Ok(KeyMatch::Eq(self.ident()?)),
            Tok::Punct("!=") => Ok(KeyMatch::NotEq(self.ident()?)),
            Tok::Punct(op @ ("=~" | "!~")) => {
                let Some(r) = self.maybe_regex()? else {
                    let (t, pos) = self.peek()?;
                    return Err(self.err_at(pos, &t.describe(), "regex"));
                };
                Ok(if op == "=~" {
                    KeyMatch::Regex(NameMatch::Regex(r))
                } else {
                    KeyMatch::NotRegex(NameMatch::Regex(r))
                })
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("IN") => {
                self.expect_punct("(")?;
                let mut keys = vec![self.ident()?];
                while self.eat_punct(",") {
                    keys.push(self.ident()?);
                }
                self.expect_punct(")")?;
                Ok(KeyMatch::In(keys))
            }
            other => Err(self.err_at(pos, &other.describe(), "=, !=, =~, !~, IN")),
        }
    }

    fn on_clause(&mut self) -> Result<Option<String>, ParseError> {
        if self.eat_keyword("ON") {
            Ok(Some(self.ident()?))
        } else {
            Ok(None)
        }
    }

    fn where_clause(&mut self) -> Result<Option<Expr>, ParseError> {
        if self.eat_keyword("WHERE") {
            Ok(Some(self.expr(0)?))
        } else {
            Ok(None)
        }
    }

    fn limit_offset(&mut self) -> Result<(Option<u64>, Option<u64>), ParseError> {
        let limit = if self.eat_keyword("LIMIT") {
            Some(self.uint("integer")?)
        } else {
            None
        };
        let offset = if self.eat_keyword("OFFSET") {
            Some(self.uint("integer")?)
        } else {
            None
        };
        Ok((limit, offset))
    }

    /// `FROM a, /re/, "db"."rp"."m"`; required for SELECT, optional for SHOW.
    fn sources_clause(&mut self, required: bool) -> Result<Vec<Source>, ParseError> {
        if !self.eat_keyword("FROM") {
            if required {
                let (t, pos) = self.peek()?;
                return Err(self.err_at(pos, &t.describe(), "FROM"));
            }
            return Ok(Vec::new());
        }
        let mut out = vec![self.source()?];
        while self.eat_punct(",") {
            out.push(self.source()?);
        }
        Ok(out)
    }

    fn source(&mut self) -> Result<Source, ParseError> {
        if let (Tok::Punct("("), pos) = self.peek()? {
            return Err(self.err_msg(pos, "subqueries are not supported".into()));
        }
        if let Some(r) = self.maybe_regex()? {
            return Ok(Source {
                database: None,
                retention_policy: None,
                measurement: NameMatch::Regex(r),
            });
        }
        // Up to three dot-separated segments; an empty middle one (`db..m`) is the default rp.
        let mut segments: Vec<Option<String>> = Vec::new();
        let mut last_regex = None;
        loop {
            if let Some(r) = self.maybe_regex()? {
                last_regex = Some(r);
                break;
            }
            if matches!(self.peek()?.0, Tok::Punct(".")) {
                segments.push(None);
            } else {
                segments.push(Some(self.ident()?));
            }
            if !self.eat_punct(".") {
                break;
            }
            if segments.len() == 3 {
                let (t, pos) = self.peek()?;
                return Err(self.err_at(pos, &t.describe(), "identifier"));
            }
        }
        let measurement = match last_regex {
            Some(r) => NameMatch::Regex(r),
            None => match segments.pop().flatten() {
                Some(m) => NameMatch::Name(m),
                None => {
                    let (t, pos) = self.peek()?;
                    return Err(self.err_at(pos, &t.describe(), "identifier"));
                }
            },
        };
        let (database, retention_policy) = match segments.len() {
            0 => (None, None),
            1 => (None, segments.pop().flatten()),
            _ => {
                let rp = segments.pop().flatten();
                (segments.pop().flatten(), rp)
            }
        };
        Ok(Source {
            database,
            retention_policy,
            measurement,
        })
    }

    fn select(&mut self) -> Result<Statement, ParseError> {
        let mut fields = vec![self.field()?];
        while self.eat_punct(",") {
            fields.push(self.field()?);
        }
        // `INTO` parses (its target is a source) and the statement answers "not implemented".
        let into = self.eat_keyword("INTO");
        if into {
            self.source()?;
        }
        let from = self.sources_clause(true)?;
        let condition = self.where_clause()?;
        let mut s = Select {
            fields,
            from,
            condition,
            interval: None,
            group_tags: Vec::new(),
            group_all: false,
            fill: Fill::Null,
            descending: false,
            limit: None,
            offset: None,
            slimit: None,
            soffset: None,
        };
        if self.eat_keyword("GROUP") {
            self.expect_keyword("BY")?;
            loop {
                self.group_by_item(&mut s)?;
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        if self.peek_keyword("fill") {
            self.next()?;
            s.fill = self.fill()?;
        }
        if self.eat_keyword("ORDER") {
            self.expect_keyword("BY")?;
            let field = self.ident_or_keyword()?;
            if !field.0.eq_ignore_ascii_case("time") {
                return Err(
                    self.err_msg(field.1, "only ORDER BY time supported at this time".into())
                );
            }
            if self.eat_keyword("DESC") {
                s.descending = true;
            } else {
                self.eat_keyword("ASC");
            }
        }
        if self.eat_keyword("LIMIT") {
            s.limit = Some(self.uint("integer")?);
        }
        if self.eat_keyword("OFFSET") {
            s.offset = Some(self.uint("integer")?);
        }
        if self.eat_keyword("SLIMIT") {
            s.slimit = Some(self.uint("integer")?);
        }
        if self.eat_keyword("SOFFSET") {
            s.soffset = Some(self.uint("integer")?);
        }
        if self.peek_keyword("tz") {
            self.next()?;
            self.expect_punct("(")?;
            let (t, pos) = self.next()?;
            match t {
                Tok::Str(z) if z == "UTC" || z == "Etc/UTC" => {}
                Tok::Str(z) => {
                    return Err(self.err_msg(
                        pos,
                        format!("unable to find time zone {z}: only tz('UTC') is supported"),
                    ));
                }
                other => return Err(self.err_at(pos, &other.describe(), "string")),
            }
            self.expect_punct(")")?;
        }
        if into {
            return Ok(Statement::Unsupported("SELECT INTO".into()));
        }
        Ok(Statement::Select(Box::new(s)))
    }

    fn ident_or_keyword(&mut self) -> Result<(String, usize), ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Ident(s) | Tok::Quoted(s) => Ok((s, pos)),
            other => Err(self.err_at(pos, &other.describe(), "identifier")),
        }
    }

    fn group_by_item(&mut self, s: &mut Select) -> Result<(), ParseError> {
        if self.eat_punct("*") {
            s.group_all = true;
            return Ok(());
        }
        if self.maybe_regex()?.is_some() {
            let pos = self.pos;
            return Err(self.err_msg(pos, "GROUP BY /regex/ is not supported".into()));
        }
        let (t, pos) = self.peek()?;
        if let Tok::Ident(w) = &t
            && w.eq_ignore_ascii_case("time")
        {
            self.next()?;
            if !self.eat_punct("(") {
                // A tag literally named time is not allowed.
                return Err(self.err_at(self.pos, "time", "("));
            }
            let (t, dpos) = self.next()?;
            let Tok::Duration(every) = t else {
                return Err(self.err_msg(dpos, "time dimension must have duration argument".into()));
            };
            if every <= 0 {
                return Err(
                    self.err_msg(dpos, "time dimension must have a positive duration".into())
                );
            }
            let mut offset = 0;
            if self.eat_punct(",") {
                let neg = self.eat_punct("-");
                let (t, opos) = self.next()?;
                offset = match t {
                    Tok::Duration(d) => {
                        if neg {
                            -d
                        } else {
                            d
                        }
                    }
                    Tok::Ident(w) if w.eq_ignore_ascii_case("now") => {
                        return Err(
                            self.err_msg(opos, "GROUP BY time(..., now()) is not supported".into())
                        );
                    }
                    other => return Err(self.err_at(opos, &other.describe(), "duration")),
                };
            }
            self.expect_punct(")")?;
            if s.interval.is_some() {
                return Err(self.err_msg(pos, "multiple time dimensions not allowed".into()));
            }
            s.interval = Some((every, offset.rem_euclid(every)));
            return Ok(());
        }
        let tag = self.ident()?;
        // `"host"::tag`, as Grafana writes it.
        match self.var_tail(tag)? {
            Expr::Var(tag) => s.group_tags.push(tag),
            other => return Err(self.err_msg(pos, format!("invalid GROUP BY {other}"))),
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<Fill, ParseError> {
        self.expect_punct("(")?;
        let (t, pos) = self.next()?;
        let neg = matches!(t, Tok::Punct("-"));
        let (t, pos) = if neg { self.next()? } else { (t, pos) };
        let sign = if neg { -1.0 } else { 1.0 };
        let fill = match t {
            Tok::Ident(w) if !neg && w.eq_ignore_ascii_case("null") => Fill::Null,
            Tok::Ident(w) if !neg && w.eq_ignore_ascii_case("none") => Fill::None,
            Tok::Ident(w) if !neg && w.eq_ignore_ascii_case("previous") => Fill::Previous,
            Tok::Ident(w) if !neg && w.eq_ignore_ascii_case("linear") => Fill::Linear,
            Tok::Int(i) => Fill::Number(sign * i as f64),
            Tok::Num(n) => Fill::Number(sign * n),
            other => {
                return Err(self.err_msg(
                    pos,
                    format!(
                        "fill must be a function call: found {}, expected null, none, previous, linear or a number",
                        other.describe()
                    ),
                ));
            }
        };
        self.expect_punct(")")?;
        Ok(fill)
    }

    fn field(&mut self) -> Result<Field, ParseError> {
        let expr = self.expr(0)?;
        let alias = if self.eat_keyword("AS") {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(Field { expr, alias })
    }

    /// Precedence climbing: `min` is the loosest operator precedence accepted.
    fn expr(&mut self, min: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let (t, _) = self.peek()?;
            let op = match t {
                Tok::Ident(w) if w.eq_ignore_ascii_case("AND") => Op::And,
                Tok::Ident(w) if w.eq_ignore_ascii_case("OR") => Op::Or,
                Tok::Punct("=") => Op::Eq,
                Tok::Punct("!=") => Op::Neq,
                Tok::Punct("<") => Op::Lt,
                Tok::Punct("<=") => Op::Lte,
                Tok::Punct(">") => Op::Gt,
                Tok::Punct(">=") => Op::Gte,
                Tok::Punct("=~") => Op::Match,
                Tok::Punct("!~") => Op::NotMatch,
                Tok::Punct("+") => Op::Add,
                Tok::Punct("-") => Op::Sub,
                Tok::Punct("*") => Op::Mul,
                Tok::Punct("/") => Op::Div,
                Tok::Punct("%") => Op::Mod,
                _ => break,
            };
            if op.precedence() <= min {
                break;
            }
            self.next()?;
            let rhs = if matches!(op, Op::Match | Op::NotMatch) {
                match self.maybe_regex()? {
                    Some(r) => Expr::Regex(r),
                    None => {
                        let (t, pos) = self.peek()?;
                        return Err(self.err_at(pos, &t.describe(), "regex"));
                    }
                }
            } else {
                if matches!(op, Op::Eq | Op::Neq)
                    && let Some(r) = self.maybe_regex()?
                {
                    lhs = Expr::Binary(Box::new(lhs), op, Box::new(Expr::Regex(r)));
                    continue;
                }
                self.expr(op.precedence())?
            };
            lhs = Expr::Binary(Box::new(lhs), op, Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let (t, pos) = self.next()?;
        match t {
            Tok::Punct("(") => {
                let e = self.expr(0)?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Tok::Punct("*") => Ok(Expr::Wildcard),
            Tok::Punct("-") => {
                let (t, npos) = self.next()?;
                match t {
                    Tok::Int(i) => Ok(Expr::Int(-i)),
                    Tok::Num(n) => Ok(Expr::Num(-n)),
                    Tok::Duration(d) => Ok(Expr::Duration(-d)),
                    other => Err(self.err_at(npos, &other.describe(), "number, duration")),
                }
            }
            Tok::Int(i) => Ok(Expr::Int(i)),
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Duration(d) => Ok(Expr::Duration(d)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Quoted(s) => self.var_tail(s),
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => Ok(Expr::Bool(true)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => Ok(Expr::Bool(false)),
            Tok::Ident(w)
                if w.eq_ignore_ascii_case("DISTINCT")
                    && !matches!(self.peek()?.0, Tok::Punct("(")) =>
            {
                // `DISTINCT field` is `distinct(field)`.
                let (inner, _) = self.ident_or_keyword()?;
                Ok(Expr::Call {
                    name: "distinct".into(),
                    args: vec![Expr::Var(inner)],
                })
            }
            Tok::Ident(w) if !is_keyword(&w) || w.eq_ignore_ascii_case("DISTINCT") => {
                if self.eat_punct("(") {
                    let mut args = Vec::new();
                    if !self.eat_punct(")") {
                        loop {
                            if let Some(r) = self.maybe_regex()? {
                                args.push(Expr::Regex(r));
                            } else {
                                args.push(self.expr(0)?);
                            }
                            if self.eat_punct(")") {
                                break;
                            }
                            self.expect_punct(",")?;
                        }
                    }
                    return Ok(Expr::Call {
                        name: w.to_ascii_lowercase(),
                        args,
                    });
                }
                self.var_tail(w)
            }
            Tok::Punct("/") => Err(self.err_msg(pos, "unexpected regex".into())),
            other => Err(self.err_at(pos, &other.describe(), "identifier, string, number, bool")),
        }
    }

    /// An identifier with an optional `::type` cast (the cast is accepted and ignored).
    fn var_tail(&mut self, name: String) -> Result<Expr, ParseError> {
        if self.eat_punct("::") {
            let (t, pos) = self.next()?;
            match t {
                Tok::Ident(w)
                    if [
                        "float", "integer", "unsigned", "string", "boolean", "field", "tag",
                    ]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(&w)) => {}
                other => {
                    return Err(self.err_at(
                        pos,
                        &other.describe(),
                        "float, integer, unsigned, string, boolean, field, tag",
                    ));
                }
            }
        }
        Ok(Expr::Var(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(q: &str) -> Statement {
        let mut v = parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(v.len(), 1, "{q}");
        v.remove(0)
    }

    fn select(q: &str) -> Select {
        match one(q) {
            Statement::Select(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    fn err(q: &str) -> String {
        parse_query(q)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn precedence_and_associativity() {
        let e = parse_expr("a = 1 OR b = 2 AND c = 3").ok();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("a = 1 OR b = 2 AND c = 3".into())
        );
        // AND binds tighter: the OR is the root.
        match parse_expr("a = 1 OR b = 2 AND c = 3") {
            Ok(Expr::Binary(_, Op::Or, r)) => {
                assert!(matches!(*r, Expr::Binary(_, Op::And, _)));
            }
            other => panic!("{other:?}"),
        }
        // Parentheses override it.
        match parse_expr("(a = 1 OR b = 2) AND c = 3") {
            Ok(Expr::Binary(l, Op::And, _)) => {
                assert!(matches!(*l, Expr::Binary(_, Op::Or, _)));
            }
            other => panic!("{other:?}"),
        }
        // Arithmetic is left-associative and tighter than comparison.
        match parse_expr("time > now() - 1h - 30m") {
            Ok(Expr::Binary(l, Op::Gt, r)) => {
                assert!(matches!(*l, Expr::Var(ref v) if v == "time"));
                match *r {
                    Expr::Binary(inner, Op::Sub, d) => {
                        assert!(matches!(*d, Expr::Duration(1_800_000_000_000)));
                        assert!(matches!(*inner, Expr::Binary(_, Op::Sub, _)));
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations() {
        for (text, ns) in [
            ("1ns", 1),
            ("5u", 5_000),
            ("5µ", 5_000),
            ("3ms", 3_000_000),
            ("10s", 10_000_000_000),
            ("2m", 120_000_000_000),
            ("1h", 3_600_000_000_000),
            ("1d", 86_400_000_000_000),
            ("2w", 1_209_600_000_000_000),
        ] {
            assert!(
                matches!(parse_expr(text), Ok(Expr::Duration(d)) if d == ns),
                "{text}"
            );
        }
        assert_eq!(
            err("SELECT mean(v) FROM m GROUP BY time(5x)"),
            "invalid duration 5x at line 1, char 37"
        );
        let s = select("SELECT mean(v) FROM m GROUP BY time(1h, 15m), host fill(linear)");
        assert_eq!(s.interval, Some((3_600_000_000_000, 900_000_000_000)));
        assert_eq!(s.group_tags, vec!["host".to_string()]);
        assert_eq!(s.fill, Fill::Linear);
        // A negative offset is taken modulo the interval.
        let s = select("SELECT mean(v) FROM m GROUP BY time(1h, -15m)");
        assert_eq!(s.interval, Some((3_600_000_000_000, 2_700_000_000_000)));
    }

    #[test]
    fn regexes_and_quoted_identifiers() {
        let s = select(
            r#"SELECT "my field", "a" FROM "db"."rp"."my m", /^cpu\/.*/ WHERE host =~ /^a\/b$/ AND "tag key" !~ /x/"#,
        );
        assert_eq!(s.fields.len(), 2);
        assert_eq!(s.fields[0].expr, Expr::Var("my field".into()));
        assert_eq!(s.fields[1].expr, Expr::Var("a".into()));
        assert_eq!(s.from[0].database.as_deref(), Some("db"));
        assert_eq!(s.from[0].retention_policy.as_deref(), Some("rp"));
        assert_eq!(s.from[0].measurement, NameMatch::Name("my m".into()));
        match &s.from[1].measurement {
            NameMatch::Regex(r) => {
                assert!(r.is_match("cpu/x"));
                assert!(!r.is_match("mem"));
            }
            other => panic!("{other:?}"),
        }
        let cond = s.condition.map(|c| c.to_string());
        assert_eq!(
            cond.as_deref(),
            Some(r#"host =~ /^a\/b$/ AND "tag key" !~ /x/"#)
        );
        // `db..m` is the default retention policy.
        let s = select("SELECT v FROM db..m");
        assert_eq!(s.from[0].database.as_deref(), Some("db"));
        assert_eq!(s.from[0].retention_policy, None);
        // Escapes in identifiers and strings.
        let s = select(r#"SELECT "we\"ird" FROM m WHERE t = 'it\'s'"#);
        assert_eq!(s.fields[0].expr, Expr::Var("we\"ird".into()));
        assert_eq!(
            s.condition.map(|c| c.to_string()).as_deref(),
            Some(r"t = 'it\'s'")
        );
    }

    #[test]
    fn select_clauses() {
        let s = select(
            "select MEAN(v) as m, percentile(v, 95) from cpu where time >= '2024-01-01T00:00:00Z' group by * fill(-1.5) order by time desc limit 10 offset 2 slimit 3 soffset 1 tz('UTC')",
        );
        assert_eq!(s.fields[0].alias.as_deref(), Some("m"));
        assert_eq!(
            s.fields[1].expr.to_string(),
            "percentile(v, 95)".to_string()
        );
        assert!(s.group_all);
        assert_eq!(s.fill, Fill::Number(-1.5));
        assert!(s.descending);
        assert_eq!(
            (s.limit, s.offset, s.slimit, s.soffset),
            (Some(10), Some(2), Some(3), Some(1))
        );
        let s = select("SELECT DISTINCT v FROM m");
        assert_eq!(s.fields[0].expr.to_string(), "distinct(v)");
        let s = select("SELECT v::float, host::tag FROM m");
        assert_eq!(s.fields[1].expr, Expr::Var("host".into()));
        // As Grafana writes them.
        let s = select(
            r#"SELECT mean("value"::field) FROM "autogen"."cpu" WHERE ("host"::tag =~ /^a$/) and time >= 1704067200000ms and time <= 1704153599999ms GROUP BY time(10s), "host"::tag fill(null)"#,
        );
        assert_eq!(s.group_tags, vec!["host".to_string()]);
        assert_eq!(s.from[0].retention_policy.as_deref(), Some("autogen"));
        assert_eq!(
            s.condition.map(|c| c.to_string()).as_deref(),
            Some("host =~ /^a$/ AND time >= 19723d AND time <= 1704153599999ms")
        );
    }

    #[test]
    fn show_statements_and_lists() {
        let v = parse_query(
            "SHOW DATABASES; show retention policies on db; SHOW MEASUREMENTS WITH MEASUREMENT =~ /c.*/ WHERE host = 'a' LIMIT 5; SHOW TAG KEYS FROM cpu; SHOW TAG VALUES FROM cpu WITH KEY IN (\"host\", region); SHOW FIELD KEYS ON db FROM cpu; SHOW SERIES FROM cpu WHERE host = 'a';",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.len(), 7);
        assert_eq!(v[0], Statement::ShowDatabases);
        assert_eq!(
            v[1],
            Statement::ShowRetentionPolicies {
                database: Some("db".into())
            }
        );
        assert!(matches!(
            &v[2],
            Statement::ShowMeasurements {
                limit: Some(5),
                with: Some(NameMatch::Regex(_)),
                condition: Some(_),
                ..
            }
        ));
        assert!(
            matches!(&v[4], Statement::ShowTagValues { key: KeyMatch::In(k), .. } if k == &["host", "region"])
        );
        assert_eq!(v[5].database(), Some("db"));
        assert!(matches!(
            one("DROP MEASUREMENT cpu"),
            Statement::Unsupported(ref s) if s == "DROP MEASUREMENT"
        ));
        assert!(matches!(
            one("SELECT v INTO other FROM m WHERE time > now() - 1h GROUP BY time(1m)"),
            Statement::Unsupported(ref s) if s == "SELECT INTO"
        ));
        assert!(matches!(
            one("SHOW SERIES CARDINALITY FROM cpu"),
            Statement::Unsupported(ref s) if s == "SHOW SERIES CARDINALITY"
        ));
        assert!(matches!(
            one("SHOW MEASUREMENT EXACT CARDINALITY"),
            Statement::Unsupported(ref s) if s == "SHOW MEASUREMENT EXACT CARDINALITY"
        ));
        assert!(matches!(
            one("SHOW USERS"),
            Statement::Unsupported(ref s) if s == "SHOW USERS"
        ));
    }

    #[test]
    fn errors_name_the_token_and_position() {
        assert_eq!(
            err("SELEC * FROM m"),
            format!("found SELEC, expected {STATEMENT_STARTS} at line 1, char 1")
        );
        assert_eq!(
            err("SELECT * FROM"),
            "found EOF, expected identifier at line 1, char 14"
        );
        assert_eq!(
            err("SELECT v FROM m WHERE"),
            "found EOF, expected identifier, string, number, bool at line 1, char 22"
        );
        assert_eq!(
            err("SELECT v\nFROM m LIMIT x"),
            "found x, expected integer at line 2, char 14"
        );
        assert_eq!(
            err("SELECT v FROM m WHERE a = 'x"),
            "unterminated quoted string at line 1, char 27"
        );
        assert_eq!(
            err("SELECT v FROM m WHERE a =~ 'x'"),
            "found 'x', expected regex at line 1, char 28"
        );
        assert_eq!(
            err("SELECT v FROM m tz('Europe/Paris')"),
            "unable to find time zone Europe/Paris: only tz('UTC') is supported at line 1, char 20"
        );
        assert_eq!(
            err("SELECT v FROM m ORDER BY v"),
            "only ORDER BY time supported at this time at line 1, char 26"
        );
        assert_eq!(
            err("SELECT v FROM m; x"),
            format!("found x, expected {STATEMENT_STARTS} at line 1, char 18")
        );
        assert_eq!(
            err("SELECT mean(v) FROM (SELECT v FROM m)"),
            "subqueries are not supported at line 1, char 21"
        );
        assert_eq!(
            err("SELECT v FROM m GROUP BY time(1h) fill(sideways)"),
            "fill must be a function call: found sideways, expected null, none, previous, linear or a number at line 1, char 40"
        );
    }
}
