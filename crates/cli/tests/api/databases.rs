//! Database sources end to end, against the machine's real PostgreSQL (127.0.0.1:5432, user
//! postgres) and MariaDB (127.0.0.1:3306, root) servers and real SQLite files: a portal with
//! a directory and three databases backs up and restores exactly; failing dumps fail the
//! backup with a clear error and no record; a truncated archive and a crash between the
//! directory swap and the database switch leave files and databases as they were. Every test
//! makes its own uniquely named databases and drops them. A server that does not answer skips
//! the tests, unless `CI` is set: then they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::backup::*;
use crate::harness::*;
use crate::pgdb::{ci, psql, run, unique};
use crate::restore::{change_everything, random_tree, restore, tree, wait_for};

fn mysql(db: Option<&str>, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", "127.0.0.1", "-P", "3306", "-uroot", "--batch"])
        .args(["--skip-column-names", "--default-character-set=utf8mb4"]);
    if let Some(db) = db {
        cmd.arg(format!("--database={db}"));
    }
    run(cmd, sql)
}

/// Whether both servers answer; panics under CI when one does not.
fn servers_up() -> bool {
    let pg = psql("postgres", "SELECT 1").is_ok();
    let my = mysql(None, "SELECT 1").is_ok();
    if !(pg && my) {
        assert!(
            !ci(),
            "PostgreSQL ({pg}) or MariaDB ({my}) is not answering and CI is set"
        );
        eprintln!("skipping: PostgreSQL or MariaDB is not answering (set CI=true to fail)");
    }
    pg && my
}

/// A PostgreSQL database for one test, dropped (with any staged or old copy) at the end.
struct Pg(String);

impl Pg {
    fn new() -> Self {
        let name = unique("dsbapi");
        psql("postgres", &format!("CREATE DATABASE {name};")).unwrap();
        psql(
            &name,
            r"
CREATE TABLE kinds (id int PRIMARY KEY, b bytea, u text, j jsonb, n int);
INSERT INTO kinds SELECT g, decode(md5(g::text), 'hex'), 'ünïcödé ✓ 日本語 ' || g,
  jsonb_build_object('g', g), NULLIF(g % 3, 0) FROM generate_series(1, 500) g;
CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
INSERT INTO notes (body) SELECT repeat('note ', g % 50) FROM generate_series(1, 300) g;
CREATE VIEW short_notes AS SELECT id FROM notes WHERE length(body) < 20;
",
        )
        .unwrap();
        Pg(name)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
    }

    fn sql(&self, sql: &str) -> String {
        psql(&self.0, sql).unwrap()
    }

    fn checksums(&self) -> BTreeMap<String, String> {
        let tables = self.sql(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;",
        );
        tables
            .lines()
            .map(|t| {
                let sum = self.sql(&format!(
                    "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM {t} x;"
                ));
                (t.to_owned(), sum.trim().to_owned())
            })
            .collect()
    }

    /// Copies (`__dsb_new_`, `__dsb_old_`) left beside the database.
    fn copies(&self) -> Vec<String> {
        psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{}\\_\\_dsb%';",
                self.0
            ),
        )
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let mut names = self.copies();
        names.push(self.0.clone());
        for n in names {
            let _ = psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {n} WITH (FORCE);"),
            );
        }
    }
}

/// A MariaDB database for one test, dropped (with any staged or old copy) at the end.
struct My(String);

