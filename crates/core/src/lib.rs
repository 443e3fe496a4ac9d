//! The dsbackup domain: portals (tenants), their members and roles, rooms and files, API keys
//! and sessions, the secrets that protect them, and the `Catalog` trait that stores them.
//!
//! Nothing here knows about HTTP or SQL. The server maps [`CoreError`] to the DocSpace error
//! envelope; catalog backends implement [`Catalog`].

pub mod actor;
pub mod catalog;
pub mod error;
pub mod job;
pub mod model;
pub mod perm;
pub mod schedule;
pub mod secret;
pub mod storage;
pub mod validate;

pub use actor::Actor;
pub use catalog::Catalog;
pub use error::{CoreError, CoreResult, error_chain};
pub use job::{JobKind, JobRecord, JobSlot, JobState};
pub use model::*;
