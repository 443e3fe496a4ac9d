//! Tracing for jobs: the fields a job's span carries, and running blocking work inside the
//! caller's span, so every line a job logs, on whichever thread, names the job and its portal.

use dsbackup_core::Portal;

/// Runs `f` on the blocking pool inside the current span (tokio's `spawn_blocking` starts its
/// closure with no span), as zero-to-production's `spawn_blocking_with_tracing`.
pub(crate) fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}

/// The `portal` field of a job's span: the portal's alias, or every alias of a dump, joined
/// with `,`.
pub(crate) fn portals(portals: &[Portal]) -> String {
    portals
        .iter()
        .map(|p| p.alias.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
