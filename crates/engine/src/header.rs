//! `dsbackup.json`, the first entry of a version 2 archive: what the archive holds, known from
//! its first bytes (the entries themselves are listed by the index at the end). See
//! `docs/FORMAT.md`.

use serde::{Deserialize, Serialize};

use crate::manifest::{FORMAT, Manifest, PortalRef, SourceInfo};

/// The format version of archives with a header and an index.
pub const FORMAT_VERSION_2: u32 = 2;
/// The archive path of the header (always the first entry, alone in the first frame).
pub const HEADER_PATH: &str = "dsbackup.json";
/// The archive path of the index (always the last entry, starting a frame of its own).
pub const INDEX_PATH: &str = "dsbackup.index";
/// A header larger than this is refused.
pub const MAX_HEADER: u64 = 1 << 20;

/// The header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub dsbackup_version: String,
    /// The portal's id and alias; `None` for a whole-instance dump.
    pub portal: Option<PortalRef>,
    pub dump: bool,
    /// RFC 3339 UTC.
    pub created_on: String,
    pub sources: Vec<SourceInfo>,
    /// What the writer planned to archive, in content bytes: a hint for progress and an early
    /// refusal, never trusted (readers count what actually arrives).
    pub planned_bytes: u64,
}

impl Header {
    /// A header for a new archive.
    pub fn new(
        dsbackup_version: String,
        portal: Option<PortalRef>,
        dump: bool,
        sources: Vec<SourceInfo>,
        planned_bytes: u64,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION_2,
            dsbackup_version,
            portal,
            dump,
            created_on: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            sources,
            planned_bytes,
        }
    }

    /// The header as a manifest without entries (what placers and reports receive).
    pub fn to_manifest(&self) -> Manifest {
        Manifest {
            format: self.format.clone(),
            format_version: self.format_version,
            dsbackup_version: self.dsbackup_version.clone(),
            portal: self.portal.clone(),
            dump: self.dump,
            created_on: self.created_on.clone(),
            sources: self.sources.clone(),
            entries: Vec::new(),
        }
    }
}