impl My {
    fn new() -> Self {
        let name = unique("dsbapi");
        mysql(
            None,
            &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4;"),
        )
        .unwrap();
        mysql(
            Some(&name),
            r"
CREATE TABLE people (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100), photo blob, meta json, note text NULL);
INSERT INTO people (name, photo, meta, note) SELECT CONCAT('Jöhn 日本 ', seq), UNHEX(MD5(seq)), JSON_OBJECT('n', seq), IF(seq % 4 = 0, NULL, 'x')
  FROM seq_1_to_400;
CREATE TABLE audit (id int AUTO_INCREMENT PRIMARY KEY, person int, at datetime DEFAULT CURRENT_TIMESTAMP);
CREATE TRIGGER people_audit AFTER UPDATE ON people FOR EACH ROW INSERT INTO audit (person) VALUES (NEW.id);
UPDATE people SET name = name WHERE id < 10;
",
        )
        .unwrap();
        My(name)
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.0)
    }

    fn sql(&self, sql: &str) -> String {
        mysql(Some(&self.0), sql).unwrap()
    }

    fn checksums(&self) -> BTreeMap<String, String> {
        let tables = mysql(
            None,
            &format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' \
                 AND table_type = 'BASE TABLE' ORDER BY 1;",
                self.0
            ),
        )
        .unwrap();
        tables
            .lines()
            .map(|t| {
                let out = self.sql(&format!("CHECKSUM TABLE `{t}` EXTENDED;"));
                let sum = out.split('\t').nth(1).unwrap_or("").trim().to_owned();
                (t.to_owned(), sum)
            })
            .collect()
    }

    fn copies(&self) -> Vec<String> {
        mysql(
            None,
            &format!(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{}\\_\\_dsb%';",
                self.0
            ),
        )
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for My {
    fn drop(&mut self) {
        let mut names = self.copies();
        names.push(self.0.clone());
        for n in names {
            let _ = mysql(None, &format!("DROP DATABASE IF EXISTS `{n}`;"));
        }
    }
}

fn lite_seed(path: &Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB, price REAL);
         CREATE INDEX items_name ON items(name);
         WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 700)
         INSERT INTO items SELECT x, 'item ✓ ' || x, randomblob(x % 200), x * 0.5 FROM g;
         CREATE TABLE tags (item INTEGER, tag TEXT);
         INSERT INTO tags SELECT id, 'tag' || (id % 7) FROM items;",
    )
    .unwrap();
}

fn lite_checksums(path: &Path) -> BTreeMap<String, String> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut stmt = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let mut q = db
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
                .unwrap();
            let n = q.column_count();
            let mut hasher = blake3::Hasher::new();
            let mut rows = q.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                for i in 0..n {
                    hasher.update(format!("{:?}|", r.get_ref(i).unwrap()).as_bytes());
                }
                hasher.update(b"\n");
            }
            (t, hasher.finalize().to_hex().to_string())
        })
        .collect()
}

/// A server whose portal has a directory source and the given database sources.
struct DbRig {
    s: TestServer,
    root: PathBuf,
    files: PathBuf,
    dir: tempfile::TempDir,
}

