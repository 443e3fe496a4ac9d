//! The binary index of a version 2 archive (`dsbackup.index`, the last entry): one record per
//! zstd frame before it — compressed and uncompressed length, the BLAKE3 of the frame's
//! uncompressed bytes (tar headers included, so it covers every entry's path, type, size, mode,
//! mtime and content) and the entries that start in the frame (path, type, size). Index
//! version 3 (written since frame reuse; version 2 is still read) adds whether the frame starts
//! at an entry's first header byte, and per entry its tar mode and mtime and, for files and
//! links, the source identity it was read with ([`Ident`]) — what a later backup compares to
//! copy the frame instead of reading the file again (`reuse.rs`). Paths are
//! stored as a shared-prefix length plus the new suffix, numbers as LEB128 varints, and the
//! whole index is zstd-compressed with the rest of the archive: a million small files cost a
//! few bytes each. The index ends with the counts and a BLAKE3 of everything before them.
//!
//! Both sides stream: [`IndexWriter`] appends records as frames are written (the writer keeps
//! it in a spill file, never in memory) and [`IndexReader`] yields one frame at a time.

use std::io::{self, Read, Write};

use crate::manifest::EntryKind;
use crate::varint;

const MAGIC_V2: &[u8; 5] = b"DSBI\x02";
const MAGIC: &[u8; 5] = b"DSBI\x03";
const TAG_FRAME: u8 = b'F';
const TAG_END: u8 = b'E';
/// A path longer than this is refused when reading (tar's own limits are far below).
const MAX_PATH: u64 = 64 * 1024;

/// One entry as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// The mode and mtime its tar header holds (0 in a version 2 index).
    pub mode: u32,
    pub mtime: i64,
    /// What the source looked like when it was read; `None` for content not read from disk,
    /// for directories, in a version 2 index, and for a file changed too recently to trust
    /// its timestamps.
    pub ident: Option<Ident>,
}

/// A file's or link's identity and change times (`fstat`/`lstat`): device, inode, and mtime
/// and ctime in nanoseconds. Any write, rename over, chmod or chown moves ctime, which no user
/// can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// One zstd frame of the archive and the entries that start in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    /// Compressed length in bytes; frames follow each other from offset 0.
    pub clen: u64,
    /// Uncompressed length in bytes.
    pub ulen: u64,
    /// BLAKE3 of the uncompressed bytes.
    pub blake3: [u8; 32],
    /// Whether the frame starts with an entry's first header byte (always false in a version
    /// 2 index).
    pub boundary: bool,
    pub entries: Vec<IndexEntry>,
}

impl FrameRecord {
    /// The digest of the entry list the reader compares with what it saw in the frame.
    pub fn entries_digest(&self) -> [u8; 32] {
        let mut h = EntryDigest::default();
        for e in &self.entries {
            h.add(&e.path, e.kind, e.size);
        }
        h.finish()
    }
}

/// A running digest of the entries of one frame: path, type and size of each, in order.
#[derive(Debug, Default, Clone)]
pub struct EntryDigest(blake3::Hasher);

impl EntryDigest {
    pub fn add(&mut self, path: &str, kind: EntryKind, size: u64) {
        self.0.update(&(path.len() as u64).to_le_bytes());
        self.0.update(path.as_bytes());
        self.0.update(&[kind_code(kind)]);
        self.0.update(&size.to_le_bytes());
    }

    pub fn finish(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => 0,
        EntryKind::Dir => 1,
        EntryKind::Symlink => 2,
    }
}

fn kind_of(code: u8) -> io::Result<EntryKind> {
    Ok(match code {
        0 => EntryKind::File,
        1 => EntryKind::Dir,
        2 => EntryKind::Symlink,
        _ => return Err(bad("unknown entry type")),
    })
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("index: {msg}"))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn shared_prefix(a: &str, b: &str) -> usize {
    let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    // Never split a UTF-8 sequence.
    (0..=n).rev().find(|&i| b.is_char_boundary(i)).unwrap_or(0)
}

/// Writes an index as frames complete, hashing what it writes.
#[derive(Debug)]
pub struct IndexWriter<W: Write> {
    out: W,
    hasher: blake3::Hasher,
    last: String,
    frames: u64,
    entries: u64,
}

