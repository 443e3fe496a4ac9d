//! `dsbackup secrets rotate`: re-seals every stored storage credential under a new key,
//! offline (the data directory's lock keeps a running server out), in one catalog
//! transaction, then moves the key: `data_dir/secrets.key` is replaced atomically, a key from
//! the configuration or the environment is left for the operator to change (it prints how).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use dsbackup_server::Config;
use dsbackup_service::datadir::{DataDirLock, write_private_atomic};
use dsbackup_service::secrets::{self, KEY_FILE, KeySource, Sealer, SecretKey};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-seal every stored credential (consumer settings, history records' and schedules'
    /// storage parameters) with a new key. Stop the server first.
    Rotate {
        /// The data directory (default: the configuration's `data_dir`).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The server's config file, when the current key or the catalog is set there;
        /// `DSBACKUP_*` environment variables override it as for `serve`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The new key: 32 bytes as 64 hex characters or base64 (`openssl rand -hex 32`).
        #[arg(
            long,
            value_name = "KEY",
            env = "DSBACKUP_NEW_SECRETS_KEY",
            hide_env_values = true
        )]
        new_key: String,
    },
}

/// Runs a `secrets` subcommand.
///
/// Fails when the configuration cannot be loaded, a server holds the data directory, the
/// current or the new key is unusable, a stored credential does not open with the current
/// key (nothing changes then), or the catalog or the key file cannot be written.
pub async fn run(command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::Rotate {
            data_dir,
            config,
            new_key,
        } => rotate(data_dir, config, &new_key).await,
    }
}

async fn rotate(
    data_dir: Option<PathBuf>,
    config_file: Option<PathBuf>,
    new_key: &str,
) -> anyhow::Result<()> {
    let mut config =
        Config::load(config_file.as_deref(), std::env::vars()).context("loading configuration")?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    let dir = config.data_dir.clone();
    if !dir.is_dir() {
        bail!("data directory {} does not exist", dir.display());
    }
    let _lock = DataDirLock::acquire(&dir)?;
    let key_file = dir.join(KEY_FILE);
    if config.secrets_key.0.trim().is_empty() && !key_file.exists() {
        bail!(
            "no secrets key: secrets_key / DSBACKUP_SECRETS_KEY is not set and {} does not \
             exist (give the key the server runs with)",
            key_file.display()
        );
    }
    let (old, source) = secrets::load_key(&config.secrets_key.0, &dir)?;
    let new = SecretKey::parse(new_key, "--new-key / DSBACKUP_NEW_SECRETS_KEY")?;
    if new.id() == old.id() {
        bail!("the new key is the current key ({})", old.id());
    }
    let catalog = dsbackup_catalog::open(&config.catalog_url())
        .await
        .context("opening the catalog")?;
    // The new key is on disk before the catalog changes, so it is never lost.
    let pending = dir.join(format!("{KEY_FILE}.new"));
    if source != KeySource::Config {
        secrets::write_key_file(&pending, &new)?;
    }
    let rewritten =
        secrets::rotate::reseal_all(catalog.as_ref(), &Sealer::new(&old), &Sealer::new(&new)).await;
    let rewritten = match rewritten {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(anyhow::Error::new(e).context("nothing changed"));
        }
    };
    println!(
        "re-sealed {rewritten} stored credential(s) from key {} to key {}",
        old.id(),
        new.id()
    );
    match source {
        KeySource::File(path) => {
            replace(&pending, &path).with_context(|| {
                format!(
                    "the catalog now uses the new key, kept in {}: move it to {}",
                    pending.display(),
                    path.display()
                )
            })?;
            println!("{} now holds the new key", path.display());
        }
        KeySource::Config => {
            let place = match &config_file {
                Some(file) => format!(
                    "secrets_key in {} (or DSBACKUP_SECRETS_KEY)",
                    file.display()
                ),
                None => "DSBACKUP_SECRETS_KEY (or secrets_key in the config file)".into(),
            };
            println!(
                "the key came from the configuration: set {place} to the new key before starting the server"
            );
        }
    }
    Ok(())
}

/// Renames `from` over `to` and makes the rename durable.
fn replace(from: &Path, to: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(from)?;
    write_private_atomic(to, &bytes)?;
    std::fs::remove_file(from)
}
