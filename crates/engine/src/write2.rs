//! Writing a format 2 archive in one pass: `dsbackup.json` alone in the first frame, then
//! every planned entry, each file read exactly once while its bytes go through tar into frames
//! ([`crate::frames`]: compressed in parallel, hashed with BLAKE3 per frame, recorded in the
//! index spill), then `dsbackup.index` from the spill and a skippable trailer frame that says
//! where the index starts. Nothing is held whole in memory. A file is stamped (identity, size,
//! mtime, ctime) when opened and again when read: if it moved, the backup fails rather than
//! archiving a torn copy. With a parent archive, runs of entries unchanged since it are copied
//! from it as compressed frames instead (`reuse.rs`).

use std::collections::VecDeque;
use std::io::{self, Read, Seek, Write};

use crate::error::{EngineError, EngineResult};
use crate::frames::FrameSink;
use crate::header::{HEADER_PATH, Header, INDEX_PATH};
use crate::index::{Ident, IndexEntry, trailer};
use crate::manifest::{Entry, EntryKind, SourceInfo};
use crate::plan::{Entries, Origin, Plan, Planned, Stamp, StreamReader};
use crate::reuse::{self, Reuse, ReuseReport};
use crate::share::ArchiveSink;
use crate::write::{ArchiveSummary, Control, WriteOptions, header_for};
use crate::write2_streams::{open_streams, stream_parts};

fn sink_err(e: io::Error) -> EngineError {
    EngineError::Sink(e)
}

/// Streams `plan` into `sink` as a format 2 archive. Files that vanished or cannot be opened
/// since planning are left out and named in the summary's warnings.
///
/// Fails with `Sink` when writing fails, `Changed` when a file changed while it was read, and
/// `Canceled` when canceled; the caller then discards the sink.
pub fn write_v2<W: ArchiveSink>(
    plan: &Plan,
    sink: W,
    opts: &WriteOptions,
    control: &Control,
) -> EngineResult<(W, ArchiveSummary)> {
    // Streamed sources start first, so the header can say what produces them.
    let mut streams = open_streams(plan, control)?;
    let mut sources = plan.sources.clone();
    for s in &mut sources {
        if let Some((_, reader)) = streams.iter().find(|(path, _)| *path == s.prefix) {
            s.version = reader.version();
        }
    }
    let header = Header::new(
        opts.dsbackup_version.clone(),
        opts.portal.clone(),
        opts.dump,
        sources,
        plan.total_bytes(),
    );
    let header_bytes =
        serde_json::to_vec_pretty(&header).map_err(|e| EngineError::Corrupt(e.to_string()))?;
    let spill = match &opts.spill_dir {
        Some(dir) => tempfile::tempfile_in(dir),
        None => tempfile::tempfile(),
    }
    .map_err(sink_err)?;
    let frames = FrameSink::new(sink, opts.level, opts.threads, spill).map_err(sink_err)?;
    let mut tar = tar::Builder::new(frames);
    tar.mode(tar::HeaderMode::Complete);

    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let size = header_bytes.len() as u64;
    begin(&mut tar, &own_entry(HEADER_PATH, now), size, None, false)?;
    let mut h = header_for(tar::EntryType::Regular, size, 0o600, now);
    tar.append_data(&mut h, HEADER_PATH, header_bytes.as_slice())
        .map_err(sink_err)?;

    let mut state = Progress {
        buf: Vec::new(),
        done: 0,
        total: plan.total_bytes(),
        entries: 1,
        warnings: Vec::new(),
        cutoff_ns: trust_cutoff(),
    };
    let mut report = ReuseReport::default();
    let mut parent = match &opts.parent {
        Some(p) => Reuse::open(p.clone(), opts.spill_dir.as_deref())
            .map_err(|note| report.note = Some(note))
            .ok(),
        None => None,
    };
    let mut entries = plan.entries();
    let mut ahead = VecDeque::new();
    loop {
        control.check()?;
        let p = match ahead.pop_front() {
            Some(p) => p,
            None => match entries.next() {
                Some(p) => p?,
                None => break,
            },
        };
        if let Some(parent) = parent.as_mut()
            && copied(parent, &p, &mut entries, &mut ahead, &mut tar, &mut state)?
        {
            control.report(state.done, state.total);
            continue;
        }
        let first = state.entries == 1;
        append(
            &mut tar,
            &p,
            first,
            &plan.sources,
            &mut streams,
            &mut state,
            control,
        )?;
    }
    if let Some(parent) = parent {
        report = parent.finish()?;
    }

    // The index: every frame so far is written and listed; it starts a frame of its own.
    let frames = tar.get_mut();
    let (mut spill, index_offset) = frames.close_index().map_err(sink_err)?;
    let len = spill.seek(io::SeekFrom::End(0)).map_err(sink_err)?;
    spill.rewind().map_err(sink_err)?;
    begin(&mut tar, &own_entry(INDEX_PATH, now), len, None, true)?;
    let mut h = header_for(tar::EntryType::Regular, len, 0o600, now);
    tar.append_data(&mut h, INDEX_PATH, (&mut spill).take(len))
        .map_err(sink_err)?;
    let frames = tar.into_inner().map_err(sink_err)?;
    let (sink, sha256, size) = frames.finish(&trailer(index_offset)).map_err(sink_err)?;
    control.report(state.total, state.total);
    Ok((
        sink,
        ArchiveSummary {
            sha256,
            size,
            entries: state.entries + 1,
            content_bytes: state.done,
            manifest: header.to_manifest(),
            warnings: state.warnings,
            reuse: report,
        },
    ))
}

