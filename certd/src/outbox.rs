//! Side effects and the dispatcher that performs them.
//!
//! Effects are data ([`Effect`]), written to the outbox in the same transaction as the state
//! change that causes them. The dispatcher leases due rows, performs them at the edge (SMTP),
//! and completes or reschedules them with exponential back-off. Killing certd at any point
//! loses nothing: an unfinished lease expires and the effect is tried again.

use crate::error::Error;
use crate::mailer::{self, Outgoing, SendError, Transport};
use crate::store::{OutboxItem, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One side effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// The acceptance receipt to the customer, with the serial number.
    Receipt {
        contract_id: String,
        to: String,
        language: String,
    },
    /// A row written by a newer certd that this one does not know; left for it.
    #[serde(other)]
    Unknown,
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Receipt { .. } => "receipt",
            Effect::Unknown => "unknown",
        }
    }
}

/// How long a lease lasts: longer than any single effect may take.
const LEASE_SECS: i64 = 120;
/// Back-off after the n-th failed attempt: 2^n seconds, capped.
fn backoff_secs(attempts: i64) -> i64 {
    1i64 << attempts.clamp(0, 9)
}

/// Performs leased effects until `wake` is disconnected.
pub struct Dispatcher<T: Transport> {
    pub store: Arc<Mutex<Store>>,
    pub transport: T,
    pub operator: String,
    pub from: String,
}

impl<T: Transport> Dispatcher<T> {
    /// Runs one pass: leases what is due and performs it. Returns how many were leased.
    pub fn run_once(&self) -> Result<usize, Error> {
        let items = lock(&self.store).lease_due(16, LEASE_SECS)?;
        for item in &items {
            self.perform(item)?;
        }
        Ok(items.len())
    }

    /// Loops until the sender side of `wake` is dropped; a message on `wake` means "new
    /// work", otherwise it polls every `idle`.
    pub fn run(&self, wake: Receiver<()>, idle: Duration) {
        loop {
            match self.run_once() {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => log::error!("outbox: {e}"),
            }
            match wake.recv_timeout(idle) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn perform(&self, item: &OutboxItem) -> Result<(), Error> {
        let contract = item.contract_id.as_deref().unwrap_or("-");
        let outgoing = match &item.effect {
            Effect::Receipt {
                contract_id,
                to,
                language,
            } => {
                let store = lock(&self.store);
                let Some(c) = store.contract(contract_id)? else {
                    drop(store);
                    return self.give_up(item, "contract vanished from the store");
                };
                mailer::receipt(
                    &c,
                    to,
                    language,
                    &self.operator,
                    &self.from,
                    &item.idempotency_key,
                )
            }
            Effect::Unknown => {
                // Leave it pending for a newer certd, but do not spin on it.
                lock(&self.store).reschedule(item.id, 3600, "unknown effect kind")?;
                return Ok(());
            }
        };
        let outgoing: Outgoing = match outgoing {
            Ok(o) => o,
            Err(e) => return self.give_up(item, &e.to_string()),
        };
        match self.transport.send(&outgoing) {
            Ok(answer) => {
                let mut store = lock(&self.store);
                if let Some(id) = &item.contract_id {
                    store.record_event(
                        id,
                        &format!("{}_sent", item.effect.kind()),
                        &json!({"to": outgoing.to, "message_id": outgoing.message_id, "smtp": answer, "attempt": item.attempts}),
                    )?;
                }
                store.complete(item.id)?;
                log::info!(
                    "contract={contract} outbox={} {} sent to {} ({answer})",
                    item.id,
                    item.effect.kind(),
                    outgoing.to
                );
            }
            Err(SendError::Permanent(msg)) => self.give_up(item, &msg)?,
            Err(SendError::Temporary(msg)) => {
                let delay = backoff_secs(item.attempts);
                log::warn!(
                    "contract={contract} outbox={} {} attempt {} failed, retry in {delay}s: {msg}",
                    item.id,
                    item.effect.kind(),
                    item.attempts
                );
                lock(&self.store).reschedule(item.id, delay, &msg)?;
            }
        }
        Ok(())
    }

    /// A permanent failure is evidence too: record it and stop retrying.
    fn give_up(&self, item: &OutboxItem, why: &str) -> Result<(), Error> {
        let mut store = lock(&self.store);
        if let Some(id) = &item.contract_id {
            store.record_event(
                id,
                &format!("{}_failed", item.effect.kind()),
                &json!({"error": why, "attempt": item.attempts}),
            )?;
        }
        store.complete(item.id)?;
        log::error!(
            "contract={} outbox={} {} failed permanently: {why}",
            item.contract_id.as_deref().unwrap_or("-"),
            item.id,
            item.effect.kind()
        );
        Ok(())
    }
}

/// Locks the store, recovering from a poisoned mutex: the store holds no in-memory invariants
/// beyond what SQLite's transactions already guarantee.
pub fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests_support::{alice, submission};
    use std::cell::RefCell;

    struct Fake {
        answers: RefCell<Vec<Result<String, SendError>>>,
        sent: RefCell<Vec<Outgoing>>,
    }
    // The dispatcher is used from one thread in these tests.
    unsafe impl Sync for Fake {}
    impl Transport for Fake {
        fn send(&self, m: &Outgoing) -> Result<String, SendError> {
            self.sent.borrow_mut().push(m.clone());
            self.answers
                .borrow_mut()
                .pop()
                .unwrap_or(Ok("250 ok".into()))
        }
    }

    fn dispatcher(answers: Vec<Result<String, SendError>>) -> Dispatcher<Fake> {
        let mut s = Store::open_in_memory().unwrap();
        s.add_customer(&alice()).unwrap();
        s.submit(&submission("k1")).unwrap();
        Dispatcher {
            store: Arc::new(Mutex::new(s)),
            transport: Fake {
                answers: RefCell::new(answers),
                sent: RefCell::new(Vec::new()),
            },
            operator: "Op".into(),
            from: "certmail@contract.test".into(),
        }
    }

    #[test]
    fn receipt_is_sent_once_and_recorded() {
        let d = dispatcher(vec![]);
        assert_eq!(d.run_once().unwrap(), 1);
        assert_eq!(d.run_once().unwrap(), 0);
        let sent = d.transport.sent.borrow();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "alice@example.test");
        let store = lock(&d.store);
        let id = &store.list_contracts(&Default::default()).unwrap()[0].id;
        let kinds: Vec<_> = store
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["submitted", "receipt_sent"]);
        assert_eq!(store.verify_chain(id).unwrap(), Ok(2));
    }

    #[test]
    fn temporary_failure_is_retried_permanent_is_recorded() {
        let d = dispatcher(vec![Err(SendError::Temporary("421 busy".into()))]);
        d.run_once().unwrap();
        {
            let store = lock(&d.store);
            let pending = store.pending_outbox().unwrap();
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].last_error.as_deref(), Some("421 busy"));
        }
        let d = dispatcher(vec![Err(SendError::Permanent("550 no such user".into()))]);
        d.run_once().unwrap();
        let store = lock(&d.store);
        assert!(store.pending_outbox().unwrap().is_empty());
        let id = &store.list_contracts(&Default::default()).unwrap()[0].id;
        let kinds: Vec<_> = store
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["submitted", "receipt_failed"]);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(3), 8);
        assert_eq!(backoff_secs(50), 512);
    }
}
