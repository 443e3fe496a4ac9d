//! PostgreSQL: probe, streamed dump in one snapshot (consistent while another connection
//! writes), round trips through restore and switch, failures with scrubbed messages.

use std::collections::BTreeMap;
use std::process::Stdio;

use dsbackup_dbsource::{DbError, DbSource, dump, probe, restore};

use crate::flows::{self, Fixture};
use crate::support::{self, PgDb, pg_up, read_dump};

/// Common types, indexes, a view, sequences, a trigger, and the transfer tables.
pub const SCHEMA: &str = r"
CREATE TABLE kinds (
  id int PRIMARY KEY, b bytea, u text, j jsonb, big text, n int, f double precision,
  d numeric(20,5), ts timestamptz, arr int[]);
INSERT INTO kinds SELECT g, decode(md5(g::text), 'hex') || '\x00ff00'::bytea,
  'ünïcödé ✓ 日本語 ' || g || E'\n\t''\\', jsonb_build_object('g', g, 'a', jsonb_build_array(1, 'x', null)),
  CASE WHEN g % 100 = 0 THEN repeat('L', 1500000) END, NULLIF(g % 3, 0), g / 7.0, g * 1.5,
  '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour', ARRAY[g, g + 1]
FROM generate_series(1, 400) g;
CREATE INDEX kinds_u ON kinds (u);
CREATE INDEX kinds_j ON kinds USING gin (j);
CREATE TABLE checking (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE savings (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO checking SELECT g, 1000 FROM generate_series(1, 10) g;
INSERT INTO savings SELECT g, 1000 FROM generate_series(1, 10) g;
CREATE TABLE transfers (id bigserial PRIMARY KEY, amount bigint NOT NULL, at timestamptz DEFAULT now());
CREATE TABLE audit (id serial PRIMARY KEY, account int, old bigint, new bigint);
CREATE FUNCTION audit_savings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit (account, old, new) VALUES (NEW.id, OLD.balance, NEW.balance); RETURN NEW; END $$;
CREATE TRIGGER savings_audit AFTER UPDATE ON savings FOR EACH ROW EXECUTE FUNCTION audit_savings();
CREATE VIEW rich AS SELECT c.id, c.balance + s.balance AS total FROM checking c JOIN savings s USING (id);
CREATE SEQUENCE custom_seq START 42;
SELECT nextval('custom_seq');
UPDATE savings SET balance = balance WHERE id = 1;
";

/// Moves `n` units from checking to savings, one transaction per unit, logging each.
pub fn transfers_sql(n: u32) -> String {
    format!(
        "DO $$ BEGIN FOR i IN 1..{n} LOOP
           UPDATE checking SET balance = balance - 1 WHERE id = i % 10 + 1;
           UPDATE savings SET balance = balance + 1 WHERE id = (i * 7) % 10 + 1;
           INSERT INTO transfers (amount) VALUES (1);
           COMMIT;
         END LOOP; END $$;"
    )
}

/// The PostgreSQL fixture of the shared restore scenarios.
impl Fixture for PgDb {
    fn seeded() -> Self {
        let db = PgDb::new();
        db.sql(SCHEMA);
        db
    }

    fn source(&self) -> DbSource {
        PgDb::source(self)
    }

    fn checksums(&self) -> BTreeMap<String, String> {
        support::pg_checksums(&self.name)
    }

    fn family(&self) -> Vec<String> {
        self.databases()
    }

    fn mutate(&self) {
        self.sql(
            "DROP TABLE kinds; DELETE FROM savings WHERE id > 5; \
             UPDATE checking SET balance = 0 WHERE id = 1; SELECT nextval('custom_seq');",
        );
    }

    fn extras(&self) -> String {
        self.sql(
            "SELECT last_value FROM custom_seq; SELECT last_value FROM transfers_id_seq; \
             SELECT count(*) FROM rich; BEGIN; UPDATE savings SET balance = balance + 1 WHERE id = 3; \
             SELECT count(*) FROM audit; ROLLBACK; \
             SELECT indexname FROM pg_indexes WHERE tablename = 'kinds' ORDER BY 1;",
        )
    }

    fn start_writer(&self) -> Box<dyn FnOnce()> {
        let app = format!("writer_{}", self.name);
        let mut cmd = support::psql_cmd(&self.name);
        cmd.env("PGAPPNAME", &app)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("writer");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, transfers_sql(10_000_000).as_bytes()).expect("feed");
        drop(stdin);
        while self.sql("SELECT count(*) FROM transfers;").trim() == "0" {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Box::new(move || {
            support::psql(
                "postgres",
                &format!(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}';"
                ),
            )
            .expect("cancel writer");
            let _ = child.wait();
        })
    }

    fn assert_invariant(&self) {
        let out = self.sql(
            "SELECT (SELECT sum(balance) FROM checking) || ' ' || (SELECT sum(balance) FROM savings) \
             || ' ' || (SELECT count(*) FROM transfers);",
        );
        support::assert_transfers(&out);
    }
}

flows::scenarios!(PgDb, pg_up());

#[test]
fn probe_reports_versions_and_counts() {
    if !pg_up() {
        return;
    }
    let db = PgDb::new();
    db.sql(SCHEMA);
    let info = probe(&db.source()).expect("probe");
    assert!(
        info.server_version.starts_with(char::is_numeric),
        "{info:?}"
    );
    assert!(info.tool_version.contains("pg_dump"), "{info:?}");
    assert_eq!(info.rows("public.kinds"), Some(400));
    assert_eq!(info.rows("public.savings"), Some(10));
    assert_eq!(info.rows("public.audit"), Some(1));
    assert_eq!(info.rows("public.rich"), None, "views are not tables");
    assert!(!info.snapshot_counts);
}

#[test]
fn dump_streams_custom_format_and_loads_elsewhere() {
    if !pg_up() {
        return;
    }
    let db = PgDb::new();
    db.sql(SCHEMA);
    let d = dump(&db.source()).expect("dump starts");
    assert!(d.info().snapshot_counts);
    let (bytes, summary) = read_dump(d);
    assert!(bytes.starts_with(b"PGDMP"), "custom format");
    assert_eq!(summary.info.rows("public.kinds"), Some(400));
    let other = PgDb::new();
    let mut restore = std::process::Command::new("pg_restore");
    restore.args([
        "--no-owner",
        "--exit-on-error",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
    ]);
    restore
        .arg(format!("--dbname={}", other.name))
        .stdin(Stdio::piped());
    let mut child = restore.spawn().expect("pg_restore");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &bytes).expect("feed");
    assert!(child.wait().expect("wait").success());
    assert_eq!(other.checksums(), db.checksums());
}