impl<W: Write> IndexWriter<W> {
    /// Starts an index on `out`.
    ///
    /// Fails when `out` fails.
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = Self {
            out,
            hasher: blake3::Hasher::new(),
            last: String::new(),
            frames: 0,
            entries: 0,
        };
        w.put(MAGIC)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }

    fn varint(&mut self, v: u64) -> io::Result<()> {
        let mut buf = [0u8; 10];
        let n = varint::encode(v, &mut buf);
        self.put(&buf[..n])
    }

    /// Appends the record of the next frame.
    ///
    /// Fails when `out` fails.
    pub fn frame(&mut self, f: &FrameRecord) -> io::Result<()> {
        self.put(&[TAG_FRAME])?;
        self.varint(f.clen)?;
        self.varint(f.ulen)?;
        self.put(&f.blake3)?;
        self.put(&[u8::from(f.boundary)])?;
        self.varint(f.entries.len() as u64)?;
        for e in &f.entries {
            let shared = shared_prefix(&self.last, &e.path);
            let suffix = &e.path.as_bytes()[shared..];
            self.varint(shared as u64)?;
            self.varint(suffix.len() as u64)?;
            self.put(suffix)?;
            self.put(&[kind_code(e.kind)])?;
            self.varint(e.size)?;
            self.varint(u64::from(e.mode))?;
            self.varint(zigzag(e.mtime))?;
            match &e.ident {
                None => self.put(&[0])?,
                Some(id) => {
                    self.put(&[1])?;
                    self.varint(id.dev)?;
                    self.varint(id.ino)?;
                    self.varint(zigzag(id.mtime_ns))?;
                    self.varint(zigzag(id.ctime_ns))?;
                }
            }
            self.last.clear();
            self.last.push_str(&e.path);
        }
        self.frames += 1;
        self.entries += f.entries.len() as u64;
        Ok(())
    }

    /// Writes the closing counts and digest; returns `out`.
    ///
    /// Fails when `out` fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[TAG_END])?;
        let (frames, entries) = (self.frames, self.entries);
        self.varint(frames)?;
        self.varint(entries)?;
        let digest = *self.hasher.finalize().as_bytes();
        self.out.write_all(&digest)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads an index one frame record at a time, checking its closing counts and digest.
#[derive(Debug)]
pub struct IndexReader<R: Read> {
    input: R,
    hasher: blake3::Hasher,
    last: String,
    frames: u64,
    entries: u64,
    done: bool,
    version: u8,
}

impl<R: Read> IndexReader<R> {
    /// Starts reading; checks the magic.
    ///
    /// Fails with `InvalidData` when this is not a version 2 or 3 index.
    pub fn new(input: R) -> io::Result<Self> {
        let mut r = Self {
            input,
            hasher: blake3::Hasher::new(),
            last: String::new(),
            frames: 0,
            entries: 0,
            done: false,
            version: 3,
        };
        let mut magic = [0u8; 5];
        r.take(&mut magic)?;
        if &magic == MAGIC_V2 {
            r.version = 2;
        } else if &magic != MAGIC {
            return Err(bad("not a dsbackup index"));
        }
        Ok(r)
    }

    /// The index version: 2 (no boundaries, modes or identities) or 3.
    pub fn version(&self) -> u8 {
        self.version
    }

