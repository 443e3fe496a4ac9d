//! The Backup API end to end against real archives: start, progress, cancel, history,
//! delete, counts, storages, dumps, failures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

use crate::harness::*;

/// A server with a Local root and one directory source, both in `dir`.
pub struct Rig {
    pub s: TestServer,
    pub root: PathBuf,
    pub source: PathBuf,
    _dir: tempfile::TempDir,
}

pub async fn rig_with(extra: &str, env: Vec<(&'static str, String)>) -> Rig {
    rig_on(extra, env, false).await.unwrap()
}

/// A rig whose server keeps its catalog in a new PostgreSQL database; `None` (skip the test)
/// when PostgreSQL does not answer.
pub async fn rig_on_postgres(extra: &str) -> Option<Rig> {
    rig_on(extra, Vec::new(), true).await
}

/// A rig whose directories (sources, backups) are in a new directory under `base`.
pub async fn rig_in(base: &Path) -> Rig {
    let dir = tempfile::tempdir_in(base).unwrap();
    rig_at(dir, "", Vec::new(), false).await.unwrap()
}

async fn rig_on(extra: &str, env: Vec<(&'static str, String)>, postgres: bool) -> Option<Rig> {
    rig_at(tempfile::tempdir().unwrap(), extra, env, postgres).await
}

async fn rig_at(
    dir: tempfile::TempDir,
    extra: &str,
    env: Vec<(&'static str, String)>,
    postgres: bool,
) -> Option<Rig> {
    let root = dir.path().join("backups");
    let source = dir.path().join("app-files");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(source.join("nested/deeper")).unwrap();
    std::fs::write(source.join("readme.txt"), "hello, backups\n").unwrap();
    std::fs::write(
        source.join("nested/data.json"),
        "{\"a\": [1, 2, 3]}\n".repeat(1000),
    )
    .unwrap();
    std::fs::write(
        source.join("nested/deeper/blob.bin"),
        pseudo_random(300_000, 7),
    )
    .unwrap();
    let config = format!(
        "local_roots = [\"{}\"]\n{extra}\n[[portals]]\nalias = \"default\"\n[[portals.sources]]\nkind = \"directory\"\nname = \"files\"\npath = \"{}\"\n",
        dir.path().display(),
        source.display()
    );
    let opts = Opts {
        env,
        config: Some(config),
    };
    let s = if postgres {
        TestServer::start_on_postgres(opts).await?
    } else {
        TestServer::start_with(opts).await
    };
    Some(Rig {
        s,
        root,
        source,
        _dir: dir,
    })
}

pub async fn rig() -> Rig {
    rig_with("", Vec::new()).await
}

/// Every entry path of an archive (either format), in stream order, as `tar -t` lists them.
pub fn archive_paths(archive: &[u8]) -> Vec<String> {
    let tar = zstd::decode_all(archive).unwrap();
    let mut ar = tar::Archive::new(tar.as_slice());
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            e.path()
                .unwrap()
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn local(dir: &Path) -> Value {
    json!({"storageType": "Local", "storageParams": [{"key": "filePath", "value": dir.display().to_string()}]})
}

pub async fn start(s: &TestServer, body: &Value) -> Value {
    let (st, v) = send(
        s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(body),
    )
    .await;
    assert_eq!(st, 200, "startbackup: {v}");
    v["response"].clone()
}

/// Polls getbackupprogress until the job is completed; returns the last progress.
pub async fn wait_done(s: &TestServer, dump: bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = -1;
    loop {
        let (st, v) = send(s.owner(
            Method::GET,
            &format!("/api/2.0/backup/getbackupprogress?Dump={dump}"),
        ))
        .await;
        assert_eq!(st, 200, "{v}");
        let p = v["response"].clone();
        let progress = p["progress"].as_i64().unwrap_or(0);
        assert!(
            progress >= last,
            "progress is monotonic: {progress} after {last}"
        );
        last = progress;
        if p["isCompleted"] == true {
            return p;
        }
        assert!(Instant::now() < deadline, "backup did not finish: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn history(s: &TestServer, dump: bool) -> Vec<Value> {
    let (st, v) = send(s.owner(
        Method::GET,
        &format!("/api/2.0/backup/getbackuphistory?Dump={dump}"),
    ))
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["count"].as_u64().unwrap() as usize,
        v["response"].as_array().unwrap().len()
    );
    v["response"].as_array().unwrap().clone()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The SHA-256 the catalog recorded for a backup.
fn recorded_hash(s: &TestServer, id: &str) -> String {
    let db = rusqlite::Connection::open(s.data_dir.join("catalog.db")).unwrap();
    db.query_row("SELECT hash FROM backups WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

fn compare_dirs(a: &Path, b: &Path) {
    for entry in std::fs::read_dir(a).unwrap() {
        let e = entry.unwrap();
        let other = b.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            compare_dirs(&e.path(), &other);
        } else {
            assert_eq!(
                std::fs::read(e.path()).unwrap(),
                std::fs::read(&other).unwrap(),
                "{}",
                e.path().display()
            );
        }
    }
    assert_eq!(
        std::fs::read_dir(a).unwrap().count(),
        std::fs::read_dir(b).unwrap().count(),
        "{}",
        a.display()
    );
}

#[tokio::test]
async fn local_backup_round_trips_and_is_verified() {
    let r = rig().await;
    let p = start(&r.s, &local(&r.root)).await;
    assert_eq!(p["status"], 0);
    assert_eq!(p["progress"], 0);
    assert_eq!(p["backupProgressEnum"], 0);
    let task = p["taskId"].as_str().unwrap().to_string();
    let done = wait_done(&r.s, false).await;
    assert_eq!(
        (
            done["status"].clone(),
            done["progress"].clone(),
            done["error"].clone()
        ),
        (json!(2), json!(100), json!(""))
    );
    assert_eq!(done["taskId"], task.as_str());
    let h = history(&r.s, false).await;
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0]["id"],
        task.as_str(),
        "taskId equals the history record id"
    );
    assert_eq!(h[0]["storageType"], 3);
    let name = h[0]["fileName"].as_str().unwrap().to_string();
    assert!(
        name.starts_with("default_") && name.ends_with(".tar.zst"),
        "{name}"
    );
    assert_eq!(
        files_in(&r.root),
        vec![name.clone()],
        "one archive, no partial files"
    );

    // The project's reader verifies it against the recorded SHA-256 ...
    let archive = r.root.join(&name);
    let bytes = std::fs::read(&archive).unwrap();
    let hash = recorded_hash(&r.s, &task);
    assert_eq!(hash, hex::encode_upper(sha2::Sha256::digest(&bytes)));
    let report = dsbackup_engine::verify(bytes.as_slice(), Some(&hash)).unwrap();
    assert_eq!(report.manifest.portal.as_ref().unwrap().alias, "default");
    assert_eq!(report.manifest.format_version, 2);
    assert!(archive_paths(&bytes).contains(&"catalog/users.jsonl".to_string()));
    // ... and GNU tar extracts the sources byte for byte.
    let out = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(st.success());
    compare_dirs(&r.source, &out.path().join("sources/files"));
    let users = std::fs::read_to_string(out.path().join("catalog/users.jsonl")).unwrap();
    // `dsbackup extract` takes one entry out by its frame, checked against the index.
    let one = out.path().join("users-extracted");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .args(["extract"])
        .arg(&archive)
        .args(["catalog/users.jsonl", "-o"])
        .arg(&one)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(std::fs::read_to_string(&one).unwrap(), users);
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .args(["extract"])
        .arg(&archive)
        .args(["catalog/nope.jsonl", "-o"])
        .arg(out.path().join("nope"))
        .output()
        .unwrap();
    assert!(!st.status.success());
    assert!(String::from_utf8_lossy(&st.stderr).contains("not in the archive"));
    assert!(!out.path().join("nope").exists(), "nothing left behind");
    assert!(
        users.contains(OWNER_EMAIL)
            && users.contains("$argon2id$")
            && !users.contains(OWNER_PASSWORD)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[tokio::test]
async fn the_seed_flow_delete_one_then_history() {
    seed_flow(&rig().await).await;
}

/// Three backups to completion, one deleted, then the whole history; counts and 404s.
pub async fn seed_flow(r: &Rig) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = start(&r.s, &local(&r.root)).await;
        ids.push(p["taskId"].as_str().unwrap().to_string());
        assert_eq!(wait_done(&r.s, false).await["status"], 2);
    }
    assert_eq!(history(&r.s, false).await.len(), 3);
    assert_eq!(
        files_in(&r.root).len(),
        3,
        "names stay unique within a second"
    );
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        &format!("/api/2.0/backup/deletebackup/{}", ids[0]),
    ))
    .await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)));
    assert_eq!(history(&r.s, false).await.len(), 2);
    assert_eq!(
        files_in(&r.root).len(),
        2,
        "the archive went with the record"
    );
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        "/api/2.0/backup/deletebackuphistory?Dump=false",
    ))
    .await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)));
    assert!(history(&r.s, false).await.is_empty());
    assert!(files_in(&r.root).is_empty(), "every archive deleted");
    // Counts include removed records, as upstream.
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupscount")).await;
    assert_eq!(v["response"], 3);
    // Deleting again, or an unknown id.
    let (st, v) = send(r.s.owner(Method::DELETE, "/api/2.0/backup/deletebackuphistory")).await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)));
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        "/api/2.0/backup/deletebackup/3fa85f64-5717-4562-b3fc-2c963f66afa6",
    ))
    .await;
    assert_error(st, &v, 404);
    let (st, v) = send(r.s.owner(Method::DELETE, "/api/2.0/backup/deletebackup/not-a-guid")).await;
    assert_error(st, &v, 404);
}

