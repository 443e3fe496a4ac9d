//! Runs the storage conformance suite against real servers on loopback: an S3-protocol server
//! (moto), a GCS emulator (fake-gcs-server) and a WebDAV server (rclone), plus the failure
//! cases only a remote has (dangling multipart uploads, presigned links, a wrong bucket, an
//! unreachable endpoint).
//!
//! Each server is found through `DSBACKUP_TEST_MOTO` / `DSBACKUP_TEST_FAKE_GCS` /
//! `DSBACKUP_TEST_RCLONE` or on `PATH` (`scripts/test` sets them). A missing one fails the test
//! under `CI=true`, and is skipped loudly elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dsbackup_core::CoreError;
use dsbackup_core::storage::{ByteStream, ReadBackend, WriteBackend};
use dsbackup_storage::conformance::{self, body_of, pattern};
use dsbackup_storage::remote::{
    GcsConfig, OpendalBackend, S3Config, Secret, Tuning, WebDavBackend, WebDavConfig,
};
use futures_util::{StreamExt, stream};

const SECRET: &str = "s3cr3t-Never-Shown-9f2c";
const LARGE: u64 = 24 << 20;

/// A server process on a free loopback port, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The server binary: `$env`, else `name` on `PATH`. Missing: a failure under `CI=true`, a
/// loud skip (`None`) elsewhere.
fn binary(env: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        let msg = format!("{name} not found (set {env} or put it on PATH; ./scripts/test does)");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        // Straight to stderr: the test harness would swallow `eprintln!` of a passing test.
        let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {msg} ***\n");
    }
    found
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts `bin` with the arguments `args(port, dir)` and waits until `probe` answers.
async fn start(
    bin: &Path,
    args: impl Fn(u16, &Path) -> Vec<String>,
    probe: impl Fn(&str) -> reqwest::RequestBuilder,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let child = Command::new(bin)
        .args(args(port, dir.path()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let server = Server {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if probe(&server.url()).send().await.is_ok() {
            return server;
        }
        let log = std::fs::read_to_string(server._dir.path().join("server.log"));
        assert!(
            Instant::now() < deadline,
            "{} did not answer: {}",
            bin.display(),
            log.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn moto() -> Option<Server> {
    let bin = binary("DSBACKUP_TEST_MOTO", "moto_server")?;
    let args = |port: u16, _: &Path| {
        ["-H", "127.0.0.1", "-p", &port.to_string()]
            .map(String::from)
            .to_vec()
    };
    let server = start(&bin, args, |url| client().get(format!("{url}/"))).await;
    let made = client().put(format!("{}/bkt", server.url())).send().await;
    assert!(made.unwrap().status().is_success(), "bucket created");
    Some(server)
}

fn s3_config(server: &Server, bucket: &str) -> S3Config {
    S3Config {
        endpoint: Some(server.url()),
        region: "us-east-1".into(),
        bucket: bucket.into(),
        root: "backup".into(),
        access_key: "AKIDTEST".into(),
        secret_key: Secret::new(SECRET),
        ..S3Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_conforms() {
    let Some(server) = moto().await else { return };
    let b = Arc::new(OpendalBackend::s3(&s3_config(&server, "bkt"), &Tuning::default()).unwrap());
    b.check().await.unwrap();
    conformance::run_backend(b.clone()).await;
    conformance::large_put(&*b, "big/x", LARGE).await;
    assert!(!format!("{b:?}{}", b.describe()).contains(SECRET));
}

/// The multipart uploads moto still holds for `bkt`.
async fn dangling_uploads(server: &Server) -> usize {
    let url = format!("{}/bkt?uploads", server.url());
    let xml = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("ListMultipartUploadsResult"), "{xml}");
    xml.matches("<Upload>").count()
}

/// A body of `before` bytes (in 1 MiB pieces) followed by `end`.
fn body_then(
    before: usize,
    end: impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
) -> ByteStream {
    let pieces = (0..before).step_by(1 << 20).map(move |at| {
        let len = (1usize << 20).min(before - at);
        Ok(Bytes::from(pattern(at as u64, len)))
    });
    Box::pin(stream::iter(pieces.collect::<Vec<_>>()).chain(end))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_failed_and_dropped_uploads_leave_no_multipart_upload() {
    let Some(server) = moto().await else { return };
    let b = OpendalBackend::s3(&s3_config(&server, "bkt"), &Tuning::default()).unwrap();

    // Past two parts, then the source breaks.
    let broken = body_then(
        20 << 20,
        stream::iter([Err(std::io::Error::other("disk gone"))]),
    );
    let err = b.put("f/broken", broken, false).await.unwrap_err();
    assert!(err.to_string().contains("disk gone"), "{err}");
    assert_eq!(dangling_uploads(&server).await, 0, "aborted at once");

    // Past two parts, then the put is dropped while its source stalls.
    let (started, wait) = tokio::sync::oneshot::channel::<()>();
    let stall = stream::once(async move {
        let _ = started.send(());
        std::future::pending::<std::io::Result<Bytes>>().await
    });
    let put = b.put("f/dropped", body_then(20 << 20, stall), false);
    tokio::select! {
        r = put => panic!("a stalled put finished: {r:?}"),
        _ = wait => {}
    }
    // The abort runs in the background once the put is dropped.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dangling_uploads(&server).await > 0 {
        assert!(
            Instant::now() < deadline,
            "a dropped put's upload still dangles"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.stat("f/dropped").await.unwrap(), None);
    assert!(b.list("", None, 10).await.unwrap().objects.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_presigned_link_downloads_without_credentials() {
    let Some(server) = moto().await else { return };
    let b = OpendalBackend::s3(&s3_config(&server, "bkt"), &Tuning::default()).unwrap();
    let data = pattern(0, 300_000);
    b.put(
        "p/a.tar.zst",
        body_of(vec![Bytes::from(data.clone())]),
        false,
    )
    .await
    .unwrap();
    let expires = chrono::Utc::now() + chrono::Duration::minutes(10);
    let link = b
        .presign("p/a.tar.zst", expires)
        .await
        .unwrap()
        .expect("a link");
    assert!(
        link.contains("X-Amz-Signature") && !link.contains(SECRET),
        "{link}"
    );
    let got = client().get(&link).send().await.unwrap();
    assert!(got.status().is_success(), "{}", got.status());
    assert!(
        got.bytes().await.unwrap() == data,
        "the link serves the object"
    );
    assert!(b.delete("p/a.tar.zst").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_bucket_is_named_and_secret_kept() {
    let Some(server) = moto().await else { return };
    let b = OpendalBackend::s3(&s3_config(&server, "no-such-bkt"), &Tuning::default()).unwrap();
    let err = b.check().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CoreError::Invalid(_)), "{text}");
    assert!(
        text.contains("no-such-bkt") && !text.contains(SECRET),
        "{text}"
    );
    eprintln!("wrong bucket: {text}");
    let put = b
        .put("k", body_of(vec![Bytes::from_static(b"x")]), false)
        .await;
    let text = put.unwrap_err().to_string();
    assert!(
        text.contains("no-such-bkt") && !text.contains(SECRET),
        "{text}"
    );
    eprintln!("put to a wrong bucket: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_fails_within_the_timeout() {
    let port = free_port(); // nothing listens there
    let config = S3Config {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        bucket: "bkt".into(),
        access_key: "AKIDTEST".into(),
        secret_key: Secret::new(SECRET),
        ..S3Config::default()
    };
    let tuning = Tuning {
        retries: 2,
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        ..Tuning::default()
    };
    let b = OpendalBackend::s3(&config, &tuning).unwrap();
    let started = Instant::now();
    // A refused connection fails at once.
    let err = b.check().await.unwrap_err();
    let put = b
        .put("k", body_of(vec![Bytes::from_static(b"x")]), true)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    for text in [err.to_string(), put.unwrap_err().to_string()] {
        assert!(text.contains("bkt") && !text.contains(SECRET), "{text}");
        eprintln!("unreachable: {text}");
    }

    // A server that accepts connections and never answers: each attempt times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = S3Config {
        endpoint: Some(format!("http://{}", silent.local_addr().unwrap())),
        ..config
    };
    let b = OpendalBackend::s3(&config, &tuning).unwrap();
    let started = Instant::now();
    let text = b.check().await.unwrap_err().to_string();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert!(text.contains("bkt") && !text.contains(SECRET), "{text}");
    eprintln!("silent server, after {took:?}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_backend_conforms() {
    let Some(bin) = binary("DSBACKUP_TEST_FAKE_GCS", "fake-gcs-server") else {
        return;
    };
    let args = |port: u16, _: &Path| {
        let url = format!("http://127.0.0.1:{port}");
        let port = port.to_string();
        let a = ["-scheme", "http", "-host", "127.0.0.1", "-port", &port];
        let b = [
            "-backend",
            "memory",
            "-external-url",
            &url,
            "-log-level",
            "warn",
        ];
        a.iter().chain(&b).map(|s| s.to_string()).collect()
    };
    let server = start(&bin, args, |url| {
        client().get(format!("{url}/storage/v1/b?project=test"))
    })
    .await;
    let made = client()
        .post(format!("{}/storage/v1/b?project=test", server.url()))
        .body(r#"{"name":"bkt"}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        made.status().is_success(),
        "bucket created: {}",
        made.status()
    );
    let config = GcsConfig {
        endpoint: Some(server.url()),
        bucket: "bkt".into(),
        root: "backup".into(),
        skip_signature: true,
        ..GcsConfig::default()
    };
    let b = Arc::new(OpendalBackend::gcs(&config, &Tuning::default()).unwrap());
    b.check().await.unwrap();
    conformance::run_backend(b.clone()).await;
    conformance::large_put(&*b, "big/x", LARGE).await;
}

/// Every file under `dir` whose name starts with `.partial-`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(temporaries(&p));
        } else if p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".partial-")
        {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_backend_conforms_and_leaves_no_temporaries() {
    let Some(bin) = binary("DSBACKUP_TEST_RCLONE", "rclone") else {
        return;
    };
    let args = |port: u16, dir: &Path| {
        let served = dir.join("served");
        std::fs::create_dir_all(&served).unwrap();
        let addr = format!("127.0.0.1:{port}");
        let served = served.to_string_lossy().into_owned();
        let a = ["serve", "webdav", &served, "--addr", &addr, "--user", "u"];
        let b = ["--pass", SECRET, "--config", "/dev/null"];
        a.iter().chain(&b).map(|s| s.to_string()).collect()
    };
    let server = start(&bin, args, |url| client().get(format!("{url}/"))).await;
    let served = server._dir.path().join("served");
    let config = WebDavConfig {
        url: server.url(),
        username: "u".into(),
        password: Secret::new(SECRET),
        root: "backup".into(),
    };
    let b = Arc::new(WebDavBackend::new(&config, &Tuning::default()).unwrap());
    conformance::run_backend(b.clone()).await;
    conformance::large_put(&*b, "big/x", LARGE).await;
    // Dropped puts delete their temporaries in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !temporaries(&served).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", temporaries(&served));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The check sees the folder itself: a missing one is an error, not an empty listing.
    b.check().await.unwrap();
    let missing = WebDavConfig {
        root: "missing".into(),
        ..config.clone()
    };
    let text = WebDavBackend::new(&missing, &Tuning::default())
        .unwrap()
        .check()
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("the folder does not exist"), "{text}");

    let wrong = WebDavConfig {
        password: Secret::new("wrong-password-123"),
        ..config
    };
    let b = WebDavBackend::new(&wrong, &Tuning::default()).unwrap();
    let text = b.check().await.unwrap_err().to_string();
    assert!(text.contains("access denied"), "{text}");
    assert!(!text.contains("wrong-password-123"), "{text}");
    let put = b
        .put("k", body_of(vec![Bytes::from_static(b"x")]), false)
        .await;
    let text = put.unwrap_err().to_string();
    assert!(text.contains("access denied"), "{text}");
    assert!(
        !text.contains("wrong-password-123") && !text.contains(SECRET),
        "{text}"
    );
    eprintln!("wrong password: {text}");
}
