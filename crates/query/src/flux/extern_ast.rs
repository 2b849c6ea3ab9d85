//! The `extern` field of a JSON query request: a Flux AST (`{"type": "File", "body": [...]}`)
//! that clients use to pass options and parameters (the InfluxDB UI's `option v = {...}`, the
//! client libraries' `option params = {...}`). [`to_source`] renders it as Flux text, which is
//! prepended to the query before parsing.
//!
//! Supported nodes: `File`, `ImportDeclaration`, `OptionStatement` (with `VariableAssignment`
//! or `MemberAssignment`), `VariableAssignment`, `ExpressionStatement`, and the expressions
//! `Identifier`, `StringLiteral`, `IntegerLiteral`, `UnsignedIntegerLiteral`, `FloatLiteral`,
//! `BooleanLiteral`, `DateTimeLiteral`, `DurationLiteral`, `RegexpLiteral`, `ObjectExpression`,
//! `ArrayExpression`, `MemberExpression`, `IndexExpression`, `CallExpression`,
//! `UnaryExpression`, `BinaryExpression`, `LogicalExpression`, `ParenExpression`. Anything else
//! is an error naming the node type.

use serde_json::Value as Json;

/// Why an extern AST could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid extern: {0}")]
pub struct ExternError(pub String);

type R<T> = Result<T, ExternError>;

fn field<'a>(node: &'a Json, k: &str) -> R<&'a Json> {
    node.get(k)
        .ok_or_else(|| ExternError(format!("{} node lacks {k:?}", kind(node))))
}

fn kind(node: &Json) -> &str {
    node.get("type").and_then(Json::as_str).unwrap_or("untyped")
}

fn string_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn name(node: &Json) -> R<String> {
    match kind(node) {
        "Identifier" => Ok(field(node, "name")?
            .as_str()
            .ok_or_else(|| ExternError("identifier name must be a string".into()))?
            .to_string()),
        "StringLiteral" => {
            Ok(string_lit(field(node, "value")?.as_str().ok_or_else(
                || ExternError("string literal value must be a string".into()),
            )?))
        }
        other => Err(ExternError(format!("unsupported key node {other}"))),
    }
}

fn scalar_text(v: &Json) -> R<String> {
    match v {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        _ => Err(ExternError("literal value must be a scalar".into())),
    }
}

fn expr(node: &Json) -> R<String> {
    Ok(match kind(node) {
        "Identifier" => name(node)?,
        "StringLiteral" => name(node)?,
        "IntegerLiteral" | "UnsignedIntegerLiteral" => scalar_text(field(node, "value")?)?,
        "FloatLiteral" => {
            let t = scalar_text(field(node, "value")?)?;
            if t.contains('e') || t.contains('E') {
                format!("float(v: \"{t}\")")
            } else if t.contains('.') {
                t
            } else {
                format!("{t}.0")
            }
        }
        "BooleanLiteral" => match field(node, "value")? {
            Json::Bool(b) => b.to_string(),
            _ => return Err(ExternError("boolean literal value must be a bool".into())),
        },
        "DateTimeLiteral" => {
            let t = scalar_text(field(node, "value")?)?;
            if crate::time::parse_rfc3339(&t).is_none() {
                return Err(ExternError(format!("invalid time {t:?}")));
            }
            t
        }
        "DurationLiteral" => {
            let mut s = String::new();
            let parts = field(node, "values")?
                .as_array()
                .ok_or_else(|| ExternError("duration values must be an array".into()))?;
            let mut negative = false;
            for p in parts {
                let mag = field(p, "magnitude")?
                    .as_i64()
                    .ok_or_else(|| ExternError("duration magnitude must be an integer".into()))?;
                let unit = field(p, "unit")?
                    .as_str()
                    .ok_or_else(|| ExternError("duration unit must be a string".into()))?;
                if super::ast::DurationUnit::parse(unit).is_none() {
                    return Err(ExternError(format!("invalid duration unit {unit:?}")));
                }
                negative |= mag < 0;
                s.push_str(&format!("{}{unit}", mag.unsigned_abs()));
            }
            if parts.is_empty() {
                return Err(ExternError("empty duration literal".into()));
            }
            if negative { format!("-{s}") } else { s }
        }
        "RegexpLiteral" => {
            let r = scalar_text(field(node, "value")?)?;
            format!("/{}/", r.replace('/', "\\/"))
        }
        "ObjectExpression" => {
            let props = node
                .get("properties")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let with = match node.get("with") {
                Some(w) if !w.is_null() => format!("{} with ", expr(w)?),
                _ => String::new(),
            };
            let items = props
                .iter()
                .map(|p| {
                    Ok(format!(
                        "{}: {}",
                        name(field(p, "key")?)?,
                        expr(field(p, "value")?)?
                    ))
                })
                .collect::<R<Vec<_>>>()?;
            format!("{{{with}{}}}", items.join(", "))
        }
        "ArrayExpression" => {
            let items = node
                .get("elements")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(expr)
                .collect::<R<Vec<_>>>()?;
            format!("[{}]", items.join(", "))
        }
        "MemberExpression" => {
            let obj = expr(field(node, "object")?)?;
            let prop = field(node, "property")?;
            match kind(prop) {
                "Identifier" => format!("{obj}.{}", name(prop)?),
                _ => format!("{obj}[{}]", name(prop)?),
            }
        }
        "IndexExpression" => format!(
            "{}[{}]",
            expr(field(node, "array")?)?,
            expr(field(node, "index")?)?
        ),
        "CallExpression" => {
            let callee = expr(field(node, "callee")?)?;
            let args = match node.get("arguments").and_then(Json::as_array) {
                Some(a) if !a.is_empty() => {
                    let rec = expr(&a[0])?;
                    rec[1..rec.len() - 1].to_string()
                }
                _ => String::new(),
            };
            format!("{callee}({args})")
        }
        "UnaryExpression" => {
            let op = field(node, "operator")?
                .as_str()
                .ok_or_else(|| ExternError("operator must be a string".into()))?;
            format!("{op} ({})", expr(field(node, "argument")?)?)
        }
        "BinaryExpression" | "LogicalExpression" => {
            let op = field(node, "operator")?
                .as_str()
                .ok_or_else(|| ExternError("operator must be a string".into()))?;
            format!(
                "({}) {op} ({})",
                expr(field(node, "left")?)?,
                expr(field(node, "right")?)?
            )
        }
        "ParenExpression" => format!("({})", expr(field(node, "expression")?)?),
        other => return Err(ExternError(format!("unsupported node {other}"))),
    })
}

