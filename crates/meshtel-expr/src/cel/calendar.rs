//! Calendar fields of timestamps in a time zone, for CEL's accessors (`getHours`,
//! `getDayOfWeek`, …). Time zones are `UTC`, IANA names from the time-zone database bundled
//! with `jiff` (the host's database is not consulted, so results do not depend on the
//! machine), and fixed offsets `+05:30` / `-08:00`.

use jiff::tz::{Offset, TimeZone};

use crate::Timestamp;

/// A timestamp's civil fields in some zone.
pub(crate) struct Civil {
    pub(crate) year: i16,
    /// 1–12.
    pub(crate) month: i8,
    /// 1–31.
    pub(crate) day: i8,
    pub(crate) hour: i8,
    pub(crate) minute: i8,
    pub(crate) second: i8,
    pub(crate) millisecond: i16,
    /// 1–366.
    pub(crate) day_of_year: i16,
    /// 0 is Sunday.
    pub(crate) weekday: i8,
}

fn civil(t: Timestamp, zone: &TimeZone) -> Option<Civil> {
    let nanos = i32::try_from(t.subsec_nanos()).ok()?;
    let instant = jiff::Timestamp::new(t.unix_seconds(), nanos).ok()?;
    let z = instant.to_zoned_datetime(zone.clone());
    Some(Civil {
        year: z.year(),
        month: z.month(),
        day: z.day(),
        hour: z.hour(),
        minute: z.minute(),
        second: z.second(),
        millisecond: z.millisecond(),
        day_of_year: z.day_of_year(),
        weekday: z.weekday().to_sunday_zero_offset(),
    })
}

/// The fields in UTC. Timestamps are kept in CEL's range (years 1–9999), which `jiff`
/// covers; outside it the epoch is returned (unreachable from CEL).
pub(crate) fn utc(t: Timestamp) -> Civil {
    civil(t, &TimeZone::UTC)
        .or_else(|| civil(Timestamp::from_unix(0, 0), &TimeZone::UTC))
        .unwrap_or(Civil {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millisecond: 0,
            day_of_year: 1,
            weekday: 4,
        })
}

/// `+05:30`, `-08:00`, `+0530`: a fixed offset.
fn fixed_offset(name: &str) -> Option<TimeZone> {
    let (sign, rest) = match name.as_bytes().first()? {
        b'+' => (1, &name[1..]),
        b'-' => (-1, &name[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or_else(|| rest.split_at(rest.len().min(2)));
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !(minutes.is_empty() || digits(minutes)) {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = if minutes.is_empty() { 0 } else { minutes.parse().ok()? };
    if minutes >= 60 {
        return None;
    }
    let offset = Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()?;
    Some(TimeZone::fixed(offset))
}

/// The fields in the zone called `zone`; `None` if no zone has that name.
pub(crate) fn in_zone(t: Timestamp, zone: &str) -> Option<Civil> {
    let tz = if zone == "UTC" {
        TimeZone::UTC
    } else {
        fixed_offset(zone).or_else(|| TimeZone::get(zone).ok())?
    };
    civil(t, &tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        // 2024-01-02T03:04:05.678Z, a Tuesday.
        let t = Timestamp::from_unix(1_704_164_645, 678_000_000);
        let utc = utc(t);
        assert_eq!(
            (utc.year, utc.month, utc.day, utc.hour, utc.weekday),
            (2024, 1, 2, 3, 2)
        );
        assert_eq!((utc.millisecond, utc.day_of_year), (678, 2));
        let la = in_zone(t, "America/Los_Angeles").unwrap();
        assert_eq!((la.day, la.hour, la.weekday), (1, 19, 1));
        let india = in_zone(t, "+05:30").unwrap();
        assert_eq!((india.hour, india.minute), (8, 34));
        assert_eq!(in_zone(t, "-08:00").unwrap().hour, 19);
        assert!(in_zone(t, "Mars/Olympus_Mons").is_none());
        assert!(in_zone(t, "+5:75").is_none());
    }
}
