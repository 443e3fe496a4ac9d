//! `GET /metrics`: Prometheus text over HTTP after a backup and a restore; the optional bearer
//! token.

use reqwest::Method;
use serde_json::json;

use crate::backup::{local, rig, rig_with, start, wait_done};
use crate::harness::send;
use crate::restore::restore;

pub(crate) async fn scrape(
    s: &crate::harness::TestServer,
    token: Option<&str>,
) -> (u16, String, String) {
    let mut req = s.req(Method::GET, "/metrics");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, res.text().await.unwrap())
}

/// The value of the sample whose line starts with `series` (name and labels as written).
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_backups_restores_and_requests() {
    let r = rig().await;
    start(&r.s, &local(&r.root)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let (_, history) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackuphistory")).await;
    let id = history["response"][0]["id"].as_str().unwrap().to_string();
    let restored = restore(&r.s, json!({"backupId": id, "storageType": "Local"})).await;
    assert_eq!(restored["error"], "", "{restored}");

    let (status, kind, text) = scrape(&r.s, None).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/plain"), "{kind}");
    let completed = sample(
        &text,
        r#"dsbackup_backups_total{result="completed",storage="local",trigger="manual"}"#,
    );
    assert_eq!(completed, Some(1.0), "{text}");
    let restores = sample(
        &text,
        r#"dsbackup_restores_total{result="completed",storage="local"}"#,
    );
    assert_eq!(restores, Some(1.0), "{text}");
    assert!(
        text.contains(
            r#"dsbackup_backup_duration_seconds_bucket{result="completed",storage="local",le="#
        ),
        "{text}"
    );
    let bytes = sample(&text, r#"dsbackup_backup_size_bytes_sum{storage="local"}"#).unwrap();
    assert_eq!(
        bytes,
        history["response"][0]["size"].as_f64().unwrap(),
        "{text}"
    );
    let last = sample(
        &text,
        r#"dsbackup_last_successful_backup_timestamp_seconds{portal="default"}"#,
    )
    .unwrap();
    assert!(
        (chrono::Utc::now().timestamp() as f64 - last).abs() < 600.0,
        "{last}"
    );
    assert_eq!(
        sample(&text, r#"dsbackup_jobs_running{kind="backup"}"#),
        Some(0.0)
    );
    assert!(
        sample(
            &text,
            r#"dsbackup_http_requests_total{route="/api/2.0/backup/startbackup",method="POST",status="200"}"#
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    // Route templates, never raw paths (ids would make a series each).
    assert!(!text.contains(&id), "{text}");
}

#[tokio::test]
async fn a_configured_token_guards_metrics() {
    let r = rig_with("metrics_token = \"scrape-token-123456\"", Vec::new()).await;
    assert_eq!(scrape(&r.s, None).await.0, 401);
    assert_eq!(scrape(&r.s, Some("wrong")).await.0, 401);
    let (status, _, text) = scrape(&r.s, Some("scrape-token-123456")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("dsbackup_jobs_running"), "{text}");
}

#[tokio::test]
async fn metrics_tell_each_schedules_last_success_and_the_scheduler_lag() {
    use chrono::Timelike;
    let r = rig_with("scheduler_period_secs = 1", Vec::new()).await;
    let hour = chrono::Utc::now().hour() as i64;
    let body = crate::schedule::local_schedule(&r.root, json!("EveryDay"), hour, None, 1);
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&body),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let series = r#"dsbackup_schedule_last_success_timestamp_seconds{tenant="1",portal="default"}"#;
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(&r.s, None).await.2;
        if sample(&text, series).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let last = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - 60.0..=now + 1.0).contains(&last), "{last} vs {now}");
    // The run was due at today's hour:00, so it started that many seconds late.
    let lag = sample(&text, "dsbackup_scheduler_lag_seconds_count").unwrap_or_default();
    assert_eq!(lag, 1.0, "{text}");
    let late = sample(&text, "dsbackup_scheduler_lag_seconds_sum").unwrap();
    let minute = chrono::Utc::now().minute() as f64 * 60.0;
    assert!(
        late >= minute - 60.0 && late <= minute + 120.0,
        "{late} vs {minute}"
    );
}
