//! The text CEL's `string()` gives each value, as cel-cpp prints it: doubles with six
//! significant digits (`1e+06`, `100`), timestamps and durations with the fraction in groups
//! of three digits (`2024-01-02T03:04:05.120Z`, `0.100s`).

use core::fmt;

use crate::{Duration, Timestamp};

/// A double as cel-cpp prints it: the shortest digits that read back to the same double, in
/// fixed notation from 1e-4 up to 1e6 and in exponent notation (`1.234567e+06`, `5e-324`)
/// outside; NaN with its sign bit (`-nan` for `0.0/0.0` on common hardware).
pub(crate) fn write_double(w: &mut dyn fmt::Write, v: f64) -> fmt::Result {
    if v.is_nan() {
        return w.write_str(if v.is_sign_negative() { "-nan" } else { "nan" });
    }
    if v.is_infinite() {
        return w.write_str(if v < 0.0 { "-inf" } else { "inf" });
    }
    if v == 0.0 {
        return w.write_str(if v.is_sign_negative() { "-0" } else { "0" });
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return write!(w, "{v}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    write!(w, "{}e{sign}{:02}", trim_fraction(mantissa), exponent.unsigned_abs())
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `.fff`, `.ffffff` or `.fffffffff`: the fewest groups of three digits that hold `nanos`;
/// nothing for zero.
fn write_fraction(w: &mut dyn fmt::Write, nanos: u32) -> fmt::Result {
    if nanos == 0 {
        Ok(())
    } else if nanos.is_multiple_of(1_000_000) {
        write!(w, ".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        write!(w, ".{:06}", nanos / 1_000)
    } else {
        write!(w, ".{nanos:09}")
    }
}

/// `2024-01-02T03:04:05.123Z`.
pub(crate) fn write_timestamp(w: &mut dyn fmt::Write, t: Timestamp) -> fmt::Result {
    let civil = super::calendar::utc(t);
    write!(
        w,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        civil.year, civil.month, civil.day, civil.hour, civil.minute, civil.second
    )?;
    write_fraction(w, t.subsec_nanos())?;
    w.write_char('Z')
}

/// `3600s`, `0.100s`, `-1.500s`.
pub(crate) fn write_duration(w: &mut dyn fmt::Write, d: Duration) -> fmt::Result {
    let nanos = d.as_nanos();
    if nanos < 0 {
        w.write_char('-')?;
    }
    let magnitude = nanos.unsigned_abs();
    write!(w, "{}", magnitude / 1_000_000_000)?;
    #[allow(clippy::cast_possible_truncation, reason = "the remainder is below 1e9")]
    write_fraction(w, (magnitude % 1_000_000_000) as u32)?;
    w.write_char('s')
}

/// The decimal text of every number below 1000, right-aligned in three-byte cells
/// (`"  0  1 …999"`, leading zeros written as such: `"007"`).
const SMALL_DECIMALS: &str = {
    const BYTES: [u8; 3000] = {
        let mut bytes = [0u8; 3000];
        let mut n = 0;
        while n < 1000 {
            bytes[3 * n] = b'0' + (n / 100) as u8;
            bytes[3 * n + 1] = b'0' + (n / 10 % 10) as u8;
            bytes[3 * n + 2] = b'0' + (n % 10) as u8;
            n += 1;
        }
        bytes
    };
    match core::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("decimal digits are ASCII"),
    }
};

/// The decimal text of every number below 1000, cut out of [`SMALL_DECIMALS`] once, at
/// compile time: a lookup is one bounds check and one load.
static SMALL_DECIMAL_TEXTS: [&str; 1000] = {
    let mut texts = [""; 1000];
    let mut n = 0;
    while n < 1000 {
        let digits = if n < 10 {
            1
        } else if n < 100 {
            2
        } else {
            3
        };
        let (_, cell) = SMALL_DECIMALS.split_at(3 * n + 3 - digits);
        texts[n] = cell.split_at(digits).0;
        n += 1;
    }
    texts
};

/// The decimal text of `n` when it is below 1000, borrowed from a static table: what
/// `string()` of an HTTP or gRPC status code gives, without allocating.
#[inline]
pub(crate) fn small_decimal(n: u64) -> Option<&'static str> {
    SMALL_DECIMAL_TEXTS.get(usize::try_from(n).ok()?).copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_decimals_are_the_decimal_text() {
        for n in 0..2000_u64 {
            assert_eq!(small_decimal(n), (n < 1000).then(|| n.to_string()).as_deref(), "{n}");
        }
    }

    use super::*;

    fn double(v: f64) -> String {
        let mut s = String::new();
        write_double(&mut s, v).unwrap();
        s
    }

    fn duration(nanos: i64) -> String {
        let mut s = String::new();
        write_duration(&mut s, Duration::from_nanos(nanos)).unwrap();
        s
    }

    #[test]
    fn doubles_print_like_cel_cpp() {
        let cases = [
            (100.0, "100"),
            (1e6, "1e+06"),
            (1e-7, "1e-07"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (123.456_789, "123.456789"),
            (999_999.5, "999999.5"),
            (1_234_567.0, "1.234567e+06"),
            (0.000_123_456_7, "0.0001234567"),
            (1.0 / 3.0, "0.3333333333333333"),
            (5e-324, "5e-324"),
            (1.5e300, "1.5e+300"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, text) in cases {
            assert_eq!(double(v), text, "{v:e}");
        }
    }

    #[test]
    fn fractions_in_groups_of_three() {
        assert_eq!(duration(100_000_000), "0.100s");
        assert_eq!(duration(3_600_000_000_000), "3600s");
        assert_eq!(duration(-1_500_000_000), "-1.500s");
        assert_eq!(duration(1_000), "0.000001s");
        assert_eq!(duration(1), "0.000000001s");
        let mut s = String::new();
        write_timestamp(&mut s, Timestamp::from_unix(1_704_164_645, 120_000_000)).unwrap();
        assert_eq!(s, "2024-01-02T03:04:05.120Z");
    }
}
