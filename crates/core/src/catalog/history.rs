//! `HistoryStore`: the records of finished backups (a portal's, or the whole instance's under
//! `DUMP_TENANT`), their missing-archive notes, and restoring portals' contents.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PortalContents;
use crate::error::CoreResult;
use crate::model::{BackupRecord, MissingArchive, PortalId};

/// Backup history and restores. A tenant is a portal id, or `DUMP_TENANT`.
#[async_trait]
pub trait HistoryStore: Send + Sync + std::fmt::Debug {
    /// Records a finished backup. `Conflict` when the id exists.
    async fn insert_backup(&self, record: BackupRecord) -> CoreResult<()>;
    /// A record of `tenant` by id, removed or not; `None` for another tenant's record.
    async fn backup_of(&self, tenant: PortalId, id: Uuid) -> CoreResult<Option<BackupRecord>>;
    /// A record by id, of any tenant, removed or not. Unscoped on purpose: a signed DataStore
    /// download link names only the record (the signature is the authority, no caller's
    /// portal is known), and `deletebackup` answers differently for another portal's record
    /// than for none. Code acting for a caller uses [`backup_of`](Self::backup_of).
    async fn backup(&self, id: Uuid) -> CoreResult<Option<BackupRecord>>;
    /// The records of a tenant that are not removed, oldest first.
    async fn live_backups(&self, tenant: PortalId) -> CoreResult<Vec<BackupRecord>>;
    /// Erases a record that must never have existed (a canceled job's). Returns whether it
    /// existed.
    async fn erase_backup(&self, id: Uuid) -> CoreResult<bool>;
    /// Marks a record removed (soft delete). Returns whether it was live.
    async fn mark_backup_removed(&self, id: Uuid) -> CoreResult<bool>;
    /// Records that a check at `at` did not find a live record's archive (one more check; the
    /// first time is kept). Returns the observation now stored, `None` when the record is not
    /// live.
    async fn note_backup_missing(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> CoreResult<Option<MissingArchive>>;
    /// Forgets a record's missing observation (its archive was found again). Returns whether
    /// there was one.
    async fn clear_backup_missing(&self, id: Uuid) -> CoreResult<bool>;
    /// Counts a tenant's records created in `[from, to]` with this `paid` flag, removed
    /// ones included (as upstream's free-backup allowance counts them).
    async fn count_backups(
        &self,
        tenant: PortalId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        paid: bool,
    ) -> CoreResult<i64>;
    /// Whether a backup of `tenant` with this archive hash was ever recorded (removed ones
    /// included), as upstream's saas restore check.
    async fn backup_hash_known(&self, tenant: PortalId, hash: &str) -> CoreResult<bool>;

    /// Replaces the members, sessions, keys, folders and files of every listed portal with its
    /// contents (rows re-pointed at that portal), and records `marker` as each one's last
    /// restore — all portals in one transaction, so a whole-instance restore is all or nothing.
    /// `Conflict` when a restored id is taken by another portal, or the error of a row that
    /// fails to read; nothing changes then.
    async fn replace_contents(
        &self,
        portals: Vec<(PortalId, PortalContents)>,
        marker: Uuid,
    ) -> CoreResult<()>;
    /// The marker of the portal's last completed restore.
    async fn restore_marker(&self, portal: PortalId) -> CoreResult<Option<Uuid>>;
}
