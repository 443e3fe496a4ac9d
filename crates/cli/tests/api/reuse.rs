//! Frame reuse through the API: a second backup of an unchanged portal copies its parent's
//! frames (counted in `/metrics`; on a file system with reflinks, as shared blocks) and
//! restores on its own once the parent is deleted; a parent archive damaged on disk is
//! detected and the backup is written again from the sources.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::backup::*;
use crate::harness::*;
use crate::metrics::{sample, scrape};
use crate::restore::{restore, tree};

/// Adds three incompressible 3 MB files (a frame run each) and lets a second pass, so their
/// identities are trusted.
async fn grow(r: &Rig) {
    grow_by(r, 3).await;
}

/// Adds `files` incompressible 3 MB files, then lets a second pass.
async fn grow_by(r: &Rig, files: u64) {
    for i in 0..files {
        std::fs::write(
            r.source.join(format!("big-{i}.bin")),
            pseudo_random(3_000_000, 100 + i),
        )
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// Deletes the backup `id` through the API.
async fn delete(r: &Rig, id: &str) {
    let (st, v) = send(r.s.owner(
        Method::DELETE,
        &format!("/api/2.0/backup/deletebackup/{id}"),
    ))
    .await;
    assert_eq!(st, 200, "{v}");
}

async fn parents(r: &Rig, result: &str) -> f64 {
    let (_, _, text) = scrape(&r.s, None).await;
    sample(
        &text,
        &format!(r#"dsbackup_backup_parents_total{{result="{result}"}}"#),
    )
    .unwrap_or(0.0)
}

async fn backup_now(r: &Rig) -> String {
    let p = start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    p["taskId"].as_str().unwrap().to_string()
}

/// Restores the local backup `id` over a changed source and checks it is `before` again.
async fn restore_to(r: &Rig, id: &str, before: &std::collections::BTreeMap<String, String>) {
    std::fs::write(r.source.join("big-1.bin"), b"changed").unwrap();
    std::fs::remove_file(r.source.join("readme.txt")).unwrap();
    let done = restore(
        &r.s,
        json!({"backupId": id, "storageType": 3, "storageParams": []}),
    )
    .await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(&tree(&r.source), before);
}

/// The archive file of a record.
async fn archive_of(r: &Rig, id: &str) -> std::path::PathBuf {
    let h = history(&r.s, false).await;
    let rec = h.iter().find(|x| x["id"] == id).unwrap();
    r.root.join(rec["fileName"].as_str().unwrap())
}

#[tokio::test]
async fn a_second_backup_copies_unchanged_frames_and_stands_alone() {
    let r = rig().await;
    grow(&r).await;
    let before = tree(&r.source);
    let first = backup_now(&r).await;
    assert_eq!(parents(&r, "copied").await, 0.0);
    let second = backup_now(&r).await;
    assert_eq!(parents(&r, "copied").await, 1.0);
    let (_, _, text) = scrape(&r.s, None).await;
    let copied = sample(
        &text,
        r#"dsbackup_backup_reused_bytes_total{storage="local"}"#,
    )
    .unwrap();
    assert!(copied >= 9_000_000.0, "{copied}");

    // The parent goes; the child restores on its own.
    delete(&r, &first).await;
    restore_to(&r, &second, &before).await;
}

#[tokio::test]
async fn a_damaged_parent_is_rejected_and_the_backup_written_from_the_sources() {
    let r = rig().await;
    grow(&r).await;
    let before = tree(&r.source);
    let first = backup_now(&r).await;
    // One byte of the parent flipped on disk (a bad sector, a tampered copy).
    let path = archive_of(&r, &first).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();

    let second = backup_now(&r).await;
    assert_eq!(parents(&r, "rejected").await, 1.0);
    assert_eq!(parents(&r, "copied").await, 0.0);
    // The new archive holds the sources' bytes: it restores exactly.
    restore_to(&r, &second, &before).await;
}

/// Free bytes of the file system holding `dir`, once what was written there is on disk.
fn free_bytes(dir: &std::path::Path) -> u64 {
    let f = std::fs::File::open(dir).unwrap();
    rustix::fs::syncfs(&f).unwrap();
    let s = rustix::fs::statvfs(dir).unwrap();
    s.f_bfree * s.f_frsize
}

/// On a file system with reflinks (`DSBACKUP_REFLINK_DIR`: `.ci/run` mounts an XFS image) the
/// second backup's copied frames share the first's blocks: the new archive takes next to no
/// space, yet restores on its own once the first is deleted.
#[tokio::test]
async fn on_a_file_system_with_reflinks_a_second_backup_shares_its_parents_blocks() {
    let Some(base) = std::env::var_os("DSBACKUP_REFLINK_DIR") else {
        eprintln!("DSBACKUP_REFLINK_DIR is not set: shared blocks not checked");
        return;
    };
    let r = rig_in(std::path::Path::new(&base)).await;
    grow_by(&r, 8).await;
    let before = tree(&r.source);
    let first = backup_now(&r).await;
    let free = free_bytes(&r.root);
    let second = backup_now(&r).await;
    let used = free.saturating_sub(free_bytes(&r.root));
    let size = std::fs::metadata(archive_of(&r, &second).await)
        .unwrap()
        .len();
    assert!(size > 24_000_000, "{size}");
    assert!(
        used < size / 8,
        "the second archive ({size} bytes) took {used} bytes: its blocks were not shared"
    );
    delete(&r, &first).await;
    restore_to(&r, &second, &before).await;
}

#[tokio::test]
async fn on_s3_the_parents_frames_are_streamed_from_the_store() {
    let Some(m) = crate::servers::moto().await else {
        return;
    };
    let r = rig().await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/settings/authservice")
            .json(&json!({"name": "s3", "props": [
                {"name": "acesskey", "value": "AKIDTEST"},
                {"name": "secretaccesskey", "value": "reuse-secret-1234"}]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let params = crate::servers::kv(&[
        ("module", "s3"),
        ("bucket", "bkt"),
        ("region", "us-east-1"),
        ("serviceurl", &m.url),
        ("forcepathstyle", "true"),
    ]);
    let body = json!({"storageType": 5, "storageParams": params});
    grow(&r).await;
    let before = tree(&r.source);
    let first = start(&r.s, &body).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let second = start(&r.s, &body).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(parents(&r, "copied").await, 1.0);
    let (_, _, text) = scrape(&r.s, None).await;
    let copied = sample(
        &text,
        r#"dsbackup_backup_reused_bytes_total{storage="consumer"}"#,
    )
    .unwrap();
    assert!(copied >= 9_000_000.0, "{copied}");
    let bytes = reqwest::get(done["link"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    dsbackup_engine::verify(&bytes[..], None).unwrap();

    let (st, v) = send(r.s.owner(
        Method::DELETE,
        &format!(
            "/api/2.0/backup/deletebackup/{}",
            first["taskId"].as_str().unwrap()
        ),
    ))
    .await;
    assert_eq!(st, 200, "{v}");
    std::fs::remove_file(r.source.join("big-0.bin")).unwrap();
    let done = restore(
        &r.s,
        json!({"backupId": second["taskId"], "storageType": 5}),
    )
    .await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(tree(&r.source), before);
}
