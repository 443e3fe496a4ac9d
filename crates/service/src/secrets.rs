//! Storage credentials at rest: the [`Sealer`] that encrypts secret values before the catalog
//! stores them and opens them when the service needs them, the one list of secret parameter
//! names ([`SECRET_PARAMS`]), redaction for anything shown to clients or logs, and where the
//! key comes from ([`load_key`]).
//!
//! A sealed value is `enc:v1:<key id>:<base64(nonce || ciphertext)>`: XChaCha20-Poly1305
//! (RustCrypto's `chacha20poly1305`) with a random 24-byte nonce per value, the text before
//! the payload authenticated as associated data. The key id is the first 8 hex characters of
//! the SHA-256 of the key, so a value names the key that sealed it and rotation
//! (`dsbackup secrets rotate`) can tell old from new. Values without the prefix are returned
//! as they are: rows written before sealing existed still work (rotation seals them).
//! Errors never carry the secret, sealed or open. Where the key comes from is `key.rs`;
//! re-sealing everything under a new key is `rotate.rs`.

mod key;
pub mod rotate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

pub use key::{KEY_FILE, KeySource, load_key, write_key_file};

/// What every sealed value starts with.
pub const SEALED_PREFIX: &str = "enc:v1:";
/// What a secret value is replaced with in answers and logs.
pub const REDACTED: &str = "********";

/// Names of storage parameters whose values are secrets (matched case-insensitively): the
/// S3 consumer's and CustomCloud's `acesskey` (sic, upstream's name) and `secretaccesskey`,
/// Google Cloud's `json` (a service-account key), Rackspace's `apiKey`, a WebDAV account's
/// `password`. Not in it: `ssekey` (the id of a KMS key, which grants nothing without
/// credentials), `username`, `bucket`, `region`, URLs and paths — shown as they are.
pub const SECRET_PARAMS: &[&str] = &["acesskey", "secretaccesskey", "json", "apikey", "password"];

const NONCE_LEN: usize = 24;
pub(crate) const KEY_LEN: usize = 32;

/// Why a key could not be used or a stored value not opened. No variant holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the secrets key from {origin} is unusable: {reason}; it must be 32 bytes written as \
         64 hex characters or as base64 (e.g. the output of `openssl rand -hex 32`)"
    )]
    BadKey { origin: String, reason: String },
    #[error("cannot {action} secrets key file {}: {source}", path.display())]
    KeyFile {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a stored credential was sealed with secrets key {found}, but the current key is \
         {current}: start with the key that sealed it (see `dsbackup secrets rotate`)"
    )]
    WrongKey { found: String, current: String },
    #[error(
        "a stored credential is damaged or was altered: it does not authenticate under secrets key {0}"
    )]
    Damaged(String),
    #[error("a stored credential starts with {SEALED_PREFIX} but is not a sealed value")]
    Malformed,
}

impl From<SecretError> for crate::ServiceError {
    fn from(e: SecretError) -> Self {
        crate::ServiceError::internal("cannot use stored storage credentials", e)
    }
}

/// A 32-byte secrets key. Never printed: `Debug` shows only its id.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub(crate) [u8; KEY_LEN]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

impl SecretKey {
    /// Reads a key written as 64 hex characters or as base64 of 32 bytes (surrounding white
    /// space ignored); `origin` names where it came from, for the error.
    ///
    /// Fails with `BadKey` (naming `origin`, never the text) when it is neither, or not 32
    /// bytes long.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bad = |reason: String| SecretError::BadKey {
            origin: origin.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(bad("it is empty".into()));
        }
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| bad("it is not valid hex".into()))?
        } else {
            BASE64
                .decode(text)
                .map_err(|_| bad("it is neither 64 hex characters nor base64".into()))?
        };
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("it holds {} bytes, not {KEY_LEN}", bytes.len())))?;
        Ok(Self(key))
    }

    /// A new random key from the operating system.
    pub fn generate() -> Self {
        Self(Key::generate().into())
    }

    /// The key as 64 hex characters (what `secrets.key` holds).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key's id: the first 8 hex characters of its SHA-256.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0)[..4])
    }
}

