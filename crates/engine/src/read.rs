//! Reading an archive back: every entry checked against `manifest.json` as it streams (path,
//! order, type, size, BLAKE3), the manifest's format version checked, duplicates and extras
//! refused, and the SHA-256 of the whole archive compared when one is expected. Reports say
//! what failed and where.

use std::collections::HashMap;
use std::io::{self, Read};

use crate::error::{EngineError, EngineResult};
use crate::hashing::{Blake3Reader, HashingReader};
use crate::manifest::{EntryKind, FORMAT, FORMAT_VERSION, MANIFEST_PATH, Manifest, is_safe_path};

/// What a verification found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub manifest: Manifest,
    /// Entries checked, the manifest included.
    pub entries: usize,
    pub content_bytes: u64,
    /// Upper-case hex SHA-256 of the archive.
    pub sha256: String,
    pub size: u64,
}

fn corrupt(msg: impl Into<String>) -> EngineError {
    EngineError::Corrupt(msg.into())
}

/// Reads and checks the manifest from the head of an archive stream.
pub(crate) fn read_manifest<R: Read>(entry: &mut tar::Entry<R>) -> EngineResult<Manifest> {
    let path = entry
        .path()
        .map_err(|e| corrupt(format!("unreadable first entry: {e}")))?;
    if path.to_str() != Some(MANIFEST_PATH) {
        return Err(corrupt(format!(
            "first entry is {:?}, not {MANIFEST_PATH}",
            path.display()
        )));
    }
    if entry.size() > 512 << 20 {
        return Err(corrupt("manifest.json is implausibly large"));
    }
    let mut text = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut text)
        .map_err(|e| corrupt(format!("manifest.json: {e}")))?;
    let m: Manifest = serde_json::from_slice(&text)
        .map_err(|e| corrupt(format!("manifest.json is not valid: {e}")))?;
    if m.format != FORMAT {
        return Err(corrupt(format!(
            "not a dsbackup archive (format {:?})",
            m.format
        )));
    }
    if m.format_version == 0 || m.format_version > FORMAT_VERSION {
        return Err(corrupt(format!(
            "unsupported archive format version {} (this dsbackup reads up to {FORMAT_VERSION})",
            m.format_version
        )));
    }
    Ok(m)
}

/// Verifies a whole archive from `input`; `expect_sha256` (hex, any case) is checked at the end.
///
/// Fails with `Corrupt` naming the first problem: not zstd/tar, bad manifest, an entry out of
/// order, of the wrong type, size or hash, a duplicate or unknown entry, a missing entry,
/// truncation, or a SHA-256 mismatch.
pub fn verify<R: Read>(input: R, expect_sha256: Option<&str>) -> EngineResult<VerifyReport> {
    let mut hashed = HashingReader::new(input);
    let (manifest, entries, content_bytes) = {
        let dec = zstd::stream::Decoder::new(&mut hashed)
            .map_err(|e| corrupt(format!("not a zstd stream: {e}")))?;
        let mut archive = tar::Archive::new(dec);
        let mut iter = archive
            .entries()
            .map_err(|e| corrupt(format!("not a tar stream: {e}")))?;
        let mut first = iter
            .next()
            .ok_or_else(|| corrupt("the archive is empty"))?
            .map_err(|e| corrupt(format!("cannot read the first entry: {e}")))?;
        let manifest = read_manifest(&mut first)?;
        drop(first);
        let index: HashMap<&str, usize> = manifest
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.path.as_str(), i))
            .collect();
        if index.len() != manifest.entries.len() {
            return Err(corrupt("the manifest lists a path twice"));
        }
        let mut next = 0usize;
        let mut bytes = 0u64;
        for item in iter {
            let mut entry =
                item.map_err(|e| corrupt(format!("truncated or damaged after entry {next}: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| corrupt(format!("entry {}: bad path: {e}", next + 1)))?;
            let path = path
                .to_str()
                .ok_or_else(|| corrupt("entry path is not UTF-8"))?
                .trim_end_matches('/')
                .to_string();
            if !is_safe_path(&path) {
                return Err(corrupt(format!("unsafe entry path {path:?}")));
            }
            let Some(&i) = index.get(path.as_str()) else {
                return Err(corrupt(format!("{path}: not in the manifest")));
            };
            if i != next {
                return Err(corrupt(if i < next {
                    format!("{path}: duplicate entry")
                } else {
                    format!("{}: missing from the archive", manifest.entries[next].path)
                }));
            }
            let want = &manifest.entries[i];
            let kind = entry.header().entry_type();
            let kind_ok = match want.kind {
                EntryKind::File => kind.is_file(),
                EntryKind::Dir => kind.is_dir(),
                EntryKind::Symlink => kind.is_symlink(),
            };
            if !kind_ok {
                return Err(corrupt(format!(
                    "{path}: entry type differs from the manifest"
                )));
            }
            if want.kind == EntryKind::File {
                if entry.size() != want.size {
                    return Err(corrupt(format!(
                        "{path}: size {} differs from the manifest's {}",
                        entry.size(),
                        want.size
                    )));
                }
                let mut r = Blake3Reader {
                    inner: &mut entry,
                    hasher: blake3::Hasher::new(),
                    count: 0,
                };
                io::copy(&mut r, &mut io::sink())
                    .map_err(|e| corrupt(format!("{path}: truncated or damaged: {e}")))?;
                if r.count != want.size {
                    return Err(corrupt(format!("{path}: truncated")));
                }
                if want.blake3.as_deref() != Some(r.hasher.finalize().to_hex().as_str()) {
                    return Err(corrupt(format!(
                        "{path}: content does not match its BLAKE3 in the manifest"
                    )));
                }
                bytes += r.count;
            }
            next += 1;
        }
        if next != manifest.entries.len() {
            return Err(corrupt(format!(
                "{}: missing from the archive (truncated?)",
                manifest.entries[next].path
            )));
        }
        (manifest, next + 1, bytes)
    };
    let (sha256, size) = hashed
        .finish()
        .map_err(|e| corrupt(format!("reading the archive: {e}")))?;
    if let Some(want) = expect_sha256
        && !want.eq_ignore_ascii_case(&sha256)
    {
        return Err(corrupt(format!(
            "archive SHA-256 {sha256} differs from the recorded {}",
            want.to_uppercase()
        )));
    }
    Ok(VerifyReport {
        manifest,
        entries,
        content_bytes,
        sha256,
        size,
    })
}
