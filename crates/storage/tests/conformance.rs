//! Runs the storage conformance suites against every backend.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use dsbackup_core::CoreError;
use dsbackup_core::storage::{ReadBackend, WriteBackend};
use dsbackup_storage::{LocalBackend, MemoryBackend, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend_conforms() {
    let b = Arc::new(MemoryBackend::new());
    conformance::run_backend(b.clone()).await;
    conformance::large_put(&*b, "big/x", 8 << 20).await;
}

/// Every path under `dir`, files and directories.
fn everything(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(everything(&p));
        }
        out.push(p);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_conforms_and_leaves_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(LocalBackend::new(dir.path().join("store")).unwrap());
    conformance::run_backend(b.clone()).await;
    let left = everything(b.root());
    assert!(
        left.is_empty(),
        "no temporaries or empty directories left: {left:?}"
    );
    conformance::large_put(&*b, "big/x", 64 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_modes_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("store")).unwrap();
    let body = conformance::body_of(vec![bytes::Bytes::from_static(b"x")]);
    b.put("p/q/r.tar.zst", body, false).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(b.root()), 0o700);
    assert_eq!(mode(&b.root().join("p")), 0o700);
    assert_eq!(mode(&b.root().join("p/q")), 0o700);
    assert_eq!(mode(&b.path_of("p/q/r.tar.zst").unwrap()), 0o600);
    // A file where a directory would go, and the other way round, conflict.
    let body = conformance::body_of(vec![]);
    let clash = b.put("p/q/r.tar.zst/s", body, true).await;
    assert!(matches!(clash, Err(CoreError::Conflict(_))), "{clash:?}");
    let clash = b.put("p/q", conformance::body_of(vec![]), true).await;
    assert!(matches!(clash, Err(CoreError::Conflict(_))), "{clash:?}");
    // Files the backend did not write under a valid key are objects; hidden ones are not.
    std::fs::write(b.root().join("p/.partial-crashed"), b"x").unwrap();
    std::fs::write(b.root().join("p/dropped-in"), b"xy").unwrap();
    let page = b.list("p/", None, 10).await.unwrap();
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["p/dropped-in", "p/q/r.tar.zst"]);
    assert!(b.describe().contains("store"));
}
