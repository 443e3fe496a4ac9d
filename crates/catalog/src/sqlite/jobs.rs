//! SQLite catalog: `JobStore` (backup and restore jobs, the `jobs` table). A finished job is
//! never written again: every write is guarded by [`UNFINISHED`] in the statement itself, so
//! it holds across connections.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::JobStore;
use dsbackup_core::{CoreError, CoreResult, JobKind, JobRecord, JobState, PortalId};
use rusqlite::{TransactionBehavior, params};
use uuid::Uuid;

use super::rows::{self, JOB_COLS, ts};
use super::{SqliteCatalog, internal, is_unique_violation};

/// The SQL condition of a job that has not finished (the same text as the partial index
/// `jobs_unfinished` in `0006_jobs.sql`, so SQLite uses it).
const UNFINISHED: &str = "state IN ('created', 'running')";

#[async_trait]
impl JobStore for SqliteCatalog {
    async fn insert_job(&self, j: JobRecord) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                &format!("INSERT INTO jobs ({JOB_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
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
                    j.finished_on.map(ts)
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
        })
        .await
    }

    async fn update_job(&self, j: &JobRecord) -> CoreResult<bool> {
        let j = j.clone();
        self.with(move |c| {
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
        })
        .await
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
                    "SELECT {JOB_COLS} FROM jobs WHERE kind = ?1 AND tenant_id = ?2
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
