//! The PostgreSQL catalog, for several dsbackup nodes sharing one truth: a pool of
//! `tokio-postgres` connections (`connect.rs`: URL, timeouts, errors without the password),
//! migrated on open (`schema.rs`). This file holds the call helpers every store uses and the
//! inserts two stores share; each store of `dsbackup_core::catalog` is implemented in the file
//! of its concern, as in `sqlite/`: `portals.rs`, `files.rs`, `keys.rs`, `history.rs`
//! (records, restored contents), `schedules.rs`, `jobs.rs`, `consumers.rs`. Rows map to domain
//! types in `rows.rs`.
//!
//! Every rule the traits state holds in the database itself, across connections and nodes:
//! uniqueness by constraints (a violation is `Conflict`), scoping in each statement, cascades
//! by foreign keys, compare-and-set by conditional `UPDATE`s.

mod connect;
mod consumers;
mod files;
mod history;
mod jobs;
mod keys;
mod portals;
mod rows;
mod schedules;
mod schema;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use dsbackup_core::catalog::NewFolder;
use dsbackup_core::{CoreError, CoreResult, Folder, User};
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

pub(crate) use connect::PgResult;
use connect::{Scrub, conflict};
use rows::ts;

/// A future a transaction body returns (see [`PostgresCatalog::in_tx`]).
pub(crate) type TxFuture<'t, T> = Pin<Box<dyn Future<Output = PgResult<T>> + Send + 't>>;

/// Statement parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The PostgreSQL catalog. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresCatalog {
    pool: Pool,
    scrub: Scrub,
    /// `host:port/database`, for messages.
    place: String,
}

impl std::fmt::Debug for PostgresCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCatalog")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl PostgresCatalog {
    /// Connects to the database a `postgres://` or `postgresql://` URL names and brings its
    /// schema up to date (several nodes opening at once migrate it once).
    ///
    /// Fails with `Invalid` for a URL that does not parse or names no database,
    /// `Unavailable` when the server cannot be reached within [`CONNECT_TIMEOUT`] (or refuses
    /// the login), `Internal` when a migration fails. No message shows the password.
    pub async fn open(url: &str) -> CoreResult<Self> {
        let scrub = Scrub::of_url(url);
        let config = connect::config(url, &scrub)?;
        let place = place(&config);
        let catalog = Self {
            pool: connect::pool(config)?,
            scrub,
            place,
        };
        catalog
            .call(async {
                let mut client = catalog.client().await?;
                schema::migrate(&mut client).await
            })
            .await?;
        Ok(catalog)
    }

    /// `host:port/database` of this catalog (no user or password).
    pub fn place(&self) -> &str {
        &self.place
    }

    /// A pooled connection, within the pool's timeouts.
    pub(crate) async fn client(&self) -> PgResult<Object> {
        Ok(self.pool.get().await?)
    }

    /// Awaits a body that uses [`client`](Self::client), converting its failure.
    pub(crate) async fn call<T>(&self, body: impl Future<Output = PgResult<T>>) -> CoreResult<T> {
        body.await.map_err(|e| self.scrub.error(e))
    }

    /// Runs `body` in a transaction on one pooled connection: committed when it returns `Ok`,
    /// rolled back (dropped) when it fails.
    pub(crate) async fn in_tx<T, F>(&self, body: F) -> CoreResult<T>
    where
        T: Send,
        F: for<'t> FnOnce(&'t Transaction<'t>) -> TxFuture<'t, T> + Send,
    {
        self.call(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let out = body(&tx).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// One row mapped, or none.
    pub(crate) async fn opt<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        map: fn(&tokio_postgres::Row) -> PgResult<T>,
    ) -> CoreResult<Option<T>> {
        self.call(async {
            let row = self.client().await?.query_opt(sql, params).await?;
            row.as_ref().map(map).transpose()
        })
        .await
    }

    /// Every row mapped.
    pub(crate) async fn list<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        map: fn(&tokio_postgres::Row) -> PgResult<T>,
    ) -> CoreResult<Vec<T>> {
        self.call(async {
            let found = self.client().await?.query(sql, params).await?;
            rows::all(&found, map)
        })
        .await
    }

    /// Runs one statement; returns how many rows it changed.
    pub(crate) async fn exec(&self, sql: &str, params: Params<'_>) -> CoreResult<u64> {
        self.call(async { Ok(self.client().await?.execute(sql, params).await?) })
            .await
    }
}

/// `host:port/database` of a configuration.
fn place(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

async fn insert_user(tx: &Transaction<'_>, u: &User) -> PgResult<()> {
    tx.execute(
        &format!(
            "INSERT INTO users ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            rows::USER_COLS
        ),
        &[
            &u.id,
            &u.portal_id,
            &u.email,
            &u.first_name,
            &u.last_name,
            &u.role.as_str(),
            &u.password_hash,
            &ts(u.created_on),
        ],
    )
    .await
    .map_err(conflict(|| {
        format!("A user with email {} already exists", u.email)
    }))?;
    Ok(())
}

/// Creates a folder whose parent, when it has one, is in the same portal — checked in the
/// statement itself. `NotFound` otherwise.
async fn insert_folder(
    tx: &Transaction<'_>,
    f: &NewFolder,
    now: DateTime<Utc>,
) -> PgResult<Folder> {
    let (kind, room_type) = rows::kind_to_row(f.kind);
    let row = tx
        .query_opt(
            "INSERT INTO folders (portal_id, parent_id, title, kind, room_type, created_by, created_on)
             SELECT $1::bigint, $2::bigint, $3::text, $4::text, $5::bigint, $6::uuid, $7::timestamptz
             WHERE $2::bigint IS NULL
                OR EXISTS (SELECT 1 FROM folders WHERE id = $2 AND portal_id = $1)
             RETURNING id",
            &[&f.portal_id, &f.parent_id, &f.title, &kind, &room_type, &f.created_by, &ts(now)],
        )
        .await?;
    let Some(row) = row else {
        return Err(CoreError::NotFound("The required folder was not found".into()).into());
    };
    Ok(Folder {
        id: row.try_get(0)?,
        portal_id: f.portal_id,
        parent_id: f.parent_id,
        title: f.title.clone(),
        kind: f.kind,
        created_by: f.created_by,
        created_on: ts(now),
    })
}

/// Moves the id sequence of each table in `tables` (from [`IDENTITY_TABLES`]) past its
/// largest id, after rows were written with their own ids (a restore, a migration); it never
/// moves back, so an id once given out is never given again.
///
/// [`IDENTITY_TABLES`]: crate::tables::IDENTITY_TABLES
pub(crate) async fn advance_ids(tx: &Transaction<'_>, tables: &[&str]) -> PgResult<()> {
    for table in tables {
        tx.execute(
            &format!(
                "SELECT setval(s.seq, m.top) FROM
                   (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS seq) s,
                   LATERAL (SELECT GREATEST((SELECT MAX(id) FROM {table}),
                                            pg_sequence_last_value(s.seq)) AS top) m
                 WHERE m.top IS NOT NULL"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}
