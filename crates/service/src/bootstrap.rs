//! First start: on an empty catalog create portal `default`, its owner and a full-access API
//! key; print the credentials once and keep them in `initial-credentials.txt` (mode 0600) in
//! the data directory. `DSBACKUP_OWNER_*` preset the values; `DSBACKUP_BOOTSTRAP=false` skips
//! all of it and waits for a registration.

use dsbackup_core::{CoreError, CoreResult, secret};

use crate::Service;
use crate::datadir::write_private_atomic;
use crate::portals::{self, NewOwner};

/// The file the first-start credentials are kept in.
pub const CREDENTIALS_FILE: &str = "initial-credentials.txt";

/// Creates the default portal when the catalog has none and bootstrap is on.
///
/// Fails when the catalog or the credentials file cannot be written.
pub async fn run(state: &Service) -> CoreResult<()> {
    let cfg = state.config();
    if !cfg.bootstrap && cfg.registration == crate::config::Registration::Closed {
        // Not an error (portals may exist already), but a new instance would stay empty.
        tracing::warn!(
            "bootstrap is off and registration is closed: nobody can register a portal \
             (set registration = \"secret\" with an admin_secret, or bootstrap = true)"
        );
    }
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
    let created = portals::create(
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
    .await;
    let (portal, owner) = match created {
        Ok(made) => made,
        // Another node on the same catalog made it in the meantime.
        Err(CoreError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let key = cfg.owner.api_key.as_ref().map(|s| s.0.clone());
    let key = portals::issue_key(state, &owner, "bootstrap", key).await?;
    let text = format!(
        "portal:   {}\nemail:    {email}\npassword: {password}\napi_key:  {key}\n",
        portal.alias
    );
    let path = cfg.data_dir.join(CREDENTIALS_FILE);
    write_private_atomic(&path, text.as_bytes())
        .map_err(|e| CoreError::Internal(format!("writing {}: {e}", path.display())))?;
    // Printed once, on standard output, never through the log.
    println!(
        "dsbackup: first start, created portal \"{}\"\n{text}(kept in {}, readable by this user only)",
        portal.alias,
        path.display()
    );
    Ok(())
}

/// How many bytes the instance key has (and at least must have).
pub const INSTANCE_KEY_BYTES: usize = 32;

/// The instance key (32 random bytes, hex, in `instance.key`, mode 0600), created on first
/// start, written atomically. It signs download links.
///
/// Fails when the file cannot be read or written, is not hex, or holds fewer than 32 bytes: an
/// empty or cut-short key (a full disk) would make links anyone can forge, so the server
/// refuses to start with one.
pub fn instance_key(data_dir: &std::path::Path) -> CoreResult<Vec<u8>> {
    let path = data_dir.join("instance.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = hex::decode(text.trim())
                .map_err(|e| CoreError::Internal(format!("{} is damaged: {e}", path.display())))?;
            if key.len() < INSTANCE_KEY_BYTES {
                return Err(CoreError::Invalid(format!(
                    "{} holds {} bytes, not {INSTANCE_KEY_BYTES}: it is empty or cut short (a \
                     full disk?) and would let anyone forge download links. Put back the file \
                     from a copy of the data directory, or delete it to make a new key (links \
                     already handed out stop working)",
                    path.display(),
                    key.len()
                )));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = secret::random_token(INSTANCE_KEY_BYTES);
            write_private_atomic(&path, key.as_bytes())
                .map_err(|e| CoreError::Internal(format!("writing {}: {e}", path.display())))?;
            hex::decode(key).map_err(|e| CoreError::Internal(e.to_string()))
        }
        Err(e) => Err(CoreError::Internal(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}
