//! A portal's catalog rows as archive entries: one JSON document per line, one file per table,
//! under `<prefix>catalog/`. Password hashes and key hashes are included so a restore keeps
//! every member able to log in; clear-text secrets never exist to be included.

use dsbackup_core::{CoreResult, Portal};
use serde::Serialize;

use crate::state::AppState;

fn jsonl<T: Serialize>(rows: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        if let Ok(line) = serde_json::to_vec(r) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }
    out
}

/// The catalog entries of one portal: `(archive path, bytes)`.
///
/// Fails when the catalog cannot be read.
pub async fn portal_rows(
    state: &AppState,
    portal: &Portal,
    prefix: &str,
) -> CoreResult<Vec<(String, Vec<u8>)>> {
    let cat = state.catalog();
    let users = cat.users(portal.id).await?;
    let folders = cat.folders_of(portal.id).await?;
    let files = cat.files_of(portal.id).await?;
    let keys = cat.api_keys_of_portal(portal.id).await?;
    Ok(vec![
        (
            format!("{prefix}catalog/portal.jsonl"),
            jsonl(std::slice::from_ref(portal)),
        ),
        (format!("{prefix}catalog/users.jsonl"), jsonl(&users)),
        (format!("{prefix}catalog/folders.jsonl"), jsonl(&folders)),
        (format!("{prefix}catalog/files.jsonl"), jsonl(&files)),
        (format!("{prefix}catalog/api_keys.jsonl"), jsonl(&keys)),
    ])
}
