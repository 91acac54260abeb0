//! The pusher (feature `push`): a snapshot of the metrics on an interval to a Prometheus
//! remote-write URL and/or an OTLP/HTTP URL.
//!
//! A [`Pusher`] has one or more [`PushTarget`]s; [`Pusher::spawn`] starts one task per
//! target. Each push encodes a fresh snapshot with the target's [`Encoder`] into the
//! target's one reused body buffer and POSTs it over a kept-alive HTTP/1.1 connection:
//!
//! - **Bounded memory.** One body buffer per target, at most
//!   [`PushConfig::max_body_bytes`]; nothing is queued. A retry re-encodes the latest
//!   snapshot instead of keeping the failed one: counters and histograms are cumulative,
//!   so the newer snapshot carries every increment the failed one had.
//! - **Retries** on connection errors, timeouts, broken exchanges, 5xx and 429, with
//!   exponential backoff and jitter ([`Backoff`]), at most `max_retries` per push; then the
//!   push is given up and the next interval pushes again.
//! - **4xx is permanent**: counted (`reason="client_error"`), not retried.
//! - **Health** as `meshtel_push_*` metrics in a registry of your choice (attempts,
//!   successes, failures by reason, bytes sent, body size, buffer capacity, last success,
//!   attempt duration).
//! - **Shutdown flushes once**: [`PushHandle::shutdown`] (or dropping the handle) stops
//!   the tasks, each after one last attempt with the newest snapshot.
//!
//! Only `http://` URLs: put a TLS-terminating proxy or collector next to the process to
//! reach a receiver over TLS.
//!
//! # Example
//!
//! Push a registry to a receiver every 15 s, until shutdown. (The encoder here writes the
//! text exposition; real ones are `meshtel_metrics::remote_write::encode` and
//! `meshtel_metrics::otlp::encode`.)
//!
//! ```no_run
//! use meshtel_metrics::{Format, Registry};
//! use meshtel_tokio::push::{PushConfig, PushTarget, Pusher};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = Registry::default();
//! let health = Registry::default();
//! let source = metrics.clone();
//! let encoder = move |_timestamp_ms: i64, out: &mut Vec<u8>| source.render(Format::Prometheus, out);
//! let pusher = Pusher::new(PushConfig::default(), &health)?
//!     .target(PushTarget::remote_write("prometheus", "http://127.0.0.1:9090/api/v1/write", encoder)?);
//! let handle = pusher.spawn();
//! // ... serve ...
//! for (target, flushed) in handle.shutdown().await {
//!     if let Err(e) = flushed {
//!         eprintln!("last push to {target} failed: {e}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod health;
mod target;

use std::sync::Arc;

use meshtel_metrics::{Registry, RegistryError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Backoff, PushConfig};
pub use error::{BoxError, PushError, UrlError};
pub use target::{Encoder, Protocol, PushTarget};

use health::Health;
use target::Runner;

/// Targets, a configuration and a health registry: start it with [`Pusher::spawn`].
#[derive(Debug)]
pub struct Pusher {
    config: Arc<PushConfig>,
    health: Health,
    targets: Vec<PushTarget>,
}

impl Pusher {
    /// A pusher with no targets yet, reporting its health into `health` (which may be
    /// the registry it pushes: the receiver then sees the pusher's own health too).
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`] when `health` already has the `meshtel_push_*`
    /// families (one pusher per health registry).
    pub fn new(config: PushConfig, health: &Registry) -> Result<Self, RegistryError> {
        Ok(Self {
            config: Arc::new(config),
            health: Health::register(health)?,
            targets: Vec::new(),
        })
    }

    /// Adds a target. Names should differ: they are the `target` label of the health
    /// metrics.
    #[must_use]
    pub fn target(mut self, target: PushTarget) -> Self {
        self.targets.push(target);
        self
    }

    /// The targets added so far.
    pub fn targets(&self) -> &[PushTarget] {
        &self.targets
    }

    /// Starts one task per target on the current tokio runtime; the first push is
    /// immediate, the next ones every [`PushConfig::interval`].
    ///
    /// # Panics
    /// Outside a tokio runtime (as [`tokio::spawn`]).
    pub fn spawn(self) -> PushHandle {
        let (stop, stopped) = watch::channel(false);
        let tasks = self
            .targets
            .into_iter()
            .map(|target| {
                let name = target.name.clone();
                let runner = Runner::new(target, Arc::clone(&self.config), self.health.clone());
                (name, tokio::spawn(runner.run(stopped.clone())))
            })
            .collect();
        PushHandle { stop, tasks }
    }
}

/// The running pushers. Dropping it stops them too (each still flushes once, in the
/// background).
#[derive(Debug)]
pub struct PushHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<Result<(), PushError>>)>,
}

impl PushHandle {
    /// Stops every target's task after one last attempt (no retries) with the newest
    /// snapshot, and returns each target's name with the result of that attempt.
    /// A push in progress finishes its current attempt (bounded by
    /// [`PushConfig::timeout`]) first; a backoff wait is cut short. A target still
    /// waiting for its spread first push ([`PushConfig::spread_first`]) pushes nothing and
    /// reports `Ok(())`.
    pub async fn shutdown(self) -> Vec<(String, Result<(), PushError>)> {
        let _ = self.stop.send(true);
        let mut results = Vec::with_capacity(self.tasks.len());
        for (name, task) in self.tasks {
            let result = match task.await {
                Ok(result) => result,
                Err(join) => Err(PushError::Aborted {
                    target: name.clone(),
                    reason: join.to_string(),
                }),
            };
            results.push((name, result));
        }
        results
    }
}
