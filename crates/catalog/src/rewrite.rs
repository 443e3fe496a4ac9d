//! What every backend's `ConsumerStore::rewrite_secrets` does to one stored value: apply the
//! rewrite to a parameter map, or to the `storage_params` map inside a schedule's body. The
//! backends only read, lock and write the rows.

use dsbackup_core::catalog::{ConsumerProps, ParamRewrite};
use dsbackup_core::{CoreError, CoreResult, PortalId};

/// Applies `f` to every value of `props`; returns how many it replaced.
///
/// Fails with `Internal` carrying `f`'s message.
pub fn props(f: &ParamRewrite, props: &mut ConsumerProps) -> CoreResult<u64> {
    let mut changed = 0;
    for (name, value) in props.iter_mut() {
        if let Some(new) = f(name, value).map_err(CoreError::Internal)? {
            *value = new;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Applies `f` to the `storage_params` of the schedule body `body` (of `tenant`, for
/// messages); returns how many values it replaced (0 for a body without parameters).
///
/// Fails with `Internal` for a damaged body or `f`'s message.
pub fn schedule_body(
    f: &ParamRewrite,
    tenant: PortalId,
    body: &mut serde_json::Value,
) -> CoreResult<u64> {
    let damaged =
        |e: serde_json::Error| CoreError::Internal(format!("damaged schedule {tenant}: {e}"));
    let Some(params) = body.get_mut("storage_params") else {
        return Ok(0);
    };
    let mut map: ConsumerProps = serde_json::from_value(params.take()).map_err(damaged)?;
    let n = props(f, &mut map)?;
    *params = serde_json::to_value(&map).map_err(damaged)?;
    Ok(n)
}
