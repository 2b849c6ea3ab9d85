//! Flux parser: recursive descent over the tokens of [`super::lexer`], building [`super::ast`].
//!
//! Operator precedence, loosest first, as in the Flux SPEC and its reference parser:
//! `if/then/else`, `or`, `and`, `not`/`exists` (prefix), comparisons
//! (`== != < <= > >= =~ !~`), `+ -`, `* / %`, `^`, `|>`, unary `- +`, then postfix member
//! access, indexing and calls. Binary operators associate to the left. Function literals are
//! recognised by looking ahead after `(` (`()`, `(a,`, `(a=`, `(a) =>`); a `{` after `=>` is a
//! record when it starts like one (`{}`, `{a with`, `{a:`, `{a,`, `{a}`), else a block.
//! Syntax errors carry the span and a message naming the construct being parsed.

use super::ast::*;
use super::lexer::{LexError, RawStringPart, Tok, Token, tokenize};

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("error @{span}: {message}")]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl From<LexError> for ParseError {
    fn from(e: LexError) -> Self {
        ParseError {
            span: e.span,
            message: e.message,
        }
    }
}

type PResult<T> = Result<T, ParseError>;

/// Parses a whole Flux program.
pub fn parse(src: &str) -> PResult<Program> {
    let toks = tokenize(src, Position { line: 1, column: 1 })?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    p.program()
}

/// Parses a single expression (used for string interpolation and tests).
pub fn parse_expression(src: &str, start: Position) -> PResult<Expr> {
    parse_nested(src, start, 0)
}

