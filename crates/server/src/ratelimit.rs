//! Request rate limiting with DocSpace's `X-RateLimit-*` headers, and the limit on failed
//! sign-ins (`login.rs`).
//!
//! Who is counted: a caller whose credential verifies has a budget of its own (its API key, or
//! its user for sessions and passwords). Everything else, anonymous requests and credentials
//! that do not verify however many different ones are sent, counts against the client address
//! (an IPv6 address by its /64). The credential is verified here, once; the outcome travels to
//! the `Caller` extractor in the request's extensions.
//!
//! Budgets are governor's GCRA: `rate_limit_per_minute` requests at once, then one more every
//! minute / limit. Past it: 429 with `Retry-After`. The state is a fixed table (`table.rs`), so
//! memory does not grow with the number of callers.

pub mod login;
mod table;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::Quota;
use uuid::Uuid;

pub use login::{Blocked, LoginGuard};
pub use table::{Limiter, Verdict};

use crate::auth::{self, Caller};
use crate::state::AppState;
use crate::wire::ApiError;

/// Cells of the request table (2^18, 2 MiB).
const BITS: u32 = 18;

/// Whose budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bucket {
    Address(IpAddr),
    ApiKey(Uuid),
    User(Uuid),
    /// No address known (not served over TCP).
    Unknown,
}

impl Bucket {
    fn verified(caller: &Caller) -> Self {
        match &caller.key {
            Some(k) => Bucket::ApiKey(k.id),
            None => Bucket::User(caller.user.id),
        }
    }

    /// An IPv4 address, or an IPv6 one by its /64 (one host's usual share).
    fn address(from: Option<IpAddr>) -> Self {
        match from.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                Bucket::Address(IpAddr::V6(net.into()))
            }
            Some(v4) => Bucket::Address(v4),
            None => Bucket::Unknown,
        }
    }
}

/// The request budgets of every caller.
#[derive(Debug)]
pub struct RateLimiter {
    requests: Limiter,
}

impl RateLimiter {
    /// `per_minute` requests per caller and minute (at least 1).
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self {
            requests: Limiter::new(quota, BITS),
        }
    }

    fn check(&self, bucket: Bucket) -> Verdict {
        self.requests.check(&bucket)
    }

    /// The configured requests per minute.
    pub fn limit(&self) -> u32 {
        self.requests.burst()
    }
}

/// The client's address (the TCP peer), for handlers: `ClientAddress(from)`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// Reads the peer that axum's connect info recorded.
    pub fn of(extensions: &Extensions) -> Self {
        ClientAddress(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// 429 with `Retry-After` for a blocked sign-in.
pub fn blocked_response(b: Blocked) -> Response {
    let mut res = ApiError::TooManyRequests.into_response();
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(b.retry_after.as_secs().max(1)),
    );
    res
}

/// Middleware: picks the caller's budget, counts the request, writes the rate-limit headers.
pub async fn limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let ClientAddress(from) = ClientAddress::of(req.extensions());
    let mut blocked = None;
    let bucket = match auth::credential(req.headers()) {
        Ok(None) => Bucket::address(from),
        _ => {
            let verified = auth::verify(&state, req.headers(), from).await;
            blocked = verified.blocked;
            let bucket = match &verified.caller {
                Ok(caller) => Bucket::verified(caller),
                Err(_) => Bucket::address(from),
            };
            req.extensions_mut().insert(verified);
            bucket
        }
    };
    let limiter = state.limiter();
    let verdict = limiter.check(bucket);
    let mut res = if verdict.allowed {
        next.run(req).await
    } else {
        ApiError::TooManyRequests.into_response()
    };
    let reset_at = SystemTime::now()
        .checked_add(verdict.reset_in)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let retry_after = match blocked {
        _ if !verdict.allowed => Some(verdict.reset_in),
        Some(b) if res.status() == StatusCode::TOO_MANY_REQUESTS => Some(b.retry_after),
        _ => None,
    };
    let h = res.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limiter.limit()));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(verdict.remaining),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(reset_at));
    if let Some(wait) = retry_after {
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_callers_share_their_address() {
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(Bucket::address(a), Bucket::address(a));
        assert_ne!(
            Bucket::address(a),
            Bucket::address(Some(IpAddr::from([10, 0, 0, 2])))
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(Bucket::address(Some(mapped)), Bucket::address(a));
        let v6 = |s: &str| Bucket::address(s.parse().ok());
        assert_eq!(v6("2001:db8::1"), v6("2001:db8::ffff:2"), "one /64");
        assert_ne!(v6("2001:db8::1"), v6("2001:db8:0:1::1"));
    }

    #[test]
    fn a_flood_spends_one_budget() {
        let l = RateLimiter::new(3);
        let from = Bucket::address(Some(IpAddr::from([10, 0, 0, 1])));
        let refused = (0..100).filter(|_| !l.check(from).allowed).count();
        assert_eq!(refused, 97);
        let key = Bucket::ApiKey(Uuid::new_v4());
        assert!(l.check(key).allowed, "a verified caller has its own budget");
        assert_eq!(l.limit(), 3);
    }
}
