//! Calendar fields of timestamps in a time zone, for CEL's accessors (`getHours`,
//! `getDayOfWeek`, …), with cel-cpp's zone names: `""` is UTC; an IANA name from the
//! time-zone database bundled with `jiff` (matched exactly, so `UTC` but not `utc`; the
//! host's database is not consulted, so results do not depend on the machine); or a fixed
//! offset `[+|-]h:mm` / `[+|-]hh:mm` (`05:30`, `-08:00`; not range-checked, as in cel-cpp).
//!
//! The zone only supplies the UTC offset at the instant; the civil fields are computed here,
//! so every timestamp of CEL's range (years 1 to 9999) works in every zone, even where the
//! local date falls outside that range.

use jiff::tz::TimeZone;

use crate::Timestamp;
use crate::func::time::{civil_from_days, days_from_civil};

/// A timestamp's civil fields in some zone.
pub(crate) struct Civil {
    pub(crate) year: i64,
    /// 1–12.
    pub(crate) month: u32,
    /// 1–31.
    pub(crate) day: u32,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    pub(crate) millisecond: i64,
    /// 1–366.
    pub(crate) day_of_year: i64,
    /// 0 is Sunday.
    pub(crate) weekday: i64,
}

fn civil(t: Timestamp, offset_seconds: i64) -> Civil {
    let local = t.unix_seconds() + offset_seconds;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        millisecond: i64::from(t.subsec_nanos() / 1_000_000),
        day_of_year: days - days_from_civil(year, 1, 1) + 1,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7),
    }
}

/// The fields in UTC.
pub(crate) fn utc(t: Timestamp) -> Civil {
    civil(t, 0)
}

/// `[+|-]h:mm` or `[+|-]hh:mm`: the offset in seconds.
fn fixed_offset(name: &str) -> Option<i64> {
    let (sign, rest) = match name.as_bytes().first()? {
        b'+' => (1, &name[1..]),
        b'-' => (-1, &name[1..]),
        _ => (1, name),
    };
    let (hours, minutes) = rest.split_once(':')?;
    let digits = |s: &str, len: core::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(minutes, 2..=2) {
        return None;
    }
    let hours: i64 = hours.parse().ok()?;
    let minutes: i64 = minutes.parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

/// The UTC offset of the IANA zone `name` at `t`.
fn zone_offset(name: &str, t: Timestamp) -> Option<i64> {
    let tz = TimeZone::get(name).ok()?;
    // jiff matches names without regard to case; cel-cpp does not.
    if tz.iana_name() != Some(name) {
        return None;
    }
    // jiff's instants stop a day short of CEL's range; the rules there are the same.
    let seconds = t
        .unix_seconds()
        .clamp(jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
    let instant = jiff::Timestamp::from_second(seconds).ok()?;
    Some(i64::from(tz.to_offset(instant).seconds()))
}

/// The fields in the zone called `zone`; `None` if no zone has that name.
pub(crate) fn in_zone(t: Timestamp, zone: &str) -> Option<Civil> {
    let offset = if zone.is_empty() {
        0
    } else {
        zone_offset(zone, t).or_else(|| fixed_offset(zone))?
    };
    Some(civil(t, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        // 2024-01-02T03:04:05.678Z, a Tuesday.
        let t = Timestamp::from_unix(1_704_164_645, 678_000_000);
        let u = utc(t);
        assert_eq!((u.year, u.month, u.day, u.hour, u.weekday), (2024, 1, 2, 3, 2));
        assert_eq!((u.millisecond, u.day_of_year), (678, 2));
        let la = in_zone(t, "America/Los_Angeles").unwrap();
        assert_eq!((la.day, la.hour, la.weekday), (1, 19, 1));
        let india = in_zone(t, "+05:30").unwrap();
        assert_eq!((india.hour, india.minute), (8, 34));
        assert_eq!(in_zone(t, "-08:00").unwrap().hour, 19);
        assert_eq!(in_zone(t, "05:30").unwrap().hour, 8);
        assert_eq!(in_zone(t, "").unwrap().hour, 3);
        assert_eq!(in_zone(t, "UTC").unwrap().hour, 3);
        for bad in ["utc", "Mars/Olympus_Mons", "+0530", "+5:7", "Z"] {
            assert!(in_zone(t, bad).is_none(), "{bad}");
        }
        // The last instant of year 9999 in a zone east of UTC is in year 10000.
        let last = Timestamp::from_unix(253_402_300_799, 999_999_999);
        let chatham = in_zone(last, "Pacific/Chatham").unwrap();
        assert_eq!((chatham.year, chatham.month), (10_000, 1));
        assert_eq!(utc(last).millisecond, 999);
    }
}
