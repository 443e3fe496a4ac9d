//! Decompressing an archive frame by frame on its own thread: the tar reader on the calling
//! thread receives the uncompressed bytes over a bounded channel, and learns where each zstd
//! frame ended, its compressed and uncompressed length and the BLAKE3 of its bytes (what a
//! format 2 index is checked against). Skippable frames (the format 2 trailer) are handed over
//! as they are. The SHA-256 of the whole input is computed on the way.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::mpsc;

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use crate::hashing::HashingReader;

const ZSTD_MAGIC: u32 = 0xFD2F_B528;
const CHUNK: usize = 1 << 20;
/// Skippable frames larger than this are refused (ours is 16 bytes).
const MAX_SKIPPABLE: u32 = 64 << 10;

/// A frame as the reader saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFrame {
    pub clen: u64,
    pub ulen: u64,
    pub blake3: [u8; 32],
}

/// What the decompressing thread sends.
pub enum Msg {
    Data(Vec<u8>),
    FrameEnd(SeenFrame),
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
            frames: Rc::new(RefCell::new(frames)),
        }
    }
}

impl ChannelReader {
    /// Receives until unread bytes are available; `false` at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                Ok(Msg::FrameEnd(f)) => {
                    let mut frames = self.frames.borrow_mut();
                    frames.seen.push(f);
                    frames.starts.push(self.pos);
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
        let mut left = u64::try_from(n).map_err(|_| invalid("cannot skip backwards"))?;
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

/// Input buffered for frame parsing.
struct Input<R> {
    src: HashingReader<R>,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

impl<R: Read> Input<R> {
    /// Makes at least `n` bytes available unless the input ends; returns how many are.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.hi - self.lo >= n {
            return Ok(self.hi - self.lo);
        }
        self.buf.copy_within(self.lo..self.hi, 0);
        self.hi -= self.lo;
        self.lo = 0;
        while self.hi < n {
            let got = self.src.read(&mut self.buf[self.hi..])?;
            if got == 0 {
                break;
            }
            self.hi += got;
        }
        Ok(self.hi)
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.buf[self.lo + at..self.lo + at + 4]);
        u32::from_le_bytes(b)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Decompresses `input` frame by frame into `tx`; returns the input's SHA-256 and size. Stops
/// quietly when the receiver is gone.
///
/// Fails when the input is not a sequence of zstd frames (or is damaged or truncated).
pub fn produce<R: Read>(input: R, tx: &mpsc::SyncSender<Msg>) -> io::Result<(String, u64)> {
    let mut input = Input {
        src: HashingReader::new(input),
        buf: vec![0u8; CHUNK],
        lo: 0,
        hi: 0,
    };
    let mut dec = Decoder::new()?;
    loop {
        let have = input.fill(8)?;
        if have == 0 {
            break;
        }
        if have < 8 {
            return Err(invalid("truncated: trailing bytes are not a frame"));
        }
        let magic = input.u32_at(0);
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let size = input.u32_at(4);
            if size > MAX_SKIPPABLE {
                return Err(invalid("an oversized skippable frame"));
            }
            input.lo += 8;
            let need = size as usize;
            if input.fill(need)? < need {
                return Err(invalid("truncated skippable frame"));
            }
            let bytes = input.buf[input.lo..input.lo + need].to_vec();
            input.lo += need;
            if tx.send(Msg::Skippable(bytes)).is_err() {
                return input.src.finish();
            }
            continue;
        }
        if magic != ZSTD_MAGIC {
            return Err(invalid("not a zstd frame"));
        }
        match frame(&mut input, &mut dec, tx)? {
            Some(f) => {
                if tx.send(Msg::FrameEnd(f)).is_err() {
                    return input.src.finish();
                }
            }
            None => return input.src.finish(),
        }
    }
    input.src.finish()
}

/// Decodes one zstd frame; `None` when the receiver went away.
fn frame<R: Read>(
    input: &mut Input<R>,
    dec: &mut Decoder<'static>,
    tx: &mpsc::SyncSender<Msg>,
) -> io::Result<Option<SeenFrame>> {
    let mut out = vec![0u8; CHUNK];
    let mut filled = 0usize;
    let mut hasher = blake3::Hasher::new();
    let (mut clen, mut ulen) = (0u64, 0u64);
    loop {
        if input.lo == input.hi && input.fill(1)? == 0 {
            return Err(invalid("truncated in the middle of a frame"));
        }
        let mut ib = InBuffer::around(&input.buf[input.lo..input.hi]);
        let mut ob = OutBuffer::around(&mut out[filled..]);
        let hint = dec.run(&mut ib, &mut ob)?;
        let (used, made) = (ib.pos(), ob.pos());
        input.lo += used;
        clen += used as u64;
        hasher.update(&out[filled..filled + made]);
        filled += made;
        ulen += made as u64;
        if filled == out.len() || (hint == 0 && filled > 0) {
            let chunk = std::mem::replace(&mut out, vec![0u8; CHUNK]);
            let mut chunk = chunk;
            chunk.truncate(filled);
            filled = 0;
            if tx.send(Msg::Data(chunk)).is_err() {
                return Ok(None);
            }
        }
        if hint == 0 {
            return Ok(Some(SeenFrame {
                clen,
                ulen,
                blake3: *hasher.finalize().as_bytes(),
            }));
        }
    }
}
