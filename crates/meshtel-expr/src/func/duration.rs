//! Go duration strings (`time.ParseDuration`) and Go's `Duration.String()`.

use core::fmt;

/// The error of [`crate::Duration::from_str`](core::str::FromStr): the text is not a Go duration string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a duration: expected a Go duration string such as \"19ms\", \"1h30m\" or \"1.5s\"")]
pub struct NotADuration;

const LIMIT: u64 = 1 << 63;

fn unit_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        b"us" | b"\xC2\xB5s" | b"\xCE\xBCs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60_000_000_000,
        b"h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration string into nanoseconds (`docs/reference/expressions.md` §2.8), or `None`.
pub(crate) fn parse_go(text: &str) -> Option<i64> {
    let mut s = text.as_bytes();
    let mut neg = false;
    if let [c @ (b'-' | b'+'), rest @ ..] = s {
        neg = *c == b'-';
        s = rest;
    }
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return None;
        }
        // Integer part; overflow means "not a duration".
        let int_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &s[..int_len] {
            if v > LIMIT / 10 {
                return None;
            }
            v = v * 10 + u64::from(c - b'0');
            if v > LIMIT {
                return None;
            }
        }
        s = &s[int_len..];
        // Fraction: digits past the point where they would overflow are ignored.
        let (mut f, mut scale, mut frac_len) = (0u64, 1f64, 0usize);
        let has_point = s.first() == Some(&b'.');
        if has_point {
            s = &s[1..];
            frac_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &s[..frac_len] {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            s = &s[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        let unit_len = s.iter().take_while(|&&c| c != b'.' && !c.is_ascii_digit()).count();
        let unit = unit_nanos(&s[..unit_len])?;
        s = &s[unit_len..];
        if v > LIMIT / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            // Binary64, as Go computes it: exact to the nanosecond for fractions of hours.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return None;
            }
        }
        total += v;
        if total > LIMIT {
            return None;
        }
    }
    if neg {
        return Some((total as i64).wrapping_neg());
    }
    if total > LIMIT - 1 {
        return None;
    }
    Some(total as i64)
}

/// Writes `nanos` the way Go's `Duration.String()` does: `0s`, `1.5ms`, `1h30m0s`.
pub(crate) fn write_go(w: &mut dyn fmt::Write, nanos: i64) -> fmt::Result {
    if nanos == 0 {
        return w.write_str("0s");
    }
    if nanos < 0 {
        w.write_char('-')?;
    }
    let u = nanos.unsigned_abs();
    let frac = |w: &mut dyn fmt::Write, v: u64, prec: u32| -> Result<u64, fmt::Error> {
        let p = 10u64.pow(prec);
        let (int, mut fr) = (v / p, v % p);
        write!(w, "{int}")?;
        if fr != 0 {
            let mut digits = prec as usize;
            while fr % 10 == 0 {
                fr /= 10;
                digits -= 1;
            }
            write!(w, ".{fr:0digits$}")?;
        }
        Ok(int)
    };
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        frac(w, u, prec)?;
        return w.write_str(unit);
    }
    let secs_total = u / 1_000_000_000;
    let (hours, minutes) = (secs_total / 3600, secs_total / 60 % 60);
    if hours > 0 {
        write!(w, "{hours}h")?;
    }
    if secs_total >= 60 {
        write!(w, "{minutes}m")?;
    }
    frac(w, u % 60_000_000_000, 9)?;
    w.write_char('s')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: i64) -> String {
        let mut s = String::new();
        write_go(&mut s, n).unwrap();
        s
    }

    #[test]
    fn parses_the_spec_examples() {
        for (s, v) in [
            ("0", Some(0)),
            ("+0", Some(0)),
            ("-0", Some(0)),
            ("19ms", Some(19_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("1h1h", Some(7_200_000_000_000)),
            ("1s1ms", Some(1_001_000_000)),
            ("1us2ns", Some(1_002)),
            ("1µs", Some(1_000)),
            ("1μs", Some(1_000)),
            ("1.5h", Some(5_400_000_000_000)),
            (".5s", Some(500_000_000)),
            ("5.s", Some(5_000_000_000)),
            ("1.9ns", Some(1)),
            ("0.5ns", Some(0)),
            ("-1.5s", Some(-1_500_000_000)),
            ("2562047h47m16.854775807s", Some(i64::MAX)),
            ("2562047h47m16.854775808s", None),
            (".s", None),
            ("1", None),
            ("00", None),
            ("0.0", None),
            ("1m1", None),
            ("1 h", None),
            ("1h ", None),
            ("1d", None),
            ("1e3s", None),
            ("1_0s", None),
            ("1H", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(parse_go(s), v, "{s:?}");
        }
    }

    #[test]
    fn prints_like_go() {
        for (n, s) in [
            (0, "0s"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (19_000_000, "19ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (5_400_000_000_000, "1h30m0s"),
            (360_000_000_000_000, "100h0m0s"),
            (3_600_000_000_001, "1h0m0.000000001s"),
            (-1_000, "-1µs"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(text(n), s);
        }
    }
}
