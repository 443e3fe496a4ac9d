//! MySQL/MariaDB: probe, streamed dump with in-stream row counts, round trips through restore
//! and the cross-schema switch, failures with scrubbed messages.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dsbackup_dbsource::{DbSource, dump, probe};

use crate::flows::{self, Fixture};
use crate::support::{self, MyDb, my_up, read_dump};

/// Common types, indexes, a view, auto-increment, triggers, a procedure, an event.
pub const SCHEMA: &str = r"
CREATE TABLE kinds (
  id int PRIMARY KEY, b varbinary(64), bl longblob, u text CHARACTER SET utf8mb4, j json,
  n int NULL, f double, d decimal(20,5), ts datetime(6), KEY kinds_u (u(20)));
CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL) ENGINE=InnoDB;
CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL) ENGINE=InnoDB;
CREATE TABLE transfers (id bigint AUTO_INCREMENT PRIMARY KEY, amount bigint NOT NULL) ENGINE=InnoDB;
CREATE TABLE audit (id int AUTO_INCREMENT PRIMARY KEY, account int, old bigint, new bigint);
CREATE TRIGGER savings_audit AFTER UPDATE ON savings FOR EACH ROW
  INSERT INTO audit (account, old, new) VALUES (NEW.id, OLD.balance, NEW.balance);
CREATE VIEW rich AS SELECT c.id, c.balance + s.balance AS total FROM checking c JOIN savings s USING (id);
CREATE PROCEDURE bump(IN k int) INSERT INTO transfers (amount) VALUES (k);
CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN x * 2;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0;
";

pub fn seed(db: &MyDb) {
    db.sql(SCHEMA);
    let mut sql = String::from("INSERT INTO checking VALUES ");
    sql += &(1..=10)
        .map(|i| format!("({i},1000)"))
        .collect::<Vec<_>>()
        .join(",");
    sql += "; INSERT INTO savings SELECT id, balance FROM checking;\n";
    for g in 1..=300 {
        let big = if g % 100 == 0 {
            "REPEAT('L', 1500000)".to_owned()
        } else {
            "NULL".into()
        };
        let n = if g % 3 == 0 {
            "NULL".to_owned()
        } else {
            (g % 3).to_string()
        };
        sql += &format!(
            "INSERT INTO kinds VALUES ({g}, UNHEX(MD5({g})), {big}, \
             CONCAT('ünïcödé ✓ 日本語 ', {g}, '\\n\\t\\'\\\\ ()'), JSON_OBJECT('g', {g}, 'a', JSON_ARRAY(1, 'x', NULL)), \
             {n}, {g} / 7.0, {g} * 1.5, TIMESTAMP('2024-01-01') + INTERVAL {g} HOUR);\n"
        );
    }
    sql += "INSERT INTO kinds (id, b) VALUES (0, 0x00FF00);\n";
    sql += "UPDATE savings SET balance = balance WHERE id = 1; UPDATE savings SET balance = balance + 0 WHERE id = 2;\n";
    db.sql(&sql);
}

/// Moves `n` units from checking to savings, one transaction each, logging each.
pub fn transfers_sql(n: u32) -> String {
    let mut sql = String::new();
    for i in 0..n {
        sql += &format!(
            "START TRANSACTION; UPDATE checking SET balance = balance - 1 WHERE id = {}; \
             UPDATE savings SET balance = balance + 1 WHERE id = {}; \
             INSERT INTO transfers (amount) VALUES (1); COMMIT;\n",
            i % 10 + 1,
            (i * 7) % 10 + 1
        );
    }
    sql
}

/// The MariaDB fixture of the shared restore scenarios.
impl Fixture for MyDb {
    fn seeded() -> Self {
        let db = MyDb::new();
        seed(&db);
        db
    }

    fn source(&self) -> DbSource {
        MyDb::source(self)
    }

    fn checksums(&self) -> BTreeMap<String, String> {
        support::my_checksums(&self.name)
    }

    fn family(&self) -> Vec<String> {
        self.schemas()
    }

    fn mutate(&self) {
        self.sql(
            "DROP TABLE kinds; DELETE FROM savings WHERE id > 5; \
             UPDATE checking SET balance = 0 WHERE id = 1; INSERT INTO transfers (amount) VALUES (5); \
             DROP PROCEDURE bump; DROP VIEW rich;",
        );
    }

