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

fn lit(out: &mut String, c: char) {
    let _ = write!(out, "\\x{{{:X}}}", c as u32);
}

/// Copies `\e` and its operand from `chars[*i..]`: a `{…}` group, or `short` characters.
fn copy_escape(out: &mut String, chars: &[char], i: &mut usize, e: char, short: usize) {
    out.push('\\');
    out.push(e);
    let len = if chars.get(*i) == Some(&'{') {
        chars[*i..]
            .iter()
            .position(|&c| c == '}')
            .map_or(chars.len() - *i, |end| end + 1)
    } else {
        short.min(chars.len() - *i)
    };
    out.extend(&chars[*i..*i + len]);
    *i += len;
}

fn translate(p: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("error parsing regexp {p:?}: {why}"));
    let mut out = String::with_capacity(p.len() + 16);
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    // Inside a class: the index where it started, to treat a leading `]` as literal.
    let mut class_start: Option<usize> = None;
    let mut in_repeat = false;
    while i < chars.len() {
        let c = chars[i];
        let in_class = class_start.is_some();
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return bad("trailing backslash at end of expression");
                };
                i += 2;
                match e {
                    'd' | 'D' | 'w' | 'W' | 's' | 'S' => {
                        let set = match e.to_ascii_lowercase() {
                            'd' => "0-9",
                            'w' => "0-9A-Za-z_",
                            _ => "\\t\\n\\x0C\\r ",
                        };
                        let neg = if e.is_ascii_uppercase() { "^" } else { "" };
                        if in_class && neg.is_empty() {
                            out.push_str(set);
                        } else {
                            let _ = write!(out, "[{neg}{set}]");
                        }
                    }
                    'b' | 'B' if !in_class => {
                        let _ = write!(out, "(?-u:\\{e})");
                    }
                    'A' | 'z' if !in_class => {
                        out.push('\\');
                        out.push(e);
                    }
                    'Q' => {
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            lit(&mut out, chars[i]);
                            i += 1;
                        }
                    }
                    '1'..='7' if !chars.get(i).is_some_and(char::is_ascii_digit) => {
                        return bad("back-references are not supported");
                    }
                    '0'..='7' => {
                        // Up to two more octal digits.
                        let mut code = e as u32 - '0' as u32;
                        for _ in 0..2 {
                            match chars.get(i) {
                                Some(&d @ '0'..='7') => {
                                    code = code * 8 + (d as u32 - '0' as u32);
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        let _ = write!(out, "\\x{{{code:X}}}");
                    }
                    'a' | 'f' | 't' | 'n' | 'r' | 'v' => {
                        out.push('\\');
                        out.push(e);
                    }
                    // `\xHH`, `\x{H…}`, `\pN`, `\p{Name}`: the same syntax in both dialects.
                    'x' => copy_escape(&mut out, &chars, &mut i, e, 2),
                    'p' | 'P' => copy_escape(&mut out, &chars, &mut i, e, 1),
                    e if e.is_ascii_punctuation() => lit(&mut out, e),
                    _ => return bad(&format!("invalid escape sequence: \\{e}")),
                }
                continue;
            }
            '[' if in_class => {
                // `[:alpha:]` is a POSIX class; any other `[` is a literal in Go.
                if chars.get(i + 1) == Some(&':')
                    && let Some(end) =
                        (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']')
                {
                    out.extend(&chars[i..=end + 1]);
                    i = end + 2;
                    continue;
                }
                lit(&mut out, '[');
            }
            '[' => {
                class_start = Some(i);
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in the class is a literal.
                if chars.get(i + 1) == Some(&']') {
                    lit(&mut out, ']');
                    i += 1;
                }
            }
            ']' if in_class => {
                class_start = None;
                out.push(']');
            }
            '&' | '~' if in_class => lit(&mut out, c),
            '-' if in_class && chars.get(i + 1) == Some(&'-') => {
                // Go: a range to `-` or a literal `-`; Rust would read `--` as set difference.
                out.push('-');
                lit(&mut out, '-');
                i += 2;
                continue;
            }
            '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if rest.starts_with("P<") {
                    out.push_str("(?P<");
                    i += 4;
                    continue;
                }
                if rest.starts_with('<') || rest.starts_with('=') || rest.starts_with('!') {
                    return bad("invalid or unsupported Perl syntax: (?".to_owned().as_str());
                }
                // Flags: only i, m, s, U and `-`.
                let mut j = i + 2;
                while j < chars.len() && chars[j] != ')' && chars[j] != ':' {
                    if !matches!(chars[j], 'i' | 'm' | 's' | 'U' | '-') {
                        return bad(&format!("invalid or unsupported Perl syntax: (?{}", chars[j]));
                    }
                    j += 1;
                }
                out.push_str("(?");
                i += 2;
                continue;
            }
            '{' if !in_class => {
                // A valid `{n}`, `{n,}` or `{n,m}` is a repetition (at most 1000); anything else is a literal `{`.
                let rest: String = chars[i + 1..].iter().take_while(|&&c| c != '}').collect();
                let closed = chars.len() > i + 1 + rest.chars().count();
                let parts: Vec<&str> = rest.splitn(2, ',').collect();
                let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                let is_repeat =
                    closed && number(parts[0]) && (parts.len() == 1 || parts[1].is_empty() || number(parts[1]));
                if is_repeat {
                    let too_big = parts
                        .iter()
                        .any(|s| s.parse::<u32>().map_or(!s.is_empty(), |n| n > 1000));
                    if too_big {
                        return bad("invalid repeat count");
                    }
                    in_repeat = true;
                    out.push('{');
                } else {
                    lit(&mut out, '{');
                }
            }
            '}' if !in_class => {
                if in_repeat {
                    in_repeat = false;
                    out.push('}');
                } else {
                    lit(&mut out, '}');
                }
            }
            ' ' | '#' if !in_class => lit(&mut out, c),
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
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
