//! The archive layout, decided by the format and never by the archive: which paths a portal
//! backup or a whole-instance dump may hold, what kind of entry each must be, which catalog
//! tables exist, and where a symbolic link may point. The reader applies these rules to every
//! manifest entry before anything is handed to a placer, so `restore` and `verify` refuse the
//! same archives. A manifest's own `sources` list is informational only.
//!
//! A portal backup holds `catalog/<table>`, `documents/<folder>/<file>` (numeric ids),
//! `sources/<name>/…` and `databases/<name>/{part-NNNNNN,info.json}`; a dump holds
//! `instance/portals.jsonl`, the instance's own databases under `instance/databases/<name>/`
//! and the same parts of each portal under `portals/<alias>/`. Links may exist only inside a
//! source and must resolve, through any other links of the archive, without leaving that
//! source's directory.

use std::collections::{HashMap, VecDeque};

use crate::manifest::{Entry, EntryKind};

/// The catalog tables a portal archive carries, and nothing else.
pub const TABLES: &[&str] = &[
    "portal.jsonl",
    "users.jsonl",
    "folders.jsonl",
    "files.jsonl",
    "api_keys.jsonl",
];

/// The one file of a dump's `instance` directory.
pub const INSTANCE_PORTALS: &str = "portals.jsonl";

/// The archive prefix of a portal's parts: empty in a portal backup, `portals/<alias>/` in a
/// dump. The paths below are built from it; nothing else writes layout paths.
pub fn portal_prefix(dump: bool, alias: &str) -> String {
    if dump {
        format!("portals/{alias}/")
    } else {
        String::new()
    }
}

/// The archive path of catalog table `name` (one of [`TABLES`]) under `prefix`.
pub fn table_path(prefix: &str, name: &str) -> String {
    format!("{prefix}catalog/{name}")
}

/// The archive directory of the documents area under `prefix`.
pub fn documents_path(prefix: &str) -> String {
    format!("{prefix}documents")
}

/// The archive directory of source `name` under `prefix`.
pub fn source_path(prefix: &str, name: &str) -> String {
    format!("{prefix}sources/{name}")
}

/// The archive directory of database source `name` under `prefix` (format 2): its dump in
/// consecutive parts ([`database_part`]) and then [`DATABASE_INFO`].
pub fn database_path(prefix: &str, name: &str) -> String {
    format!("{prefix}databases/{name}")
}

/// The file name of part `n` (from 1) of a database dump.
pub fn database_part(n: u64) -> String {
    format!("part-{n:06}")
}

/// The file that follows a database dump's parts: what the dump tool reported (versions, row
/// counts), as JSON.
pub const DATABASE_INFO: &str = "info.json";

/// The archive prefix of a dump's instance-level parts: its databases go to
/// `database_path(INSTANCE_PREFIX, name)` = `instance/databases/<name>`.
pub const INSTANCE_PREFIX: &str = "instance/";

/// The archive path of a dump's list of portals.
pub fn instance_portals_path() -> String {
    format!("instance/{INSTANCE_PORTALS}")
}

/// At most this many links are followed while resolving one link (as Linux's `MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// What a path of the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// A directory of the layout itself (`catalog`, `sources`, `instance`, `portals`,
    /// `portals/<alias>`).
    Frame,
    /// A catalog table of a portal.
    Table {
        portal: Option<&'a str>,
        name: &'a str,
    },
    /// The dump's list of portals.
    InstancePortals,
    /// The documents area (`rel` empty), a folder (`<id>`) or a file (`<id>/<id>`).
    Documents {
        portal: Option<&'a str>,
        rel: &'a str,
    },
    /// A database source's directory (`file` empty), a part of its dump or its info file.
    Database {
        portal: Option<&'a str>,
        name: &'a str,
        file: &'a str,
    },
    /// A source's directory (`rel` empty) or anything below it.
    Source {
        portal: Option<&'a str>,
        name: &'a str,
        rel: &'a str,
    },
}