async fn db_rig(databases: &str, env: Vec<(&'static str, String)>) -> DbRig {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let files = dir.path().join("app-files");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&files).unwrap();
    random_tree(&files, 11);
    let config = format!(
        "local_roots = [\"{}\"]\n[[portals]]\nalias = \"default\"\n\
         [[portals.sources]]\nkind = \"directory\"\nname = \"files\"\npath = \"{}\"\n{databases}",
        dir.path().display(),
        files.display()
    );
    let s = TestServer::start_with(Opts {
        env,
        config: Some(config),
    })
    .await;
    DbRig {
        s,
        root,
        files,
        dir,
    }
}

fn source(kind: &str, name: &str, at: &str) -> String {
    let key = if kind == "sqlite" { "path" } else { "url" };
    format!("[[portals.sources]]\nkind = \"{kind}\"\nname = \"{name}\"\n{key} = \"{at}\"\n")
}

/// The one archive in the Local root.
fn archive_in(root: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[tokio::test]
async fn files_and_three_databases_back_up_and_restore_exactly() {
    if !servers_up() {
        return;
    }
    let pg = Pg::new();
    let my = My::new();
    let lite_dir = tempfile::tempdir().unwrap();
    let lite = lite_dir.path().join("app.db");
    lite_seed(&lite);
    let dbs = source("postgres", "pg", &pg.url())
        + &source("mysql", "my", &my.url())
        + &source("sqlite", "lite", &lite.display().to_string());
    let r = db_rig(&dbs, Vec::new()).await;
    let (pg_before, my_before, lite_before) =
        (pg.checksums(), my.checksums(), lite_checksums(&lite));
    let files_before = tree(&r.files);

    let p = start(&r.s, &local(&r.root)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["error"], "", "{done}");
    assert_eq!(history(&r.s, false).await.len(), 1);

    // The archive opens with tar, and the concatenated parts are valid dumps.
    let out = r.dir.path().join("extracted");
    std::fs::create_dir_all(&out).unwrap();
    let st = Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(archive_in(&r.root))
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let concat = |name: &str| {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(out.join("databases").join(name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("part-")
            })
            .collect();
        parts.sort();
        let file = out.join(format!("{name}.dump"));
        let mut all = Vec::new();
        for p in parts {
            all.extend(std::fs::read(p).unwrap());
        }
        std::fs::write(&file, all).unwrap();
        file
    };
    let listed = Command::new("pg_restore")
        .arg("-l")
        .arg(concat("pg"))
        .output()
        .unwrap();
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains("TABLE DATA public kinds"));
    let my_dump = std::fs::read_to_string(concat("my")).unwrap();
    assert!(my_dump.contains("CREATE TABLE `people`") && my_dump.contains("-- Dump completed"));
    let copy = rusqlite::Connection::open(concat("lite")).unwrap();
    let ok: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("databases/pg/info.json")).unwrap())
            .unwrap();
    assert_eq!(info["info"]["kind"], "postgres", "{info}");

    // Mutate everything, then restore.
    pg.sql("DROP TABLE notes CASCADE; DELETE FROM kinds WHERE id % 2 = 0;");
    my.sql("DROP TABLE audit; DELETE FROM people WHERE id > 100;");
    rusqlite::Connection::open(&lite)
        .unwrap()
        .execute_batch("DROP TABLE tags; DELETE FROM items WHERE id > 10;")
        .unwrap();
    change_everything(&r.files);
    assert_ne!(pg.checksums(), pg_before);

    let done = restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
    assert_eq!(done["error"], "", "{done}\n{}", r.s.log());
    assert_eq!(pg.checksums(), pg_before);
    assert_eq!(my.checksums(), my_before);
    assert_eq!(lite_checksums(&lite), lite_before);
    assert_eq!(tree(&r.files), files_before);
    assert!(pg.copies().is_empty() && my.copies().is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(lite_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".dsb-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn failing_dumps_fail_the_backup_without_a_record() {
    if !servers_up() {
        return;
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let missing = unique("dsbapi_missing");
    for (url, says) in [
        (
            format!("postgres://postgres:Sup3rSecret@127.0.0.1:{port}/app"),
            "Connection refused",
        ),
        (
            format!("postgres://postgres@127.0.0.1:5432/{missing}"),
            "does not exist",
        ),
        (
            format!("mysql://root:Sup3rSecret@127.0.0.1:3306/{missing}"),
            "Access denied",
        ),
        (
            format!("mysql://root@127.0.0.1:3306/{missing}"),
            "Unknown database",
        ),
    ] {
        let kind = if url.starts_with("mysql") {
            "mysql"
        } else {
            "postgres"
        };
        let r = db_rig(&source(kind, "appdb", &url), Vec::new()).await;
        start(&r.s, &local(&r.root)).await;
        let done = wait_done(&r.s, false).await;
        let error = done["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("appdb") && error.contains(says),
            "{url}: {done}"
        );
        assert!(!error.contains("Sup3rSecret"), "{done}");
        assert!(!r.s.log().contains("Sup3rSecret"), "{}", r.s.log());
        assert!(history(&r.s, false).await.is_empty());
        assert_eq!(std::fs::read_dir(&r.root).unwrap().count(), 0, "no archive");
    }
}

#[tokio::test]
async fn a_restore_cut_in_the_database_part_changes_nothing() {
    if !servers_up() {
        return;
    }
    let pg = Pg::new();
    // Make the dump most of the archive, so that cutting it in half lands in the dump.
    pg.sql(
        "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v \
         FROM generate_series(1, 150000) g;",
    );
    let r = db_rig(&source("postgres", "pg", &pg.url()), Vec::new()).await;
    start(&r.s, &local(&r.root)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["error"], "", "{done}");
    pg.sql("DELETE FROM bulk WHERE id % 3 = 0; DROP TABLE notes CASCADE;");
    change_everything(&r.files);
    let (pg_before, files_before) = (pg.checksums(), tree(&r.files));

    // Cut the archive inside the dump: the last entry tar can still list is one of its parts.
    let archive = archive_in(&r.root);
    let full = std::fs::read(&archive).unwrap();
    let in_dump = (1..40).map(|i| full.len() * i / 40).find(|&cut| {
        std::fs::write(&archive, &full[..cut]).unwrap();
        let listing = Command::new("tar")
            .arg("--zstd")
            .arg("-tf")
            .arg(&archive)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
        listing
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("databases/pg/part-"))
    });
    assert!(in_dump.is_some(), "no cut of the archive lands in the dump");
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": "", "storageType": "Local", "storageParams": [{"key": "filePath", "value": archive.display().to_string()}]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let done = crate::restore::wait_restore(&r.s).await;
    assert_ne!(done["error"], "", "{done}");
    assert_eq!(pg.checksums(), pg_before);
    assert_eq!(tree(&r.files), files_before);
    assert!(pg.copies().is_empty(), "{:?}", pg.copies());
    let staging = r.s.data_dir.join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
}

/// kill -9 after the directory swap, before the database switch (`restore-databases`) and
/// after it, before the catalog commit (`restore-swap`): after a restart the journal is
/// resolved back, and files and databases are exactly as before the restore.
#[tokio::test]
async fn a_crash_between_file_swap_and_database_switch_is_resolved_back() {
    if !servers_up() {
        return;
    }
    for point in ["restore-databases", "restore-swap"] {
        let pg = Pg::new();
        let my = My::new();
        let lite_dir = tempfile::tempdir().unwrap();
        let lite = lite_dir.path().join("app.db");
        lite_seed(&lite);
        let dbs = source("postgres", "pg", &pg.url())
            + &source("mysql", "my", &my.url())
            + &source("sqlite", "lite", &lite.display().to_string());
        let mut r = db_rig(
            &dbs,
            vec![("DSBACKUP_FAULT_DELAY", format!("{point}:60000"))],
        )
        .await;
        let p = start(&r.s, &local(&r.root)).await;
        let done = wait_done(&r.s, false).await;
        assert_eq!(done["error"], "", "{done}");
        pg.sql("DELETE FROM kinds WHERE id > 20;");
        my.sql("DELETE FROM people WHERE id > 20;");
        rusqlite::Connection::open(&lite)
            .unwrap()
            .execute_batch("DELETE FROM items WHERE id > 20;")
            .unwrap();
        change_everything(&r.files);
        let before = (
            pg.checksums(),
            my.checksums(),
            lite_checksums(&lite),
            tree(&r.files),
        );

        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
                .json(&json!({"backupId": p["taskId"], "storageType": 3})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let journal = r.s.data_dir.join("restore-journal.json");
        wait_for("the fault point", || {
            journal.exists() && r.s.log().contains("fault point")
        })
        .await;
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(
            text.contains("__dsb_new_") && text.contains(".dsb-new-"),
            "{text}"
        );
        assert_ne!(tree(&r.files), before.3, "{point}: the files were swapped");
        if point == "restore-swap" {
            assert_ne!(
                pg.checksums(),
                before.0,
                "{point}: the databases were switched"
            );
        }
        r.s.kill9();
        r.s.restart_with(vec![]);
        assert!(!journal.exists(), "{point}: resolved\n{}", r.s.log());
        let after = (
            pg.checksums(),
            my.checksums(),
            lite_checksums(&lite),
            tree(&r.files),
        );
        assert_eq!(after, before, "{point}: files and databases as before");
        assert!(pg.copies().is_empty(), "{point}: {:?}", pg.copies());
        assert!(my.copies().is_empty(), "{point}: {:?}", my.copies());
        // And a restore now goes through.
        let done = restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
        assert_eq!(done["error"], "", "{point}: {done}");
        assert_ne!(pg.checksums(), before.0);
    }
}

/// An instance database (`[[instance.sources]]`) goes only into whole-instance dumps, under
/// `instance/databases/<name>/`, and a dump's restore brings it back.
#[tokio::test]
async fn instance_databases_travel_in_dumps_only() {
    let lite_dir = tempfile::tempdir().unwrap();
    let lite = lite_dir.path().join("instance.db");
    lite_seed(&lite);
    let instance = format!(
        "[[instance.sources]]\nkind = \"sqlite\"\nname = \"inst\"\npath = \"{}\"\n",
        lite.display()
    );
    let r = db_rig(&instance, Vec::new()).await;
    let before = lite_checksums(&lite);

    start(&r.s, &local(&r.root)).await;
    assert_eq!(wait_done(&r.s, false).await["error"], "");
    let portal_archive = archive_in(&r.root);
    let listing = Command::new("tar")
        .arg("--zstd")
        .arg("-tf")
        .arg(&portal_archive)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listing.stdout).contains("databases/"));
    std::fs::remove_file(&portal_archive).unwrap();

    let mut body = local(&r.root);
    body["dump"] = json!(true);
    let p = start(&r.s, &body).await;
    assert_eq!(wait_done(&r.s, true).await["error"], "");
    let listing = Command::new("tar")
        .arg("--zstd")
        .arg("-tf")
        .arg(archive_in(&r.root))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        listing.contains("instance/databases/inst/part-000001")
            && listing.contains("instance/databases/inst/info.json"),
        "{listing}"
    );

    rusqlite::Connection::open(&lite)
        .unwrap()
        .execute_batch("DROP TABLE tags; DELETE FROM items WHERE id > 5;")
        .unwrap();
    let done = restore(
        &r.s,
        json!({"backupId": p["taskId"], "storageType": 3, "dump": true}),
    )
    .await;
    assert_eq!(done["error"], "", "{done}\n{}", r.s.log());
    assert_eq!(lite_checksums(&lite), before);
}
