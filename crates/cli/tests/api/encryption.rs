//! Archives encrypted to age recipients, end to end against a real S3-protocol server
//! (`moto_server`, see `servers.rs`): the stored object is an age file (not zstd) that the
//! age crate — and an `age`/`rage` binary when one is on `PATH` — decrypts to a valid archive;
//! the record's hash is of the stored bytes; a restore with the server's identity round-trips,
//! one without it, or with a wrong one, fails before anything is staged; `dsbackup verify`
//! needs `--identity`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;
use age::x25519::Identity;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::backup::*;
use crate::harness::*;
use crate::restore::tree;
use crate::servers::*;

/// Writes `id` as `age-keygen` does (0600); returns the file.
fn key_file(dir: &Path, name: &str, id: &Identity) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&path, private).unwrap();
    path
}

fn decrypt(stored: &[u8], id: &Identity) -> Vec<u8> {
    let d = age::Decryptor::new(stored).unwrap();
    let mut plain = Vec::new();
    d.decrypt(std::iter::once(id as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

/// `age` or `rage` on `PATH`, if any.
fn age_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("age"), d.join("rage")])
        .find(|p| p.is_file())
}

fn verify_cli(args: &[&str]) -> (bool, String) {
    outcome(dsbackup().arg("verify").args(args))
}

/// A restore that must fail before staging: the error names the missing identity, nothing
/// is left in staging or beside the source, the source and the portal are as they were.
async fn restore_refused(r: &Rig, id: &serde_json::Value) {
    std::fs::write(r.source.join("readme.txt"), "changed meanwhile").unwrap();
    let before = tree(&r.source);
    let done = crate::restore::restore(&r.s, json!({"backupId": id, "storageType": 2})).await;
    assert_eq!(done["status"], 4, "{done}");
    let err = done["error"].as_str().unwrap();
    assert!(
        err.contains("encrypted to recipients this server has no identity for"),
        "{err}"
    );
    assert_eq!(tree(&r.source), before, "the source is untouched");
    let staging = r.s.data_dir.join("staging");
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staging leftovers: {left:?}");
    let beside: Vec<_> = std::fs::read_dir(r.source.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".dsbackup-"))
        .collect();
    assert!(beside.is_empty(), "staged sources left: {beside:?}");
    // The portal is Active again: the owner's requests are served.
    assert_eq!(history(&r.s, false).await.len(), 1);
}

#[tokio::test]
async fn an_encrypted_backup_to_s3_restores_only_with_its_identity() {
    let Some(m) = moto().await else { return };
    let keys = tempfile::tempdir().unwrap();
    let (server_id, extra_id) = (Identity::generate(), Identity::generate());
    let server_key = key_file(keys.path(), "server.key", &server_id);
    let mut r = rig_with(
        &format!("encrypt_to = [\"{}\"]", server_id.to_public()),
        vec![(
            "DSBACKUP_AGE_IDENTITY_FILE",
            server_key.display().to_string(),
        )],
    )
    .await;
    let original = tree(&r.source);
    // The request adds a recipient of its own (`encryptTo`) to the configured one.
    let extra = extra_id.to_public().to_string();
    let params = kv(&[
        ("bucket", "bkt"),
        ("serviceurl", &m.url),
        ("acesskey", "AKIDTEST"),
        ("secretaccesskey", "SECRET"),
        ("encryptTo", &extra),
    ]);
    start(&r.s, &json!({"storageType": 2, "storageParams": params})).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    let h = history(&r.s, false).await;
    let name = h[0]["fileName"].as_str().unwrap();
    assert!(name.ends_with(".tar.zst.age"), "{name}");

    // The object is an age file, not a zstd stream; the record's hash is of it.
    let stored = reqwest::get(done["link"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert!(!stored.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]));
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    assert!(dsbackup_engine::verify(&stored[..], None).is_err());
    let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
    let (hash, size): (String, i64) = db
        .query_row("SELECT hash, size FROM backups", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(hash, hex::encode_upper(Sha256::digest(&stored)));
    assert_eq!(size as usize, stored.len());

    // Either recipient decrypts it to a valid archive.
    let plain = decrypt(&stored, &server_id);
    assert_eq!(decrypt(&stored, &extra_id), plain);
    assert!(plain.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]));
    dsbackup_engine::verify(&plain[..], None).unwrap();
    let file = keys.path().join(name);
    std::fs::write(&file, &stored).unwrap();
    if let Some(bin) = age_binary() {
        let out = Command::new(&bin)
            .arg("-d")
            .arg("-i")
            .arg(&server_key)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, plain, "{} decrypts it", bin.display());
    } else {
        eprintln!("note: no age/rage binary on PATH; decrypted with the age crate only");
    }

    // Offline verify: needs the identity, then checks the stored bytes' hash.
    let f = file.to_str().unwrap();
    let (ok, text) = verify_cli(&[f]);
    assert!(!ok && text.contains("--identity"), "{text}");
    let other = key_file(keys.path(), "other.key", &Identity::generate());
    let (ok, text) = verify_cli(&["--identity", other.to_str().unwrap(), f]);
    assert!(
        !ok && text.contains("none of the --identity files"),
        "{text}"
    );
    let key = server_key.to_str().unwrap();
    let (ok, text) = verify_cli(&["--identity", key, "--sha256", &hash, f]);
    assert!(
        ok && text.contains("age-encrypted") && text.contains(&hash),
        "{text}"
    );
    let (ok, text) = verify_cli(&["--identity", key, "--sha256", &"0".repeat(64), f]);
    assert!(
        !ok && text.contains("SHA-256 mismatch: expected 0000"),
        "{text}"
    );

    // A restore with the server's identity round-trips exactly.
    std::fs::write(r.source.join("readme.txt"), "changed").unwrap();
    std::fs::remove_file(r.source.join("nested/data.json")).unwrap();
    let done =
        crate::restore::restore(&r.s, json!({"backupId": h[0]["id"], "storageType": 2})).await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(tree(&r.source), original);

    // Without the identity, or with a wrong one, it fails before anything is staged.
    r.s.restart_with(Vec::new());
    restore_refused(&r, &h[0]["id"]).await;
    r.s.restart_with(vec![(
        "DSBACKUP_AGE_IDENTITY_FILE",
        other.display().to_string(),
    )]);
    restore_refused(&r, &h[0]["id"]).await;
}

#[tokio::test]
async fn encryption_applies_off_the_machine_only_and_checks_recipients() {
    let r = rig().await;
    // encryptTo for a Local target is refused: the server's own disk is not encrypted.
    let mut body = local(&r.root);
    body["storageParams"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "encryptTo", "value": Identity::generate().to_public().to_string()}));
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&body),
    )
    .await;
    assert_error(st, &v, 400);
    assert!(v.to_string().contains("remote storages only"), "{v}");
    // A recipient that is not an age key is named.
    let params = kv(&[
        ("bucket", "bkt"),
        ("serviceurl", "http://127.0.0.1:9"),
        ("encryptTo", "age1notakey"),
    ]);
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 2, "storageParams": params})),
    )
    .await;
    assert_error(st, &v, 400);
    assert!(v.to_string().contains("age1notakey"), "{v}");
}
