//! Splitting an archive into its zstd frames and decompressing them on a few threads. One
//! thread reads the input (computing its SHA-256 on the way) and finds where each frame ends
//! from zstd's block headers; a frame of a plausible size that declares its content size is
//! decompressed whole by a worker, which also computes the BLAKE3 of its bytes. The reader
//! receives the frames in archive order over a bounded channel (each as a promise of its
//! result), so memory stays at a few frames while the workers run ahead. Any other frame — a
//! format 1 archive's one long frame, or bytes that do not parse — is decompressed as a stream
//! on the reading thread, in order, exactly as before; a damaged frame fails either way.
//! Skippable frames (the format 2 trailer) are handed over as they are, except pads
//! (`index::pad`), which are checked and counted in the compressed length of the frame after
//! them, as the index counts them.

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, SyncSender};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use crate::frames::MAX_FRAME;
use crate::hashing::HashingReader;
use crate::index::{MAX_PAD, PAD_MAGIC, pad_at};
use crate::stream::{Decoded, Msg, SeenFrame};

const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Bytes read from the input at a time, and the chunks a streamed frame is handed over in.
const CHUNK: usize = 1 << 20;
/// Skippable frames larger than this are refused (ours is 16 bytes).
const MAX_SKIPPABLE: u32 = 64 << 10;
/// The largest frame (compressed or not) decompressed whole by a worker.
const WHOLE: usize = MAX_FRAME as usize;

/// Input buffered for frame parsing.
struct Input<R> {
    src: HashingReader<R>,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Compressed bytes consumed so far.
    offset: u64,
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
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
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

    fn consume(&mut self, n: usize) {
        self.lo += n;
        self.offset += n as u64;
    }

    /// The compressed and uncompressed length of the zstd frame at the start of the buffer,
    /// reading as much of it as needed; `None` when it is larger than [`WHOLE`], does not
    /// declare its content size, or does not parse (the streaming decoder then says why).
    fn whole_frame(&mut self) -> io::Result<Option<(usize, usize)>> {
        loop {
            let have = self.hi - self.lo;
            let window = &self.buf[self.lo..self.hi];
            if let Ok(clen) = zstd::zstd_safe::find_frame_compressed_size(window) {
                let ulen = zstd::zstd_safe::get_frame_content_size(window);
                return Ok(match ulen {
                    Ok(Some(u)) if u <= WHOLE as u64 => Some((clen, u as usize)),
                    _ => None,
                });
            }
            if have >= WHOLE || self.fill((have + CHUNK).min(WHOLE))? == have {
                return Ok(None);
            }
        }
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A frame for a worker: its compressed bytes, its declared size, where it starts, and
/// where its result goes.
struct Job {
    data: Vec<u8>,
    /// The pad before it (`index::pad`), which the index counts in its compressed length.
    pad: u64,
    ulen: usize,
    offset: u64,
    done: SyncSender<io::Result<Decoded>>,
}

fn decode(job: &Job, dec: &mut zstd::bulk::Decompressor<'static>) -> io::Result<Decoded> {
    let mut out = Vec::with_capacity(job.ulen);
    let made = dec.decompress_to_buffer(&job.data[..], &mut out);
    let damaged = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the frame at byte {}: {what}", job.offset),
        )
    };
    match made {
        Ok(n) if n == job.ulen => {}
        Ok(n) => return Err(damaged(format!("{n} bytes, not the {} declared", job.ulen))),
        Err(e) => return Err(damaged(e.to_string())),
    }
    let seen = SeenFrame {
        clen: job.data.len() as u64 + job.pad,
        ulen: job.ulen as u64,
        blake3: *blake3::hash(&out).as_bytes(),
    };
    Ok((out, seen))
}

/// Decompresses jobs until the splitter is done. Never stops before that: the splitter would
/// wait for it forever, so even a panic while decoding fails only its frame.
fn work(jobs: &Mutex<Receiver<Job>>, mut dec: zstd::bulk::Decompressor<'static>) {
    loop {
        let job = match jobs.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let decoded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(&job, &mut dec)))
                .unwrap_or_else(|_| Err(io::Error::other("a decompression thread failed")));
        // The reader may have stopped: then nobody waits for the result.
        let _ = job.done.send(decoded);
    }
}

/// How many threads decompress whole frames.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// Decompresses `input` frame by frame into `tx`, whole frames on a few threads; returns the
/// input's SHA-256 and size. Stops quietly when the receiver is gone.
///
/// Fails when the input is not a sequence of zstd frames (or is damaged or truncated); a
/// damaged frame decompressed by a worker fails the reader instead.
pub fn produce<R: Read>(input: R, tx: &SyncSender<Msg>) -> io::Result<(String, u64)> {
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(1);
    let jobs_rx = Mutex::new(jobs_rx);
    // Made here, so that a worker cannot fail to start and leave the splitter waiting.
    let decoders = (0..workers())
        .map(|_| zstd::bulk::Decompressor::new())
        .collect::<io::Result<Vec<_>>>()?;
    std::thread::scope(|scope| {
        for dec in decoders {
            let jobs = &jobs_rx;
            scope.spawn(move || work(jobs, dec));
        }
        let mut input = Input {
            src: HashingReader::new(input),
            buf: vec![0u8; CHUNK],
            lo: 0,
            hi: 0,
            offset: 0,
        };
        let result = split(&mut input, tx, &jobs_tx);
        drop(jobs_tx);
        result?;
        input.src.finish()
    })
}

