//! `dsbackup backup …` against a real server.

use std::process::Command;

use serde_json::Value;

use crate::backup::rig;
use crate::harness::*;

fn cli(s: &TestServer, key: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .arg("backup")
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
    assert!(ok && out.contains("no backup job"), "{out}");

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
