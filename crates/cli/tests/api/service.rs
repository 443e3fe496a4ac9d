//! The service core's promises that are not about one endpoint: links made outside a request.

use chrono::Timelike;
use reqwest::Method;
use serde_json::json;

use crate::backup::*;
use crate::harness::*;

/// Starts a DataStore schedule due now and returns the link of its first run.
async fn scheduled_link(r: &Rig) -> String {
    let hour = chrono::Utc::now().hour();
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&json!({"storageType": 4, "storageParams": [],
                "cronParams": {"period": "EveryDay", "hour": hour}, "backupsStored": 3})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    for _ in 0..600 {
        let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
        if v["response"]["isCompleted"] == true {
            assert_eq!(v["response"]["status"], 2, "{v}");
            return v["response"]["link"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the scheduled backup did not run");
}

#[tokio::test]
async fn scheduled_links_use_the_bound_address_or_the_public_url() {
    let r = rig_with("scheduler_period_secs = 1", vec![]).await;
    let link = scheduled_link(&r).await;
    assert!(link.starts_with(&r.s.base), "{link} vs {}", r.s.base);
    let res = r.s.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200, "the link downloads");

    let r = rig_with(
        "scheduler_period_secs = 1\npublic_url = \"https://backup.example.org/\"",
        vec![],
    )
    .await;
    let link = scheduled_link(&r).await;
    assert!(link.starts_with("https://backup.example.org/"), "{link}");
    assert!(!link.contains("//backup.example.org//"), "{link}");
}

/// SIGTERM while a restore is staging: the process exits within seconds, and after a restart
/// the portal is Active and exactly as it was.
#[tokio::test]
async fn sigterm_during_a_restore_stops_the_server_promptly() {
    let mut r = rig_with(
        "",
        vec![("DSBACKUP_FAULT_DELAY", "restore-extract:60000".into())],
    )
    .await;
    let p = start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    std::fs::write(r.source.join("readme.txt"), "changed after the backup").unwrap();
    let before = crate::restore::tree(&r.source);
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": p["taskId"], "storageType": 3})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    for _ in 0..500 {
        if r.s.log().contains("fault point") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(r.s.log().contains("fault point"), "{}", r.s.log());
    let took = r.s.terminate(std::time::Duration::from_secs(10));
    assert!(
        took.is_some_and(|t| t < std::time::Duration::from_secs(6)),
        "exited in {took:?}:\n{}",
        r.s.log()
    );
    r.s.restart_with(vec![]);
    let (st, _) = send(r.s.owner(Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(st, 200, "the portal is Active again");
    assert_eq!(
        crate::restore::tree(&r.source),
        before,
        "sources as they were"
    );
    let staging = r.s.data_dir.join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
}

async fn wait_log(s: &TestServer, needle: &str) {
    for _ in 0..1000 {
        if s.log().contains(needle) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the log never said {needle:?}:\n{}", s.log());
}

/// Jobs live in the catalog: after kill -9 mid-backup and mid-restore, a restart reports each
/// as Failed and interrupted (and the backup left no history record); a finished job is still
/// reported after a restart.
#[tokio::test]
async fn jobs_survive_restarts_and_crashed_ones_are_reported_interrupted() {
    let mut r = rig_with(
        "",
        vec![("DSBACKUP_FAULT_DELAY", "backup-write:60000".into())],
    )
    .await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&local(&r.root)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let task = v["response"]["taskId"].clone();
    wait_log(&r.s, "fault point").await;
    r.s.kill9();
    r.s.restart_with(vec![]);
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    let p = &v["response"];
    assert_eq!(p["taskId"], task, "{v}");
    assert_eq!(
        (p["isCompleted"].clone(), p["status"].clone()),
        (json!(true), json!(4)),
        "{v}"
    );
    assert!(p["error"].as_str().unwrap().contains("interrupted"), "{v}");
    assert!(
        history(&r.s, false).await.is_empty(),
        "no record for a dead backup"
    );

    // A finished job is still reported after a restart.
    let done = start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    r.s.kill9();
    r.s.restart_with(vec![(
        "DSBACKUP_FAULT_DELAY",
        "restore-extract:60000".into(),
    )]);
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    assert_eq!(v["response"]["taskId"], done["taskId"], "{v}");
    assert_eq!(
        (
            v["response"]["status"].clone(),
            v["response"]["progress"].clone()
        ),
        (json!(2), json!(100))
    );

    // kill -9 mid-restore: after a restart, reported interrupted, the portal Active.
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": done["taskId"], "storageType": 3})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let task = v["response"]["taskId"].clone();
    wait_log(&r.s, "fault point").await;
    r.s.kill9();
    r.s.restart_with(vec![]);
    let (_, v) = send(r.s.req(Method::GET, "/api/2.0/backup/getrestoreprogress")).await;
    let p = &v["response"];
    assert_eq!(p["taskId"], task, "{v}");
    assert_eq!(
        (p["status"].clone(), p["backupProgressEnum"].clone()),
        (json!(4), json!(1)),
        "{v}"
    );
    assert!(p["error"].as_str().unwrap().contains("interrupted"), "{v}");
    let (st, _) = send(r.s.owner(Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(st, 200, "the portal is Active again");
}

/// Archives are reached only through storage backends: a link put in an archive's place is
/// never followed, and looking for an archive on an unmounted disk creates nothing there.
#[tokio::test]
async fn archives_are_read_through_backends_that_follow_no_links_and_create_nothing() {
    let r = rig().await;
    let p = start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    let name = history(&r.s, false).await[0]["fileName"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = r.root.join(&name);
    let elsewhere = r.root.parent().unwrap().join("elsewhere.tar.zst");
    std::fs::rename(&archive, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &archive).unwrap();
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": p["taskId"], "storageType": 3})),
    )
    .await;
    assert_eq!(
        st, 404,
        "a link in the archive's place is not the archive: {v}"
    );

    // The backup disk goes away: listing history looks, and creates nothing in its place.
    std::fs::remove_file(&archive).unwrap();
    let gone = r.root.parent().unwrap().join("unmounted");
    std::fs::rename(&r.root, &gone).unwrap();
    assert_eq!(
        history(&r.s, false).await.len(),
        1,
        "the record stays listed"
    );
    let (st, _) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": p["taskId"], "storageType": 3})),
    )
    .await;
    assert_eq!(st, 404);
    assert!(!r.root.exists(), "nothing was created where the disk was");
}
