//! PostgreSQL for the API tests (127.0.0.1:5432, user postgres, through `psql`): whether it
//! answers (skip, or fail under `CI`), SQL on a database, and [`CatalogDb`], an empty database
//! a test server keeps its catalog in, dropped at the end.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Runs `cmd` with `input` on its standard input; its output, or its error text.
pub fn run(mut cmd: Command, input: &str) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().unwrap();
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

/// Runs `sql` on database `db`; the unaligned, tuples-only output.
pub fn psql(db: &str, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", db]);
    run(cmd, sql)
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Whether PostgreSQL answers; panics instead of `false` under `CI`.
pub fn pg_up() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| {
        let ok = psql("postgres", "SELECT 1").is_ok();
        if !ok {
            assert!(!ci(), "PostgreSQL is not answering and CI is set");
            eprintln!(
                "skipping: PostgreSQL at 127.0.0.1:5432 is not answering (set CI=true to fail)"
            );
        }
        ok
    })
}

/// An empty database for one test's catalog, dropped with its connections at the end.
#[derive(Debug)]
pub struct CatalogDb {
    pub name: String,
}

impl CatalogDb {
    /// A new database; `None` (skip the test) when PostgreSQL does not answer.
    pub fn create() -> Option<Self> {
        if !pg_up() {
            return None;
        }
        let name = unique("dsbcat");
        psql("postgres", &format!("CREATE DATABASE {name};")).unwrap();
        Some(Self { name })
    }

    /// The catalog URL (`DSBACKUP_CATALOG`).
    pub fn url(&self) -> String {
        self.url_via(5432)
    }

    /// The catalog URL through a proxy listening on `port`.
    pub fn url_via(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }

    pub fn sql(&self, sql: &str) -> String {
        psql(&self.name, sql).unwrap()
    }
}

impl Drop for CatalogDb {
    fn drop(&mut self) {
        let _ = psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", self.name),
        );
    }
}
