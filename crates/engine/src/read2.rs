//! Reading a format 2 archive: the header first, then every entry checked as it streams (safe
//! path, allowed type, its place and kind in the fixed layout, no repeat, its parent a
//! directory of the archive) and handed to the placer; each frame's BLAKE3 and the list of
//! entries that started in it are compared with the index at the end, which must start a frame
//! of its own and be followed only by tar's end blocks and the trailer that points at it. Links
//! are checked against their sources once all are known. Placers treat what they wrote as
//! provisional until this returns success.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use crate::error::{EngineError, EngineResult};
use crate::header::{FORMAT_VERSION_2, HEADER_PATH, Header, INDEX_PATH, MAX_HEADER};
use crate::index::{EntryDigest, IndexReader, parse_trailer, trailer};
use crate::layout;
use crate::manifest::{Entry, EntryKind, FORMAT, Manifest, is_safe_path};
use crate::read::{Placer, corrupt, drain, dump_mismatch};
use crate::stream::{ChannelReader, Frames};
use crate::write::Control;

/// Parses the header entry.
///
/// Fails with `Corrupt` when it is not a valid header of a known version.
pub(crate) fn read_header<R: Read>(entry: &mut tar::Entry<R>) -> EngineResult<(Header, u64)> {
    if entry.size() > MAX_HEADER {
        return Err(corrupt(format!("{HEADER_PATH} is implausibly large")));
    }
    let size = entry.size();
    let h: Header = serde_json::from_reader(BufReader::new(entry.take(size)))
        .map_err(|e| corrupt(format!("{HEADER_PATH} is not valid: {e}")))?;
    if h.format != FORMAT {
        return Err(corrupt(format!(
            "not a dsbackup archive (format {:?})",
            h.format
        )));
    }
    if h.format_version != FORMAT_VERSION_2 {
        return Err(corrupt(format!(
            "unsupported archive format version {} (this dsbackup reads up to {FORMAT_VERSION_2})",
            h.format_version
        )));
    }
    Ok((h, size))
}

/// The entry digests of frames, built as entries arrive.
struct Digests {
    done: Vec<[u8; 32]>,
    current: EntryDigest,
}

impl Digests {
    fn at(&mut self, frame: usize) -> &mut EntryDigest {
        while self.done.len() < frame {
            let d = std::mem::take(&mut self.current);
            self.done.push(d.finish());
        }
        &mut self.current
    }
}

/// What the walk tracks besides the placer's work.
struct Walk {
    dump: bool,
    paths: HashSet<u128>,
    dirs: HashSet<String>,
    links: Vec<(String, String)>,
    digests: Digests,
    entries: usize,
    bytes: u64,
    scratch: Vec<u8>,
}

fn path_key(path: &str) -> u128 {
    let h = blake3::hash(path.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(b)
}

/// Walks the entries after the header; returns what was read and the index's frame offset.
///
/// Fails with `Corrupt` naming the first problem, with the placer's errors, or `Canceled`.
pub(crate) fn walk_v2<R: Read>(
    (header, header_size): (Header, u64),
    iter: tar::Entries<'_, R>,
    frames: &Rc<RefCell<Frames>>,
    dump: Option<bool>,
    placer: &mut dyn Placer,
    control: &Control,
) -> EngineResult<((Manifest, usize, u64), u64)> {
    if let Some(want) = dump
        && want != header.dump
    {
        return Err(dump_mismatch(header.dump));
    }
    let manifest = header.to_manifest();
    placer.begin(&manifest)?;
    let mut w = Walk {
        dump: header.dump,
        paths: HashSet::new(),
        dirs: HashSet::new(),
        links: Vec::new(),
        digests: Digests {
            done: Vec::new(),
            current: EntryDigest::default(),
        },
        entries: 1,
        bytes: 0,
        scratch: Vec::new(),
    };
    w.paths.insert(path_key(HEADER_PATH));
    w.digests
        .at(0)
        .add(HEADER_PATH, EntryKind::File, header_size);
    let total = header.planned_bytes;
    let mut index_offset = None;
    for item in iter {
        control.check()?;
        let mut entry = item.map_err(|e| {
            corrupt(format!(
                "truncated or damaged after entry {}: {e}",
                w.entries
            ))
        })?;
        if index_offset.is_some() {
            return Err(corrupt("an entry after the index"));
        }
        let path = entry_path(&entry)?;
        let pos = entry.raw_header_position();
        let frame = frames.borrow().frame_of(pos);
        if path == INDEX_PATH {
            if frames.borrow().starts.get(frame) != Some(&pos)
                || !entry.header().entry_type().is_file()
            {
                return Err(corrupt("the index does not start a frame of its own"));
            }
            w.digests.at(frame);
            index_offset = Some(check_index(&mut entry, frames, &w.digests.done, frame)?);
            continue;
        }
        let e = describe(&entry, path)?;
        w.digests.at(frame).add(&e.path, e.kind, e.size);
        if e.path == HEADER_PATH || !w.paths.insert(path_key(&e.path)) {
            return Err(corrupt(format!("{}: duplicate entry", e.path)));
        }
        if let Some((parent, _)) = e.path.rsplit_once('/')
            && !w.dirs.contains(parent)
        {
            return Err(corrupt(format!(
                "{}: its parent is not a directory of the archive",
                e.path
            )));
        }
        layout::check_place(&e.path, e.kind, w.dump).map_err(corrupt)?;
        place(&mut w, &mut entry, e, placer)?;
        control.report(w.bytes, total.max(w.bytes));
        w.entries += 1;
    }
    let Some(offset) = index_offset else {
        return Err(corrupt("the index is missing (truncated?)"));
    };
    let links: Vec<(&str, &str)> = w
        .links
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    layout::check_links(&links, w.dump).map_err(corrupt)?;
    Ok(((manifest, w.entries + 1, w.bytes), offset))
}

fn entry_path<R: Read>(entry: &tar::Entry<R>) -> EngineResult<String> {
    let raw = entry.path_bytes().into_owned();
    let path = String::from_utf8(raw).map_err(|_| corrupt("entry path is not UTF-8"))?;
    let path = path.trim_end_matches('/').to_string();
    if !is_safe_path(&path) {
        return Err(corrupt(format!(
            "unsafe entry path {path:?} (absolute, '..' or empty parts)"
        )));
    }
    Ok(path)
}

/// The entry as its tar header describes it.
pub(crate) fn describe<R: Read>(entry: &tar::Entry<R>, path: String) -> EngineResult<Entry> {
    let h = entry.header();
    let t = h.entry_type();
    let kind = if t.is_file() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Symlink
    } else {
        return Err(corrupt(format!(
            "{path}: hard links, devices and pipes are refused"
        )));
    };
    let target = if kind == EntryKind::Symlink {
        let t = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        Some(t)
    } else {
        None
    };
    Ok(Entry {
        path,
        kind,
        size: if kind == EntryKind::File {
            entry.size()
        } else {
            0
        },
        mode: h.mode().map_err(|e| corrupt(format!("bad mode: {e}")))? & 0o7777,
        mtime: h.mtime().map_or(0, |m| m.min(i64::MAX as u64) as i64),
        blake3: None,
        target,
    })
}

