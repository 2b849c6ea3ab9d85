//! Flux lexer: turns source text into [`Token`]s with positions.
//!
//! Follows the token rules of the Flux SPEC: identifiers, keywords (kept as identifiers and
//! recognised by the parser), integer and float literals, duration literals made of several
//! magnitude/unit pairs (`1h30m`, units `ns us µs ms s m h d w mo y`), RFC3339 date and time
//! literals (`2020-01-01`, `2020-01-01T10:00:00.5+02:00`), string literals with escapes and
//! `${expr}` interpolation (the inner source is kept and parsed by the parser), regex literals
//! `/.../` and operators. `/` is a regex when an operand is expected (after an operator, an
//! opening bracket, a comma, a colon or at the start) and division otherwise, which is how the
//! reference implementation decides too. `//` starts a comment that runs to the end of the line.

use super::ast::{DurationUnit, Position, Span};
use crate::time::parse_rfc3339;

#[derive(Debug, Clone, PartialEq)]
pub enum RawStringPart {
    Text(String),
    /// The source of an interpolated expression and where it starts.
    Interp(String, Position),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Duration(Vec<(i64, DurationUnit)>),
    Time(i64),
    Str(Vec<RawStringPart>),
    Regex(String),
    /// An operator or punctuation, e.g. `|>`, `=>`, `(`.
    Punct(&'static str),
    Eof,
}

impl Tok {
    /// Human description used in syntax errors.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s}"),
            Tok::Int(i) => format!("integer {i}"),
            Tok::Float(f) => format!("float {f}"),
            Tok::Duration(_) => "duration literal".into(),
            Tok::Time(_) => "time literal".into(),
            Tok::Str(_) => "string literal".into(),
            Tok::Regex(_) => "regex literal".into(),
            Tok::Punct(p) => format!("\"{p}\""),
            Tok::Eof => "end of input".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// A lexical error: what went wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("error @{span}: {message}")]
pub struct LexError {
    pub span: Span,
    pub message: String,
}

const PUNCTS: &[&str] = &[
    "|>", "=>", "<-", "==", "!=", "<=", ">=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">",
    "=", "(", ")", "[", "]", "{", "}", ",", ":", ".", "?",
];

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
    _src: &'a str,
}

/// Lexes `src`, whose first character sits at `start`.
pub fn tokenize(src: &str, start: Position) -> Result<Vec<Token>, LexError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: start.line,
        col: start.column,
        _src: src,
    };
    let mut out: Vec<Token> = Vec::new();
    loop {
        lx.skip_space_and_comments();
        let begin = lx.here();
        let Some(c) = lx.peek(0) else {
            out.push(Token {
                tok: Tok::Eof,
                span: Span {
                    start: begin,
                    end: begin,
                },
            });
            return Ok(out);
        };
        let operand_expected = match out.last().map(|t| &t.tok) {
            None => true,
            Some(Tok::Punct(p)) => !matches!(*p, ")" | "]" | "}"),
            Some(Tok::Ident(s)) => matches!(
                s.as_str(),
                "and" | "or" | "not" | "exists" | "return" | "if" | "then" | "else"
            ),
            Some(_) => false,
        };
        let tok = if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(c) = lx.peek(0) {
                if c.is_alphanumeric() || c == '_' {
                    s.push(c);
                    lx.bump();
                } else {
                    break;
                }
            }
            Tok::Ident(s)
        } else if c.is_ascii_digit() {
            lx.number(begin)?
        } else if c == '"' {
            lx.string(begin)?
        } else if c == '/' && operand_expected {
            lx.regex(begin)?
        } else {
            let mut found = None;
            for p in PUNCTS {
                if p.chars().enumerate().all(|(i, pc)| lx.peek(i) == Some(pc)) {
                    found = Some(*p);
                    break;
                }
            }
            match found {
                Some(p) => {
                    for _ in 0..p.chars().count() {
                        lx.bump();
                    }
                    Tok::Punct(p)
                }
                None => {
                    lx.bump();
                    return Err(LexError {
                        span: Span {
                            start: begin,
                            end: lx.here(),
                        },
                        message: format!("invalid character {c:?}"),
                    });
                }
            }
        };
        out.push(Token {
            tok,
            span: Span {
                start: begin,
                end: lx.here(),
            },
        });
    }
}

