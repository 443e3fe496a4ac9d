//! Notifications: a JSON POST to the configured `notify_webhook`, or a log line when none is
//! configured. Failures to notify are logged, never fatal.

use dsbackup_core::{Portal, Role};
use serde_json::json;

use crate::Service;

/// Tells a portal's members a restore ended: every member when `all`, else the owner only.
pub async fn restore_done(state: &Service, portals: &[Portal], all: bool, ok: bool) {
    for p in portals {
        let users = state.catalog().users(p.id).await.unwrap_or_default();
        let recipients: Vec<String> = users
            .iter()
            .filter(|u| all || u.role == Role::Owner)
            .map(|u| u.email.clone())
            .collect();
        let event = if ok {
            "restore_completed"
        } else {
            "restore_failed"
        };
        let body = json!({"event": event, "portal": p.alias, "recipients": recipients});
        send(state, body).await;
    }
}

async fn send(state: &Service, body: serde_json::Value) {
    let url = &state.config().notify_webhook;
    if url.is_empty() {
        tracing::info!(notification = %body, "notify (no webhook configured)");
        return;
    }
    let res = reqwest::Client::new()
        .post(url)
        .json(&body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = r.status().as_u16(), "notify webhook refused"),
        Err(e) => tracing::warn!(error = %e, "notify webhook unreachable"),
    }
}

/// Tells a portal's owner and admins that a scheduled backup failed.
pub async fn schedule_failed(state: &Service, portal: &Portal, error: &str) {
    let users = state.catalog().users(portal.id).await.unwrap_or_default();
    let recipients: Vec<String> = users
        .iter()
        .filter(|u| matches!(u.role, Role::Owner | Role::DocSpaceAdmin))
        .map(|u| u.email.clone())
        .collect();
    let body = json!({"event": "scheduled_backup_failed", "portal": portal.alias, "recipients": recipients, "error": error});
    send(state, body).await;
}
