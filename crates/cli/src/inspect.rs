//! `ironflux inspect`: offline tools over TSM files, like `influx_inspect` / `influxd inspect`.
//!
//! * `inspect tsm FILE...` dumps keys, index entries, timestamps and values as JSON lines, one
//!   record per file and one per key, in the shape of InfluxDB's own reader dump.
//! * `inspect verify DIR` (or `--dir DIR`) checks every block of every TSM file under `DIR` (CRC and
//!   decoding) and exits non-zero if any is broken.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct InspectArgs {
    #[command(subcommand)]
    command: InspectCommand,
}

#[derive(Subcommand)]
enum InspectCommand {
    /// Dump TSM files as JSON lines: keys, index entries, timestamps and values.
    Tsm {
        /// TSM files to dump.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Verify every block of every TSM file under a directory.
    Verify {
        /// Directory to search for `.tsm` files (e.g. an engine's `data/` directory).
        #[arg(value_name = "DIR", required_unless_present = "dir_flag")]
        dir: Option<PathBuf>,
        /// The same directory, named as `influx_inspect verify -dir` names it.
        #[arg(long = "dir", value_name = "DIR", conflicts_with = "dir")]
        dir_flag: Option<PathBuf>,
    },
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.command {
        InspectCommand::Tsm { files } => {
            tsm::dump::dump_files(&files, &mut out).context("dumping TSM files")?;
        }
        InspectCommand::Verify { dir, dir_flag } => {
            let dir = dir.or(dir_flag).context("a directory is required")?;
            let summary = tsm::verify::verify_dir(&dir, &mut out)
                .with_context(|| format!("verifying {}", dir.display()))?;
            out.flush().context("writing the report")?;
            if !summary.is_healthy() {
                anyhow::bail!(
                    "{} broken blocks and {} unreadable files in {} TSM files",
                    summary.broken_blocks,
                    summary.unreadable_files,
                    summary.files
                );
            }
        }
    }
    out.flush().context("writing the output")?;
    Ok(())
}
