//! Sharing a parent's blocks: a backup whose parent is a local file and whose sink can share
//! blocks (here a sink that checks every request is block-aligned and then copies the bytes,
//! as a reflink would make them appear) pads each copied run to the parent's offset modulo the
//! block, shares the whole blocks and writes the rest; the archive verifies, restores, gives
//! each entry by offset and opens in GNU tar without its parent, and pads do not pile up from
//! generation to generation. The
//! real reflinks are the storage crate's (`LocalWriter`).
#![allow(clippy::unwrap_used)]

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use dsbackup_engine::ArchiveSink;
use dsbackup_engine::extract::extract_entry;
use tempfile::TempDir;

mod common;
use common::parent::{FileParent, backup, backup_into, check_whole, tree};

const BLOCK: u64 = 4096;

/// An archive file that takes shared blocks (or, with `refuse`, says it cannot).
struct Sharing {
    file: File,
    len: u64,
    refuse: bool,
    asked: u64,
    shared: u64,
}

impl Sharing {
    fn new(dir: &std::path::Path, name: &str, refuse: bool) -> Self {
        Self {
            file: File::create(dir.join(name)).unwrap(),
            len: 0,
            refuse,
            asked: 0,
            shared: 0,
        }
    }
}

impl Write for Sharing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl ArchiveSink for Sharing {
    fn shared_block(&self) -> Option<u64> {
        (!self.refuse || self.asked == 0).then_some(BLOCK)
    }

    fn append_shared(&mut self, src: &File, offset: u64, len: u64) -> io::Result<u64> {
        self.asked += 1;
        if self.refuse {
            return Ok(0);
        }
        assert_eq!(offset % BLOCK, 0, "source offset {offset}");
        assert_eq!(len % BLOCK, 0, "length {len}");
        assert_eq!(self.len % BLOCK, 0, "destination offset {}", self.len);
        let mut bytes = vec![0u8; len as usize];
        src.read_exact_at(&mut bytes, offset)?;
        self.write_all(&bytes)?;
        self.shared += len;
        Ok(len)
    }
}

fn local(path: std::path::PathBuf, sha256: &str) -> Arc<FileParent> {
    let size = fs::metadata(&path).unwrap().len();
    Arc::new(FileParent {
        path,
        size,
        sha256: sha256.to_string(),
        local: true,
    })
}

/// The tree, a directory, a first backup and that backup kept there as the parent `name`.
fn first(name: &str) -> (TempDir, TempDir, Vec<u8>, Arc<FileParent>) {
    let src = tree();
    let dir = tempfile::tempdir().unwrap();
    let (a, sa) = backup(src.path(), None).unwrap();
    fs::write(dir.path().join(name), &a).unwrap();
    let parent = local(dir.path().join(name), &sa.sha256);
    (src, dir, a, parent)
}

#[test]
fn copied_frames_are_shared_in_whole_blocks_and_every_generation_stands_alone() {
    let (src, dir, a, mut parent) = first("gen-0");
    for g in 1..=3 {
        let name = format!("gen-{g}");
        let sink = Sharing::new(dir.path(), &name, false);
        let (sink, s) = backup_into(src.path(), Some(parent.clone()), sink).unwrap();
        assert_eq!(s.reuse.note, None);
        assert!(s.reuse.frames >= 5, "{:?}", s.reuse);
        // One run of frames, shared but for the partial blocks at its ends.
        assert!(
            sink.shared + 2 * BLOCK >= s.reuse.bytes,
            "generation {g}: shared {} of {:?}",
            sink.shared,
            s.reuse
        );
        let bytes = fs::read(dir.path().join(&name)).unwrap();
        assert_eq!((bytes.len() as u64, &s.sha256), (s.size, &s.sha256));
        // One pad per copied run at most, and the parent's pads are not carried on.
        assert!(
            bytes.len() as u64 <= a.len() as u64 + 3 * (BLOCK + 8),
            "generation {g}: {} bytes against {}",
            bytes.len(),
            a.len()
        );
        fs::remove_file(&parent.path).unwrap();
        check_whole(&bytes, &s, src.path());
        extract_each(&bytes, src.path(), src.path());
        parent = local(dir.path().join(&name), &s.sha256);
    }
}

/// Takes every file under `dir` out of `archive` by its frame offsets (through the pads
/// before copied runs) and compares it with the source.
fn extract_each(archive: &[u8], root: &Path, dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let m = fs::symlink_metadata(&path).unwrap();
        if m.is_dir() {
            extract_each(archive, root, &path);
        } else if m.is_file() {
            let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
            let name = format!("sources/files/{rel}");
            let mut out = Vec::new();
            extract_entry(&mut io::Cursor::new(archive), &name, &mut out).unwrap();
            assert!(out == fs::read(&path).unwrap(), "{name}");
        }
    }
}

#[test]
fn a_sink_that_cannot_share_gets_the_bytes_written() {
    let (src, dir, a, parent) = first("a");
    let sink = Sharing::new(dir.path(), "b", true);
    let (sink, s) = backup_into(src.path(), Some(parent), sink).unwrap();
    assert_eq!(
        (sink.asked, sink.shared),
        (1, 0),
        "asked once, then never again"
    );
    assert!(s.reuse.frames >= 5, "{:?}", s.reuse);
    let bytes = fs::read(dir.path().join("b")).unwrap();
    assert!(bytes.len() as u64 <= a.len() as u64 + BLOCK + 8);
    check_whole(&bytes, &s, src.path());
}
