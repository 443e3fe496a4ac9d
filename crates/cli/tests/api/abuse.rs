//! Abuse from outside: floods of junk credentials, password guessing, probing the server's
//! file system through Local paths and the anonymous restore progress, and what a failing
//! `dsbackup` command prints.

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backup::{rig, wait_done};
use crate::harness::*;
use crate::restore::wait_restore;

/// A different junk credential each call, in every form clients send one.
fn junk(i: usize) -> (&'static str, String) {
    let v = uuid::Uuid::new_v4().simple().to_string();
    match i % 4 {
        0 => ("authorization", v),
        1 => ("authorization", format!("Bearer sk-{v}")),
        2 => ("cookie", format!("asc_auth_key={v}")),
        _ => ("apikeybearer", format!("Bearer {v}")),
    }
}

#[tokio::test]
async fn junk_credentials_spend_the_address_budget_and_keys_keep_their_own() {
    let s = TestServer::start_with(Opts {
        env: vec![("DSBACKUP_RATE_LIMIT_PER_MINUTE", "20".into())],
        ..Opts::default()
    })
    .await;
    let token = s.login(OWNER_EMAIL, OWNER_PASSWORD).await;
    let mut refused_at = None;
    for i in 0..60 {
        let (name, value) = junk(i);
        let res = s
            .req(Method::GET, "/api/2.0/people/@self")
            .header(name, value)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            refused_at = Some(i);
            break;
        }
        assert_eq!(res.status(), 401, "junk is not a credential");
    }
    assert_eq!(
        refused_at,
        Some(19),
        "every junk credential counts against the one address (the login spent one)"
    );
    // Anonymous requests from there share that budget...
    assert_eq!(
        send(s.req(Method::GET, "/api/2.0/authentication")).await.0,
        429
    );
    // ... while a credential that verifies has its own.
    let res = s
        .owner(Method::GET, "/api/2.0/people/@self")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-ratelimit-remaining"], "19");
    assert_eq!(
        send(s.as_(&token, Method::GET, "/api/2.0/people/@self"))
            .await
            .0,
        200,
        "so does a session"
    );
}

/// A client whose requests come from `local` (any 127.0.0.0/8 address works on Linux).
fn client_from(local: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(local))
        .build()
        .unwrap()
}

async fn sign_in(s: &TestServer, from: &reqwest::Client, email: &str, password: &str) -> u16 {
    let (name, value) = junk(email.len() + password.len());
    let res = from
        .post(s.url("/api/2.0/authentication"))
        .header(name, value)
        .json(&json!({"userName": email, "password": password}))
        .send()
        .await
        .unwrap();
    if res.status() == StatusCode::TOO_MANY_REQUESTS {
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "retry-after {retry}");
    }
    res.status().as_u16()
}

fn login_limits() -> Opts {
    Opts {
        env: vec![
            ("DSBACKUP_LOGIN_ATTEMPTS", "3".into()),
            ("DSBACKUP_LOGIN_BLOCK_SECS", "2".into()),
        ],
        ..Opts::default()
    }
}

#[tokio::test]
async fn guessing_a_password_is_blocked_per_account_then_recovers() {
    let s = TestServer::start_with(login_limits()).await;
    let (a, b) = (client_from([127, 0, 0, 2]), client_from([127, 0, 0, 3]));
    for i in 0..3 {
        let status = sign_in(&s, &a, OWNER_EMAIL, &format!("guess-{i}")).await;
        assert_eq!(status, 401);
    }
    // Blocked from any address, for the right password too; other accounts are not.
    assert_eq!(sign_in(&s, &a, OWNER_EMAIL, "guess-3").await, 429);
    assert_eq!(sign_in(&s, &b, OWNER_EMAIL, OWNER_PASSWORD).await, 429);
    assert_eq!(sign_in(&s, &b, "nobody@example.org", "x").await, 401);
    // An attempt comes back after the block.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(sign_in(&s, &b, OWNER_EMAIL, OWNER_PASSWORD).await, 200);
}

#[tokio::test]
async fn guessing_from_one_address_is_blocked_for_every_account() {
    let s = TestServer::start_with(login_limits()).await;
    let a = client_from([127, 0, 0, 4]);
    for i in 0..3 {
        assert_eq!(
            sign_in(&s, &a, &format!("user{i}@example.org"), "x").await,
            401
        );
    }
    assert_eq!(sign_in(&s, &a, OWNER_EMAIL, OWNER_PASSWORD).await, 429);
    assert_eq!(
        sign_in(
            &s,
            &client_from([127, 0, 0, 5]),
            OWNER_EMAIL,
            OWNER_PASSWORD
        )
        .await,
        200,
        "another address is not blocked"
    );
}

