//! `GET /metrics`: the Prometheus text format, from the `metrics` facade and the
//! `metrics-exporter-prometheus` recorder (installed once per process by [`install`]). What it
//! holds: the service's job outcomes (`dsbackup_service::metrics`), HTTP requests by route
//! template and status (the [`track`] middleware), and, read when scraped, the running jobs
//! each portal's last successful backup and each schedule's last success. `metrics_token` in the configuration makes it
//! ask for `Authorization: Bearer <token>`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dsbackup_core::{CoreResult, DUMP_TENANT, secret};
use dsbackup_service::metrics::SCHEDULE_LAST_SUCCESS;
use dsbackup_service::schedule::overdue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;
use crate::wire::ApiError;

/// HTTP requests answered, by `route` (the route template, never the raw path), `method`
/// and `status`.
pub const HTTP_REQUESTS: &str = "dsbackup_http_requests_total";
/// How long requests took, by `route`.
pub const HTTP_SECONDS: &str = "dsbackup_http_request_duration_seconds";
/// Jobs not yet ended, by `kind` (`backup`, `restore`).
pub const JOBS_RUNNING: &str = "dsbackup_jobs_running";
/// When each portal's newest live backup was made (Unix seconds), by `portal` alias.
pub const LAST_SUCCESS: &str = "dsbackup_last_successful_backup_timestamp_seconds";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder on first call; the same handle after.
/// `None` when another recorder was installed first (then `/metrics` answers 404).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];
            let bytes = [1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &bytes))
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Middleware: counts every request by its route template and status, and times it.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!(HTTP_SECONDS, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    res
}

/// Sets the gauges read from the service's state when scraped.
async fn refresh(state: &AppState) -> CoreResult<()> {
    let jobs = state.service().jobs().all();
    for (kind, restore) in [("backup", false), ("restore", true)] {
        let running = jobs
            .iter()
            .map(|j| j.snapshot())
            .filter(|s| s.restore == restore && !s.is_completed())
            .count();
        metrics::gauge!(JOBS_RUNNING, "kind" => kind).set(running as f64);
    }
    let portals = state.catalog().portals().await?;
    for s in state.catalog().schedules().await? {
        let Some(t) = overdue::last_success(state.service(), s.tenant_id).await? else {
            continue;
        };
        let alias = if s.tenant_id == DUMP_TENANT {
            "instance".to_string()
        } else {
            match portals.iter().find(|p| p.id == s.tenant_id) {
                Some(p) => p.alias.clone(),
                None => continue,
            }
        };
        metrics::gauge!(SCHEDULE_LAST_SUCCESS, "tenant" => s.tenant_id.to_string(), "portal" => alias)
            .set(t.timestamp() as f64);
    }
    for portal in portals {
        let newest = state
            .catalog()
            .live_backups(portal.id)
            .await?
            .into_iter()
            .map(|r| r.created_on)
            .max();
        if let Some(t) = newest {
            metrics::gauge!(LAST_SUCCESS, "portal" => portal.alias.clone())
                .set(t.timestamp() as f64);
        }
    }
    Ok(())
}

/// `GET /metrics`: 401 without the configured bearer token, 404 when no recorder is installed.
pub async fn serve(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = &state.config().metrics_token.0;
    if !token.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !secret::constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    let handle = install().ok_or_else(ApiError::not_found)?;
    refresh(&state).await?;
    let mut res = handle.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}
