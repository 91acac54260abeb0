//! The pusher's interval, timeout, retry policy and size limits.

use std::time::Duration;

/// How often and how hard the pusher pushes. Every limit is explicit; the defaults suit a
/// sidecar pushing to a Prometheus-compatible receiver or an OpenTelemetry Collector.
///
/// ```
/// use std::time::Duration;
/// use meshtel_tokio::push::{Backoff, PushConfig};
/// let config = PushConfig {
///     interval: Duration::from_secs(5),
///     backoff: Backoff { max_retries: 3, ..Backoff::default() },
///     ..PushConfig::default()
/// };
/// assert_eq!(config.timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// Time between the starts of two pushes (15 s). A push whose retries run past the
    /// next start delays it; pushes never overlap or queue up.
    pub interval: Duration,
    /// Bound on one attempt: connecting, sending and reading the response (10 s).
    pub timeout: Duration,
    /// Retries of a failed push.
    pub backoff: Backoff,
    /// Largest request body the encoder may produce (16 MiB, the default
    /// `max_request_body_size` of many receivers is of that order). The body buffer, one per
    /// target and reused, never grows past this plus the encoder's last write.
    pub max_body_bytes: usize,
    /// How much of a response body is read (4 KiB): the start of an error message is kept
    /// for [`PushError::Status`](super::PushError::Status); a longer successful body closes
    /// the connection instead of being drained.
    pub max_response_bytes: usize,
    /// Delay the first push by a random fraction of `interval` (off by default: the first
    /// push is immediate). Many pushers started together (a fleet after a rollout, the
    /// `meshtel push-sim` simulation) then reach the receiver spread over the interval
    /// instead of all at once.
    pub spread_first: bool,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            max_body_bytes: 16 << 20,
            max_response_bytes: 4 << 10,
            spread_first: false,
        }
    }
}

/// Exponential backoff with jitter between the attempts of one push.
///
/// Retry `k` (from 0) waits a uniformly random time in `[d/2, d]` where
/// `d = min(initial * 2^k, max)`: the wait grows, is bounded by `max`, and receivers
/// restarted under many pushers see them spread out rather than in lockstep.
/// Each retry re-encodes the latest snapshot, so nothing old is kept: counters are
/// cumulative, and the newest snapshot carries every increment of the failed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait, before jitter (250 ms).
    pub initial: Duration,
    /// The largest wait (5 s).
    pub max: Duration,
    /// Retries after the first attempt before the push is given up (5); the next push
    /// starts at the next interval.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
            max_retries: 5,
        }
    }
}

impl Backoff {
    /// The wait before retry `retry` (from 0), given a uniform random `unit` in `[0, 1)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use meshtel_tokio::push::Backoff;
    /// let b = Backoff::default();
    /// assert_eq!(b.delay(0, 0.0), Duration::from_millis(125));
    /// assert_eq!(b.delay(2, 0.5), Duration::from_millis(750));
    /// assert!(b.delay(40, 0.5) <= b.max);
    /// ```
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let full = self.initial.saturating_mul(factor).min(self.max);
        let half = full / 2;
        // `full - half` is `half` rounded up: never negative, so saturating loses nothing.
        half + full.saturating_sub(half).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A small pseudo-random generator for the jitter (SplitMix64): no dependency, no
/// cryptographic quality needed, seeded per target so that pushers differ.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn seeded(name: &str) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // FNV-1a of the name, so that targets started in the same nanosecond differ.
        let name_hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Self(now ^ name_hash)
    }

    /// A uniform float in `[0, 1)`.
    pub(crate) fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let b = Backoff::default();
        let mut jitter = Jitter::seeded("t");
        for retry in 0..64 {
            let unit = jitter.next_unit();
            assert!((0.0..1.0).contains(&unit));
            let d = b.delay(retry, unit);
            let full = (b.initial * 2u32.pow(retry.min(20))).min(b.max);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} outside [{:?}, {full:?}]",
                full / 2
            );
        }
    }
}
