//! PostgreSQL schema migrations: the numbered files in `crates/catalog/migrations/postgres/`,
//! applied in order in one transaction and recorded in `schema_migrations`. Several nodes may
//! start at once: each takes a transaction-scoped advisory lock first, so one migrates and the
//! others, once it commits, find nothing left to do.

use tokio_postgres::Client;

use super::connect::PgResult;

/// File `N` (`migrations/postgres/000N_*.sql`) is version N. Files are only ever appended; an
/// applied one never changes.
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_catalog",
        include_str!("../../migrations/postgres/0001_catalog.sql"),
    ),
    (
        "0002_job_leases",
        include_str!("../../migrations/postgres/0002_job_leases.sql"),
    ),
];

/// The advisory lock key every dsbackup node takes to migrate (`dsbackup` in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_7362_6163_6b75;

/// Brings the database up to the newest schema; returns the versions it applied.
pub async fn migrate(client: &mut Client) -> PgResult<Vec<i64>> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    bigint PRIMARY KEY,
             name       text NOT NULL,
             applied_on timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let done: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut applied = Vec::new();
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if done.contains(&version) {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, name],
        )
        .await?;
        applied.push(version);
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `migrations/postgres/` is listed under its own name, in the order of its
    /// number.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        let texts: Vec<&str> = MIGRATIONS.iter().map(|(_, sql)| *sql).collect();
        let names = crate::tables::assert_migrations_listed("postgres", &texts);
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, listed);
    }
}
