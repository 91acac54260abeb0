//! `pattern.matches(s)`: Go RE2 syntax translated to the Rust `regex` crate
//! (`docs/reference/expressions.md` §5.13).
//!
//! The translation makes the Perl classes and `\b` ASCII-only, reads `\0`–`\377` as
//! octal character codes, quotes `\Q…\E`, treats `[` inside a class and the class
//! operators `&&`, `--`, `~~` as literal characters, and rejects what Go rejects:
//! single-digit back-references, `\C`, `\Z`, look-around, `(?<name>…)`, the flags
//! `x`, `R` and `u`, and repetition counts above 1000.

use core::fmt::Write as _;

use regex::Regex;

/// Compiles a Go regular expression. The error is a human-readable reason.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    regex::RegexBuilder::new(&translated)
        .build()
        .map_err(|e| format!("error parsing regexp {pattern:?}: {}", first_line(&e.to_string())))
}

fn first_line(s: &str) -> &str {
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or(s)
        .trim_start_matches("error: ")
}

/// Go pattern to Rust pattern, one construct at a time.
struct Translator<'p> {
    pattern: &'p str,
    chars: Vec<char>,
    /// The next character to translate.
    i: usize,
    out: String,
    /// Inside a class: the index where it started.
    class_start: Option<usize>,
    /// Inside a `{n,m}` repetition.
    in_repeat: bool,
    /// The last operator was a repetition (`Some(false)`), or a lazy one (`Some(true)`): a
    /// repetition cannot follow (`a**` is invalid in RE2, valid in Rust).
    after_repeat: Option<bool>,
}

fn translate(p: &str) -> Result<String, String> {
    let mut t = Translator {
        pattern: p,
        chars: p.chars().collect(),
        i: 0,
        out: String::with_capacity(p.len() + 16),
        class_start: None,
        in_repeat: false,
        after_repeat: None,
    };
    while t.i < t.chars.len() {
        t.step()?;
    }
    Ok(t.out)
}

