//! How OpenDAL's errors become `CoreError`s: a missing object is `NotFound`, a refused
//! credential, a missing bucket or a bad setting is an `Invalid` that names the storage and the
//! cause (the client can act on it), a lost race is a `Conflict`, and anything else (network,
//! 5xx after retries) is `Internal` with the detail for the log. No text leaves here before
//! every configured secret has been scrubbed from it.

use dsbackup_core::CoreError;
use opendal::ErrorKind;

use super::Secret;
use crate::common::{exists, missing};

/// What was being done, which decides what a `NotFound` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doing {
    /// Reading an object: `NotFound` is the object's absence.
    Read,
    /// Writing an object: `NotFound` can only be the bucket or folder.
    Write,
    /// Listing: `NotFound` is the bucket or folder.
    List,
    /// Deleting an object.
    Delete,
    /// Signing a link.
    Presign,
}

impl Doing {
    fn verb(self) -> &'static str {
        match self {
            Doing::Read => "reading",
            Doing::Write => "writing",
            Doing::List => "listing",
            Doing::Delete => "deleting",
            Doing::Presign => "signing a link to",
        }
    }
}

/// Scrubs credentials out of text bound for errors and logs.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Scrubs these secrets (empty and very short ones, which would mangle text, are skipped:
    /// such a value is no secret worth the name).
    pub(crate) fn new(secrets: &[Secret]) -> Self {
        let mut secrets: Vec<String> = secrets
            .iter()
            .map(|s| s.expose().trim().to_string())
            .filter(|s| s.len() >= 4)
            .collect();
        // Longest first, so a secret containing another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn clean(&self, text: impl Into<String>) -> String {
        let mut text = text.into();
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "***");
            }
        }
        text
    }
}

/// The `CoreError` for `err`, met while `doing` something to `key` on the storage `name`.
pub(crate) fn map_err(
    name: &str,
    redact: &Redactor,
    doing: Doing,
    key: &str,
    err: &opendal::Error,
) -> CoreError {
    let detail = || redact.clean(chain(err));
    let short = || redact.clean(err.message().trim());
    let status = status_of(err);
    match err.kind() {
        ErrorKind::NotFound if doing == Doing::Read || doing == Doing::Delete => missing(key),
        ErrorKind::NotFound => CoreError::Invalid(format!(
            "{name}: the bucket or folder does not exist ({})",
            short()
        )),
        ErrorKind::PermissionDenied => denied(name, doing, key, &short()),
        _ if matches!(status, Some(401 | 403)) => denied(name, doing, key, &short()),
        ErrorKind::ConfigInvalid => {
            CoreError::Invalid(format!("{name}: invalid configuration ({})", short()))
        }
        ErrorKind::AlreadyExists | ErrorKind::ConditionNotMatch if doing == Doing::Write => {
            exists(key)
        }
        ErrorKind::Conflict if doing == Doing::Write => CoreError::Conflict(format!(
            "{key} clashes with a directory or another write on {name}"
        )),
        ErrorKind::IsADirectory | ErrorKind::NotADirectory => {
            CoreError::Conflict(format!("{key} clashes with a directory on {name}"))
        }
        ErrorKind::RangeNotSatisfied => {
            CoreError::Invalid(format!("range not satisfiable for {key} on {name}"))
        }
        _ if status == Some(507) => CoreError::Invalid(format!(
            "{name}: the storage is full (507 Insufficient Storage) while {} {key:?}",
            doing.verb()
        )),
        _ => CoreError::Internal(format!(
            "{name}: {} {key:?} failed: {}",
            doing.verb(),
            detail()
        )),
    }
}

fn denied(name: &str, doing: Doing, key: &str, cause: &str) -> CoreError {
    CoreError::Invalid(format!(
        "{name}: access denied {} {key:?}; check the credentials and the permissions ({cause})",
        doing.verb()
    ))
}

/// The error's text and its sources' (where the cause, such as a refused connection, is).
fn chain(err: &opendal::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = s.source();
    }
    text
}

/// The HTTP status the server answered, where OpenDAL kept the response in the context.
fn status_of(err: &opendal::Error) -> Option<u16> {
    let text = err.to_string();
    let at = text.find("status: ")? + "status: ".len();
    text[at..].get(..3)?.parse().ok()
}

/// The error for an object store that failed while streaming an upload's body.
pub(crate) fn body_failed(name: &str, key: &str, err: &std::io::Error) -> CoreError {
    CoreError::Internal(format!(
        "{name}: the data for {key:?} could not be read: {err}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_and_kinds_mapped() {
        let r = Redactor::new(&[Secret::new("s3cr3t-key"), Secret::new("ab")]);
        assert_eq!(r.clean("x s3cr3t-key y ab"), "x *** y ab");
        let e = opendal::Error::new(ErrorKind::PermissionDenied, "bad sig for s3cr3t-key");
        let mapped = map_err("s3 \"b\"", &r, Doing::Write, "k", &e);
        let text = mapped.to_string();
        assert!(matches!(mapped, CoreError::Invalid(_)), "{text}");
        assert!(
            text.contains("access denied") && !text.contains("s3cr3t"),
            "{text}"
        );
        let e = opendal::Error::new(ErrorKind::NotFound, "NoSuchBucket");
        assert!(matches!(
            map_err("n", &r, Doing::Read, "k", &e),
            CoreError::NotFound(_)
        ));
        assert!(matches!(
            map_err("n", &r, Doing::Write, "k", &e),
            CoreError::Invalid(_)
        ));
        let e = opendal::Error::new(ErrorKind::ConditionNotMatch, "precondition");
        assert!(matches!(
            map_err("n", &r, Doing::Write, "k", &e),
            CoreError::Conflict(_)
        ));
    }
}
