//! The dsbackup archive engine.
//!
//! A backup is planned first ([`plan`]: walk the sources, note what cannot be read), then
//! streamed once ([`write`]: in format 2 a header, every entry read exactly once through tar
//! into independently compressed zstd frames, and an index of frames and entries at the end;
//! format 1 put a manifest of pre-hashed files first; [`reuse`] copies the frames of unchanged
//! entries from a parent archive, as shared blocks where the file system has them: [`share`]).
//! [`read`] checks an archive while
//! streaming it, [`extract`] takes one entry out of a format 2 archive by its frame offset. Everything here is blocking I/O; callers run it on a
//! blocking thread. Nothing here knows about HTTP, SQL or storage backends.

pub mod error;
pub mod extract;
mod frames;
pub mod hashing;
pub mod header;
pub mod index;
pub mod layout;
pub mod manifest;
pub mod plan;
pub mod pool;
pub mod read;
mod read2;
pub mod reuse;
pub mod share;
mod stream;
mod unframe;
mod varint;
pub mod write;
mod write2;
mod write2_streams;

pub use error::{EngineError, EngineResult};
pub use manifest::{Entry, EntryKind, Manifest, SourceInfo};
pub use plan::{Plan, Planner, StreamReader, Streamed};
pub use read::{Placer, VerifyReport, read_archive, verify};
pub use reuse::{ParentArchive, ReuseReport};
pub use share::ArchiveSink;
pub use write::{ArchiveSummary, Control, WriteOptions, write};
