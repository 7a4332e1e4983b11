//! certd's Prometheus metrics: counters the effects code bumps with one line each, gauges read
//! from the store at scrape time, and the `GET /metrics` endpoint on a listener of its own.
//!
//! One registry: the statics below, plus the store's own commit histogram
//! ([`crate::store::commit_times::COMMITS`]). [`scrape`] writes them all; `docs/admin-guide.md`
//! lists every metric.

pub mod counter;
pub mod encode;
pub mod endpoint;
pub mod scrape;

pub use counter::{Counter, LabeledCounter, SendErrors};
pub use endpoint::serve;

use crate::store::commit_times::Histogram;

/// New contracts committed (a retried submission that finds its contract is not counted).
pub static SUBMISSIONS_ACCEPTED: Counter = Counter::new();
/// Submissions certd refused, by the RFC 3463 enhanced status of the refusal.
pub static SUBMISSIONS_REFUSED: LabeledCounter = LabeledCounter::new();
/// From the start of a certificate job to the certificate stored (render, sign, time-stamp,
/// validation data): the work of issuing, not the wait in the outbox (that is the outbox's
/// oldest due effect).
pub static CERTIFICATE_ISSUE: Histogram<12> = Histogram::new([
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
]);
/// Failed attempts at a TSA (each URL tried counts once).
pub static TSA_ERRORS: Counter = Counter::new();
/// SMS the gateway did not take.
pub static SMS_SEND_ERRORS: SendErrors = SendErrors::new();
/// Mails the MTA did not take.
pub static SMTP_SEND_ERRORS: SendErrors = SendErrors::new();
