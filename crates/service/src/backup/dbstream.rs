//! A database source as the engine's streamed content: [`DumpStream`] runs the dump tool when
//! the writer reaches the database's place in the archive, and reports the tool's
//! [`DumpSummary`](dsbackup_dbsource::DumpSummary) (versions and the row counts of the dump's
//! snapshot) as the database's `info.json`, which restores check the loaded copy against.

use std::io::{self, Read};

use dsbackup_dbsource::{DbSource, Dump};
use dsbackup_engine::{StreamReader, Streamed};

/// One database source, dumped when the archive writer asks for it.
#[derive(Debug)]
pub struct DumpStream {
    source: DbSource,
}

impl DumpStream {
    pub fn new(source: DbSource) -> Self {
        Self { source }
    }
}

impl Streamed for DumpStream {
    /// Starts the dump. Fails with the tool's scrubbed message when the server or the tool
    /// refuses (wrong password, unreachable server, missing database, a too old `pg_dump`).
    fn open(&self) -> io::Result<Box<dyn StreamReader>> {
        let dump = dsbackup_dbsource::dump(&self.source).map_err(io::Error::other)?;
        Ok(Box::new(Dumping(dump)))
    }
}

/// A dump being read.
struct Dumping(Dump);

impl Read for Dumping {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl StreamReader for Dumping {
    /// Checks how the tool ended and returns its summary as JSON. Fails with the tool's
    /// scrubbed message when the dump failed.
    fn finish(self: Box<Self>) -> io::Result<Vec<u8>> {
        let summary = self.0.finish().map_err(io::Error::other)?;
        serde_json::to_vec_pretty(&summary).map_err(io::Error::other)
    }

    /// The server's and the dump tool's versions, for the archive's header.
    fn version(&self) -> Option<String> {
        let info = self.0.info();
        Some(format!(
            "server {}; {}",
            info.server_version, info.tool_version
        ))
    }
}
