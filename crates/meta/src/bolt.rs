//! The BoltDB (bbolt) file format, as InfluxDB's `influxd.bolt` uses it: reading a whole file
//! into memory and writing crash-safe copy-on-write commits and standalone snapshot images.
//!
//! # Format
//! The file is an array of `page_size` pages, all integers little-endian. Page header (16 bytes):
//! `id u64 | flags u16 (0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist) | count u16 |
//! overflow u32` (additional contiguous pages). Pages 0 and 1 are meta pages; the body (at 16) is
//! `magic 0xED0CDAED u32 | version 2 u32 | page_size u32 | flags u32 | root pgid u64 |
//! root sequence u64 | freelist pgid u64 | high-water pgid u64 | txid u64 | checksum u64`, the
//! checksum being FNV-1a 64 over the 56 bytes before it. The valid meta with the higher txid
//! wins; a commit writes its meta to page `txid % 2`. Leaf elements are
//! `flags u32 (1 = sub-bucket) | pos u32 | ksize u32 | vsize u32`, branch elements
//! `pos u32 | ksize u32 | child pgid u64`; `pos` is relative to the element and the key (then
//! the value) lives there. A bucket value is `root pgid u64 | sequence u64`; root 0 means an
//! inline bucket whose leaf page (header + elements + data) follows in the value. The freelist
//! page lists the free page IDs (count 0xFFFF = real count in the first u64).
//!
//! # Why our own implementation
//! The `bbolt-rs` 1.3.10 crate (`compat` feature) was evaluated against Go bbolt (1.3.6, the
//! version InfluxDB pins): files it writes are read by Go's bbolt and it reads Go's files,
//! including InfluxDB's `influxd.bolt`, and its commit writes and fsyncs data pages before the
//! meta page, so it is sound for well-formed files. It is not used because it panics
//! (`Option::unwrap` in its cursor) when a page is damaged, and KV files reach us from outside
//! the process (restore uploads); it reads through an unsafe mmap; it has no `Tx.WriteTo`; and
//! it pulls command-line crates into the library build. This module was checked the same way:
//! Go's `Tx.Check()` finds no error in files it writes (new stores, and InfluxDB's file after
//! our commits), Go commits into those files, and this module reads the result. InfluxDB's metadata is small (kilobytes to a
//! few megabytes), so this module keeps the whole tree in memory, validates every page while
//! loading, and on commit writes the root and every changed top-level bucket anew into pages that
//! the current version does not use (copy-on-write; unchanged top-level buckets keep their
//! pages), fsyncs them, then writes and fsyncs the meta page: a crash at any point leaves either
//! the old or the new version, exactly as bbolt's own commit.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEM: usize = 16;
const FLAG_BRANCH: u16 = 0x01;
const FLAG_LEAF: u16 = 0x02;
const FLAG_META: u16 = 0x04;
const FLAG_FREELIST: u16 = 0x10;
const BUCKET_LEAF_FLAG: u32 = 0x01;
const MAX_DEPTH: usize = 64;
/// bbolt's `MaxKeySize`.
pub(crate) const MAX_KEY_SIZE: usize = 32768;
/// bbolt's `MaxValueSize`.
pub(crate) const MAX_VALUE_SIZE: usize = (1 << 31) - 2;

fn check_sizes(k: &[u8], v: &[u8]) -> Result<()> {
    if k.is_empty() {
        return Err(Error::Invalid("bolt: empty key".into()));
    }
    if k.len() > MAX_KEY_SIZE {
        return Err(Error::Invalid(format!(
            "bolt: key of {} bytes is longer than {MAX_KEY_SIZE}",
            k.len()
        )));
    }
    if v.len() > MAX_VALUE_SIZE {
        return Err(Error::Invalid("bolt: value too large".into()));
    }
    Ok(())
}

/// A bucket: its sequence counter and its sorted entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub seq: u64,
    pub entries: BTreeMap<Vec<u8>, Entry>,
}

/// A bucket entry: a value or a nested bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Value(Vec<u8>),
    Bucket(Bucket),
}

/// A decoded file: its tree plus what a writer needs to commit on top of it.
pub(crate) struct Loaded {
    pub page_size: usize,
    pub txid: u64,
    pub root: Bucket,
    /// High-water mark (number of pages in use by the file).
    pub hwm: u64,
    /// Pages in use by the current version (meta pages included).
    pub used: BTreeSet<u64>,
    /// Where each top-level bucket of the current version lives.
    pub tops: Tops,
}

