//! Reading an archive back, for verification or extraction: every entry is checked against
//! `manifest.json` as it streams (path, order, type, size, BLAKE3), the format version checked,
//! duplicates, extras, hard links, devices, unsafe paths, entries below a symlink refused, and
//! the archive's SHA-256 compared when one is expected. Before any entry reaches the placer,
//! every manifest entry is checked against the fixed layout (`layout.rs`): its place, its kind
//! and, for links, that they resolve inside their source.
//! Decompression runs on its own thread, overlapping hashing and writing. Reports say what
//! failed and where.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::mpsc;

use crate::error::{EngineError, EngineResult};
use crate::hashing::Blake3Reader;
use crate::header::HEADER_PATH;
use crate::layout;
use crate::manifest::{
    Entry, EntryKind, FORMAT, FORMAT_VERSION, MANIFEST_PATH, Manifest, is_safe_path,
};
use crate::read2;
use crate::stream::{ChannelReader, Msg};
use crate::unframe;
use crate::write::Control;

/// What a verification or extraction found.
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

/// Receives the entries of an archive being read, each already checked against the manifest.
/// A file's content reader yields exactly the declared size and its BLAKE3 is checked after
/// the placer returns, so a placer must treat what it wrote as provisional until the whole
/// read succeeds.
pub trait Placer {
    /// Called once with the manifest, before any entry.
    fn begin(&mut self, manifest: &Manifest) -> EngineResult<()>;
    fn dir(&mut self, entry: &Entry) -> EngineResult<()>;
    fn file(&mut self, entry: &Entry, content: &mut dyn Read) -> EngineResult<()>;
    fn symlink(&mut self, entry: &Entry, target: &str) -> EngineResult<()>;
}

/// A placer that only reads.
#[derive(Default)]
pub(crate) struct Discard {
    scratch: Vec<u8>,
}

/// Reads `r` to its end into `scratch` (made once, reused): `io::copy` through a `dyn Read`
/// would zero its buffer for every read. Returns how many bytes there were.
///
/// Fails with `r`'s error.
pub(crate) fn drain(r: &mut dyn Read, scratch: &mut Vec<u8>) -> io::Result<u64> {
    if scratch.len() < 64 << 10 {
        scratch.resize(64 << 10, 0);
    }
    let mut total = 0u64;
    loop {
        match r.read(scratch) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Placer for Discard {
    fn begin(&mut self, _: &Manifest) -> EngineResult<()> {
        Ok(())
    }
    fn dir(&mut self, _: &Entry) -> EngineResult<()> {
        Ok(())
    }
    fn file(&mut self, _: &Entry, content: &mut dyn Read) -> EngineResult<()> {
        drain(content, &mut self.scratch)
            .map(|_| ())
            .map_err(|e| corrupt(format!("truncated or damaged: {e}")))
    }
    fn symlink(&mut self, _: &Entry, _: &str) -> EngineResult<()> {
        Ok(())
    }
}

/// The refusal of an archive that is (`is_dump`) or is not a dump when the other was asked for.
pub(crate) fn dump_mismatch(is_dump: bool) -> EngineError {
    corrupt(if is_dump {
        "this is a whole-instance dump; restore it with dump=true"
    } else {
        "this is a portal backup, not a dump"
    })
}

pub(crate) fn corrupt(msg: impl Into<String>) -> EngineError {
    EngineError::Corrupt(msg.into())
}

fn read_manifest<R: Read>(entry: &mut tar::Entry<R>) -> EngineResult<Manifest> {
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
    // Parsed as it streams: no copy of the text, and a repeated path stops it at once.
    let size = entry.size();
    let m: Manifest = serde_json::from_reader(io::BufReader::new(entry.take(size)))
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
    for e in &m.entries {
        if !is_safe_path(&e.path) {
            return Err(corrupt(format!(
                "unsafe entry path {:?} in the manifest",
                e.path
            )));
        }
    }
    Ok(m)
}

/// Verifies a whole archive from `input`; `expect_sha256` (hex, any case) is checked at the end.
///
/// Fails with `Corrupt` naming the first problem.
pub fn verify<R: Read + Send>(input: R, expect_sha256: Option<&str>) -> EngineResult<VerifyReport> {
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let none = |_: u64, _: u64| {};
    read_archive(
        input,
        expect_sha256,
        None,
        &mut Discard::default(),
        &Control::new(&cancel, &none),
    )
}

/// Reads an archive, checking everything [`verify`] checks, and hands each entry to `placer`.
/// `dump` is what the caller expects (a portal backup or a dump); `None` takes the manifest's
/// word, which only chooses between the two fixed layouts. Progress counts content bytes.
///
/// Fails with `Corrupt` naming the first problem, with the placer's own errors, or `Canceled`.
pub fn read_archive<R: Read + Send>(
    input: R,
    expect_sha256: Option<&str>,
    dump: Option<bool>,
    placer: &mut dyn Placer,
    control: &Control,
) -> EngineResult<VerifyReport> {
    // Two frames ahead of the reader (each a promise of up to MAX_FRAME bytes, or a 1 MiB
    // chunk), beside the one it reads and the ones being decompressed: more bought nothing on
    // the bench archive (verify 1.4–1.8 s with 1 to 6 ahead), and each costs memory.
    let (tx, rx) = mpsc::sync_channel::<Msg>(2);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> io::Result<(String, u64)> {
            let result = unframe::produce(input, &tx);
            if let Err(e) = &result {
                let _ = tx.send(Msg::Failed(io::Error::new(e.kind(), e.to_string())));
            }
            result
        });
        let walked = walk(ChannelReader::new(rx), dump, placer, control);
        let produced = producer
            .join()
            .map_err(|_| corrupt("the decompression thread failed"))?;
        let (manifest, entries, content_bytes) = walked?;
        let (sha256, size) =
            produced.map_err(|e| corrupt(format!("not a valid zstd stream: {e}")))?;
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
    })
}