fn assignment(node: &Json) -> R<String> {
    match kind(node) {
        "VariableAssignment" => Ok(format!(
            "{} = {}",
            name(field(node, "id")?)?,
            expr(field(node, "init")?)?
        )),
        "MemberAssignment" => {
            let m = field(node, "member")?;
            Ok(format!(
                "{}.{} = {}",
                expr(field(m, "object")?)?,
                name(field(m, "property")?)?,
                expr(field(node, "init")?)?
            ))
        }
        other => Err(ExternError(format!("unsupported assignment {other}"))),
    }
}

/// Renders an extern AST as Flux source: imports first, then one statement per line.
pub fn to_source(ext: &Json) -> Result<String, ExternError> {
    if ext.is_null() {
        return Ok(String::new());
    }
    let mut out = String::new();
    if let Some(imports) = ext.get("imports").and_then(Json::as_array) {
        for imp in imports {
            let path = field(imp, "path")?;
            let p = field(path, "value")?
                .as_str()
                .ok_or_else(|| ExternError("import path must be a string".into()))?;
            match imp.get("as") {
                Some(alias) if !alias.is_null() => {
                    out.push_str(&format!("import {} {}\n", name(alias)?, string_lit(p)))
                }
                _ => out.push_str(&format!("import {}\n", string_lit(p))),
            }
        }
    }
    if let Some(body) = ext.get("body").and_then(Json::as_array) {
        for st in body {
            let line = match kind(st) {
                "OptionStatement" => format!("option {}", assignment(field(st, "assignment")?)?),
                "VariableAssignment" | "MemberAssignment" => assignment(st)?,
                "ExpressionStatement" => expr(field(st, "expression")?)?,
                other => return Err(ExternError(format!("unsupported statement {other}"))),
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ui_and_client_externs() {
        let ext = serde_json::json!({
            "type": "File",
            "package": null,
            "imports": null,
            "body": [{
                "type": "OptionStatement",
                "assignment": {
                    "type": "VariableAssignment",
                    "id": {"type": "Identifier", "name": "v"},
                    "init": {"type": "ObjectExpression", "properties": [
                        {"type": "Property", "key": {"type": "Identifier", "name": "timeRangeStart"},
                         "value": {"type": "UnaryExpression", "operator": "-",
                                   "argument": {"type": "DurationLiteral", "values": [{"magnitude": 1, "unit": "h"}]}}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "timeRangeStop"},
                         "value": {"type": "CallExpression", "callee": {"type": "Identifier", "name": "now"}}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "windowPeriod"},
                         "value": {"type": "DurationLiteral", "values": [{"magnitude": 10000, "unit": "ms"}]}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "bucket"},
                         "value": {"type": "StringLiteral", "value": "my \"b\""}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "at"},
                         "value": {"type": "DateTimeLiteral", "value": "2024-01-01T00:00:00Z"}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "n"},
                         "value": {"type": "IntegerLiteral", "value": "5"}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "f"},
                         "value": {"type": "FloatLiteral", "value": 2}},
                        {"type": "Property", "key": {"type": "Identifier", "name": "ok"},
                         "value": {"type": "BooleanLiteral", "value": true}}
                    ]}
                }
            }]
        });
        let src = to_source(&ext).unwrap();
        assert_eq!(
            src,
            "option v = {timeRangeStart: - (1h), timeRangeStop: now(), windowPeriod: 10000ms, bucket: \"my \\\"b\\\"\", at: 2024-01-01T00:00:00Z, n: 5, f: 2.0, ok: true}\n"
        );
        assert!(crate::flux::parse(&format!("{src}x = v.timeRangeStart")).is_ok());
    }

    #[test]
    fn rejects_unknown_nodes() {
        let ext = serde_json::json!({"body": [{"type": "TestStatement"}]});
        assert!(to_source(&ext).unwrap_err().0.contains("TestStatement"));
        let ext = serde_json::json!({"body": [{"type": "OptionStatement", "assignment": {
            "type": "VariableAssignment", "id": {"type": "Identifier", "name": "x"},
            "init": {"type": "PipeExpression"}}}]});
        assert!(to_source(&ext).unwrap_err().0.contains("PipeExpression"));
    }
}
