//! `LocalWriter`: an object written from a blocking thread is placed exactly as `put` places
//! one (0600, nothing visible before `commit`, nothing left when dropped, no replacing without
//! `overwrite`), and ranges of another file are appended with `copy_file_range` — shared
//! blocks on a file system with reflinks (`DSBACKUP_REFLINK_DIR`, an XFS or Btrfs directory
//! `.ci/run` mounts), a kernel copy on others, written by the caller across file systems —
//! held back and appended in order, in batches, after the first.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dsbackup_core::CoreError;
use dsbackup_storage::LocalBackend;
use dsbackup_storage::conformance::pattern;

const BLOCK: u64 = 4096;

/// Every path under `dir`, files and directories.
fn everything(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(everything(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn a_committed_object_is_placed_like_a_put_and_a_dropped_one_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("store")).unwrap();
    let body = pattern(0, 5_000_000);
    let mut w = b.create_blocking("a/b/one.tar.zst", false).unwrap();
    w.write_all(&body).unwrap();
    assert!(
        !b.path_of("a/b/one.tar.zst").unwrap().exists(),
        "visible before commit"
    );
    let meta = w.commit().unwrap();
    assert_eq!(meta.size, body.len() as u64);
    let path = b.path_of("a/b/one.tar.zst").unwrap();
    assert!(fs::read(&path).unwrap() == body);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        everything(b.root()).len(),
        3,
        "the object and its two directories"
    );

    let clash = b.create_blocking("a/b/one.tar.zst", false);
    assert!(matches!(clash, Err(CoreError::Conflict(_))), "{clash:?}");
    // The key taken while the writer wrote: the first one stays.
    let mut late = b.create_blocking("c/two", false).unwrap();
    late.write_all(b"second").unwrap();
    let mut first = b.create_blocking("c/two", false).unwrap();
    first.write_all(b"first").unwrap();
    first.commit().unwrap();
    assert!(matches!(late.commit(), Err(CoreError::Conflict(_))));
    assert_eq!(fs::read(b.path_of("c/two").unwrap()).unwrap(), b"first");
    let mut again = b.create_blocking("c/two", true).unwrap();
    again.write_all(b"replaced").unwrap();
    again.commit().unwrap();
    assert_eq!(fs::read(b.path_of("c/two").unwrap()).unwrap(), b"replaced");

    let mut dropped = b.create_blocking("d/e/never", false).unwrap();
    dropped.write_all(&body).unwrap();
    drop(dropped);
    assert!(
        !b.root().join("d").exists(),
        "no temporary, no empty directory"
    );
    assert!(matches!(
        b.create_blocking("../out", false),
        Err(CoreError::Invalid(_))
    ));
}

/// Writes `head` then appends `src`'s bytes `range` as shared; returns the object's bytes and
/// how many were appended by the kernel.
fn append(
    b: &LocalBackend,
    key: &str,
    src: &Path,
    head: &[u8],
    at: u64,
    len: u64,
) -> (Vec<u8>, u64) {
    let mut w = b.create_blocking(key, false).unwrap();
    w.write_all(head).unwrap();
    let file = fs::File::open(src).unwrap();
    let n = w.append_shared(&file, at, len).unwrap();
    let whole = fs::read(src).unwrap();
    w.write_all(&whole[(at + n) as usize..(at + len) as usize])
        .unwrap();
    w.write_all(b"tail").unwrap();
    w.commit().unwrap();
    (fs::read(b.path_of(key).unwrap()).unwrap(), n)
}

fn expected(src: &Path, head: &[u8], at: u64, len: u64) -> Vec<u8> {
    let whole = fs::read(src).unwrap();
    [head, &whole[at as usize..(at + len) as usize], b"tail"].concat()
}

#[test]
fn ranges_are_appended_by_the_kernel_on_one_file_system_and_refused_across_two() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("store")).unwrap();
    let src = dir.path().join("parent");
    fs::write(&src, pattern(7, 3_000_000)).unwrap();
    let head = pattern(1, 2 * BLOCK as usize);
    let w = b.create_blocking("probe", false).unwrap();
    assert_eq!(w.shared_block(), Some(BLOCK));
    drop(w);

    let (got, n) = append(&b, "same", &src, &head, 3 * BLOCK, 500 * BLOCK);
    assert_eq!(n, 500 * BLOCK, "one file system: the kernel appends it all");
    assert!(got == expected(&src, &head, 3 * BLOCK, 500 * BLOCK));

    // Not block-aligned: nothing appended, the caller writes it.
    let (got, n) = append(&b, "unaligned", &src, &head[..100], 3 * BLOCK, 10 * BLOCK);
    assert_eq!(n, 0);
    assert!(got == expected(&src, &head[..100], 3 * BLOCK, 10 * BLOCK));

    // Another file system (tmpfs): refused, and not asked again.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let other = shm.path().join("parent");
    fs::copy(&src, &other).unwrap();
    let mut w = b.create_blocking("across", false).unwrap();
    let file = fs::File::open(&other).unwrap();
    assert_eq!(w.append_shared(&file, 0, 4 * BLOCK).unwrap(), 0);
    assert_eq!(w.shared_block(), None);
}

