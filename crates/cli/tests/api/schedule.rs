//! Schedules and retention: exact shapes and validation, a passed hour firing once, retention
//! keeping the newest scheduled backups and every manual one, failures recorded and recovered
//! from, expiry and prune.

use std::time::Duration;

use chrono::Timelike;
use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;

async fn get_schedule(s: &TestServer, dump: bool) -> Value {
    let (st, v) = send(s.owner(
        Method::GET,
        &format!("/api/2.0/backup/getbackupschedule?Dump={dump}"),
    ))
    .await;
    assert_eq!(st, 200, "{v}");
    v
}

pub fn local_schedule(
    dir: &std::path::Path,
    period: Value,
    hour: i64,
    day: Option<i64>,
    keep: i64,
) -> Value {
    json!({
        "storageType": "Local",
        "storageParams": [{"key": "filePath", "value": dir.display().to_string()}],
        "backupsStored": keep,
        "cronParams": {"period": period, "hour": hour, "day": day},
        "dump": false
    })
}

#[tokio::test]
async fn schedule_shapes_and_validation() {
    schedule_shapes(&rig().await).await;
}

/// A schedule set in every period, read back in DocSpace's shape, refused when bad, deleted.
pub async fn schedule_shapes(r: &Rig) {
    let v = get_schedule(&r.s, false).await;
    assert!(
        v.get("response").is_none() && v["count"] == 0,
        "no schedule: {v}"
    );
    for (period, int, day) in [
        (json!("EveryDay"), 0, None),
        (json!(1), 1, Some(1)),
        (json!("everymonth"), 2, Some(31)),
        (json!("EveryWeek"), 1, Some(7)),
    ] {
        for hour in [0, 23] {
            let (st, v) = send(
                r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
                    .json(&local_schedule(&r.root, period.clone(), hour, day, 30)),
            )
            .await;
            assert_eq!(
                (st, v["response"].clone()),
                (200, json!(true)),
                "{period} {hour}: {v}"
            );
            let g = get_schedule(&r.s, false).await["response"].clone();
            assert_eq!(g["storageType"], 3);
            assert_eq!(
                g["storageParams"]["folderId"],
                r.root.display().to_string(),
                "folderId carries the base path"
            );
            assert_eq!(
                g["cronParams"],
                json!({"period": int, "hour": hour, "day": day.unwrap_or(0)})
            );
            assert_eq!(g["backupsStored"], 30);
            assert_eq!(g["dump"], false);
            assert!(
                g["lastBackupTime"]
                    .as_str()
                    .unwrap()
                    .starts_with("0001-01-01"),
                "{g}"
            );
            assert!(g["nextBackupTime"].is_string());
            assert!(g.get("lastError").is_none());
        }
    }
    let bad: Vec<(Value, u16, &str)> = vec![
        (
            local_schedule(&r.root, json!(0), 1, None, 0),
            400,
            "backupStored must be 1 - 30",
        ),
        (
            local_schedule(&r.root, json!(0), 1, None, 31),
            400,
            "backupStored must be 1 - 30",
        ),
        (local_schedule(&r.root, json!(0), 24, None, 1), 400, "hour"),
        (local_schedule(&r.root, json!(0), -1, None, 1), 400, "hour"),
        (
            local_schedule(&r.root, json!("EveryWeek"), 1, Some(0), 1),
            400,
            "1 - 7",
        ),
        (
            local_schedule(&r.root, json!("EveryWeek"), 1, Some(8), 1),
            400,
            "1 - 7",
        ),
        (
            local_schedule(&r.root, json!("EveryWeek"), 1, None, 1),
            400,
            "1 - 7",
        ),
        (
            local_schedule(&r.root, json!("EveryMonth"), 1, Some(32), 1),
            400,
            "1 - 31",
        ),
        (
            local_schedule(&r.root, json!("Hourly"), 1, None, 1),
            400,
            "BackupPeriod",
        ),
        (
            local_schedule(&r.root, json!(3), 1, None, 1),
            400,
            "BackupPeriod",
        ),
        (
            json!({"storageType": 4, "backupsStored": 1}),
            400,
            "cronParams is required",
        ),
        (
            local_schedule(std::path::Path::new("/etc"), json!(0), 1, None, 1),
            403,
            "outside",
        ),
        (
            json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": "x"}], "cronParams": {"period": 0, "hour": 1}}),
            400,
            "wrong folder type",
        ),
    ];
    let before = get_schedule(&r.s, false).await["response"].clone();
    for (body, code, needle) in bad {
        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
                .json(&body),
        )
        .await;
        let msg = assert_error(st, &v, code);
        assert!(
            msg.contains(needle),
            "{body}: {msg:?} should mention {needle:?}"
        );
    }
    assert_eq!(
        get_schedule(&r.s, false).await["response"]["cronParams"],
        before["cronParams"],
        "a bad request changes nothing"
    );
    let guest = r.s.member("RoomAdmin", "ra@example.org").await;
    let (st, v) = send(r.s.as_(&guest, Method::GET, "/api/2.0/backup/getbackupschedule")).await;
    assert_error(st, &v, 403);
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        "/api/2.0/backup/deletebackupschedule?Dump=false",
    ))
    .await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)));
    assert!(get_schedule(&r.s, false).await.get("response").is_none());
    let (st, v) = send(r.s.owner(Method::DELETE, "/api/2.0/backup/deletebackupschedule")).await;
    assert_eq!(
        (st, v["response"].clone()),
        (200, json!(true)),
        "deleting nothing is true"
    );
}

