//! `ThridpartyDocuments` (storage type 1) end to end against a real WebDAV server on loopback
//! (`rclone serve webdav`, found through `DSBACKUP_TEST_RCLONE` or `PATH`; `./scripts/test`
//! provides it): connecting the account (a wrong password refused, no password in any answer
//! or log line), its `sbox-<n>` folder, a backup into a subfolder of it, the signed link,
//! restore by id and by file id, delete; the OAuth providers and integer folder ids refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;

const PASSWORD: &str = "dav-PASSWORD-never-shown-93";

/// A running `rclone serve webdav` over a temporary directory, killed when dropped.
struct Rclone {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Drop for Rclone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rclone {
    fn served(&self) -> PathBuf {
        self.dir.path().join("served")
    }
}

/// `rclone`: `DSBACKUP_TEST_RCLONE`, else on `PATH`. Missing fails under `CI=true`.
fn rclone_binary() -> Option<PathBuf> {
    let found = std::env::var_os("DSBACKUP_TEST_RCLONE")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("rclone"))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        let msg = "rclone not found (set DSBACKUP_TEST_RCLONE or put it on PATH)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("\n*** SKIPPED: {msg} ***\n");
    }
    found
}

async fn rclone() -> Option<Rclone> {
    let bin = rclone_binary()?;
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg("serve")
        .arg("webdav")
        .arg(&served)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--user", "u"])
        .args(["--pass", PASSWORD, "--config", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = Rclone {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "rclone did not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(r)
}

fn params(folder: &str) -> Value {
    json!([{"key": "folderId", "value": folder}])
}

async fn connect(r: &Rig, body: Value) -> (u16, Value) {
    send(
        r.s.owner(Method::POST, "/api/2.0/files/thirdparty/backup")
            .json(&body),
    )
    .await
}

fn archives_under(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn webdav_account_backup_link_restore_delete() {
    let Some(dav) = rclone().await else { return };
    let r = rig().await;
    let (st, v) = send(r.s.owner(Method::GET, "/api/2.0/files/thirdparty/backup")).await;
    assert_eq!(st, 200, "{v}");
    assert!(v.get("response").is_none(), "no account yet: {v}");

    // A wrong password is refused with a clear error and stores nothing.
    let (st, v) = connect(
        &r,
        json!({"providerKey": "WebDav", "url": dav.url, "login": "u",
               "password": "wrong-pass-4242", "customerTitle": "My WebDAV"}),
    )
    .await;
    let msg = assert_error(st, &v, 403);
    assert!(msg.contains("WebDAV"), "{msg}");
    assert!(!v.to_string().contains("wrong-pass-4242"), "{v}");
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/files/thirdparty/backup")).await;
    assert!(v.get("response").is_none(), "{v}");

    // NextCloud, any case, is stored as WebDav.
    let (st, v) = connect(
        &r,
        json!({"providerKey": "nextcloud", "url": dav.url, "login": "u",
               "password": PASSWORD, "customerTitle": "My WebDAV"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let f = v["response"].clone();
    let id = f["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sbox-"), "{f}");
    assert_eq!(f["rootFolderId"], json!(id));
    assert_eq!(
        (f["title"].clone(), f["providerKey"].clone()),
        (json!("My WebDAV"), json!("WebDav"))
    );
    assert_eq!(
        (f["rootFolderType"].clone(), f["providerItem"].clone()),
        (json!(21), json!(true))
    );
    assert_eq!(f["fileEntryType"], 1);
    assert_eq!(json!(format!("sbox-{}", f["providerId"])), json!(id));
    assert!(!v.to_string().contains(PASSWORD));
    let (_, got) = send(r.s.owner(Method::GET, "/api/2.0/files/thirdparty/backup")).await;
    assert_eq!(got["response"]["id"], json!(id), "{got}");

    // Replacing it (no title) keeps the id and the title.
    let (st, v) = connect(
        &r,
        json!({"providerKey": "WebDav", "url": dav.url, "login": "u", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["response"]["id"].clone(), v["response"]["title"].clone()),
        (json!(id), json!("My WebDAV"))
    );

    // A backup into a subfolder of the account: it must exist, as upstream checks.
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 1, "storageParams": params(&format!("{id}-nope"))})),
    )
    .await;
    let msg = assert_error(st, &v, 400);
    assert!(msg.contains("does not exist"), "{msg}");
    // Made through WebDAV: rclone caches its listings, and would not see a plain mkdir.
    for dir in ["backups", "backups/portal"] {
        let made = reqwest::Client::new()
            .request(
                Method::from_bytes(b"MKCOL").unwrap(),
                format!("{}/{dir}", dav.url),
            )
            .basic_auth("u", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert!(made.status().is_success(), "MKCOL {dir}: {}", made.status());
    }
    let folder = format!("{id}-backups/portal");
    let p = start(
        &r.s,
        &json!({"storageType": 1, "storageParams": params(&folder)}),
    )
    .await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let h = history(&r.s, false).await;
    assert_eq!(h[0]["storageType"], 1, "{h:?}");
    let name = h[0]["fileName"].as_str().unwrap().to_string();
    let on_server = dav.served().join("backups/portal");
    assert_eq!(archives_under(&on_server), vec![name.clone()]);
    // WebDAV cannot sign: the link is the server's own.
    let link = done["link"].as_str().unwrap();
    assert!(link.contains("/api/2.0/backup/download/"), "{link}");
    let res = r.s.client.get(link).send().await.unwrap();
    assert_eq!(res.status(), 200, "the signed link serves the archive");
    let bytes = res.bytes().await.unwrap();
    assert!(bytes[..] == std::fs::read(on_server.join(&name)).unwrap()[..]);
    assert!(dsbackup_engine::verify(&bytes[..], None).is_ok());

    // Restore by id, then by the file's third-party id.
    std::fs::write(r.source.join("readme.txt"), "changed").unwrap();
    let done =
        crate::restore::restore(&r.s, json!({"backupId": p["taskId"], "storageType": 1})).await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );
    std::fs::write(r.source.join("readme.txt"), "changed again").unwrap();
    let file_id = format!("{folder}/{name}");
    let done = crate::restore::restore(
        &r.s,
        json!({"storageType": 1, "storageParams": [{"key": "filePath", "value": file_id}]}),
    )
    .await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );

    // Delete removes the archive from the server.
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        &format!(
            "/api/2.0/backup/deletebackup/{}",
            h[0]["id"].as_str().unwrap()
        ),
    ))
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(archives_under(&on_server).is_empty());
    assert!(history(&r.s, false).await.is_empty());

    let log = r.s.log();
    for secret in [PASSWORD, "wrong-pass-4242"] {
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "no password in the log: {leaks:?}");
    }
}

