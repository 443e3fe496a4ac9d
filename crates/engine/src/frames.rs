//! The writing side of format 2's frames: the tar stream is cut into independent zstd frames
//! that start at entry boundaries (small entries grouped until a frame holds at least
//! [`GROUP_MIN`] bytes of content; an entry of [`FRAME_MIN`] or more starts a frame of its
//! own and continues in frames of [`FRAME_MAX`]), compressed on a pool of threads, written
//! in order, and recorded in the index spill as they are written. Memory stays bounded by
//! the frames in flight (about two per thread). Each frame notes whether it starts at an
//! entry's first header byte; frames copied whole from a parent archive
//! ([`FrameSink::copy_frame`]) are written as they are, between frames compressed here, or
//! appended as shared blocks where the sink can (`share.rs`).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::hashing::HashingWriter;
use crate::index::{self, FrameRecord, IndexEntry, IndexWriter};
use crate::share::{ArchiveSink, Carry, SHARE_MIN, pad_len};

/// Small entries are grouped until a frame holds this many bytes of file content (or
/// [`FRAME_MIN`] bytes of tar stream, for entries that are mostly headers). Small, so that a
/// backup whose parent differs in a few scattered files still copies most groups whole (a
/// frame is reused entirely or not at all); on the bench portal's small files, 128 KiB groups
/// compress 0.24 % worse than 2 MiB groups (0.05 % of the whole archive). Tiny files keep
/// 2 MiB frames: there zstd's and the index's cost per frame would show.
pub const GROUP_MIN: usize = 128 << 10;
/// An entry of this size or more starts a frame of its own.
pub const FRAME_MIN: usize = 2 << 20;
/// A frame is cut inside an entry once it holds this many bytes.
pub const FRAME_MAX: usize = (4 << 20) + (64 << 10);
/// The largest frame a reader takes whole, compressed or not: the writer's limit plus zstd's
/// worst-case expansion. What an archive's index says about a frame is the archive's own
/// word; nothing larger is allocated for one.
pub const MAX_FRAME: u64 = FRAME_MAX as u64 + (FRAME_MAX as u64 >> 7) + (64 << 10);

struct Job {
    seq: u64,
    data: Vec<u8>,
    entries: Vec<IndexEntry>,
    indexed: bool,
    boundary: bool,
}

struct Done {
    seq: u64,
    compressed: io::Result<Vec<u8>>,
    ulen: u64,
    blake3: [u8; 32],
    entries: Vec<IndexEntry>,
    indexed: bool,
    boundary: bool,
}

fn compressor(level: i32) -> io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(level)?;
    c.context_mut()
        .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .map_err(|code| io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
    Ok(c)
}

fn run(job: Job, c: &mut zstd::bulk::Compressor<'static>) -> Done {
    let blake3 = *blake3::hash(&job.data).as_bytes();
    Done {
        seq: job.seq,
        compressed: c.compress(&job.data),
        ulen: job.data.len() as u64,
        blake3,
        entries: job.entries,
        indexed: job.indexed,
        boundary: job.boundary,
    }
}

struct Pool {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize, level: i32) -> io::Result<Self> {
        let (jobs, rx) = mpsc::sync_channel::<Job>(threads);
        let rx = Arc::new(Mutex::new(rx));
        let (tx, done) = mpsc::channel::<Done>();
        let mut workers = Vec::new();
        for _ in 0..threads {
            let rx = Arc::clone(&rx);
            let tx = tx.clone();
            let mut c = compressor(level)?;
            workers.push(std::thread::spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if tx.send(run(job, &mut c)).is_err() {
                        return;
                    }
                }
            }));
        }
        Ok(Self {
            jobs: Some(jobs),
            done,
            workers,
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// The tar stream's destination: frames, compressed and written in order to `out`.
pub struct FrameSink<W: Write> {
    out: HashingWriter<W>,
    buf: Vec<u8>,
    entries: Vec<IndexEntry>,
    next_seq: u64,
    write_seq: u64,
    pending: BTreeMap<u64, Done>,
    in_flight: usize,
    limit: usize,
    pool: Option<Pool>,
    inline: Option<zstd::bulk::Compressor<'static>>,
    index: Option<IndexWriter<BufWriter<std::fs::File>>>,
    indexed: bool,
    /// Whether the frame being filled started at an entry's first header byte.
    boundary: bool,
    /// File content (entry sizes) in the frame being filled.
    content: u64,
    /// The end of a run of frames copied as shared blocks, not yet written.
    carry: Carry,
    /// Compressed bytes written so far (what `carry` holds included).
    pub offset: u64,
}

impl<W: Write> std::fmt::Debug for FrameSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSink")
            .field("offset", &self.offset)
            .finish()
    }
}

