//! The storage settings endpoints a backup client reads and writes (STORAGES.md §1–2):
//! `GET /api/2.0/settings/storage/backup?Dump` and `GET /api/2.0/settings/storage` list the
//! DataStore consumers with their properties, and `POST /api/2.0/settings/authservice` saves a
//! consumer's credentials for the portal (sealed at rest, never listed or echoed).

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use std::collections::BTreeMap;

use axum::extract::State;
use dsbackup_api_types::settings::{AuthKeyDto, AuthServiceRequest, StorageDto};
use dsbackup_core::perm::Scope;
use dsbackup_core::{DUMP_TENANT, StorageKind};
use dsbackup_service::backup::demand_dump;
use dsbackup_service::remote::{CONSUMERS, Consumer, consumer};
use dsbackup_service::{consumers, secrets};

use crate::auth::Caller;
use crate::extract::{ApiJson, QueryMap};
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

const READ: Scope = Scope::read("backup");
const WRITE: Scope = Scope::write("backup");

fn property(c: &Consumer, name: &str, value: String) -> AuthKeyDto {
    let title = c
        .props
        .iter()
        .find(|(k, _)| *k == name)
        .map_or(name, |(_, t)| *t);
    AuthKeyDto {
        name: name.to_string(),
        value,
        title: title.to_string(),
        kind: "text".into(),
    }
}

/// One consumer as `StorageDto`: its properties with empty values, or, for the current one,
/// the schedule's parameters (secret values redacted; upstream echoes them).
async fn storage_dto(
    state: &AppState,
    caller: &Caller,
    c: &Consumer,
    current: Option<&BTreeMap<String, String>>,
) -> Result<StorageDto, ApiError> {
    let keys: Vec<&str> = c.managed.iter().map(|(k, _)| *k).collect();
    let is_set = consumers::is_set(state.service(), caller.portal.id, c.id, &keys).await?;
    let properties = match current {
        Some(params) => secrets::redact_params(params)
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("module"))
            .map(|(k, v)| property(c, &k, v))
            .collect(),
        None => c
            .props
            .iter()
            .map(|(k, _)| property(c, k, String::new()))
            .collect(),
    };
    Ok(StorageDto {
        id: c.id.into(),
        title: c.title.into(),
        properties,
        current: current.is_some(),
        is_set,
    })
}

/// `GET settings/storage/backup?Dump`: every consumer; `current` for the one the schedule of
/// the portal (or of the instance, with `Dump`) uses.
#[utoipa::path(
    get,
    path = "/api/2.0/settings/storage/backup",
    operation_id = "getAllBackupStorages",
    tag = "Settings",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<Vec<StorageDto>>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn backup_storages(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<Vec<StorageDto>>, ApiError> {
    caller.admin(READ)?;
    let dump = q.bool("Dump")?.unwrap_or(false);
    if dump {
        demand_dump(state.service(), &caller)?;
    }
    let tenant = if dump { DUMP_TENANT } else { caller.portal.id };
    let schedule = state.catalog().schedule(tenant).await?;
    let current = schedule
        .filter(|s| s.storage == StorageKind::ThirdPartyConsumer)
        .map(|s| state.service().sealer().open_params(&s.storage_params))
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let module = current
        .as_ref()
        .and_then(|p| p.get("module").cloned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for c in CONSUMERS {
        let mine = current
            .as_ref()
            .filter(|_| c.id.eq_ignore_ascii_case(&module));
        out.push(storage_dto(&state, &caller, c, mine).await?);
    }
    Ok(Envelope::of(out))
}

/// `GET settings/storage`: every consumer; none is the portal's own storage here.
#[utoipa::path(
    get,
    path = "/api/2.0/settings/storage",
    operation_id = "getAllStorages",
    tag = "Settings",
    responses((status = 200, body = Wrapper<Vec<StorageDto>>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn storages(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<Vec<StorageDto>>, ApiError> {
    caller.admin(READ)?;
    let mut out = Vec::new();
    for c in CONSUMERS {
        out.push(storage_dto(&state, &caller, c, None).await?);
    }
    Ok(Envelope::of(out))
}

/// `POST settings/authservice` `{name, props:[{name, value}]}`: saves a consumer's
/// credentials for the portal; `true`. Only the consumer's managed keys are accepted.
#[utoipa::path(
    post,
    path = "/api/2.0/settings/authservice",
    operation_id = "settingsSetAuth",
    tag = "Settings",
    request_body = AuthServiceRequest,
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn set_auth(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AuthServiceRequest>,
) -> Result<Envelope<bool>, ApiError> {
    caller.admin(WRITE)?;
    let name = req.name.unwrap_or_default();
    let c = consumer(&name)
        .ok_or_else(|| ApiError::BadRequest(format!("Unknown consumer {name:?}")))?;
    let mut props = BTreeMap::new();
    for p in req.props.unwrap_or_default() {
        let key = p.name.unwrap_or_default();
        let Some((managed, _)) = c.managed.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key))
        else {
            return Err(ApiError::BadRequest(format!(
                "{key:?} is not a key of {}",
                c.id
            )));
        };
        props.insert(managed.to_string(), p.value.unwrap_or_default());
    }
    consumers::set_credentials(state.service(), caller.portal.id, c.id, props).await?;
    Ok(Envelope::of(true))
}
