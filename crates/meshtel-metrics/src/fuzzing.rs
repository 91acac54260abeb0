//! Fuzz entry points, built only under `cfg(fuzzing)` (which `cargo fuzz` sets) and for the
//! crate's own tests: each takes
//! the fuzzer's bytes and panics when an invariant fails. They are not part of the stable
//! API; the targets in `fuzz/fuzz_targets/` call them and nothing else.

use crate::{Config, Desc, Format, Registry};

/// The label names of the fuzzed group, in exposition order.
const LABELS: [&str; 3] = ["a", "b", "c"];

/// Exposition escaping: the input, split at `0xFF` bytes (which UTF-8 never contains), is a
/// help text and up to three label values. Recorded into a counter and rendered in both
/// formats, the sample line parses back, by the exposition grammar, to exactly those label
/// values, and the `# HELP` line to exactly that help text.
///
/// # Panics
/// When a rendered value or help text does not read back as written.
pub fn exposition_escaping(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0xFF).map(core::str::from_utf8);
    let Some(Ok(help)) = parts.next() else {
        return;
    };
    let mut values = [""; LABELS.len()];
    for value in &mut values {
        match parts.next() {
            Some(Ok(text)) => *value = text,
            Some(Err(_)) => return,
            None => break,
        }
    }
    let registry = Registry::new(Config::default().with_max_label_value_len(usize::MAX));
    let mut group = registry.group("fuzz", &LABELS);
    let counter = group
        .counter(Desc::new("fuzz_total", help))
        .unwrap_or_else(|e| panic!("a help text is never refused: {e}"));
    let group = group
        .build()
        .unwrap_or_else(|e| panic!("one counter always builds: {e}"));
    group
        .with_series(&values, |s| s.inc(counter))
        .unwrap_or_else(|e| panic!("three values for three labels: {e}"));
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let text = registry.render_to_string(format);
        check_sample(&text, &values, format);
        check_help(&text, help, format);
    }
}

fn check_sample(text: &str, values: &[&str], format: Format) {
    let line = text
        .split('\n')
        .find(|l| l.starts_with("fuzz_total{"))
        .unwrap_or_else(|| panic!("{format:?}: no fuzz_total sample in {text:?}"));
    let labels = &line["fuzz_total{".len()..];
    let read = parse_labels(labels).unwrap_or_else(|e| panic!("{format:?}: {e} in {line:?}"));
    let expected: Vec<(&str, &str)> = LABELS.iter().copied().zip(values.iter().copied()).collect();
    let read: Vec<(&str, &str)> = read.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(read, expected, "{format:?}: label values do not read back");
}

fn check_help(text: &str, help: &str, format: Format) {
    let family = match format {
        Format::OpenMetrics => "fuzz",
        _ => "fuzz_total",
    };
    let prefix = format!("# HELP {family} ");
    let line = text
        .split('\n')
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("{format:?}: no HELP line for {family} in {text:?}"));
    // Prometheus text escapes `\` and newline in help; OpenMetrics also `"`.
    let quote_escaped = format == Format::OpenMetrics;
    let read =
        unescape(&line[prefix.len()..], quote_escaped, false).unwrap_or_else(|e| panic!("{format:?}: {e} in {line:?}"));
    assert_eq!(read, help, "{format:?}: help text does not read back");
}

/// `name="value",...} rest`: the label pairs, values unescaped, by the grammar both formats
/// share; an error for anything else (an unescaped quote or newline, a bad escape, an
/// unterminated value, a missing `}`).
fn parse_labels(mut s: &str) -> Result<Vec<(&str, String)>, String> {
    let mut pairs = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return if rest.starts_with(' ') {
                Ok(pairs)
            } else {
                Err(format!("no space after the labels: {rest:?}"))
            };
        }
        if !pairs.is_empty() {
            s = s.strip_prefix(',').ok_or("no comma between labels")?;
        }
        let (name, rest) = s.split_once("=\"").ok_or("no =\" after a label name")?;
        let end = closing_quote(rest).ok_or("unterminated label value")?;
        pairs.push((name, unescape(&rest[..end], true, true)?));
        s = &rest[end + 1..];
    }
}

/// The byte offset of the first `"` not escaped by a backslash.
fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Undoes the exposition's escaping: `\\` and `\n`, and `\"` when `quote_escaped`. Raw
/// newlines are never allowed; raw quotes only when `raw_quote_forbidden` is false.
fn unescape(s: &str, quote_escaped: bool, raw_quote_forbidden: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if quote_escaped => out.push('"'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '\n' => return Err("raw newline".into()),
            '"' if raw_quote_forbidden => return Err("raw quote".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_need_escaping_read_back() {
        for input in [
            &b"plain help\xffv1\xffv2\xffv3"[..],
            b"help with \\ and \"quotes\"\nand a newline\xffa\\b\xff\"q\"\xffline\nbreak",
            b"\xff\\\\\\\"\xff}\xff,c=\"x\"",
            b"caf\xc3\xa9 \xf0\x9f\x98\x80\xff\xc3\xa9t\xc3\xa9",
            b"",
        ] {
            exposition_escaping(input);
        }
    }

    #[test]
    fn the_label_parser_refuses_what_escaping_never_writes() {
        assert!(parse_labels("a=\"x\ny\"} 1").is_err(), "raw newline");
        assert!(parse_labels("a=\"x\\qy\"} 1").is_err(), "unknown escape");
        assert!(parse_labels("a=\"x\" b=\"y\"} 1").is_err(), "no comma");
        assert!(parse_labels("a=\"x").is_err(), "unterminated");
        assert_eq!(parse_labels("a=\"x\\\"y\"} 1").unwrap(), [("a", "x\"y".to_string())]);
    }
}
