//! Results as the `influx query` command prints them: for each result a `Result: NAME` line,
//! for each table with rows a `Table: keys: [k1, k2]` line, a header of right-aligned
//! `name:type` cells, a dashed rule and the rows.
//!
//! Layout facts (from influx-cli's formatting printer): group-key columns come first (in table
//! order), then the others (in table order); columns are separated by two spaces; each column is
//! as wide as the largest of a minimum per type (bool 12, int 26, uint 27, float 28, string 22,
//! time 30), its header, and its value in the table's first row; a later, wider value is cut to
//! the width with a trailing `...` (cut at a character boundary here, where Go cuts bytes). Times
//! print with nine fraction digits (`2021-05-04T18:29:52.764702000Z`), floats in Go's shortest
//! form, nulls as empty cells. Empty tables print nothing. Lines end in LF.

use std::io::{self, Write};

use crate::table::{ResultSet, Table};
use crate::time::format_rfc3339;
use crate::value::{DataType, Value, format_float};

fn display(ty: DataType) -> &'static str {
    match ty {
        DataType::String => "string",
        DataType::Float => "float",
        DataType::Bool => "boolean",
        DataType::Int => "int",
        DataType::UInt => "uint",
        DataType::Time => "time",
    }
}

fn min_width(ty: DataType) -> usize {
    match ty {
        DataType::Bool => 12,
        DataType::Int => 26,
        DataType::UInt => 27,
        DataType::Float => 28,
        DataType::String => 22,
        DataType::Time => 30,
    }
}

/// A time with exactly nine fraction digits.
fn fixed_time(t: i64) -> String {
    let s = format_rfc3339(t);
    let body = &s[..s.len() - 1];
    match body.find('.') {
        Some(dot) => format!("{body}{}Z", "0".repeat(9 - (body.len() - dot - 1))),
        None => format!("{body}.000000000Z"),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Float(f) => format_float(*f),
        Value::Time(t) => fixed_time(*t),
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn write_table<W: Write>(w: &mut W, t: &Table) -> io::Result<()> {
    let mut order: Vec<usize> = (0..t.columns.len())
        .filter(|&i| t.key.contains(&t.columns[i].name))
        .collect();
    order.extend((0..t.columns.len()).filter(|&i| !t.key.contains(&t.columns[i].name)));
    let keys: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| t.key.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    writeln!(w, "Table: keys: [{}]", keys.join(", "))?;
    let headers: Vec<String> = order
        .iter()
        .map(|&i| format!("{}:{}", t.columns[i].name, display(t.columns[i].ty)))
        .collect();
    let widths: Vec<usize> = order
        .iter()
        .zip(&headers)
        .map(|(&i, h)| {
            let c = &t.columns[i];
            let first = c.values.first().map(cell).unwrap_or_default();
            min_width(c.ty).max(h.len()).max(first.len())
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (j, (c, &wd)) in cells.iter().zip(&widths).enumerate() {
            if j > 0 {
                s.push_str("  ");
            }
            if c.len() <= wd {
                s.push_str(&" ".repeat(wd - c.len()));
                s.push_str(c);
            } else {
                let mut cut = String::new();
                for ch in c.chars() {
                    if cut.len() + ch.len_utf8() > wd.saturating_sub(3) {
                        break;
                    }
                    cut.push(ch);
                }
                s.push_str(&cut);
                s.push_str("...");
            }
        }
        s
    };
    writeln!(w, "{}", line(&headers))?;
    let dashes: Vec<String> = widths.iter().map(|&wd| "-".repeat(wd)).collect();
    writeln!(w, "{}", dashes.join("  "))?;
    for r in 0..t.nrows() {
        let cells: Vec<String> = order
            .iter()
            .map(|&i| cell(&t.columns[i].values[r]))
            .collect();
        writeln!(w, "{}", line(&cells))?;
    }
    Ok(())
}

/// Prints results as tables, like `influx query` without `--raw`.
pub fn write_results<W: Write>(w: &mut W, results: &[ResultSet]) -> io::Result<()> {
    for r in results {
        let mut named = false;
        for t in r.tables.iter().filter(|t| !t.is_empty()) {
            if !named {
                writeln!(w, "Result: {}", r.name)?;
                named = true;
            }
            write_table(w, t)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::decode;

    #[test]
    fn prints_like_the_influx_cli() {
        let csv = "#group,false,false,true,false,false,false,false
#datatype,string,long,string,string,string,string,long
#default,_result,,,,,,
,result,table,organizationID,name,id,retentionPolicy,retentionPeriod
,,0,b6b9cb281ae9583d,_monitoring,1aa1e247d56a143f,,604800000000000
,,0,b6b9cb281ae9583d,dan,57de01a0f4825d94,,259200000000000
";
        let results = decode(csv).unwrap();
        let mut out = Vec::new();
        write_results(&mut out, &results).unwrap();
        let want = "Result: _result
Table: keys: [organizationID]
 organizationID:string             name:string               id:string  retentionPolicy:string         retentionPeriod:int
----------------------  ----------------------  ----------------------  ----------------------  --------------------------
      b6b9cb281ae9583d             _monitoring        1aa1e247d56a143f                                     604800000000000
      b6b9cb281ae9583d                     dan        57de01a0f4825d94                                     259200000000000
";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn times_floats_and_truncation() {
        assert_eq!(
            fixed_time(1_620_152_992_764_702_000),
            "2021-05-04T18:29:52.764702000Z"
        );
        assert_eq!(fixed_time(0), "1970-01-01T00:00:00.000000000Z");
        let csv = "#datatype,string,long,dateTime:RFC3339,double,string
#group,false,false,false,false,true
#default,r,,,,
,result,table,_time,_value,s
,,0,2021-05-04T18:29:52.764702Z,12345,a
,,0,2021-05-04T18:29:53Z,0.5,a
";
        let mut results = decode(csv).unwrap();
        results[0].tables[0].columns[2].values[1] = Value::String("x".repeat(30));
        let mut out = Vec::new();
        write_results(&mut out, &results).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Result: r");
        assert_eq!(lines[1], "Table: keys: [s]");
        assert_eq!(
            lines[4],
            format!(
                "{:>22}  2021-05-04T18:29:52.764702000Z  {:>28}",
                "a", "12345"
            )
        );
        assert!(
            lines[5].starts_with(&format!("{}...", "x".repeat(19))),
            "{}",
            lines[5]
        );
        assert!(lines[5].ends_with("  0.5"));
    }
}
