//! Data-directory hygiene and session revocation: private modes whatever the umask, a refused
//! short instance key, one server per data directory, no transparent huge pages, logout /
//! password change / member removal ending sessions, and leftovers of dead jobs swept at start
//! and by prune.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::{local, start, wait_done};
use crate::harness::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_mode(path: &Path, want: u32) {
    assert_eq!(
        mode(path),
        want,
        "{} is {:o}, not {want:o}",
        path.display(),
        mode(path)
    );
}

/// A server with a Local root in `dir`, started under `umask`.
async fn with_local_root(umask: Option<u32>) -> (TestServer, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    std::fs::create_dir_all(&root).unwrap();
    let config = format!("local_roots = [\"{}\"]\n", dir.path().display());
    let s = TestServer::start_under_umask(
        Opts {
            config: Some(config),
            ..Opts::default()
        },
        umask,
    )
    .await;
    (s, root, dir)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn data_files_are_private_whatever_the_umask() {
    let (mut s, root, _dir) = with_local_root(Some(0o000)).await;
    start(&s, &json!({"storageType": "DataStore"})).await;
    wait_done(&s, false).await;
    start(&s, &local(&root)).await;
    wait_done(&s, false).await;
    let (st, v) = send(s.owner(
        Method::POST,
        "/backupFileUpload.ashx?Init=true&totalSize=10&extension=tar.zst",
    ))
    .await;
    assert_eq!(st, 200, "{v}");

    let d = &s.data_dir.clone();
    assert_mode(d, 0o700);
    for f in [
        "catalog.db",
        "catalog.db-wal",
        "catalog.db-shm",
        "instance.key",
        "initial-credentials.txt",
        ".lock",
    ] {
        assert_mode(&d.join(f), 0o600);
    }
    assert_mode(&d.join("tmp"), 0o700);
    assert_mode(&d.join("tmp/backup"), 0o700);
    for f in files_in(&d.join("tmp/backup")) {
        assert_mode(&f, 0o600);
    }
    let datastore = d.join("portals/1/backups");
    assert_mode(&datastore, 0o700);
    let archives = files_in(&datastore);
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert_mode(&archives[0], 0o600);
    let archives = files_in(&root);
    assert_eq!(archives.len(), 1, "{archives:?}");
    assert_mode(&archives[0], 0o600);

    // Files an older version (or another umask) left readable are made private at start.
    s.kill9();
    std::fs::set_permissions(d.join("catalog.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    s.restart_with(vec![]);
    assert_mode(&d.join("catalog.db"), 0o600);
}

/// Freed buffers must not keep whole 2 MiB pages resident (see `no_huge_pages` in main.rs).
#[tokio::test]
async fn the_server_runs_without_transparent_huge_pages() {
    let s = TestServer::start().await;
    assert_eq!(s.proc_status("THP_enabled").as_deref(), Some("0"));
}

#[tokio::test]
async fn a_short_or_empty_instance_key_is_refused() {
    let mut s = TestServer::start().await;
    s.kill9();
    let key = s.data_dir.join("instance.key");
    let good = std::fs::read_to_string(&key).unwrap();
    assert_eq!(good.trim().len(), 64, "32 bytes, hex");
    for bad in ["", "\n", "abcd"] {
        std::fs::write(&key, bad).unwrap();
        let (status, log) = s.serve_again();
        assert!(!status.success(), "started with key {bad:?}");
        assert!(
            log.contains("instance.key") && log.contains("cut short"),
            "a clear message for {bad:?}: {log}"
        );
        assert_eq!(
            std::fs::read_to_string(&key).unwrap(),
            bad,
            "left as it was"
        );
    }
    std::fs::write(&key, &good).unwrap();
    s.restart_with(vec![]);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), good);
    let leftovers: Vec<_> = files_in(&s.data_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_second_server_on_the_data_directory_is_refused() {
    let s = TestServer::start().await;
    let (status, log) = s.serve_again();
    assert!(!status.success());
    assert!(
        log.contains(&format!(
            "data directory {} is in use by another dsbackup server (pid ",
            s.data_dir.display()
        )),
        "{log}"
    );
    assert!(
        !log.contains("resolved at start-up") && !log.contains("Active again"),
        "the second server ran no recovery: {log}"
    );
    let (st, _) = send(s.owner(Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(st, 200, "the first one keeps serving");
}

async fn me(s: &TestServer, cred: &str) -> (u16, Value) {
    send(s.as_(cred, Method::GET, "/api/2.0/people/@self")).await
}

async fn logout(s: &TestServer, cred: &str) -> (u16, Value, Option<String>) {
    let res = s
        .as_(cred, Method::POST, "/api/2.0/authentication/logout")
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    let st = res.status().as_u16();
    (st, res.json().await.unwrap_or(Value::Null), cookie)
}

#[tokio::test]
async fn logout_ends_the_session() {
    let s = TestServer::start().await;
    let token = s.member("User", "u@example.org").await;
    let other = s.login("u@example.org", "member-password").await;
    assert_eq!(me(&s, &token).await.0, 200);

    let (st, body, cookie) = logout(&s, &token).await;
    assert_eq!((st, &body["status"]), (200, &json!(0)), "{body}");
    assert!(body.get("response").is_none(), "{body}");
    let cookie = cookie.expect("the cookie is cleared");
    assert!(
        cookie.starts_with("asc_auth_key=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let (st, body) = me(&s, &token).await;
    assert_error(st, &body, 401);
    assert_eq!(me(&s, &other).await.0, 200, "other sessions stay");

    // A session in the cookie ends the same way.
    let (st, _) = send(
        s.req(Method::POST, "/api/2.0/authentication/logout")
            .header("Cookie", format!("asc_auth_key={other}")),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(me(&s, &other).await.0, 401);

    let (st, body) = send(s.req(Method::POST, "/api/2.0/authentication/logout")).await;
    assert_error(st, &body, 401);
    // An API key has no session to end, and keeps working.
    assert_eq!(logout(&s, OWNER_KEY).await.0, 200);
    assert_eq!(me(&s, OWNER_KEY).await.0, 200);
}

async fn set_password(s: &TestServer, cred: &str, id: &Value, password: &str) -> (u16, Value) {
    send(
        s.as_(
            cred,
            Method::PUT,
            &format!("/api/2.0/people/{}/password", id.as_str().unwrap()),
        )
        .json(&json!({ "password": password })),
    )
    .await
}

#[tokio::test]
async fn a_password_change_ends_the_members_other_sessions() {
    let s = TestServer::start().await;
    let t1 = s.member("User", "u@example.org").await;
    let t2 = s.login("u@example.org", "member-password").await;
    let id = me(&s, &t1).await.1["response"]["id"].clone();

    let (st, body) = set_password(&s, &t1, &id, "short").await;
    assert_error(st, &body, 400);
    assert_eq!(me(&s, &t2).await.0, 200, "a refused change ends nothing");

    let (st, body) = set_password(&s, &t1, &id, "new-member-password").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["response"]["id"], id);
    assert_eq!(
        me(&s, &t1).await.0,
        200,
        "the session it came through stays"
    );
    assert_eq!(me(&s, &t2).await.0, 401, "other sessions end");
    let (st, _) = send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": "u@example.org", "password": "member-password"})),
    )
    .await;
    assert_eq!(st, 401, "the old password is refused");
    let t3 = s.login("u@example.org", "new-member-password").await;

    // The owner sets it for the member: every session of the member ends.
    let (st, body) = set_password(&s, OWNER_KEY, &id, "third-member-password").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(me(&s, &t1).await.0, 401);
    assert_eq!(me(&s, &t3).await.0, 401);
    s.login("u@example.org", "third-member-password").await;

    // Members do not set others' passwords; admins do not set admins' or the owner's.
    let owner_id = me(&s, OWNER_KEY).await.1["response"]["id"].clone();
    let member = s.login("u@example.org", "third-member-password").await;
    let (st, body) = set_password(&s, &member, &owner_id, "hijacked-password").await;
    assert_error(st, &body, 403);
    let admin = s.member("DocSpaceAdmin", "a@example.org").await;
    let admin2 = s.member("DocSpaceAdmin", "b@example.org").await;
    let admin2_id = me(&s, &admin2).await.1["response"]["id"].clone();
    for target in [&owner_id, &admin2_id] {
        let (st, body) = set_password(&s, &admin, target, "hijacked-password").await;
        assert_error(st, &body, 403);
    }
    let (st, body) = set_password(&s, &admin, &id, "admin-set-password").await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = set_password(
        &s,
        OWNER_KEY,
        &json!("00000000-0000-0000-0000-000000000001"),
        "whatever-password",
    )
    .await;
    assert_error(st, &body, 404);
}

#[tokio::test]
async fn removing_a_member_ends_their_sessions_and_keys() {
    let s = TestServer::start().await;
    let token = s.member("RoomAdmin", "r@example.org").await;
    let id = me(&s, &token).await.1["response"]["id"].clone();
    let (st, body) = send(
        s.as_(&token, Method::POST, "/api/2.0/keys")
            .json(&json!({"name": "mine", "permissions": ["*"]})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let key = body["response"]["key"].as_str().unwrap().to_string();
    assert_eq!(me(&s, &key).await.0, 200);

    let path = format!("/api/2.0/people/{}", id.as_str().unwrap());
    let (st, body) = send(s.as_(&token, Method::DELETE, &path)).await;
    assert_error(st, &body, 403);
    let (st, body) = send(s.owner(Method::DELETE, &path)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["response"]["id"], id);
    assert_eq!(me(&s, &token).await.0, 401, "their session ends");
    assert_eq!(me(&s, &key).await.0, 401, "their key ends");
    let (st, body) = send(s.owner(Method::DELETE, &path)).await;
    assert_error(st, &body, 404);
    let (st, _) = send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": "r@example.org", "password": "member-password"})),
    )
    .await;
    assert_eq!(st, 401);

    // Nobody removes the owner; an admin does not remove another admin.
    let owner_id = me(&s, OWNER_KEY).await.1["response"]["id"].clone();
    let admin = s.member("DocSpaceAdmin", "a@example.org").await;
    let admin2 = s.member("DocSpaceAdmin", "b@example.org").await;
    let admin2_id = me(&s, &admin2).await.1["response"]["id"].clone();
    for (cred, target) in [
        (OWNER_KEY, &owner_id),
        (admin.as_str(), &owner_id),
        (admin.as_str(), &admin2_id),
    ] {
        let path = format!("/api/2.0/people/{}", target.as_str().unwrap());
        let (st, body) = send(s.as_(cred, Method::DELETE, &path)).await;
        assert_error(st, &body, 403);
    }
    assert_eq!(me(&s, &admin2).await.0, 200);
}

fn age(path: &Path, secs: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs);
    let f = std::fs::File::open(path).unwrap();
    f.set_modified(t).unwrap();
}

/// Leaves what crashed jobs leave: a partial archive in the Local folder (two hours old), a
/// partial DataStore archive and a cut-off file upload (`age_secs` old) and a staging
/// directory of no running restore.
fn leave_leftovers(s: &TestServer, root: &Path, age_secs: u64) -> Vec<PathBuf> {
    let d = &s.data_dir;
    let local = root.join(".partial-0f0e-default_20250101.tar.zst");
    let datastore = d.join("portals/1/backups/.partial-0a0b-default_20250101.tar.zst");
    let folder = files_in(&d.join("portals/1/documents"))
        .into_iter()
        .next()
        .expect("a documents folder");
    let upload = folder.join(".upload-4a3c8d2e-0000-4000-8000-000000000000");
    for f in [&local, &datastore, &upload] {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, b"half an archive").unwrap();
        age(f, age_secs);
    }
    age(&local, 7200);
    let staging = d.join("staging/9b2f7e0e-1b7a-4c1e-9d55-2f1f5d3c1a00/1/documents");
    std::fs::create_dir_all(&staging).unwrap();
    vec![
        local,
        datastore,
        upload,
        staging.parent().unwrap().parent().unwrap().into(),
    ]
}

fn still_there(paths: &[PathBuf]) -> Vec<&PathBuf> {
    paths
        .iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect()
}

#[tokio::test]
async fn leftovers_are_swept_at_start_and_by_prune() {
    let (mut s, root, _dir) = with_local_root(None).await;
    start(&s, &local(&root)).await;
    wait_done(&s, false).await;
    start(&s, &json!({"storageType": "DataStore"})).await;
    wait_done(&s, false).await;
    let archive = files_in(&root);

    s.kill9();
    let left = leave_leftovers(&s, &root, 0);
    s.restart_with(vec![]);
    // Inside the data directory before serving; the Local folder's (an hour old) with the
    // scheduler's first retention pass, right after.
    assert_eq!(still_there(&left[1..]), Vec::<&PathBuf>::new());
    for _ in 0..500 {
        if !left[0].exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!left[0].exists(), "{}", left[0].display());

    let left = leave_leftovers(&s, &root, 7200);
    let fresh = s
        .data_dir
        .join("portals/1/backups/.partial-0c0d-in-flight.tar.zst");
    std::fs::write(&fresh, b"being written").unwrap();
    let (st, body) = send(s.owner(Method::POST, "/api/2.0/backup/prune")).await;
    assert_eq!(st, 200, "{body}");
    assert!(still_there(&left).is_empty(), "{:?}", still_there(&left));
    assert!(
        fresh.exists(),
        "a partial file under an hour old may be in use"
    );
    assert_eq!(files_in(&root), archive, "the finished archive stays");
}
