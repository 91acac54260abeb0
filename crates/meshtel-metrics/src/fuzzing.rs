//! Fuzzing entry points, compiled only under `--cfg fuzzing` (which
//! cargo-fuzz sets) and for the crate's own tests; the targets in the
//! repository's `fuzz/` directory call them. Not a stable API.
//!
//! The oracle here includes a small, strict parser of the exposition's
//! sample lines: it accepts exactly what the formats allow this crate to
//! write (no `{}`, no trailing comma, only the escapes `\\`, `\"` and `\n`
//! in label values), so any sloppiness in escaping shows up as a parse
//! failure or as values that differ from what was recorded.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use crate::{Buckets, Config, CounterId, Desc, Format, GaugeId, Group, HistogramId, Registry, SeriesRef};

/// Labels a fuzz input may declare.
const MAX_LABELS: usize = 4;
/// Series a fuzz input may create (well under the series limit).
const MAX_SERIES: usize = 8;

/// Exposition round trip. `data` gives a group name, a help text, label
/// names and label values (fields separated by the byte `0xFF`, which UTF-8
/// never contains; each field read as UTF-8, lossily); its first byte picks
/// the number of labels and, optionally, a short label value length limit.
///
/// Checks that
/// - the registry accepts exactly the label names the grammar allows
///   (`[a-zA-Z_][a-zA-Z0-9_]*`, no `__` prefix, distinct; not `le` in a
///   histogram);
/// - in both Prometheus text and OpenMetrics, every sample line parses
///   strictly, and its label names and values are exactly those recorded
///   (values cut at the length limit), in schema order, with each series'
///   counter equal to the records made into it (so lookups never merge or
///   split series);
/// - help text and the group name (a label of the self-metrics) parse back;
/// - after expiry evicts every series, a held [`crate::Series`] handle
///   records into a successor with the same label values.
///
/// # Panics
/// When any of these fails: that is the finding.
pub fn exposition_escaping(data: &[u8]) {
    let Some(input) = Input::decode(data) else {
        return;
    };
    let registry = Registry::new(
        Config::default()
            .with_max_label_value_len(input.max_len)
            .with_expire_after_sweeps(NonZeroU32::new(1)),
    );
    let Some(fuzz) = FuzzGroup::declare(&registry, &input) else {
        return;
    };
    let series = input.series();
    let mut recorded: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for values in &series {
        fuzz.group
            .with_series(values, |s| fuzz.record(s))
            .unwrap_or_else(|e| panic!("record: {e}"));
        *recorded.entry(input.kept(values)).or_default() += 1;
    }
    let expect = Expected {
        group: &input.group,
        help: &input.help,
        names: &input.names,
        series: &recorded,
        histogram: fuzz.histogram.is_some(),
    };
    expect.check_both(&registry);

    // Expiry evicts every series (idle for one sweep); the held handle then
    // records into a successor rebuilt from the stored, escaped values.
    let kept_handle = fuzz.group.series(&series[0]).unwrap_or_else(|e| panic!("series: {e}"));
    registry.sweep();
    registry.sweep();
    assert_eq!(fuzz.group.series_count(), 0, "every series idle for a sweep is evicted");
    fuzz.record(kept_handle.as_ref());
    let successor = BTreeMap::from([(input.kept(&series[0]), 1)]);
    Expected {
        series: &successor,
        ..expect
    }
    .check_both(&registry);
}

/// A fuzz input, decoded: the first byte picks the label count and the optional
/// value-length limit; the rest, split at `0xFF`, gives the group name, the help text,
/// the label names and the label values.
struct Input {
    group: String,
    help: String,
    names: Vec<String>,
    values: Vec<String>,
    max_len: usize,
}

