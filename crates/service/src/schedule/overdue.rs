//! Schedules that have not succeeded within twice their period (two runs in a row missed or
//! failed): each is alerted once (`notify::schedule_overdue`), and again only after it
//! succeeded and fell behind anew. The clock starts at the newest live scheduled backup, or
//! when the schedule was saved if that is later (saving a schedule starts it afresh). What was
//! alerted is kept in memory: a restart alerts a schedule still overdue once more.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use dsbackup_core::schedule::Period;
use dsbackup_core::{CoreResult, PortalId, Schedule};

use crate::Service;

/// The newest live scheduled backup of `tenant`: when its schedule last succeeded.
///
/// Fails when the catalog does.
pub async fn last_success(state: &Service, tenant: PortalId) -> CoreResult<Option<DateTime<Utc>>> {
    Ok(state
        .catalog()
        .live_backups(tenant)
        .await?
        .into_iter()
        .filter(|r| r.is_scheduled)
        .map(|r| r.created_on)
        .max())
}

/// How long one period of a schedule is (a month counts 31 days), and its name.
fn period(s: &Schedule) -> (Duration, &'static str) {
    match s.cron.period {
        Period::EveryDay => (Duration::days(1), "daily"),
        Period::EveryWeek => (Duration::days(7), "weekly"),
        Period::EveryMonth => (Duration::days(31), "monthly"),
    }
}

/// Whether a schedule whose clock started at `since` is overdue at `now`.
fn is_overdue(s: &Schedule, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - since > period(s).0 * 2
}

/// The schedules alerted as overdue and not yet back on time.
#[derive(Debug, Default)]
pub struct Overdue {
    alerted: HashSet<PortalId>,
}

impl Overdue {
    /// Looks at every schedule at `now` and alerts those newly overdue.
    ///
    /// Fails when the catalog does.
    pub async fn check(&mut self, state: &Service, now: DateTime<Utc>) -> CoreResult<()> {
        let schedules = state.catalog().schedules().await?;
        self.alerted
            .retain(|t| schedules.iter().any(|s| s.tenant_id == *t));
        for s in schedules {
            let success = last_success(state, s.tenant_id).await?;
            let since = success.map_or(s.created_on, |t| t.max(s.created_on));
            if !is_overdue(&s, since, now) {
                self.alerted.remove(&s.tenant_id);
                continue;
            }
            if self.alerted.contains(&s.tenant_id) {
                continue;
            }
            let Some(portal) = super::scheduler::portal_of(state, &s).await? else {
                continue;
            };
            tracing::warn!(portal = portal.id, since = %since, "scheduled backups are overdue");
            let succeeded = success.is_some_and(|t| t >= s.created_on);
            crate::notify::schedule_overdue(state, &portal, since, succeeded, period(&s).1).await;
            self.alerted.insert(s.tenant_id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use dsbackup_core::StorageKind;
    use dsbackup_core::schedule::Cron;

    fn schedule(period: Period) -> Schedule {
        Schedule {
            tenant_id: 1,
            storage: StorageKind::DataStore,
            storage_params: Default::default(),
            cron: Cron::new(period, 3, Some(1)).unwrap(),
            backups_stored: 1,
            last_backup_time: None,
            last_error: None,
            last_error_time: None,
            created_on: Utc::now(),
        }
    }

    #[test]
    fn overdue_after_twice_the_period() {
        let now = Utc::now();
        let daily = schedule(Period::EveryDay);
        assert!(!is_overdue(&daily, now - Duration::hours(47), now));
        assert!(is_overdue(&daily, now - Duration::hours(49), now));
        let weekly = schedule(Period::EveryWeek);
        assert!(!is_overdue(&weekly, now - Duration::days(13), now));
        assert!(is_overdue(&weekly, now - Duration::days(15), now));
        let monthly = schedule(Period::EveryMonth);
        assert!(!is_overdue(&monthly, now - Duration::days(61), now));
        assert!(is_overdue(&monthly, now - Duration::days(63), now));
    }
}
