//! The command line as a new user meets it: people's words instead of wire names ("Failed"),
//! where a local backup went, a corrupt archive called corrupt, the expected hash, cancel with
//! nothing running, week days by name and schedules in words, local files uploaded and server
//! paths named, `delete --all` confirmed, completions, a manual page, and the warning that
//! nobody can register.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;

use crate::backup::rig;
use crate::cli::dsbackup;
use crate::harness::*;

fn run(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    dsbackup(s, OWNER_KEY, args)
}

/// A rig with one Local backup made through the CLI; the archive's path.
async fn backed_up() -> (crate::backup::Rig, std::path::PathBuf) {
    let r = rig().await;
    let root = r.root.display().to_string();
    let (ok, _, err) = run(
        &r.s,
        &["backup", "start", "--storage", "local", "--path", &root],
    );
    assert!(ok, "{err}");
    let archive = std::fs::read_dir(&r.root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (r, archive)
}

/// Restores with `args` after changing a file, and checks it came back.
fn restores(r: &crate::backup::Rig, args: &[&str]) {
    std::fs::write(r.source.join("readme.txt"), "changed").unwrap();
    let (ok, out, err) = run(&r.s, args);
    assert!(ok && out.contains("Completed 100%"), "{out}{err}");
    let text = std::fs::read_to_string(r.source.join("readme.txt")).unwrap();
    assert_eq!(text, "hello, backups\n");
}

#[tokio::test]
async fn backups_say_failed_and_where_a_local_archive_went() {
    let r = rig().await;
    let root = r.root.display().to_string();
    let (ok, out, err) = run(
        &r.s,
        &["backup", "start", "--storage", "local", "--path", &root],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Completed 100%"), "{out}");
    let name = std::fs::read_dir(&r.root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let want = format!("archive: {root}/{} (on the server)", name.to_string_lossy());
    assert!(out.contains(&want), "{out}");

    let (ok, out, _) = run(&r.s, &["backup", "history"]);
    assert!(ok && out.contains("  local  "), "storage in words: {out}");

    // A source that went away fails the job: "Failed", never the wire's "Failted".
    std::fs::rename(&r.source, r.source.with_extension("gone")).unwrap();
    let (ok, out, err) = run(
        &r.s,
        &["backup", "start", "--storage", "local", "--path", &root],
    );
    assert!(!ok, "{out}");
    assert!(out.contains(" Failed "), "{out}");
    assert!(err.contains("backup failed"), "{err}");
    let (_, out, _) = run(&r.s, &["backup", "progress"]);
    assert!(out.contains("Failed") && !out.contains("Failted"), "{out}");

    let (ok, out, _) = run(&r.s, &["backup", "cancel"]);
    assert!(ok && out.contains("no backup is running"), "{out}");
}

#[tokio::test]
async fn verify_tells_corrupt_from_foreign_and_says_what_was_expected() {
    let (r, archive) = backed_up().await;
    let a = archive.display().to_string();

    let (ok, _, err) = run(&r.s, &["verify", &a, "--sha256", "ab12"]);
    assert!(
        !ok && err.contains("SHA-256 mismatch: expected AB12, the archive's is "),
        "{err}"
    );

    let bytes = std::fs::read(&archive).unwrap();
    let cut = r.root.parent().unwrap().join("cut.tar.zst");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, _, err) = run(&r.s, &["verify", &cut.display().to_string()]);
    assert!(!ok && err.contains("the archive is corrupt"), "{err}");
    assert!(!err.contains("not a dsbackup archive"), "{err}");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let bad = r.root.parent().unwrap().join("flipped.tar.zst");
    std::fs::write(&bad, &flipped).unwrap();
    let (ok, _, err) = run(&r.s, &["verify", &bad.display().to_string()]);
    assert!(!ok && err.contains("corrupt"), "{err}");

    let text = r.root.parent().unwrap().join("notes.txt");
    std::fs::write(&text, "just some notes\n").unwrap();
    let (ok, _, err) = run(&r.s, &["verify", &text.display().to_string()]);
    assert!(!ok && err.contains("not a dsbackup archive"), "{err}");
}

#[tokio::test]
async fn weekly_days_by_name_and_schedules_in_words() {
    let r = rig().await;
    let root = r.root.display().to_string();
    let (ok, _, err) = run(
        &r.s,
        &[
            "schedule",
            "set",
            "--period",
            "weekly",
            "--day",
            "monday",
            "--hour",
            "3",
            "--keep",
            "4",
            "--storage",
            "local",
            "--path",
            &root,
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run(&r.s, &["schedule", "show"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "weekly on Monday at 03:00 (portal time), to local in {root}, keeping 4 backups"
        )),
        "{out}"
    );
    assert!(
        out.contains("next run: ") && out.contains(" UTC (in "),
        "{out}"
    );
    assert!(
        !out.contains("EveryWeek") && !out.contains("filePath"),
        "{out}"
    );
    let (_, json_out, _) = run(&r.s, &["schedule", "show", "--json"]);
    assert!(
        json_out.contains("\"day\":2"),
        "Monday is 2 on the wire: {json_out}"
    );
    let (ok, _, err) = run(
        &r.s,
        &[
            "schedule", "set", "--period", "weekly", "--day", "someday", "--hour", "3",
        ],
    );
    assert!(!ok && err.contains("unknown day"), "{err}");
}

#[tokio::test]
async fn restore_uploads_local_files_and_takes_server_paths_by_flag() {
    let (r, archive) = backed_up().await;
    let on_server = archive.display().to_string();

    // A file that is not on this machine: the message points at --server-path.
    let (ok, _, err) = run(&r.s, &["restore", "/nowhere/portal.tar.zst"]);
    assert!(
        !ok && err.contains("no such file on this machine") && err.contains("--server-path"),
        "{err}"
    );

    restores(&r, &["restore", "--server-path", &on_server]);

    // A local copy is uploaded, and the server's copy is gone once the restore ended.
    let copy = r.root.parent().unwrap().join("copy.tar.zst");
    std::fs::copy(&archive, &copy).unwrap();
    restores(&r, &["restore", &copy.display().to_string()]);
    let upload = r.s.data_dir.join("tmp/backup/1-upload.tar.zst");
    assert!(
        !upload.exists(),
        "the uploaded copy is removed after the restore"
    );

    // While it is there, the uploaded copy is private.
    let (st, v) = send(r.s.owner(
        Method::POST,
        "/backupFileUpload.ashx?Init=true&totalSize=100&extension=tar.zst",
    ))
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = send(
        r.s.owner(Method::POST, "/backupFileUpload.ashx")
            .body(vec![0u8; 10]),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let mode = std::fs::metadata(&upload).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "upload mode {mode:o}");
    let dir = std::fs::metadata(upload.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir, 0o700, "upload folder mode {dir:o}");
}

#[tokio::test]
async fn delete_all_needs_a_yes_away_from_a_terminal() {
    let (r, _) = backed_up().await;
    let (ok, _, err) = run(&r.s, &["backup", "delete", "--all"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (_, out, _) = run(&r.s, &["backup", "history"]);
    assert!(out.contains("1 backup(s)"), "nothing was deleted: {out}");
    let (ok, out, err) = run(&r.s, &["backup", "delete", "--all", "--yes"]);
    assert!(ok && out.contains("deleted"), "{out}{err}");
    let (_, out, _) = run(&r.s, &["backup", "history"]);
    assert!(out.contains("0 backup(s)"), "{out}");
}

#[tokio::test]
async fn completions_man_page_and_serve_help() {
    let s = TestServer::start().await;
    let (ok, out, err) = run(&s, &["completions", "bash"]);
    assert!(
        ok && out.contains("_dsbackup()") && out.contains("--server-path"),
        "{err}"
    );
    let (ok, out, _) = run(&s, &["completions", "zsh"]);
    assert!(ok && out.contains("#compdef dsbackup"), "{out}");
    let (ok, out, _) = run(&s, &["man"]);
    assert!(
        ok && out.starts_with(".ie") || out.contains(".TH dsbackup"),
        "{out}"
    );
    let (ok, out, _) = run(&s, &["serve", "--help"]);
    assert!(
        ok && out.contains("DSBACKUP_DATA_DIR") && out.contains("DSBACKUP_SMTP_HOST"),
        "{out}"
    );
}

#[tokio::test]
async fn closed_registration_without_bootstrap_warns() {
    let s = TestServer::start_with(Opts {
        env: vec![("DSBACKUP_BOOTSTRAP", "false".into())],
        config: None,
    })
    .await;
    assert!(
        s.log().contains("nobody can register a portal"),
        "{}",
        s.log()
    );
    let open = TestServer::start_with(Opts {
        env: vec![
            ("DSBACKUP_BOOTSTRAP", "false".into()),
            ("DSBACKUP_REGISTRATION", "open".into()),
        ],
        config: None,
    })
    .await;
    assert!(
        !open.log().contains("nobody can register"),
        "{}",
        open.log()
    );
}
