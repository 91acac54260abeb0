//! The pusher's own health, as `meshtel_push_*` metrics in a registry.

use meshtel_metrics::{Buckets, CounterId, Desc, FloatGaugeId, GaugeId, Group, HistogramId, Registry, RegistryError};

use super::error::{PushError, REASONS};

/// The `meshtel_push_*` families, registered once per pusher.
#[derive(Debug, Clone)]
pub(crate) struct Health {
    by_target: Group,
    attempts: CounterId,
    successes: CounterId,
    gave_up: CounterId,
    sent_bytes: CounterId,
    last_success: FloatGaugeId,
    body_bytes: GaugeId,
    buffer_bytes: GaugeId,
    duration: HistogramId,
    by_reason: Group,
    failures: CounterId,
}

impl Health {
    pub(crate) fn register(registry: &Registry) -> Result<Self, RegistryError> {
        let mut g = registry.group("meshtel_push", &["target"]);
        let attempts = g.counter(Desc::new(
            "meshtel_push_attempts_total",
            "Push attempts (first tries and retries) by target.",
        ))?;
        let successes = g.counter(Desc::new(
            "meshtel_push_successes_total",
            "Pushes the receiver accepted (2xx) by target.",
        ))?;
        let gave_up = g.counter(Desc::new(
            "meshtel_push_gave_up_total",
            "Pushes abandoned after a permanent error or the last retry; the next interval pushes the newer snapshot.",
        ))?;
        let sent_bytes = g.counter(Desc::new(
            "meshtel_push_sent_bytes_total",
            "Request body bytes sent, every attempt counted.",
        ))?;
        let last_success = g.float_gauge(
            Desc::new(
                "meshtel_push_last_success_timestamp_seconds",
                "Unix time of the last accepted push.",
            )
            .unit("seconds"),
        )?;
        let body_bytes = g.gauge(Desc::new(
            "meshtel_push_body_bytes",
            "Size of the last encoded request body.",
        ))?;
        let buffer_bytes = g.gauge(Desc::new(
            "meshtel_push_buffer_capacity_bytes",
            "Capacity of the target's reused body buffer: the pusher's memory for the target.",
        ))?;
        let duration = g.histogram(
            Desc::new(
                "meshtel_push_duration_seconds",
                "Duration of one push attempt: connect, send, response.",
            )
            .unit("seconds"),
            // Loopback pushes take well under a millisecond; remote ones up to the timeout.
            Buckets::new(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])?,
        )?;
        let by_target = g.build()?;
        let mut g = registry.group("meshtel_push_failures", &["target", "reason"]);
        let failures = g.counter(Desc::new(
            "meshtel_push_failures_total",
            "Failed push attempts by target and reason.",
        ))?;
        let by_reason = g.build()?;
        Ok(Self {
            by_target,
            attempts,
            successes,
            gave_up,
            sent_bytes,
            last_success,
            body_bytes,
            buffer_bytes,
            duration,
            by_reason,
            failures,
        })
    }

    /// Creates the target's series at zero, so that a receiver that never answers still
    /// shows up as a target with failures rather than as nothing.
    pub(crate) fn add_target(&self, target: &str) {
        self.with_target(target, |_, _| {});
        for reason in REASONS {
            let _ = self.by_reason.with_series(&[target, reason], |_| {});
        }
    }

    fn with_target(&self, target: &str, f: impl FnOnce(&Self, meshtel_metrics::SeriesRef<'_>)) {
        // The schema has one label and one value is given: the arity always matches.
        let _ = self.by_target.with_series(&[target], |s| f(self, s));
    }

    pub(crate) fn encoded(&self, target: &str, body: usize, capacity: usize) {
        self.with_target(target, |h, s| {
            s.set(h.body_bytes, body as i64);
            s.set(h.buffer_bytes, capacity as i64);
        });
    }

    pub(crate) fn attempt(&self, target: &str, sent: usize, seconds: Option<f64>) {
        self.with_target(target, |h, s| {
            s.inc(h.attempts);
            s.add(h.sent_bytes, sent as u64);
            if let Some(seconds) = seconds {
                s.observe(h.duration, seconds);
            }
        });
    }

    pub(crate) fn success(&self, target: &str, unix_seconds: f64) {
        self.with_target(target, |h, s| {
            s.inc(h.successes);
            s.set_f64(h.last_success, unix_seconds);
        });
    }

    pub(crate) fn failure(&self, error: &PushError) {
        let _ = self
            .by_reason
            .with_series(&[error.target(), error.reason()], |s| s.inc(self.failures));
    }

    pub(crate) fn gave_up(&self, target: &str) {
        self.with_target(target, |h, s| s.inc(h.gave_up));
    }
}