#[test]
fn held_back_ranges_land_in_order_and_one_the_kernel_cannot_copy_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("store")).unwrap();
    let ours = pattern(7, 3_000_000);
    fs::write(dir.path().join("parent"), &ours).unwrap();
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let theirs = pattern(9, 1_000_000);
    fs::write(shm.path().join("parent"), &theirs).unwrap();
    let f = fs::File::open(dir.path().join("parent")).unwrap();
    let g = fs::File::open(shm.path().join("parent")).unwrap();

    let mut w = b.create_blocking("batched", false).unwrap();
    let mut want = Vec::new();
    let blocks = |n: u64| n * BLOCK;
    // The first range goes at once; the next two follow it in the file and are held back as
    // one batch, the one after a gap starts another; a write appends them first.
    for (at, len) in [(0, 10), (10, 5), (15, 20), (100, 3)] {
        let (at, len) = (blocks(at), blocks(len));
        assert_eq!(w.append_shared(&f, at, len).unwrap(), len);
        want.extend_from_slice(&ours[at as usize..(at + len) as usize]);
    }
    let mid = pattern(2, BLOCK as usize);
    w.write_all(&mid).unwrap();
    want.extend_from_slice(&mid);
    assert_eq!(w.shared_block(), Some(BLOCK), "the kernel copied them");
    // A range of a file on another file system is taken too; the kernel refuses to copy it
    // when the batch is appended, so it is read and written, and sharing stops.
    assert_eq!(w.append_shared(&g, 0, blocks(8)).unwrap(), blocks(8));
    want.extend_from_slice(&theirs[..blocks(8) as usize]);
    w.write_all(b"end").unwrap();
    want.extend_from_slice(b"end");
    assert_eq!(w.shared_block(), None);
    assert_eq!(w.append_shared(&f, 0, blocks(1)).unwrap(), 0);
    // Held back until the commit, after the last write.
    let mut w2 = b.create_blocking("last", false).unwrap();
    w2.write_all(&mid).unwrap();
    for at in [0, 4] {
        assert_eq!(
            w2.append_shared(&f, blocks(at), blocks(4)).unwrap(),
            blocks(4)
        );
    }
    assert_eq!(w.commit().unwrap().size, want.len() as u64);
    assert!(fs::read(b.path_of("batched").unwrap()).unwrap() == want);
    assert_eq!(w2.commit().unwrap().size, blocks(9));
    let got = fs::read(b.path_of("last").unwrap()).unwrap();
    assert!(got == [&mid[..], &ours[..blocks(8) as usize]].concat());
}

#[test]
fn a_held_back_range_whose_source_shrank_fails_the_commit_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(dir.path().join("store")).unwrap();
    let src = dir.path().join("parent");
    fs::write(&src, pattern(7, 64 * BLOCK as usize)).unwrap();
    let f = fs::File::open(&src).unwrap();
    let mut w = b.create_blocking("short", false).unwrap();
    assert_eq!(w.append_shared(&f, 0, 8 * BLOCK).unwrap(), 8 * BLOCK);
    // Taken, held back: the source is cut short before the batch is appended.
    assert_eq!(
        w.append_shared(&f, 8 * BLOCK, 40 * BLOCK).unwrap(),
        40 * BLOCK
    );
    fs::OpenOptions::new()
        .write(true)
        .open(&src)
        .unwrap()
        .set_len(20 * BLOCK)
        .unwrap();
    let e = w.commit().expect_err("a short batch fails the commit");
    assert!(matches!(e, CoreError::Internal(_)), "{e:?}");
    assert_eq!(
        everything(b.root()),
        Vec::<PathBuf>::new(),
        "no temporary left"
    );
}

/// Free bytes of the file system holding `dir`, after syncing it.
fn free(dir: &Path) -> u64 {
    let f = fs::File::open(dir).unwrap();
    f.sync_all().unwrap();
    rustix::fs::syncfs(&f).unwrap();
    let s = rustix::fs::statvfs(dir).unwrap();
    s.f_bfree * s.f_frsize
}

#[test]
fn on_a_file_system_with_reflinks_appended_ranges_share_blocks() {
    let Some(root) = std::env::var_os("DSBACKUP_REFLINK_DIR") else {
        eprintln!("DSBACKUP_REFLINK_DIR is not set: shared blocks not checked");
        return;
    };
    let dir = tempfile::tempdir_in(root).unwrap();
    let b = LocalBackend::new(dir.path().join("store")).unwrap();
    let src = dir.path().join("parent");
    let size = 64 << 20;
    fs::write(&src, pattern(3, size)).unwrap();
    let before = free(dir.path());
    let head = pattern(1, BLOCK as usize);
    let len = (size as u64 / BLOCK - 2) * BLOCK;
    let (got, n) = append(&b, "shared", &src, &head, BLOCK, len);
    assert_eq!(n, len);
    assert!(got == expected(&src, &head, BLOCK, len));
    let used = before.saturating_sub(free(dir.path()));
    assert!(
        used < 4 << 20,
        "{used} bytes taken for a {len}-byte range: the blocks were copied, not shared"
    );

    // In pieces, as an archive's frames are: the first appended at once, the others held
    // back and appended in batches; shared all the same.
    let before = free(dir.path());
    let mut w = b.create_blocking("pieces", false).unwrap();
    let file = fs::File::open(&src).unwrap();
    let piece = 256 * BLOCK;
    for at in (0..size as u64).step_by(piece as usize) {
        assert_eq!(w.append_shared(&file, at, piece).unwrap(), piece);
    }
    w.commit().unwrap();
    assert!(fs::read(b.path_of("pieces").unwrap()).unwrap() == fs::read(&src).unwrap());
    let used = before.saturating_sub(free(dir.path()));
    assert!(
        used < 4 << 20,
        "{used} bytes taken for {size} bytes appended in pieces: copied, not shared"
    );
}
