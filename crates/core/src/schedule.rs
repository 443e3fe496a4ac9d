//! Schedules: when an automatic backup is due, as a pure function of the schedule, the last
//! run, the clock and the portal's time zone — so it can be property-tested.
//!
//! - Daily at `hour`; weekly on `day` 1–7 (Sunday = 1, as upstream's Quartz cron) at `hour`;
//!   monthly on `day` 1–31 at `hour`. In a month without that day (31 in April, 29–31 in
//!   February) the run happens on the month's last day.
//! - Local times that do not exist (the hour skipped when clocks go forward) run at the first
//!   instant after the gap; ambiguous ones (clocks going back) run at the first occurrence.
//! - A schedule that never ran counts from today 00:00 local minus one second, as upstream: a
//!   daily schedule whose hour already passed today is due at once.
//! - After downtime a missed run happens once: the next due time is computed from the last
//!   run, and running sets the last run to now.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// How often a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    EveryDay = 0,
    EveryWeek = 1,
    EveryMonth = 2,
}

/// When a schedule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cron {
    pub period: Period,
    /// 0–23, local time.
    pub hour: u32,
    /// Weekly: 1–7 with Sunday = 1; monthly: 1–31; daily: 0.
    pub day: u32,
}

impl Cron {
    /// Checks the ranges; daily schedules get day 0.
    ///
    /// Fails with `Invalid` and a message for the client.
    pub fn new(period: Period, hour: i64, day: Option<i64>) -> CoreResult<Self> {
        if !(0..=23).contains(&hour) {
            return Err(CoreError::Invalid("cronParams.hour must be 0 - 23".into()));
        }
        let day = match period {
            Period::EveryDay => 0,
            Period::EveryWeek => match day {
                Some(d @ 1..=7) => d,
                _ => {
                    return Err(CoreError::Invalid(
                        "cronParams.day must be 1 - 7 (Sunday = 1) for EveryWeek".into(),
                    ));
                }
            },
            Period::EveryMonth => match day {
                Some(d @ 1..=31) => d,
                _ => {
                    return Err(CoreError::Invalid(
                        "cronParams.day must be 1 - 31 for EveryMonth".into(),
                    ));
                }
            },
        };
        Ok(Self {
            period,
            hour: hour as u32,
            day: day as u32,
        })
    }

    /// The Quartz cron string upstream stores (`0 0 H ? * *`, `0 0 H ? * D`, `0 0 H D * ?`).
    pub fn quartz(&self) -> String {
        match self.period {
            Period::EveryDay => format!("0 0 {} ? * *", self.hour),
            Period::EveryWeek => format!("0 0 {} ? * {}", self.hour, self.day),
            Period::EveryMonth => format!("0 0 {} {} * ?", self.hour, self.day),
        }
    }
}

/// Parses an IANA time zone name; unknown names are UTC.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// The instant a local wall-clock time names in `tz`: the first after a gap, the earlier of
/// two in an overlap.
fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // Inside a gap: step forward minute by minute to the first existing time.
            let mut probe = local;
            for _ in 0..(26 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|d| d.pred_opt()).map_or(28, |d| d.day())
}

/// The run time on a given local date, if the schedule runs that day.
fn run_on(cron: &Cron, tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let runs = match cron.period {
        Period::EveryDay => true,
        Period::EveryWeek => date.weekday().number_from_sunday() == cron.day,
        Period::EveryMonth => {
            date.day() == cron.day.min(last_day_of_month(date.year(), date.month()))
        }
    };
    runs.then(|| {
        resolve(
            tz,
            date.and_time(NaiveTime::from_hms_opt(cron.hour, 0, 0).unwrap_or_default()),
        )
    })
}

