//! The `Catalog`: everything dsbackup remembers, behind narrow async traits split by concern
//! and chosen at run time as `Arc<dyn Catalog>`:
//!
//! - [`PortalStore`]: portals, their members and sessions;
//! - [`FileStore`]: rooms, folders and files;
//! - [`KeyStore`]: API keys;
//! - [`HistoryStore`]: backup records, and restoring a portal's contents;
//! - [`ScheduleStore`]: backup schedules, and claiming a due run;
//! - [`JobStore`]: backup and restore jobs;
//! - [`ConsumerStore`]: storage consumer settings, and rewriting stored storage parameters.
//!
//! Tenant scoping is part of the API: a lookup by id on behalf of a caller goes through a
//! scoped method (`folder_in`, `file_in`, `user_in`, `backup_of`, `api_key_of`), which answers
//! `None` for another portal's row, so no handler filters by hand. The few unscoped lookups
//! left say on their method why a cross-tenant read is needed there.
//!
//! Nothing here names a database: values are domain types, times are `DateTime<Utc>` (kept
//! to microseconds), ids are `i64` and `Uuid`. Implementations live in `dsbackup-catalog`;
//! they all pass one conformance suite there. Every method fails with `CoreError::Internal`
//! when the backend breaks, and with `CoreError::Conflict` where a uniqueness rule is named.
//!
//! A sub-trait's methods are callable on `dyn Catalog` as they are; on a concrete backend,
//! bring them into scope with `use dsbackup_core::catalog::prelude::*`.

mod consumers;
mod files;
mod history;
mod jobs;
mod keys;
mod portals;
mod schedules;
mod types;

pub use consumers::{ConsumerProps, ConsumerStore, ParamRewrite};
pub use files::FileStore;
pub use history::HistoryStore;
pub use jobs::{Claim, JobStore};
pub use keys::KeyStore;
pub use portals::PortalStore;
pub use schedules::ScheduleStore;
pub use types::{NewFile, NewFolder, NewPortal, PortalContents, Rows};

/// The whole catalog: every store. Object-safe, shared as `Arc<dyn Catalog>`; any type that
/// implements all the stores is one.
pub trait Catalog:
    PortalStore + FileStore + KeyStore + HistoryStore + ScheduleStore + JobStore + ConsumerStore
{
}

impl<T> Catalog for T where
    T: PortalStore + FileStore + KeyStore + HistoryStore + ScheduleStore + JobStore + ConsumerStore
{
}

/// The catalog traits, for code that calls them on a concrete backend.
pub mod prelude {
    pub use super::{
        Catalog, ConsumerStore, FileStore, HistoryStore, JobStore, KeyStore, PortalStore,
        ScheduleStore,
    };
}
