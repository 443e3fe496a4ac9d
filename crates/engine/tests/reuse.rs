//! Frame reuse: a backup with a parent copies the compressed frames of unchanged entries, and
//! the archive is still whole on its own (verified, restored byte for byte, opened by GNU tar,
//! its parent deleted); a parent that is missing, damaged or not what its record says, and a
//! file rewritten with the same size and mtime (its ctime moved), never put stale bytes in.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Read;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use dsbackup_engine::index::{TRAILER_LEN, parse_trailer};
use dsbackup_engine::{EngineError, ParentArchive};

mod common;
use common::parent::{FileParent, backup, check_whole, keep, tree};

#[test]
fn an_unchanged_backup_copies_its_parents_frames_and_stands_alone() {
    let src = tree();
    let keep_dir = tempfile::tempdir().unwrap();
    let (a, sa) = backup(src.path(), None).unwrap();
    assert_eq!(sa.reuse.frames, 0);
    let parent = keep(keep_dir.path(), "a", &a, &sa);
    let (b, sb) = backup(src.path(), Some(parent.clone())).unwrap();
    assert_eq!(sb.reuse.note, None);
    // Everything but the first segment (the header's neighbours: the inline catalog rows and
    // the parent directories, stamped at planning) is copied.
    assert!(sb.reuse.frames >= 5, "{:?}", sb.reuse);
    assert!(
        sb.reuse.content_bytes * 10 >= sa.content_bytes * 9,
        "{:?} of {}",
        sb.reuse,
        sa.content_bytes
    );
    assert_eq!(sb.content_bytes, sa.content_bytes);
    assert_eq!(sb.entries, sa.entries);
    // The copied frames are the parent's bytes: the archives differ only where the header and
    // the first segment do (their compressed length may differ by a byte or two: the header
    // holds the time of the backup), and the copied bytes follow shifted by that much.
    let shift = b.len() as i64 - a.len() as i64;
    assert!(shift.abs() < 64, "{} bytes against {}", b.len(), a.len());
    let differing = (0..a.len())
        .filter(|&i| {
            usize::try_from(i as i64 + shift)
                .ok()
                .and_then(|j| b.get(j))
                .is_none_or(|y| *y != a[i])
        })
        .count();
    assert!(differing < 4096, "{differing} bytes differ");

    // Self-contained: the parent is gone, the child verifies, restores and opens in GNU tar.
    fs::remove_file(&parent.path).unwrap();
    check_whole(&b, &sb, src.path());

    // And a grandchild copies from the child.
    let child = keep(keep_dir.path(), "b", &b, &sb);
    let (c, sc) = backup(src.path(), Some(child)).unwrap();
    assert_eq!(sc.reuse.frames, sb.reuse.frames);
    check_whole(&c, &sc, src.path());
}