#[tokio::test]
async fn documents_and_datastore_storages() {
    let r = rig().await;
    let (_, room) = send(
        r.s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "Backups", "roomType": 5})),
    )
    .await;
    let room_id = room["response"]["id"].as_i64().unwrap();
    let p = start(
        &r.s,
        &json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": room_id}]}),
    )
    .await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let (_, content) = send(r.s.owner(Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
    let files = content["response"]["files"].as_array().unwrap().clone();
    assert_eq!(
        files.len(),
        1,
        "the archive is a file of the room: {content}"
    );
    let res =
        r.s.client
            .get(done["link"].as_str().unwrap())
            .header("Authorization", OWNER_KEY)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    dsbackup_engine::verify(
        &bytes[..],
        Some(&recorded_hash(&r.s, p["taskId"].as_str().unwrap())),
    )
    .unwrap();
    // A second backup to the same room does not contain the first one.
    start(&r.s, &json!({"storageType": "Documents", "storageParams": [{"key": "folderId", "value": room_id.to_string()}]})).await;
    wait_done(&r.s, false).await;
    let h = history(&r.s, false).await;
    assert_eq!(h.len(), 2);
    let second = h.iter().find(|x| x["id"] != p["taskId"]).unwrap();
    let (_, content) = send(r.s.owner(Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
    let f2 = content["response"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["title"] == second["fileName"])
        .unwrap()
        .clone();
    let res =
        r.s.client
            .get(f2["viewUrl"].as_str().unwrap())
            .header("Authorization", OWNER_KEY)
            .send()
            .await
            .unwrap();
    let report = dsbackup_engine::verify(&res.bytes().await.unwrap()[..], None).unwrap();
    assert!(
        report.content_bytes < bytes.len() as u64 + 400_000,
        "no backup inside a backup"
    );
    // Deleting the history deletes the room's files too.
    send(r.s.owner(Method::DELETE, "/api/2.0/backup/deletebackuphistory")).await;
    let (_, content) = send(r.s.owner(Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
    assert_eq!(content["response"]["files"], json!([]));

    // DataStore: a signed link valid 24 h.
    let p = start(&r.s, &json!({"storageType": "DataStore"})).await;
    let done = wait_done(&r.s, false).await;
    let link = done["link"].as_str().unwrap().to_string();
    assert!(link.contains("/api/2.0/backup/download/"), "{link}");
    let res = r.s.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200, "the link needs no other credential");
    let bytes = res.bytes().await.unwrap();
    dsbackup_engine::verify(
        &bytes[..],
        Some(&recorded_hash(&r.s, p["taskId"].as_str().unwrap())),
    )
    .unwrap();
    let forged = link.replace("signature=", "signature=00");
    assert_eq!(r.s.client.get(&forged).send().await.unwrap().status(), 403);
    let h = history(&r.s, false).await;
    let created = dsbackup_api_types_parse(h[0]["createdOn"].as_str().unwrap());
    let expires = dsbackup_api_types_parse(h[0]["expiresOn"].as_str().unwrap());
    assert_eq!(expires - created, 24 * 3600);
}

fn dsbackup_api_types_parse(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
}

#[tokio::test]
async fn special_files_are_left_out_with_a_warning() {
    let r = rig().await;
    let fifo = r.source.join("a-pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    start(&r.s, &local(&r.root)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let warning = done["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("a-pipe") && warning.contains("not a regular file"),
        "{done}"
    );
    assert_eq!(history(&r.s, false).await.len(), 1);
}
