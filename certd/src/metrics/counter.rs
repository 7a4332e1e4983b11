//! Counters the effects code bumps with one line: plain, by a label value, and by how a send
//! failed. Atomic (or briefly locked) and never blocking on a scrape for long.

use crate::send::SendError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A monotonic count.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// Counts by one label value out of a small set known only at run time (e.g. the RFC 3463
/// enhanced status of a refusal): the callers must keep the set small.
pub struct LabeledCounter(Mutex<BTreeMap<String, u64>>);

impl LabeledCounter {
    pub const fn new() -> Self {
        LabeledCounter(Mutex::new(BTreeMap::new()))
    }

    pub fn inc(&self, label: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(label.to_owned()).or_default() += 1;
    }

    /// Every label value seen, with its count, in label order.
    pub fn get(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

impl Default for LabeledCounter {
    fn default() -> Self {
        LabeledCounter::new()
    }
}

/// Failed sends to a gateway, by [`SendError`] class: temporary ones are retried, permanent
/// ones recorded.
pub struct SendErrors {
    pub temporary: Counter,
    pub permanent: Counter,
}

impl SendErrors {
    pub const fn new() -> Self {
        SendErrors {
            temporary: Counter::new(),
            permanent: Counter::new(),
        }
    }

    /// Counts one failed send.
    pub fn count(&self, e: &SendError) {
        match e {
            SendError::Temporary(_) => self.temporary.inc(),
            SendError::Permanent(_) => self.permanent.inc(),
        }
    }
}

impl Default for SendErrors {
    fn default() -> Self {
        SendErrors::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count() {
        let c = Counter::new();
        c.inc();
        c.inc();
        assert_eq!(c.get(), 2);
        let l = LabeledCounter::new();
        for label in ["5.7.1", "5.1.3", "5.7.1"] {
            l.inc(label);
        }
        assert_eq!(l.get(), vec![("5.1.3".into(), 1), ("5.7.1".into(), 2)]);
        let s = SendErrors::new();
        s.count(&SendError::Temporary("451".into()));
        s.count(&SendError::Permanent("550".into()));
        s.count(&SendError::Permanent("554".into()));
        assert_eq!((s.temporary.get(), s.permanent.get()), (1, 2));
    }
}
