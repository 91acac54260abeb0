//! Istio's standard telemetry — the stats plugin — for any Rust proxy.
//!
//! Give [`StatsPlugin`] the local node metadata and a [`PluginConfig`] once; then tell it
//! about each connection ([`StatsPlugin::connection`], [`StatsPlugin::tcp_connection`]) and
//! each completed request ([`StatsPlugin::record_request`]). It records exactly the metrics
//! and labels an Istio sidecar, gateway or waypoint would (`docs/reference/telemetry.md`):
//! `istio_requests_total`, the duration and size histograms, gRPC message counters, the TCP
//! connection and byte counters, `istio_build`, and custom metrics, with the 25 standard
//! labels computed from local and peer metadata.
//!
//! Labels are expressions of [`meshtel_expr`] evaluated over an attribute bag
//! (`docs/reference/telemetry.md` §10.3, §10.4); labels that read only connection-scoped
//! attributes are evaluated once per connection, the rest per request, without allocating.
//! Metrics go into a [`meshtel_metrics::Registry`]. Nothing here starts a thread or reads a
//! clock: time is passed in (`tick(now)`).
//!
//! See `docs/telemetry.md` for the lifecycle and the configuration rules. [`telemetry`] reads
//! Istio's Telemetry API resources and generates the [`PluginConfig`] istiod would
//! (`docs/telemetry-api.md`).

#![forbid(unsafe_code)]

mod attrs;
mod config;
mod facts;
mod frames;
#[cfg(fuzzing)]
pub mod fuzzing;
mod metric;
mod plan;
mod plugin;
pub mod telemetry;

pub use attrs::{cel_manifest, manifest};
pub use config::{ConfigError, MetricConfig, MetricDefinition, MetricType, PluginConfig, ReporterConfig};
pub use facts::{
    ClusterService, ConnectionFacts, LocalNode, Principals, Protocol, Reporter, RequestFacts, Routing, Tls,
    grpc_response_status, spiffe_namespace,
};
pub use frames::FrameCounter;
pub use metric::{DEFAULT_EXPRESSIONS, ISTIO_DEFAULT_BUCKETS, STANDARD_TAGS, StandardMetric, default_buckets};
pub use plugin::{GrpcStream, HttpConnection, OwnedClusterService, StatsPlugin, TcpConnection, TcpRouting};

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
