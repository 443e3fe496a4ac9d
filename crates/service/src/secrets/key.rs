//! Where the secrets key comes from: the configuration (`secrets_key`, or better
//! `DSBACKUP_SECRETS_KEY`, which keeps it off the data disk), else `data_dir/secrets.key`,
//! generated on first start like `instance.key`.

use std::path::{Path, PathBuf};

use super::{SecretError, SecretKey};
use crate::datadir::write_private_atomic;

/// The key file generated in the data directory when no key is configured.
pub const KEY_FILE: &str = "secrets.key";

/// Where the secrets key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `secrets_key` in the configuration file or `DSBACKUP_SECRETS_KEY`.
    Config,
    /// `data_dir/secrets.key` (generated on first start when nothing is configured).
    File(PathBuf),
}

/// The secrets key: `configured` (the config's `secrets_key`, empty when unset) when given,
/// else `data_dir/secrets.key`, which is created (32 random bytes, hex, mode 0600, written
/// atomically) when it does not exist.
///
/// Fails with `BadKey` when the configured key or the file's content is not a 32-byte key
/// (an empty or cut-short file is refused, never replaced), `KeyFile` when the file cannot
/// be read or written.
pub fn load_key(configured: &str, data_dir: &Path) -> Result<(SecretKey, KeySource), SecretError> {
    if !configured.trim().is_empty() {
        let key = SecretKey::parse(configured, "secrets_key / DSBACKUP_SECRETS_KEY")?;
        return Ok((key, KeySource::Config));
    }
    let path = data_dir.join(KEY_FILE);
    let file_err = |action, source| SecretError::KeyFile {
        action,
        path: path.clone(),
        source,
    };
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => SecretKey::parse(&text, &path.display().to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            write_key_file(&path, &key)?;
            key
        }
        Err(e) => return Err(file_err("read", e)),
    };
    Ok((key, KeySource::File(path)))
}

/// Writes `key` as hex to `path`, atomically and owner-only.
///
/// Fails with `KeyFile` when it cannot be written.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), SecretError> {
    write_private_atomic(path, key.to_hex().as_bytes()).map_err(|source| SecretError::KeyFile {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_key_file_is_made_once_private_and_a_garbled_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = load_key("", dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(source, KeySource::File(path.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_key("", dir.path()).unwrap().0, key, "reused");
        let configured = SecretKey::generate();
        let (k, source) = load_key(&configured.to_hex(), dir.path()).unwrap();
        assert_eq!((k, source), (configured, KeySource::Config));
        std::fs::write(&path, "0123").unwrap();
        let err = load_key("", dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("secrets.key") && err.contains("32 bytes"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0123",
            "never replaced"
        );
    }
}
