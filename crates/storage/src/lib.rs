//! Storage backends for dsbackup archives, each passing [`conformance`]:
//!
//! - [`LocalBackend`] and [`MemoryBackend`] implement the async
//!   `dsbackup_core::storage::{ReadBackend, WriteBackend}`; [`BlockingWriter`] and
//!   [`BlockingReader`] let the blocking archive engine write to and read from any of them.
//! - [`LocalStorage`] and [`MemoryStorage`] implement the older blocking
//!   `dsbackup_core::Storage`, which callers are moving off: a directory (objects written to a
//!   hidden partial file, synced, and renamed into place on commit) and memory.

mod bridge;
mod common;
pub mod conformance;
mod local;
mod local_backend;
mod memory;
mod memory_backend;

pub use bridge::{BlockingReader, BlockingWriter};
pub use local::LocalStorage;
pub use local_backend::LocalBackend;
pub use memory::MemoryStorage;
pub use memory_backend::MemoryBackend;
