//! Finding and running the database client tools: the command line and environment for a
//! source (the password only ever in the environment), stderr collected on a thread, and
//! failures turned into scrubbed [`DbError::ToolFailed`] errors.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use crate::config::{Conn, DbKind};
use crate::error::{DbError, Result};
use crate::scrub::Secrets;

/// At most this much of a tool's stderr is kept for an error message.
const STDERR_KEEP: usize = 64 * 1024;

/// A client tool found on disk.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    pub name: &'static str,
    pub path: PathBuf,
}

/// The first of `names` found in the source's `bin_dir`, else on `PATH`.
///
/// # Errors
/// [`DbError::ToolMissing`] when none is found.
pub(crate) fn find(conn: &Conn, names: &[&'static str]) -> Result<Tool> {
    let mut dirs: Vec<PathBuf> = conn.bin_dir.iter().cloned().collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(Tool {
                    name,
                    path: candidate,
                });
            }
        }
    }
    Err(DbError::ToolMissing {
        tool: names.join(" or "),
        looked: match &conn.bin_dir {
            Some(dir) => format!("{} and PATH", dir.display()),
            None => "PATH".to_owned(),
        },
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Tool {
    /// A command for this tool connected to `conn`'s server: for PostgreSQL through `PG*`
    /// variables, for MySQL through `--host/--port/--user` and `MYSQL_PWD`. The database is
    /// not set; callers add it.
    pub fn command(&self, conn: &Conn) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env("LC_ALL", "C");
        let Some(e) = &conn.endpoint else {
            return cmd;
        };
        match conn.kind {
            DbKind::Postgres => {
                cmd.env("PGCLIENTENCODING", "UTF8");
                cmd.env("PGCONNECT_TIMEOUT", "10");
                if let Some(h) = &e.host {
                    cmd.env("PGHOST", h);
                }
                if let Some(p) = e.port {
                    cmd.env("PGPORT", p.to_string());
                }
                if let Some(u) = &e.user {
                    cmd.env("PGUSER", u);
                }
                if let Some(pw) = &e.password {
                    cmd.env("PGPASSWORD", pw);
                }
                for (var, value) in &e.params {
                    cmd.env(var, value);
                }
            }
            DbKind::Mysql => {
                if let Some(h) = &e.host {
                    cmd.arg(format!("--host={h}"));
                }
                if let Some(p) = e.port {
                    cmd.arg(format!("--port={p}"));
                }
                if let Some(u) = &e.user {
                    cmd.arg(format!("--user={u}"));
                }
                if matches!(self.name, "mariadb" | "mysql") {
                    cmd.arg("--connect-timeout=10");
                }
                match &e.password {
                    Some(pw) => cmd.env("MYSQL_PWD", pw),
                    None => cmd.env_remove("MYSQL_PWD"),
                };
            }
            DbKind::Sqlite => {}
        }
        cmd
    }

    /// Starts `cmd`.
    ///
    /// # Errors
    /// [`DbError::Spawn`] when the process cannot be started.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        cmd.spawn().map_err(|source| DbError::Spawn {
            tool: self.name.to_owned(),
            source,
        })
    }

    /// Runs `cmd` to the end, feeding it `input`, and returns its stdout as text.
    ///
    /// # Errors
    /// [`DbError::Spawn`], or [`DbError::ToolFailed`] (stderr scrubbed) when it exits
    /// unsuccessfully.
    pub fn run(&self, mut cmd: Command, input: &str, secrets: &Secrets) -> Result<String> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd)?;
        let stderr = collect_stderr(child.stderr.take());
        let mut stdin = child.stdin.take();
        let input = input.to_owned();
        let writer = std::thread::spawn(move || {
            if let Some(stdin) = stdin.as_mut() {
                // A tool that exits early closes the pipe; its status tells why.
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        let mut out = Vec::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout
                .read_to_end(&mut out)
                .map_err(|e| DbError::io(format!("reading {}", self.name), e))?;
        }
        let _ = writer.join();
        let status = child
            .wait()
            .map_err(|e| DbError::io(format!("waiting for {}", self.name), e))?;
        self.check(status, stderr, secrets)?;
        String::from_utf8(out).map_err(|_| DbError::unexpected(self.name, "output is not UTF-8"))
    }

    /// `Ok` when `status` is success, else [`DbError::ToolFailed`] with the scrubbed stderr.
    ///
    /// # Errors
    /// As described.
    pub fn check(&self, status: ExitStatus, stderr: StderrJoin, secrets: &Secrets) -> Result<()> {
        let text = stderr.take();
        if status.success() {
            return Ok(());
        }
        Err(self.failed(status, &text, secrets))
    }

    /// A [`DbError::ToolFailed`] for this tool.
    pub fn failed(&self, status: ExitStatus, stderr: &str, secrets: &Secrets) -> DbError {
        let status = match status.code() {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        };
        let text = stderr.trim();
        DbError::ToolFailed {
            tool: self.name.to_owned(),
            status,
            stderr: if text.is_empty() {
                "(no message)".to_owned()
            } else {
                secrets.scrub(text)
            },
        }
    }
}

