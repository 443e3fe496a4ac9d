//! PostgreSQL catalog: `JobStore` (backup and restore jobs, the `jobs` table). A finished job
//! is never written again: every write is guarded by [`UNFINISHED`] in the statement itself,
//! so it holds across connections and nodes. `seq` (an identity column) is the order jobs
//! were recorded in. A claim reads before it writes: it runs under a transaction-scoped
//! advisory lock ([`CLAIM_LOCK`]), which PostgreSQL releases at commit, rollback or when the
//! connection drops, so it cannot go stale; cancel, completion and expiry are single guarded
//! statements (or a transaction whose first statement is one).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::{Claim, JobStore};
use dsbackup_core::{
    BackupRecord, CoreError, CoreResult, JobKind, JobRecord, JobSlot, JobState, PortalId,
};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::connect::conflict;
use super::rows::{self, JOB_COLS, ts};
use super::{PgResult, PostgresCatalog};

/// The advisory lock every job claim takes for the length of its transaction (`dsb-jobs`).
const CLAIM_LOCK: i64 = 0x0064_7362_2d6a_6f62;

/// The SQL condition of a job that has not finished (the same text as the partial index
/// `jobs_unfinished` in `0001_catalog.sql`, so PostgreSQL uses it).
const UNFINISHED: &str = "state IN ('created', 'running')";

#[async_trait]
impl JobStore for PostgresCatalog {
    async fn insert_job(&self, j: JobRecord) -> CoreResult<()> {
        self.call(async { insert_row(&**self.client().await?, &j).await })
            .await
    }

    async fn update_job(&self, j: &JobRecord) -> CoreResult<bool> {
        self.call(async { update_row(&**self.client().await?, j).await })
            .await
    }

    async fn job(&self, id: Uuid) -> CoreResult<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1");
        self.opt(&sql, &[&id], rows::job).await
    }

    async fn last_job(&self, kind: JobKind, tenant: PortalId) -> CoreResult<Option<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE kind = $1 AND tenant_id = $2 AND NOT dismissed
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

    async fn claim_job(
        &self,
        job: JobRecord,
        blockers: &[JobSlot],
        stale_before: DateTime<Utc>,
        stale_error: &str,
    ) -> CoreResult<Claim> {
        let (blockers, stale_error) = (blockers.to_vec(), stale_error.to_string());
        self.in_tx(move |tx| {
            Box::pin(async move {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])
                    .await?;
                let sql = format!(
                    "SELECT {JOB_COLS} FROM jobs WHERE {UNFINISHED} ORDER BY started_on, seq"
                );
                let mut live = Vec::new();
                for j in rows::all(&tx.query(&sql, &[]).await?, rows::job)? {
                    if !blockers.iter().any(|b| b.covers(&j)) {
                        continue;
                    }
                    if j.heartbeat < stale_before {
                        end(
                            tx,
                            j.id,
                            JobState::Failed,
                            &stale_error,
                            None,
                            job.started_on,
                        )
                        .await?;
                    } else {
                        live.push(j);
                    }
                }
                if let Some(newest) = live.into_iter().max_by_key(|j| j.started_on) {
                    return Ok(Claim::Busy(newest));
                }
                insert_row(tx, &job).await?;
                Ok(Claim::Claimed)
            })
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
        // One statement: the rows it dismisses (and cancels, when unfinished) are the rows it
        // returns, as now stored.
        let sql = format!(
            "WITH dismissed AS (
                 UPDATE jobs SET dismissed = true,
                     state = CASE WHEN {UNFINISHED} THEN $3 ELSE state END,
                     warning = CASE WHEN {UNFINISHED} THEN $4 ELSE warning END,
                     finished_on = CASE WHEN {UNFINISHED} THEN $5 ELSE finished_on END
                 WHERE kind = $1 AND started_by = $2 AND NOT dismissed
                 RETURNING {JOB_COLS}, seq)
             SELECT {JOB_COLS} FROM dismissed ORDER BY started_on, seq"
        );
        self.list(
            &sql,
            &[
                &kind.as_str(),
                &started_by,
                &JobState::Canceled.as_str(),
                &warning,
                &ts(now),
            ],
            rows::job,
        )
        .await
    }

    async fn complete_backup(&self, job: &JobRecord, record: BackupRecord) -> CoreResult<bool> {
        let job = job.clone();
        self.in_tx(move |tx| {
            Box::pin(async move {
                if !update_row(tx, &job).await? {
                    return Ok(false);
                }
                super::history::insert_backup_row(tx, &record).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn expire_jobs(
        &self,
        stale_before: DateTime<Utc>,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>> {
        let sql = format!(
            "WITH failed AS (
                 UPDATE jobs SET state = $1, error = $2, finished_on = $3
                 WHERE heartbeat < $4 AND {UNFINISHED} RETURNING {JOB_COLS}, seq)
             SELECT {JOB_COLS} FROM failed ORDER BY started_on, seq"
        );
        self.list(
            &sql,
            &[
                &JobState::Failed.as_str(),
                &message,
                &ts(now),
                &ts(stale_before),
            ],
            rows::job,
        )
        .await
    }
}

/// Ends an unfinished job in `state`.
async fn end(
    c: &impl GenericClient,
    id: Uuid,
    state: JobState,
    error: &str,
    warning: Option<&str>,
    now: DateTime<Utc>,
) -> PgResult<()> {
    c.execute(
        &format!(
            "UPDATE jobs SET state = $1, error = $2, warning = COALESCE($3, warning),
             finished_on = $4 WHERE id = $5 AND {UNFINISHED}"
        ),
        &[&state.as_str(), &error, &warning, &ts(now), &id],
    )
    .await?;
    Ok(())
}

async fn insert_row(c: &impl GenericClient, j: &JobRecord) -> PgResult<()> {
    let sql = format!(
        "INSERT INTO jobs ({JOB_COLS}) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    c.execute(
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
            &j.scheduled,
        ],
    )
    .await
    .map_err(conflict(|| format!("Job {} already recorded", j.id)))?;
    Ok(())
}

/// `update_job` on `c`: whether it was written; `NotFound` for an unknown job. One statement:
/// the guard and the write are one step, and `known` tells a finished job (not written) from
/// a missing one.
async fn update_row(c: &impl GenericClient, j: &JobRecord) -> PgResult<bool> {
    let sql = format!(
        "WITH written AS (
             UPDATE jobs SET state = $1, progress = $2, error = $3, warning = $4,
                 link = $5, heartbeat = $6, finished_on = $7
             WHERE id = $8 AND {UNFINISHED} RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM written),
                EXISTS (SELECT 1 FROM jobs WHERE id = $8)"
    );
    let row = c
        .query_one(
            &sql,
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
        )
        .await?;
    match (row.try_get::<_, bool>(0)?, row.try_get::<_, bool>(1)?) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        _ => Err(CoreError::NotFound(format!("Job {} not found", j.id)).into()),
    }
}
