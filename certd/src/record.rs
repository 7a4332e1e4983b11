//! Recording what happens to a contract: a submission, an answer, a bounce, a delivery report,
//! the deadline. Each is loaded, run through the pure lifecycle and saved in one transaction.
//!
//! The layer between the edges (server, outbox, SMS callbacks) and the store. It reads the
//! clock and draws fresh secrets ([`crate::mint`]), so that the lifecycle stays a pure
//! function and the store only loads and saves. Its operations are methods of [`Store`].

use crate::error::Error;
use crate::evidence::event::{
    Bounce, BounceReport, CertificateResend, Deadline, DlrFailure, Requested, SmsDlr, SmsReply,
};
use crate::evidence::{Applied, EventData, Instant, JobKind, State};
use crate::lifecycle::{self, Contract, Effect, Event, Illegal, Policy, Standing};
use crate::store::lifecycle::{insert_answer, load_facts, save_transition, token_of};
use crate::store::sql::Tx;
use crate::store::{
    contracts::append_event, contracts::insert_submission, outbox::enqueue, sms, Inserted, Intake,
    Job, Store, SubmitOutcome, TokenTarget,
};
use crate::store::{DlrOutcome, DlrReport, MoOutcome, MoReport};
use certmail_protocol::{Answer, Submission};

/// Clarification requests per destination and contract (the lifecycle's policy).
const MAX_CLARIFICATIONS: u32 = 3;

/// Idempotency keys of the jobs that are not lifecycle effects (those are named by
/// [`lifecycle::step`]).
pub mod keys {
    pub fn receipt(contract_id: &str) -> String {
        format!("receipt:{contract_id}")
    }

    pub fn certificate_copy(contract_id: &str, to: &str) -> String {
        format!("certificate-copy:{contract_id}:{to}")
    }

    /// A copy sent again: a fresh key, since the key is also the mail's Message-ID.
    pub fn certificate_resend(contract_id: &str, to: &str, batch: &str) -> String {
        format!("certificate-copy:{contract_id}:{to}:resend:{batch}")
    }
}

/// Applies `event` to contract `id` and records `data` as its evidence, whether it applies or
/// not: an answer that comes too late is evidence too (`<kind>_ignored`).
fn apply(
    tx: &Tx<'_>,
    id: &str,
    event: &Event,
    mut data: EventData,
    now: Instant,
) -> Result<Result<State, Illegal>, Error> {
    let facts = load_facts(tx, id)?;
    let policy = Policy {
        max_clarifications: MAX_CLARIFICATIONS,
        deadline_secs: facts.deadline_secs,
    };
    let contract = Contract {
        id: id.to_string(),
        state: facts.state,
        emails: facts.emails,
        phones: facts.phones,
        bounced: facts.bounced,
        deadline_at: facts.deadline_at,
        clarifications: facts.clarifications,
    };
    let step = match lifecycle::step(&contract, event, now, &policy) {
        Ok(step) => step,
        Err(illegal) => {
            data.set_applied(Applied {
                state: None,
                ignored: Some(illegal.to_string()),
            });
            append_event(tx, id, &data, now)?;
            return Ok(Err(illegal));
        }
    };
    let bounced = match event {
        Event::Bounce { destination } => Some(destination.as_str()),
        _ => None,
    };
    save_transition(tx, id, step.state, step.deadline_at, bounced, now)?;
    if let (EventData::Requested(r), Some(at)) = (&mut data, step.deadline_at) {
        r.deadline_at = at;
    }
    data.set_applied(Applied {
        state: Some(step.state),
        ignored: None,
    });
    append_event(tx, id, &data, now)?;
    for keyed in step.effects {
        let job = job(tx, id, keyed.effect)?;
        enqueue(tx, Some(id), &keyed.key, &job, now)?;
    }
    Ok(Ok(step.state))
}

/// The outbox job that performs a lifecycle effect, with what it needs from the store.
fn job(tx: &Tx<'_>, id: &str, effect: Effect) -> Result<Job, Error> {
    let contract_id = id.to_string();
    Ok(match effect {
        Effect::SendRequest { to } => Job::Request {
            contract_id,
            token: token_of(tx, id, &to)?,
            to,
        },
        Effect::SendClarification { to, reason } => Job::Clarification {
            contract_id,
            token: token_of(tx, id, &to)?,
            to,
            reason,
        },
        Effect::SendSmsRequest { to } => {
            sms::ensure_code(tx, id, &to, &mut crate::sms::new_code)?;
            Job::SmsRequest { contract_id, to }
        }
        Effect::SendSmsClarification { to } => Job::SmsClarification { contract_id, to },
        Effect::SendSmsConfirmation { to } => Job::SmsConfirmation { contract_id, to },
        Effect::IssueCertificate { outcome } => Job::Certificate {
            contract_id,
            outcome,
        },
    })
}

