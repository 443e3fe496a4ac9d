//! Test harness: starts the real `dsbackup` binary on port 0 with a fresh data directory and
//! known owner credentials, and talks HTTP to it. The process is killed when dropped. The
//! catalog is SQLite in the data directory, or a fresh PostgreSQL database
//! ([`TestServer::start_on_postgres`]) dropped after the process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::pgdb::CatalogDb;

pub const OWNER_EMAIL: &str = "owner@example.org";
pub const OWNER_PASSWORD: &str = "owner-password-1";
pub const OWNER_KEY: &str = "sk-test0000000000000000000000000000owner";

/// A running server.
pub struct TestServer {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    dir: tempfile::TempDir,
    opts: Opts,
    umask: Option<u32>,
    pub client: reqwest::Client,
    /// The catalog URL when it is not the data directory's SQLite file.
    catalog_url: Option<String>,
    /// The PostgreSQL database of the catalog (dropped after the process, by field order).
    pub catalog_db: Option<CatalogDb>,
}

/// Options for [`TestServer::start_with`].
#[derive(Default, Clone)]
pub struct Opts {
    pub env: Vec<(&'static str, String)>,
    pub config: Option<String>,
}

/// `dsbackup serve` on `data_dir` with the test owner's credentials; its log goes to
/// `dir/server.log`.
fn command(
    dir: &Path,
    data_dir: &Path,
    opts: &Opts,
    umask: Option<u32>,
    catalog: Option<&str>,
) -> Command {
    let mut cmd = match umask {
        // The shell sets the umask and then becomes the server (same pid).
        Some(m) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("umask {m:03o} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_dsbackup"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_dsbackup")),
    };
    cmd.arg("serve");
    if let Some(cfg) = &opts.config {
        let path = dir.join("dsbackup.toml");
        std::fs::write(&path, cfg).unwrap();
        cmd.arg("--config").arg(path);
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DSBACKUP_LISTEN", "127.0.0.1:0")
        .env("DSBACKUP_DATA_DIR", data_dir)
        .env("DSBACKUP_OWNER_EMAIL", OWNER_EMAIL)
        .env("DSBACKUP_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("DSBACKUP_OWNER_API_KEY", OWNER_KEY)
        .env("DSBACKUP_LOG", "warn");
    if let Some(url) = catalog {
        cmd.env("DSBACKUP_CATALOG", url);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    cmd.stdout(Stdio::piped()).stderr(log);
    cmd
}

fn spawn(
    dir: &Path,
    data_dir: &Path,
    opts: &Opts,
    umask: Option<u32>,
    catalog: Option<&str>,
) -> (Child, String) {
    let mut child = command(dir, data_dir, opts, umask, catalog)
        .spawn()
        .expect("spawn dsbackup");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("dsbackup listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => (child, url),
        Err(_) => {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("server did not start:\n{log}");
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Opts::default()).await
    }

    pub async fn start_with(opts: Opts) -> Self {
        Self::start_under_umask(opts, None).await
    }

    /// Starts the server (and its restarts) with this umask instead of the test's own.
    pub async fn start_under_umask(opts: Opts, umask: Option<u32>) -> Self {
        Self::start_on(opts, umask, None, None)
    }

    /// Starts the server with its catalog in a new PostgreSQL database; `None` (skip the test)
    /// when PostgreSQL does not answer and `CI` is not set.
    pub async fn start_on_postgres(opts: Opts) -> Option<Self> {
        let db = CatalogDb::create()?;
        let url = db.url();
        Some(Self::start_on(opts, None, Some(db), Some(url)))
    }

    /// Starts the server with its catalog in `db`, reached at `url` (a proxy's, say).
    pub fn start_on_catalog(opts: Opts, db: CatalogDb, url: String) -> Self {
        Self::start_on(opts, None, Some(db), Some(url))
    }

    fn start_on(
        opts: Opts,
        umask: Option<u32>,
        catalog_db: Option<CatalogDb>,
        catalog_url: Option<String>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let (child, base) = spawn(dir.path(), &data_dir, &opts, umask, catalog_url.as_deref());
        Self {
            child,
            base,
            data_dir,
            dir,
            opts,
            umask,
            client: reqwest::Client::new(),
            catalog_url,
            catalog_db,
        }
    }

    /// Stops the server and starts it again on the same data directory with its catalog in
    /// `db` (after `dsbackup catalog migrate` moved it there).
    pub fn restart_on_catalog(&mut self, db: CatalogDb) {
        self.catalog_url = Some(db.url());
        self.catalog_db = Some(db);
        self.restart_with(self.opts.env.clone());
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same data directory (a new port), with `env` replacing
    /// the environment it was first given.
    pub fn restart_with(&mut self, env: Vec<(&'static str, String)>) {
        self.kill9();
        self.opts.env = env;
        let (child, base) = spawn(
            self.dir.path(),
            &self.data_dir,
            &self.opts,
            self.umask,
            self.catalog_url.as_deref(),
        );
        self.child = child;
        self.base = base;
    }

    /// Runs another `dsbackup serve` on this data directory, as this server was started, and
    /// waits for it to stop; returns its exit status and what it logged. Panics when it is still
    /// running after 30 s (it started).
    pub fn serve_again(&self) -> (std::process::ExitStatus, String) {
        let log = self.dir.path().join("again.log");
        let mut cmd = command(
            self.dir.path(),
            &self.data_dir,
            &self.opts,
            self.umask,
            self.catalog_url.as_deref(),
        );
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("spawn dsbackup");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, std::fs::read_to_string(&log).unwrap_or_default());
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("a second server started on {}", self.data_dir.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM, as a service manager stops a service, and waits up to `within` for the
    /// process to exit; returns how long it took, or `None` if it still runs (then killed).
    pub fn terminate(&mut self, within: Duration) -> Option<Duration> {
        let started = std::time::Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        while started.elapsed() < within {
            if self.child.try_wait().unwrap().is_some() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        None
    }

    /// A field of the server process's `/proc/<pid>/status`, trimmed.
    pub fn proc_status(&self, field: &str) -> Option<String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }

    /// The server process's peak resident memory (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let kb: u64 = self
            .proc_status("VmHWM")
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with `Authorization: <credential>` (raw, as the seed sends it).
    pub fn as_(&self, cred: &str, method: Method, path: &str) -> RequestBuilder {
        self.req(method, path).header("Authorization", cred)
    }

    pub fn owner(&self, method: Method, path: &str) -> RequestBuilder {
        self.as_(OWNER_KEY, method, path)
    }

    /// Adds a member of `role` (as the owner) and returns a session token for them.
    pub async fn member(&self, role: &str, email: &str) -> String {
        let path = if role == "Guest" {
            "/api/2.0/people/active"
        } else {
            "/api/2.0/people"
        };
        let (status, body) = send(self.owner(Method::POST, path).json(&serde_json::json!({
            "email": email, "password": "member-password", "firstName": "M", "lastName": role, "type": role
        })))
        .await;
        assert_eq!(status, 200, "adding {role}: {body}");
        self.login(email, "member-password").await
    }

    /// Logs in and returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = send(
            self.req(Method::POST, "/api/2.0/authentication")
                .json(&serde_json::json!({"userName": email, "password": password})),
        )
        .await;
        assert_eq!(status, 200, "login: {body}");
        body["response"]["token"].as_str().unwrap().to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends and returns the status and JSON body (Null when the body is not JSON).
pub async fn send(req: RequestBuilder) -> (u16, Value) {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the DocSpace error envelope with `code`, returning the message.
pub fn assert_error(status: u16, body: &Value, code: u16) -> String {
    assert_eq!(status, code, "status for {body}");
    assert_eq!(body["status"], 1, "error envelope: {body}");
    assert_eq!(body["statusCode"], code, "error envelope: {body}");
    let msg = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("message in {body}"));
    assert!(!msg.is_empty());
    assert!(
        body.get("response").is_none(),
        "no response in errors: {body}"
    );
    msg.to_string()
}

/// Runs a `dsbackup` command line (`cmd` from [`dsbackup`]) to the end: whether it succeeded,
/// and its standard output followed by its standard error.
pub fn outcome(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The `dsbackup` binary under test, as a command to add arguments to.
pub fn dsbackup() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dsbackup"))
}