fn place<R: Read>(
    w: &mut Walk,
    entry: &mut tar::Entry<R>,
    e: Entry,
    placer: &mut dyn Placer,
) -> EngineResult<()> {
    match e.kind {
        EntryKind::Dir => {
            placer.dir(&e)?;
            w.dirs.insert(e.path);
        }
        EntryKind::Symlink => {
            let target = e.target.clone().unwrap_or_default();
            placer.symlink(&e, &target)?;
            w.links.push((e.path, target));
        }
        EntryKind::File => {
            let mut r = Counted {
                inner: entry.take(e.size),
                count: 0,
            };
            placer.file(&e, &mut r)?;
            drain(&mut r, &mut w.scratch)
                .map_err(|err| corrupt(format!("{}: truncated or damaged: {err}", e.path)))?;
            if r.count != e.size {
                return Err(corrupt(format!("{}: truncated", e.path)));
            }
            w.bytes += r.count;
        }
    }
    Ok(())
}

struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Compares the index with the frames seen and the entries that started in each; returns the
/// compressed offset of the index's frame.
fn check_index<R: Read>(
    entry: &mut tar::Entry<R>,
    frames: &Rc<RefCell<Frames>>,
    digests: &[[u8; 32]],
    k: usize,
) -> EngineResult<u64> {
    let size = entry.size();
    let bad = |e: io::Error| corrupt(format!("{INDEX_PATH}: {e}"));
    let mut reader = IndexReader::new(BufReader::new(entry.take(size))).map_err(bad)?;
    let mut i = 0usize;
    let mut offset = 0u64;
    while let Some(rec) = reader.next_frame().map_err(bad)? {
        let frames = frames.borrow();
        let Some(seen) = frames.seen.get(i).filter(|_| i < k) else {
            return Err(corrupt(format!(
                "{INDEX_PATH} lists more frames than the archive holds"
            )));
        };
        if seen.clen != rec.clen || seen.ulen != rec.ulen || seen.blake3 != rec.blake3 {
            return Err(corrupt(format!(
                "frame {i} (at byte {offset}) does not match its BLAKE3 and size in {INDEX_PATH}"
            )));
        }
        if digests.get(i) != Some(&rec.entries_digest()) {
            return Err(corrupt(format!(
                "frame {i}: its entries differ from those {INDEX_PATH} lists"
            )));
        }
        offset += rec.clen;
        i += 1;
    }
    if i != k {
        return Err(corrupt(format!(
            "{INDEX_PATH} lists {i} frames, the archive holds {k} before it"
        )));
    }
    Ok(offset)
}

/// After the last entry: only zeros (tar's end blocks) may follow, then exactly one trailer
/// after the last frame, pointing at the index.
///
/// Fails with `Corrupt` otherwise.
pub(crate) fn check_end(
    mut rest: ChannelReader,
    frames: &Rc<RefCell<Frames>>,
    index_offset: u64,
) -> EngineResult<()> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = rest
            .read(&mut buf)
            .map_err(|e| corrupt(format!("damaged after the index: {e}")))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(corrupt("data after the end of the archive"));
        }
    }
    let frames = frames.borrow();
    let trailer = match frames.skippable.as_slice() {
        [(after, payload)] if *after == frames.seen.len() => {
            let mut whole = trailer(0)[..8].to_vec();
            whole.extend_from_slice(payload);
            parse_trailer(&whole)
        }
        _ => None,
    };
    match trailer {
        Some(offset) if offset == index_offset => Ok(()),
        Some(_) => Err(corrupt("the trailer does not point at the index")),
        None => Err(EngineError::Corrupt(
            "the trailer is missing or not the last frame (truncated?)".into(),
        )),
    }
}