impl Input {
    fn decode(data: &[u8]) -> Option<Self> {
        let (&control, rest) = data.split_first()?;
        let mut fields = rest
            .split(|&b| b == 0xFF)
            .map(|f| String::from_utf8_lossy(f).into_owned());
        let group = fields.next().unwrap_or_default();
        let help = fields.next().unwrap_or_default();
        let label_count = usize::from(control) % (MAX_LABELS + 1);
        let names: Vec<String> = fields.by_ref().take(label_count).collect();
        if names.len() < label_count {
            return None;
        }
        let max_len = if control & 0x80 != 0 {
            usize::from(control >> 3 & 0x0F) + 1
        } else {
            Config::default().max_label_value_len
        };
        Some(Self {
            group,
            help,
            names,
            values: fields.collect(),
            max_len,
        })
    }

    /// The label value sets to record: the values in schema-sized chunks (missing values
    /// empty), at most [`MAX_SERIES`], and at least one.
    fn series(&self) -> Vec<Vec<&str>> {
        let label_count = self.names.len();
        let mut series: Vec<Vec<&str>> = self
            .values
            .chunks(label_count.max(1))
            .take(if label_count == 0 { 0 } else { MAX_SERIES })
            .map(|chunk| {
                let mut v: Vec<&str> = chunk.iter().map(String::as_str).collect();
                v.resize(label_count, "");
                v
            })
            .collect();
        if series.is_empty() {
            series.push(vec![""; label_count]);
        }
        series
    }

    /// The values as the registry keeps them: cut at the length limit.
    fn kept(&self, values: &[&str]) -> Vec<String> {
        values.iter().map(|v| cut(v, self.max_len).to_owned()).collect()
    }
}

/// The fuzzed group and its families.
struct FuzzGroup {
    group: Group,
    counter: CounterId,
    gauge: GaugeId,
    histogram: Option<HistogramId>,
}

impl FuzzGroup {
    /// Declares the group; checks that the registry refuses exactly the label schemas the
    /// grammar does (`None` for a refused one), and a histogram exactly when `le` is a label.
    fn declare(registry: &Registry, input: &Input) -> Option<Self> {
        let names = &input.names;
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut builder = registry.group(&input.group, &name_refs);
        let schema_ok = names.iter().all(|n| grammar_label_name(n))
            && names.iter().enumerate().all(|(i, n)| !names[..i].contains(n));
        let counter = builder.counter(Desc::new("fuzz_requests_total", input.help.clone()));
        assert_eq!(counter.is_ok(), schema_ok, "label names {names:?}: {counter:?}");
        let counter = counter.ok()?;
        let gauge = builder
            .gauge(Desc::new("fuzz_inflight", input.help.clone()))
            .unwrap_or_else(|e| panic!("gauge: {e}"));
        let histogram = builder.histogram(
            Desc::new("fuzz_duration_seconds", input.help.clone()).unit("seconds"),
            Buckets::new(&[1.0]).unwrap_or_else(|e| panic!("buckets: {e}")),
        );
        let has_le = names.iter().any(|n| n == "le");
        assert_eq!(histogram.is_err(), has_le, "histogram with labels {names:?}");
        Some(Self {
            group: builder.build().unwrap_or_else(|e| panic!("build: {e}")),
            counter,
            gauge,
            histogram: histogram.ok(),
        })
    }

    /// One record into every family.
    fn record(&self, s: SeriesRef<'_>) {
        s.inc(self.counter);
        s.set(self.gauge, 7);
        if let Some(h) = self.histogram {
            s.observe(h, 0.5);
        }
    }
}

/// What a rendering must show.
#[derive(Clone, Copy)]
struct Expected<'a> {
    group: &'a str,
    help: &'a str,
    names: &'a [String],
    /// Label values of each series (cut to the limit) and its counter.
    series: &'a BTreeMap<Vec<String>, u64>,
    histogram: bool,
}

