//! `ironflux query`: runs a Flux script on a server and prints the results, as `influx query`
//! does.
//!
//! The script is the argument, or the file of `--file` (`-` reads standard input). It is sent
//! as `POST /api/v2/query?org=...` (or `orgID=...`) with the JSON body the `influx` CLI sends:
//! the query, `"type": "flux"` and the dialect `{"annotations": ["group", "datatype",
//! "default"], "delimiter": ",", "header": true}`, asking for gzip. With `--raw` the annotated
//! CSV is copied to standard output as received; otherwise it is decoded and printed as tables
//! (`Result:` line, `Table: keys: [...]` line, typed headers, rows; see `query::pretty`).
//!
//! An error the server reports before the answer begins (a syntax error, an unsupported
//! function, an unknown bucket) fails the command with the server's message; an error block
//! the server writes after the answer began (`error,reference` columns) fails it too, after
//! the tables printed before it.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use futures::StreamExt as _;
use reqwest::Method;
use serde_json::json;

use crate::client::{Client, ServerArgs};

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The Flux script (or pass `--file`).
    #[arg(conflicts_with = "file")]
    query: Option<String>,
    /// Read the script from this file (`-` for standard input).
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// Print the annotated CSV as the server sends it, without formatting.
    #[arg(short = 'r', long)]
    raw: bool,
    #[command(flatten)]
    server: ServerArgs,
    /// The ID of the organization to query.
    #[arg(long, env = "INFLUX_ORG_ID", conflicts_with = "org")]
    org_id: Option<String>,
    /// The name of the organization to query.
    #[arg(short = 'o', long, env = "INFLUX_ORG")]
    org: Option<String>,
}

pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let script = script(&args)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(query(args, script))
}

/// The script from the argument, the file, or standard input.
fn script(args: &QueryArgs) -> anyhow::Result<String> {
    match (&args.query, &args.file) {
        (Some(q), None) => Ok(q.clone()),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the query from standard input")?;
            Ok(s)
        }
        (None, Some(p)) => std::fs::read_to_string(p)
            .with_context(|| format!("reading the query from {}", p.display())),
        _ => bail!("a query is required: pass it as an argument or with --file"),
    }
}

async fn query(args: QueryArgs, script: String) -> anyhow::Result<()> {
    let org_param = match (&args.org_id, &args.org) {
        (Some(id), _) if !id.is_empty() => ("orgID", id.clone()),
        (_, Some(name)) if !name.is_empty() => ("org", name.clone()),
        _ => bail!("must specify org ID or org name"),
    };
    let client = Client::new(&args.server)?;
    let body = json!({
        "query": script,
        "type": "flux",
        "dialect": {
            "annotations": ["group", "datatype", "default"],
            "delimiter": ",",
            "header": true,
        },
    });
    let req = client
        .request(Method::POST, "/api/v2/query")
        .query(&[org_param])
        .header(reqwest::header::ACCEPT_ENCODING, "gzip")
        .json(&body);
    let resp = client.send(req, "failed to execute query").await?;
    let gzip = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut stdout = std::io::stdout().lock();
    if args.raw && !gzip {
        // Streamed as received.
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("reading the query answer")?;
            stdout
                .write_all(&chunk)
                .context("writing to standard output")?;
        }
        return stdout.flush().context("writing to standard output");
    }
    let bytes = resp.bytes().await.context("reading the query answer")?;
    let bytes = if gzip {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .context("decompressing the query answer")?;
        out
    } else {
        bytes.to_vec()
    };
    if args.raw {
        stdout
            .write_all(&bytes)
            .and_then(|()| stdout.flush())
            .context("writing to standard output")?;
        return Ok(());
    }
    let text = String::from_utf8(bytes).context("the query answer is not UTF-8")?;
    // An error block after the answer began: print what came before it, then fail.
    let (tables, failure) = split_error(&text);
    let results = ::query::csv::decode(tables).context("reading the query answer")?;
    ::query::pretty::write_results(&mut stdout, &results)
        .and_then(|()| stdout.flush())
        .context("writing to standard output")?;
    match failure {
        Some(message) => bail!("failed to execute query: {message}"),
        None => Ok(()),
    }
}

/// Splits the answer at the `error,reference` block InfluxDB writes when a query fails after
/// its answer began: the tables before it, and the error's message.
fn split_error(text: &str) -> (&str, Option<String>) {
    let mut offset = 0;
    let mut block_start = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare.starts_with('#') {
            block_start.get_or_insert(offset);
        } else if bare == ",error,reference" {
            let rest = &text[offset + line.len()..];
            let row = rest.strip_prefix(',').unwrap_or(rest);
            return (
                &text[..block_start.unwrap_or(offset)],
                Some(first_cell(row)),
            );
        } else {
            block_start = None;
        }
        offset += line.len();
    }
    (text, None)
}

/// The first cell of a CSV record, unquoted.
fn first_cell(row: &str) -> String {
    let Some(quoted) = row.strip_prefix('"') else {
        return row
            .split([',', '\r', '\n'])
            .next()
            .unwrap_or_default()
            .to_string();
    };
    let mut out = String::new();
    let mut chars = quoted.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
            } else {
                break;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_block_after_tables() {
        let text = "#datatype,string,long\r\n,result,table\r\n,,0\r\n\r\n\
                    #datatype,string,string\r\n#group,true,true\r\n#default,,\r\n\
                    ,error,reference\r\n,\"boom, \"\"again\"\"\",\r\n";
        let (tables, err) = split_error(text);
        assert_eq!(
            tables,
            "#datatype,string,long\r\n,result,table\r\n,,0\r\n\r\n"
        );
        assert_eq!(err.as_deref(), Some("boom, \"again\""));
        assert_eq!(split_error("#a\n,x\n"), ("#a\n,x\n", None));
        assert_eq!(first_cell("plain,\r\n"), "plain");
    }
}
