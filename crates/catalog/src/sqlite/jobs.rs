//! SQLite catalog: `JobStore` (backup and restore jobs, the `jobs` table). A finished job is
//! never written again: every write is guarded by [`UNFINISHED`] in the statement itself, so
//! it holds across connections. Claims, cancels, completions and expiry that read before
//! they write run in `IMMEDIATE` transactions: SQLite's write lock is taken first, so no
//! other connection or process changes the rows in between.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::{Claim, JobStore};
use dsbackup_core::{
    BackupRecord, CoreError, CoreResult, JobKind, JobRecord, JobSlot, JobState, PortalId,
};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use uuid::Uuid;

use super::rows::{self, JOB_COLS, ts};
use super::{SqliteCatalog, internal, is_unique_violation};

/// The SQL condition of a job that has not finished (the same text as the partial index
/// `jobs_unfinished` in `0006_jobs.sql`, so SQLite uses it).
const UNFINISHED: &str = "state IN ('created', 'running')";

#[async_trait]
impl JobStore for SqliteCatalog {
    async fn insert_job(&self, j: JobRecord) -> CoreResult<()> {
        self.with(move |c| insert_row(c, &j)).await
    }

    async fn update_job(&self, j: &JobRecord) -> CoreResult<bool> {
        let j = j.clone();
        self.with(move |c| update_row(c, &j)).await
    }

    async fn job(&self, id: Uuid) -> CoreResult<Option<JobRecord>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"),
                [id.to_string()],
                rows::job,
            )
        })
        .await
    }

    async fn last_job(&self, kind: JobKind, tenant: PortalId) -> CoreResult<Option<JobRecord>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE kind = ?1 AND tenant_id = ?2 AND dismissed = 0
                     ORDER BY started_on DESC, rowid DESC LIMIT 1"
                ),
                params![kind.as_str(), tenant],
                rows::job,
            )
        })
        .await
    }

    async fn interrupt_jobs(
        &self,
        node: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>> {
        let (node, message) = (node.to_string(), message.to_string());
        self.with(move |c| {
            // Immediate: the write lock is taken before the read, so no other connection can
            // finish one of these jobs in between.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(internal)?;
            let mut jobs = rows::all(
                &tx,
                &format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE node = ?1 AND {UNFINISHED}
                     ORDER BY started_on, rowid"
                ),
                [&node],
                rows::job,
            )?;
            tx.execute(
                &format!(
                    "UPDATE jobs SET state = ?1, error = ?2, finished_on = ?3
                     WHERE node = ?4 AND {UNFINISHED}"
                ),
                params![JobState::Failed.as_str(), message, ts(now), node],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)?;
            for j in &mut jobs {
                j.state = JobState::Failed;
                j.error.clone_from(&message);
                j.finished_on = Some(rows::round(now));
            }
            Ok(jobs)
        })
        .await
    }

    async fn claim_job(
        &self,
        job: JobRecord,
        blockers: &[JobSlot],
        stale_before: DateTime<Utc>,
        stale_error: &str,
    ) -> CoreResult<Claim> {
        let (blockers, stale_error) = (blockers.to_vec(), stale_error.to_string());
        self.with(move |c| {
            let tx = immediate(c)?;
            let mut live = Vec::new();
            for j in unfinished(&tx, "1 = 1", [])? {
                if !blockers.iter().any(|b| b.covers(&j)) {
                    continue;
                }
                if j.heartbeat < stale_before {
                    end(
                        &tx,
                        j.id,
                        JobState::Failed,
                        &stale_error,
                        None,
                        job.started_on,
                    )?;
                } else {
                    live.push(j);
                }
            }
            if let Some(newest) = live.into_iter().max_by_key(|j| j.started_on) {
                tx.commit().map_err(internal)?;
                return Ok(Claim::Busy(newest));
            }
            insert_row(&tx, &job)?;
            tx.commit().map_err(internal)?;
            Ok(Claim::Claimed)
        })
        .await
    }

    async fn cancel_jobs(
        &self,
        kind: JobKind,
        started_by: PortalId,
        warning: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>> {
        let warning = warning.to_string();
        self.with(move |c| {
            let tx = immediate(c)?;
            let mut jobs = rows::all(
                &tx,
                &format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE kind = ?1 AND started_by = ?2 AND dismissed = 0
                     ORDER BY started_on, rowid"
                ),
                params![kind.as_str(), started_by],
                rows::job,
            )?;
            for j in jobs.iter_mut().filter(|j| !j.is_finished()) {
                end(&tx, j.id, JobState::Canceled, "", Some(&warning), now)?;
                j.state = JobState::Canceled;
                j.warning = Some(warning.clone());
                j.finished_on = Some(rows::round(now));
            }
            tx.execute(
                "UPDATE jobs SET dismissed = 1 WHERE kind = ?1 AND started_by = ?2",
                params![kind.as_str(), started_by],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(jobs)
        })
        .await
    }

    async fn complete_backup(&self, job: &JobRecord, record: BackupRecord) -> CoreResult<bool> {
        let job = job.clone();
        self.with(move |c| {
            let tx = immediate(c)?;
            if !update_row(&tx, &job)? {
                return Ok(false);
            }
            super::history::insert_backup_row(&tx, &record)?;
            tx.commit().map_err(internal)?;
            Ok(true)
        })
        .await
    }

    async fn expire_jobs(
        &self,
        stale_before: DateTime<Utc>,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>> {
        let message = message.to_string();
        self.with(move |c| {
            let tx = immediate(c)?;
            let mut jobs = unfinished(&tx, "heartbeat < ?1", [ts(stale_before)])?;
            for j in &mut jobs {
                end(&tx, j.id, JobState::Failed, &message, None, now)?;
                j.state = JobState::Failed;
                j.error.clone_from(&message);
                j.finished_on = Some(rows::round(now));
            }
            tx.commit().map_err(internal)?;
            Ok(jobs)
        })
        .await
    }
}

/// A transaction that holds SQLite's write lock from its start.
fn immediate(c: &mut Connection) -> CoreResult<Transaction<'_>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(internal)
}

