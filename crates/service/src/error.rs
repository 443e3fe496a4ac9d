//! The service's one error enum.
//!
//! Rules: each variant says what the caller can act on and keeps DocSpace's message; a
//! failure inside keeps its cause (`#[source]`) for the log and tells the client nothing more;
//! [`ServiceError::retryable`] says whether trying the same thing again later can succeed.
//! The HTTP server maps this enum to the DocSpace envelope in one place (`wire.rs`).

use dsbackup_core::CoreError;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or breaks a rule (DocSpace answers 400).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this (403, "Access denied").
    #[error("Access denied")]
    Forbidden,
    /// The caller may not do this, and the message says why (403).
    #[error("{0}")]
    Denied(String),
    /// The thing addressed does not exist or is not the caller's (404).
    #[error("{0}")]
    NotFound(String),
    /// Another job holds what this one needs (400, as upstream answers a busy portal).
    #[error("{0}")]
    Busy(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// A limit of the plan was reached (402).
    #[error("{0}")]
    PaymentRequired(String),
    /// A dependency (the catalog's database) does not answer now; the text is for the log.
    /// DocSpace clients get 503 and may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Something broke inside; `context` says what was being done, `source` why.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Shorthand for results of the service.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// An internal failure while doing `context`, caused by `source`.
    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        ServiceError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// Whether the same request may succeed later without changing it: a busy slot frees up,
    /// an internal failure (a full disk, a lost connection) may pass. Bad input, missing
    /// things and missing rights stay as they are.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ServiceError::Busy(_) | ServiceError::Unavailable(_) | ServiceError::Internal { .. }
        )
    }

    /// The whole cause chain, for logs.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}

impl From<CoreError> for ServiceError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(m) => ServiceError::Invalid(m),
            CoreError::NotFound(m) => ServiceError::NotFound(m),
            CoreError::Forbidden | CoreError::Unauthenticated => ServiceError::Forbidden,
            CoreError::Conflict(m) => ServiceError::Conflict(m),
            CoreError::PaymentRequired(m) => ServiceError::PaymentRequired(m),
            CoreError::Unavailable(m) => ServiceError::Unavailable(m),
            CoreError::Internal(m) => ServiceError::Internal {
                context: m,
                source: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_kept_and_retry_is_told() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let e = ServiceError::internal("writing the archive", io);
        assert_eq!(e.chain(), "writing the archive: disk full");
        assert!(e.retryable());
        assert!(!ServiceError::Invalid("x".into()).retryable());
        assert!(ServiceError::Busy("x".into()).retryable());
        let down = ServiceError::from(CoreError::Unavailable("catalog down".into()));
        assert!(matches!(&down, ServiceError::Unavailable(_)) && down.retryable());
        assert!(matches!(
            ServiceError::from(CoreError::NotFound("n".into())),
            ServiceError::NotFound(_)
        ));
    }
}
