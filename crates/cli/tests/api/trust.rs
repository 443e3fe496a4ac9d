//! Restores that trust nothing inside the archive: forged layouts and link escapes refused by
//! `restore` and `verify` alike, authorisation and quotas before staging, table bombs with flat
//! memory, modes, roles, validated rows, dead keys staying dead, kept Documents backups, and
//! one lock between backups and restores.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;
use crate::restore::*;

/// A real archive opened for editing: its manifest and every file's bytes.
struct Edit {
    manifest: Value,
    files: std::collections::HashMap<String, Vec<u8>>,
}

impl Edit {
    /// Opens a format 1 archive as it is, or a format 2 archive as the equivalent format 1
    /// archive (its header as the manifest, its entries listed with their BLAKE3): the forged
    /// archives below are then written in format 1, which every restore still reads.
    fn open(bytes: &[u8]) -> Self {
        let tar = zstd::decode_all(bytes).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut manifest = Value::Null;
        let mut files = std::collections::HashMap::new();
        let mut listed = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let h = e.header();
            let kind = h.entry_type();
            if path == "manifest.json" || path == "dsbackup.json" {
                manifest = serde_json::from_slice(&data).unwrap();
                continue;
            }
            if path == "dsbackup.index" {
                continue;
            }
            let mut entry = json!({
                "path": path.trim_end_matches('/'),
                "type": if kind.is_dir() { "dir" } else if kind.is_symlink() { "symlink" } else { "file" },
                "size": if kind.is_file() { data.len() } else { 0 },
                "mode": h.mode().unwrap(),
                "mtime": h.mtime().unwrap(),
            });
            if kind.is_file() {
                entry["blake3"] = json!(blake3::hash(&data).to_hex().to_string());
                files.insert(path, data);
            } else if kind.is_symlink() {
                entry["target"] = json!(e.link_name().unwrap().unwrap().display().to_string());
            }
            listed.push(entry);
        }
        if manifest["formatVersion"] == 2 {
            manifest["formatVersion"] = json!(1);
            manifest.as_object_mut().unwrap().remove("plannedBytes");
            manifest["entries"] = json!(listed);
        }
        Self { manifest, files }
    }

    fn rows(&self, table: &str) -> Vec<Value> {
        String::from_utf8(self.files[&format!("catalog/{table}")].clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn set_rows(&mut self, table: &str, rows: &[Value]) {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        self.set(&format!("catalog/{table}"), text.into_bytes());
    }

    fn set(&mut self, path: &str, data: Vec<u8>) {
        for e in self.manifest["entries"].as_array_mut().unwrap() {
            if e["path"] == path {
                e["size"] = json!(data.len());
                e["blake3"] = json!(blake3::hash(&data).to_hex().to_string());
            }
        }
        self.files.insert(path.to_string(), data);
    }

    fn seal(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        append_manifest(&mut b, &self.manifest);
        for e in self.manifest["entries"].as_array().unwrap() {
            let path = e["path"].as_str().unwrap();
            let mut h = tar::Header::new_gnu();
            h.set_path(path).unwrap();
            h.set_mode(e["mode"].as_u64().unwrap() as u32);
            h.set_mtime(e["mtime"].as_u64().unwrap_or(0));
            let data: &[u8] = match e["type"].as_str().unwrap() {
                "dir" => {
                    h.set_entry_type(tar::EntryType::Directory);
                    &[]
                }
                "symlink" => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_link_name(e["target"].as_str().unwrap()).unwrap();
                    &[]
                }
                _ => &self.files[path],
            };
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        zstd::encode_all(b.into_inner().unwrap().as_slice(), 3).unwrap()
    }
}

/// A restore from an archive file given by path (Local storage), as `who`, waited for.
async fn restore_file(s: &TestServer, who: &str, path: &Path, dump: bool) -> Value {
    let (st, v) = send(
        s.as_(who, Method::POST, "/api/2.0/backup/startrestore")
            .json(
                &json!({"backupId": "", "storageType": "Local", "dump": dump,
                "storageParams": [{"key": "filePath", "value": path.display().to_string()}]}),
            ),
    )
    .await;
    assert_eq!(st, 200, "startrestore: {v}");
    let task = v["response"]["taskId"].clone();
    for _ in 0..3000 {
        let (_, v) = send(s.req(
            Method::GET,
            &format!("/api/2.0/backup/getrestoreprogress?Dump={dump}"),
        ))
        .await;
        if v["response"]["taskId"] == task && v["response"]["isCompleted"] == true {
            return v["response"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the restore did not finish");
}

/// `dsbackup verify FILE`: (success, output).
fn verify_cli(path: &Path) -> (bool, String) {
    outcome(dsbackup().arg("verify").arg(path))
}

fn link(path: &'static str, target: &'static str) -> (Value, Raw) {
    (
        entry_json(path, "symlink", b"", Some(target)),
        Raw {
            link: target,
            ..raw(path, tar::EntryType::Symlink, b"")
        },
    )
}

fn dir_entry(path: &'static str) -> (Value, Raw) {
    (
        entry_json(path, "dir", b"", None),
        raw(path, tar::EntryType::Directory, b""),
    )
}

fn file_entry(path: &'static str, data: &[u8]) -> (Value, Raw) {
    (
        entry_json(path, "file", data, None),
        raw(path, tar::EntryType::Regular, data),
    )
}

fn build(manifest_of: impl Fn(Vec<Value>) -> Value, parts: Vec<(Value, Raw)>) -> Vec<u8> {
    let (m, r): (Vec<Value>, Vec<Raw>) = parts.into_iter().unzip();
    craft(&manifest_of(m), &r)
}

/// A manifest whose own `sources` list claims the whole `sources` (or `portals`) directory.
fn forged(entries: Vec<Value>, dump: bool) -> Value {
    let mut m = manifest(entries);
    m["sources"] = json!([
        {"name": "all", "kind": "directory", "origin": "/", "prefix": if dump { "portals" } else { "sources" }},
        {"name": "files", "kind": "directory", "origin": "/x", "prefix": "sources/files"}
    ]);
    if dump {
        m["dump"] = json!(true);
        m["portal"] = Value::Null;
    }
    m
}

#[tokio::test]
async fn forged_layouts_and_link_escapes_are_refused_by_restore_and_verify() {
    let r = rig().await;
    add_portal_content(&r.s, "keep").await;
    let portal = |parts| build(|m| forged(m, false), parts);
    let dump = |parts| build(|m| forged(m, true), parts);
    let cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        (
            "a link climbing out through a forged source",
            portal(vec![
                dir_entry("sources"),
                dir_entry("sources/files"),
                link("sources/files/x", "../y"),
            ]),
            false,
            "outside its source",
        ),
        (
            "a link climbing through another link",
            portal(vec![
                dir_entry("sources"),
                dir_entry("sources/files"),
                dir_entry("sources/files/sub"),
                link("sources/files/sub/up", ".."),
                link("sources/files/sub/esc", "up/.."),
            ]),
            false,
            "outside its source",
        ),
        (
            "a link in a dump climbing out through a forged source",
            dump(vec![
                dir_entry("portals"),
                dir_entry("portals/default"),
                dir_entry("portals/default/sources"),
                dir_entry("portals/default/sources/files"),
                link("portals/default/sources/files/x", "../../../../etc"),
            ]),
            true,
            "outside its source",
        ),
        (
            "a link in documents",
            portal(vec![dir_entry("documents"), link("documents/1", ".")]),
            false,
            "must be a directory",
        ),
        (
            "a source root that is a file",
            portal(vec![
                dir_entry("sources"),
                file_entry("sources/files", b"x"),
            ]),
            false,
            "must be a directory",
        ),
        (
            "an unknown catalog table",
            portal(vec![
                dir_entry("catalog"),
                file_entry("catalog/evil.jsonl", b"{}"),
            ]),
            false,
            "not part of",
        ),
    ];
    let source_before = tree(&r.source);
    let catalog_before = catalog(&r.s);
    let outside = r.source.parent().unwrap();
    let around_before: Vec<_> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for (name, bytes, is_dump, needle) in cases {
        let path = r.root.join("hostile.tar.zst");
        std::fs::write(&path, &bytes).unwrap();
        let (ok, said) = verify_cli(&path);
        assert!(!ok && said.contains(needle), "verify, {name}: {said}");
        let done = restore_file(&r.s, OWNER_KEY, &path, is_dump).await;
        assert_eq!(done["status"], 4, "{name}: {done}");
        let err = done["error"].as_str().unwrap();
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(tree(&r.source), source_before, "{name}");
        assert_eq!(catalog(&r.s), catalog_before, "{name}");
        let around: Vec<_> = std::fs::read_dir(outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(around, around_before, "{name}: nothing next to the source");
    }
}

/// A tar + zstd archive streamed from a generator, so a large entry costs no memory; `size`
/// bytes of `byte` are written, whatever the manifest declares.
fn bomb(manifest: &Value, table: &str, size: u64, byte: u8) -> Vec<u8> {
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    {
        let mut b = tar::Builder::new(&mut enc);
        append_manifest(&mut b, manifest);
        let mut h = tar::Header::new_gnu();
        h.set_path("catalog").unwrap();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o700);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_path(format!("catalog/{table}")).unwrap();
        h.set_mode(0o600);
        h.set_size(size);
        h.set_cksum();
        b.append(&h, std::io::repeat(byte).take(size)).unwrap();
        b.finish().unwrap();
    }
    enc.finish().unwrap()
}

/// Yields `piece` `count` times.
struct Repeat {
    piece: Vec<u8>,
    count: usize,
    at: usize,
}

impl Read for Repeat {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.count == 0 {
            return Ok(0);
        }
        let n = (self.piece.len() - self.at).min(out.len());
        out[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        if self.at == self.piece.len() {
            self.at = 0;
            self.count -= 1;
        }
        Ok(n)
    }
}

/// An archive whose manifest lists the same entry `count` times.
fn manifest_bomb(count: usize) -> Vec<u8> {
    let mut m = manifest(vec![]);
    m["sources"] = json!([]);
    let text = m.to_string();
    let (head, tail) = text.split_at(text.find("\"entries\":[").unwrap() + 11);
    let piece = br#"{"path":"catalog","type":"dir","size":0,"mode":448,"mtime":0},"#.to_vec();
    let entry = br#"{"path":"catalog","type":"dir","size":0,"mode":448,"mtime":0}"#;
    let size = head.len() + piece.len() * count + entry.len() + tail.len();
    let body = std::io::Cursor::new(head.as_bytes().to_vec())
        .chain(Repeat {
            piece,
            count,
            at: 0,
        })
        .chain(&entry[..])
        .chain(std::io::Cursor::new(tail.as_bytes().to_vec()));
    let mut enc = zstd::Encoder::new(Vec::new(), 3).unwrap();
    {
        let mut b = tar::Builder::new(&mut enc);
        let mut h = tar::Header::new_gnu();
        h.set_size(size as u64);
        h.set_mode(0o600);
        h.set_path("manifest.json").unwrap();
        h.set_cksum();
        b.append(&h, body).unwrap();
        b.finish().unwrap();
    }
    enc.finish().unwrap()
}

/// A manifest declaring one table of `size` bytes of `byte` (hashed only when `hash`).
fn bomb_manifest(table: &str, size: u64, byte: u8, hash: bool) -> Value {
    let mut hasher = blake3::Hasher::new();
    let chunk = vec![byte; 1 << 20];
    let mut left = if hash { size } else { 0 };
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    let mut m = manifest(vec![
        json!({"path": "catalog", "type": "dir", "size": 0, "mode": 448, "mtime": 0}),
        json!({"path": format!("catalog/{table}"), "type": "file", "size": size, "mode": 384,
            "mtime": 0, "blake3": hasher.finalize().to_hex().to_string()}),
    ]);
    m["sources"] = json!([]);
    m
}

#[tokio::test]
async fn table_bombs_are_refused_with_flat_memory_and_bounded_staging() {
    let r = rig_with("restore_quota_bytes = 100000000", vec![]).await;
    let catalog_before = catalog(&r.s);
    let cases = [
        // 4 GiB declared: over the quota, refused before anything is staged (so the bytes
        // behind the declaration need not even be there).
        ("users.jsonl", 4u64 << 30, 1 << 20, b'a', "restore quota"),
        // 96 MB of one endless row: staged on disk within the quota, never held in memory.
        ("portal.jsonl", 96_000_000, 96_000_000, b'a', "row too long"),
        // 96 MB of empty rows, streamed past; the archive lacks the other tables.
        (
            "files.jsonl",
            96_000_000,
            96_000_000,
            b'\n',
            "no catalog/portal.jsonl",
        ),
    ];
    for (table, declared, size, byte, needle) in cases {
        let m = bomb_manifest(table, declared, byte, declared == size);
        let bytes = bomb(&m, table, size, byte);
        assert!(bytes.len() < 600_000, "a small archive: {}", bytes.len());
        let path = r.root.join("bomb.tar.zst");
        std::fs::write(&path, &bytes).unwrap();
        let done = restore_file(&r.s, OWNER_KEY, &path, false).await;
        assert_eq!(done["status"], 4, "{done}");
        let err = done["error"].as_str().unwrap();
        assert!(err.contains(needle), "{table} {declared}: {err}");
        assert_eq!(catalog(&r.s), catalog_before);
    }
    // A manifest of one entry repeated five million times (~400 MB of JSON in a small archive).
    let bytes = manifest_bomb(5_000_000);
    assert!(bytes.len() < 600_000, "a small archive: {}", bytes.len());
    let path = r.root.join("bomb.tar.zst");
    std::fs::write(&path, &bytes).unwrap();
    let done = restore_file(&r.s, OWNER_KEY, &path, false).await;
    assert_eq!(done["status"], 4, "{done}");
    assert!(done["error"].as_str().unwrap().contains("twice"), "{done}");
    let staging = r.s.data_dir.join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
    let peak = r.s.peak_rss();
    assert!(peak < 200 << 20, "peak RSS {} MiB", peak >> 20);
}

#[tokio::test]
async fn saas_authorises_an_archive_before_staging_it() {
    let r = rig_with(
        "",
        vec![
            ("DSBACKUP_MODE", "saas".into()),
            ("DSBACKUP_FAULT_DELAY", "restore-extract:1".into()),
        ],
    )
    .await;
    let m = bomb_manifest("users.jsonl", 2 << 30, b'a', false);
    let bytes = bomb(&m, "users.jsonl", 1 << 20, b'a');
    let url = format!(
        "/backupFileUpload.ashx?Init=true&totalSize={}&extension=tar.zst",
        bytes.len()
    );
    let (st, v) = send(r.s.owner(Method::POST, &url)).await;
    assert_eq!(st, 200, "{v}");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("bomb"),
    );
    let (_, v) = send(
        r.s.owner(Method::POST, "/backupFileUpload.ashx")
            .multipart(form),
    )
    .await;
    assert_eq!(v["endUpload"], true, "{v}");
    let done = restore(&r.s, json!({"backupId": "", "storageType": "Local"})).await;
    assert_eq!(done["status"], 4, "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("only archives this portal made"),
        "{done}"
    );
    assert!(
        !r.s.log().contains("fault point"),
        "nothing was staged:\n{}",
        r.s.log()
    );
    let upload = r.s.data_dir.join("tmp/backup/1-upload.tar.zst");
    assert!(
        !upload.exists(),
        "the upload is removed once the restore ends"
    );
}

#[tokio::test]
async fn restored_modes_keep_permission_bits_only() {
    let r = rig().await;
    let file = r.source.join("setuid-tool");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let shared = r.source.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o3775)).unwrap();
    let p = start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    let done = restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
    assert_eq!(done["status"], 2, "{done}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&file), 0o755);
    assert_eq!(mode(&shared), 0o775);
}

/// The last Local archive of the rig, its bytes.
async fn fresh_backup(r: &Rig) -> Vec<u8> {
    start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["status"], 2);
    let name = history(&r.s, false).await[0]["fileName"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::read(r.root.join(name)).unwrap()
}

async fn login_status(s: &TestServer, email: &str, password: &str) -> u16 {
    send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": email, "password": password})),
    )
    .await
    .0
}