/// The unfinished jobs that also satisfy `filter`, oldest first.
fn unfinished<P: rusqlite::Params>(
    c: &Connection,
    filter: &str,
    args: P,
) -> CoreResult<Vec<JobRecord>> {
    rows::all(
        c,
        &format!(
            "SELECT {JOB_COLS} FROM jobs WHERE {UNFINISHED} AND {filter} ORDER BY started_on, rowid"
        ),
        args,
        rows::job,
    )
}

/// Ends an unfinished job in `state`.
fn end(
    c: &Connection,
    id: Uuid,
    state: JobState,
    error: &str,
    warning: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    c.execute(
        &format!(
            "UPDATE jobs SET state = ?1, error = ?2, warning = COALESCE(?3, warning),
             finished_on = ?4 WHERE id = ?5 AND {UNFINISHED}"
        ),
        params![state.as_str(), error, warning, ts(now), id.to_string()],
    )
    .map_err(internal)?;
    Ok(())
}

fn insert_row(c: &Connection, j: &JobRecord) -> CoreResult<()> {
    c.execute(
        &format!("INSERT INTO jobs ({JOB_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
        params![
            j.id.to_string(),
            j.kind.as_str(),
            j.tenant_id,
            j.started_by,
            j.state.as_str(),
            j.progress,
            j.error,
            j.warning,
            j.link,
            j.node,
            ts(j.heartbeat),
            ts(j.started_on),
            j.finished_on.map(ts),
            j.scheduled
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            CoreError::Conflict(format!("Job {} already recorded", j.id))
        } else {
            internal(e)
        }
    })?;
    Ok(())
}

/// `update_job` on a connection: whether it was written; `NotFound` for an unknown job.
fn update_row(c: &Connection, j: &JobRecord) -> CoreResult<bool> {
    let n = c
        .execute(
            &format!(
                "UPDATE jobs SET state = ?1, progress = ?2, error = ?3, warning = ?4, link = ?5,
                 heartbeat = ?6, finished_on = ?7 WHERE id = ?8 AND {UNFINISHED}"
            ),
            params![
                j.state.as_str(),
                j.progress,
                j.error,
                j.warning,
                j.link,
                ts(j.heartbeat),
                j.finished_on.map(ts),
                j.id.to_string()
            ],
        )
        .map_err(internal)?;
    if n > 0 {
        return Ok(true);
    }
    let known = rows::one(
        c,
        "SELECT 1 FROM jobs WHERE id = ?1",
        [j.id.to_string()],
        |_| Ok(()),
    )?;
    match known {
        Some(()) => Ok(false),
        None => Err(CoreError::NotFound(format!("Job {} not found", j.id))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The SQL condition agrees with `JobState::is_finished` for every state.
    #[test]
    fn unfinished_matches_the_domain() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for s in JobState::ALL {
            let unfinished: bool = conn
                .query_row(
                    &format!("SELECT {UNFINISHED} FROM (SELECT ?1 AS state)"),
                    [s.as_str()],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(unfinished, !s.is_finished(), "{s:?}");
        }
    }
}
