//! Key rotation's catalog work: every stored credential re-sealed from the current key to a
//! new one in one catalog transaction (`ConsumerStore::rewrite_secrets`), so a failure on any
//! value changes nothing. Secret values still stored in the clear (written before sealing
//! existed) are sealed on the way. `dsbackup secrets rotate` drives it offline and swaps the
//! key file.

use dsbackup_core::{Catalog, CoreResult};

use super::{Sealer, is_sealed, is_secret_param};

/// What rotation does with one stored parameter: a sealed value is opened with `old` and
/// sealed with `new`; a secret one in the clear is sealed with `new`; others are kept.
///
/// Fails, naming the parameter and the key ids but never the value, when a sealed value does
/// not open with `old`.
pub fn reseal_value(
    old: &Sealer,
    new: &Sealer,
    name: &str,
    value: &str,
) -> Result<Option<String>, String> {
    if is_sealed(value) {
        let plain = old
            .open(value)
            .map_err(|e| format!("storage parameter {name:?}: {e}"))?;
        Ok(Some(new.seal(&plain)))
    } else if is_secret_param(name) && !value.is_empty() {
        Ok(Some(new.seal(value)))
    } else {
        Ok(None)
    }
}

/// Re-seals every stored credential (consumer settings, records' and schedules' storage
/// parameters) from `old` to `new`, all or nothing. Returns how many values were rewritten.
///
/// Fails with `Internal` when a sealed value does not open with `old` (another key sealed
/// it, or it is damaged) or the catalog fails; then nothing changed.
pub async fn reseal_all(catalog: &dyn Catalog, old: &Sealer, new: &Sealer) -> CoreResult<u64> {
    let (old, new) = (old.clone(), new.clone());
    catalog
        .rewrite_secrets(Box::new(move |name, value| {
            reseal_value(&old, &new, name, value)
        }))
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secrets::SecretKey;

    #[test]
    fn values_move_to_the_new_key_and_others_stay() {
        let (old, new) = (
            Sealer::new(&SecretKey::generate()),
            Sealer::new(&SecretKey::generate()),
        );
        let sealed = old.seal("s3cr3t");
        let moved = reseal_value(&old, &new, "password", &sealed)
            .unwrap()
            .unwrap();
        assert_eq!(new.open(&moved).unwrap(), "s3cr3t");
        assert!(old.open(&moved).is_err(), "the old key no longer opens it");
        let legacy = reseal_value(&old, &new, "secretaccesskey", "plain")
            .unwrap()
            .unwrap();
        assert_eq!(new.open(&legacy).unwrap(), "plain");
        assert_eq!(reseal_value(&old, &new, "bucket", "b").unwrap(), None);
        assert_eq!(reseal_value(&old, &new, "password", "").unwrap(), None);
        let err = reseal_value(&new, &old, "password", &sealed).unwrap_err();
        assert!(err.contains("password") && !err.contains("s3cr3t"), "{err}");
    }
}
