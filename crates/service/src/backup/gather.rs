//! What goes into a backup, gathered before the blocking work starts: each portal's catalog
//! rows (inline entries), its documents area and its configured sources (directory trees, and
//! databases dumped while the archive is written), and, for a dump, the instance's list of
//! portals and its own database sources. Archive paths come from the engine's layout module;
//! earlier backup archives kept in Documents are left out.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use dsbackup_core::{ArchiveLocation, DUMP_TENANT, Portal, PortalId};
use dsbackup_engine::{Control, EngineResult, Plan, Planner, layout};

use super::dbstream::DumpStream;
use super::export;
use crate::{Service, ServiceResult};

/// A directory tree to archive.
#[derive(Debug, Clone)]
pub struct Tree {
    pub name: String,
    pub kind: &'static str,
    pub root: PathBuf,
    pub prefix: String,
}

/// A database to dump into the archive.
#[derive(Debug, Clone)]
pub struct Database {
    pub name: String,
    /// `postgres`, `mysql` or `sqlite`.
    pub kind: String,
    /// Where it is, without credentials (for the archive's header).
    pub origin: String,
    pub prefix: String,
    pub source: dsbackup_dbsource::DbSource,
}

/// Everything one backup archives.
#[derive(Debug, Default)]
pub struct Contents {
    /// Catalog rows: `(archive path, bytes)`.
    pub inline: Vec<(String, Vec<u8>)>,
    pub trees: Vec<Tree>,
    pub databases: Vec<Database>,
    /// Documents files that are earlier backup archives: never archived again.
    pub skip_files: HashSet<i64>,
}

/// Files of the portals that are earlier backup archives kept in Documents (marked, or named
/// by a live record).
async fn archive_file_ids(svc: &Service, tenants: &[PortalId]) -> ServiceResult<HashSet<i64>> {
    let mut ids = HashSet::new();
    for t in tenants {
        for f in svc.catalog().files_of(*t).await? {
            if f.is_backup {
                ids.insert(f.id);
            }
        }
    }
    for t in tenants.iter().copied().chain([DUMP_TENANT]) {
        for r in svc.catalog().live_backups(t).await? {
            if let ArchiveLocation::Documents { file, .. } = r.location {
                ids.insert(file);
            }
        }
    }
    Ok(ids)
}

/// Gathers the rows and trees of `portals` (every active portal for a dump).
///
/// Fails when the catalog fails or a row cannot be serialised.
pub async fn gather(svc: &Service, portals: &[Portal], dump: bool) -> ServiceResult<Contents> {
    let tenants: Vec<PortalId> = portals.iter().map(|p| p.id).collect();
    let skip_files = archive_file_ids(svc, &tenants).await?;
    let mut out = Contents::default();
    for p in portals {
        let prefix = layout::portal_prefix(dump, &p.alias);
        out.inline
            .extend(export::portal_rows(svc, p, &prefix, &skip_files).await?);
        let docs = svc.portal_dir(p.id).join("documents");
        if docs.is_dir() {
            out.trees.push(Tree {
                name: "documents".into(),
                kind: "documents",
                root: docs,
                prefix: layout::documents_path(&prefix),
            });
        }
        for src in svc.config().sources_of(&p.alias) {
            if let Some(root) = src.directory() {
                out.trees.push(Tree {
                    name: src.name.clone(),
                    kind: "directory",
                    root: root.to_path_buf(),
                    prefix: layout::source_path(&prefix, &src.name),
                });
            }
        }
        add_databases(&mut out, svc.config().sources_of(&p.alias), &prefix);
    }
    if dump {
        add_databases(
            &mut out,
            &svc.config().instance.sources,
            layout::INSTANCE_PREFIX,
        );
        let all = svc.catalog().portals().await?;
        out.inline
            .push((layout::instance_portals_path(), export::jsonl(&all)?));
    }
    out.skip_files = skip_files;
    Ok(out)
}

fn add_databases(out: &mut Contents, sources: &[crate::config::SourceConfig], prefix: &str) {
    for src in sources {
        if let Some(db) = src.database() {
            out.databases.push(Database {
                name: src.name.clone(),
                kind: db.kind.to_string(),
                origin: src.origin(),
                prefix: layout::database_path(prefix, &src.name),
                source: db,
            });
        }
    }
}

/// Plans the archive (blocking: walks every source; for format 1 also hashes every file),
/// spilling its entries to a private temporary file in `spill_dir`. In the documents area only
/// `<folder>/<file>` entries are taken: hidden files, pending archives and earlier backups
/// are left out.
///
/// Fails on cancel or when a source root is missing.
pub fn plan(
    contents: Contents,
    format: u32,
    spill_dir: Option<&std::path::Path>,
    control: &Control,
) -> EngineResult<Plan> {
    let mut planner = match spill_dir {
        Some(dir) => Planner::in_dir(dir),
        None => Planner::new(),
    };
    for (path, bytes) in contents.inline {
        planner.add_inline(&path, bytes)?;
    }
    for d in contents.databases {
        let stream = Arc::new(DumpStream::new(d.source));
        planner.add_stream(&d.name, &d.kind, &d.origin, &d.prefix, stream)?;
    }
    let skip = contents.skip_files;
    for t in &contents.trees {
        if t.kind == "documents" {
            let keep = |p: &std::path::Path| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !n.starts_with('.')
                    && !n.starts_with("pending-")
                    && !n
                        .parse::<i64>()
                        .is_ok_and(|id| skip.contains(&id) && p.is_file())
            };
            planner.add_tree_filtered(&t.name, t.kind, &t.root, &t.prefix, &keep)?;
        } else {
            planner.add_tree(&t.name, t.kind, &t.root, &t.prefix)?;
        }
    }
    if format == 1 {
        planner.finish(control)
    } else {
        control.check()?;
        planner.finish_unhashed()
    }
}
