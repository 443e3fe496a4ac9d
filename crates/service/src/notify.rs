//! Notifications: a JSON POST to the configured `notify_webhook` (a log line when none is
//! configured), and for alerts — a failed scheduled backup, a schedule that has not succeeded
//! for twice its period — also an e-mail through `[smtp]` (`mail.rs`). Failures to notify are
//! logged, never fatal.

pub mod mail;

use chrono::{DateTime, Utc};
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

/// The e-mail addresses of a portal's owner and DocSpace admins.
async fn admins(state: &Service, portal: &Portal) -> Vec<String> {
    let users = state.catalog().users(portal.id).await.unwrap_or_default();
    users
        .iter()
        .filter(|u| matches!(u.role, Role::Owner | Role::DocSpaceAdmin))
        .map(|u| u.email.clone())
        .collect()
}

/// Sends an alert: the webhook body, and the e-mail when `[smtp]` is configured.
async fn alert(state: &Service, body: serde_json::Value, recipients: &[String], mail: mail::Mail) {
    send(state, body).await;
    if !state.config().smtp.enabled() {
        return;
    }
    match mail::send(state.config(), recipients, &mail).await {
        Ok(()) => tracing::info!(subject = %mail.subject, "alert e-mail sent"),
        Err(e) => tracing::warn!(error = %e, "alert e-mail not sent"),
    }
}

/// Where the server is, for the end of an alert e-mail.
fn signature(state: &Service) -> String {
    format!(
        "\n--\ndsbackup on {} ({})\n",
        state.config().node_id,
        state.public_url()
    )
}

/// Tells a portal's owner and admins that a scheduled backup failed.
pub async fn schedule_failed(state: &Service, portal: &Portal, error: &str) {
    let recipients = admins(state, portal).await;
    let body = json!({"event": "scheduled_backup_failed", "portal": portal.alias, "recipients": recipients, "error": error});
    let mail = mail::Mail {
        subject: format!("dsbackup: the scheduled backup of {} failed", portal.alias),
        text: format!(
            "The scheduled backup of portal {} failed at {}:\n\n  {error}\n\nThe schedule stays; \
             the backup is tried again.\n{}",
            portal.alias,
            Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
            signature(state)
        ),
    };
    alert(state, body, &recipients, mail).await;
}

/// Tells a portal's owner and admins that its schedule has not produced a backup since
/// `since` (the last success, or when the schedule was saved), over twice its period.
pub async fn schedule_overdue(
    state: &Service,
    portal: &Portal,
    since: DateTime<Utc>,
    succeeded: bool,
    period: &str,
) {
    let recipients = admins(state, portal).await;
    let since_text = since.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let body = json!({
        "event": "scheduled_backup_overdue", "portal": portal.alias, "recipients": recipients,
        "period": period, "since": since.to_rfc3339(), "lastSuccess": succeeded.then(|| since.to_rfc3339()),
    });
    let what = if succeeded {
        format!(
            "The last successful scheduled backup of portal {} was made at {since_text}",
            portal.alias
        )
    } else {
        format!(
            "Portal {} has had no successful scheduled backup since its schedule was saved at {since_text}",
            portal.alias
        )
    };
    let mail = mail::Mail {
        subject: format!(
            "dsbackup: no scheduled backup of {} for twice its period",
            portal.alias
        ),
        text: format!(
            "{what}; the schedule runs {period}, so two runs were missed or failed.\n{}",
            signature(state)
        ),
    };
    alert(state, body, &recipients, mail).await;
}