impl Expected<'_> {
    /// [`Expected::check`] on the registry rendered in both formats.
    fn check_both(&self, registry: &Registry) {
        for format in [Format::Prometheus, Format::OpenMetrics] {
            self.check(format, &registry.render_to_string(format));
        }
    }

    fn check(&self, format: Format, text: &str) {
        let fail = |line: &str, why: &str| -> ! { panic!("{format:?}: {why}: {line:?}\nin\n{text}") };
        let Some(body) = text.strip_suffix('\n') else {
            fail("", "the exposition does not end with a newline")
        };
        let body = match format {
            Format::OpenMetrics => body
                .strip_suffix("# EOF")
                .unwrap_or_else(|| fail("", "no # EOF at the end")),
            _ => body,
        };
        // Sample name (with the `le` of a bucket) → label values → value.
        let mut seen: BTreeMap<String, BTreeMap<Vec<String>, u64>> = BTreeMap::new();
        let mut helps = 0;
        // Not `lines()`: that would also strip a `\r` that ends a help text.
        for line in body.split_terminator('\n') {
            if let Some(comment) = line.strip_prefix("# ") {
                if comment == "EOF" {
                    fail(line, "# EOF before the end");
                }
                if let Some(help) = comment.strip_prefix("HELP fuzz_") {
                    let (_, text) = help.split_once(' ').unwrap_or_else(|| fail(line, "HELP without text"));
                    let text = unescape_help(text, format).unwrap_or_else(|why| fail(line, why));
                    assert_eq!(text, self.help, "{format:?}: help text of {line:?}");
                    helps += 1;
                }
                continue;
            }
            let sample = parse_sample(line).unwrap_or_else(|why| fail(line, why));
            if sample.name.starts_with("meshtel_metrics_") {
                let want = [("group".to_owned(), self.group.to_owned())];
                if sample.labels != want {
                    fail(line, "self-metric labels differ from the group name");
                }
                continue;
            }
            let mut key = sample.name.to_owned();
            let mut labels = sample.labels;
            if sample.name == "fuzz_duration_seconds_bucket" {
                match labels.pop() {
                    Some((le, bound)) if le == "le" && (bound == "1" || bound == "+Inf") => {
                        key = format!("{key} le={bound}");
                    }
                    _ => fail(line, "a bucket without its le label last"),
                }
            }
            if labels.len() != self.names.len() || labels.iter().zip(self.names).any(|((n, _), want)| n != want) {
                fail(line, "label names differ from the schema (or its order)");
            }
            let values: Vec<String> = labels.into_iter().map(|(_, v)| v).collect();
            let value = sample.value.parse().unwrap_or(0);
            if seen.entry(key).or_default().insert(values, value).is_some() {
                fail(line, "the same series twice");
            }
        }
        let families = if self.histogram { 3 } else { 2 };
        assert_eq!(helps, families, "{format:?}: HELP lines\n{text}");
        let counters = seen.remove("fuzz_requests_total").unwrap_or_default();
        assert_eq!(&counters, self.series, "{format:?}: counter per series\n{text}");
        let mut names = vec!["fuzz_inflight"];
        if self.histogram {
            names.extend([
                "fuzz_duration_seconds_bucket le=1",
                "fuzz_duration_seconds_bucket le=+Inf",
                "fuzz_duration_seconds_sum",
                "fuzz_duration_seconds_count",
            ]);
        }
        for name in names {
            let got = seen.remove(name).unwrap_or_default();
            let got_sets: Vec<&Vec<String>> = got.keys().collect();
            let want_sets: Vec<&Vec<String>> = self.series.keys().collect();
            assert_eq!(got_sets, want_sets, "{format:?}: label values of {name}\n{text}");
        }
        assert!(seen.is_empty(), "{format:?}: unexpected samples {seen:?}\n{text}");
    }
}

/// Label names and unescaped values, in exposition order.
type Labels = Vec<(String, String)>;

/// One parsed sample line.
struct Sample<'a> {
    name: &'a str,
    labels: Labels,
    value: &'a str,
}

