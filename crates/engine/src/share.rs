//! Where an archive is written, and whether it can share a parent's blocks.
//!
//! A backup copies the compressed frames of unchanged entries from its parent (`reuse.rs`).
//! When the new archive and the parent are files on one file system that shares blocks
//! between files (reflinks: XFS, Btrfs, bcachefs, ZFS 2.2), those frames need not be written
//! again: the sink appends the parent's blocks to the new file by reference, and the copy
//! costs neither writes nor space. The engine still reads every copied byte, for the parent's
//! SHA-256 and the new archive's, so trust and the recorded hash are as without sharing —
//! provided the parent is not rewritten in place between a frame's read and its append (a
//! sink may hold appends back to make them in batches: at most a second or so): the server's
//! own 0600 archive, which nothing of dsbackup rewrites.
//!
//! Blocks can only be shared whole, at the same offset within a block in both files: the
//! frame sink puts a *pad* (`index::pad`, a skippable zstd frame of zeros that the index
//! counts in the frame after it) before a run of copied frames so that it starts at the
//! parent's offset modulo the block, writes the partial blocks at either end, and shares the
//! blocks between. A sink that cannot share says so and the bytes are written.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::hashing::HashingWriter;

/// A pad (at most a block) is spent to align a copied segment only when the segment holds
/// this much (and at least four blocks): the segments after it that follow it in the parent
/// stay aligned, so pads are spent once per changed region, not once per segment.
pub const SHARE_MIN: u64 = 16 << 10;

/// An archive's destination.
pub trait ArchiveSink: Write {
    /// The block size blocks are shared in, while appending shared blocks may work here;
    /// `None` when it cannot (the default).
    fn shared_block(&self) -> Option<u64> {
        None
    }

    /// Appends `len` bytes of `src` from `offset` by sharing its blocks, after everything
    /// written so far (`offset`, `len` and what was written are multiples of the block).
    /// Returns how many bytes it took, fewer than `len` (none, by default) when this sink or
    /// its file system cannot: the caller writes the rest, and stops asking once
    /// [`shared_block`](Self::shared_block) says `None`. Bytes taken may be appended later,
    /// but before anything written after them.
    ///
    /// Fails when the destination fails as a write would.
    fn append_shared(&mut self, _src: &File, _offset: u64, _len: u64) -> io::Result<u64> {
        Ok(0)
    }
}

impl ArchiveSink for Vec<u8> {}
impl ArchiveSink for File {}
impl<W: Write> ArchiveSink for BufWriter<W> {}

/// The last partial block of a run of copied frames, not yet written (nor hashed): kept so
/// that the block across two frames of the run can be shared whole with the next frame.
#[derive(Debug, Default)]
pub(crate) struct Carry {
    /// The parent's offset of `bytes`.
    at: u64,
    bytes: Vec<u8>,
}

impl Carry {
    /// Writes what is carried; called before anything else is written.
    ///
    /// Fails as writing fails.
    pub fn flush<W: Write>(&mut self, out: &mut HashingWriter<W>) -> io::Result<()> {
        if !self.bytes.is_empty() {
            out.write_all(&self.bytes)?;
            self.bytes.clear();
        }
        Ok(())
    }

    /// Appends `bytes`, the parent's `src` from `at`, to `out`, which is at `at` modulo
    /// `block`: the whole blocks between what must be written are shared, the last partial
    /// block is carried.
    ///
    /// Fails as writing fails.
    pub fn append<W: ArchiveSink>(
        &mut self,
        out: &mut HashingWriter<W>,
        bytes: &[u8],
        (src, at): (&File, u64),
        block: u64,
    ) -> io::Result<()> {
        if !self.bytes.is_empty() && self.at + self.bytes.len() as u64 != at {
            self.flush(out)?;
        }
        let carried = std::mem::take(&mut self.bytes);
        let start = if carried.is_empty() { at } else { self.at };
        let whole = Joined(&carried, bytes);
        let (head, mid, _) = split(start, whole.len() as u64, block);
        let (head, mid) = (head as usize, mid as usize);
        for part in whole.parts(0..head) {
            out.write_all(part)?;
        }
        if mid > 0 {
            out.share(whole.parts(head..head + mid), src, start + head as u64)?;
        }
        let rest = whole.parts(head + mid..whole.len()).concat();
        (self.at, self.bytes) = (start + (head + mid) as u64, rest);
        Ok(())
    }
}

/// Two slices read as one.
struct Joined<'a>(&'a [u8], &'a [u8]);

impl<'a> Joined<'a> {
    fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }

    /// The bytes `r` of the whole, as a part of each slice.
    fn parts(&self, r: std::ops::Range<usize>) -> [&'a [u8]; 2] {
        let n = self.0.len();
        let first = &self.0[r.start.min(n)..r.end.min(n)];
        let second = &self.1[r.start.max(n) - n..r.end.max(n) - n];
        [first, second]
    }
}

/// The pad (bytes in all, 0 for none) that puts `at_out` at `at_src` modulo `block`: never
/// shorter than a pad's 8-byte header.
pub(crate) fn pad_len(at_out: u64, at_src: u64, block: u64) -> u64 {
    let gap = (at_src % block + block - at_out % block) % block;
    if gap == 0 || gap >= 8 {
        gap
    } else {
        gap + block
    }
}

/// How `len` bytes at `at` split into a head written, whole blocks shared and a tail written.
pub(crate) fn split(at: u64, len: u64, block: u64) -> (u64, u64, u64) {
    let head = ((block - at % block) % block).min(len);
    let mid = (len - head) / block * block;
    (head, mid, len - head - mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pad_brings_the_output_to_the_source_offset_modulo_the_block() {
        for (out, src) in [
            (0u64, 0u64),
            (100, 4196),
            (4095, 3),
            (5, 12),
            (8, 0),
            (7, 0),
        ] {
            let p = pad_len(out, src, 4096);
            assert_eq!((out + p) % 4096, src % 4096, "{out} {src}");
            assert!(p == 0 || (8..8 + 4096).contains(&p), "{out} {src}: {p}");
        }
        assert_eq!(pad_len(4096, 0, 4096), 0);
        assert_eq!(pad_len(0, 3, 4096), 4099, "a pad has an 8-byte header");
    }

    #[test]
    fn a_run_splits_into_partial_blocks_around_whole_ones() {
        assert_eq!(split(0, 8192, 4096), (0, 8192, 0));
        assert_eq!(split(100, 10_000, 4096), (3996, 4096, 1908));
        assert_eq!(split(100, 50, 4096), (50, 0, 0));
        assert_eq!(split(4000, 200, 4096), (96, 0, 104));
    }
}
