//! Signed download links for DataStore archives: `…/api/2.0/backup/download/{id}?expires=T&
//! signature=S`, where S is HMAC-SHA256 over `{id}:{T}` with the instance key. Valid until T
//! (24 h after the backup), like the pre-signed URL upstream hands out.

use chrono::{DateTime, Duration, Utc};
use dsbackup_core::{ArchiveLocation, BackupRecord};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], id: Uuid, expires: i64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| HmacSha256::new_from_slice(&[0u8; 32]).expect("fixed key"));
    m.update(format!("{id}:{expires}").as_bytes());
    m
}

/// The signature of a link.
pub fn sign(key: &[u8], id: Uuid, expires: i64) -> String {
    hex::encode(mac(key, id, expires).finalize().into_bytes())
}

/// Whether a signature is valid for `id` and `expires` (constant-time), ignoring expiry.
pub fn verify(key: &[u8], id: Uuid, expires: i64, signature: &str) -> bool {
    let Ok(sig) = hex::decode(signature) else {
        return false;
    };
    mac(key, id, expires).verify_slice(&sig).is_ok()
}

/// The full link.
pub fn url(base: &str, key: &[u8], id: Uuid, expires: i64) -> String {
    format!(
        "{base}/api/2.0/backup/download/{id}?expires={expires}&signature={}",
        sign(key, id, expires)
    )
}

/// Where a history record's archive can be downloaded from `base`, as of `now`: Documents
/// through `filehandler.ashx` (the caller's session is the credential), DataStore and remote
/// stores through a signed link valid for 24 hours; `None` for a Local archive, which stays on
/// the server's disk.
pub fn for_record(base: &str, key: &[u8], r: &BackupRecord, now: DateTime<Utc>) -> Option<String> {
    match &r.location {
        ArchiveLocation::Documents { file, .. } => Some(format!(
            "{base}/filehandler.ashx?action=download&fileid={file}"
        )),
        ArchiveLocation::Local { .. } => None,
        ArchiveLocation::DataStore { .. } | ArchiveLocation::Remote { .. } => Some(url(
            base,
            key,
            r.id,
            (now + Duration::hours(24)).timestamp(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_id_expiry_and_key() {
        let id = Uuid::new_v4();
        let s = sign(b"k1", id, 100);
        assert!(verify(b"k1", id, 100, &s));
        assert!(!verify(b"k1", id, 101, &s));
        assert!(!verify(b"k2", id, 100, &s));
        assert!(!verify(b"k1", Uuid::new_v4(), 100, &s));
        assert!(!verify(b"k1", id, 100, "zz"));
    }
}
