//! The parent archive's bytes, read once in sequence on a thread of their own and hashed on
//! another while the writer copies from them.
//!
//! The reader runs ahead of the writer by a few frames, so waiting for the disk (a parent
//! whose pages are not cached: the usual case for a scheduled backup, and always for an
//! archive whose blocks were shared, which was never read through its own page cache) or the
//! network (a parent on an object store) overlaps the hashing and copying of the frames before.
//! It reads the parent cut where the writer will ask: each frame whole (one read each), then
//! the index and what follows it in pieces of at most [`PIECE`]. Every piece goes to the
//! hashing thread (SHA-256 of the whole; BLAKE3 of the tail from the index on) before the
//! writer sees it.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// The largest piece the tail is read in.
const PIECE: u64 = 1 << 20;
/// How many pieces the reader and the hasher may each be ahead (frames are at most a few MiB).
const AHEAD: usize = 8;

type Piece = io::Result<Arc<Vec<u8>>>;

/// The parent read in sequence; see the module's header.
pub(super) struct Body {
    rx: Receiver<Piece>,
    pos: u64,
    hasher: Option<JoinHandle<(String, [u8; 32])>>,
}

/// Where the reader cuts `0..size`: at every offset of `frames` (ascending, the first 0),
/// then every [`PIECE`] from `tail_start` on.
fn cuts(frames: &[u64], tail_start: u64, size: u64) -> Vec<Range<u64>> {
    let mut starts: Vec<u64> = frames.iter().copied().filter(|&o| o < tail_start).collect();
    starts.extend((tail_start..size).step_by(PIECE as usize));
    let mut out: Vec<Range<u64>> = starts.windows(2).map(|w| w[0]..w[1]).collect();
    if let Some(&last) = starts.last() {
        out.push(last..size);
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Reads `len` bytes into memory it does not zero first (a file reads straight into it, as
/// `FrameSink::fill_from` does); `len` is at most a frame (the index was checked).
fn read_piece(input: &mut dyn Read, len: u64) -> Piece {
    let mut buf = Vec::with_capacity(len as usize);
    if input.take(len).read_to_end(&mut buf)? as u64 != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "it is shorter than recorded",
        ));
    }
    Ok(Arc::new(buf))
}

/// Reads every cut of `input` and sends it to the hasher and the writer, then checks `input`
/// ends there; stops at the first failure (sent to the writer) or when the writer is gone.
fn read_all(
    mut input: Box<dyn Read + Send>,
    cuts: Vec<Range<u64>>,
    hash: SyncSender<Arc<Vec<u8>>>,
    out: SyncSender<Piece>,
) {
    for r in cuts {
        let piece = read_piece(&mut *input, r.end - r.start);
        if let Ok(p) = &piece
            && hash.send(Arc::clone(p)).is_err()
        {
            let _ = out.send(Err(io::Error::other("the hashing thread stopped")));
            return;
        }
        let failed = piece.is_err();
        if out.send(piece).is_err() || failed {
            return;
        }
    }
    let mut rest = [0u8; 1];
    match input.read(&mut rest) {
        Ok(0) => {}
        Ok(_) => {
            let _ = out.send(Err(io::Error::other("it is longer than recorded")));
        }
        Err(e) => {
            let _ = out.send(Err(e));
        }
    }
}

/// Hashes every piece: the SHA-256 (upper-case hex) of all, the BLAKE3 of the bytes `tail`.
fn hash_all(rx: Receiver<Arc<Vec<u8>>>, tail: Range<u64>) -> (String, [u8; 32]) {
    let (mut sha, mut digest, mut pos) = (Sha256::new(), blake3::Hasher::new(), 0u64);
    for chunk in rx {
        sha.update(chunk.as_slice());
        let end = pos + chunk.len() as u64;
        let (from, to) = (tail.start.max(pos), tail.end.min(end));
        if from < to {
            digest.update(&chunk[(from - pos) as usize..(to - pos) as usize]);
        }
        pos = end;
    }
    (
        hex::encode_upper(sha.finalize()),
        *digest.finalize().as_bytes(),
    )
}

