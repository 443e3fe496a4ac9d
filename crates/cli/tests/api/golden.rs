//! Golden tests: the exact shape of each answer, with volatile values (ids, times, ports,
//! secrets, archive names, hashes and sizes) replaced by placeholders. A missing golden file
//! fails the test; `UPDATE_GOLDEN=1` writes (or rewrites) the files.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::*;

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("href", Value::String(s)) => Value::String(
                            s.split_once("/api/")
                                .map(|(_, p)| format!("http://<host>/api/{p}"))
                                .unwrap_or(s.clone()),
                        ),
                        ("viewUrl" | "link", Value::String(s)) if !s.is_empty() => json!("<url>"),
                        ("fileName", Value::String(_)) => json!("<archive>"),
                        ("filePath" | "folderId", Value::String(s)) if s.starts_with('/') => {
                            json!("<path>")
                        }
                        ("hash", Value::String(_)) => json!("<hash>"),
                        ("fileSize" | "size", Value::Number(_)) => json!("<int>"),
                        ("token" | "key" | "keyPostfix", Value::String(_)) => json!("<secret>"),
                        ("id" | "parentId" | "folderId" | "tenantId", Value::Number(_)) => {
                            json!("<int>")
                        }
                        (_, other) => normalize(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => json!("<uuid>"),
        Value::String(s)
            if s.len() >= 20
                && s.as_bytes()[4] == b'-'
                && s.contains('T')
                && s.ends_with("+00:00") =>
        {
            json!("<datetime>")
        }
        other => other.clone(),
    }
}

fn check(name: &str, got: &Value) {
    let got = normalize(got);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    assert!(
        path.exists(),
        "golden file {name}.json is missing; run with UPDATE_GOLDEN=1 to write it"
    );
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text, want,
        "golden {name} differs; rerun with UPDATE_GOLDEN=1 if intended"
    );
}

#[tokio::test]
async fn shapes_are_pinned() {
    let s = TestServer::start().await;
    let (_, v) = send(
        s.req(Method::POST, "/api/2.0/authentication")
            .json(&json!({"userName": OWNER_EMAIL, "password": OWNER_PASSWORD})),
    )
    .await;
    check("authentication_post", &v);
    let (_, v) = send(s.owner(Method::GET, "/api/2.0/authentication")).await;
    check("authentication_get", &v);
    let (_, v) = send(
        s.owner(Method::POST, "/api/2.0/keys")
            .json(&json!({"name": "golden", "permissions": ["files:read"], "expiresInDays": 7})),
    )
    .await;
    check("keys_create", &v);
    let (_, v) = send(s.owner(Method::GET, "/api/2.0/keys/@self")).await;
    check("keys_self", &v);
    let (_, v) = send(s.owner(Method::GET, "/api/2.0/keys/permissions")).await;
    check("keys_permissions", &v);
    let (_, v) = send(s.owner(Method::POST, "/api/2.0/people").json(&json!({"email": "gold@example.org", "password": "gold-password", "firstName": "Gold", "lastName": "Member", "type": "RoomAdmin"}))).await;
    check("people_create", &v);
    let (_, v) = send(
        s.owner(Method::POST, "/api/2.0/files/rooms")
            .json(&json!({"title": "Golden", "roomType": 6})),
    )
    .await;
    check("rooms_create", &v);
    let (_, v) = send(s.owner(Method::GET, "/api/2.0/files/rooms")).await;
    check("rooms_list", &v);
    let (_, v) = send(s.req(Method::GET, "/api/2.0/keys")).await;
    check("error_401", &v);
    let guest = s.member("Guest", "ggold@example.org").await;
    let (_, v) = send(s.as_(&guest, Method::GET, "/api/2.0/keys")).await;
    check("error_403", &v);
    let (_, v) = send(s.owner(Method::GET, "/api/2.0/nothing")).await;
    check("error_404", &v);
    let (_, v) = send(
        s.owner(Method::DELETE, "/api/2.0/portal/deleteportalimmediately")
            .header("X-Forwarded-Proto", "https"),
    )
    .await;
    check("portal_delete", &v);
}

#[tokio::test]
async fn backup_api_shapes_are_pinned() {
    use crate::backup::{local, rig, start, wait_done};
    let r = rig().await;
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    check("backup_progress_none", &v);
    let (_, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/startbackup")
            .json(&local(&r.root)),
    )
    .await;
    check("backup_start", &v);
    wait_done(&r.s, false).await;
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupprogress")).await;
    check("backup_progress_done", &v);
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackuphistory")).await;
    check("backup_history", &v);
    let (_, v) = send(
        r.s.owner(Method::POST, "/api/2.0/backup/createbackupschedule")
            .json(&json!({"storageType": "Local", "storageParams": [{"key": "filePath", "value": r.root.display().to_string()}],
                "cronParams": {"period": "EveryWeek", "hour": 3, "day": 2}, "backupsStored": 4})),
    )
    .await;
    check("backup_schedule_create", &v);
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupschedule")).await;
    check("backup_schedule_get", &v);
    let (_, v) =
        send(r.s.owner(Method::POST, "/api/2.0/backup/startbackup").json(
            &json!({"storageType": 0, "storageParams": [{"key": "folderId", "value": "abc"}]}),
        ))
        .await;
    check("backup_error_400", &v);
    let (_, v) = send(r.s.req(Method::GET, "/api/2.0/backup/getrestoreprogress")).await;
    check("restore_progress_none", &v);
    let p = start(&r.s, &local(&r.root)).await;
    wait_done(&r.s, false).await;
    let done =
        crate::restore::restore(&r.s, json!({"backupId": p["taskId"], "storageType": 3})).await;
    check("restore_progress_done", &json!({"response": done}));
    let (_, v) = send(r.s.owner(Method::GET, "/api/2.0/backup/getbackupscount")).await;
    check("backup_count", &v);
}
