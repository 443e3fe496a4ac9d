//! The databases of a restore: once the whole archive verified, each staged dump is loaded
//! beside its live database and checked against the row counts its `info.json` recorded
//! ([`load`]); the journal then records every switch's names ([`DbSwitch`]) before anything
//! is swapped, [`switch`] swaps them in right after the directories, and [`resolve`] completes
//! or undoes them with the portal's catalog commit (forward when it committed, back otherwise),
//! after a failure or at start-up. Blocking throughout (the client tools).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use dsbackup_core::PortalId;
use dsbackup_dbsource::{DbSource, DumpSummary, Staged, SwitchState};
use serde::{Deserialize, Serialize};

use super::place::StagedDb;
use crate::config::Config;

/// One database switch, as the restore journal keeps it (names only, no secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbSwitch {
    /// The portal whose catalog commit decides forward or back; `None` for an instance
    /// database of a dump (forward when every portal of the dump committed).
    pub portal_id: Option<PortalId>,
    /// The portal's alias, to find the source in the configuration; `None` for the instance.
    pub alias: Option<String>,
    /// The source's name.
    pub source: String,
    pub state: SwitchState,
}

/// A database loaded beside its live one, not yet switched in.
#[derive(Debug)]
pub struct Loaded {
    pub switch: DbSwitch,
    pub staged: Staged,
}

/// The configured database source `name` of portal `alias` (or of the instance).
pub fn source_of(config: &Config, alias: Option<&str>, name: &str) -> Option<DbSource> {
    let sources = match alias {
        Some(a) => config.sources_of(a),
        None => &config.instance.sources,
    };
    sources
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.database())
}

/// The staged parts, read one after the other as one stream.
struct Parts {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<File>,
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(f) = self.current.as_mut() {
                let n = f.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
            }
            match self.files.next() {
                Some(path) => self.current = Some(File::open(path)?),
                None => return Ok(0),
            }
        }
    }
}

/// Loads one staged dump: its parts must be `part-000001…` without a gap and its info file
/// present (else the archive is invalid).
fn load_one(
    config: &Config,
    db: &StagedDb,
    alias: Option<&str>,
    portal_id: Option<PortalId>,
) -> Result<Loaded, String> {
    let invalid = |m: &str| format!("The backup is invalid: database {:?}: {m}", db.name);
    let source = source_of(config, alias, &db.name)
        .ok_or_else(|| invalid("not configured here as a database source"))?;
    let mut parts = db.parts.clone();
    parts.sort();
    for (n, p) in parts.iter().enumerate() {
        let want = dsbackup_engine::layout::database_part(n as u64 + 1);
        if p.file_name().and_then(|f| f.to_str()) != Some(want.as_str()) {
            return Err(invalid("its dump parts are not consecutive"));
        }
    }
    let info = db
        .info
        .as_ref()
        .ok_or_else(|| invalid("its info.json is missing"))?;
    let text = std::fs::read(info).map_err(|e| invalid(&format!("info.json: {e}")))?;
    let summary: DumpSummary =
        serde_json::from_slice(&text).map_err(|e| invalid(&format!("info.json: {e}")))?;
    let reader = Parts {
        files: parts.into_iter(),
        current: None,
    };
    let staged = dsbackup_dbsource::restore(&source, reader, &summary.info)
        .map_err(|e| format!("The restore failed: database {:?}: {e}", db.name))?;
    Ok(Loaded {
        switch: DbSwitch {
            portal_id,
            alias: alias.map(str::to_owned),
            source: db.name.clone(),
            state: staged.state().clone(),
        },
        staged,
    })
}

/// Loads every staged dump beside its live database (`portals[i]` = `(id, alias)` of target
/// `i`). On any failure the copies loaded so far are dropped and the live databases are left
/// as they are.
///
/// Fails with a message for the job: an invalid staged dump, or the tool's scrubbed error.
pub fn load(
    config: &Config,
    staged: &[StagedDb],
    portals: &[(PortalId, String)],
) -> Result<Vec<Loaded>, String> {
    let mut loaded = Vec::new();
    for db in staged {
        let (portal_id, alias) = match db.target {
            Some(i) => (Some(portals[i].0), Some(portals[i].1.as_str())),
            None => (None, None),
        };
        match load_one(config, db, alias, portal_id) {
            Ok(l) => loaded.push(l),
            Err(e) => {
                discard(loaded);
                return Err(e);
            }
        }
    }
    Ok(loaded)
}

/// Drops loaded copies that will not be switched in.
pub fn discard(loaded: Vec<Loaded>) {
    for l in loaded {
        if let Err(e) = l.staged.discard() {
            tracing::warn!(database = %l.switch.source, error = %e, "cannot drop a staged database copy");
        }
    }
}

/// Switches every loaded copy in, in order; stops at the first failure (the journal's
/// [`resolve`] then puts everything back).
///
/// Fails with the tool's scrubbed error.
pub fn switch(loaded: Vec<Loaded>) -> Result<(), String> {
    for l in loaded {
        l.staged
            .switch()
            .map_err(|e| format!("switching database {:?}: {e}", l.switch.source))?;
    }
    Ok(())
}

/// Completes (`forward`) or undoes one journaled switch, then drops the previous database
/// unless `keep_old_databases`.
///
/// Fails when the source is no longer configured or its server refuses.
pub fn resolve(config: &Config, s: &DbSwitch, forward: bool) -> Result<(), String> {
    let source = source_of(config, s.alias.as_deref(), &s.source).ok_or_else(|| {
        format!(
            "database source {:?} of the journal is not configured any more",
            s.source
        )
    })?;
    let switched = dsbackup_dbsource::recover(&source, &s.state, forward)
        .map_err(|e| format!("database {:?}: {e}", s.source))?;
    if let Some(done) = switched {
        done.finish(config.keep_old_databases)
            .map_err(|e| format!("database {:?}: dropping the previous copy: {e}", s.source))?;
    }
    Ok(())
}

/// Drops staged copies that restores interrupted before their journal left behind, for every
/// configured database source (after the journal was resolved). A source that cannot be
/// reached is logged and left for the next start.
pub fn sweep(config: &Config) {
    let sources = config
        .portals
        .iter()
        .flat_map(|p| &p.sources)
        .chain(&config.instance.sources)
        .filter_map(|s| s.database());
    for source in sources {
        match dsbackup_dbsource::sweep_staged(&source) {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::warn!(source = %source.name, ?dropped, "dropped staged copies an interrupted restore left");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(source = %source.name, error = %e, "cannot look for staged copies left by an interrupted restore");
            }
        }
    }
}
