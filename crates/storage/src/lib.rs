//! Storage backends implementing `dsbackup_core::Storage`, each passing [`conformance`]:
//!
//! - [`LocalStorage`]: a directory; objects are written to a hidden partial file, synced, and
//!   renamed into place on commit.
//! - [`MemoryStorage`]: in memory, for tests and dry runs.

pub mod conformance;
mod local;
mod memory;

pub use local::LocalStorage;
pub use memory::MemoryStorage;
