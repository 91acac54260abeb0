//! `uri()`: Go's `net/url.Parse` acceptance rules (`docs/reference/expressions.md` §5.11), and URI
//! equality.

use super::dns;

type Result<T> = core::result::Result<T, &'static str>;

/// The parts of a URI reference, borrowed from the text.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parts<'a> {
    scheme: String,
    opaque: &'a str,
    userinfo: Option<&'a str>,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn check_escapes(s: &str, host: bool) -> Result<()> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !hex(i + 1) || !hex(i + 2) {
                    return Err("invalid URL escape");
                }
                // In a host, only `%25` (an IPv6 zone) or escapes of non-ASCII bytes are allowed.
                if host && b[i + 1] < b'8' && &s[i..i + 3] != "%25" {
                    return Err("invalid URL escape in host");
                }
                i += 3;
                continue;
            }
            c if host && c < 0x80 && !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)) => {
                return Err("invalid character in host name");
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_host(host: &str) -> Result<()> {
    if host.starts_with('[') {
        let close = host.rfind(']').ok_or("missing ']' in host")?;
        if !valid_optional_port(&host[close + 1..]) {
            return Err("invalid port after host");
        }
    } else if let Some(colon) = host.rfind(':')
        && !valid_optional_port(&host[colon..])
    {
        return Err("invalid port after host");
    }
    check_escapes(host, true)
}

fn parse(s: &str) -> Result<Parts<'_>> {
    if s.is_empty() {
        return Err("empty string");
    }
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL");
    }
    let mut parts = Parts::default();
    let (rest, fragment) = match s.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fragment {
        check_escapes(f, false)?;
        parts.fragment = Some(f);
    }
    if rest == "*" {
        parts.path = rest;
        return Ok(parts);
    }
    // Scheme: a letter, then letters, digits, `+`, `-`, `.`, up to a `:`.
    let mut rest = rest;
    for (i, c) in rest.char_indices() {
        match c {
            c if c.is_ascii_alphabetic() => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme"),
            ':' => {
                parts.scheme = rest[..i].to_ascii_lowercase();
                rest = &rest[i + 1..];
                break;
            }
            _ => break,
        }
    }
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
        parts.query = Some("");
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        parts.query = Some(q);
    }
    if !rest.starts_with('/') {
        if !parts.scheme.is_empty() {
            parts.opaque = rest;
            return Ok(parts);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err("first path segment in URL cannot contain colon");
        }
    }
    if (!parts.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        rest = &after[end..];
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        parse_host(host)?;
        if let Some(u) = userinfo {
            let valid = u
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b) || b >= 0x80);
            if !valid {
                return Err("invalid userinfo");
            }
            check_escapes(u, false)?;
        }
        parts.userinfo = userinfo;
        parts.host = host;
    }
    check_escapes(rest, false)?;
    parts.path = rest;
    Ok(parts)
}

/// Validates `s` as `uri()` does.
pub(crate) fn validate(s: &str) -> Result<()> {
    parse(s).map(drop)
}

fn split_port(host: &str) -> (&str, &str) {
    let bracket_end = host.rfind(']').unwrap_or(0);
    match host[bracket_end..].rfind(':') {
        Some(c) => (&host[..bracket_end + c], &host[bracket_end + c + 1..]),
        None => (host, ""),
    }
}

/// URI equality: schemes without case; for http(s) hosts by DNS equality and ports exactly;
/// everything else exactly.
pub(crate) fn equal(a: &str, b: &str) -> Result<bool> {
    let (pa, pb) = (parse(a)?, parse(b)?);
    if pa.scheme != pb.scheme {
        return Ok(false);
    }
    let same_rest = pa.opaque == pb.opaque
        && pa.userinfo == pb.userinfo
        && pa.path == pb.path
        && pa.query == pb.query
        && pa.fragment == pb.fragment;
    if !same_rest {
        return Ok(false);
    }
    if matches!(pa.scheme.as_str(), "http" | "https") {
        let ((host_a, port_a), (host_b, port_b)) = (split_port(pa.host), split_port(pb.host));
        if port_a != port_b {
            return Ok(false);
        }
        if host_a.is_empty() || host_b.is_empty() {
            return Ok(host_a == host_b);
        }
        return dns::equal(host_a, host_b).map_err(|_| "host is not a valid DNS name");
    }
    Ok(pa.host == pb.host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acceptance() {
        for ok in [
            "http://istio.io",
            "urn:foo",
            "mailto:x@y",
            "foo",
            "/a:b",
            "?q",
            "#f",
            "*",
            "a b",
            "a/b:c",
            "http://h:99999",
            "http://h/?q=%zz",
            "ftp://ftp.istio.io/releases",
            "http://[::1%25eth0]:80/",
        ] {
            assert!(validate(ok).is_ok(), "{ok}: {:?}", validate(ok));
        }
        for bad in [
            "",
            "\u{7f}",
            "a\nb",
            ":a",
            "1:2",
            "http://h/%zz",
            "http://h/#%z",
            "http://[::1/",
            "http://host:port/",
            "http://a b/",
            "http://a{b/",
            "http://a%41/",
            "http://a^b@h/",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn equality() {
        assert_eq!(equal("HTTP://Example.COM:80/a", "http://example.com:80/a"), Ok(true));
        assert_eq!(equal("urn:BAR", "urn:bar"), Ok(false));
        assert_eq!(equal("ftp://HOST/x", "ftp://host/x"), Ok(false));
        assert_eq!(equal("http://foo.bar.baz", "http://foo.Bar.baz."), Ok(true));
        assert_eq!(equal("https://foo.bar.baz", "https://foo.Bar.baz.:"), Ok(true));
        assert_eq!(equal("http://h/%41", "http://h/A"), Ok(false));
        assert_eq!(equal("http://h:80/", "http://h/"), Ok(false));
    }
}