/// Whether values of the storage parameter `name` are secrets (see [`SECRET_PARAMS`]).
pub fn is_secret_param(name: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether `value` is a sealed value (of any key).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// `params` with every non-empty secret value replaced by [`REDACTED`], for answers and logs.
pub fn redact_params(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret_param(k) && !v.is_empty() {
                REDACTED.to_string()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect()
}

/// Seals and opens secret values with one key. Cheap to share; `Debug` shows the key id only.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    key_id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer using `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(key.0)),
            key_id: key.id(),
        }
    }

    /// The id of the key this sealer uses (8 hex characters).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `plain` sealed: `enc:v1:<key id>:<base64(nonce || ciphertext)>`, a fresh random nonce
    /// each time.
    pub fn seal(&self, plain: &str) -> String {
        let header = format!("{SEALED_PREFIX}{}:", self.key_id);
        let nonce = XNonce::generate();
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: header.as_bytes(),
        };
        // Encryption fails only for messages beyond 256 GiB; credentials are bytes long.
        let sealed = self
            .cipher
            .encrypt(&nonce, payload)
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 refuses only huge messages"));
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{header}{}", BASE64.encode(bytes))
    }

    /// The plain text of a stored value: sealed values are opened, others (written before
    /// sealing existed) returned as they are.
    ///
    /// Fails with `WrongKey` when another key sealed it, `Damaged` when it does not
    /// authenticate (altered or cut), `Malformed` when the prefix holds no sealed value.
    pub fn open(&self, stored: &str) -> Result<String, SecretError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_string());
        };
        let (id, body) = rest.split_once(':').ok_or(SecretError::Malformed)?;
        if id != self.key_id {
            return Err(SecretError::WrongKey {
                found: id.chars().take(8).collect(),
                current: self.key_id.clone(),
            });
        }
        let bytes = BASE64.decode(body).map_err(|_| SecretError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SecretError::Malformed)?;
        let header = format!("{SEALED_PREFIX}{id}:");
        let payload = Payload {
            msg: sealed,
            aad: header.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(&nonce, payload)
            .map_err(|_| SecretError::Damaged(self.key_id.clone()))?;
        String::from_utf8(plain).map_err(|_| SecretError::Damaged(self.key_id.clone()))
    }

    /// `params` with the values of secret parameters sealed (empty and already sealed ones
    /// kept); other values untouched.
    pub fn seal_params(&self, params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        params
            .iter()
            .map(|(k, v)| {
                let value = if is_secret_param(k) && !v.is_empty() && !is_sealed(v) {
                    self.seal(v)
                } else {
                    v.clone()
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// `params` with every sealed value opened.
    ///
    /// Fails as [`Sealer::open`] on the first value that does not open.
    pub fn open_params(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SecretError> {
        params
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.open(v)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&SecretKey([byte; KEY_LEN]))
    }

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sealed_values_round_trip_with_a_fresh_nonce_each_time() {
        let s = sealer(1);
        let (a, b) = (s.seal("hunter2 ünï"), s.seal("hunter2 ünï"));
        assert!(a.starts_with(&format!("enc:v1:{}:", s.key_id())), "{a}");
        assert_eq!(s.key_id().len(), 8);
        assert_ne!(a, b, "a nonce is never reused");
        assert!(!a.contains("hunter2"));
        assert_eq!(s.open(&a).unwrap(), "hunter2 ünï");
        assert_eq!(s.open(&b).unwrap(), "hunter2 ünï");
        assert_eq!(s.open(&s.seal("")).unwrap(), "");
    }

    #[test]
    fn tampering_and_another_key_are_detected_without_showing_the_secret() {
        let s = sealer(1);
        let sealed = s.seal("hunter2");
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = BASE64.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{head}:{}", BASE64.encode(&bytes));
        let err = s.open(&tampered).unwrap_err();
        assert!(matches!(err, SecretError::Damaged(_)), "{err}");
        // The key id is authenticated too: a value relabelled to another id does not open.
        let relabelled = sealed.replacen(s.key_id(), "00000000", 1);
        assert!(matches!(
            s.open(&relabelled),
            Err(SecretError::WrongKey { .. })
        ));
        let other = sealer(2);
        let err = other.open(&sealed).unwrap_err();
        assert!(matches!(err, SecretError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains(s.key_id()), "{err}");
        for bad in [
            "enc:v1:",
            "enc:v1:nocolon",
            &format!("enc:v1:{}:!!", s.key_id()),
        ] {
            let err = s.open(bad).unwrap_err();
            assert!(matches!(err, SecretError::Malformed), "{bad}: {err}");
        }
        for e in [
            s.open(&tampered).unwrap_err(),
            other.open(&sealed).unwrap_err(),
        ] {
            assert!(!e.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn legacy_plain_values_pass_through() {
        assert_eq!(sealer(1).open("plain-old").unwrap(), "plain-old");
        assert_eq!(sealer(1).open("").unwrap(), "");
    }

    #[test]
    fn only_secret_params_are_sealed_opened_and_redacted() {
        let s = sealer(3);
        let plain = params(&[
            ("bucket", "b"),
            ("AcesSKey", "AKIA"),
            ("secretaccesskey", "s3cr3t"),
            ("apiKey", "k"),
            ("json", "{}"),
            ("password", ""),
            ("ssekey", "kms-id"),
            ("username", "u"),
        ]);
        let sealed = s.seal_params(&plain);
        for (k, v) in &sealed {
            let secret = is_secret_param(k) && !plain[k].is_empty();
            assert_eq!(is_sealed(v), secret, "{k}");
            if !secret {
                assert_eq!(v, &plain[k], "{k} untouched");
            }
        }
        assert_eq!(
            s.seal_params(&sealed),
            sealed,
            "sealing twice changes nothing"
        );
        assert_eq!(s.open_params(&sealed).unwrap(), plain);
        let shown = redact_params(&sealed);
        assert_eq!(shown["secretaccesskey"], REDACTED);
        assert_eq!(shown["AcesSKey"], REDACTED);
        assert_eq!(shown["password"], "", "nothing to hide");
        assert_eq!(shown["ssekey"], "kms-id");
        assert_eq!(shown["bucket"], "b");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SecretKey([0xab; KEY_LEN]);
        for text in [format!("{:?}", Sealer::new(&key)), format!("{key:?}")] {
            assert!(!text.contains(&key.to_hex()[..16]), "{text}");
            assert!(text.contains(&key.id()), "{text}");
        }
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_bad_ones_are_refused() {
        let key = SecretKey::generate();
        assert_eq!(SecretKey::parse(&key.to_hex(), "t").unwrap(), key);
        assert_eq!(
            SecretKey::parse(&format!(" {}\n", BASE64.encode(key.0)), "t").unwrap(),
            key
        );
        for bad in [
            "",
            "abcd",
            &key.to_hex()[..62],
            "zz!!",
            &BASE64.encode([1u8; 16]),
        ] {
            let err = SecretKey::parse(bad, "DSBACKUP_SECRETS_KEY")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("DSBACKUP_SECRETS_KEY") && err.contains("32 bytes"),
                "{err}"
            );
        }
    }
}
