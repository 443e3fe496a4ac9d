//! `dsbackup extract`: one entry out of a local format 2 archive, offline, without reading
//! what precedes it (the engine seeks to the entry's frame through the index and checks each
//! frame it reads against the index). The file is written beside its destination and renamed
//! into place only once complete, so a damaged archive leaves nothing behind.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Copies the file `entry` of `archive` to `output` (standard output when `None`).
///
/// Fails when the archive is encrypted, not format 2, lacks the entry, or a frame read does
/// not match the index.
pub fn extract(archive: PathBuf, entry: String, output: Option<PathBuf>) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::open(&archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut magic = [0u8; 21];
    let n = file.read(&mut magic)?;
    if magic[..n].starts_with(b"age-encryption.org/v1") {
        anyhow::bail!(
            "{}: the archive is encrypted; decrypt it first (age -d -i KEY -o PLAIN ARCHIVE)",
            archive.display()
        );
    }
    let mut input = std::io::BufReader::new(file);
    match output {
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let e = dsbackup_engine::extract::extract_entry(&mut input, &entry, &mut out)
                .map_err(|e| anyhow::anyhow!("{}: {e}", archive.display()))?;
            out.flush()?;
            eprintln!("{}: {} bytes", e.path, e.size);
        }
        Some(dest) => {
            let partial = partial_path(&dest);
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&partial)
                .with_context(|| format!("creating {}", partial.display()))?;
            let done = dsbackup_engine::extract::extract_entry(&mut input, &entry, &mut out)
                .map_err(|e| anyhow::anyhow!("{}: {e}", archive.display()))
                .and_then(|e| {
                    out.sync_all()?;
                    std::fs::rename(&partial, &dest)?;
                    Ok(e)
                });
            match done {
                Ok(e) => eprintln!("{} → {}: {} bytes", e.path, dest.display(), e.size),
                Err(err) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
