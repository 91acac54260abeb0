//! `dnsName()` validation and DNS-name equality (`docs/reference/expressions.md` §5.9).

use alloc::borrow::Cow;

use idna::uts46::{AsciiDenyList, Hyphens, Uts46};
use unicode_bidi::BidiClass;
use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization;

fn is_mark(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::NonspacingMark | GeneralCategory::SpacingMark | GeneralCategory::EnclosingMark
    )
}

fn check_label(label: &str) -> Result<(), &'static str> {
    let b = label.as_bytes();
    if b.len() > 4 && b[2] == b'-' && b[3] == b'-' {
        return Err("hyphens in the third and fourth positions");
    }
    if b.first() == Some(&b'-') || b.last() == Some(&b'-') {
        return Err("label starts or ends with a hyphen");
    }
    if label.is_ascii() {
        return Ok(());
    }
    if label.chars().next().is_some_and(is_mark) {
        return Err("label starts with a combining mark");
    }
    // RFC 5892 CONTEXTJ: a joiner must follow a virama. (ZWNJ's joining-type context is not
    // modelled; such labels are rejected.)
    let mut prev = None;
    for c in label.chars() {
        if matches!(c, '\u{200C}' | '\u{200D}')
            && prev.is_none_or(|p| unicode_normalization::char::canonical_combining_class(p) != 9)
        {
            return Err("zero-width joiner outside its permitted context");
        }
        prev = Some(c);
    }
    Ok(())
}

fn decode_ace(label: &str) -> Result<String, &'static str> {
    let decoded = idna::punycode::decode_to_string(&label[4..]).ok_or("invalid punycode")?;
    if decoded.is_empty() || !unicode_normalization::is_nfc(&decoded) {
        return Err("punycode label is empty or not NFC");
    }
    // Every code point must be valid under UTS 46 with STD3 rules, unmapped.
    let (mapped, result) = Uts46::new().to_unicode(decoded.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    if result.is_err() || mapped != decoded {
        return Err("punycode label holds a disallowed or mapped code point");
    }
    Ok(decoded)
}

fn is_rtl(c: char) -> bool {
    matches!(
        unicode_bidi::bidi_class(c),
        BidiClass::R | BidiClass::AL | BidiClass::AN
    )
}

/// RFC 5893 section 2, for one label of a domain that has right-to-left labels.
fn bidi_rule(label: &str) -> bool {
    use BidiClass::{AL, AN, BN, CS, EN, ES, ET, L, NSM, ON, R};
    let classes: Vec<BidiClass> = label.chars().map(unicode_bidi::bidi_class).collect();
    let Some(&first) = classes.first() else { return true };
    let last = classes.iter().rev().find(|&&c| c != NSM).copied();
    match first {
        R | AL => {
            classes
                .iter()
                .all(|c| matches!(c, R | AL | AN | EN | ES | CS | ET | ON | BN | NSM))
                && matches!(last, Some(R | AL | EN | AN))
                && !(classes.contains(&EN) && classes.contains(&AN))
        }
        L => {
            classes
                .iter()
                .all(|c| matches!(c, L | EN | ES | CS | ET | ON | BN | NSM))
                && matches!(last, Some(L | EN))
        }
        _ => false,
    }
}

/// Validates `s` as `dnsName()` does; the result has its `xn--` labels decoded.
pub(crate) fn validate(s: &str) -> Result<Cow<'_, str>, &'static str> {
    let text: Cow<'_, str> = if s.is_ascii() || unicode_normalization::is_nfc(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    };
    if text.is_empty() {
        return Err("empty name");
    }
    // One trailing dot marks the root; the reference also ignores a second one (`foo..`).
    let mut body = text.strip_suffix('.').unwrap_or(&text);
    if let Some(shorter) = body.strip_suffix('.')
        && !shorter.ends_with('.')
        && !shorter.is_empty()
    {
        body = shorter;
    }
    if body.is_empty() {
        return Err("empty label");
    }
    let mut decoded_any = false;
    let mut bidi = false;
    for label in body.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.starts_with("xn--") {
            let decoded = decode_ace(label)?;
            check_label(&decoded)?;
            bidi |= decoded.chars().any(is_rtl);
            decoded_any = true;
        } else {
            check_label(label)?;
            bidi |= !label.is_ascii() && label.chars().any(is_rtl);
        }
    }
    if bidi {
        for label in body.split('.') {
            let ok = if label.starts_with("xn--") {
                bidi_rule(&decode_ace(label)?)
            } else {
                bidi_rule(label)
            };
            if !ok {
                return Err("label breaks the bidi rule");
            }
        }
    }
    if !decoded_any {
        return Ok(text);
    }
    let parts: Vec<String> = text
        .split('.')
        .map(|l| {
            if l.starts_with("xn--") {
                decode_ace(l).unwrap_or_else(|_| l.to_owned())
            } else {
                l.to_owned()
            }
        })
        .collect();
    Ok(Cow::Owned(parts.join(".")))
}

fn lookup(s: &str) -> Result<Cow<'_, str>, &'static str> {
    // ASCII names made only of lower-case LDH labels map to themselves.
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.split('.').all(|l| check_label(l).is_ok() && !l.starts_with("xn--"));
    if plain {
        return Ok(Cow::Borrowed(s));
    }
    let (mapped, result) = Uts46::new().to_unicode(s.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    if result.is_err() {
        return Err("name is not valid under UTS 46 lookup rules");
    }
    Ok(Cow::Owned(mapped.into_owned()))
}

/// DNS-name equality: UTS 46 lookup mapping of both sides, one trailing dot forgiven.
pub(crate) fn equal(a: &str, b: &str) -> Result<bool, &'static str> {
    let (a, b) = (lookup(a)?, lookup(b)?);
    let (a, b) = match (a.strip_suffix('.'), b.strip_suffix('.')) {
        (Some(a2), None) => (a2, b.as_ref()),
        (None, Some(b2)) => (a.as_ref(), b2),
        _ => (a.as_ref(), b.as_ref()),
    };
    Ok(a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(validate("xn--bcher-kva.example").unwrap(), "bücher.example");
        assert_eq!(validate("fOO").unwrap(), "fOO");
        for ok in [
            "foo.bar",
            "foo.",
            "foo..",
            "a_b.com",
            "*.foo.com",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", ".a", "b..a", "foo...", "-a", "f-", "f--.boo", "a.-b", "ab--c", "xn--", "\u{301}a",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn equality() {
        assert_eq!(equal("foo.bar", "FOO.BAR."), Ok(true));
        assert_eq!(equal("xn--bcher-kva.example", "BÜCHER.example"), Ok(true));
        assert!(equal("a_b.com", "a_b.com").is_err());
        assert_eq!(equal("foo.", "foo.."), Ok(false));
        assert_eq!(equal("ＡＢＣ", "abc"), Ok(true));
        assert_eq!(equal("straße", "strasse"), Ok(false));
    }
}
