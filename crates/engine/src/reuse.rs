//! Copying unchanged entries from a parent archive instead of reading and compressing them
//! again (restic's parent snapshot, at the granularity of format 2's frames).
//!
//! The parent's index (version 3) is read first from its tail and kept in a private temporary
//! file; its frames are grouped into *segments*: a frame that starts at an entry's first
//! header byte and the continuation frames after it, up to the next such frame, so a segment
//! holds whole entries. The writer offers each planned entry; when it is the first entry of a
//! segment not yet passed and every entry of the segment equals the next planned entries —
//! path, type, size, the mode and mtime of its tar header and, for files and links, the
//! device, inode, mtime and ctime it was read with (`lstat` now against the parent's `fstat`
//! then) — the segment's compressed frames are copied byte for byte with their index records.
//! Segments are taken in order from one sequential read of the parent.
//!
//! Nothing of the parent is trusted on its own word: every byte of it passes through SHA-256,
//! and before the writer returns the digest must equal the one the catalog recorded for the
//! parent and the index bytes read first must equal those read in sequence; otherwise the
//! write fails with [`EngineError::Parent`] and the caller writes again without a parent.
//! A file is only given an identity to be trusted later when its mtime and ctime are at least
//! a second older than the backup (a write within the file system's timestamp granularity
//! could otherwise leave them unchanged). Every archive stays self-contained; where the
//! parent is a file the new archive can share blocks with, the copied frames are appended as
//! shared blocks instead of written (`share.rs`), after they were read and hashed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::ops::Range;
use std::sync::Arc;

use crate::error::{EngineError, EngineResult};
use crate::frames::{FrameSink, MAX_FRAME};
use crate::header::INDEX_PATH;
use crate::index::{
    FrameRecord, Ident, IndexEntry, IndexReader, MAX_PAD, TRAILER_LEN, pad_at, parse_trailer,
};
use crate::manifest::EntryKind;
use crate::plan::{Origin, Planned};
use crate::share::ArchiveSink;

mod body;
use body::Body;

/// A finished archive a backup may copy frames from: the catalog's record of it and a way to
/// read its bytes.
pub trait ParentArchive: Send + Sync + std::fmt::Debug {
    /// Its size in bytes, as recorded.
    fn size(&self) -> u64;
    /// Its SHA-256 (hex), as recorded.
    fn sha256(&self) -> &str;
    /// Streams the bytes `range` of it.
    ///
    /// Fails when it cannot be read.
    fn open(&self, range: Range<u64>) -> io::Result<Box<dyn Read + Send>>;

    /// The archive as a file open for reading, when it is one on this machine: its frames are
    /// then read from it, and its blocks may be shared with the new archive (`share.rs`).
    /// `None` (the default) reads through [`open`](Self::open).
    fn file(&self) -> Option<File> {
        None
    }
}

/// What a write took from its parent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReuseReport {
    /// Frames copied, their compressed bytes, the entries they hold and those entries' content.
    pub frames: u64,
    pub bytes: u64,
    pub entries: u64,
    pub content_bytes: u64,
    /// Why a parent was given but not used (unreadable, an index of an older version), if so.
    pub note: Option<String>,
}

/// Whether the parent's entry `q` holds exactly what the planned entry `p` would archive.
pub(crate) fn matches(q: &IndexEntry, p: &Planned) -> bool {
    let e = &p.entry;
    if q.path != e.path || q.kind != e.kind || q.mode != e.mode || q.mtime != e.mtime {
        return false;
    }
    match (e.kind, &p.origin) {
        (EntryKind::Dir, Origin::Nothing) => q.size == 0,
        (EntryKind::File, Origin::Disk(_)) => {
            q.size == e.size && q.ident.is_some() && q.ident == p.seen
        }
        (EntryKind::Symlink, Origin::Nothing) => q.ident.is_some() && q.ident == p.seen,
        _ => false,
    }
}

/// `id` when its times are older than `cutoff_ns` (nanoseconds since the epoch), so any later
/// write will move them.
pub(crate) fn trusted(id: Option<Ident>, cutoff_ns: i64) -> Option<Ident> {
    id.filter(|id| id.mtime_ns < cutoff_ns && id.ctime_ns < cutoff_ns)
}

fn parent_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Parent(e.to_string())
}

/// Reads through `inner`, hashing (BLAKE3) what passes.
struct Hashed<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads through `inner`, copying what passes into `copy`.
struct Tee<'a, R, W> {
    inner: R,
    copy: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// A parent archive being copied from.
pub(crate) struct Reuse {
    parent: Arc<dyn ParentArchive>,
    /// Each frame's offset.
    frames: Vec<u64>,
    /// Each segment's frames.
    segs: Vec<Range<usize>>,
    /// Segments by the path of their first entry.
    first: HashMap<String, usize>,
    /// The index again, read in step with the copying.
    index: IndexReader<BufReader<File>>,
    next_frame: usize,
    next_seg: usize,
    index_offset: u64,
    tail_digest: [u8; 32],
    body: Option<Body>,
    /// The parent's file, when it is one here: what `body` reads, and whose blocks are shared.
    file: Option<File>,
    pub report: ReuseReport,
}