#[tokio::test]
async fn roles_cannot_be_forged_through_an_archive() {
    // `Edit` rewrites a manifest-first (format 1) archive.
    let r = rig_with("archive_format = 1", Vec::new()).await;
    let admin = r.s.member("DocSpaceAdmin", "admin@example.org").await;
    let real = Edit::open(&fresh_backup(&r).await);
    let users = real.rows("users.jsonl");
    let role_of = |u: &Value| u["role"].as_str().unwrap().to_string();
    let swapped: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut u = u.clone();
            u["role"] = json!(match role_of(&u).as_str() {
                "Owner" => "DocSpaceAdmin",
                "DocSpaceAdmin" => "Owner",
                other => other,
            });
            u
        })
        .collect();
    let two_owners: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut u = u.clone();
            u["role"] = json!("Owner");
            u
        })
        .collect();
    let catalog_before = catalog(&r.s);
    for (name, rows, needle) in [
        ("the admin made Owner", swapped, "Owner"),
        ("no members at all", vec![], "exactly one Owner"),
        ("two Owners", two_owners, "Owner"),
    ] {
        let mut e = Edit::open(&real.seal());
        e.set_rows("users.jsonl", &rows);
        let path = r.root.join("forged.tar.zst");
        std::fs::write(&path, e.seal()).unwrap();
        let done = restore_file(&r.s, &admin, &path, false).await;
        assert_eq!(done["status"], 4, "{name}: {done}");
        assert!(
            done["error"].as_str().unwrap().contains(needle),
            "{name}: {done}"
        );
        assert_eq!(catalog(&r.s), catalog_before, "{name}");
    }
    // An admin restoring an archive with the Owner's password changed to the admin's own
    // cannot take the Owner's account: the Owner's live row is kept.
    let admin_hash = users
        .iter()
        .find(|u| role_of(u) == "DocSpaceAdmin")
        .unwrap()["password_hash"]
        .clone();
    let mut e = Edit::open(&real.seal());
    let taken: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut u = u.clone();
            if role_of(&u) == "Owner" {
                u["password_hash"] = admin_hash.clone();
                u["email"] = json!("attacker@example.org");
            }
            u
        })
        .collect();
    assert_ne!(taken, users, "the hash field is named password_hash");
    e.set_rows("users.jsonl", &taken);
    let path = r.root.join("takeover.tar.zst");
    std::fs::write(&path, e.seal()).unwrap();
    let done = restore_file(&r.s, &admin, &path, false).await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(login_status(&r.s, OWNER_EMAIL, OWNER_PASSWORD).await, 200);
    assert_eq!(
        login_status(&r.s, "attacker@example.org", "member-password").await,
        401
    );
    assert_eq!(
        login_status(&r.s, OWNER_EMAIL, "member-password").await,
        401
    );
}

