//! Where a backup's archive goes: a server directory's file written straight from the
//! engine's thread ([`LocalWriter`], which appends a parent's copied frames as shared blocks
//! where the file system can), or any other storage through the async bridge
//! ([`BlockingWriter`]). Either way nothing is visible under the key before `commit`, and a
//! writer dropped without it leaves nothing.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use dsbackup_core::CoreResult;
use dsbackup_core::storage::{ObjectMeta, WriteBackend};
use dsbackup_engine::ArchiveSink;
use dsbackup_storage::{BlockingWriter, LocalBackend, LocalWriter};
use tokio::runtime::Handle;

/// An archive being written.
#[derive(Debug)]
pub enum Out {
    Local(LocalWriter),
    Remote(BlockingWriter),
}

/// Where an archive is to be written: the storage, the key, and the server directory the
/// storage is, when it is one.
#[derive(Debug, Clone)]
pub struct Dest {
    pub backend: Arc<dyn WriteBackend>,
    pub local: Option<LocalBackend>,
    pub key: String,
}

impl Dest {
    /// Starts writing the archive.
    ///
    /// Fails as the backend's put does (`Invalid` key, `Conflict`, `Internal`).
    pub fn open(&self, runtime: &Handle) -> CoreResult<Out> {
        Ok(match &self.local {
            Some(dir) => Out::Local(dir.create_blocking(&self.key, false)?),
            None => Out::Remote(BlockingWriter::new(
                runtime,
                self.backend.clone(),
                &self.key,
                false,
            )?),
        })
    }
}

impl Out {
    /// Makes the archive complete and durable under its key.
    ///
    /// Fails with the storage's error.
    pub fn commit(self) -> CoreResult<ObjectMeta> {
        match self {
            Out::Local(w) => w.commit(),
            Out::Remote(w) => w.commit(),
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Local(w) => w.write(buf),
            Out::Remote(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::Local(w) => w.write_all(buf),
            Out::Remote(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Local(w) => w.flush(),
            Out::Remote(w) => w.flush(),
        }
    }
}

impl ArchiveSink for Out {
    fn shared_block(&self) -> Option<u64> {
        match self {
            Out::Local(w) => w.shared_block(),
            Out::Remote(_) => None,
        }
    }

    fn append_shared(&mut self, src: &File, offset: u64, len: u64) -> io::Result<u64> {
        match self {
            Out::Local(w) => w.append_shared(src, offset, len),
            Out::Remote(_) => Ok(0),
        }
    }
}
