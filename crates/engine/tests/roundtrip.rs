//! Format 1 round trips (manifest first; still written on request and always read): what goes
//! in comes out byte for byte (read back by the engine and by `tar --zstd`), and every kind of
//! damage is caught with a message that says where.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use dsbackup_engine::{Control, EngineError, Planner, WriteOptions, verify, write};
use proptest::prelude::*;

mod common;
use common::{Extract, compare_trees, no_progress, sample_tree};

/// Format 1, which these tests pin: dsbackup writes format 2 by default (`format2.rs`).
fn v1() -> WriteOptions {
    WriteOptions {
        format_version: 1,
        ..WriteOptions::default()
    }
}

fn backup(root: &Path) -> (Vec<u8>, dsbackup_engine::ArchiveSummary, Vec<String>) {
    let cancel = AtomicBool::new(false);
    let control = Control::new(&cancel, &no_progress);
    let plan = common::sample_planner(root).finish(&control).unwrap();
    let (out, summary) = write(&plan, Vec::new(), &v1(), &control).unwrap();
    (out, summary, plan.warnings)
}

#[test]
fn round_trip_through_engine_and_gnu_tar() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let (archive, summary, warnings) = backup(src.path());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("outside"),
        "links out of the source are left out: {warnings:?}"
    );
    assert_eq!(summary.size, archive.len() as u64);

    let report = verify(archive.as_slice(), Some(&summary.sha256.to_lowercase())).unwrap();
    assert_eq!(report.sha256, summary.sha256);
    assert_eq!(report.entries, summary.entries);
    let links: Vec<_> = report
        .manifest
        .entries
        .iter()
        .filter(|e| e.target.is_some())
        .collect();
    assert_eq!(
        links.len(),
        1,
        "symlinks are recorded as links, not followed"
    );

    // GNU tar opens it, and the tree it extracts equals the source.
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("a.tar.zst");
    fs::write(&path, &archive).unwrap();
    let st = std::process::Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(&path)
        .arg("-C")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["formatVersion"], 1);
    fs::remove_file(src.path().join("docs/outside")).unwrap();
    compare_trees(src.path(), &out.path().join("sources/files"));
    assert_eq!(
        fs::read(out.path().join("catalog/users.jsonl")).unwrap(),
        b"{\"id\":1}\n"
    );
}

#[test]
fn every_kind_of_damage_is_caught() {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let (archive, summary, _) = backup(src.path());
    // A wrong expected hash.
    let err = verify(archive.as_slice(), Some("00")).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
    // A flipped byte in the middle.
    let flipped = common::visible_flip(&archive, archive.len() / 2);
    assert!(matches!(
        verify(flipped.as_slice(), None),
        Err(EngineError::Corrupt(_))
    ));
    // Truncations at several points.
    for cut in [10, archive.len() / 3, archive.len() - 5] {
        let err = verify(&archive[..cut], None).unwrap_err();
        assert!(
            matches!(err, EngineError::Corrupt(_)),
            "cut at {cut}: {err}"
        );
    }
    // Not an archive at all.
    assert!(verify(&b"plain text, not zstd"[..], None).is_err());
    assert_eq!(
        verify(archive.as_slice(), Some(&summary.sha256))
            .unwrap()
            .sha256,
        summary.sha256
    );
}

#[test]
fn unknown_format_versions_are_refused() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("x"), b"x").unwrap();
    let (archive, _, _) = backup(src.path());
    // Rewrite the manifest with a future version.
    let mut text = String::new();
    let raw = zstd::decode_all(archive.as_slice()).unwrap();
    let mut ar = tar::Archive::new(raw.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if e.path().unwrap().to_str() == Some("manifest.json") {
            text = String::from_utf8(data.clone())
                .unwrap()
                .replace("\"formatVersion\": 1", "\"formatVersion\": 99");
            data = text.clone().into_bytes();
        }
        let mut h = e.header().clone();
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.append(&h, data.as_slice()).unwrap();
    }
    let bumped = zstd::encode_all(out.into_inner().unwrap().as_slice(), 3).unwrap();
    let err = verify(bumped.as_slice(), None).unwrap_err();
    assert!(err.to_string().contains("format version 99"), "{err}");
    assert!(text.contains("99"));
}