#[tokio::test]
async fn restored_rows_pass_the_api_validation() {
    // `Edit` rewrites a manifest-first (format 1) archive.
    let r = rig_with("archive_format = 1", Vec::new()).await;
    add_portal_content(&r.s, "rows").await;
    let real = Edit::open(&fresh_backup(&r).await);
    let edit_title = |table: &'static str, title: String| {
        move |e: &mut Edit| {
            let mut rows = e.rows(table);
            let last = rows.len() - 1;
            rows[last]["title"] = json!(title);
            e.set_rows(table, &rows);
        }
    };
    let shrink = |e: &mut Edit| {
        let mut rows = e.rows("files.jsonl");
        rows[0]["size"] = json!(rows[0]["size"].as_i64().unwrap() - 1);
        e.set_rows("files.jsonl", &rows);
    };
    let bad_email = |e: &mut Edit| {
        let mut rows = e.rows("users.jsonl");
        rows[0]["email"] = json!("not an email\u{7}");
        e.set_rows("users.jsonl", &rows);
    };
    type Change = Box<dyn Fn(&mut Edit)>;
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "a control character in a room title",
            Box::new(edit_title("folders.jsonl", "Room\u{1}".into())),
            "forbidden character",
        ),
        (
            "a slash in a file title",
            Box::new(edit_title("files.jsonl", "a/b.docx".into())),
            "forbidden character",
        ),
        (
            "a 5000-character title",
            Box::new(edit_title("files.jsonl", "x".repeat(5000))),
            "at most 170",
        ),
        (
            "a recorded size below the bytes",
            Box::new(shrink),
            "records",
        ),
        ("an invalid e-mail", Box::new(bad_email), "e-mail"),
    ];
    let catalog_before = catalog(&r.s);
    for (name, change, needle) in cases {
        let mut e = Edit::open(&real.seal());
        change(&mut e);
        let path = r.root.join("rows.tar.zst");
        std::fs::write(&path, e.seal()).unwrap();
        let done = restore_file(&r.s, OWNER_KEY, &path, false).await;
        assert_eq!(done["status"], 4, "{name}: {done}");
        assert!(
            done["error"].as_str().unwrap().contains(needle),
            "{name}: {done}"
        );
        assert_eq!(catalog(&r.s), catalog_before, "{name}");
    }
}

