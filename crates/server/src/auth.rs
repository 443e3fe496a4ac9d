//! Who is calling, and for which portal.
//!
//! Credentials are read exactly as DocSpace clients send them (API.md §2.1): `Authorization:
//! Basic …`; `Authorization: Bearer sk-…` or a raw `sk-…` (API keys); `Authorization: Bearer
//! <token>` or a raw token (sessions); the `asc_auth_key` cookie when there is no
//! `Authorization`; and the Python SDK's literal `ApiKeyBearer` header.
//!
//! The request's portal is the one `Host` names (`<alias>.<base_domain>` or a configured
//! host); otherwise the portal of the credential; otherwise the instance's only portal.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use base64::Engine;
use chrono::Utc;
use dsbackup_core::secret;
use dsbackup_core::{Actor, ApiKey, CoreError, CoreResult, Portal, PortalStatus, User};

use crate::ratelimit::{Blocked, ClientAddress};
use crate::state::AppState;
use crate::wire::ApiError;

/// A credential as presented, before it is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential {
    Session(String),
    ApiKey(String),
    Basic { user: String, password: String },
}

fn strip_bearer(v: &str) -> &str {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

fn token_or_key(v: &str) -> Option<Credential> {
    let t = strip_bearer(v);
    if t.is_empty() {
        None
    } else if t.starts_with(secret::API_KEY_PREFIX) {
        Some(Credential::ApiKey(t.to_string()))
    } else {
        Some(Credential::Session(t.to_string()))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Reads the credential a request carries, if any. `Err` for a malformed Basic header.
pub fn credential(headers: &HeaderMap) -> Result<Option<Credential>, ApiError> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::Unauthorized)?.trim();
        if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(v[6..].trim())
                .map_err(|_| ApiError::Unauthorized)?;
            let text = String::from_utf8(raw).map_err(|_| ApiError::Unauthorized)?;
            let (user, password) = text.split_once(':').ok_or(ApiError::Unauthorized)?;
            return Ok(Some(Credential::Basic {
                user: user.to_string(),
                password: password.to_string(),
            }));
        }
        return Ok(token_or_key(v));
    }
    if let Some(v) = headers.get("apikeybearer").and_then(|v| v.to_str().ok()) {
        return Ok(token_or_key(v));
    }
    Ok(cookie(headers, "asc_auth_key").and_then(|v| token_or_key(&v)))
}

fn session_of(cred: Option<Credential>) -> Option<String> {
    match cred? {
        Credential::Session(t) => Some(secret::token_hash(&t)),
        _ => None,
    }
}

/// The token hash of the session the request authenticates with, if it uses one.
pub fn session_hash(headers: &HeaderMap) -> Option<String> {
    session_of(credential(headers).ok().flatten())
}

/// The token hash of the session in the `asc_auth_key` cookie, used or not.
pub fn cookie_session_hash(headers: &HeaderMap) -> Option<String> {
    session_of(cookie(headers, "asc_auth_key").and_then(|v| token_or_key(&v)))
}

/// The portal `Host` names, if it names one.
pub async fn host_portal(state: &AppState, headers: &HeaderMap) -> CoreResult<Option<Portal>> {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Ok(None);
    };
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let cfg = state.config();
    if let Some(p) = cfg
        .portals
        .iter()
        .find(|p| p.hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)))
    {
        return state.catalog().portal_by_alias(&p.alias).await;
    }
    if !cfg.base_domain.is_empty()
        && let Some(alias) =
            host.strip_suffix(&format!(".{}", cfg.base_domain.to_ascii_lowercase()))
    {
        return state.catalog().portal_by_alias(alias).await;
    }
    Ok(None)
}

/// The portal an anonymous request addresses: `Host`'s, else the only one, else `default`.
pub async fn request_portal(state: &AppState, headers: &HeaderMap) -> CoreResult<Option<Portal>> {
    if let Some(p) = host_portal(state, headers).await? {
        return Ok(Some(p));
    }
    let portals = state.catalog().portals().await?;
    if portals.len() == 1 {
        return Ok(portals.into_iter().next());
    }
    Ok(portals.into_iter().find(|p| p.alias == "default"))
}

/// An authenticated caller: the service's [`Actor`], taken from the request.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl std::ops::Deref for Caller {
    type Target = Actor;
    fn deref(&self) -> &Actor {
        &self.0
    }
}

/// The outcome of a password sign-in.
#[derive(Debug)]
pub enum PasswordCheck {
    Valid(User),
    Wrong,
    /// Too many failures for the account or the address: not checked at all.
    Blocked(Blocked),
}

/// Checks a password sign-in (Basic or `POST authentication`) against the members with that
/// e-mail (in `portal` when given), counting failures per account and per address `from`.
/// Takes the same time whether or not the e-mail exists.
///
/// Fails only when the catalog or the check's task fails.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    portal: Option<&Portal>,
    from: Option<IpAddr>,
) -> CoreResult<PasswordCheck> {
    let email = email.trim().to_lowercase();
    if let Err(b) = state.logins().admit(&email, from) {
        return Ok(PasswordCheck::Blocked(b));
    }
    let candidates: Vec<User> = state
        .catalog()
        .users_by_email(&email)
        .await?
        .into_iter()
        .filter(|u| portal.is_none_or(|p| p.id == u.portal_id))
        .collect();
    let password = password.to_string();
    let found = tokio::task::spawn_blocking(move || {
        if candidates.is_empty() {
            secret::verify_password(&password, secret::decoy_hash());
            return None;
        }
        candidates
            .into_iter()
            .find(|u| secret::verify_password(&password, &u.password_hash))
    })
    .await
    .map_err(|e| CoreError::Internal(format!("password check task: {e}")))?;
    Ok(match found {
        Some(user) => PasswordCheck::Valid(user),
        None => {
            state.logins().failed(&email, from);
            PasswordCheck::Wrong
        }
    })
}

