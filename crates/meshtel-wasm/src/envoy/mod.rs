//! The module's proxy-wasm glue: the root context (configuration, flushes), the host's
//! statistics as a [`StatsSink`], and property reads. Built for `wasm32` only: the host calls
//! exist only there.
//!
//! No panic may cross the ABI (a trap kills the VM): nothing here unwraps, indexes unchecked
//! or expects; every host call's failure is a value handled on the spot.

mod http;
mod tcp;

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{ContextType, LogLevel, MetricType};

use crate::config::{FilterConfig, FilterKind};
use crate::mirror::{MetricKind, Mirror, StatsSink};
use crate::vm::Vm;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// Logs at `level`; a host that refuses the log line leaves nothing else to tell.
pub(crate) fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// A property's bytes, `None` when absent or unreadable.
pub(crate) fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// `filter_metadata["istio"]` of a metadata property (`xds.cluster_metadata`,
/// `xds.upstream_host_metadata`: an `envoy.config.core.v3.Metadata`, whose field 1 is the
/// filter metadata map), as a serialized `Struct`.
pub(crate) fn istio_metadata(path: &[&str]) -> Option<Vec<u8>> {
    let metadata = property(path)?;
    crate::props::map_entry(&metadata, 1, "istio").map(<[u8]>::to_vec)
}

/// The host's clock as a duration since the Unix epoch (the plugin's `now`).
pub(crate) fn now() -> Duration {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default()
}

/// The host's statistics.
struct HostStats;

impl StatsSink for HostStats {
    fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        };
        hostcalls::define_metric(kind, name).ok()
    }

    fn add(&mut self, id: u32, delta: u64) {
        let _ = hostcalls::increment_metric(id, i64::try_from(delta).unwrap_or(i64::MAX));
    }

    fn set(&mut self, id: u32, value: u64) {
        let _ = hostcalls::record_metric(id, value);
    }

    fn observe(&mut self, id: u32, value: u64) {
        let _ = hostcalls::record_metric(id, value);
    }
}

/// One filter's root context: unconfigured (contexts pass traffic through untouched) until
/// `on_configure` succeeds.
#[derive(Default)]
struct Root {
    kind: Option<FilterKind>,
    vm: Option<Rc<Vm>>,
    mirror: Option<Mirror>,
}

impl Root {
    fn configure(&mut self) -> Result<(), String> {
        let root_id = property(&["plugin_root_id"])
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        // Known before the configuration is read, so that even a root whose configuration
        // fails answers `get_type` with the kind its filter expects.
        self.kind = Some(FilterKind::from_root_id(&root_id));
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        let config = FilterConfig::from_json(&bytes, &root_id).map_err(|e| e.to_string())?;
        self.kind = Some(config.filter);
        // `xds.node` is an `envoy.config.core.v3.Node`: id is field 1, metadata (a `Struct`) 3.
        let node = property(&["xds", "node"]).unwrap_or_default();
        let node_id = crate::props::field(&node, 1)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
            .to_owned();
        let node = crate::props::field(&node, 3).unwrap_or_default();
        let flush = Duration::from_millis(config.flush_interval_ms);
        let max_series = config.max_series;
        let vm = Vm::new(config, node, &node_id).map_err(|e| e.to_string())?;
        for warning in vm.plugin.warnings() {
            log(LogLevel::Warn, &format!("meshtel: plugin configuration: {warning}"));
        }
        // The registry holds at most `max_series` per group (and the overflow series);
        // sixteen groups' worth bounds the mirror in the same way.
        self.mirror = Some(Mirror::new(max_series.saturating_add(1).saturating_mul(16)));
        self.vm = Some(Rc::new(vm));
        let _ = hostcalls::set_tick_period(flush);
        Ok(())
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        match self.configure() {
            Ok(()) => {
                if let Some(vm) = &self.vm {
                    log(
                        LogLevel::Info,
                        &format!(
                            "meshtel: configured {:?} filter, role {}",
                            vm.config.filter,
                            vm.config.role.as_str()
                        ),
                    );
                }
                true
            }
            Err(e) => {
                log(LogLevel::Error, &format!("meshtel: on_configure failed: {e}"));
                self.vm = None;
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let (Some(vm), Some(mirror)) = (&self.vm, self.mirror.as_mut()) {
            let report = mirror.flush(&vm.registry, &mut HostStats);
            if report.dropped > 0 {
                log(
                    LogLevel::Warn,
                    &format!("meshtel: {} series not copied to the host's statistics", report.dropped),
                );
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(http::Stream::new(self.vm.clone())))
    }

    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(tcp::Connection::new(self.vm.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        // Asked for every new stream or connection; an unconfigured root still answers
        // (the SDK panics on `None`), its contexts then pass traffic through.
        Some(match self.kind {
            Some(FilterKind::Network) => ContextType::StreamContext,
            _ => ContextType::HttpContext,
        })
    }
}
