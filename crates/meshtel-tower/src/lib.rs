//! A [tower] layer that gives any `http::Request` → `http::Response` service — hyper 1,
//! axum, tonic, a reverse proxy — Istio's HTTP peer metadata exchange and Istio's standard
//! metrics, recorded by [`meshtel::StatsPlugin`] at the true end of each stream.
//!
//! # Wiring
//!
//! 1. Once per listener: a [`StatsPlugin`](meshtel::StatsPlugin) (its reporter decides the
//!    [`Direction`]), wrapped in a [`Telemetry`] with the local node's peer record and node id
//!    ([`Telemetry::with_local_peer`]), optionally baggage and a [`Route`]; then an `Arc`.
//! 2. Once per connection: a [`MeshtelLayer`] with the [`ConnectionFacts`](meshtel::ConnectionFacts)
//!    the caller knows (TLS SANs, principals, a peer from the TCP exchange or workload
//!    discovery). [`Layer::layer`](tower_layer::Layer::layer) gives the [`Meshtel`] service,
//!    whose clones share the connection's state (the plugin's connection, the decode cache).
//! 3. The inner service takes `Request<RequestBody<B>>` and returns `Response<B2>`; the layer
//!    returns `Response<ResponseBody<B2>>`. To report a failure with an Envoy meaning, the
//!    inner service returns an [`UpstreamError`] (`UF`, `UT`, `NR`, ...) or inserts
//!    [`ResponseFlags`] into the response's extensions. Facts learnt later (an outbound
//!    proxy's upstream TLS SANs) go back the same way, as a `ConnectionFacts` extension.
//!
//! # Recording
//!
//! A stream is recorded once, when its response body ends (last data frame, trailers, end of
//! body, the `content-length` reached), fails (`UR`) or is dropped first (`DC`), or when the
//! response future fails (the error's flag, `response_code="0"`) or is dropped (`DC`,
//! `response_code="0"`). Sizes follow [`size`]. gRPC streams (by `content-type`) also count
//! messages ([`FrameCounter`]), read `grpc-status` from trailers or headers, and report
//! message deltas every reporting period from a timer the body and the future poll.
//!
//! # Allocation
//!
//! One allocation per request in the steady state: the request meter the two bodies share
//! (an `Arc`). Nothing grows with the label count. A gRPC stream adds its boxed gRPC state,
//! and with a reporting period its timer (a boxed `Sleep`). Cache misses (a new peer value) decode into a fresh buffer and
//! re-evaluate the connection's labels.
//!
//! [tower]: https://docs.rs/tower
#![forbid(unsafe_code)]

mod body;
mod error;
mod flags;
mod future;
mod layer;
mod peer;
mod service;
pub mod size;
mod stream;

pub use body::{RequestBody, ResponseBody};
pub use error::BuildError;
pub use flags::{BoxError, ResponseFlag, ResponseFlags, UpstreamError};
pub use future::ResponseFuture;
// Moved to `meshtel` so the proxy-wasm module counts messages with the same code.
pub use layer::{Direction, MeshtelLayer, Route, Telemetry};
pub use meshtel::FrameCounter;
pub use service::Meshtel;

/// The crate README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