/// `name{label="value",…} value`, strictly: the label block is absent or
/// holds at least one label, with no trailing comma; values use only the
/// escapes `\\`, `\"` and `\n`; one space before the value; no timestamp.
fn parse_sample(line: &str) -> Result<Sample<'_>, &'static str> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !grammar_metric_name(name) {
        return Err("invalid metric name");
    }
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(block) => parse_label_block(block)?,
        None => (Vec::new(), &line[name_end..]),
    };
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let valid = matches!(value, "+Inf" | "-Inf" | "NaN")
        || (!value.is_empty()
            && value.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && value.parse::<f64>().is_ok());
    if !valid {
        return Err("invalid value");
    }
    Ok(Sample { name, labels, value })
}

/// `label="value",…}` (just past the `{`): the labels, and the text after the `}`.
fn parse_label_block(mut rest: &str) -> Result<(Labels, &str), &'static str> {
    let mut labels = Vec::new();
    loop {
        let eq = rest.find('=').ok_or("label without =")?;
        let label = &rest[..eq];
        if !grammar_label_name(label) && label != "le" {
            return Err("invalid label name");
        }
        let quoted = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        let (value, after) = unescape_label_value(quoted)?;
        labels.push((label.to_owned(), value));
        if let Some(next) = after.strip_prefix(',') {
            rest = next;
        } else if let Some(next) = after.strip_prefix('}') {
            return Ok((labels, next));
        } else {
            return Err("no , or } after a label value");
        }
    }
}

/// Reads an escaped label value up to its closing quote; returns it and the
/// text after the quote.
fn unescape_label_value(text: &str) -> Result<(String, &str), &'static str> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                _ => return Err("invalid escape in a label value"),
            },
            // Lines are split at newlines first, but the parser is strict on its own.
            '\n' => return Err("raw newline in a label value"),
            c => out.push(c),
        }
    }
    Err("unterminated label value")
}

/// `# HELP` text: `\\` and `\n` in both formats, `\"` in OpenMetrics only.
fn unescape_help(text: &str, format: Format) -> Result<String, &'static str> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if format == Format::OpenMetrics => out.push('"'),
                _ => return Err("invalid escape in help text"),
            },
            '"' if format == Format::OpenMetrics => return Err("unescaped quote in OpenMetrics help text"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn grammar_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// A label name the registry must accept: `[a-zA-Z_][a-zA-Z0-9_]*`, not
/// reserved (`__` prefix).
fn grammar_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__")
}

/// The longest prefix of at most `max` bytes ending on a character boundary.
fn cut(value: &str, max: usize) -> &str {
    let mut end = max.min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One input of each kind the seeds cover: the check passes on all of them.
    #[test]
    fn inputs_of_every_kind_read_back() {
        for input in [
            &b"\x03grp\xffTotal requests.\xffa\xffb\xffc\xffsource\xffproductpage\xff200"[..],
            b"\x02g\\\"\n\xffhelp \\ \"q\"\nnl\xffx\xffy\xffa\\b\xff\"q\"\xffline\nbreak\xffv",
            b"\x02g\xffh\xff__x\xffa",
            b"\x01g\xffh\xffle\xffv",
            b"\x91g\xffh\xffa\xffabcdef\xff\xc3\xa9\xc3\xa9\xc3\xa9",
            b"\x00g\xffh",
            b"",
        ] {
            exposition_escaping(input);
        }
    }

    #[test]
    fn the_sample_parser_refuses_what_escaping_never_writes() {
        assert!(parse_sample("m{a=\"x\ny\"} 1").is_err(), "raw newline");
        assert!(parse_sample("m{a=\"x\\qy\"} 1").is_err(), "unknown escape");
        assert!(parse_sample("m{a=\"x\" b=\"y\"} 1").is_err(), "no comma");
        assert!(parse_sample("m{a=\"x").is_err(), "unterminated");
        assert!(parse_sample("m{a=\"x\\\"y\"} 1").is_ok(), "escaped quote");
    }
}