fn parse_nested(src: &str, start: Position, depth: usize) -> PResult<Expr> {
    let toks = tokenize(src, start)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth,
    };
    let e = p.expr()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("expression"));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Deepest nesting of expressions accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "exists", "if", "then", "else", "import", "package", "option", "return",
    "builtin", "testcase",
];

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].span
    }

    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }

    fn advance(&mut self) -> Token {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == k)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, construct: &str) -> ParseError {
        ParseError {
            span: self.span(),
            message: format!("unexpected {} in {construct}", self.peek().describe()),
        }
    }

    fn expect_punct(&mut self, p: &str, construct: &str) -> PResult<Span> {
        if self.is_punct(p) {
            Ok(self.advance().span)
        } else {
            Err(ParseError {
                span: self.span(),
                message: format!(
                    "expected \"{p}\" in {construct}, found {}",
                    self.peek().describe()
                ),
            })
        }
    }

    fn expect_ident(&mut self, construct: &str) -> PResult<(String, Span)> {
        match self.peek().clone() {
            Tok::Ident(s) if !KEYWORDS.contains(&s.as_str()) => {
                let sp = self.advance().span;
                Ok((s, sp))
            }
            other => Err(ParseError {
                span: self.span(),
                message: format!(
                    "expected identifier in {construct}, found {}",
                    other.describe()
                ),
            }),
        }
    }

    fn program(&mut self) -> PResult<Program> {
        let mut package = None;
        if self.is_kw("package") {
            self.advance();
            package = Some(self.expect_ident("package clause")?.0);
        }
        let mut imports = Vec::new();
        while self.is_kw("import") {
            let start = self.advance().span;
            let alias = match self.peek().clone() {
                Tok::Ident(s) if !KEYWORDS.contains(&s.as_str()) => {
                    self.advance();
                    Some(s)
                }
                _ => None,
            };
            let path = match self.peek().clone() {
                Tok::Str(parts) => match parts.as_slice() {
                    [RawStringPart::Text(t)] => {
                        self.advance();
                        t.clone()
                    }
                    _ => {
                        return Err(ParseError {
                            span: self.span(),
                            message: "import path must be a plain string literal".into(),
                        });
                    }
                },
                _ => return Err(self.unexpected("import statement (expected a string path)")),
            };
            imports.push(Import {
                alias,
                path,
                span: start.to(self.prev_span()),
            });
        }
        let mut body = Vec::new();
        while !matches!(self.peek(), Tok::Eof) {
            if self.is_kw("import") {
                return Err(ParseError {
                    span: self.span(),
                    message: "import statement must come before any other statement".into(),
                });
            }
            body.push(self.statement()?);
        }
        Ok(Program {
            package,
            imports,
            body,
        })
    }

    fn statement(&mut self) -> PResult<Statement> {
        let start = self.span();
        if self.is_kw("option") {
            self.advance();
            let (first, _) = self.expect_ident("option statement")?;
            let (package, name) = if self.eat_punct(".") {
                let (n, _) = self.expect_ident("option statement")?;
                (Some(first), n)
            } else {
                (None, first)
            };
            self.expect_punct("=", "option statement")?;
            let value = self.expr()?;
            return Ok(Statement::Option {
                package,
                name,
                span: start.to(value.span),
                value,
            });
        }
        if self.is_kw("return") {
            self.advance();
            let value = self.expr()?;
            return Ok(Statement::Return {
                span: start.to(value.span),
                value,
            });
        }
        if self.is_kw("testcase") || self.is_kw("builtin") {
            let kw = self.peek().describe();
            return Err(ParseError {
                span: start,
                message: format!("unsupported statement: {kw}"),
            });
        }
        if let Tok::Ident(name) = self.peek().clone()
            && !KEYWORDS.contains(&name.as_str())
            && matches!(self.peek_at(1), Tok::Punct("="))
        {
            self.advance();
            self.advance();
            let value = self.expr()?;
            return Ok(Statement::Assign {
                name,
                span: start.to(value.span),
                value,
            });
        }
        Ok(Statement::Expr(self.expr()?))
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                span: self.span(),
                message: format!("expression nested more than {MAX_DEPTH} levels deep"),
            });
        }
        let e = self.expr_inner();
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self) -> PResult<Expr> {
        if self.is_kw("if") {
            let start = self.advance().span;
            let test = self.expr()?;
            if !self.is_kw("then") {
                return Err(self.unexpected("conditional expression (expected \"then\")"));
            }
            self.advance();
            let consequent = self.expr()?;
            if !self.is_kw("else") {
                return Err(self.unexpected("conditional expression (expected \"else\")"));
            }
            self.advance();
            let alternate = self.expr()?;
            return Ok(Expr {
                span: start.to(alternate.span),
                kind: ExprKind::Conditional {
                    test: Box::new(test),
                    consequent: Box::new(consequent),
                    alternate: Box::new(alternate),
                },
            });
        }
        self.or_expr()
    }

    fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr {
            span: lhs.span.to(rhs.span),
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
        }
    }

    fn or_expr(&mut self) -> PResult<Expr> {
        let mut lhs = self.and_expr()?;
        while self.is_kw("or") {
            self.advance();
            let rhs = self.and_expr()?;
            lhs = Self::binary(BinaryOp::Or, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary_logical()?;
        while self.is_kw("and") {
            self.advance();
            let rhs = self.unary_logical()?;
            lhs = Self::binary(BinaryOp::And, lhs, rhs);
        }
        Ok(lhs)
    }

    fn unary_logical(&mut self) -> PResult<Expr> {
        let op = if self.is_kw("not") {
            UnaryOp::Not
        } else if self.is_kw("exists") {
            UnaryOp::Exists
        } else {
            return self.comparison();
        };
        let start = self.advance().span;
        let operand = self.unary_logical()?;
        Ok(Expr {
            span: start.to(operand.span),
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
        })
    }

    fn comparison(&mut self) -> PResult<Expr> {
        let mut lhs = self.additive()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("==") => BinaryOp::Eq,
                Tok::Punct("!=") => BinaryOp::Neq,
                Tok::Punct("<") => BinaryOp::Lt,
                Tok::Punct("<=") => BinaryOp::Lte,
                Tok::Punct(">") => BinaryOp::Gt,
                Tok::Punct(">=") => BinaryOp::Gte,
                Tok::Punct("=~") => BinaryOp::RegexMatch,
                Tok::Punct("!~") => BinaryOp::RegexNotMatch,
                _ => return Ok(lhs),
            };
            self.advance();
            let rhs = self.additive()?;
            lhs = Self::binary(op, lhs, rhs);
        }
    }

    fn additive(&mut self) -> PResult<Expr> {
        let mut lhs = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("+") => BinaryOp::Add,
                Tok::Punct("-") => BinaryOp::Sub,
                _ => return Ok(lhs),
            };
            self.advance();
            let rhs = self.multiplicative()?;
            lhs = Self::binary(op, lhs, rhs);
        }
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        let mut lhs = self.exponent()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("*") => BinaryOp::Mul,
                Tok::Punct("/") => BinaryOp::Div,
                Tok::Punct("%") => BinaryOp::Mod,
                _ => return Ok(lhs),
            };
            self.advance();
            let rhs = self.exponent()?;
            lhs = Self::binary(op, lhs, rhs);
        }
    }

    fn exponent(&mut self) -> PResult<Expr> {
        let mut lhs = self.pipe()?;
        while self.eat_punct("^") {
            let rhs = self.pipe()?;
            lhs = Self::binary(BinaryOp::Pow, lhs, rhs);
        }
        Ok(lhs)
    }

    fn pipe(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        while self.is_punct("|>") {
            self.advance();
            let call = self.postfix()?;
            if !matches!(call.kind, ExprKind::Call { .. }) {
                return Err(ParseError {
                    span: call.span,
                    message: "pipe destination must be a function call".into(),
                });
            }
            lhs = Expr {
                span: lhs.span.to(call.span),
                kind: ExprKind::Pipe {
                    lhs: Box::new(lhs),
                    call: Box::new(call),
                },
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let op = match self.peek() {
            Tok::Punct("-") => UnaryOp::Neg,
            Tok::Punct("+") => UnaryOp::Plus,
            _ => return self.postfix(),
        };
        let start = self.advance().span;
        let operand = self.unary()?;
        let span = start.to(operand.span);
        if op == UnaryOp::Neg {
            match operand.kind {
                ExprKind::Duration { parts, negative } => {
                    return Ok(Expr {
                        span,
                        kind: ExprKind::Duration {
                            parts,
                            negative: !negative,
                        },
                    });
                }
                ExprKind::Integer(i) => {
                    return Ok(Expr {
                        span,
                        kind: ExprKind::Integer(-i),
                    });
                }
                ExprKind::Float(f) => {
                    return Ok(Expr {
                        span,
                        kind: ExprKind::Float(-f),
                    });
                }
                kind => {
                    return Ok(Expr {
                        span,
                        kind: ExprKind::Unary {
                            op,
                            operand: Box::new(Expr {
                                kind,
                                span: operand.span,
                            }),
                        },
                    });
                }
            }
        }
        Ok(Expr {
            span,
            kind: ExprKind::Unary {
                op,
                operand: Box::new(operand),
            },
        })
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        loop {
            if self.is_punct(".") {
                self.advance();
                let (name, sp) = match self.peek().clone() {
                    Tok::Ident(s) => {
                        let sp = self.advance().span;
                        (s, sp)
                    }
                    _ => return Err(self.unexpected("member expression")),
                };
                e = Expr {
                    span: e.span.to(sp),
                    kind: ExprKind::Member {
                        object: Box::new(e),
                        property: name,
                    },
                };
            } else if self.is_punct("[") {
                self.advance();
                let idx = self.expr()?;
                let end = self.expect_punct("]", "index expression")?;
                e = match idx.kind {
                    ExprKind::String(ref parts)
                        if parts.len() == 1 && matches!(parts[0], StringPart::Text(_)) =>
                    {
                        let StringPart::Text(t) = &parts[0] else {
                            unreachable!("checked above")
                        };
                        Expr {
                            span: e.span.to(end),
                            kind: ExprKind::Member {
                                object: Box::new(e),
                                property: t.clone(),
                            },
                        }
                    }
                    _ => Expr {
                        span: e.span.to(end),
                        kind: ExprKind::Index {
                            object: Box::new(e),
                            index: Box::new(idx),
                        },
                    },
                };
            } else if self.is_punct("(") {
                self.advance();
                let args = self.properties(")", "call arguments")?;
                let end = self.expect_punct(")", "call arguments")?;
                e = Expr {
                    span: e.span.to(end),
                    kind: ExprKind::Call {
                        callee: Box::new(e),
                        args,
                    },
                };
            } else {
                return Ok(e);
            }
        }
    }

    /// Comma-separated `key: value` / `key` properties up to (not including) `close`.
    fn properties(&mut self, close: &str, construct: &str) -> PResult<Vec<Property>> {
        let mut props = Vec::new();
        while !self.is_punct(close) {
            let (key, ksp) = match self.peek().clone() {
                Tok::Ident(s) => {
                    let sp = self.advance().span;
                    (s, sp)
                }
                Tok::Str(parts) => match parts.as_slice() {
                    [RawStringPart::Text(t)] => {
                        let sp = self.advance().span;
                        (t.clone(), sp)
                    }
                    _ => return Err(self.unexpected(construct)),
                },
                _ => return Err(self.unexpected(construct)),
            };
            let value = if self.eat_punct(":") {
                self.expr()?
            } else {
                Expr {
                    kind: ExprKind::Identifier(key.clone()),
                    span: ksp,
                }
            };
            props.push(Property {
                key,
                span: ksp.to(value.span),
                value,
            });
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(props)
    }

    fn looks_like_function(&self) -> bool {
        // At "(".
        match self.peek_at(1) {
            Tok::Punct(")") => matches!(self.peek_at(2), Tok::Punct("=>")),
            Tok::Ident(_) => match self.peek_at(2) {
                Tok::Punct(",") | Tok::Punct("=") => true,
                Tok::Punct(")") => matches!(self.peek_at(3), Tok::Punct("=>")),
                _ => false,
            },
            _ => false,
        }
    }

    fn looks_like_record(&self) -> bool {
        // At "{".
        match self.peek_at(1) {
            Tok::Punct("}") => true,
            Tok::Ident(s) if s == "return" => false,
            Tok::Ident(_) => {
                matches!(
                    self.peek_at(2),
                    Tok::Punct(":") | Tok::Punct(",") | Tok::Punct("}")
                ) || matches!(self.peek_at(2), Tok::Ident(w) if w == "with")
            }
            Tok::Str(_) => matches!(self.peek_at(2), Tok::Punct(":")),
            _ => false,
        }
    }

    fn function(&mut self) -> PResult<Expr> {
        let start = self.expect_punct("(", "function literal")?;
        let mut params = Vec::new();
        while !self.is_punct(")") {
            let (name, _) = self.expect_ident("function parameters")?;
            let mut default = None;
            let mut pipe = false;
            if self.eat_punct("=") {
                if self.eat_punct("<-") {
                    pipe = true;
                } else {
                    default = Some(self.expr()?);
                }
            }
            params.push(Param {
                name,
                default,
                pipe,
            });
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")", "function parameters")?;
        self.expect_punct("=>", "function literal")?;
        let (body, end) = if self.is_punct("{") && !self.looks_like_record() {
            self.advance();
            let mut stmts = Vec::new();
            while !self.is_punct("}") {
                if matches!(self.peek(), Tok::Eof) {
                    return Err(self.unexpected("function block"));
                }
                stmts.push(self.statement()?);
            }
            let end = self.expect_punct("}", "function block")?;
            if !matches!(stmts.last(), Some(Statement::Return { .. })) {
                return Err(ParseError {
                    span: start.to(end),
                    message: "function block must end with a return statement".into(),
                });
            }
            (FunctionBody::Block(stmts), end)
        } else {
            let e = self.expr()?;
            let sp = e.span;
            (FunctionBody::Expr(Box::new(e)), sp)
        };
        Ok(Expr {
            span: start.to(end),
            kind: ExprKind::Function { params, body },
        })
    }

    fn primary(&mut self) -> PResult<Expr> {
        let span = self.span();
        let kind = match self.peek().clone() {
            Tok::Ident(s) if !KEYWORDS.contains(&s.as_str()) => {
                self.advance();
                ExprKind::Identifier(s)
            }
            Tok::Int(i) => {
                self.advance();
                ExprKind::Integer(i)
            }
            Tok::Float(f) => {
                self.advance();
                ExprKind::Float(f)
            }
            Tok::Duration(parts) => {
                self.advance();
                ExprKind::Duration {
                    parts,
                    negative: false,
                }
            }
            Tok::Time(t) => {
                self.advance();
                ExprKind::Time(t)
            }
            Tok::Regex(r) => {
                self.advance();
                ExprKind::Regex(r)
            }
            Tok::Str(parts) => {
                self.advance();
                let mut out = Vec::new();
                for p in parts {
                    match p {
                        RawStringPart::Text(t) => out.push(StringPart::Text(t)),
                        RawStringPart::Interp(src, pos) => out.push(StringPart::Interpolated(
                            parse_nested(&src, pos, self.depth)?,
                        )),
                    }
                }
                ExprKind::String(out)
            }
            Tok::Punct("(") => {
                if self.looks_like_function() {
                    return self.function();
                }
                self.advance();
                let inner = self.expr()?;
                let end = self.expect_punct(")", "parenthesized expression")?;
                return Ok(Expr {
                    span: span.to(end),
                    kind: inner.kind,
                });
            }
            Tok::Punct("[") => {
                self.advance();
                let mut items = Vec::new();
                if self.is_punct(":") {
                    return Err(ParseError {
                        span: self.span(),
                        message: "unsupported construct: dictionary literal".into(),
                    });
                }
                while !self.is_punct("]") {
                    items.push(self.expr()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                let end = self.expect_punct("]", "array literal")?;
                return Ok(Expr {
                    span: span.to(end),
                    kind: ExprKind::Array(items),
                });
            }
            Tok::Punct("{") => {
                self.advance();
                let mut with = None;
                if let Tok::Ident(s) = self.peek().clone()
                    && matches!(self.peek_at(1), Tok::Ident(w) if w == "with")
                {
                    let sp = self.advance().span;
                    self.advance();
                    with = Some(Box::new(Expr {
                        kind: ExprKind::Identifier(s),
                        span: sp,
                    }));
                }
                let properties = self.properties("}", "record literal")?;
                let end = self.expect_punct("}", "record literal")?;
                return Ok(Expr {
                    span: span.to(end),
                    kind: ExprKind::Record { with, properties },
                });
            }
            _ => return Err(self.unexpected("expression")),
        };
        Ok(Expr { kind, span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(src: &str) -> Expr {
        parse_expression(src, Position { line: 1, column: 1 }).unwrap()
    }

    /// Renders an expression in fully parenthesised form to check structure.
    fn show(x: &Expr) -> String {
        match &x.kind {
            ExprKind::Identifier(s) => s.clone(),
            ExprKind::Integer(i) => i.to_string(),
            ExprKind::Float(f) => format!("{f:?}"),
            ExprKind::String(parts) => {
                let inner: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        StringPart::Text(t) => t.clone(),
                        StringPart::Interpolated(e) => format!("${{{}}}", show(e)),
                    })
                    .collect();
                format!("{:?}", inner.concat())
            }
            ExprKind::Duration { parts, negative } => {
                format!("dur({}{:?})", if *negative { "-" } else { "" }, parts)
            }
            ExprKind::Time(t) => format!("time({t})"),
            ExprKind::Regex(r) => format!("/{r}/"),
            ExprKind::Array(items) => {
                format!(
                    "[{}]",
                    items.iter().map(show).collect::<Vec<_>>().join(", ")
                )
            }
            ExprKind::Record { with, properties } => format!(
                "{{{}{}}}",
                with.as_ref()
                    .map(|w| format!("{} with ", show(w)))
                    .unwrap_or_default(),
                properties
                    .iter()
                    .map(|p| format!("{}: {}", p.key, show(&p.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ExprKind::Function { params, body } => format!(
                "fn({}) => {}",
                params
                    .iter()
                    .map(|p| if p.pipe {
                        format!("{}=<-", p.name)
                    } else if let Some(d) = &p.default {
                        format!("{}={}", p.name, show(d))
                    } else {
                        p.name.clone()
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                match body {
                    FunctionBody::Expr(e) => show(e),
                    FunctionBody::Block(stmts) => format!("{{{} stmts}}", stmts.len()),
                }
            ),
            ExprKind::Call { callee, args } => format!(
                "{}({})",
                show(callee),
                args.iter()
                    .map(|p| format!("{}: {}", p.key, show(&p.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ExprKind::Pipe { lhs, call } => format!("({} |> {})", show(lhs), show(call)),
            ExprKind::Member { object, property } => format!("{}.{}", show(object), property),
            ExprKind::Index { object, index } => format!("{}[{}]", show(object), show(index)),
            ExprKind::Unary { op, operand } => format!("({op:?} {})", show(operand)),
            ExprKind::Binary { op, lhs, rhs } => {
                format!("({} {} {})", show(lhs), op.symbol(), show(rhs))
            }
            ExprKind::Conditional {
                test,
                consequent,
                alternate,
            } => format!(
                "(if {} then {} else {})",
                show(test),
                show(consequent),
                show(alternate)
            ),
        }
    }

    #[test]
    fn pipe_chain_with_named_arguments() {
        let x = e(
            r#"from(bucket: "b") |> range(start: -1h) |> filter(fn: (r) => r._measurement == "cpu")"#,
        );
        assert_eq!(
            show(&x),
            r#"((from(bucket: "b") |> range(start: dur(-[(1, Hour)]))) |> filter(fn: fn(r) => (r._measurement == "cpu")))"#
        );
    }

    #[test]
    fn operator_precedence() {
        assert_eq!(show(&e("1 + 2 * 3 ^ 2")), "(1 + (2 * (3 ^ 2)))");
        assert_eq!(show(&e("a - b - c")), "((a - b) - c)");
        assert_eq!(
            show(&e("a == 1 and b != 2 or not c < 3")),
            "(((a == 1) and (b != 2)) or (Not (c < 3)))"
        );
        assert_eq!(show(&e("a or b and c")), "(a or (b and c))");
        assert_eq!(
            show(&e("exists r.x and r.x =~ /a.*/")),
            "((Exists r.x) and (r.x =~ /a.*/))"
        );
        assert_eq!(show(&e("r.x !~ /^a\\/b$/")), "(r.x !~ /^a/b$/)");
        assert_eq!(show(&e("-a * 2")), "((Neg a) * 2)");
        assert_eq!(show(&e("(1 + 2) % 3")), "((1 + 2) % 3)");
        assert_eq!(show(&e("x / 2 / y")), "((x / 2) / y)");
        assert_eq!(
            show(&e("if r.v > 1.5 then \"hi\" else \"lo\"")),
            "(if (r.v > 1.5) then \"hi\" else \"lo\")"
        );
        assert_eq!(show(&e("not exists r.a")), "(Not (Exists r.a))");
    }

    #[test]
    fn durations_times_and_numbers() {
        assert_eq!(show(&e("-1h30m")), "dur(-[(1, Hour), (30, Minute)])");
        assert_eq!(
            show(&e("1y2mo3w4d5h6m7s8ms9us10µs11ns")),
            "dur([(1, Year), (2, Month), (3, Week), (4, Day), (5, Hour), (6, Minute), (7, Second), (8, Millisecond), (9, Microsecond), (10, Microsecond), (11, Nanosecond)])"
        );
        assert_eq!(
            show(&e("2020-01-01T00:00:00Z")),
            "time(1577836800000000000)"
        );
        assert_eq!(show(&e("2020-01-01")), "time(1577836800000000000)");
        assert_eq!(
            show(&e("2020-01-01T01:00:00.5+01:00")),
            "time(1577836800500000000)"
        );
        assert_eq!(show(&e("[1, 2.5, -3]")), "[1, 2.5, -3]");
    }

    #[test]
    fn strings_escapes_and_interpolation() {
        assert_eq!(
            show(&e(r#""a\"b\n\t\\ \$""#)),
            format!("{:?}", "a\"b\n\t\\ $")
        );
        assert_eq!(
            show(&e(r#""host ${r.host}-${string(v: r._value + 1)}!""#)),
            r#""host ${r.host}-${string(v: (r._value + 1))}!""#
        );
        assert_eq!(show(&e(r#""${ {a: "}"}.a }""#)), r#""${{a: \"}\"}.a}""#);
        assert_eq!(show(&e(r#""\xe2\x82\xac""#)), "\"€\"");
    }

    #[test]
    fn records_arrays_members_and_functions() {
        assert_eq!(
            show(&e(r#"{r with _value: r._value * 2.0, host}"#)),
            "{r with _value: (r._value * 2.0), host: host}"
        );
        assert_eq!(show(&e(r#"{"a b": 1}"#)), "{a b: 1}");
        assert_eq!(show(&e(r#"r["my col"]"#)), "r.my col");
        assert_eq!(show(&e("a[0].b")), "a[0].b");
        assert_eq!(
            show(&e("(tables=<-, n=5) => tables |> limit(n)")),
            "fn(tables=<-, n=5) => (tables |> limit(n: n))"
        );
        assert_eq!(show(&e("() => 1")), "fn() => 1");
        assert_eq!(show(&e("(r) => ({r with x: 1})")), "fn(r) => {r with x: 1}");
        assert_eq!(show(&e("(r) => {r with x: 1}")), "fn(r) => {r with x: 1}");
        assert_eq!(
            show(&e("(r) => { y = r.a + 1\n return {r with y} }")),
            "fn(r) => {2 stmts}"
        );
    }

    #[test]
    fn whole_programs() {
        let src = r#"
import "influxdata/influxdb/schema"
import s "strings"
option now = () => 2020-01-01T00:00:00Z
option v = {timeRangeStart: -1h, timeRangeStop: now()}
option task.every = 1h
// comment
data = from(bucket: "b") |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
data |> mean() |> yield(name: "mean")
data |> max() |> yield(name: "max")
"#;
        let p = parse(src).unwrap();
        assert_eq!(p.imports.len(), 2);
        assert_eq!(p.imports[0].name(), "schema");
        assert_eq!(p.imports[1].name(), "s");
        assert_eq!(p.body.len(), 6);
        assert!(
            matches!(&p.body[0], Statement::Option { name, package: None, .. } if name == "now")
        );
        assert!(
            matches!(&p.body[2], Statement::Option { name, package: Some(pk), .. } if name == "every" && pk == "task")
        );
        assert!(matches!(&p.body[3], Statement::Assign { name, .. } if name == "data"));
        assert!(matches!(&p.body[5], Statement::Expr(_)));
    }

    fn err(src: &str) -> ParseError {
        parse(src).unwrap_err()
    }

    #[test]
    fn syntax_errors_name_construct_and_position() {
        let x = err("from(bucket: \"b\"");
        assert_eq!(
            x.to_string(),
            "error @1:17-1:17: expected \")\" in call arguments, found end of input"
        );
        let x = err("a |> b");
        assert!(x.message.contains("pipe destination"), "{x}");
        let x = err("x = 1 +");
        assert!(x.message.contains("expression"), "{x}");
        let x = err("\"abc");
        assert!(x.message.contains("unterminated string"), "{x}");
        let x = err("x = 5x");
        assert!(x.message.contains("duration unit"), "{x}");
        let x = err("if a then b");
        assert!(x.message.contains("conditional"), "{x}");
        let x = err("f = (r) => {\n  y = 1\n}");
        assert!(x.message.contains("return"), "{x}");
        assert_eq!(x.span.start.line, 1);
        let x = err("x = 1\nimport \"a\"");
        assert_eq!(x.span.start.line, 2);
        let x = err("{a: 1");
        assert!(x.message.contains("record literal"), "{x}");
        let x = err("x = 2020-13-01T00:00:00Z");
        assert!(x.message.contains("time literal"), "{x}");
        let x = err("x = a.");
        assert!(x.message.contains("member expression"), "{x}");
        let x = err("x = #");
        assert_eq!(x.span.start, Position { line: 1, column: 5 });
        let x = err(&format!("x = {}1{}", "(".repeat(500), ")".repeat(500)));
        assert!(x.message.contains("nested"), "{x}");
        let x = err("x = /abc");
        assert!(x.message.contains("regex"), "{x}");
    }
}