/// The stored form of one top-level bucket: its value in the root (header, or inline page) and
/// the pages of its subtree. Unchanged buckets are carried over to the next commit as is.
#[derive(Clone, Debug, Default)]
pub(crate) struct TopPages {
    pub value: Vec<u8>,
    pub pages: Vec<u64>,
}

/// Top-level bucket name → its stored form.
pub(crate) type Tops = BTreeMap<Vec<u8>, TopPages>;

fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| Error::corrupt("bolt: truncated page"))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| Error::corrupt("bolt: truncated page"))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64> {
    let s = b
        .get(off..off + 8)
        .ok_or_else(|| Error::corrupt("bolt: truncated page"))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[derive(Clone, Copy, Debug)]
struct Meta {
    page_size: u32,
    root: u64,
    root_seq: u64,
    freelist: u64,
    hwm: u64,
    txid: u64,
}

/// Parses a meta page body (the 64 bytes after the page header); `None` if invalid.
fn parse_meta(page: &[u8]) -> Option<Meta> {
    let body = page.get(PAGE_HEADER..PAGE_HEADER + 64)?;
    let flags = u16_at(page, 8).ok()?;
    if flags != FLAG_META {
        return None;
    }
    if u32_at(body, 0).ok()? != MAGIC || u32_at(body, 4).ok()? != VERSION {
        return None;
    }
    if u64_at(body, 56).ok()? != fnv1a(&body[..56]) {
        return None;
    }
    Some(Meta {
        page_size: u32_at(body, 8).ok()?,
        root: u64_at(body, 16).ok()?,
        root_seq: u64_at(body, 24).ok()?,
        freelist: u64_at(body, 32).ok()?,
        hwm: u64_at(body, 40).ok()?,
        txid: u64_at(body, 48).ok()?,
    })
}

fn meta_page(pgid: u64, page_size: usize, m: &Meta) -> Vec<u8> {
    let mut p = vec![0u8; page_size];
    p[0..8].copy_from_slice(&pgid.to_le_bytes());
    p[8..10].copy_from_slice(&FLAG_META.to_le_bytes());
    let b = &mut p[PAGE_HEADER..PAGE_HEADER + 64];
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&VERSION.to_le_bytes());
    b[8..12].copy_from_slice(&m.page_size.to_le_bytes());
    b[16..24].copy_from_slice(&m.root.to_le_bytes());
    b[24..32].copy_from_slice(&m.root_seq.to_le_bytes());
    b[32..40].copy_from_slice(&m.freelist.to_le_bytes());
    b[40..48].copy_from_slice(&m.hwm.to_le_bytes());
    b[48..56].copy_from_slice(&m.txid.to_le_bytes());
    let c = fnv1a(&b[..56]);
    b[56..64].copy_from_slice(&c.to_le_bytes());
    p
}

/// Decodes a whole bolt file.
pub(crate) fn read(data: &[u8]) -> Result<Loaded> {
    let mut metas = Vec::new();
    if let Some(m) = parse_meta(data) {
        metas.push(m);
        let ps = m.page_size as usize;
        if let Some(m1) = data.get(ps..).and_then(parse_meta) {
            metas.push(m1);
        }
    } else {
        // Meta 0 damaged: probe meta 1 at the possible page sizes.
        let mut ps = 1024usize;
        while ps <= 16 << 20 {
            if let Some(m1) = data.get(ps..).and_then(parse_meta)
                && m1.page_size as usize == ps
            {
                metas.push(m1);
                break;
            }
            ps *= 2;
        }
    }
    let meta = metas
        .iter()
        .filter(|m| m.page_size >= 512 && m.page_size.is_power_of_two())
        .max_by_key(|m| m.txid)
        .copied()
        .ok_or_else(|| Error::corrupt("bolt: no valid meta page (not a bolt file?)"))?;
    let page_size = meta.page_size as usize;
    let npages = (data.len() / page_size) as u64;
    if meta.hwm > npages || meta.hwm < 2 {
        return Err(Error::corrupt(format!(
            "bolt: meta high-water mark {} beyond file end ({} pages)",
            meta.hwm, npages
        )));
    }
    let mut r = Reader {
        data,
        page_size,
        hwm: meta.hwm,
        used: BTreeSet::new(),
        collect: None,
        tops: Tops::new(),
    };
    r.used.insert(0);
    r.used.insert(1);
    if meta.freelist != u64::MAX {
        let p = r.page(meta.freelist)?;
        if u16_at(p, 8)? != FLAG_FREELIST {
            return Err(Error::corrupt("bolt: freelist page has wrong flags"));
        }
    }
    let mut root = Bucket {
        seq: meta.root_seq,
        entries: BTreeMap::new(),
    };
    r.walk(meta.root, &mut root, 0)?;
    Ok(Loaded {
        page_size,
        txid: meta.txid,
        root,
        hwm: meta.hwm,
        used: r.used,
        tops: r.tops,
    })
}

