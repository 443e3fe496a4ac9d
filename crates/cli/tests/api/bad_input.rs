//! Bad input of every kind gets its DocSpace error, and changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

async fn snapshot(s: &TestServer) -> (Value, Value) {
    let (_, rooms) = send(s.owner(Method::GET, "/api/2.0/files/rooms")).await;
    let (_, keys) = send(s.owner(Method::GET, "/api/2.0/keys")).await;
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("links");
        if let Some(items) = v["response"].as_array_mut() {
            for i in items {
                i.as_object_mut().unwrap().remove("lastUsed");
            }
        }
        v
    };
    (strip(rooms), strip(keys))
}

#[tokio::test]
async fn malformed_requests_get_envelopes_and_change_nothing() {
    let s = TestServer::start().await;
    let before = snapshot(&s).await;
    let room = |body: &str, ctype: &str| {
        s.owner(Method::POST, "/api/2.0/files/rooms")
            .header("Content-Type", ctype)
            .body(body.to_string())
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            room("{\"title\":", "application/json"),
            400,
            "Malformed JSON",
        ),
        (room("not json", "application/json"), 400, "Malformed JSON"),
        (
            room("{\"title\":\"a\"}", "text/plain"),
            415,
            "application/json",
        ),
        (
            room("{\"title\":5,\"roomType\":5}", "application/json"),
            400,
            "title",
        ),
        (
            room(
                "{\"title\":\"a\",\"roomType\":\"Lounge\"}",
                "application/json",
            ),
            400,
            "CustomRoom (5)",
        ),
        (
            room("{\"title\":\"a\",\"roomType\":3}", "application/json"),
            400,
            "RoomType",
        ),
        (
            room("[1,2]", "application/json"),
            400,
            "Invalid request body",
        ),
    ];
    for (req, code, needle) in cases {
        let (st, body) = send(req).await;
        let msg = assert_error(st, &body, code);
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
    for title in [
        "",
        "   ",
        "..",
        "../../etc/passwd",
        "a/b",
        "a\\b",
        "nul\u{0}byte",
        "x".repeat(171).as_str(),
    ] {
        let (st, body) = send(
            s.owner(Method::POST, "/api/2.0/files/rooms")
                .json(&json!({"title": title, "roomType": 5})),
        )
        .await;
        assert_error(st, &body, 400);
    }
    for person in [
        json!({"email": "", "password": "password-1", "firstName": "a", "lastName": "b"}),
        json!({"email": "not-an-email", "password": "password-1", "firstName": "a", "lastName": "b"}),
        json!({"email": "p@example.org", "password": "short", "firstName": "a", "lastName": "b"}),
        json!({"email": "p@example.org", "password": "password-1", "firstName": "", "lastName": "b"}),
        json!({"email": "p@example.org", "password": "password-1", "firstName": "a", "lastName": "b", "type": "Emperor"}),
        json!({"email": "p@example.org", "password": "password-1", "firstName": "a", "lastName": "b", "type": 0}),
        json!({"email": OWNER_EMAIL, "password": "password-1", "firstName": "a", "lastName": "b"}),
    ] {
        let (st, body) = send(s.owner(Method::POST, "/api/2.0/people").json(&person)).await;
        assert!(st == 400 || st == 409, "{person}: {st} {body}");
        assert_error(st, &body, st);
    }
    let (st, _) = send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": "p@example.org", "password": "password-1"})),
    )
    .await;
    assert_eq!(st, 401, "no member was added by a bad request");
    assert_eq!(snapshot(&s).await, before, "nothing changed");
}

/// An oversized body is refused from its Content-Length, before it is read. A raw socket
/// shows the answer without racing the upload.
#[tokio::test]
async fn oversized_bodies_get_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start().await;
    let before = snapshot(&s).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/2.0/files/rooms HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {OWNER_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"title\":\"",
        4 << 20
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf).to_string();
            let len: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if buf.len() >= i + 4 + len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_error(413, &body, 413);
    assert_eq!(snapshot(&s).await, before, "nothing changed");
}

#[tokio::test]
async fn routing_errors_are_enveloped() {
    let s = TestServer::start().await;
    let (st, body) = send(s.owner(Method::GET, "/api/2.0/no/such/thing")).await;
    assert_error(st, &body, 404);
    let (st, body) = send(s.owner(Method::PATCH, "/api/2.0/keys")).await;
    assert_error(st, &body, 405);
    let (st, body) = send(s.owner(Method::GET, "/api/2.0/files/abc")).await;
    assert_error(st, &body, 404);
    let (st, body) = send(s.owner(Method::GET, "/api/2.0/files/999999")).await;
    assert_error(st, &body, 404);
    let (st, body) = send(s.owner(Method::GET, "/api/2.0/files/file/999999")).await;
    assert_error(st, &body, 404);
    let (st, body) = send(s.owner(Method::GET, "/filehandler.ashx?action=download&fileid=x")).await;
    assert_error(st, &body, 400);
    let res = s.req(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unicode_titles_round_trip() {
    let s = TestServer::start().await;
    for title in [
        "Отчёты 2026",
        "報告書",
        "émoji 🚀 room",
        "O'Brien & Sons (draft)",
    ] {
        let (st, body) = send(
            s.owner(Method::POST, "/api/2.0/files/rooms")
                .json(&json!({"title": title, "roomType": "EditingRoom"})),
        )
        .await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["response"]["title"], title);
        assert_eq!(body["response"]["roomType"], 2);
    }
    let (_, rooms) = send(s.owner(Method::GET, "/api/2.0/files/rooms")).await;
    assert_eq!(rooms["response"]["folders"].as_array().unwrap().len(), 4);
}
