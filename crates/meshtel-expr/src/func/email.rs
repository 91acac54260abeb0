//! `email()`: one RFC 5322 mailbox without a display name, as Go's `net/mail.ParseAddress`
//! reads it (`docs/reference/expressions.md` §5.10), and e-mail equality.

use super::dns;

struct Parser<'a> {
    s: &'a str,
}

type Result<T> = core::result::Result<T, &'static str>;

const fn is_vchar(c: char) -> bool {
    ('!' <= c && c <= '~') || !c.is_ascii()
}

const fn is_atext(c: char, dot: bool, permissive: bool) -> bool {
    match c {
        '.' => dot,
        '(' | ')' | '[' | ']' | ';' | '@' | '\\' | ',' => permissive,
        '<' | '>' | '"' | ':' => false,
        _ => is_vchar(c),
    }
}

impl<'a> Parser<'a> {
    fn skip_space(&mut self) {
        self.s = self.s.trim_start_matches([' ', '\t']);
    }

    fn consume(&mut self, c: char) -> bool {
        self.s.strip_prefix(c).map(|rest| self.s = rest).is_some()
    }

    fn peek(&self) -> Option<char> {
        self.s.chars().next()
    }

    fn atom(&mut self, dot: bool, permissive: bool) -> Result<&'a str> {
        let end = self.s.find(|c| !is_atext(c, dot, permissive)).unwrap_or(self.s.len());
        if end == 0 {
            return Err("invalid string");
        }
        let (atom, rest) = self.s.split_at(end);
        self.s = rest;
        if !permissive && (atom.starts_with('.') || atom.ends_with('.') || atom.contains("..")) {
            return Err("misplaced dot in atom");
        }
        Ok(atom)
    }

    fn quoted(&mut self) -> Result<String> {
        self.consume('"');
        let mut out = String::new();
        let mut chars = self.s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.s = &self.s[i + 1..];
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e)) if is_vchar(e) || e == ' ' || e == '\t' => out.push(e),
                    _ => return Err("bad character in quoted-string"),
                },
                c if is_vchar(c) || c == ' ' || c == '\t' => out.push(c),
                _ => return Err("bad character in quoted-string"),
            }
        }
        Err("unclosed quoted-string")
    }

    /// Returns the comment's text; the opening `(` is already consumed.
    fn comment(&mut self) -> Result<String> {
        let (mut depth, mut out) = (1, String::new());
        let mut chars = self.s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.s = &self.s[i + 1..];
                        return Ok(out);
                    }
                }
                _ => out.push(c),
            }
        }
        Err("misformatted parenthetical comment")
    }

    fn skip_cfws(&mut self) -> Result<()> {
        self.skip_space();
        while self.consume('(') {
            self.comment()?;
            self.skip_space();
        }
        Ok(())
    }

    /// `local@domain`, with the local part unquoted.
    fn addr_spec(&mut self) -> Result<(String, &'a str)> {
        let saved = self.s;
        let result = (|| {
            self.skip_space();
            let local = match self.peek() {
                None => return Err("no addr-spec"),
                Some('"') => {
                    let q = self.quoted()?;
                    if q.is_empty() {
                        return Err("empty quoted-string in addr-spec");
                    }
                    q
                }
                Some(_) => self.atom(true, false)?.to_owned(),
            };
            if !self.consume('@') {
                return Err("missing @ in addr-spec");
            }
            self.skip_space();
            if self.s.is_empty() {
                return Err("no domain in addr-spec");
            }
            Ok((local, self.atom(true, false)?))
        })();
        if result.is_err() {
            self.s = saved;
        }
        result
    }

    /// One address: `(local, domain, has_display_name)`.
    fn address(&mut self, handle_group: bool) -> Result<(String, &'a str, bool)> {
        self.skip_space();
        if self.s.is_empty() {
            return Err("no address");
        }
        if let Ok((local, domain)) = self.addr_spec() {
            self.skip_space();
            let mut named = false;
            if self.consume('(') {
                named = !self.comment()?.is_empty();
            }
            return Ok((local, domain, named));
        }
        let mut named = false;
        if self.peek() != Some('<') {
            // A phrase: atoms and quoted strings.
            loop {
                self.skip_space();
                match self.peek() {
                    Some('"') => drop(self.quoted()?),
                    Some(c) if is_atext(c, true, true) => drop(self.atom(true, true)?),
                    _ => break,
                }
                named = true;
            }
            if !named {
                return Err("no angle-addr");
            }
        }
        self.skip_space();
        if handle_group && self.consume(':') {
            // A group: only a one-member group yields one address.
            self.skip_space();
            let (local, domain, member_named) = self.address(false)?;
            self.skip_cfws()?;
            if !self.consume(';') {
                return Err("group with multiple addresses or missing ';'");
            }
            self.skip_cfws()?;
            return Ok((local, domain, member_named));
        }
        if !self.consume('<') {
            return Err("no angle-addr");
        }
        let (local, domain) = self.addr_spec()?;
        if !self.consume('>') {
            return Err("unclosed angle-addr");
        }
        Ok((local, domain, named))
    }
}

/// Parses a mailbox: the unquoted local part and the domain.
fn parse(s: &str) -> Result<(String, &str)> {
    let mut p = Parser { s };
    let (local, domain, named) = p.address(true)?;
    p.skip_cfws()?;
    if !p.s.is_empty() {
        return Err("expected a single address");
    }
    if named {
        return Err("display names are not allowed");
    }
    dns::validate(domain).map_err(|_| "the domain is not a valid DNS name")?;
    Ok((local, domain))
}

/// Validates `s` as `email()` does.
pub(crate) fn validate(s: &str) -> Result<()> {
    parse(s).map(drop)
}

/// E-mail equality: local parts exactly (after unquoting), domains by DNS equality.
pub(crate) fn equal(a: &str, b: &str) -> Result<bool> {
    let (la, da) = parse(a)?;
    let (lb, db) = parse(b)?;
    // Split at the first `@` of the parsed address, as the reference does.
    let full_a = format!("{la}@{da}");
    let full_b = format!("{lb}@{db}");
    let (la, da) = full_a.split_once('@').unwrap_or((&full_a, ""));
    let (lb, db) = full_b.split_once('@').unwrap_or((&full_b, ""));
    Ok(la == lb && dns::equal(da, db)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        for ok in [
            "foo@bar",
            "foo+a@bar.com",
            "\"john..doe\"@bar.com",
            "<foo@bar.com>",
            "  foo@bar.com",
            "a@b.com ()",
            "g: a@b.com;",
            "istio@istio.io",
            "\"istio\"@istio.io",
        ] {
            assert!(validate(ok).is_ok(), "{ok}: {:?}", validate(ok));
        }
        for bad in [
            "",
            "foo",
            "foo@",
            "@foo",
            "foo.@bar.com",
            "foo+a@bar-.com",
            "John <j@x.com>",
            "a@b.com (John)",
            "a@b.com, c@d.com",
            "a@[1.2.3.4]",
            "barfoo",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn equality() {
        assert_eq!(equal("\"foo\"@bar.com", "foo@bar.com"), Ok(true));
        assert_eq!(equal("Foo@bar.com", "foo@bar.com"), Ok(false));
        assert_eq!(equal("<foo@bar.com>", "foo@Bar.COM"), Ok(true));
        assert_eq!(equal("alice@example.com", "alice@EXAMPLE.com"), Ok(true));
        assert!(equal("foo", "foo@bar").is_err());
    }
}