#[test]
fn a_file_rewritten_with_the_same_size_and_mtime_is_read_again() {
    let src = tree();
    let keep_dir = tempfile::tempdir().unwrap();
    let (a, sa) = backup(src.path(), None).unwrap();
    let parent = keep(keep_dir.path(), "a", &a, &sa);

    let path = src.path().join("m2/f-011");
    let before = fs::metadata(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut body = fs::read(&path).unwrap();
    body.iter_mut().for_each(|b| *b = !*b);
    fs::write(&path, &body).unwrap();
    let f = fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    drop(f);
    let after = fs::metadata(&path).unwrap();
    assert_eq!(
        (after.len(), after.mtime(), after.mtime_nsec()),
        (before.len(), before.mtime(), before.mtime_nsec())
    );
    assert_eq!(after.ino(), before.ino());
    assert_ne!(
        (after.ctime(), after.ctime_nsec()),
        (before.ctime(), before.ctime_nsec())
    );

    let (b, sb) = backup(src.path(), Some(parent)).unwrap();
    assert!(sb.reuse.frames > 0, "{:?}", sb.reuse);
    assert!(
        sb.reuse.content_bytes < sa.content_bytes - 65_536,
        "{:?}",
        sb.reuse
    );
    check_whole(&b, &sb, src.path());
}

#[test]
fn a_damaged_parent_is_never_copied_from() {
    let src = tree();
    let keep_dir = tempfile::tempdir().unwrap();
    let (a, sa) = backup(src.path(), None).unwrap();

    // A byte flipped in the frames: copied frames come from an archive whose SHA-256 is not
    // the recorded one, so the write fails (the caller writes again without a parent).
    let mut bad = a.clone();
    let at = a.len() / 2;
    bad[at] ^= 0x40;
    let parent = keep(keep_dir.path(), "flipped", &bad, &sa);
    let err = backup(src.path(), Some(parent)).unwrap_err();
    assert!(matches!(err, EngineError::Parent(_)), "{err}");
    assert!(err.to_string().contains("SHA-256"), "{err}");

    // Intact bytes under a record that says otherwise: the same.
    let mut wrong = keep(keep_dir.path(), "wrong", &a, &sa);
    Arc::get_mut(&mut wrong).unwrap().sha256 = "00".repeat(32);
    let err = backup(src.path(), Some(wrong)).unwrap_err();
    assert!(matches!(err, EngineError::Parent(_)), "{err}");

    // A damaged index frame or trailer: the parent is not used at all, the backup is full.
    // (The places are exact: a flipped bit inside a compressed block can decode to the same
    // bytes, e.g. zeros of tar's end blocks copied from another offset, and then only the
    // SHA-256 above tells, as it did in 1 of 25 runs when this flipped `len - 40`.)
    let trailer_at = a.len() - TRAILER_LEN;
    let index_at = parse_trailer(&a[trailer_at..]).unwrap() as usize;
    let flipped = |at: usize| {
        let mut bad = a.clone();
        bad[at] ^= 0x01;
        bad
    };
    // The index's own bytes changed under valid zstd frames (decompressed, one byte of its
    // first frame record flipped, compressed again): refused at the index all the same (its
    // closing digest, or frames that no longer add up to where it starts).
    let mut tail = zstd::decode_all(&a[index_at..trailer_at]).unwrap();
    tail[512 + 8] ^= 0x01; // past the tar header and the index's magic
    let rewritten = [
        &a[..index_at],
        &zstd::encode_all(tail.as_slice(), 3).unwrap(),
        &a[trailer_at..],
    ]
    .concat();
    for (name, bad) in [
        ("index frame's magic", flipped(index_at)),
        ("index frame's checksum", flipped(trailer_at - 2)),
        ("index content", rewritten),
        ("trailer", flipped(a.len() - 3)),
    ] {
        let parent = keep(keep_dir.path(), name, &bad, &sa);
        let (b, sb) = backup(src.path(), Some(parent)).unwrap();
        assert_eq!(sb.reuse.frames, 0, "{name}");
        assert!(sb.reuse.note.is_some(), "{name}");
        check_whole(&b, &sb, src.path());
    }
}

#[test]
fn a_missing_parent_or_a_too_recent_change_means_reading_the_source() {
    let src = tree();
    let missing = Arc::new(FileParent {
        path: src.path().join("nope.tar.zst"),
        size: 4096,
        sha256: "AB".repeat(32),
        local: false,
    });
    let (b, sb) = backup(src.path(), Some(missing)).unwrap();
    assert_eq!(sb.reuse.frames, 0);
    assert!(
        sb.reuse.note.as_deref().unwrap().contains("cannot be read"),
        "{:?}",
        sb.reuse
    );
    check_whole(&b, &sb, src.path());

    // Files changed less than a second before a backup carry no identity in it, so the next
    // backup reads them again.
    let keep_dir = tempfile::tempdir().unwrap();
    for i in 0..40u32 {
        fs::write(
            src.path().join(format!("m1/f-{i:03}")),
            format!("fresh {i}"),
        )
        .unwrap();
    }
    let (a, sa) = backup(src.path(), None).unwrap();
    let parent = keep(keep_dir.path(), "a", &a, &sa);
    let (c, sc) = backup(src.path(), Some(parent)).unwrap();
    assert!(sc.reuse.frames > 0);
    let m1: u64 = (0..40u32).map(|i| format!("fresh {i}").len() as u64).sum();
    assert!(
        sc.reuse.content_bytes <= sa.content_bytes - m1,
        "{:?}",
        sc.reuse
    );
    check_whole(&c, &sc, src.path());
}

/// A parent whose store fails once `fail_after` bytes of a whole-archive read have been read
/// (the trailer and index, read by range, still come).
#[derive(Debug)]
struct Failing {
    inner: Arc<FileParent>,
    fail_after: u64,
}

impl ParentArchive for Failing {
    fn size(&self) -> u64 {
        self.inner.size
    }
    fn sha256(&self) -> &str {
        &self.inner.sha256
    }
    fn open(&self, range: Range<u64>) -> std::io::Result<Box<dyn Read + Send>> {
        let r = self.inner.open(range.clone())?;
        if range.start > 0 {
            return Ok(r);
        }
        let broken = ErrAfter(Some(std::io::Error::other("connection reset")));
        Ok(Box::new(r.take(self.fail_after).chain(broken)))
    }
}

struct ErrAfter(Option<std::io::Error>);

impl Read for ErrAfter {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("gone")))
    }
}

