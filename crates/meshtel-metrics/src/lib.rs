//! `meshtel-metrics`: labelled counters, gauges and histograms that record
//! without locks or allocation, exposed as Prometheus text 0.0.4 or
//! OpenMetrics 1.0.0.
//!
//! Families that share a label schema form a [`Group`] with one series
//! table: a request that records four metrics hashes and compares its label
//! values once. Recording into an existing series takes no lock and
//! allocates nothing; each thread writes its own cache-padded stripe of the
//! series' cells with plain loads and stores (threads beyond
//! [`Config::stripes`] share one stripe through atomic read-modify-writes),
//! merged when rendering. Series tables are read through
//! `arc-swap` and replaced copy-on-write when a series is created.
//!
//! Limits: a series cap per group (then one overflow series), a label value
//! length cap (then truncation), optional expiry of idle series. See
//! [`Config`].
//!
//! ```
//! use meshtel_metrics::{Buckets, Desc, Format, Registry};
//! let registry = Registry::default();
//! let mut g = registry.group("istio_http", &["reporter", "response_code"]);
//! let requests = g.counter(Desc::new("istio_requests_total", "Total requests."))?;
//! let duration = g.histogram(
//!     Desc::new("istio_request_duration_milliseconds", "Request duration.").unit("milliseconds"),
//!     Buckets::new(&[1.0, 5.0, 25.0, 100.0])?,
//! )?;
//! let http = g.build()?;
//! http.with_series(&["destination", "200"], |s| {
//!     s.inc(requests);
//!     s.observe(duration, 3.0);
//! })?;
//! let text = registry.render_to_string(Format::OpenMetrics);
//! assert!(text.contains("# TYPE istio_requests counter\n"));
//! assert!(text.contains("istio_request_duration_milliseconds_bucket{reporter=\"destination\",response_code=\"200\",le=\"5\"} 1\n"));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

#[cfg(any(feature = "protobuf", feature = "remote-write", feature = "otlp"))]
mod collect;
mod config;
mod desc;
mod expo;
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
mod group;
mod histogram;
mod native;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(any(feature = "protobuf", feature = "remote-write"))]
mod pb;
#[cfg(feature = "protobuf")]
mod protobuf;
mod registry;
#[cfg(feature = "remote-write")]
pub mod remote_write;
mod render;
mod series;
mod sync;

pub use config::Config;
pub use desc::{Desc, LabelError, RegistryError};
pub use expo::Format;
pub use group::{CounterId, FloatGaugeId, GaugeId, Group, HistogramId, OVERFLOW_LABEL_VALUE, Series, SeriesRef};
pub use histogram::{Buckets, BucketsError, MAX_BUCKETS};
pub use native::{MAX_NATIVE_BUCKETS, MAX_SCHEMA, MIN_SCHEMA, NativeBuckets, NativeBucketsError};
pub use registry::{GroupBuilder, Registry};

/// The push guide (`docs/push.md`), whose examples run as doc tests with
/// every feature on.
#[cfg(all(doctest, feature = "remote-write", feature = "otlp", feature = "protobuf"))]
#[doc = include_str!("../../../docs/push.md")]
pub struct PushDoctests;

/// This crate's README, whose example runs as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
