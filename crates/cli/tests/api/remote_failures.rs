//! Remote backups that go wrong, against a real S3-protocol server (`servers.rs`): the server
//! killed in the middle of a multipart upload, or cut off by a proxy and brought back (the
//! upload whose abort could not reach it is aborted once it answers), a backup canceled in the
//! middle of one (nothing dangles), uploads earlier backups left open swept by the next one,
//! refused credentials, an endpoint nobody listens on. Each ends with a clear error naming the
//! storage, no history record, and no secret in any answer or log line. (The store down during
//! `getbackuphistory` is in `remote.rs`.)

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backup::*;
use crate::harness::*;
use crate::servers::*;

const SECRET: &str = "s3cr3t-FAILURES-NEVER-SHOWN-9157";

/// 60 MB of incompressible files, so the archive spans several 8 MiB parts.
fn make_large(r: &Rig) {
    let dir = r.source.join("large");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..6u64 {
        std::fs::write(
            dir.join(format!("part-{i}.bin")),
            pseudo_random(10 << 20, 100 + i),
        )
        .unwrap();
    }
}

fn custom_cloud(url: &str, key: &str, secret: &str) -> Value {
    json!({"storageType": 2, "storageParams": kv(&[
        ("bucket", "bkt"),
        ("serviceurl", url),
        ("acesskey", key),
        ("secretaccesskey", secret),
    ])})
}

