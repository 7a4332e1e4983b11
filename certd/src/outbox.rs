//! Side effects and the dispatcher that performs them.
//!
//! Effects are data ([`Effect`]), written to the outbox in the same transaction as the state
//! change that causes them. The dispatcher leases due rows, performs them at the edge (SMTP),
//! and completes or reschedules them with exponential back-off. Killing certd at any point
//! loses nothing: an unfinished lease expires and the effect is tried again.

use crate::error::Error;
use crate::lifecycle::ClarificationReason;
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
    /// The acceptance request to one email destination.
    Request {
        contract_id: String,
        to: String,
        token: String,
    },
    /// A polite request to answer clearly, after an answer that could not decide.
    Clarification {
        contract_id: String,
        to: String,
        token: String,
        /// Absent in rows written before answers were screened: those were unclear ones.
        #[serde(default)]
        reason: ClarificationReason,
    },
    /// The contract has its outcome: build, sign and send the certificate.
    Certificate {
        contract_id: String,
        outcome: String,
    },
    /// A copy of the signed certificate to one party.
    CertificateCopy { contract_id: String, to: String },
    /// The acceptance request to one phone destination, by SMS.
    SmsRequest { contract_id: String, to: String },
    /// How to answer clearly, after an unclear SMS answer.
    SmsClarification { contract_id: String, to: String },
    /// What was recorded, after a deciding SMS answer.
    SmsConfirmation { contract_id: String, to: String },
    /// A row written by a newer certd that this one does not know; left for it.
    #[serde(other)]
    Unknown,
}

impl Effect {
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::Receipt { .. } => "receipt",
            Effect::Request { .. } => "request",
            Effect::Clarification { .. } => "clarification",
            Effect::Certificate { .. } => "certificate",
            Effect::CertificateCopy { .. } => "certificate_copy",
            Effect::SmsRequest { .. } => "sms_request",
            Effect::SmsClarification { .. } => "sms_clarification",
            Effect::SmsConfirmation { .. } => "sms_confirmation",
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
    /// Signs and timestamps certificates; `None`: outcome notices only.
    pub certifier: Option<Certifier>,
    /// The SMS gateway; `None`: SMS effects fail (recorded) and phones count as unreachable.
    pub sms: Option<Box<dyn crate::sms::gateway::Gateway>>,
}

/// The operator's signer and the TSAs.
pub struct Certifier {
    pub signer: crate::signature::Signer,
    pub tsa: Box<dyn crate::timestamp::Timestamper + Send>,
}

impl<T: Transport> Dispatcher<T> {
    /// Runs one pass: leases what is due and performs it. Returns how many were leased.
    pub fn run_once(&self) -> Result<usize, Error> {
        self.expire_deadlines()?;
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
        if let (
            Effect::Certificate {
                contract_id,
                outcome,
            },
            Some(certifier),
        ) = (&item.effect, &self.certifier)
        {
            return self.issue(item, contract_id, outcome, certifier);
        }
        if let Effect::SmsRequest { contract_id, to }
        | Effect::SmsClarification { contract_id, to }
        | Effect::SmsConfirmation { contract_id, to } = &item.effect
        {
            return self.send_sms(item, contract_id, to);
        }
        let outgoing = match self.compose(item)? {
            Ok(o) => o,
            Err(why) => return self.give_up(item, &why),
        };
        match self.transport.send(&outgoing) {
            Ok(answer) => {
                lock(&self.store).complete_with_event(
                    item.id,
                    item.contract_id.as_deref(),
                    &format!("{}_sent", item.effect.kind()),
                    &json!({"to": outgoing.to, "message_id": outgoing.message_id, "smtp": answer, "attempt": item.attempts}),
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
                    item.effect.kind(),
                    outgoing.to
                );
            }
            Err(SendError::Permanent(msg)) => {
                if let Effect::Request {
                    contract_id, to, ..
                } = &item.effect
                {
                    // A synchronous 5xx for a request is a delivery failure of the contract
                    // (NOEX evidence), not merely a failed notification.
                    let mut store = lock(&self.store);
                    let _ = store.record_bounce(contract_id, to, &msg, "smtp")?;
                    store.complete(item.id)?;
                    log::info!("contract={contract} request to {to} refused by the MTA: {msg}");
                    return Ok(());
                }
                self.give_up(item, &msg)?
            }
            Err(SendError::Temporary(msg)) => self.retry_later(item, &msg)?,
        }
        Ok(())
    }

