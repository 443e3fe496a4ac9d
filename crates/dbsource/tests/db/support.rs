//! Test helpers: server availability (skip, or fail under CI), throwaway databases that drop
//! themselves, SQL through the command-line clients, per-table checksums, shim tools.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use dsbackup_dbsource::{DbKind, DbSource};

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn up(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(
            !ci(),
            "{what} is not answering and CI is set: the tests need it"
        );
        eprintln!("skipping: {what} is not answering (set CI=true to fail instead)");
    }
    ok
}

pub fn pg_up() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| {
        up(
            "PostgreSQL at 127.0.0.1:5432",
            psql("postgres", "SELECT 1").is_ok(),
        )
    })
}

pub fn my_up() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| up("MariaDB at 127.0.0.1:3306", mysql(None, "SELECT 1").is_ok()))
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

fn run(mut cmd: Command, input: &str) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = feeder.join();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn psql_cmd(db: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", db]);
    cmd
}

pub fn psql(db: &str, sql: &str) -> Result<String, String> {
    run(psql_cmd(db), sql)
}

pub fn mysql_cmd(db: Option<&str>) -> Command {
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-P",
        "3306",
        "-uroot",
        "--batch",
        "--skip-column-names",
    ]);
    cmd.arg("--default-character-set=utf8mb4")
        .arg("--max-allowed-packet=1G");
    if let Some(db) = db {
        cmd.arg(format!("--database={db}"));
    }
    cmd
}

pub fn mysql(db: Option<&str>, sql: &str) -> Result<String, String> {
    run(mysql_cmd(db), sql)
}

/// A server source named `appdb`.
pub fn source(kind: DbKind, url: &str) -> DbSource {
    DbSource {
        kind,
        name: "appdb".into(),
        url: Some(url.to_owned()),
        path: None,
        password_file: None,
        bin_dir: None,
    }
}

/// A PostgreSQL database that exists for one test.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub fn new() -> Self {
        let name = unique("dsbt");
        psql("postgres", &format!("CREATE DATABASE {name};")).expect("create database");
        PgDb { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    pub fn source(&self) -> DbSource {
        source(DbKind::Postgres, &self.url())
    }

    pub fn sql(&self, sql: &str) -> String {
        psql(&self.name, sql).unwrap_or_else(|e| panic!("psql: {e}"))
    }
}

pub fn pg_checksums(db: &str) -> BTreeMap<String, String> {
    let tables = psql(
        db,
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;",
    )
    .expect("tables");
    tables
        .lines()
        .map(|t| {
            let sum = psql(
                db,
                &format!(
                    "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) \
                     FROM {t} x;"
                ),
            )
            .expect("checksum");
            (t.to_owned(), sum.trim().to_owned())
        })
        .collect()
}

impl PgDb {
    /// Databases whose names start with this one's (staged and old copies included).
    pub fn databases(&self) -> Vec<String> {
        let out = psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{}%' ORDER BY 1;",
                self.name
            ),
        )
        .expect("list");
        out.lines().map(str::to_owned).collect()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        for db in self.databases() {
            let _ = psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE);"),
            );
        }
    }
}

/// A MariaDB schema that exists for one test.
pub struct MyDb {
    pub name: String,
}

impl MyDb {
    pub fn new() -> Self {
        let name = unique("dsbt");
        mysql(
            None,
            &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4;"),
        )
        .expect("create");
        MyDb { name }
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.name)
    }

    pub fn source(&self) -> DbSource {
        source(DbKind::Mysql, &self.url())
    }

    pub fn sql(&self, sql: &str) -> String {
        mysql(Some(&self.name), sql).unwrap_or_else(|e| panic!("mariadb: {e}"))
    }
}

pub fn my_checksums(db: &str) -> BTreeMap<String, String> {
    let tables = mysql(
        None,
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' \
             AND table_type = 'BASE TABLE' ORDER BY 1;"
        ),
    )
    .expect("tables");
    tables
        .lines()
        .map(|t| {
            let out = mysql(Some(db), &format!("CHECKSUM TABLE `{t}` EXTENDED;")).expect("sum");
            let sum = out.split('\t').nth(1).unwrap_or("").trim().to_owned();
            (t.to_owned(), sum)
        })
        .collect()
}

impl MyDb {
    /// Schemas whose names start with this one's (staged and old copies included).
    pub fn schemas(&self) -> Vec<String> {
        let out = mysql(
            None,
            &format!(
                "SELECT schema_name FROM information_schema.schemata \
                 WHERE schema_name LIKE '{}%' ORDER BY 1;",
                self.name
            ),
        )
        .expect("list");
        out.lines().map(str::to_owned).collect()
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        for db in self.schemas() {
            let _ = mysql(None, &format!("DROP DATABASE IF EXISTS `{db}`;"));
        }
    }
}

/// Checks `checking savings transfers` sums: nothing created or lost, each transfer logged.
pub fn assert_transfers(out: &str) {
    let v: Vec<i64> = out
        .split_whitespace()
        .map(|x| x.parse().expect("number"))
        .collect();
    assert_eq!(v[0] + v[1], 20_000, "money created or lost: {out}");
    assert_eq!(v[1] - 10_000, v[2], "transfers do not match savings: {out}");
    assert!(v[2] > 0, "the writer made no transfer: {out}");
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Writes an executable shell script `dir/name`.
pub fn shim(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write shim");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Reads a whole dump and finishes it.
pub fn read_dump(dump: dsbackup_dbsource::Dump) -> (Vec<u8>, dsbackup_dbsource::DumpSummary) {
    let mut dump = dump;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut dump, &mut bytes).expect("read dump");
    let summary = dump.finish().expect("dump finishes");
    assert_eq!(summary.bytes, bytes.len() as u64);
    (bytes, summary)
}
