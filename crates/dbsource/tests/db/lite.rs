//! SQLite: a consistent copy through the online backup API while another connection writes,
//! round trips through restore and the atomic rename, integrity checks.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::collections::BTreeMap;

use dsbackup_dbsource::{DbKind, DbSource, dump, probe, recover, restore};
use rusqlite::Connection;

use crate::flows::{self, Fixture};
use crate::support::{self, read_dump};

pub fn source(path: &Path) -> DbSource {
    DbSource {
        kind: DbKind::Sqlite,
        name: "app".into(),
        url: None,
        path: Some(path.to_owned()),
        password_file: None,
        bin_dir: None,
    }
}

pub fn seed(path: &Path) {
    let db = Connection::open(path).expect("open");
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE kinds (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB, u TEXT, j TEXT, n INT, f REAL);
         CREATE INDEX kinds_u ON kinds (u);
         CREATE TABLE checking (id INTEGER PRIMARY KEY, balance INT NOT NULL);
         CREATE TABLE savings (id INTEGER PRIMARY KEY, balance INT NOT NULL);
         CREATE TABLE transfers (id INTEGER PRIMARY KEY AUTOINCREMENT, amount INT NOT NULL);
         CREATE TABLE audit (account INT, old INT, new INT);
         CREATE TRIGGER savings_audit AFTER UPDATE ON savings BEGIN
           INSERT INTO audit VALUES (NEW.id, OLD.balance, NEW.balance); END;
         CREATE VIEW rich AS SELECT c.id, c.balance + s.balance AS total FROM checking c JOIN savings s USING (id);
         WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 10)
           INSERT INTO checking SELECT x, 1000 FROM g;
         INSERT INTO savings SELECT id, balance FROM checking;",
    )
    .expect("schema");
    for g in 1..=300i64 {
        let big = (g % 100 == 0).then(|| "L".repeat(1_500_000));
        db.execute(
            "INSERT INTO kinds (b, u, j, n, f) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                vec![0u8, 255, (g % 256) as u8],
                big.unwrap_or_else(|| format!("ünïcödé ✓ 日本語 {g}")),
                format!("{{\"g\":{g}}}"),
                (g % 3 != 0).then_some(g % 3),
                g as f64 / 7.0
            ],
        )
        .expect("insert");
    }
}

/// Starts a thread making transfers until the flag drops; returns when the first one is in.
pub fn writer(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    let handle = std::thread::spawn(move || {
        let mut db = Connection::open(&path).expect("open writer");
        db.busy_timeout(std::time::Duration::from_secs(30))
            .expect("busy");
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let tx = db.transaction().expect("tx");
            tx.execute(
                "UPDATE checking SET balance = balance - 1 WHERE id = ?1",
                [i % 10 + 1],
            )
            .expect("debit");
            tx.execute(
                "UPDATE savings SET balance = balance + 1 WHERE id = ?1",
                [(i * 7) % 10 + 1],
            )
            .expect("credit");
            tx.execute("INSERT INTO transfers (amount) VALUES (1)", [])
                .expect("log");
            tx.commit().expect("commit");
            started.store(true, Ordering::SeqCst);
            i += 1;
        }
        i
    });
    while !seen.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    handle
}

pub fn invariant(path: &Path) -> String {
    let db = Connection::open(path).expect("open");
    db.query_row(
        "SELECT (SELECT sum(balance) FROM checking) || ' ' || (SELECT sum(balance) FROM savings) \
         || ' ' || (SELECT count(*) FROM transfers)",
        [],
        |r| r.get(0),
    )
    .expect("invariant")
}

/// The SQLite fixture of the shared restore scenarios: `app.db` in a directory of its own.
pub struct Lite {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Lite {
    fn sql(&self, sql: &str) -> String {
        let db = Connection::open(&self.path).expect("open");
        let mut out = Vec::new();
        for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let mut prepared = db.prepare(stmt).expect("prepare");
            let cols = prepared.column_count();
            let mut rows = prepared.query([]).expect("query");
            while let Some(row) = rows.next().expect("row") {
                for i in 0..cols {
                    out.push(format!("{:?}", row.get_ref(i).expect("value")));
                }
            }
        }
        out.join(" ")
    }
}

