//! The SQLite dump's temporary copy: private while it exists, gone before the dump is read,
//! and gone too when the copy fails.

use std::io::Read;
use std::path::Path;

use super::*;
use crate::scrub::Secrets;

fn conn(path: &Path) -> Conn {
    Conn {
        name: "app".into(),
        kind: DbKind::Sqlite,
        endpoint: None,
        path: Some(path.to_owned()),
        bin_dir: None,
        secrets: Secrets::default(),
    }
}

fn seed(path: &Path) {
    let db = Connection::open(path).expect("open");
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
         INSERT INTO notes (body) SELECT 'note ' || i FROM n;",
    )
    .expect("seed");
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_copy_is_gone_before_the_dump_is_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let live = dir.path().join("app.db");
    seed(&live);
    let parent = tempfile::tempdir().expect("parent");
    let mut dump = dump_in(&conn(&live), parent.path()).expect("dump");
    assert_eq!(names(parent.path()), Vec::<String>::new());
    let mut bytes = Vec::new();
    dump.read_to_end(&mut bytes).expect("read");
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let summary = dump.finish().expect("finish");
    assert_eq!(summary.info.rows("notes"), Some(500));
    assert_eq!(summary.bytes, bytes.len() as u64);
}

#[test]
fn a_failed_copy_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let live = dir.path().join("app.db");
    std::fs::write(&live, vec![7u8; 8192]).expect("not a database");
    let parent = tempfile::tempdir().expect("parent");
    let Err(err) = dump_in(&conn(&live), parent.path()) else {
        panic!("a file that is not a database was dumped");
    };
    assert!(matches!(err, DbError::Sqlite { .. }), "{err}");
    assert_eq!(names(parent.path()), Vec::<String>::new());
}

#[test]
fn the_copy_is_made_in_a_directory_only_its_owner_can_enter() {
    let parent = tempfile::tempdir().expect("parent");
    let scratch = scratch_in(parent.path()).expect("scratch");
    let mode = std::fs::metadata(scratch.path())
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    assert!(
        scratch
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .starts_with(".dsb-sqlite-dump-")
    );
}

#[test]
fn an_unwritable_temporary_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let live = dir.path().join("app.db");
    seed(&live);
    let missing = dir.path().join("no-such-dir");
    let Err(err) = dump_in(&conn(&live), &missing) else {
        panic!("dumped without a directory to copy into");
    };
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}