impl Reuse {
    /// Reads the parent's trailer and index (into a private temporary file in `spill_dir`).
    ///
    /// Fails with why the parent cannot be used; the write then goes on without one.
    pub fn open(
        parent: Arc<dyn ParentArchive>,
        spill_dir: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let size = parent.size();
        if size < TRAILER_LEN as u64 {
            return Err("the parent archive is too short".into());
        }
        let tail_start = size - TRAILER_LEN as u64;
        let mut t = Vec::with_capacity(TRAILER_LEN);
        parent
            .open(tail_start..size)
            .and_then(|mut r| r.read_to_end(&mut t))
            .map_err(|e| format!("the parent archive cannot be read: {e}"))?;
        let index_offset = parse_trailer(&t)
            .filter(|&o| o < tail_start)
            .ok_or("the parent archive has no format 2 trailer")?;
        let spill = match spill_dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        }
        .map_err(|e| format!("a temporary file for the parent's index: {e}"))?;
        let mut copy = BufWriter::with_capacity(256 << 10, spill);
        let tail = parent
            .open(index_offset..tail_start)
            .map_err(|e| format!("the parent archive cannot be read: {e}"))?;
        let mut hashed = Hashed {
            inner: tail,
            hasher: blake3::Hasher::new(),
        };
        let (frames, segs, first) = read_index(&mut hashed, &mut copy, index_offset)
            .map_err(|e| format!("the parent's index cannot be used: {e}"))?;
        let mut file = copy.into_inner().map_err(|e| e.into_error().to_string())?;
        file.rewind().map_err(|e| e.to_string())?;
        let index = IndexReader::new(BufReader::with_capacity(256 << 10, file))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            parent,
            frames,
            segs,
            first,
            index,
            next_frame: 0,
            next_seg: 0,
            index_offset,
            tail_digest: *hashed.hasher.finalize().as_bytes(),
            body: None,
            file: None,
            report: ReuseReport::default(),
        })
    }

    /// The segment not yet passed whose first entry is `path`.
    pub fn candidate(&self, path: &str) -> Option<usize> {
        self.first
            .get(path)
            .copied()
            .filter(|&s| s >= self.next_seg)
    }

    /// The frame records of segment `s`; the segments before it are passed.
    ///
    /// Fails with `Parent` when the index copy cannot be read.
    pub fn records(&mut self, s: usize) -> EngineResult<Vec<FrameRecord>> {
        let range = self.segs[s].clone();
        let mut out = Vec::with_capacity(range.len());
        while self.next_frame < range.end {
            let rec = self
                .index
                .next_frame()
                .map_err(parent_err)?
                .ok_or_else(|| parent_err("its index ended early"))?;
            if self.next_frame >= range.start {
                out.push(rec);
            }
            self.next_frame += 1;
        }
        self.next_seg = s + 1;
        Ok(out)
    }

    /// Copies the frames `records` of segment `s` into `sink`, a pad that an earlier copy put
    /// before the segment left out (`share.rs`).
    ///
    /// Fails with `Parent` when the parent cannot be read, `Sink` when writing fails.
    pub fn copy<W: ArchiveSink>(
        &mut self,
        s: usize,
        records: Vec<FrameRecord>,
        sink: &mut FrameSink<W>,
    ) -> EngineResult<()> {
        if self.body.is_none() {
            let size = self.parent.size();
            let tail = self.index_offset..size - TRAILER_LEN as u64;
            self.file = self.parent.file();
            let input: Box<dyn Read + Send> = match &self.file {
                Some(f) => Box::new(f.try_clone().map_err(parent_err)?.take(size)),
                None => self.parent.open(0..size).map_err(parent_err)?,
            };
            self.body = Some(Body::open(input, &self.frames, tail, size).map_err(parent_err)?);
        }
        let body = self.body.as_mut().ok_or_else(|| parent_err("not open"))?;
        body.skip_to(self.frames[self.segs[s].start])
            .map_err(parent_err)?;
        let mut run = Some(records.iter().map(|r| r.clen).sum::<u64>());
        for mut rec in records {
            let at = body.pos();
            let bytes = body.take(rec.clen).map_err(parent_err)?;
            let mut skip = 0;
            if run.is_some()
                && let Some(pad) = pad_at(&bytes).filter(|&p| p < rec.clen)
            {
                skip = pad;
                rec.clen -= pad;
            }
            self.report.frames += 1;
            self.report.bytes += rec.clen;
            self.report.entries += rec.entries.len() as u64;
            self.report.content_bytes += rec
                .entries
                .iter()
                .filter(|e| e.kind == EntryKind::File)
                .map(|e| e.size)
                .sum::<u64>();
            let from = self.file.as_ref().map(|f| (f, at + skip));
            sink.copy_frame(rec, &bytes[skip as usize..], from, run.take())
                .map_err(EngineError::Sink)?;
        }
        Ok(())
    }

    /// Reads the rest of the parent and checks it is the archive the catalog recorded, read
    /// with the index that was used. Nothing to check when nothing was copied.
    ///
    /// Fails with `Parent` otherwise.
    pub fn finish(mut self) -> EngineResult<ReuseReport> {
        let Some(body) = self.body.take() else {
            return Ok(self.report);
        };
        let (sha, tail) = body.finish(self.parent.size()).map_err(parent_err)?;
        if !sha.eq_ignore_ascii_case(self.parent.sha256()) {
            return Err(parent_err("its SHA-256 does not match its record"));
        }
        if tail != self.tail_digest {
            return Err(parent_err("its index changed while it was read"));
        }
        Ok(self.report)
    }
}