/// Hands every frame of the input over in order; returns when the input or the receiver
/// ends.
fn split<R: Read>(
    input: &mut Input<R>,
    tx: &SyncSender<Msg>,
    jobs: &SyncSender<Job>,
) -> io::Result<()> {
    let mut dec = Decoder::new()?;
    let mut pad = 0u64;
    loop {
        let have = input.fill(8)?;
        if have == 0 && pad == 0 {
            return Ok(());
        }
        if have < 8 {
            return Err(invalid("truncated: trailing bytes are not a frame"));
        }
        let magic = input.u32_at(0);
        if magic == PAD_MAGIC && pad == 0 {
            pad = take_pad(input)?;
            continue;
        }
        let msg = if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            if pad > 0 {
                return Err(invalid("a pad that is not followed by a frame"));
            }
            Msg::Skippable(skippable(input)?)
        } else if magic != ZSTD_MAGIC {
            return Err(invalid("not a zstd frame"));
        } else if let Some((clen, ulen)) = input.whole_frame()? {
            let (done, result) = mpsc::sync_channel(1);
            let job = Job {
                data: input.buf[input.lo..input.lo + clen].to_vec(),
                pad,
                ulen,
                offset: input.offset,
                done,
            };
            input.consume(clen);
            if jobs.send(job).is_err() {
                return Err(io::Error::other("the decompression threads stopped"));
            }
            Msg::Frame(result)
        } else {
            match stream_frame(input, &mut dec, tx)? {
                Some(f) => Msg::FrameEnd(SeenFrame {
                    clen: f.clen + pad,
                    ..f
                }),
                None => return Ok(()),
            }
        };
        pad = 0;
        if tx.send(msg).is_err() {
            return Ok(());
        }
    }
}

/// Takes a pad (zeros before a frame, `index::pad`); returns its length in all.
fn take_pad<R: Read>(input: &mut Input<R>) -> io::Result<u64> {
    let len = u64::from(input.u32_at(4)) + 8;
    if len > MAX_PAD {
        return Err(invalid("an oversized pad"));
    }
    let need = len as usize;
    if input.fill(need)? < need {
        return Err(invalid("truncated pad"));
    }
    if pad_at(&input.buf[input.lo..input.lo + need]) != Some(len) {
        return Err(invalid("a pad that is not all zeros"));
    }
    input.consume(need);
    Ok(len)
}

/// Takes a skippable frame's content.
fn skippable<R: Read>(input: &mut Input<R>) -> io::Result<Vec<u8>> {
    let size = input.u32_at(4);
    if size > MAX_SKIPPABLE {
        return Err(invalid("an oversized skippable frame"));
    }
    input.consume(8);
    let need = size as usize;
    if input.fill(need)? < need {
        return Err(invalid("truncated skippable frame"));
    }
    let bytes = input.buf[input.lo..input.lo + need].to_vec();
    input.consume(need);
    Ok(bytes)
}

