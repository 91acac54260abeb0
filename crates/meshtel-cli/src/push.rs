//! Push targets for the CLI (`meshtel demo --remote-write/--otlp`, `meshtel push-sim`):
//! a registry, its identity (remote-write external labels, OTLP resource attributes) and
//! a URL, made into a `meshtel_tokio::push::PushTarget`.

use meshtel_metrics::Registry;
use meshtel_metrics::otlp::{self, OtlpOptions};
use meshtel_metrics::remote_write::{self, RemoteWriteOptions};
use meshtel_tokio::push::PushTarget;

/// Who a pushed registry belongs to: the remote-write external labels and the OTLP
/// resource attributes that tell the sidecars apart at the receiver.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Remote-write external labels, `(name, value)`, added to every series.
    pub(crate) labels: Vec<(String, String)>,
    /// OTLP resource attributes (`service.name`, `k8s.pod.name`, ...).
    pub(crate) resource: Vec<(String, String)>,
}

thread_local! {
    /// The uncompressed request and the compressor's output, per thread: an encoder runs
    /// to completion on one thread (it does not await), so every target on a thread shares
    /// them. Uncompressed, a sidecar's request is about 17 times its compressed body (Istio's
    /// long label values); a pair of these per target would be most of the pusher's memory.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// A remote-write target pushing `registry` with `identity`'s external labels.
pub(crate) fn remote_write(
    name: &str,
    url: &str,
    registry: &Registry,
    identity: &Identity,
) -> Result<PushTarget, String> {
    let registry = registry.clone();
    let options = identity
        .labels
        .iter()
        .fold(RemoteWriteOptions::new(), |o, (name, value)| {
            o.external_label(name, value)
        });
    let encoder = move |timestamp_ms: i64, out: &mut Vec<u8>| {
        SCRATCH.with_borrow_mut(|(raw, compressed)| {
            raw.clear();
            remote_write::encode_uncompressed(&[&registry], &options, timestamp_ms, raw)?;
            remote_write::compress(raw, compressed)?;
            // The body keeps only the compressed bytes: `compress` sizes its output for the
            // worst case (about 7/6 of the input), which the body buffer would keep otherwise.
            out.extend_from_slice(compressed);
            Ok::<(), remote_write::RemoteWriteError>(())
        })
    };
    PushTarget::remote_write(name, url, encoder).map_err(|e| format!("--remote-write: {e}"))
}

/// An OTLP/HTTP target pushing `registry` with `identity`'s resource attributes; the
/// sums' and histograms' start time is when the target was made (the registry's
/// cumulative series start no later than that in the demo and the simulation).
pub(crate) fn otlp(name: &str, url: &str, registry: &Registry, identity: &Identity) -> Result<PushTarget, String> {
    let registry = registry.clone();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let options = identity
        .resource
        .iter()
        .fold(OtlpOptions::new().start_time_unix_nano(start), |o, (k, v)| {
            o.resource_attribute(k, v)
        });
    let encoder = move |timestamp_ms: i64, out: &mut Vec<u8>| -> Result<(), std::convert::Infallible> {
        otlp::encode(&[&registry], &options, timestamp_ms as u64 * 1_000_000, out);
        Ok(())
    };
    PushTarget::otlp(name, url, encoder).map_err(|e| format!("--otlp: {e}"))
}
