//! Bridges between the blocking archive engine and the async backends: [`BlockingWriter`] is a
//! `std::io::Write` feeding a backend's `put`, [`BlockingReader`] a `std::io::Read` over its
//! `get`. Both move bytes through a bounded channel of 1 MiB chunks, so memory stays bounded
//! whatever the object's size.
//!
//! Use them on blocking threads (`spawn_blocking`, plain threads) of a multi-thread runtime:
//! they block the calling thread, and tokio panics if they block inside async code.

use std::io::{self, Read, Write};
use std::ops::Range;
use std::sync::{Arc, mpsc as std_mpsc};

use bytes::{Buf, Bytes, BytesMut};
use dsbackup_core::storage::{ObjectMeta, ReadBackend, WriteBackend, check_key};
use dsbackup_core::{CoreError, CoreResult};
use futures_util::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::common::CHUNK;

/// Chunks in flight between a bridge and its backend.
const DEPTH: usize = 4;

/// What travels through a bridge's channel. Only `End` ends a transfer cleanly: a channel that
/// closes without it means the other side went away, which is an error, never a short object.
enum Piece {
    Data(Bytes),
    Failed(io::Error),
    End,
}

fn gone() -> io::Error {
    io::Error::other("storage transfer stopped before its end")
}

/// An object being written to a [`WriteBackend`]. `commit` completes it; dropping it without
/// `commit` ends the put's body with an error, so the backend keeps nothing, and waits until the
/// backend has cleaned up.
pub struct BlockingWriter {
    key: String,
    buf: BytesMut,
    tx: Option<mpsc::Sender<Piece>>,
    done: std_mpsc::Receiver<CoreResult<ObjectMeta>>,
    outcome: Option<CoreResult<ObjectMeta>>,
}

impl std::fmt::Debug for BlockingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingWriter")
            .field("key", &self.key)
            .field("open", &self.tx.is_some())
            .finish_non_exhaustive()
    }
}

impl BlockingWriter {
    /// Starts `backend.put(key, …, overwrite)` on `runtime`, fed by what is written here.
    ///
    /// Fails with `Invalid` for a malformed key; the put's own failures (`Conflict`, …) come
    /// from `commit`, or as an I/O error from a write once the put has stopped.
    pub fn new(
        runtime: &Handle,
        backend: Arc<dyn WriteBackend>,
        key: &str,
        overwrite: bool,
    ) -> CoreResult<Self> {
        check_key(key)?;
        let (tx, rx) = mpsc::channel::<Piece>(DEPTH);
        let (done_tx, done) = std_mpsc::sync_channel(1);
        let body = futures_util::stream::unfold(Some(rx), |rx| async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(Piece::Data(b)) => Some((Ok(b), Some(rx))),
                Some(Piece::Failed(e)) => Some((Err(e), None)),
                Some(Piece::End) => None,
                None => Some((Err(io::Error::other("writer dropped before commit")), None)),
            }
        });
        let owned = key.to_string();
        runtime.spawn(async move {
            let result = backend.put(&owned, Box::pin(body), overwrite).await;
            let _ = done_tx.send(result);
        });
        Ok(Self {
            key: key.to_string(),
            buf: BytesMut::with_capacity(CHUNK),
            tx: Some(tx),
            done,
            outcome: None,
        })
    }

    /// The put's outcome: waits for it to stop, the first time.
    fn outcome(&mut self) -> CoreResult<ObjectMeta> {
        let key = &self.key;
        let done = &self.done;
        self.outcome
            .get_or_insert_with(|| {
                done.recv().unwrap_or_else(|_| {
                    Err(CoreError::Internal(format!(
                        "writing {key}: storage task stopped (runtime shut down?)"
                    )))
                })
            })
            .clone()
    }

    /// Why nothing more can be written: the put's error.
    fn closed(&mut self) -> io::Error {
        self.tx = None;
        match self.outcome() {
            Err(e) => io::Error::other(e),
            Ok(_) => io::Error::other("storage put ended before the writer"),
        }
    }

    fn send(&mut self, piece: Piece) -> io::Result<()> {
        match &self.tx {
            Some(tx) if tx.blocking_send(piece).is_ok() => Ok(()),
            // The put stopped reading: it failed (or, wrongly, finished early).
            _ => Err(self.closed()),
        }
    }

    /// Makes the object complete and durable; returns what the backend stored.
    ///
    /// Fails with the put's error (`Conflict` when the key exists without `overwrite`,
    /// `Internal` for a storage failure).
    pub fn commit(mut self) -> CoreResult<ObjectMeta> {
        let rest = self.buf.split().freeze();
        let sent = if rest.is_empty() {
            Ok(())
        } else {
            self.send(Piece::Data(rest))
        }
        .and_then(|()| self.send(Piece::End));
        self.tx = None;
        match (self.outcome(), sent) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(CoreError::internal(&e)),
            (Ok(meta), Ok(())) => Ok(meta),
        }
    }
}

impl Write for BlockingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.tx.is_none() {
            return Err(self.closed());
        }
        // Take at most what fills the chunk, so a huge `data` is never copied whole.
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            let chunk = self.buf.split().freeze();
            self.send(Piece::Data(chunk))?;
        }
        Ok(n)
    }

    /// Hands buffered bytes to the backend (durability comes only with `commit`).
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.send(Piece::Data(chunk))
    }
}

impl Drop for BlockingWriter {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Piece::Failed(io::Error::other(
                "writer dropped before commit",
            )));
            drop(tx);
            let _ = self.outcome();
        }
    }
}

/// An object being read from a [`ReadBackend`], with a few chunks read ahead.
pub struct BlockingReader {
    key: String,
    chunk: Bytes,
    rx: mpsc::Receiver<Piece>,
    /// `Some(true)` after a clean end, `Some(false)` after a failure.
    ended: Option<bool>,
}

impl std::fmt::Debug for BlockingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingReader")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl BlockingReader {
    /// Opens `key` (or `range` of it) on `runtime`.
    ///
    /// Fails as the backend's `get` does: `NotFound`, `Invalid` key or range, `Internal`.
    pub fn new(
        runtime: &Handle,
        backend: Arc<dyn ReadBackend>,
        key: &str,
        range: Option<Range<u64>>,
    ) -> CoreResult<Self> {
        let mut stream = runtime.block_on(backend.get(key, range))?;
        let (tx, rx) = mpsc::channel(DEPTH);
        runtime.spawn(async move {
            loop {
                let piece = match stream.next().await {
                    Some(Ok(b)) if b.is_empty() => continue,
                    Some(Ok(b)) => Piece::Data(b),
                    Some(Err(e)) => Piece::Failed(e),
                    None => Piece::End,
                };
                let last = !matches!(piece, Piece::Data(_));
                if tx.send(piece).await.is_err() || last {
                    break; // the reader was dropped, or this was the end
                }
            }
        });
        Ok(Self {
            key: key.to_string(),
            chunk: Bytes::new(),
            rx,
            ended: None,
        })
    }
}

impl Read for BlockingReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            match self.ended {
                Some(true) => return Ok(0),
                Some(false) => {
                    return Err(io::Error::other(format!("reading {} failed", self.key)));
                }
                None => {}
            }
            match self.rx.blocking_recv() {
                Some(Piece::Data(b)) => self.chunk = b,
                Some(Piece::End) => self.ended = Some(true),
                Some(Piece::Failed(e)) => {
                    self.ended = Some(false);
                    return Err(e);
                }
                None => {
                    self.ended = Some(false);
                    return Err(gone());
                }
            }
        }
        let n = self.chunk.len().min(out.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}