#[tokio::test]
async fn unsupported_providers_and_folder_ids_are_refused() {
    let r = rig().await;
    for key in ["Box", "DropboxV2", "googledrive", "OneDrive"] {
        let (st, v) = connect(&r, json!({"providerKey": key, "token": "code"})).await;
        let msg = assert_error(st, &v, 400);
        assert!(msg.contains("not supported by this server"), "{key}: {msg}");
    }
    let (st, v) = connect(&r, json!({"providerKey": "Dropbox", "url": "http://x"})).await;
    assert_eq!(assert_error(st, &v, 400), "Unrecognized ProviderType");
    // A member is no DocSpace admin.
    let user = r.s.member("User", "u1@example.com").await;
    let (st, _) = send(
        r.s.as_(&user, Method::POST, "/api/2.0/files/thirdparty/backup")
            .json(&json!({"providerKey": "WebDav", "url": "http://127.0.0.1:9"})),
    )
    .await;
    assert_eq!(st, 403);
    // An unreachable server is a clear refusal.
    let (st, v) = connect(
        &r,
        json!({"providerKey": "WebDav", "url": "http://127.0.0.1:9", "login": "u",
               "password": PASSWORD, "customerTitle": "t"}),
    )
    .await;
    let msg = assert_error(st, &v, 403);
    assert!(msg.contains("Cannot connect"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
    // Folder ids: an integer is the wrong type; an account the portal lacks is not found.
    for (folder, status, text) in [
        ("5", 400, "wrong folder type"),
        ("sbox-1", 404, "was not found"),
        ("drive-1", 400, "not a folder of a WebDAV backup account"),
    ] {
        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
                .json(&json!({"storageType": 1, "storageParams": params(folder)})),
        )
        .await;
        let msg = assert_error(st, &v, status);
        assert!(msg.contains(text), "{folder}: {msg}");
    }
}
