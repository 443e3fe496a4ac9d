//! Fault points for crash tests: `DSBACKUP_FAULT_DELAY=point:ms[,point:ms]` makes the server
//! pause at a named point, so a test can kill it there. Unset, nothing happens.

use std::time::Duration;

fn configured(point: &str) -> Option<Duration> {
    let spec = std::env::var("DSBACKUP_FAULT_DELAY").ok()?;
    spec.split(',').find_map(|item| {
        let (name, ms) = item.split_once(':')?;
        (name.trim() == point).then(|| ms.trim().parse().ok().map(Duration::from_millis))?
    })
}

/// Pauses the calling (blocking) thread at `point` if configured.
pub fn delay(point: &str) {
    if let Some(d) = configured(point) {
        tracing::warn!(point, ms = d.as_millis() as u64, "fault point: pausing");
        std::thread::sleep(d);
    }
}

/// Pauses the calling task at `point` if configured.
pub async fn delay_async(point: &str) {
    if let Some(d) = configured(point) {
        tracing::warn!(point, ms = d.as_millis() as u64, "fault point: pausing");
        tokio::time::sleep(d).await;
    }
}
