//! The jobs this process runs, and their progress: one backup per portal and one dump per
//! instance, one restore per portal and one of the whole instance.
//!
//! A job moves Created → Running → Completed / Canceled / Failed. Its progress only grows and
//! stays below 100 until it completes. These slots are the fast path of the node that runs a
//! job; the catalog is the truth every node shares (`durable.rs`): it decides which node may
//! start a job (`claim_job`), whether a cancel or a completion wins (`cancel_jobs`,
//! `complete_backup`), and this process follows. Cancel takes the job out of the progress view
//! (as upstream dequeues it) and flags the worker, which removes its partial archive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use dsbackup_core::PortalId;
use uuid::Uuid;

/// The warning of a canceled backup, as upstream words it.
pub const CANCELED: &str = "Backup cancelled";

/// Which slot a job occupies: a backup and a restore per portal, and one of each for dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKey {
    Portal(PortalId),
    Dump,
    RestorePortal(PortalId),
    RestoreDump,
}

impl JobKey {
    pub fn is_restore(self) -> bool {
        matches!(self, JobKey::RestorePortal(_) | JobKey::RestoreDump)
    }

    /// Whether a job in slot `self` may not run while one in `other` does: a restore excludes
    /// every backup and restore of the data it replaces (a dump restore replaces everything),
    /// and a backup excludes restores of what it reads.
    pub fn conflicts_with(self, other: JobKey) -> bool {
        use JobKey::*;
        match (self, other) {
            (RestoreDump, _) | (_, RestoreDump) => true,
            (Dump, RestorePortal(_)) | (RestorePortal(_), Dump) => true,
            (Portal(a), RestorePortal(b)) | (RestorePortal(a), Portal(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a slot could not be taken.
#[derive(Debug, Clone)]
pub enum Busy {
    /// The same slot's job is still running (a second start answers its progress).
    Same(Arc<Job>),
    /// A conflicting job runs (a restore while a backup runs, or the other way round).
    Conflict(Arc<Job>),
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Created,
    Running,
    Completed,
    Canceled,
    Failed,
}

/// What the progress endpoint shows of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: Uuid,
    pub tenant_id: PortalId,
    pub status: JobStatus,
    pub progress: i32,
    pub error: String,
    pub warning: Option<String>,
    pub link: String,
    /// A restore job (DocSpace `backupProgressEnum` 1) rather than a backup.
    pub restore: bool,
}

impl Snapshot {
    pub fn is_completed(&self) -> bool {
        !matches!(self.status, JobStatus::Created | JobStatus::Running)
    }
}

/// One backup job.
#[derive(Debug)]
pub struct Job {
    pub id: Uuid,
    pub key: JobKey,
    /// The portal that started it (a dump keeps its starter's id, as upstream).
    pub tenant_id: PortalId,
    /// Started by the scheduler.
    pub scheduled: bool,
    pub started_on: chrono::DateTime<chrono::Utc>,
    cancel: AtomicBool,
    /// The catalog holds the job's end (see [`Job::end_recorded`]).
    end_recorded: AtomicBool,
    state: Mutex<Snapshot>,
}

impl Job {
    fn new(key: JobKey, tenant_id: PortalId, scheduled: bool) -> Self {
        let id = Uuid::new_v4();
        Self {
            id,
            key,
            tenant_id,
            scheduled,
            started_on: chrono::Utc::now(),
            cancel: AtomicBool::new(false),
            end_recorded: AtomicBool::new(false),
            state: Mutex::new(Snapshot {
                id,
                tenant_id,
                status: JobStatus::Created,
                progress: 0,
                error: String::new(),
                warning: None,
                link: String::new(),
                restore: key.is_restore(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The flag the engine polls.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    pub fn is_canceled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    /// Whether the catalog holds this job's end: until it does, the catalog shows the job
    /// running and every node refuses to start another in its slot, so the end is written
    /// again (`lease.rs`) after a write that failed.
    pub fn end_recorded(&self) -> bool {
        self.end_recorded.load(Ordering::Relaxed)
    }

    /// The catalog took (or already held) this job's end.
    pub fn set_end_recorded(&self) {
        self.end_recorded.store(true, Ordering::Relaxed);
    }

    pub fn set_running(&self) {
        let mut s = self.lock();
        if s.status == JobStatus::Created {
            s.status = JobStatus::Running;
        }
    }

    /// Raises progress to `percent` (kept within 0–99 and never lowered).
    pub fn advance(&self, percent: i32) {
        let mut s = self.lock();
        if s.status == JobStatus::Running {
            s.progress = s.progress.max(percent.clamp(0, 99));
        }
    }

    /// Completes the job unless it was canceled; returns `false` when canceled, leaving the
    /// caller to undo what it recorded.
    pub fn finish(&self, link: String, warning: Option<String>) -> bool {
        if self.is_canceled() {
            return false;
        }
        self.complete(link, warning);
        true
    }

    /// Completes the job whatever this process thinks: the catalog recorded its completion
    /// before any cancel reached it.
    pub fn complete(&self, link: String, warning: Option<String>) {
        let mut s = self.lock();
        s.status = JobStatus::Completed;
        s.progress = 100;
        s.link = link;
        s.warning = warning;
    }

    /// What the job looks like completed, for the catalog to decide on before this process
    /// shows it.
    pub fn completed_view(&self, link: &str, warning: Option<&str>) -> Snapshot {
        Snapshot {
            status: JobStatus::Completed,
            progress: 100,
            link: link.to_string(),
            warning: warning.map(str::to_string),
            ..self.snapshot()
        }
    }

    /// The catalog ended the job on another node's word (its lease ran out, or a node found
    /// it dead): the worker stops and removes what it made, and the job shows `message`.
    pub fn abandon(&self, message: String) {
        self.cancel.store(true, Ordering::Relaxed);
        self.fail(message);
    }

    /// Ends the job as failed with a message for the client, unless it already ended (a
    /// canceled job stays canceled).
    pub fn fail(&self, message: String) {
        let mut s = self.lock();
        if !s.is_completed() {
            s.status = JobStatus::Failed;
            s.error = message;
        }
    }

    fn mark_canceled(&self) {
        let mut s = self.lock();
        self.cancel.store(true, Ordering::Relaxed);
        if !s.is_completed() {
            s.status = JobStatus::Canceled;
            s.warning = Some(CANCELED.into());
        }
    }
}

/// The job slots.
#[derive(Debug, Default)]
pub struct Jobs {
    slots: Mutex<HashMap<JobKey, Arc<Job>>>,
    /// Ended jobs a new job replaced in their slot before the catalog took their end.
    unrecorded: Mutex<Vec<Arc<Job>>>,
}

impl Jobs {
    fn slots(&self) -> MutexGuard<'_, HashMap<JobKey, Arc<Job>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the slot for a new job. The one lock over every slot decides: the job still
    /// running in the slot, or any running job it conflicts with, wins.
    pub fn start(
        &self,
        key: JobKey,
        tenant_id: PortalId,
        scheduled: bool,
    ) -> Result<Arc<Job>, Busy> {
        let mut slots = self.slots();
        for (k, existing) in slots.iter() {
            if existing.snapshot().is_completed() {
                continue;
            }
            if *k == key {
                return Err(Busy::Same(existing.clone()));
            }
            if key.conflicts_with(*k) {
                return Err(Busy::Conflict(existing.clone()));
            }
        }
        let job = Arc::new(Job::new(key, tenant_id, scheduled));
        if let Some(old) = slots.insert(key, job.clone())
            && !old.end_recorded()
        {
            self.unrecorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(old);
        }
        Ok(job)
    }

    /// Gives back the slot `job` took (the catalog refused it: another node runs the slot).
    pub fn release(&self, job: &Job) {
        let mut slots = self.slots();
        if slots.get(&job.key).is_some_and(|j| j.id == job.id) {
            slots.remove(&job.key);
        }
    }

    /// Every job in a slot, running or finished.
    pub fn all(&self) -> Vec<Arc<Job>> {
        self.slots().values().cloned().collect()
    }

    /// The ended jobs whose end the catalog has not taken yet (it was away when they ended),
    /// in their slots or replaced there.
    pub fn unrecorded_ends(&self) -> Vec<Arc<Job>> {
        let mut replaced = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
        replaced.retain(|j| !j.end_recorded());
        let mut ends = replaced.clone();
        drop(replaced);
        ends.extend(
            self.slots()
                .values()
                .filter(|j| j.snapshot().is_completed() && !j.end_recorded())
                .cloned(),
        );
        ends
    }

    /// The job in a slot, running or finished.
    pub fn get(&self, key: JobKey) -> Option<Arc<Job>> {
        self.slots().get(&key).cloned()
    }

    /// Cancels and clears every backup job `tenant` started (its portal's and a dump it
    /// started). Returns them. Restores are not cancelable, as upstream.
    pub fn cancel_for(&self, tenant: PortalId) -> Vec<Arc<Job>> {
        let mut slots = self.slots();
        let keys: Vec<JobKey> = slots
            .iter()
            .filter(|(k, j)| j.tenant_id == tenant && !k.is_restore())
            .map(|(k, _)| *k)
            .collect();
        let mut canceled = Vec::new();
        for k in &keys {
            if let Some(job) = slots.remove(k) {
                job.mark_canceled();
                canceled.push(job);
            }
        }
        canceled
    }

    /// Asks every running job to stop (the server is shutting down): backups drop their partial
    /// archive, restores that are still staging undo it. Returns the jobs asked.
    pub fn interrupt_all(&self) -> Vec<Arc<Job>> {
        let running: Vec<Arc<Job>> = self
            .slots()
            .values()
            .filter(|j| !j.snapshot().is_completed())
            .cloned()
            .collect();
        for j in &running {
            j.cancel.store(true, Ordering::Relaxed);
        }
        running
    }

    /// Whether any job is running (not finished) for `key`.
    pub fn busy(&self, key: JobKey) -> bool {
        self.get(key).is_some_and(|j| !j.snapshot().is_completed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_slot_and_cancel_clears() {
        let jobs = Jobs::default();
        let a = jobs.start(JobKey::Portal(1), 1, false).unwrap();
        let Err(Busy::Same(again)) = jobs.start(JobKey::Portal(1), 1, false) else {
            panic!("a second start returns the running job");
        };
        assert_eq!(again.id, a.id);
        assert!(
            jobs.start(JobKey::Portal(2), 2, false).is_ok(),
            "other portals are independent"
        );
        a.set_running();
        a.advance(40);
        a.advance(20);
        assert_eq!(a.snapshot().progress, 40, "progress never goes back");
        a.advance(250);
        assert_eq!(a.snapshot().progress, 99, "100 only on completion");
        assert_eq!(jobs.cancel_for(1).len(), 1);
        assert!(a.is_canceled());
        assert_eq!(a.snapshot().status, JobStatus::Canceled);
        assert_eq!(a.snapshot().warning.as_deref(), Some("Backup cancelled"));
        assert!(
            jobs.get(JobKey::Portal(1)).is_none(),
            "cleared from the view"
        );
        assert!(jobs.cancel_for(1).is_empty(), "nothing left to cancel");
        assert!(
            !a.finish("l".into(), None),
            "a canceled job is never completed"
        );
    }

    #[test]
    fn an_end_the_catalog_missed_is_kept_until_recorded_even_when_replaced() {
        let jobs = Jobs::default();
        let a = jobs.start(JobKey::Portal(1), 1, false).unwrap();
        assert!(
            jobs.unrecorded_ends().is_empty(),
            "a running job has no end"
        );
        a.fail("the catalog went away".into());
        let ids = |v: Vec<Arc<Job>>| v.iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(ids(jobs.unrecorded_ends()), [a.id]);
        // A new start replaces it in its slot before the catalog is asked: still listed.
        let b = jobs.start(JobKey::Portal(1), 1, false).unwrap();
        assert_eq!(ids(jobs.unrecorded_ends()), [a.id]);
        a.set_end_recorded();
        assert!(jobs.unrecorded_ends().is_empty());
        b.fail("again".into());
        b.set_end_recorded();
        let _c = jobs.start(JobKey::Portal(1), 1, false).unwrap();
        assert!(
            jobs.unrecorded_ends().is_empty(),
            "a recorded end is not kept"
        );
    }

    #[test]
    fn restores_and_backups_of_the_same_data_exclude_each_other() {
        let jobs = Jobs::default();
        let backup = jobs.start(JobKey::Portal(1), 1, false).unwrap();
        assert!(matches!(
            jobs.start(JobKey::RestorePortal(1), 1, false),
            Err(Busy::Conflict(_))
        ));
        assert!(matches!(
            jobs.start(JobKey::RestoreDump, 1, false),
            Err(Busy::Conflict(_))
        ));
        let other = jobs.start(JobKey::RestorePortal(2), 2, false).unwrap();
        assert!(matches!(
            jobs.start(JobKey::Dump, 1, false),
            Err(Busy::Conflict(_))
        ));
        backup.fail("x".into());
        other.fail("y".into());
        let restore = jobs.start(JobKey::RestoreDump, 1, false).unwrap();
        for key in [JobKey::Portal(3), JobKey::Dump, JobKey::RestorePortal(3)] {
            assert!(
                matches!(jobs.start(key, 3, false), Err(Busy::Conflict(_))),
                "{key:?}"
            );
        }
        restore.fail("z".into());
        assert!(jobs.start(JobKey::Portal(3), 3, false).is_ok());
    }

    #[test]
    fn finished_jobs_give_way_and_failures_keep_their_message() {
        let jobs = Jobs::default();
        let a = jobs.start(JobKey::Dump, 1, false).unwrap();
        a.set_running();
        a.fail("disk full".into());
        let s = a.snapshot();
        assert!(s.is_completed() && s.error == "disk full");
        let b = jobs.start(JobKey::Dump, 1, false).unwrap();
        assert_ne!(a.id, b.id);
        assert!(b.finish("link".into(), Some("w".into())));
        assert_eq!(b.snapshot().progress, 100);
        assert!(
            !jobs.cancel_for(1).is_empty(),
            "cancel clears a finished job too"
        );
    }
}
