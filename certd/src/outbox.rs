//! The dispatcher that performs the outbox's jobs at the edge (SMTP, the SMS gateway, signing).
//!
//! Jobs are data ([`Job`]), written to the outbox in the same transaction as the state
//! change that causes them. The dispatcher leases due rows, performs them at the edge (SMTP),
//! and completes or reschedules them with exponential back-off. Killing certd at any point
//! loses nothing: an unfinished lease expires and the effect is tried again.

use crate::error::Error;
use crate::evidence::event::{BounceReport, Failed, MailSent, Refused, SmsSent};
use crate::evidence::{EventData, Instant, JobKind, State};
use crate::mailer::{self, Outgoing, SendError, Transport};
use crate::metrics;
use crate::store::{lock, Job, OutboxItem, Store};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a lease lasts; renewed every quarter of it while its effect runs (`lease`).
const LEASE_SECS: i64 = 120;
/// How long leases are renewed for one batch of effects: every effect's own timeouts (SMTP,
/// TSA, OCSP, the SMS gateway) end it well before; one still running is stuck.
const MAX_EFFECT: Duration = Duration::from_secs(30 * 60);
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
    /// Signs and timestamps certificates; `None`: outcome notices only.
    pub certifier: Option<Certifier>,
    /// The SMS gateway; `None`: SMS effects fail (recorded) and phones count as unreachable.
    pub sms: Option<Box<dyn crate::sms::gateway::Gateway>>,
    /// Renew archive time-stamps expiring within this many days, once a day (0: never).
    pub renew_before_days: u32,
    /// When this node last asked whether the renewal is due.
    pub renewed_at: std::cell::Cell<Option<std::time::Instant>>,
    /// When this node last folded the store's count deltas.
    pub folded_at: std::cell::Cell<Option<std::time::Instant>>,
}

/// How often the daemon looks for certificates to renew.
const RENEW_EVERY_SECS: i64 = 24 * 3600;
/// How often a node asks whether the renewal timer is due (one write; not at every pass).
const RENEW_CHECK: Duration = Duration::from_secs(600);
/// The renewal's cluster-wide timer (`Store::claim_timer`).
const RENEW_TIMER: &str = "certificate-renewal";
/// How often a node folds the count deltas PostgreSQL's triggers append (Store::fold_counts):
/// `certd status` adds up at most about this much activity.
const FOLD_EVERY: Duration = Duration::from_secs(60);
/// Renewals per daily run: a bound on the time the outbox waits for them.
const RENEW_PER_RUN: usize = 1000;

use crate::certificate::Certifier;

mod lease;

/// Why a mail can never be composed: recorded as `<job>_failed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unsendable {
    #[error("outbox row without contract")]
    NoContract,
    #[error("contract vanished from the store")]
    ContractVanished,
    #[error("customer vanished from the store")]
    CustomerVanished,
    #[error("{0} has no bounce token")]
    NoBounceToken(String),
    #[error("no certificate stored for this contract")]
    NoCertificate,
    #[error("not a mail")]
    NotAMail,
    #[error("{0}")]
    Compose(String),
}

impl<T: Transport> Dispatcher<T> {
    /// Runs one pass: leases what is due and performs it. Returns how many were leased.
    pub fn run_once(&self) -> Result<usize, Error> {
        self.expire_deadlines()?;
        self.renew_if_due();
        self.fold_counts_if_due();
        let items = lock(&self.store).lease_due(16, LEASE_SECS, Instant::now())?;
        if items.is_empty() {
            return Ok(0);
        }
        let lease = Duration::from_secs(LEASE_SECS as u64);
        let ids = items.iter().map(|it| it.id).collect();
        let keeper = lease::Keeper::start(Arc::clone(&self.store), ids, lease, MAX_EFFECT);
        for (i, item) in items.iter().enumerate() {
            // An effect is started only while more than half its lease is left, so that it ends
            // before the lease does and no other node can start it meanwhile, should the
            // keeper fail to renew it (the store unreachable).
            if keeper.since_renewed() > lease / 2 {
                let rest: Vec<i64> = items[i..].iter().map(|it| it.id).collect();
                lock(&self.store).release(&rest)?;
                break;
            }
            self.perform(item)?;
        }
        Ok(items.len())
    }

