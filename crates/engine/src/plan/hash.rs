//! Format 1's hashing pass: every planned file read once (on up to one thread per core) for
//! its BLAKE3, with the file's stamp before and after, so the writer can check it is unchanged.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Origin, Planned, Stamp};
use crate::write::Control;

/// Hashes the files at `files` (indices into `entries`) on up to one thread per core; results
/// in the same order. Stops early (with partial results) when canceled.
pub(super) fn hash_all(
    entries: &[Planned],
    files: &[usize],
    control: &Control,
    total: u64,
) -> Vec<Result<Hashed, std::io::Error>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let slots: Vec<Mutex<Option<Result<Hashed, std::io::Error>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= files.len() || control.canceled() {
                        break;
                    }
                    if let Origin::Disk(path) = &entries[files[k]].origin {
                        let r = hash_file(path, &mut buf, control, &done, total);
                        if let Ok(mut slot) = slots[k].lock() {
                            *slot = Some(r);
                        }
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(std::io::Error::other("not hashed")))
        })
        .collect()
}

/// A file's hash and the stamp it had while being hashed.
pub(super) struct Hashed {
    pub blake3: String,
    pub stamp: Stamp,
}

/// Hashes a file; a file that changes while it is read is read again (up to three times).
fn hash_file(
    path: &Path,
    buf: &mut [u8],
    control: &Control,
    done: &AtomicU64,
    total: u64,
) -> Result<Hashed, std::io::Error> {
    for _ in 0..3 {
        let mut file = fs::File::open(path)?;
        let before = Stamp::of(&file)?;
        let mut hasher = blake3::Hasher::new();
        let mut count = 0u64;
        loop {
            if control.canceled() {
                return Err(std::io::Error::other("canceled"));
            }
            let n = file.read(buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            count += n as u64;
            let was = done.fetch_add(n as u64, Ordering::Relaxed);
            if was >> 20 != (was + n as u64) >> 20 {
                control.report(was + n as u64, total);
            }
        }
        let after = Stamp::of(&file)?;
        if before == after && count == after.size {
            return Ok(Hashed {
                blake3: hasher.finalize().to_hex().to_string(),
                stamp: after,
            });
        }
    }
    Err(std::io::Error::other("keeps changing while being read"))
}
