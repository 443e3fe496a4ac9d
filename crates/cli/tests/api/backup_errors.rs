//! The Backup API's refusals and failures: bad storageParams of every kind, who may call,
//! cancel mid-backup, a source that disappears, a full disk, counts, allowance and dumps.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/2.0/backup/startbackup"),
    ("GET", "/api/2.0/backup/getbackupprogress"),
    ("POST", "/api/2.0/backup/cancelbackup"),
    ("GET", "/api/2.0/backup/getbackuphistory"),
    (
        "DELETE",
        "/api/2.0/backup/deletebackup/3fa85f64-5717-4562-b3fc-2c963f66afa6",
    ),
    ("DELETE", "/api/2.0/backup/deletebackuphistory"),
    ("GET", "/api/2.0/backup/getbackupscount"),
    ("GET", "/api/2.0/backup/getbackupscountbypaid"),
    ("GET", "/api/2.0/backup/getservicestate"),
    ("GET", "/api/2.0/backup/backuptmp"),
];

#[tokio::test]
async fn only_owner_and_admins_may_act() {
    let r = rig().await;
    for (m, path) in ENDPOINTS {
        let (st, v) = send(r.s.req(m.parse().unwrap(), path)).await;
        assert_error(st, &v, 401);
    }
    for role in ["RoomAdmin", "User", "Guest"] {
        let t = r.s.member(role, &format!("{role}@example.org")).await;
        for (m, path) in ENDPOINTS {
            let (st, v) = send(r.s.as_(&t, m.parse().unwrap(), path)).await;
            let msg = assert_error(st, &v, 403);
            assert_eq!(msg, "Access denied", "{role} {path}");
        }
    }
    let admin = r.s.member("DocSpaceAdmin", "admin@example.org").await;
    let (st, v) = send(
        r.s.as_(&admin, Method::POST, "/api/2.0/backup/startbackup")
            .json(&local(&r.root)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    // A key without backup scope is refused; backup:read reads but does not start.
    let (_, k) = send(
        r.s.owner(Method::POST, "/api/2.0/keys")
            .json(&json!({"name": "ro", "permissions": ["backup:read"]})),
    )
    .await;
    let ro = k["response"]["key"].as_str().unwrap().to_string();
    assert_eq!(
        send(r.s.as_(&ro, Method::GET, "/api/2.0/backup/getbackuphistory"))
            .await
            .0,
        200
    );
    assert_eq!(
        send(
            r.s.as_(&ro, Method::POST, "/api/2.0/backup/startbackup")
                .json(&local(&r.root))
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn bad_storage_params_are_refused_and_change_nothing() {
    let outside = tempfile::tempdir().unwrap();
    let r = rig().await;
    let (_, root) = send(r.s.owner(Method::GET, "/api/2.0/files/rooms")).await;
    let rooms_root = root["response"]["current"]["id"].as_i64().unwrap();
    std::os::unix::fs::symlink(outside.path(), r.root.join("escape")).unwrap();
    let lp =
        |p: &str| json!({"storageType": 3, "storageParams": [{"key": "filePath", "value": p}]});
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": "abc"}]}),
            400,
            "wrong folder type",
        ),
        (json!({"storageType": 0}), 400, "wrong folder type"),
        (json!({}), 400, "wrong folder type"),
        (
            json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": 999999}]}),
            404,
            "folder",
        ),
        (
            json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": rooms_root}]}),
            403,
            "Access denied",
        ),
        (
            json!({"storageType": 1, "storageParams": [{"key": "folderId", "value": "5"}]}),
            400,
            "wrong folder type",
        ),
        (
            json!({"storageType": 1, "storageParams": [{"key": "folderId", "value": "sbox-1"}]}),
            404,
            "third-party backup folder sbox-1 was not found",
        ),
        (json!({"storageType": 2}), 400, "bucket is required"),
        (
            json!({"storageType": 5, "storageParams": [{"key": "module", "value": "s3"}]}),
            400,
            "bucket is required",
        ),
        (
            json!({"storageType": 5, "storageParams": [{"key": "module", "value": "dropbox"}]}),
            400,
            "Unknown storage module",
        ),
        (
            json!({"storageType": 5, "storageParams": [{"key": "module", "value": "rackspace"}]}),
            400,
            "not supported",
        ),
        (json!({"storageType": 9}), 400, "BackupStorageType"),
        (json!({"storageType": "Cloud"}), 400, "BackupStorageType"),
        (
            json!({"storageType": 3, "storageParams": {"filePath": "/x"}}),
            400,
            "storageParams",
        ),
        (json!({"storageType": 3}), 400, "filePath is required"),
        (lp("relative/dir"), 400, "absolute"),
        (lp(&format!("{}/../x", r.root.display())), 400, ".."),
        (
            lp(&format!("{}/missing", r.root.display())),
            400,
            "does not exist",
        ),
        (
            lp(&outside.path().display().to_string()),
            403,
            "outside the allowed local roots",
        ),
        (
            lp(&r.root.join("escape").display().to_string()),
            403,
            "outside the allowed local roots",
        ),
        (json!({"storageType": 4, "dump": "yes"}), 400, "dump"),
    ];
    for (body, code, needle) in cases {
        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
                .json(&body),
        )
        .await;
        let msg = assert_error(st, &v, code);
        assert!(
            msg.contains(needle),
            "{body}: {msg:?} should mention {needle:?}"
        );
    }
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .header("content-type", "application/json")
            .body("{\"storageType\":"),
    )
    .await;
    assert_error(st, &v, 400);
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    assert!(v.get("response").is_none(), "no job was started: {v}");
    assert_eq!(v["count"], 0);
    assert!(history(&r.s, false).await.is_empty());
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
}

/// A server whose backups take seconds: zstd level 19 on one thread over ~24 MB.
async fn slow_rig() -> Rig {
    let r = rig_with("zstd_level = 19\nbackup_threads = 1", Vec::new()).await;
    for i in 0..8 {
        let text: Vec<u8> = pseudo_random(3_000_000, i)
            .iter()
            .map(|b| b"abcdefgh \n"[(*b % 10) as usize])
            .collect();
        std::fs::write(r.source.join(format!("part-{i}.txt")), text).unwrap();
    }
    r
}

async fn wait_running_past(s: &TestServer, percent: i64) {
    for _ in 0..2000 {
        let (_, v) = send(s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
        if v["response"]["status"] == 1
            && v["response"]["progress"].as_i64().unwrap_or(0) >= percent
        {
            return;
        }
        assert_ne!(v["response"]["isCompleted"], true, "finished too soon: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never got past {percent}%");
}

#[tokio::test]
async fn one_job_at_a_time_and_cancel_in_the_middle() {
    let r = slow_rig().await;
    let first = start(&r.s, &local(&r.root)).await;
    let again = start(&r.s, &local(&r.root)).await;
    assert_eq!(
        again["taskId"], first["taskId"],
        "a second start returns the running job"
    );
    // Format 2 reads each file once: a fifth of the way is well inside the write.
    wait_running_past(&r.s, 20).await;
    let (st, v) = send(r.s.owner(Method::POST, "/api/2.0/backup/cancelbackup")).await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)));
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    assert!(
        v.get("response").is_none(),
        "cancel clears the job from the view: {v}"
    );
    // The worker stops and removes its partial archive; nothing reaches history.
    for _ in 0..500 {
        if std::fs::read_dir(&r.root).unwrap().next().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<_> = std::fs::read_dir(&r.root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "no partial file left: {left:?}");
    assert!(history(&r.s, false).await.is_empty());
    let (_, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/cancelbackup")
            .header("content-type", "text/plain"),
    )
    .await;
    assert_eq!(v["response"], false, "nothing left to cancel");
    // A finished job is cleared from the view by cancel, which then answers true.
    start(&r.s, &json!({"storageType": 4})).await;
    wait_done(&r.s, false).await;
    let (_, v) = send(r.s.owner(Method::POST, "/api/2.0/backup/cancelbackup")).await;
    assert_eq!(v["response"], true);
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    assert!(v.get("response").is_none());
    assert_eq!(
        history(&r.s, false).await.len(),
        1,
        "a finished backup stays in history"
    );
}

#[tokio::test]
async fn a_source_that_disappears_fails_the_backup_cleanly() {
    let r = slow_rig().await;
    start(&r.s, &local(&r.root)).await;
    wait_running_past(&r.s, 20).await;
    std::fs::remove_dir_all(&r.source).unwrap();
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 4, "{done}");
    let err = done["error"].as_str().unwrap();
    assert!(
        err.contains("app-files") || err.contains("changed"),
        "{err}"
    );
    assert!(history(&r.s, false).await.is_empty());
    assert!(
        std::fs::read_dir(&r.root).unwrap().next().is_none(),
        "no partial file left"
    );

    // With the source missing from the start, the error names it.
    start(&r.s, &local(&r.root)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 4);
    assert!(done["error"].as_str().unwrap().contains("files"), "{done}");
}