impl Part<'_> {
    /// The portal alias this part belongs to in a dump.
    pub fn portal(&self) -> Option<&str> {
        match self {
            Part::Table { portal, .. }
            | Part::Documents { portal, .. }
            | Part::Database { portal, .. }
            | Part::Source { portal, .. } => *portal,
            Part::Frame | Part::InstancePortals => None,
        }
    }
}

fn numeric(s: &str) -> bool {
    !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Classifies `path` in a portal backup (`dump == false`) or a dump. `None` when the path has
/// no place in the layout.
pub fn classify(path: &str, dump: bool) -> Option<Part<'_>> {
    if !dump {
        return portal_part(path, None);
    }
    match path.split_once('/') {
        None => matches!(path, "instance" | "portals").then_some(Part::Frame),
        Some(("instance", INSTANCE_PORTALS)) => Some(Part::InstancePortals),
        Some(("instance", below)) => match portal_part(below, None) {
            Some(part @ (Part::Database { .. } | Part::Frame))
                if below.starts_with("databases") =>
            {
                Some(part)
            }
            _ => None,
        },
        Some(("portals", rest)) => match rest.split_once('/') {
            None => Some(Part::Frame),
            Some((alias, below)) => portal_part(below, Some(alias)),
        },
        _ => None,
    }
}

fn portal_part<'a>(path: &'a str, portal: Option<&'a str>) -> Option<Part<'a>> {
    let (head, rest) = match path.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match (head, rest) {
        ("catalog" | "sources" | "databases", None) => Some(Part::Frame),
        ("databases", Some(sub)) => {
            let (name, file) = sub.split_once('/').unwrap_or((sub, ""));
            let ok = file.is_empty() || file == DATABASE_INFO || is_part_name(file);
            ok.then_some(Part::Database { portal, name, file })
        }
        ("catalog", Some(name)) => TABLES
            .contains(&name)
            .then_some(Part::Table { portal, name }),
        ("documents", rel) => {
            let rel = rel.unwrap_or("");
            let ok = match rel.split_once('/') {
                None => rel.is_empty() || numeric(rel),
                Some((folder, file)) => numeric(folder) && numeric(file),
            };
            ok.then_some(Part::Documents { portal, rel })
        }
        ("sources", Some(sub)) => {
            let (name, rel) = sub.split_once('/').unwrap_or((sub, ""));
            Some(Part::Source { portal, name, rel })
        }
        _ => None,
    }
}

