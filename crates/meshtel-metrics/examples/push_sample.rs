//! Writes the bodies a real Prometheus decodes by hand-check (see
//! `scripts/check-push-encoders.sh`): a remote write request and a protobuf
//! exposition of a sample registry with a counter, a classic histogram and
//! a native histogram.
//!
//! `cargo run -p meshtel-metrics --features remote-write,protobuf,otlp --example push_sample -- DIR TIMESTAMP_MS`
//! writes `DIR/remote_write.bin` (snappy), `DIR/metrics.pb` (delimited
//! `MetricFamily` messages) and `DIR/otlp.bin` (an OTLP
//! `ExportMetricsServiceRequest`).

use std::fs;
use std::path::PathBuf;

use meshtel_metrics::otlp::{self, OtlpOptions};
use meshtel_metrics::remote_write::{self, RemoteWriteOptions};
use meshtel_metrics::{Buckets, Desc, Format, NativeBuckets, Registry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: push_sample DIR TIMESTAMP_MS";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let timestamp_ms: i64 = args.next().ok_or(usage)?.parse()?;
    fs::create_dir_all(&dir)?;

    let registry = Registry::default();
    let mut g = registry.group("push", &["reporter", "code"]);
    let requests = g.counter(Desc::new("push_requests_total", "Requests."))?;
    let duration = g.histogram(
        Desc::new("push_duration_milliseconds", "Duration.").unit("milliseconds"),
        Buckets::new(&[10.0, 25.0, 50.0, 100.0])?,
    )?;
    let latency = g.native_histogram(Desc::new("push_latency_seconds", "Latency."), NativeBuckets::new(3)?)?;
    let g = g.build()?;
    g.with_series(&["source", "200"], |s| {
        s.add(requests, 42);
        // 1..=100 ms: the median of the classic histogram interpolates to 50.
        for v in 1..=100 {
            s.observe(duration, f64::from(v));
        }
        // 0.001..=1 s.
        for v in 1..=1000 {
            s.observe(latency, f64::from(v) / 1000.0);
        }
    })?;
    g.with_series(&["destination", "503"], |s| s.add(requests, 5))?;

    let opts = RemoteWriteOptions::new().external_label("cluster", "c1");
    let mut body = Vec::new();
    remote_write::encode(&[&registry], &opts, timestamp_ms, &mut body)?;
    fs::write(dir.join("remote_write.bin"), &body)?;
    let mut pb = Vec::new();
    registry.render(Format::Protobuf, &mut pb)?;
    fs::write(dir.join("metrics.pb"), &pb)?;
    let opts = OtlpOptions::new()
        .resource_attribute("service.name", "push-sample")
        .resource_attribute("k8s.namespace.name", "default")
        .start_time_unix_nano(timestamp_ms as u64 * 1_000_000 - 1_000_000_000);
    let mut otlp_body = Vec::new();
    otlp::encode(&[&registry], &opts, timestamp_ms as u64 * 1_000_000, &mut otlp_body);
    fs::write(dir.join("otlp.bin"), &otlp_body)?;
    println!(
        "remote_write.bin {} bytes, metrics.pb {} bytes, otlp.bin {} bytes",
        body.len(),
        pb.len(),
        otlp_body.len()
    );
    Ok(())
}
