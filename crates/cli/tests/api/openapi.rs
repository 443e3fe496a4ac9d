//! `GET /openapi.json` from the real server, checked against DocSpace's own specification of
//! the Backup API (`../shared/spec/docspace-backup-openapi.json` beside the repository, else the
//! copy of its backup paths in `tests/openapi/`): every path and method it describes is
//! described here, with the same parameters, request and response field names and types
//! (integer enums with the same values), inside the same success envelope. Fields dsbackup adds
//! are allowed only when listed in [`ADDED`].

use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;

use crate::harness::*;

/// Fields dsbackup sends beyond DocSpace's schemas (clients ignore unknown fields).
const ADDED: &[&str] = &[
    "size",
    "hash",
    "isScheduled",
    "link",
    "nextBackupTime",
    "lastError",
    "lastErrorTime",
];

/// DocSpace's specification: the shared file when it is there, else the in-repo subset.
fn reference() -> Value {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../../../shared/spec/docspace-backup-openapi.json");
    let path = if shared.is_file() {
        shared
    } else {
        manifest.join("tests/openapi/docspace-backup-subset.json")
    };
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A schema with `$ref`s, `allOf` of one and nullable `oneOf`s taken away.
fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    loop {
        if let Some(r) = s["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap();
            s = &doc["components"]["schemas"][name];
        } else if let Some(one) = s["oneOf"].as_array().or(s["anyOf"].as_array()) {
            let real: Vec<&Value> = one.iter().filter(|b| b["type"] != "null").collect();
            assert_eq!(real.len(), 1, "a union of several types: {s}");
            s = real[0];
        } else if let Some(all) = s["allOf"].as_array().filter(|a| a.len() == 1) {
            s = &all[0];
        } else {
            return s;
        }
    }
}

/// The JSON type a schema describes, without `null` (3.0 `nullable` or 3.1 type lists);
/// `None` for "anything".
fn kind(s: &Value) -> Option<String> {
    match &s["type"] {
        Value::String(t) => Some(t.clone()),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_string),
        _ if s["properties"].is_object() => Some("object".into()),
        _ => None,
    }
}

/// Compares DocSpace's schema `theirs` with ours at `at`, collecting every difference.
fn compare(
    spec: &Value,
    theirs: &Value,
    doc: &Value,
    ours: &Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let (t, o) = (resolve(spec, theirs), resolve(doc, ours));
    let Some(want) = kind(t) else { return };
    let got = kind(o);
    if got.as_deref() != Some(want.as_str()) {
        out.push(format!("{at}: type {want} in DocSpace's, {got:?} here"));
        return;
    }
    if let Some(values) = t.get("enum")
        && o.get("enum") != Some(values)
    {
        out.push(format!(
            "{at}: enum {values} in DocSpace's, {} here",
            o["enum"]
        ));
    }
    match want.as_str() {
        "array" => compare(spec, &t["items"], doc, &o["items"], &format!("{at}[]"), out),
        "object" => {
            let empty = serde_json::Map::new();
            let theirs = t["properties"].as_object().unwrap_or(&empty);
            let ours = o["properties"].as_object().unwrap_or(&empty);
            for (name, s) in theirs {
                match ours.get(name) {
                    Some(mine) => compare(spec, s, doc, mine, &format!("{at}.{name}"), out),
                    None => out.push(format!("{at}.{name}: missing here")),
                }
            }
            for name in ours.keys() {
                if !theirs.contains_key(name)
                    && !ADDED.contains(&name.as_str())
                    && !theirs.is_empty()
                {
                    out.push(format!("{at}.{name}: not in DocSpace's schema"));
                }
            }
            if t["additionalProperties"].is_object() {
                compare(
                    spec,
                    &t["additionalProperties"],
                    doc,
                    &o["additionalProperties"],
                    &format!("{at}{{}}"),
                    out,
                );
            }
        }
        _ => {}
    }
}

/// Renames a property wherever a schema of `v` has it.
fn rename_property(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get_mut("properties")
                && let Some(s) = props.remove(from)
            {
                props.insert(to.to_string(), s);
            }
            map.values_mut().for_each(|x| rename_property(x, from, to));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| rename_property(x, from, to)),
        _ => {}
    }
}

/// The JSON schema of an operation's request body or 200 response.
fn body(op: &Value, response: bool) -> &Value {
    let holder = if response {
        &op["responses"]["200"]
    } else {
        &op["requestBody"]
    };
    &holder["content"]["application/json"]["schema"]
}

/// Every difference between DocSpace's backup operations and ours, and how many were checked.
fn differences(spec: &Value, doc: &Value) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/api/2.0/backup/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            let Some(mine) = doc["paths"][path].get(method) else {
                problems.push(format!("{at}: not described"));
                continue;
            };
            checked += 1;
            for p in op["parameters"].as_array().into_iter().flatten() {
                let found = mine["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|q| q["name"] == p["name"] && q["in"] == p["in"]);
                match found {
                    Some(q) => compare(
                        spec,
                        &p["schema"],
                        doc,
                        &q["schema"],
                        &format!("{at} ?{}", p["name"]),
                        &mut problems,
                    ),
                    None => problems.push(format!("{at}: parameter {} not described", p["name"])),
                }
            }
            for response in [false, true] {
                let theirs = body(op, response);
                if theirs.is_null() {
                    continue;
                }
                let where_ = if response { "200" } else { "body" };
                compare(
                    spec,
                    theirs,
                    doc,
                    body(mine, response),
                    &format!("{at} {where_}"),
                    &mut problems,
                );
            }
        }
    }
    (problems, checked)
}

#[tokio::test]
async fn openapi_json_matches_docspace_backup_spec() {
    let s = TestServer::start().await;
    let res = s.req(Method::GET, "/openapi.json").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let spec = reference();
    let (problems, checked) = differences(&spec, &doc);
    assert_eq!(checked, 14, "every backup operation of the specification");
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));

    // Wire enums are integers, and failures are the DocSpace error envelope.
    let status = resolve(&doc, &doc["components"]["schemas"]["DistributedTaskStatus"]);
    assert_eq!(status["type"], "integer");
    assert_eq!(status["x-enum-varnames"][4], "Failted");
    let error = &doc["paths"]["/api/2.0/backup/startbackup"]["post"]["responses"]["default"];
    let envelope = resolve(&doc, &error["content"]["application/json"]["schema"]);
    assert!(envelope["properties"]["error"].is_object(), "{envelope}");

    // The check sees a renamed field, a missing one and an enum written as a string.
    let mut bad = doc.clone();
    rename_property(&mut bad, "taskId", "taskID");
    bad["components"]["schemas"]["BackupStorageType"]["type"] = "string".into();
    let (problems, _) = differences(&spec, &bad);
    let text = problems.join("\n");
    assert!(text.contains(".taskId: missing here"), "{text}");
    assert!(text.contains(".taskID: not in DocSpace's schema"), "{text}");
    assert!(
        text.contains(".storageType: type integer in DocSpace's"),
        "{text}"
    );
}
