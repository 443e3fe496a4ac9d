//! `manifest.json`, the first entry of every archive: what the archive holds and how to check
//! it. See `docs/FORMAT.md`.

use serde::{Deserialize, Serialize};

/// The format name written into every manifest.
pub const FORMAT: &str = "dsbackup-archive";
/// The newest format version this engine writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The archive path of the manifest.
pub const MANIFEST_PATH: &str = "manifest.json";

/// What kind of tar entry an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// One archived entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path inside the archive, `/`-separated, relative, without `..`.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Content length (files); 0 otherwise.
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    /// Modification time, Unix seconds.
    pub mtime: i64,
    /// BLAKE3 of the content (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// Link target (symlinks), as stored; never followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A configured source as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    /// Where it was read from on the backed-up machine.
    pub origin: String,
    /// The archive directory that holds it.
    pub prefix: String,
    /// What produced it, when known before the entries (database sources: server and dump
    /// tool versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub dsbackup_version: String,
    /// The portal's id and alias; `None` for a whole-instance dump.
    pub portal: Option<PortalRef>,
    pub dump: bool,
    /// RFC 3339 UTC.
    pub created_on: String,
    pub sources: Vec<SourceInfo>,
    /// Read with a check for repeated paths as each entry arrives, so a manifest of one entry
    /// repeated millions of times is refused at its first repeat, not after it is all in memory.
    #[serde(deserialize_with = "unique_entries")]
    pub entries: Vec<Entry>,
}

fn unique_entries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Entry>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = Vec<Entry>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of entries")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<Entry>, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            while let Some(e) = seq.next_element::<Entry>()? {
                if !seen.insert(e.path.clone()) {
                    return Err(serde::de::Error::custom(format!(
                        "the manifest lists {:?} twice",
                        e.path
                    )));
                }
                out.push(e);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Unique)
}

/// A portal as named in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalRef {
    pub id: i64,
    pub alias: String,
}

/// Whether `path` is a safe relative archive path: non-empty, `/`-separated, no empty, `.` or
/// `..` components, not absolute, no NUL or backslash.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        for ok in ["a", "a/b", "documents/12/34", "sources/files/ünï/ço.txt"] {
            assert!(is_safe_path(ok), "{ok}");
        }
        for bad in ["", "/etc", "a/../b", "..", "a//b", "./a", "a\\b", "a/\0"] {
            assert!(!is_safe_path(bad), "{bad:?}");
        }
    }
}