/// The thread that collects a child's stderr.
#[derive(Debug)]
pub(crate) struct StderrJoin(Option<JoinHandle<Vec<u8>>>);

impl StderrJoin {
    /// Waits for the child's stderr to close and returns what it wrote (lossily decoded).
    pub fn take(mut self) -> String {
        let bytes = self
            .0
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Reads `stderr` on a thread, keeping its first [`STDERR_KEEP`] bytes (and draining the rest
/// so the child never blocks on a full pipe).
pub(crate) fn collect_stderr(stderr: Option<ChildStderr>) -> StderrJoin {
    StderrJoin(stderr.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = STDERR_KEEP.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            kept
        })
    }))
}

/// `--version` of a tool, first line.
///
/// # Errors
/// As [`Tool::run`].
pub(crate) fn version_line(tool: &Tool, secrets: &Secrets) -> Result<String> {
    let mut cmd = Command::new(&tool.path);
    cmd.arg("--version").env("LC_ALL", "C");
    let out = tool.run(cmd, "", secrets)?;
    Ok(out.lines().next().unwrap_or("").trim().to_owned())
}

/// Runs `cmd` with `reader` copied into its stdin (stdout discarded), and checks its exit.
/// When `end_marker` is given, the input must contain it in its last 256 bytes, which tells a
/// complete dump from one cut at a statement boundary.
///
/// # Errors
/// [`DbError::Io`] when `reader` fails (the tool is killed); [`DbError::ToolFailed`] when the
/// tool exits unsuccessfully (it may stop reading early: its message says why);
/// [`DbError::Unexpected`] when the end marker is missing.
pub(crate) fn pipe_into(
    tool: &Tool,
    mut cmd: Command,
    mut reader: impl Read,
    secrets: &Secrets,
    end_marker: Option<&str>,
) -> Result<u64> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = tool.spawn(&mut cmd)?;
    let stderr = collect_stderr(child.stderr.take());
    let mut stdin = child.stdin.take();
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let mut read_error = None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        total += n as u64;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 512 {
            tail.drain(..tail.len() - 256);
        }
        let Some(pipe) = stdin.as_mut() else { continue };
        if pipe.write_all(&buf[..n]).is_err() {
            // The tool stopped reading; keep draining nothing more, its status says why.
            stdin = None;
            break;
        }
    }
    drop(stdin);
    if let Some(e) = read_error {
        let _ = child.kill();
        let _ = child.wait();
        return Err(DbError::io("reading the dump to restore", e));
    }
    let status = child
        .wait()
        .map_err(|e| DbError::io(format!("waiting for {}", tool.name), e))?;
    tool.check(status, stderr, secrets)?;
    if let Some(marker) = end_marker {
        let start = tail.len().saturating_sub(256);
        if !String::from_utf8_lossy(&tail[start..]).contains(marker) {
            return Err(DbError::unexpected(
                "the dump",
                format!("it is incomplete: it does not end with {marker:?}"),
            ));
        }
    }
    Ok(total)
}
