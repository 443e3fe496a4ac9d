//! Per-caller request rate limiting with DocSpace's `X-RateLimit-*` headers.
//!
//! A caller is its credential (hashed) or, when anonymous, its IP address. Each caller gets a
//! fixed one-minute window; past the limit the request is refused with 429 and `Retry-After`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use crate::wire::ApiError;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Window {
    started: Instant,
    count: u32,
}

/// The limiter's book of callers.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<String, Window>>,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub allowed: bool,
    pub remaining: u32,
    pub reset_in: Duration,
}

impl RateLimiter {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `caller` at `now`.
    pub fn check(&self, caller: &str, now: Instant) -> Verdict {
        let mut map = match self.windows.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() > 100_000 {
            map.retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let w = map.entry(caller.to_string()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(w.started) >= WINDOW {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        let reset_in = WINDOW.saturating_sub(now.duration_since(w.started));
        if w.count >= self.limit {
            return Verdict {
                allowed: false,
                remaining: 0,
                reset_in,
            };
        }
        w.count += 1;
        Verdict {
            allowed: true,
            remaining: self.limit - w.count,
            reset_in,
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

fn caller_key(headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    // Basic credentials change with every guessed password: count those by address.
    let cred = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get(header::COOKIE))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim_start().to_ascii_lowercase().starts_with("basic "));
    match (cred, peer) {
        (Some(c), _) => format!("c:{}", &dsbackup_core::secret::token_hash(c)[..32]),
        (None, Some(addr)) => format!("ip:{}", addr.ip()),
        (None, None) => "anonymous".into(),
    }
}

/// Middleware: counts the request and writes the rate-limit headers.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let key = caller_key(req.headers(), peer);
    let limiter = state.limiter();
    let verdict = limiter.check(&key, Instant::now());
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
    let h = res.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limiter.limit()));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(verdict.remaining),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(reset_at));
    if !verdict.allowed {
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(verdict.reset_in.as_secs().max(1)),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets_per_window() {
        let l = RateLimiter::new(2);
        let t0 = Instant::now();
        assert!(l.check("a", t0).allowed);
        let v = l.check("a", t0);
        assert!(v.allowed && v.remaining == 0);
        assert!(!l.check("a", t0).allowed);
        assert!(l.check("b", t0).allowed, "callers are counted apart");
        assert!(
            l.check("a", t0 + WINDOW).allowed,
            "a new window starts afresh"
        );
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn basic_credentials_are_counted_by_address() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 5)));
        let mut a = HeaderMap::new();
        a.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpwMQ=="),
        );
        let mut b = HeaderMap::new();
        b.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpwMg=="),
        );
        assert_eq!(
            caller_key(&a, peer),
            caller_key(&b, peer),
            "guessing passwords shares one budget"
        );
        let mut k = HeaderMap::new();
        k.insert(header::AUTHORIZATION, HeaderValue::from_static("sk-abc"));
        assert_ne!(caller_key(&k, peer), caller_key(&a, peer));
    }
}
