//! RFC 3339 timestamps, parsed like Go's `time.Parse(time.RFC3339, s)`
//! (`docs/reference/expressions.md` §5.8).

use core::fmt;

use crate::Timestamp;

/// Why a text is not an RFC 3339 timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp (expected YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)): {reason} at byte {offset}")]
pub struct TimestampParseError {
    /// What was wrong.
    pub reason: &'static str,
    /// Where, as a byte offset into the text.
    pub offset: usize,
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn err(&self, reason: &'static str) -> TimestampParseError {
        TimestampParseError {
            reason,
            offset: self.at,
        }
    }

    fn digits(&mut self, min: usize, max: usize, what: &'static str) -> Result<u32, TimestampParseError> {
        let run = self.s[self.at..]
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if run < min {
            return Err(self.err(what));
        }
        let v = self.s[self.at..self.at + run]
            .iter()
            .fold(0u32, |v, c| v * 10 + u32::from(c - b'0'));
        self.at += run;
        Ok(v)
    }

    fn byte(&mut self, b: u8, what: &'static str) -> Result<(), TimestampParseError> {
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }
}

const fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

const fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) const fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// Parses `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`; the hour may have one digit (Go quirk).
pub(crate) fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampParseError> {
    let mut c = Cursor {
        s: text.as_bytes(),
        at: 0,
    };
    let year = c.digits(4, 4, "year must be 4 digits")?;
    c.byte(b'-', "expected '-' after the year")?;
    let month = c.digits(2, 2, "month must be 2 digits")?;
    c.byte(b'-', "expected '-' after the month")?;
    let day_at = c.at;
    let day = c.digits(2, 2, "day must be 2 digits")?;
    c.byte(b'T', "expected 'T' after the date")?;
    let hour = c.digits(1, 2, "hour must be 1 or 2 digits")?;
    c.byte(b':', "expected ':' after the hour")?;
    let minute = c.digits(2, 2, "minute must be 2 digits")?;
    c.byte(b':', "expected ':' after the minute")?;
    let second = c.digits(2, 2, "second must be 2 digits")?;
    let mut nanos = 0u32;
    if c.s.get(c.at) == Some(&b'.') && c.s.get(c.at + 1).is_some_and(u8::is_ascii_digit) {
        c.at += 1;
        let run = c.s[c.at..].iter().take_while(|b| b.is_ascii_digit()).count();
        for (i, b) in c.s[c.at..c.at + run].iter().enumerate().take(9) {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
        c.at += run;
    }
    let offset_secs: i64 = match c.s.get(c.at) {
        Some(b'Z') => {
            c.at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            c.at += 1;
            let h = c.digits(2, 2, "offset hour must be 2 digits")?;
            c.byte(b':', "expected ':' in the offset")?;
            let m = c.digits(2, 2, "offset minute must be 2 digits")?;
            if h > 23 || m > 59 {
                return Err(c.err("offset out of range"));
            }
            let secs = i64::from(h * 3600 + m * 60);
            if sign == b'-' { -secs } else { secs }
        }
        _ => return Err(c.err("expected 'Z' or a ±hh:mm offset")),
    };
    if c.at != c.s.len() {
        return Err(c.err("extra text after the timestamp"));
    }
    let (y, at) = (i64::from(year), |offset| TimestampParseError { reason: "", offset });
    if !(1..=12).contains(&month) {
        return Err(TimestampParseError {
            reason: "month out of range",
            ..at(5)
        });
    }
    if day < 1 || day > days_in_month(y, month) {
        return Err(TimestampParseError {
            reason: "day out of range",
            ..at(day_at)
        });
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(TimestampParseError {
            reason: "time of day out of range",
            ..at(day_at + 3)
        });
    }
    let secs = days_from_civil(y, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Ok(Timestamp::from_unix(secs, nanos))
}

/// RFC 3339 in UTC, fraction trimmed of trailing zeros and omitted when zero.
pub(crate) fn write_rfc3339(w: &mut dyn fmt::Write, t: Timestamp) -> fmt::Result {
    let (days, secs) = (t.unix_seconds().div_euclid(86_400), t.unix_seconds().rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    write!(
        w,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )?;
    let mut nanos = t.subsec_nanos();
    if nanos != 0 {
        let mut digits = 9;
        while nanos.is_multiple_of(10) {
            nanos /= 10;
            digits -= 1;
        }
        write!(w, ".{nanos:0digits$}")?;
    }
    w.write_char('Z')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}")).to_string()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(ok("2015-01-02T15:04:35Z"), "2015-01-02T15:04:35Z");
        assert_eq!(ok("2015-01-02T16:04:35+01:00"), "2015-01-02T15:04:35Z");
        assert_eq!(ok("2020-02-29T00:00:00-08:00"), "2020-02-29T08:00:00Z");
        assert_eq!(ok("2015-01-02T15:04:35.120Z"), "2015-01-02T15:04:35.12Z");
        assert_eq!(ok("2015-01-02T5:04:35Z"), "2015-01-02T05:04:35Z");
        assert_eq!(ok("1977-02-04T12:00:00Z"), "1977-02-04T12:00:00Z");
        assert_eq!(ok("1969-12-31T23:59:59.9999999999Z"), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(ok("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00Z").unwrap(),
            Timestamp::from_unix(0, 0)
        );
        for bad in [
            "2015-01-02T15:04:35",
            "242233",
            "2015-02-30T00:00:00Z",
            "2015-13-01T00:00:00Z",
            "2015-01-02t15:04:35Z",
            "2015-01-02T15:04:35z",
            "2015-01-02T24:00:00Z",
            "2015-01-02T15:04:60Z",
            "2015-01-02T15:04:35+24:00",
            "2015-01-02T15:04:35+01:60",
            "2015-01-02T15:04:35,5Z",
            "2015-1-02T15:04:35Z",
            "2015-01-02T15:04:35Z ",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