/// One submission in the caller's transaction: stored, its receipt queued and its lifecycle
/// started, or refused.
fn submit_in(
    tx: &Tx<'_>,
    s: &Submission,
    intake: &Intake,
    now: Instant,
) -> Result<SubmitOutcome, Error> {
    let minted = crate::mint::contract(s.destinations.len());
    let (committed, customer_email, language) =
        match insert_submission(tx, s, intake, &minted, now)? {
            Inserted::Done(outcome) => return Ok(outcome),
            Inserted::New {
                committed,
                customer_email,
                language,
            } => (committed, customer_email, language),
        };
    let id = &committed.contract_id;
    enqueue(
        tx,
        Some(id),
        &keys::receipt(id),
        &Job::Receipt {
            contract_id: id.clone(),
            to: customer_email,
            language,
        },
        now,
    )?;
    // Same transaction: a stored contract is always a requested one.
    let started = EventData::Requested(Requested {
        deadline_at: now,
        applied: Applied::default(),
    });
    if let Err(illegal) = apply(tx, id, &Event::Start, started, now)? {
        return Err(Error::Database(format!(
            "cannot start contract {id}: {illegal}"
        )));
    }
    Ok(SubmitOutcome::Committed(committed))
}

impl Store {
    /// Stores a submission durably, or refuses it. Idempotent on `dedupe_key`: an SMTP retry
    /// of a committed message returns the existing contract with `duplicate: true`.
    pub fn submit(&mut self, s: &Submission) -> Result<SubmitOutcome, Error> {
        let intake = self.intake().clone();
        let now = Instant::now();
        self.write(|tx| submit_in(tx, s, &intake, now))
    }

    /// Stores several submissions in one transaction, so one fsync commits them all (group
    /// commit: see `server::Committer`). Each runs in its own savepoint: a refusal or an error
    /// in one leaves the others intact. The outer `Err` means nothing was committed.
    pub fn submit_batch(
        &mut self,
        batch: &[&Submission],
    ) -> Result<Vec<Result<SubmitOutcome, Error>>, Error> {
        let intake = self.intake().clone();
        let now = Instant::now();
        self.write(|tx| {
            let mut out = Vec::with_capacity(batch.len());
            for s in batch {
                tx.execute_batch("SAVEPOINT submission")?;
                let one = submit_in(tx, s, &intake, now);
                if one.is_err() {
                    tx.execute_batch("ROLLBACK TO submission")?;
                }
                tx.execute_batch("RELEASE submission")?;
                out.push(one);
            }
            Ok(out)
        })
    }

    /// Ends a contract as unanswered (NORESP) if its deadline has passed at `now`.
    pub fn expire(&mut self, id: &str, now: Instant) -> Result<Result<State, Illegal>, Error> {
        self.write(|tx| {
            let facts = load_facts(tx, id)?;
            // Settled since the deadline was queried (an answer, or another node's timer): no
            // deadline event happened here, so none is recorded.
            if facts.state != State::Requested {
                return Ok(Err(Illegal::NotNow {
                    event: "deadline",
                    state: facts.state.as_str(),
                }));
            }
            let deadline_at = facts.deadline_at.unwrap_or_default();
            let data = EventData::Deadline(Deadline {
                deadline_at,
                applied: Applied::default(),
            });
            apply(tx, id, &Event::Deadline, data, now)
        })
    }

    /// Records a permanent delivery failure of a request reported synchronously: a 5xx from
    /// the MTA, or the SMS gateway refusing the number.
    pub fn record_bounce(
        &mut self,
        id: &str,
        report: BounceReport,
    ) -> Result<Result<State, Illegal>, Error> {
        let now = Instant::now();
        let event = Event::Bounce {
            destination: report.destination().to_string(),
        };
        let data = EventData::Bounce(Bounce {
            report,
            applied: Applied::default(),
        });
        self.write(|tx| apply(tx, id, &event, data, now))
    }