struct Reader<'a> {
    data: &'a [u8],
    page_size: usize,
    hwm: u64,
    used: BTreeSet<u64>,
    /// Pages of the top-level bucket being read.
    collect: Option<Vec<u64>>,
    tops: Tops,
}

impl<'a> Reader<'a> {
    /// The bytes of page `id` including its overflow pages; marks them used.
    fn page(&mut self, id: u64) -> Result<&'a [u8]> {
        if id < 2 || id >= self.hwm {
            return Err(Error::corrupt(format!("bolt: page {id} out of range")));
        }
        let off = (id as usize) * self.page_size;
        let head = self
            .data
            .get(off..off + PAGE_HEADER)
            .ok_or_else(|| Error::corrupt("bolt: page beyond file end"))?;
        if u64_at(head, 0)? != id {
            return Err(Error::corrupt(format!("bolt: page {id} has a wrong id")));
        }
        let overflow = u64::from(u32_at(head, 12)?);
        if id + overflow >= self.hwm {
            return Err(Error::corrupt(format!(
                "bolt: page {id} overflows the file"
            )));
        }
        for p in id..=id + overflow {
            if !self.used.insert(p) {
                return Err(Error::corrupt(format!("bolt: page {p} referenced twice")));
            }
            if let Some(c) = &mut self.collect {
                c.push(p);
            }
        }
        let end = off + (overflow as usize + 1) * self.page_size;
        self.data
            .get(off..end)
            .ok_or_else(|| Error::corrupt("bolt: page beyond file end"))
    }

    /// Walks the root bucket's B+tree at page `id`.
    fn walk(&mut self, id: u64, into: &mut Bucket, depth: usize) -> Result<()> {
        self.walk_in(id, into, depth, true)
    }

    /// Walks the B+tree rooted at page `id`, adding its leaf entries to `into`.
    fn walk_in(
        &mut self,
        id: u64,
        into: &mut Bucket,
        depth: usize,
        into_is_root: bool,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::corrupt("bolt: tree too deep"));
        }
        let p = self.page(id)?;
        let flags = u16_at(p, 8)?;
        let count = u16_at(p, 10)? as usize;
        match flags {
            FLAG_LEAF => self.leaf(p, into, depth, into_is_root),
            FLAG_BRANCH => {
                for i in 0..count {
                    let e = PAGE_HEADER + i * ELEM;
                    let child = u64_at(p, e + 8)?;
                    self.walk_in(child, into, depth + 1, into_is_root)?;
                }
                Ok(())
            }
            _ => Err(Error::corrupt(format!(
                "bolt: page {id} has unexpected flags {flags:#x}"
            ))),
        }
    }

    /// Decodes the elements of a leaf page (or an inline bucket's fake page).
    fn leaf(
        &mut self,
        p: &'a [u8],
        into: &mut Bucket,
        depth: usize,
        into_is_root: bool,
    ) -> Result<()> {
        let count = u16_at(p, 10)? as usize;
        for i in 0..count {
            let e = PAGE_HEADER + i * ELEM;
            let flags = u32_at(p, e)?;
            let pos = u32_at(p, e + 4)? as usize;
            let ksize = u32_at(p, e + 8)? as usize;
            let vsize = u32_at(p, e + 12)? as usize;
            let kstart = e
                .checked_add(pos)
                .ok_or_else(|| Error::corrupt("bolt: bad element"))?;
            let key = p
                .get(kstart..kstart.saturating_add(ksize))
                .ok_or_else(|| Error::corrupt("bolt: key beyond page"))?;
            let vstart = kstart + ksize;
            let val = p
                .get(vstart..vstart.saturating_add(vsize))
                .ok_or_else(|| Error::corrupt("bolt: value beyond page"))?;
            let entry = if flags & BUCKET_LEAF_FLAG != 0 {
                if val.len() < 16 {
                    return Err(Error::corrupt("bolt: short bucket header"));
                }
                let root = u64_at(val, 0)?;
                let mut b = Bucket {
                    seq: u64_at(val, 8)?,
                    entries: BTreeMap::new(),
                };
                // Entries of the root bucket are the top-level buckets: record their pages.
                let top = self.collect.is_none() && into_is_root;
                if top {
                    self.collect = Some(Vec::new());
                }
                let res = if root == 0 {
                    let inline = &val[16..];
                    if inline.len() < PAGE_HEADER || u16_at(inline, 8)? != FLAG_LEAF {
                        Err(Error::corrupt("bolt: bad inline bucket"))
                    } else {
                        self.leaf(inline, &mut b, depth + 1, false)
                    }
                } else {
                    self.walk_in(root, &mut b, depth + 1, false)
                };
                if top {
                    let pages = self.collect.take().unwrap_or_default();
                    self.tops.insert(
                        key.to_vec(),
                        TopPages {
                            value: val.to_vec(),
                            pages,
                        },
                    );
                }
                res?;
                Entry::Bucket(b)
            } else {
                Entry::Value(val.to_vec())
            };
            into.entries.insert(key.to_vec(), entry);
        }
        Ok(())
    }
}

