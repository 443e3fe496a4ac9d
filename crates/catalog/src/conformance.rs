//! The catalog conformance suite: one set of checks every backend must pass, split by the
//! store it exercises (`conformance/*.rs`). Each backend's test binary calls [`run_all`] with
//! a fresh, empty catalog.
//!
//! Checks panic with a message naming the broken rule. Every scoped lookup has a case showing
//! another portal's row is invisible through it. Beside the suite: [`race_claims`], run by each
//! backend's tests with two handles on one database, and [`populate`] / [`after_copy`] for a
//! catalog copied from one backend to another.

#![allow(clippy::unwrap_used)] // a test suite: a failed step is a failed check

mod consumers;
mod copy;
mod files;
mod history;
mod jobs;
mod keys;
mod portals;
mod restore;
mod schedules;

use std::sync::Arc;

pub use copy::{Populated, Snapshot, after_copy, populate};
pub use jobs::race_job_claims;
pub use schedules::race_claims;

use chrono::Utc;
use dsbackup_core::catalog::{NewFolder, NewPortal};
use dsbackup_core::{Catalog, Folder, FolderKind, Portal, Role, User};
use uuid::Uuid;

/// A member of no portal yet (`create_portal` and the callers set `portal_id`).
fn new_user(email: &str, role: Role) -> User {
    User {
        id: Uuid::new_v4(),
        portal_id: 0,
        email: email.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        role,
        password_hash: "$argon2id$fake".into(),
        created_on: Utc::now(),
    }
}

fn new_portal(alias: &str) -> NewPortal {
    NewPortal {
        alias: alias.into(),
        time_zone: "UTC".into(),
        language: "en-US".into(),
    }
}

/// A new portal `alias` (owner `email`) with one room, `title`, in its rooms root: the
/// portal, its owner, the root and the room.
async fn portal_with_room(
    cat: &dyn Catalog,
    alias: &str,
    email: &str,
    title: &str,
) -> (Portal, User, Folder, Folder) {
    let (p, owner) = cat
        .create_portal(new_portal(alias), new_user(email, Role::Owner))
        .await
        .unwrap();
    let root = cat.rooms_root(p.id).await.unwrap();
    let room = cat
        .create_folder(NewFolder {
            portal_id: p.id,
            parent_id: Some(root.id),
            title: title.into(),
            kind: FolderKind::Room { room_type: 5 },
            created_by: owner.id,
        })
        .await
        .unwrap();
    (p, owner, root, room)
}

/// Runs every check against `cat`, which must start empty.
pub async fn run_all(cat: Arc<dyn Catalog>) {
    let cat = cat.as_ref();
    portals::portals_and_users(cat).await;
    portals::members_are_scoped(cat).await;
    portals::sessions(cat).await;
    portals::revocation(cat).await;
    portals::delete_cascades(cat).await;
    keys::keys(cat).await;
    keys::keys_are_scoped(cat).await;
    files::folders_and_files(cat).await;
    files::lookups_are_scoped(cat).await;
    history::backups(cat).await;
    history::missing_archives(cat).await;
    history::records_are_scoped(cat).await;
    restore::replace_contents(cat).await;
    restore::restored_ids_are_not_given_again(cat).await;
    schedules::schedules(cat).await;
    schedules::claim_schedule(cat).await;
    jobs::jobs(cat).await;
    jobs::leases(cat).await;
    consumers::consumers(cat).await;
    consumers::rewrite_secrets(cat).await;
}
