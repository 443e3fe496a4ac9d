//! The one place that writes the DocSpace wire format.
//!
//! Handlers return `Result<Envelope<T>, ApiError>`. Both turn into bare responses carrying a
//! marker extension; the [`finalize`] middleware then writes the success envelope (with the
//! request's `links`) or the error envelope. Responses that carry neither marker but fail
//! (unknown routes, wrong methods, framework rejections) are rewritten into the error envelope
//! too, so every failure a client sees has the DocSpace shape.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dsbackup_api_types::{ErrorEnvelope, Link, SuccessEnvelope};
use dsbackup_core::CoreError;
use dsbackup_service::ServiceError;
use serde::Serialize;
use serde_json::Value;

/// A successful payload; `None` leaves `response` out of the envelope.
#[derive(Debug)]
pub struct Envelope<T>(pub Option<T>);

impl<T> Envelope<T> {
    /// An envelope with a payload.
    pub fn of(value: T) -> Self {
        Envelope(Some(value))
    }
}

impl Envelope<()> {
    /// An envelope without `response`.
    pub fn empty() -> Self {
        Envelope(None)
    }
}

#[derive(Debug, Clone)]
struct Payload(Option<Value>);

#[derive(Debug, Clone)]
struct Failure(String);

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        match self.0.map(serde_json::to_value).transpose() {
            Ok(v) => {
                let mut res = StatusCode::OK.into_response();
                res.extensions_mut().insert(Payload(v));
                res
            }
            Err(e) => ApiError::Internal(format!("serializing a response: {e}")).into_response(),
        }
    }
}

/// Every error the HTTP layer answers with; the status codes follow API.md §1.2.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("Access denied")]
    Forbidden,
    /// 403 with a message that says why.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PaymentRequired(String),
    #[error("The request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Too many requests")]
    TooManyRequests,
    /// A dependency (the catalog's database) does not answer; the text is for the log.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::Denied(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 404 with DocSpace's generic text.
    pub fn not_found() -> Self {
        ApiError::NotFound("The required resource was not found".into())
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(m) => ApiError::BadRequest(m),
            CoreError::NotFound(m) => ApiError::NotFound(m),
            CoreError::Forbidden => ApiError::Forbidden,
            CoreError::Unauthenticated => ApiError::Unauthorized,
            CoreError::Conflict(m) => ApiError::Conflict(m),
            CoreError::PaymentRequired(m) => ApiError::PaymentRequired(m),
            CoreError::Unavailable(m) => ApiError::Unavailable(m),
            CoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) | ServiceError::Busy(m) => ApiError::BadRequest(m),
            ServiceError::Forbidden => ApiError::Forbidden,
            ServiceError::Denied(m) => ApiError::Denied(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::PaymentRequired(m) => ApiError::PaymentRequired(m),
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            internal @ ServiceError::Internal { .. } => ApiError::Internal(internal.chain()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "Internal server error".to_string()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "unavailable");
                UNAVAILABLE.to_string()
            }
            other => other.to_string(),
        };
        let mut res = self.status().into_response();
        if matches!(self, ApiError::Unavailable(_)) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res.extensions_mut().insert(Failure(message));
        res
    }
}

/// What a client is told when a dependency does not answer (the detail is logged).
const UNAVAILABLE: &str = "The service is temporarily unavailable; try again later";

/// `scheme://host` of a request as the client addressed it (`Host`, `X-Forwarded-Proto`).
pub fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https" || *s == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// The request's display URL, as `links[0].href`.
fn display_url(req: &Request) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("{}{path}", base_url(req.headers()))
}

fn json_response(
    status: StatusCode,
    parts: axum::http::response::Parts,
    body: Vec<u8>,
) -> Response {
    let mut res = Response::from_parts(parts, Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res
}

fn error_json(status: StatusCode, message: String) -> Vec<u8> {
    serde_json::to_vec(&ErrorEnvelope::new(status.as_u16(), message)).unwrap_or_default()
}

/// A message for a framework failure that said nothing useful itself.
fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "The required resource was not found".into(),
        StatusCode::METHOD_NOT_ALLOWED => "The HTTP method is not allowed here".into(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.to_string(),
        s => s.canonical_reason().unwrap_or("Error").to_string(),
    }
}

/// Middleware: writes the envelopes. Installed outermost but for logging.
pub async fn finalize(req: Request, next: Next) -> Response {
    let link = Link {
        href: display_url(&req),
        action: req.method().as_str().to_string(),
    };
    let is_head = req.method() == Method::HEAD;
    let res = next.run(req).await;
    let (mut parts, body) = res.into_parts();
    let status = parts.status;
    if let Some(Payload(value)) = parts.extensions.remove::<Payload>() {
        let env = SuccessEnvelope::new(value, link, status.as_u16());
        let bytes = serde_json::to_vec(&env).unwrap_or_default();
        return json_response(status, parts, if is_head { Vec::new() } else { bytes });
    }
    if let Some(Failure(message)) = parts.extensions.remove::<Failure>() {
        return json_response(status, parts, error_json(status, message));
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_client_error() || status.is_server_error() {
        if is_json {
            return Response::from_parts(parts, body);
        }
        // A framework response: keep a short plain-text reason, never internals.
        let text = to_bytes(body, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text).trim().to_string();
        let message = if text.is_empty() || status.is_server_error() || text.len() > 300 {
            default_message(status)
        } else {
            text
        };
        return json_response(status, parts, error_json(status, message));
    }
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_docspace_statuses() {
        let cases = [
            (CoreError::Invalid("x".into()), 400),
            (CoreError::NotFound("x".into()), 404),
            (CoreError::Forbidden, 403),
            (CoreError::Unauthenticated, 401),
            (CoreError::Conflict("x".into()), 409),
            (CoreError::PaymentRequired("x".into()), 402),
            (CoreError::Unavailable("x".into()), 503),
            (CoreError::Internal("x".into()), 500),
        ];
        for (e, code) in cases {
            assert_eq!(ApiError::from(e).status().as_u16(), code);
        }
        let down = ApiError::from(ServiceError::from(CoreError::Unavailable(
            "PostgreSQL catalog: cannot connect: 10.0.0.5:5432".into(),
        )));
        assert_eq!(down.status().as_u16(), 503);
        let res = down.into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        let Some(Failure(message)) = res.extensions().get::<Failure>().cloned() else {
            panic!("an error response carries its message");
        };
        assert_eq!(message, UNAVAILABLE, "the detail stays in the log");
        assert_eq!(ApiError::Forbidden.to_string(), "Access denied");
    }
}