    /// Every minute, folds the count deltas into the counts (on PostgreSQL; nothing on SQLite).
    /// A failure is logged: the counts stay right, only reading them gets slower.
    fn fold_counts_if_due(&self) {
        if self
            .folded_at
            .get()
            .is_some_and(|t| t.elapsed() < FOLD_EVERY)
        {
            return;
        }
        self.folded_at.set(Some(std::time::Instant::now()));
        if let Err(e) = lock(&self.store).fold_counts() {
            log::error!("folding the store's counts: {e}");
        }
    }

    /// Once a day (and at start-up), renews the archive time-stamps that expire within the
    /// configured horizon. Failures are logged and tried again the next day.
    fn renew_if_due(&self) {
        let (Some(certifier), days) = (&self.certifier, self.renew_before_days) else {
            return;
        };
        if days == 0
            || self
                .renewed_at
                .get()
                .is_some_and(|t| t.elapsed() < RENEW_CHECK)
        {
            return;
        }
        let at_start = self.renewed_at.get().is_none();
        self.renewed_at.set(Some(std::time::Instant::now()));
        // At its start a node renews (its configuration may have changed) and moves the daily
        // run a day ahead; after that one node per day renews, whichever claims the
        // cluster-wide timer first.
        let now = Instant::now();
        let due = if at_start {
            lock(&self.store)
                .set_timer(RENEW_TIMER, now.plus_secs(RENEW_EVERY_SECS))
                .map(|()| true)
        } else {
            lock(&self.store).claim_timer(RENEW_TIMER, now, RENEW_EVERY_SECS)
        };
        match due {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                log::error!("renewal: {e}");
                return;
            }
        }
        let horizon = i64::from(days) * 86_400;
        match crate::certificate::renew::renew_due(
            &self.store,
            certifier,
            horizon,
            RENEW_PER_RUN,
            Instant::now(),
        ) {
            Ok(r) => {
                if !r.renewed.is_empty() || !r.failed.is_empty() {
                    log::info!(
                        "renewal: {} certificate(s) checked, {} renewed, {} failed",
                        r.checked,
                        r.renewed.len(),
                        r.failed.len()
                    );
                }
                if let Some(why) = r.stopped {
                    log::error!("renewal stopped: {why}");
                }
            }
            Err(e) => log::error!("renewal: {e}"),
        }
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
        let Some(kind) = item.job.kind() else {
            // Leave it pending for a newer certd, but do not spin on it.
            let later = Instant::now().plus_secs(3600);
            return lock(&self.store).reschedule(item.id, later, "unknown job kind");
        };
        if let (Job::Certificate { contract_id, .. }, Some(certifier)) =
            (&item.job, &self.certifier)
        {
            return self.issue(item, contract_id, certifier);
        }
        if let Job::SmsRequest { contract_id, to }
        | Job::SmsClarification { contract_id, to }
        | Job::SmsConfirmation { contract_id, to } = &item.job
        {
            return self.send_sms(item, kind, contract_id, to);
        }
        let outgoing = match self.compose(item)? {
            Ok(o) => o,
            Err(why) => return self.give_up(item, kind, &why.to_string()),
        };
        match self.transport.send(&outgoing) {
            Ok(answer) => {
                let sent = EventData::MailSent(
                    kind,
                    MailSent {
                        to: outgoing.to.clone(),
                        message_id: outgoing.message_id.clone(),
                        smtp: answer.clone(),
                        attempt: item.attempts,
                    },
                );
                lock(&self.store).complete_with_event(
                    item.id,
                    item.contract_id.as_deref(),
                    &sent,
                    Instant::now(),
                )?;
                // The MTA's queue id of our mail, so one grep follows it through the mail log.
                let queue = answer
                    .split("queued as ")
                    .nth(1)
                    .and_then(|q| q.split_whitespace().next())
                    .unwrap_or("-");
                log::info!(
                    "contract={contract} queue={queue} outbox={} {} sent to {} ({answer})",
                    item.id,
                    kind.as_str(),
                    outgoing.to
                );
            }
            Err(SendError::Permanent(msg)) => {
                metrics::SMTP_SEND_ERRORS.permanent.inc();
                if let Job::Request {
                    contract_id, to, ..
                } = &item.job
                {
                    // A synchronous 5xx for a request is a delivery failure of the contract
                    // (NOEX evidence), not merely a failed notification.
                    let report = BounceReport::Smtp(Refused {
                        destination: to.clone(),
                        diagnostic: msg.clone(),
                    });
                    let mut store = lock(&self.store);
                    let _ = store.record_bounce(contract_id, report)?;
                    store.complete(item.id, Instant::now())?;
                    log::info!("contract={contract} request to {to} refused by the MTA: {msg}");
                    return Ok(());
                }
                self.give_up(item, kind, &msg)?
            }
            Err(SendError::Temporary(msg)) => {
                metrics::SMTP_SEND_ERRORS.temporary.inc();
                self.retry_later(item, kind, &msg)?
            }
        }
        Ok(())
    }

    /// A temporary failure: try again after the back-off, never give up.
    fn retry_later(&self, item: &OutboxItem, kind: JobKind, why: &str) -> Result<(), Error> {
        let delay = backoff_secs(item.attempts);
        log::warn!(
            "contract={} outbox={} {} attempt {} failed, retry in {delay}s: {why}",
            item.contract_id.as_deref().unwrap_or("-"),
            item.id,
            kind.as_str(),
            item.attempts
        );
        lock(&self.store).reschedule(item.id, Instant::now().plus_secs(delay), why)
    }

    /// Composes an SMS from the store and hands it to the gateway. The reference is derived
    /// from the idempotency key, so a retry after a crash reuses it and its reports still
    /// find the contract.
    fn send_sms(
        &self,
        item: &OutboxItem,
        kind: JobKind,
        contract_id: &str,
        to: &str,
    ) -> Result<(), Error> {
        let Some(gateway) = &self.sms else {
            return self.sms_failed(
                item,
                kind,
                contract_id,
                to,
                "no SMS gateway is configured ([sms])",
            );
        };
        let (ctx, state) = {
            let store = lock(&self.store);
            let state = store.contract(contract_id)?.map(|c| c.summary.state);
            (store.sms_context(contract_id, to)?, state)
        };
        let Some(ctx) = ctx else {
            return self.give_up(
                item,
                kind,
                &format!("{to} is not a phone destination of this contract"),
            );
        };
        let text = match kind {
            JobKind::SmsRequest => {
                let deadline = ctx
                    .deadline_at
                    .map(Instant::minutes_utc)
                    .unwrap_or_else(|| "-".into());
                crate::sms::request_text(&crate::sms::RequestText {
                    language: &ctx.language,
                    operator: &self.operator,
                    customer: &ctx.customer,
                    code: &ctx.code,
                    serial: ctx.serial,
                    subject: &ctx.subject,
                    emails: &ctx.emails,
                    deadline: &deadline,
                })
            }
            JobKind::SmsClarification => {
                crate::sms::clarification_text(&ctx.language, &self.operator, &ctx.code)
            }
            _ => crate::sms::confirmation_text(
                &ctx.language,
                &self.operator,
                &ctx.code,
                state == Some(State::Accepted),
            ),
        };
        let reference = hex::encode(
            &<sha2::Sha256 as sha2::Digest>::digest(item.idempotency_key.as_bytes())[..10],
        );
        lock(&self.store).register_sms(&reference, contract_id, to, kind, Instant::now())?;
        let sms = crate::sms::gateway::OutgoingSms {
            to: to.to_string(),
            text,
            reference: reference.clone(),
        };
        match gateway.send(&sms) {
            Ok(accepted) => {
                let sent = EventData::SmsSent(
                    kind,
                    SmsSent {
                        to: to.to_string(),
                        reference: reference.clone(),
                        gateway: format!("{} {}", accepted.status, accepted.answer),
                        coding: accepted.measure.coding.name().to_string(),
                        parts: accepted.measure.parts as u64,
                        text: sms.text,
                        attempt: item.attempts,
                    },
                );
                lock(&self.store).complete_with_event(
                    item.id,
                    Some(contract_id),
                    &sent,
                    Instant::now(),
                )?;
                log::info!(
                    "contract={contract_id} outbox={} {} sent to {to} ref={reference} ({} {}, {} part(s))",
                    item.id,
                    kind.as_str(),
                    accepted.status,
                    accepted.answer,
                    accepted.measure.parts
                );
                Ok(())
            }
            Err(e) => {
                metrics::SMS_SEND_ERRORS.count(&e);
                match e {
                    SendError::Temporary(msg) => self.retry_later(item, kind, &msg),
                    SendError::Permanent(msg) => self.sms_failed(item, kind, contract_id, to, &msg),
                }
            }
        }
    }

    /// An SMS that can never be sent: for a request, the phone is an unreachable destination
    /// (NOEX evidence); for a follow-up, a recorded failure.
    fn sms_failed(
        &self,
        item: &OutboxItem,
        kind: JobKind,
        contract_id: &str,
        to: &str,
        why: &str,
    ) -> Result<(), Error> {
        if kind == JobKind::SmsRequest {
            let report = BounceReport::SmsGateway(Refused {
                destination: to.to_string(),
                diagnostic: why.to_string(),
            });
            let mut store = lock(&self.store);
            let _ = store.record_bounce(contract_id, report)?;
            store.complete(item.id, Instant::now())?;
            log::warn!("contract={contract_id} sms request to {to} failed: {why}");
            return Ok(());
        }
        self.give_up(item, kind, why)
    }

    /// Builds, signs, timestamps and stores the certificate from one snapshot of the
    /// contract, then queues its copies. No store lock is held while the PDF is rendered and
    /// signed. A TSA that is down delays the certificate (retry with back-off); it never
    /// drops it.
    fn issue(
        &self,
        item: &OutboxItem,
        contract_id: &str,
        certifier: &Certifier,
    ) -> Result<(), Error> {
        let started = std::time::Instant::now();
        let snapshot = lock(&self.store).snapshot(contract_id)?;
        let Some(snapshot) = snapshot else {
            return self.give_up(
                item,
                JobKind::Certificate,
                "contract vanished from the store",
            );
        };
        if snapshot.issued {
            return lock(&self.store).complete(item.id, Instant::now());
        }
        let issued =
            match crate::certificate::issue(&snapshot, &self.operator, certifier, Instant::now()) {
                Ok(i) => i,
                Err(e @ crate::certificate::IssueError::Render(_)) => {
                    return self.give_up(item, JobKind::Certificate, &e.to_string())
                }
                // Signing depends on the TSA and the revocation responders, and a revoked or
                // expired signing certificate waits for the operator: never give up on evidence,
                // keep retrying (`certd status` reports every certificate waiting).
                Err(e) => {
                    if e.needs_operator() {
                        log::error!(
                        "contract={contract_id} certificate not issued, the operator must act: {e}"
                    );
                    }
                    return self.retry_later(item, JobKind::Certificate, &e.to_string());
                }
            };
        let copies: Vec<(String, Job)> = issued
            .record
            .copies_to
            .iter()
            .map(|to| {
                (
                    crate::record::keys::certificate_copy(contract_id, to),
                    Job::CertificateCopy {
                        contract_id: contract_id.to_string(),
                        to: to.clone(),
                    },
                )
            })
            .collect();
        let now = Instant::now();
        let mut store = lock(&self.store);
        store.store_certificate(
            contract_id,
            &issued.pdf,
            &issued.record,
            &copies,
            issued.renew_by,
            now,
        )?;
        store.complete(item.id, now)?;
        metrics::CERTIFICATE_ISSUE.observe(started.elapsed());
        log::info!(
            "contract={contract_id} certificate issued ({} bytes), copies to {}",
            issued.pdf.len(),
            issued.record.copies_to.join(", ")
        );
        Ok(())
    }

    /// Builds the mail for a job from the store; `Ok(Err(why))` when it can never be built.
    fn compose(&self, item: &OutboxItem) -> Result<Result<Outgoing, Unsendable>, Error> {
        let store = lock(&self.store);
        let Some(id) = item.contract_id.as_deref() else {
            return Ok(Err(Unsendable::NoContract));
        };
        let Some(c) = store.contract(id)? else {
            return Ok(Err(Unsendable::ContractVanished));
        };
        let Some(customer) = store.customer(&c.summary.customer)? else {
            return Ok(Err(Unsendable::CustomerVanished));
        };
        let key = &item.idempotency_key;
        let from = &self.from;
        Ok(Ok(match &item.job {
            Job::Receipt { to, language, .. } => {
                match mailer::receipt(&c, to, language, &self.operator, from, key) {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(Unsendable::Compose(e.to_string()))),
                }
            }
            Job::Request { to, token, .. } => {
                let Some(route) = store.bounce_route(id, to)? else {
                    return Ok(Err(Unsendable::NoBounceToken(to.clone())));
                };
                let raw = store.raw_message(id)?.unwrap_or_default();
                let deadline = c
                    .deadline_at
                    .map(Instant::rfc3339_seconds)
                    .unwrap_or_else(|| "-".into());
                let display = customer
                    .display_name
                    .clone()
                    .map(|n| format!("{n} <{}>", customer.email))
                    .unwrap_or_else(|| customer.email.clone());
                let request = mailer::request(
                    &mailer::RequestContext {
                        contract: &c,
                        customer_display: &display,
                        language: &customer.language,
                        operator: &self.operator,
                        from,
                        deadline: &deadline,
                        raw: &raw,
                    },
                    to,
                    &mailer::ReturnAddresses {
                        reply_token: token,
                        bounce: &route,
                    },
                    key,
                );
                // Files that differ from the certified ones are never sent: recorded instead.
                match request {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(Unsendable::Compose(e.to_string()))),
                }
            }
            Job::Clarification {
                to, token, reason, ..
            } => {
                let Some(route) = store.bounce_route(id, to)? else {
                    return Ok(Err(Unsendable::NoBounceToken(to.clone())));
                };
                let addresses = mailer::ReturnAddresses {
                    reply_token: token,
                    bounce: &route,
                };
                mailer::clarification(&c, &customer.language, from, to, &addresses, key, *reason)
            }
            Job::Certificate { outcome, .. } => {
                mailer::outcome(&c, *outcome, &customer.language, from, &customer.email, key)
            }
            Job::CertificateCopy { to, .. } => {
                let Some(pdf) = store.certificate(id)? else {
                    return Ok(Err(Unsendable::NoCertificate));
                };
                let mut mail =
                    mailer::outcome(&c, c.summary.state, &customer.language, from, to, key);
                mail.attachments.push(mailer::Attachment {
                    filename: format!("certificate-{}.pdf", c.summary.serial),
                    content_type: "application/pdf".into(),
                    bytes: pdf,
                });
                mail
            }
            Job::SmsRequest { .. }
            | Job::SmsClarification { .. }
            | Job::SmsConfirmation { .. }
            | Job::Unknown => {
                return Ok(Err(Unsendable::NotAMail));
            }
        }))
    }

    /// NORESP: ends every contract whose deadline has passed.
    fn expire_deadlines(&self) -> Result<(), Error> {
        let now = Instant::now();
        let due = lock(&self.store).due_deadlines(now)?;
        for id in due {
            if lock(&self.store).expire(&id, now)?.is_ok() {
                log::info!("contract={id} deadline passed without an answer: unanswered");
            }
        }
        Ok(())
    }

    /// A permanent failure is evidence too: record it and stop retrying.
    fn give_up(&self, item: &OutboxItem, kind: JobKind, why: &str) -> Result<(), Error> {
        let now = Instant::now();
        let mut store = lock(&self.store);
        if let Some(id) = &item.contract_id {
            let failed = EventData::Failed(
                kind,
                Failed {
                    error: why.to_string(),
                    attempt: item.attempts,
                },
            );
            store.record_event(id, &failed, now)?;
        }
        store.complete(item.id, now)?;
        log::error!(
            "contract={} outbox={} {} failed permanently: {why}",
            item.contract_id.as_deref().unwrap_or("-"),
            item.id,
            kind.as_str()
        );
        Ok(())
    }
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
        let mut s = crate::store::test_store::test_store();
        s.add_customer(&alice(), crate::evidence::Instant::now())
            .unwrap();
        s.submit(&submission("k1")).unwrap();
        Dispatcher {
            store: Arc::new(Mutex::new(s)),
            transport: Fake {
                answers: RefCell::new(answers.into_iter().rev().collect()),
                sent: RefCell::new(Vec::new()),
            },
            operator: "Op".into(),
            from: "certmail@contract.test".into(),
            certifier: None,
            sms: None,
            renew_before_days: 0,
            renewed_at: std::cell::Cell::new(None),
            folded_at: std::cell::Cell::new(None),
        }
    }

    fn kinds(store: &Store) -> Vec<String> {
        let id = &store.list_contracts(&Default::default()).unwrap()[0].id;
        store
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn receipt_and_request_are_sent_once_and_recorded() {
        let d = dispatcher(vec![]);
        assert_eq!(d.run_once().unwrap(), 2);
        assert_eq!(d.run_once().unwrap(), 0);
        let sent = d.transport.sent.borrow();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].to, "alice@example.test");
        // The request goes to the destination with its own reply and bounce addresses.
        assert_eq!(sent[1].to, "bob@example.test");
        let reply = sent[1].reply_to.clone().unwrap();
        assert!(
            reply.starts_with("reply+") && reply.ends_with("@contract.test"),
            "{reply}"
        );
        let bounce = sent[1].envelope_from.clone().unwrap();
        assert!(
            bounce.starts_with("bounce+") && bounce.ends_with("@contract.test"),
            "{bounce}"
        );
        // Distinct tokens: the return path the recipient sees cannot be used to answer, and
        // the reply address cannot receive delivery reports.
        assert_ne!(bounce, reply.replace("reply+", "bounce+"));
        assert!(sent[1].dsn.is_some(), "the request asks for DSNs");
        assert!(sent[0].dsn.is_none(), "the receipt does not");
        assert_eq!(sent[0].auto_submitted, mailer::AutoSubmitted::AutoReplied);
        assert_eq!(sent[1].auto_submitted, mailer::AutoSubmitted::AutoGenerated);
        assert!(
            sent[1].body.contains("Contrato de alquiler"),
            "{}",
            sent[1].body
        );
        let store = lock(&d.store);
        assert_eq!(
            kinds(&store),
            ["submitted", "requested", "receipt_sent", "request_sent"]
        );
        let id = &store.list_contracts(&Default::default()).unwrap()[0].id;
        assert_eq!(store.verify_chain(id).unwrap(), Ok(4));
    }

    #[test]
    fn temporary_failure_is_retried_permanent_is_recorded() {
        // The first send (the receipt) gets the first answer.
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
        assert_eq!(
            kinds(&store),
            ["submitted", "requested", "receipt_failed", "request_sent"]
        );
    }

    #[test]
    fn files_that_differ_from_the_recorded_ones_are_never_sent_but_recorded() {
        let d = dispatcher(vec![]);
        {
            let mut store = lock(&d.store);
            let mut sub = submission("k2");
            sub.attachments[0].sha256 = "ab".repeat(32);
            store.submit(&sub).unwrap();
        }
        d.run_once().unwrap();
        let sent = d.transport.sent.borrow();
        // Both receipts and the request of k1; no request for k2.
        assert_eq!(
            sent.iter().filter(|m| m.to == "bob@example.test").count(),
            1
        );
        let store = lock(&d.store);
        let k2 = &store.list_contracts(&Default::default()).unwrap()[0].id;
        let events = store.events(k2).unwrap();
        let failed = events
            .iter()
            .find(|e| e.kind == "request_failed")
            .expect("request_failed recorded");
        let EventData::Failed(_, Failed { error: why, .. }) = &failed.data else {
            panic!("request_failed is not a failure: {failed:?}")
        };
        assert!(
            why.contains(&"ab".repeat(32)) && why.contains("c.pdf"),
            "{why}"
        );
        assert!(!events.iter().any(|e| e.kind == "request_sent"));
    }

    #[test]
    fn a_refused_request_is_a_delivery_failure() {
        let d = dispatcher(vec![
            Ok("250 ok".into()),
            Err(SendError::Permanent("550 5.1.1 unknown user".into())),
        ]);
        d.run_once().unwrap();
        let store = lock(&d.store);
        assert_eq!(
            kinds(&store),
            ["submitted", "requested", "receipt_sent", "bounce"]
        );
        let c = &store.list_contracts(&Default::default()).unwrap()[0];
        assert_eq!(c.state, "not_delivered");
        // The outcome is queued for the certificate.
        assert!(store
            .pending_outbox()
            .unwrap()
            .iter()
            .any(|i| matches!(i.job, Job::Certificate { .. })));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(3), 8);
        assert_eq!(backoff_secs(50), 512);
    }
}
