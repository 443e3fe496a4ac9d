//! The plan's entries, spilled to a private temporary file while the sources are walked, so
//! planning a million files costs a few bytes of memory per directory rather than a few
//! hundred per entry. Records are appended in archive order and read back with positioned
//! reads (`pread`), so several readers may walk the same plan at once. A record holds what a
//! [`crate::manifest::Entry`] needs and where the content comes from; a file's path on disk is
//! not stored but rebuilt from its source root and archive path.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::index::Ident;
use crate::manifest::EntryKind;
use crate::varint;

/// Where a spilled entry's content comes from (indices into the plan's side tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    Nothing,
    /// A file below the source root of this index.
    Disk(u32),
    /// In-memory bytes of this index.
    Inline(u32),
    /// A streamed source of this index.
    Stream(u32),
}

/// One spilled entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub kind: EntryKind,
    pub content: Content,
    pub path: String,
    pub size: u64,
    pub mode: u32,
    pub mtime: i64,
    pub target: Option<String>,
    /// A file's or link's identity when it was walked.
    pub ident: Option<Ident>,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Appends records to the spill file.
#[derive(Debug)]
pub(crate) struct SpillWriter {
    out: BufWriter<File>,
    count: u64,
}

/// A finished spill: read it as often as needed.
#[derive(Debug)]
pub(crate) struct Spilled {
    file: File,
    len: u64,
    pub count: u64,
}

fn put_varint(out: &mut impl Write, v: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let n = varint::encode(v, &mut buf);
    out.write_all(&buf[..n])
}

fn put_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    put_varint(out, s.len() as u64)?;
    out.write_all(s.as_bytes())
}

impl SpillWriter {
    /// A spill in `dir` (the system's temporary directory when `None`), unlinked at once.
    ///
    /// Fails when the file cannot be created.
    pub fn new(dir: Option<&Path>) -> io::Result<Self> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        };
        Ok(Self {
            out: BufWriter::with_capacity(256 << 10, file),
            count: 0,
        })
    }

    /// Appends one record.
    ///
    /// Fails when the file cannot be written.
    pub fn push(&mut self, r: &Record) -> io::Result<()> {
        let (tag, index) = match r.content {
            Content::Nothing => (0u8, 0),
            Content::Disk(i) => (1, i),
            Content::Inline(i) => (2, i),
            Content::Stream(i) => (3, i),
        };
        let kind = match r.kind {
            EntryKind::File => 0u8,
            EntryKind::Dir => 1,
            EntryKind::Symlink => 2,
        };
        let out = &mut self.out;
        let flags = u8::from(r.target.is_some()) << 4 | u8::from(r.ident.is_some()) << 5;
        out.write_all(&[kind | tag << 2 | flags])?;
        put_varint(out, u64::from(index))?;
        put_str(out, &r.path)?;
        put_varint(out, r.size)?;
        put_varint(out, u64::from(r.mode))?;
        // Zig-zag: times before 1970 stay short.
        put_varint(out, zigzag(r.mtime))?;
        if let Some(t) = &r.target {
            put_str(out, t)?;
        }
        if let Some(id) = &r.ident {
            put_varint(out, id.dev)?;
            put_varint(out, id.ino)?;
            put_varint(out, zigzag(id.mtime_ns))?;
            put_varint(out, zigzag(id.ctime_ns))?;
        }
        self.count += 1;
        Ok(())
    }

    /// Flushes the records; the spill is then read-only.
    ///
    /// Fails when the file cannot be written.
    pub fn finish(self) -> io::Result<Spilled> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        let len = file.metadata()?.len();
        Ok(Spilled {
            file,
            len,
            count: self.count,
        })
    }
}

/// Reads a file from an offset without moving a shared cursor.
struct At<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = (self.end - self.pos).min(buf.len() as u64) as usize;
        let n = self.file.read_at(&mut buf[..room], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads the records of a spill in order.
pub(crate) struct SpillReader<'a> {
    input: BufReader<At<'a>>,
    left: u64,
}

impl Spilled {
    pub fn reader(&self) -> SpillReader<'_> {
        SpillReader {
            input: BufReader::with_capacity(
                256 << 10,
                At {
                    file: &self.file,
                    pos: 0,
                    end: self.len,
                },
            ),
            left: self.count,
        }
    }
}

fn bad() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the plan's spill file is damaged",
    )
}

impl SpillReader<'_> {
    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.input.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn varint(&mut self) -> io::Result<u64> {
        varint::decode(|| self.byte())
    }

    fn string(&mut self) -> io::Result<String> {
        let len = self.varint()?;
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| bad())?];
        self.input.read_exact(&mut bytes)?;
        String::from_utf8(bytes).map_err(|_| bad())
    }

    /// The next record; `None` after the last.
    ///
    /// Fails when the spill cannot be read.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let head = self.byte()?;
        let kind = match head & 3 {
            0 => EntryKind::File,
            1 => EntryKind::Dir,
            2 => EntryKind::Symlink,
            _ => return Err(bad()),
        };
        let index = u32::try_from(self.varint()?).map_err(|_| bad())?;
        let content = match (head >> 2) & 3 {
            0 => Content::Nothing,
            1 => Content::Disk(index),
            2 => Content::Inline(index),
            _ => Content::Stream(index),
        };
        let path = self.string()?;
        let size = self.varint()?;
        let mode = u32::try_from(self.varint()?).map_err(|_| bad())?;
        let mtime = unzigzag(self.varint()?);
        let target = if head & 0x10 != 0 {
            Some(self.string()?)
        } else {
            None
        };
        let ident = if head & 0x20 != 0 {
            Some(Ident {
                dev: self.varint()?,
                ino: self.varint()?,
                mtime_ns: unzigzag(self.varint()?),
                ctime_ns: unzigzag(self.varint()?),
            })
        } else {
            None
        };
        Ok(Some(Record {
            kind,
            content,
            path,
            size,
            mode,
            mtime,
            target,
            ident,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_read_twice() {
        let records = vec![
            Record {
                kind: EntryKind::Dir,
                content: Content::Nothing,
                path: "sources/ünï".into(),
                size: 0,
                mode: 0o755,
                mtime: -5,
                target: None,
                ident: None,
            },
            Record {
                kind: EntryKind::File,
                content: Content::Disk(3),
                path: "sources/ünï/a".into(),
                size: u64::MAX,
                mode: 0o644,
                mtime: i64::MAX,
                target: None,
                ident: None,
            },
            Record {
                kind: EntryKind::Symlink,
                content: Content::Nothing,
                path: "sources/ünï/l".into(),
                size: 0,
                mode: 0o777,
                mtime: i64::MIN,
                target: Some("a".into()),
                ident: Some(Ident {
                    dev: 1,
                    ino: u64::MAX,
                    mtime_ns: -3,
                    ctime_ns: i64::MAX,
                }),
            },
            Record {
                kind: EntryKind::File,
                content: Content::Inline(7),
                path: "catalog/users.jsonl".into(),
                size: 12,
                mode: 0o600,
                mtime: 0,
                target: None,
                ident: None,
            },
        ];
        let mut w = SpillWriter::new(None).unwrap();
        for r in &records {
            w.push(r).unwrap();
        }
        let spilled = w.finish().unwrap();
        for _ in 0..2 {
            let mut r = spilled.reader();
            let mut got = Vec::new();
            while let Some(rec) = r.next_record().unwrap() {
                got.push(rec);
            }
            assert_eq!(got, records);
        }
    }
}