impl<W: Write> FrameSink<W> {
    /// Frames into `out`, compressed at `level` on `threads` threads (0: on the caller's),
    /// with the index spilled to `spill`.
    ///
    /// Fails when a compressor cannot be made or the spill cannot be written.
    pub fn new(out: W, level: i32, threads: u32, spill: std::fs::File) -> io::Result<Self> {
        let threads = threads as usize;
        Ok(Self {
            out: HashingWriter::new(out),
            buf: Vec::new(),
            entries: Vec::new(),
            next_seq: 0,
            write_seq: 0,
            pending: BTreeMap::new(),
            in_flight: 0,
            limit: threads * 2 + 1,
            pool: if threads > 0 {
                Some(Pool::new(threads, level)?)
            } else {
                None
            },
            inline: if threads > 0 {
                None
            } else {
                Some(compressor(level)?)
            },
            index: Some(IndexWriter::new(BufWriter::with_capacity(
                256 << 10,
                spill,
            ))?),
            indexed: true,
            boundary: true,
            content: 0,
            carry: Carry::default(),
            offset: 0,
        })
    }

    /// Called before each entry: cuts the frame here when it is full enough, or when the entry
    /// is large enough for a frame of its own; then records the entry in the current frame.
    ///
    /// Fails when writing fails.
    pub fn begin_entry(&mut self, entry: IndexEntry, force_cut: bool) -> io::Result<()> {
        let big = entry.size >= FRAME_MIN as u64;
        let full = self.content >= GROUP_MIN as u64 || self.buf.len() >= FRAME_MIN;
        if !self.buf.is_empty() && (force_cut || big || full) {
            self.seal()?;
        }
        if self.buf.is_empty() {
            self.boundary = true;
            self.buf
                .reserve_exact(if big { FRAME_MAX } else { GROUP_MIN << 1 });
            self.content = 0;
        }
        self.content += entry.size;
        self.entries.push(entry);
        Ok(())
    }

    /// Ends the current frame (if it holds anything) and writes every frame in flight.
    ///
    /// Fails when compressing or writing fails.
    pub fn drain(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.seal()?;
        }
        while self.in_flight > 0 {
            self.wait_one()?;
        }
        Ok(())
    }

    /// Closes the index after draining: frames from now on are not listed. Returns the spill
    /// file and the offset at which the next frame starts.
    ///
    /// Fails when compressing, writing or the spill fails.
    pub fn close_index(&mut self) -> io::Result<(std::fs::File, u64)> {
        self.drain()?;
        self.indexed = false;
        let index = self
            .index
            .take()
            .ok_or_else(|| io::Error::other("the index was closed twice"))?;
        let file = index.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok((file, self.offset))
    }

    /// Drains and writes `tail` raw (the trailer frame); returns the output, its upper-case
    /// hex SHA-256 and size.
    ///
    /// Fails when compressing or writing fails.
    pub fn finish(mut self, tail: &[u8]) -> io::Result<(W, String, u64)> {
        self.drain()?;
        self.carry.flush(&mut self.out)?;
        self.out.write_all(tail)?;
        let FrameSink { out, pool, .. } = self;
        drop(pool);
        let (mut w, sha, size) = out.finish();
        w.flush()?;
        Ok((w, sha, size))
    }

    fn seal(&mut self) -> io::Result<()> {
        let job = Job {
            seq: self.next_seq,
            data: std::mem::take(&mut self.buf),
            entries: std::mem::take(&mut self.entries),
            indexed: self.indexed,
            boundary: self.boundary,
        };
        self.next_seq += 1;
        if let Some(c) = self.inline.as_mut() {
            let done = run(job, c);
            return self.write_done(done);
        }
        while self.in_flight >= self.limit {
            self.wait_one()?;
        }
        let sender = self
            .pool
            .as_ref()
            .and_then(|p| p.jobs.as_ref())
            .ok_or_else(|| io::Error::other("the compression pool is gone"))?;
        sender
            .send(job)
            .map_err(|_| io::Error::other("a compression thread failed"))?;
        self.in_flight += 1;
        Ok(())
    }

    fn wait_one(&mut self) -> io::Result<()> {
        let pool = self
            .pool
            .as_ref()
            .ok_or_else(|| io::Error::other("the compression pool is gone"))?;
        let done = pool
            .done
            .recv()
            .map_err(|_| io::Error::other("a compression thread failed"))?;
        self.in_flight -= 1;
        self.pending.insert(done.seq, done);
        while let Some(done) = self.pending.remove(&self.write_seq) {
            self.write_done(done)?;
        }
        Ok(())
    }

    fn write_done(&mut self, done: Done) -> io::Result<()> {
        let compressed = done.compressed?;
        self.carry.flush(&mut self.out)?;
        self.out.write_all(&compressed)?;
        self.offset += compressed.len() as u64;
        self.write_seq = done.seq + 1;
        if done.indexed
            && let Some(index) = self.index.as_mut()
        {
            index.frame(&FrameRecord {
                clen: compressed.len() as u64,
                ulen: done.ulen,
                blake3: done.blake3,
                boundary: done.boundary,
                entries: done.entries,
            })?;
        }
        Ok(())
    }
}

