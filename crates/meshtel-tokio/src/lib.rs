//! Tokio glue for meshtel: the Istio TCP prefix peer-metadata exchange over any async
//! stream, and streams metered into Istio's TCP metrics.
//!
//! `meshtel-wire` and `meshtel` are sans-IO: they are given bytes and times. This crate
//! drives them over [`tokio::io::AsyncRead`] + [`tokio::io::AsyncWrite`] streams:
//!
//! - [`PeerExchange::run`] writes this side's frame and reads the peer's
//!   (`docs/reference/wire.md` §4), with the wire crate's limits and a timeout, and
//!   returns an [`Exchanged`]: the typed [`PeerOutcome`] and a [`Prefixed`] stream that
//!   replays the application bytes read past the frame.
//! - [`PeerExchange::start`] is the client mode that does not wait for the peer: it
//!   completes once this side's frame is written and returns a [`PeerStream`] whose reads
//!   take the peer's frame off the first inbound bytes, with a [`PeerHandle`] that receives
//!   the outcome when it is known (a server that sends its frame only in front of its first
//!   response bytes, as a proxy-wasm filter does).
//! - [`Metered`] counts the bytes passing through a stream and drives the plugin's
//!   [`meshtel::TcpConnection`]: opened after [`Metered::resolve`], periodic deltas,
//!   closed exactly once (end of stream, error, reset or drop).
//! - [`alpn`]: Istio's ALPN lists ready for rustls; [`tls`] (feature `rustls`): connection
//!   facts (ALPN, SPIFFE principals, mutual TLS) from a rustls connection.
//! - [`push`] (feature `push`): a registry snapshot on an interval to a Prometheus
//!   remote-write or OTLP/HTTP receiver, with retries, bounded memory and its own health
//!   metrics.
//!
//! # Example
//!
//! One connection, both ends in memory: exchange, then meter the server's side.
//!
//! ```
//! use std::sync::Arc;
//! use meshtel::{ConnectionFacts, LocalNode, PluginConfig, Reporter, StatsPlugin, TcpRouting};
//! use meshtel_metrics::{Format, Registry};
//! use meshtel_tokio::{Meter, PeerExchange, Role};
//! use meshtel_wire::workload::WorkloadMetadata;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::default();
//! let plugin = StatsPlugin::new(LocalNode::default(), Reporter::Inbound, &PluginConfig::default(), &registry)?;
//! let meter = Meter::new(Arc::new(plugin));
//!
//! let mut client_record = WorkloadMetadata::default();
//! client_record.workload = "productpage-v1".into();
//! let client = PeerExchange::for_workload(&client_record, "client-node")?;
//! let server = PeerExchange::for_workload(&WorkloadMetadata::default(), "server-node")?;
//! let alpn = Some(&b"istio-peer-exchange"[..]);
//!
//! let (a, b) = tokio::io::duplex(1024);
//! let (c, s) = tokio::try_join!(client.run(Role::Client, a, alpn), server.run(Role::Server, b, alpn))?;
//! let mut conn = meter.meter(s.stream, ConnectionFacts::default(), TcpRouting::default());
//! conn.resolve(s.outcome.into_peer());
//!
//! let mut app = c.stream;
//! app.write_all(b"hello").await?;
//! let mut buf = [0; 5];
//! conn.read_exact(&mut buf).await?;
//! drop(conn);
//!
//! let text = registry.render_to_string(Format::Prometheus);
//! let closed = text.lines().find(|l| l.starts_with("istio_tcp_connections_closed_total{")).unwrap();
//! assert!(closed.contains(r#"source_workload="productpage-v1""#) && closed.ends_with(" 1"));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alpn;
mod exchange;
mod lazy;
mod metered;
mod prefixed;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "rustls")]
pub mod tls;

pub use exchange::{ExchangeError, Exchanged, Peer, PeerExchange, PeerOutcome, Rejection, Role};
pub use lazy::{PeerHandle, PeerStream, Started};
pub use metered::{Meter, Metered};
pub use prefixed::Prefixed;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
