//! Storage backends for dsbackup archives, each passing [`conformance`]:
//!
//! - [`LocalBackend`] and [`MemoryBackend`] implement the async
//!   `dsbackup_core::storage::{ReadBackend, WriteBackend}`; [`BlockingWriter`] and
//!   [`BlockingReader`] let the blocking archive engine write to and read from any of them.
//! - [`remote`]: S3-compatible stores, Google Cloud Storage and Azure Blob
//!   ([`remote::OpendalBackend`]) and WebDAV folders ([`remote::WebDavBackend`]), all through
//!   Apache OpenDAL.

mod bridge;
mod common;
pub mod conformance;
mod local_backend;
mod local_writer;
mod memory_backend;
pub mod remote;

pub use bridge::{BlockingReader, BlockingWriter};
pub use local_backend::LocalBackend;
pub use local_writer::LocalWriter;
pub use memory_backend::MemoryBackend;
