//! The storage conformance suite: one set of checks every backend must pass, called with a
//! fresh, empty storage. Checks panic with a message naming the broken rule.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};

use dsbackup_core::{CoreError, Storage};

/// Runs every check against `s`, which must start empty.
pub fn run_all(s: &dyn Storage) {
    assert!(s.list().unwrap().is_empty(), "starts empty");

    // Uncommitted objects are invisible, and vanish when dropped.
    let mut w = s.create("a.tar.zst").unwrap();
    w.write_all(b"partial").unwrap();
    assert_eq!(
        s.size("a.tar.zst").unwrap(),
        None,
        "invisible before commit"
    );
    drop(w);
    assert!(
        s.list().unwrap().is_empty(),
        "a dropped writer leaves nothing"
    );

    // Commit makes it readable, byte for byte, including large objects.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut w = s.create("a.tar.zst").unwrap();
    for chunk in data.chunks(65_536) {
        w.write_all(chunk).unwrap();
    }
    assert_eq!(w.commit().unwrap(), data.len() as u64);
    assert_eq!(s.size("a.tar.zst").unwrap(), Some(data.len() as u64));
    let mut back = Vec::new();
    s.open("a.tar.zst").unwrap().read_to_end(&mut back).unwrap();
    assert!(back == data, "reads back byte for byte");
    assert_eq!(s.list().unwrap(), vec!["a.tar.zst".to_string()]);

    // A second commit replaces.
    let mut w = s.create("a.tar.zst").unwrap();
    w.write_all(b"v2").unwrap();
    w.commit().unwrap();
    assert_eq!(s.size("a.tar.zst").unwrap(), Some(2));

    // Missing objects.
    assert!(matches!(s.open("nope"), Err(CoreError::NotFound(_))));
    assert_eq!(s.size("nope").unwrap(), None);
    assert!(!s.delete("nope").unwrap());

    // Hostile names are refused.
    for bad in ["", "../x", "a/b", ".hidden", "x\0y", ".."] {
        assert!(
            matches!(s.create(bad), Err(CoreError::Invalid(_))),
            "{bad:?}"
        );
        assert!(s.open(bad).is_err(), "{bad:?}");
    }

    assert!(s.delete("a.tar.zst").unwrap());
    assert!(s.list().unwrap().is_empty(), "ends empty");
}
