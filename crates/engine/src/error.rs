//! The engine's one error enum.
//!
//! Rules: `Source` failures name the file or directory; `Corrupt` says what is wrong and
//! where in the archive; `Canceled` is not a failure of the data; I/O on the sink is `Sink`.

use std::path::PathBuf;

/// Every way a plan, a write or a verification can fail.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A source root is missing or unusable.
    #[error("source {name:?}: {path}: {message}")]
    Source {
        name: String,
        path: PathBuf,
        message: String,
    },
    /// A file changed between planning and archiving.
    #[error("{path} changed while it was being backed up")]
    Changed { path: String },
    /// Writing the archive failed (disk full, storage down).
    #[error("writing the archive failed: {0}")]
    Sink(std::io::Error),
    /// The archive does not match its manifest, or is not a dsbackup archive.
    #[error("{0}")]
    Corrupt(String),
    /// The parent archive frames were copied from could not be read to its end or is not the
    /// archive its record describes; the caller writes again without a parent.
    #[error("the parent archive could not be used: {0}")]
    Parent(String),
    /// The job was canceled.
    #[error("canceled")]
    Canceled,
}

/// Shorthand for engine results.
pub type EngineResult<T> = Result<T, EngineError>;