/// Page allocator for a commit: hands out runs of pages that the current version does not use,
/// growing the file when no run is long enough.
pub(crate) struct Alloc {
    free: BTreeSet<u64>,
    pub hwm: u64,
}

impl Alloc {
    /// All pages `2..hwm` not in `used` are free.
    pub fn new(used: &BTreeSet<u64>, hwm: u64) -> Alloc {
        let free = (2..hwm).filter(|p| !used.contains(p)).collect();
        Alloc { free, hwm }
    }

    fn alloc(&mut self, n: u64) -> u64 {
        if n == 1
            && let Some(p) = self.free.pop_first()
        {
            return p;
        }
        let mut run_start = None;
        let mut run_len = 0u64;
        let mut prev = None;
        let mut found = None;
        for &p in &self.free {
            if prev.map(|q: u64| q + 1 == p).unwrap_or(false) {
                run_len += 1;
            } else {
                run_start = Some(p);
                run_len = 1;
            }
            prev = Some(p);
            if run_len == n {
                found = run_start;
                break;
            }
        }
        if let Some(s) = found {
            for p in s..s + n {
                self.free.remove(&p);
            }
            return s;
        }
        let s = self.hwm;
        self.hwm += n;
        s
    }
}

/// The pages of one new version of the tree.
pub(crate) struct Built {
    /// `(pgid, bytes)` of every page to write (bytes span the overflow pages).
    pub pages: Vec<(u64, Vec<u8>)>,
    pub root: u64,
    pub root_seq: u64,
    pub freelist: u64,
    pub hwm: u64,
    /// Pages used by this version (meta pages included).
    pub used: BTreeSet<u64>,
    /// Where each top-level bucket of this version lives.
    pub tops: Tops,
}

impl Built {
    /// The meta page for this version at txid `txid`, for slot `txid % 2` or a given slot.
    pub fn meta_page(&self, slot: u64, txid: u64, page_size: usize) -> Vec<u8> {
        meta_page(
            slot,
            page_size,
            &Meta {
                page_size: page_size as u32,
                root: self.root,
                root_seq: self.root_seq,
                freelist: self.freelist,
                hwm: self.hwm,
                txid,
            },
        )
    }
}

fn node_page(flags: u16, count: usize, body_len: usize, page_size: usize) -> (Vec<u8>, u32) {
    let total = PAGE_HEADER + count * ELEM + body_len;
    let npages = total.div_ceil(page_size).max(1);
    let mut p = vec![0u8; npages * page_size];
    p[8..10].copy_from_slice(&flags.to_le_bytes());
    p[10..12].copy_from_slice(&(count as u16).to_le_bytes());
    let overflow = (npages - 1) as u32;
    p[12..16].copy_from_slice(&overflow.to_le_bytes());
    (p, overflow)
}

