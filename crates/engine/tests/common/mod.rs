//! Helpers shared by the archive tests: a sample tree, a tree comparison and a placer that
//! extracts into a directory.
#![allow(clippy::unwrap_used, dead_code)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dsbackup_engine::EngineError;

pub mod parent;

pub fn no_progress(_: u64, _: u64) {}

pub fn compare_trees(a: &Path, b: &Path) {
    let mut names_a: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut names_b: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b, "{} vs {}", a.display(), b.display());
    for n in names_a {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        assert_eq!(
            ma.file_type().is_symlink(),
            mb.file_type().is_symlink(),
            "{}",
            pa.display()
        );
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&pa).unwrap(), fs::read_link(&pb).unwrap());
        } else if ma.is_dir() {
            compare_trees(&pa, &pb);
        } else {
            assert_eq!(
                fs::read(&pa).unwrap(),
                fs::read(&pb).unwrap(),
                "{}",
                pa.display()
            );
            assert_eq!(
                ma.permissions().mode() & 0o777,
                mb.permissions().mode() & 0o777,
                "{}",
                pa.display()
            );
        }
    }
}

pub fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("docs/empty")).unwrap();
    fs::create_dir_all(root.join("данные/子目录")).unwrap();
    fs::write(root.join("docs/a.txt"), b"hello").unwrap();
    fs::write(root.join("docs/empty.bin"), b"").unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(root.join("данные/子目录/big.bin"), &big).unwrap();
    fs::write(
        root.join(format!("docs/{}.txt", "long".repeat(40))),
        b"long name",
    )
    .unwrap();
    fs::set_permissions(root.join("docs/a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("../docs/a.txt", root.join("данные/link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("docs/outside")).unwrap();
}

/// Extracts `archive` with GNU tar (`tar --zstd -xf`) into a new directory.
pub fn gnu_tar_extract(archive: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.zst");
    fs::write(&path, archive).unwrap();
    let st = std::process::Command::new("tar")
        .args(["--zstd", "-xf"])
        .arg(&path)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

/// A planner holding one inline catalog file and `root` as the directory source `files`.
pub fn sample_planner(root: &Path) -> dsbackup_engine::Planner {
    let mut planner = dsbackup_engine::Planner::new();
    planner
        .add_inline("catalog/users.jsonl", b"{\"id\":1}\n".to_vec())
        .unwrap();
    planner
        .add_tree("files", "directory", root, "sources/files")
        .unwrap();
    planner
}

/// Extracts what the reader hands over into a directory, as a restore would.
pub struct Extract(pub std::path::PathBuf);

impl dsbackup_engine::Placer for Extract {
    fn begin(&mut self, _: &dsbackup_engine::Manifest) -> dsbackup_engine::EngineResult<()> {
        Ok(())
    }
    fn dir(&mut self, e: &dsbackup_engine::Entry) -> dsbackup_engine::EngineResult<()> {
        fs::create_dir_all(self.0.join(&e.path)).map_err(EngineError::Sink)
    }
    fn file(
        &mut self,
        e: &dsbackup_engine::Entry,
        content: &mut dyn Read,
    ) -> dsbackup_engine::EngineResult<()> {
        let mut f = fs::File::create(self.0.join(&e.path)).map_err(EngineError::Sink)?;
        std::io::copy(content, &mut f).map_err(EngineError::Sink)?;
        fs::set_permissions(self.0.join(&e.path), fs::Permissions::from_mode(e.mode))
            .map_err(EngineError::Sink)
    }
    fn symlink(
        &mut self,
        e: &dsbackup_engine::Entry,
        target: &str,
    ) -> dsbackup_engine::EngineResult<()> {
        std::os::unix::fs::symlink(target, self.0.join(&e.path)).map_err(EngineError::Sink)
    }
}

/// Restores `archive` (checked against `summary_sha`) into a new directory.
pub fn extract_all(archive: &[u8], summary_sha: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let control = dsbackup_engine::Control::new(&cancel, &no_progress);
    let mut placer = Extract(out.path().to_path_buf());
    dsbackup_engine::read_archive(
        archive,
        Some(summary_sha),
        Some(false),
        &mut placer,
        &control,
    )
    .unwrap();
    out
}

/// `archive` with bit 0x40 flipped at `at`, or at the first place after it where the flip
/// shows: a flipped bit inside a compressed block can decode to exactly the same bytes (a
/// match's offset moved onto an identical run), and then there is no damage to find.
pub fn visible_flip(archive: &[u8], at: usize) -> Vec<u8> {
    let original = zstd::decode_all(archive).unwrap();
    (at..archive.len())
        .map(|i| {
            let mut flipped = archive.to_vec();
            flipped[i] ^= 0x40;
            flipped
        })
        .find(|flipped| zstd::decode_all(flipped.as_slice()).ok().as_ref() != Some(&original))
        .unwrap()
}
