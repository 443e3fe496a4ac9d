//! Archives encrypted to `age` recipients (X25519 public keys, `age1…`), so the operator of a
//! remote store cannot read them. An encrypted archive is a standard age file whose plaintext
//! is the usual `tar.zst` archive; `age -d -i key.txt` / `rage -d` decrypt it.
//!
//! Writing: engine → [`Encrypting`] (age's 64 KiB STREAM chunks) → SHA-256 of the ciphertext
//! → the storage writer, so the history record's hash and size are of the stored bytes.
//! Reading: [`open`] tells an age file from a zstd one by its first bytes
//! (`age-encryption.org/v1`), unwraps the header with the given identities — before the
//! engine sees a single byte, so a wrong or missing identity stops a restore before anything
//! is staged — and checks the ciphertext's SHA-256 when the plaintext ends. The crypto is the
//! `age` crate's; nothing here is home-made.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufReader, Chain, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use age::x25519;
use dsbackup_engine::hashing::HashingWriter;
use sha2::{Digest, Sha256};

use crate::Config;
use crate::backup::target::Target;

/// The first bytes of every age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

/// The `storageParams` key of a backup or schedule naming extra recipients (comma-separated).
pub const ENCRYPT_TO_PARAM: &str = "encryptTo";

/// Why an archive could not be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    /// A recipient is not an `age1…` X25519 public key (public keys are not secret: named).
    #[error("{0:?} is not an age X25519 recipient (age1…)")]
    Recipient(String),
    /// An identity file is unreadable or holds something that is not an age identity.
    #[error("cannot read age identity file {path}: {message}")]
    IdentityFile { path: PathBuf, message: String },
    /// `encryptTo` was given for a target on this machine.
    #[error("{ENCRYPT_TO_PARAM} applies to remote storages only (storage types 1, 2 and 5)")]
    NotRemote,
    /// The archive is encrypted and none of the identities unwraps its header.
    #[error("the archive is encrypted to recipients none of the available identities match")]
    NoIdentity,
    /// The archive starts like an age file but its header is not valid.
    #[error("the archive's age header is not valid: {0}")]
    Header(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<CryptError> for crate::ServiceError {
    /// A recipient a request names is its own mistake (400); anything else is the server's.
    fn from(e: CryptError) -> Self {
        match e {
            CryptError::Recipient(_) | CryptError::NotRemote => Self::Invalid(e.to_string()),
            other => Self::internal("archive encryption", other),
        }
    }
}

/// The recipients an archive is encrypted to. Never empty.
#[derive(Clone)]
pub struct Recipients(Vec<x25519::Recipient>);

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl Recipients {
    /// Parses recipients, skipping empty ones and duplicates; `None` when none is left.
    ///
    /// Fails with `Recipient` naming the first text that is not an `age1…` key.
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Option<Self>, CryptError> {
        let mut out: Vec<x25519::Recipient> = Vec::new();
        for text in texts.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
            let r = x25519::Recipient::from_str(text)
                .map_err(|_| CryptError::Recipient(text.to_string()))?;
            if !out.iter().any(|o| o.to_string() == r.to_string()) {
                out.push(r);
            }
        }
        Ok((!out.is_empty()).then_some(Self(out)))
    }
}

/// The `encryptTo` parameter of a request or schedule, split at commas.
fn param_recipients(params: &BTreeMap<String, String>) -> Vec<&str> {
    params
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(ENCRYPT_TO_PARAM))
        .flat_map(|(_, v)| v.split(','))
        .collect()
}

/// Whether a backup target is off this machine (then its archive is encrypted when
/// recipients are configured). Exhaustive on purpose: a new kind of target decides.
pub fn leaves_machine(target: &Target) -> bool {
    match target {
        Target::Remote { .. } => true,
        Target::Documents { .. } | Target::Local { .. } | Target::DataStore { .. } => false,
    }
}