/// Identities of files changed less than a second before now are not recorded: a write within
/// the file system's timestamp granularity after this backup could leave them unchanged.
fn trust_cutoff() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    now - 1_000_000_000
}

/// Copies the parent's segment that starts with `p` when it holds exactly `p` and the entries
/// planned after it (taken from `entries` into `ahead` as needed); returns whether it did.
///
/// Fails with `Parent` when the parent cannot be read, `Sink` when writing fails.
fn copied<W: ArchiveSink>(
    parent: &mut Reuse,
    p: &Planned,
    entries: &mut Entries<'_>,
    ahead: &mut VecDeque<Planned>,
    tar: &mut tar::Builder<FrameSink<W>>,
    state: &mut Progress,
) -> EngineResult<bool> {
    let Some(s) = parent.candidate(&p.entry.path) else {
        return Ok(false);
    };
    let records = parent.records(s)?;
    let want: usize = records.iter().map(|f| f.entries.len()).sum();
    while ahead.len() + 1 < want {
        match entries.next() {
            Some(next) => ahead.push_back(next?),
            None => return Ok(false),
        }
    }
    let theirs = records.iter().flat_map(|f| &f.entries);
    let ours = std::iter::once(p).chain(ahead.iter());
    if !theirs.zip(ours).all(|(q, p)| reuse::matches(q, p)) {
        return Ok(false);
    }
    parent.copy(s, records, tar.get_mut())?;
    let taken = std::iter::once(p.entry.size).chain(ahead.drain(..want - 1).map(|q| q.entry.size));
    // Directories and links are planned with size 0.
    state.done += taken.sum::<u64>();
    state.entries += want;
    Ok(true)
}

/// The archive's own entries (header, index) as the index lists them.
fn own_entry(path: &str, now: u64) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File,
        size: 0,
        mode: 0o600,
        mtime: now as i64,
        blake3: None,
        target: None,
    }
}

