//! The auth matrix: every role and every way of presenting a credential, against the keys
//! and people endpoints; expired and deactivated keys; wrong passwords; key scopes; rate
//! limits; another portal's members.

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn every_way_of_presenting_a_credential_works() {
    credentials_work(&TestServer::start().await).await;
}

/// The owner's key, a session token and Basic sign-in, in every header DocSpace clients use.
pub async fn credentials_work(s: &TestServer) {
    let token = s.login(OWNER_EMAIL, OWNER_PASSWORD).await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{OWNER_EMAIL}:{OWNER_PASSWORD}"));
    let ways: Vec<(&str, String)> = vec![
        ("Authorization", OWNER_KEY.to_string()),
        ("Authorization", format!("Bearer {OWNER_KEY}")),
        ("Authorization", token.clone()),
        ("Authorization", format!("Bearer {token}")),
        ("Cookie", format!("asc_auth_key={token}")),
        ("Authorization", format!("Basic {basic}")),
        ("ApiKeyBearer", format!("Bearer {OWNER_KEY}")),
    ];
    for (name, value) in ways {
        let (status, body) = send(
            s.req(Method::GET, "/api/2.0/people/@self")
                .header(name, &value),
        )
        .await;
        assert_eq!(status, 200, "{name}: {value}: {body}");
        assert_eq!(body["response"]["email"], OWNER_EMAIL);
        assert_eq!(body["response"]["isOwner"], true);
        let (_, body) = send(
            s.req(Method::GET, "/api/2.0/authentication")
                .header(name, &value),
        )
        .await;
        assert_eq!(body["response"], true, "{name}");
    }
    let (status, body) = send(s.req(Method::GET, "/api/2.0/authentication")).await;
    assert_eq!((status, body["response"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let s = TestServer::start().await;
    let (status, body) = send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": OWNER_EMAIL, "password": "wrong-password"})),
    )
    .await;
    assert_error(status, &body, 401);
    let (status, body) = send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": "nobody@example.org", "password": OWNER_PASSWORD})),
    )
    .await;
    assert_error(status, &body, 401);
    let bad_basic = base64::engine::general_purpose::STANDARD.encode(format!("{OWNER_EMAIL}:nope"));
    for cred in [
        "sk-unknownkey0000000000000000000".to_string(),
        "Bearer not-a-token".to_string(),
        format!("Basic {bad_basic}"),
        "Basic %%%".to_string(),
    ] {
        let (status, body) = send(s.as_(&cred, Method::GET, "/api/2.0/keys")).await;
        assert_error(status, &body, 401);
    }
    for path in [
        "/api/2.0/keys",
        "/api/2.0/people/@self",
        "/api/2.0/files/rooms",
        "/api/2.0/keys/permissions",
    ] {
        let (status, body) = send(s.req(Method::GET, path)).await;
        assert_error(status, &body, 401);
    }
}

/// What each role may do with keys, people and rooms.
#[tokio::test]
async fn role_matrix() {
    let s = TestServer::start().await;
    let admin = s.member("DocSpaceAdmin", "admin@example.org").await;
    let room_admin = s.member("RoomAdmin", "ra@example.org").await;
    let user = s.member("User", "user@example.org").await;
    let guest = s.member("Guest", "guest@example.org").await;
    let owner = s.login(OWNER_EMAIL, OWNER_PASSWORD).await;

    let add = |role: &str, n: usize| json!({"email": format!("new{n}-{role}@example.org"), "password": "password-123", "firstName": "N", "lastName": "M", "type": role});
    // (caller, may list keys, may add User, may add DocSpaceAdmin, may create room)
    let rows = [
        ("Owner", &owner, 200, 200, 200, 200),
        ("DocSpaceAdmin", &admin, 200, 200, 403, 200),
        ("RoomAdmin", &room_admin, 200, 403, 403, 200),
        ("User", &user, 200, 403, 403, 403),
        ("Guest", &guest, 403, 403, 403, 403),
    ];
    for (i, (who, token, keys, add_user, add_admin, room)) in rows.into_iter().enumerate() {
        let (st, body) = send(s.as_(token, Method::GET, "/api/2.0/keys")).await;
        assert_eq!(st, keys, "{who} keys: {body}");
        let (st, body) = send(
            s.as_(token, Method::POST, "/api/2.0/people")
                .json(&add("User", i)),
        )
        .await;
        assert_eq!(st, add_user, "{who} adds User: {body}");
        let (st, body) = send(
            s.as_(token, Method::POST, "/api/2.0/people")
                .json(&add("DocSpaceAdmin", i)),
        )
        .await;
        assert_eq!(st, add_admin, "{who} adds DocSpaceAdmin: {body}");
        let (st, body) = send(
            s.as_(token, Method::POST, "/api/2.0/files/rooms")
                .json(&json!({"title": format!("room {i}"), "roomType": 5})),
        )
        .await;
        assert_eq!(st, room, "{who} creates a room: {body}");
        if st == 403 {
            assert_eq!(body["error"]["message"], "Access denied");
        }
        let (st, body) = send(s.as_(token, Method::GET, "/api/2.0/people/@self")).await;
        assert_eq!(st, 200, "{who} reads self: {body}");
        if who != "Owner" {
            let (st, _) = send(s.as_(
                token,
                Method::DELETE,
                "/api/2.0/portal/deleteportalimmediately",
            ))
            .await;
            assert_eq!(st, 403, "{who} may not delete the portal");
        }
    }
    // A new member can log in at once, with the role asked for.
    let t = s.login("new0-User@example.org", "password-123").await;
    let (_, me) = send(s.as_(&t, Method::GET, "/api/2.0/people/@self")).await;
    assert_eq!(me["response"]["isCollaborator"], true);
}

#[tokio::test]
async fn expired_and_deactivated_keys_stop_working() {
    let s = TestServer::start().await;
    let (st, body) = send(
        s.owner(Method::POST, "/api/2.0/keys")
            .json(&json!({"name": "short", "expiresInDays": 1})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let key = body["response"]["key"].as_str().unwrap().to_string();
    let id = body["response"]["id"].as_str().unwrap().to_string();
    assert_eq!(send(s.as_(&key, Method::GET, "/api/2.0/keys")).await.0, 200);

    // Deactivate, then reactivate.
    let (st, body) = send(
        s.owner(Method::PUT, &format!("/api/2.0/keys/{id}"))
            .json(&json!({"isActive": false})),
    )
    .await;
    assert_eq!((st, body["response"].clone()), (200, json!(true)));
    let (st, body) = send(s.as_(&key, Method::GET, "/api/2.0/keys")).await;
    assert_error(st, &body, 401);
    send(
        s.owner(Method::PUT, &format!("/api/2.0/keys/{id}"))
            .json(&json!({"isActive": true})),
    )
    .await;
    assert_eq!(send(s.as_(&key, Method::GET, "/api/2.0/keys")).await.0, 200);

    // Expire it in the catalog itself: time passing is the only other way.
    let db = rusqlite::Connection::open(s.data_dir.join("catalog.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let n = db
        .execute(
            "UPDATE api_keys SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE id = ?1",
            [&id],
        )
        .unwrap();
    assert_eq!(n, 1);
    let (st, body) = send(s.as_(&key, Method::GET, "/api/2.0/keys")).await;
    assert_error(st, &body, 401);

    // Deleted keys are gone for good.
    let (st, _) = send(s.owner(Method::DELETE, &format!("/api/2.0/keys/{id}"))).await;
    assert_eq!(st, 200);
    let (st, body) = send(s.owner(Method::DELETE, &format!("/api/2.0/keys/{id}"))).await;
    assert_error(st, &body, 404);
}

#[tokio::test]
async fn key_scopes_narrow_what_a_key_may_do() {
    let s = TestServer::start().await;
    let make = |perms: serde_json::Value| {
        s.owner(Method::POST, "/api/2.0/keys")
            .json(&json!({"name": "scoped", "permissions": perms}))
    };
    let (_, body) = send(make(json!(["files:read"]))).await;
    let files_key = body["response"]["key"].as_str().unwrap().to_string();
    let (_, body) = send(make(json!(["rooms:write"]))).await;
    let rooms_key = body["response"]["key"].as_str().unwrap().to_string();

    assert_eq!(
        send(s.as_(&files_key, Method::GET, "/api/2.0/files/rooms"))
            .await
            .0,
        403
    );
    assert_eq!(
        send(s.as_(&files_key, Method::GET, "/api/2.0/keys"))
            .await
            .0,
        403
    );
    assert_eq!(
        send(s.as_(&files_key, Method::GET, "/api/2.0/people/@self"))
            .await
            .0,
        403
    );
    assert_eq!(
        send(s.as_(&rooms_key, Method::GET, "/api/2.0/files/rooms"))
            .await
            .0,
        200
    );
    let (st, _) = send(
        s.as_(&rooms_key, Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "R", "roomType": "CustomRoom"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, body) = send(s.as_(&rooms_key, Method::GET, "/api/2.0/keys/@self")).await;
    assert_eq!(st, 200);
    assert_eq!(body["response"]["permissions"], json!(["rooms:write"]));
    assert!(
        body["response"].get("key").is_none(),
        "the secret is shown only once"
    );
}

#[tokio::test]
async fn members_of_another_portal_stay_out() {
    let s = TestServer::start_with(Opts {
        env: vec![
            ("DSBACKUP_MODE", "saas".into()),
            ("DSBACKUP_REGISTRATION", "open".into()),
            ("DSBACKUP_BASE_DOMAIN", "dsb.test".into()),
        ],
        ..Opts::default()
    })
    .await;
    let (st, body) = send(s.req(Method::POST, "/apisystem/portal/register").json(&json!({
        "portalName": "other", "firstName": "O", "lastName": "P", "email": "boss@other.org", "password": "other-password", "language": "en-US"
    }))).await;
    assert_eq!(st, 200, "{body}");
    let other = s.login("boss@other.org", "other-password").await;

    // The other owner sees only their own keys, and cannot touch ours.
    let (_, ours) = send(s.owner(Method::GET, "/api/2.0/keys")).await;
    let our_key_id = ours["response"][0]["id"].as_str().unwrap().to_string();
    let (_, theirs) = send(s.as_(&other, Method::GET, "/api/2.0/keys")).await;
    assert_eq!(theirs["count"], 0);
    let (st, body) = send(s.as_(
        &other,
        Method::DELETE,
        &format!("/api/2.0/keys/{our_key_id}"),
    ))
    .await;
    assert_error(st, &body, 404);
    assert_eq!(
        send(s.owner(Method::GET, "/api/2.0/keys/@self")).await.0,
        200,
        "our key still works"
    );

    // Addressing our portal by Host with their credential is refused.
    let (st, body) = send(
        s.as_(&other, Method::GET, "/api/2.0/people/@self")
            .header("Host", "default.dsb.test"),
    )
    .await;
    assert_error(st, &body, 401);
    let (st, _) = send(
        s.as_(&other, Method::GET, "/api/2.0/people/@self")
            .header("Host", "other.dsb.test"),
    )
    .await;
    assert_eq!(st, 200);
    // Their rooms are not ours.
    let (_, room) = send(
        s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "Ours", "roomType": 5})),
    )
    .await;
    let room_id = room["response"]["id"].as_i64().unwrap();
    let (st, body) = send(s.as_(&other, Method::GET, &format!("/api/2.0/files/{room_id}"))).await;
    assert_error(st, &body, 404);
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers() {
    let s = TestServer::start_with(Opts {
        env: vec![("DSBACKUP_RATE_LIMIT_PER_MINUTE", "3".into())],
        ..Opts::default()
    })
    .await;
    for i in 0..3 {
        let res = s
            .owner(Method::GET, "/api/2.0/keys/@self")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-ratelimit-limit"], "3");
        assert_eq!(
            res.headers()["x-ratelimit-remaining"],
            (2 - i).to_string().as_str()
        );
        assert!(res.headers().contains_key("x-ratelimit-reset"));
    }
    let res = s
        .owner(Method::GET, "/api/2.0/keys/@self")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_error(429, &body, 429);
    // Another caller has its own budget; health is never limited.
    assert_eq!(
        send(s.req(Method::GET, "/api/2.0/authentication")).await.0,
        200
    );
    assert_eq!(
        s.req(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
