//! Logs: `DSBACKUP_LOG_FORMAT=json` gives one JSON object per line with no colour codes; a
//! request's line carries its span (method, path, a short id, never the query string), and
//! what a backup logs on its blocking thread carries the job's span (job id, portal).

use serde_json::Value;

use crate::backup::{local, rig_with, start, wait_done};
use crate::harness::OWNER_KEY;

#[tokio::test]
async fn json_logs_carry_request_and_job_spans() {
    let r = rig_with(
        "",
        vec![
            ("DSBACKUP_LOG_FORMAT", "json".into()),
            ("DSBACKUP_LOG", "info".into()),
        ],
    )
    .await;
    let task = start(&r.s, &local(&r.root)).await["taskId"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_done(&r.s, false).await;
    assert_eq!(done["error"], "", "{done}");

    let log = r.s.log();
    assert!(!log.contains("\u{1b}["), "colour codes in a file:\n{log}");
    // A line still being written when the file was read has no newline yet.
    let lines: Vec<Value> = log
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(Value::is_object), "{log}");

    // Logged inside spawn_blocking, so the job's span must have been carried there.
    let written = lines
        .iter()
        .find(|l| l["fields"]["message"] == "archive written")
        .unwrap_or_else(|| panic!("no \"archive written\" line:\n{log}"));
    assert_eq!(written["span"]["name"], "backup", "{written}");
    assert_eq!(written["span"]["job"], task.as_str(), "{written}");
    assert_eq!(written["span"]["portal"], "default", "{written}");

    let request = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "request"
                && l["span"]["path"] == "/api/2.0/backup/getbackupprogress"
        })
        .unwrap_or_else(|| panic!("no request line for getbackupprogress:\n{log}"));
    assert_eq!(request["span"]["method"], "GET", "{request}");
    assert_eq!(request["fields"]["status"], 200, "{request}");
    let id = request["span"]["id"].as_str().unwrap();
    assert_eq!(id.len(), 8, "{request}");
    // Never query strings, headers or bodies.
    assert!(!log.contains("Dump="), "{log}");
    assert!(!log.contains(OWNER_KEY), "{log}");
    assert!(!log.contains("filePath"), "{log}");
}
