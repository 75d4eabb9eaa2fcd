//! When scheduled backups run: pure functions of a policy's schedule and the time, so they can be
//! tested across month ends and leap days without a clock.
//!
//! A schedule is an interval, a start date and a slot (minutes after midnight UTC). Its runs are:
//! - `ONCE`: the start date at the slot;
//! - `DAILY`: every day from the start date at the slot;
//! - `WEEKLY`: the start date at the slot, then every 7 days;
//! - `HOURLY`: every hour from the start date's midnight, at the slot's minute past the hour.
//!
//! All arithmetic is in UTC, where a day is always 24 hours, so "every day at 02:17" never drifts.

use cairn_store::{Interval, ScheduleRecord, Timestamp};
use chrono::{NaiveDate, NaiveTime, TimeDelta};

/// Minutes in a day: the number of distinct slots.
pub const SLOTS_PER_DAY: u16 = 1440;

fn period(interval: Interval) -> Option<TimeDelta> {
    match interval {
        Interval::Once => None,
        Interval::Hourly => Some(TimeDelta::hours(1)),
        Interval::Daily => Some(TimeDelta::days(1)),
        Interval::Weekly => Some(TimeDelta::weeks(1)),
    }
}

/// The first run of the schedule.
pub fn first_run(schedule: &ScheduleRecord) -> Timestamp {
    let minute = match schedule.interval {
        Interval::Hourly => schedule.slot_minute % 60,
        _ => schedule.slot_minute,
    };
    let time = NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)
        .unwrap_or(NaiveTime::MIN);
    schedule.start_date.and_time(time).and_utc()
}

/// The earliest run at or after `t`; `None` when a `ONCE` schedule's run is before `t`.
pub fn run_at_or_after(schedule: &ScheduleRecord, t: Timestamp) -> Option<Timestamp> {
    let first = first_run(schedule);
    if t <= first {
        return Some(first);
    }
    let period = period(schedule.interval)?;
    let elapsed = (t - first).num_milliseconds();
    let step = period.num_milliseconds();
    // Ceiling division: whole periods needed to reach `t`.
    let periods = (elapsed + step - 1) / step;
    first.checked_add_signed(TimeDelta::milliseconds(periods.checked_mul(step)?))
}

/// The next run strictly after `t`. Used after a run starts at `t`: however many runs were
/// missed while the service was down, the next one is in the future, so catch-up happens once.
pub fn run_after(schedule: &ScheduleRecord, t: Timestamp) -> Option<Timestamp> {
    run_at_or_after(schedule, t + TimeDelta::milliseconds(1))
}

/// When an activated policy's first backup should start: its first scheduled run at or after
/// `now`, or `now` for a `ONCE` schedule whose time has already passed (the one run it asked
/// for is due).
pub fn activation_run(schedule: &ScheduleRecord, now: Timestamp) -> Timestamp {
    run_at_or_after(schedule, now).unwrap_or(now)
}

/// Picks the slot for a new schedule given how many policies use each slot, so that no two share
/// a slot while free ones remain: the middle of the widest free stretch of the day (around the
/// clock), which also keeps runs spread apart. When every slot is taken, the least used one.
pub fn assign_slot(usage: &[(u16, u64)]) -> u16 {
    let mut used: Vec<u16> = usage
        .iter()
        .filter(|(slot, n)| *n > 0 && *slot < SLOTS_PER_DAY)
        .map(|(slot, _)| *slot)
        .collect();
    used.sort_unstable();
    used.dedup();
    let Some(&first) = used.first() else {
        // An empty installation starts in the quiet hours.
        return 60;
    };
    if used.len() >= usize::from(SLOTS_PER_DAY) {
        return usage
            .iter()
            .filter(|(slot, _)| *slot < SLOTS_PER_DAY)
            .min_by_key(|(slot, n)| (*n, *slot))
            .map(|(slot, _)| *slot)
            .unwrap_or(0);
    }
    // Gaps between consecutive used slots, the last one wrapping past midnight.
    let mut best = (0u16, first); // (free slots in the gap, the used slot it starts after)
    for (i, &slot) in used.iter().enumerate() {
        let next = used.get(i + 1).copied().unwrap_or(first + SLOTS_PER_DAY);
        let free = next - slot - 1;
        if free > best.0 {
            best = (free, slot);
        }
    }
    let (free, after) = best;
    (after + 1 + free / 2) % SLOTS_PER_DAY
}

