//! Restore end to end: exact round trips over random portals, hostile and damaged archives
//! refused with the portal unchanged, the 403 gate, and crashes at the worst moments.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;

/// Everything a restore must bring back: every path under a tree with its kind, mode and
/// content (or link target).
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("link -> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if m.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(root, &p, out);
            } else {
                let data = std::fs::read(&p).unwrap();
                out.insert(
                    rel,
                    format!(
                        "file {mode:o} {} {}",
                        data.len(),
                        hex::encode(&data[..data.len().min(64)])
                    ),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The portal's catalog rows, as the restore must bring them back (key use times aside).
pub fn catalog(s: &TestServer) -> Vec<String> {
    let db = rusqlite::Connection::open(s.data_dir.join("catalog.db")).unwrap();
    let mut out = Vec::new();
    for (table, cols) in [
        (
            "users",
            "id, email, first_name, last_name, role, password_hash",
        ),
        (
            "folders",
            "id, parent_id, title, kind, room_type, created_by",
        ),
        ("files", "id, folder_id, title, size, created_by"),
        (
            "api_keys",
            "id, user_id, name, key_hash, permissions, is_active",
        ),
        ("portals", "id, alias, status, time_zone, owner_id"),
    ] {
        let where_ = if table == "portals" {
            "id = 1"
        } else {
            "portal_id = 1"
        };
        let mut stmt = db
            .prepare(&format!(
                "SELECT {cols} FROM {table} WHERE {where_} ORDER BY 1"
            ))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let vals: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => "null".into(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(format!("{table}: {}", vals.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// A random portal tree from `seed`: nested and empty directories, unicode names, empty and
/// large files, relative symlinks, several modes.
pub fn random_tree(root: &Path, seed: u64) {
    let names = [
        "a",
        "Отчёт",
        "報告",
        "émoji 🚀",
        "x y",
        "z.tar",
        "deep",
        ".hidden",
    ];
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n.max(1)
    };
    let mut dirs = vec![root.to_path_buf()];
    for i in 0..(6 + next(10)) {
        let parent = dirs[next(dirs.len() as u64) as usize].clone();
        let d = parent.join(format!("{}-{i}", names[next(names.len() as u64) as usize]));
        std::fs::create_dir_all(&d).unwrap();
        dirs.push(d);
    }
    for i in 0..(5 + next(20)) {
        let dir = &dirs[next(dirs.len() as u64) as usize];
        let p = dir.join(format!(
            "{}-{i}.bin",
            names[next(names.len() as u64) as usize]
        ));
        let size = match next(4) {
            0 => 0,
            1 => next(100) as usize,
            2 => next(50_000) as usize,
            _ => 1_000_000 + next(1_000_000) as usize,
        };
        std::fs::write(&p, pseudo_random(size, seed + i)).unwrap();
        let mode = [0o600, 0o644, 0o755, 0o400][next(4) as usize];
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        if next(3) == 0 {
            std::os::unix::fs::symlink(p.file_name().unwrap(), dir.join(format!("link-{i}")))
                .unwrap();
        }
    }
    std::fs::set_permissions(&dirs[1], std::fs::Permissions::from_mode(0o750)).unwrap();
}

/// Changes everything: files rewritten and removed, trees removed, new files, modes.
pub fn change_everything(root: &Path) {
    for (path, _) in tree(root).iter().rev() {
        let p = root.join(path);
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.is_file() && path.len() % 2 == 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::write(&p, b"changed").unwrap();
        } else if m.is_file() {
            std::fs::remove_file(&p).unwrap();
        }
    }
    std::fs::write(root.join("brand-new.txt"), "new").unwrap();
}

pub async fn restore(s: &TestServer, body: Value) -> Value {
    let (st, v) = send(
        s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&body),
    )
    .await;
    assert_eq!(st, 200, "startrestore: {v}");
    assert_eq!(v["response"]["backupProgressEnum"], 1);
    wait_restore(s).await
}

pub async fn wait_restore(s: &TestServer) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Anonymous, as upstream.
        let (st, v) = send(s.req(Method::GET, "/api/2.0/backup/getrestoreprogress")).await;
        assert_eq!(st, 200, "{v}");
        if v["response"]["isCompleted"] == true {
            return v["response"].clone();
        }
        assert!(Instant::now() < deadline, "restore did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

pub async fn add_portal_content(s: &TestServer, tag: &str) {
    s.member("User", &format!("{tag}@example.org")).await;
    let (_, room) = send(
        s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": format!("Room {tag}"), "roomType": 5})),
    )
    .await;
    let id = room["response"]["id"].as_i64().unwrap();
    let part = reqwest::multipart::Part::bytes(pseudo_random(70_000, tag.len() as u64))
        .file_name(format!("{tag}.docx"));
    let (st, _) = send(
        s.owner(Method::POST, &format!("/api/2.0/files/{id}/upload"))
            .multipart(reqwest::multipart::Form::new().part("file", part)),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn random_portals_round_trip_exactly() {
    // Format 2 is written by default; a format 1 archive written by today's code (the
    // `archive_format = 1` option) must still restore exactly.
    for (seed, format) in [(1u64, 1), (7, 2), (42, 2)] {
        let r = rig_with(&format!("archive_format = {format}"), vec![]).await;
        random_tree(&r.source, seed);
        add_portal_content(&r.s, "before").await;
        let source_before = tree(&r.source);
        let docs_before = tree(&r.s.data_dir.join("portals/1/documents"));
        let catalog_before = catalog(&r.s);
        let p = start(&r.s, &local(&r.root)).await;
        assert_eq!(wait_done(&r.s, false).await["status"], 2);
        let name = std::fs::read_dir(&r.root)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let first = archive_paths(&std::fs::read(&name).unwrap())[0].clone();
        let want = if format == 1 {
            "manifest.json"
        } else {
            "dsbackup.json"
        };
        assert_eq!(first, want, "seed {seed}");

        change_everything(&r.source);
        add_portal_content(&r.s, "after").await;
        assert_ne!(tree(&r.source), source_before);
        assert_ne!(catalog(&r.s), catalog_before);

        let done = restore(
            &r.s,
            json!({"backupId": p["taskId"], "storageType": 3, "storageParams": [], "notify": true}),
        )
        .await;
        assert_eq!(done["status"], 2, "seed {seed}: {done}");
        assert!(
            done["warning"]
                .as_str()
                .unwrap()
                .contains("Sessions were reset")
        );
        assert_eq!(tree(&r.source), source_before, "seed {seed}: sources");
        assert_eq!(
            tree(&r.s.data_dir.join("portals/1/documents")),
            docs_before,
            "seed {seed}: documents"
        );
        assert_eq!(catalog(&r.s), catalog_before, "seed {seed}: catalog");
        // Members log in again with the passwords of the backup; the key of the backup works.
        r.s.login("before@example.org", "member-password").await;
        let (st, _) = send(
            r.s.req(Method::POST, "/api/2.0/authentication")
                .json(&json!({"userName": "after@example.org", "password": "member-password"})),
        )
        .await;
        assert_eq!(st, 401, "a member added after the backup is gone");
        assert_eq!(
            send(r.s.owner(Method::GET, "/api/2.0/people/@self"))
                .await
                .0,
            200
        );
        // The replaced directories go in the background once the restore is complete.
        let leftovers = || -> Vec<_> {
            std::fs::read_dir(r.source.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .filter(|n| n.to_string_lossy().starts_with(".dsbackup"))
                .collect()
        };
        wait_for("the replaced directories to go", || leftovers().is_empty()).await;
        wait_for("the trash list to go", || {
            !std::fs::read_dir(&r.s.data_dir).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("restore-trash-")
            })
        })
        .await;
        assert!(
            !r.s.data_dir.join("staging").exists()
                || std::fs::read_dir(r.s.data_dir.join("staging"))
                    .unwrap()
                    .next()
                    .is_none()
        );
    }
}

/// One raw tar entry, written without the tar crate's own path checks.
pub struct Raw {
    pub path: &'static str,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: &'static str,
    pub size: Option<u64>,
}

pub fn raw(path: &'static str, kind: tar::EntryType, data: &[u8]) -> Raw {
    Raw {
        path,
        kind,
        data: data.to_vec(),
        link: "",
        size: None,
    }
}

pub fn entry_json(path: &str, kind: &str, data: &[u8], target: Option<&str>) -> Value {
    let mut e = json!({"path": path, "type": kind, "size": if kind == "file" { data.len() } else { 0 }, "mode": 0o644, "mtime": 1_700_000_000});
    if kind == "file" {
        e["blake3"] = json!(blake3::hash(data).to_hex().to_string());
    }
    if let Some(t) = target {
        e["target"] = json!(t);
    }
    e
}

pub fn manifest(entries: Vec<Value>) -> Value {
    json!({
        "format": "dsbackup-archive", "formatVersion": 1, "dsbackupVersion": "0.1.0",
        "portal": {"id": 1, "alias": "default"}, "dump": false, "createdOn": "2026-01-01T00:00:00Z",
        "sources": [{"name": "files", "kind": "directory", "origin": "/x", "prefix": "sources/files"}],
        "entries": entries
    })
}

/// Appends `manifest` as the first entry, `manifest.json`.
pub fn append_manifest<W: std::io::Write>(b: &mut tar::Builder<W>, manifest: &Value) {
    let m = serde_json::to_vec(manifest).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(m.len() as u64);
    h.set_mode(0o600);
    h.set_path("manifest.json").unwrap();
    h.set_cksum();
    b.append(&h, m.as_slice()).unwrap();
}

pub fn craft(manifest: &Value, entries: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append_manifest(&mut b, manifest);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let name = &mut h.as_old_mut().name;
        name[..e.path.len()].copy_from_slice(e.path.as_bytes());
        h.set_entry_type(e.kind);
        h.set_mode(0o644);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        let link = &mut h.as_old_mut().linkname;
        link[..e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_cksum();
        b.append(&h, e.data.as_slice()).unwrap();
    }
    zstd::encode_all(b.into_inner().unwrap().as_slice(), 3).unwrap()
}

pub fn dirs() -> (Vec<Value>, Vec<Raw>) {
    let m = vec![
        entry_json("sources", "dir", b"", None),
        entry_json("sources/files", "dir", b"", None),
    ];
    let r = vec![
        raw("sources", tar::EntryType::Directory, b""),
        raw("sources/files", tar::EntryType::Directory, b""),
    ];
    (m, r)
}

#[tokio::test]
async fn hostile_and_damaged_archives_are_refused_with_the_portal_unchanged() {
    use tar::EntryType::*;
    let r = rig().await;
    add_portal_content(&r.s, "keep").await;
    let p = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let real = r
        .root
        .join(history(&r.s, false).await[0]["fileName"].as_str().unwrap());
    let real_bytes = std::fs::read(&real).unwrap();
    let _ = p;
    let evil = r.root.parent().unwrap().join("evil");

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let (mut m, mut e) = dirs();
    m.push(entry_json(
        "sources/files/../../evil",
        "file",
        b"pwned",
        None,
    ));
    e.push(raw("sources/files/../../evil", Regular, b"pwned"));
    cases.push(("dot-dot in the manifest", craft(&manifest(m), &e), "unsafe"));
    let (m, mut e) = dirs();
    e.push(raw("sources/files/../../evil", Regular, b"pwned"));
    cases.push(("dot-dot in the stream", craft(&manifest(m), &e), "unsafe"));
    let (m, mut e) = dirs();
    e.push(raw("/tmp/evil", Regular, b"pwned"));
    cases.push(("absolute path", craft(&manifest(m), &e), "unsafe"));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/l", "symlink", b"", Some("/")));
    e.push(Raw {
        link: "/",
        ..raw("sources/files/l", Symlink, b"")
    });
    cases.push(("absolute symlink", craft(&manifest(m), &e), "outside"));
    let (mut m, mut e) = dirs();
    m.push(entry_json(
        "sources/files/l",
        "symlink",
        b"",
        Some("../../.."),
    ));
    e.push(Raw {
        link: "../../..",
        ..raw("sources/files/l", Symlink, b"")
    });
    cases.push(("escaping symlink", craft(&manifest(m), &e), "outside"));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/l", "symlink", b"", Some("sub")));
    m.push(entry_json("sources/files/l/x", "file", b"pwned", None));
    e.push(Raw {
        link: "sub",
        ..raw("sources/files/l", Symlink, b"")
    });
    e.push(raw("sources/files/l/x", Regular, b"pwned"));
    cases.push((
        "file through a symlink",
        craft(&manifest(m), &e),
        "parent is not a directory",
    ));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/h", "file", b"", None));
    e.push(Raw {
        link: "sources/files",
        ..raw("sources/files/h", Link, b"")
    });
    cases.push(("hard link", craft(&manifest(m), &e), "hard links"));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/dev", "file", b"", None));
    e.push(raw("sources/files/dev", Char, b""));
    cases.push(("device file", craft(&manifest(m), &e), "devices"));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/a", "file", b"one", None));
    e.push(raw("sources/files/a", Regular, b"one"));
    e.push(raw("sources/files/a", Regular, b"one"));
    cases.push(("duplicate entry", craft(&manifest(m), &e), "duplicate"));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/a", "file", b"short", None));
    e.push(raw("sources/files/a", Regular, b"longer than declared"));
    cases.push((
        "size differs from the manifest",
        craft(&manifest(m), &e),
        "differs from the manifest",
    ));
    let (mut m, mut e) = dirs();
    m.push(entry_json("sources/files/bomb", "file", b"tiny", None));
    e.push(raw("sources/files/bomb", Regular, &vec![0u8; 64 << 20]));
    cases.push((
        "decompression bomb",
        craft(&manifest(m), &e),
        "differs from the manifest",
    ));
    let (mut m, e) = dirs();
    m.push(json!({"path": "sources/files/huge", "type": "file", "size": 1u64 << 50, "mode": 420, "mtime": 0, "blake3": "00"}));
    cases.push((
        "declared sizes beyond the quota",
        craft(&manifest(m), &e),
        "quota",
    ));
    let mut flipped = real_bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    cases.push(("a flipped byte", flipped, "invalid"));
    cases.push((
        "a truncated archive",
        real_bytes[..real_bytes.len() * 2 / 3].to_vec(),
        "invalid",
    ));
    cases.push(("not an archive", b"hello".to_vec(), "invalid"));

    let source_before = tree(&r.source);
    let docs_before = tree(&r.s.data_dir.join("portals/1/documents"));
    let catalog_before = catalog(&r.s);
    for (name, bytes, needle) in cases {
        let path = r.root.join("hostile.tar.zst");
        std::fs::write(&path, &bytes).unwrap();
        let done = restore(&r.s, json!({"backupId": "hostile", "storageType": "Local", "storageParams": [{"key": "filePath", "value": path.display().to_string()}]})).await;
        assert_eq!(done["status"], 4, "{name}: {done}");
        let err = done["error"].as_str().unwrap();
        assert!(
            err.contains(needle),
            "{name}: {err:?} should mention {needle:?}"
        );
        assert!(
            !evil.exists() && !Path::new("/tmp/evil").exists(),
            "{name}: wrote outside staging"
        );
        assert_eq!(tree(&r.source), source_before, "{name}: sources unchanged");
        assert_eq!(
            tree(&r.s.data_dir.join("portals/1/documents")),
            docs_before,
            "{name}: documents unchanged"
        );
        assert_eq!(catalog(&r.s), catalog_before, "{name}: catalog unchanged");
        assert_eq!(
            send(r.s.owner(Method::GET, "/api/2.0/people/@self"))
                .await
                .0,
            200,
            "{name}: portal Active"
        );
    }
    // A refused archive leaves no staging behind.
    let staging = r.s.data_dir.join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
}

pub async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// kill -9 at the worst moment (directories swapped, catalog not yet committed) and while
/// staging; after a restart the portal is Active and exactly as before the restore.
#[tokio::test]
async fn a_crash_during_restore_leaves_the_old_portal() {
    for point in ["restore-swap", "restore-extract"] {
        let mut r = rig_with("", vec![("DSBACKUP_FAULT_DELAY", format!("{point}:60000"))]).await;
        random_tree(&r.source, 3);
        add_portal_content(&r.s, "first").await;
        let p = start(&r.s, &local(&r.root)).await;
        wait_done(&r.s, false).await;
        change_everything(&r.source);
        add_portal_content(&r.s, "second").await;
        let source_before = tree(&r.source);
        let docs_before = tree(&r.s.data_dir.join("portals/1/documents"));
        let catalog_before = catalog(&r.s);

        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
                .json(&json!({"backupId": p["taskId"], "storageType": 3})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let journal = r.s.data_dir.join("restore-journal.json");
        if point == "restore-swap" {
            wait_for("the swap", || {
                journal.exists() && r.s.log().contains("fault point")
            })
            .await;
            assert_ne!(
                tree(&r.source),
                source_before,
                "the swap happened before the crash"
            );
        } else {
            let staging = r.s.data_dir.join("staging");
            wait_for("staging", || {
                staging.exists() && r.s.log().contains("fault point")
            })
            .await;
        }
        // While it restores: 403 for the portal, progress for anyone.
        let (st, v) = send(r.s.owner(Method::GET, "/api/2.0/people/@self")).await;
        assert_error(st, &v, 403);
        let (st, v) = send(r.s.req(Method::GET, "/api/2.0/backup/getrestoreprogress")).await;
        assert_eq!(
            (st, v["response"]["status"].clone()),
            (200, json!(1)),
            "{v}"
        );

        r.s.kill9();
        r.s.restart_with(vec![]);
        assert!(
            !journal.exists(),
            "{point}: the journal was resolved:\n{}",
            r.s.log()
        );
        assert_eq!(
            send(r.s.owner(Method::GET, "/api/2.0/people/@self"))
                .await
                .0,
            200,
            "{point}: Active again"
        );
        assert_eq!(tree(&r.source), source_before, "{point}: sources as before");
        assert_eq!(
            tree(&r.s.data_dir.join("portals/1/documents")),
            docs_before,
            "{point}: documents as before"
        );
        assert_eq!(catalog(&r.s), catalog_before, "{point}: catalog as before");
        let leftovers: Vec<_> = std::fs::read_dir(r.source.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".dsbackup"))
            .collect();
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
        assert!(
            !r.s.data_dir.join("staging").exists(),
            "{point}: staging cleaned"
        );
        // And a restore now goes through.
        let done = restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
        assert_eq!(done["status"], 2, "{done}");
    }
}

/// kill -9 while the replaced directories are being removed, after the restore was reported
/// complete: the restored portal stays, and the next start finishes the removal (the trash
/// list written before the journal went says what to remove).
#[tokio::test]
async fn a_crash_while_removing_the_replaced_tree_is_finished_at_the_next_start() {
    let mut r = rig_with(
        "",
        vec![("DSBACKUP_FAULT_DELAY", "restore-trash:60000".into())],
    )
    .await;
    random_tree(&r.source, 5);
    add_portal_content(&r.s, "first").await;
    let source_backed_up = tree(&r.source);
    let docs_backed_up = tree(&r.s.data_dir.join("portals/1/documents"));
    let p = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    change_everything(&r.source);
    add_portal_content(&r.s, "second").await;
    let done = restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
    assert_eq!(done["status"], 2, "{done}");
    let parent = r.source.parent().unwrap().to_path_buf();
    let old = move || {
        std::fs::read_dir(&parent)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".dsbackup-old-")
            })
            .count()
    };
    let trash = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("restore-trash-")
            })
            .count()
    };
    wait_for("the removal to pause", || r.s.log().contains("fault point")).await;
    assert_eq!(old(), 1, "the replaced source waits for its removal");
    assert_eq!(trash(&r.s.data_dir), 1, "listed in the trash");
    assert_eq!(tree(&r.source), source_backed_up, "restored already");

    r.s.kill9();
    r.s.restart_with(vec![]);
    assert_eq!(old(), 0, "removed at the start:\n{}", r.s.log());
    assert_eq!(trash(&r.s.data_dir), 0, "the trash list is gone");
    assert_eq!(tree(&r.source), source_backed_up, "the restore stays");
    assert_eq!(
        tree(&r.s.data_dir.join("portals/1/documents")),
        docs_backed_up,
        "documents restored"
    );
}