#[test]
fn a_parent_that_stops_answering_mid_copy_fails_the_write() {
    let src = tree();
    let keep_dir = tempfile::tempdir().unwrap();
    let (a, sa) = backup(src.path(), None).unwrap();
    let parent = keep(keep_dir.path(), "a", &a, &sa);
    for fail_after in [0, a.len() as u64 / 2, a.len() as u64 - 10] {
        let failing = Arc::new(Failing {
            inner: parent.clone(),
            fail_after,
        });
        let err = backup(src.path(), Some(failing)).unwrap_err();
        assert!(matches!(err, EngineError::Parent(_)), "{fail_after}: {err}");
    }
}

/// Small files are grouped in frames of about 128 KiB of content, so a change to every 100th
/// file still leaves most groups whole to copy (with 2 MiB groups every group would hold a
/// changed file and nothing would be copied); the changed files' new bytes are what restores.
#[test]
fn scattered_changes_to_small_files_leave_most_groups_to_copy() {
    let src = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for d in 0..10u32 {
        let dir = src.path().join(format!("d{d}"));
        fs::create_dir(&dir).unwrap();
        for i in 0..300u32 {
            let len = 2048 + ((i * 7919 + d * 31) % 4096) as usize;
            let body: Vec<u8> = (0..len)
                .map(|j| ((j as u32 * (i + d + 3)) >> 3) as u8)
                .collect();
            let path = dir.join(format!("f{i:04}"));
            fs::write(&path, body).unwrap();
            paths.push(path);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let keep_dir = tempfile::tempdir().unwrap();
    let (a, sa) = backup(src.path(), None).unwrap();
    let parent = keep(keep_dir.path(), "a", &a, &sa);

    paths.sort();
    for path in paths.iter().skip(99).step_by(100) {
        let mut f = fs::File::options().append(true).open(path).unwrap();
        std::io::Write::write_all(&mut f, b"!").unwrap();
    }
    let (b, sb) = backup(src.path(), Some(parent)).unwrap();
    assert_eq!(sb.reuse.note, None);
    assert!(
        sb.reuse.entries * 2 >= paths.len() as u64,
        "{:?} of {} files",
        sb.reuse,
        paths.len()
    );
    assert!(sb.reuse.entries < paths.len() as u64 - 30, "{:?}", sb.reuse);
    check_whole(&b, &sb, src.path());
}