    fn extras(&self) -> String {
        self.sql(
            "SHOW CREATE TABLE transfers; SELECT COUNT(*) FROM rich; SELECT twice(21); \
             START TRANSACTION; UPDATE savings SET balance = balance + 1 WHERE id = 3; \
             SELECT COUNT(*) FROM audit; ROLLBACK; \
             SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() ORDER BY 1; \
             SELECT event_name, status FROM information_schema.events WHERE event_schema = DATABASE(); \
             SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE(); \
             SELECT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() \
               AND table_name = 'kinds' ORDER BY 1;",
        )
    }

    fn start_writer(&self) -> Box<dyn FnOnce()> {
        let mut child = support::mysql_cmd(Some(&self.name))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("writer");
        let mut stdin = child.stdin.take().expect("stdin");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let feeder = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                if stdin.write_all(transfers_sql(50).as_bytes()).is_err() {
                    break;
                }
            }
        });
        while self.sql("SELECT COUNT(*) FROM transfers;").trim() == "0" {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Box::new(move || {
            stop.store(true, Ordering::SeqCst);
            let _ = feeder.join();
            let _ = child.wait();
        })
    }

    fn assert_invariant(&self) {
        let out = self.sql(
            "SELECT CONCAT((SELECT SUM(balance) FROM checking), ' ', (SELECT SUM(balance) FROM savings), \
             ' ', (SELECT COUNT(*) FROM transfers));",
        );
        support::assert_transfers(&out);
    }
}

flows::scenarios!(MyDb, my_up());

#[test]
fn probe_reports_versions_and_counts() {
    if !my_up() {
        return;
    }
    let db = MyDb::new();
    seed(&db);
    let info = probe(&db.source()).expect("probe");
    assert!(info.server_version.contains("MariaDB") || !info.server_version.is_empty());
    assert!(info.tool_version.contains("dump"), "{info:?}");
    assert_eq!(info.rows("kinds"), Some(301));
    assert_eq!(info.rows("audit"), Some(2));
    assert_eq!(info.rows("rich"), None, "views are not tables");
}

#[test]
fn dump_counts_rows_in_the_stream_and_names_no_database() {
    if !my_up() {
        return;
    }
    let db = MyDb::new();
    seed(&db);
    let probed = probe(&db.source()).expect("probe");
    let (bytes, summary) = read_dump(dump(&db.source()).expect("dump"));
    assert_eq!(summary.info.tables, probed.tables);
    assert!(summary.info.snapshot_counts);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("\nUSE "),
        "the dump must not pick a database"
    );
    assert!(
        !text.contains("CREATE DATABASE"),
        "the dump must not create a database"
    );
    let naming: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("--") && l.contains(&db.name))
        .collect();
    assert!(
        naming.is_empty(),
        "the dump must not name the schema: {naming:?}"
    );
    assert!(
        text.contains("CREATE DEFINER") || text.contains("TRIGGER"),
        "routines and triggers"
    );
}

#[test]
fn refused_connections_say_why_without_secrets() {
    if !my_up() {
        return;
    }
    let db = MyDb::new();
    let wrong = DbSource {
        url: Some(format!(
            "mysql://root:Sup3rSecret@127.0.0.1:3306/{}",
            db.name
        )),
        ..db.source()
    };
    for err in [
        probe(&wrong).expect_err("probe"),
        dump(&wrong).map(|_| ()).expect_err("dump"),
    ] {
        let text = err.to_string();
        assert!(text.contains("Access denied"), "{text}");
        assert!(!text.contains("Sup3rSecret"), "{text}");
    }
    let port = support::closed_port();
    let closed = DbSource {
        url: Some(format!(
            "mysql://root:Sup3rSecret@127.0.0.1:{port}/{}",
            db.name
        )),
        ..db.source()
    };
    let text = probe(&closed).expect_err("closed").to_string();
    assert!(text.contains("Can't connect"), "{text}");
    assert!(!text.contains("Sup3rSecret"), "{text}");
    let missing = DbSource {
        url: Some("mysql://root@127.0.0.1:3306/dsbt_nope_nope".into()),
        ..db.source()
    };
    let text = probe(&missing).expect_err("missing").to_string();
    assert!(text.contains("Unknown database 'dsbt_nope_nope'"), "{text}");
}
