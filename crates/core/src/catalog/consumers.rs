//! `ConsumerStore`: a portal's storage consumer settings (`POST settings/authservice`: the
//! credentials of `s3`, `googlecloud`, `rackspace`, ...), and rewriting every stored storage
//! parameter at once (secrets key rotation).
//!
//! The catalog keeps values as it is given them: the service seals secret values before
//! storing them, so nothing here knows any cryptography.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::CoreResult;
use crate::model::PortalId;

/// A consumer's properties, by name.
pub type ConsumerProps = BTreeMap<String, String>;

/// What [`ConsumerStore::rewrite_secrets`] applies to each stored parameter: given its name
/// and value, `Ok(Some(new))` replaces the value, `Ok(None)` keeps it, `Err(why)` abandons
/// the whole rewrite.
pub type ParamRewrite = Box<dyn Fn(&str, &str) -> Result<Option<String>, String> + Send + Sync>;

/// Consumer settings, per portal and consumer name. Every lookup is scoped to a portal.
#[async_trait]
pub trait ConsumerStore: Send + Sync + std::fmt::Debug {
    /// Sets the properties of consumer `name` of `portal`, replacing whatever it had.
    /// Fails with `NotFound` when the portal does not exist.
    async fn set_consumer(
        &self,
        portal: PortalId,
        name: &str,
        props: ConsumerProps,
    ) -> CoreResult<()>;
    /// The properties of consumer `name` of `portal`; `None` when it has none stored.
    async fn consumer(&self, portal: PortalId, name: &str) -> CoreResult<Option<ConsumerProps>>;
    /// Every consumer of `portal` with stored properties, by name.
    async fn consumers(&self, portal: PortalId) -> CoreResult<Vec<(String, ConsumerProps)>>;
    /// Removes consumer `name`'s properties; returns whether there were any.
    async fn delete_consumer(&self, portal: PortalId, name: &str) -> CoreResult<bool>;
    /// Applies `f` to every stored storage parameter of every tenant — consumer properties,
    /// backup records' and schedules' `storage_params` — in one transaction: either every
    /// replacement is stored or, when `f` fails on any value, none is. Returns how many
    /// values were replaced. Fails with `Internal` carrying `f`'s message.
    async fn rewrite_secrets(&self, f: ParamRewrite) -> CoreResult<u64>;
}
