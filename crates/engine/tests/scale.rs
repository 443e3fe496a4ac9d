//! The pool that writes restored files (exact bytes and modes, failures reported, damaged
//! content refused), and a million-entry archive written with the spilled plan, verified and
//! restored through the pool (ignored by default: minutes of file creation; `bench/run.sh`
//! runs it with `DSBACKUP_SCALE_DIR` pointing at a generated tree).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicBool;

use dsbackup_engine::pool::{FilePool, NewFile, PoolError};
use dsbackup_engine::{
    Control, EngineError, EngineResult, Entry, Manifest, Placer, Planner, WriteOptions,
    read_archive, verify, write,
};

mod common;
use common::{compare_trees, no_progress};

fn pseudo(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[test]
fn the_pool_writes_every_size_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0usize, 10, 256 << 10, (256 << 10) + 1, 3 << 20];
    let mut pool = FilePool::new(2);
    for (i, n) in sizes.iter().enumerate() {
        let data = pseudo(*n, i as u8);
        let file = NewFile {
            path: dir.path().join(format!("f{i}")),
            mode: 0o640,
            mtime: Some(1_700_000_000),
        };
        pool.write(file, *n as u64, &mut data.as_slice()).unwrap();
    }
    pool.finish().unwrap();
    for (i, n) in sizes.iter().enumerate() {
        let path = dir.path().join(format!("f{i}"));
        assert_eq!(fs::read(&path).unwrap(), pseudo(*n, i as u8), "f{i}");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(
            meta.modified().unwrap(),
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
        );
    }
}

#[test]
fn the_pool_reports_a_failed_write_and_damaged_content() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("taken"), b"x").unwrap();
    let mut pool = FilePool::new(1);
    let taken = NewFile {
        path: dir.path().join("taken"),
        mode: 0o600,
        mtime: None,
    };
    pool.write(taken, 3, &mut &b"abc"[..]).unwrap();
    match pool.finish() {
        Err(PoolError::Write(path, e)) => {
            assert!(path.ends_with("taken"));
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        }
        other => panic!("an existing file is never overwritten: {other:?}"),
    }
    assert_eq!(fs::read(dir.path().join("taken")).unwrap(), b"x");

    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::InvalidData, "damaged"))
        }
    }
    let mut pool = FilePool::new(1);
    let file = NewFile {
        path: dir.path().join("new"),
        mode: 0o600,
        mtime: None,
    };
    assert!(matches!(
        pool.write(file, 10, &mut Broken),
        Err(PoolError::Content(_))
    ));
}

/// Writes directories synchronously and files through the pool, as a restore's stager does.
struct Pooled(std::path::PathBuf, Option<FilePool>);

impl Placer for Pooled {
    fn begin(&mut self, _: &Manifest) -> EngineResult<()> {
        Ok(())
    }
    fn dir(&mut self, e: &Entry) -> EngineResult<()> {
        fs::create_dir_all(self.0.join(&e.path)).map_err(EngineError::Sink)
    }
    fn file(&mut self, e: &Entry, content: &mut dyn Read) -> EngineResult<()> {
        let file = NewFile {
            path: self.0.join(&e.path),
            mode: e.mode,
            mtime: Some(e.mtime),
        };
        let pool = self.1.get_or_insert_with(FilePool::for_machine);
        pool.write(file, e.size, content)
            .map_err(|e| EngineError::Corrupt(format!("{e:?}")))
    }
    fn symlink(&mut self, e: &Entry, target: &str) -> EngineResult<()> {
        std::os::unix::fs::symlink(target, self.0.join(&e.path)).map_err(EngineError::Sink)
    }
}

/// `DSBACKUP_SCALE_DIR`: an existing tree (`bench/gen_small.py`); else one of
/// `DSBACKUP_SCALE_FILES` (default 1 000 000) small files is made in a temporary directory.
#[test]
#[ignore = "minutes of file creation; run by bench/run.sh"]
fn a_million_entries_are_written_verified_and_restored() {
    let work = tempfile::tempdir().unwrap();
    let src = match std::env::var_os("DSBACKUP_SCALE_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            let files: usize = std::env::var("DSBACKUP_SCALE_FILES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000);
            let src = work.path().join("src");
            for i in 0..files {
                let dir = src.join(format!("d{:04}", i / 1000));
                if i % 1000 == 0 {
                    fs::create_dir_all(&dir).unwrap();
                }
                fs::write(
                    dir.join(format!("f{:04}", i % 1000)),
                    pseudo(40 + i % 50, i as u8),
                )
                .unwrap();
            }
            src
        }
    };
    let cancel = AtomicBool::new(false);
    let control = Control::new(&cancel, &no_progress);
    let mut planner = Planner::in_dir(work.path());
    planner
        .add_tree("files", "directory", &src, "sources/files")
        .unwrap();
    let plan = planner.finish_unhashed().unwrap();
    let path = work.path().join("a.tar.zst");
    let out = io::BufWriter::new(fs::File::create(&path).unwrap());
    let (_, summary) = write(&plan, out, &WriteOptions::default(), &control).unwrap();
    assert_eq!(
        summary.entries,
        plan.len() + 2,
        "header and index besides the plan"
    );

    let report = verify(fs::File::open(&path).unwrap(), Some(&summary.sha256)).unwrap();
    assert_eq!(report.entries, summary.entries);
    let dest = work.path().join("restored");
    let mut placer = Pooled(dest.clone(), None);
    let input = io::BufReader::new(fs::File::open(&path).unwrap());
    read_archive(input, Some(&summary.sha256), None, &mut placer, &control).unwrap();
    placer.1.take().unwrap().finish().unwrap();
    compare_trees(&src, &dest.join("sources/files"));
}
