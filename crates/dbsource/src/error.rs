//! The crate's one error enum, [`DbError`]. Every text it carries has been scrubbed of the
//! source's secrets (password, URL credentials) before the error is built, so an error can be
//! logged or shown as it is.

use std::path::PathBuf;

/// What went wrong while probing, dumping, restoring or switching a database source.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The source's configuration is invalid (the message says which field and why).
    #[error("database source {name:?}: {message}")]
    Config { name: String, message: String },
    /// The password file could not be read.
    #[error("database source {name:?}: cannot read password_file {path}: {source}")]
    PasswordFile {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A client tool is not installed (neither in `bin_dir` nor on `PATH`).
    #[error("{tool} not found (looked in {looked}); install the database client tools")]
    ToolMissing { tool: String, looked: String },
    /// A client tool could not be started.
    #[error("cannot start {tool}: {source}")]
    Spawn {
        tool: String,
        source: std::io::Error,
    },
    /// A client tool exited unsuccessfully; `stderr` is its message with secrets removed.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: String,
        status: String,
        stderr: String,
    },
    /// The local dump tool is older than the server, which it cannot dump.
    #[error(
        "{tool} {tool_version} is older than the server ({server_version}); install a {tool} \
         of version {server_major} or newer (or point bin_dir at one)"
    )]
    ToolTooOld {
        tool: String,
        tool_version: String,
        server_version: String,
        server_major: u32,
    },
    /// A tool or the server answered something this crate does not understand.
    #[error("unexpected output from {what}: {detail}")]
    Unexpected { what: String, detail: String },
    /// Reading or writing a local file or pipe failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// SQLite refused an operation.
    #[error("sqlite {what}: {source}")]
    Sqlite {
        what: String,
        source: rusqlite::Error,
    },
    /// The restored copy does not hold what the backup said it holds.
    #[error("restored copy of {name:?} does not match the backup: {detail}")]
    Mismatch { name: String, detail: String },
    /// A database this operation would create already exists.
    #[error("{what} already exists; remove it or retry with another id")]
    Exists { what: String },
    /// A half-done switch is in a state `recover` cannot resolve.
    #[error("cannot recover the switch of {name:?}: {detail}")]
    Recover { name: String, detail: String },
}

/// Shorthand used across the crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

impl DbError {
    pub(crate) fn config(name: &str, message: impl Into<String>) -> Self {
        DbError::Config {
            name: name.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        DbError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn sqlite(what: impl Into<String>, source: rusqlite::Error) -> Self {
        DbError::Sqlite {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> Self {
        DbError::Unexpected {
            what: what.into(),
            detail: detail.into(),
        }
    }
}
