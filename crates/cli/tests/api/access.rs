//! Who sees backup archives, and what a storage outage does to history: archives kept in
//! Documents exist for portal admins only; listing history never writes, and retention gives a
//! record up only after repeated checks over time.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::{history, local, rig, rig_with, start, wait_done};
use crate::harness::*;
use crate::restore::restore;

async fn upload(s: &TestServer, folder: i64, name: &str) -> i64 {
    let part =
        reqwest::multipart::Part::bytes(b"plain document".to_vec()).file_name(name.to_string());
    let (st, v) = send(
        s.owner(Method::POST, &format!("/api/2.0/files/{folder}/upload"))
            .multipart(reqwest::multipart::Form::new().part("file", part)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["response"]["id"].as_i64().unwrap()
}

fn file_ids(listing: &Value) -> Vec<i64> {
    listing["response"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect()
}

async fn download(s: &TestServer, cred: &str, id: i64) -> (u16, Value) {
    send(s.as_(
        cred,
        Method::GET,
        &format!("/filehandler.ashx?action=download&fileid={id}"),
    ))
    .await
}

#[tokio::test]
async fn documents_backups_are_for_portal_admins_only() {
    let r = rig().await;
    let s = &r.s;
    let (_, room) = send(
        s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "Shared", "roomType": 5})),
    )
    .await;
    let room_id = room["response"]["id"].as_i64().unwrap();
    let doc = upload(s, room_id, "notes.txt").await;
    start(
        s,
        &json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": room_id}]}),
    )
    .await;
    assert_eq!(wait_done(s, false).await["status"], 2);
    let (_, listing) = send(s.owner(Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
    let archive = *file_ids(&listing)
        .iter()
        .find(|id| **id != doc)
        .expect("the owner sees the archive");
    let (_, unknown) = send(s.owner(Method::GET, "/api/2.0/files/file/999999")).await;

    let guest = s.member("Guest", "guest@example.org").await;
    let user = s.member("User", "user@example.org").await;
    let room_admin = s.member("RoomAdmin", "ra@example.org").await;
    let admin = s.member("DocSpaceAdmin", "admin@example.org").await;
    for (who, cred) in [
        ("Guest", &guest),
        ("User", &user),
        ("RoomAdmin", &room_admin),
    ] {
        let (st, listing) =
            send(s.as_(cred, Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
        assert_eq!(st, 200, "{who}: {listing}");
        assert_eq!(
            file_ids(&listing),
            vec![doc],
            "{who} does not see it listed"
        );
        assert_eq!(listing["response"]["total"], 1, "{who}: {listing}");
        assert_eq!(listing["response"]["current"]["filesCount"], 1, "{who}");
        assert!(
            !listing.to_string().contains(".tar.zst"),
            "{who} does not see its title: {listing}"
        );
        let (_, rooms) = send(s.as_(cred, Method::GET, "/api/2.0/files/rooms")).await;
        assert_eq!(rooms["response"]["folders"][0]["filesCount"], 1, "{who}");

        let (st, info) =
            send(s.as_(cred, Method::GET, &format!("/api/2.0/files/file/{archive}"))).await;
        assert_error(st, &info, 404);
        assert_eq!(
            info["error"], unknown["error"],
            "{who}: exactly like a missing file"
        );
        let (st, body) = download(s, cred, archive).await;
        assert_error(st, &body, 404);
        // Their own documents stay readable.
        assert_eq!(download(s, cred, doc).await.0, 200, "{who}");
    }
    for (who, cred) in [("Owner", OWNER_KEY), ("DocSpaceAdmin", admin.as_str())] {
        let (_, listing) =
            send(s.as_(cred, Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
        assert_eq!(listing["response"]["total"], 2, "{who}: {listing}");
        let (st, info) =
            send(s.as_(cred, Method::GET, &format!("/api/2.0/files/file/{archive}"))).await;
        assert_eq!(st, 200, "{who}: {info}");
        let res = s
            .as_(
                cred,
                Method::GET,
                &format!("/filehandler.ashx?action=download&fileid={archive}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{who}");
        dsbackup_engine::verify(&res.bytes().await.unwrap()[..], None).unwrap();
    }
}

fn db(s: &TestServer) -> rusqlite::Connection {
    rusqlite::Connection::open(s.data_dir.join("catalog.db")).unwrap()
}

/// `(removed, missing_checks)` of every record, by id.
fn states(s: &TestServer) -> Vec<(String, bool, i64)> {
    let db = db(s);
    let mut stmt = db
        .prepare("SELECT id, removed, missing_checks FROM backups ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn prune(s: &TestServer, query: &str) -> Vec<String> {
    let (st, v) = send(s.owner(Method::POST, &format!("/api/2.0/backup/prune?{query}"))).await;
    assert_eq!(st, 200, "{v}");
    v["response"]["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect()
}

/// `dsbackup prune ARGS` against `s`; its output.
fn cli_prune(s: &TestServer, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .arg("prune")
        .args(args)
        .env("DSBACKUP_URL", &s.base)
        .env("DSBACKUP_KEY", OWNER_KEY)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

#[tokio::test]
async fn a_storage_outage_loses_no_history() {
    // Two checks over two seconds confirm a missing archive; the scheduler stays out of it.
    let r = rig_with(
        "missing_archive_checks = 2\nmissing_archive_secs = 2\nscheduler_period_secs = 86400",
        Vec::new(),
    )
    .await;
    let s = &r.s;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(start(s, &local(&r.root)).await["taskId"].clone());
        assert_eq!(wait_done(s, false).await["status"], 2);
    }
    let before = states(s);
    assert_eq!(before.len(), 2);

    // The backup disk goes away: listing history and counts change nothing.
    let away = r.root.with_extension("unmounted");
    std::fs::rename(&r.root, &away).unwrap();
    for _ in 0..3 {
        assert_eq!(history(s, false).await.len(), 2, "records are still listed");
        let (st, _) = send(s.owner(Method::GET, "/api/2.0/backup/getbackupscount")).await;
        assert_eq!(st, 200);
    }
    assert_eq!(states(s), before, "a GET never writes");
    // One prune notes the miss; a second one right after is not enough time.
    assert_eq!(
        prune(s, "dryRun=false").await,
        ["noteMissing", "noteMissing"]
    );
    assert_eq!(
        prune(s, "dryRun=false").await,
        ["noteMissing", "noteMissing"]
    );
    assert!(
        states(s)
            .iter()
            .all(|(_, removed, checks)| !removed && *checks == 2),
        "{:?}",
        states(s)
    );
    assert_eq!(history(s, false).await.len(), 2);

    // The disk comes back: the next pass clears the note, and restore by id works.
    std::fs::rename(&away, &r.root).unwrap();
    assert_eq!(
        prune(s, "dryRun=false").await,
        ["clearMissing", "clearMissing"]
    );
    assert_eq!(states(s), before);
    let done = restore(
        s,
        json!({"backupId": ids[1], "storageType": 3, "storageParams": []}),
    )
    .await;
    assert_eq!(done["status"], 2, "restore by id after the outage: {done}");
    assert!(done["error"].as_str().unwrap_or("").is_empty(), "{done}");

    // Gone for good: a dry run or a forced dry run changes nothing ...
    std::fs::rename(&r.root, &away).unwrap();
    let text = cli_prune(s, &["--dry-run", "--forget-missing"]);
    assert_eq!(text.matches("would mark removed").count(), 2, "{text}");
    assert_eq!(states(s), before);
    // ... and the records go only once two checks two seconds apart missed them.
    assert_eq!(
        prune(s, "dryRun=false").await,
        ["noteMissing", "noteMissing"]
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        prune(s, "dryRun=true").await,
        ["markRemoved", "markRemoved"]
    );
    assert_eq!(
        history(s, false).await.len(),
        2,
        "a dry run changes nothing"
    );
    assert_eq!(
        prune(s, "dryRun=false").await,
        ["markRemoved", "markRemoved"]
    );
    assert!(history(s, false).await.is_empty());
    assert!(states(s).iter().all(|(_, removed, _)| *removed));
}

#[tokio::test]
async fn forget_missing_gives_up_at_once() {
    let r = rig().await;
    let s = &r.s;
    start(s, &local(&r.root)).await;
    wait_done(s, false).await;
    let name = history(s, false).await[0]["fileName"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(r.root.join(&name)).unwrap();
    assert_eq!(history(s, false).await.len(), 1, "still listed");
    assert_eq!(prune(s, "dryRun=false").await, ["noteMissing"]);
    assert_eq!(history(s, false).await.len(), 1, "the defaults wait a day");
    let text = cli_prune(s, &["--forget-missing"]);
    assert!(text.contains("did mark removed"), "{text}");
    assert!(history(s, false).await.is_empty());
}
