//! The `Catalog` trait: everything dsbackup remembers (portals, members, sessions, keys,
//! rooms and files, backup history, schedules and jobs), behind one narrow async interface
//! chosen at run time.
//!
//! Implementations live in `dsbackup-catalog`; they all pass one conformance suite there.
//! Every method fails with `CoreError::Internal` when the backend breaks, and with
//! `CoreError::Conflict` where a uniqueness rule is named.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::CoreResult;
use crate::job::{JobKind, JobRecord};
use crate::model::{
    ApiKey, BackupRecord, FileEntry, Folder, FolderKind, MissingArchive, Portal, PortalId,
    PortalStatus, Schedule, Session, User,
};

/// What is needed to create a portal; the catalog assigns the id.
#[derive(Debug, Clone)]
pub struct NewPortal {
    pub alias: String,
    pub time_zone: String,
    pub language: String,
}

/// What is needed to create a folder; the catalog assigns the id.
#[derive(Debug, Clone)]
pub struct NewFolder {
    pub portal_id: PortalId,
    pub parent_id: Option<i64>,
    pub title: String,
    pub kind: FolderKind,
    pub created_by: Uuid,
}

/// What is needed to record a file; the catalog assigns the id.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub portal_id: PortalId,
    pub folder_id: i64,
    pub title: String,
    pub size: i64,
    pub created_by: Uuid,
    /// A backup archive (see [`FileEntry::is_backup`](crate::FileEntry::is_backup)).
    pub is_backup: bool,
}

/// Rows streamed into the catalog, one at a time (a restore reads them from staged files, so
/// a table of any size never sits in memory). An `Err` row aborts the write it feeds.
pub struct Rows<T>(Box<dyn Iterator<Item = CoreResult<T>> + Send>);

impl<T: Send + 'static> Rows<T> {
    /// Rows from any iterator.
    pub fn new(rows: impl Iterator<Item = CoreResult<T>> + Send + 'static) -> Self {
        Self(Box::new(rows))
    }

    /// Rows held in memory already.
    pub fn from_vec(rows: Vec<T>) -> Self {
        Self::new(rows.into_iter().map(Ok))
    }
}

impl<T> Iterator for Rows<T> {
    type Item = CoreResult<T>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<T> std::fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rows(..)")
    }
}

/// Everything of a portal that a restore puts back, as read from an archive and checked.
#[derive(Debug)]
pub struct PortalContents {
    pub time_zone: String,
    pub language: String,
    pub owner_id: Option<Uuid>,
    pub users: Rows<User>,
    pub folders: Rows<Folder>,
    pub files: Rows<FileEntry>,
    pub api_keys: Rows<ApiKey>,
}

