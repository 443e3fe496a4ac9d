//! [`Dump`]: a dump being made, read as a stream of bytes straight from the tool's stdout (or,
//! for SQLite, from an unlinked consistent copy), and its end: exit status, scrubbed errors,
//! [`DumpSummary`].

use std::fs::File;
use std::io::{self, Read};
use std::process::{Child, ChildStdout};

use crate::error::{DbError, Result};
use crate::info::{DbInfo, DumpSummary};
use crate::mysql::count::InsertCounter;
use crate::postgres::session::Session;
use crate::scrub::Secrets;
use crate::tools::{StderrJoin, Tool};

/// A dump in progress. Read it to the end, then call [`Dump::finish`]: only `finish` says
/// whether the dump is complete and valid. Dropping it unfinished kills the tool.
#[derive(Debug)]
pub struct Dump {
    info: DbInfo,
    bytes: u64,
    source: Option<Source>,
    counter: Option<InsertCounter>,
}

#[derive(Debug)]
enum Source {
    Tool(Box<Running>),
    /// SQLite: the consistent copy, already unlinked.
    File(File),
}

/// A dump tool at work.
#[derive(Debug)]
struct Running {
    tool: Tool,
    child: Child,
    stdout: ChildStdout,
    stderr: StderrJoin,
    secrets: Secrets,
    /// PostgreSQL: the session holding the exported snapshot.
    session: Option<Session>,
}

impl Dump {
    pub(crate) fn from_tool(
        info: DbInfo,
        tool: Tool,
        mut child: Child,
        stderr: StderrJoin,
        secrets: Secrets,
        session: Option<Session>,
        counter: Option<InsertCounter>,
    ) -> Result<Self> {
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DbError::unexpected(tool.name, "no stdout pipe"))?;
        Ok(Dump {
            info,
            bytes: 0,
            source: Some(Source::Tool(Box::new(Running {
                tool,
                child,
                stdout,
                stderr,
                secrets,
                session,
            }))),
            counter,
        })
    }

    pub(crate) fn from_file(info: DbInfo, file: File) -> Self {
        Dump {
            info,
            bytes: 0,
            source: Some(Source::File(file)),
            counter: None,
        }
    }

    /// What was known when the dump started: versions always; row counts of the dump's own
    /// snapshot for PostgreSQL and SQLite (`snapshot_counts`). MySQL counts are read from the
    /// dump as it streams and arrive with [`Dump::finish`].
    pub fn info(&self) -> &DbInfo {
        &self.info
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Waits for the tool and checks how the dump ended.
    ///
    /// # Errors
    /// [`DbError::ToolFailed`] with the tool's stderr (secrets removed) when it exited
    /// unsuccessfully; [`DbError::Unexpected`] when the dump was not read to its end (the tool is
    /// then killed); [`DbError::Io`] on a pipe error.
    pub fn finish(mut self) -> Result<DumpSummary> {
        let mut probe = [0u8; 1];
        let rest = self
            .read(&mut probe)
            .map_err(|e| DbError::io("reading the dump", e))?;
        let source = self.source.take();
        if rest != 0 {
            if let Some(source) = source {
                kill(source);
            }
            return Err(DbError::unexpected(
                "Dump::finish",
                "the dump was not read to its end",
            ));
        }
        let mut info = self.info.clone();
        if let Some(Source::Tool(running)) = source {
            let Running {
                tool,
                mut child,
                stdout,
                stderr,
                secrets,
                session,
            } = *running;
            drop(stdout);
            let status = child
                .wait()
                .map_err(|e| DbError::io(format!("waiting for {}", tool.name), e))?;
            if let Some(session) = session {
                session.close();
            }
            tool.check(status, stderr, &secrets)?;
        }
        if let Some(counter) = self.counter.take() {
            info.tables = counter.finish();
            info.snapshot_counts = true;
        }
        Ok(DumpSummary {
            bytes: self.bytes,
            info,
        })
    }
}

fn kill(source: Source) {
    if let Source::Tool(mut running) = source {
        let _ = running.child.kill();
        let _ = running.child.wait();
        if let Some(session) = running.session {
            session.close();
        }
    }
}

impl Read for Dump {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.source.as_mut() {
            Some(Source::Tool(running)) => running.stdout.read(buf)?,
            Some(Source::File(file)) => file.read(buf)?,
            None => 0,
        };
        if let Some(counter) = self.counter.as_mut() {
            counter.feed(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

impl Drop for Dump {
    fn drop(&mut self) {
        if let Some(source) = self.source.take() {
            kill(source);
        }
    }
}
