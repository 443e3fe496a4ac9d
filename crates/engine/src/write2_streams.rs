//! Streamed sources in a format 2 archive (database dumps): each producer is started before
//! the header is written (so the header can say what produced the content), and its content is
//! archived, when its directory's turn comes, as parts of at most [`PART`] bytes and an info
//! document.

use std::io::{Read, Write};

use crate::error::{EngineError, EngineResult};
use crate::frames::FrameSink;
use crate::layout;
use crate::manifest::{Entry, EntryKind};
use crate::plan::{Plan, StreamReader};
use crate::write::Control;
use crate::write2::{Progress, slice_entry};

/// Starts every streamed source of `plan`, keyed by its archive directory.
///
/// Fails with `Source` naming the first that cannot start.
pub(crate) fn open_streams(
    plan: &Plan,
    control: &Control,
) -> EngineResult<Vec<(String, Box<dyn StreamReader>)>> {
    let mut out = Vec::new();
    for (path, source) in plan.streams() {
        control.check()?;
        let reader = source.open().map_err(|e| EngineError::Source {
            name: path.to_string(),
            path: path.into(),
            message: e.to_string(),
        })?;
        out.push((path.to_string(), reader));
    }
    Ok(out)
}

/// The size of each part of streamed content (held in memory while it is filled).
const PART: usize = 4 << 20;

/// Runs a streamed source and archives its content as `<dir>/part-000001`, … (each up to
/// [`PART`] bytes, the last possibly empty only when there is no content at all) and then what
/// it reports as `<dir>/info.json`.
pub(crate) fn stream_parts<W: Write>(
    tar: &mut tar::Builder<FrameSink<W>>,
    dir: &Entry,
    mut reader: Box<dyn StreamReader>,
    state: &mut Progress,
    control: &Control,
) -> EngineResult<()> {
    let failed = |message: String| EngineError::Source {
        name: dir.path.clone(),
        path: dir.path.clone().into(),
        message,
    };
    let mut buf = vec![0u8; PART];
    for n in 1u64.. {
        control.check()?;
        let mut filled = 0;
        while filled < PART {
            let got = reader
                .read(&mut buf[filled..])
                .map_err(|e| failed(e.to_string()))?;
            if got == 0 {
                break;
            }
            filled += got;
        }
        if filled == 0 && n > 1 {
            break;
        }
        let part = Entry {
            path: format!("{}/{}", dir.path, layout::database_part(n)),
            kind: EntryKind::File,
            size: filled as u64,
            mode: 0o600,
            mtime: dir.mtime,
            blake3: None,
            target: None,
        };
        state.entries += 1;
        state.total += filled as u64;
        slice_entry(tar, &part, &buf[..filled], (None, false), state, control)?;
        if filled < PART {
            break;
        }
    }
    let info = reader.finish().map_err(|e| failed(e.to_string()))?;
    let entry = Entry {
        path: format!("{}/{}", dir.path, layout::DATABASE_INFO),
        kind: EntryKind::File,
        size: info.len() as u64,
        mode: 0o600,
        mtime: dir.mtime,
        blake3: None,
        target: None,
    };
    state.entries += 1;
    slice_entry(tar, &entry, &info, (None, false), state, control)
}
