//! The domain's one error enum.
//!
//! Rules: variants say what the caller can act on (bad input, missing thing, no right,
//! conflict); `Internal` carries the detail for the log only, never for the client, and so does
//! `Unavailable` (a dependency that does not answer now; the client is told to retry). Backends
//! turn their own failures into `Internal` with the source chain rendered into the text.

use thiserror::Error;

/// Every failure the domain and its catalog can report.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// The input is malformed or breaks a rule; the text is shown to the client.
    #[error("{0}")]
    Invalid(String),
    /// The thing addressed does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The caller is known but may not do this.
    #[error("Access denied")]
    Forbidden,
    /// No valid credential was presented.
    #[error("unauthorized")]
    Unauthenticated,
    /// The request conflicts with the current state (duplicate e-mail, existing portal).
    #[error("{0}")]
    Conflict(String),
    /// A limit of the plan was reached (DocSpace answers 402).
    #[error("{0}")]
    PaymentRequired(String),
    /// Something the catalog or another service depends on does not answer now (a database
    /// down or unreachable); trying again later may succeed. The text is for the log.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Something broke inside; the text is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand for results of the domain.
pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    /// Builds an `Internal` error from any error, keeping its whole source chain.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        CoreError::Internal(error_chain(err))
    }
}

/// An error and its sources, `what: why: …`, on one line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