/// The catalog. Object-safe, shared as `Arc<dyn Catalog>`.
#[async_trait]
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// Creates a portal, its owner and its rooms root in one transaction.
    /// `Conflict` when the alias is taken.
    async fn create_portal(&self, portal: NewPortal, owner: User) -> CoreResult<(Portal, User)>;
    /// A portal by id.
    async fn portal(&self, id: PortalId) -> CoreResult<Option<Portal>>;
    /// A portal by alias.
    async fn portal_by_alias(&self, alias: &str) -> CoreResult<Option<Portal>>;
    /// Every portal, by id.
    async fn portals(&self) -> CoreResult<Vec<Portal>>;
    /// Sets a portal's status. `NotFound` when there is no such portal.
    async fn set_portal_status(&self, id: PortalId, status: PortalStatus) -> CoreResult<()>;
    /// Removes a portal and everything that belongs to it. Returns whether it existed.
    async fn delete_portal(&self, id: PortalId) -> CoreResult<bool>;

    /// Adds a member. `Conflict` when the e-mail is taken in that portal.
    async fn create_user(&self, user: User) -> CoreResult<()>;
    /// A member by id.
    async fn user(&self, id: Uuid) -> CoreResult<Option<User>>;
    /// Members with this (normalised) e-mail, in any portal.
    async fn users_by_email(&self, email: &str) -> CoreResult<Vec<User>>;
    /// Members of a portal.
    async fn users(&self, portal: PortalId) -> CoreResult<Vec<User>>;

    /// Stores a session.
    async fn create_session(&self, session: Session) -> CoreResult<()>;
    /// A session by token hash (expired ones included; the caller checks).
    async fn session(&self, token_hash: &str) -> CoreResult<Option<Session>>;
    /// Ends a session (logout). Returns whether it existed.
    async fn delete_session(&self, token_hash: &str) -> CoreResult<bool>;
    /// Sets a member's password hash and, in the same transaction, ends the member's sessions
    /// except `keep` (the session the change came through). Returns whether the member exists.
    async fn set_password(
        &self,
        user: Uuid,
        password_hash: &str,
        keep: Option<&str>,
    ) -> CoreResult<bool>;
    /// Removes a member with their sessions and API keys, in one transaction. Returns whether
    /// the member existed.
    async fn delete_user(&self, id: Uuid) -> CoreResult<bool>;

    /// Stores a key.
    async fn create_api_key(&self, key: ApiKey) -> CoreResult<()>;
    /// A key by id.
    async fn api_key(&self, id: Uuid) -> CoreResult<Option<ApiKey>>;
    /// A key by the hash of its secret.
    async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>>;
    /// The keys a member owns, oldest first.
    async fn api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>>;
    /// Saves name, permissions and activity of a key. `NotFound` when it is gone.
    async fn update_api_key(&self, key: &ApiKey) -> CoreResult<()>;
    /// Deletes a key. Returns whether it existed.
    async fn delete_api_key(&self, id: Uuid) -> CoreResult<bool>;
    /// Records a use of a key.
    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()>;

    /// Creates a folder or room. `NotFound` when the parent is not in the same portal.
    async fn create_folder(&self, folder: NewFolder) -> CoreResult<Folder>;
    /// A folder by id.
    async fn folder(&self, id: i64) -> CoreResult<Option<Folder>>;
    /// The folders directly inside a folder, by id.
    async fn child_folders(&self, parent: i64) -> CoreResult<Vec<Folder>>;
    /// The portal's rooms root. `NotFound` when the portal has none.
    async fn rooms_root(&self, portal: PortalId) -> CoreResult<Folder>;
    /// Records a file. `NotFound` when the folder is not in the same portal.
    async fn create_file(&self, file: NewFile) -> CoreResult<FileEntry>;
    /// A file by id.
    async fn file(&self, id: i64) -> CoreResult<Option<FileEntry>>;
    /// The files directly inside a folder, by id.
    async fn files_in(&self, folder: i64) -> CoreResult<Vec<FileEntry>>;

    /// Every folder of a portal, by id.
    async fn folders_of(&self, portal: PortalId) -> CoreResult<Vec<Folder>>;
    /// Every file of a portal, by id.
    async fn files_of(&self, portal: PortalId) -> CoreResult<Vec<FileEntry>>;
    /// Every API key of a portal, oldest first.
    async fn api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>>;
    /// Deletes a file record. Returns whether it existed.
    async fn delete_file(&self, id: i64) -> CoreResult<bool>;

    /// Records a finished backup. `Conflict` when the id exists.
    async fn insert_backup(&self, record: BackupRecord) -> CoreResult<()>;
    /// A backup record by id, removed or not.
    async fn backup(&self, id: Uuid) -> CoreResult<Option<BackupRecord>>;
    /// The records of a tenant (a portal, or `DUMP_TENANT`) that are not removed, oldest first.
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

    /// Creates or replaces the schedule of `schedule.tenant_id`.
    async fn upsert_schedule(&self, schedule: Schedule) -> CoreResult<()>;
    /// The schedule of a tenant.
    async fn schedule(&self, tenant: PortalId) -> CoreResult<Option<Schedule>>;
    /// Every schedule.
    async fn schedules(&self) -> CoreResult<Vec<Schedule>>;
    /// Deletes a tenant's schedule; returns whether there was one.
    async fn delete_schedule(&self, tenant: PortalId) -> CoreResult<bool>;
    /// Records that a scheduled run started at `at`.
    async fn schedule_started(&self, tenant: PortalId, at: DateTime<Utc>) -> CoreResult<()>;
    /// Records the outcome of a scheduled run: `None` clears the last error.
    async fn schedule_outcome(
        &self,
        tenant: PortalId,
        error: Option<(String, DateTime<Utc>)>,
    ) -> CoreResult<()>;
    /// Takes a due scheduled run: sets the schedule's `last_backup_time` to `now` only if it
    /// still equals `seen` (`None` matching a schedule that never ran), in one atomic step.
    /// Returns whether this caller won; of several workers or nodes that read the same `seen`,
    /// exactly one does. `false` too when the tenant has no schedule. Times compare at the
    /// catalog's precision (microseconds), so pass `seen` as read from the catalog.
    async fn claim_schedule(
        &self,
        tenant: PortalId,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> CoreResult<bool>;

    /// Records a new job. `Conflict` when the id exists.
    async fn insert_job(&self, job: JobRecord) -> CoreResult<()>;
    /// Writes a job's state, progress, error, warning, link, heartbeat and finished_on (its
    /// kind, tenants, node and start stay as inserted), unless the stored job is finished
    /// already: a canceled job is never completed later, a completed one never failed. Returns
    /// whether it was written. `NotFound` when there is no such job.
    async fn update_job(&self, job: &JobRecord) -> CoreResult<bool>;
    /// A job by id, finished or not.
    async fn job(&self, id: Uuid) -> CoreResult<Option<JobRecord>>;
    /// The newest job (by `started_on`; the later recorded on a tie) of this kind for this
    /// tenant (`DUMP_TENANT` for whole-instance jobs), finished or not.
    async fn last_job(&self, kind: JobKind, tenant: PortalId) -> CoreResult<Option<JobRecord>>;
    /// Every job not finished yet, on any node, oldest first.
    async fn unfinished_jobs(&self) -> CoreResult<Vec<JobRecord>>;
    /// Start-up recovery: marks every unfinished job of `node` Failed with `message` as its
    /// error and `finished_on = now`, in one transaction, and returns them as now stored,
    /// oldest first. Other nodes' jobs and finished jobs stay as they are.
    async fn interrupt_jobs(
        &self,
        node: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>>;
}
