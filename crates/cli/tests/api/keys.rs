//! The `/api/2.0/keys` family end to end.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn key_lifecycle() {
    key_lifecycle_on(&TestServer::start().await).await;
}

/// A key created, listed without its secret, renamed, used, and deleted (then refused).
pub async fn key_lifecycle_on(s: &TestServer) {
    let (st, body) = send(s.owner(Method::POST, "/api/2.0/keys")
        .json(&json!({"name": "ci runner", "permissions": ["backup:write", "files:read"], "expiresInDays": 30}))).await;
    assert_eq!(st, 200, "{body}");
    let k = &body["response"];
    let secret = k["key"].as_str().unwrap();
    assert!(secret.starts_with("sk-") && secret.len() > 40);
    assert_eq!(
        k["keyPostfix"],
        format!("...{}", &secret[secret.len() - 4..])
    );
    assert_eq!(k["permissions"], json!(["backup:write", "files:read"]));
    assert_eq!(k["isActive"], true);
    assert!(k["expiresAt"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(k["createBy"]["displayName"], "Portal Owner");
    let id = k["id"].as_str().unwrap().to_string();

    let (_, list) = send(s.owner(Method::GET, "/api/2.0/keys")).await;
    assert_eq!(list["count"], 2);
    let listed = list["response"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert!(
        listed.get("key").is_none(),
        "no secret in listings: {listed}"
    );
    assert!(
        !list.to_string().contains(secret),
        "the secret never shows again"
    );

    let (st, body) = send(
        s.owner(Method::PUT, &format!("/api/2.0/keys/{id}"))
            .json(&json!({"name": "renamed", "permissions": ["*"]})),
    )
    .await;
    assert_eq!((st, body["response"].clone()), (200, json!(true)));
    let (_, me) = send(s.as_(secret, Method::GET, "/api/2.0/keys/@self")).await;
    assert_eq!(me["response"]["name"], "renamed");
    assert_eq!(me["response"]["permissions"], json!(["*"]));
    assert!(me["response"]["lastUsed"].is_string());

    let (_, perms) = send(s.owner(Method::GET, "/api/2.0/keys/permissions")).await;
    let perms: Vec<String> = serde_json::from_value(perms["response"].clone()).unwrap();
    assert!(perms.contains(&"*".to_string()) && perms.contains(&"backup:read".to_string()));

    let (st, body) = send(s.owner(Method::DELETE, &format!("/api/2.0/keys/{id}"))).await;
    assert_eq!((st, body["response"].clone()), (200, json!(true)));
    assert_eq!(
        send(s.as_(secret, Method::GET, "/api/2.0/keys/@self"))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn key_validation() {
    let s = TestServer::start().await;
    let bad = [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(31)}),
        json!({"name": "k", "permissions": ["root"]}),
        json!({"name": "k", "permissions": []}),
        json!({"name": "k", "expiresInDays": 0}),
        json!({"name": "k", "expiresInDays": 366}),
        json!({"name": "k", "expiresInDays": "soon"}),
        json!({"name": 7}),
    ];
    for b in bad {
        let (st, body) = send(s.owner(Method::POST, "/api/2.0/keys").json(&b)).await;
        assert_error(st, &body, 400);
    }
    let (_, list) = send(s.owner(Method::GET, "/api/2.0/keys")).await;
    assert_eq!(list["count"], 1, "no key was made by a bad request");
    let session = s.login(OWNER_EMAIL, OWNER_PASSWORD).await;
    let (st, body) = send(s.as_(&session, Method::GET, "/api/2.0/keys/@self")).await;
    assert_error(st, &body, 404);
    let (st, body) = send(
        s.owner(Method::PUT, "/api/2.0/keys/not-a-guid")
            .json(&json!({"name": "x"})),
    )
    .await;
    assert_error(st, &body, 404);
    let (st, body) = send(
        s.owner(
            Method::PUT,
            "/api/2.0/keys/3fa85f64-5717-4562-b3fc-2c963f66afa6",
        )
        .json(&json!({"name": "x"})),
    )
    .await;
    assert_error(st, &body, 404);
}