/// The current backup progress (`Null` when no job is in view).
async fn progress(r: &Rig) -> Value {
    let (st, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    assert_eq!(st, 200, "{v}");
    v["response"].clone()
}

/// Waits until the running backup passed `percent` with a multipart upload open on `m`;
/// panics when the job completes first.
async fn mid_upload(r: &Rig, m: &Moto, percent: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let p = progress(r).await;
        assert!(p["isCompleted"] != true, "finished before {percent} %: {p}");
        if p["progress"].as_i64().unwrap_or(0) >= percent && !open_uploads(m).await.is_empty() {
            return p;
        }
        assert!(Instant::now() < deadline, "no upload under way: {p}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every answer and the server's log are free of `secrets`.
fn assert_secret_free(r: &Rig, answers: &[&Value], secrets: &[&str]) {
    let log = r.s.log();
    for secret in secrets {
        for a in answers {
            assert!(!a.to_string().contains(secret), "secret in an answer: {a}");
        }
        assert!(!log.contains(secret), "secret in the log");
    }
}

#[tokio::test]
async fn s3_killed_mid_upload_fails_clearly_and_leaves_no_object_or_record() {
    let Some(mut m) = moto().await else { return };
    let r = rig().await;
    make_large(&r);
    let started = start(&r.s, &custom_cloud(&m.url, "AKIDTEST", SECRET)).await;
    let p = mid_upload(&r, &m, 30).await;
    // Parts are uploaded, yet no object exists before the upload completes.
    assert_eq!(keys(&m, "backup/").await, Vec::<String>::new(), "{p}");
    m.kill();

    let killed = Instant::now();
    let done = wait_done(&r.s, false).await;
    assert!(
        killed.elapsed() < Duration::from_secs(90),
        "retries give up: {:?}",
        killed.elapsed()
    );
    assert_eq!(done["status"], 4, "Failed: {done}");
    let err = done["error"].as_str().unwrap();
    assert!(err.contains("bkt"), "the error names the storage: {err}");
    assert!(history(&r.s, false).await.is_empty(), "no record");
    assert_secret_free(&r, &[&started, &p, &done], &[SECRET, "s3cr3t"]);
}

/// Waits until `f` holds (checked every 200 ms, for up to `secs`); panics with `what` after.
async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// moto loses its state when it restarts, so the outage is a proxy cut: the store itself
/// keeps the upload, and the abort that could not reach it happens once it is back.
#[tokio::test]
async fn s3_cut_off_mid_upload_fails_and_the_upload_is_aborted_once_back() {
    let Some(m) = moto().await else { return };
    let mut proxy = Proxy::to(&m.url).await;
    let r = rig().await;
    make_large(&r);
    let started = start(&r.s, &custom_cloud(&proxy.url, "AKIDTEST", SECRET)).await;
    let p = mid_upload(&r, &m, 30).await;
    proxy.cut().await;

    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 4, "Failed: {done}");
    let err = done["error"].as_str().unwrap();
    assert!(err.contains("bkt"), "the error names the storage: {err}");
    assert!(history(&r.s, false).await.is_empty(), "no record");
    // The abort could not reach the store: behind the cut, the upload is still open.
    assert!(
        !open_uploads(&m).await.is_empty(),
        "the outage kept the upload open"
    );
    assert_eq!(keys(&m, "").await, Vec::<String>::new(), "no object");

    proxy.restore().await;
    eventually(60, "the dangling upload is aborted", || async {
        open_uploads(&m).await.is_empty()
    })
    .await;
    assert_eq!(keys(&m, "").await, Vec::<String>::new(), "no object");
    assert!(history(&r.s, false).await.is_empty(), "still no record");
    assert_secret_free(&r, &[&started, &p, &done], &[SECRET, "s3cr3t"]);
}

const BEGIN_UPLOADS: &str =
    "for k in sys.argv[1:]: s3.create_multipart_upload(Bucket='bkt', Key=k)";
const LIST_UPLOADS: &str = "print('\\n'.join(sorted(u['Key'] for u in \
    s3.list_multipart_uploads(Bucket='bkt').get('Uploads', []))))";

/// The next backup of a portal to a bucket aborts the uploads its earlier archives left open,
/// and only those; on a server that checks signatures (the listing and the aborts are signed
/// by dsbackup itself, not by OpenDAL).
#[tokio::test]
async fn a_backup_sweeps_the_uploads_earlier_backups_left_open() {
    let Some((m, id, secret)) = moto_with_auth().await else {
        return;
    };
    let user = (id.as_str(), secret.as_str());
    let dead = "backup/default_2020-01-01_00-00-00.tar.zst";
    let others = [
        "backup/other_2020-01-01_00-00-00.tar.zst", // another portal's
        "elsewhere/default_2020-01-01_00-00-00.tar.zst", // outside the archive folder
    ];
    boto(&m, user, BEGIN_UPLOADS, &[dead, others[0], others[1]]);
    let listed = |m: &Moto| boto(m, user, LIST_UPLOADS, &[]);
    assert_eq!(listed(&m).lines().count(), 3);

    let r = rig().await;
    start(&r.s, &custom_cloud(&m.url, &id, &secret)).await;
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["status"], 2, "{done}");
    eventually(30, "the dead upload is aborted", || {
        let left = listed(&m);
        async move { left.lines().collect::<Vec<_>>() == others }
    })
    .await;
    assert!(!r.s.log().contains(&secret), "no secret in the log");
}

#[tokio::test]
async fn a_backup_canceled_mid_upload_leaves_no_multipart_upload() {
    let Some(m) = moto().await else { return };
    let r = rig().await;
    make_large(&r);
    start(&r.s, &custom_cloud(&m.url, "AKIDTEST", SECRET)).await;
    mid_upload(&r, &m, 30).await;
    let (st, v) = send(r.s.owner(Method::POST, "/api/2.0/backup/cancelbackup")).await;
    assert_eq!((st, v["response"].clone()), (200, json!(true)), "{v}");

    // The worker aborts its upload in the background.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = open_uploads(&m).await;
        if open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a multipart upload dangles: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(keys(&m, "").await, Vec::<String>::new(), "no object");
    assert!(history(&r.s, false).await.is_empty(), "no record");
    // Nothing reappears once the worker is done.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(open_uploads(&m).await.is_empty());
    assert!(keys(&m, "").await.is_empty());
    assert!(!r.s.log().contains(SECRET));
}

#[tokio::test]
async fn refused_credentials_fail_fast_without_the_secret() {
    let Some((m, key, right)) = moto_with_auth().await else {
        return;
    };
    let r = rig().await;
    // The setup is sound: the IAM user's own key works.
    start(&r.s, &custom_cloud(&m.url, &key, &right)).await;
    let ok = wait_done(&r.s, false).await;
    assert_eq!(ok["status"], 2, "{ok}");

    let started = start(&r.s, &custom_cloud(&m.url, &key, SECRET)).await;
    let begun = Instant::now();
    let done = wait_done(&r.s, false).await;
    assert!(
        begun.elapsed() < Duration::from_secs(30),
        "a refusal is not retried for long: {:?}",
        begun.elapsed()
    );
    assert_eq!(done["status"], 4, "{done}");
    let err = done["error"].as_str().unwrap();
    assert!(err.contains("bkt"), "names the storage: {err}");
    assert!(
        err.to_ascii_lowercase().contains("denied") || err.contains("signature"),
        "says why: {err}"
    );
    let h = history(&r.s, false).await;
    assert_eq!(h.len(), 1, "only the good backup: {h:?}");
    let h = Value::Array(h);
    assert_secret_free(&r, &[&started, &done, &h], &[SECRET, "s3cr3t", &right]);
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_in_bounded_time() {
    let r = rig().await;
    let url = format!("http://127.0.0.1:{}", free_port());
    let begun = Instant::now();
    let started = start(&r.s, &custom_cloud(&url, "AKIDTEST", SECRET)).await;
    let done = wait_done(&r.s, false).await;
    assert!(
        begun.elapsed() < Duration::from_secs(60),
        "gave up after {:?}",
        begun.elapsed()
    );
    assert_eq!(done["status"], 4, "{done}");
    let err = done["error"].as_str().unwrap();
    assert!(err.contains("bkt"), "names the storage: {err}");
    let h = history(&r.s, false).await;
    assert!(h.is_empty(), "no record: {h:?}");
    let (_, storages) = send(r.s.owner(Method::GET, "/api/2.0/settings/storage/backup")).await;
    assert_secret_free(&r, &[&started, &done, &storages], &[SECRET, "s3cr3t"]);
}
