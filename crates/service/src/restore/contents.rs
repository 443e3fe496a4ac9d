//! The catalog rows of a restore: read from the staged table files one line at a time, checked
//! in a first pass against what the server knows (the portal's Owner, the staged documents,
//! the live API keys), then streamed into the catalog in a second pass. No table is ever held
//! in memory; only ids are kept to check references.
//!
//! Rules: exactly one Owner, the portal's own; a restore run by anybody but the Owner keeps
//! the Owner's live row (credentials included); titles, names and key names pass the same
//! validation as the API; a file's recorded size equals its staged bytes; an API key comes
//! back active only when the very same key (id and hash) is active now, so a key deleted or
//! deactivated after the backup stays dead; backup archives kept in Documents are the live
//! ones, never the archive's.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use dsbackup_core::catalog::{PortalContents, Rows};
use dsbackup_core::{
    ApiKey, CoreError, CoreResult, FileEntry, Folder, FolderKind, Role, User, validate,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::place::Staged;

/// The longest catalog row accepted, in bytes.
const MAX_ROW: u64 = 1 << 20;

/// What the server knows about a portal before its restore.
#[derive(Debug, Clone)]
pub struct Live {
    /// The portal's Owner as the catalog has it now.
    pub owner: User,
    /// Whether the Owner runs the restore.
    pub by_owner: bool,
    /// Active API keys now: id → hash.
    pub active_keys: HashMap<Uuid, String>,
    /// Backup archives kept in the portal's Documents now, with their bytes.
    pub backup_files: Vec<(FileEntry, PathBuf)>,
}

/// JSON lines of a staged table, one row at a time.
struct JsonLines<T> {
    reader: Option<BufReader<File>>,
    table: String,
    line: usize,
    _rows: PhantomData<T>,
}

fn invalid(msg: String) -> CoreError {
    CoreError::Invalid(msg)
}

impl<T: DeserializeOwned> JsonLines<T> {
    fn open(staged: &Staged, table: &str) -> CoreResult<Self> {
        let path = staged
            .tables
            .get(table)
            .ok_or_else(|| invalid(format!("the archive has no catalog/{table}")))?;
        let file = File::open(path).map_err(|e| CoreError::internal(&e))?;
        Ok(Self {
            reader: Some(BufReader::new(file)),
            table: table.to_string(),
            line: 0,
            _rows: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> Iterator for JsonLines<T> {
    type Item = CoreResult<T>;

    fn next(&mut self) -> Option<CoreResult<T>> {
        let reader = self.reader.as_mut()?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            self.line += 1;
            let read = reader
                .by_ref()
                .take(MAX_ROW + 1)
                .read_until(b'\n', &mut buf);
            let fail = |me: &mut Self, msg: String| {
                me.reader = None;
                Some(Err(invalid(format!(
                    "catalog/{} line {}: {msg}",
                    me.table, me.line
                ))))
            };
            match read {
                Err(e) => return fail(self, e.to_string()),
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(n) if n as u64 > MAX_ROW => return fail(self, "row too long".into()),
                Ok(_) => {}
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return match serde_json::from_slice(&buf) {
                Ok(row) => Some(Ok(row)),
                Err(e) => fail(self, e.to_string()),
            };
        }
    }
}

fn lines<T: DeserializeOwned>(staged: &Staged, table: &str) -> CoreResult<JsonLines<T>> {
    JsonLines::open(staged, table)
}

/// A person's name as the API would accept it (empty allowed: imported members may lack one).
fn name_ok(name: &str) -> bool {
    name.chars().count() <= 255 && !name.chars().any(char::is_control)
}

fn check_users(staged: &Staged, live: &Live) -> CoreResult<HashSet<Uuid>> {
    let mut ids = HashSet::new();
    let mut emails = HashSet::new();
    let mut owners = 0;
    for u in lines::<User>(staged, "users.jsonl")? {
        let u = u?;
        let who = &u.email;
        if validate::email(Some(who)).ok().as_deref() != Some(who.as_str()) {
            return Err(invalid(format!("member {who:?}: not a valid e-mail")));
        }
        if !name_ok(&u.first_name) || !name_ok(&u.last_name) {
            return Err(invalid(format!("member {who}: invalid name")));
        }
        if u.password_hash.is_empty() || u.password_hash.len() > 1024 {
            return Err(invalid(format!("member {who}: invalid password hash")));
        }
        if !ids.insert(u.id) || !emails.insert(u.email.clone()) {
            return Err(invalid(format!("member {who} is listed twice")));
        }
        if u.role == Role::Owner {
            owners += 1;
            if u.id != live.owner.id {
                return Err(invalid(
                    "the archive's Owner is not this portal's Owner".into(),
                ));
            }
        }
    }
    if owners != 1 {
        return Err(invalid(format!(
            "the archive must have exactly one Owner, this portal's; it has {owners}"
        )));
    }
    Ok(ids)
}

/// What the first pass learnt that the second needs.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every folder id of the archive.
    pub folders: HashSet<i64>,
    /// The archive's rooms root.
    pub rooms_root: i64,
}

fn check_folders(staged: &Staged) -> CoreResult<(HashSet<i64>, i64)> {
    let mut parents = HashMap::new();
    let mut roots = Vec::new();
    for f in lines::<Folder>(staged, "folders.jsonl")? {
        let f = f?;
        if matches!(f.kind, FolderKind::RoomsRoot) {
            roots.push(f.id);
        }
        if (f.parent_id.is_none()) != matches!(f.kind, FolderKind::RoomsRoot) {
            return Err(invalid(format!(
                "folder {}: only the rooms root has no parent",
                f.id
            )));
        }
        validate::title(Some(&f.title)).map_err(|e| invalid(format!("folder {}: {e}", f.id)))?;
        if parents.insert(f.id, f.parent_id).is_some() {
            return Err(invalid(format!("folder {} is listed twice", f.id)));
        }
    }
    for (id, parent) in &parents {
        if let Some(p) = parent
            && !parents.contains_key(p)
        {
            return Err(invalid(format!(
                "folder {id}: its parent {p} is not in the archive"
            )));
        }
    }
    let [root] = roots[..] else {
        return Err(invalid(
            "the archive must have exactly one rooms root".into(),
        ));
    };
    Ok((parents.into_keys().collect(), root))
}

fn check_files(
    staged: &Staged,
    documents: &Path,
    folders: &HashSet<i64>,
    live: &Live,
) -> CoreResult<()> {
    let kept: HashSet<i64> = live.backup_files.iter().map(|(f, _)| f.id).collect();
    let mut ids = HashSet::new();
    for f in lines::<FileEntry>(staged, "files.jsonl")? {
        let f = f?;
        validate::title(Some(&f.title)).map_err(|e| invalid(format!("file {}: {e}", f.id)))?;
        if !ids.insert(f.id) || kept.contains(&f.id) {
            return Err(invalid(format!("file {} is listed twice", f.id)));
        }
        if !folders.contains(&f.folder_id) {
            return Err(invalid(format!(
                "file {}: its folder is not in the archive",
                f.id
            )));
        }
        let bytes = documents
            .join(f.folder_id.to_string())
            .join(f.id.to_string());
        match std::fs::symlink_metadata(&bytes) {
            Ok(m) if m.is_file() && i64::try_from(m.len()).ok() == Some(f.size) => {}
            Ok(m) if m.is_file() => {
                return Err(invalid(format!(
                    "file {} ({}) records {} bytes but holds {}",
                    f.id,
                    f.title,
                    f.size,
                    m.len()
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "file {} ({}) is listed but its content is missing",
                    f.id, f.title
                )));
            }
        }
    }
    Ok(())
}

fn check_keys(staged: &Staged, users: &HashSet<Uuid>) -> CoreResult<()> {
    let mut ids = HashSet::new();
    for k in lines::<ApiKey>(staged, "api_keys.jsonl")? {
        let k = k?;
        validate::key_name(Some(&k.name)).map_err(|e| invalid(format!("API key {}: {e}", k.id)))?;
        if !ids.insert(k.id) {
            return Err(invalid(format!("API key {} is listed twice", k.id)));
        }
        if !users.contains(&k.user_id) {
            return Err(invalid(format!(
                "API key {}: its member is not in the archive",
                k.id
            )));
        }
    }
    Ok(())
}

/// The portal row of the archive: its time zone and language.
fn settings(staged: &Staged) -> CoreResult<(String, String)> {
    let mut rows = lines::<dsbackup_core::Portal>(staged, "portal.jsonl")?;
    let portal = rows
        .next()
        .ok_or_else(|| invalid("catalog/portal.jsonl is empty".into()))??;
    if rows.next().is_some() {
        return Err(invalid("catalog/portal.jsonl has more than one row".into()));
    }
    if portal.time_zone.parse::<chrono_tz::Tz>().is_err()
        || portal.language.len() > 32
        || portal.language.chars().any(char::is_control)
    {
        return Err(invalid(
            "catalog/portal.jsonl: invalid time zone or language".into(),
        ));
    }
    Ok((portal.time_zone, portal.language))
}

/// Checks every staged row of a portal (first pass). Fails with `Invalid` naming the first
/// offending row.
pub fn check(staged: &Staged, documents: &Path, live: &Live) -> CoreResult<Checked> {
    settings(staged)?;
    let users = check_users(staged, live)?;
    let (folders, rooms_root) = check_folders(staged)?;
    check_files(staged, documents, &folders, live)?;
    check_keys(staged, &users)?;
    Ok(Checked {
        folders,
        rooms_root,
    })
}

/// The checked rows as streams for the catalog (second pass), with the Owner's live row kept
/// when someone else restores, archive files never marked as backups, the live backup
/// archives carried over (`live.backup_files`, already moved to folders that exist), and keys
/// active only where the same key is active now.
pub fn stream(staged: &Staged, live: &Live) -> CoreResult<PortalContents> {
    let (time_zone, language) = settings(staged)?;
    let owner = live.owner.clone();
    let by_owner = live.by_owner;
    let users = lines::<User>(staged, "users.jsonl")?.map(move |u| {
        let u = u?;
        Ok(if u.role == Role::Owner && !by_owner {
            owner.clone()
        } else {
            u
        })
    });
    let carried: Vec<FileEntry> = live.backup_files.iter().map(|(f, _)| f.clone()).collect();
    let files = lines::<FileEntry>(staged, "files.jsonl")?
        .map(|f| {
            f.map(|f| FileEntry {
                is_backup: false,
                ..f
            })
        })
        .chain(carried.into_iter().map(Ok));
    let active = live.active_keys.clone();
    let keys = lines::<ApiKey>(staged, "api_keys.jsonl")?.map(move |k| {
        let k = k?;
        let same = active.get(&k.id) == Some(&k.key_hash);
        Ok(ApiKey {
            is_active: k.is_active && same,
            ..k
        })
    });
    Ok(PortalContents {
        time_zone,
        language,
        owner_id: Some(live.owner.id),
        users: Rows::new(users),
        folders: Rows::new(lines::<Folder>(staged, "folders.jsonl")?),
        files: Rows::new(files),
        api_keys: Rows::new(keys),
    })
}