/// The source whose archive directory holds `path`.
fn source_of<'a>(sources: &'a [SourceInfo], path: &str) -> Option<&'a SourceInfo> {
    sources.iter().find(|s| {
        path.strip_prefix(&s.prefix)
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

pub(crate) struct Progress {
    /// Reused for small files.
    buf: Vec<u8>,
    pub done: u64,
    pub total: u64,
    pub entries: usize,
    warnings: Vec<String>,
    /// Identities are recorded only for sources unchanged since this time (ns since the epoch).
    cutoff_ns: i64,
}

/// Records the entry `e` (as its tar header will say, with `size`) in the frame being filled.
fn begin<W: Write>(
    tar: &mut tar::Builder<FrameSink<W>>,
    e: &Entry,
    size: u64,
    ident: Option<Ident>,
    cut: bool,
) -> EngineResult<()> {
    let entry = IndexEntry {
        path: e.path.clone(),
        kind: e.kind,
        size,
        mode: e.mode,
        mtime: e.mtime,
        ident,
    };
    tar.get_mut().begin_entry(entry, cut).map_err(sink_err)
}

fn append<W: Write>(
    tar: &mut tar::Builder<FrameSink<W>>,
    p: &Planned,
    first: bool,
    sources: &[SourceInfo],
    streams: &mut Vec<(String, Box<dyn StreamReader>)>,
    state: &mut Progress,
    control: &Control,
) -> EngineResult<()> {
    let e = &p.entry;
    let mtime = e.mtime.max(0) as u64;
    match (e.kind, &p.origin) {
        (EntryKind::Dir, Origin::Stream(_)) => {
            begin(tar, e, 0, None, first)?;
            let mut h = header_for(tar::EntryType::Directory, 0, e.mode, mtime);
            tar.append_data(&mut h, &e.path, io::empty())
                .map_err(sink_err)?;
            state.entries += 1;
            let at = streams.iter().position(|(path, _)| *path == e.path);
            let Some(at) = at else {
                return Err(EngineError::Corrupt(format!(
                    "{}: stream not opened",
                    e.path
                )));
            };
            let (_, reader) = streams.swap_remove(at);
            return stream_parts(tar, e, reader, state, control);
        }
        (EntryKind::Dir, _) => {
            begin(tar, e, 0, None, first)?;
            let mut h = header_for(tar::EntryType::Directory, 0, e.mode, mtime);
            tar.append_data(&mut h, &e.path, io::empty())
                .map_err(sink_err)?;
        }
        (EntryKind::Symlink, _) => {
            let ident = reuse::trusted(p.seen, state.cutoff_ns);
            begin(tar, e, 0, ident, first)?;
            let mut h = header_for(tar::EntryType::Symlink, 0, e.mode, mtime);
            let target = e.target.as_deref().unwrap_or_default();
            tar.append_link(&mut h, &e.path, target).map_err(sink_err)?;
        }
        (EntryKind::File, Origin::Disk(path)) => {
            let file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(err) => {
                    // A file gone is left out with a warning, as planning does; the whole
                    // source gone fails the backup.
                    if let Some(s) = source_of(sources, &e.path)
                        && !std::path::Path::new(&s.origin).is_dir()
                    {
                        return Err(EngineError::Source {
                            name: s.name.clone(),
                            path: s.origin.clone().into(),
                            message: "disappeared during the backup".into(),
                        });
                    }
                    state.warnings.push(format!("{}: {err}", path.display()));
                    return Ok(());
                }
            };
            let stamp = Stamp::of(&file).map_err(|err| EngineError::Source {
                name: e.path.clone(),
                path: path.clone(),
                message: err.to_string(),
            })?;
            state.entries += 1;
            let ident = reuse::trusted(Some(stamp.ident()), state.cutoff_ns);
            if stamp.size <= SMALL {
                let mut buf = std::mem::take(&mut state.buf);
                buf.clear();
                let read = (&file).take(stamp.size).read_to_end(&mut buf);
                let appended = match read {
                    Ok(n) if n as u64 == stamp.size => {
                        slice_entry(tar, e, &buf, (ident, first), state, control)
                    }
                    _ => Err(EngineError::Changed {
                        path: e.path.clone(),
                    }),
                };
                state.buf = buf;
                appended?;
            } else {
                file_entry(
                    tar,
                    e,
                    stamp.size,
                    &mut (&file).take(stamp.size),
                    (ident, first),
                    state,
                    control,
                )?;
            }
            if Stamp::of(&file).ok() != Some(stamp) {
                return Err(EngineError::Changed {
                    path: e.path.clone(),
                });
            }
            return Ok(());
        }
        (EntryKind::File, Origin::Inline(bytes)) => {
            state.entries += 1;
            return slice_entry(tar, e, bytes, (None, first), state, control);
        }
        (EntryKind::File, Origin::Stream(_)) => {
            return Err(EngineError::Corrupt(format!(
                "{}: streamed content must be planned as a directory",
                e.path
            )));
        }
        (EntryKind::File, Origin::Nothing) => {
            state.entries += 1;
            return file_entry(tar, e, 0, &mut io::empty(), (None, first), state, control);
        }
    }
    state.entries += 1;
    Ok(())
}

/// Files up to this size are read whole into a reused buffer and appended from it.
const SMALL: u64 = 256 << 10;

/// Appends one regular file whose bytes are in memory: tar copies from the slice itself (through
/// a `dyn Read` wrapper, every 8 KiB it copies would be zeroed first — a quarter of the
/// instructions of a backup of small files).
pub(crate) fn slice_entry<W: Write>(
    tar: &mut tar::Builder<FrameSink<W>>,
    e: &Entry,
    bytes: &[u8],
    (ident, first): (Option<Ident>, bool),
    state: &mut Progress,
    control: &Control,
) -> EngineResult<()> {
    let size = bytes.len() as u64;
    begin(tar, e, size, ident, first)?;
    let mut h = header_for(tar::EntryType::Regular, size, e.mode, e.mtime.max(0) as u64);
    tar.append_data(&mut h, &e.path, bytes).map_err(sink_err)?;
    let before = state.done;
    state.done += size;
    if before >> 20 != state.done >> 20 {
        control.report(state.done, state.total);
    }
    Ok(())
}

/// Appends one regular file of exactly `size` bytes read from `content`: tar writes the header,
/// and the content is read straight into the frame being filled ([`FrameSink::fill_from`]),
/// a frame's worth at a time, then padded to tar's 512-byte blocks.
fn file_entry<W: Write>(
    tar: &mut tar::Builder<FrameSink<W>>,
    e: &Entry,
    size: u64,
    content: &mut dyn Read,
    (ident, first): (Option<Ident>, bool),
    state: &mut Progress,
    control: &Control,
) -> EngineResult<()> {
    begin(tar, e, size, ident, first)?;
    let mut h = header_for(tar::EntryType::Regular, size, e.mode, e.mtime.max(0) as u64);
    tar.append_data(&mut h, &e.path, io::empty())
        .map_err(sink_err)?;
    let sink = tar.get_mut();
    let mut left = size;
    while left > 0 {
        if control.canceled() {
            return Err(EngineError::Canceled);
        }
        let got = sink.fill_from(content, left).map_err(sink_err)?;
        if got == 0 {
            // The file is shorter than when it was opened: it would not match its header.
            return Err(EngineError::Changed {
                path: e.path.clone(),
            });
        }
        left -= got;
        let before = state.done;
        state.done += got;
        if before >> 20 != state.done >> 20 {
            control.report(state.done, state.total);
        }
    }
    let pad = (512 - size % 512) % 512;
    sink.write_all(&[0; 512][..pad as usize]).map_err(sink_err)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    type Sink = tar::Builder<FrameSink<Vec<u8>>>;

    /// Appends `size` bytes of `content` as one file to a new tar of frames (compressed on this
    /// thread); returns the outcome, the tar and what was counted.
    fn append_file(
        size: u64,
        content: &mut dyn Read,
        control: &Control,
    ) -> (EngineResult<()>, Sink, Progress) {
        let spill = tempfile::tempfile().unwrap();
        let mut tar = tar::Builder::new(FrameSink::new(Vec::new(), 3, 0, spill).unwrap());
        let entry = Entry {
            path: "sources/files/big.bin".into(),
            kind: EntryKind::File,
            size,
            mode: 0o644,
            mtime: 1,
            blake3: None,
            target: None,
        };
        let mut state = Progress {
            buf: Vec::new(),
            done: 0,
            total: size,
            entries: 0,
            warnings: Vec::new(),
            cutoff_ns: 0,
        };
        let outcome = file_entry(
            &mut tar,
            &entry,
            size,
            content,
            (None, true),
            &mut state,
            control,
        );
        (outcome, tar, state)
    }

    #[test]
    fn a_file_read_straight_into_frames_is_whole_padded_and_reported_as_it_goes() {
        let size = (9 << 20) + 3;
        let data: Vec<u8> = (0..size as u32).map(|i| (i % 253) as u8).collect();
        let cancel = AtomicBool::new(false);
        let reports = Mutex::new(Vec::new());
        let record = |done, _| reports.lock().unwrap().push(done);
        let control = Control::new(&cancel, &record);
        let (outcome, tar, state) = append_file(size, &mut io::Cursor::new(data.clone()), &control);
        outcome.unwrap();
        assert_eq!(state.done, size);
        // One report per frame's worth read (a report whenever a MiB boundary is crossed).
        let reports = reports.into_inner().unwrap();
        assert!(reports.len() >= 3, "{reports:?}");
        assert!(reports.windows(2).all(|w| w[0] < w[1]), "{reports:?}");
        assert_eq!(reports.last(), Some(&size));
        let (out, _, _) = tar.into_inner().unwrap().finish(b"").unwrap();
        let plain = zstd::decode_all(out.as_slice()).unwrap();
        assert_eq!(plain.len() % 512, 0, "padded to tar's blocks");
        let mut archive = tar::Archive::new(plain.as_slice());
        let mut e = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("sources/files/big.bin"));
        let mut back = Vec::new();
        e.read_to_end(&mut back).unwrap();
        assert!(back == data);
    }

    #[test]
    fn a_file_shorter_than_its_header_fails_as_changed() {
        let cancel = AtomicBool::new(false);
        let control = Control::new(&cancel, &|_, _| {});
        let mut short = io::Cursor::new(vec![1u8; 6 << 20]);
        let (outcome, _, _) = append_file(10 << 20, &mut short, &control);
        let err = outcome.unwrap_err();
        assert!(
            matches!(err, EngineError::Changed { ref path } if path == "sources/files/big.bin"),
            "{err}"
        );
    }

    #[test]
    fn a_cancel_while_a_large_file_is_read_stops_it() {
        let cancel = AtomicBool::new(false);
        let stop = |_, _| cancel.store(true, Ordering::Relaxed);
        let control = Control::new(&cancel, &stop);
        let (outcome, _, state) =
            append_file(64 << 20, &mut io::repeat(7).take(64 << 20), &control);
        let err = outcome.unwrap_err();
        assert!(matches!(err, EngineError::Canceled), "{err}");
        // Stopped within a frame of the first report, not after reading all 64 MiB.
        assert!(state.done <= 16 << 20, "{}", state.done);
    }
}
