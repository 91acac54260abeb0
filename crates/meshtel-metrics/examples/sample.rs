//! Renders a sample registry — every metric kind, hostile label values,
//! truncation and overflow — in both formats, for validation by independent
//! parsers (`promtool check metrics`, Python's `prometheus_client`).
//!
//! `cargo run -p meshtel-metrics --example sample -- DIR` writes
//! `DIR/metrics.prom`, `DIR/metrics.om` and `DIR/expected.json` (the label
//! values each series must parse back to).

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use meshtel_metrics::{Buckets, Config, Desc, Format, Registry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: sample DIR")?);
    fs::create_dir_all(&dir)?;
    let registry = Registry::new(Config::default().with_max_series(8).with_max_label_value_len(64));

    let mut http = registry.group("http", &["reporter", "path", "response_code"]);
    let requests = http.counter(Desc::new(
        "sample_requests_total",
        "Requests, with \"quotes\", a \\ and a\nnewline.",
    ))?;
    let duration = http.histogram(
        Desc::new("sample_request_duration_milliseconds", "Duration.").unit("milliseconds"),
        Buckets::new(&[0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0])?,
    )?;
    let bytes = http.histogram(
        Desc::new("sample_request_bytes", "Sizes.").unit("bytes"),
        Buckets::new(&[0.1, 1.0, 1e3, 2.5e9])?,
    )?;
    let http = http.build()?;

    let mut other = registry.group("other", &["kind"]);
    let inflight = other.gauge(Desc::new("sample_inflight", "In flight."))?;
    let ratio = other.float_gauge(Desc::new("sample_ratio", "A ratio."))?;
    let other = other.build()?;

    let hostile = [
        "plain",
        "quote \" inside",
        "back\\slash",
        "new\nline",
        "unicode ✓ é 😀",
        "",
        "{braces},commas=\"and\"",
        "a-very-long-value-that-will-be-cut-at-sixty-four-bytes-by-the-registry-limit-xxxxxxxx",
    ];
    let mut expected = Vec::new();
    for (i, path) in hostile.iter().enumerate() {
        let code = ["200", "503"][i % 2];
        http.with_series(&["source", path, code], |s| {
            s.add(requests, i as u64 + 1);
            s.observe(duration, i as f64 * 7.5);
            s.observe(bytes, 1500.0);
        })?;
        let kept: String = if path.len() > 64 {
            path[..64].to_string()
        } else {
            (*path).to_string()
        };
        expected.push(serde_like_json(&[
            ("reporter", "source"),
            ("path", &kept),
            ("response_code", code),
        ]));
    }
    // Over the limit of 8: goes to the overflow series.
    http.with_series(&["source", "one-too-many", "200"], |s| s.inc(requests))?;
    other.with_series(&["a"], |s| {
        s.set(inflight, -3);
        s.set_f64(ratio, 0.25);
    })?;
    other.with_series(&["b"], |s| s.set_f64(ratio, f64::INFINITY))?;

    fs::write(dir.join("metrics.prom"), registry.render_to_string(Format::Prometheus))?;
    fs::write(dir.join("metrics.om"), registry.render_to_string(Format::OpenMetrics))?;
    fs::write(dir.join("expected.json"), format!("[{}]\n", expected.join(",\n")))?;
    Ok(())
}

/// A JSON object of string pairs (no serde dependency for an example).
fn serde_like_json(pairs: &[(&str, &str)]) -> String {
    let fields: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}: {}", json_str(k), json_str(v)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32); // a String never fails
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
