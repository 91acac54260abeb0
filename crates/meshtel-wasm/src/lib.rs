//! Istio's metadata exchange and standard metrics for any proxy-wasm host: one module
//! (`meshtel_wasm.wasm`, built for `wasm32-wasip1`) with an HTTP filter and a network (TCP)
//! filter, recording through the [`meshtel`] stats plugin into the host's statistics.
//!
//! On `wasm32` the crate is the module: its root contexts read the filter configuration
//! ([`FilterConfig`]) and the host's node metadata, build a [`Vm`], run the header exchange on
//! HTTP streams and the prefix exchange on TCP connections, and copy the VM's metrics into the
//! host's statistics every flush interval ([`Mirror`]), labels encoded in the stat names
//! ([`names`]) for the host's tag extraction. On other targets it is the pure logic the module
//! uses — configuration, names, the mirror, property decoding — testable on the host, and
//! [`bootstrap`], the Envoy configuration `meshtel envoy bootstrap` prints.
//!
//! ```
//! use meshtel_wasm::{FilterConfig, Vm};
//! let config = FilterConfig::from_json(br#"{"role": "inbound"}"#, "meshtel_http")?;
//! let node = meshtel_wasm::vm::node_from_json(&serde_json::json!({"WORKLOAD_NAME": "ratings-v1", "NAMESPACE": "default"}))?;
//! let vm = Vm::new(config, &node, "sidecar~10.0.0.2~ratings-v1.default~default.svc.cluster.local")?;
//! let peer = vm.decode_peer_header(vm.local_header().as_bytes()).expect("a valid header");
//! assert_eq!(peer.workload, "ratings-v1");
//! # Ok::<(), meshtel_wasm::VmError>(())
//! ```
//!
//! See `docs/wasm.md` for the configuration schema, the Envoy set-up and which proxy-wasm
//! limits shaped the design.

// The module's only unsafe code is the SDK's `proxy_wasm::main!` expansion: the exported
// `_initialize` entry point. Everything else is safe.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]

#[cfg(not(target_arch = "wasm32"))]
pub mod bootstrap;
pub mod config;
#[cfg(target_arch = "wasm32")]
mod envoy;
pub mod mirror;
pub mod names;
pub mod props;
pub mod vm;

pub use config::{ConfigError, FilterConfig, FilterKind, Role};
pub use mirror::{Mirror, StatsSink};
pub use vm::{Vm, VmError};

/// The crate README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
