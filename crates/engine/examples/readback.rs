//! Reads an archive back through the engine and prints the time: `verify` alone, or, with a
//! destination, every entry also written below it (directories, files, links; what a restore's
//! staging does, without the service around it; from a pool of threads unless
//! `SERIAL` is set). Peak memory at a million entries is measured
//! on this (`/usr/bin/time -v`). Not a test; run in release:
//! `cargo run --release -p dsbackup-engine --example readback -- ARCHIVE [DEST]`.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use dsbackup_engine::manifest::{Entry, Manifest};
use dsbackup_engine::pool::{FilePool, NewFile, PoolError};
use dsbackup_engine::{Control, EngineError, EngineResult, Placer, read_archive};

struct ToDir(PathBuf, Option<FilePool>);

fn sink(e: std::io::Error) -> EngineError {
    EngineError::Sink(e)
}

impl Placer for ToDir {
    fn begin(&mut self, _: &Manifest) -> EngineResult<()> {
        Ok(())
    }
    fn dir(&mut self, e: &Entry) -> EngineResult<()> {
        fs::create_dir_all(self.0.join(&e.path)).map_err(sink)
    }
    fn file(&mut self, e: &Entry, content: &mut dyn Read) -> EngineResult<()> {
        let path = self.0.join(&e.path);
        let Some(pool) = self.1.as_mut() else {
            let mut f = fs::File::create(path).map_err(sink)?;
            return std::io::copy(content, &mut f).map(|_| ()).map_err(sink);
        };
        let file = NewFile {
            path,
            mode: e.mode,
            mtime: Some(e.mtime),
        };
        pool.write(file, e.size, content).map_err(|e| match e {
            PoolError::Content(e) | PoolError::Write(_, e) => sink(e),
        })
    }
    fn symlink(&mut self, e: &Entry, target: &str) -> EngineResult<()> {
        std::os::unix::fs::symlink(target, self.0.join(&e.path)).map_err(sink)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let archive = args.next().ok_or("usage: readback ARCHIVE [DEST]")?;
    let dest = args.next().map(PathBuf::from);
    let cancel = AtomicBool::new(false);
    let none = |_: u64, _: u64| {};
    let control = Control::new(&cancel, &none);
    let t0 = Instant::now();
    let input = std::io::BufReader::with_capacity(1 << 20, fs::File::open(&archive)?);
    let report = match dest {
        Some(dir) => {
            fs::create_dir_all(&dir)?;
            let pool = std::env::var_os("SERIAL")
                .is_none()
                .then(FilePool::for_machine);
            let mut placer = ToDir(dir, pool);
            let report = read_archive(input, None, None, &mut placer, &control)?;
            if let Some(pool) = placer.1.take() {
                pool.finish().map_err(|e| format!("{e:?}"))?;
            }
            report
        }
        None => dsbackup_engine::verify(input, None)?,
    };
    println!(
        "read {} entries, {:.1} MiB of content in {:.2} s",
        report.entries,
        report.content_bytes as f64 / (1 << 20) as f64,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
