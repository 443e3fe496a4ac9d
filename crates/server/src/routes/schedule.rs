//! `createbackupschedule`, `getbackupschedule`, `deletebackupschedule`, and dsbackup's
//! `POST /api/2.0/backup/prune?dryRun=&forgetMissing=` (retention now, or what it would do).

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::extract::State;
use chrono::Utc;
use dsbackup_api_types::backup::{ScheduleDto, ScheduleRequest};
use dsbackup_core::perm::Scope;
use dsbackup_core::{DUMP_TENANT, PortalId};

use dsbackup_service::backup::demand_dump;
use dsbackup_service::schedule::{self, retention};

use crate::auth::Caller;
use crate::extract::{ApiJson, QueryMap};
use crate::present_backup;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

fn dump_query(state: &AppState, caller: &Caller, q: &QueryMap) -> Result<bool, ApiError> {
    let dump = q.bool("Dump")?.unwrap_or(false);
    if dump {
        demand_dump(state.service(), caller)?;
    }
    Ok(dump)
}

/// `POST createbackupschedule`: `true`.
#[utoipa::path(
    post,
    path = "/api/2.0/backup/createbackupschedule",
    operation_id = "createBackupSchedule",
    tag = "Backup",
    request_body = ScheduleRequest,
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<Envelope<bool>, ApiError> {
    caller.admin(Scope::write("backup"))?;
    schedule::create(
        state.service(),
        &caller,
        present_backup::schedule_spec(req)?,
    )
    .await?;
    Ok(Envelope::of(true))
}

/// `GET getbackupschedule?Dump`: no `response` when there is no schedule.
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getbackupschedule",
    operation_id = "getBackupSchedule",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<ScheduleDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<ScheduleDto>, ApiError> {
    caller.admin(Scope::read("backup"))?;
    let dump = dump_query(&state, &caller, &q)?;
    let s = state
        .catalog()
        .schedule(schedule::tenant(&caller, dump))
        .await?;
    Ok(Envelope(s.map(|s| {
        present_backup::schedule(state.service(), &s, &caller.portal.time_zone)
    })))
}

/// `DELETE deletebackupschedule?Dump`: `true`, whether or not there was one. Archives stay.
#[utoipa::path(
    delete,
    path = "/api/2.0/backup/deletebackupschedule",
    operation_id = "deleteBackupSchedule",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<bool>, ApiError> {
    caller.admin(Scope::write("backup"))?;
    let dump = dump_query(&state, &caller, &q)?;
    state
        .catalog()
        .delete_schedule(schedule::tenant(&caller, dump))
        .await?;
    Ok(Envelope::of(true))
}

/// `POST prune?dryRun=true|false&forgetMissing=true|false`: the caller's portal (and the
/// dumps, for the instance owner). `forgetMissing=true` marks every record whose archive is not
/// found removed now, instead of after the configured checks over time.
#[utoipa::path(
    post,
    path = "/api/2.0/backup/prune",
    operation_id = "schedulePrune",
    tag = "dsbackup",
    params(("dryRun" = Option<bool>, Query, description = "Only say what would be done"), ("forgetMissing" = Option<bool>, Query, description = "Mark records whose archive is missing removed now")),
    responses((status = 200, description = "What retention did or would do", body = Wrapper<serde_json::Value>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn prune(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<retention::Plan>, ApiError> {
    let dry = q.bool("dryRun")?.unwrap_or(false);
    let opts = retention::Options {
        forget_missing: q.bool("forgetMissing")?.unwrap_or(false),
    };
    caller.admin(if dry {
        Scope::read("backup")
    } else {
        Scope::write("backup")
    })?;
    let mut tenants: Vec<PortalId> = vec![caller.portal.id];
    if demand_dump(state.service(), &caller).is_ok() {
        tenants.push(DUMP_TENANT);
    }
    let plan = retention::plan(state.service(), Utc::now(), Some(&tenants), opts).await?;
    if !dry {
        retention::execute(state.service(), &plan).await;
    }
    Ok(Envelope::of(plan))
}
