//! How long the store's commits take (the fsync of `synchronous=FULL`), in a lock-free
//! histogram that the metrics endpoint reads: the store is the ground floor and cannot call it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A histogram of durations with fixed upper bounds, filled and read without locks, so that
/// timing a commit never waits for a scrape.
pub struct Histogram<const N: usize> {
    /// Upper bounds in microseconds, ascending; a bucket counts observations `<=` its bound
    /// (Prometheus `le`).
    bounds_micros: [u64; N],
    /// Observations per bucket, not cumulative; those above the last bound only in `count`.
    buckets: [AtomicU64; N],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A histogram as read at one moment, cumulative as Prometheus exposes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `(upper bound in seconds, observations at most that long)`, ascending.
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    /// All observations (the `+Inf` bucket); never below the last cumulative bucket.
    pub count: u64,
}

impl<const N: usize> Histogram<N> {
    /// An empty histogram with these upper bounds (microseconds, ascending).
    pub const fn new(bounds_micros: [u64; N]) -> Self {
        Histogram {
            bounds_micros,
            buckets: [const { AtomicU64::new(0) }; N],
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        // Count first, bucket last, and `read` in the opposite order: a reader that sees the
        // bucket also sees the count, so `+Inf` is never below a finite bucket.
        self.count.fetch_add(1, Ordering::SeqCst);
        self.sum_micros.fetch_add(micros, Ordering::SeqCst);
        if let Some(i) = self.bounds_micros.iter().position(|&b| micros <= b) {
            self.buckets[i].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The histogram now.
    pub fn read(&self) -> Reading {
        let mut total = 0;
        let buckets = self
            .bounds_micros
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, n)| {
                total += n.load(Ordering::SeqCst);
                (bound as f64 / 1e6, total)
            })
            .collect();
        let sum_seconds = self.sum_micros.load(Ordering::SeqCst) as f64 / 1e6;
        let count = self.count.load(Ordering::SeqCst).max(total);
        Reading {
            buckets,
            sum_seconds,
            count,
        }
    }
}

/// The commits of `Store::write` (successful ones), from 0.5 ms (a commit on a fast SSD) to
/// 10 s (the busy timeout).
pub static COMMITS: Histogram<14> = Histogram::new([
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = Histogram::new([1_000, 10_000]);
        for ms in [0, 1, 2, 10, 11] {
            h.observe(Duration::from_millis(ms));
        }
        let r = h.read();
        assert_eq!(r.buckets, vec![(0.001, 2), (0.01, 4)]);
        assert_eq!(r.count, 5, "the one above every bound counts in +Inf only");
        assert!((r.sum_seconds - 0.024).abs() < 1e-9, "{}", r.sum_seconds);
    }
}