impl<W: ArchiveSink> FrameSink<W> {
    /// Writes a frame copied whole from another archive (already compressed; its record as
    /// that archive's index holds it), after everything before it. The caller copies only runs
    /// of frames that start and end at entry boundaries, so the tar stream stays whole.
    ///
    /// `from` is the parent's file and the frame's offset in it, when its blocks may be shared
    /// (`share.rs`); `run` is given for the first frame of a run, as the run's length: a pad
    /// then goes first when that lets the run's blocks be shared.
    ///
    /// Fails when compressing what came before or writing fails.
    pub fn copy_frame(
        &mut self,
        mut record: FrameRecord,
        compressed: &[u8],
        from: Option<(&std::fs::File, u64)>,
        run: Option<u64>,
    ) -> io::Result<()> {
        self.drain()?;
        let block = from.and_then(|_| self.out.shared_block());
        if let (Some(block), Some((_, at)), Some(run)) = (block, from, run) {
            let pad = pad_len(self.offset, at, block);
            if pad > 0 && run >= SHARE_MIN.max(block * 4) {
                self.carry.flush(&mut self.out)?;
                self.out.write_all(&index::pad(pad))?;
                self.offset += pad;
                record.clen += pad;
            }
        }
        match (block, from) {
            (Some(block), Some(from)) if self.offset % block == from.1 % block => {
                self.carry.append(&mut self.out, compressed, from, block)?;
            }
            _ => {
                self.carry.flush(&mut self.out)?;
                self.out.write_all(compressed)?;
            }
        }
        self.offset += compressed.len() as u64;
        if let Some(index) = self.index.as_mut() {
            index.frame(&record)?;
        }
        Ok(())
    }
}

impl<W: Write> FrameSink<W> {
    /// Reads up to `n` bytes of `from` straight into the frame being filled (no bounce
    /// buffer, and no zeroing where `from` reads into uninitialised memory, as files do),
    /// stopping at the end of the frame; returns how many were read, 0 at the end of `from`.
    ///
    /// Fails when reading, compressing or writing fails.
    pub fn fill_from<R: Read + ?Sized>(&mut self, from: &mut R, n: u64) -> io::Result<u64> {
        let room = (FRAME_MAX - self.buf.len()) as u64;
        let want = room.min(n);
        self.buf.reserve_exact(want as usize);
        let got = from.take(want).read_to_end(&mut self.buf)? as u64;
        self.sealed_if_full()?;
        Ok(got)
    }

    fn sealed_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FRAME_MAX {
            self.seal()?;
            // The next frame continues this entry (unless the next entry begins right here).
            self.boundary = false;
            self.buf.reserve_exact(FRAME_MAX);
        }
        Ok(())
    }
}

impl<W: Write> Write for FrameSink<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = FRAME_MAX - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        self.sealed_if_full()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most 100 000 bytes per read, like a pipe or a slow disk.
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(100_000);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn content_read_straight_into_frames_is_cut_at_the_frame_size_and_comes_back_whole() {
        let data: Vec<u8> = (0..(FRAME_MAX * 2 + 12_345) as u32)
            .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
            .collect();
        for threads in [0, 2] {
            let spill = tempfile::tempfile().unwrap();
            let mut sink = FrameSink::new(Vec::new(), 3, threads, spill).unwrap();
            sink.write_all(b"head").unwrap();
            let mut from = Trickle(io::Cursor::new(data.clone()));
            let (mut total, mut reads) = (0u64, 0);
            loop {
                let got = sink.fill_from(&mut from, u64::MAX).unwrap();
                if got == 0 {
                    break;
                }
                // Never past the end of the frame being filled.
                assert!(got <= FRAME_MAX as u64);
                total += got;
                reads += 1;
            }
            assert_eq!(total, data.len() as u64);
            // The first read stopped 4 bytes early (its frame began with "head"), the second
            // filled a whole frame and the third took the rest.
            assert_eq!(reads, 3);
            // The limit is honoured too.
            let mut rest = io::Cursor::new(vec![7u8; 1000]);
            assert_eq!(sink.fill_from(&mut rest, 10).unwrap(), 10);
            let (out, _, _) = sink.finish(b"").unwrap();
            let back = zstd::decode_all(out.as_slice()).unwrap();
            assert_eq!(back.len(), 4 + data.len() + 10);
            assert_eq!(&back[..4], b"head");
            assert!(back[4..4 + data.len()] == data[..]);
            assert_eq!(&back[4 + data.len()..], &[7u8; 10]);
        }
    }
}