#[tokio::test]
async fn a_full_disk_fails_the_backup_cleanly() {
    let r = rig().await;
    let small = r.root.join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping the full-disk case: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    start(&r.s, &local(&small)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 4, "{done}");
    assert!(done["error"].as_str().unwrap().contains("space"), "{done}");
    assert!(
        std::fs::read_dir(&small).unwrap().next().is_none(),
        "no partial file left"
    );
    assert!(history(&r.s, false).await.is_empty());
}

#[tokio::test]
async fn counts_state_and_tmp() {
    let r = rig().await;
    start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let get = |p: &str| r.s.owner(Method::GET, p);
    assert_eq!(
        send(get("/api/2.0/backup/getbackupscount")).await.1["response"],
        1
    );
    assert_eq!(
        send(get("/api/2.0/backup/getbackupscount?paid=True"))
            .await
            .1["response"],
        0
    );
    assert_eq!(
        send(get(
            "/api/2.0/backup/getbackupscount?from=2000-01-01&to=2001-01-01"
        ))
        .await
        .1["response"],
        0
    );
    assert_eq!(
        send(get("/api/2.0/backup/getbackupscount?from=2024-01-01T00:00:00.000000%2B0000&to=2099-12-31T00:00:00.000000%2B0000&paid=false")).await.1["response"],
        1
    );
    let (st, v) = send(get(
        "/api/2.0/backup/getbackupscount?from=2030-01-01&to=2020-01-01",
    ))
    .await;
    assert_eq!(
        assert_error(st, &v, 400),
        "From date must be less than to date"
    );
    let (st, v) = send(get("/api/2.0/backup/getbackupscount?from=yesterday")).await;
    assert_error(st, &v, 400);
    let (st, v) = send(get("/api/2.0/backup/getbackupscount?paid=1")).await;
    assert_error(st, &v, 400);
    let (_, v) = send(get("/api/2.0/backup/getbackupscountbypaid")).await;
    assert_eq!(v["response"], json!({"free": 1, "paid": 0}));
    let (_, v) = send(get("/api/2.0/backup/getservicestate")).await;
    assert_eq!(v["response"], json!({"enabled": false}));
    let (_, v) = send(get("/api/2.0/backup/backuptmp")).await;
    assert!(v["response"].as_str().unwrap().ends_with("tmp/backup"));
}

