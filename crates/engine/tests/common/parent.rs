//! Helpers for backups with a parent: a parent archive kept in a file with its record, a tree
//! of several frames' worth, and the check that an archive stands on its own.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use dsbackup_engine::{
    ArchiveSink, ArchiveSummary, Control, EngineResult, ParentArchive, WriteOptions, verify, write,
};

use super::{compare_trees, no_progress, sample_tree};

/// A parent archive in a file, with what its record says; `local` offers the file itself
/// (reads from it, and blocks shared with it).
#[derive(Debug)]
pub struct FileParent {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub local: bool,
}

impl ParentArchive for FileParent {
    fn size(&self) -> u64 {
        self.size
    }
    fn sha256(&self) -> &str {
        &self.sha256
    }
    fn open(&self, range: Range<u64>) -> std::io::Result<Box<dyn Read + Send>> {
        let mut f = fs::File::open(&self.path)?;
        f.seek(SeekFrom::Start(range.start))?;
        Ok(Box::new(f.take(range.end - range.start)))
    }
    fn file(&self) -> Option<fs::File> {
        self.local.then(|| fs::File::open(&self.path).unwrap())
    }
}

/// A tree of several frames' worth: the sample tree, a file spanning frames and three
/// directories of 64 KiB files (a few segments each).
pub fn tree() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    fs::remove_file(src.path().join("docs/outside")).unwrap();
    let huge: Vec<u8> = (0..11_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    fs::write(src.path().join("docs/huge.bin"), huge).unwrap();
    for d in ["m1", "m2", "m3"] {
        fs::create_dir(src.path().join(d)).unwrap();
        for i in 0..40u32 {
            let body: Vec<u8> = (0..65_536u32)
                .map(|j| (j.wrapping_mul(i + 7) >> 5) as u8)
                .collect();
            fs::write(src.path().join(format!("{d}/f-{i:03}")), body).unwrap();
        }
    }
    // Identities are trusted only once a second has passed since the last change.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    src
}

/// Backs `root` up into `sink`, copying from `parent` if given.
pub fn backup_into<W: ArchiveSink>(
    root: &Path,
    parent: Option<Arc<dyn ParentArchive>>,
    sink: W,
) -> EngineResult<(W, ArchiveSummary)> {
    let cancel = AtomicBool::new(false);
    let control = Control::new(&cancel, &no_progress);
    let plan = super::sample_planner(root).finish_unhashed().unwrap();
    let opts = WriteOptions {
        parent,
        ..WriteOptions::default()
    };
    write(&plan, sink, &opts, &control)
}

/// Backs `root` up in memory, copying from `parent` if given.
pub fn backup(
    root: &Path,
    parent: Option<Arc<dyn ParentArchive>>,
) -> EngineResult<(Vec<u8>, ArchiveSummary)> {
    backup_into(root, parent, Vec::new())
}

/// Keeps `archive` in `dir` as a parent with its true record.
pub fn keep(dir: &Path, name: &str, archive: &[u8], summary: &ArchiveSummary) -> Arc<FileParent> {
    let path = dir.join(name);
    fs::write(&path, archive).unwrap();
    Arc::new(FileParent {
        path,
        size: archive.len() as u64,
        sha256: summary.sha256.clone(),
        local: false,
    })
}

/// Verifies `archive`, restores it and GNU-tar-extracts it, comparing both with `src`.
pub fn check_whole(archive: &[u8], summary: &ArchiveSummary, src: &Path) {
    let report = verify(archive, Some(&summary.sha256)).unwrap();
    assert_eq!(report.entries, summary.entries);
    assert_eq!(report.content_bytes, summary.content_bytes);
    let out = super::extract_all(archive, &summary.sha256);
    compare_trees(src, &out.path().join("sources/files"));

    let dir = super::gnu_tar_extract(archive);
    compare_trees(src, &dir.path().join("sources/files"));
}
