//! Writers and readers that hash and count what passes through them.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Passes bytes to `inner`, keeping their SHA-256 and count.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The sink, the upper-case hex SHA-256 (as DocSpace stores it) and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        let digest = hex::encode_upper(self.hasher.finalize());
        (self.inner, digest, self.count)
    }
}

impl<W: crate::share::ArchiveSink> HashingWriter<W> {
    /// The block size the sink can share blocks in, if it can.
    pub fn shared_block(&self) -> Option<u64> {
        self.inner.shared_block()
    }

    /// Appends `parts` (in order), which are `src`'s bytes from `offset`, sharing `src`'s
    /// blocks as far as the sink can and writing the rest; hashes and counts them all.
    /// Returns how many bytes were shared.
    ///
    /// Fails as the sink fails.
    pub fn share(
        &mut self,
        parts: [&[u8]; 2],
        src: &std::fs::File,
        offset: u64,
    ) -> io::Result<u64> {
        let len = (parts[0].len() + parts[1].len()) as u64;
        let shared = self.inner.append_shared(src, offset, len)?.min(len);
        let mut skip = shared as usize;
        for part in parts {
            let from = skip.min(part.len());
            self.inner.write_all(&part[from..])?;
            skip -= from;
            self.hasher.update(part);
        }
        self.count += len;
        Ok(shared)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Passes bytes from `inner`, keeping their SHA-256 and count.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads what is left, then returns the upper-case hex SHA-256 and byte count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex::encode_upper(self.hasher.finalize()), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads through, keeping a BLAKE3 of the bytes and their count.
pub(crate) struct Blake3Reader<R> {
    pub inner: R,
    pub hasher: blake3::Hasher,
    pub count: u64,
}

impl<R: Read> Read for Blake3Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