    /// A temporary failure: try again after the back-off, never give up.
    fn retry_later(&self, item: &OutboxItem, why: &str) -> Result<(), Error> {
        let delay = backoff_secs(item.attempts);
        log::warn!(
            "contract={} outbox={} {} attempt {} failed, retry in {delay}s: {why}",
            item.contract_id.as_deref().unwrap_or("-"),
            item.id,
            item.effect.kind(),
            item.attempts
        );
        lock(&self.store).reschedule(item.id, delay, why)
    }

    /// Composes an SMS from the store and hands it to the gateway. The reference is derived
    /// from the idempotency key, so a retry after a crash reuses it and its reports still
    /// find the contract.
    fn send_sms(&self, item: &OutboxItem, contract_id: &str, to: &str) -> Result<(), Error> {
        let kind = item.effect.kind();
        let Some(gateway) = &self.sms else {
            return self.sms_failed(
                item,
                contract_id,
                to,
                "no SMS gateway is configured ([sms])",
            );
        };
        let Some(ctx) = lock(&self.store).sms_context(contract_id, to)? else {
            return self.give_up(
                item,
                &format!("{to} is not a phone destination of this contract"),
            );
        };
        let text = match &item.effect {
            Effect::SmsRequest { .. } => {
                let deadline = ctx
                    .deadline_at
                    .map(|d| {
                        let t = humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH + Duration::from_secs(d.max(0) as u64),
                        )
                        .to_string();
                        format!("{} {} UTC", &t[..10], &t[11..16])
                    })
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
            Effect::SmsClarification { .. } => {
                crate::sms::clarification_text(&ctx.language, &self.operator, &ctx.code)
            }
            _ => {
                let state = lock(&self.store)
                    .contract(contract_id)?
                    .map(|c| c.summary.state)
                    .unwrap_or_default();
                crate::sms::confirmation_text(
                    &ctx.language,
                    &self.operator,
                    &ctx.code,
                    state == "accepted",
                )
            }
        };
        let reference = hex::encode(
            &<sha2::Sha256 as sha2::Digest>::digest(item.idempotency_key.as_bytes())[..10],
        );
        lock(&self.store).register_sms(&reference, contract_id, to, kind)?;
        let sms = crate::sms::gateway::OutgoingSms {
            to: to.to_string(),
            text,
            reference: reference.clone(),
        };
        match gateway.send(&sms) {
            Ok(accepted) => {
                lock(&self.store).complete_with_event(
                    item.id,
                    Some(contract_id),
                    &format!("{kind}_sent"),
                    &json!({
                        "to": to,
                        "reference": reference,
                        "gateway": format!("{} {}", accepted.status, accepted.answer),
                        "coding": accepted.measure.coding,
                        "parts": accepted.measure.parts,
                        "text": sms.text,
                        "attempt": item.attempts,
                    }),
                )?;
                log::info!(
                    "contract={contract_id} outbox={} {kind} sent to {to} ref={reference} ({} {}, {} part(s))",
                    item.id,
                    accepted.status,
                    accepted.answer,
                    accepted.measure.parts
                );
                Ok(())
            }
            Err(SendError::Temporary(msg)) => self.retry_later(item, &msg),
            Err(SendError::Permanent(msg)) => self.sms_failed(item, contract_id, to, &msg),
        }
    }

    /// An SMS that can never be sent: for a request, the phone is an unreachable destination
    /// (NOEX evidence); for a follow-up, a recorded failure.
    fn sms_failed(
        &self,
        item: &OutboxItem,
        contract_id: &str,
        to: &str,
        why: &str,
    ) -> Result<(), Error> {
        if matches!(item.effect, Effect::SmsRequest { .. }) {
            let mut store = lock(&self.store);
            let _ = store.record_bounce(contract_id, to, why, "sms_gateway")?;
            store.complete(item.id)?;
            log::warn!("contract={contract_id} sms request to {to} failed: {why}");
            return Ok(());
        }
        self.give_up(item, why)
    }

    /// Builds, signs, timestamps and stores the certificate, then queues its copies. A TSA
    /// that is down delays the certificate (retry with back-off); it never drops it.
    fn issue(
        &self,
        item: &OutboxItem,
        contract_id: &str,
        outcome: &str,
        certifier: &Certifier,
    ) -> Result<(), Error> {
        let (data, copies) = {
            let store = lock(&self.store);
            if store.certificate(contract_id)?.is_some() {
                drop(store);
                return lock(&self.store).complete(item.id);
            }
            let language = store
                .contract(contract_id)?
                .and_then(|c| store.customer(&c.summary.customer).ok().flatten())
                .map(|c| c.language)
                .unwrap_or_default();
            let sentence = crate::i18n::outcome_sentence(&language, outcome);
            (
                crate::certificate::build::build(&store, contract_id, &self.operator, sentence)?,
                crate::certificate::build::copies_to(&store, contract_id)?,
            )
        };
        let pdf = match crate::certificate::render::render(&data) {
            Ok(p) => p,
            Err(e) => return self.give_up(item, &format!("rendering failed: {e}")),
        };
        let reason = format!("{} — serial {}", data.title, data.serial);
        let signed = match certifier
            .signer
            .sign_pdf(&pdf, &reason, certifier.tsa.as_ref())
        {
            Ok(s) => s,
            // Signing depends on the TSA: treat failures as temporary and keep retrying.
            Err(e) => return self.retry_later(item, &e.to_string()),
        };
        let ts = crate::signature::timestamp_summary(&signed);
        let mut store = lock(&self.store);
        store.store_certificate(contract_id, &signed, &data.chain_head, &ts, &copies)?;
        store.complete(item.id)?;
        log::info!(
            "contract={contract_id} certificate issued ({} bytes), copies to {}",
            signed.len(),
            copies.join(", ")
        );
        Ok(())
    }

