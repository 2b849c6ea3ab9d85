//! The syntax tree of a Flux program, as built by [`super::parser`].
//!
//! Every node carries the [`Span`] of source it came from so that later stages (type and
//! evaluation errors) can point at it in InfluxDB's `error @L:C-L:C: message` style.

use std::fmt;

/// A position in the source: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// A range of source text, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: Position,
    pub end: Position,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}-{}:{}",
            self.start.line, self.start.column, self.end.line, self.end.column
        )
    }
}

impl Span {
    /// The span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end,
        }
    }
}

/// A whole script.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub package: Option<String>,
    pub imports: Vec<Import>,
    pub body: Vec<Statement>,
}

/// `import [alias] "path"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub alias: Option<String>,
    pub path: String,
    pub span: Span,
}

impl Import {
    /// The name the package is bound to: the alias or the last path element.
    pub fn name(&self) -> &str {
        match &self.alias {
            Some(a) => a,
            None => self.path.rsplit('/').next().unwrap_or(&self.path),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `option name = value` or `option pkg.name = value`.
    Option {
        package: Option<String>,
        name: String,
        value: Expr,
        span: Span,
    },
    /// `name = value`.
    Assign {
        name: String,
        value: Expr,
        span: Span,
    },
    /// `return value` (only inside function blocks).
    Return { value: Expr, span: Span },
    /// A bare expression.
    Expr(Expr),
}

/// One unit of a duration literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl DurationUnit {
    pub fn parse(s: &str) -> Option<DurationUnit> {
        Some(match s {
            "ns" => DurationUnit::Nanosecond,
            "us" | "µs" | "μs" => DurationUnit::Microsecond,
            "ms" => DurationUnit::Millisecond,
            "s" => DurationUnit::Second,
            "m" => DurationUnit::Minute,
            "h" => DurationUnit::Hour,
            "d" => DurationUnit::Day,
            "w" => DurationUnit::Week,
            "mo" => DurationUnit::Month,
            "y" => DurationUnit::Year,
            _ => return None,
        })
    }
}

/// A part of a string literal.
#[derive(Debug, Clone, PartialEq)]
pub enum StringPart {
    Text(String),
    Interpolated(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
    Not,
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    RegexMatch,
    RegexNotMatch,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::RegexMatch => "=~",
            BinaryOp::RegexNotMatch => "!~",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}

/// A parameter of a function literal: `name`, `name = default` or `name = <-` (pipe).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub default: Option<Expr>,
    pub pipe: bool,
}

/// A property of a record literal or a named call argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub key: String,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FunctionBody {
    Expr(Box<Expr>),
    Block(Vec<Statement>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Identifier(String),
    Integer(i64),
    Float(f64),
    String(Vec<StringPart>),
    /// Magnitude/unit pairs, in source order; `negative` when written with a leading minus.
    Duration {
        parts: Vec<(i64, DurationUnit)>,
        negative: bool,
    },
    /// Nanoseconds since the Unix epoch.
    Time(i64),
    Regex(String),
    Array(Vec<Expr>),
    Record {
        with: Option<Box<Expr>>,
        properties: Vec<Property>,
    },
    Function {
        params: Vec<Param>,
        body: FunctionBody,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Property>,
    },
    /// `lhs |> call`; `call` is always an [`ExprKind::Call`].
    Pipe {
        lhs: Box<Expr>,
        call: Box<Expr>,
    },
    Member {
        object: Box<Expr>,
        property: String,
    },
    Index {
        object: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Conditional {
        test: Box<Expr>,
        consequent: Box<Expr>,
        alternate: Box<Expr>,
    },
}
