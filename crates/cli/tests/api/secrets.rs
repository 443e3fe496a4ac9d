//! Storage credentials at rest: a schedule's and a history record's secret `storageParams`
//! are stored sealed and shown masked, `dsbackup secrets rotate` moves them to a new key
//! (refused while the server runs), and a garbled key stops the server at start.

use std::path::Path;
use std::process::Command;

use dsbackup_service::secrets::{REDACTED, Sealer, SecretKey};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;

const PASSWORD: &str = "hunter2-webdav-pass";

fn schedule_body(dir: &Path, password: &str) -> Value {
    json!({
        "storageType": "Local",
        "storageParams": [
            {"key": "filePath", "value": dir.display().to_string()},
            {"key": "password", "value": password}
        ],
        "backupsStored": 3,
        "cronParams": {"period": "EveryDay", "hour": 3},
        "dump": false
    })
}

async fn schedule_params(s: &TestServer) -> Value {
    let (st, v) = send(s.owner(Method::GET, "/api/2.0/backup/getbackupschedule?Dump=false")).await;
    assert_eq!(st, 200, "{v}");
    v["response"]["storageParams"].clone()
}

/// The stored `password` of the schedule and of every history record, as the catalog holds
/// them.
fn stored_passwords(data_dir: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(data_dir.join("catalog.db")).unwrap();
    let mut texts: Vec<String> = Vec::new();
    for sql in [
        "SELECT body FROM schedules",
        "SELECT storage_params FROM backups",
    ] {
        let mut stmt = db.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        texts.extend(rows.map(Result::unwrap));
    }
    texts
        .iter()
        .map(|t| {
            let v: Value = serde_json::from_str(t).unwrap();
            let params = v.get("storage_params").unwrap_or(&v);
            params["password"].as_str().unwrap().to_string()
        })
        .collect()
}

fn key_file(data_dir: &Path) -> SecretKey {
    let text = std::fs::read_to_string(data_dir.join("secrets.key")).unwrap();
    SecretKey::parse(&text, "test").unwrap()
}

fn old_hex(data_dir: &Path) -> String {
    key_file(data_dir).to_hex()
}

fn rotate(data_dir: &Path, new_key: &str, env: &[(&str, &str)]) -> (bool, String) {
    outcome(
        dsbackup()
            .args(["secrets", "rotate", "--data-dir"])
            .arg(data_dir)
            .args(["--new-key", new_key])
            .env_clear()
            .envs(env.iter().copied()),
    )
}

#[tokio::test]
async fn credentials_are_sealed_masked_and_survive_rotation() {
    let mut r = rig().await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&schedule_body(&r.root, PASSWORD)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let mut body = local(&r.root);
    body["storageParams"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "password", "value": PASSWORD}));
    start(&r.s, &body).await;
    let done = wait_done(&r.s, false).await;
    assert!(
        done["error"].as_str().unwrap_or_default().is_empty(),
        "{done}"
    );

    // Shown masked; stored sealed under the generated key file's key.
    let shown = schedule_params(&r.s).await;
    assert_eq!(shown["password"], REDACTED, "{shown}");
    assert_eq!(shown["folderId"], r.root.display().to_string());
    let old = Sealer::new(&key_file(&r.s.data_dir));
    let stored = stored_passwords(&r.s.data_dir);
    assert_eq!(stored.len(), 2, "the schedule and the record");
    for value in &stored {
        assert!(value.starts_with("enc:v1:"), "{value}");
        assert_eq!(old.open(value).unwrap(), PASSWORD);
    }
    // A client echoing the mask back keeps the credential.
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&schedule_body(&r.root, REDACTED)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let stored = stored_passwords(&r.s.data_dir);
    assert!(stored.iter().all(|v| old.open(v).unwrap() == PASSWORD));
    assert!(!r.s.log().contains(PASSWORD), "never logged");

    // Not while the server holds the data directory.
    let new = SecretKey::generate();
    let (ok, out) = rotate(&r.s.data_dir, &new.to_hex(), &[]);
    assert!(!ok && out.contains("in use"), "{out}");

    r.s.terminate(std::time::Duration::from_secs(10))
        .expect("stops");
    let (ok, out) = rotate(&r.s.data_dir, "not-a-key", &[]);
    assert!(!ok && out.contains("--new-key"), "{out}");
    let (ok, out) = rotate(&r.s.data_dir, &old_hex(&r.s.data_dir), &[]);
    assert!(!ok && out.contains("is the current key"), "{out}");
    let (ok, out) = rotate(&r.s.data_dir, &new.to_hex(), &[]);
    assert!(ok && out.contains("re-sealed 2"), "{out}");
    assert_eq!(key_file(&r.s.data_dir), new, "secrets.key replaced");
    assert!(!r.s.data_dir.join("secrets.key.new").exists());
    let sealer = Sealer::new(&new);
    for value in stored_passwords(&r.s.data_dir) {
        assert!(old.open(&value).is_err(), "the old key no longer opens it");
        assert_eq!(sealer.open(&value).unwrap(), PASSWORD);
    }
    assert!(
        !out.contains(PASSWORD) && !out.contains(&new.to_hex()),
        "{out}"
    );

    r.s.restart_with(Vec::new());
    let shown = schedule_params(&r.s).await;
    assert_eq!(shown["password"], REDACTED, "{shown}");
    assert_eq!(shown["folderId"], r.root.display().to_string());
}

#[tokio::test]
async fn a_key_from_the_environment_rotates_and_a_garbled_one_stops_the_server() {
    let (k1, k2) = (SecretKey::generate(), SecretKey::generate());
    let mut r = rig_with("", vec![("DSBACKUP_SECRETS_KEY", k1.to_hex())]).await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&schedule_body(&r.root, PASSWORD)),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(
        !r.s.data_dir.join("secrets.key").exists(),
        "a configured key keeps the data disk free of it"
    );
    r.s.terminate(std::time::Duration::from_secs(10))
        .expect("stops");
    let k1_hex = k1.to_hex();
    let (ok, out) = rotate(
        &r.s.data_dir,
        &k2.to_hex(),
        &[("DSBACKUP_SECRETS_KEY", &k1_hex)],
    );
    assert!(ok && out.contains("DSBACKUP_SECRETS_KEY"), "{out}");
    assert!(!r.s.data_dir.join("secrets.key").exists());
    let stored = stored_passwords(&r.s.data_dir);
    assert_eq!(Sealer::new(&k2).open(&stored[0]).unwrap(), PASSWORD);

    // A garbled key refuses to start, naming the variable and not the value.
    let out = Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .arg("serve")
        .env_clear()
        .env("DSBACKUP_LISTEN", "127.0.0.1:0")
        .env("DSBACKUP_DATA_DIR", &r.s.data_dir)
        .env("DSBACKUP_SECRETS_KEY", "c0ffee-garbled")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("DSBACKUP_SECRETS_KEY") && !err.contains("c0ffee"),
        "{err}"
    );

    r.s.restart_with(vec![("DSBACKUP_SECRETS_KEY", k2.to_hex())]);
    assert_eq!(schedule_params(&r.s).await["password"], REDACTED);
}
