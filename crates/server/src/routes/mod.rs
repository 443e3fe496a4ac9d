//! The router: every path dsbackup answers, and the middleware stack around them.
//! One file per endpoint family; the wire format is written by `wire::finalize`.

mod authentication;
pub mod backup;
mod files;
mod keys;
pub mod openapi;
mod people;
mod portal;
mod restore;
mod schedule;
mod settings;
mod thirdparty;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};

use crate::state::AppState;
use crate::wire::{self, ApiError};

pub use portal::ADMIN_SECRET_HEADER;

async fn healthz() -> StatusCode {
    StatusCode::OK
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Refuses a body whose declared length is over the limit before reading any of it.
async fn declared_length_limit(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config().max_body_bytes as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    next.run(req).await
}

/// Builds the application with its middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.config().max_body_bytes;
    let api = Router::new()
        .route(
            "/api/2.0/authentication",
            post(authentication::login).get(authentication::is_authenticated),
        )
        .route(
            "/api/2.0/authentication/logout",
            post(authentication::logout),
        )
        .route("/api/2.0/settings/storage", get(settings::storages))
        .route(
            "/api/2.0/settings/storage/backup",
            get(settings::backup_storages),
        )
        .route("/api/2.0/settings/authservice", post(settings::set_auth))
        .route("/api/2.0/keys", get(keys::list).post(keys::create))
        .route("/api/2.0/keys/permissions", get(keys::permissions))
        .route("/api/2.0/keys/@self", get(keys::current))
        .route(
            "/api/2.0/keys/{key_id}",
            put(keys::update).delete(keys::delete),
        )
        .route("/api/2.0/people", post(people::create))
        .route("/api/2.0/people/active", post(people::create_active))
        .route("/api/2.0/people/@self", get(people::me))
        .route(
            "/api/2.0/people/{user_id}",
            axum::routing::delete(people::remove),
        )
        .route(
            "/api/2.0/people/{user_id}/password",
            put(people::set_password),
        )
        .route(
            "/api/2.0/files/rooms",
            get(files::rooms).post(files::create_room),
        )
        .route(
            "/api/2.0/files/folder/{folder_id}",
            post(files::create_folder),
        )
        .route("/api/2.0/files/file/{file_id}", get(files::file_info))
        .route("/api/2.0/files/{folder_id}", get(files::folder))
        .route(
            "/api/2.0/files/thirdparty/backup",
            get(thirdparty::get).post(thirdparty::save),
        )
        .route("/filehandler.ashx", get(files::download))
        .route("/api/2.0/backup/startbackup", post(backup::start))
        .route("/api/2.0/backup/getbackupprogress", get(backup::progress))
        .route("/api/2.0/backup/cancelbackup", post(backup::cancel))
        .route("/api/2.0/backup/getbackuphistory", get(backup::history))
        .route(
            "/api/2.0/backup/deletebackup/{id}",
            axum::routing::delete(backup::delete),
        )
        .route(
            "/api/2.0/backup/deletebackuphistory",
            axum::routing::delete(backup::delete_history),
        )
        .route("/api/2.0/backup/getbackupscount", get(backup::count))
        .route(
            "/api/2.0/backup/getbackupscountbypaid",
            get(backup::count_by_paid),
        )
        .route(
            "/api/2.0/backup/getservicestate",
            get(backup::service_state),
        )
        .route("/api/2.0/backup/backuptmp", get(backup::tmp))
        .route("/api/2.0/backup/download/{id}", get(backup::download))
        .route("/api/2.0/backup/startrestore", post(restore::start))
        .route(
            "/api/2.0/backup/createbackupschedule",
            post(schedule::create),
        )
        .route("/api/2.0/backup/getbackupschedule", get(schedule::get))
        .route(
            "/api/2.0/backup/deletebackupschedule",
            axum::routing::delete(schedule::delete),
        )
        .route("/api/2.0/backup/prune", post(schedule::prune))
        .route("/api/2.0/backup/getrestoreprogress", get(restore::progress))
        .route("/apisystem/portal/register", post(portal::register))
        .route(
            "/api/2.0/portal/deleteportalimmediately",
            axum::routing::delete(portal::delete_immediately),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            declared_length_limit,
        ));
    let uploads = Router::new()
        .route("/api/2.0/files/{folder_id}/upload", post(files::upload))
        .route("/backupFileUpload.ashx", post(restore::upload))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .merge(api)
        .merge(uploads)
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::serve))
        .route("/openapi.json", get(openapi::serve))
        .route("/", get(crate::console::index))
        .route("/console/{*file}", get(crate::console::file))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::limit,
        ))
        .layer(middleware::from_fn(wire::finalize))
        // Per route (so the route template is known), outside the rate limiter: 429s count too.
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(middleware::from_fn(crate::log_request))
        .with_state(state)
}
