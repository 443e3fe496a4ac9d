//! The dsbackup archive engine.
//!
//! A backup is planned first ([`plan`]: walk the sources, hash every file, note what cannot be
//! read), then streamed once ([`write`]: `manifest.json` first, then every entry, through tar,
//! multithreaded zstd and SHA-256 into the caller's sink). [`read`] checks an archive against
//! its manifest while streaming it. Everything here is blocking I/O; callers run it on a
//! blocking thread. Nothing here knows about HTTP, SQL or storage backends.

pub mod error;
pub mod hashing;
pub mod layout;
pub mod manifest;
pub mod plan;
pub mod read;
pub mod write;

pub use error::{EngineError, EngineResult};
pub use manifest::{Entry, EntryKind, Manifest, SourceInfo};
pub use plan::{Plan, Planner};
pub use read::{Placer, VerifyReport, read_archive, verify};
pub use write::{ArchiveSummary, Control, WriteOptions, write};
