//! Early writeback of a restore's staged files: every [`STEP`] bytes staged, a `syncfs` of the
//! staging file system starts on a thread of its own (one at a time), so the disk writes while
//! the archive is still being read, and the `syncfs` that makes the staged trees durable
//! before the swap ([`super::swap::persist_staged`]) finds little left to write — what the
//! backup side does with its early `sync_data`. An error of a background `syncfs` (a failed
//! writeback) is kept and fails the restore when staging ends.

use std::path::Path;
use std::thread::JoinHandle;

/// Staged bytes between two background flushes.
pub const STEP: u64 = 128 << 20;

/// The background flushes of one restore.
#[derive(Debug, Default)]
pub struct Writeback {
    unsynced: u64,
    running: Option<JoinHandle<std::io::Result<()>>>,
    failed: Option<std::io::Error>,
}

impl Writeback {
    /// Notes `bytes` staged in the directory `dir`; starts a flush of its file system when
    /// enough is unsynced and none is running.
    pub fn staged(&mut self, dir: &Path, bytes: u64) {
        self.unsynced = self.unsynced.saturating_add(bytes);
        if self.unsynced < STEP || self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        self.reap();
        self.unsynced = 0;
        let dir = dir.to_path_buf();
        self.running = Some(std::thread::spawn(move || {
            let d = std::fs::File::open(&dir)?;
            rustix::fs::syncfs(&d).map_err(std::io::Error::from)
        }));
    }

    /// Waits for the flush running, if any; returns the first error any flush met.
    ///
    /// Fails when a background `syncfs` failed.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.reap();
        self.failed.take().map_or(Ok(()), Err)
    }

    fn reap(&mut self) {
        let Some(h) = self.running.take() else { return };
        let outcome = h
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("a background sync panicked")));
        if let Err(e) = outcome
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        self.reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_starts_every_step_and_its_failure_is_reported_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writeback::default();
        w.staged(dir.path(), STEP - 1);
        assert!(w.running.is_none(), "nothing to flush yet");
        w.staged(dir.path(), 1);
        assert!(w.running.is_some());
        assert_eq!(w.unsynced, 0);
        w.finish().unwrap();

        // A flush that cannot even open its directory fails the restore when staging ends.
        w.staged(&dir.path().join("gone"), STEP);
        let err = w.finish().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        // Reported once; the next staging starts clean.
        w.finish().unwrap();
    }
}