/// Decodes one zstd frame as a stream on this thread; `None` when the receiver went away.
fn stream_frame<R: Read>(
    input: &mut Input<R>,
    dec: &mut Decoder<'static>,
    tx: &SyncSender<Msg>,
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
        input.consume(used);
        clen += used as u64;
        hasher.update(&out[filled..filled + made]);
        filled += made;
        ulen += made as u64;
        if filled == out.len() || (hint == 0 && filled > 0) {
            let mut chunk = std::mem::replace(&mut out, vec![0u8; CHUNK]);
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

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write};
    use std::sync::mpsc;

    use super::{WHOLE, produce};
    use crate::stream::{ChannelReader, Msg};

    /// One frame that declares its content size and carries a checksum (what the writer's
    /// bulk compressor makes).
    fn sized(data: &[u8]) -> Vec<u8> {
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.context_mut()
            .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .unwrap();
        c.compress(data).unwrap()
    }

    /// One frame that does not declare it (a streaming writer's frame).
    fn undeclared(data: &[u8]) -> Vec<u8> {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Half random, half repeated text: some of it compresses.
                if (i / 4096) % 2 == 0 {
                    x as u8
                } else {
                    b"abcdefgh"[i % 8]
                }
            })
            .collect()
    }

    /// What reading an archive gave: its bytes, (clen, ulen) of each frame, skippable frames.
    type Read = (Vec<u8>, Vec<(u64, u64)>, usize);

    /// Reads `archive` the way the engine does.
    fn read(archive: Vec<u8>) -> std::io::Result<Read> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(4);
        let producer = std::thread::spawn(move || {
            let r = produce(archive.as_slice(), &tx);
            if let Err(e) = &r {
                let _ = tx.send(Msg::Failed(std::io::Error::new(e.kind(), e.to_string())));
            }
            r
        });
        let mut reader = ChannelReader::new(rx);
        let mut out = Vec::new();
        let read = reader.read_to_end(&mut out);
        let produced = producer.join().unwrap();
        read?;
        produced?;
        let frames = reader.frames.borrow();
        let seen = frames.seen.iter().map(|f| (f.clen, f.ulen)).collect();
        Ok((out, seen, frames.skippable.len()))
    }

    #[test]
    fn frames_come_back_in_order_whichever_way_they_were_decompressed() {
        let mut archive = Vec::new();
        let mut want: Vec<u8> = Vec::new();
        let mut parts = Vec::new();
        for i in 0..40u64 {
            let data = bytes(1000 + (i as usize * 7919) % 300_000, i);
            // Every fifth frame does not declare its size: it streams on the reading thread
            // between frames the workers decompress.
            let frame = if i % 5 == 0 {
                undeclared(&data)
            } else {
                sized(&data)
            };
            parts.push((frame.len() as u64, data.len() as u64));
            archive.extend(&frame);
            want.extend(&data);
        }
        // Larger than a worker takes whole: streamed too.
        let big = vec![7u8; WHOLE + 1];
        let frame = sized(&big);
        parts.push((frame.len() as u64, big.len() as u64));
        archive.extend(&frame);
        want.extend(&big);
        // A skippable frame, then an empty frame.
        archive.extend(0x184D_2A50u32.to_le_bytes());
        archive.extend(3u32.to_le_bytes());
        archive.extend(b"abc");
        let empty = sized(b"");
        parts.push((empty.len() as u64, 0));
        archive.extend(&empty);

        let (got, seen, skippable) = read(archive).unwrap();
        assert!(got == want, "the bytes differ");
        assert_eq!(seen, parts);
        assert_eq!(skippable, 1);
    }

    #[test]
    fn a_pad_counts_in_the_frame_after_it_and_must_be_zeros_before_a_frame() {
        let (a, b) = (bytes(100_000, 1), bytes(5_000, 2));
        let (fa, fb) = (sized(&a), undeclared(&b));
        let mut archive = crate::index::pad(4099);
        archive.extend(&fa);
        archive.extend(crate::index::pad(8));
        archive.extend(&fb);
        let (got, seen, skippable) = read(archive.clone()).unwrap();
        assert!(
            got == [a.as_slice(), b.as_slice()].concat(),
            "the bytes differ"
        );
        let (ca, cb) = (fa.len() as u64 + 4099, fb.len() as u64 + 8);
        assert_eq!(seen, [(ca, a.len() as u64), (cb, b.len() as u64)]);
        assert_eq!(skippable, 0);

        let mut dirty = archive.clone();
        dirty[100] = 1;
        let err = read(dirty).unwrap_err();
        assert!(err.to_string().contains("not all zeros"), "{err}");
        let mut twice = crate::index::pad(8);
        twice.extend(&archive);
        assert!(read(twice).is_err(), "two pads before one frame");
        for tail in [crate::index::trailer(0), Vec::new()] {
            let mut last = archive.clone();
            last.extend(crate::index::pad(16));
            last.extend(&tail);
            assert!(read(last).is_err(), "a pad with no frame after it");
        }
        let max = crate::index::MAX_PAD;
        let mut long = crate::index::pad(max);
        long[4..8].copy_from_slice(&((max - 7) as u32).to_le_bytes());
        long.push(0);
        long.extend(&fa);
        let err = read(long).unwrap_err();
        assert!(err.to_string().contains("oversized pad"), "{err}");
    }

    #[test]
    fn a_damaged_frame_fails_the_read_and_names_where_it_starts() {
        let mut archive = Vec::new();
        let mut starts = Vec::new();
        for i in 0..6u64 {
            starts.push(archive.len());
            archive.extend(sized(&bytes(200_000, i)));
        }
        let at = starts[3] + 40;
        archive[at] ^= 0x55;
        let err = read(archive).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("the frame at byte {}", starts[3])),
            "{err}"
        );
    }

    /// A reader that stops early (a placer refused an entry) lets the splitter and the
    /// workers finish rather than wait for it.
    #[test]
    fn a_reader_that_stops_early_releases_the_threads() {
        let mut archive = Vec::new();
        for i in 0..40u64 {
            archive.extend(sized(&bytes(300_000, i)));
        }
        let (tx, rx) = mpsc::sync_channel::<Msg>(2);
        let producer = std::thread::spawn(move || produce(archive.as_slice(), &tx));
        let mut reader = ChannelReader::new(rx);
        let mut first = [0u8; 10];
        reader.read_exact(&mut first).unwrap();
        drop(reader);
        assert!(producer.join().unwrap().is_ok());
    }

    #[test]
    fn a_truncated_frame_is_refused_whatever_its_size() {
        for data in [bytes(300_000, 1), vec![1u8; WHOLE + 10]] {
            let frame = sized(&data);
            let cut = frame[..frame.len() - 3].to_vec();
            assert!(read(cut).is_err());
        }
    }
}
