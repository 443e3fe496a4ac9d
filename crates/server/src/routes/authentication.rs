//! `POST /api/2.0/authentication` (log in, get a token), `GET /api/2.0/authentication` (is the
//! caller authenticated) and `POST /api/2.0/authentication/logout` (end the session).

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use dsbackup_api_types::auth::{AuthRequest, AuthTokenDto};
use dsbackup_core::{Session, secret};

use crate::auth::{
    Caller, PasswordCheck, check_password, cookie_session_hash, host_portal, session_hash,
};
use crate::extract::ApiJson;
use crate::ratelimit::{ClientAddress, blocked_response};
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

/// Logs in with e-mail and password. 401 "User authentication failed" on any mismatch; 429
/// with `Retry-After` while the account or the client address has too many failures.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication",
    operation_id = "authenticationLogin",
    tag = "Authentication",
    request_body = AuthRequest,
    responses((status = 200, body = Wrapper<AuthTokenDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(from): ClientAddress,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AuthRequest>,
) -> Result<Response, ApiError> {
    let (Some(email), Some(password)) = (req.user_name.as_deref(), req.password.as_deref()) else {
        return Err(ApiError::BadRequest(
            "userName and password are required".into(),
        ));
    };
    let portal = host_portal(&state, &headers).await?;
    let user = match check_password(&state, email, password, portal.as_ref(), from).await? {
        PasswordCheck::Valid(user) => user,
        PasswordCheck::Wrong => {
            tracing::info!("failed login");
            return Err(ApiError::Unauthorized);
        }
        PasswordCheck::Blocked(b) => {
            tracing::info!("login refused: too many failures");
            return Ok(blocked_response(b));
        }
    };
    let token = secret::random_token(32);
    let expires = Utc::now() + Duration::hours(state.config().session_ttl_hours);
    state
        .catalog()
        .create_session(Session {
            token_hash: secret::token_hash(&token),
            user_id: user.id,
            portal_id: user.portal_id,
            expires_at: expires,
        })
        .await?;
    let cookie = format!(
        "asc_auth_key={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        state.config().session_ttl_hours * 3600
    );
    let mut res = Envelope::of(AuthTokenDto {
        token,
        expires,
        sms: false,
        tfa: false,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Ends the session the request authenticates with, and the caller's session in the
/// `asc_auth_key` cookie, and clears that cookie (as upstream). With an API key or Basic
/// credentials there is no session to end; the answer is the same. 401 without a credential.
#[utoipa::path(
    post,
    path = "/api/2.0/authentication/logout",
    operation_id = "authenticationLogout",
    tag = "Authentication",
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cat = state.catalog();
    let mut hashes = vec![session_hash(&headers), cookie_session_hash(&headers)];
    hashes.dedup();
    for hash in hashes.into_iter().flatten() {
        if cat
            .session(&hash)
            .await?
            .is_some_and(|s| s.user_id == caller.user.id)
        {
            cat.delete_session(&hash).await?;
        }
    }
    tracing::info!(user = %caller.user.id, "logged out");
    let mut res = Envelope::empty().into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "asc_auth_key=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; \
             Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ),
    );
    Ok(res)
}

/// `true` when the request carries a valid credential, `false` otherwise.
#[utoipa::path(
    get,
    path = "/api/2.0/authentication",
    operation_id = "authenticationIsAuthenticated",
    tag = "Authentication",
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn is_authenticated(caller: Result<Caller, ApiError>) -> Envelope<bool> {
    Envelope::of(caller.is_ok())
}
