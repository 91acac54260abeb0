//! `ip()`: textual IPv4 and IPv6 addresses, equality and canonical text
//! (`docs/reference/expressions.md` §5.7, §6.7).

use core::fmt;
use core::net::{IpAddr, Ipv6Addr};

/// Parses an address as Go's `net.ParseIP` does, minus IPv4 fields with leading zeros (D9).
pub(crate) fn parse(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok()
}

fn as_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Address equality after mapping IPv4 to `::ffff:a.b.c.d`.
pub(crate) fn same_address(a: IpAddr, b: IpAddr) -> bool {
    as_v6(a) == as_v6(b)
}

/// IPv4 and IPv4-mapped addresses in dotted decimal; other IPv6 addresses in RFC 5952 form.
pub(crate) fn write_canonical(w: &mut dyn fmt::Write, a: IpAddr) -> fmt::Result {
    match a {
        IpAddr::V4(v4) => write!(w, "{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => write!(w, "{v4}"),
            None => write!(w, "{v6}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        let mut out = String::new();
        write_canonical(&mut out, parse(s).unwrap()).unwrap();
        out
    }

    #[test]
    fn parses_compares_and_prints() {
        assert!(same_address(
            parse("1.2.3.4").unwrap(),
            parse("::ffff:1.2.3.4").unwrap()
        ));
        assert!(same_address(
            parse("2001:DB8::1").unwrap(),
            parse("2001:db8:0:0:0:0:0:1").unwrap()
        ));
        assert_eq!(text("::ffff:1.2.3.4"), "1.2.3.4");
        assert_eq!(text("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(text("fe80:0:0:1:0:0:0:1"), "fe80:0:0:1::1");
        assert_eq!(text("::1.2.3.4"), "::102:304");
        assert_eq!(text("2001:db8::1.2.3.4"), "2001:db8::102:304");
        for bad in [
            "10.1.2",
            "010.1.2.3",
            "fe80::1%eth0",
            "[::1]",
            " 1.2.3.4",
            "1.2.3.256",
            "",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
