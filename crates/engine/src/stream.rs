//! The uncompressed archive as the tar reader on the calling thread sees it: bytes received
//! in order over a bounded channel from the decompressing threads ([`crate::unframe`]), and
//! where each zstd frame ended, its compressed and uncompressed length and the BLAKE3 of its
//! bytes (what a format 2 index is checked against). Skippable frames (the format 2 trailer)
//! are recorded as they are.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::mpsc;

/// A frame as the reader saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFrame {
    pub clen: u64,
    pub ulen: u64,
    pub blake3: [u8; 32],
}

/// A frame decompressed whole: its bytes and what was seen of it.
pub type Decoded = (Vec<u8>, SeenFrame);

/// What the decompressing thread sends, in archive order.
pub enum Msg {
    /// Bytes of a frame decompressed as a stream.
    Data(Vec<u8>),
    /// The end of a frame decompressed as a stream.
    FrameEnd(SeenFrame),
    /// A whole frame, once a worker has decompressed it.
    Frame(mpsc::Receiver<io::Result<Decoded>>),
    Skippable(Vec<u8>),
    Failed(io::Error),
}

/// What the reader has learnt about frames so far.
#[derive(Debug, Default)]
pub struct Frames {
    /// Uncompressed offset where each frame starts (one more than frames ended).
    pub starts: Vec<u64>,
    pub seen: Vec<SeenFrame>,
    /// Skippable frames, each with the number of frames seen before it.
    pub skippable: Vec<(usize, Vec<u8>)>,
}

impl Frames {
    /// The frame the uncompressed offset `pos` lies in.
    pub fn frame_of(&self, pos: u64) -> usize {
        self.starts.partition_point(|&s| s <= pos).saturating_sub(1)
    }
}

/// The uncompressed stream, with frame events recorded in a shared [`Frames`].
pub struct ChannelReader {
    rx: mpsc::Receiver<Msg>,
    buf: Vec<u8>,
    at: usize,
    pos: u64,
    /// The end of the whole frame whose bytes are in `buf`.
    frame_end: Option<SeenFrame>,
    pub frames: Rc<RefCell<Frames>>,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Msg>) -> Self {
        let frames = Frames {
            starts: vec![0],
            ..Frames::default()
        };
        Self {
            rx,
            buf: Vec::new(),
            at: 0,
            pos: 0,
            frame_end: None,
            frames: Rc::new(RefCell::new(frames)),
        }
    }
}

impl ChannelReader {
    fn end_frame(&mut self, f: SeenFrame) {
        let mut frames = self.frames.borrow_mut();
        frames.seen.push(f);
        frames.starts.push(self.pos);
    }

    /// Receives until unread bytes are available; `false` at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        while self.at == self.buf.len() {
            if let Some(f) = self.frame_end.take() {
                self.end_frame(f);
                continue;
            }
            match self.rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                Ok(Msg::FrameEnd(f)) => self.end_frame(f),
                Ok(Msg::Frame(result)) => {
                    let (bytes, seen) = result.recv().map_err(|_| {
                        io::Error::other("a decompression thread stopped without its frame")
                    })??;
                    self.buf = bytes;
                    self.at = 0;
                    self.frame_end = Some(seen);
                }
                Ok(Msg::Skippable(bytes)) => {
                    let mut frames = self.frames.borrow_mut();
                    let after = frames.seen.len();
                    frames.skippable.push((after, bytes));
                }
                Ok(Msg::Failed(e)) => return Err(e),
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.fill()? {
            return Ok(0);
        }
        let n = (self.buf.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Forward only: tar skips padding and unread content by seeking, which here passes over the
/// bytes without copying them (tar's own skip zeroes a 32 KiB buffer for every entry).
impl io::Seek for ChannelReader {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let io::SeekFrom::Current(n) = pos else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the archive stream only skips forward",
            ));
        };
        let mut left = u64::try_from(n)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "cannot skip backwards"))?;
        while left > 0 {
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "unexpected EOF during skip",
                ));
            }
            let k = ((self.buf.len() - self.at) as u64).min(left);
            self.at += k as usize;
            self.pos += k;
            left -= k;
        }
        Ok(self.pos)
    }
}