/// The first run strictly after `after`.
pub fn next_after(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> DateTime<Utc> {
    let start = after.with_timezone(&tz).date_naive() - Duration::days(1);
    for i in 0..400 {
        let date = start + Duration::days(i);
        if let Some(t) = run_on(cron, tz, date)
            && t > after
        {
            return t;
        }
    }
    after + Duration::days(1)
}

/// The base a never-run schedule counts from: today 00:00 local (at `now`) minus one second.
pub fn never_ran_base(tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = now.with_timezone(&tz).date_naive().and_time(NaiveTime::MIN);
    resolve(tz, midnight) - Duration::seconds(1)
}

/// When a schedule is due next, given its last run (if any).
pub fn next_due(
    cron: &Cron,
    tz: Tz,
    last_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    next_after(
        cron,
        tz,
        last_run.unwrap_or_else(|| never_ran_base(tz, now)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn validation_and_quartz() {
        assert!(Cron::new(Period::EveryDay, 24, None).is_err());
        assert!(Cron::new(Period::EveryWeek, 3, Some(0)).is_err());
        assert!(Cron::new(Period::EveryWeek, 3, None).is_err());
        assert!(Cron::new(Period::EveryMonth, 3, Some(32)).is_err());
        assert_eq!(Cron::new(Period::EveryDay, 5, Some(9)).unwrap().day, 0);
        assert_eq!(
            Cron::new(Period::EveryWeek, 3, Some(1)).unwrap().quartz(),
            "0 0 3 ? * 1"
        );
        assert_eq!(
            Cron::new(Period::EveryMonth, 23, Some(31))
                .unwrap()
                .quartz(),
            "0 0 23 31 * ?"
        );
    }

    #[test]
    fn a_passed_hour_today_is_due_at_once_and_only_once() {
        let cron = Cron::new(Period::EveryDay, 2, None).unwrap();
        let now = utc("2026-11-27T10:00:00Z");
        let due = next_due(&cron, Tz::UTC, None, now);
        assert_eq!(due, utc("2026-11-27T02:00:00Z"));
        assert!(due <= now);
        // Having run now, the next is tomorrow — however long the server was down before.
        assert_eq!(
            next_due(&cron, Tz::UTC, Some(now), now),
            utc("2026-11-28T02:00:00Z")
        );
        let long_ago = utc("2026-10-01T02:00:00Z");
        assert!(
            next_due(&cron, Tz::UTC, Some(long_ago), now) <= now,
            "missed runs: due once"
        );
    }

    #[test]
    fn weekly_sunday_is_one_and_months_end() {
        let sunday = Cron::new(Period::EveryWeek, 4, Some(1)).unwrap();
        let t = next_after(&sunday, Tz::UTC, utc("2026-11-27T00:00:00Z"));
        assert_eq!(t, utc("2026-11-29T04:00:00Z"), "2026-11-29 is a Sunday");
        let on_31 = Cron::new(Period::EveryMonth, 1, Some(31)).unwrap();
        assert_eq!(
            next_after(&on_31, Tz::UTC, utc("2026-02-01T00:00:00Z")),
            utc("2026-02-28T01:00:00Z")
        );
        assert_eq!(
            next_after(&on_31, Tz::UTC, utc("2028-02-01T00:00:00Z")),
            utc("2028-02-29T01:00:00Z"),
            "leap day"
        );
        assert_eq!(
            next_after(&on_31, Tz::UTC, utc("2026-04-01T00:00:00Z")),
            utc("2026-04-30T01:00:00Z")
        );
    }

    #[test]
    fn dst_gaps_and_overlaps() {
        let riga = zone("Europe/Riga");
        // 2026-03-29 03:00 local does not exist in Riga (03:00 -> 04:00).
        let at3 = Cron::new(Period::EveryDay, 3, None).unwrap();
        let t = next_after(&at3, riga, utc("2026-03-28T12:00:00Z"));
        assert_eq!(
            t,
            utc("2026-03-29T01:00:00Z"),
            "04:00 EEST, the first time after the gap"
        );
        // 2026-10-25 03:00 local happens twice; the first is taken.
        let t = next_after(&at3, riga, utc("2026-10-24T12:00:00Z"));
        assert_eq!(t, utc("2026-10-25T00:00:00Z"), "03:00 EEST, not EET");
    }

    fn cron_strategy() -> impl Strategy<Value = Cron> {
        (0u32..3, 0u32..24, 1u32..32).prop_map(|(p, hour, day)| match p {
            0 => Cron {
                period: Period::EveryDay,
                hour,
                day: 0,
            },
            1 => Cron {
                period: Period::EveryWeek,
                hour,
                day: day % 7 + 1,
            },
            _ => Cron {
                period: Period::EveryMonth,
                hour,
                day,
            },
        })
    }

    proptest! {
        #[test]
        fn next_is_later_monotonic_and_on_schedule(
            cron in cron_strategy(),
            secs in 1_600_000_000i64..1_900_000_000,
            gap in 0i64..90 * 86_400,
            zone_ix in 0usize..4,
        ) {
            let tz = [Tz::UTC, zone("Europe/Riga"), zone("America/New_York"), zone("Australia/Lord_Howe")][zone_ix];
            let a = Utc.timestamp_opt(secs, 0).unwrap();
            let b = a + Duration::seconds(gap);
            let na = next_after(&cron, tz, a);
            let nb = next_after(&cron, tz, b);
            prop_assert!(na > a);
            prop_assert!(na <= nb, "monotonic: {na} then {nb}");
            prop_assert!(na - a <= Duration::days(32), "never more than a month away");
            let local = na.with_timezone(&tz);
            // On the hour, or just after a DST gap that swallowed it.
            prop_assert!(local.hour() == cron.hour || local.hour() == (cron.hour + 1) % 24 || tz == zone("Australia/Lord_Howe"));
            match cron.period {
                Period::EveryDay => {}
                Period::EveryWeek => prop_assert_eq!(local.weekday().number_from_sunday(), cron.day),
                Period::EveryMonth => prop_assert_eq!(local.day(), cron.day.min(last_day_of_month(local.year(), local.month()))),
            }
            // Nothing between `a` and the answer would also have been a run.
            let earlier = next_after(&cron, tz, a + (na - a) / 2);
            prop_assert!(earlier == na || earlier > a + (na - a) / 2);
        }
    }
}