fn is_part_name(file: &str) -> bool {
    file.strip_prefix("part-")
        .is_some_and(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The kind an entry at `part` must have, when the layout fixes it.
fn required_kind(part: &Part<'_>) -> Option<EntryKind> {
    match part {
        Part::Frame => Some(EntryKind::Dir),
        Part::Table { .. } | Part::InstancePortals => Some(EntryKind::File),
        Part::Documents { rel, .. } if rel.contains('/') => Some(EntryKind::File),
        Part::Documents { .. } => Some(EntryKind::Dir),
        Part::Database { file: "", .. } => Some(EntryKind::Dir),
        Part::Database { .. } => Some(EntryKind::File),
        Part::Source { rel: "", .. } => Some(EntryKind::Dir),
        Part::Source { .. } => None,
    }
}

/// Checks every entry of a manifest against the layout: each path has its place, the kind the
/// layout requires there, and every link stays inside its source.
///
/// Fails with a message naming the first offending entry.
pub fn check_entries(entries: &[Entry], dump: bool) -> Result<(), String> {
    for e in entries {
        check_place(&e.path, e.kind, dump)?;
    }
    let links: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Symlink)
        .map(|e| (e.path.as_str(), e.target.as_deref().unwrap_or("")))
        .collect();
    check_links(&links, dump)
}

/// Checks that an entry of `kind` at `path` has its place in the layout, with the kind the
/// layout requires there (links are checked later, all together, by [`check_links`]).
///
/// Fails with a message naming the entry.
pub fn check_place(path: &str, kind: EntryKind, dump: bool) -> Result<(), String> {
    let Some(part) = classify(path, dump) else {
        return Err(format!(
            "{path}: not part of a dsbackup {} archive",
            if dump { "dump" } else { "portal" }
        ));
    };
    if let Some(want) = required_kind(&part)
        && want != kind
    {
        return Err(format!(
            "{path}: must be a {} here",
            match want {
                EntryKind::Dir => "directory",
                EntryKind::File => "regular file",
                EntryKind::Symlink => "link",
            }
        ));
    }
    Ok(())
}

/// Checks that every link (`path`, `target`) of an archive resolves inside its own source,
/// following the archive's other links on the way.
///
/// Fails with a message naming the first link that leaves its source.
pub fn check_links(links: &[(&str, &str)], dump: bool) -> Result<(), String> {
    let map: HashMap<&str, &str> = links.iter().copied().collect();
    for (path, target) in links {
        let root = classify(path, dump).and_then(|part| source_root(path, &part));
        if !root.is_some_and(|root| link_stays_inside(root, path, target, &map)) {
            return Err(format!(
                "{path}: link to {target:?} points outside its source"
            ));
        }
    }
    Ok(())
}

/// The archive directory of the source that holds `path`, when it is inside one.
fn source_root<'a>(path: &'a str, part: &Part<'_>) -> Option<&'a str> {
    match part {
        Part::Source { rel, .. } if !rel.is_empty() => {
            path.strip_suffix(rel).and_then(|r| r.strip_suffix('/'))
        }
        _ => None,
    }
}

fn plain_target(target: &str) -> bool {
    !target.is_empty() && !target.starts_with('/') && !target.contains(['\0', '\\'])
}

/// Whether the link at `path` (inside the source directory `root`) resolves to a place inside
/// `root`, following the archive's other links (`links`: path → target) on the way. Resolution
/// is lexical and conservative: a step above `root`, even one that comes back, is refused.
pub fn link_stays_inside(
    root: &str,
    path: &str,
    target: &str,
    links: &HashMap<&str, &str>,
) -> bool {
    let Some(rel) = path.strip_prefix(root).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    if !plain_target(target) {
        return false;
    }
    let mut at: Vec<&str> = rel.split('/').collect();
    at.pop();
    let mut todo: VecDeque<&str> = target.split('/').collect();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        match part {
            "" | "." => {}
            ".." => {
                if at.pop().is_none() {
                    return false;
                }
            }
            name => {
                at.push(name);
                let here = format!("{root}/{}", at.join("/"));
                if let Some(next) = links.get(here.as_str()) {
                    hops += 1;
                    if hops > MAX_HOPS || !plain_target(next) {
                        return false;
                    }
                    at.pop();
                    for p in next.split('/').rev() {
                        todo.push_front(p);
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(path: &str, target: &str, others: &[(&str, &str)]) -> bool {
        let links: HashMap<&str, &str> = others.iter().copied().collect();
        link_stays_inside("sources/files", path, target, &links)
    }

    #[test]
    fn links_stay_in_their_source() {
        assert!(inside("sources/files/a/l", "../b", &[]));
        assert!(inside("sources/files/l", "b/c", &[]));
        assert!(!inside("sources/files/l", "../x", &[]));
        assert!(!inside("sources/files/a/l", "../../x", &[]));
        assert!(!inside("sources/files/l", "/etc/passwd", &[]));
        assert!(!inside("documents/l", "x", &[]));
    }

    #[test]
    fn links_cannot_climb_through_other_links() {
        // `up` points at the source root; `up/..` would be its parent.
        let others = [("sources/files/sub/up", "..")];
        assert!(inside("sources/files/sub/up", "..", &[]));
        assert!(!inside("sources/files/sub/esc", "up/..", &others));
        assert!(!inside("sources/files/sub/esc", "up/../..", &others));
        // A loop never resolves.
        let loops = [("sources/files/a", "b"), ("sources/files/b", "a")];
        assert!(!inside("sources/files/c", "a/x", &loops));
        // Chains that stay inside are fine.
        let chain = [("sources/files/a", "d/e"), ("sources/files/d", "f")];
        assert!(inside("sources/files/c", "a/..", &chain));
    }

    #[test]
    fn built_paths_classify_as_what_they_are() {
        for dump in [false, true] {
            let p = portal_prefix(dump, "acme");
            let portal = dump.then_some("acme");
            assert_eq!(
                classify(&table_path(&p, "users.jsonl"), dump),
                Some(Part::Table {
                    portal,
                    name: "users.jsonl"
                })
            );
            assert_eq!(
                classify(&documents_path(&p), dump),
                Some(Part::Documents { portal, rel: "" })
            );
            assert_eq!(
                classify(&source_path(&p, "files"), dump),
                Some(Part::Source {
                    portal,
                    name: "files",
                    rel: ""
                })
            );
        }
        assert_eq!(
            classify(&instance_portals_path(), true),
            Some(Part::InstancePortals)
        );
    }

    #[test]
    fn the_layout_is_fixed_by_the_format() {
        assert_eq!(
            classify("catalog/users.jsonl", false),
            Some(Part::Table {
                portal: None,
                name: "users.jsonl"
            })
        );
        assert_eq!(classify("catalog/evil.jsonl", false), None);
        assert_eq!(classify("documents/12/x", false), None);
        assert_eq!(classify("documents/12/34/56", false), None);
        assert_eq!(classify("portals/a/catalog", false), None);
        assert_eq!(
            classify("instance/portals.jsonl", true),
            Some(Part::InstancePortals)
        );
        assert_eq!(classify("instance/other", true), None);
        assert_eq!(classify("catalog", true), None);
        assert_eq!(
            classify("portals/a/sources/files/x/y", true),
            Some(Part::Source {
                portal: Some("a"),
                name: "files",
                rel: "x/y"
            })
        );
        assert_eq!(
            classify("portals/a/databases/app/part-000002", true),
            Some(Part::Database {
                portal: Some("a"),
                name: "app",
                file: "part-000002"
            })
        );
        assert_eq!(
            classify(
                &format!("{}/info.json", database_path(INSTANCE_PREFIX, "docspace")),
                true
            ),
            Some(Part::Database {
                portal: None,
                name: "docspace",
                file: "info.json"
            })
        );
        assert_eq!(classify("instance/databases", true), Some(Part::Frame));
        for bad in [
            "instance/databases/app/x",
            "instance/catalog/users.jsonl",
            "instance/sources/x",
            "instance/documents",
        ] {
            assert_eq!(classify(bad, true), None, "{bad}");
        }
        assert_eq!(classify("instance/databases/app", false), None);
        for bad in [
            "databases/app/part-1",
            "databases/app/x",
            "databases/app/info.json/y",
        ] {
            assert_eq!(classify(bad, false), None, "{bad}");
        }
        assert_eq!(
            required_kind(&classify("databases/app", false).unwrap()),
            Some(EntryKind::Dir)
        );
        assert_eq!(
            required_kind(&classify("databases/app/info.json", false).unwrap()),
            Some(EntryKind::File)
        );
    }

    fn entry(path: &str, kind: EntryKind, target: Option<&str>) -> Entry {
        Entry {
            path: path.into(),
            kind,
            size: 0,
            mode: 0o755,
            mtime: 0,
            blake3: None,
            target: target.map(Into::into),
        }
    }

    #[test]
    fn roots_are_directories_and_links_live_in_sources() {
        use EntryKind::*;
        let ok = [
            entry("sources", Dir, None),
            entry("sources/files", Dir, None),
        ];
        assert!(check_entries(&ok, false).is_ok());
        let file_root = [
            entry("sources", Dir, None),
            entry("sources/files", File, None),
        ];
        assert!(
            check_entries(&file_root, false)
                .unwrap_err()
                .contains("directory")
        );
        let root_link = [
            entry("sources", Dir, None),
            entry("sources/files", Symlink, Some(".")),
        ];
        assert!(check_entries(&root_link, false).is_err());
        let doc_link = [
            entry("documents", Dir, None),
            entry("documents/1", Symlink, Some(".")),
        ];
        assert!(check_entries(&doc_link, false).is_err());
        // A forged manifest source "sources" changes nothing: the root is `sources/<name>`.
        let climb = [
            entry("sources", Dir, None),
            entry("sources/files", Dir, None),
            entry("sources/files/x", Symlink, Some("../y")),
        ];
        assert!(
            check_entries(&climb, false)
                .unwrap_err()
                .contains("outside")
        );
    }
}
