//! Exposition: Prometheus text 0.0.4 and OpenMetrics 1.0.0, as small pure
//! `write_*` functions over a line buffer (the metrics-rs style), plus
//! content negotiation.

use std::borrow::Cow;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Prometheus,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
    /// The Prometheus protobuf exposition: length-delimited
    /// `io.prometheus.client.MetricFamily` messages, with native histograms.
    /// Binary: render it with [`Registry::render`](crate::Registry::render).
    #[cfg(feature = "protobuf")]
    Protobuf,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    ///
    /// ```
    /// use meshtel_metrics::Format;
    /// assert_eq!(Format::Prometheus.content_type(), "text/plain; version=0.0.4; charset=utf-8");
    /// ```
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            #[cfg(feature = "protobuf")]
            Self::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// Chooses a format from an HTTP `Accept` header: OpenMetrics when the
    /// client accepts `application/openmetrics-text` (version 1.0.0 or
    /// unversioned) with a quality at least that of any text/plain or
    /// wildcard range; Prometheus text otherwise, and without a header.
    /// With the `protobuf` feature, `Format::Protobuf` when the client
    /// accepts `application/vnd.google.protobuf` with
    /// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited` at
    /// a quality at least that of every other range it accepts (as
    /// Prometheus with native histograms enabled asks).
    ///
    /// ```
    /// use meshtel_metrics::Format;
    /// let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(Some(prom)), Format::OpenMetrics);
    /// assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
    /// assert_eq!(Format::from_accept(None), Format::Prometheus);
    /// ```
    #[must_use]
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else { return Self::Prometheus };
        let (mut om, mut text, mut proto) = (0.0f32, 0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut q = 1.0f32;
            let mut version_ok = true;
            let (mut proto_ok, mut delimited) = (false, false);
            for param in parts {
                let (k, v) = param.split_once('=').unwrap_or((param, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "version" => version_ok = v.trim() == "1.0.0",
                    "proto" => proto_ok = v.trim() == "io.prometheus.client.MetricFamily",
                    "encoding" => delimited = v.trim() == "delimited",
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text" if version_ok => om = om.max(q),
                "text/plain" | "*/*" | "text/*" => text = text.max(q),
                "application/vnd.google.protobuf" if proto_ok && delimited => proto = proto.max(q),
                _ => {}
            }
        }
        #[cfg(feature = "protobuf")]
        if proto > 0.0 && proto >= om && proto >= text {
            return Self::Protobuf;
        }
        #[cfg(not(feature = "protobuf"))]
        let _ = proto;
        if om > 0.0 && om >= text {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }
}

/// The `Content-Type` of [`Format::Protobuf`].
#[cfg(feature = "protobuf")]
pub(crate) const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The kind of a metric family, as the `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Kind {
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram.
    Histogram,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The suffix of every counter sample, in both formats (`istio_requests_total`).
pub(crate) const COUNTER_SUFFIX: &str = "_total";

/// The name `# HELP` and `# TYPE` give a family of base name `base`: OpenMetrics
/// names a counter family without its samples' `_total`, Prometheus text with it;
/// every other kind is named by its base.
pub(crate) fn family_name(format: Format, kind: Kind, base: &str) -> Cow<'_, str> {
    match (kind, format) {
        (Kind::Counter, Format::Prometheus) => Cow::Owned(format!("{base}{COUNTER_SUFFIX}")),
        _ => Cow::Borrowed(base),
    }
}

/// Escapes a label value for both formats: `\` `"` and newline.
pub(crate) fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Whether `value` needs escaping.
#[inline]
pub(crate) fn needs_escape(value: &str) -> bool {
    value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n'))
}

/// `# HELP` text: Prometheus escapes `\` and newline; OpenMetrics also `"`.
pub(crate) fn write_help(out: &mut String, format: Format, name: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('\n');
}

/// `# TYPE name kind`.
pub(crate) fn write_type(out: &mut String, name: &str, kind: Kind) {
    out.push_str("# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// `# UNIT name unit` (OpenMetrics only).
pub(crate) fn write_unit(out: &mut String, name: &str, unit: &str) {
    out.push_str("# UNIT ");
    out.push_str(name);
    out.push(' ');
    out.push_str(unit);
    out.push('\n');
}

/// `name{labels[,le="…"]} ` — everything before the value. `labels` is a
/// pre-rendered, escaped `k="v",…` block.
#[inline]
pub(crate) fn write_series(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<&str>) {
    out.push_str(name);
    out.push_str(suffix);
    match (labels.is_empty(), le) {
        (true, None) => {}
        (false, None) => {
            out.push('{');
            out.push_str(labels);
            out.push('}');
        }
        (empty, Some(le)) => {
            out.push('{');
            out.push_str(labels);
            if !empty {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push_str("\"}");
        }
    }
    out.push(' ');
}

/// An integer value and the line end.
#[inline]
pub(crate) fn write_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
    out.push('\n');
}

/// A signed integer value and the line end.
#[inline]
pub(crate) fn write_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
    out.push('\n');
}

/// A float value (shortest round trip, `+Inf`/`-Inf`/`NaN`) and the line end.
#[inline]
pub(crate) fn write_f64(out: &mut String, v: f64) {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        // Integral values print as integers, without a float formatter.
        write_i64(out, v as i64);
        return;
    }
    out.push_str(&crate::histogram::format_float(v));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_label_value("a\\b\"c\nd", &mut s);
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut h = String::new();
        write_help(&mut h, Format::Prometheus, "x", "say \"hi\"\\\n");
        assert_eq!(h, "# HELP x say \"hi\"\\\\\\n\n");
        let mut h = String::new();
        write_help(&mut h, Format::OpenMetrics, "x", "say \"hi\"");
        assert_eq!(h, "# HELP x say \\\"hi\\\"\n");
    }

    #[test]
    fn series_lines() {
        let mut s = String::new();
        write_series(&mut s, "m", "_bucket", "a=\"1\"", Some("0.5"));
        write_u64(&mut s, 3);
        write_series(&mut s, "m", "_bucket", "", Some("+Inf"));
        write_f64(&mut s, 2.5);
        write_series(&mut s, "m", "", "", None);
        write_f64(&mut s, f64::NEG_INFINITY);
        assert_eq!(s, "m_bucket{a=\"1\",le=\"0.5\"} 3\nm_bucket{le=\"+Inf\"} 2.5\nm -Inf\n");
    }
}