/// A request's credential, checked once (by the rate limiter) for the [`Caller`] extractor.
#[derive(Debug, Clone)]
pub struct Verified {
    pub caller: Result<Caller, ApiError>,
    /// Set when a Basic sign-in was refused for too many failures (then `caller` is 429).
    pub blocked: Option<Blocked>,
}

/// Why a credential was refused.
enum Refusal {
    Api(ApiError),
    Blocked(Blocked),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<CoreError> for Refusal {
    fn from(e: CoreError) -> Self {
        Refusal::Api(e.into())
    }
}

/// Checks the request's credential (from client address `from`); see [`authenticate`].
pub async fn verify(state: &AppState, headers: &HeaderMap, from: Option<IpAddr>) -> Verified {
    match resolve(state, headers, from).await {
        Ok(caller) => Verified {
            caller: Ok(caller),
            blocked: None,
        },
        Err(Refusal::Api(e)) => Verified {
            caller: Err(e),
            blocked: None,
        },
        Err(Refusal::Blocked(b)) => Verified {
            caller: Err(ApiError::TooManyRequests),
            blocked: Some(b),
        },
    }
}

/// Authenticates the request. 401 without a valid credential, or when `Host` names another
/// portal than the credential's; 403 while the portal is not Active; 429 for a password
/// sign-in while the account or the address `from` has too many failures.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    from: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    verify(state, headers, from).await.caller
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    from: Option<IpAddr>,
) -> Result<Caller, Refusal> {
    let cred = credential(headers)?.ok_or(ApiError::Unauthorized)?;
    let host = host_portal(state, headers).await?;
    let now = Utc::now();
    let cat = state.catalog();
    let (user, key) = match cred {
        Credential::ApiKey(k) => {
            let key = cat
                .api_key_by_hash(&secret::token_hash(&k))
                .await?
                .filter(|key| key.usable_at(now))
                .ok_or(ApiError::Unauthorized)?;
            let user = cat.user(key.user_id).await?.ok_or(ApiError::Unauthorized)?;
            // Record use at most once a minute: not a catalog write on every request.
            if key
                .last_used
                .is_none_or(|t| now - t > chrono::Duration::seconds(60))
            {
                cat.touch_api_key(key.id, now).await?;
            }
            let key = ApiKey {
                last_used: Some(now),
                ..key
            };
            (user, Some(key))
        }
        Credential::Session(t) => {
            let s = cat
                .session(&secret::token_hash(&t))
                .await?
                .filter(|s| s.expires_at > now)
                .ok_or(ApiError::Unauthorized)?;
            (
                cat.user(s.user_id).await?.ok_or(ApiError::Unauthorized)?,
                None,
            )
        }
        Credential::Basic { user, password } => {
            match check_password(state, &user, &password, host.as_ref(), from).await? {
                PasswordCheck::Valid(u) => (u, None),
                PasswordCheck::Wrong => return Err(ApiError::Unauthorized.into()),
                PasswordCheck::Blocked(b) => return Err(Refusal::Blocked(b)),
            }
        }
    };
    if host.as_ref().is_some_and(|p| p.id != user.portal_id) {
        return Err(ApiError::Unauthorized.into());
    }
    let portal = cat
        .portal(user.portal_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    match portal.status {
        PortalStatus::Active => {}
        PortalStatus::Restoring => return Err(ApiError::Forbidden.into()),
        PortalStatus::Suspended | PortalStatus::RemovePending => {
            return Err(ApiError::NotFound("Portal not found".into()).into());
        }
    }
    Ok(Caller(Actor { portal, user, key }))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Takes the rate limiter's check of the credential; checks it when there was none.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(v) = parts.extensions.get::<Verified>() {
            return v.caller.clone();
        }
        let ClientAddress(from) = ClientAddress::of(&parts.extensions);
        authenticate(state, &parts.headers, from).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn reads_every_way_a_client_sends_credentials() {
        let key = || Some(Credential::ApiKey("sk-abc".into()));
        let tok = || Some(Credential::Session("tok".into()));
        assert_eq!(
            credential(&h(&[("authorization", "sk-abc")])).unwrap(),
            key()
        );
        assert_eq!(
            credential(&h(&[("authorization", "Bearer sk-abc")])).unwrap(),
            key()
        );
        assert_eq!(
            credential(&h(&[("authorization", "bearer tok")])).unwrap(),
            tok()
        );
        assert_eq!(credential(&h(&[("authorization", "tok")])).unwrap(), tok());
        assert_eq!(
            credential(&h(&[("cookie", "a=b; asc_auth_key=tok")])).unwrap(),
            tok()
        );
        assert_eq!(
            credential(&h(&[("apikeybearer", "Bearer sk-abc")])).unwrap(),
            key()
        );
        assert_eq!(
            credential(&h(&[("authorization", "Basic dTpwOnE=")])).unwrap(),
            Some(Credential::Basic {
                user: "u".into(),
                password: "p:q".into()
            })
        );
        assert!(credential(&h(&[("authorization", "Basic !!!")])).is_err());
        assert_eq!(credential(&h(&[])).unwrap(), None);
        // Authorization wins over the cookie, as upstream.
        assert_eq!(
            credential(&h(&[
                ("authorization", "sk-abc"),
                ("cookie", "asc_auth_key=tok")
            ]))
            .unwrap(),
            key()
        );
    }
}