#[tokio::test]
async fn keys_deleted_after_a_backup_stay_dead() {
    let r = rig().await;
    let (st, k) = send(
        r.s.owner(Method::POST, "/api/2.0/keys")
            .json(&json!({"name": "ci", "permissions": ["*"]})),
    )
    .await;
    assert_eq!(st, 200, "{k}");
    let secret = k["response"]["key"].as_str().unwrap().to_string();
    let id = k["response"]["id"].as_str().unwrap().to_string();
    let p = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let (st, _) = send(r.s.owner(Method::DELETE, &format!("/api/2.0/keys/{id}"))).await;
    assert_eq!(st, 200);
    let done = restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
    assert_eq!(done["status"], 2, "{done}");
    let (st, _) = send(r.s.as_(&secret, Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(st, 401, "the deleted key does not come back to life");
    let (_, list) = send(r.s.owner(Method::GET, "/api/2.0/keys")).await;
    let back = list["response"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(back["isActive"], false, "{back}");
    let (st, _) = send(r.s.owner(Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(st, 200, "a key active then and now still works");
}

#[tokio::test]
async fn a_restore_keeps_the_backups_stored_in_documents() {
    let r = rig().await;
    let (_, room) = send(
        r.s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "Backups", "roomType": 5})),
    )
    .await;
    let room_id = room["response"]["id"].as_i64().unwrap();
    // An older backup, before the room held any backup.
    let old = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    start(
        &r.s,
        &json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": room_id}]}),
    )
    .await;
    let kept = wait_done(&r.s, false).await;
    assert_eq!(kept["status"], 2, "{kept}");
    let before: Vec<Value> = history(&r.s, false).await;
    assert_eq!(before.len(), 2);
    let done = restore(&r.s, json!({"backupId": old["taskId"], "storageType": 3})).await;
    assert_eq!(done["status"], 2, "{done}");
    let after = history(&r.s, false).await;
    assert_eq!(
        after.len(),
        2,
        "the Documents backup is still in history: {after:?}"
    );
    let (_, content) = send(r.s.owner(Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
    let files = content["response"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{content}");
    let res =
        r.s.client
            .get(kept["link"].as_str().unwrap())
            .header("Authorization", OWNER_KEY)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    assert!(dsbackup_engine::verify(&bytes[..], None).is_ok());
}

#[tokio::test]
async fn backups_and_restores_never_run_together() {
    let r = rig().await;
    let p = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let mut both = 0;
    for _ in 0..10 {
        let backup = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
                .json(&local(&r.root)),
        );
        let restore = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
                .json(&json!({"backupId": p["taskId"], "storageType": 3})),
        );
        let ((bs, bv), (rs, rv)) = tokio::join!(backup, restore);
        if bs == 200 && rs == 200 {
            both += 1;
        }
        assert!(bs == 200 || rs == 200, "one of them runs: {bv} {rv}");
        for (st, v) in [(bs, &bv), (rs, &rv)] {
            // Refused by the job lock (400), or by the portal's restore gate (403).
            if st != 200 {
                assert!(st == 400 || st == 403, "{st} {v}");
                assert!(st == 403 || v.to_string().contains("running"), "{v}");
            }
        }
        if rs == 200 {
            wait_restore(&r.s).await;
        }
        if bs == 200 {
            wait_done(&r.s, false).await;
        }
    }
    assert_eq!(both, 0, "a backup and a restore were both accepted");
}
