//! First start: on an empty catalog create portal `default`, its owner and a full-access API
//! key; print the credentials once and keep them in `initial-credentials.txt` (mode 0600) in
//! the data directory. `DSBACKUP_OWNER_*` preset the values; `DSBACKUP_BOOTSTRAP=false` skips
//! all of it and waits for a registration.

use std::io::Write;

use dsbackup_core::{CoreError, CoreResult, secret};

use crate::portals::{self, NewOwner};
use crate::state::AppState;

/// The file the first-start credentials are kept in.
pub const CREDENTIALS_FILE: &str = "initial-credentials.txt";

/// Creates the default portal when the catalog has none and bootstrap is on.
///
/// Fails when the catalog or the credentials file cannot be written.
pub async fn run(state: &AppState) -> CoreResult<()> {
    let cfg = state.config();
    if !cfg.bootstrap || !state.catalog().portals().await?.is_empty() {
        return Ok(());
    }
    let email = cfg
        .owner
        .email
        .clone()
        .unwrap_or_else(|| "owner@dsbackup.local".into());
    let email = dsbackup_core::validate::email(Some(&email))?;
    let password = cfg
        .owner
        .password
        .as_ref()
        .map(|s| s.0.clone())
        .unwrap_or_else(secret::new_password);
    let password = dsbackup_core::validate::password(Some(&password))?;
    let (portal, owner) = portals::create(
        state,
        "default".into(),
        NewOwner {
            email: email.clone(),
            password: password.clone(),
            first_name: "Portal".into(),
            last_name: "Owner".into(),
        },
        "en-US".into(),
        "UTC".into(),
    )
    .await?;
    let key = cfg.owner.api_key.as_ref().map(|s| s.0.clone());
    let key = portals::issue_key(state, &owner, "bootstrap", key).await?;
    let text = format!(
        "portal:   {}\nemail:    {email}\npassword: {password}\napi_key:  {key}\n",
        portal.alias
    );
    let path = cfg.data_dir.join(CREDENTIALS_FILE);
    write_private(&path, &text)
        .map_err(|e| CoreError::Internal(format!("writing {}: {e}", path.display())))?;
    // Printed once, on standard output, never through the log.
    println!(
        "dsbackup: first start, created portal \"{}\"\n{text}(kept in {}, readable by this user only)",
        portal.alias,
        path.display()
    );
    Ok(())
}

/// The instance key (32 random bytes in `instance.key`, mode 0600), created on first start.
/// It signs download links.
///
/// Fails when the file cannot be read or written.
pub fn instance_key(data_dir: &std::path::Path) -> CoreResult<Vec<u8>> {
    let path = data_dir.join("instance.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim())
            .map_err(|e| CoreError::Internal(format!("{} is damaged: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = secret::random_token(32);
            write_private(&path, &key)
                .map_err(|e| CoreError::Internal(format!("writing {}: {e}", path.display())))?;
            hex::decode(key).map_err(|e| CoreError::Internal(e.to_string()))
        }
        Err(e) => Err(CoreError::Internal(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