/// A start date as the spec writes it, exactly `YYYY-MM-DD` (spec 1): chrono's own parser also
/// takes signs and years of five digits or more (`+99999-01-01`).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not a date: write it as YYYY-MM-DD, e.g. 2026-12-01"))
}

/// `HH:MM` of a slot.
pub fn slot_text(slot: u16) -> String {
    format!("{:02}:{:02}", slot / 60, slot % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    #[test]
    fn dates_are_exactly_four_digit_years_months_and_days() {
        assert_eq!(
            parse_date("2028-02-29"),
            Ok(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap())
        );
        for bad in [
            "+99999-01-01",
            "+2026-01-01",
            "-2026-01-01",
            "99999-01-01",
            "2026-1-01",
            "2026-01-1",
            "2026-02-30",
            "2026-01-01T00:00:00Z",
            " 2026-01-01",
            "2026/01/01",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
    }

    fn schedule(interval: Interval, start: (i32, u32, u32), slot: u16) -> ScheduleRecord {
        ScheduleRecord {
            interval,
            start_date: NaiveDate::from_ymd_opt(start.0, start.1, start.2).unwrap(),
            slot_minute: slot,
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn daily_runs_cross_month_ends_and_leap_days() {
        let s = schedule(Interval::Daily, (2028, 1, 30), 2 * 60 + 17);
        assert_eq!(first_run(&s), at(2028, 1, 30, 2, 17));
        assert_eq!(
            run_after(&s, at(2028, 1, 31, 2, 17)),
            Some(at(2028, 2, 1, 2, 17))
        );
        // 2028 is a leap year: Feb 28 -> Feb 29 -> Mar 1.
        assert_eq!(
            run_after(&s, at(2028, 2, 28, 3, 0)),
            Some(at(2028, 2, 29, 2, 17))
        );
        assert_eq!(
            run_after(&s, at(2028, 2, 29, 2, 17)),
            Some(at(2028, 3, 1, 2, 17))
        );
        // 2027 is not: Feb 28 -> Mar 1.
        let s = schedule(Interval::Daily, (2027, 2, 1), 23 * 60 + 59);
        assert_eq!(
            run_after(&s, at(2027, 2, 28, 23, 59)),
            Some(at(2027, 3, 1, 23, 59))
        );
        // Year end.
        assert_eq!(
            run_after(&s, at(2027, 12, 31, 23, 59)),
            Some(at(2028, 1, 1, 23, 59))
        );
    }

    #[test]
    fn weekly_keeps_the_weekday_of_the_start_date() {
        // 2028-02-24 is a Thursday; the next ones are Mar 2 (across the leap day) and Mar 9.
        let s = schedule(Interval::Weekly, (2028, 2, 24), 0);
        assert_eq!(
            run_after(&s, at(2028, 2, 24, 0, 0)),
            Some(at(2028, 3, 2, 0, 0))
        );
        assert_eq!(
            run_at_or_after(&s, at(2028, 3, 2, 0, 1)),
            Some(at(2028, 3, 9, 0, 0))
        );
    }

    #[test]
    fn hourly_runs_at_the_slot_minute_every_hour() {
        let s = schedule(Interval::Hourly, (2026, 12, 31), 10 * 60 + 45);
        assert_eq!(first_run(&s), at(2026, 12, 31, 0, 45));
        assert_eq!(
            run_after(&s, at(2026, 12, 31, 23, 45)),
            Some(at(2027, 1, 1, 0, 45))
        );
        assert_eq!(
            run_at_or_after(&s, at(2026, 12, 31, 5, 0)),
            Some(at(2026, 12, 31, 5, 45))
        );
    }

    #[test]
    fn once_runs_once() {
        let s = schedule(Interval::Once, (2026, 12, 1), 90);
        assert_eq!(
            run_at_or_after(&s, at(2026, 11, 27, 0, 0)),
            Some(at(2026, 12, 1, 1, 30))
        );
        assert_eq!(run_after(&s, at(2026, 12, 1, 1, 30)), None);
        // Activated after its time: the run it asked for is due now.
        let now = at(2026, 12, 2, 0, 0);
        assert_eq!(activation_run(&s, now), now);
    }

    #[test]
    fn downtime_collapses_missed_runs_into_one() {
        let s = schedule(Interval::Hourly, (2026, 11, 1), 0);
        // Down for three days: the run due at 00:00 on the 1st is taken late, and the next one
        // is the first after now, not the 72 that were missed.
        let now = at(2026, 11, 4, 0, 30);
        assert_eq!(run_after(&s, now), Some(at(2026, 11, 4, 1, 0)));
    }

    #[test]
    fn slots_spread_and_never_collide_while_free_ones_remain() {
        assert_eq!(assign_slot(&[]), 60);
        assert_eq!(assign_slot(&[(60, 1)]), 60 + 720);
        let mut usage: Vec<(u16, u64)> = Vec::new();
        for _ in 0..SLOTS_PER_DAY {
            let slot = assign_slot(&usage);
            assert!(
                usage.iter().all(|(s, _)| *s != slot),
                "slot {slot} handed out twice"
            );
            usage.push((slot, 1));
        }
        // The first few are far apart: 4 policies are at least 6 hours from each other.
        let mut first4: Vec<u16> = usage[..4].iter().map(|(s, _)| *s).collect();
        first4.sort_unstable();
        for pair in first4.windows(2) {
            assert!(pair[1] - pair[0] >= 360, "{first4:?}");
        }
        // All taken: the least used slot next.
        usage[700].1 = 0;
        usage
            .iter_mut()
            .filter(|(s, _)| *s == 5)
            .for_each(|u| u.1 = 3);
        let slot = assign_slot(&usage);
        assert_eq!(usage.iter().find(|(s, _)| *s == slot).unwrap().1, 0);
    }

    proptest! {
        /// The next run is after `t`, on the schedule's grid, and no run lies between.
        #[test]
        fn next_run_is_the_first_grid_point_after(
            days in 0i64..3000,
            start_offset in -400i64..400,
            slot in 0u16..1440,
            minute_of_t in 0i64..1440,
            interval in prop::sample::select(vec![Interval::Daily, Interval::Weekly, Interval::Hourly]),
        ) {
            let base = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
            let s = ScheduleRecord {
                interval,
                start_date: base + TimeDelta::days(days + start_offset.min(0)),
                slot_minute: slot,
            };
            let t = (base + TimeDelta::days(days)).and_hms_opt(0, 0, 0).unwrap().and_utc()
                + TimeDelta::minutes(minute_of_t);
            let next = run_after(&s, t).unwrap();
            prop_assert!(next > t);
            let p = period(interval).unwrap();
            let offset = (next - first_run(&s)).num_milliseconds();
            prop_assert!(offset >= 0 && offset % p.num_milliseconds() == 0);
            // The previous grid point is not after t (or is before the first run).
            let prev = next - p;
            prop_assert!(prev <= t || prev < first_run(&s));
            // Wall-clock minute of the run matches the slot.
            let minute = (next.timestamp() / 60).rem_euclid(1440) as u16;
            match interval {
                Interval::Hourly => prop_assert_eq!(minute % 60, slot % 60),
                _ => prop_assert_eq!(minute, slot),
            }
        }
    }
}
