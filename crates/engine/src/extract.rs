//! Taking one entry out of a format 2 archive without reading what precedes it: the trailer
//! (the last 24 bytes) gives the index's offset, the index gives the frame the entry starts in
//! and that frame's offset (the sum of the lengths before it), and only that frame and the
//! frames the entry continues into are read. Each frame is decompressed whole (a few MiB at
//! most) and its BLAKE3 checked against the index before a byte of it is used.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::error::{EngineError, EngineResult};
use crate::frames::MAX_FRAME;
use crate::header::INDEX_PATH;
use crate::index::{FrameRecord, IndexReader, MAX_PAD, TRAILER_LEN, parse_trailer};
use crate::manifest::{Entry, EntryKind};
use crate::read::corrupt;

/// A frame to read: where it is and what it must hash to.
#[derive(Debug, Clone)]
struct Span {
    offset: u64,
    clen: u64,
    ulen: u64,
    blake3: [u8; 32],
}

/// Finds where `path` starts: its frame and the continuation frames after it.
fn locate<R: Read + Seek>(archive: &mut R, path: &str) -> EngineResult<Vec<Span>> {
    let bad = |e: io::Error| corrupt(format!("reading the archive: {e}"));
    let end = archive.seek(SeekFrom::End(0)).map_err(bad)?;
    if end < TRAILER_LEN as u64 {
        return Err(corrupt("too short to be a format 2 archive"));
    }
    archive
        .seek(SeekFrom::Start(end - TRAILER_LEN as u64))
        .map_err(bad)?;
    let mut t = [0u8; TRAILER_LEN];
    archive.read_exact(&mut t).map_err(bad)?;
    let index_offset = parse_trailer(&t).filter(|&o| o < end).ok_or_else(|| {
        corrupt("no format 2 trailer: single entries can only be taken out of format 2 archives")
    })?;
    archive.seek(SeekFrom::Start(index_offset)).map_err(bad)?;
    let tail = (&mut *archive).take(end - TRAILER_LEN as u64 - index_offset);
    let dec = zstd::stream::read::Decoder::new(tail).map_err(bad)?;
    let mut tar = tar::Archive::new(dec);
    let mut entries = tar.entries().map_err(bad)?;
    let mut index = entries
        .next()
        .ok_or_else(|| corrupt("the index is missing"))?
        .map_err(bad)?;
    if index.path_bytes().as_ref() != INDEX_PATH.as_bytes() {
        return Err(corrupt("the trailer does not point at the index"));
    }
    let size = index.size();
    let mut reader = IndexReader::new(io::BufReader::new((&mut index).take(size)))
        .map_err(|e| corrupt(format!("{INDEX_PATH}: {e}")))?;
    let mut offset = 0u64;
    let mut found: Vec<Span> = Vec::new();
    while let Some(rec) = reader
        .next_frame()
        .map_err(|e| corrupt(format!("{INDEX_PATH}: {e}")))?
    {
        let span = span(offset, &rec);
        offset += rec.clen;
        if !found.is_empty() {
            if !rec.entries.is_empty() {
                break;
            }
            found.push(span);
        } else if rec.entries.iter().any(|e| e.path == path) {
            found.push(span);
        }
    }
    if found.is_empty() {
        return Err(EngineError::Corrupt(format!("{path}: not in the archive")));
    }
    Ok(found)
}

fn span(offset: u64, rec: &FrameRecord) -> Span {
    Span {
        offset,
        clen: rec.clen,
        ulen: rec.ulen,
        blake3: rec.blake3,
    }
}

/// Reads frames one at a time, each checked whole before it is served.
struct Checked<'a, R> {
    archive: &'a mut R,
    spans: std::vec::IntoIter<Span>,
    buf: Vec<u8>,
    at: usize,
}

impl<R: Read + Seek> Read for Checked<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            let Some(s) = self.spans.next() else {
                return Ok(0);
            };
            // The index is the archive's own word: no frame this engine writes is larger than
            // FRAME_MAX (with a pad before it), so nothing larger is allocated for one.
            if s.ulen > MAX_FRAME || s.clen > MAX_FRAME + MAX_PAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the frame at byte {} is larger than any frame dsbackup writes",
                        s.offset
                    ),
                ));
            }
            self.archive.seek(SeekFrom::Start(s.offset))?;
            let mut compressed = Vec::with_capacity(s.clen as usize);
            (&mut *self.archive)
                .take(s.clen)
                .read_to_end(&mut compressed)?;
            let data = zstd::bulk::decompress(&compressed, s.ulen as usize)?;
            if data.len() as u64 != s.ulen || *blake3::hash(&data).as_bytes() != s.blake3 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the frame at byte {} does not match the index", s.offset),
                ));
            }
            self.buf = data;
            self.at = 0;
        }
        let n = (self.buf.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Copies the content of the file `path` of a format 2 archive into `out` (links and
/// directories are described, with no content); returns the entry.
///
/// Fails with `Corrupt` when the archive is not format 2, the entry is not in it, or a frame
/// does not match the index; with `Sink` when `out` fails.
pub fn extract_entry<R: Read + Seek, W: Write>(
    archive: &mut R,
    path: &str,
    out: &mut W,
) -> EngineResult<Entry> {
    let spans = locate(archive, path)?;
    let checked = Checked {
        archive,
        spans: spans.into_iter(),
        buf: Vec::new(),
        at: 0,
    };
    let mut tar = tar::Archive::new(checked);
    let damaged = |e: io::Error| corrupt(format!("{path}: {e}"));
    for item in tar.entries().map_err(damaged)? {
        let mut entry = item.map_err(damaged)?;
        if entry.path_bytes().as_ref() != path.as_bytes() {
            continue;
        }
        let described = crate::read2::describe(&entry, path.to_string())?;
        let kind = described.kind;
        if kind == EntryKind::File {
            let copied = io::copy(&mut entry, out).map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => damaged(e),
                _ => EngineError::Sink(e),
            })?;
            if copied != described.size {
                return Err(corrupt(format!("{path}: truncated")));
            }
        }
        return Ok(described);
    }
    Err(corrupt(format!("{path}: not where the index says it is")))
}