#[tokio::test]
async fn basic_credentials_count_as_sign_ins() {
    let s = TestServer::start_with(login_limits()).await;
    let basic = |password: &str| {
        use base64::Engine;
        let raw = format!("{OWNER_EMAIL}:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    for i in 0..3 {
        let (st, _) = send(s.as_(
            &basic(&format!("guess-{i}")),
            Method::GET,
            "/api/2.0/people/@self",
        ))
        .await;
        assert_eq!(st, 401);
    }
    let res = s
        .as_(&basic(OWNER_PASSWORD), Method::GET, "/api/2.0/people/@self")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.headers().contains_key("x-ratelimit-remaining"));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (st, _) = send(s.as_(&basic(OWNER_PASSWORD), Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(st, 200);
}

fn local_path(path: &str) -> Value {
    json!({"storageType": "Local", "storageParams": [{"key": "filePath", "value": path}]})
}

/// No absolute path in `text` (a `/` starting a word).
fn assert_no_paths(text: &str) {
    let words = text.split(|c: char| c.is_whitespace() || "\"'`(=:,;[".contains(c));
    assert!(
        !words.into_iter().any(|w| w.len() > 1 && w.starts_with('/')),
        "a path in {text:?}"
    );
}

#[tokio::test]
async fn local_paths_outside_the_roots_all_get_one_answer() {
    let r = rig().await;
    let outside = tempfile::tempdir().unwrap();
    let dir = outside.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(outside.path().join("file"), "x").unwrap();
    let probes = [
        outside.path().join("missing"),
        outside.path().join("missing/deeper"),
        outside.path().join("file"),
        dir.clone(),
    ];
    let mut answers = Vec::new();
    for p in &probes {
        let p = p.display().to_string();
        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
                .json(&local_path(&p)),
        )
        .await;
        answers.push((st, assert_error(st, &v, st)));
        // A restore names a file; its directory gets the same checks.
        let (st, v) = send(
            r.s.owner(Method::POST, "/api/2.0/backup/startrestore")
                .json(&local_path(&format!("{p}/backup.tar.zst"))),
        )
        .await;
        answers.push((st, assert_error(st, &v, st)));
    }
    let first = answers[0].clone();
    assert_eq!(first.0, 403, "{first:?}");
    for a in &answers {
        assert_eq!(*a, first, "every probe of {probes:?} answers alike");
    }
    assert_no_paths(&first.1);
    // Inside a root, a missing directory may be named as missing, without its path.
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&local_path(&r.root.join("nope").display().to_string())),
    )
    .await;
    let msg = assert_error(st, &v, 400);
    assert!(msg.contains("does not exist"), "{msg}");
    assert_no_paths(&msg);
}

#[tokio::test]
async fn anonymous_restore_progress_shows_no_server_paths() {
    let dir = tempfile::tempdir().unwrap();
    let holder = dir.path().join("holder");
    let source = holder.join("files");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("a.txt"), "a").unwrap();
    let config = format!(
        "[[portals]]\nalias = \"default\"\n[[portals.sources]]\nkind = \"directory\"\nname = \"files\"\npath = \"{}\"\n",
        source.display()
    );
    let s = TestServer::start_with(Opts {
        config: Some(config),
        ..Opts::default()
    })
    .await;
    let (st, v) = send(
        s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&json!({"storageType": "DataStore"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let done = wait_done(&s, false).await;
    assert_eq!(done["error"], "", "{done}");
    let (_, h) = send(s.owner(Method::GET, "/api/2.0/backup/getbackuphistory")).await;
    let id = h["response"][0]["id"].as_str().unwrap().to_string();
    // The source's parent becomes a file: staging the source must fail on the file system.
    std::fs::remove_dir_all(&holder).unwrap();
    std::fs::write(&holder, "in the way").unwrap();
    let (st, v) = send(
        s.owner(Method::POST, "/api/2.0/backup/startrestore")
            .json(&json!({"backupId": id})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let p = wait_restore(&s).await;
    let error = p["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "the restore fails: {p}");
    for text in [error, p["warning"].as_str().unwrap_or_default()] {
        assert!(!text.contains(&dir.path().display().to_string()), "{text}");
        assert_no_paths(text);
    }
}

/// Runs `dsbackup ARGS` with `env`; returns success and stderr.
fn dsbackup(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsbackup"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_errors_are_one_line_without_a_backtrace() {
    let unreachable = [
        ("DSBACKUP_URL", "http://127.0.0.1:9"),
        ("DSBACKUP_KEY", "sk-x"),
    ];
    for backtrace in ["1", "full"] {
        let env = [
            unreachable[0],
            unreachable[1],
            ("RUST_BACKTRACE", backtrace),
        ];
        for args in [
            &["backup", "history"][..],
            &["verify", "/nonexistent/archive.tar.zst"][..],
        ] {
            let (ok, err) = dsbackup(args, &env);
            assert!(!ok, "{args:?} fails");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("error: "), "{err}");
            assert!(!err.to_lowercase().contains("backtrace"), "{err}");
        }
    }
    let (ok, err) = dsbackup(&["--verbose", "backup", "history"], &unreachable);
    assert!(!ok);
    assert!(
        err.lines().count() > 1 && err.contains("caused by"),
        "--verbose tells the causes: {err}"
    );
}
