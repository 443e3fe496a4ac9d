//! PostgreSQL catalog: `JobStore` (backup and restore jobs, the `jobs` table). A finished job
//! is never written again: every write is guarded by [`UNFINISHED`] in the statement itself,
//! so it holds across connections and nodes. `seq` (an identity column) is the order jobs
//! were recorded in.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::JobStore;
use dsbackup_core::{CoreError, CoreResult, JobKind, JobRecord, JobState, PortalId};
use uuid::Uuid;

use super::PostgresCatalog;
use super::connect::conflict;
use super::rows::{self, JOB_COLS, ts};

/// The SQL condition of a job that has not finished (the same text as the partial index
/// `jobs_unfinished` in `0001_catalog.sql`, so PostgreSQL uses it).
const UNFINISHED: &str = "state IN ('created', 'running')";

#[async_trait]
impl JobStore for PostgresCatalog {
    async fn insert_job(&self, j: JobRecord) -> CoreResult<()> {
        let sql = format!(
            "INSERT INTO jobs ({JOB_COLS}) VALUES
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        self.call(async {
            self.client()
                .await?
                .execute(
                    &sql,
                    &[
                        &j.id,
                        &j.kind.as_str(),
                        &j.tenant_id,
                        &j.started_by,
                        &j.state.as_str(),
                        &j.progress,
                        &j.error,
                        &j.warning,
                        &j.link,
                        &j.node,
                        &ts(j.heartbeat),
                        &ts(j.started_on),
                        &j.finished_on.map(ts),
                    ],
                )
                .await
                .map_err(conflict(|| format!("Job {} already recorded", j.id)))?;
            Ok(())
        })
        .await
    }

    async fn update_job(&self, j: &JobRecord) -> CoreResult<bool> {
        // One statement: the guard and the write are one step, and `known` tells a finished
        // job (not written) from a missing one.
        let row = self
            .opt(
                &format!(
                    "WITH written AS (
                         UPDATE jobs SET state = $1, progress = $2, error = $3, warning = $4,
                             link = $5, heartbeat = $6, finished_on = $7
                         WHERE id = $8 AND {UNFINISHED} RETURNING 1)
                     SELECT EXISTS (SELECT 1 FROM written),
                            EXISTS (SELECT 1 FROM jobs WHERE id = $8)"
                ),
                &[
                    &j.state.as_str(),
                    &j.progress,
                    &j.error,
                    &j.warning,
                    &j.link,
                    &ts(j.heartbeat),
                    &j.finished_on.map(ts),
                    &j.id,
                ],
                |r| Ok((r.try_get::<_, bool>(0)?, r.try_get::<_, bool>(1)?)),
            )
            .await?;
        match row {
            Some((true, _)) => Ok(true),
            Some((false, true)) => Ok(false),
            _ => Err(CoreError::NotFound(format!("Job {} not found", j.id))),
        }
    }

    async fn job(&self, id: Uuid) -> CoreResult<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1");
        self.opt(&sql, &[&id], rows::job).await
    }

    async fn last_job(&self, kind: JobKind, tenant: PortalId) -> CoreResult<Option<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE kind = $1 AND tenant_id = $2
             ORDER BY started_on DESC, seq DESC LIMIT 1"
        );
        self.opt(&sql, &[&kind.as_str(), &tenant], rows::job).await
    }

    async fn interrupt_jobs(
        &self,
        node: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>> {
        // One statement: the rows it fails are the rows it returns, as now stored.
        let sql = format!(
            "WITH failed AS (
                 UPDATE jobs SET state = $1, error = $2, finished_on = $3
                 WHERE node = $4 AND {UNFINISHED} RETURNING {JOB_COLS}, seq)
             SELECT {JOB_COLS} FROM failed ORDER BY started_on, seq"
        );
        self.list(
            &sql,
            &[&JobState::Failed.as_str(), &message, &ts(now), &node],
            rows::job,
        )
        .await
    }
}