impl Translator<'_> {
    fn bad(&self, why: &str) -> String {
        format!("error parsing regexp {:?}: {why}", self.pattern)
    }

    const fn in_class(&self) -> bool {
        self.class_start.is_some()
    }

    fn next_is(&self, c: char) -> bool {
        self.chars.get(self.i + 1) == Some(&c)
    }

    /// `c` as a literal, whatever it means in either dialect.
    fn lit(&mut self, c: char) {
        let _ = write!(self.out, "\\x{{{:X}}}", c as u32);
    }

    /// Rejects a repetition operator that follows another, as RE2 does.
    fn check_repetition(&mut self, c: char) -> Result<(), String> {
        if self.in_class() || self.in_repeat {
            return Ok(());
        }
        let state = self.after_repeat.take();
        match (c, state) {
            ('?', Some(false)) => self.after_repeat = Some(true),
            ('*' | '+' | '?', Some(_)) => {
                let previous = self.chars[self.i.saturating_sub(1)];
                return Err(self.bad(&format!("bad repetition operator: {previous}{c}")));
            }
            ('*' | '+' | '?', None) => self.after_repeat = Some(false),
            _ => {}
        }
        Ok(())
    }

    /// Translates the construct at `self.i` and moves past it.
    fn step(&mut self) -> Result<(), String> {
        let c = self.chars[self.i];
        self.check_repetition(c)?;
        let in_class = self.in_class();
        match c {
            '\\' => return self.escape(),
            '[' if in_class => {
                if self.posix_class()? {
                    return Ok(());
                }
                // Any other `[` is a literal in Go.
                self.lit('[');
            }
            '[' => self.open_class(),
            ']' if in_class => {
                self.class_start = None;
                self.out.push(']');
            }
            '&' | '~' if in_class => self.lit(c),
            '-' if in_class && self.next_is('-') => {
                // Go: a range to `-` or a literal `-`; Rust would read `--` as set difference.
                self.out.push('-');
                self.lit('-');
                self.i += 2;
                return Ok(());
            }
            '(' if !in_class && self.next_is('?') => return self.group_flags(),
            '{' if !in_class => self.open_repeat()?,
            '}' if !in_class => {
                if self.in_repeat {
                    self.in_repeat = false;
                    self.after_repeat = Some(false);
                    self.out.push('}');
                } else {
                    self.lit('}');
                }
            }
            ' ' | '#' if !in_class => self.lit(c),
            _ => self.out.push(c),
        }
        self.i += 1;
        Ok(())
    }

    /// A backslash and what it escapes.
    fn escape(&mut self) -> Result<(), String> {
        let Some(&e) = self.chars.get(self.i + 1) else {
            return Err(self.bad("trailing backslash at end of expression"));
        };
        self.i += 2;
        let in_class = self.in_class();
        match e {
            'd' | 'D' | 'w' | 'W' | 's' | 'S' => self.perl_class(e),
            'b' | 'B' if !in_class => {
                let _ = write!(self.out, "(?-u:\\{e})");
            }
            'A' | 'z' if !in_class => {
                self.out.push('\\');
                self.out.push(e);
            }
            'Q' => self.quoted(),
            '1'..='7' if !self.chars.get(self.i).is_some_and(char::is_ascii_digit) => {
                return Err(self.bad("back-references are not supported"));
            }
            '0'..='7' => self.octal(e),
            'a' | 'f' | 't' | 'n' | 'r' | 'v' => {
                self.out.push('\\');
                self.out.push(e);
            }
            // `\xHH`, `\x{H…}`, `\pN`, `\p{Name}`: the same syntax in both dialects.
            'x' => self.copy_escape(e, 2),
            'p' | 'P' => self.copy_escape(e, 1),
            e if e.is_ascii_punctuation() => self.lit(e),
            _ => return Err(self.bad(&format!("invalid escape sequence: \\{e}"))),
        }
        Ok(())
    }

    /// `\d`, `\w`, `\s` and their negations, ASCII-only as in Go.
    fn perl_class(&mut self, e: char) {
        let set = match e.to_ascii_lowercase() {
            'd' => "0-9",
            'w' => "0-9A-Za-z_",
            _ => "\\t\\n\\x0C\\r ",
        };
        let neg = if e.is_ascii_uppercase() { "^" } else { "" };
        if self.in_class() && neg.is_empty() {
            self.out.push_str(set);
        } else {
            let _ = write!(self.out, "[{neg}{set}]");
        }
    }

    /// `\Q…\E` (or to the end): every character literal.
    fn quoted(&mut self) {
        while self.i < self.chars.len() {
            if self.chars[self.i] == '\\' && self.next_is('E') {
                self.i += 2;
                break;
            }
            self.lit(self.chars[self.i]);
            self.i += 1;
        }
    }

    /// `\0`–`\377` after its first digit `e`: up to two more octal digits.
    fn octal(&mut self, e: char) {
        let mut code = e as u32 - '0' as u32;
        for _ in 0..2 {
            match self.chars.get(self.i) {
                Some(&d @ '0'..='7') => {
                    code = code * 8 + (d as u32 - '0' as u32);
                    self.i += 1;
                }
                _ => break,
            }
        }
        let _ = write!(self.out, "\\x{{{code:X}}}");
    }

    /// Copies `\e` and its operand: a `{…}` group, or `short` characters.
    fn copy_escape(&mut self, e: char, short: usize) {
        let (chars, i) = (&self.chars, self.i);
        self.out.push('\\');
        self.out.push(e);
        let len = if chars.get(i) == Some(&'{') {
            chars[i..]
                .iter()
                .position(|&c| c == '}')
                .map_or(chars.len() - i, |end| end + 1)
        } else {
            short.min(chars.len() - i)
        };
        self.out.extend(&chars[i..i + len]);
        self.i += len;
    }

    /// `[` opening a class, with a leading `^` and a leading literal `]`.
    fn open_class(&mut self) {
        self.class_start = Some(self.i);
        self.out.push('[');
        if self.next_is('^') {
            self.out.push('^');
            self.i += 1;
        }
        if self.next_is(']') {
            self.lit(']');
            self.i += 1;
        }
    }

    /// `[:alpha:]` inside a class: copied whole. Whether there was one; an unknown class name
    /// is an error, as in RE2.
    fn posix_class(&mut self) -> Result<bool, String> {
        const NAMES: [&str; 14] = [
            "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper",
            "word", "xdigit",
        ];
        let (chars, i) = (&self.chars, self.i);
        if chars.get(i + 1) != Some(&':') {
            return Ok(false);
        }
        let Some(end) = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']') else {
            return Ok(false);
        };
        let name: String = chars[i + 2..end].iter().collect();
        if !NAMES.contains(&name.trim_start_matches('^')) {
            let class: String = chars[i..=end + 1].iter().collect();
            return Err(self.bad(&format!("invalid character class range: {class}")));
        }
        self.out.extend(&chars[i..=end + 1]);
        self.i = end + 2;
        Ok(true)
    }

    /// `(?`: a named group `(?P<…>`, or flags (only `i`, `m`, `s`, `U` and `-`); Go has no
    /// look-around and no `(?<name>…)`.
    fn group_flags(&mut self) -> Result<(), String> {
        let chars = &self.chars;
        let rest: String = chars[self.i + 2..].iter().take(3).collect();
        if rest.starts_with("P<") {
            self.out.push_str("(?P<");
            self.i += 4;
            return Ok(());
        }
        if rest.starts_with('<') || rest.starts_with('=') || rest.starts_with('!') {
            return Err(self.bad("invalid or unsupported Perl syntax: (?"));
        }
        let mut j = self.i + 2;
        while j < chars.len() && chars[j] != ')' && chars[j] != ':' {
            if !matches!(chars[j], 'i' | 'm' | 's' | 'U' | '-') {
                return Err(self.bad(&format!("invalid or unsupported Perl syntax: (?{}", chars[j])));
            }
            j += 1;
        }
        self.out.push_str("(?");
        self.i += 2;
        Ok(())
    }

    /// `{`: a valid `{n}`, `{n,}` or `{n,m}` is a repetition (at most 1000); anything else is
    /// a literal `{`.
    fn open_repeat(&mut self) -> Result<(), String> {
        let i = self.i;
        let rest: String = self.chars[i + 1..].iter().take_while(|&&c| c != '}').collect();
        let closed = self.chars.len() > i + 1 + rest.chars().count();
        let parts: Vec<&str> = rest.splitn(2, ',').collect();
        let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let is_repeat = closed && number(parts[0]) && (parts.len() == 1 || parts[1].is_empty() || number(parts[1]));
        if !is_repeat {
            self.lit('{');
            return Ok(());
        }
        let too_big = parts
            .iter()
            .any(|s| s.parse::<u32>().map_or(!s.is_empty(), |n| n > 1000));
        if too_big {
            return Err(self.bad("invalid repeat count"));
        }
        self.in_repeat = true;
        self.out.push('{');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p).unwrap_or_else(|e| panic!("{p}: {e}")).is_match(s)
    }

    #[test]
    fn go_dialect() {
        assert!(m("^/api/v[0-9]+/", "/api/v2/users"));
        assert!(!m("\\d", "٣"));
        assert!(!m("\\s", "\u{b}"));
        assert!(m("\\s", "\u{c}"));
        assert!(m("\\Qa.b\\E", "a.b"));
        assert!(!m("\\Qa.b\\E", "axb"));
        assert!(m("\\101", "A"));
        assert!(m("\\12", "\n"));
        assert!(m("[[a]", "["));
        assert!(m("[a&&b]", "&"));
        assert!(m("[!--]", ","));
        assert!(compile("[a--]").is_err());
        assert!(m("[[:alpha:]]+", "abc"));
        assert!(m("a{2}", "aa"));
        assert!(m("a{,2}", "a{,2}"));
        assert!(m("(?P<x>a)", "a"));
        assert!(m("(?i)ABC", "abc"));
        assert!(m("a b", "a b"));
        assert!(m("\\bfoo\\b", "a foo b"));
        assert!(!m(".", "\n"));
        assert!(m("[\\d]", "5"));
        assert!(m("[^\\D]", "5"));
        for bad in [
            "(", "\\1", "\\C", "\\Z", "(?=a)", "(?<n>a)", "(?x)a", "a{1001}", "\\e", "\\8",
        ] {
            assert!(compile(bad).is_err(), "{bad}");
        }
    }
}
