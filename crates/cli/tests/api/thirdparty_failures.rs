//! A third-party (WebDAV) backup folder on a full server: the backup fails at once, without
//! retrying the upload, with an error naming the storage and the cause and never the
//! password; no history record.
//!
//! None of the WebDAV servers the tests install answers 507: `rclone serve webdav` over a full
//! 64 KiB tmpfs answers the failed `PUT` with 405 Method Not Allowed (Go's `x/net/webdav`; tried
//! by hand), and wsgidav has no quota. (Apache's mod_dav does answer 507 on `ENOSPC`, but is no
//! test server here.) So the server is a tiny real HTTP server process on loopback (Python's
//! `http.server`, below) that speaks just enough WebDAV: `PROPFIND` of the folder (207), of
//! anything else (404), `MKCOL` (201), `DELETE` (404), and `PUT`, whose body it reads to the end
//! before answering 507 Insufficient Storage. It writes one line per request to a file the test
//! reads.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::backup::*;
use crate::harness::*;

const PASSWORD: &str = "dav-FULL-password-never-shown-57";

const FULL_DAV: &str = r#"
import http.server, sys
log = open(sys.argv[1], "a", buffering=1)
FOLDER = b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/</d:href>' \
         b'<d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>' \
         b'<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>'

class Full(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        if body.startswith(b"<?xml"):
            self.send_header("Content-Type", "application/xml")
        self.end_headers()
        self.wfile.write(body)

    def drain(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                self.rfile.read(size)
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            got = self.rfile.read(min(left, 1 << 16))
            if not got:
                return
            left -= len(got)

    def do_PROPFIND(self):
        self.drain()
        log.write(f"PROPFIND {self.path}\n")
        self.answer(207, FOLDER) if self.path.rstrip("/") == "" else self.answer(404)

    def do_MKCOL(self):
        self.drain()
        log.write(f"MKCOL {self.path}\n")
        self.answer(201)

    def do_DELETE(self):
        log.write(f"DELETE {self.path}\n")
        self.answer(404)

    def do_PUT(self):
        self.drain()
        log.write(f"PUT {self.path}\n")
        self.answer(507, b"quota exceeded")

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Full)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The Python server above, killed when dropped.
struct FullDav {
    child: Child,
    url: String,
    requests: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for FullDav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FullDav {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let requests = dir.path().join("requests.log");
        let mut child = Command::new("python3")
            .args(["-c", FULL_DAV])
            .arg(&requests)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Self {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
            requests,
            _dir: dir,
        }
    }

    /// The requests of one method the server received, by path.
    fn requests(&self, method: &str) -> Vec<String> {
        std::fs::read_to_string(&self.requests)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{method} ")).map(str::to_string))
            .collect()
    }
}

#[tokio::test]
async fn a_full_webdav_server_fails_the_backup_fast_and_clearly() {
    let dav = FullDav::start();
    let r = rig().await;
    let (st, v) = send(
        r.s.owner(Method::POST, "/api/2.0/files/thirdparty/backup")
            .json(
                &json!({"providerKey": "WebDav", "url": dav.url, "login": "u",
                          "password": PASSWORD, "customerTitle": "Full"}),
            ),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let folder = v["response"]["id"].as_str().unwrap().to_string();

    let begun = Instant::now();
    let started = start(
        &r.s,
        &json!({"storageType": 1, "storageParams": [{"key": "folderId", "value": folder}]}),
    )
    .await;
    let done = wait_done(&r.s, false).await;
    assert!(
        begun.elapsed() < Duration::from_secs(20),
        "a full storage is not retried: {:?}",
        begun.elapsed()
    );
    assert_eq!(done["status"], 4, "Failed: {done}");
    let err = done["error"].as_str().unwrap();
    let host = dav.url.trim_start_matches("http://");
    assert!(
        err.contains("webdav") && err.contains(host),
        "names the storage: {err}"
    );
    assert!(err.contains("507 Insufficient Storage"), "says why: {err}");
    assert_eq!(dav.requests("PUT").len(), 1, "one PUT, no retry");
    assert!(history(&r.s, false).await.is_empty(), "no record");
    let log = r.s.log();
    for text in [&started, &done, &v] {
        assert!(!text.to_string().contains(PASSWORD), "{text}");
    }
    assert!(!log.contains(PASSWORD), "no password in the log");
}
