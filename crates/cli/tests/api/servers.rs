//! Real storage servers for the remote tests: `moto_server` (S3 protocol) on a free loopback
//! port, found through `DSBACKUP_TEST_MOTO` or `PATH` (`./scripts/test` provides it; missing,
//! the tests skip, and fail under `CI=true`), with a bucket `bkt` made by a plain PUT; one with
//! signatures checked against an IAM user; the unsigned listings the tests look through; and
//! a TCP proxy that can cut a server off and bring it back with its state intact (moto keeps
//! nothing across a restart).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `moto_server`, killed when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Kills the server at once, as a crash or a network loss would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `moto_server`: `DSBACKUP_TEST_MOTO`, else on `PATH`. Missing fails under `CI=true`.
fn moto_binary() -> Option<PathBuf> {
    let found = std::env::var_os("DSBACKUP_TEST_MOTO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("moto_server"))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        skip("moto_server not found (set DSBACKUP_TEST_MOTO or put it on PATH)");
    }
    found
}

/// Says a test is skipped, past the harness's capture; panics under `CI=true`.
fn skip(msg: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("\n*** SKIPPED: {msg} ***\n");
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_moto(env: &[(&str, &str)]) -> Option<Moto> {
    let bin = moto_binary()?;
    let port = free_port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

/// Waits until `m` accepts connections, without sending a request (moto counts requests
/// towards `INITIAL_NO_AUTH_ACTION_COUNT`).
async fn accepting(m: &Moto) {
    let addr = m.url.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A moto server with the bucket `bkt`, accepting any credentials.
pub async fn moto() -> Option<Moto> {
    let m = spawn_moto(&[])?;
    accepting(&m).await;
    let made = reqwest::Client::new()
        .put(format!("{}/bkt", m.url))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());
    Some(m)
}

/// Creates the bucket `bkt` and an IAM user allowed `s3:*`, and prints its key id and secret.
const IAM_SETUP: &str = r#"
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="AKIDBOOTSTRAP", aws_secret_access_key="bootstrap")
boto3.client("s3", **kw).create_bucket(Bucket="bkt")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="backup")
iam.put_user_policy(UserName="backup", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="backup")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// A moto server that checks signatures after its first four requests, which make the bucket
/// `bkt` and an IAM user through boto3 (from moto's own venv, beside `moto_server`); returns it
/// with that user's access key id and secret.
pub async fn moto_with_auth() -> Option<(Moto, String, String)> {
    let m = spawn_moto(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")])?;
    let python = moto_binary()?.with_file_name("python");
    if !python.is_file() {
        skip("no python with boto3 beside moto_server");
        return None;
    }
    accepting(&m).await;
    let text = stdout_of(Command::new(python).args(["-c", IAM_SETUP, &m.url]));
    let (id, secret) = text.trim().split_once(' ').unwrap();
    Some((m, id.to_string(), secret.to_string()))
}

/// `storageParams` as DocSpace's key/value list.
pub fn kv(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The keys of `bkt` under `prefix` (moto lists without a signature).
pub async fn keys(m: &Moto, prefix: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{}/bkt?list-type=2&prefix={prefix}", m.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_string()))
        .collect()
}

/// Whether the bucket lists `key` (objects are private: an anonymous GET is refused).
pub async fn object_exists(m: &Moto, key: &str) -> bool {
    keys(m, key).await.iter().any(|k| k == key)
}

/// The multipart uploads of `bkt` begun and neither completed nor aborted
/// (`ListMultipartUploads`), as their `UploadId`s.
pub async fn open_uploads(m: &Moto) -> Vec<String> {
    let res = reqwest::get(format!("{}/bkt?uploads", m.url))
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let listing = res.text().await.unwrap();
    assert!(listing.contains("ListMultipartUploadsResult"), "{listing}");
    listing
        .split("<UploadId>")
        .skip(1)
        .filter_map(|s| s.split_once("</UploadId>").map(|(k, _)| k.to_string()))
        .collect()
}

/// A TCP proxy on a loopback port to `upstream` (`host:port`): [`Proxy::cut`] closes the port
/// and resets every connection through it, as an outage would; [`Proxy::restore`] listens on
/// the same port again.
pub struct Proxy {
    pub url: String,
    addr: std::net::SocketAddr,
    upstream: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// A proxy to the server at `url` (`http://host:port`).
    pub async fn to(url: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = url.trim_start_matches("http://").to_string();
        let task = Some(tokio::spawn(relay(listener, upstream.clone())));
        Self {
            url: format!("http://{addr}"),
            addr,
            upstream,
            task,
        }
    }

    /// Stops listening and drops every connection (their tasks end, their sockets close).
    pub async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens on the same port again.
    pub async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.task = Some(tokio::spawn(relay(listener, self.upstream.clone())));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts on `listener` and pipes each connection to `upstream`; aborting it drops the
/// connections' tasks with it.
async fn relay(listener: tokio::net::TcpListener, upstream: String) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let upstream = upstream.clone();
        conns.spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

/// Runs `script` with boto3 (from moto's venv, beside `moto_server`) against `m`, signed as the
/// user `id`/`secret`: the script sees an S3 client `s3` and `args` as `sys.argv[1:]`. Its
/// standard output.
pub fn boto(m: &Moto, (id, secret): (&str, &str), script: &str, args: &[&str]) -> String {
    let python = moto_binary().unwrap().with_file_name("python");
    let prelude = "import boto3, sys\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], \
        region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\n\
        sys.argv = sys.argv[3:]\n";
    stdout_of(
        Command::new(python)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .args([m.url.as_str(), id, secret])
            .args(args),
    )
}

/// Runs `cmd` to its end; its standard output. Panics with its standard error when it fails.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
