//! Portal registration, first start and deletion.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

fn form(name: &str, email: &str) -> serde_json::Value {
    json!({"portalName": name, "firstName": "Reg", "lastName": "Owner", "email": email, "password": "reg-password-1", "language": "en-US"})
}

#[tokio::test]
async fn first_start_credentials_are_kept_privately() {
    let s = TestServer::start().await;
    let path = s.data_dir.join("initial-credentials.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(OWNER_EMAIL) && text.contains(OWNER_KEY));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Secrets are stored hashed: the catalog file never holds them in clear.
    let db = std::fs::read(s.data_dir.join("catalog.db")).unwrap();
    let wal = std::fs::read(s.data_dir.join("catalog.db-wal")).unwrap_or_default();
    for blob in [&db, &wal] {
        let hay = String::from_utf8_lossy(blob);
        assert!(!hay.contains(OWNER_KEY) && !hay.contains(OWNER_PASSWORD));
    }
    let log = std::fs::read_to_string(s.data_dir.parent().unwrap().join("server.log")).unwrap();
    assert!(
        !log.contains(OWNER_KEY) && !log.contains(OWNER_PASSWORD),
        "no secrets in logs"
    );
}

#[tokio::test]
async fn registration_is_closed_by_default_and_conflicts_in_standalone() {
    let s = TestServer::start().await;
    let (st, body) = send(
        s.req(Method::POST, "/apisystem/portal/register")
            .json(&form("second", "a@b.org")),
    )
    .await;
    assert_error(st, &body, 403);

    let s = TestServer::start_with(Opts {
        env: vec![("DSBACKUP_REGISTRATION", "open".into())],
        ..Opts::default()
    })
    .await;
    let (st, body) = send(
        s.req(Method::POST, "/apisystem/portal/register")
            .json(&form("second", "a@b.org")),
    )
    .await;
    let msg = assert_error(st, &body, 409);
    assert!(msg.contains("already"), "{msg}");
}

#[tokio::test]
async fn register_on_an_empty_instance_then_delete() {
    let s = TestServer::start_with(Opts {
        env: vec![
            ("DSBACKUP_REGISTRATION", "open".into()),
            ("DSBACKUP_BOOTSTRAP", "false".into()),
        ],
        ..Opts::default()
    })
    .await;
    assert!(!s.data_dir.join("initial-credentials.txt").exists());
    assert_eq!(
        send(s.owner(Method::GET, "/api/2.0/keys")).await.0,
        401,
        "no portal, no owner"
    );

    for bad in [
        form("x", "a@b.org"),
        form("good", "nope"),
        json!({"portalName": "good"}),
    ] {
        let (st, body) = send(s.req(Method::POST, "/apisystem/portal/register").json(&bad)).await;
        assert_error(st, &body, 400);
    }
    let (st, body) = send(
        s.req(Method::POST, "/apisystem/portal/register")
            .json(&form("myportal", "boss@example.org")),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        body.get("response").is_none(),
        "plain JSON, not enveloped: {body}"
    );
    let tenant = &body["tenant"];
    assert!(tenant["tenantId"].as_i64().unwrap() > 0);
    assert!(uuid::Uuid::parse_str(tenant["ownerId"].as_str().unwrap()).is_ok());
    assert!(body["reference"].as_str().unwrap().starts_with("http://"));

    let token = s.login("boss@example.org", "reg-password-1").await;
    let (_, me) = send(s.as_(&token, Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(me["response"]["id"], tenant["ownerId"]);
    let (_, room) = send(
        s.as_(&token, Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "R", "roomType": 5})),
    )
    .await;
    assert_eq!(room["statusCode"], 200);

    let portal_dir = s
        .data_dir
        .join("portals")
        .join(tenant["tenantId"].to_string());
    assert!(portal_dir.exists());
    let (st, body) = send(s.as_(
        &token,
        Method::DELETE,
        "/api/2.0/portal/deleteportalimmediately",
    ))
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body.get("response").is_none());
    assert!(!portal_dir.exists(), "the portal's data is gone");
    assert_eq!(
        send(s.as_(&token, Method::GET, "/api/2.0/people/@self"))
            .await
            .0,
        401
    );
    // The instance can be registered again.
    let (st, _) = send(
        s.req(Method::POST, "/apisystem/portal/register")
            .json(&form("again", "boss@example.org")),
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn secret_registration_needs_the_admin_secret() {
    let secret = "an-admin-secret-of-some-length";
    let s = TestServer::start_with(Opts {
        env: vec![
            ("DSBACKUP_MODE", "saas".into()),
            ("DSBACKUP_REGISTRATION", "secret".into()),
            ("DSBACKUP_ADMIN_SECRET", secret.into()),
        ],
        ..Opts::default()
    })
    .await;
    let url = "/apisystem/portal/register";
    let (st, body) = send(s.req(Method::POST, url).json(&form("p-two", "a@p2.org"))).await;
    assert_error(st, &body, 401);
    let (st, body) = send(
        s.req(Method::POST, url)
            .header("X-Dsbackup-Admin-Secret", "wrong")
            .json(&form("p-two", "a@p2.org")),
    )
    .await;
    assert_error(st, &body, 403);
    let (st, body) = send(
        s.req(Method::POST, url)
            .header("X-Dsbackup-Admin-Secret", secret)
            .json(&form("p-two", "a@p2.org")),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = send(
        s.req(Method::POST, url)
            .header("X-Dsbackup-Admin-Secret", secret)
            .json(&form("p-two", "b@p2.org")),
    )
    .await;
    assert_error(st, &body, 409);
}
