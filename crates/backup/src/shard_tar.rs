//! Shard tars: the body of `GET /api/v2/backup/shards/{id}` and `POST /api/v2/restore/shards/{id}`.
//!
//! A plain tar (USTAR; PAX or GNU extensions only where a header needs them) of regular files,
//! one per TSM file of the shard and one per tombstone file, named
//! `<database>/<retention policy>/<shard ID>/<file>`; in InfluxDB 2.x the database is the bucket ID
//! in 16 hex digits and the retention policy is `autogen`. InfluxDB 1.x portable backups use the
//! database name instead (`holdout/autogen/1/000000001-000000001.tsm`). File names are
//! `%09d-%09d.tsm` (generation, sequence) and the same base with `.tombstone`.
//!
//! Reading keeps only each entry's base name, since the shard ID in the path is the source
//! shard's, not the target's. It is stricter than InfluxDB, which writes any entry ending in
//! `tsm` and ignores the rest:
//! * rejected: absolute paths, `..` components, links, devices, FIFOs, any other special entry,
//!   data file names that are not `<generation>-<sequence>.tsm|.tombstone`, and a base name that
//!   appears twice;
//! * skipped and reported: directories and regular files that are not shard data (such as the
//!   `fields.idx` cache of a shard directory);
//! * a stream that ends without the end-of-archive marker (a zero block) is truncated, even when
//!   it ends exactly between two entries.

use crate::Error;
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::{Component, Path};
use std::rc::Rc;

/// Counts the bytes the tar reader consumed.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// What a data file of a shard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Tsm,
    Tombstone,
}

/// A shard data file named `%09d-%09d.tsm` or `%09d-%09d.tombstone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileName {
    pub generation: u32,
    pub sequence: u32,
    pub kind: FileKind,
}

impl DataFileName {
    /// Parses a base name; `None` when it is not a shard data file name.
    pub fn parse(name: &str) -> Option<Self> {
        let (stem, kind) = if let Some(stem) = name.strip_suffix(".tsm") {
            (stem, FileKind::Tsm)
        } else if let Some(stem) = name.strip_suffix(".tombstone") {
            (stem, FileKind::Tombstone)
        } else {
            return None;
        };
        let (generation, sequence) = stem.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(generation) || !digits(sequence) {
            return None;
        }
        Some(Self {
            generation: generation.parse().ok()?,
            sequence: sequence.parse().ok()?,
            kind,
        })
    }
}

/// A data file found in a shard tar, handed to the reader's sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Base name of the file, e.g. `000000001-000000002.tsm`.
    pub name: String,
    pub file: DataFileName,
    /// Size declared by the tar header; the sink's reader yields exactly this many bytes.
    pub size: u64,
}

/// What a shard tar held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Data files handed to the sink, in tar order.
    pub files: Vec<Entry>,
    /// Paths of entries passed over (directories, files that are not shard data).
    pub skipped: Vec<String>,
}

/// Reads a shard tar, handing every TSM and tombstone file to `sink` with a reader over its bytes.
/// Stops at the first rejected entry or sink error; what the sink already stored is the caller's
/// to discard.
pub fn read<R: Read>(
    input: R,
    mut sink: impl FnMut(&Entry, &mut dyn Read) -> Result<(), Error>,
) -> Result<Summary, Error> {
    let count = Rc::new(Cell::new(0u64));
    let mut archive = tar::Archive::new(Counting {
        inner: input,
        count: Rc::clone(&count),
    });
    let mut summary = Summary::default();
    // End of the last entry's data, padded to a block, and its name.
    let mut last_end = 0u64;
    let mut last_name = String::from("archive");
    for entry in archive.entries().map_err(Error::Tar)? {
        let mut entry = entry.map_err(Error::Tar)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let size = entry.header().entry_size().map_err(Error::Tar)?;
        last_end = (entry.raw_file_position() + size).div_ceil(512) * 512;
        last_name = raw_path.clone();
        let reject = |reason: &str| Error::TarEntry {
            entry: raw_path.clone(),
            reason: reason.to_string(),
        };
        let path = Path::new(&raw_path);
        for c in path.components() {
            match c {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => return Err(reject("path contains '..'")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(reject("absolute path"));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            summary.skipped.push(raw_path);
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(reject(&format!(
                "{} entries are not allowed, only regular files",
                entry_type_name(kind)
            )));
        }
        let Some(base) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(reject("no file name"));
        };
        let Some(file) = DataFileName::parse(base) else {
            if base.ends_with("tsm") || base.ends_with(".tombstone") {
                return Err(reject(
                    "data file name must be <generation>-<sequence>.tsm or .tombstone",
                ));
            }
            summary.skipped.push(raw_path);
            continue;
        };
        if summary.files.iter().any(|f| f.name == base) {
            return Err(reject("file appears twice in the archive"));
        }
        let size = entry.header().size().map_err(Error::Tar)?;
        let found = Entry {
            name: base.to_string(),
            file,
            size,
        };
        sink(&found, &mut entry)?;
        // Whatever the sink left unread is drained so the next header is found.
        io::copy(&mut entry, &mut io::sink()).map_err(Error::Tar)?;
        summary.files.push(found);
    }
    // The reader stops at the first zero block; without one the stream was cut short.
    if count.get() < last_end + 512 {
        return Err(Error::TarEntry {
            entry: last_name,
            reason: "archive truncated after this entry: no end-of-archive marker".to_string(),
        });
    }
    Ok(summary)
}

fn entry_type_name(kind: tar::EntryType) -> &'static str {
    use tar::EntryType::*;
    match kind {
        Link => "hard link",
        Symlink => "symbolic link",
        Char => "character device",
        Block => "block device",
        Fifo => "FIFO",
        _ => "special",
    }
}

