//! A [tower] layer that gives any `http::Request` → `http::Response` service — hyper 1,
//! axum, tonic, a reverse proxy — Istio's peer metadata exchange and Istio's standard
//! metrics, recorded by [`meshtel::StatsPlugin`].
//!
//! [tower]: https://docs.rs/tower
#![forbid(unsafe_code)]

mod body;
mod error;
mod flags;
mod future;
mod grpc;
mod layer;
mod peer;
mod service;
pub mod size;
mod stream;

pub use body::{RequestBody, ResponseBody};
pub use error::BuildError;
pub use flags::{BoxError, ResponseFlag, ResponseFlags, UpstreamError};
pub use future::ResponseFuture;
pub use grpc::FrameCounter;
pub use layer::{Direction, MeshtelLayer, Route, Telemetry};
pub use service::Meshtel;