    fn take(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => bad("truncated"),
            _ => e,
        })?;
        self.hasher.update(buf);
        Ok(())
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.take(&mut b)?;
        Ok(b[0])
    }

    fn flag(&mut self) -> io::Result<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad("bad flag")),
        }
    }

    fn varint(&mut self) -> io::Result<u64> {
        varint::decode(|| self.byte()).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => bad("number too long"),
            _ => e,
        })
    }

    /// The next frame record; `None` after the last one, once the closing counts and digest
    /// have been checked.
    ///
    /// Fails with `InvalidData` on any malformed or inconsistent byte.
    pub fn next_frame(&mut self) -> io::Result<Option<FrameRecord>> {
        if self.done {
            return Ok(None);
        }
        match self.byte()? {
            TAG_FRAME => {}
            TAG_END => return self.end().map(|()| None),
            _ => return Err(bad("unknown record")),
        }
        let clen = self.varint()?;
        let ulen = self.varint()?;
        let mut blake3 = [0u8; 32];
        self.take(&mut blake3)?;
        let boundary = self.version > 2 && self.flag()?;
        let n = self.varint()?;
        // A frame of `ulen` bytes holds at most one entry per 512-byte tar header.
        if n > ulen / 512 + 1 {
            return Err(bad("more entries than the frame can hold"));
        }
        let mut entries = Vec::with_capacity(n.min(4096) as usize);
        for _ in 0..n {
            entries.push(self.entry()?);
        }
        self.frames += 1;
        self.entries += n;
        Ok(Some(FrameRecord {
            clen,
            ulen,
            blake3,
            boundary,
            entries,
        }))
    }

    fn entry(&mut self) -> io::Result<IndexEntry> {
        let shared = self.varint()?;
        let len = self.varint()?;
        if shared > self.last.len() as u64 || shared + len > MAX_PATH {
            return Err(bad("bad path"));
        }
        let mut suffix = vec![0u8; len as usize];
        self.take(&mut suffix)?;
        let mut path = self.last.as_bytes()[..shared as usize].to_vec();
        path.extend_from_slice(&suffix);
        let path = String::from_utf8(path).map_err(|_| bad("path is not UTF-8"))?;
        let kind = kind_of(self.byte()?)?;
        let size = self.varint()?;
        let mut e = IndexEntry {
            path,
            kind,
            size,
            mode: 0,
            mtime: 0,
            ident: None,
        };
        if self.version > 2 {
            e.mode = u32::try_from(self.varint()?).map_err(|_| bad("bad mode"))?;
            e.mtime = unzigzag(self.varint()?);
            if self.flag()? {
                e.ident = Some(Ident {
                    dev: self.varint()?,
                    ino: self.varint()?,
                    mtime_ns: unzigzag(self.varint()?),
                    ctime_ns: unzigzag(self.varint()?),
                });
            }
        }
        self.last.clone_from(&e.path);
        Ok(e)
    }

    fn end(&mut self) -> io::Result<()> {
        let frames = self.varint()?;
        let entries = self.varint()?;
        let want = *self.hasher.finalize().as_bytes();
        let mut digest = [0u8; 32];
        self.input
            .read_exact(&mut digest)
            .map_err(|_| bad("truncated"))?;
        if digest != want {
            return Err(bad("digest mismatch: the index was altered"));
        }
        if frames != self.frames || entries != self.entries {
            return Err(bad("counts do not match its records"));
        }
        let mut rest = [0u8; 1];
        if self.input.read(&mut rest)? != 0 {
            return Err(bad("bytes after its end"));
        }
        self.done = true;
        Ok(())
    }
}

/// The skippable zstd frame magic the trailer uses (decoders and `zstd -d` skip it).
pub const TRAILER_MAGIC: u32 = 0x184D_2A5E;
const TRAILER_ID: &[u8; 8] = b"DSBXIDX2";
/// The trailer's length: the last bytes of every format 2 archive.
pub const TRAILER_LEN: usize = 24;

/// The trailer: a skippable frame holding the offset of the frame the index starts in.
pub fn trailer(index_offset: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(TRAILER_LEN);
    t.extend_from_slice(&TRAILER_MAGIC.to_le_bytes());
    t.extend_from_slice(&16u32.to_le_bytes());
    t.extend_from_slice(TRAILER_ID);
    t.extend_from_slice(&index_offset.to_le_bytes());
    t
}

/// The skippable zstd frame magic of a *pad*: zero bytes put at the start of a frame copied
/// from a parent, so that the frame lies at the same offset modulo the file system's block as
/// it did in the parent and its blocks can be shared (`share.rs`). A pad belongs to the frame
/// after it: the index counts it in that frame's compressed length.
pub const PAD_MAGIC: u32 = 0x184D_2A5D;
/// The longest pad, header included (blocks of up to 64 KiB).
pub const MAX_PAD: u64 = (64 << 10) + 8;

/// A pad of `len` bytes in all (8 to [`MAX_PAD`]).
pub fn pad(len: u64) -> Vec<u8> {
    debug_assert!((8..=MAX_PAD).contains(&len));
    let mut p = vec![0u8; len as usize];
    p[..4].copy_from_slice(&PAD_MAGIC.to_le_bytes());
    p[4..8].copy_from_slice(&((len - 8) as u32).to_le_bytes());
    p
}

/// The length in all of the pad `bytes` start with; `None` when they do not start with one
/// (or with one that is too long, cut short or not all zero).
pub fn pad_at(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 8 || bytes[..4] != PAD_MAGIC.to_le_bytes() {
        return None;
    }
    let mut n = [0u8; 4];
    n.copy_from_slice(&bytes[4..8]);
    let len = u64::from(u32::from_le_bytes(n)) + 8;
    let body = bytes.get(8..usize::try_from(len).ok()?)?;
    (len <= MAX_PAD && body.iter().all(|&b| b == 0)).then_some(len)
}