/// The recipients a backup's archive is encrypted to: the configuration's `encrypt_to` (a
/// `[[portals]]` block's, else the top-level one; the top-level one for dumps) together with
/// the request's or schedule's `encryptTo`, when the target leaves the machine; `None` when
/// the archive stays plain.
///
/// Fails with `Recipient` for a recipient that does not parse, or when `encryptTo` is given
/// for a target on this machine (the server's own disk is not encrypted).
pub fn recipients_for(
    config: &Config,
    portal: Option<&str>,
    target: &Target,
    params: &BTreeMap<String, String>,
) -> Result<Option<Recipients>, CryptError> {
    let extra = param_recipients(params);
    if !leaves_machine(target) {
        if extra.iter().any(|t| !t.trim().is_empty()) {
            return Err(CryptError::NotRemote);
        }
        return Ok(None);
    }
    let configured = config.encrypt_to_of(portal);
    Recipients::parse(configured.iter().map(String::as_str).chain(extra))
}

/// Identities that may decrypt archives (`AGE-SECRET-KEY-1…`), read from identity files in
/// age's format (one per line, `#` comments), as `age-keygen` writes them.
#[derive(Default)]
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} identities)", self.0.len())
    }
}

impl Identities {
    /// Reads every identity of `paths`, in order.
    ///
    /// Fails with `IdentityFile` naming the first file that cannot be read or parsed.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CryptError> {
        let mut out = Vec::new();
        for path in paths {
            out.extend(read_identity_file(path)?);
        }
        Ok(Self(out))
    }

    /// Identities given directly (tests, tools).
    pub fn from_x25519(ids: impl IntoIterator<Item = x25519::Identity>) -> Self {
        Self(
            ids.into_iter()
                .map(|i| Box::new(i) as Box<dyn age::Identity + Send + Sync>)
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn read_identity_file(
    path: &Path,
) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, CryptError> {
    let bad = |message: String| CryptError::IdentityFile {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let parsed = age::IdentityFile::from_buffer(BufReader::new(file))
        .map_err(|e| bad(e.to_string()))?
        .into_identities()
        .map_err(|e| bad(e.to_string()))?;
    if parsed.is_empty() {
        return Err(bad("no identity in it".into()));
    }
    Ok(parsed)
}

/// A writer encrypting to recipients and hashing the ciphertext on its way to `W`.
pub struct Encrypting<W: Write>(age::stream::StreamWriter<HashingWriter<W>>);

impl<W: Write> fmt::Debug for Encrypting<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Encrypting")
    }
}

impl<W: Write> Encrypting<W> {
    /// Writes the age header to `sink` at once.
    ///
    /// Fails when the header cannot be made or written.
    pub fn new(sink: W, to: &Recipients) -> io::Result<Self> {
        let encryptor =
            age::Encryptor::with_recipients(to.0.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| io::Error::other(e.to_string()))?;
        encryptor.wrap_output(HashingWriter::new(sink)).map(Self)
    }

    /// Writes the last chunk; returns the sink, the upper-case hex SHA-256 of the ciphertext
    /// and its size.
    ///
    /// Fails when the last chunk cannot be written.
    pub fn finish(self) -> io::Result<(W, String, u64)> {
        Ok(self.0.finish()?.finish())
    }
}

/// Ciphertext shares no blocks with anything.
impl<W: Write> dsbackup_engine::ArchiveSink for Encrypting<W> {}

impl<W: Write> Write for Encrypting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The SHA-256 and size of the stored bytes of an archive being read, known once its
/// plaintext has been read to the end.
#[derive(Debug, Clone, Default)]
pub struct StoredDigest(Arc<Mutex<Option<(String, u64)>>>);

impl StoredDigest {
    pub fn get(&self) -> Option<(String, u64)> {
        self.0.lock().map(|d| d.clone()).unwrap_or(None)
    }
}

/// Reads through, hashing into a state the decrypting reader shares.
struct Tap<R> {
    inner: R,
    state: Arc<Mutex<(Sha256, u64)>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut s) = self.state.lock() {
            s.0.update(&buf[..n]);
            s.1 += n as u64;
        }
        Ok(n)
    }
}

type Prefixed<R> = Chain<Cursor<Vec<u8>>, R>;

