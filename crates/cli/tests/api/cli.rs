//! The `dsbackup` client commands (`backup`, `restore`, `verify`) against a real server.

use std::process::Command;

use serde_json::Value;

use crate::backup::rig;
use crate::harness::*;

/// Runs `dsbackup ARGS` against `s` with `key`; returns success, stdout and stderr.
pub fn dsbackup(s: &TestServer, key: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .args(args)
        .env("DSBACKUP_URL", &s.base)
        .env("DSBACKUP_KEY", key)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `dsbackup backup ARGS`.
fn cli(s: &TestServer, key: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    dsbackup(s, key, &all)
}

#[tokio::test]
async fn backup_commands_work_end_to_end() {
    let r = rig().await;
    let root = r.root.display().to_string();
    let (ok, out, err) = cli(
        &r.s,
        OWNER_KEY,
        &["start", "--storage", "local", "--path", &root, "--json"],
    );
    assert!(ok, "{err}");
    let p: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (p["status"].as_i64(), p["progress"].as_i64()),
        (Some(2), Some(100)),
        "{p}"
    );
    let id = p["taskId"].as_str().unwrap().to_string();

    let (ok, out, _) = cli(&r.s, OWNER_KEY, &["history", "--json"]);
    assert!(ok);
    let h: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["id"], id.as_str());

    let (ok, out, _) = cli(&r.s, OWNER_KEY, &["history"]);
    assert!(
        ok && out.contains("1 backup(s)") && out.contains(&id),
        "{out}"
    );
    let (ok, out, _) = cli(&r.s, OWNER_KEY, &["progress"]);
    assert!(ok && out.contains("Completed 100%"), "{out}");

    let (ok, out, _) = cli(&r.s, OWNER_KEY, &["delete", &id, "--json"]);
    assert!(ok && out.trim() == "true", "{out}");
    let (_, out, _) = cli(&r.s, OWNER_KEY, &["history", "--json"]);
    assert_eq!(out.trim(), "[]");
    let (ok, out, _) = cli(&r.s, OWNER_KEY, &["cancel", "--json"]);
    assert!(
        ok && out.trim() == "true",
        "cancel clears the finished job: {out}"
    );
    let (ok, out, _) = cli(&r.s, OWNER_KEY, &["cancel"]);
    assert!(ok && out.contains("no backup is running"), "{out}");

    let (ok, _, err) = cli(&r.s, "sk-wrong000000000000000000000", &["history"]);
    assert!(!ok && err.contains("HTTP 401"), "{err}");
    let (ok, _, err) = cli(
        &r.s,
        OWNER_KEY,
        &["start", "--storage", "documents", "--folder-id", "abc"],
    );
    assert!(!ok && err.contains("wrong folder type"), "{err}");
    let (ok, _, err) = cli(&r.s, OWNER_KEY, &["start", "--storage", "cloud"]);
    assert!(!ok && err.contains("unknown storage"), "{err}");
}

fn run(args: &[&str], s: &TestServer) -> (bool, String, String) {
    dsbackup(s, OWNER_KEY, args)
}

#[tokio::test]
async fn restore_and_verify_commands() {
    let r = rig().await;
    let root = r.root.display().to_string();
    let (ok, out, err) = cli(
        &r.s,
        OWNER_KEY,
        &["start", "--storage", "local", "--path", &root, "--json"],
    );
    assert!(ok, "{err}");
    let id = serde_json::from_str::<Value>(out.trim()).unwrap()["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = std::fs::read_dir(&r.root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let a = archive.display().to_string();

    // verify: offline, with and without the expected hash; damage is a non-zero exit.
    let (ok, out, err) = run(&["verify", &a, "--json"], &r.s);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], true);
    let sha = v["sha256"].as_str().unwrap().to_string();
    assert!(run(&["verify", &a, "--sha256", &sha], &r.s).0);
    let (ok, _, err) = run(&["verify", &a, "--sha256", "00"], &r.s);
    assert!(!ok && err.contains("SHA-256"), "{err}");
    let mut bytes = std::fs::read(&archive).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 100);
    let cut = r.root.parent().unwrap().join("cut.tar.zst");
    std::fs::write(&cut, &bytes).unwrap();
    let (ok, _, err) = run(&["verify", &cut.display().to_string()], &r.s);
    assert!(!ok, "{err}");

    // restore by id, by server path, and from a local file uploaded in chunks.
    std::fs::write(r.source.join("readme.txt"), "changed").unwrap();
    let (ok, out, err) = run(&["restore", &id, "--json"], &r.s);
    assert!(ok, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );
    std::fs::write(r.source.join("readme.txt"), "changed again").unwrap();
    let (ok, out, err) = run(&["restore", "--server-path", &a], &r.s);
    assert!(ok && out.contains("Completed"), "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );
    let local_copy = r.root.parent().unwrap().join("copy.tar.zst");
    std::fs::copy(&archive, &local_copy).unwrap();
    std::fs::write(r.source.join("readme.txt"), "changed a third time").unwrap();
    let (ok, out, err) = run(&["restore", &local_copy.display().to_string()], &r.s);
    assert!(ok, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );
    // A damaged upload fails and changes nothing.
    std::fs::write(r.source.join("readme.txt"), "kept").unwrap();
    let (ok, _, err) = run(&["restore", &cut.display().to_string()], &r.s);
    assert!(!ok && err.contains("restore failed"), "{err}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "kept"
    );
}