#[tokio::test]
async fn saas_allowance_and_no_local_or_dump() {
    let r = rig_with(
        "free_backups_per_month = 1",
        vec![("DSBACKUP_MODE", "saas".into())],
    )
    .await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&local(&r.root)),
    )
    .await;
    assert_error(st, &v, 403);
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 4, "dump": true})),
    )
    .await;
    assert_error(st, &v, 403);
    let (st, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackuphistory?Dump=true")).await;
    assert_error(st, &v, 403);
    start(&r.s, &json!({"storageType": 4})).await;
    wait_done(&r.s, false).await;
    send(r.s.owner(Method::DELETE, "/api/2.0/backup/deletebackuphistory")).await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 4})),
    )
    .await;
    let msg = assert_error(st, &v, 402);
    assert!(
        msg.contains("1 free backups"),
        "deleting does not give a free backup back: {msg}"
    );
}

#[tokio::test]
async fn dumps_are_the_instance_owners_and_kept_apart() {
    let r = rig().await;
    start(&r.s, &json!({"storageType": "DataStore", "dump": true})).await;
    let done = wait_done(&r.s, true).await;
    assert_eq!(done["status"], 2, "{done}");
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    assert!(
        v.get("response").is_none(),
        "the portal's own slot is apart from the dump's"
    );
    let dumps = history(&r.s, true).await;
    assert_eq!(dumps.len(), 1);
    assert!(
        dumps[0]["fileName"]
            .as_str()
            .unwrap()
            .starts_with("workspace_")
    );
    assert!(history(&r.s, false).await.is_empty());
    let res =
        r.s.client
            .get(done["link"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    let bytes = res.bytes().await.unwrap();
    let report = dsbackup_engine::verify(&bytes[..], None).unwrap();
    assert!(report.manifest.dump && report.manifest.portal.is_none());
    let paths = archive_paths(&bytes);
    assert!(paths.contains(&"portals/default/sources/files/readme.txt".to_string()));
    assert!(paths.contains(&"instance/portals.jsonl".to_string()));

    let admin = r.s.member("DocSpaceAdmin", "admin@example.org").await;
    let (st, v) = send(r.s.as_(
        &admin,
        Method::GET,
        "/api/2.0/backup/getbackuphistory?Dump=true",
    ))
    .await;
    assert_error(st, &v, 403);
    let id = dumps[0]["id"].as_str().unwrap();
    let (st, v) = send(r.s.as_(
        &admin,
        Method::DELETE,
        &format!("/api/2.0/backup/deletebackup/{id}"),
    ))
    .await;
    assert_error(st, &v, 403);
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        "/api/2.0/backup/deletebackuphistory?Dump=true",
    ))
    .await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)));
    assert!(history(&r.s, true).await.is_empty());
}
