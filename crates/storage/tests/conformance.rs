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

/// The blocking read a backup's local parent uses: a range of the object, and the rules of
/// `get` (a link in an object's place, a directory, a bad key or range are refused).
#[test]
fn local_blocking_reads_follow_the_rules_of_get() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let b = LocalBackend::new(&root).unwrap();
    std::fs::write(root.join("a.tar.zst"), b"0123456789").unwrap();
    let mut got = String::new();
    b.read_blocking("a.tar.zst", 2..6)
        .unwrap()
        .read_to_string(&mut got)
        .unwrap();
    assert_eq!(got, "2345");

    std::fs::write(dir.path().join("outside"), b"secret").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link.tar.zst")).unwrap();
    std::fs::create_dir(root.join("d.tar.zst")).unwrap();
    for key in ["link.tar.zst", "d.tar.zst", "gone.tar.zst"] {
        let err = b.read_blocking(key, 0..1).unwrap_err();
        assert!(matches!(err, CoreError::NotFound(_)), "{key}: {err:?}");
    }
    assert!(b.read_blocking("../outside", 0..1).is_err());
    assert!(b.read_blocking("a.tar.zst", 5..11).is_err());
}