type Segments = (Vec<u64>, Vec<Range<usize>>, HashMap<String, usize>);

/// Reads the index (version 3 only) from the archive's tail at `index_offset`, copying its
/// bytes to `copy`; returns frame offsets, segments and the segments' first paths. Reads the
/// tail to its end.
fn read_index<R: Read, W: Write>(
    tail: &mut R,
    copy: &mut W,
    index_offset: u64,
) -> io::Result<Segments> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut dec = zstd::stream::read::Decoder::new(&mut *tail)?;
    let (mut frames, mut segs, mut first) =
        (Vec::new(), Vec::<Range<usize>>::new(), HashMap::new());
    {
        let mut tar = tar::Archive::new(&mut dec);
        let mut entries = tar.entries()?;
        let mut entry = entries.next().ok_or_else(|| bad("missing"))??;
        if entry.path_bytes().as_ref() != INDEX_PATH.as_bytes() {
            return Err(bad("the trailer does not point at it"));
        }
        let size = entry.size();
        let mut reader = IndexReader::new(Tee {
            inner: (&mut entry).take(size),
            copy: &mut *copy,
        })?;
        if reader.version() < 3 {
            return Err(bad("it was written before frame reuse (index version 2)"));
        }
        let mut offset = 0u64;
        while let Some(rec) = reader.next_frame()? {
            // Checked before anything is read by these offsets: the reader (`body.rs`) takes
            // each frame whole, so an index's word on a frame's size is what it allocates.
            if rec.clen > MAX_FRAME + MAX_PAD {
                return Err(bad("a frame is larger than any this writer makes"));
            }
            let at = frames.len();
            frames.push(offset);
            offset += rec.clen;
            match (rec.boundary, rec.entries.first(), segs.last_mut()) {
                (true, Some(e), _) => {
                    first.insert(e.path.clone(), segs.len());
                    segs.push(at..at + 1);
                }
                (false, _, Some(seg)) if seg.end == at => seg.end = at + 1,
                // A continuation with nothing before it cannot be copied on its own.
                _ => {}
            }
        }
        if offset != index_offset {
            return Err(bad("its frames do not add up to where it starts"));
        }
    }
    // The tar end blocks; then whatever the decoder did not need, so the whole tail is hashed.
    io::copy(&mut dec, &mut io::sink())?;
    let mut inner = dec.finish();
    io::copy(&mut inner, &mut io::sink())?;
    copy.flush()?;
    Ok((frames, segs, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail of a parent whose index lists frames of `clens`: the index entry, tar's end
    /// blocks, compressed.
    fn tail(clens: &[u64]) -> Vec<u8> {
        let mut index = crate::index::IndexWriter::new(Vec::new()).unwrap();
        for &clen in clens {
            let rec = FrameRecord {
                clen,
                ulen: clen,
                blake3: [0; 32],
                boundary: true,
                entries: Vec::new(),
            };
            index.frame(&rec).unwrap();
        }
        let index = index.finish().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(index.len() as u64);
        h.set_mode(0o600);
        h.set_cksum();
        tar.append_data(&mut h, INDEX_PATH, index.as_slice())
            .unwrap();
        zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap()
    }

    #[test]
    fn an_index_that_lists_a_frame_larger_than_any_written_is_refused_before_reading() {
        let fits = [100, MAX_FRAME + MAX_PAD];
        let (offsets, _, _) = read_index(
            &mut io::Cursor::new(tail(&fits)),
            &mut Vec::new(),
            fits.iter().sum(),
        )
        .unwrap();
        assert_eq!(offsets, vec![0, 100]);

        let huge = [100, MAX_FRAME + MAX_PAD + 1];
        let e = read_index(
            &mut io::Cursor::new(tail(&huge)),
            &mut Vec::new(),
            huge.iter().sum(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("larger than any"), "{e}");
    }

    #[test]
    fn an_index_whose_frames_do_not_reach_where_it_starts_is_refused() {
        let clens = [100, 200];
        for index_offset in [299, 301] {
            let e = read_index(
                &mut io::Cursor::new(tail(&clens)),
                &mut Vec::new(),
                index_offset,
            )
            .err()
            .unwrap();
            assert!(e.to_string().contains("do not add up"), "{e}");
        }
    }
}
