//! Keeps alive the leases of the outbox rows a node is performing, for a bounded time, so that a
//! long effect (a certificate waiting on slow OCSP responders) is not taken over by another node.

use crate::evidence::Instant;
use crate::store::{lock, Store};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as Clock};

/// Renews one batch's leases every quarter lease until dropped or until `max` has passed.
pub(super) struct Keeper {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    renewed: Arc<Mutex<Clock>>,
}

impl Keeper {
    /// Starts keeping `ids`, leased just now for `lease`. After `max` the leases are left to
    /// run out: an effect that long is stuck, and another node (or this one) should retry it.
    pub(super) fn start(
        store: Arc<Mutex<Store>>,
        ids: Vec<i64>,
        lease: Duration,
        max: Duration,
    ) -> Keeper {
        let renewed = Arc::new(Mutex::new(Clock::now()));
        let (stop, stopped) = mpsc::channel::<()>();
        let last = Arc::clone(&renewed);
        let thread = std::thread::Builder::new()
            .name("outbox-lease".into())
            .spawn(move || {
                let started = Clock::now();
                let secs = i64::try_from(lease.as_secs()).unwrap_or(i64::MAX);
                loop {
                    match stopped.recv_timeout(lease / 4) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                    if started.elapsed() >= max {
                        log::error!(
                            "outbox: effects {ids:?} still running after {}s: their leases are \
                             left to run out",
                            max.as_secs()
                        );
                        return;
                    }
                    let at = Clock::now();
                    match lock(&store).extend_leases(&ids, secs, Instant::now()) {
                        Ok(_) => *lock_clock(&last) = at,
                        Err(e) => log::warn!("outbox: renewing the leases of {ids:?}: {e}"),
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // Without the keeper the leases simply are not renewed: the dispatcher then
                // stops starting effects at half the lease, as it must anyway.
                log::warn!("outbox: cannot start the lease keeper: {e}");
                None
            }
        };
        Keeper {
            stop: Some(stop),
            thread,
            renewed,
        }
    }

    /// Time since the leases were taken or last renewed.
    pub(super) fn since_renewed(&self) -> Duration {
        lock_clock(&self.renewed).elapsed()
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock_clock(m: &Mutex<Clock>) -> std::sync::MutexGuard<'_, Clock> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};

    #[test]
    fn a_kept_lease_outlives_its_term_and_a_stuck_one_runs_out() {
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), Instant::now()).unwrap();
        s.submit(&submission("k1")).unwrap();
        let kept = s.lease_due(1, 4, Instant::now()).unwrap()[0].id;
        let stuck = s.lease_due(1, 4, Instant::now()).unwrap()[0].id;
        let store = Arc::new(Mutex::new(s));
        let lease = Duration::from_secs(4);
        let keeper = Keeper::start(Arc::clone(&store), vec![kept], lease, lease * 15);
        // max zero: this keeper gives up at once, as for an effect that never ends.
        let gave_up = Keeper::start(Arc::clone(&store), vec![stuck], lease, Duration::ZERO);
        std::thread::sleep(Duration::from_secs(6));
        assert!(keeper.since_renewed() < Duration::from_secs(3));
        assert!(gave_up.since_renewed() >= Duration::from_secs(6));
        let free: Vec<i64> = lock(&store)
            .lease_due(10, 4, Instant::now())
            .unwrap()
            .iter()
            .map(|it| it.id)
            .collect();
        assert_eq!(free, [stuck], "past its 4 s term only the kept lease holds");
        // Dropped: the keeper stops, and its lease runs out like any other.
        drop(keeper);
        let deadline = Clock::now() + Duration::from_secs(15);
        while lock(&store)
            .lease_due(10, 4, Instant::now())
            .unwrap()
            .is_empty()
        {
            assert!(
                Clock::now() < deadline,
                "the dropped keeper's lease never ran out"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