#[test]
fn problems_are_warnings_or_clear_errors() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("keep"), b"k").unwrap();
    fs::write(src.path().join("vanishes"), b"v").unwrap();
    let cancel = AtomicBool::new(false);
    let control = Control::new(&cancel, &no_progress);
    let mut planner = Planner::new();
    planner
        .add_tree("files", "directory", src.path(), "sources/files")
        .unwrap();
    fs::remove_file(src.path().join("vanishes")).unwrap();
    let plan = planner.finish(&control).unwrap();
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(plan.warnings[0].contains("vanishes"));

    // A file that changes after planning fails the write.
    fs::write(src.path().join("keep"), b"changed!").unwrap();
    let err = write(&plan, Vec::new(), &v1(), &control).unwrap_err();
    assert!(matches!(err, EngineError::Changed { .. }), "{err}");

    // A missing source root is an error naming it.
    let mut planner = Planner::new();
    let err = planner
        .add_tree(
            "gone",
            "directory",
            &src.path().join("nope"),
            "sources/gone",
        )
        .unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");

    // Cancel stops both phases.
    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut planner = Planner::new();
    planner
        .add_tree("files", "directory", src.path(), "sources/files")
        .unwrap();
    assert!(matches!(
        planner.finish(&control),
        Err(EngineError::Canceled)
    ));
}

/// Links that each stay inside but escape through another link are left out, so every archive
/// the planner writes is one the reader accepts.
#[test]
fn links_escaping_through_other_links_are_not_archived() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("up/..", root.join("sub/esc")).unwrap();
    std::os::unix::fs::symlink("up/a.txt", root.join("sub/fine")).unwrap();
    let (archive, summary, warnings) = backup(&root);
    assert!(
        warnings.iter().any(|w| w.contains("sub/esc")),
        "{warnings:?}"
    );
    let report = verify(archive.as_slice(), Some(&summary.sha256)).unwrap();
    let paths: Vec<&str> = report
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert!(paths.contains(&"sources/files/sub/up"), "{paths:?}");
    assert!(paths.contains(&"sources/files/sub/fine"), "{paths:?}");
    assert!(!paths.contains(&"sources/files/sub/esc"), "{paths:?}");
}

#[test]
fn a_failing_sink_fails_the_write() {
    #[derive(Debug)]
    struct Full(usize);
    impl dsbackup_engine::ArchiveSink for Full {}
    impl std::io::Write for Full {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 + b.len() > 4096 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left",
                ));
            }
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let cancel = AtomicBool::new(false);
    let control = Control::new(&cancel, &no_progress);
    let mut planner = Planner::new();
    planner
        .add_tree("files", "directory", src.path(), "sources/files")
        .unwrap();
    let plan = planner.finish(&control).unwrap();
    let err = write(&plan, Full(0), &v1(), &control).unwrap_err();
    assert!(matches!(err, EngineError::Sink(_)), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_trees_round_trip(files in proptest::collection::vec(
        ("[a-zA-Zа-я0-9 _.-]{1,12}", "[a-z]{1,6}", proptest::collection::vec(any::<u8>(), 0..5000)), 0..20)) {
        let src = tempfile::tempdir().unwrap();
        for (name, dir, data) in &files {
            let name = name.trim_matches('.');
            if name.is_empty() { continue; }
            fs::create_dir_all(src.path().join(dir)).unwrap();
            fs::write(src.path().join(dir).join(name), data).unwrap();
        }
        let (archive, summary, _) = backup(src.path());
        let out = tempfile::tempdir().unwrap();
        let mut placer = Extract(out.path().to_path_buf());
        let cancel = AtomicBool::new(false);
        let control = Control::new(&cancel, &no_progress);
        let report = dsbackup_engine::read_archive(
            archive.as_slice(),
            Some(&summary.sha256),
            Some(false),
            &mut placer,
            &control,
        )
        .unwrap();
        prop_assert_eq!(report.sha256, summary.sha256);
        compare_trees(src.path(), &out.path().join("sources/files"));
    }
}
