//! The DocSpace success and error envelopes (API.md §1.1, §1.2).
//!
//! `response` is omitted entirely when there is no payload; `count` is the list length for a
//! list payload, 0 without a payload and 1 otherwise.

use serde::Serialize;
use serde_json::Value;

/// One entry of `links`: the request's display URL and its HTTP method.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Link {
    pub href: String,
    pub action: String,
}

/// `{"response": …, "count": n, "links": […], "status": 0, "statusCode": 200}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessEnvelope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    pub count: i64,
    pub links: Vec<Link>,
    pub status: i32,
    pub status_code: u16,
}

impl SuccessEnvelope {
    /// Wraps a payload, deriving `count` as DocSpace does.
    pub fn new(response: Option<Value>, link: Link, status_code: u16) -> Self {
        let count = match &response {
            None | Some(Value::Null) => 0,
            Some(Value::Array(items)) => items.len() as i64,
            Some(_) => 1,
        };
        let response = response.filter(|v| !v.is_null());
        Self {
            response,
            count,
            links: vec![link],
            status: 0,
            status_code,
        }
    }
}

/// The success envelope with a typed `response`, for the OpenAPI document only: responses are
/// written through [`SuccessEnvelope`], whose shape this mirrors (the golden tests pin it).
#[cfg(feature = "openapi")]
#[derive(Debug, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Wrapper<T> {
    pub response: T,
    pub count: i32,
    pub links: Vec<Link>,
    pub status: i32,
    pub status_code: i32,
}

/// `error` of the error envelope. Stack, type and hresult are never sent.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub message: String,
}

/// `{"status": 1, "statusCode": 403, "error": {"message": "Access denied"}}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub status: i32,
    pub status_code: u16,
    pub error: ErrorBody,
}

impl ErrorEnvelope {
    pub fn new(status_code: u16, message: impl Into<String>) -> Self {
        Self {
            status: 1,
            status_code,
            error: ErrorBody {
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn link() -> Link {
        Link {
            href: "http://h/x".into(),
            action: "GET".into(),
        }
    }

    #[test]
    fn no_payload_omits_response_and_counts_zero() {
        let v = serde_json::to_value(SuccessEnvelope::new(None, link(), 200)).unwrap();
        assert_eq!(
            v,
            json!({"count":0,"links":[{"href":"http://h/x","action":"GET"}],"status":0,"statusCode":200})
        );
    }

    #[test]
    fn list_payload_counts_items() {
        let env = SuccessEnvelope::new(Some(json!([1, 2, 3])), link(), 200);
        assert_eq!(env.count, 3);
        let env = SuccessEnvelope::new(Some(json!(true)), link(), 200);
        assert_eq!(env.count, 1);
    }

    #[test]
    fn error_envelope_shape() {
        let v = serde_json::to_value(ErrorEnvelope::new(403, "Access denied")).unwrap();
        assert_eq!(
            v,
            json!({"status":1,"statusCode":403,"error":{"message":"Access denied"}})
        );
    }
}
