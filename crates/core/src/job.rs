//! Backup and restore jobs as persisted state machines: Created → Running → Completed, Canceled
//! or Failed. The catalog holds the truth for job state (see `Catalog::insert_job` and
//! `Catalog::update_job`), so progress survives a restart and several nodes read one truth.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::PortalId;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Backup,
    Restore,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [JobKind::Backup, JobKind::Restore]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a job is in its life. Completed, Canceled and Failed are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Created,
    Running,
    Completed,
    Canceled,
    Failed,
}

impl JobState {
    /// Every state, the unfinished ones first.
    pub const ALL: [JobState; 5] = [
        JobState::Created,
        JobState::Running,
        JobState::Completed,
        JobState::Canceled,
        JobState::Failed,
    ];

    /// Whether the job has ended; a finished job never changes again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Canceled | JobState::Failed
        )
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Created => "created",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Canceled => "canceled",
            JobState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One backup or restore job, as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The task id clients poll with (a backup's history record takes the same id).
    pub id: Uuid,
    pub kind: JobKind,
    /// The portal whose data the job covers; DUMP_TENANT (-1) for whole-instance jobs.
    pub tenant_id: PortalId,
    /// The portal that started it (a dump keeps its starter's id).
    pub started_by: PortalId,
    pub state: JobState,
    /// 0–100.
    pub progress: i32,
    /// Why it failed; empty otherwise.
    pub error: String,
    /// A note for the client (e.g. "Backup cancelled").
    pub warning: Option<String>,
    /// The download link of a finished backup; empty otherwise.
    pub link: String,
    /// Which server process runs it (a node id), and when it last said so.
    pub node: String,
    pub heartbeat: DateTime<Utc>,
    pub started_on: DateTime<Utc>,
    /// Set when the job reaches a final state.
    pub finished_on: Option<DateTime<Utc>>,
    /// A backup the scheduler started (its loss is the schedule's failure).
    pub scheduled: bool,
}

/// A set of jobs that may block a new one: those of `kind` for `tenant`, or for every tenant
/// when `tenant` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobSlot {
    pub kind: JobKind,
    pub tenant: Option<PortalId>,
}

impl JobSlot {
    /// Whether `job` is in this set.
    pub fn covers(&self, job: &JobRecord) -> bool {
        job.kind == self.kind && self.tenant.is_none_or(|t| t == job.tenant_id)
    }
}

impl JobRecord {
    /// Whether the job has ended.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_final_states() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        for k in [JobKind::Backup, JobKind::Restore] {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(JobState::parse("Running"), None);
        let finished: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_finished())
            .collect();
        assert_eq!(
            finished,
            [JobState::Completed, JobState::Canceled, JobState::Failed]
        );
    }
}