/// While one portal restores it answers 403 (but progress); another portal keeps working, and
/// saas refuses an archive another portal made.
#[tokio::test]
async fn the_restore_gate_and_saas_rules() {
    let r = rig_with(
        "free_backups_per_month = 0",
        vec![
            ("DSBACKUP_MODE", "saas".into()),
            ("DSBACKUP_REGISTRATION", "open".into()),
            ("DSBACKUP_BASE_DOMAIN", "dsb.test".into()),
            ("DSBACKUP_FAULT_DELAY", "restore-extract:4000".into()),
        ],
    )
    .await;
    let (st, _) = send(r.s.req(Method::POST, "/apisystem/portal/register").json(&json!({
        "portalName": "other", "firstName": "O", "lastName": "P", "email": "boss@other.org", "password": "other-password"
    }))).await;
    assert_eq!(st, 200);
    let other = r.s.login("boss@other.org", "other-password").await;

    // The other portal's archive, uploaded into our room, is refused in saas.
    let (_, v) = send(
        r.s.as_(&other, Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": 4})),
    )
    .await;
    let theirs = v["response"]["taskId"].as_str().unwrap().to_string();
    let mut link = String::new();
    for _ in 0..500 {
        let (_, v) = send(r.s.as_(&other, Method::GET, "/api/2.0/backup/getbackupprogress")).await;
        if v["response"]["isCompleted"] == true {
            link = v["response"]["link"].as_str().unwrap().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!link.is_empty(), "{theirs}");
    let bytes =
        r.s.client
            .get(&link)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    let (_, room) = send(
        r.s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "R", "roomType": 5})),
    )
    .await;
    let room_id = room["response"]["id"].as_i64().unwrap();
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("foreign.tar.zst");
    let (_, f) = send(
        r.s.owner(Method::POST, &format!("/api/2.0/files/{room_id}/upload"))
            .multipart(reqwest::multipart::Form::new().part("file", part)),
    )
    .await;
    let file_id = f["response"]["id"].as_i64().unwrap();
    let catalog_before = catalog(&r.s);
    let done = restore(&r.s, json!({"backupId": "", "storageType": 0, "storageParams": [{"key": "filePath", "value": file_id.to_string()}]})).await;
    assert_eq!(done["status"], 4, "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap()
            .contains("only archives this portal made"),
        "{done}"
    );
    assert_eq!(catalog(&r.s), catalog_before);

    // Our own backup restores; meanwhile we are gated and the other portal is not.
    let p = start(&r.s, &json!({"storageType": 4})).await;
    wait_done(&r.s, false).await;
    let (st, _) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": p["taskId"], "storageType": 4})),
    )
    .await;
    assert_eq!(st, 200);
    for path in [
        "/api/2.0/people/@self",
        "/api/2.0/backup/getbackuphistory",
        "/api/2.0/files/rooms",
    ] {
        let (st, v) = send(r.s.owner(Method::GET, path)).await;
        assert_error(st, &v, 403);
    }
    let (st, v) = send(
        r.s.req(Method::GET, "/api/2.0/backup/getrestoreprogress?Dump=true")
            .header("Host", "default.dsb.test"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        v["response"]["backupProgressEnum"], 1,
        "Dump is forced to false outside standalone: {v}"
    );
    assert_eq!(
        send(r.s.as_(&other, Method::GET, "/api/2.0/people/@self"))
            .await
            .0,
        200,
        "the other portal works"
    );
    let (_, v) = send(
        r.s.req(Method::GET, "/api/2.0/backup/getrestoreprogress")
            .header("Host", "other.dsb.test"),
    )
    .await;
    assert!(
        v.get("response").is_none(),
        "the other portal has no restore: {v}"
    );
    let done = wait_restore(&r.s).await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(
        send(r.s.owner(Method::GET, "/api/2.0/people/@self"))
            .await
            .0,
        200
    );
}