    /// Stores an answer (reply or DSN) read into `data`, and applies its event, once: a
    /// retried delivery of the same message (same `dedupe_key`) changes nothing and returns
    /// `true` for duplicate. Without an event the answer is only noted.
    pub fn record_answer(
        &mut self,
        a: &Answer,
        target: &TokenTarget,
        event: Option<&Event>,
        mut data: EventData,
    ) -> Result<bool, Error> {
        let now = Instant::now();
        let raw_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&a.raw));
        if let Some(arrival) = data.arrival_mut() {
            *arrival = crate::evidence::event::Arrival::of(a, &raw_sha256);
        }
        self.write(|tx| {
            if insert_answer(tx, a, target, &raw_sha256, now)?.is_none() {
                return Ok(true);
            }
            match event {
                // An answer that cannot apply (a late reply) is recorded by `apply` as
                // `<kind>_ignored`: evidence either way, nothing more to do here.
                Some(e) => {
                    let _applied_or_ignored = apply(tx, &target.contract_id, e, data, now)?;
                }
                None => append_event(tx, &target.contract_id, &data, now)?,
            }
            Ok(false)
        })
    }

    /// Stores a delivery report as an `sms_dlr` event of its contract. A failure report for a
    /// request is a delivery failure of that destination (NOEX evidence).
    pub fn record_dlr(&mut self, r: &DlrReport) -> Result<DlrOutcome, Error> {
        let now = Instant::now();
        self.write(|tx| {
            let sent = match sms::insert_dlr(tx, r, now)? {
                Ok(sent) => sent,
                Err(outcome) => return Ok(outcome),
            };
            let status_name = crate::store::dlr_status_name(r.status);
            let report = EventData::SmsDlr(SmsDlr {
                reference: r.reference.clone(),
                to: sent.destination.clone(),
                purpose: sent.purpose,
                status: r.status,
                status_name: status_name.to_string(),
                smsc_id: r.smsc_id.clone(),
                gateway_time: r
                    .gateway_time
                    .map(|t| Instant::from_unix_secs(t).rfc3339_seconds()),
                answer: r.answer.clone(),
            });
            append_event(tx, &sent.contract_id, &report, now)?;
            // Kannel's DLR types 2 (undelivered) and 16 (rejected by the SMSC) are final.
            let failed = matches!(r.status, 2 | 16);
            if failed && sent.purpose == JobKind::SmsRequest {
                let bounce = EventData::Bounce(Bounce {
                    report: BounceReport::SmsDlr(DlrFailure {
                        destination: sent.destination.clone(),
                        status: format!("{} ({status_name})", r.status),
                        diagnostic: r.answer.clone(),
                        reporting_mta: r.smsc_id.clone(),
                        reference: r.reference.clone(),
                    }),
                    applied: Applied::default(),
                });
                let event = Event::Bounce {
                    destination: sent.destination,
                };
                let _applied_or_ignored = apply(tx, &sent.contract_id, &event, bounce, now)?;
            }
            Ok(DlrOutcome::Recorded {
                contract_id: sent.contract_id,
                failed,
            })
        })
    }

    /// Stores an inbound SMS and, when its sender and code name a contract, applies it as that
    /// destination's answer. Repeated deliveries of one SMS change nothing.
    pub fn record_sms_answer(&mut self, m: &MoReport) -> Result<MoOutcome, Error> {
        let now = Instant::now();
        let reading = crate::sms::read(m);
        let decision = crate::sms::decision(&m.text);
        self.write(|tx| {
            let matched = match sms::insert_inbound(tx, m, &reading, now)? {
                Ok(matched) => matched,
                Err(outcome) => return Ok(outcome),
            };
            // Kannel's %T is Unix seconds; other gateways may send a date already.
            let gateway_time = match m.gateway_time.as_deref().map(str::parse::<i64>) {
                Some(Ok(t)) => Some(Instant::from_unix_secs(t).rfc3339_seconds()),
                _ => m.gateway_time.clone(),
            };
            let data = EventData::Reply(crate::evidence::event::Reply {
                answer: crate::evidence::event::ReplyBy::Sms(SmsReply {
                    destination: matched.address.clone(),
                    sender: m.sender.clone(),
                    receiver: m.receiver.clone(),
                    code: matched.code,
                    response_text: m.text.clone(),
                    gateway_id: m.gateway_id.clone(),
                    gateway_time,
                    decision,
                    sms_inbound_id: matched.inbound_id,
                }),
                applied: Applied::default(),
            });
            // Matched by the destination's own number and its code (docs/sms.md).
            let event = Event::Reply {
                from: matched.address,
                decision,
                standing: Standing::Decisive,
            };
            let applied = apply(tx, &matched.contract_id, &event, data, now)?.is_ok();
            Ok(MoOutcome::Matched {
                contract_id: matched.contract_id,
                serial: matched.serial,
                decision,
                applied,
            })
        })
    }

    /// Queues one more copy of an issued certificate to each address in `to`, recorded as a
    /// `certificate_resend` event. Each copy gets a fresh idempotency key (the earlier copies'
    /// keys are taken, and the key is also the mail's Message-ID). Returns the keys.
    pub fn resend_certificate(
        &mut self,
        contract_id: &str,
        to: &[String],
    ) -> Result<Vec<String>, Error> {
        let batch = crate::mint::secret();
        let copies: Vec<(String, Job)> = to
            .iter()
            .map(|address| {
                (
                    keys::certificate_resend(contract_id, address, &batch),
                    Job::CertificateCopy {
                        contract_id: contract_id.to_string(),
                        to: address.clone(),
                    },
                )
            })
            .collect();
        let keys: Vec<String> = copies.iter().map(|(k, _)| k.clone()).collect();
        let resend = CertificateResend {
            to: to.to_vec(),
            keys: keys.clone(),
            by: "admin".into(),
        };
        self.queue_certificate_copies(contract_id, &copies, &resend, Instant::now())?;
        Ok(keys)
    }
}