fn scheduled_count(s: &TestServer) -> (i64, i64) {
    let db = rusqlite::Connection::open(s.data_dir.join("catalog.db")).unwrap();
    let sched: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM backups WHERE is_scheduled = 1 AND removed = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let manual: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM backups WHERE is_scheduled = 0 AND removed = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    (sched, manual)
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn a_passed_hour_fires_once_and_retention_keeps_the_newest() {
    let r = rig_with("scheduler_period_secs = 1", Vec::new()).await;
    // Two manual backups, never pruned.
    for _ in 0..2 {
        start(&r.s, &local(&r.root)).await;
        wait_done(&r.s, false).await;
    }
    let hour = chrono::Utc::now().hour() as i64;
    let body = local_schedule(&r.root, json!("EveryDay"), hour, None, 2);
    send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&body),
    )
    .await;
    wait_until("the first scheduled run", || scheduled_count(&r.s).0 == 1).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(scheduled_count(&r.s), (1, 2), "one run, not one per tick");
    let g = get_schedule(&r.s, false).await["response"].clone();
    assert!(
        !g["lastBackupTime"].as_str().unwrap().starts_with("0001"),
        "{g}"
    );
    let next = chrono::DateTime::parse_from_rfc3339(g["nextBackupTime"].as_str().unwrap()).unwrap();
    assert!(
        next > chrono::Utc::now() + chrono::Duration::hours(22),
        "next is tomorrow: {g}"
    );
    // Saving the schedule again starts it afresh: three more runs, two kept.
    for n in 2..=4 {
        send(
            r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
                .json(&body),
        )
        .await;
        let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
        wait_until("another scheduled run", || {
            db.query_row(
                "SELECT COUNT(*) FROM backups WHERE is_scheduled = 1",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
                == n
        })
        .await;
    }
    wait_until("retention", || scheduled_count(&r.s) == (2, 2)).await;
    let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT name FROM backups WHERE removed = 0 ORDER BY created_on")
        .unwrap();
    let mut live: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let newest_scheduled: Vec<String> = db
        .prepare("SELECT name FROM backups WHERE is_scheduled = 1 ORDER BY created_on DESC LIMIT 2")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for n in &newest_scheduled {
        assert!(live.contains(n), "the newest scheduled backups are kept");
    }
    let mut files: Vec<String> = std::fs::read_dir(&r.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    live.sort();
    assert_eq!(files, live, "exactly the kept archives remain");
    assert_eq!(history(&r.s, false).await.len(), 4);
}

#[tokio::test]
async fn a_failing_schedule_is_kept_reported_and_recovers() {
    let r = rig_with(
        "scheduler_period_secs = 1\nscheduler_retry_secs = 1",
        Vec::new(),
    )
    .await;
    let target = r.root.join("nightly");
    std::fs::create_dir_all(&target).unwrap();
    let hour = chrono::Utc::now().hour() as i64;
    send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&local_schedule(&target, json!(0), hour, None, 3)),
    )
    .await;
    std::fs::remove_dir_all(&target).unwrap();
    let mut g = Value::Null;
    for _ in 0..200 {
        g = get_schedule(&r.s, false).await["response"].clone();
        if g.get("lastError").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = g["lastError"]
        .as_str()
        .unwrap_or_else(|| panic!("no lastError: {g}"));
    assert!(err.contains("does not exist"), "{err}");
    assert!(g["lastErrorTime"].is_string());
    assert!(
        r.s.log().contains("scheduled backup failed"),
        "the failure is reported"
    );
    assert!(history(&r.s, false).await.is_empty());
    // The cause fixed, the next run succeeds and clears the error; the schedule was never lost.
    std::fs::create_dir_all(&target).unwrap();
    wait_until("the retried run", || scheduled_count(&r.s).0 == 1).await;
    for _ in 0..100 {
        g = get_schedule(&r.s, false).await["response"].clone();
        if g.get("lastError").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(g.get("lastError").is_none(), "{g}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}

#[tokio::test]
async fn expired_datastore_backups_are_pruned_and_dry_runs_change_nothing() {
    let r = rig().await;
    let p = start(&r.s, &json!({"storageType": 4})).await;
    wait_done(&r.s, false).await;
    start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let id = p["taskId"].as_str().unwrap();
    let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
    db.execute(
        "UPDATE backups SET expires_on = '2020-01-01T00:00:00.000000Z' WHERE id = ?1",
        [id],
    )
    .unwrap();
    let name: String = db
        .query_row(
            "SELECT storage_path FROM backups WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    let archive = r.s.data_dir.join("portals/1/backups").join(&name);
    assert!(archive.exists());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .args(["prune", "--dry-run"])
        .env("DSBACKUP_URL", &r.s.base)
        .env("DSBACKUP_KEY", OWNER_KEY)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("would delete") && text.contains("expired"),
        "{text}"
    );
    assert!(archive.exists(), "a dry run changes nothing");
    assert_eq!(history(&r.s, false).await.len(), 2);

    let (st, v) = send(r.s.owner(Method::POST, "/api/2.0/backup/prune?dryRun=false")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["response"]["backups"][0]["id"], id);
    assert!(!archive.exists(), "the archive is deleted");
    let h = history(&r.s, false).await;
    assert_eq!(h.len(), 1, "the manual Local backup stays");
    assert_eq!(h[0]["storageType"], 3);
    // A partial archive left by a dead job is a leftover once it is old enough.
    let stale = r.root.join(".partial-dead-default_2020.tar.zst");
    std::fs::write(&stale, b"x").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .args(["prune", "--json"])
        .env("DSBACKUP_URL", &r.s.base)
        .env("DSBACKUP_KEY", OWNER_KEY)
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["leftovers"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("partial"),
        "{plan}"
    );
    assert!(!stale.exists(), "the leftover is removed");
}
