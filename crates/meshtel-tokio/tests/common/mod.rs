//! Shared test helpers: records, exchanges, a plugin with its registry, a stream that fails
//! on cue, and reading metric values back from the exposition.
#![allow(dead_code, unreachable_pub)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use meshtel::{LocalNode, PluginConfig, Reporter, StatsPlugin};
use meshtel_metrics::{Format, Registry};
use meshtel_tokio::{Meter, PeerExchange};
use meshtel_wire::workload::{WorkloadMetadata, WorkloadType};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub const MXC: Option<&[u8]> = Some(b"istio-peer-exchange");

pub fn record(workload: &str, app: &str) -> WorkloadMetadata {
    let mut r = WorkloadMetadata::default();
    r.workload = workload.into();
    r.namespace = "default".into();
    r.cluster = "Kubernetes".into();
    r.service = app.into();
    r.revision = "v1".into();
    r.app = app.into();
    r.version = "v1".into();
    r.workload_type = WorkloadType::Deployment;
    r
}

pub fn client_record() -> WorkloadMetadata {
    record("productpage-v1", "productpage")
}

pub fn server_record() -> WorkloadMetadata {
    record("ratings-v1", "ratings")
}

pub const CLIENT_ID: &str = "sidecar~10.0.0.1~productpage-v1-abc.default~default.svc.cluster.local";
pub const SERVER_ID: &str = "sidecar~10.0.0.2~ratings-v1-def.default~default.svc.cluster.local";

pub fn client_exchange() -> PeerExchange {
    PeerExchange::for_workload(&client_record(), CLIENT_ID).unwrap()
}

pub fn server_exchange() -> PeerExchange {
    PeerExchange::for_workload(&server_record(), SERVER_ID).unwrap()
}

/// A plugin for `reporter` with `tcp_reporting_duration: 5s`, its registry and a meter.
pub fn plugin(reporter: Reporter) -> (Registry, Meter) {
    plugin_with(reporter, "tcp_reporting_duration: 5s")
}

pub fn plugin_with(reporter: Reporter, config: &str) -> (Registry, Meter) {
    let registry = Registry::default();
    let node = LocalNode::from_json(&serde_json::json!({
        "NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1", "CLUSTER_ID": "Kubernetes",
        "LABELS": {"app": "ratings", "version": "v1"}
    }));
    let config = PluginConfig::from_yaml(config).unwrap();
    let plugin = StatsPlugin::new(node, reporter, &config, &registry).unwrap();
    (registry, Meter::new(Arc::new(plugin)))
}

/// The samples of `metric`: (the rendered label set, value).
pub fn samples(registry: &Registry, metric: &str) -> Vec<(String, u64)> {
    registry
        .render_to_string(Format::Prometheus)
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .map(|l| {
            let (head, value) = l.rsplit_once(' ').unwrap();
            (head.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// The sum of `metric` over its series (0 without any).
pub fn total(registry: &Registry, metric: &str) -> u64 {
    samples(registry, metric).iter().map(|(_, v)| v).sum()
}

pub const OPENED: &str = "istio_tcp_connections_opened_total";
pub const CLOSED: &str = "istio_tcp_connections_closed_total";
pub const SENT: &str = "istio_tcp_sent_bytes_total";
pub const RECEIVED: &str = "istio_tcp_received_bytes_total";

/// A stream that fails with `ConnectionReset` once `read_budget` bytes were read (or
/// `write_budget` written); `None`: never.
#[derive(Debug)]
pub struct Faulty<S> {
    pub inner: S,
    pub read_budget: Option<usize>,
    pub write_budget: Option<usize>,
    /// Reads that returned bytes.
    pub reads: usize,
}

impl<S> Faulty<S> {
    pub fn new(inner: S, read_budget: Option<usize>, write_budget: Option<usize>) -> Self {
        Self {
            inner,
            read_budget,
            write_budget,
            reads: 0,
        }
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "reset by the test")
}

impl<S: AsyncRead + Unpin> AsyncRead for Faulty<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = self.read_limited(cx, buf);
        if buf.filled().len() > before {
            self.reads += 1;
        }
        poll
    }
}

impl<S: AsyncRead + Unpin> Faulty<S> {
    fn read_limited(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.read_budget {
            Some(0) => Poll::Ready(Err(reset())),
            Some(left) => {
                let mut limited = ReadBuf::new(buf.initialize_unfilled_to(left.min(buf.remaining())));
                let poll = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
                let n = limited.filled().len();
                if let Poll::Ready(Ok(())) = poll {
                    buf.advance(n);
                    self.read_budget = Some(left - n);
                }
                poll
            }
            None => Pin::new(&mut self.inner).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Faulty<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.write_budget {
            Some(0) => Poll::Ready(Err(reset())),
            Some(left) => {
                let poll = Pin::new(&mut self.inner).poll_write(cx, &buf[..left.min(buf.len())]);
                if let Poll::Ready(Ok(n)) = poll {
                    self.write_budget = Some(left - n);
                }
                poll
            }
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
