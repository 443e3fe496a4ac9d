//! Backups off the machine, end to end against a real S3-protocol server on loopback
//! (`moto_server`, found through `DSBACKUP_TEST_MOTO` or `PATH`; `./scripts/test` provides it):
//! the s3 consumer with credentials saved through authservice, CustomCloud with inline ones,
//! presigned links, restore from the store, delete, and an outage that loses no history.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::backup::*;
use crate::harness::*;
use crate::servers::*;

const SECRET: &str = "s3cr3t-NEVER-SHOWN-4711";

#[tokio::test]
async fn s3_consumer_backup_download_restore_delete_and_an_outage() {
    let Some(m) = moto().await else { return };
    let r = rig().await;
    // Credentials are saved per portal and never listed.
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/settings/authservice")
            .json(&json!({"name": "s3", "props": [
                {"name": "acesskey", "value": "AKIDTEST"},
                {"name": "secretaccesskey", "value": SECRET}]})),
    )
    .await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)), "{v}");
    let (_, list) = send(r.s.owner(Method::GET, "/api/2.0/settings/storage/backup")).await;
    let s3 = list["response"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "s3")
        .unwrap()
        .clone();
    assert_eq!(
        (s3["isSet"].clone(), s3["current"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(s3["properties"][0]["name"], "bucket", "{s3}");
    assert_eq!(s3["properties"][2]["title"], "Region");
    assert!(!list.to_string().contains(SECRET));

    let params = kv(&[
        ("module", "s3"),
        ("bucket", "bkt"),
        ("region", "us-east-1"),
        ("serviceurl", &m.url),
        ("forcepathstyle", "true"),
    ]);
    let p = start(&r.s, &json!({"storageType": 5, "storageParams": params})).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let h = history(&r.s, false).await;
    assert_eq!(h[0]["storageType"], 5, "{h:?}");
    let name = h[0]["fileName"].as_str().unwrap().to_string();
    assert!(object_exists(&m, &format!("backup/{name}")).await);
    // The link is presigned by the store: no credential needed.
    let link = done["link"].as_str().unwrap();
    assert!(link.starts_with(&m.url), "{link}");
    let bytes = reqwest::get(link).await.unwrap().bytes().await.unwrap();
    assert!(dsbackup_engine::verify(&bytes[..], None).is_ok());

    // Restore streams from the store.
    std::fs::write(r.source.join("readme.txt"), "changed").unwrap();
    let done =
        crate::restore::restore(&r.s, json!({"backupId": p["taskId"], "storageType": 5})).await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );

    // A second backup, then the store goes down: history still lists every record, quickly.
    start(&r.s, &json!({"storageType": 5, "storageParams": params})).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    let first = history(&r.s, false).await;
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        &format!(
            "/api/2.0/backup/deletebackup/{}",
            first[1]["id"].as_str().unwrap()
        ),
    ))
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(
        !object_exists(
            &m,
            &format!("backup/{}", first[1]["fileName"].as_str().unwrap())
        )
        .await,
        "delete removed the object"
    );
    drop(m);
    let started = Instant::now();
    assert_eq!(
        history(&r.s, false).await.len(),
        1,
        "the record survives an outage"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no remote call per record"
    );
    let log = r.s.log();
    assert!(!log.contains(SECRET), "no secret in the log");
    assert!(!log.contains("s3cr3t"), "no part of the secret in the log");
}

#[tokio::test]
async fn custom_cloud_keeps_its_credentials_sealed() {
    let Some(m) = moto().await else { return };
    let r = rig().await;
    let params = kv(&[
        ("bucket", "bkt"),
        ("serviceurl", &m.url),
        ("acesskey", "AKIDTEST"),
        ("secretaccesskey", SECRET),
    ]);
    start(
        &r.s,
        &json!({"storageType": "CustomCloud", "storageParams": params}),
    )
    .await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let h = history(&r.s, false).await;
    assert_eq!(h[0]["storageType"], 2);
    // The record's parameters hold the secret sealed, never in the clear.
    let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
    let stored: String = db
        .query_row("SELECT storage_params FROM backups", [], |row| row.get(0))
        .unwrap();
    assert!(!stored.contains(SECRET), "{stored}");
    assert!(stored.contains("enc:v1:"), "{stored}");
    // And a restore by id opens them again.
    let done =
        crate::restore::restore(&r.s, json!({"backupId": h[0]["id"], "storageType": 2})).await;
    assert_eq!(done["status"], 2, "{done}");
    assert!(!r.s.log().contains(SECRET));
}

#[tokio::test]
async fn a_missing_bucket_fails_clearly_without_the_secret() {
    let Some(m) = moto().await else { return };
    let r = rig().await;
    let params = kv(&[
        ("bucket", "no-such-bucket"),
        ("serviceurl", &m.url),
        ("acesskey", "AKIDTEST"),
        ("secretaccesskey", SECRET),
    ]);
    start(&r.s, &json!({"storageType": 2, "storageParams": params})).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 4, "{done}");
    let err = done["error"].as_str().unwrap();
    assert!(!err.contains(SECRET), "{err}");
    assert!(err.contains("no-such-bucket"), "{err}");
    assert!(history(&r.s, false).await.is_empty());
    assert!(!r.s.log().contains(SECRET));
}