/// Writes a shard tar as InfluxDB's backup does: `<database>/<rp>/<shard>/<file>` entries with
/// headers from each file's metadata, streamed from disk.
pub struct Writer<W: Write> {
    tar: tar::Builder<W>,
    prefix: String,
}

impl<W: Write> Writer<W> {
    /// Starts a tar of shard `shard_id` of `database`/`retention_policy`.
    pub fn new(out: W, database: &str, retention_policy: &str, shard_id: u64) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Complete);
        Self {
            tar,
            prefix: format!("{database}/{retention_policy}/{shard_id}"),
        }
    }

    /// Appends the file at `path` under its base name.
    pub fn append_file(&mut self, path: &Path) -> Result<(), Error> {
        let io_err = |source| Error::Io {
            context: format!("adding {} to shard tar", path.display()),
            source,
        };
        let name = path.file_name().ok_or_else(|| Error::TarEntry {
            entry: path.display().to_string(),
            reason: "no file name".to_string(),
        })?;
        let mut file = std::fs::File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let mut header = tar::Header::new_ustar();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        let entry_path = Path::new(&self.prefix).join(name);
        self.tar
            .append_data(&mut header, entry_path, &mut file)
            .map_err(io_err)
    }

    /// Appends `data` under `name` (for tests and in-memory files).
    pub fn append_bytes(&mut self, name: &str, data: &[u8], mtime: u64) -> Result<(), Error> {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        let entry_path = Path::new(&self.prefix).join(name);
        self.tar
            .append_data(&mut header, entry_path, data)
            .map_err(|source| Error::Io {
                context: format!("adding {name} to shard tar"),
                source,
            })
    }

    /// Writes the end-of-archive marker and returns the output.
    pub fn finish(self) -> Result<W, Error> {
        self.tar.into_inner().map_err(|source| Error::Io {
            context: "finishing shard tar".to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Files = Vec<(String, Vec<u8>)>;

    fn collect(tar_bytes: &[u8]) -> Result<(Summary, Files), Error> {
        let mut got = Vec::new();
        let summary = read(tar_bytes, |e, r| {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map_err(Error::Tar)?;
            got.push((e.name.clone(), buf));
            Ok(())
        })?;
        Ok((summary, got))
    }

    fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h
    }

    #[test]
    fn round_trips_and_keeps_base_names() {
        let mut w = Writer::new(Vec::new(), "0123456789abcdef", "autogen", 5);
        w.append_bytes("000000001-000000001.tsm", b"tsm bytes", 1)
            .unwrap();
        w.append_bytes("000000001-000000001.tombstone", b"tomb", 1)
            .unwrap();
        let bytes = w.finish().unwrap();
        let (summary, got) = collect(&bytes).unwrap();
        assert_eq!(
            got,
            vec![
                ("000000001-000000001.tsm".to_string(), b"tsm bytes".to_vec()),
                (
                    "000000001-000000001.tombstone".to_string(),
                    b"tomb".to_vec()
                ),
            ]
        );
        assert_eq!(summary.files[1].file.kind, FileKind::Tombstone);
        // Entry names are the shard path relative to the engine's data directory.
        let mut a = tar::Archive::new(&bytes[..]);
        let first = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(
            first.path().unwrap().to_str().unwrap(),
            "0123456789abcdef/autogen/5/000000001-000000001.tsm"
        );
    }

    #[test]
    fn reads_influxdb_1x_portable_backup() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/influxdb1/backup_portable/stateA/20261124T134818Z.s1.tar.gz"
        );
        let gz = std::fs::File::open(path).expect("shared testdata beside the checkout");
        let mut sizes = Vec::new();
        let summary = read(flate2::read::MultiGzDecoder::new(gz), |e, r| {
            let n = io::copy(r, &mut io::sink()).map_err(Error::Tar)?;
            sizes.push(n);
            assert_eq!(n, e.size);
            Ok(())
        })
        .unwrap();
        assert_eq!(summary.files.len(), 1);
        assert_eq!(summary.files[0].name, "000000001-000000001.tsm");
        assert_eq!(sizes, vec![151_830]);
    }

    #[test]
    fn rejects_unsafe_entries() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "parent dir",
                raw_tar(|b| {
                    let mut h = header(tar::EntryType::Regular, 1);
                    h.as_gnu_mut().unwrap().name[..29]
                        .copy_from_slice(b"../x/1/000000001-000000001.ts");
                    h.set_cksum();
                    b.append(&h, &b"x"[..]).unwrap();
                }),
                "..",
            ),
            (
                "absolute",
                raw_tar(|b| {
                    let mut h = header(tar::EntryType::Regular, 1);
                    h.as_gnu_mut().unwrap().name[..28]
                        .copy_from_slice(b"/etc/1/000000001-000000001.t");
                    h.set_cksum();
                    b.append(&h, &b"x"[..]).unwrap();
                }),
                "absolute",
            ),
            (
                "symlink",
                raw_tar(|b| {
                    let mut h = header(tar::EntryType::Symlink, 0);
                    b.append_link(
                        &mut h,
                        "db/autogen/1/000000001-000000001.tsm",
                        "/etc/passwd",
                    )
                    .unwrap();
                }),
                "symbolic link",
            ),
            (
                "device",
                raw_tar(|b| {
                    let mut h = header(tar::EntryType::Char, 0);
                    b.append_data(&mut h, "db/autogen/1/000000001-000000001.tsm", &[][..])
                        .unwrap();
                }),
                "character device",
            ),
            (
                "bad name",
                raw_tar(|b| {
                    let mut h = header(tar::EntryType::Regular, 1);
                    b.append_data(&mut h, "db/autogen/1/evil.tsm", &b"x"[..])
                        .unwrap();
                }),
                "<generation>-<sequence>",
            ),
            (
                "duplicate",
                raw_tar(|b| {
                    for dir in ["a", "b"] {
                        let mut h = header(tar::EntryType::Regular, 1);
                        let p = format!("{dir}/autogen/1/000000001-000000001.tsm");
                        b.append_data(&mut h, p, &b"x"[..]).unwrap();
                    }
                }),
                "twice",
            ),
        ];
        for (what, bytes, want) in cases {
            match collect(&bytes) {
                Err(Error::TarEntry { reason, .. }) => {
                    assert!(reason.contains(want), "{what}: reason {reason:?}")
                }
                other => panic!("{what}: expected a rejected entry, got {other:?}"),
            }
        }
    }

    #[test]
    fn skips_directories_and_shard_caches() {
        let bytes = raw_tar(|b| {
            let mut h = header(tar::EntryType::Directory, 0);
            b.append_data(&mut h, "db/autogen/1/", &[][..]).unwrap();
            let mut h = header(tar::EntryType::Regular, 3);
            b.append_data(&mut h, "db/autogen/1/fields.idx", &b"abc"[..])
                .unwrap();
            let mut h = header(tar::EntryType::Regular, 2);
            b.append_data(&mut h, "db/autogen/1/000000002-000000001.tsm", &b"ok"[..])
                .unwrap();
        });
        let (summary, got) = collect(&bytes).unwrap();
        assert_eq!(
            summary.skipped,
            vec!["db/autogen/1/", "db/autogen/1/fields.idx"]
        );
        assert_eq!(
            got,
            vec![("000000002-000000001.tsm".to_string(), b"ok".to_vec())]
        );
    }

    #[test]
    fn truncated_tar_is_an_error() {
        let mut w = Writer::new(Vec::new(), "db", "autogen", 1);
        w.append_bytes("000000001-000000001.tsm", &[7u8; 4000], 0)
            .unwrap();
        let bytes = w.finish().unwrap();
        let cut = &bytes[..1500];
        assert!(collect(cut).is_err());
        // Cut exactly after the entry, before the end-of-archive marker.
        let cut = &bytes[..512 + 4096];
        match collect(cut) {
            Err(Error::TarEntry { reason, .. }) => assert!(reason.contains("truncated")),
            other => panic!("expected truncation, got {other:?}"),
        }
        assert!(collect(&[]).is_err());
        assert!(collect(&bytes[..]).is_ok());
    }

    #[test]
    fn data_file_names() {
        assert_eq!(
            DataFileName::parse("000000012-000000002.tsm"),
            Some(DataFileName {
                generation: 12,
                sequence: 2,
                kind: FileKind::Tsm
            })
        );
        assert_eq!(
            DataFileName::parse("1-1.tombstone").map(|n| n.kind),
            Some(FileKind::Tombstone)
        );
        for bad in [
            "x-1.tsm",
            "1-.tsm",
            "1.tsm",
            "1-1.tsm.tmp",
            "99999999999-1.tsm",
            "-1-1.tsm",
        ] {
            assert_eq!(DataFileName::parse(bad), None, "{bad}");
        }
    }
}
