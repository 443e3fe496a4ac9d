//! Runs the storage conformance suite against every backend.

use dsbackup_storage::{LocalStorage, MemoryStorage, conformance};

#[test]
fn memory_conforms() {
    conformance::run_all(&MemoryStorage::new());
}

#[test]
fn local_conforms_and_sweeps_partials() {
    let dir = tempfile::tempdir().unwrap();
    let s = LocalStorage::new(dir.path().join("store")).unwrap();
    conformance::run_all(&s);
    std::fs::write(s.root().join(".partial-dead-x.tar.zst"), b"left by a crash").unwrap();
    assert_eq!(s.sweep_partials().unwrap(), 1);
    assert_eq!(std::fs::read_dir(s.root()).unwrap().count(), 0);
}