impl Fixture for Lite {
    fn seeded() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("app.db");
        seed(&path);
        Lite { dir, path }
    }

    fn source(&self) -> DbSource {
        source(&self.path)
    }

    fn checksums(&self) -> BTreeMap<String, String> {
        checksums(&self.path)
    }

    fn family(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm") && !n.ends_with("-journal"))
            .collect();
        names.sort();
        names
    }

    fn mutate(&self) {
        self.sql(
            "DROP TABLE kinds; DELETE FROM savings WHERE id > 5; \
             UPDATE checking SET balance = 0 WHERE id = 1",
        );
    }

    fn extras(&self) -> String {
        self.sql(
            "SELECT name, seq FROM sqlite_sequence ORDER BY name; SELECT count(*) FROM rich; \
             SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger', 'view') ORDER BY name",
        )
    }

    fn start_writer(&self) -> Box<dyn FnOnce()> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = writer(self.path.clone(), stop.clone());
        Box::new(move || {
            stop.store(true, Ordering::SeqCst);
            handle.join().expect("writer");
        })
    }

    fn assert_invariant(&self) {
        support::assert_transfers(&invariant(&self.path));
    }
}

/// Table → a hash of its rows in rowid order.
pub fn checksums(path: &Path) -> std::collections::BTreeMap<String, String> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let db = Connection::open(path).expect("open");
    let mut names = db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .expect("prep");
    let names: Vec<String> = names
        .query_map([], |r| r.get(0))
        .expect("q")
        .map(|r| r.expect("n"))
        .collect();
    names
        .into_iter()
        .map(|t| {
            let mut h = DefaultHasher::new();
            let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).expect("prep");
            let cols = stmt.column_count();
            let mut rows = stmt.query([]).expect("q");
            while let Some(row) = rows.next().expect("row") {
                for i in 0..cols {
                    format!("{:?}", row.get_ref(i).expect("v")).hash(&mut h);
                }
            }
            (t, format!("{:x}", h.finish()))
        })
        .collect()
}

flows::scenarios!(Lite, true);

#[test]
fn dump_is_a_consistent_copy_while_another_connection_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let live = dir.path().join("app.db");
    seed(&live);
    let info = probe(&source(&live)).expect("probe");
    assert_eq!(info.rows("kinds"), Some(300));
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(live.clone(), stop.clone());
    let (bytes, summary) = read_dump(dump(&source(&live)).expect("dump"));
    stop.store(true, Ordering::SeqCst);
    let written = w.join().expect("writer");
    assert!(written > 0);
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let copy = dir.path().join("copy.db");
    std::fs::write(&copy, &bytes).expect("write copy");
    support::assert_transfers(&invariant(&copy));
    let transfers = summary.info.rows("transfers").expect("counted");
    assert_eq!(
        probe(&source(&copy)).expect("probe copy").rows("transfers"),
        Some(transfers)
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let err = probe(&source(&dir.path().join("nope.db")))
        .expect_err("missing")
        .to_string();
    assert!(err.contains("nope.db"), "{err}");
}

#[test]
fn recover_after_a_crash_between_link_and_rename() {
    for forward in [true, false] {
        let f = Lite::seeded();
        let original = f.checksums();
        let (bytes, summary) = read_dump(dump(&f.source()).expect("dump"));
        f.mutate();
        let mutated = f.checksums();
        let state = restore(&f.source(), &bytes[..], &summary.info)
            .expect("restore")
            .state()
            .clone();
        // The switch's first half: the live file linked as the old copy.
        std::fs::hard_link(&f.path, f.dir.path().join(&state.old)).expect("link");
        let switched = recover(&f.source(), &state, forward).expect("recover");
        if forward {
            assert_eq!(f.checksums(), original);
            switched.expect("old left").finish(false).expect("finish");
        } else {
            assert!(switched.is_none());
            assert_eq!(f.checksums(), mutated);
        }
        assert_eq!(f.family(), ["app.db"]);
    }
}