    /// Builds the mail for an effect from the store; `Ok(Err(why))` when it cannot be built.
    fn compose(&self, item: &OutboxItem) -> Result<Result<Outgoing, String>, Error> {
        let store = lock(&self.store);
        let Some(id) = item.contract_id.as_deref() else {
            return Ok(Err("outbox row without contract".into()));
        };
        let Some(c) = store.contract(id)? else {
            return Ok(Err("contract vanished from the store".into()));
        };
        let Some(customer) = store.customer(&c.summary.customer)? else {
            return Ok(Err("customer vanished from the store".into()));
        };
        let key = &item.idempotency_key;
        let from = &self.from;
        Ok(Ok(match &item.effect {
            Effect::Receipt { to, language, .. } => {
                match mailer::receipt(&c, to, language, &self.operator, from, key) {
                    Ok(o) => o,
                    Err(e) => return Ok(Err(e.to_string())),
                }
            }
            Effect::Request { to, token, .. } => {
                let Some(route) = store.bounce_route(id, to)? else {
                    return Ok(Err(format!("{to} has no bounce token")));
                };
                let raw = store.raw_message(id)?.unwrap_or_default();
                let deadline = c
                    .deadline_at
                    .map(|d| {
                        humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH + Duration::from_secs(d.max(0) as u64),
                        )
                        .to_string()
                    })
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
                    Err(e) => return Ok(Err(e.to_string())),
                }
            }
            Effect::Clarification {
                to, token, reason, ..
            } => {
                let Some(route) = store.bounce_route(id, to)? else {
                    return Ok(Err(format!("{to} has no bounce token")));
                };
                let addresses = mailer::ReturnAddresses {
                    reply_token: token,
                    bounce: &route,
                };
                mailer::clarification(&c, &customer.language, from, to, &addresses, key, *reason)
            }
            Effect::Certificate { outcome, .. } => {
                mailer::outcome(&c, outcome, &customer.language, from, &customer.email, key)
            }
            Effect::CertificateCopy { to, .. } => {
                let Some(pdf) = store.certificate(id)? else {
                    return Ok(Err("no certificate stored for this contract".into()));
                };
                let mut mail =
                    mailer::outcome(&c, &c.summary.state, &customer.language, from, to, key);
                mail.attachments.push(mailer::Attachment {
                    filename: format!("certificate-{}.pdf", c.summary.serial),
                    content_type: "application/pdf".into(),
                    bytes: pdf,
                });
                mail
            }
            Effect::SmsRequest { .. }
            | Effect::SmsClarification { .. }
            | Effect::SmsConfirmation { .. } => {
                return Ok(Err("an SMS is not a mail".into()));
            }
            Effect::Unknown => {
                drop(store);
                // Leave it pending for a newer certd, but do not spin on it.
                lock(&self.store).reschedule(item.id, 3600, "unknown effect kind")?;
                return Ok(Err("unknown effect kind".into()));
            }
        }))
    }

    /// NORESP: ends every contract whose deadline has passed.
    fn expire_deadlines(&self) -> Result<(), Error> {
        let now = crate::store::unix_now();
        let due = lock(&self.store).due_deadlines(now)?;
        for id in due {
            if lock(&self.store).expire(&id, now)?.is_ok() {
                log::info!("contract={id} deadline passed without an answer: unanswered");
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
                answers: RefCell::new(answers.into_iter().rev().collect()),
                sent: RefCell::new(Vec::new()),
            },
            operator: "Op".into(),
            from: "certmail@contract.test".into(),
            certifier: None,
            sms: None,
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
        let why = failed.data["error"].as_str().unwrap_or_default();
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
            .any(|i| matches!(i.effect, Effect::Certificate { .. })));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(3), 8);
        assert_eq!(backoff_secs(50), 512);
    }
}