#[test]
fn too_old_pg_dump_is_refused_before_dumping() {
    if !pg_up() {
        return;
    }
    let db = PgDb::new();
    let bin = tempfile::tempdir().expect("tmp");
    support::shim(
        bin.path(),
        "pg_dump",
        "if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 9.6.24'; exit 0; fi\n\
         echo 'shim pg_dump must not run' >&2; exit 1",
    );
    let source = DbSource {
        bin_dir: Some(bin.path().to_owned()),
        ..db.source()
    };
    for err in [
        probe(&source).expect_err("probe"),
        dump(&source).map(|_| ()).expect_err("dump"),
    ] {
        assert!(matches!(err, DbError::ToolTooOld { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("9.6.24") && text.contains("older than the server"),
            "{text}"
        );
    }
}

#[test]
fn refused_connections_say_why_without_secrets() {
    if !pg_up() {
        return;
    }
    let port = support::closed_port();
    let unreachable = DbSource {
        url: Some(format!(
            "postgres://postgres:Sup3rSecret@127.0.0.1:{port}/app"
        )),
        ..support::source(dsbackup_dbsource::DbKind::Postgres, "postgres://x@h/app")
    };
    let err = probe(&unreachable).expect_err("closed port").to_string();
    assert!(err.contains("onnection refused"), "{err}");
    assert!(!err.contains("Sup3rSecret"), "{err}");

    let missing = DbSource {
        url: Some("postgres://postgres:Sup3rSecret@127.0.0.1:5432/dsbt_nope_nope".into()),
        ..unreachable.clone()
    };
    for err in [
        probe(&missing).expect_err("probe"),
        dump(&missing).map(|_| ()).expect_err("dump"),
    ] {
        let text = err.to_string();
        assert!(text.contains("dsbt_nope_nope\" does not exist"), "{text}");
        assert!(!text.contains("Sup3rSecret"), "{text}");
    }
}

#[test]
fn a_refused_password_is_scrubbed_and_never_on_the_command_line() {
    // The server here trusts 127.0.0.1, so a real refusal cannot be provoked; a psql shim
    // plays the server refusing, echoing the password it received back in its message.
    let bin = tempfile::tempdir().expect("tmp");
    let args = bin.path().join("args");
    support::shim(
        bin.path(),
        "psql",
        &format!(
            "echo \"$@\" > {}\necho \"psql: FATAL: password authentication failed (got $PGPASSWORD)\" >&2\nexit 2",
            args.display()
        ),
    );
    let pw = bin.path().join("pw");
    std::fs::write(&pw, "Pa55-from-file\n").expect("pw");
    let source = DbSource {
        kind: dsbackup_dbsource::DbKind::Postgres,
        name: "appdb".into(),
        url: Some("postgres://postgres@127.0.0.1:5432/app".into()),
        path: None,
        password_file: Some(pw),
        bin_dir: Some(bin.path().to_owned()),
    };
    let err = probe(&source).expect_err("refused").to_string();
    assert!(
        err.contains("password authentication failed (got ********)"),
        "{err}"
    );
    let argv = std::fs::read_to_string(&args).expect("args");
    assert!(!argv.contains("Pa55"), "{argv}");
}

#[test]
fn switch_ends_the_other_sessions_of_the_live_database() {
    if !pg_up() {
        return;
    }
    let db = <PgDb as Fixture>::seeded();
    let (bytes, summary) = read_dump(dump(&db.source()).expect("dump"));
    let app = format!("idle_{}", db.name);
    let mut idle = support::psql_cmd(&db.name);
    idle.env("PGAPPNAME", &app)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut idle = idle.spawn().expect("idle session");
    let seen = format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}';");
    while support::psql("postgres", &seen).expect("activity").trim() == "0" {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let staged = restore(&db.source(), &bytes[..], &summary.info).expect("restore");
    staged
        .switch()
        .expect("switch despite the idle session")
        .finish(false)
        .expect("finish");
    assert_eq!(
        support::psql("postgres", &seen).expect("activity").trim(),
        "0"
    );
    drop(idle.stdin.take());
    let _ = idle.wait();
}

#[test]
fn a_failing_or_unfinished_dump_says_so_without_secrets() {
    if !pg_up() {
        return;
    }
    let db = <PgDb as Fixture>::seeded();
    let with_password = DbSource {
        url: Some(format!(
            "postgres://postgres:Sup3rSecret@127.0.0.1:5432/{}",
            db.name
        )),
        ..db.source()
    };
    // Read only a little, then finish: refused, and the tool is stopped.
    let mut d = dump(&with_password).expect("dump");
    let mut head = [0u8; 5];
    std::io::Read::read_exact(&mut d, &mut head).expect("head");
    let err = d.finish().expect_err("unfinished").to_string();
    assert!(err.contains("not read to its end"), "{err}");

    // A pg_dump that fails after some output: its message, scrubbed, at finish.
    let bin = tempfile::tempdir().expect("tmp");
    support::shim(
        bin.path(),
        "pg_dump",
        "if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 99.0'; exit 0; fi\n\
         printf PGDMP; echo \"pg_dump: error: lost connection (password $PGPASSWORD)\" >&2; exit 1",
    );
    let failing = DbSource {
        bin_dir: Some(bin.path().to_owned()),
        ..with_password.clone()
    };
    let d = dump(&failing).expect("starts");
    let mut out = Vec::new();
    let mut d = d;
    std::io::Read::read_to_end(&mut d, &mut out).expect("read");
    assert_eq!(out, b"PGDMP");
    let err = d.finish().expect_err("failed dump");
    assert!(matches!(err, DbError::ToolFailed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("lost connection (password ********)"),
        "{text}"
    );

    // Restoring into an unreachable server fails before anything, without the secret.
    let port = support::closed_port();
    let closed = DbSource {
        url: Some(format!(
            "postgres://postgres:Sup3rSecret@127.0.0.1:{port}/{}",
            db.name
        )),
        ..db.source()
    };
    let info = probe(&db.source()).expect("probe");
    let text = restore(&closed, &b"PGDMP"[..], &info)
        .expect_err("closed")
        .to_string();
    assert!(
        text.contains("onnection refused") && !text.contains("Sup3rSecret"),
        "{text}"
    );
}