/// The index offset a trailer holds; `None` when `bytes` is not a trailer.
pub fn parse_trailer(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != TRAILER_LEN
        || bytes[..4] != TRAILER_MAGIC.to_le_bytes()
        || bytes[4..8] != 16u32.to_le_bytes()
        || &bytes[8..16] != TRAILER_ID
    {
        return None;
    }
    let mut off = [0u8; 8];
    off.copy_from_slice(&bytes[16..24]);
    Some(u64::from_le_bytes(off))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64, paths: &[&str]) -> FrameRecord {
        FrameRecord {
            clen: 100 + i,
            ulen: 4096 * (i + 1),
            blake3: [i as u8; 32],
            boundary: i.is_multiple_of(2),
            entries: paths
                .iter()
                .map(|p| IndexEntry {
                    path: (*p).into(),
                    kind: EntryKind::File,
                    size: p.len() as u64,
                    mode: 0o644,
                    mtime: -(i as i64),
                    ident: (!i.is_multiple_of(2)).then_some(Ident {
                        dev: 7,
                        ino: u64::MAX,
                        mtime_ns: i64::MIN,
                        ctime_ns: 1_700_000_000_123_456_789,
                    }),
                })
                .collect(),
        }
    }

    fn encode(frames: &[FrameRecord]) -> Vec<u8> {
        let mut w = IndexWriter::new(Vec::new()).unwrap();
        for f in frames {
            w.frame(f).unwrap();
        }
        w.finish().unwrap()
    }

    fn decode(bytes: &[u8]) -> io::Result<Vec<FrameRecord>> {
        let mut r = IndexReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(f) = r.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_with_shared_prefixes_and_unicode() {
        let frames = vec![
            record(0, &["dsbackup.json"]),
            record(1, &["sources/f/ünï/a", "sources/f/ünï/b", "sources/f/ünö"]),
            record(2, &[]),
            record(3, &["sources/g"]),
        ];
        assert_eq!(decode(&encode(&frames)).unwrap(), frames);
    }

    #[test]
    fn version_2_indexes_are_still_read() {
        // A version 2 index as the previous writer made it: no flags, modes or identities.
        let mut body = MAGIC_V2.to_vec();
        body.push(TAG_FRAME);
        body.extend_from_slice(&[100, 0x80, 0x20]); // clen 100, ulen 4096
        body.extend_from_slice(&[9u8; 32]);
        body.push(2);
        body.extend_from_slice(&[0, 1, b'a', 0, 3]); // "a", file, 3 bytes
        body.extend_from_slice(&[1, 1, b'b', 1, 0]); // "ab", dir
        body.push(TAG_END);
        body.extend_from_slice(&[1, 2]);
        let digest = *blake3::hash(&body).as_bytes();
        body.extend_from_slice(&digest);
        let mut r = IndexReader::new(body.as_slice()).unwrap();
        assert_eq!(r.version(), 2);
        let f = r.next_frame().unwrap().unwrap();
        assert!(!f.boundary);
        assert_eq!((f.clen, f.ulen, f.blake3), (100, 4096, [9u8; 32]));
        let paths: Vec<_> = f
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind, e.size))
            .collect();
        assert_eq!(
            paths,
            [("a", EntryKind::File, 3), ("ab", EntryKind::Dir, 0)]
        );
        assert!(f.entries.iter().all(|e| e.ident.is_none() && e.mode == 0));
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn any_changed_byte_or_truncation_is_refused() {
        let bytes = encode(&[record(0, &["a", "ab"]), record(1, &["b"])]);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "byte {i} flipped went unnoticed");
        }
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn a_pad_is_a_skippable_frame_zstd_passes_over_and_is_recognised_only_whole() {
        let frame = zstd::bulk::compress(b"after the pad", 3).unwrap();
        for len in [8u64, 9, 4096, MAX_PAD] {
            let p = pad(len);
            assert_eq!((p.len() as u64, pad_at(&p)), (len, Some(len)));
            let both = [p.as_slice(), frame.as_slice()].concat();
            assert_eq!(pad_at(&both), Some(len));
            assert_eq!(zstd::bulk::decompress(&both, 64).unwrap(), b"after the pad");
            assert_eq!(zstd::decode_all(both.as_slice()).unwrap(), b"after the pad");
            assert_eq!(pad_at(&p[..p.len() - 1]), None, "cut short");
        }
        let mut dirty = pad(100);
        dirty[50] = 1;
        assert_eq!(pad_at(&dirty), None);
        assert_eq!(pad_at(&frame), None);
        assert_eq!(pad_at(&trailer(7)), None);
        let mut long = pad(MAX_PAD);
        long[4..8].copy_from_slice(&((MAX_PAD - 7) as u32).to_le_bytes());
        long.push(0);
        assert_eq!(pad_at(&long), None, "longer than any block");
    }
}
