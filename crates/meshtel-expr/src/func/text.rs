//! `toLower`, `match` (the glob) and `size`.

use alloc::borrow::Cow;

/// Unicode simple lower-case mapping, context-free (`docs/reference/expressions.md` §5.17).
/// Borrows when nothing changes.
pub(crate) fn to_lower(s: &str) -> Cow<'_, str> {
    fn lower(c: char) -> char {
        if c == '\u{130}' {
            return 'i';
        }
        let mut it = c.to_lowercase();
        match (it.next(), it.next()) {
            (Some(l), None) => l,
            _ => c,
        }
    }
    match s.char_indices().find(|&(_, c)| lower(c) != c) {
        None => Cow::Borrowed(s),
        Some((at, _)) => {
            let mut out = String::with_capacity(s.len());
            out.push_str(&s[..at]);
            out.extend(s[at..].chars().map(lower));
            Cow::Owned(out)
        }
    }
}

/// `match(s, pattern)`: a `*` at the end is a prefix test, at the start a suffix test.
pub(crate) fn glob(s: &str, pattern: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        s.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        s.ends_with(suffix)
    } else {
        s == pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_and_glob() {
        assert_eq!(to_lower("User-Agent"), "user-agent");
        assert_eq!(to_lower("ΣΑΣ"), "σασ");
        assert_eq!(to_lower("ǅ"), "ǆ");
        assert_eq!(to_lower("İ"), "i");
        assert!(matches!(to_lower("already"), Cow::Borrowed(_)));
        assert!(glob("ns1.svc.local", "ns1.*"));
        assert!(glob("svc1.ns1.cluster", "*.ns1.cluster"));
        assert!(!glob("abc", "*b*"));
        assert!(glob("x", "*"));
        assert!(!glob("abc", ""));
    }
}