impl Body {
    /// Starts reading the parent (`size` bytes) from `input`, its first byte, cut at the
    /// offsets `frames`; the BLAKE3 [`finish`](Self::finish) returns is of the bytes `tail`
    /// (the index's frames).
    pub fn open(
        input: Box<dyn Read + Send>,
        frames: &[u64],
        tail: Range<u64>,
        size: u64,
    ) -> io::Result<Self> {
        let cuts = cuts(frames, tail.start, size);
        let (hash_tx, hash_rx) = mpsc::sync_channel(AHEAD);
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        let hasher = std::thread::Builder::new()
            .name("parent-hash".into())
            .spawn(move || hash_all(hash_rx, tail))?;
        std::thread::Builder::new()
            .name("parent-read".into())
            .spawn(move || read_all(input, cuts, hash_tx, tx))?;
        Ok(Self {
            rx,
            pos: 0,
            hasher: Some(hasher),
        })
    }

    /// The offset of the next byte.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    fn next(&mut self) -> io::Result<Arc<Vec<u8>>> {
        let piece = self
            .rx
            .recv()
            .map_err(|_| io::Error::other("the reading thread stopped"))??;
        self.pos += piece.len() as u64;
        Ok(piece)
    }

    /// The next `len` bytes (hashed): one frame, as cut.
    ///
    /// Fails when they are not the next cut, or cannot be read.
    pub fn take(&mut self, len: u64) -> io::Result<Arc<Vec<u8>>> {
        let piece = self.next()?;
        if piece.len() as u64 != len {
            return Err(io::Error::other("its frames do not line up with its index"));
        }
        Ok(piece)
    }

    /// Passes (the reader hashes them) the bytes up to `offset`, a cut.
    pub fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        while self.pos < offset {
            self.next()?;
        }
        if self.pos != offset {
            return Err(io::Error::other("its frames do not line up with its index"));
        }
        Ok(())
    }

    /// Passes the rest; returns the SHA-256 (upper-case hex) of the whole and the BLAKE3 of
    /// the bytes from the index on.
    ///
    /// Fails when the parent is shorter or longer than `size`, or cannot be read.
    pub fn finish(mut self, size: u64) -> io::Result<(String, [u8; 32])> {
        self.skip_to(size)?;
        // The reader's last word: nothing (it ended where recorded) or why not.
        if let Ok(end) = self.rx.recv() {
            return Err(end
                .err()
                .unwrap_or_else(|| io::Error::other("it is longer than recorded")));
        }
        self.hasher
            .take()
            .and_then(|h| h.join().ok())
            .ok_or_else(|| io::Error::other("the hashing thread failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_follow_the_frames_then_the_tail_in_pieces() {
        assert_eq!(
            cuts(&[0, 10, 30], 50, 60),
            vec![0..10, 10..30, 30..50, 50..60]
        );
        let big = 50 + PIECE + 7;
        assert_eq!(
            cuts(&[0], 50, big),
            vec![0..50, 50..50 + PIECE, 50 + PIECE..big]
        );
        assert_eq!(cuts(&[0], 0, 5), vec![0..5]);
    }

    fn body(bytes: &[u8], frames: &[u64], tail: Range<u64>, size: u64) -> Body {
        Body::open(
            Box::new(io::Cursor::new(bytes.to_vec())),
            frames,
            tail,
            size,
        )
        .unwrap()
    }

    #[test]
    fn reads_frames_whole_and_hashes_everything() {
        let bytes: Vec<u8> = (0..100u8).collect();
        let mut b = body(&bytes, &[0, 20, 45], 70..100, 100);
        b.skip_to(20).unwrap();
        assert_eq!(b.take(25).unwrap().as_slice(), &bytes[20..45]);
        assert_eq!(b.pos(), 45);
        let (sha, tail) = b.finish(100).unwrap();
        assert_eq!(sha, hex::encode_upper(Sha256::digest(&bytes)));
        assert_eq!(tail, *blake3::hash(&bytes[70..]).as_bytes());
    }

    #[test]
    fn a_parent_shorter_or_longer_than_recorded_fails() {
        let bytes = vec![7u8; 100];
        let short = body(&bytes[..90], &[0, 50], 80..100, 100);
        let e = short.finish(100).err().unwrap();
        assert!(e.to_string().contains("shorter"), "{e}");
        let long = body(&bytes, &[0, 50], 80..90, 90);
        let e = long.finish(90).err().unwrap();
        assert!(e.to_string().contains("longer"), "{e}");
    }

    #[test]
    fn a_take_that_is_not_the_next_frame_fails() {
        let bytes = vec![1u8; 100];
        let mut b = body(&bytes, &[0, 40], 90..100, 100);
        assert!(b.take(30).is_err());
    }
}