/// Writes leaf elements `(flags, key, value)` into `buf` (starting at the element array).
fn fill_leaf(buf: &mut [u8], items: &[(u32, &[u8], Vec<u8>)]) {
    let mut data = PAGE_HEADER + items.len() * ELEM;
    for (i, (flags, k, v)) in items.iter().enumerate() {
        let e = PAGE_HEADER + i * ELEM;
        buf[e..e + 4].copy_from_slice(&flags.to_le_bytes());
        buf[e + 4..e + 8].copy_from_slice(&((data - e) as u32).to_le_bytes());
        buf[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
        buf[e + 12..e + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
        buf[data..data + k.len()].copy_from_slice(k);
        data += k.len();
        buf[data..data + v.len()].copy_from_slice(v);
        data += v.len();
    }
}

struct Builder<'a> {
    alloc: &'a mut Alloc,
    page_size: usize,
    pages: Vec<(u64, Vec<u8>)>,
    used: BTreeSet<u64>,
    /// Pages placed for the top-level bucket being built.
    collect: Option<Vec<u64>>,
}

impl Builder<'_> {
    fn place(&mut self, mut page: Vec<u8>, overflow: u32) -> u64 {
        let id = self.alloc.alloc(u64::from(overflow) + 1);
        page[0..8].copy_from_slice(&id.to_le_bytes());
        for p in id..=id + u64::from(overflow) {
            self.used.insert(p);
            if let Some(c) = &mut self.collect {
                c.push(p);
            }
        }
        self.pages.push((id, page));
        id
    }

    /// Encodes a bucket's value (16-byte header, plus the inline page when inlined).
    fn bucket_value(&mut self, b: &Bucket, allow_inline: bool) -> Result<Vec<u8>> {
        let mut items: Vec<(u32, &[u8], Vec<u8>)> = Vec::with_capacity(b.entries.len());
        let mut has_sub = false;
        for (k, e) in &b.entries {
            match e {
                Entry::Value(v) => {
                    check_sizes(k, v)?;
                    items.push((0, k.as_slice(), v.clone()))
                }
                Entry::Bucket(sb) => {
                    check_sizes(k, &[])?;
                    has_sub = true;
                    let v = self.bucket_value(sb, true)?;
                    items.push((BUCKET_LEAF_FLAG, k.as_slice(), v));
                }
            }
        }
        let size: usize = PAGE_HEADER
            + items
                .iter()
                .map(|(_, k, v)| ELEM + k.len() + v.len())
                .sum::<usize>();
        let mut out = Vec::new();
        if allow_inline && !has_sub && size <= self.page_size / 4 {
            out.extend_from_slice(&0u64.to_le_bytes());
            out.extend_from_slice(&b.seq.to_le_bytes());
            let mut page = vec![0u8; size];
            page[8..10].copy_from_slice(&FLAG_LEAF.to_le_bytes());
            page[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
            fill_leaf(&mut page, &items);
            out.extend_from_slice(&page);
            return Ok(out);
        }
        let root = self.tree(&items)?;
        out.extend_from_slice(&root.to_le_bytes());
        out.extend_from_slice(&b.seq.to_le_bytes());
        Ok(out)
    }

    /// Writes leaves (and branches over them) for sorted items; returns the root page.
    fn tree(&mut self, items: &[(u32, &[u8], Vec<u8>)]) -> Result<u64> {
        // Split into leaves of at most one page (a single big element gets overflow pages).
        let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut start = 0;
        while start < items.len() || (start == 0 && items.is_empty()) {
            let mut size = PAGE_HEADER;
            let mut end = start;
            while end < items.len() && end - start < 0xFFFE {
                let s = ELEM + items[end].1.len() + items[end].2.len();
                if end > start && size + s > self.page_size {
                    break;
                }
                size += s;
                end += 1;
            }
            let chunk = &items[start..end];
            let body: usize = chunk.iter().map(|(_, k, v)| k.len() + v.len()).sum();
            let (mut page, overflow) = node_page(FLAG_LEAF, chunk.len(), body, self.page_size);
            fill_leaf(&mut page, chunk);
            let first = chunk.first().map(|c| c.1.to_vec()).unwrap_or_default();
            let id = self.place(page, overflow);
            level.push((first, id));
            if items.is_empty() {
                break;
            }
            start = end;
        }
        while level.len() > 1 {
            let mut next = Vec::new();
            let mut start = 0;
            while start < level.len() {
                let mut size = PAGE_HEADER;
                let mut end = start;
                while end < level.len() && end - start < 0xFFFE {
                    let s = ELEM + level[end].0.len();
                    if end > start && size + s > self.page_size {
                        break;
                    }
                    size += s;
                    end += 1;
                }
                let chunk = &level[start..end];
                let body: usize = chunk.iter().map(|(k, _)| k.len()).sum();
                let (mut page, overflow) =
                    node_page(FLAG_BRANCH, chunk.len(), body, self.page_size);
                let mut data = PAGE_HEADER + chunk.len() * ELEM;
                for (i, (k, child)) in chunk.iter().enumerate() {
                    let e = PAGE_HEADER + i * ELEM;
                    page[e..e + 4].copy_from_slice(&((data - e) as u32).to_le_bytes());
                    page[e + 4..e + 8].copy_from_slice(&(k.len() as u32).to_le_bytes());
                    page[e + 8..e + 16].copy_from_slice(&child.to_le_bytes());
                    page[data..data + k.len()].copy_from_slice(k);
                    data += k.len();
                }
                let first = chunk[0].0.clone();
                let id = self.place(page, overflow);
                next.push((first, id));
                start = end;
            }
            level = next;
        }
        Ok(level[0].1)
    }
}

/// Lays out a complete new version of `root` into pages handed out by `alloc`, plus its
/// freelist page (listing every page below the new high-water mark this version does not use).
pub(crate) fn build(root: &Bucket, page_size: usize, alloc: &mut Alloc) -> Result<Built> {
    build_from(root, None, page_size, alloc)
}

/// Like [`build`], but top-level buckets equal to those of `prev` (the current version, stored as
/// `prev_tops`) keep their pages: only changed buckets and the root are written.
pub(crate) fn build_from(
    root: &Bucket,
    prev: Option<(&Bucket, &Tops)>,
    page_size: usize,
    alloc: &mut Alloc,
) -> Result<Built> {
    let mut b = Builder {
        alloc,
        page_size,
        pages: Vec::new(),
        used: BTreeSet::new(),
        collect: None,
    };
    let mut tops = Tops::new();
    let mut items: Vec<(u32, &[u8], Vec<u8>)> = Vec::with_capacity(root.entries.len());
    for (k, e) in &root.entries {
        match e {
            Entry::Value(v) => {
                check_sizes(k, v)?;
                items.push((0, k.as_slice(), v.clone()))
            }
            Entry::Bucket(sb) => {
                check_sizes(k, &[])?;
                let reuse = prev.and_then(|(pr, pt)| {
                    let same = pr.entries.get(k).map(|pe| pe == e).unwrap_or(false);
                    if same { pt.get(k) } else { None }
                });
                let top = match reuse {
                    Some(t) => {
                        b.used.extend(t.pages.iter().copied());
                        t.clone()
                    }
                    None => {
                        b.collect = Some(Vec::new());
                        let value = b.bucket_value(sb, true);
                        let pages = b.collect.take().unwrap_or_default();
                        TopPages {
                            value: value?,
                            pages,
                        }
                    }
                };
                items.push((BUCKET_LEAF_FLAG, k.as_slice(), top.value.clone()));
                tops.insert(k.clone(), top);
            }
        }
    }
    let root_pgid = b.tree(&items)?;
    b.used.insert(0);
    b.used.insert(1);
    // Freelist: its size depends on the number of free pages; allocate for the current count
    // (allocating can only shrink it).
    let free_now = (2..b.alloc.hwm).filter(|p| !b.used.contains(p)).count();
    let need = PAGE_HEADER + 8 * (free_now + 1);
    let npages = need.div_ceil(page_size).max(1) as u64;
    let fl = b.alloc.alloc(npages);
    for p in fl..fl + npages {
        b.used.insert(p);
    }
    let hwm = b.alloc.hwm;
    let free: Vec<u64> = (2..hwm).filter(|p| !b.used.contains(p)).collect();
    let mut page = vec![0u8; npages as usize * page_size];
    page[0..8].copy_from_slice(&fl.to_le_bytes());
    page[8..10].copy_from_slice(&FLAG_FREELIST.to_le_bytes());
    page[12..16].copy_from_slice(&((npages - 1) as u32).to_le_bytes());
    let mut off = PAGE_HEADER;
    if free.len() >= 0xFFFF {
        page[10..12].copy_from_slice(&0xFFFFu16.to_le_bytes());
        page[off..off + 8].copy_from_slice(&(free.len() as u64).to_le_bytes());
        off += 8;
    } else {
        page[10..12].copy_from_slice(&(free.len() as u16).to_le_bytes());
    }
    for id in &free {
        page[off..off + 8].copy_from_slice(&id.to_le_bytes());
        off += 8;
    }
    let mut pages = b.pages;
    pages.push((fl, page));
    Ok(Built {
        pages,
        root: root_pgid,
        root_seq: root.seq,
        freelist: fl,
        hwm,
        used: b.used,
        tops,
    })
}

/// A standalone file image of `root` (like bbolt's `Tx.WriteTo`): meta page 0 with txid `txid`,
/// meta page 1 with `txid - 1`, then the tree, `hwm × page_size` bytes in all.
pub(crate) fn image(root: &Bucket, page_size: usize, txid: u64) -> Result<Vec<u8>> {
    let mut alloc = Alloc::new(&BTreeSet::new(), 2);
    let built = build(root, page_size, &mut alloc)?;
    let mut out = vec![0u8; built.hwm as usize * page_size];
    let txid = txid.max(1);
    out[..page_size].copy_from_slice(&built.meta_page(0, txid, page_size));
    out[page_size..2 * page_size].copy_from_slice(&built.meta_page(1, txid - 1, page_size));
    for (id, p) in &built.pages {
        let off = *id as usize * page_size;
        out[off..off + p.len()].copy_from_slice(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bucket {
        sample_n(3000)
    }

    fn sample_n(big: usize) -> Bucket {
        let mut root = Bucket::default();
        for (name, n, vlen) in [
            ("small", 3usize, 5usize),
            ("big", big, 300),
            ("empty", 0, 0),
        ] {
            let mut b = Bucket::default();
            for i in 0..n {
                b.entries.insert(
                    format!("{i:016x}").into_bytes(),
                    Entry::Value(vec![b'v'; vlen + i % 7]),
                );
            }
            root.entries
                .insert(name.as_bytes().to_vec(), Entry::Bucket(b));
        }
        let mut nested = Bucket {
            seq: 9,
            ..Default::default()
        };
        nested
            .entries
            .insert(b"k".to_vec(), Entry::Value(vec![1; 10_000]));
        let mut outer = Bucket::default();
        outer
            .entries
            .insert(b"inner".to_vec(), Entry::Bucket(nested));
        root.entries.insert(b"outer".to_vec(), Entry::Bucket(outer));
        root
    }

    #[test]
    fn image_round_trips() {
        let root = sample();
        let img = image(&root, 4096, 7).unwrap();
        let l = read(&img).unwrap();
        assert_eq!(l.txid, 7);
        assert_eq!(l.root, root);
        assert_eq!(l.hwm as usize * 4096, img.len());
    }

    /// The free ids listed in the freelist of the current meta.
    fn freelist_of(img: &[u8], ps: usize) -> (BTreeSet<u64>, u64) {
        let metas = [parse_meta(img).unwrap(), parse_meta(&img[ps..]).unwrap()];
        let m = metas.iter().max_by_key(|m| m.txid).unwrap();
        let p = &img[m.freelist as usize * ps..];
        let mut count = u16_at(p, 10).unwrap() as usize;
        let mut off = PAGE_HEADER;
        if count == 0xFFFF {
            count = u64_at(p, off).unwrap() as usize;
            off += 8;
        }
        let ids = (0..count)
            .map(|i| u64_at(p, off + 8 * i).unwrap())
            .collect();
        (ids, m.hwm)
    }

    #[test]
    fn commits_reuse_free_pages_and_keep_the_freelist_exact() {
        // Simulate successive commits in memory, as KvFile does on disk.
        let ps = 4096;
        let mut root = sample();
        let mut file = image(&root, ps, 1).unwrap();
        let first = file.len();
        for round in 0..16u64 {
            let l = read(&file).unwrap();
            assert_eq!(l.root, root);
            let (free, hwm) = freelist_of(&file, ps);
            // Free pages are exactly the pages below the high-water mark that are not reachable.
            let expect: BTreeSet<u64> = (2..hwm).filter(|p| !l.used.contains(p)).collect();
            assert_eq!(free, expect, "round {round}");
            // Change the tree and commit on top of the current version.
            if let Some(Entry::Bucket(b)) = root.entries.get_mut(&b"big"[..]) {
                b.entries
                    .retain(|k, _| k[15] != b"0123456789abcdef"[(round % 16) as usize]);
            }
            root.entries.insert(
                format!("new{round}").into_bytes(),
                Entry::Bucket(Bucket::default()),
            );
            let mut alloc = Alloc::new(&l.used, l.hwm);
            let built = build(&root, ps, &mut alloc).unwrap();
            for (id, _) in &built.pages {
                assert!(!l.used.contains(id), "commit overwrote a live page");
            }
            file.resize((built.hwm as usize * ps).max(file.len()), 0);
            for (id, p) in &built.pages {
                let off = *id as usize * ps;
                file[off..off + p.len()].copy_from_slice(p);
            }
            let txid = l.txid + 1;
            let slot = (txid % 2) as usize;
            file[slot * ps..(slot + 1) * ps].copy_from_slice(&built.meta_page(
                slot as u64,
                txid,
                ps,
            ));
        }
        // Space is reused: the file stays a small multiple of one copy instead of growing by a
        // copy per commit.
        assert!(file.len() <= 4 * first, "{} vs {}", file.len(), first);
    }

    #[test]
    fn incremental_commits_keep_unchanged_buckets_in_place() {
        let ps = 4096;
        let mut root = sample();
        let mut file = image(&root, ps, 1).unwrap();
        for round in 0..8u64 {
            let l = read(&file).unwrap();
            assert_eq!(l.root, root, "round {round}");
            let (free, hwm) = freelist_of(&file, ps);
            let expect: BTreeSet<u64> = (2..hwm).filter(|p| !l.used.contains(p)).collect();
            assert_eq!(free, expect, "round {round}");
            let prev = root.clone();
            // Change only the small bucket (and sometimes the big one).
            if let Some(Entry::Bucket(b)) = root.entries.get_mut(&b"small"[..]) {
                b.entries
                    .insert(format!("r{round}").into_bytes(), Entry::Value(vec![1; 10]));
            }
            if round % 3 == 2
                && let Some(Entry::Bucket(b)) = root.entries.get_mut(&b"big"[..])
            {
                b.entries.pop_first();
            }
            let mut alloc = Alloc::new(&l.used, l.hwm);
            let built = build_from(&root, Some((&prev, &l.tops)), ps, &mut alloc).unwrap();
            let written: BTreeSet<u64> = built.pages.iter().map(|(id, _)| *id).collect();
            for id in &written {
                assert!(!l.used.contains(id), "commit overwrote a live page");
            }
            let big_same = round % 3 != 2;
            assert_eq!(
                built.tops[&b"big"[..]].value == l.tops[&b"big"[..]].value,
                big_same,
                "round {round}"
            );
            if big_same {
                // Only the root, the changed small bucket (inline) and the freelist are written.
                assert!(written.len() <= 3, "round {round}: wrote {written:?}");
            }
            file.resize((built.hwm as usize * ps).max(file.len()), 0);
            for (id, p) in &built.pages {
                let off = *id as usize * ps;
                file[off..off + p.len()].copy_from_slice(p);
            }
            let txid = l.txid + 1;
            let slot = (txid % 2) as usize;
            file[slot * ps..(slot + 1) * ps].copy_from_slice(&built.meta_page(
                slot as u64,
                txid,
                ps,
            ));
        }
    }

    #[test]
    fn damaged_pages_are_errors_not_panics() {
        let img = image(&sample_n(200), 4096, 3).unwrap();
        for page in 2..(img.len() / 4096) {
            for at in [0usize, 8, 10, 12, 16, 20, 24, 40, 100] {
                let mut bad = img.clone();
                let off = page * 4096 + at;
                for b in &mut bad[off..off + 8] {
                    *b ^= 0x5a;
                }
                let _ = read(&bad);
            }
        }
        assert!(read(&img[..4096]).is_err());
        assert!(read(&[0u8; 10]).is_err());
    }
}
