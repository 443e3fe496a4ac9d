//! A long-lived `psql` session driven through its stdin/stdout: used to hold a transaction
//! (and its exported snapshot) open while `pg_dump` runs in another process.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use crate::config::Conn;
use crate::error::{DbError, Result};
use crate::scrub::Secrets;
use crate::tools::{self, StderrJoin, Tool};

/// Marks the end of one answer; `\echo` prints it after the statements before it ran.
const MARKER: &str = "__dsb_end_of_answer__";

/// A running `psql -At` connected to one database, stopping at the first error.
#[derive(Debug)]
pub(crate) struct Session {
    tool: Tool,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Option<StderrJoin>,
    secrets: Secrets,
}

impl Session {
    /// Connects `psql` to `database`.
    ///
    /// # Errors
    /// [`DbError::ToolMissing`] or [`DbError::Spawn`]; a refused connection shows at the first
    /// [`Session::query`].
    pub fn start(conn: &Conn, database: &str) -> Result<Self> {
        let tool = tools::find(conn, &["psql"])?;
        let mut cmd = super::psql_command(&tool, conn, database);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = tool.spawn(&mut cmd)?;
        let stderr = tools::collect_stderr(child.stderr.take());
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DbError::unexpected("psql", "no stdout pipe"))?;
        Ok(Session {
            tool,
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr: Some(stderr),
            secrets: conn.secrets.clone(),
        })
    }

    /// Runs `sql` (one or more statements) and returns the lines it printed.
    ///
    /// # Errors
    /// [`DbError::ToolFailed`] with psql's message when a statement fails or the connection
    /// is refused (psql then exits); [`DbError::Io`] on a pipe error.
    pub fn query(&mut self, sql: &str) -> Result<Vec<String>> {
        let sent = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{sql}\n\\echo {MARKER}").and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        let mut lines = Vec::new();
        if sent.is_ok() {
            let mut line = String::new();
            loop {
                line.clear();
                let n = self
                    .stdout
                    .read_line(&mut line)
                    .map_err(|e| DbError::io("reading psql", e))?;
                if n == 0 {
                    break;
                }
                let text = line.trim_end_matches(['\n', '\r']);
                if text == MARKER {
                    return Ok(lines);
                }
                lines.push(text.to_owned());
            }
        }
        // psql stopped: it says why on stderr.
        self.stdin = None;
        let status = self
            .child
            .wait()
            .map_err(|e| DbError::io("waiting for psql", e))?;
        let stderr = self.stderr.take().map(StderrJoin::take).unwrap_or_default();
        Err(self.tool.failed(status, &stderr, &self.secrets))
    }

    /// Ends the session (an open transaction is rolled back) and waits for psql.
    pub fn close(mut self) {
        self.stdin = None;
        let _ = self.child.wait();
    }
}