impl Lexer<'_> {
    fn peek(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn here(&self) -> Position {
        Position {
            line: self.line,
            column: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, begin: Position, message: impl Into<String>) -> LexError {
        LexError {
            span: Span {
                start: begin,
                end: self.here(),
            },
            message: message.into(),
        }
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match self.peek(0) {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek(1) == Some('/') => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn digits(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    fn looks_like_date(&self) -> bool {
        (0..4).all(|i| self.peek(i).is_some_and(|c| c.is_ascii_digit()))
            && self.peek(4) == Some('-')
            && (5..7).all(|i| self.peek(i).is_some_and(|c| c.is_ascii_digit()))
            && self.peek(7) == Some('-')
    }

    fn number(&mut self, begin: Position) -> Result<Tok, LexError> {
        if self.looks_like_date() {
            let mut s = String::new();
            while let Some(c) = self.peek(0) {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+') {
                    s.push(c);
                    self.bump();
                } else {
                    break;
                }
            }
            let full = if s.len() == 10 {
                format!("{s}T00:00:00Z")
            } else {
                s.clone()
            };
            return parse_rfc3339(&full)
                .map(Tok::Time)
                .ok_or_else(|| self.err(begin, format!("invalid time literal {s:?}")));
        }
        let int = self.digits();
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            let frac = self.digits();
            let text = format!("{int}.{frac}");
            return text
                .parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| self.err(begin, format!("invalid float literal {text}")));
        }
        if self.peek(0).is_some_and(|c| c.is_alphabetic()) {
            let mut parts = Vec::new();
            let mut mag = int;
            loop {
                let mut unit = String::new();
                while let Some(c) = self.peek(0) {
                    if c.is_alphabetic() {
                        unit.push(c);
                        self.bump();
                    } else {
                        break;
                    }
                }
                let u = DurationUnit::parse(&unit)
                    .ok_or_else(|| self.err(begin, format!("invalid duration unit {unit:?}")))?;
                let m = mag
                    .parse::<i64>()
                    .map_err(|_| self.err(begin, "duration magnitude out of range"))?;
                parts.push((m, u));
                if self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    mag = self.digits();
                    if !self.peek(0).is_some_and(|c| c.is_alphabetic()) {
                        return Err(self.err(begin, "duration literal missing a unit"));
                    }
                } else {
                    break;
                }
            }
            return Ok(Tok::Duration(parts));
        }
        int.parse::<i64>()
            .map(Tok::Int)
            .map_err(|_| self.err(begin, format!("integer literal {int} out of range")))
    }

    fn string(&mut self, begin: Position) -> Result<Tok, LexError> {
        self.bump(); // opening quote
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(begin, "unterminated string literal"));
            };
            match c {
                '"' => break,
                '\\' => {
                    let Some(e) = self.bump() else {
                        return Err(self.err(begin, "unterminated string literal"));
                    };
                    match e {
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        '\\' => text.push('\\'),
                        '"' => text.push('"'),
                        '$' => text.push('$'),
                        'x' => {
                            // \xNN byte escapes: collect consecutive ones and decode as UTF-8.
                            let mut bytes = Vec::new();
                            let mut first = true;
                            loop {
                                if !first {
                                    if self.peek(0) == Some('\\') && self.peek(1) == Some('x') {
                                        self.bump();
                                        self.bump();
                                    } else {
                                        break;
                                    }
                                }
                                first = false;
                                let h: String = (0..2).filter_map(|_| self.bump()).collect();
                                let b = u8::from_str_radix(&h, 16).map_err(|_| {
                                    self.err(begin, format!("invalid byte escape \\x{h}"))
                                })?;
                                bytes.push(b);
                            }
                            let s = String::from_utf8(bytes)
                                .map_err(|_| self.err(begin, "byte escapes are not UTF-8"))?;
                            text.push_str(&s);
                        }
                        other => {
                            return Err(
                                self.err(begin, format!("invalid escape sequence \\{other}"))
                            );
                        }
                    }
                }
                '$' if self.peek(0) == Some('{') => {
                    self.bump();
                    if !text.is_empty() {
                        parts.push(RawStringPart::Text(std::mem::take(&mut text)));
                    }
                    let start = self.here();
                    let mut depth = 1;
                    let mut inner = String::new();
                    let mut in_str = false;
                    loop {
                        let Some(c) = self.bump() else {
                            return Err(self.err(begin, "unterminated string interpolation"));
                        };
                        if in_str {
                            if c == '\\' {
                                inner.push(c);
                                if let Some(n) = self.bump() {
                                    inner.push(n);
                                }
                                continue;
                            }
                            if c == '"' {
                                in_str = false;
                            }
                        } else if c == '"' {
                            in_str = true;
                        } else if c == '{' {
                            depth += 1;
                        } else if c == '}' {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        inner.push(c);
                    }
                    parts.push(RawStringPart::Interp(inner, start));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(RawStringPart::Text(text));
        }
        Ok(Tok::Str(parts))
    }

    fn regex(&mut self, begin: Position) -> Result<Tok, LexError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(self.err(begin, "unterminated regex literal")),
                Some('/') => break,
                Some('\\') => match self.bump() {
                    Some('/') => s.push('/'),
                    Some(c) => {
                        s.push('\\');
                        s.push(c);
                    }
                    None => return Err(self.err(begin, "unterminated regex literal")),
                },
                Some(c) => s.push(c),
            }
        }
        Ok(Tok::Regex(s))
    }
}