/// `notify=true` tells every member through the configured webhook.
#[tokio::test]
async fn restore_notifies_through_the_webhook() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", hook.local_addr().unwrap());
    let r = rig_with("", vec![("DSBACKUP_NOTIFY_WEBHOOK", url)]).await;
    r.s.member("User", "member@example.org").await;
    let p = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let received = tokio::spawn(async move {
        let (mut sock, _) = hook.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&buf).contains("recipients") || !buf.ends_with(b"}") {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    });
    let done = restore(
        &r.s,
        json!({"backupId": p["taskId"], "storageType": 3, "notify": true}),
    )
    .await;
    assert_eq!(done["status"], 2);
    let request = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .unwrap()
        .unwrap();
    assert!(request.starts_with("POST /hook"), "{request}");
    let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["event"], "restore_completed");
    let recipients = body["recipients"].as_array().unwrap();
    assert!(
        recipients.contains(&json!(OWNER_EMAIL))
            && recipients.contains(&json!("member@example.org")),
        "{body}"
    );
}

/// The web client's way: `backupFileUpload.ashx` with form-file chunks, then `startrestore`
/// with Local storage and no filePath.
#[tokio::test]
async fn restore_from_a_multipart_upload() {
    let r = rig().await;
    start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let archive = std::fs::read_dir(&r.root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(r.source.join("readme.txt"), "changed").unwrap();
    let url = format!(
        "/backupFileUpload.ashx?Init=true&totalSize={}&extension=tar.zst",
        bytes.len()
    );
    let (st, v) = send(r.s.owner(Method::POST, &url)).await;
    assert_eq!(
        (st, v["success"].clone(), v["endUpload"].clone()),
        (200, json!(true), json!(false)),
        "{v}"
    );
    let half = bytes.len() / 2;
    for (i, part) in [&bytes[..half], &bytes[half..]].into_iter().enumerate() {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(part.to_vec()).file_name("chunk"),
        );
        let (st, v) = send(
            r.s.owner(Method::POST, "/backupFileUpload.ashx")
                .multipart(form),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["endUpload"], json!(i == 1), "{v}");
    }
    // One byte too many is refused and the upload must start again.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0]).file_name("x"),
    );
    let (st, _) = send(
        r.s.owner(Method::POST, "/backupFileUpload.ashx")
            .multipart(form),
    )
    .await;
    assert_eq!(st, 400);
    let (st, v) = send(r.s.owner(Method::POST, &url)).await;
    assert_eq!(st, 200, "{v}");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.clone()).file_name("all"),
    );
    let (_, v) = send(
        r.s.owner(Method::POST, "/backupFileUpload.ashx")
            .multipart(form),
    )
    .await;
    assert_eq!(v["endUpload"], true);
    let done = restore(
        &r.s,
        json!({"backupId": "", "storageType": "Local", "storageParams": []}),
    )
    .await;
    assert_eq!(done["status"], 2, "{done}");
    assert_eq!(
        std::fs::read_to_string(r.source.join("readme.txt")).unwrap(),
        "hello, backups\n"
    );
}
