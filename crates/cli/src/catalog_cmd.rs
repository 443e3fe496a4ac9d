//! `dsbackup catalog migrate`: moves a SQLite catalog into an empty PostgreSQL database,
//! offline (a server holding the SQLite catalog's data directory keeps it out), in one
//! transaction on PostgreSQL, ids kept; prints every table's row count in both and fails when
//! any differs. The copy itself is `dsbackup_catalog::migrate`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use dsbackup_catalog::{PostgresCatalog, SqliteCatalog, migrate};
use dsbackup_service::datadir::{DataDirLock, LOCK_FILE};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Copy every table of a SQLite catalog into an empty PostgreSQL catalog, keeping ids.
    /// Stop the server first; afterwards set `catalog` / DSBACKUP_CATALOG to the new URL.
    Migrate {
        /// The SQLite catalog: `sqlite:PATH` or a path (e.g. `sqlite:/var/lib/dsbackup/catalog.db`).
        #[arg(long, value_name = "sqlite:PATH")]
        from: String,
        /// The PostgreSQL catalog: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`; the
        /// database must exist and hold no catalog rows yet.
        #[arg(
            long,
            value_name = "postgres://…",
            env = "DSBACKUP_MIGRATE_TO",
            hide_env_values = true
        )]
        to: String,
    },
}

/// Runs a `catalog` subcommand.
///
/// Fails when the SQLite catalog does not exist or a server holds its data directory, the
/// target is not a PostgreSQL URL, cannot be reached or is not empty, or the copy fails or
/// counts differently (nothing is written to PostgreSQL then).
pub async fn run(command: CatalogCommand) -> anyhow::Result<()> {
    match command {
        CatalogCommand::Migrate { from, to } => migrate_to_postgres(&from, &to).await,
    }
}

/// The path a `sqlite:` URL (or a bare path) names.
fn sqlite_path(from: &str) -> anyhow::Result<PathBuf> {
    let path = from
        .strip_prefix("sqlite://")
        .or_else(|| from.strip_prefix("sqlite:"))
        .unwrap_or(from);
    if path.contains("://") {
        bail!("--from must be a SQLite catalog (sqlite:PATH), not {from:?}");
    }
    let path = PathBuf::from(path);
    if !path.is_file() {
        bail!("no SQLite catalog at {}", path.display());
    }
    Ok(path)
}

/// Holds the lock of the data directory the catalog lives in, when a server ever ran there.
fn lock_data_dir(catalog: &Path) -> anyhow::Result<Option<DataDirLock>> {
    let dir = catalog.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !dir.join(LOCK_FILE).exists() {
        return Ok(None);
    }
    Ok(Some(DataDirLock::acquire(dir)?))
}

async fn migrate_to_postgres(from: &str, to: &str) -> anyhow::Result<()> {
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a PostgreSQL URL (postgres://USER@HOST/DATABASE)");
    }
    let path = sqlite_path(from)?;
    let _lock = lock_data_dir(&path)?;
    let source = SqliteCatalog::open(&path)
        .await
        .with_context(|| format!("opening the SQLite catalog {}", path.display()))?;
    let target = PostgresCatalog::open(to)
        .await
        .context("opening the PostgreSQL catalog")?;
    let copied = migrate::sqlite_to_postgres(&source, &target)
        .await
        .with_context(|| format!("copying into {}", target.place()))?;
    println!("{:<20} {:>10} {:>10}", "table", "sqlite", "postgres");
    for c in &copied {
        println!("{:<20} {:>10} {:>10}", c.table, c.source, c.target);
    }
    println!(
        "copied {} table(s) from {} into {}; every count matches",
        copied.len(),
        path.display(),
        target.place()
    );
    println!("set catalog / DSBACKUP_CATALOG to the PostgreSQL URL before starting the server");
    Ok(())
}