fn walk(
    reader: ChannelReader,
    dump: Option<bool>,
    placer: &mut dyn Placer,
    control: &Control,
) -> EngineResult<(Manifest, usize, u64)> {
    let frames = Rc::clone(&reader.frames);
    let mut archive = tar::Archive::new(reader);
    let (walked, index_offset) = {
        let mut iter = archive
            .entries_with_seek()
            .map_err(|e| corrupt(format!("not a tar stream: {e}")))?;
        let mut first = iter
            .next()
            .ok_or_else(|| corrupt("the archive is empty"))?
            .map_err(|e| corrupt(format!("not a dsbackup archive: {e}")))?;
        let name = first.path_bytes().into_owned();
        if name.as_slice() == HEADER_PATH.as_bytes() {
            let header = read2::read_header(&mut first)?;
            drop(first);
            let (walked, offset) = read2::walk_v2(header, iter, &frames, dump, placer, control)?;
            (walked, Some(offset))
        } else {
            let manifest = read_manifest(&mut first)?;
            drop(first);
            (walk_v1(manifest, iter, dump, placer, control)?, None)
        }
    };
    if let Some(offset) = index_offset {
        read2::check_end(archive.into_inner(), &frames, offset)?;
    }
    Ok(walked)
}

fn walk_v1<R: Read>(
    manifest: Manifest,
    iter: tar::Entries<'_, R>,
    dump: Option<bool>,
    placer: &mut dyn Placer,
    control: &Control,
) -> EngineResult<(Manifest, usize, u64)> {
    let index: HashMap<&str, usize> = manifest
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.as_str(), i))
        .collect();
    if index.len() != manifest.entries.len() {
        return Err(corrupt("the manifest lists a path twice"));
    }
    if let Some(want) = dump
        && want != manifest.dump
    {
        return Err(dump_mismatch(manifest.dump));
    }
    layout::check_entries(&manifest.entries, manifest.dump).map_err(corrupt)?;
    let total: u64 = manifest.entries.iter().map(|e| e.size).sum();
    placer.begin(&manifest)?;
    let mut dirs: HashSet<String> = HashSet::new();
    let mut scratch = Vec::new();
    let mut next = 0usize;
    let mut bytes = 0u64;
    for item in iter {
        control.check()?;
        let mut entry =
            item.map_err(|e| corrupt(format!("truncated or damaged after entry {next}: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).map_err(|_| corrupt("entry path is not UTF-8"))?;
        let path = path.trim_end_matches('/').to_string();
        if !is_safe_path(&path) {
            return Err(corrupt(format!(
                "unsafe entry path {path:?} (absolute, '..' or empty parts)"
            )));
        }
        let kind = entry.header().entry_type();
        if kind.is_hard_link()
            || kind.is_character_special()
            || kind.is_block_special()
            || kind.is_fifo()
        {
            return Err(corrupt(format!(
                "{path}: hard links, devices and pipes are refused"
            )));
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
        if let Some((parent, _)) = path.rsplit_once('/')
            && !dirs.contains(parent)
        {
            return Err(corrupt(format!(
                "{path}: its parent is not a directory of the archive"
            )));
        }
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
        match want.kind {
            EntryKind::Dir => {
                placer.dir(want)?;
                dirs.insert(path.clone());
            }
            EntryKind::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                if want.target.as_deref() != Some(target.as_str()) {
                    return Err(corrupt(format!(
                        "{path}: link target differs from the manifest"
                    )));
                }
                placer.symlink(want, &target)?;
            }
            EntryKind::File => {
                if entry.size() != want.size {
                    return Err(corrupt(format!(
                        "{path}: size {} differs from the manifest's {}",
                        entry.size(),
                        want.size
                    )));
                }
                let mut r = Blake3Reader {
                    inner: (&mut entry).take(want.size),
                    hasher: blake3::Hasher::new(),
                    count: 0,
                };
                placer.file(want, &mut r)?;
                drain(&mut r, &mut scratch)
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
                control.report(bytes, total);
            }
        }
        next += 1;
    }
    if next != manifest.entries.len() {
        return Err(corrupt(format!(
            "{}: missing from the archive (truncated?)",
            manifest.entries[next].path
        )));
    }
    Ok((manifest, next + 1, bytes))
}
