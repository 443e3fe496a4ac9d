//! Alerts from the scheduler, by webhook and by e-mail through a real SMTP server (Python's
//! `aiosmtpd`, `smtp_sink.py`, found through `DSBACKUP_TEST_PYTHON`, which `./scripts/test`
//! points at its test-servers venv; missing, the tests skip, and fail under `CI=true`): a
//! failed scheduled backup, and a schedule without a success for twice its period. Both must
//! name the portal and the cause and carry no secret.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Datelike, Timelike};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backup::*;
use crate::harness::*;
use crate::schedule::local_schedule;

const SMTP_USER: &str = "mailer";
const SMTP_PASSWORD: &str = "smtp-password-never-shown-42";

/// The SMTP sink: a running `smtp_sink.py` and the messages it accepted.
struct Smtp {
    child: Child,
    port: u16,
    mails: Arc<Mutex<Vec<Value>>>,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sink; `None` (a skip) when no Python with aiosmtpd is configured.
fn smtp() -> Option<Smtp> {
    let python = std::env::var("DSBACKUP_TEST_PYTHON").ok();
    let Some(python) = python.filter(|p| std::path::Path::new(p).is_file()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "DSBACKUP_TEST_PYTHON is not set"
        );
        eprintln!("\n*** SKIPPED: no DSBACKUP_TEST_PYTHON (a Python with aiosmtpd) ***\n");
        return None;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/smtp_sink.py");
    let mut child = Command::new(python)
        .args([script, SMTP_USER, SMTP_PASSWORD])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let port = first["port"].as_u64().unwrap() as u16;
    let mails = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&mails);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(&line).unwrap());
        }
    });
    Some(Smtp { child, port, mails })
}

/// A webhook receiver on a free loopback port: answers 200 and keeps each JSON body.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then Content-Length bytes of body.
            let body = loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                let Some((head, rest)) = text.split_once("\r\n\r\n") else {
                    continue;
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if rest.len() >= length {
                    break Some(rest[..length].to_string());
                }
            };
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
            if let Some(body) = body.and_then(|b| serde_json::from_str(&b).ok()) {
                sink.lock().unwrap().push(body);
            }
        }
    });
    (url, bodies)
}

/// The server's configuration: a fast scheduler, the webhook and the SMTP sink.
fn config(hook: &str, smtp: &Smtp) -> String {
    format!(
        "scheduler_period_secs = 1\nscheduler_retry_secs = 3600\nnotify_webhook = \"{hook}\"\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"dsbackup@example.org\"\n\
         to = [\"ops@example.org\"]\nuser = \"{SMTP_USER}\"\npassword = \"{SMTP_PASSWORD}\"\n",
        smtp.port
    )
}

async fn wait_for(
    what: &str,
    list: &Arc<Mutex<Vec<Value>>>,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..400 {
        if let Some(v) = list.lock().unwrap().iter().find(|v| pred(v)) {
            return v.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {:?}", list.lock().unwrap());
}

/// Nothing secret in `text`: not the SMTP password, not the owner's key or password.
fn no_secrets(what: &str, text: &str) {
    for secret in [SMTP_PASSWORD, OWNER_KEY, OWNER_PASSWORD] {
        assert!(!text.contains(secret), "{what} carries a secret: {text}");
    }
}

#[tokio::test]
async fn a_failed_scheduled_backup_is_mailed_and_posted() {
    let Some(smtp) = smtp() else { return };
    let (hook, posted) = webhook().await;
    let r = rig_with(&config(&hook, &smtp), Vec::new()).await;
    let target = r.root.join("nightly");
    let hour = chrono::Utc::now().hour() as i64;
    let (st, body) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&local_schedule(&r.root, json!("EveryDay"), hour, None, 1)),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // Point the saved schedule at a directory that is not there, as a disk that went away.
    let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
    db.execute(
        "UPDATE schedules SET body = json_set(body, '$.storage_params.filePath', ?1)",
        [target.display().to_string()],
    )
    .unwrap();

    let event = wait_for("the webhook", &posted, |v| {
        v["event"] == "scheduled_backup_failed"
    })
    .await;
    assert_eq!(event["portal"], "default");
    assert!(
        event["error"].as_str().unwrap().contains("does not exist"),
        "{event}"
    );
    assert_eq!(event["recipients"], json!([OWNER_EMAIL]));
    no_secrets("the webhook", &event.to_string());

    let mail = wait_for("the e-mail", &smtp.mails, |_| true).await;
    assert_eq!(mail["to"], json!(["ops@example.org"]));
    assert_eq!(mail["from"], "dsbackup@example.org");
    assert_eq!(mail["login"], SMTP_USER, "signed in to the SMTP server");
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: dsbackup: the scheduled backup of default failed"),
        "{data}"
    );
    assert!(
        data.contains("portal default") && data.contains("does not exist"),
        "{data}"
    );
    no_secrets("the e-mail", data);
    no_secrets("the server log", &r.s.log());
}

#[tokio::test]
async fn a_schedule_without_success_for_twice_its_period_is_alerted_once() {
    let Some(smtp) = smtp() else { return };
    let (hook, posted) = webhook().await;
    let r = rig_with(&config(&hook, &smtp), Vec::new()).await;
    // Weekly, on a day three days from now: not due, so it neither runs nor fails.
    let day = (chrono::Utc::now() + chrono::Duration::days(3))
        .weekday()
        .number_from_sunday() as i64;
    let (st, body) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&local_schedule(
                &r.root,
                json!("EveryWeek"),
                3,
                Some(day),
                1,
            )),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        posted.lock().unwrap().is_empty(),
        "a fresh schedule is not overdue: {:?}",
        posted.lock().unwrap()
    );
    // Saved 15 days ago and never successful: more than twice a week.
    let saved = (chrono::Utc::now() - chrono::Duration::days(15)).to_rfc3339();
    let db = rusqlite::Connection::open(r.s.data_dir.join("catalog.db")).unwrap();
    db.execute(
        "UPDATE schedules SET body = json_set(body, '$.created_on', ?1)",
        [&saved],
    )
    .unwrap();

    let event = wait_for("the webhook", &posted, |v| {
        v["event"] == "scheduled_backup_overdue"
    })
    .await;
    assert_eq!(event["portal"], "default");
    assert_eq!(event["period"], "weekly");
    assert!(event["lastSuccess"].is_null(), "{event}");
    no_secrets("the webhook", &event.to_string());
    let mail = wait_for("the e-mail", &smtp.mails, |_| true).await;
    let data = mail["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: dsbackup: no scheduled backup of default for twice its period"),
        "{data}"
    );
    assert!(data.contains("no successful scheduled backup"), "{data}");
    no_secrets("the e-mail", data);

    // Alerted once, not on every pass.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(
        posted.lock().unwrap().len(),
        1,
        "{:?}",
        posted.lock().unwrap()
    );
    assert_eq!(smtp.mails.lock().unwrap().len(), 1);
    no_secrets("the server log", &r.s.log());
}
