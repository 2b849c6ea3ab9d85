//! `inspect verify`: checks every block of every TSM file under a directory, like InfluxDB's
//! `influx_inspect verify` / `influxd inspect verify-tsm`, and reports in the same words:
//! one `PATH: healthy` line per good file, one line per broken block, and a final
//! `Broken Blocks: X / Y, in Zs`. Besides the CRC, each block is decoded (its value count must
//! match its timestamp count); a file that cannot be opened counts as broken.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::reader::TsmReader;

/// Outcome of [`verify_dir`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySummary {
    /// TSM files found.
    pub files: usize,
    /// Files that could not be opened (bad header, footer or index).
    pub unreadable_files: usize,
    /// Blocks checked.
    pub blocks: usize,
    /// Blocks that failed.
    pub broken_blocks: usize,
}

impl VerifySummary {
    /// True if nothing was broken.
    pub fn is_healthy(&self) -> bool {
        self.unreadable_files == 0 && self.broken_blocks == 0
    }
}

/// All `*.tsm` files under `dir`, recursively, sorted.
pub fn find_tsm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::new(&d, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::new(&d, e))?;
            let p = e.path();
            let ft = e.file_type().map_err(|x| Error::new(&p, x))?;
            if ft.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "tsm") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Verifies every TSM file under `dir`, writing the report to `w`.
pub fn verify_dir(dir: &Path, w: &mut impl Write) -> Result<VerifySummary> {
    let start = Instant::now();
    let mut s = VerifySummary::default();
    let io = |e| Error::new(dir, e);
    for path in find_tsm_files(dir)? {
        s.files += 1;
        let r = match TsmReader::open(&path) {
            Ok(r) => r,
            Err(e) => {
                s.unreadable_files += 1;
                writeln!(w, "{}: could not open: {}", path.display(), e.kind).map_err(io)?;
                continue;
            }
        };
        let mut bad = Vec::new();
        s.blocks += r.verify_each(|e| bad.push(e));
        s.broken_blocks += bad.len();
        if bad.is_empty() {
            writeln!(w, "{}: healthy", path.display()).map_err(io)?;
        }
        for e in bad {
            writeln!(w, "{e}").map_err(io)?;
        }
    }
    writeln!(
        w,
        "Broken Blocks: {} / {}, in {}s",
        s.broken_blocks,
        s.blocks,
        start.elapsed().as_secs_f64()
    )
    .map_err(io)?;
    Ok(s)
}