/// The plaintext of an age archive; at its end, the ciphertext's SHA-256 is checked against
/// the expected one (an `InvalidData` error on a mismatch).
pub struct Decrypting<R: Read> {
    plain: age::stream::StreamReader<BufReader<Tap<Prefixed<R>>>>,
    state: Arc<Mutex<(Sha256, u64)>>,
    expect: Option<String>,
    digest: StoredDigest,
}

impl<R: Read> fmt::Debug for Decrypting<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypting")
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decrypting<R> {
    fn check_end(&mut self) -> io::Result<()> {
        if self.digest.get().is_some() {
            return Ok(());
        }
        let (sha, size) = {
            let s = self
                .state
                .lock()
                .map_err(|_| io::Error::other("archive hash state poisoned"))?;
            (hex::encode_upper(s.0.clone().finalize()), s.1)
        };
        if let Some(want) = &self.expect
            && !want.eq_ignore_ascii_case(&sha)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "archive SHA-256 {sha} differs from the recorded {}",
                    want.to_uppercase()
                ),
            ));
        }
        if let Ok(mut d) = self.digest.0.lock() {
            *d = Some((sha, size));
        }
        Ok(())
    }
}

impl<R: Read> Read for Decrypting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.plain.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.check_end()?;
        }
        Ok(n)
    }
}

/// An archive opened for reading: plain (a zstd stream, as stored) or decrypted.
#[derive(Debug)]
pub enum Opened<R: Read> {
    Plain(Prefixed<R>),
    /// Boxed: the decryptor's state is large, and there is one per archive.
    Encrypted(Box<Decrypting<R>>),
}

impl<R: Read> Opened<R> {
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Opened::Encrypted(_))
    }

    /// The hash the engine must check on what this reader yields: the expected one for a
    /// plain archive; none for a decrypted one (its ciphertext is checked here instead).
    pub fn engine_expect<'a>(&self, expect: Option<&'a str>) -> Option<&'a str> {
        if self.is_encrypted() { None } else { expect }
    }

    /// For an encrypted archive: the stored bytes' SHA-256 and size, once read to the end.
    pub fn stored_digest(&self) -> Option<StoredDigest> {
        match self {
            Opened::Plain(_) => None,
            Opened::Encrypted(d) => Some(d.digest.clone()),
        }
    }
}

impl<R: Read> Read for Opened<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Opened::Plain(r) => r.read(buf),
            Opened::Encrypted(r) => r.read(buf),
        }
    }
}

/// Opens an archive: an age file (told by its first bytes) is decrypted with the identities
/// `identities` returns — called only then — and its stored bytes must hash to `expect`
/// (checked when the plaintext ends); any other file is passed through as it is.
///
/// Fails with `NoIdentity` when no identity unwraps the header (none given included),
/// `Header` for a damaged header, the loader's error, or `Io` when the first bytes cannot
/// be read.
pub fn open<R: Read>(
    mut input: R,
    expect: Option<&str>,
    identities: impl FnOnce() -> Result<Identities, CryptError>,
) -> Result<Opened<R>, CryptError> {
    let mut head = vec![0u8; AGE_MAGIC.len()];
    let mut filled = 0;
    while filled < head.len() {
        match input.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    head.truncate(filled);
    let encrypted = head == AGE_MAGIC;
    let whole = Cursor::new(head).chain(input);
    if !encrypted {
        return Ok(Opened::Plain(whole));
    }
    let state = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let tap = Tap {
        inner: whole,
        state: state.clone(),
    };
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 16, tap))
        .map_err(header_error)?;
    let identities = identities()?;
    let plain = decryptor
        .decrypt(
            identities
                .0
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity),
        )
        .map_err(header_error)?;
    Ok(Opened::Encrypted(Box::new(Decrypting {
        plain,
        state,
        expect: expect.map(str::to_string),
        digest: StoredDigest::default(),
    })))
}

fn header_error(e: age::DecryptError) -> CryptError {
    match e {
        age::DecryptError::NoMatchingKeys => CryptError::NoIdentity,
        age::DecryptError::Io(io) => CryptError::Io(io),
        other => CryptError::Header(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
